/*
 * xlite_fork.c: file descriptors that no child inherits, SIGCHLD, child
 * processes, and running programs
 *
 * The rules are in xlite_internal.h, "File descriptors and fork" and
 * "Child processes", and in xlite.h, "Child processes".
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xlite_internal.h"

/* ---------- the no-forking lock ---------- */

static pthread_mutex_t nofork_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void
atfork_prepare(void)
{
    pthread_mutex_lock(&nofork_mutex);
}

static void
atfork_release(void)
{
    pthread_mutex_unlock(&nofork_mutex);
}

static void
atfork_install(void)
{
    pthread_atfork(atfork_prepare, atfork_release, atfork_release);
}

void
xlite__nofork_lock(void)
{
    pthread_once(&atfork_once, atfork_install);
    pthread_mutex_lock(&nofork_mutex);
}

void
xlite__nofork_unlock(void)
{
    pthread_mutex_unlock(&nofork_mutex);
}

/* ---------- creating fds ---------- */

int
xlite__pipe(xlite_ctx *ctx, int fds_r[2])
{
    int fds[2];
    int r;

    xlite__nofork_lock();
    r = pipe2(fds, O_CLOEXEC | O_NONBLOCK);
    xlite__nofork_unlock();
    if (r < 0)
        return XLITE_ERROR(ctx, -errno, "cannot create a pipe: %s",
                           g_strerror(errno));
    fds_r[0] = fds[0];
    fds_r[1] = fds[1];
    return 0;
}

int
xlite__socketpair(xlite_ctx *ctx, int fds_r[2])
{
    int fds[2];
    int r;

    xlite__nofork_lock();
    r = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
    xlite__nofork_unlock();
    if (r < 0)
        return XLITE_ERROR(ctx, -errno, "cannot create a socket pair: %s",
                           g_strerror(errno));
    fds_r[0] = fds[0];
    fds_r[1] = fds[1];
    return 0;
}

int
xlite__open(xlite_ctx *ctx, const char *path, int flags, mode_t mode)
{
    int fd;

    xlite__nofork_lock();
    fd = open(path, flags | O_CLOEXEC, mode);
    xlite__nofork_unlock();
    if (fd < 0)
        return XLITE_ERROR(ctx, -errno, "cannot open %s: %s", path,
                           g_strerror(errno));
    return fd;
}

void
xlite__close(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

struct xlite__foreign_fds {
    GHashTable *open;      /* fd numbers open at begin */
};

static GHashTable *
open_fds(void)
{
    GHashTable *set = g_hash_table_new(g_direct_hash, g_direct_equal);
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *de;

    if (!dir)
        return set;
    while ((de = readdir(dir))) {
        if (de->d_name[0] != '.')
            g_hash_table_add(set, GINT_TO_POINTER(atoi(de->d_name)));
    }
    closedir(dir);
    return set;
}

xlite__foreign_fds *
xlite__foreign_fds_begin(void)
{
    xlite__foreign_fds *before = g_new0(xlite__foreign_fds, 1);

    xlite__nofork_lock();
    before->open = open_fds();
    return before;
}

/* Other threads may open fds meanwhile (they cannot fork): theirs get
 * CLOEXEC too.  Only fds created without it (none, in well-behaved code)
 * are affected. */
void
xlite__foreign_fds_end(xlite__foreign_fds *before)
{
    g_autoptr(GHashTable) now = open_fds();
    GHashTableIter iter;
    gpointer key;

    g_hash_table_iter_init(&iter, now);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        int fd = GPOINTER_TO_INT(key);
        int flags;

        if (g_hash_table_contains(before->open, key))
            continue;
        flags = fcntl(fd, F_GETFD);
        if (flags >= 0 && !(flags & FD_CLOEXEC))
            fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
    xlite__nofork_unlock();
    g_hash_table_unref(before->open);
    g_free(before);
}

/* ---------- SIGCHLD ---------- */

/*
 * One process-wide handler serves every context that needs it.  It writes
 * a byte to each such context's self-pipe, found in a fixed table of
 * atomics; a context leaving the table waits until no handler runs, so the
 * handler never writes to an fd that has been closed and reused.
 */
#define SIGCHLD_SLOTS 64

static _Atomic int sigchld_slot[SIGCHLD_SLOTS] = {
    [0 ... SIGCHLD_SLOTS - 1] = -1
};
static atomic_int sigchld_running;
static pthread_mutex_t sigchld_mutex = PTHREAD_MUTEX_INITIALIZER;
static unsigned int sigchld_users;
static struct sigaction sigchld_saved;

static void
sigchld_handler(int sig)
{
    int esave = errno;
    int i;

    atomic_fetch_add(&sigchld_running, 1);
    for (i = 0; i < SIGCHLD_SLOTS; i++) {
        int fd = atomic_load(&sigchld_slot[i]);
        ssize_t r;

        if (fd >= 0) {
            r = write(fd, "", 1);
            (void)r;
        }
    }
    atomic_fetch_sub(&sigchld_running, 1);
    errno = esave;
}

static void sigchld_pipe_cb(xlite__egc *egc, xlite__ev_fd *ev, int fd,
                            short events, short revents);

/* Lock held.  Joins the handler's table and watches the self-pipe. */
static int
sigchld_install(xlite_ctx *ctx)
{
    int slot = -1;
    int rc;
    int i;

    if (ctx->sigchld_installed)
        return 0;
    if ((rc = xlite__pipe(ctx, ctx->sigchld_pipe)) < 0)
        return rc;
    if ((rc = xlite__ev_fd_register(ctx, &ctx->sigchld_ev, sigchld_pipe_cb,
                                    ctx->sigchld_pipe[0], POLLIN)) < 0)
        goto fail;

    pthread_mutex_lock(&sigchld_mutex);
    for (i = 0; i < SIGCHLD_SLOTS && slot < 0; i++)
        if (atomic_load(&sigchld_slot[i]) < 0)
            slot = i;
    if (slot < 0) {
        pthread_mutex_unlock(&sigchld_mutex);
        xlite__ev_fd_deregister(ctx, &ctx->sigchld_ev);
        rc = XLITE_ERROR(ctx, -EMFILE,
                         "too many contexts handle SIGCHLD (at most %d)",
                         SIGCHLD_SLOTS);
        goto fail;
    }
    atomic_store(&sigchld_slot[slot], ctx->sigchld_pipe[1]);
    if (sigchld_users++ == 0) {
        struct sigaction sa = { .sa_handler = sigchld_handler,
                                .sa_flags = SA_RESTART | SA_NOCLDSTOP };

        sigemptyset(&sa.sa_mask);
        sigaction(SIGCHLD, &sa, &sigchld_saved);
    }
    pthread_mutex_unlock(&sigchld_mutex);
    ctx->sigchld_installed = true;
    return 0;

 fail:
    xlite__close(&ctx->sigchld_pipe[0]);
    xlite__close(&ctx->sigchld_pipe[1]);
    return rc;
}

static void
sigchld_remove(xlite_ctx *ctx)
{
    int i;

    if (!ctx->sigchld_installed)
        return;
    pthread_mutex_lock(&sigchld_mutex);
    for (i = 0; i < SIGCHLD_SLOTS; i++)
        if (atomic_load(&sigchld_slot[i]) == ctx->sigchld_pipe[1])
            atomic_store(&sigchld_slot[i], -1);
    if (--sigchld_users == 0)
        sigaction(SIGCHLD, &sigchld_saved, NULL);
    pthread_mutex_unlock(&sigchld_mutex);
    /* A handler that read our fd before we cleared it is still running in
     * some thread: let it finish before the fd may be reused. */
    while (atomic_load(&sigchld_running))
        sched_yield();

    xlite__ev_fd_deregister(ctx, &ctx->sigchld_ev);
    xlite__close(&ctx->sigchld_pipe[0]);
    xlite__close(&ctx->sigchld_pipe[1]);
    ctx->sigchld_installed = false;
}

/* ---------- children ---------- */

void
xlite__ev_child_init(xlite__ev_child *ch)
{
    ch->pid = -1;
}

bool
xlite__ev_child_inuse(const xlite__ev_child *ch)
{
    return ch->pid >= 0;
}

static xlite__ev_child *
child_find(xlite_ctx *ctx, pid_t pid)
{
    GList *l;

    for (l = ctx->children.head; l; l = l->next)
        if (((xlite__ev_child *)l->data)->pid == pid)
            return l->data;
    return NULL;
}

/* Lock held.  ch has died with status. */
static void
child_died(xlite__egc *egc, xlite__ev_child *ch, int status)
{
    pid_t pid = ch->pid;

    g_queue_unlink(&egc->ctx->children, &ch->link);
    ch->pid = -1;
    ch->callback(egc, ch, pid, status);
}

/* Lock held.  Reaps the context's own children only. */
static void
reap_selectively(xlite__egc *egc)
{
    xlite_ctx *ctx = egc->ctx;
    GList *l = ctx->children.head;

    while (l) {
        xlite__ev_child *ch = l->data;
        int status;
        pid_t r;

        l = l->next;   /* child_died unlinks ch, and may add children */
        do {
            r = waitpid(ch->pid, &status, WNOHANG);
        } while (r < 0 && errno == EINTR);
        if (r == ch->pid) {
            child_died(egc, ch, status);
            l = ctx->children.head;
        } else if (r < 0) {
            XLITE_LOG(ctx, XLITE_LOG_ERROR, "waitpid(%d) failed: %s",
                      (int)ch->pid, g_strerror(errno));
        }
    }
}

/* Lock held.  Reaps every child of the process (we own SIGCHLD). */
static void
reap_all(xlite__egc *egc)
{
    xlite_ctx *ctx = egc->ctx;
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        xlite__ev_child *ch = child_find(ctx, pid);

        if (ch)
            child_died(egc, ch, status);
        else
            XLITE_LOG(ctx, XLITE_LOG_WARN,
                      "reaped process %d, which is not the library's",
                      (int)pid);
    }
}

static void
sigchld_pipe_cb(xlite__egc *egc, xlite__ev_fd *ev, int fd, short events,
                short revents)
{
    char buf[64];

    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    if (egc->ctx->sigchld_owner == XLITE_SIGCHLD_OWNER_LIBRARY)
        reap_all(egc);
    else
        reap_selectively(egc);
}

pid_t
xlite__fork(xlite__egc *egc, xlite__ev_child *ch)
{
    xlite_ctx *ctx = egc->ctx;
    pid_t pid;
    int rc;

    assert(!xlite__ev_child_inuse(ch));
    if (ctx->sigchld_owner == XLITE_SIGCHLD_OWNER_LIBRARY &&
        (rc = sigchld_install(ctx)) < 0)
        return rc;

    pid = fork();
    if (pid < 0)
        return XLITE_ERROR(ctx, -errno, "fork failed: %s", g_strerror(errno));
    if (pid == 0) {
        struct sigaction dfl = { .sa_handler = SIG_DFL };
        sigset_t none;

        sigemptyset(&dfl.sa_mask);
        sigaction(SIGCHLD, &dfl, NULL);
        sigaction(SIGPIPE, &dfl, NULL);
        sigemptyset(&none);
        pthread_sigmask(SIG_SETMASK, &none, NULL);
        return 0;
    }
    ch->pid = pid;
    ch->link = (GList){ .data = ch };
    g_queue_push_tail_link(&ctx->children, &ch->link);
    return pid;
}

void
xlite__child_fail(const char *msg, int code)
{
    ssize_t r = write(STDERR_FILENO, msg, strlen(msg));

    (void)r;
    _exit(code);
}

XLITE_EXPORT int
xlite_childproc_setmode(xlite_ctx *ctx, xlite_sigchld_owner mode)
{
    int rc = 0;

    CTX_LOCK(ctx);
    if (ctx->children.length) {
        rc = XLITE_ERROR(ctx, -EBUSY,
                         "the SIGCHLD mode cannot change while the library "
                         "has children");
        goto out;
    }
    sigchld_remove(ctx);
    ctx->sigchld_owner = mode;
    if (mode == XLITE_SIGCHLD_OWNER_SELECTIVE_REAP)
        rc = sigchld_install(ctx);

 out:
    CTX_UNLOCK(ctx);
    return rc;
}

XLITE_EXPORT int
xlite_childproc_reaped(xlite_ctx *ctx, pid_t pid, int status)
{
    xlite__ev_child *ch;
    int rc = 0;
    EGC_INIT(ctx);

    CTX_LOCK(ctx);
    assert(ctx->sigchld_owner == XLITE_SIGCHLD_OWNER_MAINLOOP);
    if ((ch = child_find(ctx, pid)))
        child_died(egc, ch, status);
    else
        rc = -ESRCH;
    CTX_UNLOCK(ctx);
    EGC_FREE;
    return rc;
}

XLITE_EXPORT void
xlite_childproc_sigchld_occurred(xlite_ctx *ctx)
{
    EGC_INIT(ctx);

    CTX_LOCK(ctx);
    assert(ctx->sigchld_owner == XLITE_SIGCHLD_OWNER_MAINLOOP);
    reap_selectively(egc);
    CTX_UNLOCK(ctx);
    EGC_FREE;
}

void
xlite__childproc_ctx_init(xlite_ctx *ctx)
{
    ctx->sigchld_owner = XLITE_SIGCHLD_OWNER_LIBRARY;
    ctx->sigchld_pipe[0] = ctx->sigchld_pipe[1] = -1;
    xlite__ev_fd_init(&ctx->sigchld_ev);
    g_queue_init(&ctx->children);
}

void
xlite__childproc_ctx_free(xlite_ctx *ctx)
{
    /* Programming error: freeing a context whose children still run. */
    assert(ctx->children.length == 0);
    sigchld_remove(ctx);
}

/* ---------- spawning programs ---------- */

/* In the child: report every fd above 2 that exec would keep. */
static void
child_report_inherited_fds(void)
{
    struct rlimit rl;
    int maxfd = 1024;
    int fd;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)maxfd)
        maxfd = (int)rl.rlim_cur;
    for (fd = 3; fd < maxfd; fd++) {
        int flags = fcntl(fd, F_GETFD);
        char msg[64];
        char num[16];
        int n = 0;
        int v = fd;
        ssize_t r;

        if (flags < 0 || (flags & FD_CLOEXEC))
            continue;
        /* No snprintf: it is not async-signal-safe. */
        do {
            num[n++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        strcpy(msg, "xlite: child inherits fd ");
        while (n)
            strncat(msg, &num[--n], 1);
        strcat(msg, "\n");
        r = write(STDERR_FILENO, msg, strlen(msg));
        (void)r;
    }
}

void
xlite__spawn_init(xlite__spawn_state *ss)
{
    xlite__ev_child_init(&ss->child);
    xlite__ev_time_init(&ss->timeout);
    xlite__ao_abortable_init(&ss->abrt);
}

static void
spawn_child_death_cb(xlite__egc *egc, xlite__ev_child *ch, pid_t pid,
                     int status)
{
    xlite__spawn_state *ss = XLITE__CONTAINER_OF(ch, xlite__spawn_state,
                                                 child);

    xlite__ev_time_deregister(egc->ctx, &ss->timeout);
    xlite__ao_abortable_deregister(&ss->abrt);
    ss->death_cb(egc, ss, ss->rc, status);
}

/* Ends the child early: it dies, and its death reports why. */
static void
spawn_kill(xlite__egc *egc, xlite__spawn_state *ss, int rc)
{
    if (!ss->rc)
        ss->rc = rc;
    xlite__ev_time_deregister(egc->ctx, &ss->timeout);
    xlite__ao_abortable_deregister(&ss->abrt);
    kill(ss->child.pid, SIGKILL);
}

static void
spawn_timeout_cb(xlite__egc *egc, xlite__ev_time *ev)
{
    xlite__spawn_state *ss = XLITE__CONTAINER_OF(ev, xlite__spawn_state,
                                                 timeout);

    XLITE_LOG(egc->ctx, XLITE_LOG_WARN, "%s: timed out, killing it",
              ss->what);
    spawn_kill(egc, ss, -ETIMEDOUT);
}

static void
spawn_abort_cb(xlite__egc *egc, xlite__ao_abortable *abrt, int rc)
{
    spawn_kill(egc, XLITE__CONTAINER_OF(abrt, xlite__spawn_state, abrt), rc);
}

/* In the child: never returns. */
static void G_GNUC_NORETURN
spawn_exec(const xlite__spawn_state *ss, const char *path, char **envp,
           int devnull, bool debug_fds)
{
    int i;

    for (i = 0; i < 3; i++) {
        int fd = ss->stdfds[i] >= 0 ? ss->stdfds[i] : devnull;

        /* dup2 onto itself would keep CLOEXEC: clear it instead. */
        if (fd == i) {
            if (fcntl(i, F_SETFD, 0) < 0)
                xlite__child_fail("xlite: cannot set up stdio\n", 127);
        } else if (dup2(fd, i) < 0) {
            xlite__child_fail("xlite: cannot set up stdio\n", 127);
        }
    }
    if (debug_fds)
        child_report_inherited_fds();
    execve(path, (char *const *)ss->argv, envp);
    xlite__child_fail("xlite: exec failed\n", 127);
}

int
xlite__spawn(xlite__egc *egc, xlite__spawn_state *ss)
{
    xlite_ctx *ctx = egc->ctx;
    g_autofree char *path = NULL;
    g_auto(GStrv) envp = g_get_environ();
    bool debug_fds = ctx->debug_child_fds ||
                     g_strcmp0(g_getenv("XLITE_DEBUG_FDS"), "1") == 0;
    int devnull = -1;
    pid_t pid;
    int rc;

    ss->rc = 0;
    ss->abrt.ao = ss->ao;
    ss->abrt.callback = spawn_abort_cb;
    /* Everything the child needs is prepared here: after fork it may
     * only make async-signal-safe calls. */
    if (!(path = g_find_program_in_path(ss->argv[0])))
        return XLITE_ERROR(ctx, -ENOENT, "%s: program %s not found",
                           ss->what, ss->argv[0]);
    for (const char *const *e = ss->env; e && *e; e++) {
        g_autofree char *name = g_strndup(*e, strcspn(*e, "="));

        envp = g_environ_setenv(envp, name, strchr(*e, '=') ?
                                strchr(*e, '=') + 1 : "", TRUE);
    }
    if ((devnull = xlite__open(ctx, "/dev/null", O_RDWR, 0)) < 0)
        return devnull;

    if (!ss->unabortable &&
        (rc = xlite__ao_abortable_register(&ss->abrt)) < 0)
        goto out;
    if (ss->timeout_usec >= 0 &&
        (rc = xlite__ev_time_register_rel(ctx, &ss->timeout, spawn_timeout_cb,
                                          ss->timeout_usec)) < 0)
        goto out;
    ss->child.callback = spawn_child_death_cb;
    pid = xlite__fork(egc, &ss->child);
    if (pid < 0) {
        rc = pid;
        goto out;
    }
    if (pid == 0)
        spawn_exec(ss, path, envp, devnull, debug_fds);
    rc = 0;

 out:
    if (rc < 0) {
        xlite__ao_abortable_deregister(&ss->abrt);
        xlite__ev_time_deregister(ctx, &ss->timeout);
    }
    close(devnull);
    return rc;
}

/* ---------- xlite_run_command ---------- */

typedef struct {
    /* caller */
    xlite__ao *ao;
    int *status_r;
    /* private */
    char **argv;
    char **env;
    xlite__spawn_state spawn;
} run_state;

static void
run_state_free(run_state *rs)
{
    g_strfreev(rs->argv);
    g_strfreev(rs->env);
    g_free(rs);
}

static void
run_death_cb(xlite__egc *egc, xlite__spawn_state *ss, int rc, int status)
{
    run_state *rs = XLITE__CONTAINER_OF(ss, run_state, spawn);
    xlite__ao *ao = rs->ao;

    if (rc == 0 && rs->status_r)
        *rs->status_r = status;
    run_state_free(rs);
    xlite__ao_complete(egc, ao, rc);
}

XLITE_EXPORT int
xlite_run_command(xlite_ctx *ctx, const char *const *argv,
                  const char *const *env, const int fds[3],
                  int64_t timeout_usec, int *status_r,
                  const xlite_async_how *how)
{
    run_state *rs;
    xlite__ao *ao;
    int rc;
    int i;
    EGC_INIT(ctx);

    if (!argv || !argv[0])
        return XLITE_ERROR(ctx, -EINVAL, "a command is required");
    CTX_LOCK(ctx);
    ao = xlite__ao_create(ctx, how);
    rs = g_new0(run_state, 1);
    rs->ao = ao;
    rs->status_r = status_r;
    rs->argv = g_strdupv((char **)argv);
    rs->env = env ? g_strdupv((char **)env) : NULL;
    xlite__spawn_init(&rs->spawn);
    rs->spawn.ao = ao;
    rs->spawn.what = rs->argv[0];
    rs->spawn.argv = (const char *const *)rs->argv;
    rs->spawn.env = (const char *const *)rs->env;
    for (i = 0; i < 3; i++)
        rs->spawn.stdfds[i] = fds ? fds[i] : -1;
    rs->spawn.timeout_usec = timeout_usec;
    rs->spawn.death_cb = run_death_cb;

    if ((rc = xlite__spawn(egc, &rs->spawn)) < 0) {
        run_state_free(rs);
        xlite__ao_create_fail(ao);
        goto out;
    }
    rc = xlite__ao_inprogress(egc, ao);

 out:
    CTX_UNLOCK(ctx);
    EGC_FREE;
    return rc;
}
