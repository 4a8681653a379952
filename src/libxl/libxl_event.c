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
 *    without its own lock held.  They call xlite_osevent_occurred_*, which
 *    take the context's lock.  The hooks themselves are called with the
 *    context's lock held and call virEvent*, which take the loop's lock.
 *    So the order is: context lock, then glue lock, then libvirt's loop
 *    lock; nothing here calls into libxlite while holding the glue lock.
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
 *    which removes every libvirt registration left.  The driver must not
 *    free the context while the event thread may be inside one of these
 *    callbacks for it (it frees it at state cleanup, after the loop has
 *    stopped dispatching for it).
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
    xlite_ctx *ctx;
    int watch;
    int fd;
    void *for_xlite;          /* the current registration; NULL if idle */
    short events;
} xvEventFd;

/* A libvirt timer, for successive one-shot registrations. */
typedef struct {
    xvEventGlue *glue;        /* NULL once the glue is gone */
    int timer;
    void *for_xlite;
    bool armed;
} xvEventTimeout;

struct _xvEventGlue {
    xlite_ctx *ctx;
    GHashTable *idleFds;      /* fd number -> xvEventFd with no events */
    GPtrArray *timeouts;      /* every xvEventTimeout of the glue */
    GQueue idleTimeouts;      /* the disarmed ones */
};

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

/* In libvirt's event thread. */
static void
xvEventFdCallback(int watch, int fd, int events, void *opaque)
{
    xvEventFd *rec = opaque;
    void *for_xlite;
    short wanted;

    pthread_mutex_lock(&xvEventLock);
    for_xlite = rec->for_xlite;
    wanted = rec->events;
    pthread_mutex_unlock(&xvEventLock);

    if (for_xlite)
        xlite_osevent_occurred_fd(rec->ctx, for_xlite, fd, wanted,
                                  xvEventVirToPoll(events));
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
        virEventUpdateHandle(rec->watch, xvEventPollToVir(events));
    } else {
        rec = g_new0(xvEventFd, 1);
        rec->ctx = glue->ctx;
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
        /* Two registrations of one fd number went away: keep one. */
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

/* In libvirt's event thread. */
static void
xvEventTimeoutCallback(int timer, void *opaque)
{
    xvEventTimeout *rec = opaque;
    xlite_ctx *ctx = NULL;
    void *for_xlite = NULL;

    pthread_mutex_lock(&xvEventLock);
    if (rec->armed) {
        rec->armed = false;
        ctx = rec->glue->ctx;
        for_xlite = rec->for_xlite;
        /* One-shot: libvirt's timers repeat until disarmed. */
        virEventUpdateTimeout(rec->timer, -1);
        g_queue_push_tail(&rec->glue->idleTimeouts, rec);
    }
    pthread_mutex_unlock(&xvEventLock);

    if (ctx)
        xlite_osevent_occurred_timeout(ctx, for_xlite);
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

    pthread_mutex_lock(&xvEventLock);
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
