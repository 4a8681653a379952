/*
 * xlite_balloon.c: the balloon moves; the generator of
 * XLITE_EVENT_BALLOON_CHANGE
 *
 * What a domain holds is the hypervisor's figure (its pages), and Xen
 * tells nobody when it changes: a guest's balloon driver gives pages back
 * or takes them in steps, at its own pace, after the toolstack wrote a new
 * `memory/target` (or on its own: Linux's self-ballooning).  So, while
 * anyone wants BALLOON_CHANGE events of a domain, the moments at which
 * the balloon may move are watched, and at each the hypervisor is asked:
 *
 *  - `memory/target`, written by a toolstack (ours, or `xl mem-set`
 *    behind our back): the balloon starts moving.  The guest gets there
 *    in its own time, so the figure is asked again every second until it
 *    reaches the target, at most XLITE__BALLOON_FOLLOW times;
 *  - `data/meminfo_total`, which a guest's tools rewrite once its memory
 *    changed (XenServer's guest tools; the simulated guest): a guest that
 *    ballooned on its own is seen as soon as it says so.
 *
 * An event reports a figure that differs from the last one reported (or
 * from the one found when the watching began), so a guest that writes its
 * nodes without ballooning causes reads, never events.  What a guest
 * writes is only a reason to look: the figure is the hypervisor's.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <string.h>

#include "xlite_dom_internal.h"

/* Checks after a target change, one a second. */
#define XLITE__BALLOON_FOLLOW 10

typedef struct {
    xlite_ctx *ctx;
    uint32_t domid;
    uint8_t uuid[16];
    uint64_t reported_kib;        /* the last figure reported, or the first */
    unsigned int follow_left;     /* checks left after a target change */
    char *target_path;            /* /local/domain/<domid>/memory/target */
    xlite__ev_xswatch target_watch;
    xlite__ev_xswatch report_watch;  /* .../data/meminfo_total */
    xlite__ev_time follow;
} balloon_watch;

struct xlite__balloons {
    GHashTable *watched;          /* domid -> balloon_watch */
    xlite__evgen_producer producer;
};

/* Asks the hypervisor; reports a new figure.  True while the domain holds
 * something else than its target (as far as the target can be read). */
static bool
balloon_check(xlite__egc *egc, balloon_watch *bw)
{
    xlite_ctx *ctx = egc->ctx;
    xlite_dominfo info;
    g_autofree char *val = NULL;
    guint64 target;

    /* A domain gone has its death reported, not its memory. */
    if (ctx->hv->dom_info(ctx, ctx->hv_state, bw->domid, &info) < 0 ||
        memcmp(info.uuid, bw->uuid, 16) != 0 || info.dying)
        return false;
    if (info.cur_memkb != bw->reported_kib) {
        xlite_event tmpl = { .type = XLITE_EVENT_BALLOON_CHANGE,
                             .domid = bw->domid };

        XLITE_LOG(ctx, XLITE_LOG_DEBUG, "domain %u: balloon at %" G_GUINT64_FORMAT
                  " KiB (was %" G_GUINT64_FORMAT ")", bw->domid,
                  (guint64)info.cur_memkb, (guint64)bw->reported_kib);
        bw->reported_kib = info.cur_memkb;
        memcpy(tmpl.uuid, bw->uuid, 16);
        tmpl.u.balloon_change.actual_kib = info.cur_memkb;
        xlite__evgen_emit(egc, &tmpl);
    }
    if (!(val = xlite__xs_read_bounded(ctx, bw->target_path, 24)) ||
        !g_ascii_string_to_unsigned(val, 10, 0, G_MAXUINT64, &target, NULL))
        return false;
    return info.cur_memkb != MIN(target, info.max_memkb);
}

static void
balloon_follow_cb(xlite__egc *egc, xlite__ev_time *ev)
{
    balloon_watch *bw = XLITE__CONTAINER_OF(ev, balloon_watch, follow);

    if (balloon_check(egc, bw) && bw->follow_left > 0) {
        bw->follow_left--;
        xlite__ev_time_register_rel(egc->ctx, &bw->follow, balloon_follow_cb,
                                    G_USEC_PER_SEC);
    }
}

static void
balloon_target_cb(xlite__egc *egc, xlite__ev_xswatch *w, const char *wpath,
                  const char *epath)
{
    balloon_watch *bw = XLITE__CONTAINER_OF(w, balloon_watch, target_watch);

    if (!balloon_check(egc, bw))
        return;
    /* Under way: follow it (a second target restarts the count). */
    bw->follow_left = XLITE__BALLOON_FOLLOW - 1;
    if (!xlite__ev_time_isregistered(&bw->follow))
        xlite__ev_time_register_rel(egc->ctx, &bw->follow, balloon_follow_cb,
                                    G_USEC_PER_SEC);
}

static void
balloon_report_cb(xlite__egc *egc, xlite__ev_xswatch *w, const char *wpath,
                  const char *epath)
{
    balloon_watch *bw = XLITE__CONTAINER_OF(w, balloon_watch, report_watch);

    balloon_check(egc, bw);
}

/* ---------- the generator's producer ---------- */

static void
balloon_watch_free(gpointer data)
{
    balloon_watch *bw = data;

    xlite__ev_xswatch_deregister(bw->ctx, &bw->target_watch);
    xlite__ev_xswatch_deregister(bw->ctx, &bw->report_watch);
    xlite__ev_time_deregister(bw->ctx, &bw->follow);
    g_free(bw->target_path);
    g_free(bw);
}

static int
producer_start(xlite_ctx *ctx, xlite__evgen_producer *p, uint32_t domid)
{
    g_autofree char *report_path = NULL;
    balloon_watch *bw;
    xlite_dominfo info;
    int rc;

    /* A domain already gone balloons no more: its death is reported. */
    if ((rc = ctx->hv->dom_info(ctx, ctx->hv_state, domid, &info)) < 0)
        return rc == -ESRCH ? 0 : rc;
    bw = g_new0(balloon_watch, 1);
    bw->ctx = ctx;
    bw->domid = domid;
    memcpy(bw->uuid, info.uuid, 16);
    bw->reported_kib = info.cur_memkb;
    bw->target_path = g_strdup_printf("/local/domain/%u/memory/target", domid);
    report_path = g_strdup_printf("/local/domain/%u/data/meminfo_total", domid);
    xlite__ev_xswatch_init(&bw->target_watch);
    xlite__ev_xswatch_init(&bw->report_watch);
    xlite__ev_time_init(&bw->follow);
    if ((rc = xlite__ev_xswatch_register(ctx, &bw->target_watch,
                                         balloon_target_cb,
                                         bw->target_path)) < 0 ||
        (rc = xlite__ev_xswatch_register(ctx, &bw->report_watch,
                                         balloon_report_cb, report_path)) < 0) {
        balloon_watch_free(bw);
        return rc;
    }
    g_hash_table_replace(ctx->balloons->watched, GUINT_TO_POINTER(domid), bw);
    return 0;
}

static void
producer_stop(xlite_ctx *ctx, xlite__evgen_producer *p, uint32_t domid)
{
    g_hash_table_remove(ctx->balloons->watched, GUINT_TO_POINTER(domid));
}

void
xlite__balloons_ctx_init(xlite_ctx *ctx)
{
    struct xlite__balloons *b = g_new0(struct xlite__balloons, 1);

    b->watched = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                       balloon_watch_free);
    ctx->balloons = b;
    if (ctx->hv->dom_info) {
        b->producer.mask = XLITE_EVENTMASK(XLITE_EVENT_BALLOON_CHANGE);
        b->producer.start = producer_start;
        b->producer.stop = producer_stop;
        xlite__evgen_producer_add(ctx, &b->producer);
    }
}

void
xlite__balloons_ctx_free(xlite_ctx *ctx)
{
    struct xlite__balloons *b = ctx->balloons;

    if (!b)
        return;
    if (ctx->hv->dom_info)
        xlite__evgen_producer_remove(ctx, &b->producer);
    g_hash_table_unref(b->watched);
    g_free(b);
    ctx->balloons = NULL;
}
