/*
 * xlite_retrieve.c: a domain's config as it is now (seed 001's merge
 * rule; DESIGN.md section 4, "Configuration sync")
 *
 * xenstore is the reference and the stored config (the JSON) the
 * template: the runtime facts come from the hypervisor and xenstore, the
 * rest from the JSON, and a device the JSON has but xenstore does not is
 * not there (an add or remove cut short: xlite_devop.c writes the JSON
 * first on add and last on remove, so this elision shows either the
 * whole device or none).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>

#include "xlite_dom_internal.h"

/* Long because it is seed 001's merge rule, field by field: xenstore the
 * reference, the stored config the template. */
XLITE_EXPORT int
xlite_retrieve_domain_config(xlite_ctx *ctx, uint32_t domid,
                             xlite_domain_config *cfg_r)
{
    xlite_domain_config cfg;
    xlite_dominfo info;
    g_autofree char *path = NULL;
    g_autofree char *name = NULL;
    uint64_t target;
    size_t i, j;
    int rc;

    if (!cfg_r)
        return XLITE_ERROR(ctx, -EINVAL, "a result pointer is required");
    xlite_domain_config_init(&cfg);
    CTX_LOCK(ctx);
    if ((rc = xlite__dom_info(ctx, domid, &info)) < 0 ||
        (rc = xlite__userdata_load(ctx, domid, info.uuid, &cfg)) < 0)
        goto out;

    /* xenstore is the reference; the JSON the template. */
    path = g_strdup_printf("/local/domain/%u/name", domid);
    if ((name = xlite__xs_read_bounded(ctx, path, XLITE_NAME_MAX)) && *name) {
        g_free(cfg.name);
        cfg.name = g_strdup(name);
    }
    g_free(path);
    path = g_strdup_printf("/local/domain/%u/memory/target", domid);
    if (xlite__xs_read_uint(ctx, path, info.max_memkb ? info.max_memkb
                                                      : G_MAXUINT64,
                            &target) == 0)
        cfg.target_memkb = target;
    if (info.max_memkb)
        cfg.max_memkb = info.max_memkb;
    if (info.online_vcpus && info.online_vcpus <= cfg.max_vcpus)
        cfg.online_vcpus = info.online_vcpus;

    /* Devices in the JSON but not in xenstore are not there. */
    for (i = 0, j = 0; i < cfg.num_disks; i++) {
        xlite_disk_config *d = &cfg.disks[i];
        g_autofree char *be = NULL;
        g_autofree char *params = NULL;
        g_autofree char *ppath = NULL;
        int devid;

        if (xlite__disk_devid(ctx, d->vdev, &devid) < 0)
            continue;
        be = xlite__disk_backend_path(domid, d, devid);
        ppath = g_strdup_printf("%s/params", be);
        params = xlite__xs_read_bounded(ctx, ppath, 4096);
        if (!params) {
            g_free(d->vdev);
            g_free(d->target);
            g_free(d->script);
            continue;
        }
        /* An ejected CD-ROM: empty in xenstore wins over the JSON. */
        if (d->cdrom && !*params) {
            g_clear_pointer(&d->target, g_free);
            d->format = XLITE_DISK_FORMAT_EMPTY;
        }
        cfg.disks[j++] = *d;
    }
    cfg.num_disks = j;
    for (i = 0, j = 0; i < cfg.num_nics; i++) {
        xlite_nic_config *n = &cfg.nics[i];
        g_autofree char *be = xlite__nic_backend_path(domid, n);
        g_autofree char *handle = g_strdup_printf("%s/handle", be);

        if (!xlite__xs_exists(ctx, handle)) {
            xlite_nic_config gone = *n;

            g_free(gone.bridge);
            g_free(gone.script);
            g_free(gone.ip);
            g_free(gone.model);
            g_free(gone.vifname);
            continue;
        }
        cfg.nics[j++] = *n;
    }
    cfg.num_nics = j;
    /* Extra consoles are added at the end and removed from it: trailing
     * ones whose backend is gone are not there. */
    while (cfg.num_consoles > 1 &&
           cfg.consoles[cfg.num_consoles - 1].kind == XLITE_CONSOLE_PV) {
        g_autofree char *be = g_strdup_printf(
            "/local/domain/0/backend/console/%u/%zu/state", domid,
            cfg.num_consoles - 1);

        if (xlite__xs_exists(ctx, be))
            break;
        cfg.num_consoles--;
    }
    *cfg_r = cfg;
    xlite_domain_config_init(&cfg);
    rc = 0;

 out:
    CTX_UNLOCK(ctx);
    xlite_domain_config_dispose(&cfg);
    return rc;
}
