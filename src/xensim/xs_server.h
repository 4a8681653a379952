/*
 * xs_server.h: the xenstore server of the simulated host.
 *
 * Single threaded, driven by the thread-default GLib main context: every
 * socket is non-blocking and served from xsim_fd_source callbacks, so the
 * hypervisor and guest simulation can later live in the same loop.
 */
#pragma once

#include <glib.h>

#include "xs_store.h"
#include "xsim_ring.h"

typedef struct _XsimServer XsimServer;
typedef struct _XsimConn XsimConn;

typedef struct {
    XsimStoreQuota store;
    guint watches;        /* watches per connection (128) */
    guint transactions;   /* open transactions per connection (10) */
    guint outstanding;    /* unanswered requests before input is paused (20) */
    guint watch_queue;    /* undelivered watch events before disconnect (1024) */
} XsimQuota;

void
xsim_quota_init_default(XsimQuota *quota);

/* Log every request (g_debug).  Off by default: formatting costs. */
void
xsim_server_set_debug(bool on);

/*
 * @rundir: where the sockets live (DIR/xenstored/...), or NULL for a server
 * without sockets that is driven through in-memory connections (fuzzing).
 */
XsimServer *
xsim_server_new(const XsimQuota *quota,
                const char *rundir);

void
xsim_server_free(XsimServer *srv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XsimServer, xsim_server_free);

/* Listen on DIR/xenstored/socket (mode 0600) for privileged clients. */
bool
xsim_server_listen(XsimServer *srv,
                   GError **error);

XsimStore *
xsim_server_get_store(XsimServer *srv);

/*
 * Introduce a domain as the INTRODUCE request does (for the future
 * hypervisor part and for tests).  Returns 0 or an errno value.
 */
int
xsim_server_introduce(XsimServer *srv,
                      uint32_t domid,
                      uint64_t mfn,
                      uint32_t port);

/*
 * The hypervisor built @domid, whose kernel reaches xenstore through
 * @ring (xsim_ring.h), as a real domain through its xenstore page and
 * event channel.  INTRODUCE of it then serves that ring (the mfn and port
 * are kept for the log): a built domain has no endpoint socket.  A domid
 * introduced without being built gets DIR/xenstored/domain/<domid>.sock
 * instead (xenstored tested alone, Xen's own tools run as a guest).
 * Forgotten at xsim_server_domain_destroyed().
 */
void
xsim_server_domain_built(XsimServer *srv,
                         uint32_t domid,
                         XsimRing *ring);

/*
 * The hypervisor reports that a domain shut down or died: fire
 * @releaseDomain so the toolstack looks, as C xenstored does on
 * VIRQ_DOM_EXC.  The domain stays introduced until RELEASE.
 */
void
xsim_server_domain_shutdown(XsimServer *srv,
                            uint32_t domid);

/*
 * The hypervisor reports that a domain died (destroyed): like C xenstored's
 * domain_cleanup() on VIRQ_DOM_EXC, forget it as if RELEASEd: close its
 * endpoint and every connection it has, and fire @releaseDomain (even if
 * it was never introduced: the toolstack may wait for it).  A later
 * RELEASE of it gets ENOENT, as in C xenstored.
 */
void
xsim_server_domain_destroyed(XsimServer *srv,
                             uint32_t domid);

/*
 * In-memory connection as @domid (0: privileged), whose replies are
 * discarded.  For the fuzzer: no sockets involved.
 */
XsimConn *
xsim_server_connect_memory(XsimServer *srv,
                           uint32_t domid);

/* Feed bytes as if read from the connection's socket, then run to idle. */
void
xsim_conn_feed(XsimConn *conn,
               const void *data,
               gsize len);

/* Bytes of output a memory connection has produced (and discarded). */
guint64
xsim_conn_output_bytes(XsimConn *conn);

bool
xsim_conn_is_closed(XsimConn *conn);
