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

typedef struct {
    /* caller */
    xlite__ao *ao;
    char *path;
    xlite_file_lock **lock_r;
    /* private */
    int fd;
    xlite__ev_child child;
    xlite__ao_abortable abrt;
} flock_state;

static void flock_attempt(xlite__egc *egc, flock_state *fs);

static void
flock_done(xlite__egc *egc, flock_state *fs, int rc)
{
    xlite__ao *ao = fs->ao;

    xlite__ao_abortable_deregister(&fs->abrt);
    if (rc == 0) {
        xlite_file_lock *lock = g_new0(xlite_file_lock, 1);

        lock->fd = fs->fd;
        *fs->lock_r = lock;
    } else {
        xlite__close(&fs->fd);
    }
    g_free(fs->path);
    g_free(fs);
    xlite__ao_complete(egc, ao, rc);
}

/* We hold the lock on fs->fd: is it the file at the path? */
static void
flock_verify(xlite__egc *egc, flock_state *fs)
{
    struct stat fd_st;
    struct stat path_st;

    if (fstat(fs->fd, &fd_st) < 0) {
        flock_done(egc, fs, XLITE_ERROR(egc->ctx, -errno, "cannot stat %s: %s",
                                        fs->path, g_strerror(errno)));
        return;
    }
    if (stat(fs->path, &path_st) == 0 && path_st.st_dev == fd_st.st_dev &&
        path_st.st_ino == fd_st.st_ino) {
        flock_done(egc, fs, 0);
        return;
    }
    XLITE_LOG(egc->ctx, XLITE_LOG_DEBUG,
              "%s was replaced while we waited for it: trying again",
              fs->path);
    xlite__close(&fs->fd);
    flock_attempt(egc, fs);
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
    flock_state *fs = XLITE__CONTAINER_OF(ch, flock_state, child);

    xlite__ao_abortable_deregister(&fs->abrt);
    if (xlite__ao_aborting(fs->ao))
        flock_done(egc, fs, -ECANCELED);
    else if (flock(fs->fd, LOCK_EX | LOCK_NB) == 0)
        flock_verify(egc, fs);
    else
        flock_done(egc, fs, XLITE_ERROR(egc->ctx, -EIO,
                                        "the helper waiting for the lock on "
                                        "%s failed (wait status %#x)",
                                        fs->path, status));
}

static void
flock_abort_cb(xlite__egc *egc, xlite__ao_abortable *abrt, int rc)
{
    flock_state *fs = XLITE__CONTAINER_OF(abrt, flock_state, abrt);

    /* Its death completes the operation (with -ECANCELED). */
    kill(fs->child.pid, SIGKILL);
}

static void
flock_attempt(xlite__egc *egc, flock_state *fs)
{
    pid_t pid = -1;
    int rc;

    if ((fs->fd = xlite__open(egc->ctx, fs->path, O_RDWR | O_CREAT, 0600)) < 0) {
        flock_done(egc, fs, fs->fd);
        return;
    }
    if (flock(fs->fd, LOCK_EX | LOCK_NB) == 0) {
        flock_verify(egc, fs);
        return;
    }
    if (errno != EWOULDBLOCK) {
        flock_done(egc, fs, XLITE_ERROR(egc->ctx, -errno, "cannot lock %s: %s",
                                        fs->path, g_strerror(errno)));
        return;
    }
    if ((rc = xlite__ao_abortable_register(&fs->abrt)) < 0 ||
        (rc = pid = xlite__fork(egc, &fs->child)) < 0) {
        flock_done(egc, fs, rc);
        return;
    }
    if (pid == 0) {
        int r;

        if ((fs->fd > 0 && close_range(0, fs->fd - 1, 0) < 0) ||
            close_range(fs->fd + 1, ~0U, 0) < 0)
            _exit(1);
        do {
            r = flock(fs->fd, LOCK_EX);
        } while (r < 0 && errno == EINTR);
        _exit(r < 0 ? 1 : 0);
    }
}

XLITE_EXPORT int
xlite_file_lock_acquire(xlite_ctx *ctx, const char *path,
                        xlite_file_lock **lock_r, const xlite_async_how *how)
{
    flock_state *fs;
    xlite__ao *ao;
    int rc;
    EGC_INIT(ctx);

    if (!path || !lock_r)
        return XLITE_ERROR(ctx, -EINVAL, "a path and a result are required");
    CTX_LOCK(ctx);
    ao = xlite__ao_create(ctx, how);
    fs = g_new0(flock_state, 1);
    fs->ao = ao;
    fs->path = g_strdup(path);
    fs->lock_r = lock_r;
    fs->fd = -1;
    xlite__ev_child_init(&fs->child);
    fs->child.callback = flock_helper_death_cb;
    xlite__ao_abortable_init(&fs->abrt);
    fs->abrt.ao = ao;
    fs->abrt.callback = flock_abort_cb;

    /* Failures complete the operation: reported like any completion. */
    flock_attempt(egc, fs);
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
