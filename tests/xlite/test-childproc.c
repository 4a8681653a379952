/*
 * test-childproc.c: running programs, and the three SIGCHLD modes
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutils.h"

#define NCHILDREN 40

static int
run_sh(xlite_ctx *ctx, const char *script, const char *const *env,
       const int fds[3], int64_t timeout_usec, int *status_r)
{
    const char *argv[] = { "sh", "-c", script, NULL };

    return xlite_run_command(ctx, argv, env, fds, timeout_usec, status_r,
                             NULL);
}

static char *
read_all(int fd)
{
    GString *s = g_string_new("");
    char buf[256];
    ssize_t r;

    while ((r = read(fd, buf, sizeof(buf))) > 0)
        g_string_append_len(s, buf, r);
    return g_string_free(s, FALSE);
}

/* Fds above 2 that this process would pass on to a program. */
static int
inheritable_fds(void)
{
    int n = 0;
    int fd;

    for (fd = 3; fd < 1024; fd++) {
        int flags = fcntl(fd, F_GETFD);

        n += flags >= 0 && !(flags & FD_CLOEXEC);
    }
    return n;
}

static void
test_run_command(void)
{
    xlite_ctx *ctx = test_ctx_new();
    const char *env[] = { "XLITE_TEST_VAR=bar", NULL };
    g_autofree char *out = NULL;
    g_autofree char *expected = NULL;
    int fds[3] = { -1, -1, -1 };
    int status = -1;
    int p[2];
    leak_check lc;

    leak_check_begin(&lc);
    g_assert_cmpint(run_sh(ctx, "exit 0", NULL, NULL, -1, &status), ==, 0);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    g_assert_cmpint(run_sh(ctx, "exit 3", NULL, NULL, -1, &status), ==, 0);
    g_assert_cmpint(WEXITSTATUS(status), ==, 3);
    g_assert_cmpint(run_sh(ctx, "test \"$XLITE_TEST_VAR\" = bar", env, NULL,
                           -1, &status), ==, 0);
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    g_assert_cmpint(run_sh(ctx, "sleep 5", NULL, NULL, 100 * 1000, &status),
                    ==, -ETIMEDOUT);

    /* stdout into a pipe; the child sees no other fd of ours. */
    g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
    fds[1] = p[1];
    g_assert_cmpint(run_sh(ctx, "echo hello; ls /proc/self/fd | wc -l", NULL,
                           fds, -1, &status), ==, 0);
    close(p[1]);
    out = read_all(p[0]);
    close(p[0]);
    /* 0, 1, 2, the fd ls opens to read the directory, and whatever this
     * process got without CLOEXEC from whoever started it. */
    expected = g_strdup_printf("hello\n%d\n", 4 + inheritable_fds());
    g_assert_cmpstr(out, ==, expected);

    {
        const char *argv[] = { "xlite-no-such-program", NULL };

        g_assert_cmpint(xlite_run_command(ctx, argv, NULL, NULL, -1, &status,
                                          NULL), ==, -ENOENT);
    }
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

static int
count_lines(const char *s)
{
    int n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The debugging switch: a child reports fds it would inherit. */
static void
test_debug_fds(void)
{
    xlite_ctx_options opts = {
        .backend = XLITE_BACKEND_STUB,
        .state_dir = g_get_tmp_dir(),
        .debug_child_fds = true,
    };
    g_autofree char *err = NULL;
    g_autofree char *expected = NULL;
    xlite_ctx *ctx = NULL;
    int fds[3] = { -1, -1, -1 };
    int status;
    int p[2];
    int leaky;
    leak_check lc;

    leak_check_begin(&lc);
    g_assert_cmpint(xlite_ctx_new(&opts, &ctx), ==, 0);
    leaky = open("/dev/null", O_RDONLY);   /* no O_CLOEXEC, on purpose */
    g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
    fds[2] = p[1];
    g_assert_cmpint(run_sh(ctx, "true", NULL, fds, -1, &status), ==, 0);
    close(p[1]);
    err = read_all(p[0]);
    close(p[0]);
    /* Our leaky fd is reported; any other is one this process inherited
     * itself from whoever started it: none is the library's. */
    expected = g_strdup_printf("xlite: child inherits fd %d\n", leaky);
    g_assert_nonnull(strstr(err, expected));
    close(leaky);
    g_assert_cmpint(count_lines(err), ==, 1 + inheritable_fds());
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

typedef struct {
    int calls;
    int rc;
    int status;
} run_result;

static void
run_done_cb(xlite_ctx *ctx, int rc, void *opaque)
{
    run_result *r = opaque;

    r->rc = rc;
    r->calls++;
}

static void
test_abort_command(void)
{
    xlite_ctx *ctx = test_ctx_new();
    const char *argv[] = { "sleep", "10", NULL };
    run_result res = { 0 };
    xlite_async_how how = { .callback = run_done_cb, .opaque = &res };
    xlite_event *ev;
    leak_check lc;

    leak_check_begin(&lc);
    g_assert_cmpint(xlite_run_command(ctx, argv, NULL, NULL, -1, &res.status,
                                      &how), ==, 0);
    g_assert_cmpint(xlite_async_abort(ctx, &how), ==, 0);
    /* Runs the loop (the library's SIGCHLD pipe) until the child died. */
    while (!res.calls)
        g_assert_cmpint(xlite_event_wait(ctx, 0, NULL, NULL, 10 * 1000, &ev),
                        ==, -ETIMEDOUT);
    g_assert_cmpint(res.rc, ==, -ECANCELED);
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

/* ---------- main-loop mode: the application owns SIGCHLD ---------- */

static int app_sigchld_pipe[2] = { -1, -1 };

static void
app_sigchld_handler(int sig)
{
    int esave = errno;
    ssize_t r = write(app_sigchld_pipe[1], "", 1);

    (void)r;
    errno = esave;
}

static void
app_sigchld_install(struct sigaction *saved)
{
    struct sigaction sa = { .sa_handler = app_sigchld_handler,
                            .sa_flags = SA_RESTART | SA_NOCLDSTOP };

    g_assert_cmpint(pipe2(app_sigchld_pipe, O_CLOEXEC | O_NONBLOCK), ==, 0);
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, saved);
}

static void
app_sigchld_remove(const struct sigaction *saved)
{
    sigaction(SIGCHLD, saved, NULL);
    close(app_sigchld_pipe[0]);
    close(app_sigchld_pipe[1]);
}

/* The application's own child.  It execs, so that it is a plain process
 * even under valgrind (which would check a forked child for leaks). */
static pid_t
app_fork_child(int code, int delay_ms)
{
    g_autofree char *script = g_strdup_printf("sleep 0.%03d; exit %d",
                                              delay_ms, code);
    g_autofree char *sh = g_find_program_in_path("sh");
    pid_t pid = fork();

    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        execl(sh, "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void
run_mainloop_mode(bool library_reaps_its_own)
{
    xlite_ctx *ctx = test_ctx_new();
    run_result lib[NCHILDREN] = { { 0 } };
    xlite_async_how how[NCHILDREN];
    pid_t app_pids[NCHILDREN];
    int app_status[NCHILDREN];
    int app_reaped = 0;
    int lib_done = 0;
    struct sigaction saved;
    leak_check lc;
    int i;

    leak_check_begin(&lc);
    app_sigchld_install(&saved);
    g_assert_cmpint(xlite_childproc_setmode(ctx, XLITE_SIGCHLD_OWNER_MAINLOOP),
                    ==, 0);
    for (i = 0; i < NCHILDREN; i++) {
        g_autofree char *script = g_strdup_printf("exit %d", 100 + i);
        const char *argv[] = { "sh", "-c", script, NULL };

        app_pids[i] = app_fork_child(i, i % 7);
        app_status[i] = -1;
        how[i] = (xlite_async_how){ .callback = run_done_cb,
                                    .opaque = &lib[i] };
        g_assert_cmpint(xlite_run_command(ctx, argv, NULL, NULL, -1,
                                          &lib[i].status, &how[i]), ==, 0);
    }

    while (app_reaped < NCHILDREN || lib_done < NCHILDREN) {
        struct pollfd pfd = { .fd = app_sigchld_pipe[0], .events = POLLIN };
        char buf[64];
        int status;
        pid_t pid;
        int r;

        do {
            r = poll(&pfd, 1, 5000);   /* never restarted after a signal */
        } while (r < 0 && errno == EINTR);
        g_assert_cmpint(r, ==, 1);
        while (read(app_sigchld_pipe[0], buf, sizeof(buf)) > 0)
            ;
        if (library_reaps_its_own) {
            /* The application reaps only its own pids... */
            for (i = 0; i < NCHILDREN; i++) {
                if (app_status[i] != -1)
                    continue;
                if (waitpid(app_pids[i], &status, WNOHANG) == app_pids[i]) {
                    app_status[i] = status;
                    app_reaped++;
                }
            }
            /* ... and lets the library reap its own. */
            xlite_childproc_sigchld_occurred(ctx);
        } else {
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                if (xlite_childproc_reaped(ctx, pid, status) == 0)
                    continue;
                for (i = 0; i < NCHILDREN; i++)
                    if (app_pids[i] == pid)
                        break;
                g_assert_cmpint(i, <, NCHILDREN);
                g_assert_cmpint(app_status[i], ==, -1);
                app_status[i] = status;
                app_reaped++;
            }
        }
        for (lib_done = 0, i = 0; i < NCHILDREN; i++)
            lib_done += lib[i].calls;
    }
    for (i = 0; i < NCHILDREN; i++) {
        g_assert_cmpint(WEXITSTATUS(app_status[i]), ==, i);
        g_assert_cmpint(lib[i].calls, ==, 1);
        g_assert_cmpint(lib[i].rc, ==, 0);
        g_assert_cmpint(WEXITSTATUS(lib[i].status), ==, 100 + i);
    }
    xlite_ctx_free(ctx);
    app_sigchld_remove(&saved);
    leak_check_end(&lc);
}

static void
test_mainloop_reaped(void)
{
    run_mainloop_mode(false);
}

static void
test_mainloop_sigchld_occurred(void)
{
    run_mainloop_mode(true);
}

/* ---------- always-selective-reap ---------- */

typedef struct {
    xlite_ctx *ctx;
    volatile bool stop;
    int runs;
} lib_churn;

static void *
lib_churn_main(void *opaque)
{
    lib_churn *c = opaque;

    while (!c->stop) {
        int status = -1;

        g_assert_cmpint(run_sh(c->ctx, "exit 7", NULL, NULL, -1, &status),
                        ==, 0);
        g_assert_cmpint(WEXITSTATUS(status), ==, 7);
        c->runs++;
    }
    return NULL;
}

static void
test_selective_reap(void)
{
    xlite_ctx *ctx = test_ctx_new();
    lib_churn churn = { .ctx = ctx };
    pthread_t tid;
    leak_check lc;
    int i;

    leak_check_begin(&lc);
    g_assert_cmpint(xlite_childproc_setmode(ctx,
                                            XLITE_SIGCHLD_OWNER_SELECTIVE_REAP),
                    ==, 0);
    pthread_create(&tid, NULL, lib_churn_main, &churn);
    for (i = 0; i < NCHILDREN; i++) {
        pid_t pid = app_fork_child(i, i % 5);
        int status = -1;
        pid_t r;

        /* The application's own synchronous wait for its own child. */
        do {
            r = waitpid(pid, &status, 0);
        } while (r < 0 && errno == EINTR);
        g_assert_cmpint(r, ==, pid);
        g_assert_cmpint(WEXITSTATUS(status), ==, i);
    }
    churn.stop = true;
    pthread_join(tid, NULL);
    g_test_message("library ran %d children meanwhile", churn.runs);
    g_assert_cmpint(churn.runs, >, 0);
    /* The mode cannot change while children run; now it can. */
    g_assert_cmpint(xlite_childproc_setmode(ctx, XLITE_SIGCHLD_OWNER_LIBRARY),
                    ==, 0);
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xlite/childproc/run-command", test_run_command);
    g_test_add_func("/xlite/childproc/debug-fds", test_debug_fds);
    g_test_add_func("/xlite/childproc/abort", test_abort_command);
    g_test_add_func("/xlite/childproc/mainloop-reaped", test_mainloop_reaped);
    g_test_add_func("/xlite/childproc/mainloop-sigchld-occurred",
                    test_mainloop_sigchld_occurred);
    g_test_add_func("/xlite/childproc/selective-reap", test_selective_reap);
    return g_test_run();
}
