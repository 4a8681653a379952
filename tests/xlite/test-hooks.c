/*
 * test-hooks.c: the osevent hook contract, against a recording fake loop
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "testutils.h"
#include "xlite_internal.h"

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
run_until_complete(fake_loop *loop, xlite_ctx *ctx, completion *c)
{
    int64_t give_up = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    while (!c->calls && g_get_monotonic_time() < give_up)
        fake_loop_run_once(loop, ctx, 100);
    g_assert_cmpint(c->calls, ==, 1);
}

static void
assert_log(fake_loop *loop, const char *expected)
{
    g_autofree char *log = fake_loop_take_log(loop);

    g_assert_cmpstr(log, ==, expected);
}

/* Register, modify, deregister an fd watch: the hooks see exactly that. */
static int fd_cb_calls;

static void
count_fd_cb(xlite__egc *egc, xlite__ev_fd *ev, int fd, short events,
            short revents)
{
    char buf[16];

    fd_cb_calls++;
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

static void
test_fd_register_modify_deregister(void)
{
    g_autoptr(fake_loop) loop = fake_loop_new();
    g_autofree char *expected = NULL;
    xlite_ctx *ctx = test_ctx_new();
    xlite__ev_fd ev;
    int p[2];
    leak_check lc;

    leak_check_begin(&lc);
    fake_loop_install(loop, ctx);
    g_assert_cmpint(pipe2(p, O_CLOEXEC | O_NONBLOCK), ==, 0);

    xlite__ev_fd_init(&ev);
    g_assert_false(xlite__ev_fd_isregistered(&ev));
    xlite__ev_fd_deregister(ctx, &ev);           /* no-op after _init */
    g_assert_cmpint(xlite__ev_fd_register(ctx, &ev, count_fd_cb, p[0],
                                          POLLIN), ==, 0);
    g_assert_true(xlite__ev_fd_isregistered(&ev));
    g_assert_cmpint(xlite__ev_fd_modify(ctx, &ev, POLLIN | POLLPRI), ==, 0);
    expected = g_strdup_printf("fd_register %d 0x1\nfd_modify %d 0x3\n",
                               p[0], p[0]);
    assert_log(loop, expected);

    /* Spurious: nothing to read. */
    xlite_osevent_occurred_fd(ctx, fake_loop_fd_token(loop, p[0]), p[0],
                              POLLIN, POLLIN);
    g_assert_cmpint(fd_cb_calls, ==, 0);
    /* Stale: a token for another fd. */
    g_assert_cmpint(write(p[1], "x", 1), ==, 1);
    xlite_osevent_occurred_fd(ctx, fake_loop_fd_token(loop, p[0]), p[1],
                              POLLIN, POLLIN);
    g_assert_cmpint(fd_cb_calls, ==, 0);
    /* Real, then duplicated: the callback drained the pipe. */
    xlite_osevent_occurred_fd(ctx, fake_loop_fd_token(loop, p[0]), p[0],
                              POLLIN, POLLIN);
    xlite_osevent_occurred_fd(ctx, fake_loop_fd_token(loop, p[0]), p[0],
                              POLLIN, POLLIN);
    g_assert_cmpint(fd_cb_calls, ==, 1);

    {
        void *token = fake_loop_fd_token(loop, p[0]);

        xlite__ev_fd_deregister(ctx, &ev);
        g_free(expected);
        expected = g_strdup_printf("fd_deregister %d\n", p[0]);
        assert_log(loop, expected);
        /* Stale after deregistration, even with data there. */
        g_assert_cmpint(write(p[1], "x", 1), ==, 1);
        xlite_osevent_occurred_fd(ctx, token, p[0], POLLIN, POLLIN);
        g_assert_cmpint(fd_cb_calls, ==, 1);
        /* A token never handed out. */
        xlite_osevent_occurred_fd(ctx, (void *)(uintptr_t)999999, p[0],
                                  POLLIN, POLLIN);
        xlite_osevent_occurred_timeout(ctx, (void *)(uintptr_t)999999);
    }
    g_assert_cmpuint(fake_loop_live_fds(loop), ==, 0);

    close(p[0]);
    close(p[1]);
    xlite_ctx_free(ctx);
    g_assert_true(fake_loop_released(loop));
    leak_check_end(&lc);
}

/* An asynchronous wait on an fd: the fd watch and its timeout come and
 * go through the hooks; the abandoned timeout is modified to "now". */
static void
test_fd_wait_through_hooks(void)
{
    g_autoptr(fake_loop) loop = fake_loop_new();
    g_autofree char *expected = NULL;
    xlite_ctx *ctx = test_ctx_new();
    completion c = { 0 };
    xlite_async_how how = { .callback = completion_cb, .opaque = &c };
    void *timeout_token;
    int p[2];
    leak_check lc;

    leak_check_begin(&lc);
    fake_loop_install(loop, ctx);
    g_assert_cmpint(pipe2(p, O_CLOEXEC | O_NONBLOCK), ==, 0);

    g_assert_cmpint(xlite_fd_wait(ctx, p[0], POLLIN, 10 * G_USEC_PER_SEC,
                                  &how), ==, 0);
    expected = g_strdup_printf("fd_register %d 0x1\ntimeout_register\n", p[0]);
    assert_log(loop, expected);
    timeout_token = fake_loop_last_timeout_token(loop);
    g_assert_cmpint(fake_loop_run_once(loop, ctx, 0), ==, 0);
    g_assert_cmpint(c.calls, ==, 0);

    g_assert_cmpint(write(p[1], "x", 1), ==, 1);
    run_until_complete(loop, ctx, &c);
    g_assert_cmpint(c.rc, ==, 0);
    g_free(expected);
    expected = g_strdup_printf("fd_deregister %d\ntimeout_modify 0\n", p[0]);
    assert_log(loop, expected);

    /* The abandoned timeout, due at once, was delivered in the same round
     * of the loop, and forgotten. */
    fake_loop_run_once(loop, ctx, 0);
    g_assert_cmpuint(fake_loop_live_timeouts(loop), ==, 0);
    /* Duplicated delivery of it: ignored. */
    xlite_osevent_occurred_timeout(ctx, timeout_token);
    g_assert_cmpint(c.calls, ==, 1);

    close(p[0]);
    close(p[1]);
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

/* A timeout delivered before its time is re-armed, not fired. */
static void
test_timeout_early(void)
{
    g_autoptr(fake_loop) loop = fake_loop_new();
    xlite_ctx *ctx = test_ctx_new();
    completion c = { 0 };
    xlite_async_how how = { .callback = completion_cb, .opaque = &c };
    leak_check lc;

    leak_check_begin(&lc);
    fake_loop_install(loop, ctx);
    g_assert_cmpint(xlite_sleep(ctx, 50 * 1000, 1, NULL, &how), ==, 0);
    assert_log(loop, "timeout_register\n");
    xlite_osevent_occurred_timeout(ctx, fake_loop_last_timeout_token(loop));
    g_assert_cmpint(c.calls, ==, 0);
    assert_log(loop, "timeout_register\n");
    run_until_complete(loop, ctx, &c);
    g_assert_cmpint(c.rc, ==, 0);
    g_assert_cmpuint(fake_loop_live_timeouts(loop), ==, 0);
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

/* The library abandons (modifies to "now") a timeout the loop has already
 * fired and is about to deliver; the delivery then finds it forgotten.
 * Then the other way round: delivered first, abort finds nothing. */
static void
test_timeout_modified_while_firing(void)
{
    g_autoptr(fake_loop) loop = fake_loop_new();
    xlite_ctx *ctx = test_ctx_new();
    completion c = { 0 };
    xlite_async_how how = { .callback = completion_cb, .opaque = &c };
    void *token;
    leak_check lc;

    leak_check_begin(&lc);
    fake_loop_install(loop, ctx);

    g_assert_cmpint(xlite_sleep(ctx, 0, 1, NULL, &how), ==, 0);
    token = fake_loop_last_timeout_token(loop);
    /* The loop "fires" it; before it delivers, the operation is aborted. */
    g_assert_cmpint(xlite_async_abort(ctx, &how), ==, 0);
    g_assert_cmpint(c.calls, ==, 1);
    g_assert_cmpint(c.rc, ==, -ECANCELED);
    assert_log(loop, "timeout_register\ntimeout_modify 0\n");
    xlite_osevent_occurred_timeout(ctx, token);
    xlite_osevent_occurred_timeout(ctx, token);
    g_assert_cmpint(c.calls, ==, 1);
    g_assert_cmpint(xlite_async_abort(ctx, &how), ==, -ESRCH);
    fake_loop_run_once(loop, ctx, 0);   /* the loop's own copy */

    c.calls = 0;
    g_assert_cmpint(xlite_sleep(ctx, 0, 1, NULL, &how), ==, 0);
    token = fake_loop_last_timeout_token(loop);
    xlite_osevent_occurred_timeout(ctx, token);
    g_assert_cmpint(c.calls, ==, 1);
    g_assert_cmpint(c.rc, ==, 0);
    g_assert_cmpint(xlite_async_abort(ctx, &how), ==, -ESRCH);
    fake_loop_run_once(loop, ctx, 0);   /* fires the loop's copy: stale */
    g_assert_cmpint(c.calls, ==, 1);
    g_assert_cmpuint(fake_loop_live_timeouts(loop), ==, 0);

    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

typedef struct {
    fake_loop *loop;
    xlite_ctx *ctx;
    volatile bool stop;
} loop_thread;

static void *
loop_thread_main(void *opaque)
{
    loop_thread *lt = opaque;

    while (!lt->stop)
        fake_loop_run_once(lt->loop, lt->ctx, 1);
    return NULL;
}

/* The same race for real: the loop thread fires timeouts due now while
 * this thread aborts them. */
static void
test_timeout_modified_while_firing_threads(void)
{
    g_autoptr(fake_loop) loop = fake_loop_new();
    xlite_ctx *ctx = test_ctx_new();
    loop_thread lt = { .loop = loop, .ctx = ctx };
    pthread_t thread;
    leak_check lc;
    int i;

    leak_check_begin(&lc);
    fake_loop_install(loop, ctx);
    pthread_create(&thread, NULL, loop_thread_main, &lt);
    for (i = 0; i < 2000; i++) {
        completion c = { 0 };
        xlite_async_how how = { .callback = completion_cb, .opaque = &c };
        int64_t give_up = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
        int r;

        g_assert_cmpint(xlite_sleep(ctx, 0, 1, NULL, &how), ==, 0);
        r = xlite_async_abort(ctx, &how);
        while (!__atomic_load_n(&c.calls, __ATOMIC_SEQ_CST) &&
               g_get_monotonic_time() < give_up)
            g_usleep(10);
        g_assert_cmpint(__atomic_load_n(&c.calls, __ATOMIC_SEQ_CST), ==, 1);
        g_assert_cmpint(c.rc, ==, r == 0 ? -ECANCELED : 0);
    }
    /* Let the loop deliver the abandoned copies. */
    while (fake_loop_live_timeouts(loop))
        g_usleep(100);
    lt.stop = true;
    pthread_join(thread, NULL);
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

static void
never_cb(xlite__egc *egc, xlite__ev_time *ev)
{
    g_assert_not_reached();
}

static void
test_install_rules(void)
{
    g_autoptr(fake_loop) loop = fake_loop_new();
    xlite_ctx *ctx = test_ctx_new();
    xlite__ev_time ev;
    leak_check lc;

    leak_check_begin(&lc);
    xlite__ev_time_init(&ev);
    g_assert_cmpint(xlite__ev_time_register_rel(ctx, &ev, never_cb,
                                                G_USEC_PER_SEC), ==, 0);
    g_assert_true(xlite__ev_time_isregistered(&ev));
    g_assert_cmpint(xlite_osevent_register_hooks(ctx, &(xlite_osevent_hooks){ 0 },
                                                 NULL, NULL), ==, -EINVAL);
    g_assert_cmpint(xlite_osevent_register_hooks(ctx, fake_loop_hooks(), loop,
                                                 NULL), ==, -EBUSY);
    xlite__ev_time_deregister(ctx, &ev);
    g_assert_false(xlite__ev_time_isregistered(&ev));
    fake_loop_install(loop, ctx);
    g_assert_cmpint(xlite_osevent_register_hooks(ctx, fake_loop_hooks(), loop,
                                                 NULL), ==, -EEXIST);
    xlite_ctx_free(ctx);
    g_assert_true(fake_loop_released(loop));
    leak_check_end(&lc);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xlite/hooks/fd-register-modify-deregister",
                    test_fd_register_modify_deregister);
    g_test_add_func("/xlite/hooks/fd-wait", test_fd_wait_through_hooks);
    g_test_add_func("/xlite/hooks/timeout-early", test_timeout_early);
    g_test_add_func("/xlite/hooks/timeout-modified-while-firing",
                    test_timeout_modified_while_firing);
    g_test_add_func("/xlite/hooks/timeout-modified-while-firing-threads",
                    test_timeout_modified_while_firing_threads);
    g_test_add_func("/xlite/hooks/install-rules", test_install_rules);
    return g_test_run();
}
