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

/* The runtime facts, from xenstore and the hypervisor: the name, the
 * memory target and maximum, the vcpus online. */
static void
retrieve_runtime(xlite_ctx *ctx, uint32_t domid, const xlite_dominfo *info,
                 xlite_domain_config *cfg)
{
    g_autofree char *path = g_strdup_printf("/local/domain/%u/name", domid);
    g_autofree char *name = NULL;
    uint64_t target;

    if ((name = xlite__xs_read_bounded(ctx, path, XLITE_NAME_MAX)) && *name) {
        g_free(cfg->name);
        cfg->name = g_strdup(name);
    }
    g_free(path);
    path = g_strdup_printf("/local/domain/%u/memory/target", domid);
    if (xlite__xs_read_uint(ctx, path, info->max_memkb ? info->max_memkb
                                                       : G_MAXUINT64,
                            &target) == 0)
        cfg->target_memkb = target;
    if (info->max_memkb)
        cfg->max_memkb = info->max_memkb;
    if (info->online_vcpus && info->online_vcpus <= cfg->max_vcpus)
        cfg->online_vcpus = info->online_vcpus;
}

/* The disks of the JSON that xenstore has (by their backend's params);
 * an ejected CD-ROM's empty medium in xenstore wins over the JSON's. */
static void
retrieve_disks(xlite_ctx *ctx, uint32_t domid, xlite_domain_config *cfg)
{
    size_t i, j;

    for (i = 0, j = 0; i < cfg->num_disks; i++) {
        xlite_disk_config *d = &cfg->disks[i];
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
        if (d->cdrom && !*params) {
            g_clear_pointer(&d->target, g_free);
            d->format = XLITE_DISK_FORMAT_EMPTY;
        }
        cfg->disks[j++] = *d;
    }
    cfg->num_disks = j;
}

/* The NICs of the JSON that xenstore has (by their backend's handle). */
static void
retrieve_nics(xlite_ctx *ctx, uint32_t domid, xlite_domain_config *cfg)
{
    size_t i, j;

    for (i = 0, j = 0; i < cfg->num_nics; i++) {
        xlite_nic_config *n = &cfg->nics[i];
        g_autofree char *be = xlite__nic_backend_path(domid, n);
        g_autofree char *handle = g_strdup_printf("%s/handle", be);

        if (!xlite__xs_exists(ctx, handle)) {
            g_free(n->bridge);
            g_free(n->script);
            g_free(n->ip);
            g_free(n->model);
            g_free(n->vifname);
            continue;
        }
        cfg->nics[j++] = *n;
    }
    cfg->num_nics = j;
}

/* Extra consoles are added at the end and removed from it: trailing ones
 * whose backend is gone are not there. */
static void
retrieve_consoles(xlite_ctx *ctx, uint32_t domid, xlite_domain_config *cfg)
{
    while (cfg->num_consoles > 1 &&
           cfg->consoles[cfg->num_consoles - 1].kind == XLITE_CONSOLE_PV) {
        g_auto(xlite__device) dev = { 0 };
        g_autofree char *state = NULL;

        xlite__device_of_console(domid, cfg->num_consoles - 1, &dev);
        state = g_strdup_printf("%s/state", dev.backend);
        if (xlite__xs_exists(ctx, state))
            break;
        cfg->num_consoles--;
    }
}

/* Seed 001's merge rule: xenstore the reference, the stored config (the
 * JSON) the template; a device in the JSON but not in xenstore is not
 * there. */
XLITE_EXPORT int
xlite_retrieve_domain_config(xlite_ctx *ctx, uint32_t domid,
                             xlite_domain_config *cfg_r)
{
    xlite_domain_config cfg;
    xlite_dominfo info;
    int rc;

    if (!cfg_r)
        return XLITE_ERROR(ctx, -EINVAL, "a result pointer is required");
    xlite_domain_config_init(&cfg);
    CTX_LOCK(ctx);
    if ((rc = xlite__dom_info(ctx, domid, &info)) < 0 ||
        (rc = xlite__userdata_load(ctx, domid, info.uuid, &cfg)) < 0)
        goto out;
    retrieve_runtime(ctx, domid, &info, &cfg);
    retrieve_disks(ctx, domid, &cfg);
    retrieve_nics(ctx, domid, &cfg);
    retrieve_consoles(ctx, domid, &cfg);
    *cfg_r = cfg;
    xlite_domain_config_init(&cfg);
    rc = 0;

 out:
    CTX_UNLOCK(ctx);
    xlite_domain_config_dispose(&cfg);
    return rc;
}
