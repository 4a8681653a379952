/*
 * test-pty.c: ptys from the helper child, and the asynchronous file lock
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutils.h"

static void
assert_pty_works(int master, int slave)
{
    char buf[16] = "";

    g_assert_true(isatty(slave));
    g_assert_cmpint(fcntl(master, F_GETFD) & FD_CLOEXEC, ==, FD_CLOEXEC);
    g_assert_cmpint(fcntl(slave, F_GETFD) & FD_CLOEXEC, ==, FD_CLOEXEC);
    g_assert_cmpint(write(master, "ping", 4), ==, 4);
    g_assert_cmpint(read(slave, buf, 4), ==, 4);
    g_assert_cmpstr(buf, ==, "ping");
    g_assert_cmpint(write(slave, "pong", 4), ==, 4);
    g_assert_cmpint(read(master, buf, 4), ==, 4);
    g_assert_cmpstr(buf, ==, "pong");
    close(master);
    close(slave);
}

/* The library's SIGCHLD handler is installed (selective reap). */
static void
test_openpty_selective(void)
{
    xlite_ctx *ctx = test_ctx_new();
    int master = -1, slave = -1;
    leak_check lc;

    leak_check_begin(&lc);
    g_assert_cmpint(xlite_childproc_setmode(ctx,
                                            XLITE_SIGCHLD_OWNER_SELECTIVE_REAP),
                    ==, 0);
    g_assert_cmpint(xlite_openpty(ctx, &master, &slave, NULL), ==, 0);
    assert_pty_works(master, slave);
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

static int app_pipe[2];

static void
app_handler(int sig)
{
    int esave = errno;
    ssize_t r = write(app_pipe[1], "", 1);

    (void)r;
    errno = esave;
}

static void
done_cb(xlite_ctx *ctx, int rc, void *opaque)
{
    int *rc_r = opaque;

    *rc_r = rc;
}

/* The application's own SIGCHLD handler (main-loop mode). */
static void
test_openpty_app_handler(void)
{
    xlite_ctx *ctx = test_ctx_new();
    struct sigaction sa = { .sa_handler = app_handler,
                            .sa_flags = SA_RESTART | SA_NOCLDSTOP };
    struct sigaction saved;
    int rc = 1;
    xlite_async_how how = { .callback = done_cb, .opaque = &rc };
    int master = -1, slave = -1;
    leak_check lc;

    leak_check_begin(&lc);
    g_assert_cmpint(pipe2(app_pipe, O_CLOEXEC | O_NONBLOCK), ==, 0);
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, &saved);
    g_assert_cmpint(xlite_childproc_setmode(ctx, XLITE_SIGCHLD_OWNER_MAINLOOP),
                    ==, 0);
    g_assert_cmpint(xlite_openpty(ctx, &master, &slave, &how), ==, 0);
    while (rc == 1) {
        struct pollfd pfd = { .fd = app_pipe[0], .events = POLLIN };
        char buf[16];
        int status;
        pid_t pid;

        poll(&pfd, 1, 1000);
        while (read(app_pipe[0], buf, sizeof(buf)) > 0)
            ;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
            g_assert_cmpint(xlite_childproc_reaped(ctx, pid, status), ==, 0);
    }
    g_assert_cmpint(rc, ==, 0);
    assert_pty_works(master, slave);
    xlite_ctx_free(ctx);
    sigaction(SIGCHLD, &saved, NULL);
    close(app_pipe[0]);
    close(app_pipe[1]);
    leak_check_end(&lc);
}

/* ---------- file locks ---------- */

static char *
lock_path(void)
{
    return g_strdup_printf("%s/xlite-test-lock-%d", g_get_tmp_dir(),
                           (int)getpid());
}

static bool
is_locked(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    bool locked;

    g_assert_cmpint(fd, >=, 0);
    locked = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd);
    return locked;
}

/* Runs the library's loop for a while. */
static void
run_loop(xlite_ctx *ctx, int ms)
{
    xlite_event *ev;

    g_assert_cmpint(xlite_event_wait(ctx, 0, NULL, NULL, ms * 1000, &ev), ==,
                    -ETIMEDOUT);
}

static void
test_lock_uncontended(void)
{
    xlite_ctx *ctx = test_ctx_new();
    g_autofree char *path = lock_path();
    xlite_file_lock *lock = NULL;
    leak_check lc;

    leak_check_begin(&lc);
    g_assert_cmpint(xlite_file_lock_acquire(ctx, path, &lock, NULL), ==, 0);
    g_assert_true(is_locked(path));
    xlite_file_lock_release(lock);
    g_assert_false(is_locked(path));
    unlink(path);
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

/* Held by someone else; then released: the helper gets it for us. */
static void
test_lock_contended(void)
{
    xlite_ctx *ctx = test_ctx_new();
    g_autofree char *path = lock_path();
    xlite_file_lock *lock = NULL;
    int rc = 1;
    xlite_async_how how = { .callback = done_cb, .opaque = &rc };
    int holder;
    leak_check lc;

    leak_check_begin(&lc);
    holder = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    g_assert_cmpint(flock(holder, LOCK_EX), ==, 0);
    g_assert_cmpint(xlite_file_lock_acquire(ctx, path, &lock, &how), ==, 0);
    run_loop(ctx, 50);
    g_assert_cmpint(rc, ==, 1);
    close(holder);
    while (rc == 1)
        run_loop(ctx, 10);
    g_assert_cmpint(rc, ==, 0);
    g_assert_true(is_locked(path));
    xlite_file_lock_release(lock);
    g_assert_false(is_locked(path));
    unlink(path);
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

/* The holder deletes and recreates the file as it releases: the lock we
 * then get is on a file nobody sees, so the library starts over. */
static void
test_lock_replaced(void)
{
    xlite_ctx *ctx = test_ctx_new();
    g_autofree char *path = lock_path();
    xlite_file_lock *lock = NULL;
    int rc = 1;
    xlite_async_how how = { .callback = done_cb, .opaque = &rc };
    struct stat before, after;
    int holder;
    leak_check lc;

    leak_check_begin(&lc);
    holder = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    g_assert_cmpint(flock(holder, LOCK_EX), ==, 0);
    g_assert_cmpint(fstat(holder, &before), ==, 0);
    g_assert_cmpint(xlite_file_lock_acquire(ctx, path, &lock, &how), ==, 0);
    run_loop(ctx, 20);
    unlink(path);
    close(open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    close(holder);
    while (rc == 1)
        run_loop(ctx, 10);
    g_assert_cmpint(rc, ==, 0);
    g_assert_cmpint(stat(path, &after), ==, 0);
    g_assert_true(before.st_ino != after.st_ino);
    g_assert_true(is_locked(path));
    xlite_file_lock_release(lock);
    unlink(path);
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

static void
test_lock_abort(void)
{
    xlite_ctx *ctx = test_ctx_new();
    g_autofree char *path = lock_path();
    xlite_file_lock *lock = NULL;
    int rc = 1;
    xlite_async_how how = { .callback = done_cb, .opaque = &rc };
    int holder;
    leak_check lc;

    leak_check_begin(&lc);
    holder = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    g_assert_cmpint(flock(holder, LOCK_EX), ==, 0);
    g_assert_cmpint(xlite_file_lock_acquire(ctx, path, &lock, &how), ==, 0);
    run_loop(ctx, 20);
    g_assert_cmpint(xlite_async_abort(ctx, &how), ==, 0);
    while (rc == 1)
        run_loop(ctx, 10);
    g_assert_cmpint(rc, ==, -ECANCELED);
    g_assert_null(lock);
    close(holder);
    g_assert_false(is_locked(path));
    unlink(path);
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xlite/pty/selective-reap", test_openpty_selective);
    g_test_add_func("/xlite/pty/app-sigchld-handler", test_openpty_app_handler);
    g_test_add_func("/xlite/lock/uncontended", test_lock_uncontended);
    g_test_add_func("/xlite/lock/contended", test_lock_contended);
    g_test_add_func("/xlite/lock/replaced", test_lock_replaced);
    g_test_add_func("/xlite/lock/abort", test_lock_abort);
    return g_test_run();
}
