/*
 * xs_conn.c: one client connection: framing, the output queue, and the
 * flow control that keeps a client from making us buffer without bound.
 *
 * Bounds, all per connection:
 *  - input: at most XSIM_IN_BUF bytes are buffered; a header announcing a
 *    payload over XENSTORE_PAYLOAD_MAX closes the connection, because the
 *    stream cannot be resynchronised after it.
 *  - replies: once a client has quota.outstanding unanswered requests
 *    (replies not yet written to its socket), we stop reading from it until
 *    it reads.  It can only slow itself down.
 *  - watch events: others' writes queue events for it that it does not ask
 *    for, so pausing input is no defence.  Past quota.watch_queue undelivered
 *    events the connection is closed, as the C xenstored does with a
 *    domain whose event queue overflows.
 *
 * Transports: a socket (dom0's clients, and the endpoints of domids the
 * hypervisor did not build), a ring (a built domain's kernel, xsim_ring.h:
 * "written" above means put in the ring), or memory (the fuzzer: output
 * discarded).  A ring is served from the server's doorbell
 * (xsim_server_ring_kick, xs_server.c), as a socket is from its fd source.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "xs_internal.h"
#include "xsim_fdsource.h"
#include "xsim_ring.h"

struct _XsimOutMsg {
    gsize len;
    bool event;
    guint8 data[];
};

static void xsim_conn_io(int fd, GIOCondition revents, gpointer opaque);

XsimConn *
xsim_conn_new(XsimServer *srv,
              int fd,
              uint32_t domid,
              XsimDomain *domain)
{
    XsimConn *conn = g_new0(XsimConn, 1);

    conn->srv = srv;
    conn->id = ++srv->next_conn_id;
    conn->fd = fd;
    conn->caller.domid = domid;
    conn->caller.privileged = (domain == NULL);
    conn->caller.target = domain ? domain->target : XSIM_DOMID_NONE;
    conn->domain = domain;
    g_queue_init(&conn->out);
    conn->txns = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                       (GDestroyNotify)xsim_txn_free);
    conn->watches = g_hash_table_new(g_direct_hash, g_direct_equal);
    if (fd >= 0)
        conn->source = xsim_fd_source_new(fd, G_IO_IN, xsim_conn_io, conn);
    g_hash_table_add(srv->conns, conn);
    if (domain)
        g_hash_table_add(domain->conns, conn);
    XSIM_DEBUG("conn %u: new, domain %u%s", conn->id, domid,
               domain ? "" : " (privileged)");
    return conn;
}

XsimConn *
xsim_conn_new_ring(XsimServer *srv,
                   XsimRing *ring,
                   uint32_t domid,
                   XsimDomain *domain)
{
    XsimConn *conn = xsim_conn_new(srv, -1, domid, domain);

    conn->ring = xsim_ring_ref(ring);
    /* Whatever the kernel wrote before INTRODUCE kicks us now. */
    xsim_ring_attach_back(ring, xsim_server_ring_kick, conn);
    return conn;
}

void
xsim_conn_free(XsimConn *conn)
{
    if (!conn)
        return;
    xsim_ring_unref(conn->ring);
    if (conn->source) {
        g_source_destroy(conn->source);
        g_source_unref(conn->source);
    }
    if (conn->fd >= 0)
        close(conn->fd);
    g_queue_clear_full(&conn->out, g_free);
    g_hash_table_unref(conn->txns);
    g_hash_table_unref(conn->watches);
    g_free(conn);
}

/* See the lifetime rule in xs_internal.h. */
void
xsim_conn_close(XsimConn *conn,
                const char *why)
{
    XsimServer *srv = conn->srv;

    if (conn->dead)
        return;
    g_message("conn %u (domain %u): closed: %s", conn->id,
              conn->caller.domid, why);
    conn->dead = true;
    if (conn->source)
        g_source_destroy(conn->source);
    if (conn->ring) {
        /* The kernel's requests fail from now on (EPIPE), as on a socket
         * closed under it. */
        xsim_ring_attach_back(conn->ring, NULL, NULL);
        xsim_ring_close(conn->ring);
    }
    /* Its watches go in xsim_server_idle(): we may be firing them now. */
    g_hash_table_remove_all(conn->txns);
    g_hash_table_remove(srv->conns, conn);
    if (conn->domain)
        g_hash_table_remove(conn->domain->conns, conn);
    g_ptr_array_add(srv->doomed, conn);
}

bool
xsim_conn_is_closed(XsimConn *conn)
{
    return conn->dead;
}

guint64
xsim_conn_output_bytes(XsimConn *conn)
{
    return conn->out_total;
}

static guint
xsim_conn_outstanding_max(XsimConn *conn)
{
    return conn->caller.privileged ? XSIM_PRIV_OUTSTANDING
                                   : conn->srv->quota.outstanding;
}

static bool
xsim_conn_throttled(XsimConn *conn)
{
    return conn->out_replies >= xsim_conn_outstanding_max(conn);
}

static void
xsim_conn_update_events(XsimConn *conn)
{
    GIOCondition events = 0;

    if (!conn->source || conn->dead)
        return;
    if (!xsim_conn_throttled(conn))
        events |= G_IO_IN;
    if (!g_queue_is_empty(&conn->out))
        events |= G_IO_OUT;
    xsim_fd_source_set_events(conn->source, events);
}

static void
xsim_conn_queue(XsimConn *conn,
                uint32_t type,
                uint32_t req_id,
                uint32_t tx_id,
                const void *payload,
                gsize len,
                bool event)
{
    XsimOutMsg *msg = g_malloc(sizeof(*msg) + sizeof(struct xsd_sockmsg) + len);
    struct xsd_sockmsg hdr = {
        .type = type, .req_id = req_id, .tx_id = tx_id, .len = len,
    };

    msg->len = sizeof(hdr) + len;
    msg->event = event;
    memcpy(msg->data, &hdr, sizeof(hdr));
    if (len)
        memcpy(msg->data + sizeof(hdr), payload, len);
    g_queue_push_tail(&conn->out, msg);
    if (event)
        conn->out_events++;
    else
        conn->out_replies++;
    if (!conn->flush_queued) {
        conn->flush_queued = true;
        g_ptr_array_add(conn->srv->to_flush, conn);
    }
}

void
xsim_conn_reply(XsimConn *conn,
                const struct xsd_sockmsg *req,
                uint32_t type,
                const void *payload,
                gsize len)
{
    if (len > XENSTORE_PAYLOAD_MAX) {
        xsim_conn_error(conn, req, E2BIG);
        return;
    }
    xsim_conn_queue(conn, type, req->req_id, req->tx_id, payload, len, false);
}

static const char *
xsim_errno_name(int err)
{
    guint i;

    for (i = 0; i < G_N_ELEMENTS(xsd_errors); i++) {
        if (xsd_errors[i].errnum == err)
            return xsd_errors[i].errstring;
    }
    /* Xen's table starts with EINVAL for the same reason: it is the fallback. */
    return "EINVAL";
}

void
xsim_conn_error(XsimConn *conn,
                const struct xsd_sockmsg *req,
                int err)
{
    const char *name = xsim_errno_name(err);

    xsim_conn_queue(conn, XS_ERROR, req->req_id, req->tx_id, name,
                    strlen(name) + 1, false);
}

void
xsim_conn_watch_event(XsimConn *conn,
                      const char *path,
                      const char *token)
{
    gsize plen = strlen(path) + 1;
    gsize tlen = strlen(token) + 1;
    g_autofree char *payload = NULL;

    if (conn->dead)
        return;
    if (plen + tlen > XENSTORE_PAYLOAD_MAX) {
        XSIM_DEBUG("conn %u: dropped oversized watch event", conn->id);
        return;
    }
    if (conn->out_events >= conn->srv->quota.watch_queue) {
        xsim_conn_close(conn, "watch event queue overflow (slow reader)");
        return;
    }
    payload = g_malloc(plen + tlen);
    memcpy(payload, path, plen);
    memcpy(payload + plen, token, tlen);
    xsim_conn_queue(conn, XS_WATCH_EVENT, 0, 0, payload, plen + tlen, true);
}

static void
xsim_conn_sent(XsimConn *conn,
               gsize n)
{
    while (n > 0) {
        XsimOutMsg *msg = g_queue_peek_head(&conn->out);
        gsize left = msg->len - conn->out_off;

        if (n < left) {
            conn->out_off += n;
            return;
        }
        n -= left;
        conn->out_off = 0;
        g_queue_pop_head(&conn->out);
        conn->out_total += msg->len;
        if (msg->event)
            conn->out_events--;
        else
            conn->out_replies--;
        g_free(msg);
    }
}

/*
 * Put in the ring what fits now; the rest waits for the kernel to read
 * (the ring kicks us then).
 */
static void
xsim_conn_flush_ring(XsimConn *conn,
                     bool was_throttled)
{
    while (!g_queue_is_empty(&conn->out)) {
        XsimOutMsg *msg = g_queue_peek_head(&conn->out);
        gsize left = msg->len - conn->out_off;
        gsize n = xsim_ring_back_write(conn->ring, msg->data + conn->out_off,
                                       left);

        if (n > 0)
            xsim_conn_sent(conn, n);
        if (n < left)
            break;
    }
    /* Room again for replies: serve what waits, in our buffer and the ring. */
    if (was_throttled && !xsim_conn_throttled(conn))
        xsim_conn_ring_input(conn);
}

/* Write what the socket takes now; the rest waits for G_IO_OUT. */
void
xsim_conn_flush(XsimConn *conn)
{
    bool was_throttled = xsim_conn_throttled(conn);

    conn->flush_queued = false;
    if (conn->dead)
        return;

    if (conn->ring) {
        xsim_conn_flush_ring(conn, was_throttled);
        return;
    }
    if (xsim_conn_is_memory(conn)) {
        /* In memory: the peer reads everything at once. */
        while (!g_queue_is_empty(&conn->out))
            xsim_conn_sent(conn, ((XsimOutMsg *)g_queue_peek_head(&conn->out))->len);
    }

    while (!g_queue_is_empty(&conn->out)) {
        struct iovec iov[64];
        struct msghdr mh = { .msg_iov = iov };
        GList *l;
        ssize_t r;
        int n = 0;

        for (l = conn->out.head; l && n < (int)G_N_ELEMENTS(iov); l = l->next) {
            XsimOutMsg *msg = l->data;
            gsize off = (n == 0) ? conn->out_off : 0;

            iov[n].iov_base = msg->data + off;
            iov[n].iov_len = msg->len - off;
            n++;
        }
        mh.msg_iovlen = n;
        r = sendmsg(conn->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            xsim_conn_close(conn, g_strerror(errno));
            return;
        }
        xsim_conn_sent(conn, r);
    }

    /* Room again for replies: serve what was left in the input buffer. */
    if (was_throttled && !xsim_conn_throttled(conn))
        xsim_conn_process_input(conn);
    xsim_conn_update_events(conn);
}

/* Handle every complete request in the input buffer, unless throttled. */
void
xsim_conn_process_input(XsimConn *conn)
{
    gsize off = 0;

    while (!conn->dead && !xsim_conn_throttled(conn)) {
        struct xsd_sockmsg hdr;

        if (conn->in_len - off < sizeof(hdr))
            break;
        memcpy(&hdr, conn->in + off, sizeof(hdr));
        if (hdr.len > XENSTORE_PAYLOAD_MAX) {
            xsim_conn_close(conn, "request payload over XENSTORE_PAYLOAD_MAX");
            return;
        }
        if (conn->in_len - off < sizeof(hdr) + hdr.len)
            break;
        xsim_server_dispatch(conn, &hdr,
                             (const char *)conn->in + off + sizeof(hdr));
        off += sizeof(hdr) + hdr.len;
    }
    if (conn->dead)
        return;
    if (off > 0) {
        memmove(conn->in, conn->in + off, conn->in_len - off);
        conn->in_len -= off;
    }
    /*
     * The poll events are left to the flush that follows whenever a reply
     * was queued: each change costs GLib a wakeup write and a loop turn.
     */
}

/*
 * One read from the ring, as one read from a socket per wakeup: a busy
 * kernel cannot starve the others.  If more waits, the connection is
 * kicked again, to be served at the doorbell's next turn.
 */
void
xsim_conn_ring_input(XsimConn *conn)
{
    gsize n = 0;

    if (conn->dead)
        return;
    xsim_conn_process_input(conn);
    if (conn->dead || xsim_conn_throttled(conn))
        return;
    if (conn->in_len < sizeof(conn->in))
        n = xsim_ring_back_read(conn->ring, conn->in + conn->in_len,
                                sizeof(conn->in) - conn->in_len);
    if (n > 0) {
        conn->in_len += n;
        xsim_conn_process_input(conn);
        if (!conn->dead && xsim_ring_back_pending(conn->ring) > 0)
            xsim_server_ring_kick(conn->ring, conn);
    } else if (xsim_ring_is_closed(conn->ring)) {
        xsim_conn_close(conn, "end of file");
    }
}

static void
xsim_conn_io(int fd,
             GIOCondition revents,
             gpointer opaque)
{
    XsimConn *conn = opaque;
    XsimServer *srv = conn->srv;

    if (revents & G_IO_OUT)
        xsim_conn_flush(conn);

    /* One read per wakeup, so a busy client cannot starve the others. */
    if (!conn->dead && (revents & (G_IO_IN | G_IO_HUP | G_IO_ERR))) {
        ssize_t r = 0;

        if (conn->in_len < sizeof(conn->in))
            r = read(fd, conn->in + conn->in_len, sizeof(conn->in) - conn->in_len);
        if (r == 0) {
            xsim_conn_close(conn, "end of file");
        } else if (r < 0 && errno != EAGAIN && errno != EINTR) {
            xsim_conn_close(conn, g_strerror(errno));
        } else if (r > 0) {
            conn->in_len += r;
            xsim_conn_process_input(conn);
        }
    }
    /* May free this connection: touch nothing of it afterwards. */
    xsim_server_idle(srv);
}

void
xsim_conn_feed(XsimConn *conn,
               const void *data,
               gsize len)
{
    const guint8 *p = data;
    XsimServer *srv = conn->srv;

    while (len > 0 && !conn->dead) {
        gsize n = MIN(len, sizeof(conn->in) - conn->in_len);

        memcpy(conn->in + conn->in_len, p, n);
        conn->in_len += n;
        p += n;
        len -= n;
        xsim_conn_process_input(conn);
        /* Memory connections drain at once, so this never stops early. */
        xsim_conn_flush(conn);
        if (n == 0)
            break;
    }
    xsim_server_idle(srv);
}
