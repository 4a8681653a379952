/*
 * xsim_nbdfront.c: a simulated guest's block I/O through its disk's NBD
 * export, with libnbd (see xsim_nbdfront.h).
 *
 * Each front is used by its guest's thread only; the group is what
 * other threads touch: under its lock, the socket of every connected
 * front, so that a stop (xsim_guest_stop, from the main thread) can shut
 * them down while the guest's thread blocks in a request.  The socket is
 * made here and handed to libnbd (nbd_connect_socket), so it is known
 * (and can be shut down) from the start of the handshake on.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <libnbd.h>

#include "xsim_nbdfront.h"

struct _XsimNbdGroup {
    GMutex lock;
    bool cut;               /* no connection any more */
    GPtrArray *fronts;      /* XsimNbdfront, each in it once */
};

struct _XsimNbdfront {
    XsimNbdGroup *group;
    struct nbd_handle *nbd; /* NULL when not connected */
    int fd;                 /* the handle's socket, under group->lock */
    guint64 size;
};

XsimNbdGroup *
xsim_nbd_group_new(void)
{
    XsimNbdGroup *group = g_new0(XsimNbdGroup, 1);

    g_mutex_init(&group->lock);
    group->fronts = g_ptr_array_new();
    return group;
}

void
xsim_nbd_group_free(XsimNbdGroup *group)
{
    if (!group)
        return;
    g_assert(group->fronts->len == 0);
    g_ptr_array_unref(group->fronts);
    g_mutex_clear(&group->lock);
    g_free(group);
}

void
xsim_nbd_group_cut(XsimNbdGroup *group)
{
    g_mutex_lock(&group->lock);
    group->cut = true;
    for (guint i = 0; i < group->fronts->len; i++) {
        XsimNbdfront *nf = group->fronts->pdata[i];

        if (nf->fd >= 0)
            shutdown(nf->fd, SHUT_RDWR);
    }
    g_mutex_unlock(&group->lock);
}

XsimNbdfront *
xsim_nbdfront_new(XsimNbdGroup *group)
{
    XsimNbdfront *nf = g_new0(XsimNbdfront, 1);

    nf->group = group;
    nf->fd = -1;
    g_mutex_lock(&group->lock);
    g_ptr_array_add(group->fronts, nf);
    g_mutex_unlock(&group->lock);
    return nf;
}

void
xsim_nbdfront_disconnect(XsimNbdfront *nf)
{
    struct nbd_handle *nbd = g_steal_pointer(&nf->nbd);

    /* Out of the group's reach before libnbd closes the socket: its
     * number may be reused at once. */
    g_mutex_lock(&nf->group->lock);
    nf->fd = -1;
    g_mutex_unlock(&nf->group->lock);
    if (nbd)
        nbd_close(nbd);
    nf->size = 0;
}

void
xsim_nbdfront_free(XsimNbdfront *nf)
{
    if (!nf)
        return;
    xsim_nbdfront_disconnect(nf);
    g_mutex_lock(&nf->group->lock);
    g_ptr_array_remove(nf->group->fronts, nf);
    g_mutex_unlock(&nf->group->lock);
    g_free(nf);
}

bool
xsim_nbdfront_connected(XsimNbdfront *nf)
{
    return nf->nbd != NULL;
}

guint64
xsim_nbdfront_size(XsimNbdfront *nf)
{
    return nf->size;
}

/* libnbd's error for the last call of this thread, as ours. */
static int
xsim_nbdfront_error(const char *what,
                    char **msg_r)
{
    int err = nbd_get_errno();
    const char *msg = nbd_get_error();

    if (err <= 0)
        err = EIO;
    if (msg_r)
        *msg_r = g_strdup_printf("%s: %s", what, msg ? msg : g_strerror(err));
    return err;
}

int
xsim_nbdfront_connect(XsimNbdfront *nf,
                      const char *path,
                      const char *name,
                      char **msg_r)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    struct nbd_handle *nbd;
    int64_t size;
    int fd;
    int err;

    xsim_nbdfront_disconnect(nf);
    if (strlen(path) >= sizeof(sun.sun_path)) {
        *msg_r = g_strdup("the export's socket name is too long");
        return ENAMETOOLONG;
    }
    memcpy(sun.sun_path, path, strlen(path));
    if (!(nbd = nbd_create()))
        return xsim_nbdfront_error("libnbd", msg_r);
    if (nbd_set_export_name(nbd, name) < 0) {
        err = xsim_nbdfront_error("export name", msg_r);
        nbd_close(nbd);
        return err;
    }
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
        err = errno;
        *msg_r = g_strdup_printf("socket: %s", g_strerror(err));
        nbd_close(nbd);
        return err;
    }
    g_mutex_lock(&nf->group->lock);
    if (nf->group->cut) {
        g_mutex_unlock(&nf->group->lock);
        close(fd);
        nbd_close(nbd);
        *msg_r = g_strdup("the guest is stopping");
        return ESHUTDOWN;
    }
    nf->fd = fd;
    g_mutex_unlock(&nf->group->lock);
    /* A unix socket connects at once or not at all. */
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        err = errno;
        *msg_r = g_strdup_printf("connect: %s", g_strerror(err));
        g_mutex_lock(&nf->group->lock);
        nf->fd = -1;
        g_mutex_unlock(&nf->group->lock);
        close(fd);
        nbd_close(nbd);
        return err;
    }
    /* The handle owns the socket from here, whether this succeeds or not. */
    nf->nbd = nbd;
    if (nbd_connect_socket(nbd, fd) < 0) {
        err = xsim_nbdfront_error("handshake", msg_r);
        xsim_nbdfront_disconnect(nf);
        return err;
    }
    if ((size = nbd_get_size(nbd)) < 0) {
        err = xsim_nbdfront_error("size", msg_r);
        xsim_nbdfront_disconnect(nf);
        return err;
    }
    nf->size = size;
    return 0;
}

static int
xsim_nbdfront_check(XsimNbdfront *nf,
                    gsize count,
                    guint64 offset,
                    char **msg_r)
{
    if (!nf->nbd) {
        *msg_r = g_strdup("not connected");
        return ENOTCONN;
    }
    if (offset > nf->size || count > nf->size - offset) {
        *msg_r = g_strdup_printf("%" G_GSIZE_FORMAT " bytes at %"
                                 G_GUINT64_FORMAT " are beyond the disk's %"
                                 G_GUINT64_FORMAT, count, offset, nf->size);
        return EINVAL;
    }
    return 0;
}

int
xsim_nbdfront_io(XsimNbdfront *nf,
                 bool write,
                 void *buf,
                 gsize count,
                 guint64 offset,
                 char **msg_r)
{
    int err;

    if ((err = xsim_nbdfront_check(nf, count, offset, msg_r)))
        return err;
    if ((write ? nbd_pwrite(nf->nbd, buf, count, offset, 0)
               : nbd_pread(nf->nbd, buf, count, offset, 0)) < 0)
        return xsim_nbdfront_error(write ? "write" : "read", msg_r);
    return 0;
}

int
xsim_nbdfront_flush(XsimNbdfront *nf,
                    char **msg_r)
{
    if (!nf->nbd) {
        *msg_r = g_strdup("not connected");
        return ENOTCONN;
    }
    /* A server that cannot flush writes through. */
    if (nbd_can_flush(nf->nbd) != 1)
        return 0;
    if (nbd_flush(nf->nbd, 0) < 0)
        return xsim_nbdfront_error("flush", msg_r);
    return 0;
}

void
xsim_nbd_pattern(guint64 seq,
                 guint8 block[XSIM_NBD_BLOCK])
{
    char head[64];
    int n;

    for (guint i = 0; i < XSIM_NBD_BLOCK; i++)
        block[i] = (guint8)(seq * 131 + i);
    n = g_snprintf(head, sizeof(head), "xensim-nbd seq %" G_GUINT64_FORMAT
                   "\n", seq);
    memcpy(block, head, n);
}
