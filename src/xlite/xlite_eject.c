/*
 * xlite_eject.c: a guest ejects its CD-ROM; the generator of
 * XLITE_EVENT_DISK_EJECT
 *
 * A guest asks for its medium to go by writing "eject" into its vbd
 * frontend's `eject` node (Xen's PV drivers for HVM guests do; the
 * device's frontend directory is the guest's own).  While anyone wants
 * DISK_EJECT events of a domain, one xenstore watch on the domain's
 * `device/vbd` directory sees such writes, for every disk it has now or
 * gets later.  As libxl does, the request is granted at once in xenstore:
 * in one transaction the backend's `params` goes empty and the frontend's
 * `eject` node is cleared, so the backend lets the medium go and the
 * guest may ask again.  Then the event names the disk.
 *
 * What the guest wrote is untrusted: the path must be exactly
 * `.../device/vbd/<devid>/eject` of a disk the domain's stored config
 * has, which is a CD-ROM drive; the backend's path comes from that config,
 * never from the frontend's `backend` node, which the guest could point at
 * another domain's device.  The stored config itself is the application's
 * to update (xlite_device_disk_change_media with no medium): an empty
 * medium in xenstore wins over the config until then (xlite_domain.c,
 * xlite_retrieve_domain_config), so nothing reports the ejected medium in
 * between.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "xlite_dom_internal.h"

typedef struct {
    xlite_ctx *ctx;
    uint32_t domid;
    uint8_t uuid[16];
    char *dir;                    /* /local/domain/<domid>/device/vbd */
    xlite__ev_xswatch watch;
} eject_watch;

struct xlite__ejects {
    GHashTable *watched;          /* domid -> eject_watch */
    xlite__evgen_producer producer;
};

/* The devid of @epath if it is exactly @dir/<devid>/eject, else -1. */
static int
eject_devid(const char *dir, const char *epath)
{
    size_t n = strlen(dir);
    const char *p, *end;
    guint64 devid;
    g_autofree char *num = NULL;

    if (strncmp(epath, dir, n) != 0 || epath[n] != '/')
        return -1;
    p = epath + n + 1;
    if (!(end = strchr(p, '/')) || strcmp(end, "/eject") != 0 || end == p ||
        end - p > 10)
        return -1;
    num = g_strndup(p, end - p);
    if (!g_ascii_string_to_unsigned(num, 10, 0, G_MAXINT32, &devid, NULL))
        return -1;
    return (int)devid;
}

/* The CD-ROM drive of @cfg with @devid, or NULL. */
static const xlite_disk_config *
cdrom_by_devid(xlite_ctx *ctx, const xlite_domain_config *cfg, int devid)
{
    size_t i;

    for (i = 0; i < cfg->num_disks; i++) {
        int d;

        if (cfg->disks[i].cdrom &&
            xlite__disk_devid(ctx, cfg->disks[i].vdev, &d) == 0 && d == devid)
            return &cfg->disks[i];
    }
    return NULL;
}

typedef struct {
    const char *epath;          /* the frontend's eject node */
    const char *be;
} eject_grant;

static int
grant_eject_body(xlite_ctx *ctx, struct xs_handle *xsh, xs_transaction_t t,
                 void *opaque)
{
    const eject_grant *g = opaque;
    g_autofree char *params = g_strdup_printf("%s/params", g->be);
    g_autofree char *state = g_strdup_printf("%s/state", g->be);
    unsigned int len = 0;
    char *ask, *bstate;
    bool asked;

    ask = xs_read(xsh, t, g->epath, &len);
    asked = ask && len == 5 && memcmp(ask, "eject", 5) == 0;
    free(ask);
    bstate = asked ? xs_read(xsh, t, state, &len) : NULL;
    if (!bstate)
        return 0;
    free(bstate);
    if (!xs_write(xsh, t, params, "", 0) || !xs_write(xsh, t, g->epath, "", 0))
        return -(errno ? errno : EIO);
    return 1;
}

/* In one transaction, while the guest still asks: the backend's medium
 * goes, the request is cleared.  True if it was granted now. */
static bool
grant_eject(xlite_ctx *ctx, const char *epath, const char *be)
{
    eject_grant g = { .epath = epath, .be = be };

    return xlite__xs_transact(ctx, NULL, grant_eject_body, &g) == 1;
}

static void
eject_watch_cb(xlite__egc *egc, xlite__ev_xswatch *w, const char *wpath,
               const char *epath)
{
    eject_watch *ew = XLITE__CONTAINER_OF(w, eject_watch, watch);
    xlite_ctx *ctx = egc->ctx;
    g_autofree char *ask = NULL;
    g_autofree char *be = NULL;
    xlite_domain_config cfg;
    const xlite_disk_config *disk;
    xlite_event tmpl = { .type = XLITE_EVENT_DISK_EJECT,
                         .domid = ew->domid };
    int devid;

    if ((devid = eject_devid(ew->dir, epath)) < 0 ||
        !(ask = xlite__xs_read_bounded(ctx, epath, 16)) ||
        strcmp(ask, "eject") != 0)
        return;

    xlite_domain_config_init(&cfg);
    if (xlite__userdata_load(ctx, ew->domid, ew->uuid, &cfg) < 0 ||
        !(disk = cdrom_by_devid(ctx, &cfg, devid))) {
        XLITE_LOG(ctx, XLITE_LOG_DEBUG, "domain %u: eject request for vbd "
                  "%d, which is not a CD-ROM drive of its: ignored",
                  ew->domid, devid);
        xlite_domain_config_dispose(&cfg);
        return;
    }
    be = xlite__disk_backend_path(ew->domid, disk, devid);
    if (grant_eject(ctx, epath, be)) {
        XLITE_LOG(ctx, XLITE_LOG_INFO, "domain %u ejected the medium of %s",
                  ew->domid, disk->vdev);
        g_strlcpy(tmpl.u.disk_eject.vdev, disk->vdev,
                  sizeof(tmpl.u.disk_eject.vdev));
        memcpy(tmpl.uuid, ew->uuid, 16);
        xlite__evgen_emit(egc, &tmpl);
    }
    xlite_domain_config_dispose(&cfg);
}

/* ---------- the generator's producer ---------- */

static void
eject_watch_free(gpointer data)
{
    eject_watch *ew = data;

    xlite__ev_xswatch_deregister(ew->ctx, &ew->watch);
    g_free(ew->dir);
    g_free(ew);
}

static int
producer_start(xlite_ctx *ctx, xlite__evgen_producer *p, uint32_t domid)
{
    struct xlite__ejects *e = ctx->ejects;
    eject_watch *ew;
    xlite_dominfo info;
    int rc;

    /* A domain already gone ejects nothing: its death is reported. */
    if ((rc = ctx->hv->dom_info(ctx, ctx->hv_state, domid, &info)) < 0)
        return rc == -ESRCH ? 0 : rc;
    ew = g_new0(eject_watch, 1);
    ew->ctx = ctx;
    ew->domid = domid;
    memcpy(ew->uuid, info.uuid, 16);
    ew->dir = g_strdup_printf("/local/domain/%u/device/vbd", domid);
    xlite__ev_xswatch_init(&ew->watch);
    if ((rc = xlite__ev_xswatch_register(ctx, &ew->watch, eject_watch_cb,
                                         ew->dir)) < 0) {
        g_free(ew->dir);
        g_free(ew);
        return rc;
    }
    g_hash_table_replace(e->watched, GUINT_TO_POINTER(domid), ew);
    return 0;
}

static void
producer_stop(xlite_ctx *ctx, xlite__evgen_producer *p, uint32_t domid)
{
    g_hash_table_remove(ctx->ejects->watched, GUINT_TO_POINTER(domid));
}

void
xlite__ejects_ctx_init(xlite_ctx *ctx)
{
    struct xlite__ejects *e = g_new0(struct xlite__ejects, 1);

    e->watched = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                       eject_watch_free);
    ctx->ejects = e;
    if (ctx->hv->dom_info) {
        e->producer.mask = XLITE_EVENTMASK(XLITE_EVENT_DISK_EJECT);
        e->producer.start = producer_start;
        e->producer.stop = producer_stop;
        xlite__evgen_producer_add(ctx, &e->producer);
    }
}

void
xlite__ejects_ctx_free(xlite_ctx *ctx)
{
    struct xlite__ejects *e = ctx->ejects;

    if (!e)
        return;
    if (ctx->hv->dom_info)
        xlite__evgen_producer_remove(ctx, &e->producer);
    g_hash_table_unref(e->watched);
    g_free(e);
    ctx->ejects = NULL;
}
