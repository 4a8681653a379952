/*
 * test-forkstorm.c: no library fd ever reaches a program another thread
 * executes
 *
 * 4 threads fork and exec `ls -l /proc/self/fd` in a loop, as any
 * application might, while 2 threads make the library open and close fds
 * (contexts with their wake pipes, pty helpers with their socket pairs and
 * the received ptys, lock files, programs with /dev/null for stdio).  Every
 * listing may only show the child's stdio, ls's own directory fd, and fds
 * this process itself inherited without CLOEXEC.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutils.h"

#define NFORKERS 4
#define NCHURNERS 2

static bool stop_churn;           /* atomic */
static GHashTable *inherited;     /* fds this process passes on anyway */

static void
check_listing(const char *listing)
{
    g_auto(GStrv) lines = g_strsplit(listing, "\n", -1);
    char **l;

    for (l = lines; *l; l++) {
        const char *arrow = strstr(*l, " -> ");
        const char *p;
        int fd;

        if (!arrow)
            continue;   /* "total 0" */
        for (p = arrow; p > *l && p[-1] != ' '; p--)
            ;
        fd = atoi(p);
        if (fd <= 2 || g_hash_table_contains(inherited, GINT_TO_POINTER(fd)))
            continue;
        /* ls's own fd on the directory it lists. */
        if (g_str_has_prefix(arrow + 4, "/proc/") &&
            g_str_has_suffix(arrow + 4, "/fd"))
            continue;
        g_error("a child inherited fd %d: %s", fd, *l);
    }
}

static void *
forker_main(void *opaque)
{
    int iterations = GPOINTER_TO_INT(opaque);
    char *const argv[] = { "ls", "-l", "/proc/self/fd", NULL };
    g_autofree char *ls = g_find_program_in_path("ls");
    int i;

    for (i = 0; i < iterations; i++) {
        g_autoptr(GString) out = g_string_new("");
        char buf[4096];
        int status;
        ssize_t r;
        pid_t pid;
        int p[2];

        g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
            dup2(p[1], 1);
            execv(ls, argv);
            _exit(127);
        }
        close(p[1]);
        while ((r = read(p[0], buf, sizeof(buf))) > 0)
            g_string_append_len(out, buf, r);
        close(p[0]);
        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        g_assert_cmpint(WEXITSTATUS(status), ==, 0);
        check_listing(out->str);
    }
    return NULL;
}

static void *
churner_main(void *opaque)
{
    g_autofree char *lockpath = g_strdup_printf("%s/xlite-forkstorm-%d-%p.lock",
                                                g_get_tmp_dir(), (int)getpid(),
                                                opaque);
    const char *argv[] = { "true", NULL };

    while (!__atomic_load_n(&stop_churn, __ATOMIC_ACQUIRE)) {
        xlite_ctx *ctx = test_ctx_new();
        xlite_file_lock *lock = NULL;
        int master, slave;
        int status;

        /* The test's own children are reaped by the test. */
        g_assert_cmpint(xlite_childproc_setmode(ctx,
                                                XLITE_SIGCHLD_OWNER_SELECTIVE_REAP),
                        ==, 0);
        g_assert_cmpint(xlite_openpty(ctx, &master, &slave, NULL), ==, 0);
        close(master);
        close(slave);
        g_assert_cmpint(xlite_file_lock_acquire(ctx, lockpath, &lock, NULL),
                        ==, 0);
        xlite_file_lock_release(lock);
        g_assert_cmpint(xlite_run_command(ctx, argv, NULL, NULL, -1, &status,
                                          NULL), ==, 0);
        xlite_ctx_free(ctx);
    }
    unlink(lockpath);
    return NULL;
}

static void
test_fork_storm(void)
{
    pthread_t forkers[NFORKERS];
    pthread_t churners[NCHURNERS];
    int iterations = test_iterations(150, 10);
    leak_check lc;
    int fd;
    int i;

    leak_check_begin(&lc);
    /* GLib computes it on first use, without a lock the threads share. */
    g_get_tmp_dir();
    inherited = g_hash_table_new(g_direct_hash, g_direct_equal);
    for (fd = 3; fd < 1024; fd++) {
        int flags = fcntl(fd, F_GETFD);

        if (flags >= 0 && !(flags & FD_CLOEXEC))
            g_hash_table_add(inherited, GINT_TO_POINTER(fd));
    }
    for (i = 0; i < NCHURNERS; i++)
        pthread_create(&churners[i], NULL, churner_main, GINT_TO_POINTER(i));
    for (i = 0; i < NFORKERS; i++)
        pthread_create(&forkers[i], NULL, forker_main,
                       GINT_TO_POINTER(iterations));
    for (i = 0; i < NFORKERS; i++)
        pthread_join(forkers[i], NULL);
    __atomic_store_n(&stop_churn, true, __ATOMIC_RELEASE);
    for (i = 0; i < NCHURNERS; i++)
        pthread_join(churners[i], NULL);
    g_hash_table_unref(inherited);
    leak_check_end(&lc);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xlite/forkstorm", test_fork_storm);
    return g_test_run();
}
