/*
 * xlite_ao.c: asynchronous operations, the callbacks an egc delivers, and
 * the two elementary public operations (sleep, wait for an fd)
 *
 * The rules are in xlite_internal.h, "Machinery for asynchronous
 * operations".
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>

#include "xlite_internal.h"

struct xlite__ao {
    xlite_ctx *ctx;
    const xlite_async_how *how_ptr;   /* identifies it for abort */
    xlite_async_how how;
    bool synchronous;
    bool complete;
    bool notified;                    /* completion handed on */
    bool aborting;
    char *errmsg;                     /* the failure's sentence, if rc < 0 */
    int rc;
    unsigned int progress_outstanding;
    GQueue abortables;                /* xlite__ao_abortable */
    GList link;                       /* in ctx->aos while not complete */
};

/* A progress report on its way to the application. */
typedef struct {
    xlite__ao *ao;
    xlite_asyncprogress_how aop;
    xlite_event *ev;
} xlite__aop_report;

/* ---------- creation and completion ---------- */

xlite__ao *
xlite__ao_create(xlite_ctx *ctx, const xlite_async_how *how)
{
    xlite__ao *ao = g_new0(xlite__ao, 1);

    ao->ctx = ctx;
    ao->how_ptr = how;
    if (how)
        ao->how = *how;
    ao->synchronous = !how;
    ao->link = (GList){ .data = ao };
    g_queue_push_tail_link(&ctx->aos, &ao->link);
    return ao;
}

void
xlite__ao_create_fail(xlite__ao *ao)
{
    assert(!ao->complete && ao->abortables.length == 0);
    g_queue_unlink(&ao->ctx->aos, &ao->link);
    g_free(ao);
}

/* Hands the completion on if it is due: once complete, and only when no
 * progress report is still on its way. */
static void
ao_check_notify(xlite__egc *egc, xlite__ao *ao)
{
    if (!ao->complete || ao->notified || ao->progress_outstanding)
        return;
    ao->notified = true;
    if (ao->synchronous)
        xlite__wake_waiters(ao->ctx);
    else
        g_queue_push_tail(&egc->completed, ao);
}

void
xlite__ao_complete(xlite__egc *egc, xlite__ao *ao, int rc)
{
    /* Exactly once, and with nothing left that could still call back. */
    assert(!ao->complete);
    assert(ao->abortables.length == 0);
    ao->complete = true;
    ao->rc = rc;
    /* The step that failed reported it in this thread; a synchronous
     * initiator waiting in another thread gets it back from here. */
    if (rc < 0)
        ao->errmsg = g_strdup(xlite_errmsg());
    g_queue_unlink(&ao->ctx->aos, &ao->link);
    ao_check_notify(egc, ao);
}

static bool
ao_notified(xlite_ctx *ctx, void *data)
{
    return ((xlite__ao *)data)->notified;
}

int
xlite__ao_inprogress(xlite__egc *egc, xlite__ao *ao)
{
    int rc;

    if (!ao->synchronous)
        return 0;
    xlite__wait_until(egc, ao_notified, ao, -1);
    rc = ao->rc;
    if (rc < 0)
        xlite__errmsg_restore(ao->errmsg);
    g_free(ao->errmsg);
    g_free(ao);
    return rc;
}

bool
xlite__ao_aborting(const xlite__ao *ao)
{
    return ao->aborting;
}

/* ---------- abort ---------- */

void
xlite__ao_abortable_init(xlite__ao_abortable *abrt)
{
    abrt->registered = false;
}

bool
xlite__ao_abortable_isregistered(const xlite__ao_abortable *abrt)
{
    return abrt->registered;
}

int
xlite__ao_abortable_register(xlite__ao_abortable *abrt)
{
    xlite__ao *ao = abrt->ao;

    assert(!xlite__ao_abortable_isregistered(abrt) && !ao->complete);
    if (ao->aborting)
        return -ECANCELED;
    abrt->registered = true;
    abrt->link = (GList){ .data = abrt };
    g_queue_push_tail_link(&ao->abortables, &abrt->link);
    return 0;
}

void
xlite__ao_abortable_deregister(xlite__ao_abortable *abrt)
{
    if (!abrt->registered)
        return;
    g_queue_unlink(&abrt->ao->abortables, &abrt->link);
    abrt->registered = false;
}

static void
ao_abort(xlite__egc *egc, xlite__ao *ao)
{
    GList *l;

    ao->aborting = true;
    while ((l = g_queue_pop_head_link(&ao->abortables))) {
        xlite__ao_abortable *abrt = l->data;

        abrt->registered = false;
        abrt->callback(egc, abrt, -ECANCELED);
    }
}

XLITE_EXPORT int
xlite_async_abort(xlite_ctx *ctx, const xlite_async_how *how)
{
    bool found = false;
    GList *l;
    EGC_INIT(ctx);

    if (!how)
        return XLITE_ERROR(ctx, -EINVAL,
                           "a synchronous operation cannot be aborted");
    CTX_LOCK(ctx);
    /* Aborting one may complete others (unlinking them): start over after
     * each; the aborting flag makes this end. */
    l = ctx->aos.head;
    while (l) {
        xlite__ao *ao = l->data;

        if (ao->how_ptr != how) {
            l = l->next;
            continue;
        }
        found = true;
        if (ao->aborting) {
            l = l->next;
            continue;
        }
        ao_abort(egc, ao);
        l = ctx->aos.head;
    }
    CTX_UNLOCK(ctx);
    EGC_FREE;
    return found ? 0 : -ESRCH;
}

/* ---------- progress ---------- */

void
xlite__ao_progress_report(xlite__egc *egc, xlite__ao *ao,
                          const xlite_asyncprogress_how *aop,
                          xlite_event *ev)
{
    xlite__aop_report *rep;

    assert(!ao->complete);
    if (!aop) {
        xlite_event_free(ev);
        return;
    }
    rep = g_new0(xlite__aop_report, 1);
    rep->ao = ao;
    rep->aop = *aop;
    rep->ev = ev;
    ev->for_user = aop->for_event;
    ao->progress_outstanding++;
    g_queue_push_tail(&egc->progress, rep);
}

/* ---------- what an egc delivers ---------- */

static void
deliver_progress(xlite__egc *egc, xlite__aop_report *rep)
{
    xlite_ctx *ctx = egc->ctx;

    if (rep->aop.callback)
        rep->aop.callback(ctx, rep->ev, rep->aop.opaque);
    else
        xlite__event_deliver(ctx, rep->ev);
    CTX_LOCK(ctx);
    rep->ao->progress_outstanding--;
    ao_check_notify(egc, rep->ao);
    CTX_UNLOCK(ctx);
    g_free(rep);
}

static void
deliver_completion(xlite__egc *egc, xlite__ao *ao)
{
    xlite_ctx *ctx = egc->ctx;

    /* So that xlite_errmsg() in the callback says why. */
    if (ao->rc < 0)
        xlite__errmsg_restore(ao->errmsg);
    if (ao->how.callback) {
        ao->how.callback(ctx, ao->rc, ao->how.opaque);
        if (ao->how.opaque_free)
            ao->how.opaque_free(ao->how.opaque);
    } else {
        xlite_event *ev = xlite__event_new(XLITE_EVENT_OPERATION_COMPLETE, 0,
                                           ao->how.for_event);

        ev->u.operation_complete.rc = ao->rc;
        xlite__event_deliver(ctx, ev);
    }
    g_free(ao->errmsg);
    g_free(ao);
}

void
xlite__egc_cleanup(xlite__egc *egc)
{
    void *p;

    for (;;) {
        if ((p = g_queue_pop_head(&egc->occurred))) {
            xlite_event *ev = p;
            void (*event_occurs)(void *user, xlite_event *ev);
            void *user;

            CTX_LOCK(egc->ctx);
            event_occurs = egc->ctx->event_occurs;
            user = egc->ctx->event_user;
            CTX_UNLOCK(egc->ctx);
            event_occurs(user, ev);
        } else if ((p = g_queue_pop_head(&egc->progress))) {
            deliver_progress(egc, p);
        } else if ((p = g_queue_pop_head(&egc->completed))) {
            deliver_completion(egc, p);
        } else {
            break;
        }
    }
}

void
xlite__ao_ctx_free(xlite_ctx *ctx)
{
    /* Programming error: freeing a context with operations running. */
    assert(ctx->aos.length == 0);
}

/* ---------- xlite_sleep ---------- */

typedef struct {
    /* caller */
    xlite__ao *ao;
    int64_t usec;
    unsigned int ticks;
    xlite_asyncprogress_how aop;
    bool report;
    /* private */
    unsigned int elapsed;
    xlite__ev_time timer;
    xlite__ao_abortable abrt;
} sleep_state;

static void sleep_timer_cb(xlite__egc *egc, xlite__ev_time *ev);
static void sleep_abort_cb(xlite__egc *egc, xlite__ao_abortable *abrt, int rc);

static void
sleep_done(xlite__egc *egc, sleep_state *ss, int rc)
{
    xlite__ao *ao = ss->ao;

    xlite__ev_time_deregister(egc->ctx, &ss->timer);
    xlite__ao_abortable_deregister(&ss->abrt);
    g_free(ss);
    xlite__ao_complete(egc, ao, rc);
}

static void
sleep_timer_cb(xlite__egc *egc, xlite__ev_time *ev)
{
    sleep_state *ss = XLITE__CONTAINER_OF(ev, sleep_state, timer);
    xlite_event *pev;
    int rc;

    if (++ss->elapsed == ss->ticks) {
        sleep_done(egc, ss, 0);
        return;
    }
    pev = xlite__event_new(XLITE_EVENT_OPERATION_PROGRESS, 0, 0);
    pev->u.operation_progress.step = ss->elapsed;
    pev->u.operation_progress.total = ss->ticks;
    xlite__ao_progress_report(egc, ss->ao, ss->report ? &ss->aop : NULL, pev);
    if ((rc = xlite__ev_time_register_rel(egc->ctx, &ss->timer,
                                          sleep_timer_cb, ss->usec)) < 0)
        sleep_done(egc, ss, rc);
}

static void
sleep_abort_cb(xlite__egc *egc, xlite__ao_abortable *abrt, int rc)
{
    sleep_done(egc, XLITE__CONTAINER_OF(abrt, sleep_state, abrt), rc);
}

XLITE_EXPORT int
xlite_sleep(xlite_ctx *ctx, int64_t usec, unsigned int ticks,
            const xlite_asyncprogress_how *aop, const xlite_async_how *how)
{
    sleep_state *ss;
    xlite__ao *ao;
    int rc;
    EGC_INIT(ctx);

    if (usec < 0 || ticks < 1)
        return XLITE_ERROR(ctx, -EINVAL,
                           "a sleep needs a duration >= 0 and >= 1 tick");
    CTX_LOCK(ctx);
    ao = xlite__ao_create(ctx, how);
    ss = g_new0(sleep_state, 1);
    ss->ao = ao;
    ss->usec = usec;
    ss->ticks = ticks;
    if (aop) {
        ss->aop = *aop;
        ss->report = true;
    }
    xlite__ev_time_init(&ss->timer);
    xlite__ao_abortable_init(&ss->abrt);
    ss->abrt.ao = ao;
    ss->abrt.callback = sleep_abort_cb;

    if ((rc = xlite__ev_time_register_rel(ctx, &ss->timer, sleep_timer_cb,
                                          usec)) < 0 ||
        (rc = xlite__ao_abortable_register(&ss->abrt)) < 0) {
        xlite__ev_time_deregister(ctx, &ss->timer);
        g_free(ss);
        xlite__ao_create_fail(ao);
        goto out;
    }
    rc = xlite__ao_inprogress(egc, ao);

 out:
    CTX_UNLOCK(ctx);
    EGC_FREE;
    return rc;
}

/* ---------- xlite_fd_wait ---------- */

typedef struct {
    /* caller */
    xlite__ao *ao;
    /* private */
    xlite__ev_fd watch;
    xlite__ev_time timer;
    xlite__ao_abortable abrt;
} fd_wait_state;

static void
fd_wait_done(xlite__egc *egc, fd_wait_state *fw, int rc)
{
    xlite__ao *ao = fw->ao;

    xlite__ev_fd_deregister(egc->ctx, &fw->watch);
    xlite__ev_time_deregister(egc->ctx, &fw->timer);
    xlite__ao_abortable_deregister(&fw->abrt);
    g_free(fw);
    xlite__ao_complete(egc, ao, rc);
}

static void
fd_wait_ready_cb(xlite__egc *egc, xlite__ev_fd *ev, int fd, short events,
                 short revents)
{
    fd_wait_done(egc, XLITE__CONTAINER_OF(ev, fd_wait_state, watch), 0);
}

static void
fd_wait_timeout_cb(xlite__egc *egc, xlite__ev_time *ev)
{
    fd_wait_done(egc, XLITE__CONTAINER_OF(ev, fd_wait_state, timer),
                 -ETIMEDOUT);
}

static void
fd_wait_abort_cb(xlite__egc *egc, xlite__ao_abortable *abrt, int rc)
{
    fd_wait_done(egc, XLITE__CONTAINER_OF(abrt, fd_wait_state, abrt), rc);
}

XLITE_EXPORT int
xlite_fd_wait(xlite_ctx *ctx, int fd, short events, int64_t timeout_usec,
              const xlite_async_how *how)
{
    fd_wait_state *fw;
    xlite__ao *ao;
    int rc;
    EGC_INIT(ctx);

    if (fd < 0 || !events)
        return XLITE_ERROR(ctx, -EINVAL, "an fd and poll() events are needed");
    CTX_LOCK(ctx);
    ao = xlite__ao_create(ctx, how);
    fw = g_new0(fd_wait_state, 1);
    fw->ao = ao;
    xlite__ev_fd_init(&fw->watch);
    xlite__ev_time_init(&fw->timer);
    xlite__ao_abortable_init(&fw->abrt);
    fw->abrt.ao = ao;
    fw->abrt.callback = fd_wait_abort_cb;

    if ((rc = xlite__ev_fd_register(ctx, &fw->watch, fd_wait_ready_cb, fd,
                                    events)) < 0 ||
        (timeout_usec >= 0 &&
         (rc = xlite__ev_time_register_rel(ctx, &fw->timer,
                                           fd_wait_timeout_cb,
                                           timeout_usec)) < 0) ||
        (rc = xlite__ao_abortable_register(&fw->abrt)) < 0) {
        xlite__ev_fd_deregister(ctx, &fw->watch);
        xlite__ev_time_deregister(ctx, &fw->timer);
        g_free(fw);
        xlite__ao_create_fail(ao);
        goto out;
    }
    rc = xlite__ao_inprogress(egc, ao);

 out:
    CTX_UNLOCK(ctx);
    EGC_FREE;
    return rc;
}
