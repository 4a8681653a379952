/*
 * xlite_pty.c: pseudo-terminals opened by a helper child
 *
 * openpty(3) may fork and wait for a helper of its own (grantpt on some
 * systems), which goes wrong in a process whose SIGCHLD handler reaps that
 * helper first.  So a child of ours, forked through the negotiated child
 * machinery, calls openpty and passes the two fds back over a socket
 * (SCM_RIGHTS) before it exits.  The parent waits only for the child's
 * death: by then the message, if any, is in the socket.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <pty.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "xlite_internal.h"

typedef struct {
    /* caller */
    xlite__ao *ao;
    int *master_r;
    int *slave_r;
    /* private */
    int sock[2];                  /* [0] ours, [1] the child's end */
    xlite__ev_child child;
    xlite__ao_abortable abrt;
} pty_state;

/* In the child: never returns. */
static void G_GNUC_NORETURN
pty_child(int sock)
{
    int fds[2];
    char cbuf[CMSG_SPACE(sizeof(fds))];
    char byte = 0;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = cbuf, .msg_controllen = sizeof(cbuf),
    };
    struct cmsghdr *cmsg;
    struct termios tio;

    memset(cbuf, 0, sizeof(cbuf));
    if (openpty(&fds[0], &fds[1], NULL, NULL, NULL) < 0)
        xlite__child_fail("xlite: openpty failed\n", 1);
    if (tcgetattr(fds[1], &tio) == 0) {
        cfmakeraw(&tio);
        tcsetattr(fds[1], TCSANOW, &tio);
    }
    cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(fds));
    memcpy(CMSG_DATA(cmsg), fds, sizeof(fds));
    if (sendmsg(sock, &msg, 0) != 1)
        xlite__child_fail("xlite: cannot pass the pty back\n", 1);
    _exit(0);
}

/* Takes the two fds the child sent, CLOEXEC (under the no-forking lock,
 * as every fd the library creates). */
static int
pty_receive(xlite_ctx *ctx, int sock, int fds_r[2])
{
    int fds[2];
    char cbuf[CMSG_SPACE(sizeof(fds))];
    char byte;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = cbuf, .msg_controllen = sizeof(cbuf),
    };
    struct cmsghdr *cmsg;
    ssize_t r;

    xlite__nofork_lock();
    r = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    xlite__nofork_unlock();
    if (r < 0)
        return XLITE_ERROR(ctx, -errno, "no pty from the helper: %s",
                           g_strerror(errno));
    cmsg = CMSG_FIRSTHDR(&msg);
    if (r != 1 || !cmsg || cmsg->cmsg_level != SOL_SOCKET ||
        cmsg->cmsg_type != SCM_RIGHTS ||
        cmsg->cmsg_len != CMSG_LEN(sizeof(fds)) ||
        (msg.msg_flags & MSG_CTRUNC))
        return XLITE_ERROR(ctx, -EPROTO, "the pty helper sent no pty");
    memcpy(fds, CMSG_DATA(cmsg), sizeof(fds));
    fds_r[0] = fds[0];
    fds_r[1] = fds[1];
    return 0;
}

static void
pty_child_death_cb(xlite__egc *egc, xlite__ev_child *ch, pid_t pid,
                   int status)
{
    pty_state *ps = XLITE__CONTAINER_OF(ch, pty_state, child);
    xlite__ao *ao = ps->ao;
    int fds[2] = { -1, -1 };
    int rc;

    xlite__ao_abortable_deregister(&ps->abrt);
    /* What the helper sent decides, not its exit status (which valgrind,
     * for one, may change in a forked child). */
    if (xlite__ao_aborting(ao)) {
        rc = -ECANCELED;
    } else if ((rc = pty_receive(egc->ctx, ps->sock[0], fds)) == 0) {
        *ps->master_r = fds[0];
        *ps->slave_r = fds[1];
    } else {
        XLITE_LOG(egc->ctx, XLITE_LOG_ERROR,
                  "the pty helper exited with wait status %#x", status);
    }
    xlite__close(&ps->sock[0]);
    g_free(ps);
    xlite__ao_complete(egc, ao, rc);
}

static void
pty_abort_cb(xlite__egc *egc, xlite__ao_abortable *abrt, int rc)
{
    pty_state *ps = XLITE__CONTAINER_OF(abrt, pty_state, abrt);

    /* Its death completes the operation (with -ECANCELED). */
    kill(ps->child.pid, SIGKILL);
}

XLITE_EXPORT int
xlite_openpty(xlite_ctx *ctx, int *master_r, int *slave_r,
              const xlite_async_how *how)
{
    pty_state *ps;
    xlite__ao *ao;
    pid_t pid = -1;
    int rc;
    EGC_INIT(ctx);

    if (!master_r || !slave_r)
        return XLITE_ERROR(ctx, -EINVAL, "two result pointers are required");
    CTX_LOCK(ctx);
    ao = xlite__ao_create(ctx, how);
    ps = g_new0(pty_state, 1);
    ps->ao = ao;
    ps->master_r = master_r;
    ps->slave_r = slave_r;
    ps->sock[0] = ps->sock[1] = -1;
    xlite__ev_child_init(&ps->child);
    ps->child.callback = pty_child_death_cb;
    xlite__ao_abortable_init(&ps->abrt);
    ps->abrt.ao = ao;
    ps->abrt.callback = pty_abort_cb;

    if ((rc = xlite__socketpair(ctx, ps->sock)) < 0 ||
        (rc = xlite__ao_abortable_register(&ps->abrt)) < 0 ||
        (rc = pid = xlite__fork(egc, &ps->child)) < 0) {
        xlite__ao_abortable_deregister(&ps->abrt);
        xlite__close(&ps->sock[0]);
        xlite__close(&ps->sock[1]);
        g_free(ps);
        xlite__ao_create_fail(ao);
        goto out;
    }
    if (pid == 0)
        pty_child(ps->sock[1]);
    xlite__close(&ps->sock[1]);
    rc = xlite__ao_inprogress(egc, ao);

 out:
    CTX_UNLOCK(ctx);
    EGC_FREE;
    return rc;
}
