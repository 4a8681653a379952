/*
 * libxl_event.c: libxlite's event loop hooks on libvirt's event loop
 *
 * libxlite asks its application to watch fds and timers through the hooks
 * of xlite_osevent_hooks (xlite.h).  This maps them onto libvirt's public
 * event API, so that in libvirtd (or an embedding process) the driver's
 * asynchronous operations progress in libvirt's event thread.  It uses
 * only <libvirt/libvirt.h>, never libvirt internals, so that it works with
 * whatever event loop implementation the process registered.
 *
 * The quirks of the mapping, each handled below where it bites:
 *
 *  - libvirt runs handle and timeout callbacks in the event loop's thread,
 *    the one that also reads every client's RPC.  libxlite's internal
 *    callbacks run in whichever thread delivers the event, and a step of
 *    an operation may block with the context's lock held for seconds (a
 *    domain build or destroy on real Xen, a hotplug script's fork, an
 *    fsync): run there, it would stop every client, `virsh list`
 *    included (issue 14: 5 to 10 s during a start on real Xen).  So the
 *    loop's callbacks only triage: each delivery is queued for the glue's
 *    dispatcher thread, which calls xlite_osevent_occurred_*.  An fd
 *    handle is switched off (no events) while its delivery waits, so that
 *    libvirt's level-triggered loop does not spin on it, and the
 *    dispatcher switches it back on (with what libxlite wants by then)
 *    once delivered.
 *
 *  - The hooks are called with the context's lock held and call
 *    virEvent*, which take the loop's lock.  So the order is: context
 *    lock, then glue lock, then libvirt's loop lock; nothing here calls
 *    into libxlite while holding the glue lock.
 *
 *  - Removal is deferred, and starves: libvirt's GLib loop frees a removed
 *    handle or timeout from an idle callback, which does not run while
 *    the loop always has something ready; removed entries pile up and
 *    every lookup scans them (a busy loop doing one fd_wait per event
 *    slowed down a hundredfold).  So the glue reuses libvirt registrations
 *    instead of removing them: a deregistered fd keeps its handle, with no
 *    events, for the next registration of the same fd number; a fired or
 *    dropped timeout keeps its timer, disarmed, for the next timeout.  Only
 *    the context's end removes them.  The records are owned by libvirt
 *    (freed by the free function it calls after removal).
 *
 *  - Because of deferral and reuse, a callback may run for a registration
 *    that is gone or for its successor on the same record.  That is a
 *    stale or spurious delivery, which libxlite ignores by contract (it
 *    checks tokens, and polls an fd itself before trusting it).
 *
 *  - libvirt timeouts are relative (milliseconds) and periodic; libxlite's
 *    are absolute (monotonic microseconds) and one-shot.  A registration
 *    converts (rounding up, so it never fires early), and the first firing
 *    disarms the timer (update to -1) before delivering.  0 ms means "on
 *    the next loop iteration", which is what libxlite's "now" (abs_usec ==
 *    0) asks for.
 *
 *  - libxlite may move a timeout to "now" while libvirt's thread is firing
 *    it: the glue lock and the armed flag make exactly one delivery happen
 *    either way.  (A modify that loses that race to a reuse of the record
 *    moves its successor: an early delivery, which libxlite re-arms.)
 *
 *  - When the context is freed, libxlite calls the hooks' free function,
 *    which removes every libvirt registration left.  Before that, the
 *    driver stops the dispatcher (xvEventHooksStop): deliveries still
 *    queued are dropped, and none comes once it returns.
 *
 *  - Handle events: libvirt's READABLE/WRITABLE/ERROR/HANGUP are poll()'s
 *    POLLIN (and POLLPRI)/POLLOUT/POLLERR/POLLHUP; libxlite re-checks the
 *    fd itself, so the translation needs only be faithful, not exact.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <poll.h>
#include <pthread.h>

#include <glib.h>
#include <libvirt/libvirt.h>

#include "libxl_event.h"

/* Guards the records and each glue's pools.  Process-wide: records
 * outlive their glue (libvirt frees them when it likes), so their lock
 * cannot live in the glue. */
static pthread_mutex_t xvEventLock = PTHREAD_MUTEX_INITIALIZER;

typedef struct _xvEventGlue xvEventGlue;

/* A libvirt handle, for successive registrations of one fd number. */
typedef struct {
    xvEventGlue *glue;
    int watch;
    int fd;
    void *for_xlite;          /* the current registration; NULL if idle */
    short events;
    bool queued;              /* a delivery waits: the handle is off */
    bool doomed;              /* to be removed once that delivery is done */
} xvEventFd;

/* A libvirt timer, for successive one-shot registrations. */
typedef struct {
    xvEventGlue *glue;        /* NULL once the glue is gone */
    int timer;
    void *for_xlite;
    bool armed;
} xvEventTimeout;

/* What the dispatcher delivers: an fd's readiness (rec set) or a
 * timeout's expiry, each for the registration it was made for. */
typedef struct {
    xvEventFd *rec;
    void *for_xlite;
    int fd;
    short events;
    short revents;
} xvEventDelivery;

/* The glue lock guards every field but ctx, set once. */
struct _xvEventGlue {
    xlite_ctx *ctx;
    GHashTable *idleFds;      /* fd number -> xvEventFd with no events */
    GPtrArray *timeouts;      /* every xvEventTimeout of the glue */
    GQueue idleTimeouts;      /* the disarmed ones */
    GQueue deliveries;        /* xvEventDelivery, for the dispatcher */
    pthread_cond_t cond;      /* signalled with each delivery and at stop */
    GThread *dispatcher;      /* NULL once stopped */
    bool stopping;            /* deliveries are dropped */
};

/* Every glue, for xvEventHooksStop to find its context's. */
static GSList *xvEventGlues;

static int
xvEventPollToVir(short events)
{
    int vir = 0;

    if (events & (POLLIN | POLLPRI))
        vir |= VIR_EVENT_HANDLE_READABLE;
    if (events & POLLOUT)
        vir |= VIR_EVENT_HANDLE_WRITABLE;
    return vir;
}

static short
xvEventVirToPoll(int vir)
{
    short events = 0;

    if (vir & VIR_EVENT_HANDLE_READABLE)
        events |= POLLIN;
    if (vir & VIR_EVENT_HANDLE_WRITABLE)
        events |= POLLOUT;
    if (vir & VIR_EVENT_HANDLE_ERROR)
        events |= POLLERR;
    if (vir & VIR_EVENT_HANDLE_HANGUP)
        events |= POLLHUP;
    return events;
}

/* Relative milliseconds until abs_usec, rounded up; 0 if due. */
static int
xvEventTimeoutMs(int64_t abs_usec)
{
    int64_t left = abs_usec - g_get_monotonic_time();

    if (left <= 0)
        return 0;
    return (int)MIN((left + 999) / 1000, G_MAXINT);
}

/* ---------- fds ---------- */

/* Queues a delivery for the dispatcher; glue lock held. */
static void
xvEventQueue(xvEventGlue *glue, xvEventFd *rec, void *for_xlite, int fd,
             short events, short revents)
{
    xvEventDelivery *d;

    if (glue->stopping)
        return;
    d = g_new0(xvEventDelivery, 1);
    d->rec = rec;
    d->for_xlite = for_xlite;
    d->fd = fd;
    d->events = events;
    d->revents = revents;
    g_queue_push_tail(&glue->deliveries, d);
    pthread_cond_signal(&glue->cond);
}

/* In libvirt's event thread: triage only (see the top of the file). */
static void
xvEventFdCallback(int watch, int fd, int events, void *opaque)
{
    xvEventFd *rec = opaque;

    pthread_mutex_lock(&xvEventLock);
    /* Idle, or its delivery already waits: the handle goes off (again:
     * a reuse may have switched it on meanwhile). */
    virEventUpdateHandle(watch, 0);
    if (rec->for_xlite && !rec->queued && !rec->glue->stopping) {
        rec->queued = true;
        xvEventQueue(rec->glue, rec, rec->for_xlite, fd, rec->events,
                     xvEventVirToPoll(events));
    }
    pthread_mutex_unlock(&xvEventLock);
}

static int
xvEventFdRegister(void *user, int fd, void **for_app_registration_r,
                  short events, void *for_xlite)
{
    xvEventGlue *glue = user;
    xvEventFd *rec;
    int rc = 0;

    pthread_mutex_lock(&xvEventLock);
    if ((rec = g_hash_table_lookup(glue->idleFds, GINT_TO_POINTER(fd)))) {
        g_hash_table_steal(glue->idleFds, GINT_TO_POINTER(fd));
        rec->for_xlite = for_xlite;
        rec->events = events;
        /* With a delivery waiting, the dispatcher switches it on. */
        if (!rec->queued)
            virEventUpdateHandle(rec->watch, xvEventPollToVir(events));
    } else {
        rec = g_new0(xvEventFd, 1);
        rec->glue = glue;
        rec->fd = fd;
        rec->for_xlite = for_xlite;
        rec->events = events;
        /* From here on libvirt owns rec and frees it with g_free. */
        rec->watch = virEventAddHandle(fd, xvEventPollToVir(events),
                                       xvEventFdCallback, rec, g_free);
        if (rec->watch < 0) {
            g_free(rec);
            rc = -EIO;
        }
    }
    if (rc == 0)
        *for_app_registration_r = rec;
    pthread_mutex_unlock(&xvEventLock);
    return rc;
}

static int
xvEventFdModify(void *user, int fd, void **for_app_registration_update,
                short events)
{
    xvEventFd *rec = *for_app_registration_update;

    pthread_mutex_lock(&xvEventLock);
    rec->events = events;
    if (!rec->queued)
        virEventUpdateHandle(rec->watch, xvEventPollToVir(events));
    pthread_mutex_unlock(&xvEventLock);
    return 0;
}

static void
xvEventFdDeregister(void *user, int fd, void *for_app_registration)
{
    xvEventGlue *glue = user;
    xvEventFd *rec = for_app_registration;

    pthread_mutex_lock(&xvEventLock);
    rec->for_xlite = NULL;
    if (g_hash_table_contains(glue->idleFds, GINT_TO_POINTER(fd))) {
        /* Two registrations of one fd number went away: keep one.  The
         * dispatcher may still hold this one: it removes it then. */
        if (rec->queued)
            rec->doomed = true;
        else
            virEventRemoveHandle(rec->watch);
    } else {
        /* No events: libvirt stops polling the fd, which may be closed
         * now; the handle waits for the number's next registration. */
        virEventUpdateHandle(rec->watch, 0);
        g_hash_table_insert(glue->idleFds, GINT_TO_POINTER(fd), rec);
    }
    pthread_mutex_unlock(&xvEventLock);
}

/* ---------- timeouts ---------- */

/* In libvirt's event thread: triage only (see the top of the file). */
static void
xvEventTimeoutCallback(int timer, void *opaque)
{
    xvEventTimeout *rec = opaque;

    pthread_mutex_lock(&xvEventLock);
    if (rec->armed) {
        rec->armed = false;
        /* One-shot: libvirt's timers repeat until disarmed.  The record
         * is free for reuse at once: the delivery has its token. */
        virEventUpdateTimeout(rec->timer, -1);
        g_queue_push_tail(&rec->glue->idleTimeouts, rec);
        xvEventQueue(rec->glue, NULL, rec->for_xlite, -1, 0, 0);
    }
    pthread_mutex_unlock(&xvEventLock);
}

static int
xvEventTimeoutRegister(void *user, void **for_app_registration_r,
                       int64_t abs_usec, void *for_xlite)
{
    xvEventGlue *glue = user;
    xvEventTimeout *rec;
    int rc = 0;

    /* The lock keeps the callback, which may run at once in the event
     * thread, from seeing rec before it is complete. */
    pthread_mutex_lock(&xvEventLock);
    if ((rec = g_queue_pop_head(&glue->idleTimeouts))) {
        rec->for_xlite = for_xlite;
        rec->armed = true;
        virEventUpdateTimeout(rec->timer, xvEventTimeoutMs(abs_usec));
    } else {
        rec = g_new0(xvEventTimeout, 1);
        rec->glue = glue;
        rec->for_xlite = for_xlite;
        rec->armed = true;
        /* From here on libvirt owns rec and frees it with g_free. */
        rec->timer = virEventAddTimeout(xvEventTimeoutMs(abs_usec),
                                        xvEventTimeoutCallback, rec, g_free);
        if (rec->timer < 0) {
            g_free(rec);
            rc = -EIO;
        } else {
            g_ptr_array_add(glue->timeouts, rec);
        }
    }
    if (rc == 0)
        *for_app_registration_r = rec;
    pthread_mutex_unlock(&xvEventLock);
    return rc;
}

static int
xvEventTimeoutModify(void *user, void **for_app_registration_update,
                     int64_t abs_usec)
{
    xvEventTimeout *rec = *for_app_registration_update;

    pthread_mutex_lock(&xvEventLock);
    /* Already fired: its one delivery is done or under way. */
    if (rec->armed)
        virEventUpdateTimeout(rec->timer, xvEventTimeoutMs(abs_usec));
    pthread_mutex_unlock(&xvEventLock);
    return 0;
}

/* ---------- the dispatcher ---------- */

/* Its own thread: calls into libxlite for each delivery, in order, until
 * stopped. */
static gpointer
xvEventDispatcher(gpointer opaque)
{
    xvEventGlue *glue = opaque;

    pthread_mutex_lock(&xvEventLock);
    for (;;) {
        xvEventDelivery *d;
        xvEventFd *rec;

        while (!glue->stopping && g_queue_is_empty(&glue->deliveries))
            pthread_cond_wait(&glue->cond, &xvEventLock);
        if (glue->stopping)
            break;
        d = g_queue_pop_head(&glue->deliveries);
        pthread_mutex_unlock(&xvEventLock);

        if (d->rec)
            xlite_osevent_occurred_fd(glue->ctx, d->for_xlite, d->fd,
                                      d->events, d->revents);
        else
            xlite_osevent_occurred_timeout(glue->ctx, d->for_xlite);

        pthread_mutex_lock(&xvEventLock);
        if ((rec = d->rec)) {
            rec->queued = false;
            if (rec->doomed)
                virEventRemoveHandle(rec->watch);
            else if (rec->for_xlite)
                virEventUpdateHandle(rec->watch,
                                     xvEventPollToVir(rec->events));
        }
        g_free(d);
    }
    pthread_mutex_unlock(&xvEventLock);
    return NULL;
}

void
xvEventHooksStop(xlite_ctx *ctx)
{
    xvEventGlue *glue = NULL;
    GThread *dispatcher;
    xvEventDelivery *d;
    GSList *l;

    pthread_mutex_lock(&xvEventLock);
    for (l = xvEventGlues; l; l = l->next) {
        if (((xvEventGlue *)l->data)->ctx == ctx)
            glue = l->data;
    }
    if (!glue || !(dispatcher = g_steal_pointer(&glue->dispatcher))) {
        pthread_mutex_unlock(&xvEventLock);
        return;
    }
    glue->stopping = true;
    pthread_cond_signal(&glue->cond);
    pthread_mutex_unlock(&xvEventLock);

    g_thread_join(dispatcher);

    /* Dropped deliveries: their handles are libxlite's again (off until
     * it registers the fd anew), or go if they were to. */
    pthread_mutex_lock(&xvEventLock);
    while ((d = g_queue_pop_head(&glue->deliveries))) {
        if (d->rec) {
            d->rec->queued = false;
            if (d->rec->doomed)
                virEventRemoveHandle(d->rec->watch);
        }
        g_free(d);
    }
    pthread_mutex_unlock(&xvEventLock);
}

/* ---------- installation ---------- */

/* Called by xlite_ctx_free: every libvirt registration left goes (libvirt
 * frees the records later). */
static void
xvEventGlueFree(void *user)
{
    xvEventGlue *glue = user;
    GHashTableIter iter;
    gpointer value;
    guint i;

    xvEventHooksStop(glue->ctx);
    pthread_mutex_lock(&xvEventLock);
    xvEventGlues = g_slist_remove(xvEventGlues, glue);
    g_hash_table_iter_init(&iter, glue->idleFds);
    while (g_hash_table_iter_next(&iter, NULL, &value))
        virEventRemoveHandle(((xvEventFd *)value)->watch);
    for (i = 0; i < glue->timeouts->len; i++) {
        xvEventTimeout *rec = g_ptr_array_index(glue->timeouts, i);

        rec->armed = false;
        rec->glue = NULL;
        virEventRemoveTimeout(rec->timer);
    }
    pthread_mutex_unlock(&xvEventLock);
    g_hash_table_unref(glue->idleFds);
    g_ptr_array_unref(glue->timeouts);
    g_queue_clear(&glue->idleTimeouts);
    pthread_cond_destroy(&glue->cond);
    g_free(glue);
}

static const xlite_osevent_hooks xvEventHooks = {
    .fd_register = xvEventFdRegister,
    .fd_modify = xvEventFdModify,
    .fd_deregister = xvEventFdDeregister,
    .timeout_register = xvEventTimeoutRegister,
    .timeout_modify = xvEventTimeoutModify,
};

int
xvEventHooksInstall(xlite_ctx *ctx)
{
    xvEventGlue *glue = g_new0(xvEventGlue, 1);

    glue->ctx = ctx;
    glue->idleFds = g_hash_table_new(g_direct_hash, g_direct_equal);
    glue->timeouts = g_ptr_array_new();
    g_queue_init(&glue->idleTimeouts);
    g_queue_init(&glue->deliveries);
    pthread_cond_init(&glue->cond, NULL);
    pthread_mutex_lock(&xvEventLock);
    xvEventGlues = g_slist_prepend(xvEventGlues, glue);
    /* GLib aborts if it cannot make a thread, as on a failed allocation. */
    glue->dispatcher = g_thread_new("xenvirt-events", xvEventDispatcher, glue);
    pthread_mutex_unlock(&xvEventLock);
    if (xlite_osevent_register_hooks(ctx, &xvEventHooks, glue,
                                     xvEventGlueFree) < 0) {
        xvEventGlueFree(glue);
        return -1;
    }
    /* libvirtd runs its own children with synchronous waits (virCommand):
     * the library must reap only its own. */
    if (xlite_childproc_setmode(ctx, XLITE_SIGCHLD_OWNER_SELECTIVE_REAP) < 0)
        return -1;
    return 0;
}
