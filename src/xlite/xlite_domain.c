/*
 * xlite_domain.c: domains: create, pause and unpause, shutdown, destroy,
 * inspect, change memory, vcpus, scheduling and name (a domain's config
 * as it is now: xlite_retrieve.c)
 *
 * The rules are in xlite_internal.h ("Domains", and the async machinery).
 * Callback chains are in the order they run.
 *
 * create:  initiator: copy and check the config, hypervisor create ->
 *          create_locked (the domain's lock file is ours): store the
 *          config, event channels, build (kernel), xenstore home and
 *          devices, introduce, every device added at once (a multidev:
 *          its backend ready or its console's pty, then its "add"
 *          script) -> create_devices_done: done, paused.
 *          A failure at any step goes to create_undo: every device
 *          removed at once by force (frontends go, backends close,
 *          "remove" scripts, nodes) -> create_undo_removed: the
 *          hypervisor domain, xenstore, the stored config ->
 *          create_undo_gone once the hypervisor has let the domain go.
 * destroy: initiator: the domain's uuid -> destroy_locked: pause, every
 *          device removed at once by force, as above ->
 *          destroy_removed: hypervisor destroy, xenstore (the home last,
 *          as libxl does) -> destroy_dsstopped: the disk server, the
 *          stored config and lock file -> destroy_gone once the
 *          hypervisor has let the domain go.
 * shutdown: initiator writes control/shutdown and waits (domwait) for the
 *          domain to shut down or go, or the timeout.
 * forget:  synchronous: what a destroy cut short (its process died after
 *          the hypervisor destroy) left behind, under the domain's lock.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "xlite_dom_internal.h"

/* ---------- helpers ---------- */

static bool
hv_has_domains(xlite_ctx *ctx)
{
    return ctx->hv->dom_create != NULL;
}

static int
no_domains(xlite_ctx *ctx)
{
    return XLITE_ERROR(ctx, -EOPNOTSUPP, "the %s backend runs no domains",
                       ctx->hv->name);
}

static int
check_domid(xlite_ctx *ctx, uint32_t domid)
{
    if (domid == 0 || domid >= 0x7ff0)
        return XLITE_ERROR(ctx, -EINVAL, "%u is not a guest domain id",
                           domid);
    return 0;
}

/* The stored configs of domains the host does not have are collected
 * once per context, and again after the host restarted, at the first look
 * at its list (xlite__userdata_gc skips a create in progress). */
void
xlite__userdata_collect(xlite_ctx *ctx, const xlite_dominfo *infos, size_t n)
{
    if (ctx->userdata_collected)
        return;
    ctx->userdata_collected = true;
    xlite__userdata_gc(ctx, infos, n);
}

static void
userdata_collect_now(xlite_ctx *ctx)
{
    g_autofree xlite_dominfo *infos = NULL;
    size_t n = 0;

    if (!ctx->userdata_collected &&
        ctx->hv->dom_list(ctx, ctx->hv_state, &infos, &n) == 0)
        xlite__userdata_collect(ctx, infos, n);
}

/* The domain's info, with a clear error if it does not exist. */
int
xlite__dom_info(xlite_ctx *ctx, uint32_t domid, xlite_dominfo *info)
{
    int rc;

    if (!hv_has_domains(ctx))
        return no_domains(ctx);
    if ((rc = check_domid(ctx, domid)) < 0)
        return rc;
    rc = ctx->hv->dom_info(ctx, ctx->hv_state, domid, info);
    if (rc == 0)
        userdata_collect_now(ctx);
    if (rc == -ESRCH)
        return XLITE_ERROR(ctx, -ESRCH, "domain %u does not exist", domid);
    return rc;
}

static void
fill_name(xlite_ctx *ctx, xlite_dominfo *info)
{
    g_autofree char *path = g_strdup_printf("/local/domain/%u/name",
                                            info->domid);
    g_autofree char *name = xlite__xs_read_bounded(ctx, path, XLITE_NAME_MAX);

    info->name[0] = '\0';
    if (name)
        g_strlcpy(info->name, name, sizeof(info->name));
}

static void
uuid_format(const uint8_t u[16], char out[37])
{
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4], u[5],
             u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
             u[15]);
}

static bool
uuid_is_null(const uint8_t u[16])
{
    static const uint8_t zero[16];

    return memcmp(u, zero, 16) == 0;
}

/* ---------- the name index ---------- */

/*
 * A domain's name is unique on the host.  libxl finds out by reading every
 * domain's name (libxl_name_to_domid), which makes a create cost as much
 * as the host has domains.  The core keeps an index instead, in xenstore
 * where every context (of any process) sees it, dom0's only:
 *
 *   /libxlite/names/<name>  ->  the domid of the domain of that name
 *
 * written in the transaction that writes the domain's home (so two creates
 * of one name conflict there, and one of them fails), changed with the
 * name by rename, and removed with the home.  An entry is believed only if
 * the domain it names exists, is not dying and has that name in its home:
 * one left by a crash between the hypervisor and xenstore (or by a home
 * removed without the core) is stale, ignored and replaced.  The names in
 * the path are encoded: xenstore paths allow [A-Za-z0-9-/_@] only.
 *
 * dom0's name (/local/domain/0/name, "Domain-0" on Xen) and "Domain-0"
 * itself are never a guest's.
 *
 * Domains made by another toolstack (xl) are not in the index: on a host
 * where those may run (the backend's foreign_domains, real Xen), a name
 * not in the index is also checked against every domain's home, as libxl
 * does.  docs/xlite-domains.md, "Names".
 */
#define NAME_INDEX "/libxlite/names"

static char *
name_index_path(const char *name)
{
    GString *p = g_string_new(NAME_INDEX "/");

    for (; *name; name++) {
        if (g_ascii_isalnum(*name) || *name == '-')
            g_string_append_c(p, *name);
        else
            g_string_append_printf(p, "_%02x", (unsigned char)*name);
    }
    return g_string_free(p, FALSE);
}

/* The domain that holds @name in the index (0: none, or a stale entry),
 * read in transaction t (XBT_NULL: none). */
static uint32_t
name_index_holder(xlite_ctx *ctx, xs_transaction_t t, const char *name)
{
    struct xs_handle *xsh = xlite__xs(ctx);
    g_autofree char *path = name_index_path(name);
    g_autofree char *value = NULL;
    g_autofree char *npath = NULL;
    g_autofree char *hname = NULL;
    xlite_dominfo info;
    unsigned int len;
    guint64 domid;

    if (!xsh || !(value = xs_read(xsh, t, path, &len)) ||
        !g_ascii_string_to_unsigned(value, 10, 1, 0x7fef, &domid, NULL))
        return 0;
    npath = g_strdup_printf("/local/domain/%u/name", (uint32_t)domid);
    if (!(hname = xs_read(xsh, t, npath, &len)) || strcmp(hname, name) != 0)
        return 0;
    if (ctx->hv->dom_info(ctx, ctx->hv_state, domid, &info) < 0 ||
        info.dying)
        return 0;
    return domid;
}

/* Indexes @name as @domid's, in t. */
static bool
name_index_write(xlite_ctx *ctx, xs_transaction_t t, const char *name,
                 uint32_t domid)
{
    struct xs_handle *xsh = xlite__xs(ctx);
    g_autofree char *path = name_index_path(name);
    g_autofree char *value = g_strdup_printf("%u", domid);

    return xsh && xs_write(xsh, t, path, value, strlen(value));
}

/* Drops @name's entry in t if it is @domid's. */
static void
name_index_remove(xlite_ctx *ctx, xs_transaction_t t, const char *name,
                  uint32_t domid)
{
    struct xs_handle *xsh = xlite__xs(ctx);
    g_autofree char *path = name_index_path(name);
    g_autofree char *value = NULL;
    unsigned int len;
    guint64 holder;

    if (xsh && (value = xs_read(xsh, t, path, &len)) &&
        g_ascii_string_to_unsigned(value, 10, 1, 0x7fef, &holder, NULL) &&
        holder == domid)
        xs_rm(xsh, t, path);
}

/*
 * Once per host: the names of the domains that ran before the index did
 * (made by an older core, or another toolstack), so that the index holds
 * them too.  /libxlite/names-complete says it was done; it goes with the
 * host (a restarted host has an empty xenstore, and no domains).
 */
static void
name_index_sync(xlite_ctx *ctx)
{
    struct xs_handle *xsh = xlite__xs(ctx);
    g_autofree xlite_dominfo *infos = NULL;
    g_autofree char *done = NULL;
    unsigned int len;
    size_t n = 0, i;

    if (!xsh || (done = xs_read(xsh, XBT_NULL, NAME_INDEX "-complete",
                                &len)))
        return;
    if (ctx->hv->dom_list(ctx, ctx->hv_state, &infos, &n) < 0)
        return;
    for (i = 0; i < n; i++) {
        if (infos[i].domid == 0 || infos[i].dying)
            continue;
        fill_name(ctx, &infos[i]);
        if (infos[i].name[0] &&
            name_index_holder(ctx, XBT_NULL, infos[i].name) == 0)
            name_index_write(ctx, XBT_NULL, infos[i].name, infos[i].domid);
    }
    xs_write(xsh, XBT_NULL, NAME_INDEX "-complete", "1", 1);
}

static int
remove_home_body(xlite_ctx *ctx, struct xs_handle *xsh, xs_transaction_t t,
                 void *opaque)
{
    uint32_t domid = GPOINTER_TO_UINT(opaque);
    g_autofree char *home = g_strdup_printf("/local/domain/%u", domid);
    g_autofree char *npath = g_strdup_printf("%s/name", home);
    g_autofree char *name = NULL;
    unsigned int len;

    if ((name = xs_read(xsh, t, npath, &len)))
        name_index_remove(ctx, t, name, domid);
    xs_rm(xsh, t, home);
    return 0;
}

/* Removes the domain's home (its frontends with it) and its name's
 * entry, in one transaction. */
static void
remove_home_nodes(xlite_ctx *ctx, uint32_t domid)
{
    struct xs_handle *xsh;
    g_autofree char *home = NULL;

    if (xlite__xs_transact(ctx, NULL, remove_home_body,
                           GUINT_TO_POINTER(domid)) >= 0 ||
        !(xsh = xlite__xs(ctx)))
        return;
    /* At worst the entry stays, stale: the home goes anyway. */
    home = g_strdup_printf("/local/domain/%u", domid);
    xs_rm(xsh, XBT_NULL, home);
}

/* Removes the domain's xenstore home, vm path and devices. */
static void
remove_domain_nodes(xlite_ctx *ctx, uint32_t domid, const uint8_t uuid[16])
{
    struct xs_handle *xsh = xlite__xs(ctx);
    char us[37];
    g_autofree char *vm = NULL;

    if (!xsh)
        return;
    uuid_format(uuid, us);
    vm = g_strdup_printf("/vm/%s", us);
    xlite__devices_remove_xs(ctx, domid);
    remove_home_nodes(ctx, domid);
    xs_rm(xsh, XBT_NULL, vm);
}

/* The name check of libxl: every domain's name read (foreign_domains). */
static int
check_name_scan(xlite_ctx *ctx, const char *name, uint32_t except)
{
    g_autofree xlite_dominfo *infos = NULL;
    size_t n = 0, i;
    int rc;

    if ((rc = ctx->hv->dom_list(ctx, ctx->hv_state, &infos, &n)) < 0)
        return rc;
    for (i = 0; i < n; i++) {
        if (infos[i].domid == 0 || infos[i].domid == except || infos[i].dying)
            continue;
        fill_name(ctx, &infos[i]);
        if (strcmp(infos[i].name, name) == 0)
            return XLITE_ERROR(ctx, -EEXIST, "domain '%s' already exists "
                               "(domid %u)", name, infos[i].domid);
    }
    return 0;
}

/* Is the name dom0's, or another domain's?  -EEXIST reported if so. */
static int
check_name_free(xlite_ctx *ctx, const char *name, uint32_t except)
{
    g_autofree char *dom0 = xlite__xs_read_bounded(ctx, "/local/domain/0/name",
                                                   XLITE_NAME_MAX);
    uint32_t holder;

    if (strcmp(name, "Domain-0") == 0 || g_strcmp0(name, dom0) == 0)
        return XLITE_ERROR(ctx, -EEXIST, "domain '%s' already exists "
                           "(domid 0: the name of the host's own domain)",
                           name);
    name_index_sync(ctx);
    holder = name_index_holder(ctx, XBT_NULL, name);
    if (holder != 0 && holder != except)
        return XLITE_ERROR(ctx, -EEXIST, "domain '%s' already exists "
                           "(domid %u)", name, holder);
    if (ctx->hv->foreign_domains)
        return check_name_scan(ctx, name, except);
    return 0;
}

/* ---------- waiting for a domain to go ---------- */

/*
 * After the hypervisor destroy, a domain lingers while its pages are
 * still mapped.  gone_wait_start waits for it to go (an xswait on the
 * domain, not abortable, the device timeout); xw's callback gets 0 once
 * it has.  Often it has already: then at once, without watching.
 */
static int
gone_check(xlite__egc *egc, xlite__xswait *xw, const xlite__xswait_dom *dom)
{
    if (dom->rc < 0)
        return dom->rc;
    return dom->info ? XLITE__XSWAIT_PENDING : 0;
}

static int
gone_timedout(xlite__egc *egc, xlite__xswait *xw)
{
    return XLITE_ERROR(egc->ctx, -ETIMEDOUT, "domain %u is still dying "
                       "after %.1f s (pages still mapped?)", xw->domid,
                       xw->timeout_usec / 1e6);
}

/* Caller: xw->ao, xw->domid, xw->callback. */
static void
gone_wait_start(xlite__egc *egc, xlite__xswait *xw)
{
    xlite_ctx *ctx = egc->ctx;
    xlite_dominfo info;
    int rc;

    rc = ctx->hv->dom_info(ctx, ctx->hv_state, xw->domid, &info);
    if (rc == -ESRCH || rc == -ENOTCONN) {
        xw->callback(egc, xw, rc == -ESRCH ? 0 : rc);
        return;
    }
    xw->abortable = false;
    xw->watch_domain = true;
    xw->timeout_usec = xlite__device_timeout();
    xw->check = gone_check;
    xw->timedout = gone_timedout;
    if ((rc = xlite__xswait_start(egc, xw)) < 0)
        xw->callback(egc, xw, rc);
}

/* ==================== create ==================== */

typedef struct {
    /* caller */
    xlite__ao *ao;
    xlite_domain_config cfg;       /* our copy, defaults filled */
    char *restore_state;           /* a restore: the guest's, or NULL */
    size_t restore_len;
    uint32_t *domid_r;
    /* results */
    uint32_t domid;
    /* private */
    bool made;
    bool stored;
    xlite__hv_build_args build;    /* ports in, ring frames out */
    int rc;                        /* why we are undoing */
    char *errmsg;                  /* and what was said */
    xlite__udlock udlock;
    xlite__multidev devices;       /* added, then (undo) removed */
    xlite__xswait gone;
} create_state;

static void create_locked(xlite__egc *egc, xlite__udlock *ul, int rc);
static void create_devices_done(xlite__egc *egc, xlite__multidev *md,
                                int rc);
static void create_undo(xlite__egc *egc, create_state *cs, int rc);
static void create_undo_removed(xlite__egc *egc, xlite__multidev *md,
                                int rc);
static void create_undo_gone(xlite__egc *egc, xlite__xswait *xw, int rc);

static void
create_state_free(create_state *cs)
{
    xlite_domain_config_dispose(&cs->cfg);
    xlite__multidev_dispose(&cs->devices);
    g_free(cs->restore_state);
    g_free(cs->errmsg);
    g_free(cs);
}

/* Copies cfg through its JSON form (the one deep copy we have). */
static int
config_copy(const xlite_domain_config *cfg, xlite_domain_config *copy)
{
    g_autofree char *json = NULL;
    int rc;

    if ((rc = xlite_domain_config_to_json(cfg, &json)) < 0)
        return rc;
    return xlite_domain_config_from_json(json, copy);
}

/* The devices this core does not provide yet: passed-through PCI and USB
 * host devices, PV USB controllers, network disk sources and devices
 * served by a driver domain, and PV channels on a host without them (the
 * application opens a domain's channels itself, xlite_channel_open, and
 * serves them).  The config carries them (they are
 * the user's definition); a start refuses them rather than run the guest
 * without them.  The platform settings (features, cpuid, clock, limits,
 * vNUMA, device model) are the domain build's inputs and are kept in the
 * stored config. */
static int
check_devices_provided(xlite_ctx *ctx, const xlite_domain_config *cfg)
{
    const char *what = NULL;
    size_t i;

    if (cfg->num_pcidevs)
        what = "PCI passthrough is";
    else if (cfg->num_usbdevs || cfg->num_usbctrls)
        what = "PV USB is";
    else if (cfg->num_channels && !ctx->hv->gnt_share)
        what = "PV channels are";
    for (i = 0; !what && i < cfg->num_disks; i++) {
        if (cfg->disks[i].network)
            what = "network disk sources are";
        else if (cfg->disks[i].backend_domain)
            what = "disks served by a driver domain are";
    }
    for (i = 0; !what && i < cfg->num_nics; i++) {
        if (cfg->nics[i].backend_domain)
            what = "network interfaces served by a driver domain are";
    }
    if (!what && cfg->num_consoles > 1 && !ctx->hv->extra_consoles)
        return xlite__extra_console_unserved(ctx, cfg->name);
    if (!what)
        return 0;
    return XLITE_ERROR(ctx, -ENOTSUP, "domain '%s': %s not provided by this "
                       "toolstack yet", cfg->name, what);
}

/* The initiator of create and restore: every check before anything
 * exists, then the hypervisor domain.  Long because the checks are done
 * here, before the first change, so that a refused config leaves nothing
 * to undo. */
static int
domain_create(xlite_ctx *ctx, const xlite_domain_config *cfg,
              const char *state, size_t state_len, uint32_t *domid_r,
              const xlite_async_how *how)
{
    create_state *cs;
    xlite__hv_create_args args = { 0 };
    xlite__ao *ao;
    size_t i;
    int rc;
    EGC_INIT(ctx);

    if (!cfg || !domid_r)
        return XLITE_ERROR(ctx, -EINVAL, "a config and a result pointer are "
                           "required");
    CTX_LOCK(ctx);
    if (!hv_has_domains(ctx)) {
        rc = no_domains(ctx);
        goto out;
    }
    ao = xlite__ao_create(ctx, how);
    cs = g_new0(create_state, 1);
    cs->ao = ao;
    cs->domid_r = domid_r;
    if (state) {
        cs->restore_state = g_memdup2(state, state_len);
        cs->restore_len = state_len;
    }
    xlite_domain_config_init(&cs->cfg);
    xlite__udlock_init(&cs->udlock);
    xlite__xswait_init(&cs->gone);

    if ((rc = config_copy(cfg, &cs->cfg)) < 0 ||
        (rc = xlite_domain_config_set_defaults(&cs->cfg)) < 0 ||
        (rc = xlite_domain_config_validate(&cs->cfg)) < 0 ||
        (rc = check_devices_provided(ctx, &cs->cfg)) < 0)
        goto fail;
    for (i = 0; i < cs->cfg.num_disks; i++) {
        int devid;

        if ((rc = xlite__disk_devid(ctx, cs->cfg.disks[i].vdev, &devid)) < 0)
            goto fail;
    }
    xlite__devices_prepare(&cs->cfg);
    if (uuid_is_null(cs->cfg.uuid)) {
        for (i = 0; i < 16; i++)
            cs->cfg.uuid[i] = (uint8_t)g_random_int_range(0, 256);
        cs->cfg.uuid[6] = (cs->cfg.uuid[6] & 0x0f) | 0x40;
        cs->cfg.uuid[8] = (cs->cfg.uuid[8] & 0x3f) | 0x80;
    }
    if ((rc = check_name_free(ctx, cs->cfg.name, 0)) < 0)
        goto fail;

    memcpy(args.uuid, cs->cfg.uuid, 16);
    args.type = cs->cfg.type;
    args.max_vcpus = cs->cfg.max_vcpus;
    args.max_memkb = cs->cfg.max_memkb;
    if ((rc = ctx->hv->dom_create(ctx, ctx->hv_state, &args,
                                  &cs->domid)) < 0)
        goto fail;
    cs->made = true;
    XLITE_LOG(ctx, XLITE_LOG_DEBUG, "domain %u (%s) made", cs->domid,
              cs->cfg.name);

    cs->udlock.ao = ao;
    cs->udlock.domid = cs->domid;
    memcpy(cs->udlock.uuid, cs->cfg.uuid, 16);
    cs->udlock.callback = create_locked;
    if ((rc = xlite__udlock_acquire(egc, &cs->udlock)) < 0) {
        create_undo(egc, cs, rc);
        goto inprogress;
    }
 inprogress:
    rc = xlite__ao_inprogress(egc, ao);
    goto out;

 fail:
    create_state_free(cs);
    xlite__ao_create_fail(ao);
 out:
    CTX_UNLOCK(ctx);
    EGC_FREE;
    return rc;
}

XLITE_EXPORT int
xlite_domain_create(xlite_ctx *ctx, const xlite_domain_config *cfg,
                    uint32_t *domid_r, const xlite_async_how *how)
{
    return domain_create(ctx, cfg, NULL, 0, domid_r, how);
}

int
xlite__domain_create_restore(xlite_ctx *ctx, const xlite_domain_config *cfg,
                             const char *state, size_t state_len,
                             uint32_t *domid_r, const xlite_async_how *how)
{
    return domain_create(ctx, cfg, state ? state : "", state_len, domid_r,
                         how);
}

/* The transaction of create_write_xenstore.  Long because it is the list
 * of nodes libxl writes, in its order, kept as one readable table. */
static int
create_home_body(xlite_ctx *ctx, struct xs_handle *xsh, xs_transaction_t t,
                 void *opaque)
{
    create_state *cs = opaque;
    const xlite_domain_config *cfg = &cs->cfg;
    const xlite__hv_build_args *b = &cs->build;
    uint32_t domid = cs->domid;
    struct xs_permissions ro[2] = {
        { .id = 0, .perms = XS_PERM_NONE },
        { .id = domid, .perms = XS_PERM_READ },
    };
    struct xs_permissions rw[1] = {
        { .id = domid, .perms = XS_PERM_NONE },
    };
    static const char *const rw_dirs[] = {
        "control", "control/shutdown", "device", "data", "drivers", "attr",
        "error", "feature", "messages",
    };
    g_autofree char *home = g_strdup_printf("/local/domain/%u", domid);
    g_autofree char *vm = NULL;
    char us[37];
    bool ok = true;
    uint32_t holder;
    size_t i;

    uuid_format(cfg->uuid, us);
    vm = g_strdup_printf("/vm/%s", us);

#define W(path, ...) \
    do { \
        g_autofree char *p_ = (path); \
        g_autofree char *v_ = g_strdup_printf(__VA_ARGS__); \
        ok = ok && xs_write(xsh, t, p_, v_, strlen(v_)); \
    } while (0)
#define P(path, perms, n) \
    do { \
        g_autofree char *p_ = (path); \
        ok = ok && xs_write(xsh, t, p_, "", 0) && \
             xs_set_permissions(xsh, t, p_, (perms), (n)); \
    } while (0)

    /* The name, checked again where it counts: two creates of one name
     * conflict here, and the second finds the first's entry. */
    if ((holder = name_index_holder(ctx, t, cfg->name)) != 0 &&
        holder != domid)
        return XLITE_ERROR(ctx, -EEXIST, "domain '%s' already exists "
                           "(domid %u)", cfg->name, holder);
    ok = name_index_write(ctx, t, cfg->name, domid);
    xs_rm(xsh, t, home);
    P(g_strdup(home), ro, 2);
    P(g_strdup(vm), ro, 2);
    W(g_strdup_printf("%s/uuid", vm), "%s", us);
    W(g_strdup_printf("%s/name", vm), "%s", cfg->name);
    W(g_strdup_printf("%s/image/ostype", vm), "%s",
      cfg->type == XLITE_DOMAIN_TYPE_HVM ? "hvm" : "linux");
    if (cfg->kernel)
        W(g_strdup_printf("%s/image/kernel", vm), "%s", cfg->kernel);
    if (cfg->cmdline)
        W(g_strdup_printf("%s/image/cmdline", vm), "%s", cfg->cmdline);
    W(g_strdup_printf("%s/start_time", vm), "%.2f", g_get_real_time() / 1e6);
    W(g_strdup_printf("%s/name", home), "%s", cfg->name);
    W(g_strdup_printf("%s/domid", home), "%u", domid);
    W(g_strdup_printf("%s/vm", home), "%s", vm);
    P(g_strdup_printf("%s/memory", home), ro, 2);
    W(g_strdup_printf("%s/memory/static-max", home), "%" G_GUINT64_FORMAT,
      cfg->max_memkb);
    W(g_strdup_printf("%s/memory/target", home), "%" G_GUINT64_FORMAT,
      cfg->target_memkb);
    P(g_strdup_printf("%s/cpu", home), ro, 2);
    for (i = 0; i < cfg->max_vcpus; i++)
        W(g_strdup_printf("%s/cpu/%zu/availability", home, i), "%s",
          i < cfg->online_vcpus ? "online" : "offline");
    for (i = 0; i < G_N_ELEMENTS(rw_dirs); i++)
        P(g_strdup_printf("%s/%s", home, rw_dirs[i]), rw, 1);
    /* Where the builder put the rings: xenconsoled maps console/ from
     * these; store/ is what xenstored is told at introduce. */
    P(g_strdup_printf("%s/store", home), ro, 2);
    W(g_strdup_printf("%s/store/port", home), "%u", b->store_port);
    W(g_strdup_printf("%s/store/ring-ref", home), "%" G_GUINT64_FORMAT,
      b->store_mfn);
#undef W
#undef P
    if (!ok) {
        int err = errno ? errno : EIO;

        return XLITE_ERROR(ctx, -err, "cannot write the xenstore home of "
                           "domain %u: %s", domid, g_strerror(err));
    }
    return xlite__devices_write(ctx, t, domid, cfg, b->console_port,
                                b->console_mfn);
}

/* The domain's home, its /vm entry, its name's index entry and its
 * devices' nodes, in one transaction. */
static int
create_write_xenstore(xlite_ctx *ctx, create_state *cs)
{
    g_autofree char *what = g_strdup_printf("write the xenstore home of "
                                            "domain %u", cs->domid);

    return xlite__xs_transact(ctx, what, create_home_body, cs);
}

static void
create_locked(xlite__egc *egc, xlite__udlock *ul, int rc)
{
    create_state *cs = XLITE__CONTAINER_OF(ul, create_state, udlock);
    xlite_ctx *ctx = egc->ctx;
    xlite__hv_build_args *b = &cs->build;
    struct xs_handle *xsh;

    if (rc < 0)
        goto fail;
    if (xlite__ao_aborting(cs->ao)) {
        rc = -ECANCELED;
        goto fail;
    }
    /* The stored config first: whatever exists of the domain from now on
     * has its entry in the JSON (seed 001, "xenstore first"). */
    if ((rc = xlite__userdata_store(ctx, cs->domid, cs->cfg.uuid,
                                    &cs->cfg)) < 0)
        goto fail;
    cs->stored = true;
    /* The guest's two event channels, to dom0 (xenstored and xenconsoled
     * run there), before the build writes them into its start info. */
    if (ctx->hv->evtchn_alloc_unbound &&
        ((rc = ctx->hv->evtchn_alloc_unbound(ctx, ctx->hv_state, cs->domid,
                                             0, &b->store_port)) < 0 ||
         (rc = ctx->hv->evtchn_alloc_unbound(ctx, ctx->hv_state, cs->domid,
                                             0, &b->console_port)) < 0))
        goto fail;
    b->kernel = cs->cfg.kernel;
    b->ramdisk = cs->cfg.ramdisk;
    b->cmdline = cs->cfg.cmdline;
    b->type = cs->cfg.type;
    b->max_vcpus = cs->cfg.max_vcpus;
    b->max_memkb = cs->cfg.max_memkb;
    b->target_memkb = cs->cfg.target_memkb;
    if ((rc = ctx->hv->dom_build(ctx, ctx->hv_state, cs->domid, b)) < 0)
        goto fail;
    /* A restore: the guest resumes from its state instead of booting. */
    if (cs->restore_state &&
        (rc = ctx->hv->dom_restore_state(ctx, ctx->hv_state, cs->domid,
                                         cs->restore_state,
                                         cs->restore_len)) < 0)
        goto fail;
    if ((rc = create_write_xenstore(ctx, cs)) < 0)
        goto fail;
    if (!(xsh = xlite__xs(ctx))) {
        rc = -EIO;
        goto fail;
    }
    if (!xs_introduce_domain(xsh, cs->domid, b->store_mfn, b->store_port)) {
        rc = XLITE_ERROR(ctx, -errno, "xenstored refused to introduce "
                         "domain %u: %s", cs->domid, g_strerror(errno));
        goto fail;
    }
    /* Each device's backend first, then its hotplug script, as libxl
     * does: a script works on what the backend made (netback's vifN.M,
     * blkback waiting in InitWait for physical-device). */
    cs->devices.ao = cs->ao;
    cs->devices.callback = create_devices_done;
    xlite__multidev_begin(&cs->devices);
    rc = xlite__multidev_add_all(egc, &cs->devices, cs->domid, &cs->cfg);
    xlite__multidev_prepared(egc, &cs->devices, rc);
    return;

 fail:
    create_undo(egc, cs, rc);
}

static void
create_devices_done(xlite__egc *egc, xlite__multidev *md, int rc)
{
    create_state *cs = XLITE__CONTAINER_OF(md, create_state, devices);
    xlite__ao *ao = cs->ao;

    if (rc == 0 && xlite__ao_aborting(ao))
        rc = -ECANCELED;
    if (rc < 0) {
        create_undo(egc, cs, rc);
        return;
    }
    XLITE_LOG(egc->ctx, XLITE_LOG_INFO, "domain %u (%s) created, paused",
              cs->domid, cs->cfg.name);
    *cs->domid_r = cs->domid;
    xlite__udlock_release(egc->ctx, &cs->udlock, false);
    create_state_free(cs);
    xlite__ao_complete(egc, ao, 0);
}

/*
 * Takes back whatever the create did, in the order of a destroy: the
 * domain stays paused; every device it has in xenstore is removed by
 * force (frontends go, backends close, "remove" scripts, nodes), then the
 * hypervisor domain, xenstore, the stored config, and we wait until the
 * hypervisor has let it go.  As libxl undoes a create with its destroy,
 * a device whose "add" script never ran gets its "remove" one too: Xen's
 * scripts take down only what they find.  Completes with cs->rc.
 */
static void
create_undo(xlite__egc *egc, create_state *cs, int rc)
{
    cs->rc = rc;
    cs->errmsg = g_strdup(xlite_errmsg());
    XLITE_LOG(egc->ctx, XLITE_LOG_DEBUG, "undoing the create of domain %u",
              cs->domid);
    if (!cs->made) {
        create_undo_gone(egc, &cs->gone, 0);
        return;
    }
    xlite__multidev_dispose(&cs->devices);
    cs->devices.ao = cs->ao;
    cs->devices.callback = create_undo_removed;
    xlite__multidev_begin(&cs->devices);
    xlite__multidev_remove_all(egc, &cs->devices, cs->domid);
    xlite__multidev_prepared(egc, &cs->devices, 0);
}

static void
create_undo_removed(xlite__egc *egc, xlite__multidev *md, int rc)
{
    create_state *cs = XLITE__CONTAINER_OF(md, create_state, devices);
    xlite_ctx *ctx = egc->ctx;

    ctx->hv->dom_destroy(ctx, ctx->hv_state, cs->domid);
    remove_domain_nodes(ctx, cs->domid, cs->cfg.uuid);
    if (cs->stored)
        xlite__userdata_remove(ctx, cs->domid, cs->cfg.uuid);
    /* Keep the lock until the domain is gone, so that no list collects a
     * config we are still removing. */
    cs->gone.ao = cs->ao;
    cs->gone.domid = cs->domid;
    cs->gone.callback = create_undo_gone;
    gone_wait_start(egc, &cs->gone);
}

static void
create_undo_gone(xlite__egc *egc, xlite__xswait *xw, int rc)
{
    create_state *cs = XLITE__CONTAINER_OF(xw, create_state, gone);
    xlite__ao *ao = cs->ao;

    xlite__udlock_release(egc->ctx, &cs->udlock, true);
    rc = cs->rc;
    /* Put the message back: the undo may have reported others. */
    xlite__errmsg_restore(cs->errmsg);
    create_state_free(cs);
    xlite__ao_complete(egc, ao, rc);
}

/* ==================== pause, unpause ==================== */

XLITE_EXPORT int
xlite_domain_unpause(xlite_ctx *ctx, uint32_t domid)
{
    xlite_dominfo info;
    int rc;

    CTX_LOCK(ctx);
    if ((rc = xlite__dom_info(ctx, domid, &info)) == 0)
        rc = ctx->hv->dom_unpause(ctx, ctx->hv_state, domid);
    CTX_UNLOCK(ctx);
    return rc;
}

XLITE_EXPORT int
xlite_domain_pause(xlite_ctx *ctx, uint32_t domid)
{
    xlite_dominfo info;
    int rc;

    CTX_LOCK(ctx);
    if ((rc = xlite__dom_info(ctx, domid, &info)) == 0)
        rc = ctx->hv->dom_pause(ctx, ctx->hv_state, domid);
    CTX_UNLOCK(ctx);
    return rc;
}

/* ==================== shutdown ==================== */

typedef struct {
    /* caller */
    xlite__ao *ao;
    uint32_t domid;
    /* private */
    xlite__xswait xswait;          /* on the domain, abortable */
} shutdown_state;

static int shutdown_check(xlite__egc *egc, xlite__xswait *xw,
                          const xlite__xswait_dom *dom);
static int shutdown_timedout(xlite__egc *egc, xlite__xswait *xw);
static void shutdown_done(xlite__egc *egc, xlite__xswait *xw, int rc);

XLITE_EXPORT int
xlite_domain_shutdown(xlite_ctx *ctx, uint32_t domid,
                      xlite_shutdown_request request, int64_t timeout_usec,
                      const xlite_async_how *how)
{
    static const char *const words[] = {
        [XLITE_SHUTDOWN_REQUEST_POWEROFF] = "poweroff",
        [XLITE_SHUTDOWN_REQUEST_REBOOT] = "reboot",
        [XLITE_SHUTDOWN_REQUEST_SUSPEND] = "suspend",
    };
    g_autofree char *path = NULL;
    struct xs_handle *xsh;
    shutdown_state *ss;
    xlite_dominfo info;
    xlite__ao *ao;
    int rc;
    EGC_INIT(ctx);

    if (request < XLITE_SHUTDOWN_REQUEST_POWEROFF ||
        request > XLITE_SHUTDOWN_REQUEST_SUSPEND)
        return XLITE_ERROR(ctx, -EINVAL, "unknown shutdown request %d",
                           request);
    CTX_LOCK(ctx);
    if ((rc = xlite__dom_info(ctx, domid, &info)) < 0)
        goto out;
    if (!(xsh = xlite__xs(ctx))) {
        rc = -EIO;
        goto out;
    }
    path = g_strdup_printf("/local/domain/%u/control/shutdown", domid);
    if (!xs_write(xsh, XBT_NULL, path, words[request],
                  strlen(words[request]))) {
        rc = XLITE_ERROR(ctx, -errno, "cannot ask domain %u to %s: %s",
                         domid, words[request], g_strerror(errno));
        goto out;
    }
    ao = xlite__ao_create(ctx, how);
    ss = g_new0(shutdown_state, 1);
    ss->ao = ao;
    ss->domid = domid;
    xlite__xswait_init(&ss->xswait);
    ss->xswait.ao = ao;
    ss->xswait.abortable = true;
    ss->xswait.watch_domain = true;
    ss->xswait.domid = domid;
    ss->xswait.timeout_usec = timeout_usec;
    ss->xswait.check = shutdown_check;
    ss->xswait.timedout = shutdown_timedout;
    ss->xswait.callback = shutdown_done;
    if ((rc = xlite__xswait_start(egc, &ss->xswait)) < 0) {
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

static int
shutdown_check(xlite__egc *egc, xlite__xswait *xw,
               const xlite__xswait_dom *dom)
{
    if (dom->rc < 0)
        return dom->rc;
    if (!dom->info || dom->info->shutdown || dom->info->dying)
        return 0;
    return XLITE__XSWAIT_PENDING;
}

static int
shutdown_timedout(xlite__egc *egc, xlite__xswait *xw)
{
    return XLITE_ERROR(egc->ctx, -ETIMEDOUT, "domain %u did not shut down "
                       "within %.1f s: the guest ignored the request (it "
                       "can be destroyed)", xw->domid,
                       xw->timeout_usec / 1e6);
}

static void
shutdown_done(xlite__egc *egc, xlite__xswait *xw, int rc)
{
    shutdown_state *ss = XLITE__CONTAINER_OF(xw, shutdown_state, xswait);
    xlite__ao *ao = ss->ao;

    g_free(ss);
    xlite__ao_complete(egc, ao, rc);
}

/* ==================== destroy ==================== */

typedef struct {
    /* caller */
    xlite__ao *ao;
    uint32_t domid;
    uint8_t uuid[16];
    /* private */
    xlite__udlock udlock;
    xlite__multidev devices;
    xlite__dsstop dsstop;
    xlite__xswait gone;
} destroy_state;

static void destroy_locked(xlite__egc *egc, xlite__udlock *ul, int rc);
static void destroy_removed(xlite__egc *egc, xlite__multidev *md, int rc);
static void destroy_dsstopped(xlite__egc *egc, xlite__dsstop *st);
static void destroy_gone(xlite__egc *egc, xlite__xswait *xw, int rc);

XLITE_EXPORT int
xlite_domain_destroy(xlite_ctx *ctx, uint32_t domid,
                     const xlite_async_how *how)
{
    destroy_state *ds;
    xlite_dominfo info;
    xlite__ao *ao;
    int rc;
    EGC_INIT(ctx);

    CTX_LOCK(ctx);
    if ((rc = xlite__dom_info(ctx, domid, &info)) < 0)
        goto out;
    ao = xlite__ao_create(ctx, how);
    ds = g_new0(destroy_state, 1);
    ds->ao = ao;
    ds->domid = domid;
    memcpy(ds->uuid, info.uuid, 16);
    xlite__udlock_init(&ds->udlock);
    xlite__dsstop_init(&ds->dsstop);
    xlite__xswait_init(&ds->gone);
    ds->udlock.ao = ao;
    ds->udlock.domid = domid;
    memcpy(ds->udlock.uuid, info.uuid, 16);
    ds->udlock.callback = destroy_locked;
    if ((rc = xlite__udlock_acquire(egc, &ds->udlock)) < 0) {
        g_free(ds);
        xlite__ao_create_fail(ao);
        goto out;
    }
    rc = xlite__ao_inprogress(egc, ao);

 out:
    CTX_UNLOCK(ctx);
    EGC_FREE;
    return rc;
}

static void
destroy_locked(xlite__egc *egc, xlite__udlock *ul, int rc)
{
    destroy_state *ds = XLITE__CONTAINER_OF(ul, destroy_state, udlock);
    xlite_ctx *ctx = egc->ctx;
    xlite__ao *ao = ds->ao;

    if (rc < 0) {
        g_free(ds);
        xlite__ao_complete(egc, ao, rc);
        return;
    }
    /* Past here, no turning back: abort does not stop a destroy.  As
     * libxl does: pause, the devices (each: frontend and backend told to
     * go in one transaction, the backend closed, its "remove" script, its
     * nodes; all at once), then the hypervisor domain.  The home stays
     * until the devices are done. */
    rc = ctx->hv->dom_pause(ctx, ctx->hv_state, ds->domid);
    if (rc == -ENOTCONN) {
        xlite__udlock_release(ctx, &ds->udlock, false);
        g_free(ds);
        xlite__ao_complete(egc, ao, rc);
        return;
    }
    XLITE_LOG(ctx, XLITE_LOG_DEBUG, "domain %u paused: removing its "
              "devices", ds->domid);
    ds->devices.ao = ao;
    ds->devices.callback = destroy_removed;
    xlite__multidev_begin(&ds->devices);
    xlite__multidev_remove_all(egc, &ds->devices, ds->domid);
    xlite__multidev_prepared(egc, &ds->devices, 0);
}

static void
destroy_removed(xlite__egc *egc, xlite__multidev *md, int rc)
{
    destroy_state *ds = XLITE__CONTAINER_OF(md, destroy_state, devices);
    xlite_ctx *ctx = egc->ctx;
    xlite__ao *ao = ds->ao;

    xlite__multidev_dispose(&ds->devices);
    XLITE_LOG(ctx, XLITE_LOG_DEBUG, "domain %u: its devices are removed",
              ds->domid);
    rc = ctx->hv->dom_destroy(ctx, ctx->hv_state, ds->domid);
    XLITE_LOG(ctx, XLITE_LOG_DEBUG, "domain %u destroyed in the hypervisor",
              ds->domid);
    if (rc < 0 && rc != -ESRCH) {
        xlite__udlock_release(ctx, &ds->udlock, false);
        g_free(ds);
        xlite__ao_complete(egc, ao, rc);
        return;
    }
    remove_domain_nodes(ctx, ds->domid, ds->uuid);
    /* The disk server last, once nothing can use its disks: destroy
     * completes with the images closed and flushed. */
    ds->dsstop.domid = ds->domid;
    memcpy(ds->dsstop.uuid, ds->uuid, 16);
    ds->dsstop.callback = destroy_dsstopped;
    xlite__dsstop_start(egc, &ds->dsstop);
}

static void
destroy_dsstopped(xlite__egc *egc, xlite__dsstop *st)
{
    destroy_state *ds = XLITE__CONTAINER_OF(st, destroy_state, dsstop);

    xlite__userdata_remove(egc->ctx, ds->domid, ds->uuid);
    xlite__udlock_release(egc->ctx, &ds->udlock, true);
    ds->gone.ao = ds->ao;
    ds->gone.domid = ds->domid;
    ds->gone.callback = destroy_gone;
    gone_wait_start(egc, &ds->gone);
}

static void
destroy_gone(xlite__egc *egc, xlite__xswait *xw, int rc)
{
    destroy_state *ds = XLITE__CONTAINER_OF(xw, destroy_state, gone);
    xlite__ao *ao = ds->ao;

    if (rc == 0)
        XLITE_LOG(egc->ctx, XLITE_LOG_INFO, "domain %u destroyed", ds->domid);
    g_free(ds);
    xlite__ao_complete(egc, ao, rc);
}

/* ==================== forget ==================== */

XLITE_EXPORT int
xlite_domain_forget(xlite_ctx *ctx, uint32_t domid, const uint8_t uuid[16])
{
    g_autofree xlite_dominfo *infos = NULL;
    g_autofree char *lockpath = NULL;
    bool domid_reused = false;
    bool uuid_lives = false;
    size_t n = 0, i;
    int fd = -1;
    int rc;

    if (!uuid)
        return XLITE_ERROR(ctx, -EINVAL, "a uuid is required");
    CTX_LOCK(ctx);
    if (!hv_has_domains(ctx)) {
        rc = no_domains(ctx);
        goto out;
    }
    if ((rc = check_domid(ctx, domid)) < 0 ||
        (rc = ctx->hv->dom_list(ctx, ctx->hv_state, &infos, &n)) < 0)
        goto out;
    for (i = 0; i < n; i++) {
        bool same = memcmp(infos[i].uuid, uuid, 16) == 0;

        if (infos[i].domid == domid && same && !infos[i].dying) {
            rc = XLITE_ERROR(ctx, -EEXIST, "domain %u still exists", domid);
            goto out;
        }
        /* Another domain with this domid owns its home and backends now,
         * one with this uuid (started again) its vm path. */
        if (infos[i].domid == domid && !same)
            domid_reused = true;
        if (same && !infos[i].dying)
            uuid_lives = true;
    }
    /* A destroy (or create) in progress holds the lock: it cleans up. */
    lockpath = xlite__userdata_path(ctx, domid, uuid, "lock");
    if ((fd = xlite__open(ctx, lockpath, O_RDWR | O_CREAT, 0600)) < 0) {
        rc = fd;
        goto out;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        rc = XLITE_ERROR(ctx, -EBUSY, "domain %u is being worked on", domid);
        goto out;
    }
    if (!domid_reused) {
        struct xs_handle *xsh = xlite__xs(ctx);
        g_autofree char *home = g_strdup_printf("/local/domain/%u", domid);

        xlite__devices_remove_xs(ctx, domid);
        if (xsh)
            xs_rm(xsh, XBT_NULL, home);
    }
    if (!uuid_lives) {
        struct xs_handle *xsh = xlite__xs(ctx);
        char us[37];
        g_autofree char *vm = NULL;

        uuid_format(uuid, us);
        vm = g_strdup_printf("/vm/%s", us);
        if (xsh)
            xs_rm(xsh, XBT_NULL, vm);
    }
    if (!domid_reused)
        xlite__diskserver_stop(ctx, domid, uuid);
    xlite__userdata_remove(ctx, domid, uuid);
    unlink(lockpath);
    XLITE_LOG(ctx, XLITE_LOG_INFO, "domain %u: what it left behind is "
              "removed", domid);
    rc = 0;

 out:
    if (fd >= 0)
        close(fd);
    CTX_UNLOCK(ctx);
    return rc;
}

/* ==================== inspecting ==================== */

XLITE_EXPORT int
xlite_domain_info(xlite_ctx *ctx, uint32_t domid, xlite_dominfo *info_r)
{
    xlite_dominfo info;
    int rc;

    if (!info_r)
        return XLITE_ERROR(ctx, -EINVAL, "a result pointer is required");
    CTX_LOCK(ctx);
    if ((rc = xlite__dom_info(ctx, domid, &info)) == 0) {
        fill_name(ctx, &info);
        if (ctx->hv->dom_sched_get && !info.dying)
            ctx->hv->dom_sched_get(ctx, ctx->hv_state, domid,
                                   &info.sched_weight, &info.sched_cap);
        *info_r = info;
    }
    CTX_UNLOCK(ctx);
    return rc;
}

XLITE_EXPORT int
xlite_domain_list(xlite_ctx *ctx, xlite_dominfo **infos_r, size_t *n_r)
{
    g_autofree xlite_dominfo *infos = NULL;
    size_t n = 0, i, j;
    int rc;

    if (!infos_r || !n_r)
        return XLITE_ERROR(ctx, -EINVAL, "result pointers are required");
    CTX_LOCK(ctx);
    if (!hv_has_domains(ctx)) {
        rc = no_domains(ctx);
        goto out;
    }
    if ((rc = ctx->hv->dom_list(ctx, ctx->hv_state, &infos, &n)) < 0)
        goto out;
    /* Stored configs of domains the host no longer has (it restarted, or
     * a process died in a create): once per context and host, not at
     * every list (a directory of one file per domain). */
    xlite__userdata_collect(ctx, infos, n);
    for (i = 0, j = 0; i < n; i++) {
        if (infos[i].domid == 0)
            continue;
        infos[j] = infos[i];
        fill_name(ctx, &infos[j]);
        j++;
    }
    *infos_r = g_steal_pointer(&infos);
    *n_r = j;
    rc = 0;

 out:
    CTX_UNLOCK(ctx);
    return rc;
}

/* ==================== changing a running domain ==================== */

XLITE_EXPORT int
xlite_domain_set_memory_target(xlite_ctx *ctx, uint32_t domid,
                               uint64_t target_memkb)
{
    g_autofree char *path = NULL;
    g_autofree char *value = NULL;
    xlite_dominfo info;
    int rc;

    CTX_LOCK(ctx);
    if ((rc = xlite__dom_info(ctx, domid, &info)) < 0)
        goto out;
    if (target_memkb == 0 || target_memkb > info.max_memkb) {
        rc = XLITE_ERROR(ctx, -EINVAL, "memory target %" G_GUINT64_FORMAT
                         " KiB of domain %u is not within 1..%"
                         G_GUINT64_FORMAT " KiB", target_memkb, domid,
                         info.max_memkb);
        goto out;
    }
    path = g_strdup_printf("/local/domain/%u/memory/target", domid);
    value = g_strdup_printf("%" G_GUINT64_FORMAT, target_memkb);
    rc = xlite__xs_write_checked(ctx, path, value);

 out:
    CTX_UNLOCK(ctx);
    return rc;
}

XLITE_EXPORT int
xlite_domain_set_max_memory(xlite_ctx *ctx, uint32_t domid,
                            uint64_t max_memkb)
{
    g_autofree char *path = NULL;
    g_autofree char *value = NULL;
    xlite_dominfo info;
    int rc;

    CTX_LOCK(ctx);
    if ((rc = xlite__dom_info(ctx, domid, &info)) < 0)
        goto out;
    if (max_memkb == 0) {
        rc = XLITE_ERROR(ctx, -EINVAL, "the maximum memory must be > 0");
        goto out;
    }
    if ((rc = ctx->hv->dom_set_max_mem(ctx, ctx->hv_state, domid,
                                       max_memkb)) < 0)
        goto out;
    path = g_strdup_printf("/local/domain/%u/memory/static-max", domid);
    value = g_strdup_printf("%" G_GUINT64_FORMAT, max_memkb);
    rc = xlite__xs_write_checked(ctx, path, value);

 out:
    CTX_UNLOCK(ctx);
    return rc;
}

XLITE_EXPORT int
xlite_domain_set_vcpus(xlite_ctx *ctx, uint32_t domid, unsigned int online)
{
    xlite_dominfo info;
    unsigned int i;
    int rc;

    CTX_LOCK(ctx);
    if ((rc = xlite__dom_info(ctx, domid, &info)) < 0)
        goto out;
    if (online < 1 || online > info.max_vcpus) {
        rc = XLITE_ERROR(ctx, -EINVAL, "domain %u can have 1 to %u vcpus "
                         "online, not %u", domid, info.max_vcpus, online);
        goto out;
    }
    if ((rc = ctx->hv->dom_set_vcpus(ctx, ctx->hv_state, domid, online)) < 0)
        goto out;
    for (i = 0; i < info.max_vcpus && rc == 0; i++) {
        g_autofree char *path = g_strdup_printf(
            "/local/domain/%u/cpu/%u/availability", domid, i);

        rc = xlite__xs_write_checked(ctx, path, i < online ? "online" : "offline");
    }

 out:
    CTX_UNLOCK(ctx);
    return rc;
}

XLITE_EXPORT int
xlite_domain_set_sched(xlite_ctx *ctx, uint32_t domid, unsigned int weight,
                       unsigned int cap)
{
    xlite_dominfo info;
    int rc;

    if (weight < 1 || weight > 65535)
        return XLITE_ERROR(ctx, -EINVAL, "scheduler weight %u is not within "
                           "1..65535", weight);
    CTX_LOCK(ctx);
    if ((rc = xlite__dom_info(ctx, domid, &info)) == 0)
        rc = ctx->hv->dom_sched_set(ctx, ctx->hv_state, domid, weight, cap);
    CTX_UNLOCK(ctx);
    return rc;
}

typedef struct {
    uint32_t domid;
    const char *name;
    const char *vm_name;        /* /vm/UUID/name */
} rename_state;

static int
rename_body(xlite_ctx *ctx, struct xs_handle *xsh, xs_transaction_t t,
            void *opaque)
{
    const rename_state *r = opaque;
    g_autofree char *home_name = g_strdup_printf("/local/domain/%u/name",
                                                 r->domid);
    g_autofree char *old = NULL;
    unsigned int olen;
    uint32_t holder;

    if ((holder = name_index_holder(ctx, t, r->name)) != 0 &&
        holder != r->domid)
        return XLITE_ERROR(ctx, -EEXIST, "domain '%s' already exists "
                           "(domid %u)", r->name, holder);
    if ((old = xs_read(xsh, t, home_name, &olen)))
        name_index_remove(ctx, t, old, r->domid);
    if (!name_index_write(ctx, t, r->name, r->domid) ||
        !xs_write(xsh, t, home_name, r->name, strlen(r->name)) ||
        !xs_write(xsh, t, r->vm_name, r->name, strlen(r->name)))
        return XLITE_ERROR(ctx, -errno, "cannot rename domain %u: %s",
                           r->domid, g_strerror(errno));
    return 0;
}

XLITE_EXPORT int
xlite_domain_rename(xlite_ctx *ctx, uint32_t domid, const char *name)
{
    g_autofree char *vm_name = NULL;
    g_autofree char *what = NULL;
    rename_state r = { .domid = domid, .name = name };
    xlite_dominfo info;
    char us[37];
    size_t i, len = name ? strlen(name) : 0;
    int rc;

    /* The same alphabet as a config's name (xlite_config.c). */
    for (i = 0; i < len; i++)
        if (!g_ascii_isalnum(name[i]) && !strchr("-_.+:", name[i]))
            break;
    if (len == 0 || len > XLITE_NAME_MAX || i < len)
        return XLITE_ERROR(ctx, -EINVAL, "'%s' is not a valid domain name",
                           name ? name : "");
    CTX_LOCK(ctx);
    if ((rc = xlite__dom_info(ctx, domid, &info)) < 0 ||
        (rc = check_name_free(ctx, name, domid)) < 0)
        goto out;
    uuid_format(info.uuid, us);
    r.vm_name = vm_name = g_strdup_printf("/vm/%s/name", us);
    what = g_strdup_printf("rename domain %u", domid);
    rc = xlite__xs_transact(ctx, what, rename_body, &r);

 out:
    CTX_UNLOCK(ctx);
    return rc;
}

/* A pty path as xenconsoled writes it: /dev/pts/N. */
static bool
valid_pty_path(const char *s)
{
    guint64 n;

    return g_str_has_prefix(s, "/dev/pts/") &&
           g_ascii_string_to_unsigned(s + 9, 10, 0, 1 << 20, &n, NULL);
}

XLITE_EXPORT int
xlite_domain_console_path(xlite_ctx *ctx, uint32_t domid, unsigned int num,
                          char **path_r)
{
    g_autofree char *path = NULL;
    g_autofree char *tty = NULL;
    xlite_dominfo info;
    int rc;

    if (!path_r)
        return XLITE_ERROR(ctx, -EINVAL, "a result pointer is required");
    CTX_LOCK(ctx);
    if ((rc = xlite__dom_info(ctx, domid, &info)) < 0)
        goto out;
    /* Where xenconsoled (or QEMU) says, as libxl reads it: the
     * frontend's tty, a node dom0 owns. */
    path = xlite__console_frontend_path(domid, num);
    tty = xlite__console_tty(ctx, path);
    if (!tty || !*tty) {
        rc = XLITE_ERROR(ctx, -ENOENT, "console %u of domain %u has no pty "
                         "(yet)", num, domid);
        goto out;
    }
    if (!valid_pty_path(tty)) {
        rc = XLITE_ERROR(ctx, -EPROTO, "console %u of domain %u: unexpected "
                         "pty path", num, domid);
        goto out;
    }
    *path_r = strdup(tty);
    rc = 0;

 out:
    CTX_UNLOCK(ctx);
    return rc;
}
