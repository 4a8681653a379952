/*
 * xsim_rundir.c: the pid file doubles as the lock.
 *
 * flock() on the pid file rather than "does the pid still run": a lock
 * dies with its holder, so a crashed daemon never leaves a stale claim and
 * pid reuse cannot fool a new one.  The lock is taken before any socket is
 * touched, which is what makes unlinking stale sockets safe.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "xsim_rundir.h"

struct _XsimRundir {
    char *pid_path;
    int fd;
};

XsimRundir *
xsim_rundir_acquire(const char *dir,
                    GError **error)
{
    g_autoptr(XsimRundir) rd = g_new0(XsimRundir, 1);

    rd->fd = -1;
    if (g_mkdir_with_parents(dir, 0700) < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot create run directory '%s': %s", dir,
                    g_strerror(errno));
        return NULL;
    }
    rd->pid_path = g_build_filename(dir, "xensimd.pid", NULL);
    rd->fd = open(rd->pid_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (rd->fd < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot open '%s': %s", rd->pid_path, g_strerror(errno));
        return NULL;
    }
    if (flock(rd->fd, LOCK_EX | LOCK_NB) < 0) {
        int err = errno;

        /* Not ours: leave it alone when we go. */
        g_clear_pointer(&rd->pid_path, g_free);
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                    err == EWOULDBLOCK ?
                    "another xensimd already runs in '%s'" :
                    "cannot lock the pid file in '%s'", dir);
        return NULL;
    }
    return g_steal_pointer(&rd);
}

bool
xsim_rundir_write_pid(XsimRundir *rd,
                      GError **error)
{
    char buf[32];
    int len = g_snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

    if (ftruncate(rd->fd, 0) < 0 ||
        pwrite(rd->fd, buf, len, 0) != len) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot write '%s': %s", rd->pid_path, g_strerror(errno));
        return false;
    }
    return true;
}

void
xsim_rundir_release(XsimRundir *rd)
{
    if (!rd)
        return;
    /* Unlink while still holding the lock, so no successor's file goes. */
    if (rd->pid_path && rd->fd >= 0)
        unlink(rd->pid_path);
    if (rd->fd >= 0)
        close(rd->fd);
    g_free(rd->pid_path);
    g_free(rd);
}
