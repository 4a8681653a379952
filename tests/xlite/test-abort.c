/*
 * test-abort.c: abort racing completion
 *
 * 10,000 times, an operation that is about to complete is aborted from
 * another thread than the one completing it.  Each completes exactly once,
 * with -ECANCELED if xlite_async_abort found it running, 0 otherwise.
 * Once with callbacks and the application's loop, once with completion
 * events and the library's own poller (a thread in xlite_event_wait).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>

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

typedef struct {
    fake_loop *loop;
    xlite_ctx *ctx;
    bool stop;                 /* atomic */
} loop_thread;

static void *
loop_thread_main(void *opaque)
{
    loop_thread *lt = opaque;

    while (!__atomic_load_n(&lt->stop, __ATOMIC_ACQUIRE))
        fake_loop_run_once(lt->loop, lt->ctx, 1);
    return NULL;
}

static void
spin(unsigned int n)
{
    volatile unsigned int i;

    for (i = 0; i < n; i++)
        ;
}

static void
test_abort_callbacks(void)
{
    g_autoptr(fake_loop) loop = fake_loop_new();
    xlite_ctx *ctx = test_ctx_new();
    loop_thread lt = { .loop = loop, .ctx = ctx };
    int n = test_iterations(10000, 1000);
    g_autofree completion *cs = g_new0(completion, n);
    g_autofree int *aborted = g_new0(int, n);
    pthread_t tid;
    int wins[2] = { 0, 0 };
    leak_check lc;
    int i;

    leak_check_begin(&lc);
    fake_loop_install(loop, ctx);
    pthread_create(&tid, NULL, loop_thread_main, &lt);
    for (i = 0; i < n; i++) {
        xlite_async_how how = { .callback = completion_cb, .opaque = &cs[i] };
        int64_t give_up = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

        g_assert_cmpint(xlite_sleep(ctx, 0, 1, NULL, &how), ==, 0);
        spin(g_random_int_range(0, 20000));
        aborted[i] = xlite_async_abort(ctx, &how);
        g_assert_true(aborted[i] == 0 || aborted[i] == -ESRCH);
        /* Idempotent: a second abort changes nothing. */
        xlite_async_abort(ctx, &how);
        while (!__atomic_load_n(&cs[i].calls, __ATOMIC_SEQ_CST) &&
               g_get_monotonic_time() < give_up)
            g_thread_yield();
        wins[aborted[i] == 0]++;
    }
    while (fake_loop_live_timeouts(loop))
        g_usleep(100);
    __atomic_store_n(&lt.stop, true, __ATOMIC_RELEASE);
    pthread_join(tid, NULL);
    for (i = 0; i < n; i++) {
        g_assert_cmpint(cs[i].calls, ==, 1);
        g_assert_cmpint(cs[i].rc, ==, aborted[i] == 0 ? -ECANCELED : 0);
    }
    g_test_message("completed first %d times, aborted first %d times",
                   wins[0], wins[1]);
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

typedef struct {
    xlite_ctx *ctx;
    int n;
    int *seen;             /* per cookie: completions */
    int *rcs;
    int received;
} event_waiter;

static void *
event_waiter_main(void *opaque)
{
    event_waiter *w = opaque;

    while (__atomic_load_n(&w->received, __ATOMIC_SEQ_CST) < w->n) {
        xlite_event *ev = NULL;
        int rc;

        rc = xlite_event_wait(w->ctx,
                              XLITE_EVENTMASK(XLITE_EVENT_OPERATION_COMPLETE),
                              NULL, NULL, G_USEC_PER_SEC, &ev);
        if (rc == -ETIMEDOUT)
            continue;
        g_assert_cmpint(rc, ==, 0);
        g_assert_cmpuint(ev->for_user, <, (uint64_t)w->n);
        w->rcs[ev->for_user] = ev->u.operation_complete.rc;
        __atomic_add_fetch(&w->seen[ev->for_user], 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&w->received, 1, __ATOMIC_SEQ_CST);
        xlite_event_free(ev);
    }
    return NULL;
}

static void
test_abort_events(void)
{
    xlite_ctx *ctx = test_ctx_new();
    int n = test_iterations(10000, 1000);
    g_autofree int *seen = g_new0(int, n);
    g_autofree int *rcs = g_new0(int, n);
    g_autofree int *aborted = g_new0(int, n);
    event_waiter w = { .ctx = ctx, .n = n, .seen = seen, .rcs = rcs };
    int wins[2] = { 0, 0 };
    xlite_event *ev;
    pthread_t tid;
    leak_check lc;
    int i;

    leak_check_begin(&lc);
    pthread_create(&tid, NULL, event_waiter_main, &w);
    for (i = 0; i < n; i++) {
        xlite_async_how how = { .for_event = (uint64_t)i };

        g_assert_cmpint(xlite_sleep(ctx, 0, 1, NULL, &how), ==, 0);
        spin(g_random_int_range(0, 20000));
        aborted[i] = xlite_async_abort(ctx, &how);
        /* The waiter, polling, completes it meanwhile, or not yet. */
        while (!__atomic_load_n(&seen[i], __ATOMIC_SEQ_CST))
            g_thread_yield();
    }
    pthread_join(tid, NULL);
    for (i = 0; i < n; i++) {
        g_assert_cmpint(seen[i], ==, 1);
        g_assert_cmpint(rcs[i], ==, aborted[i] == 0 ? -ECANCELED : 0);
        wins[aborted[i] == 0]++;
    }
    g_test_message("completed first %d times, aborted first %d times",
                   wins[0], wins[1]);
    g_assert_cmpint(xlite_event_check(ctx, XLITE_EVENTMASK_ALL, NULL, NULL,
                                      &ev), ==, -ENOENT);
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xlite/abort/callbacks", test_abort_callbacks);
    g_test_add_func("/xlite/abort/events", test_abort_events);
    return g_test_run();
}
