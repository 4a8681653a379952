/*
 * testutils.c: helpers shared by the libxlite tests
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutils.h"

static GHashTable *
open_fds(void)
{
    GHashTable *set = g_hash_table_new(g_direct_hash, g_direct_equal);
    DIR *dir = opendir("/proc/self/fd");
    int dfd = dirfd(dir);
    struct dirent *de;

    while ((de = readdir(dir))) {
        int fd = atoi(de->d_name);

        if (de->d_name[0] != '.' && fd != dfd)
            g_hash_table_add(set, GINT_TO_POINTER(fd));
    }
    closedir(dir);
    return set;
}

void
leak_check_begin(leak_check *lc)
{
    lc->fds = open_fds();
}

void
leak_check_end(leak_check *lc)
{
    g_autoptr(GHashTable) now = open_fds();
    GHashTableIter iter;
    gpointer key;
    int status;

    g_hash_table_iter_init(&iter, now);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        if (!g_hash_table_contains(lc->fds, key)) {
            g_autofree char *link = g_strdup_printf("/proc/self/fd/%d",
                                                    GPOINTER_TO_INT(key));
            g_autofree char *target = g_file_read_link(link, NULL);

            g_error("leaked fd %d (%s)", GPOINTER_TO_INT(key),
                    target ? target : "?");
        }
    }
    g_assert_cmpint(waitpid(-1, &status, WNOHANG), ==, -1);
    g_assert_cmpint(errno, ==, ECHILD);
    g_hash_table_unref(lc->fds);
    lc->fds = NULL;
}

xlite_ctx *
test_ctx_new(void)
{
    xlite_ctx_options opts = {
        .backend = XLITE_BACKEND_STUB,
        .state_dir = g_get_tmp_dir(),
    };
    xlite_ctx *ctx = NULL;

    g_assert_cmpint(xlite_ctx_new(&opts, &ctx), ==, 0);
    return ctx;
}

/* ---------- the fake loop ---------- */

typedef struct {
    int fd;
    short events;
    void *for_xlite;
    bool live;
} fake_fd;

typedef struct {
    int64_t abs;
    void *for_xlite;
    bool live;
} fake_timeout;

struct fake_loop {
    pthread_mutex_t lock;
    GPtrArray *fds;            /* fake_fd, owned */
    GPtrArray *timeouts;       /* fake_timeout, owned */
    GString *log;
    bool released;
};

fake_loop *
fake_loop_new(void)
{
    fake_loop *loop = g_new0(fake_loop, 1);

    pthread_mutex_init(&loop->lock, NULL);
    loop->fds = g_ptr_array_new_with_free_func(g_free);
    loop->timeouts = g_ptr_array_new_with_free_func(g_free);
    loop->log = g_string_new("");
    return loop;
}

void
fake_loop_free(fake_loop *loop)
{
    if (!loop)
        return;
    g_ptr_array_unref(loop->fds);
    g_ptr_array_unref(loop->timeouts);
    g_string_free(loop->log, TRUE);
    pthread_mutex_destroy(&loop->lock);
    g_free(loop);
}

static int
hook_fd_register(void *user, int fd, void **for_app_registration_r,
                 short events, void *for_xlite)
{
    fake_loop *loop = user;
    fake_fd *f = g_new0(fake_fd, 1);

    f->fd = fd;
    f->events = events;
    f->for_xlite = for_xlite;
    f->live = true;
    pthread_mutex_lock(&loop->lock);
    g_ptr_array_add(loop->fds, f);
    g_string_append_printf(loop->log, "fd_register %d %#x\n", fd, events);
    pthread_mutex_unlock(&loop->lock);
    *for_app_registration_r = f;
    return 0;
}

static int
hook_fd_modify(void *user, int fd, void **for_app_registration_update,
               short events)
{
    fake_loop *loop = user;
    fake_fd *f = *for_app_registration_update;

    pthread_mutex_lock(&loop->lock);
    g_assert_true(f->live);
    g_assert_cmpint(f->fd, ==, fd);
    f->events = events;
    g_string_append_printf(loop->log, "fd_modify %d %#x\n", fd, events);
    pthread_mutex_unlock(&loop->lock);
    return 0;
}

static void
hook_fd_deregister(void *user, int fd, void *for_app_registration)
{
    fake_loop *loop = user;
    fake_fd *f = for_app_registration;

    pthread_mutex_lock(&loop->lock);
    g_assert_true(f->live);
    g_assert_cmpint(f->fd, ==, fd);
    f->live = false;
    g_string_append_printf(loop->log, "fd_deregister %d\n", fd);
    pthread_mutex_unlock(&loop->lock);
}

static int
hook_timeout_register(void *user, void **for_app_registration_r,
                      int64_t abs_usec, void *for_xlite)
{
    fake_loop *loop = user;
    fake_timeout *t = g_new0(fake_timeout, 1);

    t->abs = abs_usec;
    t->for_xlite = for_xlite;
    t->live = true;
    pthread_mutex_lock(&loop->lock);
    g_ptr_array_add(loop->timeouts, t);
    g_string_append(loop->log, "timeout_register\n");
    pthread_mutex_unlock(&loop->lock);
    *for_app_registration_r = t;
    return 0;
}

static int
hook_timeout_modify(void *user, void **for_app_registration_update,
                    int64_t abs_usec)
{
    fake_loop *loop = user;
    fake_timeout *t = *for_app_registration_update;

    pthread_mutex_lock(&loop->lock);
    /* It may have fired already (then it was delivered or is being
     * delivered right now): the contract makes that a no-op. */
    if (t->live)
        t->abs = abs_usec;
    g_string_append_printf(loop->log, "timeout_modify %s\n",
                           abs_usec ? "later" : "0");
    pthread_mutex_unlock(&loop->lock);
    return 0;
}

static void
hooks_release(void *user)
{
    fake_loop *loop = user;

    pthread_mutex_lock(&loop->lock);
    loop->released = true;
    pthread_mutex_unlock(&loop->lock);
}

static const xlite_osevent_hooks fake_hooks = {
    .fd_register = hook_fd_register,
    .fd_modify = hook_fd_modify,
    .fd_deregister = hook_fd_deregister,
    .timeout_register = hook_timeout_register,
    .timeout_modify = hook_timeout_modify,
};

const xlite_osevent_hooks *
fake_loop_hooks(void)
{
    return &fake_hooks;
}

void
fake_loop_install(fake_loop *loop, xlite_ctx *ctx)
{
    g_assert_cmpint(xlite_osevent_register_hooks(ctx, &fake_hooks, loop,
                                                 hooks_release), ==, 0);
}

int
fake_loop_run_once(fake_loop *loop, xlite_ctx *ctx, int timeout_ms)
{
    g_autofree struct pollfd *pfds = NULL;
    g_autofree void **tokens = NULL;
    g_autoptr(GPtrArray) due = g_ptr_array_new();
    int64_t now;
    int64_t first = -1;
    int deliveries = 0;
    guint n = 0;
    guint i;

    pthread_mutex_lock(&loop->lock);
    /* Forget deregistered fds, so long runs stay small. */
    for (i = loop->fds->len; i-- > 0;)
        if (!((fake_fd *)loop->fds->pdata[i])->live)
            g_ptr_array_remove_index_fast(loop->fds, i);
    pfds = g_new0(struct pollfd, loop->fds->len);
    tokens = g_new0(void *, loop->fds->len);
    for (i = 0; i < loop->fds->len; i++) {
        fake_fd *f = loop->fds->pdata[i];

        if (!f->live)
            continue;
        pfds[n] = (struct pollfd){ .fd = f->fd, .events = f->events };
        tokens[n++] = f->for_xlite;
    }
    for (i = 0; i < loop->timeouts->len; i++) {
        fake_timeout *t = loop->timeouts->pdata[i];

        if (t->live && (first < 0 || t->abs < first))
            first = t->abs;
    }
    pthread_mutex_unlock(&loop->lock);

    if (first >= 0) {
        int64_t left = first - g_get_monotonic_time();
        int ms = left <= 0 ? 0 : (int)((left + 999) / 1000);

        if (timeout_ms < 0 || ms < timeout_ms)
            timeout_ms = ms;
    }
    if (poll(pfds, n, timeout_ms) > 0) {
        for (i = 0; i < n; i++) {
            if (!pfds[i].revents)
                continue;
            xlite_osevent_occurred_fd(ctx, tokens[i], pfds[i].fd,
                                      pfds[i].events, pfds[i].revents);
            deliveries++;
        }
    }

    now = g_get_monotonic_time();
    pthread_mutex_lock(&loop->lock);
    for (i = 0; i < loop->timeouts->len; i++) {
        fake_timeout *t = loop->timeouts->pdata[i];

        if (t->live && t->abs <= now) {
            t->live = false;          /* one-shot */
            g_ptr_array_add(due, t);
        }
    }
    pthread_mutex_unlock(&loop->lock);

    for (i = 0; i < due->len; i++) {
        xlite_osevent_occurred_timeout(ctx,
                                       ((fake_timeout *)due->pdata[i])->for_xlite);
        deliveries++;
    }
    /* Delivered: the library will not modify them any more. */
    pthread_mutex_lock(&loop->lock);
    for (i = 0; i < due->len; i++)
        g_ptr_array_remove_fast(loop->timeouts, due->pdata[i]);
    pthread_mutex_unlock(&loop->lock);
    return deliveries;
}

char *
fake_loop_take_log(fake_loop *loop)
{
    char *log;

    pthread_mutex_lock(&loop->lock);
    log = g_strdup(loop->log->str);
    g_string_truncate(loop->log, 0);
    pthread_mutex_unlock(&loop->lock);
    return log;
}

unsigned int
fake_loop_live_fds(fake_loop *loop)
{
    unsigned int n = 0;
    guint i;

    pthread_mutex_lock(&loop->lock);
    for (i = 0; i < loop->fds->len; i++)
        n += ((fake_fd *)loop->fds->pdata[i])->live;
    pthread_mutex_unlock(&loop->lock);
    return n;
}

unsigned int
fake_loop_live_timeouts(fake_loop *loop)
{
    unsigned int n = 0;
    guint i;

    pthread_mutex_lock(&loop->lock);
    for (i = 0; i < loop->timeouts->len; i++)
        n += ((fake_timeout *)loop->timeouts->pdata[i])->live;
    pthread_mutex_unlock(&loop->lock);
    return n;
}

void *
fake_loop_fd_token(fake_loop *loop, int fd)
{
    void *token = NULL;
    guint i;

    pthread_mutex_lock(&loop->lock);
    for (i = 0; i < loop->fds->len; i++) {
        fake_fd *f = loop->fds->pdata[i];

        if (f->live && f->fd == fd)
            token = f->for_xlite;
    }
    pthread_mutex_unlock(&loop->lock);
    return token;
}

void *
fake_loop_last_timeout_token(fake_loop *loop)
{
    void *token = NULL;

    pthread_mutex_lock(&loop->lock);
    if (loop->timeouts->len)
        token = ((fake_timeout *)g_ptr_array_index(loop->timeouts,
                                                   loop->timeouts->len - 1))
                    ->for_xlite;
    pthread_mutex_unlock(&loop->lock);
    return token;
}

int64_t
fake_loop_last_timeout_abs(fake_loop *loop)
{
    int64_t abs = -1;

    pthread_mutex_lock(&loop->lock);
    if (loop->timeouts->len)
        abs = ((fake_timeout *)g_ptr_array_index(loop->timeouts,
                                                 loop->timeouts->len - 1))->abs;
    pthread_mutex_unlock(&loop->lock);
    return abs;
}

bool
fake_loop_released(fake_loop *loop)
{
    bool released;

    pthread_mutex_lock(&loop->lock);
    released = loop->released;
    pthread_mutex_unlock(&loop->lock);
    return released;
}

int
test_iterations(int plain, int under_valgrind)
{
    return g_getenv("XLITE_UNDER_VALGRIND") ? under_valgrind : plain;
}
