/*
 * xsim_consring.h: a PV console ring, the page a guest's hvc0 shares with
 * xenconsoled (xen/io/console.h's xencons_interface) and the event
 * channel each side kicks after writing to it.
 *
 * Output (guest to xenconsoled) and input (xenconsoled to guest) are two
 * bounded byte queues in memory: like the ring page, a write takes what
 * fits and the rest is lost, never waited for.  A kick is a function
 * call, not an fd: the ring costs xensimd no file descriptor, where a
 * socketpair cost two, whoever held them (issue 18: thousands of guests
 * under a hard limit of open files).
 *
 * Threads: the guest's kernel thread is one side, the backends' thread the
 * other; each side's calls come from its own thread, and the ring's lock
 * makes them safe together.  A kick runs in the writer's thread with the
 * ring's lock held: it only queues work for the other thread and wakes it
 * (it must not call back into the ring).
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef struct _XsimConsRing XsimConsRing;

/* Each side's kick; see above for what it may do. */
typedef void (*XsimConsKick)(XsimConsRing *ring, gpointer opaque);

XsimConsRing *
xsim_cons_ring_new(void);

XsimConsRing *
xsim_cons_ring_ref(XsimConsRing *ring);

/* Accepts NULL. */
void
xsim_cons_ring_unref(XsimConsRing *ring);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XsimConsRing, xsim_cons_ring_unref);

/*
 * A side attaches its kick (and detaches it, with NULL) from its own
 * thread; after detach returns the kick is never called again.  A side
 * that attaches is kicked at once if there is something for it to read.
 */
void
xsim_cons_ring_attach_guest(XsimConsRing *ring,
                            XsimConsKick kick,
                            gpointer opaque);

void
xsim_cons_ring_attach_back(XsimConsRing *ring,
                           XsimConsKick kick,
                           gpointer opaque);

/* The backend's opaque while attached, else NULL (the backend's thread). */
gpointer
xsim_cons_ring_back(XsimConsRing *ring);

/*
 * Write what fits (the rest is dropped) and kick the other side if the
 * queue was empty; read up to @len bytes.  Both return the byte count.
 */
gsize
xsim_cons_ring_guest_write(XsimConsRing *ring,
                           const char *data,
                           gsize len);

gsize
xsim_cons_ring_guest_read(XsimConsRing *ring,
                          char *buf,
                          gsize len);

gsize
xsim_cons_ring_back_write(XsimConsRing *ring,
                          const char *data,
                          gsize len);

gsize
xsim_cons_ring_back_read(XsimConsRing *ring,
                         char *buf,
                         gsize len);
