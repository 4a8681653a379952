/*
 * test-libvirt-glue.c: libxlite's hooks on libvirt's real event loop
 *
 * The driver's glue (src/libxl/libxl_event.c) on libvirt's default event
 * loop implementation: a core timer and an fd watch fire through
 * virEventRunDefaultImpl, an abandoned timeout is dropped, many operations
 * overlap, a synchronous call made while the loop runs in another
 * thread completes too (mixing the two ways), and a slow step of the core
 * (here an application callback that takes 600 ms) does not stop the
 * loop, which in libvirtd also reads every client's requests.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <libvirt/libvirt.h>

#include "libxl_event.h"
#include "testutils.h"

typedef struct {
    int calls;
    int rc;
} completion;

static void
completion_cb(xlite_ctx *ctx, int rc, void *opaque)
{
    completion *c = opaque;

    c->rc = rc;
    __atomic_add_fetch(&c->calls, 1, __ATOMIC_SEQ_CST);
}

static void
tick_cb(int timer, void *opaque)
{
}

/* Runs libvirt's loop until c completes (or 5 s pass).  Completions come
 * in the glue's dispatcher thread, not in the loop's: a tick keeps the
 * loop iterating so that it sees them. */
static void
run_until(completion *c, int n)
{
    int64_t give_up = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    int tick = virEventAddTimeout(5, tick_cb, NULL, NULL);
    int done;
    int i;

    do {
        g_assert_cmpint(virEventRunDefaultImpl(), ==, 0);
        for (done = 0, i = 0; i < n; i++)
            done += __atomic_load_n(&c[i].calls, __ATOMIC_SEQ_CST) > 0;
    } while (done < n && g_get_monotonic_time() < give_up);
    virEventRemoveTimeout(tick);
    for (i = 0; i < n; i++)
        g_assert_cmpint(c[i].calls, ==, 1);
}

/* libvirt frees removed registrations on later iterations. */
static void
settle_loop(void)
{
    int tick = virEventAddTimeout(0, tick_cb, NULL, NULL);
    int i;

    for (i = 0; i < 3; i++)
        virEventRunDefaultImpl();
    virEventRemoveTimeout(tick);
    virEventRunDefaultImpl();
}

static void
test_timer_and_fd(void)
{
    xlite_ctx *ctx = test_ctx_new();
    completion c[1] = { { 0 } };
    xlite_async_how how = { .callback = completion_cb, .opaque = c };
    int64_t start;
    int p[2];
    leak_check lc;

    leak_check_begin(&lc);
    g_assert_cmpint(xvEventHooksInstall(ctx), ==, 0);

    /* A core timer. */
    start = g_get_monotonic_time();
    g_assert_cmpint(xlite_sleep(ctx, 30 * 1000, 1, NULL, &how), ==, 0);
    run_until(c, 1);
    g_assert_cmpint(c->rc, ==, 0);
    g_assert_cmpint(g_get_monotonic_time() - start, >=, 30 * 1000);

    /* An fd watch (its timeout is abandoned when the fd fires). */
    g_assert_cmpint(pipe2(p, O_CLOEXEC | O_NONBLOCK), ==, 0);
    c->calls = 0;
    g_assert_cmpint(xlite_fd_wait(ctx, p[0], POLLIN, 10 * G_USEC_PER_SEC,
                                  &how), ==, 0);
    g_assert_cmpint(write(p[1], "x", 1), ==, 1);
    run_until(c, 1);
    g_assert_cmpint(c->rc, ==, 0);

    /* The fd's timeout firing instead. */
    c->calls = 0;
    g_assert_cmpint(xlite_fd_wait(ctx, p[1], POLLIN, 10 * 1000, &how), ==, 0);
    run_until(c, 1);
    g_assert_cmpint(c->rc, ==, -ETIMEDOUT);

    /* Aborted: the timer is abandoned, then removed at context free. */
    c->calls = 0;
    g_assert_cmpint(xlite_sleep(ctx, 10 * G_USEC_PER_SEC, 1, NULL, &how), ==,
                    0);
    g_assert_cmpint(xlite_async_abort(ctx, &how), ==, 0);
    g_assert_cmpint(c->calls, ==, 1);
    g_assert_cmpint(c->rc, ==, -ECANCELED);

    close(p[0]);
    close(p[1]);
    xlite_ctx_free(ctx);
    settle_loop();
    leak_check_end(&lc);
}

#define NOPS 200

static void
test_many(void)
{
    xlite_ctx *ctx = test_ctx_new();
    completion c[NOPS] = { { 0 } };
    xlite_async_how how[NOPS];
    leak_check lc;
    int i;

    leak_check_begin(&lc);
    g_assert_cmpint(xvEventHooksInstall(ctx), ==, 0);
    for (i = 0; i < NOPS; i++) {
        how[i] = (xlite_async_how){ .callback = completion_cb,
                                    .opaque = &c[i] };
        g_assert_cmpint(xlite_sleep(ctx, (i % 10) * 1000, 1 + i % 3, NULL,
                                    &how[i]), ==, 0);
    }
    run_until(c, NOPS);
    for (i = 0; i < NOPS; i++)
        g_assert_cmpint(c[i].rc, ==, 0);
    xlite_ctx_free(ctx);
    settle_loop();
    leak_check_end(&lc);
}

typedef struct {
    bool stop;                 /* atomic */
} loop_thread;

static void *
loop_thread_main(void *opaque)
{
    loop_thread *lt = opaque;

    while (!__atomic_load_n(&lt->stop, __ATOMIC_ACQUIRE))
        virEventRunDefaultImpl();
    return NULL;
}

/* Synchronous calls while libvirt's loop runs in its own thread. */
static void
test_sync_with_loop_thread(void)
{
    xlite_ctx *ctx = test_ctx_new();
    loop_thread lt = { 0 };
    pthread_t tid;
    int tick;
    int p[2];
    leak_check lc;
    int i;

    leak_check_begin(&lc);
    g_assert_cmpint(xvEventHooksInstall(ctx), ==, 0);
    g_assert_cmpint(pipe2(p, O_CLOEXEC | O_NONBLOCK), ==, 0);
    /* Keeps the loop thread iterating, so that it sees lt.stop. */
    tick = virEventAddTimeout(10, tick_cb, NULL, NULL);
    pthread_create(&tid, NULL, loop_thread_main, &lt);
    for (i = 0; i < test_iterations(300, 50); i++) {
        char byte;

        g_assert_cmpint(xlite_sleep(ctx, i % 100, 1, NULL, NULL), ==, 0);
        g_assert_cmpint(write(p[1], "x", 1), ==, 1);
        g_assert_cmpint(xlite_fd_wait(ctx, p[0], POLLIN, -1, NULL), ==, 0);
        g_assert_cmpint(read(p[0], &byte, 1), ==, 1);
    }
    {
        const char *argv[] = { "true", NULL };
        int status = -1;

        /* A child, reaped selectively (the mode the glue selects). */
        g_assert_cmpint(xlite_run_command(ctx, argv, NULL, NULL, -1, &status,
                                          NULL), ==, 0);
        g_assert_cmpint(status, ==, 0);
    }
    xlite_ctx_free(ctx);
    __atomic_store_n(&lt.stop, true, __ATOMIC_RELEASE);
    pthread_join(tid, NULL);
    virEventRemoveTimeout(tick);
    settle_loop();
    close(p[0]);
    close(p[1]);
    leak_check_end(&lc);
}

static void
slow_completion_cb(xlite_ctx *ctx, int rc, void *opaque)
{
    g_usleep(600 * 1000);
    completion_cb(ctx, rc, opaque);
}

static void
count_tick_cb(int timer, void *opaque)
{
    int *ticks = opaque;

    (*ticks)++;
}

static void
test_slow_step_off_the_loop(void)
{
    xlite_ctx *ctx = test_ctx_new();
    completion c[1] = { { 0 } };
    xlite_async_how how = { .callback = slow_completion_cb, .opaque = c };
    int64_t start;
    int ticks = 0;
    int tick;
    leak_check lc;

    leak_check_begin(&lc);
    g_assert_cmpint(xvEventHooksInstall(ctx), ==, 0);
    g_assert_cmpint(xlite_sleep(ctx, 1000, 1, NULL, &how), ==, 0);
    /* The loop goes on ticking every 10 ms while the step runs. */
    tick = virEventAddTimeout(10, count_tick_cb, &ticks, NULL);
    start = g_get_monotonic_time();
    while (g_get_monotonic_time() - start < 400 * 1000)
        g_assert_cmpint(virEventRunDefaultImpl(), ==, 0);
    virEventRemoveTimeout(tick);
    g_assert_cmpint(ticks, >=, 5);
    run_until(c, 1);
    g_assert_cmpint(c->rc, ==, 0);
    xlite_ctx_free(ctx);
    settle_loop();
    leak_check_end(&lc);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_assert_cmpint(virEventRegisterDefaultImpl(), ==, 0);
    /* The loop opens its own fds on its first run: not ours to count. */
    settle_loop();
    g_test_add_func("/xlite/libvirt-glue/timer-and-fd", test_timer_and_fd);
    g_test_add_func("/xlite/libvirt-glue/many", test_many);
    g_test_add_func("/xlite/libvirt-glue/sync-with-loop-thread",
                    test_sync_with_loop_thread);
    g_test_add_func("/xlite/libvirt-glue/slow-step-off-the-loop",
                    test_slow_step_off_the_loop);
    return g_test_run();
}
