/*
 * test-events.c: events, generators, progress and completion order
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <string.h>

#include "testutils.h"
#include "xlite_internal.h"

/* ---------- a synthetic producer of domain death and shutdown ---------- */

typedef struct {
    xlite__evgen_producer p;
    int starts;
    int stops;
} synth_producer;

static int
synth_start(xlite_ctx *ctx, xlite__evgen_producer *p, uint32_t domid)
{
    XLITE__CONTAINER_OF(p, synth_producer, p)->starts++;
    return 0;
}

static void
synth_stop(xlite_ctx *ctx, xlite__evgen_producer *p, uint32_t domid)
{
    XLITE__CONTAINER_OF(p, synth_producer, p)->stops++;
}

/* What the producer's watch callback would do: emit under the lock, with
 * the callbacks run after unlock. */
static void
synth_emit(xlite_ctx *ctx, xlite_event_type type, uint32_t domid)
{
    xlite_event tmpl = { .type = type, .domid = domid };
    EGC_INIT(ctx);

    memset(tmpl.uuid, domid, sizeof(tmpl.uuid));
    if (type == XLITE_EVENT_DOMAIN_SHUTDOWN)
        tmpl.u.domain_shutdown.reason = XLITE_SHUTDOWN_REBOOT;
    CTX_LOCK(ctx);
    xlite__evgen_emit(egc, &tmpl);
    CTX_UNLOCK(ctx);
    EGC_FREE;
}

typedef struct {
    xlite_ctx *ctx;
    GPtrArray *got;            /* xlite_event, owned */
    bool lock_was_free;
} receiver;

static void *
try_lock_main(void *opaque)
{
    xlite_ctx *ctx = opaque;
    bool free_ = pthread_mutex_trylock(&ctx->lock) == 0;

    if (free_)
        pthread_mutex_unlock(&ctx->lock);
    return GINT_TO_POINTER(free_);
}

static void
receive_cb(void *user, xlite_event *ev)
{
    receiver *r = user;
    pthread_t tid;
    void *free_;

    /* Never called with the library's lock held (by any thread). */
    pthread_create(&tid, NULL, try_lock_main, r->ctx);
    pthread_join(tid, &free_);
    r->lock_was_free = GPOINTER_TO_INT(free_);
    g_ptr_array_add(r->got, ev);
}

static void
receiver_free(void *user)
{
    receiver *r = user;

    g_ptr_array_unref(r->got);
    r->got = NULL;
}

static bool
is_domid_7(const xlite_event *ev, void *user)
{
    return ev->domid == 7;
}

static void
test_generators(void)
{
    xlite_ctx *ctx = test_ctx_new();
    synth_producer sp = { .p = { .mask = XLITE_EVENTMASK(XLITE_EVENT_DOMAIN_DEATH) |
                                         XLITE_EVENTMASK(XLITE_EVENT_DOMAIN_SHUTDOWN),
                                 .start = synth_start, .stop = synth_stop } };
    receiver r = { .ctx = ctx,
                   .got = g_ptr_array_new_with_free_func(g_free) };
    xlite_evgen *g1 = NULL, *g2 = NULL, *g3 = NULL, *none = NULL;
    xlite_event *ev = NULL;
    leak_check lc;

    leak_check_begin(&lc);
    xlite__evgen_producer_add(ctx, &sp.p);
    /* Deaths to the callback, the rest to the queue. */
    g_assert_cmpint(xlite_event_register_callbacks(ctx,
                        XLITE_EVENTMASK(XLITE_EVENT_DOMAIN_DEATH),
                        receive_cb, &r, receiver_free), ==, 0);
    g_assert_cmpint(xlite_event_register_callbacks(ctx, 0, receive_cb, &r,
                                                   NULL), ==, -EEXIST);

    g_assert_cmpint(xlite_evenable_domain(ctx, 5,
                        XLITE_EVENTMASK(XLITE_EVENT_BLOCK_JOB), 0, &none),
                    ==, -EOPNOTSUPP);
    g_assert_cmpint(xlite_evenable_domain(ctx, 5,
                        XLITE_EVENTMASK(XLITE_EVENT_DOMAIN_DEATH) |
                        XLITE_EVENTMASK(XLITE_EVENT_DOMAIN_SHUTDOWN),
                        111, &g1), ==, 0);
    g_assert_cmpint(xlite_evenable_domain(ctx, 5,
                        XLITE_EVENTMASK(XLITE_EVENT_DOMAIN_DEATH), 222, &g2),
                    ==, 0);
    g_assert_cmpint(xlite_evenable_domain(ctx, 7,
                        XLITE_EVENTMASK(XLITE_EVENT_DOMAIN_SHUTDOWN), 333,
                        &g3), ==, 0);
    /* One start per domain watched. */
    g_assert_cmpint(sp.starts, ==, 2);

    synth_emit(ctx, XLITE_EVENT_DOMAIN_DEATH, 5);
    g_assert_cmpuint(r.got->len, ==, 2);
    g_assert_true(r.lock_was_free);
    ev = r.got->pdata[0];
    g_assert_cmpint(ev->type, ==, XLITE_EVENT_DOMAIN_DEATH);
    g_assert_cmpuint(ev->domid, ==, 5);
    g_assert_cmpuint(ev->uuid[15], ==, 5);
    g_assert_cmpuint(ev->for_user, ==, 111);
    g_assert_cmpuint(((xlite_event *)r.got->pdata[1])->for_user, ==, 222);

    synth_emit(ctx, XLITE_EVENT_DOMAIN_SHUTDOWN, 5);
    synth_emit(ctx, XLITE_EVENT_DOMAIN_SHUTDOWN, 7);
    synth_emit(ctx, XLITE_EVENT_DOMAIN_SHUTDOWN, 9);   /* nobody wants it */
    g_assert_cmpuint(r.got->len, ==, 2);
    g_assert_cmpint(xlite_event_check(ctx, XLITE_EVENTMASK_ALL, is_domid_7,
                                      NULL, &ev), ==, 0);
    g_assert_cmpuint(ev->for_user, ==, 333);
    xlite_event_free(ev);
    g_assert_cmpint(xlite_event_check(ctx, XLITE_EVENTMASK_ALL, NULL, NULL,
                                      &ev), ==, 0);
    g_assert_cmpuint(ev->for_user, ==, 111);
    g_assert_cmpint(ev->u.domain_shutdown.reason, ==, XLITE_SHUTDOWN_REBOOT);
    xlite_event_free(ev);
    g_assert_cmpint(xlite_event_check(ctx, XLITE_EVENTMASK_ALL, NULL, NULL,
                                      &ev), ==, -ENOENT);
    g_assert_cmpint(xlite_event_wait(ctx, XLITE_EVENTMASK_ALL, NULL, NULL,
                                     1000, &ev), ==, -ETIMEDOUT);

    /* Disabled: no more events from it; the producer stops with the last. */
    xlite_evdisable(ctx, g1);
    g_assert_cmpint(sp.stops, ==, 0);
    synth_emit(ctx, XLITE_EVENT_DOMAIN_DEATH, 5);
    g_assert_cmpuint(r.got->len, ==, 3);
    g_assert_cmpuint(((xlite_event *)r.got->pdata[2])->for_user, ==, 222);
    xlite_evdisable(ctx, g2);
    g_assert_cmpint(sp.stops, ==, 1);
    xlite_evdisable(ctx, g3);
    g_assert_cmpint(sp.stops, ==, 2);
    synth_emit(ctx, XLITE_EVENT_DOMAIN_DEATH, 5);
    g_assert_cmpuint(r.got->len, ==, 3);

    xlite__evgen_producer_remove(ctx, &sp.p);
    xlite_ctx_free(ctx);
    g_assert_null(r.got);      /* user_free ran */
    leak_check_end(&lc);
}

/* ---------- progress strictly before completion ---------- */

static void
record_progress_cb(xlite_ctx *ctx, xlite_event *ev, void *opaque)
{
    GString *order = opaque;

    g_string_append_printf(order, "progress %u/%u;",
                           ev->u.operation_progress.step,
                           ev->u.operation_progress.total);
    xlite_event_free(ev);
}

static void
record_done_cb(xlite_ctx *ctx, int rc, void *opaque)
{
    GString *order = opaque;

    g_string_append_printf(order, "done %d;", rc);
}

static void
test_progress_order(void)
{
    xlite_ctx *ctx = test_ctx_new();
    g_autoptr(GString) order = g_string_new("");
    xlite_asyncprogress_how aop = { .callback = record_progress_cb,
                                    .opaque = order };
    xlite_async_how how = { .callback = record_done_cb, .opaque = order };
    xlite_asyncprogress_how aop_ev = { .for_event = 41 };
    xlite_async_how how_ev = { .for_event = 42 };
    xlite_event *ev;
    leak_check lc;
    int i;

    leak_check_begin(&lc);
    /* Synchronous, progress by callback: all reports before it returns. */
    g_assert_cmpint(xlite_sleep(ctx, 0, 3, &aop, NULL), ==, 0);
    g_assert_cmpstr(order->str, ==, "progress 1/3;progress 2/3;");
    g_string_truncate(order, 0);

    /* Asynchronous with callbacks. */
    g_assert_cmpint(xlite_sleep(ctx, 1000, 3, &aop, &how), ==, 0);
    while (!strstr(order->str, "done"))
        xlite_event_wait(ctx, 0, NULL, NULL, 1000, &ev);
    g_assert_cmpstr(order->str, ==, "progress 1/3;progress 2/3;done 0;");

    /* Asynchronous with events only: in the queue, in order. */
    g_assert_cmpint(xlite_sleep(ctx, 0, 3, &aop_ev, &how_ev), ==, 0);
    for (i = 1; i <= 3; i++) {
        g_assert_cmpint(xlite_event_wait(ctx, XLITE_EVENTMASK_ALL, NULL, NULL,
                                         G_USEC_PER_SEC, &ev), ==, 0);
        if (i < 3) {
            g_assert_cmpint(ev->type, ==, XLITE_EVENT_OPERATION_PROGRESS);
            g_assert_cmpuint(ev->for_user, ==, 41);
            g_assert_cmpuint(ev->u.operation_progress.step, ==, (unsigned)i);
        } else {
            g_assert_cmpint(ev->type, ==, XLITE_EVENT_OPERATION_COMPLETE);
            g_assert_cmpuint(ev->for_user, ==, 42);
            g_assert_cmpint(ev->u.operation_complete.rc, ==, 0);
        }
        xlite_event_free(ev);
    }

    /* Invalid arguments fail at once and complete nothing. */
    g_assert_cmpint(xlite_sleep(ctx, -1, 1, NULL, &how_ev), ==, -EINVAL);
    g_assert_cmpint(xlite_async_abort(ctx, NULL), ==, -EINVAL);
    g_assert_cmpint(xlite_event_check(ctx, XLITE_EVENTMASK_ALL, NULL, NULL,
                                      &ev), ==, -ENOENT);
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

/* ---------- several waiters, one poller ---------- */

typedef struct {
    xlite_ctx *ctx;
    int64_t usec;
    int64_t took;
} sleeper;

static void *
sleeper_main(void *opaque)
{
    sleeper *s = opaque;
    int64_t start = g_get_monotonic_time();

    g_assert_cmpint(xlite_sleep(s->ctx, s->usec, 1, NULL, NULL), ==, 0);
    s->took = g_get_monotonic_time() - start;
    return NULL;
}

/* A short sleep is not held up by a long one polling in another thread. */
static void
test_waiters(void)
{
    xlite_ctx *ctx = test_ctx_new();
    sleeper s[4] = {
        { ctx, 300 * 1000 }, { ctx, 20 * 1000 },
        { ctx, 100 * 1000 }, { ctx, 1000 },
    };
    pthread_t tids[4];
    leak_check lc;
    int i;

    leak_check_begin(&lc);
    for (i = 0; i < 4; i++)
        pthread_create(&tids[i], NULL, sleeper_main, &s[i]);
    for (i = 0; i < 4; i++) {
        pthread_join(tids[i], NULL);
        g_assert_cmpint(s[i].took, >=, s[i].usec);
        g_assert_cmpint(s[i].took, <,
                        s[i].usec + test_iterations(250, 5000) * 1000);
    }
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xlite/events/generators", test_generators);
    g_test_add_func("/xlite/events/progress-order", test_progress_order);
    g_test_add_func("/xlite/events/waiters", test_waiters);
    return g_test_run();
}
