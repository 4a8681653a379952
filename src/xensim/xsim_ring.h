/*
 * xsim_ring.h: a shared ring and its event channel, between a guest and a
 * dom0 service: the xenstore ring a guest's xenbus shares with xenstored
 * (xen/io/xs_wire.h's xenstore_domain_interface), the console ring its
 * hvc0 shares with xenconsoled (xen/io/console.h's xencons_interface).
 *
 * The page is two bounded byte queues in memory, one each way: the
 * "front" (the guest) writes requests or output, the "back" (the service)
 * reads them, and the other way round.  A write takes what fits.  The
 * event channel is a kick, a function call: each side attaches one, and
 * it is called when the other side wrote into an empty queue, read from a
 * queue this side found full, or closed the ring.  No file descriptor: a
 * ring costs xensimd none, where a socketpair cost two, whoever held them
 * (issue 18: thousands of guests under a hard limit of open files).
 *
 * Threads: each side calls from its own thread (a guest's kernel; the main
 * thread for xenstored, the backends' thread for xenconsoled), and the
 * ring's lock makes them safe together.  A kick runs in the caller's
 * thread with the ring's lock held: it only queues work for its side's
 * thread and wakes it, and must not call into the ring.  A side that never
 * attached is kicked by nobody; one that attaches is kicked at once if
 * there is something for it to read.
 *
 * A closed ring (either side, or its owner, the hypervisor, when the
 * domain dies) stays closed: reads return what was left and then 0, writes
 * take nothing, and a front waiting in xsim_ring_front_wait() returns
 * EPIPE.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef struct _XsimRing XsimRing;

typedef void (*XsimRingKick)(XsimRing *ring, gpointer opaque);

/*
 * @front_max: the bytes the front may have written that the back has not
 * read; @back_max: the other way.
 */
XsimRing *
xsim_ring_new(gsize front_max,
              gsize back_max);

XsimRing *
xsim_ring_ref(XsimRing *ring);

/* Accepts NULL. */
void
xsim_ring_unref(XsimRing *ring);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XsimRing, xsim_ring_unref);

/* With @kick NULL: detach; the kick is never called again once it returns. */
void
xsim_ring_attach_front(XsimRing *ring,
                       XsimRingKick kick,
                       gpointer opaque);

void
xsim_ring_attach_back(XsimRing *ring,
                      XsimRingKick kick,
                      gpointer opaque);

/* The back's opaque while it is attached, else NULL. */
gpointer
xsim_ring_back(XsimRing *ring);

gsize
xsim_ring_front_write(XsimRing *ring,
                      const void *data,
                      gsize len);

gsize
xsim_ring_front_read(XsimRing *ring,
                     void *buf,
                     gsize len);

gsize
xsim_ring_back_write(XsimRing *ring,
                     const void *data,
                     gsize len);

gsize
xsim_ring_back_read(XsimRing *ring,
                    void *buf,
                    gsize len);

/* Bytes waiting for the back to read. */
gsize
xsim_ring_back_pending(XsimRing *ring);

void
xsim_ring_close(XsimRing *ring);

bool
xsim_ring_is_closed(XsimRing *ring);

/*
 * For a front that blocks (the guest's xenstore client): wait until there
 * is something to read (@room false) or room to write (@room true), at
 * most @timeout_ms.  0, ETIMEDOUT, or EPIPE once closed (with nothing left
 * to read, when waiting to read).
 */
int
xsim_ring_front_wait(XsimRing *ring,
                     bool room,
                     gint64 timeout_ms);
