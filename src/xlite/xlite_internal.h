/*
 * xlite_internal.h: the rulebook of libxlite
 *
 * Only files under src/xlite/ include this header.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>
#include <pthread.h>

#include "xlite.h"

#define XLITE_EXPORT __attribute__((visibility("default")))

/*
 * ==================== Errors and logging ====================
 *
 * A failure is reported once, where it is detected: the function that
 * sees it calls xlite__error() with the errno-style code and a whole
 * sentence, which records the message for xlite_errmsg() in the calling
 * thread and logs it, then returns the negative code.  Callers pass the
 * code on unchanged and do not log it again.
 */

int xlite__error(xlite_ctx *ctx, int rc, const char *func,
                 const char *fmt, ...) G_GNUC_PRINTF(4, 5);
#define XLITE_ERROR(ctx, rc, ...) \
    xlite__error((ctx), (rc), __func__, __VA_ARGS__)

void xlite__log(xlite_ctx *ctx, xlite_log_level level, const char *func,
                const char *fmt, ...) G_GNUC_PRINTF(4, 5);
#define XLITE_LOG(ctx, level, ...) \
    xlite__log((ctx), (level), __func__, __VA_ARGS__)

/*
 * ==================== Hypervisor backends ====================
 *
 * The core reaches the hypervisor only through this table; nothing else
 * in the core knows which backend runs.  Each operation returns 0 or a
 * negative errno-style code reported with XLITE_ERROR.
 */

typedef struct xlite__hv_ops {
    const char *name;
    int (*open)(xlite_ctx *ctx, void **state_r);
    void (*close)(xlite_ctx *ctx, void *state);
    int (*host_info)(xlite_ctx *ctx, void *state, xlite_host_info *info_r);
} xlite__hv_ops;

extern const xlite__hv_ops xlite__hv_stub_ops;

/*
 * ==================== The context ====================
 *
 * One per application (per driver).  Fields set at creation and never
 * changed afterwards may be read without the lock.
 */

struct xlite_ctx {
    /* Immutable after xlite_ctx_new. */
    char *state_dir;
    char *sim_rundir;
    xlite_log_fn log;
    void *log_opaque;
    xlite_backend_kind backend;
    const xlite__hv_ops *hv;
    void *hv_state;

    /* The one recursive lock of the context. */
    pthread_mutex_t lock;
};
