/*
 * test-threads.c: many threads in synchronous operations at once
 *
 * 8 threads each run 1,000 synchronous operations that wait on timers and
 * fds: without hooks (one thread polls, the others sleep until their
 * operation completes) and with hooks (a loop thread delivers too).  All
 * complete, each progress report arrives once, nothing deadlocks.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "testutils.h"

#define NTHREADS 8

typedef struct {
    xlite_ctx *ctx;
    int iterations;
    int pipe[2];
    int progress;            /* progress reports received */
    int sleeps;
} worker;

static void
progress_cb(xlite_ctx *ctx, xlite_event *ev, void *opaque)
{
    worker *w = opaque;

    g_assert_cmpint(ev->type, ==, XLITE_EVENT_OPERATION_PROGRESS);
    g_assert_cmpuint(ev->u.operation_progress.step, ==, 1);
    w->progress++;
    xlite_event_free(ev);
}

static void *
worker_main(void *opaque)
{
    worker *w = opaque;
    xlite_asyncprogress_how aop = { .callback = progress_cb, .opaque = w };
    char byte;
    int i;

    for (i = 0; i < w->iterations; i++) {
        switch (i % 3) {
        case 0:
            /* Two ticks: one progress report, then completion. */
            g_assert_cmpint(xlite_sleep(w->ctx, i % 50, 2, &aop, NULL), ==, 0);
            w->sleeps++;
            g_assert_cmpint(w->progress, ==, w->sleeps);
            break;
        case 1:
            g_assert_cmpint(write(w->pipe[1], "x", 1), ==, 1);
            g_assert_cmpint(xlite_fd_wait(w->ctx, w->pipe[0], POLLIN, -1,
                                          NULL), ==, 0);
            g_assert_cmpint(read(w->pipe[0], &byte, 1), ==, 1);
            break;
        case 2:
            g_assert_cmpint(xlite_fd_wait(w->ctx, w->pipe[0], POLLIN, 20,
                                          NULL), ==, -ETIMEDOUT);
            break;
        }
    }
    return NULL;
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
run_workers(bool hooks)
{
    g_autoptr(fake_loop) loop = fake_loop_new();
    xlite_ctx *ctx = test_ctx_new();
    loop_thread lt = { .loop = loop, .ctx = ctx };
    worker workers[NTHREADS];
    pthread_t threads[NTHREADS];
    pthread_t loop_tid;
    leak_check lc;
    int i;

    leak_check_begin(&lc);
    if (hooks) {
        fake_loop_install(loop, ctx);
        pthread_create(&loop_tid, NULL, loop_thread_main, &lt);
    }
    for (i = 0; i < NTHREADS; i++) {
        workers[i] = (worker){ .ctx = ctx,
                               .iterations = test_iterations(1000, 100) };
        g_assert_cmpint(pipe2(workers[i].pipe, O_CLOEXEC | O_NONBLOCK), ==, 0);
        pthread_create(&threads[i], NULL, worker_main, &workers[i]);
    }
    for (i = 0; i < NTHREADS; i++) {
        pthread_join(threads[i], NULL);
        g_assert_cmpint(workers[i].progress, ==, workers[i].sleeps);
        close(workers[i].pipe[0]);
        close(workers[i].pipe[1]);
    }
    if (hooks) {
        /* Let the loop deliver the timeouts the library abandoned. */
        while (fake_loop_live_timeouts(loop))
            g_usleep(100);
        __atomic_store_n(&lt.stop, true, __ATOMIC_RELEASE);
        pthread_join(loop_tid, NULL);
        g_assert_cmpuint(fake_loop_live_fds(loop), ==, 0);
    }
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

static void
test_threads_no_hooks(void)
{
    run_workers(false);
}

static void
test_threads_hooks(void)
{
    run_workers(true);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xlite/threads/no-hooks", test_threads_no_hooks);
    g_test_add_func("/xlite/threads/hooks", test_threads_hooks);
    return g_test_run();
}
