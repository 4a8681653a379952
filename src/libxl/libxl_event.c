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
 *  - Removal is deferred: after virEventRemoveHandle/RemoveTimeout a
 *    callback already dispatched may still run, and the opaque pointer is
 *    released later through the free function libvirt calls from its loop.
 *    So each registration is a small heap record owned by libvirt (freed
 *    by that free function), and a late callback delivers a stale token,
 *    which libxlite ignores by contract.
 *
 *  - libvirt timeouts are relative (milliseconds) and periodic; libxlite's
 *    are absolute (monotonic microseconds) and one-shot.  A registration
 *    converts (rounding up, so it never fires early), and the first firing
 *    disarms the timer (update to -1) and removes it before delivering.
 *    0 ms means "on the next loop iteration", which is what libxlite's
 *    "now" (abs_usec == 0) asks for.
 *
 *  - libxlite may move a timeout to "now" while libvirt's thread is firing
 *    it: the glue lock and the record's fired flag make exactly one
 *    delivery happen either way.
 *
 *  - When the context is freed, libxlite calls the hooks' free function;
 *    timeouts it abandoned may not have fired yet, and are removed here.
 *    The driver must not free the context while the event thread may be
 *    inside one of these callbacks for it (it frees it at state cleanup,
 *    after the loop has stopped dispatching for it).
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

/* Guards every record's fired flag and each glue's list of pending
 * timeouts.  Process-wide: records outlive their glue (libvirt frees them
 * when it likes), so their lock cannot live in the glue. */
static pthread_mutex_t xvEventLock = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
    xlite_ctx *ctx;
    GList *timeouts;          /* xvEventTimeout not yet fired */
} xvEventGlue;

typedef struct {
    xlite_ctx *ctx;
    void *for_xlite;
    int watch;
    short events;
} xvEventFd;

typedef struct {
    xvEventGlue *glue;        /* NULL once fired or dropped */
    void *for_xlite;
    int timer;
} xvEventTimeout;

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
    xvEventFd *reg = opaque;

    xlite_osevent_occurred_fd(reg->ctx, reg->for_xlite, fd, reg->events,
                              xvEventVirToPoll(events));
}

static int
xvEventFdRegister(void *user, int fd, void **for_app_registration_r,
                  short events, void *for_xlite)
{
    xvEventGlue *glue = user;
    xvEventFd *reg = g_new0(xvEventFd, 1);

    reg->ctx = glue->ctx;
    reg->for_xlite = for_xlite;
    reg->events = events;
    /* From here on libvirt owns reg and frees it with g_free. */
    reg->watch = virEventAddHandle(fd, xvEventPollToVir(events),
                                   xvEventFdCallback, reg, g_free);
    if (reg->watch < 0) {
        g_free(reg);
        return -EIO;
    }
    *for_app_registration_r = reg;
    return 0;
}

static int
xvEventFdModify(void *user, int fd, void **for_app_registration_update,
                short events)
{
    xvEventFd *reg = *for_app_registration_update;

    /* Read in the event thread without a lock: a stale value there only
     * makes a hint in xlite_osevent_occurred_fd stale, which is harmless. */
    reg->events = events;
    virEventUpdateHandle(reg->watch, xvEventPollToVir(events));
    return 0;
}

static void
xvEventFdDeregister(void *user, int fd, void *for_app_registration)
{
    xvEventFd *reg = for_app_registration;

    /* Deferred: libvirt frees reg once no callback can use it. */
    virEventRemoveHandle(reg->watch);
}

/* ---------- timeouts ---------- */

/* In libvirt's event thread. */
static void
xvEventTimeoutCallback(int timer, void *opaque)
{
    xvEventTimeout *reg = opaque;
    xlite_ctx *ctx = NULL;

    pthread_mutex_lock(&xvEventLock);
    if (reg->glue) {
        ctx = reg->glue->ctx;
        reg->glue->timeouts = g_list_remove(reg->glue->timeouts, reg);
        reg->glue = NULL;
        /* One-shot: libvirt's timers repeat until removed. */
        virEventUpdateTimeout(reg->timer, -1);
        virEventRemoveTimeout(reg->timer);
    }
    pthread_mutex_unlock(&xvEventLock);

    if (ctx)
        xlite_osevent_occurred_timeout(ctx, reg->for_xlite);
}

static int
xvEventTimeoutRegister(void *user, void **for_app_registration_r,
                       int64_t abs_usec, void *for_xlite)
{
    xvEventGlue *glue = user;
    xvEventTimeout *reg = g_new0(xvEventTimeout, 1);
    int rc = 0;

    reg->for_xlite = for_xlite;
    pthread_mutex_lock(&xvEventLock);
    /* From here on libvirt owns reg and frees it with g_free.  The lock
     * keeps the callback (which may run at once in the event thread) from
     * seeing reg before it is complete. */
    reg->timer = virEventAddTimeout(xvEventTimeoutMs(abs_usec),
                                    xvEventTimeoutCallback, reg, g_free);
    if (reg->timer < 0) {
        g_free(reg);
        rc = -EIO;
    } else {
        reg->glue = glue;
        glue->timeouts = g_list_prepend(glue->timeouts, reg);
        *for_app_registration_r = reg;
    }
    pthread_mutex_unlock(&xvEventLock);
    return rc;
}

static int
xvEventTimeoutModify(void *user, void **for_app_registration_update,
                     int64_t abs_usec)
{
    xvEventTimeout *reg = *for_app_registration_update;

    pthread_mutex_lock(&xvEventLock);
    /* Already fired: its one delivery is done or under way. */
    if (reg->glue)
        virEventUpdateTimeout(reg->timer, xvEventTimeoutMs(abs_usec));
    pthread_mutex_unlock(&xvEventLock);
    return 0;
}

/* ---------- installation ---------- */

/* Called by xlite_ctx_free: drop the timeouts the context abandoned and
 * libvirt has not fired yet. */
static void
xvEventGlueFree(void *user)
{
    xvEventGlue *glue = user;
    GList *l;

    pthread_mutex_lock(&xvEventLock);
    for (l = glue->timeouts; l; l = l->next) {
        xvEventTimeout *reg = l->data;

        reg->glue = NULL;
        virEventRemoveTimeout(reg->timer);
    }
    g_list_free(glue->timeouts);
    pthread_mutex_unlock(&xvEventLock);
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
    if (xlite_osevent_register_hooks(ctx, &xvEventHooks, glue,
                                     xvEventGlueFree) < 0) {
        g_free(glue);
        return -1;
    }
    /* libvirtd runs its own children with synchronous waits (virCommand):
     * the library must reap only its own. */
    if (xlite_childproc_setmode(ctx, XLITE_SIGCHLD_OWNER_SELECTIVE_REAP) < 0)
        return -1;
    return 0;
}
