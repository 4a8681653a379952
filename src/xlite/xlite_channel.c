/*
 * xlite_channel.c: channels between dom0 and a guest (docs/channels.md)
 *
 * A channel is a vchan (xen/io/libxenvchan.h) whose server is dom0, set
 * up by the library and served in its event loop:
 *
 *   open: the served fd (a pty from the helper child, or a listening
 *   unix socket), then dom0's grant of the ring pages (never a mapping of
 *   the guest's), an unbound port of dom0 for the guest, the xenstore
 *   nodes in one transaction, the watches (the frontend's state node and
 *   @releaseDomain), the fds in the loop: complete.
 *
 *   pump: whenever the port is notified or a served fd is ready, bytes go
 *   from the left ring (the guest's writes) to the fd and from the fd to
 *   the right ring, each index read once from shared memory and checked
 *   (a used count above the ring's size is a broken guest: the channel
 *   closes), at most XLITE__CHAN_ROUNDS passes per wakeup, so a flooding
 *   guest costs a bounded slice of the loop; the fd's poll bits follow
 *   what the rings allow (no POLLIN while the guest's ring is full: the
 *   fd's own buffer pushes back on the writer).
 *
 *   dead peer: the frontend's state Closing/Closed or gone, or the
 *   domain gone, dying or shut down (@releaseDomain, then one look at the
 *   domain): everything is released at once (grant ended, port closed,
 *   nodes removed, fds closed: readers get end of file) and the channel
 *   is CLOSED until xlite_channel_close frees it.
 *
 * Everything a guest writes is untrusted: its state node is read bounded
 * and parsed strictly (anything else is ignored, counted, never logged
 * per write), the ring's indexes are checked, its orders never read (the
 * layout is ours).
 *
 * The tests' debug switch, XLITE_DEBUG_CHANNEL_MAP_GUEST=1 in the
 * environment at open, turns the layout round as a naive toolstack
 * would: the guest grants the pages (its frontend's ring-ref) and the
 * toolstack maps them, and keeps the mapping until xlite_channel_close,
 * as a libvchan client that does not watch its peer does.  A guest that
 * dies then stays a zombie, which is what the tests show it doing.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <xen/io/libxenvchan.h>

#include "xlite_internal.h"
#include "xlite_dom_internal.h"


/* The layout both sides use: page 0 the interface, then the left ring
 * (guest to dom0) and the right ring (dom0 to guest), 16 KiB each. */
#define XLITE__CHAN_RING_ORDER 14
#define XLITE__CHAN_RING_SIZE (1u << XLITE__CHAN_RING_ORDER)
#define XLITE__CHAN_PAGES (1 + 2 * (XLITE__CHAN_RING_SIZE / 4096))
#define XLITE__CHAN_LEFT_OFF 4096
#define XLITE__CHAN_RIGHT_OFF (4096 + XLITE__CHAN_RING_SIZE)
/* Passes of the pump per wakeup. */
#define XLITE__CHAN_ROUNDS 4
/* As the stored config bounds it. */
#define XLITE__CHAN_NAME_MAX 64

/* XenbusState */
enum {
    CH_XB_INITIALISING = 1,
    CH_XB_INITWAIT = 2,
    CH_XB_CONNECTED = 4,
    CH_XB_CLOSING = 5,
    CH_XB_CLOSED = 6,
};

struct xlite_channel {
    /* Set at open, immutable after. */
    uint32_t domid;
    int devid;
    char *name;
    xlite_channel_connection kind;
    char *path;                   /* the pty's slave, or the socket */
    char *fe;                     /* xenstore: device/channel/N */
    char *be;                     /* backend/channel/D/N */
    char *fe_state;
    bool map_guest;               /* the debug layout */

    /* Under ctx->lock. */
    xlite_channel_state state;
    char why[128];
    uint64_t to_guest;
    uint64_t from_guest;
    uint64_t garbage;             /* state values that made no sense */
    GList link;                   /* in the context's channels */

    /* The ring: dom0's grant (or, mapped, the guest's).  Our own
     * indexes are kept here and only written out: the guest may scribble
     * over them in the shared page, and is never believed about them. */
    void *mem;
    uint32_t left_cons;
    uint32_t right_prod;
    uint32_t gref;
    bool gnt_mapped;              /* mem is the guest's, mapped here */
    /* dom0's port. */
    struct xlite__hv_evtchn *evtchn;
    uint32_t port;
    xlite__ev_fd ev_port;
    /* The served fd: the pty's master (slave held open), or the socket
     * and its client. */
    int master;
    int slave;
    int listen_fd;
    int client;
    xlite__ev_fd ev_data;         /* master or client */
    xlite__ev_fd ev_listen;
    /* Dead peer. */
    xlite__ev_xswatch w_state;
    xlite__ev_xswatch w_release;

    /* While open is in progress. */
    xlite__ao *ao;
    xlite_channel **chan_r;
    xlite__openpty pty;
};

static void chan_pump(xlite__egc *egc, xlite_channel *ch);

static bool
chan_name_ok(const char *name)
{
    size_t len = name ? strlen(name) : 0;

    return len > 0 && len <= XLITE__CHAN_NAME_MAX &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                  "0123456789._-") == len;
}

/* ---------- teardown ---------- */

/*
 * A socket's client is told end of file, not a reset: Linux resets the
 * peer of a unix socket closed with unread data, which a client that was
 * writing into a full ring always leaves.  So: no more of its writes
 * (they fail from now on), what it wrote dropped, then the close.
 */
static void
chan_close_client(int *fd)
{
    char buf[4096];

    if (*fd < 0)
        return;
    shutdown(*fd, SHUT_RDWR);
    while (read(*fd, buf, sizeof(buf)) > 0)
        ;
    xlite__close(fd);
}

static int
rm_body(xlite_ctx *ctx, struct xs_handle *xsh, xs_transaction_t t,
        void *opaque)
{
    xlite_channel *ch = opaque;
    const char *dirs[] = { ch->be, ch->fe };

    xs_rm(xsh, t, ch->fe);
    xs_rm(xsh, t, ch->be);
    /* Their parents, backend/channel/D and device/channel, once empty. */
    for (size_t i = 0; i < G_N_ELEMENTS(dirs); i++) {
        g_autofree char *parent = g_strndup(dirs[i],
                                            strrchr(dirs[i], '/') - dirs[i]);
        g_autofree char **ents = NULL;
        unsigned int n = 0;

        if ((ents = xs_directory(xsh, t, parent, &n)) && n == 0)
            xs_rm(xsh, t, parent);
    }
    return 0;
}

/* Releases what the channel holds; the mapping of a guest's pages (the
 * debug layout) only with @all, as a naive client keeps it. */
static void
chan_release(xlite_ctx *ctx, xlite_channel *ch, bool all)
{
    xlite__ev_fd_deregister(ctx, &ch->ev_port);
    xlite__ev_fd_deregister(ctx, &ch->ev_data);
    xlite__ev_fd_deregister(ctx, &ch->ev_listen);
    xlite__ev_xswatch_deregister(ctx, &ch->w_state);
    xlite__ev_xswatch_deregister(ctx, &ch->w_release);
    if (ch->evtchn) {
        ctx->hv->evtchn_close(ctx, ctx->hv_state, ch->evtchn);
        ch->evtchn = NULL;
    }
    if (ch->mem && !ch->gnt_mapped) {
        struct vchan_interface *vi = ch->mem;

        __atomic_store_n(&vi->srv_live, 0, __ATOMIC_SEQ_CST);
        ctx->hv->gnt_end(ctx, ctx->hv_state, ch->gref, ch->mem,
                         XLITE__CHAN_PAGES);
        ch->mem = NULL;
    } else if (ch->mem && all) {
        ctx->hv->gnt_unmap(ctx, ctx->hv_state, ch->domid, ch->gref, ch->mem,
                           XLITE__CHAN_PAGES);
        ch->mem = NULL;
    }
    if (ch->fe)
        xlite__xs_transact(ctx, NULL, rm_body, ch);
    chan_close_client(&ch->client);
    xlite__close(&ch->master);
    xlite__close(&ch->slave);
    if (ch->listen_fd >= 0) {
        xlite__close(&ch->listen_fd);
        unlink(ch->path);
    }
}

/* The application hears of the guest's side connecting or going
 * (XLITE_EVENT_CHANNEL_STATE); not of its own close. */
static void
chan_emit_state(xlite__egc *egc, xlite_channel *ch)
{
    xlite_ctx *ctx = egc->ctx;
    xlite_event *ev = xlite__event_new(XLITE_EVENT_CHANNEL_STATE, ch->domid, 0);
    xlite_dominfo info;

    if (ctx->hv->dom_info &&
        ctx->hv->dom_info(ctx, ctx->hv_state, ch->domid, &info) == 0)
        memcpy(ev->uuid, info.uuid, 16);
    g_strlcpy(ev->u.channel_state.name, ch->name,
              sizeof(ev->u.channel_state.name));
    ev->u.channel_state.state = ch->state;
    xlite__event_occurs(egc, ev);
}

/* The guest went (or broke the ring): everything goes but the object. */
static void
chan_closed(xlite__egc *egc, xlite_channel *ch, const char *why)
{
    xlite_ctx *ctx = egc->ctx;

    if (ch->state == XLITE_CHANNEL_CLOSED)
        return;
    XLITE_LOG(ctx, XLITE_LOG_INFO, "channel '%s' of domain %u closed: %s",
              ch->name, ch->domid, why);
    g_strlcpy(ch->why, why, sizeof(ch->why));
    ch->state = XLITE_CHANNEL_CLOSED;
    chan_release(ctx, ch, false);
    chan_emit_state(egc, ch);
}

static void
chan_free(xlite_channel *ch)
{
    if (!ch)
        return;
    g_free(ch->name);
    g_free(ch->path);
    g_free(ch->fe);
    g_free(ch->be);
    g_free(ch->fe_state);
    g_free(ch);
}

/* ---------- the pump ---------- */

static char *
ring_left(xlite_channel *ch)
{
    return (char *)ch->mem + XLITE__CHAN_LEFT_OFF;
}

static char *
ring_right(xlite_channel *ch)
{
    return (char *)ch->mem + XLITE__CHAN_RIGHT_OFF;
}

/* The fd the data goes to and comes from, or -1 (no client yet). */
static int
chan_data_fd(xlite_channel *ch)
{
    return ch->kind == XLITE_CHANNEL_PTY ? ch->master : ch->client;
}

/* The socket's client left: back to listening (unless closed). */
static void
chan_client_gone(xlite__egc *egc, xlite_channel *ch)
{
    xlite__ev_fd_deregister(egc->ctx, &ch->ev_data);
    chan_close_client(&ch->client);
    if (ch->listen_fd >= 0)
        xlite__ev_fd_modify(egc->ctx, &ch->ev_listen, POLLIN);
}

/*
 * One pass each way: true if an index moved.  *broken says the guest's
 * indexes are impossible; *fd_gone that the served fd failed or, for a
 * socket's client, ended.
 */
static bool
chan_pass(xlite__egc *egc, xlite_channel *ch, bool *broken, bool *fd_gone)
{
    struct vchan_interface *vi = ch->mem;
    const uint32_t size = XLITE__CHAN_RING_SIZE;
    uint32_t prod, cons, used;
    bool moved = false;
    int fd = chan_data_fd(ch);

    /* Guest to fd: the guest writes left.prod, we own left.cons. */
    prod = __atomic_load_n(&vi->left.prod, __ATOMIC_ACQUIRE);
    cons = ch->left_cons;
    used = prod - cons;
    if (used > size) {
        *broken = true;
        return false;
    }
    if (used > 0 && fd >= 0) {
        uint32_t off = cons & (size - 1);
        uint32_t n = MIN(used, size - off);
        ssize_t r = write(fd, ring_left(ch) + off, n);

        if (r > 0) {
            ch->left_cons = cons + (uint32_t)r;
            __atomic_store_n(&vi->left.cons, ch->left_cons, __ATOMIC_RELEASE);
            ch->from_guest += r;
            moved = true;
        } else if (r < 0 && errno != EAGAIN && errno != EINTR) {
            *fd_gone = true;
            return moved;
        }
    }

    /* fd to guest: we own right.prod, the guest writes right.cons. */
    prod = ch->right_prod;
    cons = __atomic_load_n(&vi->right.cons, __ATOMIC_ACQUIRE);
    used = prod - cons;
    if (used > size) {
        *broken = true;
        return moved;
    }
    if (used < size && fd >= 0) {
        uint32_t off = prod & (size - 1);
        uint32_t n = MIN(size - used, size - off);
        ssize_t r = read(fd, ring_right(ch) + off, n);

        if (r > 0) {
            ch->right_prod = prod + (uint32_t)r;
            __atomic_store_n(&vi->right.prod, ch->right_prod,
                             __ATOMIC_RELEASE);
            ch->to_guest += r;
            moved = true;
        } else if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            /* A socket's client closed (a pty's master never reads end of
             * file: we hold its slave). */
            *fd_gone = true;
        }
    }
    return moved;
}

static void
chan_pump(xlite__egc *egc, xlite_channel *ch)
{
    xlite_ctx *ctx = egc->ctx;
    struct vchan_interface *vi;
    bool moved = false, broken = false, fd_gone = false;
    uint32_t lused, rused;
    short want;

    if (ch->state == XLITE_CHANNEL_CLOSED || !ch->mem)
        return;
    for (int i = 0; i < XLITE__CHAN_ROUNDS && !broken && !fd_gone; i++) {
        if (!chan_pass(egc, ch, &broken, &fd_gone))
            break;
        moved = true;
    }
    if (broken) {
        chan_closed(egc, ch, "the guest broke the ring (impossible indexes)");
        return;
    }
    if (moved && ch->evtchn)
        ctx->hv->evtchn_notify(ctx, ch->evtchn);
    if (fd_gone && ch->kind == XLITE_CHANNEL_SOCKET) {
        chan_client_gone(egc, ch);
        return;
    }
    if (chan_data_fd(ch) < 0)
        return;
    /* What the fd should wait for: room in the guest's ring (POLLIN), the
     * fd taking what the guest wrote (POLLOUT). */
    vi = ch->mem;
    lused = __atomic_load_n(&vi->left.prod, __ATOMIC_ACQUIRE) - ch->left_cons;
    rused = ch->right_prod - __atomic_load_n(&vi->right.cons, __ATOMIC_ACQUIRE);
    want = (rused < XLITE__CHAN_RING_SIZE ? POLLIN : 0) |
           (lused > 0 && lused <= XLITE__CHAN_RING_SIZE ? POLLOUT : 0);
    xlite__ev_fd_modify(ctx, &ch->ev_data, want);
}

static void
chan_data_cb(xlite__egc *egc, xlite__ev_fd *ev, int fd, short events,
             short revents)
{
    xlite_channel *ch = XLITE__CONTAINER_OF(ev, xlite_channel, ev_data);

    if ((revents & (POLLERR | POLLNVAL)) ||
        ((revents & POLLHUP) && !(revents & POLLIN) &&
         ch->kind == XLITE_CHANNEL_SOCKET)) {
        chan_client_gone(egc, ch);
        return;
    }
    chan_pump(egc, ch);
}

static void
chan_port_cb(xlite__egc *egc, xlite__ev_fd *ev, int fd, short events,
             short revents)
{
    xlite_channel *ch = XLITE__CONTAINER_OF(ev, xlite_channel, ev_port);
    int rc = egc->ctx->hv->evtchn_consume(egc->ctx, ch->evtchn);

    if (rc < 0) {
        chan_closed(egc, ch, "its event channel is lost");
        return;
    }
    chan_pump(egc, ch);
}

static void
chan_accept_cb(xlite__egc *egc, xlite__ev_fd *ev, int fd, short events,
               short revents)
{
    xlite_channel *ch = XLITE__CONTAINER_OF(ev, xlite_channel, ev_listen);
    int cfd;

    xlite__nofork_lock();
    cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    xlite__nofork_unlock();
    if (cfd < 0)
        return;
    if (ch->client >= 0) {
        /* One client at a time: the listener is off meanwhile. */
        close(cfd);
        return;
    }
    ch->client = cfd;
    if (xlite__ev_fd_register(egc->ctx, &ch->ev_data, chan_data_cb, cfd,
                              POLLIN) < 0) {
        xlite__close(&ch->client);
        return;
    }
    xlite__ev_fd_modify(egc->ctx, &ch->ev_listen, 0);
    chan_pump(egc, ch);
}

/* ---------- the guest's side in xenstore ---------- */

/* The debug layout: the guest's pages, once it says Connected. */
static void
chan_map_guest(xlite__egc *egc, xlite_channel *ch)
{
    xlite_ctx *ctx = egc->ctx;
    g_autofree char *p = g_strdup_printf("%s/ring-ref", ch->fe);
    uint64_t gref;

    if (ch->mem)
        return;
    if (xlite__xs_read_uint(ctx, p, UINT32_MAX, &gref) < 0)
        return;
    if (ctx->hv->gnt_map(ctx, ctx->hv_state, ch->domid, (uint32_t)gref,
                         XLITE__CHAN_PAGES, &ch->mem) < 0) {
        ch->mem = NULL;
        return;
    }
    ch->gref = (uint32_t)gref;
    ch->gnt_mapped = true;
}

/*
 * The guest's state node, read as any guest-written value but quietly (a
 * garbage guest rewrites it hundreds of times a second: counted, never
 * logged): 0 and the state, -ENOENT if it is gone, -EINVAL if it is not a
 * state.
 */
static int
chan_read_state(xlite_ctx *ctx, xlite_channel *ch, unsigned int *state_r)
{
    struct xs_handle *xsh = xlite__xs(ctx);
    unsigned int len = 0;
    g_autofree char *v = NULL;
    guint64 n;

    if (!xsh)
        return -EIO;
    if (!(v = xs_read(xsh, XBT_NULL, ch->fe_state, &len)))
        return errno == ENOENT ? -ENOENT : -EIO;
    if (len > 2 || strlen(v) != len ||
        !g_ascii_string_to_unsigned(v, 10, 0, 6, &n, NULL))
        return -EINVAL;
    *state_r = n;
    return 0;
}

static void
chan_state_cb(xlite__egc *egc, xlite__ev_xswatch *w, const char *wpath,
              const char *epath)
{
    xlite_channel *ch = XLITE__CONTAINER_OF(w, xlite_channel, w_state);
    xlite_ctx *ctx = egc->ctx;
    g_autofree char *bstate = NULL;
    unsigned int state;
    int rc;

    if (ch->state == XLITE_CHANNEL_CLOSED)
        return;
    if ((rc = chan_read_state(ctx, ch, &state)) == -ENOENT) {
        chan_closed(egc, ch, "its frontend is gone");
        return;
    }
    if (rc < 0) {
        ch->garbage++;
        return;
    }
    if (state == CH_XB_CLOSING || state == CH_XB_CLOSED) {
        chan_closed(egc, ch, "the guest closed it");
        return;
    }
    if (state == CH_XB_CONNECTED && ch->state == XLITE_CHANNEL_WAITING) {
        if (ch->map_guest)
            chan_map_guest(egc, ch);
        if (!ch->mem)
            return;
        ch->state = XLITE_CHANNEL_CONNECTED;
        bstate = g_strdup_printf("%s/state", ch->be);
        xlite__xs_write_checked(ctx, bstate, "4");
        chan_emit_state(egc, ch);
        chan_pump(egc, ch);
    }
}

/* @releaseDomain: is our guest still there and running? */
static void
chan_release_cb(xlite__egc *egc, xlite__ev_xswatch *w, const char *wpath,
                const char *epath)
{
    xlite_channel *ch = XLITE__CONTAINER_OF(w, xlite_channel, w_release);
    xlite_ctx *ctx = egc->ctx;
    xlite_dominfo info;
    int rc;

    if (ch->state == XLITE_CHANNEL_CLOSED)
        return;
    rc = ctx->hv->dom_info(ctx, ctx->hv_state, ch->domid, &info);
    if (rc == -ESRCH)
        chan_closed(egc, ch, "the domain is gone");
    else if (rc == 0 && info.dying)
        chan_closed(egc, ch, "the domain is dying");
    else if (rc == 0 && info.shutdown)
        chan_closed(egc, ch, "the domain shut down");
}

/* ---------- open ---------- */

typedef struct {
    xlite_channel *ch;
    uint32_t dom0_port;
} chan_write_args;

static void
w_node(struct xs_handle *xsh, xs_transaction_t t, int *rc, const char *dir,
       const char *key, const struct xs_permissions *perms,
       const char *value)
{
    g_autofree char *path = key ? g_strdup_printf("%s/%s", dir, key)
                                : g_strdup(dir);

    if (*rc < 0)
        return;
    if (!xs_write(xsh, t, path, value, strlen(value)) ||
        (perms && !xs_set_permissions(xsh, t, path,
                                      (struct xs_permissions *)perms, 2)))
        *rc = -(errno ? errno : EIO);
}

/*
 * The nodes: the backend's (dom0 owns, the guest reads) and the
 * frontend's, which dom0 owns too, the guest reading it, but for its
 * state (and, in the debug layout, its ring-ref), which the guest owns:
 * the only nodes it may write.  A stale channel of the same number is
 * replaced.  InitWait at once: the ring is ready when the nodes appear.
 */
static int
chan_write_body(xlite_ctx *ctx, struct xs_handle *xsh, xs_transaction_t t,
                void *opaque)
{
    chan_write_args *a = opaque;
    xlite_channel *ch = a->ch;
    struct xs_permissions dom0_owned[2] = {
        { .id = 0, .perms = XS_PERM_NONE },
        { .id = ch->domid, .perms = XS_PERM_READ },
    };
    struct xs_permissions guest_owned[2] = {
        { .id = ch->domid, .perms = XS_PERM_NONE },
        { .id = 0, .perms = XS_PERM_READ },
    };
    char buf[32];
    int rc = 0;

    xs_rm(xsh, t, ch->fe);
    xs_rm(xsh, t, ch->be);
    w_node(xsh, t, &rc, ch->be, NULL, dom0_owned, "");
    w_node(xsh, t, &rc, ch->be, "frontend", NULL, ch->fe);
    g_snprintf(buf, sizeof(buf), "%u", ch->domid);
    w_node(xsh, t, &rc, ch->be, "frontend-id", NULL, buf);
    w_node(xsh, t, &rc, ch->be, "name", NULL, ch->name);
    if (ch->map_guest) {
        w_node(xsh, t, &rc, ch->be, "grant-side", NULL, "guest");
    } else {
        g_snprintf(buf, sizeof(buf), "%u", ch->gref);
        w_node(xsh, t, &rc, ch->be, "ring-ref", NULL, buf);
    }
    g_snprintf(buf, sizeof(buf), "%u", a->dom0_port);
    w_node(xsh, t, &rc, ch->be, "event-channel", NULL, buf);
    g_snprintf(buf, sizeof(buf), "%d", XLITE__CHAN_RING_ORDER);
    w_node(xsh, t, &rc, ch->be, "ring-order", NULL, buf);
    g_snprintf(buf, sizeof(buf), "%d", CH_XB_INITWAIT);
    w_node(xsh, t, &rc, ch->be, "state", NULL, buf);

    w_node(xsh, t, &rc, ch->fe, NULL, dom0_owned, "");
    w_node(xsh, t, &rc, ch->fe, "backend", NULL, ch->be);
    w_node(xsh, t, &rc, ch->fe, "backend-id", NULL, "0");
    w_node(xsh, t, &rc, ch->fe, "name", NULL, ch->name);
    g_snprintf(buf, sizeof(buf), "%d", CH_XB_INITIALISING);
    w_node(xsh, t, &rc, ch->fe, "state", guest_owned, buf);
    if (ch->map_guest)
        w_node(xsh, t, &rc, ch->fe, "ring-ref", guest_owned, "");
    if (rc < 0)
        return XLITE_ERROR(ctx, rc, "cannot write the nodes of channel '%s': "
                           "%s", ch->name, g_strerror(-rc));
    return 0;
}

/*
 * A channel of this name left behind by another process (it died, or was
 * an embedded client that exited): dom0's grant and port it held go
 * before the nodes are replaced.  Only dom0's own nodes are read, and
 * only where dom0 granted (in the debug layout the grant was the guest's).
 */
static void
chan_forget_stale(xlite_ctx *ctx, const char *be)
{
    g_autofree char *side_p = g_strdup_printf("%s/grant-side", be);
    g_autofree char *gref_p = g_strdup_printf("%s/ring-ref", be);
    g_autofree char *port_p = g_strdup_printf("%s/event-channel", be);
    g_autofree char *side = xlite__xs_read_bounded(ctx, side_p, 16);
    uint64_t gref, port;

    if (!ctx->hv->chan_forget || side ||
        xlite__xs_read_uint(ctx, gref_p, UINT32_MAX, &gref) < 0 ||
        xlite__xs_read_uint(ctx, port_p, UINT32_MAX, &port) < 0)
        return;
    XLITE_LOG(ctx, XLITE_LOG_INFO, "%s was left behind: ending grant %"
              G_GUINT64_FORMAT " and port %" G_GUINT64_FORMAT, be, gref, port);
    ctx->hv->chan_forget(ctx, ctx->hv_state, (uint32_t)gref, (uint32_t)port);
}

/* The devid: the channel's own if it was left behind (same name), else
 * the lowest free one. */
static int
chan_pick_devid(xlite_ctx *ctx, uint32_t domid, const char *name)
{
    struct xs_handle *xsh = xlite__xs(ctx);
    g_autofree char *dir = g_strdup_printf("/local/domain/0/backend/channel/%u",
                                           domid);
    g_autofree char **ents = NULL;
    unsigned int n = 0;
    uint64_t used = 0;

    if (xsh)
        ents = xs_directory(xsh, XBT_NULL, dir, &n);
    for (unsigned int i = 0; ents && i < n; i++) {
        g_autofree char *p = g_strdup_printf("%s/%s/name", dir, ents[i]);
        g_autofree char *other = xlite__xs_read_bounded(ctx, p, 256);
        guint64 id;

        if (!g_ascii_string_to_unsigned(ents[i], 10, 0, 63, &id, NULL))
            continue;
        if (other && g_str_equal(other, name)) {
            g_autofree char *be = g_strdup_printf("%s/%s", dir, ents[i]);

            chan_forget_stale(ctx, be);
            return (int)id;
        }
        used |= G_GUINT64_CONSTANT(1) << id;
    }
    for (int id = 0; id < 64; id++) {
        if (!(used & (G_GUINT64_CONSTANT(1) << id)))
            return id;
    }
    return -1;
}

static int
chan_listen(xlite_ctx *ctx, xlite_channel *ch)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    struct stat sb;
    int fd;

    if (strlen(ch->path) >= sizeof(sun.sun_path))
        return XLITE_ERROR(ctx, -ENAMETOOLONG, "socket path '%s' is too long",
                           ch->path);
    strcpy(sun.sun_path, ch->path);
    /* A socket left by an earlier server goes; anything else stays. */
    if (lstat(ch->path, &sb) == 0 && S_ISSOCK(sb.st_mode))
        unlink(ch->path);
    xlite__nofork_lock();
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    xlite__nofork_unlock();
    if (fd < 0)
        return XLITE_ERROR(ctx, -errno, "cannot create a socket: %s",
                           g_strerror(errno));
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        listen(fd, 4) < 0) {
        int err = errno;

        close(fd);
        return XLITE_ERROR(ctx, -err, "cannot listen on '%s': %s", ch->path,
                           g_strerror(err));
    }
    ch->listen_fd = fd;
    return 0;
}

/* Everything after the served fd exists. */
static int
chan_setup(xlite__egc *egc, xlite_channel *ch)
{
    xlite_ctx *ctx = egc->ctx;
    chan_write_args a = { .ch = ch };
    int evfd = -1;
    int rc;

    if (!ch->map_guest) {
        struct vchan_interface *vi;

        if ((rc = ctx->hv->gnt_share(ctx, ctx->hv_state, ch->domid,
                                     XLITE__CHAN_PAGES, &ch->gref,
                                     &ch->mem)) < 0) {
            ch->mem = NULL;
            return rc;
        }
        vi = ch->mem;
        memset(vi, 0, 4096);
        vi->left_order = vi->right_order = XLITE__CHAN_RING_ORDER;
        vi->cli_live = 2;
        vi->srv_live = 1;
        vi->cli_notify = vi->srv_notify = VCHAN_NOTIFY_WRITE |
                                          VCHAN_NOTIFY_READ;
        /* One grant covers the pages here: the list repeats it. */
        for (unsigned int i = 0; i < XLITE__CHAN_PAGES - 1; i++)
            vi->grants[i] = ch->gref;
    }
    if ((rc = ctx->hv->evtchn_open(ctx, ctx->hv_state, ch->domid,
                                   &ch->evtchn, &a.dom0_port, &evfd)) < 0)
        return rc;
    ch->port = a.dom0_port;
    if ((rc = xlite__ev_fd_register(ctx, &ch->ev_port, chan_port_cb, evfd,
                                    POLLIN)) < 0)
        return rc;
    if ((rc = xlite__xs_transact(ctx, "cannot set up the channel",
                                 chan_write_body, &a)) < 0)
        return rc;
    ch->fe_state = g_strdup_printf("%s/state", ch->fe);
    if ((rc = xlite__ev_xswatch_register(ctx, &ch->w_state, chan_state_cb,
                                         ch->fe_state)) < 0 ||
        (rc = xlite__ev_xswatch_register(ctx, &ch->w_release,
                                         chan_release_cb,
                                         "@releaseDomain")) < 0)
        return rc;
    if (ch->kind == XLITE_CHANNEL_PTY) {
        if ((rc = xlite__ev_fd_register(ctx, &ch->ev_data, chan_data_cb,
                                        ch->master, POLLIN)) < 0)
            return rc;
    } else if ((rc = xlite__ev_fd_register(ctx, &ch->ev_listen,
                                           chan_accept_cb, ch->listen_fd,
                                           POLLIN)) < 0) {
        return rc;
    }
    return 0;
}

static void
chan_open_done(xlite__egc *egc, xlite_channel *ch, int rc)
{
    xlite_ctx *ctx = egc->ctx;
    xlite__ao *ao = ch->ao;

    ch->ao = NULL;
    if (rc == 0)
        rc = chan_setup(egc, ch);
    if (rc < 0) {
        g_autofree char *msg = g_strdup(xlite_errmsg());

        ch->state = XLITE_CHANNEL_CLOSED;
        chan_release(ctx, ch, true);
        g_queue_unlink(&ctx->channels, &ch->link);
        chan_free(ch);
        xlite__errmsg_restore(msg);
    } else {
        *ch->chan_r = ch;
        XLITE_LOG(ctx, XLITE_LOG_INFO, "channel '%s' of domain %u open on %s "
                  "(port %u, grant %u%s)", ch->name, ch->domid, ch->path,
                  ch->port, ch->gref, ch->map_guest ?
                  ", the guest's pages mapped: debug" : "");
    }
    xlite__ao_complete(egc, ao, rc);
}

static void
chan_pty_cb(xlite__egc *egc, xlite__openpty *op, int rc)
{
    xlite_channel *ch = XLITE__CONTAINER_OF(op, xlite_channel, pty);
    char name[128];

    if (rc == 0) {
        ch->master = op->master;
        ch->slave = op->slave;
        if (ptsname_r(ch->master, name, sizeof(name)) != 0)
            rc = XLITE_ERROR(egc->ctx, -errno, "cannot name the pty: %s",
                             g_strerror(errno));
        else
            ch->path = g_strdup(name);
        if (rc == 0 && fcntl(ch->master, F_SETFL,
                             fcntl(ch->master, F_GETFL) | O_NONBLOCK) < 0)
            rc = XLITE_ERROR(egc->ctx, -errno, "cannot set up the pty: %s",
                             g_strerror(errno));
    }
    chan_open_done(egc, ch, rc);
}

XLITE_EXPORT int
xlite_channel_open(xlite_ctx *ctx, uint32_t domid,
                   const xlite_channel_config *cfg, xlite_channel **chan_r,
                   const xlite_async_how *how)
{
    xlite_channel *ch = NULL;
    xlite_dominfo info;
    xlite__ao *ao;
    const char *dbg;
    int rc;
    EGC_INIT(ctx);

    if (!cfg || !chan_r)
        return XLITE_ERROR(ctx, -EINVAL, "a config and a result pointer are "
                           "required");
    if (!chan_name_ok(cfg->name))
        return XLITE_ERROR(ctx, -EINVAL, "bad channel name '%s': 1 to %d of "
                           "A-Z a-z 0-9 . _ -", cfg->name ? cfg->name : "",
                           XLITE__CHAN_NAME_MAX);
    if (cfg->connection == XLITE_CHANNEL_SOCKET && (!cfg->path || cfg->path[0] != '/'))
        return XLITE_ERROR(ctx, -EINVAL, "a unix channel needs an absolute "
                           "socket path");
    if (cfg->connection != XLITE_CHANNEL_SOCKET && cfg->connection != XLITE_CHANNEL_PTY)
        return XLITE_ERROR(ctx, -EINVAL, "unknown channel kind %d", cfg->connection);
    if (domid == 0)
        return XLITE_ERROR(ctx, -EINVAL, "a channel is between dom0 and a "
                           "guest");

    CTX_LOCK(ctx);
    if (!ctx->hv->gnt_share || !ctx->hv->evtchn_open) {
        rc = XLITE_ERROR(ctx, -EOPNOTSUPP, "the %s hypervisor backend has no "
                         "channels", ctx->hv->name);
        goto out;
    }
    if ((rc = xlite__dom_info(ctx, domid, &info)) < 0)
        goto out;
    if (info.dying || info.shutdown) {
        rc = XLITE_ERROR(ctx, -ESRCH, "domain %u is %s", domid,
                         info.dying ? "dying" : "shut down");
        goto out;
    }
    for (GList *l = ctx->channels.head; l; l = l->next) {
        xlite_channel *other = l->data;

        if (other->domid == domid && other->state != XLITE_CHANNEL_CLOSED &&
            g_str_equal(other->name, cfg->name)) {
            rc = XLITE_ERROR(ctx, -EEXIST, "domain %u has a channel '%s' "
                             "already", domid, cfg->name);
            goto out;
        }
    }

    ch = g_new0(xlite_channel, 1);
    ch->domid = domid;
    ch->name = g_strdup(cfg->name);
    ch->kind = cfg->connection;
    ch->master = ch->slave = ch->listen_fd = ch->client = -1;
    xlite__ev_fd_init(&ch->ev_port);
    xlite__ev_fd_init(&ch->ev_data);
    xlite__ev_fd_init(&ch->ev_listen);
    xlite__ev_xswatch_init(&ch->w_state);
    xlite__ev_xswatch_init(&ch->w_release);
    xlite__openpty_init(&ch->pty);
    dbg = getenv("XLITE_DEBUG_CHANNEL_MAP_GUEST");
    ch->map_guest = dbg && g_str_equal(dbg, "1") && ctx->hv->gnt_map;
    if ((ch->devid = chan_pick_devid(ctx, domid, cfg->name)) < 0) {
        rc = XLITE_ERROR(ctx, -ENOSPC, "domain %u has 64 channels already",
                         domid);
        chan_free(ch);
        goto out;
    }
    ch->fe = g_strdup_printf("/local/domain/%u/device/channel/%d", domid,
                             ch->devid);
    ch->be = g_strdup_printf("/local/domain/0/backend/channel/%u/%d", domid,
                             ch->devid);
    ch->link.data = ch;
    g_queue_push_tail_link(&ctx->channels, &ch->link);

    ao = xlite__ao_create(ctx, how);
    ch->ao = ao;
    ch->chan_r = chan_r;
    if (ch->kind == XLITE_CHANNEL_SOCKET) {
        ch->path = g_strdup(cfg->path);
        rc = chan_listen(ctx, ch);
        chan_open_done(egc, ch, rc);
    } else {
        ch->pty.ao = ao;
        ch->pty.callback = chan_pty_cb;
        if ((rc = xlite__openpty_start(egc, &ch->pty)) < 0) {
            /* Nothing registered: fail as an initiator does. */
            g_queue_unlink(&ctx->channels, &ch->link);
            chan_free(ch);
            xlite__ao_create_fail(ao);
            goto out;
        }
    }
    rc = xlite__ao_inprogress(egc, ao);

 out:
    CTX_UNLOCK(ctx);
    EGC_FREE;
    return rc;
}

XLITE_EXPORT const char *
xlite_channel_path(const xlite_channel *chan)
{
    return chan ? chan->path : NULL;
}

XLITE_EXPORT void
xlite_channel_get_info(xlite_ctx *ctx, xlite_channel *chan,
                       xlite_channel_info *info_r)
{
    CTX_LOCK(ctx);
    memset(info_r, 0, sizeof(*info_r));
    info_r->state = chan->state;
    info_r->devid = chan->devid;
    info_r->to_guest = chan->to_guest;
    info_r->from_guest = chan->from_guest;
    g_strlcpy(info_r->why, chan->why, sizeof(info_r->why));
    CTX_UNLOCK(ctx);
}

XLITE_EXPORT void
xlite_channel_close(xlite_ctx *ctx, xlite_channel *chan)
{
    if (!chan)
        return;
    CTX_LOCK(ctx);
    if (chan->state != XLITE_CHANNEL_CLOSED) {
        g_autofree char *bstate = g_strdup_printf("%s/state", chan->be);
        struct xs_handle *xsh = xlite__xs(ctx);

        /* Tell a live guest, then take the nodes away all the same: its
         * mapping of our pages is its own business once the grant ends. */
        if (xsh)
            xs_write(xsh, XBT_NULL, bstate, "6", 1);
        chan->state = XLITE_CHANNEL_CLOSED;
    }
    chan_release(ctx, chan, true);
    g_queue_unlink(&ctx->channels, &chan->link);
    CTX_UNLOCK(ctx);
    chan_free(chan);
}
