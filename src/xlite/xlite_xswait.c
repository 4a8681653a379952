/*
 * xlite_xswait.c: waiting for a condition on xenstore or on a domain,
 * with a timeout and the ao's abort
 *
 * The rules are in xlite_internal.h, "Waiting for a condition".  Every
 * source (a watch per path, the domain wait, the timer, the abortable)
 * leads to xswait_done, the one way out.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>

#include "xlite_internal.h"

static void xswait_watch_cb(xlite__egc *egc, xlite__ev_xswatch *w,
                            const char *wpath, const char *epath);
static void xswait_domwait_cb(xlite__egc *egc, xlite__domwait *dw, int rc,
                              const xlite_dominfo *info);
static void xswait_timeout_cb(xlite__egc *egc, xlite__ev_time *ev);
static void xswait_abort_cb(xlite__egc *egc, xlite__ao_abortable *abrt,
                            int rc);

void
xlite__xswait_init(xlite__xswait *xw)
{
    xw->watches = NULL;
    xw->nwatches = 0;
    xlite__domwait_init(&xw->dw);
    xlite__ev_time_init(&xw->timeout);
    xlite__ao_abortable_init(&xw->abrt);
}

bool
xlite__xswait_inuse(const xlite__xswait *xw)
{
    return xw->watches || xw->dw.registered ||
           xlite__ev_time_isregistered(&xw->timeout) ||
           xlite__ao_abortable_isregistered(&xw->abrt);
}

void
xlite__xswait_stop(xlite_ctx *ctx, xlite__xswait *xw)
{
    size_t i;

    for (i = 0; i < xw->nwatches; i++)
        xlite__ev_xswatch_deregister(ctx, &xw->watches[i].watch);
    g_clear_pointer(&xw->watches, g_free);
    xw->nwatches = 0;
    xlite__domwait_deregister(ctx, &xw->dw);
    xlite__ev_time_deregister(ctx, &xw->timeout);
    xlite__ao_abortable_deregister(&xw->abrt);
}

int
xlite__xswait_start(xlite__egc *egc, xlite__xswait *xw)
{
    xlite_ctx *ctx = egc->ctx;
    size_t i;
    int rc;

    assert(xw->check && xw->callback);
    assert(!xlite__xswait_inuse(xw));
    if (xw->abortable) {
        xw->abrt.ao = xw->ao;
        xw->abrt.callback = xswait_abort_cb;
        if ((rc = xlite__ao_abortable_register(&xw->abrt)) < 0)
            goto fail;
    }
    if (xw->timeout_usec >= 0 &&
        (rc = xlite__ev_time_register_rel(ctx, &xw->timeout,
                                          xswait_timeout_cb,
                                          xw->timeout_usec)) < 0)
        goto fail;
    if (xw->npaths)
        xw->watches = g_new0(xlite__xswait_watch, xw->npaths);
    for (i = 0; i < xw->npaths; i++) {
        xw->watches[i].xw = xw;
        xlite__ev_xswatch_init(&xw->watches[i].watch);
        if ((rc = xlite__ev_xswatch_register(ctx, &xw->watches[i].watch,
                                             xswait_watch_cb,
                                             xw->paths[i])) < 0)
            goto fail;
        xw->nwatches++;
    }
    if (xw->watch_domain) {
        xw->dw.domid = xw->domid;
        xw->dw.callback = xswait_domwait_cb;
        if ((rc = xlite__domwait_register(egc, &xw->dw)) < 0)
            goto fail;
    }
    return 0;

 fail:
    xlite__xswait_stop(ctx, xw);
    return rc;
}

static void
xswait_done(xlite__egc *egc, xlite__xswait *xw, int rc)
{
    xlite__xswait_stop(egc->ctx, xw);
    xw->callback(egc, xw, rc);
}

static void
xswait_check(xlite__egc *egc, xlite__xswait *xw, const xlite__xswait_dom *dom)
{
    int rc = xw->check(egc, xw, dom);

    if (rc != XLITE__XSWAIT_PENDING)
        xswait_done(egc, xw, rc);
}

static void
xswait_watch_cb(xlite__egc *egc, xlite__ev_xswatch *w, const char *wpath,
                const char *epath)
{
    xlite__xswait_watch *xww = XLITE__CONTAINER_OF(w, xlite__xswait_watch,
                                                   watch);

    xswait_check(egc, xww->xw, NULL);
}

static void
xswait_domwait_cb(xlite__egc *egc, xlite__domwait *dw, int rc,
                  const xlite_dominfo *info)
{
    xlite__xswait_dom dom = { .rc = rc, .info = info };

    xswait_check(egc, XLITE__CONTAINER_OF(dw, xlite__xswait, dw), &dom);
}

static void
xswait_timeout_cb(xlite__egc *egc, xlite__ev_time *ev)
{
    xlite__xswait *xw = XLITE__CONTAINER_OF(ev, xlite__xswait, timeout);
    int rc;

    if (xw->timedout)
        rc = xw->timedout(egc, xw);
    else
        rc = XLITE_ERROR(egc->ctx, -ETIMEDOUT, "timed out after %.1f s "
                         "waiting for %s", xw->timeout_usec / 1e6,
                         xw->what ? xw->what : "a xenstore condition");
    xswait_done(egc, xw, rc);
}

static void
xswait_abort_cb(xlite__egc *egc, xlite__ao_abortable *abrt, int rc)
{
    xswait_done(egc, XLITE__CONTAINER_OF(abrt, xlite__xswait, abrt), rc);
}
