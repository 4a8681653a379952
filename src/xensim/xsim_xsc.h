/*
 * xsim_xsc.h: a small blocking xenstore client for the simulated guests
 * and backends.
 *
 * Why not libxenstore: its socket path comes from the process-wide
 * XENSTORED_PATH environment variable, read at xs_open(), while each guest
 * kernel must reach xenstored through its own domain's ring; and its
 * reader thread per handle would double our threads per guest.  This
 * client is just the wire format (xen/io/xs_wire.h) over a unix socket
 * (dom0's backends) or a domain's xenstore ring (a guest's kernel,
 * xsim_ring.h): requests block until their reply (watch events that
 * arrive meanwhile are queued), and the owner polls xsim_xsc_fd(), or
 * attaches the ring's front kick, to learn of new events.
 *
 * Not thread safe: one owner thread per client.  Errors are errno values;
 * EPIPE means the connection is gone (the domain died, the daemon stops).
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef struct _XsimXsc XsimXsc;

#include "xsim_ring.h"

XsimXsc *
xsim_xsc_connect(const char *path,
                 int *err_r);

/* On the front of @ring (a ref is taken; freeing the client closes it). */
XsimXsc *
xsim_xsc_new_ring(XsimRing *ring);

void
xsim_xsc_free(XsimXsc *xsc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XsimXsc, xsim_xsc_free);

/* The socket, or -1 on a ring. */
int
xsim_xsc_fd(XsimXsc *xsc);

/*
 * @gate is called (in the owner's thread) before each request goes out;
 * it may block, and a false return fails the request with EPIPE.  The
 * simulated guest's gate holds a paused vCPU's requests: a request the
 * guest sent before its pause is answered, none after.
 */
typedef bool (*XsimXscGate)(gpointer opaque);

void
xsim_xsc_set_gate(XsimXsc *xsc,
                  XsimXscGate gate,
                  gpointer opaque);

/* Make every blocked or later request fail with EPIPE (any thread). */
void
xsim_xsc_shutdown(XsimXsc *xsc);

int
xsim_xsc_read(XsimXsc *xsc,
              const char *path,
              char **value_r);

int
xsim_xsc_write(XsimXsc *xsc,
               const char *path,
               const char *value,
               gsize len);

/* xsim_xsc_write of a nul-terminated string. */
int
xsim_xsc_write_str(XsimXsc *xsc,
                   const char *path,
                   const char *value);

int
xsim_xsc_printf(XsimXsc *xsc,
                const char *path,
                const char *fmt,
                ...) G_GNUC_PRINTF(3, 4);

/*
 * A transaction: every request between start and end is in it.  One at a
 * time per connection.  end() with @commit fails with EAGAIN when another
 * connection changed what it read; the caller starts again.
 */
int
xsim_xsc_transaction_start(XsimXsc *xsc);

int
xsim_xsc_transaction_end(XsimXsc *xsc,
                         bool commit);

int
xsim_xsc_mkdir(XsimXsc *xsc,
               const char *path);

int
xsim_xsc_rm(XsimXsc *xsc,
            const char *path);

int
xsim_xsc_directory(XsimXsc *xsc,
                   const char *path,
                   GStrv *children_r);

/* @perms: NULL-terminated, "n0", "r5", ... (owner first). */
int
xsim_xsc_set_perms(XsimXsc *xsc,
                   const char *path,
                   const char *const *perms);

/* Privileged: what the toolstack sends once a domain is built. */
int
xsim_xsc_introduce(XsimXsc *xsc,
                   guint32 domid,
                   guint64 mfn,
                   guint32 port);

int
xsim_xsc_watch(XsimXsc *xsc,
               const char *path,
               const char *token);

int
xsim_xsc_unwatch(XsimXsc *xsc,
                 const char *path,
                 const char *token);

/*
 * Read what the socket has (without blocking) and queue the events in it.
 * 0, or EPIPE once the connection is gone.
 */
int
xsim_xsc_pump(XsimXsc *xsc);

/* The oldest queued watch event; false if none. */
bool
xsim_xsc_next_event(XsimXsc *xsc,
                    char **path_r,
                    char **token_r);
