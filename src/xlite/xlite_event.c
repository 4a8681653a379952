/*
 * xlite_event.c: event sources, the application's loop hooks, the
 * internal poller, and events for the application
 *
 * The rules are in xlite_internal.h, "Event sources" and "Events for the
 * application".  This file follows a registration through its life: the
 * lock, fd watches, timers, deliveries from the application's loop, the
 * internal poller, then the events the library produces.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "xlite_internal.h"

/* A timer's mirror in the application's loop.  Outlives its timer when the
 * library abandons it, until the application delivers it. */
struct xlite__hook_timeout {
    uintptr_t id;
    xlite__ev_time *ev;        /* NULL once abandoned */
    void *for_app_reg;
};

struct xlite_evgen {
    uint32_t domid;
    uint64_t mask;
    uint64_t for_user;
    GList link;                /* in its domain's queue, ctx->evgens */
};

/* ---------- the lock ---------- */

void
xlite__ctx_lock(xlite_ctx *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    ctx->lock_depth++;
}

void
xlite__ctx_unlock(xlite_ctx *ctx)
{
    assert(ctx->lock_depth > 0);
    ctx->lock_depth--;
    pthread_mutex_unlock(&ctx->lock);
}

static uintptr_t
new_id(xlite_ctx *ctx)
{
    return ++ctx->next_id;
}

static void
wake_poller(xlite_ctx *ctx)
{
    ssize_t r;

    if (!ctx->poller_busy)
        return;
    /* A full pipe already wakes the poller: EAGAIN is fine. */
    r = write(ctx->wake_pipe[1], "", 1);
    (void)r;
}

void
xlite__wake_waiters(xlite_ctx *ctx)
{
    pthread_cond_broadcast(&ctx->wait_cond);
    wake_poller(ctx);
}

/* ---------- fd watches ---------- */

void
xlite__ev_fd_init(xlite__ev_fd *ev)
{
    ev->func = NULL;
    ev->fd = -1;
    ev->id = 0;
}

bool
xlite__ev_fd_isregistered(const xlite__ev_fd *ev)
{
    return ev->func != NULL;
}

int
xlite__ev_fd_register(xlite_ctx *ctx, xlite__ev_fd *ev,
                      xlite__ev_fd_callback *func, int fd, short events)
{
    uintptr_t id;
    int rc = 0;
    int r;

    CTX_LOCK(ctx);
    assert(!xlite__ev_fd_isregistered(ev));
    id = new_id(ctx);
    if (ctx->hooks) {
        r = ctx->hooks->fd_register(ctx->hooks_user, fd, &ev->for_app_reg,
                                    events, (void *)id);
        if (r < 0) {
            rc = XLITE_ERROR(ctx, r, "the application refused to watch fd %d",
                             fd);
            goto out;
        }
    }
    ev->func = func;
    ev->fd = fd;
    ev->events = events;
    ev->id = id;
    g_hash_table_insert(ctx->fds_by_id, (void *)id, ev);
    wake_poller(ctx);

 out:
    CTX_UNLOCK(ctx);
    return rc;
}

int
xlite__ev_fd_modify(xlite_ctx *ctx, xlite__ev_fd *ev, short events)
{
    int rc = 0;
    int r;

    CTX_LOCK(ctx);
    assert(xlite__ev_fd_isregistered(ev));
    if (ctx->hooks) {
        r = ctx->hooks->fd_modify(ctx->hooks_user, ev->fd, &ev->for_app_reg,
                                  events);
        if (r < 0) {
            rc = XLITE_ERROR(ctx, r,
                             "the application refused to change fd %d",
                             ev->fd);
            goto out;
        }
    }
    ev->events = events;
    wake_poller(ctx);

 out:
    CTX_UNLOCK(ctx);
    return rc;
}

void
xlite__ev_fd_deregister(xlite_ctx *ctx, xlite__ev_fd *ev)
{
    CTX_LOCK(ctx);
    if (xlite__ev_fd_isregistered(ev)) {
        if (ctx->hooks)
            ctx->hooks->fd_deregister(ctx->hooks_user, ev->fd,
                                      ev->for_app_reg);
        g_hash_table_remove(ctx->fds_by_id, (void *)ev->id);
        /* A poller may hold the id; it will find it gone.  The fd may be
         * closed now: its poll() then sees POLLNVAL and starts over. */
        xlite__ev_fd_init(ev);
    }
    CTX_UNLOCK(ctx);
}

/* Calls ev's callback if, under the lock, the fd is really ready. */
static void
fd_dispatch(xlite__egc *egc, xlite__ev_fd *ev)
{
    struct pollfd pfd = { .fd = ev->fd, .events = ev->events };
    int r;

    do {
        r = poll(&pfd, 1, 0);
    } while (r < 0 && errno == EINTR);
    if (r <= 0 || !pfd.revents)
        return;
    ev->func(egc, ev, ev->fd, ev->events, pfd.revents);
}

/* ---------- timers ---------- */

void
xlite__ev_time_init(xlite__ev_time *ev)
{
    ev->func = NULL;
    ev->hook = NULL;
    ev->link = (GList){ .data = ev };
}

bool
xlite__ev_time_isregistered(const xlite__ev_time *ev)
{
    return ev->func != NULL;
}

static int
hook_timeout_register(xlite_ctx *ctx, xlite__ev_time *ev)
{
    g_autofree xlite__hook_timeout *hook = g_new0(xlite__hook_timeout, 1);
    int r;

    hook->id = new_id(ctx);
    hook->ev = ev;
    r = ctx->hooks->timeout_register(ctx->hooks_user, &hook->for_app_reg,
                                     ev->abs, (void *)hook->id);
    if (r < 0)
        return XLITE_ERROR(ctx, r, "the application refused a timeout");
    ev->hook = hook;
    g_hash_table_insert(ctx->hook_timeouts, (void *)ev->hook->id,
                        g_steal_pointer(&hook));
    return 0;
}

/* The timer no longer needs its mirror: ask for it to fire at once, and
 * forget it when it does. */
static void
hook_timeout_abandon(xlite_ctx *ctx, xlite__ev_time *ev)
{
    xlite__hook_timeout *hook = ev->hook;
    int r;

    ev->hook = NULL;
    hook->ev = NULL;
    r = ctx->hooks->timeout_modify(ctx->hooks_user, &hook->for_app_reg, 0);
    if (r < 0)
        XLITE_LOG(ctx, XLITE_LOG_WARN,
                  "the application could not modify an abandoned timeout "
                  "(%d); it stays registered until the context is freed", r);
}

/* Keeps ctx->etimes sorted; equal times fire in registration order. */
static void
etimes_insert(xlite_ctx *ctx, xlite__ev_time *ev)
{
    GList *l;

    for (l = ctx->etimes.head; l; l = l->next)
        if (((xlite__ev_time *)l->data)->abs > ev->abs)
            break;
    ev->link = (GList){ .data = ev };
    if (l)
        g_queue_insert_before_link(&ctx->etimes, l, &ev->link);
    else
        g_queue_push_tail_link(&ctx->etimes, &ev->link);
}

int
xlite__ev_time_register_abs(xlite_ctx *ctx, xlite__ev_time *ev,
                            xlite__ev_time_callback *func, int64_t abs)
{
    int rc = 0;

    CTX_LOCK(ctx);
    assert(!xlite__ev_time_isregistered(ev));
    ev->abs = abs;
    ev->hook = NULL;
    if (ctx->hooks && (rc = hook_timeout_register(ctx, ev)) < 0)
        goto out;
    ev->func = func;
    etimes_insert(ctx, ev);
    wake_poller(ctx);

 out:
    CTX_UNLOCK(ctx);
    return rc;
}

int
xlite__ev_time_register_rel(xlite_ctx *ctx, xlite__ev_time *ev,
                            xlite__ev_time_callback *func, int64_t usec)
{
    return xlite__ev_time_register_abs(ctx, ev, func,
                                       g_get_monotonic_time() + usec);
}

void
xlite__ev_time_deregister(xlite_ctx *ctx, xlite__ev_time *ev)
{
    CTX_LOCK(ctx);
    if (xlite__ev_time_isregistered(ev)) {
        g_queue_unlink(&ctx->etimes, &ev->link);
        if (ev->hook)
            hook_timeout_abandon(ctx, ev);
        ev->func = NULL;
    }
    CTX_UNLOCK(ctx);
}

static void
time_fire(xlite__egc *egc, xlite__ev_time *ev)
{
    xlite__ev_time_callback *func = ev->func;

    xlite__ev_time_deregister(egc->ctx, ev);
    func(egc, ev);
}

static void
fire_due_timers(xlite__egc *egc)
{
    xlite_ctx *ctx = egc->ctx;
    int64_t now = g_get_monotonic_time();
    xlite__ev_time *ev;

    while ((ev = g_queue_peek_head(&ctx->etimes)) && ev->abs <= now)
        time_fire(egc, ev);
}

/* ---------- the application's loop ---------- */

XLITE_EXPORT int
xlite_osevent_register_hooks(xlite_ctx *ctx, const xlite_osevent_hooks *hooks,
                             void *user, xlite_free_fn user_free)
{
    int rc = 0;

    if (!hooks || !hooks->fd_register || !hooks->fd_modify ||
        !hooks->fd_deregister || !hooks->timeout_register ||
        !hooks->timeout_modify)
        return XLITE_ERROR(ctx, -EINVAL, "every osevent hook is required");

    CTX_LOCK(ctx);
    if (ctx->hooks) {
        rc = XLITE_ERROR(ctx, -EEXIST, "osevent hooks are already installed");
        goto out;
    }
    if (g_hash_table_size(ctx->fds_by_id) || ctx->etimes.length) {
        rc = XLITE_ERROR(ctx, -EBUSY,
                         "osevent hooks must be installed before the "
                         "context watches anything");
        goto out;
    }
    ctx->hooks_copy = *hooks;
    ctx->hooks = &ctx->hooks_copy;
    ctx->hooks_user = user;
    ctx->hooks_user_free = user_free;

 out:
    CTX_UNLOCK(ctx);
    return rc;
}

XLITE_EXPORT void
xlite_osevent_occurred_fd(xlite_ctx *ctx, void *for_xlite, int fd,
                          short events, short revents)
{
    xlite__ev_fd *ev;
    EGC_INIT(ctx);

    CTX_LOCK(ctx);
    ev = g_hash_table_lookup(ctx->fds_by_id, for_xlite);
    /* Stale: deregistered since (and maybe the fd reused). */
    if (ev && ev->fd == fd)
        fd_dispatch(egc, ev);
    CTX_UNLOCK(ctx);
    EGC_FREE;
}

XLITE_EXPORT void
xlite_osevent_occurred_timeout(xlite_ctx *ctx, void *for_xlite)
{
    xlite__hook_timeout *hook;
    xlite__ev_time *ev;
    EGC_INIT(ctx);

    CTX_LOCK(ctx);
    hook = g_hash_table_lookup(ctx->hook_timeouts, for_xlite);
    if (!hook)
        goto out;   /* duplicated or stale */
    ev = hook->ev;
    g_hash_table_remove(ctx->hook_timeouts, for_xlite);
    if (!ev)
        goto out;   /* abandoned: now forgotten */
    ev->hook = NULL;
    if (ev->abs > g_get_monotonic_time()) {
        /* Early: the application's clock or loop fired too soon.  Mirror
         * the timer again; if that fails the poller still sees it. */
        if (hook_timeout_register(ctx, ev) < 0)
            XLITE_LOG(ctx, XLITE_LOG_WARN,
                      "a timer fired early and could not be re-armed");
        goto out;
    }
    time_fire(egc, ev);

 out:
    CTX_UNLOCK(ctx);
    EGC_FREE;
}

/* ---------- the internal poller ---------- */

static void
drain(int fd)
{
    char buf[64];

    while (read(fd, buf, sizeof(buf)) > 0)
        ;
}

/* One round: poll everything until something is ready, the next timer or
 * deadline, or a wake-up; then dispatch.  Lock held once on entry. */
static void
poll_once(xlite__egc *egc, int64_t deadline)
{
    xlite_ctx *ctx = egc->ctx;
    guint nfds = g_hash_table_size(ctx->fds_by_id) + 1;
    g_autofree struct pollfd *pfds = g_new0(struct pollfd, nfds);
    g_autofree uintptr_t *ids = g_new0(uintptr_t, nfds);
    xlite__ev_time *first = g_queue_peek_head(&ctx->etimes);
    int64_t until = deadline;
    int timeout_ms = -1;
    GHashTableIter iter;
    gpointer key, value;
    guint i = 1;
    int r;

    pfds[0] = (struct pollfd){ .fd = ctx->wake_pipe[0], .events = POLLIN };
    g_hash_table_iter_init(&iter, ctx->fds_by_id);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        xlite__ev_fd *ev = value;

        pfds[i] = (struct pollfd){ .fd = ev->fd, .events = ev->events };
        ids[i++] = (uintptr_t)key;
    }
    if (first && (until < 0 || first->abs < until))
        until = first->abs;
    if (until >= 0) {
        int64_t left = until - g_get_monotonic_time();

        /* Round up: waking early would only poll again. */
        timeout_ms = left <= 0 ? 0 : (int)MIN((left + 999) / 1000, G_MAXINT);
    }

    ctx->poller_busy = true;
    CTX_UNLOCK(ctx);
    r = poll(pfds, nfds, timeout_ms);
    CTX_LOCK(ctx);
    ctx->poller_busy = false;

    if (r < 0 && errno != EINTR)
        XLITE_LOG(ctx, XLITE_LOG_ERROR, "poll failed: %s", g_strerror(errno));
    if (r > 0) {
        if (pfds[0].revents)
            drain(ctx->wake_pipe[0]);
        for (i = 1; i < nfds; i++) {
            xlite__ev_fd *ev;

            if (!pfds[i].revents)
                continue;
            ev = g_hash_table_lookup(ctx->fds_by_id, (void *)ids[i]);
            if (ev && ev->fd == pfds[i].fd)
                fd_dispatch(egc, ev);
        }
    }
    fire_due_timers(egc);
    /* Let a sleeper take over polling, or see that it is done. */
    pthread_cond_broadcast(&ctx->wait_cond);
}

static void
cond_wait(xlite_ctx *ctx, int64_t deadline)
{
    unsigned int depth = ctx->lock_depth;

    ctx->lock_depth = 0;
    ctx->nwaiters++;
    if (deadline < 0) {
        pthread_cond_wait(&ctx->wait_cond, &ctx->lock);
    } else {
        struct timespec ts = {
            .tv_sec = deadline / G_USEC_PER_SEC,
            .tv_nsec = (deadline % G_USEC_PER_SEC) * 1000,
        };

        pthread_cond_timedwait(&ctx->wait_cond, &ctx->lock, &ts);
    }
    ctx->nwaiters--;
    ctx->lock_depth = depth;
}

int
xlite__wait_until(xlite__egc *egc, bool (*done)(xlite_ctx *ctx, void *data),
                  void *data, int64_t deadline)
{
    xlite_ctx *ctx = egc->ctx;

    /* The wait releases the lock: an outer holder would keep it. */
    assert(ctx->lock_depth == 1);
    for (;;) {
        if (done(ctx, data))
            return 0;
        if (deadline >= 0 && g_get_monotonic_time() >= deadline)
            return -ETIMEDOUT;
        if (ctx->poller_busy) {
            cond_wait(ctx, deadline);
            continue;
        }
        poll_once(egc, deadline);
        CTX_UNLOCK(ctx);
        EGC_FREE;
        CTX_LOCK(ctx);
    }
}

/* ---------- events for the application ---------- */

XLITE_EXPORT void
xlite_event_free(xlite_event *ev)
{
    g_free(ev);
}

xlite_event *
xlite__event_new(xlite_event_type type, uint32_t domid, uint64_t for_user)
{
    xlite_event *ev = g_new0(xlite_event, 1);

    ev->type = type;
    ev->domid = domid;
    ev->for_user = for_user;
    return ev;
}

static bool
event_wanted_by_callback(xlite_ctx *ctx, const xlite_event *ev)
{
    return ctx->event_occurs &&
           (ctx->event_mask & XLITE_EVENTMASK(ev->type));
}

static void
event_enqueue(xlite_ctx *ctx, xlite_event *ev)
{
    g_queue_push_tail(&ctx->events, ev);
    xlite__wake_waiters(ctx);
}

void
xlite__event_occurs(xlite__egc *egc, xlite_event *ev)
{
    if (event_wanted_by_callback(egc->ctx, ev))
        g_queue_push_tail(&egc->occurred, ev);
    else
        event_enqueue(egc->ctx, ev);
}

/* Without the lock: hands ev to the callback or the queue. */
void
xlite__event_deliver(xlite_ctx *ctx, xlite_event *ev)
{
    void (*event_occurs)(void *user, xlite_event *ev) = NULL;
    void *user = NULL;

    CTX_LOCK(ctx);
    if (event_wanted_by_callback(ctx, ev)) {
        event_occurs = ctx->event_occurs;
        user = ctx->event_user;
    } else {
        event_enqueue(ctx, ev);
    }
    CTX_UNLOCK(ctx);
    if (event_occurs)
        event_occurs(user, ev);
}

XLITE_EXPORT int
xlite_event_register_callbacks(xlite_ctx *ctx, uint64_t mask,
                               void (*event_occurs)(void *user,
                                                    xlite_event *ev),
                               void *user, xlite_free_fn user_free)
{
    int rc = 0;

    if (!event_occurs)
        return XLITE_ERROR(ctx, -EINVAL, "an event callback is required");
    CTX_LOCK(ctx);
    if (ctx->event_occurs) {
        rc = XLITE_ERROR(ctx, -EEXIST, "event callbacks are already set");
        goto out;
    }
    ctx->event_mask = mask;
    ctx->event_occurs = event_occurs;
    ctx->event_user = user;
    ctx->event_user_free = user_free;

 out:
    CTX_UNLOCK(ctx);
    return rc;
}

typedef struct {
    /* caller */
    uint64_t mask;
    xlite_event_predicate pred;
    void *pred_user;
    /* result */
    xlite_event *ev;
} event_search;

/* Lock held; the predicate runs with it (it must not call the library). */
static bool
event_search_run(xlite_ctx *ctx, void *data)
{
    event_search *s = data;
    GList *l;

    for (l = ctx->events.head; l; l = l->next) {
        xlite_event *ev = l->data;

        if (!(s->mask & XLITE_EVENTMASK(ev->type)))
            continue;
        if (s->pred && !s->pred(ev, s->pred_user))
            continue;
        g_queue_delete_link(&ctx->events, l);
        s->ev = ev;
        return true;
    }
    return false;
}

XLITE_EXPORT int
xlite_event_check(xlite_ctx *ctx, uint64_t mask, xlite_event_predicate pred,
                  void *pred_user, xlite_event **ev_r)
{
    event_search s = { .mask = mask, .pred = pred, .pred_user = pred_user };
    bool ok;

    CTX_LOCK(ctx);
    ok = event_search_run(ctx, &s);
    CTX_UNLOCK(ctx);
    if (!ok)
        return -ENOENT;
    *ev_r = s.ev;
    return 0;
}

XLITE_EXPORT int
xlite_event_wait(xlite_ctx *ctx, uint64_t mask, xlite_event_predicate pred,
                 void *pred_user, int64_t timeout_usec, xlite_event **ev_r)
{
    event_search s = { .mask = mask, .pred = pred, .pred_user = pred_user };
    int64_t deadline = -1;
    int rc;
    EGC_INIT(ctx);

    if (timeout_usec >= 0)
        deadline = g_get_monotonic_time() + timeout_usec;
    CTX_LOCK(ctx);
    rc = xlite__wait_until(egc, event_search_run, &s, deadline);
    CTX_UNLOCK(ctx);
    EGC_FREE;
    if (rc < 0)
        return rc;
    *ev_r = s.ev;
    return 0;
}

/* ---------- per-domain generators ---------- */

void
xlite__evgen_producer_add(xlite_ctx *ctx, xlite__evgen_producer *p)
{
    CTX_LOCK(ctx);
    p->link = (GList){ .data = p };
    g_queue_push_tail_link(&ctx->producers, &p->link);
    CTX_UNLOCK(ctx);
}

void
xlite__evgen_producer_remove(xlite_ctx *ctx, xlite__evgen_producer *p)
{
    CTX_LOCK(ctx);
    g_queue_unlink(&ctx->producers, &p->link);
    CTX_UNLOCK(ctx);
}

/* Does any enabled generator other than except want p's types of domid? */
static bool
producer_needed(xlite_ctx *ctx, xlite__evgen_producer *p, uint32_t domid,
                const xlite_evgen *except)
{
    GQueue *q = g_hash_table_lookup(ctx->evgens, GUINT_TO_POINTER(domid));
    GList *l;

    for (l = q ? q->head : NULL; l; l = l->next) {
        const xlite_evgen *g = l->data;

        if (g != except && (g->mask & p->mask))
            return true;
    }
    return false;
}

/* Stops the producers that only g needed; g is not in ctx->evgens. */
static void
producers_stop(xlite_ctx *ctx, const xlite_evgen *g, GList *until)
{
    GList *l;

    for (l = ctx->producers.head; l != until; l = l->next) {
        xlite__evgen_producer *p = l->data;

        if ((g->mask & p->mask) && !producer_needed(ctx, p, g->domid, g))
            p->stop(ctx, p, g->domid);
    }
}

XLITE_EXPORT int
xlite_evenable_domain(xlite_ctx *ctx, uint32_t domid, uint64_t mask,
                      uint64_t for_user, xlite_evgen **evgen_r)
{
    g_autofree xlite_evgen *g = NULL;
    uint64_t served = 0;
    GList *l;
    int rc = 0;

    if (!mask || !evgen_r)
        return XLITE_ERROR(ctx, -EINVAL,
                           "an event mask and a result pointer are required");
    g = g_new0(xlite_evgen, 1);
    g->domid = domid;
    g->mask = mask;
    g->for_user = for_user;
    g->link = (GList){ .data = g };

    CTX_LOCK(ctx);
    for (l = ctx->producers.head; l; l = l->next)
        served |= ((xlite__evgen_producer *)l->data)->mask;
    if (mask & ~served) {
        rc = XLITE_ERROR(ctx, -EOPNOTSUPP,
                         "no producer for event mask %#" G_GINT64_MODIFIER "x",
                         mask & ~served);
        goto out;
    }
    for (l = ctx->producers.head; l; l = l->next) {
        xlite__evgen_producer *p = l->data;

        if (!(mask & p->mask) || producer_needed(ctx, p, domid, NULL))
            continue;
        if ((rc = p->start(ctx, p, domid)) < 0) {
            producers_stop(ctx, g, l);
            goto out;
        }
    }
    {
        GQueue *q = g_hash_table_lookup(ctx->evgens, GUINT_TO_POINTER(domid));

        if (!q) {
            q = g_queue_new();
            g_hash_table_insert(ctx->evgens, GUINT_TO_POINTER(domid), q);
        }
        g_queue_push_tail_link(q, &g->link);
    }
    *evgen_r = g_steal_pointer(&g);

 out:
    CTX_UNLOCK(ctx);
    return rc;
}

XLITE_EXPORT void
xlite_evdisable(xlite_ctx *ctx, xlite_evgen *evgen)
{
    if (!evgen)
        return;
    CTX_LOCK(ctx);
    {
        GQueue *q = g_hash_table_lookup(ctx->evgens,
                                        GUINT_TO_POINTER(evgen->domid));

        g_queue_unlink(q, &evgen->link);
        if (q->length == 0)
            g_hash_table_remove(ctx->evgens, GUINT_TO_POINTER(evgen->domid));
    }
    producers_stop(ctx, evgen, NULL);
    CTX_UNLOCK(ctx);
    g_free(evgen);
}

void
xlite__evgen_emit(xlite__egc *egc, const xlite_event *tmpl)
{
    GQueue *q = g_hash_table_lookup(egc->ctx->evgens,
                                    GUINT_TO_POINTER(tmpl->domid));
    GList *l;

    for (l = q ? q->head : NULL; l; l = l->next) {
        const xlite_evgen *g = l->data;
        xlite_event *ev;

        if (!(g->mask & XLITE_EVENTMASK(tmpl->type)))
            continue;
        ev = g_memdup2(tmpl, sizeof(*tmpl));
        ev->for_user = g->for_user;
        xlite__event_occurs(egc, ev);
    }
}

/* ---------- the context's share ---------- */

int
xlite__event_ctx_init(xlite_ctx *ctx)
{
    pthread_condattr_t attr;
    int rc;

    ctx->fds_by_id = g_hash_table_new(g_direct_hash, g_direct_equal);
    ctx->hook_timeouts = g_hash_table_new_full(g_direct_hash, g_direct_equal,
                                               NULL, g_free);
    g_queue_init(&ctx->etimes);
    g_queue_init(&ctx->events);
    g_queue_init(&ctx->producers);
    ctx->evgens = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                        (GDestroyNotify)g_queue_free);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ctx->wait_cond, &attr);
    pthread_condattr_destroy(&attr);
    ctx->wake_pipe[0] = ctx->wake_pipe[1] = -1;
    if ((rc = xlite__pipe(ctx, ctx->wake_pipe)) < 0)
        return rc;
    return 0;
}

void
xlite__event_ctx_free(xlite_ctx *ctx)
{
    /* Programming errors: sources or generators left behind. */
    assert(!ctx->fds_by_id || g_hash_table_size(ctx->fds_by_id) == 0);
    assert(ctx->etimes.length == 0);
    assert(!ctx->evgens || g_hash_table_size(ctx->evgens) == 0);
    assert(!ctx->poller_busy && ctx->nwaiters == 0);

    if (ctx->hooks_user_free)
        ctx->hooks_user_free(ctx->hooks_user);
    g_clear_pointer(&ctx->fds_by_id, g_hash_table_unref);
    g_clear_pointer(&ctx->hook_timeouts, g_hash_table_unref);
    g_clear_pointer(&ctx->evgens, g_hash_table_unref);
    g_queue_clear_full(&ctx->events, g_free);
    if (ctx->event_user_free)
        ctx->event_user_free(ctx->event_user);
    pthread_cond_destroy(&ctx->wait_cond);
    xlite__close(&ctx->wake_pipe[0]);
    xlite__close(&ctx->wake_pipe[1]);
}
