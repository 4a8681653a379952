/*
 * xs_internal.h: the structures shared by the xenstore server's files.
 *
 * Lifetime rule: a connection is never freed while a request or an event
 * is being handled.  Closing one (xsim_conn_close) only marks it dead and
 * puts it on the server's doomed list; xsim_server_idle(), called at the
 * end of every top-level callback, flushes output and frees the dead.
 * Code that loops over connections or watches can therefore close any
 * connection, including the one it is serving.
 *
 * Locking: none.  Everything here is touched only from the thread that
 * runs the main context (DESIGN.md: the simulated host is one event loop).
 */
#pragma once

/* xs_wire.h needs these first; errno.h also enables its error table. */
#include <errno.h>
#include <stdint.h>
#include <xen/io/xs_wire.h>

#include "xs_server.h"
#include "xsim_ring.h"

typedef struct _XsimDomain XsimDomain;

/* g_debug formats its message even when nobody wants it: test first. */
extern bool xsim_debug_enabled;
#define XSIM_DEBUG(...) \
    do { \
        if (G_UNLIKELY(xsim_debug_enabled)) \
            g_debug(__VA_ARGS__); \
    } while (0)

typedef struct _XsimWatchNode XsimWatchNode;

typedef struct {
    char *path;           /* absolute, or a special "@..." name */
    char *token;
    gsize strip;          /* registered relative: strip this prefix from events */
    XsimConn *conn;
    guint64 seq;          /* registration order, the order events go in */
    XsimWatchNode *node;  /* where it is in the index */
} XsimWatch;

/*
 * The watch index: a tree of path components with the watches on each
 * path, so that a change finds its watches in as many steps as its path
 * has components (and a removal those below it in as many as there are),
 * however many watches the host's connections hold.
 */
struct _XsimWatchNode {
    XsimWatchNode *parent;  /* NULL for the root and the special names */
    char *name;             /* the component (the whole "@..." name) */
    GHashTable *children;   /* name -> XsimWatchNode, NULL: none */
    GPtrArray *watches;     /* XsimWatch on exactly this path, NULL: none */
};

typedef struct _XsimOutMsg XsimOutMsg;

/* Input buffer: room for two maximal messages, so one always fits. */
#define XSIM_IN_BUF (2 * (sizeof(struct xsd_sockmsg) + XENSTORE_PAYLOAD_MAX))

/*
 * Connections one domain may hold open at once: a real guest has one ring;
 * the simulated one may use a few sockets, a hostile one not thousands.
 */
#define XSIM_DOMAIN_CONNS_MAX 16

/* Requests a privileged client may have unanswered before we stop reading. */
#define XSIM_PRIV_OUTSTANDING 1024

struct _XsimConn {
    XsimServer *srv;
    guint id;               /* for the log */
    int fd;                 /* a socket, or -1 */
    XsimRing *ring;         /* a built domain's ring (fd -1), or NULL;
                             * neither: in memory, output discarded */
    GSource *source;
    XsimCaller caller;
    XsimDomain *domain;     /* NULL for the privileged socket */

    guint8 in[XSIM_IN_BUF];
    gsize in_len;

    GQueue out;             /* XsimOutMsg */
    gsize out_off;          /* bytes of the head already sent */
    guint out_replies;
    guint out_events;
    guint64 out_total;
    bool flush_queued;

    GHashTable *txns;       /* tx id -> XsimTxn */
    uint32_t next_txid;
    guint nwatches;
    GHashTable *watches;    /* XsimWatch set: this connection's */

    bool dead;
};

struct _XsimDomain {
    uint32_t domid;
    uint64_t mfn;
    uint32_t port;
    uint32_t target;        /* SET_TARGET, or XSIM_DOMID_NONE */
    bool shutdown;
    char *sock_path;        /* DIR/xenstored/domain/<domid>.sock, or NULL
                             * (a built domain: its ring, no endpoint) */
    GHashTable *conns;      /* XsimConn set: its live connections */
    int listen_fd;
    GSource *listen_source;
    XsimServer *srv;
};

struct _XsimServer {
    XsimQuota quota;
    char *rundir;
    XsimStore *store;

    char *sock_path;
    int listen_fd;
    GSource *listen_source;

    GHashTable *conns;      /* XsimConn set: live connections */
    GPtrArray *doomed;      /* closed, freed by xsim_server_idle() */
    GPtrArray *to_flush;    /* connections with queued output */
    XsimWatchNode *watch_root;      /* the index of "/..." watches */
    GHashTable *watch_specials;     /* "@..." -> XsimWatchNode */
    guint64 watch_seq;
    GHashTable *domains;    /* domid -> XsimDomain */
    GHashTable *built;      /* domid -> XsimRing (a ref): the domains the
                             * hypervisor built and has not destroyed */

    /* Rings kicked by their kernels' threads: the doorbell. */
    GMainContext *ctx;      /* ours, the thread-default at creation */
    GSource *doorbell;
    GMutex kicked_lock;
    GPtrArray *kicked;      /* XsimRing refs, under kicked_lock */
    guint next_conn_id;
};

/* xs_conn.c */
XsimConn *
xsim_conn_new(XsimServer *srv,
              int fd,
              uint32_t domid,
              XsimDomain *domain);

/* A connection on a built domain's ring (xsim_server_domain_built). */
XsimConn *
xsim_conn_new_ring(XsimServer *srv,
                   XsimRing *ring,
                   uint32_t domid,
                   XsimDomain *domain);

static inline bool
xsim_conn_is_memory(const XsimConn *conn)
{
    return conn->fd < 0 && !conn->ring;
}

/* The ring kicked us: serve it (one read, as a socket's wakeup). */
void
xsim_conn_ring_input(XsimConn *conn);

void
xsim_conn_free(XsimConn *conn);

void
xsim_conn_close(XsimConn *conn,
                const char *why);

void
xsim_conn_reply(XsimConn *conn,
                const struct xsd_sockmsg *req,
                uint32_t type,
                const void *payload,
                gsize len);

void
xsim_conn_error(XsimConn *conn,
                const struct xsd_sockmsg *req,
                int err);

void
xsim_conn_watch_event(XsimConn *conn,
                      const char *path,
                      const char *token);

void
xsim_conn_flush(XsimConn *conn);

void
xsim_conn_process_input(XsimConn *conn);

/* xs_server.c */

/*
 * A ring's kick, attached with its connection as the opaque: any thread,
 * the ring locked.  The doorbell serves the connection in the main loop.
 */
void
xsim_server_ring_kick(XsimRing *ring,
                      gpointer opaque);

void
xsim_server_dispatch(XsimConn *conn,
                     const struct xsd_sockmsg *hdr,
                     const char *payload);

void
xsim_server_idle(XsimServer *srv);

/* xs_watch.c */
void
xsim_watch_index_init(XsimServer *srv);

void
xsim_watch_index_free(XsimServer *srv);

void
xsim_watch_free(XsimWatch *watch);

int
xsim_watch_add(XsimConn *conn,
               const char *path,
               const char *token,
               gsize strip);

int
xsim_watch_remove(XsimConn *conn,
                  const char *path,
                  const char *token);

void
xsim_watch_remove_all(XsimConn *conn);

void
xsim_watch_fire(XsimServer *srv,
                const XsimChange *change);

void
xsim_watch_fire_changes(XsimServer *srv,
                        GPtrArray *changes);

void
xsim_watch_fire_special(XsimServer *srv,
                        const char *name);

/* xs_domain.c */
int
xsim_listen_unix(const char *path,
                 GError **error);

XsimDomain *
xsim_domain_lookup(XsimServer *srv,
                   uint32_t domid);

int
xsim_domain_introduce(XsimServer *srv,
                      uint32_t domid,
                      uint64_t mfn,
                      uint32_t port);

int
xsim_domain_release(XsimServer *srv,
                    uint32_t domid);

int
xsim_domain_set_target(XsimServer *srv,
                       uint32_t domid,
                       uint32_t target);

void
xsim_domain_free(XsimDomain *dom);
