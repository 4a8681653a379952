/*
 * xsim_xsc.c: see xsim_xsc.h.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <xen/io/xs_wire.h>

#include "xsim_ring.h"
#include "xsim_xsc.h"

/* A reply slower than this means xenstored is wedged: give up on it. */
#define XSIM_XSC_TIMEOUT_MS 30000

struct _XsimXsc {
    int fd;                 /* a socket, or -1 on a ring */
    XsimRing *ring;
    uint32_t next_req;
    GByteArray *in;
    GQueue events;          /* XsimXscEvent */
    bool broken;
    uint32_t tx;            /* the open transaction, 0 if none */
    XsimXscGate gate;       /* asked before each request is sent */
    gpointer gate_opaque;
};

typedef struct {
    char *path;
    char *token;
} XsimXscEvent;

static void
xsim_xsc_event_free(XsimXscEvent *ev)
{
    g_free(ev->path);
    g_free(ev->token);
    g_free(ev);
}

XsimXsc *
xsim_xsc_connect(const char *path,
                 int *err_r)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    XsimXsc *xsc;
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        *err_r = ENAMETOOLONG;
        return NULL;
    }
    strcpy(sun.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err_r = errno;
        return NULL;
    }
    /* A unix socket connects at once or fails: no EINPROGRESS dance. */
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        *err_r = errno;
        close(fd);
        return NULL;
    }
    xsc = g_new0(XsimXsc, 1);
    xsc->fd = fd;
    xsc->in = g_byte_array_new();
    g_queue_init(&xsc->events);
    return xsc;
}

XsimXsc *
xsim_xsc_new_ring(XsimRing *ring)
{
    XsimXsc *xsc = g_new0(XsimXsc, 1);

    xsc->fd = -1;
    xsc->ring = xsim_ring_ref(ring);
    xsc->in = g_byte_array_new();
    g_queue_init(&xsc->events);
    return xsc;
}

void
xsim_xsc_free(XsimXsc *xsc)
{
    if (!xsc)
        return;
    if (xsc->ring) {
        /* As a socket's close: xenstored sees the end of the stream. */
        xsim_ring_close(xsc->ring);
        xsim_ring_unref(xsc->ring);
    } else {
        close(xsc->fd);
    }
    g_byte_array_unref(xsc->in);
    g_queue_clear_full(&xsc->events, (GDestroyNotify)xsim_xsc_event_free);
    g_free(xsc);
}

int
xsim_xsc_fd(XsimXsc *xsc)
{
    return xsc->fd;
}

void
xsim_xsc_set_gate(XsimXsc *xsc,
                  XsimXscGate gate,
                  gpointer opaque)
{
    xsc->gate = gate;
    xsc->gate_opaque = opaque;
}

void
xsim_xsc_shutdown(XsimXsc *xsc)
{
    if (xsc->ring)
        xsim_ring_close(xsc->ring);
    else
        shutdown(xsc->fd, SHUT_RDWR);
}

static int
xsim_xsc_wait(XsimXsc *xsc,
              short events)
{
    struct pollfd pfd = { .fd = xsc->fd, .events = events };
    int r;

    if (xsc->ring) {
        int rc = xsim_ring_front_wait(xsc->ring, events == POLLOUT,
                                      XSIM_XSC_TIMEOUT_MS);

        if (rc)
            xsc->broken = true;
        return rc;
    }
    do {
        r = poll(&pfd, 1, XSIM_XSC_TIMEOUT_MS);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) {
        xsc->broken = true;
        return r == 0 ? ETIMEDOUT : errno;
    }
    return 0;
}

static int
xsim_xsc_send(XsimXsc *xsc,
              const void *data,
              gsize len)
{
    const char *p = data;

    while (xsc->ring && len > 0) {
        gsize n = xsim_ring_front_write(xsc->ring, p, len);
        int rc;

        p += n;
        len -= n;
        if (len > 0 && (rc = xsim_xsc_wait(xsc, POLLOUT)))
            return rc;
    }
    while (len > 0) {
        ssize_t n = send(xsc->fd, p, len, MSG_NOSIGNAL);

        if (n < 0) {
            int rc;

            if (errno == EINTR)
                continue;
            if (errno != EAGAIN) {
                xsc->broken = true;
                return EPIPE;
            }
            if ((rc = xsim_xsc_wait(xsc, POLLOUT)))
                return rc;
            continue;
        }
        p += n;
        len -= n;
    }
    return 0;
}

/* Read what is there; EAGAIN if nothing was, EPIPE on end of stream. */
static int
xsim_xsc_fill(XsimXsc *xsc)
{
    guint8 buf[8192];
    ssize_t n;

    if (xsc->ring) {
        gsize got = xsim_ring_front_read(xsc->ring, buf, sizeof(buf));

        if (got > 0) {
            g_byte_array_append(xsc->in, buf, got);
            return 0;
        }
        if (!xsim_ring_is_closed(xsc->ring))
            return EAGAIN;
        xsc->broken = true;
        return EPIPE;
    }
    do {
        n = recv(xsc->fd, buf, sizeof(buf), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return EAGAIN;
    if (n <= 0) {
        xsc->broken = true;
        return EPIPE;
    }
    g_byte_array_append(xsc->in, buf, n);
    return 0;
}

/*
 * Take one whole message off the input buffer.  Returns false if there is
 * none yet; a malformed one breaks the connection.
 */
static bool
xsim_xsc_take(XsimXsc *xsc,
              struct xsd_sockmsg *hdr_r,
              char **payload_r)
{
    struct xsd_sockmsg hdr;

    if (xsc->in->len < sizeof(hdr))
        return false;
    memcpy(&hdr, xsc->in->data, sizeof(hdr));
    if (hdr.len > XENSTORE_PAYLOAD_MAX) {
        xsc->broken = true;
        return false;
    }
    if (xsc->in->len < sizeof(hdr) + hdr.len)
        return false;
    *hdr_r = hdr;
    /* One more byte: payloads are strings more often than not. */
    *payload_r = g_malloc(hdr.len + 1);
    memcpy(*payload_r, xsc->in->data + sizeof(hdr), hdr.len);
    (*payload_r)[hdr.len] = '\0';
    g_byte_array_remove_range(xsc->in, 0, sizeof(hdr) + hdr.len);
    return true;
}

static void
xsim_xsc_queue_event(XsimXsc *xsc,
                     const char *payload,
                     uint32_t len)
{
    const char *token;
    XsimXscEvent *ev;
    gsize plen = strnlen(payload, len);

    if (plen + 1 >= len)
        return;     /* no token: not an event we asked for */
    token = payload + plen + 1;
    ev = g_new0(XsimXscEvent, 1);
    ev->path = g_strndup(payload, plen);
    ev->token = g_strndup(token, len - plen - 1);
    g_queue_push_tail(&xsc->events, ev);
}

static int
xsim_xsc_errno(const char *name)
{
    static const struct {
        const char *name;
        int err;
    } table[] = {
        { "ENOENT", ENOENT }, { "EACCES", EACCES }, { "EINVAL", EINVAL },
        { "EEXIST", EEXIST }, { "ENOSPC", ENOSPC }, { "E2BIG", E2BIG },
        { "EAGAIN", EAGAIN }, { "EPERM", EPERM }, { "ENOSYS", ENOSYS },
        { "EBUSY", EBUSY }, { "EISDIR", EISDIR }, { "EROFS", EROFS },
        { "ENOMEM", ENOMEM }, { "EIO", EIO },
    };

    for (guint i = 0; i < G_N_ELEMENTS(table); i++) {
        if (g_str_equal(name, table[i].name))
            return table[i].err;
    }
    return EIO;
}

/*
 * Queue the whole messages already read.  Outside a request only events
 * can come; this must run after every request too, since the read that
 * brought its reply may have brought events behind it, and the socket
 * will not signal those again.
 */
static void
xsim_xsc_queue_buffered(XsimXsc *xsc)
{
    struct xsd_sockmsg hdr;
    char *payload;

    while (xsim_xsc_take(xsc, &hdr, &payload)) {
        if (hdr.type == XS_WATCH_EVENT)
            xsim_xsc_queue_event(xsc, payload, hdr.len);
        g_free(payload);
    }
}

int
xsim_xsc_pump(XsimXsc *xsc)
{
    if (xsc->broken)
        return EPIPE;
    while (xsim_xsc_fill(xsc) == 0)
        ;
    xsim_xsc_queue_buffered(xsc);
    return xsc->broken ? EPIPE : 0;
}

/*
 * One request: @args are the strings of the payload, each sent with its
 * nul, except the last when @raw_last (a WRITE value).
 */
static int
xsim_xsc_request(XsimXsc *xsc,
                 uint32_t type,
                 const char *const *args,
                 const gsize *lens,
                 guint nargs,
                 bool raw_last,
                 char **reply_r,
                 gsize *reply_len_r)
{
    g_autoptr(GByteArray) msg = g_byte_array_new();
    struct xsd_sockmsg hdr = { .type = type, .tx_id = xsc->tx };
    int rc;

    if (xsc->broken || (xsc->gate && !xsc->gate(xsc->gate_opaque)))
        return EPIPE;
    hdr.req_id = ++xsc->next_req;
    g_byte_array_append(msg, (guint8 *)&hdr, sizeof(hdr));
    for (guint i = 0; i < nargs; i++) {
        g_byte_array_append(msg, (const guint8 *)args[i], lens[i]);
        if (!(raw_last && i == nargs - 1))
            g_byte_array_append(msg, (const guint8 *)"", 1);
    }
    if (msg->len - sizeof(hdr) > XENSTORE_PAYLOAD_MAX)
        return E2BIG;
    ((struct xsd_sockmsg *)msg->data)->len = msg->len - sizeof(hdr);
    if ((rc = xsim_xsc_send(xsc, msg->data, msg->len)))
        return rc;

    for (;;) {
        char *payload;

        while (!xsim_xsc_take(xsc, &hdr, &payload)) {
            if (xsc->broken)
                return EPIPE;
            rc = xsim_xsc_fill(xsc);
            if (rc == EAGAIN)
                rc = xsim_xsc_wait(xsc, POLLIN);
            if (rc)
                return EPIPE;
        }
        if (hdr.type == XS_WATCH_EVENT) {
            xsim_xsc_queue_event(xsc, payload, hdr.len);
            g_free(payload);
            continue;
        }
        if (hdr.req_id != xsc->next_req) {
            /* Not ours: the stream is out of step, which cannot be fixed. */
            g_free(payload);
            xsc->broken = true;
            return EPIPE;
        }
        if (hdr.type == XS_ERROR) {
            rc = xsim_xsc_errno(payload);
            g_free(payload);
            xsim_xsc_queue_buffered(xsc);
            return rc;
        }
        if (reply_r) {
            *reply_r = payload;
            if (reply_len_r)
                *reply_len_r = hdr.len;
        } else {
            g_free(payload);
        }
        xsim_xsc_queue_buffered(xsc);
        return 0;
    }
}

static int
xsim_xsc_path_op(XsimXsc *xsc,
                 uint32_t type,
                 const char *path,
                 char **reply_r,
                 gsize *len_r)
{
    const char *args[] = { path };
    gsize lens[] = { strlen(path) };

    return xsim_xsc_request(xsc, type, args, lens, 1, false, reply_r, len_r);
}

int
xsim_xsc_read(XsimXsc *xsc,
              const char *path,
              char **value_r)
{
    return xsim_xsc_path_op(xsc, XS_READ, path, value_r, NULL);
}

int
xsim_xsc_write(XsimXsc *xsc,
               const char *path,
               const char *value,
               gsize len)
{
    const char *args[] = { path, value };
    gsize lens[] = { strlen(path), len };

    return xsim_xsc_request(xsc, XS_WRITE, args, lens, 2, true, NULL, NULL);
}

int
xsim_xsc_write_str(XsimXsc *xsc,
                   const char *path,
                   const char *value)
{
    return xsim_xsc_write(xsc, path, value, strlen(value));
}

int
xsim_xsc_printf(XsimXsc *xsc,
                const char *path,
                const char *fmt,
                ...)
{
    g_autofree char *value = NULL;
    va_list ap;

    va_start(ap, fmt);
    value = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return xsim_xsc_write_str(xsc, path, value);
}

int
xsim_xsc_transaction_start(XsimXsc *xsc)
{
    g_autofree char *reply = NULL;
    guint64 id;
    int rc;

    g_return_val_if_fail(xsc->tx == 0, EBUSY);
    if ((rc = xsim_xsc_path_op(xsc, XS_TRANSACTION_START, "", &reply, NULL)))
        return rc;
    if (!g_ascii_string_to_unsigned(reply, 10, 1, G_MAXUINT32, &id, NULL))
        return EIO;
    xsc->tx = id;
    return 0;
}

int
xsim_xsc_transaction_end(XsimXsc *xsc,
                         bool commit)
{
    int rc;

    g_return_val_if_fail(xsc->tx != 0, EINVAL);
    rc = xsim_xsc_path_op(xsc, XS_TRANSACTION_END, commit ? "T" : "F",
                          NULL, NULL);
    xsc->tx = 0;
    return rc;
}

int
xsim_xsc_mkdir(XsimXsc *xsc,
               const char *path)
{
    return xsim_xsc_path_op(xsc, XS_MKDIR, path, NULL, NULL);
}

int
xsim_xsc_rm(XsimXsc *xsc,
            const char *path)
{
    return xsim_xsc_path_op(xsc, XS_RM, path, NULL, NULL);
}

int
xsim_xsc_directory(XsimXsc *xsc,
                   const char *path,
                   GStrv *children_r)
{
    g_autofree char *reply = NULL;
    g_autoptr(GPtrArray) children = g_ptr_array_new();
    gsize len = 0;
    int rc;

    if ((rc = xsim_xsc_path_op(xsc, XS_DIRECTORY, path, &reply, &len)))
        return rc;
    for (gsize off = 0; off < len; ) {
        gsize n = strnlen(reply + off, len - off);

        if (n > 0)
            g_ptr_array_add(children, g_strndup(reply + off, n));
        off += n + 1;
    }
    g_ptr_array_add(children, NULL);
    *children_r = (GStrv)g_ptr_array_free(g_steal_pointer(&children), FALSE);
    return 0;
}

int
xsim_xsc_set_perms(XsimXsc *xsc,
                   const char *path,
                   const char *const *perms)
{
    guint n = g_strv_length((GStrv)perms);
    g_autofree const char **args = g_new0(const char *, n + 1);
    g_autofree gsize *lens = g_new0(gsize, n + 1);

    args[0] = path;
    lens[0] = strlen(path);
    for (guint i = 0; i < n; i++) {
        args[i + 1] = perms[i];
        lens[i + 1] = strlen(perms[i]);
    }
    return xsim_xsc_request(xsc, XS_SET_PERMS, args, lens, n + 1, false,
                            NULL, NULL);
}

int
xsim_xsc_introduce(XsimXsc *xsc,
                   guint32 domid,
                   guint64 mfn,
                   guint32 port)
{
    g_autofree char *d = g_strdup_printf("%u", domid);
    g_autofree char *m = g_strdup_printf("%" G_GUINT64_FORMAT, mfn);
    g_autofree char *p = g_strdup_printf("%u", port);
    const char *args[] = { d, m, p };
    gsize lens[] = { strlen(d), strlen(m), strlen(p) };

    return xsim_xsc_request(xsc, XS_INTRODUCE, args, lens, 3, false, NULL, NULL);
}

int
xsim_xsc_watch(XsimXsc *xsc,
               const char *path,
               const char *token)
{
    const char *args[] = { path, token };
    gsize lens[] = { strlen(path), strlen(token) };

    return xsim_xsc_request(xsc, XS_WATCH, args, lens, 2, false, NULL, NULL);
}

int
xsim_xsc_unwatch(XsimXsc *xsc,
                 const char *path,
                 const char *token)
{
    const char *args[] = { path, token };
    gsize lens[] = { strlen(path), strlen(token) };

    return xsim_xsc_request(xsc, XS_UNWATCH, args, lens, 2, false, NULL, NULL);
}

bool
xsim_xsc_next_event(XsimXsc *xsc,
                    char **path_r,
                    char **token_r)
{
    XsimXscEvent *ev = g_queue_pop_head(&xsc->events);

    if (!ev)
        return false;
    *path_r = g_steal_pointer(&ev->path);
    *token_r = g_steal_pointer(&ev->token);
    xsim_xsc_event_free(ev);
    return true;
}
