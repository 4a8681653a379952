/*
 * xlite_death.c: watching domains change state; the generator of
 * XLITE_EVENT_DOMAIN_SHUTDOWN and XLITE_EVENT_DOMAIN_DEATH
 *
 * The rules are in xlite_internal.h, "Domains".  One mechanism per
 * context, switched on while anyone needs it:
 *  - the backend's domain-change reports, where it has any (the
 *    domain_changed notifications of xensimd, which cover every change:
 *    create, pause, shutdown, death).  A report names its domain: ONE
 *    dom_info of that domain, compared with what the waiters on it and
 *    its generator expect, so that a change costs the same on a host of
 *    ten domains or of thousands.  A report for no domain in particular
 *    (the backend reconnected) makes a scan;
 *  - else (Xen: VIRQ_DOM_EXC is xenstored's) ONE xenstore watch on
 *    @releaseDomain, which xenstored fires when some domain shuts down or
 *    dies, without saying which: each makes a scan, one dom_list compared
 *    with what each waiter and each watched domain expects (as libxl
 *    does).
 * Reports say "look again", never what changed, so spurious and merged
 * reports are harmless.
 *
 * The generator keeps, per watched domain, its uuid (learnt when watching
 * starts, since a dead domain has none to ask for) and whether its
 * shutdown and death were reported: DOMAIN_SHUTDOWN at most once per
 * shutdown (again only after the domain ran again, e.g. resumed from
 * suspend), DOMAIN_DEATH exactly once, when the domain is dying or gone.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <string.h>

#include "xlite_internal.h"

typedef struct {
    uint32_t domid;
    uint8_t uuid[16];
    bool shutdown_reported;
    bool death_reported;
} watched_dom;

struct xlite__domains {
    bool watching;
    xlite__ev_xswatch release_watch;
    GQueue waiters;                   /* xlite__domwait */
    GHashTable *watched;              /* domid -> watched_dom */
    xlite__ev_time kick;
    bool kick_all;                    /* the kick scans every domain */
    GHashTable *kick_domids;          /* else it looks at these (a set) */
    uint64_t scan_gen;
    xlite__evgen_producer producer;
};

static void domains_changed(xlite__egc *egc, uint32_t domid);

/* ---------- switching the watch on and off ---------- */

static void
release_watch_cb(xlite__egc *egc, xlite__ev_xswatch *w, const char *wpath,
                 const char *epath)
{
    domains_changed(egc, XLITE__DOMID_ANY);
}

static int
watch_update(xlite_ctx *ctx)
{
    struct xlite__domains *d = ctx->domains;
    bool need = d->waiters.length || g_hash_table_size(d->watched);
    int rc;

    if (need == d->watching)
        return 0;
    if (need) {
        /* The backend's reports cover what @releaseDomain says, and say
         * which domain: no need for both. */
        if (ctx->hv->watch_domains)
            rc = ctx->hv->watch_domains(ctx, ctx->hv_state, domains_changed);
        else
            rc = xlite__ev_xswatch_register(ctx, &d->release_watch,
                                            release_watch_cb,
                                            "@releaseDomain");
        if (rc < 0)
            return rc;
        d->watching = true;
    } else {
        xlite__ev_xswatch_deregister(ctx, &d->release_watch);
        if (ctx->hv->watch_domains)
            ctx->hv->watch_domains(ctx, ctx->hv_state, NULL);
        xlite__ev_time_deregister(ctx, &d->kick);
        d->kick_all = false;
        g_hash_table_remove_all(d->kick_domids);
        d->watching = false;
    }
    return 0;
}

/* ---------- the scan ---------- */

/* One watched domain against its info (NULL: gone). */
static void
generator_check(xlite__egc *egc, watched_dom *wd, const xlite_dominfo *info)
{
    xlite_event tmpl = { .domid = wd->domid };

    memcpy(tmpl.uuid, wd->uuid, 16);
    if (wd->death_reported)
        return;
    /* The same domid with another uuid is another domain. */
    if (info && memcmp(info->uuid, wd->uuid, 16) != 0)
        info = NULL;
    if (info && info->shutdown && !wd->shutdown_reported) {
        wd->shutdown_reported = true;
        tmpl.type = XLITE_EVENT_DOMAIN_SHUTDOWN;
        tmpl.u.domain_shutdown.reason = info->shutdown_reason;
        xlite__evgen_emit(egc, &tmpl);
    } else if (info && !info->shutdown && !info->dying) {
        wd->shutdown_reported = false;
    }
    if (!info || info->dying) {
        wd->death_reported = true;
        tmpl.type = XLITE_EVENT_DOMAIN_DEATH;
        xlite__evgen_emit(egc, &tmpl);
    }
}

/*
 * Tells the waiters: with rc < 0 every one of them; else those on
 * @domid (every one if XLITE__DOMID_ANY), each its domain's info, found
 * in @byid (domid -> info) when given, else @info.
 */
static void
scan_waiters(xlite__egc *egc, int rc, uint32_t domid, GHashTable *byid,
             const xlite_dominfo *info)
{
    struct xlite__domains *d = egc->ctx->domains;
    uint64_t gen = ++d->scan_gen;
    GList *l = d->waiters.head;

    /* A callback may deregister any waiter (and free it): start over
     * after each one, skipping those already told. */
    while (l) {
        xlite__domwait *dw = l->data;

        if (dw->seen_scan == gen ||
            (rc == 0 && domid != XLITE__DOMID_ANY && dw->domid != domid)) {
            l = l->next;
            continue;
        }
        dw->seen_scan = gen;
        dw->callback(egc, dw, rc,
                     rc < 0 ? NULL :
                     byid ? g_hash_table_lookup(byid,
                                                GUINT_TO_POINTER(dw->domid)) :
                     info);
        l = d->waiters.head;
    }
}

/* Every domain: one dom_list. */
static void
scan_all(xlite__egc *egc)
{
    xlite_ctx *ctx = egc->ctx;
    struct xlite__domains *d = ctx->domains;
    g_autofree xlite_dominfo *infos = NULL;
    g_autoptr(GHashTable) byid = NULL;
    GHashTableIter iter;
    watched_dom *wd;
    size_t n = 0, i;
    int rc;

    rc = ctx->hv->dom_list(ctx, ctx->hv_state, &infos, &n);
    if (rc == 0) {
        /* A new host's first look: what a destroy or a create undo cut
         * short by the loss of the old one left goes. */
        xlite__userdata_collect(ctx, infos, n);
        byid = g_hash_table_new(g_direct_hash, g_direct_equal);
        for (i = 0; i < n; i++)
            g_hash_table_insert(byid, GUINT_TO_POINTER(infos[i].domid),
                                &infos[i]);
        g_hash_table_iter_init(&iter, d->watched);
        while (g_hash_table_iter_next(&iter, NULL, (void **)&wd))
            generator_check(egc, wd,
                            g_hash_table_lookup(byid,
                                                GUINT_TO_POINTER(wd->domid)));
    }
    scan_waiters(egc, rc, XLITE__DOMID_ANY, byid, NULL);
}

/* One domain: one dom_info. */
static void
scan_one(xlite__egc *egc, uint32_t domid)
{
    xlite_ctx *ctx = egc->ctx;
    xlite_dominfo info;
    watched_dom *wd;
    int rc;

    rc = ctx->hv->dom_info(ctx, ctx->hv_state, domid, &info);
    if (rc < 0 && rc != -ESRCH) {
        scan_waiters(egc, rc, domid, NULL, NULL);
        return;
    }
    if ((wd = g_hash_table_lookup(ctx->domains->watched,
                                  GUINT_TO_POINTER(domid))))
        generator_check(egc, wd, rc == 0 ? &info : NULL);
    scan_waiters(egc, 0, domid, NULL, rc == 0 ? &info : NULL);
}

static void
domains_changed(xlite__egc *egc, uint32_t domid)
{
    xlite_ctx *ctx = egc->ctx;
    struct xlite__domains *d = ctx->domains;

    if (!d->watching)
        return;
    if (domid != XLITE__DOMID_ANY) {
        scan_one(egc, domid);
        return;
    }
    /* It covers any kick pending. */
    xlite__ev_time_deregister(ctx, &d->kick);
    d->kick_all = false;
    g_hash_table_remove_all(d->kick_domids);
    scan_all(egc);
}

static void
kick_cb(xlite__egc *egc, xlite__ev_time *ev)
{
    struct xlite__domains *d = egc->ctx->domains;
    g_autoptr(GHashTable) domids = NULL;
    GHashTableIter iter;
    void *key;

    if (d->kick_all) {
        domains_changed(egc, XLITE__DOMID_ANY);
        return;
    }
    /* Kicks that come while we look are for the next round. */
    domids = g_steal_pointer(&d->kick_domids);
    d->kick_domids = g_hash_table_new(g_direct_hash, g_direct_equal);
    g_hash_table_iter_init(&iter, domids);
    while (g_hash_table_iter_next(&iter, &key, NULL))
        domains_changed(egc, GPOINTER_TO_UINT(key));
}

void
xlite__domains_kick(xlite_ctx *ctx, uint32_t domid)
{
    struct xlite__domains *d = ctx->domains;

    if (!d->watching)
        return;
    if (domid == XLITE__DOMID_ANY)
        d->kick_all = true;
    else
        g_hash_table_add(d->kick_domids, GUINT_TO_POINTER(domid));
    if (xlite__ev_time_isregistered(&d->kick))
        return;
    if (xlite__ev_time_register_rel(ctx, &d->kick, kick_cb, 0) < 0)
        XLITE_LOG(ctx, XLITE_LOG_ERROR, "cannot register a timer");
}

/* ---------- waiters ---------- */

void
xlite__domwait_init(xlite__domwait *dw)
{
    dw->registered = false;
    dw->seen_scan = 0;
}

int
xlite__domwait_register(xlite__egc *egc, xlite__domwait *dw)
{
    xlite_ctx *ctx = egc->ctx;
    struct xlite__domains *d = ctx->domains;
    int rc;

    assert(!dw->registered);
    dw->link = (GList){ .data = dw };
    g_queue_push_tail_link(&d->waiters, &dw->link);
    dw->registered = true;
    if ((rc = watch_update(ctx)) < 0) {
        xlite__domwait_deregister(ctx, dw);
        return rc;
    }
    /* Look at least once, in case the change already happened. */
    xlite__domains_kick(ctx, dw->domid);
    return 0;
}

void
xlite__domwait_deregister(xlite_ctx *ctx, xlite__domwait *dw)
{
    if (!dw->registered)
        return;
    g_queue_unlink(&ctx->domains->waiters, &dw->link);
    dw->registered = false;
    watch_update(ctx);
}

/* ---------- the generator's producer ---------- */

static int
producer_start(xlite_ctx *ctx, xlite__evgen_producer *p, uint32_t domid)
{
    struct xlite__domains *d = ctx->domains;
    watched_dom *wd = g_new0(watched_dom, 1);
    xlite_dominfo info;
    int rc;

    wd->domid = domid;
    rc = ctx->hv->dom_info ? ctx->hv->dom_info(ctx, ctx->hv_state, domid,
                                                &info)
                           : -EOPNOTSUPP;
    if (rc == 0)
        memcpy(wd->uuid, info.uuid, 16);
    else if (rc != -ESRCH) {
        g_free(wd);
        return rc;
    }
    g_hash_table_insert(d->watched, GUINT_TO_POINTER(domid), wd);
    if ((rc = watch_update(ctx)) < 0) {
        g_hash_table_remove(d->watched, GUINT_TO_POINTER(domid));
        return rc;
    }
    xlite__domains_kick(ctx, domid);
    return 0;
}

static void
producer_stop(xlite_ctx *ctx, xlite__evgen_producer *p, uint32_t domid)
{
    g_hash_table_remove(ctx->domains->watched, GUINT_TO_POINTER(domid));
    watch_update(ctx);
}

int
xlite__domains_ctx_init(xlite_ctx *ctx)
{
    struct xlite__domains *d = g_new0(struct xlite__domains, 1);

    xlite__ev_xswatch_init(&d->release_watch);
    xlite__ev_time_init(&d->kick);
    g_queue_init(&d->waiters);
    d->watched = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                       g_free);
    d->kick_domids = g_hash_table_new(g_direct_hash, g_direct_equal);
    ctx->domains = d;
    if (ctx->hv->dom_list) {
        d->producer.mask = XLITE_EVENTMASK(XLITE_EVENT_DOMAIN_SHUTDOWN) |
                           XLITE_EVENTMASK(XLITE_EVENT_DOMAIN_DEATH);
        d->producer.start = producer_start;
        d->producer.stop = producer_stop;
        xlite__evgen_producer_add(ctx, &d->producer);
    }
    return 0;
}

void
xlite__domains_ctx_free(xlite_ctx *ctx)
{
    struct xlite__domains *d = ctx->domains;

    if (!d)
        return;
    /* Programming error: an operation still waiting on a domain. */
    assert(d->waiters.length == 0);
    if (ctx->hv->dom_list)
        xlite__evgen_producer_remove(ctx, &d->producer);
    g_hash_table_remove_all(d->watched);
    watch_update(ctx);
    g_hash_table_unref(d->watched);
    g_hash_table_unref(d->kick_domids);
    g_free(d);
    ctx->domains = NULL;
}
