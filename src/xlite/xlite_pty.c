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
    xlite__openpty *op = XLITE__CONTAINER_OF(ch, xlite__openpty, child);
    int fds[2] = { -1, -1 };
    int rc;

    xlite__ao_abortable_deregister(&op->abrt);
    /* What the helper sent decides, not its exit status (which valgrind,
     * for one, may change in a forked child). */
    if (xlite__ao_aborting(op->ao)) {
        rc = -ECANCELED;
    } else if ((rc = pty_receive(egc->ctx, op->sock, fds)) == 0) {
        op->master = fds[0];
        op->slave = fds[1];
    } else {
        XLITE_LOG(egc->ctx, XLITE_LOG_ERROR,
                  "the pty helper exited with wait status %#x", status);
    }
    xlite__close(&op->sock);
    op->callback(egc, op, rc);
}

static void
pty_abort_cb(xlite__egc *egc, xlite__ao_abortable *abrt, int rc)
{
    xlite__openpty *op = XLITE__CONTAINER_OF(abrt, xlite__openpty, abrt);

    /* Its death calls back (with -ECANCELED). */
    kill(op->child.pid, SIGKILL);
}

void
xlite__openpty_init(xlite__openpty *op)
{
    op->master = op->slave = op->sock = -1;
    xlite__ev_child_init(&op->child);
    xlite__ao_abortable_init(&op->abrt);
}

int
xlite__openpty_start(xlite__egc *egc, xlite__openpty *op)
{
    int sock[2] = { -1, -1 };
    pid_t pid;
    int rc;

    op->child.callback = pty_child_death_cb;
    op->abrt.ao = op->ao;
    op->abrt.callback = pty_abort_cb;
    if ((rc = xlite__socketpair(egc->ctx, sock)) < 0)
        return rc;
    if ((rc = xlite__ao_abortable_register(&op->abrt)) < 0 ||
        (rc = pid = xlite__fork(egc, &op->child)) < 0) {
        xlite__ao_abortable_deregister(&op->abrt);
        xlite__close(&sock[0]);
        xlite__close(&sock[1]);
        return rc;
    }
    if (pid == 0)
        pty_child(sock[1]);
    xlite__close(&sock[1]);
    op->sock = sock[0];
    return 0;
}

/* xlite_openpty: the sub-operation, in an operation of its own. */
typedef struct {
    int *master_r;
    int *slave_r;
    xlite__openpty op;
} pty_state;

static void
pty_done_cb(xlite__egc *egc, xlite__openpty *op, int rc)
{
    pty_state *ps = XLITE__CONTAINER_OF(op, pty_state, op);
    xlite__ao *ao = op->ao;

    if (rc == 0) {
        *ps->master_r = op->master;
        *ps->slave_r = op->slave;
    }
    g_free(ps);
    xlite__ao_complete(egc, ao, rc);
}

XLITE_EXPORT int
xlite_openpty(xlite_ctx *ctx, int *master_r, int *slave_r,
              const xlite_async_how *how)
{
    pty_state *ps;
    xlite__ao *ao;
    int rc;
    EGC_INIT(ctx);

    if (!master_r || !slave_r)
        return XLITE_ERROR(ctx, -EINVAL, "two result pointers are required");
    CTX_LOCK(ctx);
    ao = xlite__ao_create(ctx, how);
    ps = g_new0(pty_state, 1);
    ps->master_r = master_r;
    ps->slave_r = slave_r;
    xlite__openpty_init(&ps->op);
    ps->op.ao = ao;
    ps->op.callback = pty_done_cb;
    if ((rc = xlite__openpty_start(egc, &ps->op)) < 0) {
        g_free(ps);
        xlite__ao_create_fail(ao);
        goto out;
    }
    rc = xlite__ao_inprogress(egc, ao);

 out:
    CTX_UNLOCK(ctx);
    EGC_FREE;
    return rc;
}
