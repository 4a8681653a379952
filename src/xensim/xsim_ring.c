/*
 * xsim_ring.c: see xsim_ring.h.
 */
#include <errno.h>
#include <string.h>

#include "xsim_ring.h"

typedef struct {
    GByteArray *queue;      /* what this side wrote, not yet read */
    gsize max;
    bool full;              /* a write found it full: kick when read */
    XsimRingKick kick;
    gpointer opaque;
} XsimRingSide;

struct _XsimRing {
    gint refs;
    GMutex lock;
    GCond cond;             /* for xsim_ring_front_wait() */
    bool closed;
    XsimRingSide front;
    XsimRingSide back;
};

XsimRing *
xsim_ring_new(gsize front_max,
              gsize back_max)
{
    XsimRing *ring = g_new0(XsimRing, 1);

    ring->refs = 1;
    g_mutex_init(&ring->lock);
    g_cond_init(&ring->cond);
    ring->front.queue = g_byte_array_new();
    ring->front.max = front_max;
    ring->back.queue = g_byte_array_new();
    ring->back.max = back_max;
    return ring;
}

XsimRing *
xsim_ring_ref(XsimRing *ring)
{
    g_atomic_int_inc(&ring->refs);
    return ring;
}

void
xsim_ring_unref(XsimRing *ring)
{
    if (!ring || !g_atomic_int_dec_and_test(&ring->refs))
        return;
    g_byte_array_unref(ring->front.queue);
    g_byte_array_unref(ring->back.queue);
    g_cond_clear(&ring->cond);
    g_mutex_clear(&ring->lock);
    g_free(ring);
}

static void
xsim_ring_kick(XsimRing *ring,
               XsimRingSide *side)
{
    if (side->kick)
        side->kick(ring, side->opaque);
}

/* @side attaches; @other is the side that writes what it reads. */
static void
xsim_ring_attach(XsimRing *ring,
                 XsimRingSide *side,
                 XsimRingSide *other,
                 XsimRingKick kick,
                 gpointer opaque)
{
    g_mutex_lock(&ring->lock);
    side->kick = kick;
    side->opaque = opaque;
    if (other->queue->len > 0 || ring->closed)
        xsim_ring_kick(ring, side);
    g_mutex_unlock(&ring->lock);
}

void
xsim_ring_attach_front(XsimRing *ring,
                       XsimRingKick kick,
                       gpointer opaque)
{
    xsim_ring_attach(ring, &ring->front, &ring->back, kick, opaque);
}

void
xsim_ring_attach_back(XsimRing *ring,
                      XsimRingKick kick,
                      gpointer opaque)
{
    xsim_ring_attach(ring, &ring->back, &ring->front, kick, opaque);
}

gpointer
xsim_ring_back(XsimRing *ring)
{
    gpointer opaque;

    g_mutex_lock(&ring->lock);
    opaque = ring->back.kick ? ring->back.opaque : NULL;
    g_mutex_unlock(&ring->lock);
    return opaque;
}

/* @writer's queue, read by @reader. */
static gsize
xsim_ring_write(XsimRing *ring,
                XsimRingSide *writer,
                XsimRingSide *reader,
                const void *data,
                gsize len)
{
    gsize n = 0;

    g_mutex_lock(&ring->lock);
    if (!ring->closed) {
        bool was_empty = writer->queue->len == 0;

        n = MIN(len, writer->max - writer->queue->len);
        if (n > 0) {
            g_byte_array_append(writer->queue, data, n);
            g_cond_broadcast(&ring->cond);
            /* As an event channel: one kick until the reader caught up. */
            if (was_empty)
                xsim_ring_kick(ring, reader);
        }
        if (n < len)
            writer->full = true;
    }
    g_mutex_unlock(&ring->lock);
    return n;
}

static gsize
xsim_ring_read(XsimRing *ring,
               XsimRingSide *writer,
               void *buf,
               gsize len)
{
    gsize n;

    g_mutex_lock(&ring->lock);
    n = MIN(len, writer->queue->len);
    if (n > 0) {
        memcpy(buf, writer->queue->data, n);
        g_byte_array_remove_range(writer->queue, 0, n);
        g_cond_broadcast(&ring->cond);
        /* Room again for a writer that found the queue full. */
        if (writer->full) {
            writer->full = false;
            xsim_ring_kick(ring, writer);
        }
    }
    g_mutex_unlock(&ring->lock);
    return n;
}

gsize
xsim_ring_front_write(XsimRing *ring,
                      const void *data,
                      gsize len)
{
    return xsim_ring_write(ring, &ring->front, &ring->back, data, len);
}

gsize
xsim_ring_front_read(XsimRing *ring,
                     void *buf,
                     gsize len)
{
    return xsim_ring_read(ring, &ring->back, buf, len);
}

gsize
xsim_ring_back_write(XsimRing *ring,
                     const void *data,
                     gsize len)
{
    return xsim_ring_write(ring, &ring->back, &ring->front, data, len);
}

gsize
xsim_ring_back_read(XsimRing *ring,
                    void *buf,
                    gsize len)
{
    return xsim_ring_read(ring, &ring->front, buf, len);
}

gsize
xsim_ring_back_pending(XsimRing *ring)
{
    gsize n;

    g_mutex_lock(&ring->lock);
    n = ring->front.queue->len;
    g_mutex_unlock(&ring->lock);
    return n;
}

void
xsim_ring_close(XsimRing *ring)
{
    g_mutex_lock(&ring->lock);
    if (!ring->closed) {
        ring->closed = true;
        g_cond_broadcast(&ring->cond);
        xsim_ring_kick(ring, &ring->front);
        xsim_ring_kick(ring, &ring->back);
    }
    g_mutex_unlock(&ring->lock);
}

bool
xsim_ring_is_closed(XsimRing *ring)
{
    bool closed;

    g_mutex_lock(&ring->lock);
    closed = ring->closed;
    g_mutex_unlock(&ring->lock);
    return closed;
}

int
xsim_ring_front_wait(XsimRing *ring,
                     bool room,
                     gint64 timeout_ms)
{
    gint64 end = g_get_monotonic_time() + timeout_ms * G_TIME_SPAN_MILLISECOND;
    int rc = 0;

    g_mutex_lock(&ring->lock);
    for (;;) {
        if (room ? ring->front.queue->len < ring->front.max
                 : ring->back.queue->len > 0)
            break;
        if (ring->closed) {
            rc = EPIPE;
            break;
        }
        if (!g_cond_wait_until(&ring->cond, &ring->lock, end)) {
            rc = ETIMEDOUT;
            break;
        }
    }
    if (room && ring->closed)
        rc = EPIPE;
    g_mutex_unlock(&ring->lock);
    return rc;
}
