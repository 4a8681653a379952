/*
 * xsim_consring.c: see xsim_consring.h.
 */
#include <string.h>

#include "xsim_consring.h"

/*
 * Xen's page holds 2 KiB of output and 1 KiB of input; ours hold more, so
 * that what a guest prints before xenconsoled attaches (its boot messages)
 * or in one burst is not cut shorter than a socket's buffer cut it.
 */
#define XSIM_CONS_OUT_MAX (16 * 1024)
#define XSIM_CONS_IN_MAX (4 * 1024)

typedef struct {
    XsimConsKick kick;
    gpointer opaque;
} XsimConsSide;

struct _XsimConsRing {
    gint refs;
    GMutex lock;
    GByteArray *out;        /* guest -> xenconsoled */
    GByteArray *in;         /* xenconsoled -> guest */
    XsimConsSide guest;
    XsimConsSide back;
};

XsimConsRing *
xsim_cons_ring_new(void)
{
    XsimConsRing *ring = g_new0(XsimConsRing, 1);

    ring->refs = 1;
    g_mutex_init(&ring->lock);
    ring->out = g_byte_array_new();
    ring->in = g_byte_array_new();
    return ring;
}

XsimConsRing *
xsim_cons_ring_ref(XsimConsRing *ring)
{
    g_atomic_int_inc(&ring->refs);
    return ring;
}

void
xsim_cons_ring_unref(XsimConsRing *ring)
{
    if (!ring || !g_atomic_int_dec_and_test(&ring->refs))
        return;
    g_byte_array_unref(ring->out);
    g_byte_array_unref(ring->in);
    g_mutex_clear(&ring->lock);
    g_free(ring);
}

static void
xsim_cons_ring_attach(XsimConsRing *ring,
                      XsimConsSide *side,
                      GByteArray *readable,
                      XsimConsKick kick,
                      gpointer opaque)
{
    g_mutex_lock(&ring->lock);
    side->kick = kick;
    side->opaque = opaque;
    if (kick && readable->len > 0)
        kick(ring, opaque);
    g_mutex_unlock(&ring->lock);
}

void
xsim_cons_ring_attach_guest(XsimConsRing *ring,
                            XsimConsKick kick,
                            gpointer opaque)
{
    xsim_cons_ring_attach(ring, &ring->guest, ring->in, kick, opaque);
}

void
xsim_cons_ring_attach_back(XsimConsRing *ring,
                           XsimConsKick kick,
                           gpointer opaque)
{
    xsim_cons_ring_attach(ring, &ring->back, ring->out, kick, opaque);
}

gpointer
xsim_cons_ring_back(XsimConsRing *ring)
{
    gpointer opaque;

    g_mutex_lock(&ring->lock);
    opaque = ring->back.kick ? ring->back.opaque : NULL;
    g_mutex_unlock(&ring->lock);
    return opaque;
}

static gsize
xsim_cons_ring_write(XsimConsRing *ring,
                     GByteArray *queue,
                     gsize max,
                     const XsimConsSide *reader,
                     const char *data,
                     gsize len)
{
    bool was_empty;
    gsize n;

    g_mutex_lock(&ring->lock);
    was_empty = queue->len == 0;
    n = MIN(len, max - queue->len);
    if (n > 0) {
        g_byte_array_append(queue, (const guint8 *)data, n);
        /* As an event channel: one kick until the reader has caught up. */
        if (was_empty && reader->kick)
            reader->kick(ring, reader->opaque);
    }
    g_mutex_unlock(&ring->lock);
    return n;
}

static gsize
xsim_cons_ring_read(XsimConsRing *ring,
                    GByteArray *queue,
                    char *buf,
                    gsize len)
{
    gsize n;

    g_mutex_lock(&ring->lock);
    n = MIN(len, queue->len);
    if (n > 0) {
        memcpy(buf, queue->data, n);
        g_byte_array_remove_range(queue, 0, n);
    }
    g_mutex_unlock(&ring->lock);
    return n;
}

gsize
xsim_cons_ring_guest_write(XsimConsRing *ring,
                           const char *data,
                           gsize len)
{
    return xsim_cons_ring_write(ring, ring->out, XSIM_CONS_OUT_MAX,
                                &ring->back, data, len);
}

gsize
xsim_cons_ring_guest_read(XsimConsRing *ring,
                          char *buf,
                          gsize len)
{
    return xsim_cons_ring_read(ring, ring->in, buf, len);
}

gsize
xsim_cons_ring_back_write(XsimConsRing *ring,
                          const char *data,
                          gsize len)
{
    return xsim_cons_ring_write(ring, ring->in, XSIM_CONS_IN_MAX,
                                &ring->guest, data, len);
}

gsize
xsim_cons_ring_back_read(XsimConsRing *ring,
                         char *buf,
                         gsize len)
{
    return xsim_cons_ring_read(ring, ring->out, buf, len);
}
