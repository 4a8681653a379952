/*
 * testutils.h: helpers shared by the libxlite tests
 *
 * Every test starts with leak_check_begin() and ends with
 * leak_check_end(): no fd beyond the start set, no child process left
 * (the contexts themselves assert, when freed, that no event source, child
 * or operation is left registered).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>
#include <pthread.h>

#include "xlite.h"

typedef struct {
    GHashTable *fds;      /* fds open at the start */
} leak_check;

void leak_check_begin(leak_check *lc);
/* Fails the test on a new fd or an unreaped child. */
void leak_check_end(leak_check *lc);

/* A context on the stub backend with a private state directory. */
xlite_ctx *test_ctx_new(void);

/*
 * A recording fake event loop for the osevent hooks.  It records every
 * hook call as a line in its log ("fd_register 7 0x1", "timeout_modify 0",
 * ...) and can run: poll its fds and deliver readiness and due timeouts to
 * the context, like an application's loop would.
 */
typedef struct fake_loop fake_loop;

fake_loop *fake_loop_new(void);
/* The hooks, with the loop as their user. */
const xlite_osevent_hooks *fake_loop_hooks(void);
/* Installs the loop's hooks on ctx; the context frees nothing of it. */
void fake_loop_install(fake_loop *loop, xlite_ctx *ctx);
/* One round: waits up to timeout_ms, delivers what is ready, returns the
 * number of deliveries. */
int fake_loop_run_once(fake_loop *loop, xlite_ctx *ctx, int timeout_ms);
/* The log so far, cleared. */
char *fake_loop_take_log(fake_loop *loop);
/* Registrations still live in the loop. */
unsigned int fake_loop_live_fds(fake_loop *loop);
unsigned int fake_loop_live_timeouts(fake_loop *loop);
/* The for_xlite token of the live fd registration for fd, the last
 * timeout registered, and the abs time of the last registered timeout. */
void *fake_loop_fd_token(fake_loop *loop, int fd);
void *fake_loop_last_timeout_token(fake_loop *loop);
int64_t fake_loop_last_timeout_abs(fake_loop *loop);
/* Whether the hooks' free function has been called (by xlite_ctx_free). */
bool fake_loop_released(fake_loop *loop);
void fake_loop_free(fake_loop *loop);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(fake_loop, fake_loop_free)

/* Scales an iteration count down under valgrind (XLITE_UNDER_VALGRIND is
 * set by the "valgrind" test setup), where threads run one at a time. */
int test_iterations(int plain, int under_valgrind);
