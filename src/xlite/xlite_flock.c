/*
 * xlite_flock.c: an exclusive file lock, taken asynchronously
 *
 * flock(2) cannot be waited for in a poll() loop.  So: try it without
 * blocking; if it is busy, fork a helper child that blocks in flock() on
 * our own open file description and exits when it has the lock.  flock
 * locks belong to the open file description, so when the helper exits the
 * lock is ours, through our fd.
 *
 * The holder of a lock file may delete it when it releases the lock (or
 * another may replace it), so an fd locked on an unlinked file would lock
 * nothing anyone else sees: after locking, the file at the path must be
 * the one our fd has open (same device and inode), or we start over.
 *
 * The helper closes every other fd it inherited before it waits: it must
 * not keep alive, say, another open file description of the same file
 * whose lock we are waiting for.  Abort kills it.
 *
 * The mechanism is a sub-operation (xlite__flock, rules in
 * xlite_internal.h) that the core's own users embed (the per-domain lock,
 * xlite_userdata.c); the public xlite_file_lock_acquire wraps it in an
 * operation of its own.
 *
 * acquire: a zero timer -> flock_attempt: free at once -> flock_verify;
 *          busy: a helper blocks in flock() -> flock_helper_death_cb ->
 *          flock_verify: the file at the path, or flock_attempt again ->
 *          flock_done.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xlite_internal.h"

struct xlite_file_lock {
    int fd;
};

/* ---------- the sub-operation ---------- */

static void flock_attempt_cb(xlite__egc *egc, xlite__ev_time *ev);
static void flock_attempt(xlite__egc *egc, xlite__flock *fl);
static void flock_helper_death_cb(xlite__egc *egc, xlite__ev_child *ch,
                                  pid_t pid, int status);
static void flock_abort_cb(xlite__egc *egc, xlite__ao_abortable *abrt,
                           int rc);

void
xlite__flock_init(xlite__flock *fl)
{
    fl->fd = -1;
    fl->path_copy = NULL;
    xlite__ev_time_init(&fl->attempt);
    xlite__ev_child_init(&fl->child);
    xlite__ao_abortable_init(&fl->abrt);
}

bool
xlite__flock_inuse(const xlite__flock *fl)
{
    return fl->path_copy != NULL;
}

int
xlite__flock_acquire(xlite__egc *egc, xlite__flock *fl)
{
    int rc;

    assert(!xlite__flock_inuse(fl));
    fl->fd = -1;
    fl->abrt.ao = fl->ao;
    fl->abrt.callback = flock_abort_cb;
    fl->child.callback = flock_helper_death_cb;
    /* The first attempt is a step of its own, from the loop: the callback
     * never runs from inside this call. */
    if ((rc = xlite__ao_abortable_register(&fl->abrt)) < 0 ||
        (rc = xlite__ev_time_register_rel(egc->ctx, &fl->attempt,
                                          flock_attempt_cb, 0)) < 0) {
        xlite__ao_abortable_deregister(&fl->abrt);
        return rc;
    }
    fl->path_copy = g_strdup(fl->path);
    return 0;
}

static void
flock_done(xlite__egc *egc, xlite__flock *fl, int rc)
{
    xlite__ev_time_deregister(egc->ctx, &fl->attempt);
    xlite__ao_abortable_deregister(&fl->abrt);
    if (rc < 0)
        xlite__close(&fl->fd);
    g_clear_pointer(&fl->path_copy, g_free);
    fl->callback(egc, fl, rc);
}

static void
flock_attempt_cb(xlite__egc *egc, xlite__ev_time *ev)
{
    flock_attempt(egc, XLITE__CONTAINER_OF(ev, xlite__flock, attempt));
}

/* We hold the lock on fl->fd: is it the file at the path? */
static void
flock_verify(xlite__egc *egc, xlite__flock *fl)
{
    const char *path = fl->path_copy;
    struct stat fd_st;
    struct stat path_st;

    if (fstat(fl->fd, &fd_st) < 0) {
        flock_done(egc, fl, XLITE_ERROR(egc->ctx, -errno, "cannot stat %s: %s",
                                        path, g_strerror(errno)));
        return;
    }
    if (stat(path, &path_st) == 0 && path_st.st_dev == fd_st.st_dev &&
        path_st.st_ino == fd_st.st_ino) {
        flock_done(egc, fl, 0);
        return;
    }
    XLITE_LOG(egc->ctx, XLITE_LOG_DEBUG,
              "%s was replaced while we waited for it: trying again", path);
    xlite__close(&fl->fd);
    flock_attempt(egc, fl);
}

/* The helper has died.  If it got the lock, it is ours: our fd shares its
 * open file description, and flock() on it succeeds again at once.  That
 * test, rather than the helper's exit status, decides: a helper that got
 * the lock but could not exit cleanly (killed, or under valgrind, which
 * may change a forked child's exit status) still gave it to us. */
static void
flock_helper_death_cb(xlite__egc *egc, xlite__ev_child *ch, pid_t pid,
                      int status)
{
    xlite__flock *fl = XLITE__CONTAINER_OF(ch, xlite__flock, child);

    if (xlite__ao_aborting(fl->ao))
        flock_done(egc, fl, -ECANCELED);
    else if (flock(fl->fd, LOCK_EX | LOCK_NB) == 0)
        flock_verify(egc, fl);
    else
        flock_done(egc, fl, XLITE_ERROR(egc->ctx, -EIO,
                                        "the helper waiting for the lock on "
                                        "%s failed (wait status %#x)",
                                        fl->path_copy, status));
}

static void
flock_abort_cb(xlite__egc *egc, xlite__ao_abortable *abrt, int rc)
{
    xlite__flock *fl = XLITE__CONTAINER_OF(abrt, xlite__flock, abrt);

    /* A helper's death completes the wait (with -ECANCELED); before the
     * first attempt there is none. */
    if (xlite__ev_child_inuse(&fl->child))
        kill(fl->child.pid, SIGKILL);
    else
        flock_done(egc, fl, rc);
}

static void
flock_attempt(xlite__egc *egc, xlite__flock *fl)
{
    const char *path = fl->path_copy;
    pid_t pid;

    if ((fl->fd = xlite__open(egc->ctx, path, O_RDWR | O_CREAT, 0600)) < 0) {
        flock_done(egc, fl, fl->fd);
        return;
    }
    if (flock(fl->fd, LOCK_EX | LOCK_NB) == 0) {
        flock_verify(egc, fl);
        return;
    }
    if (errno != EWOULDBLOCK) {
        flock_done(egc, fl, XLITE_ERROR(egc->ctx, -errno, "cannot lock %s: %s",
                                        path, g_strerror(errno)));
        return;
    }
    if ((pid = xlite__fork(egc, &fl->child)) < 0) {
        flock_done(egc, fl, pid);
        return;
    }
    if (pid == 0) {
        int r;

        if ((fl->fd > 0 && close_range(0, fl->fd - 1, 0) < 0) ||
            close_range(fl->fd + 1, ~0U, 0) < 0)
            _exit(1);
        do {
            r = flock(fl->fd, LOCK_EX);
        } while (r < 0 && errno == EINTR);
        _exit(r < 0 ? 1 : 0);
    }
}

/* ---------- xlite_file_lock_acquire: the sub-operation, wrapped ---------- */

typedef struct {
    /* caller */
    xlite__ao *ao;
    xlite_file_lock **lock_r;
    /* private */
    xlite__flock flock;
} flock_op;

static void
flock_op_done(xlite__egc *egc, xlite__flock *fl, int rc)
{
    flock_op *op = XLITE__CONTAINER_OF(fl, flock_op, flock);
    xlite__ao *ao = op->ao;

    if (rc == 0) {
        xlite_file_lock *lock = g_new0(xlite_file_lock, 1);

        lock->fd = fl->fd;
        *op->lock_r = lock;
    }
    g_free(op);
    xlite__ao_complete(egc, ao, rc);
}

XLITE_EXPORT int
xlite_file_lock_acquire(xlite_ctx *ctx, const char *path,
                        xlite_file_lock **lock_r, const xlite_async_how *how)
{
    flock_op *op;
    xlite__ao *ao;
    int rc;
    EGC_INIT(ctx);

    if (!path || !lock_r)
        return XLITE_ERROR(ctx, -EINVAL, "a path and a result are required");
    CTX_LOCK(ctx);
    ao = xlite__ao_create(ctx, how);
    op = g_new0(flock_op, 1);
    op->ao = ao;
    op->lock_r = lock_r;
    xlite__flock_init(&op->flock);
    op->flock.ao = ao;
    op->flock.path = path;
    op->flock.callback = flock_op_done;
    /* Failures complete the operation: reported like any completion. */
    if ((rc = xlite__flock_acquire(egc, &op->flock)) < 0)
        flock_op_done(egc, &op->flock, rc);
    rc = xlite__ao_inprogress(egc, ao);

    CTX_UNLOCK(ctx);
    EGC_FREE;
    return rc;
}

XLITE_EXPORT void
xlite_file_lock_release(xlite_file_lock *lock)
{
    if (!lock)
        return;
    /* Closing our only fd to the open file description releases it. */
    close(lock->fd);
    g_free(lock);
}
