/*
 * xlite_device.c: devices of a domain: the device kinds and where each
 * device is placed, their xenstore nodes, hotplug scripts, and waiting
 * for their backends
 *
 * Layout (as libxl writes it):
 *   /local/domain/0/backend/<kind>/<domid>/<devid>/   dom0 owns, guest reads
 *   /local/domain/<domid>/device/<kind>/<devid>/      guest owns, dom0 reads
 *   /local/domain/<domid>/console/                    the PV console (0)
 * with the XenbusState handshake: both start Initialising (1); a backend
 * goes to InitWait (2) when it is ready for its frontend and to Connected
 * (4) when they are connected; Closing (5) and Closed (6) before anything
 * connected mean it failed.  Backend nodes are dom0's: the values read
 * from there are trusted to be strings we wrote or xenstored's backends
 * did, but still bounded and parsed strictly.
 *
 * Disk backends: "vbd" (blkback) for phy and default (raw) disks, "qdisk"
 * (a QEMU) for qdisk, "vbd3" (tapdisk) for tap.  A backend kind nobody
 * serves on the host never connects: the wait times out.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "xlite_dom_internal.h"

#define XENBUS_STATE_INITIALISING 1
#define XENBUS_STATE_INITWAIT 2
#define XENBUS_STATE_CONNECTED 4
#define XENBUS_STATE_CLOSING 5
#define XENBUS_STATE_CLOSED 6

/* XLITE_DEVICE_TIMEOUT_MS, or dflt if it is not set (or not a number). */
static int64_t
timeout_from_env(int64_t dflt)
{
    const char *s = g_getenv("XLITE_DEVICE_TIMEOUT_MS");
    guint64 ms;

    if (s && g_ascii_string_to_unsigned(s, 10, 1, 3600 * 1000, &ms, NULL))
        return (int64_t)ms * 1000;
    return dflt;
}

/* libxl's LIBXL_INIT_TIMEOUT and LIBXL_DESTROY_TIMEOUT. */
int64_t
xlite__device_timeout(void)
{
    return timeout_from_env(10 * G_USEC_PER_SEC);
}

/* libxl's LIBXL_HOTPLUG_TIMEOUT: Xen's scripts are bash running many
 * xenstore-* commands, which take seconds on a loaded host and more
 * under emulation (tools/xen-testhost). */
int64_t
xlite__hotplug_timeout(void)
{
    return timeout_from_env(40 * G_USEC_PER_SEC);
}

/* ---------- naming ---------- */

int
xlite__disk_devid(xlite_ctx *ctx, const char *vdev, int *devid_r)
{
    const char *p;
    int idx = 0;
    int part = 0;

    /* xvdX, hdX, sdX with X in a..z (then aa..), optional partition. */
    if (g_str_has_prefix(vdev, "xvd"))
        p = vdev + 3;
    else if (g_str_has_prefix(vdev, "hd") || g_str_has_prefix(vdev, "sd"))
        p = vdev + 2;
    else
        goto bad;
    if (!g_ascii_islower(*p))
        goto bad;
    while (g_ascii_islower(*p)) {
        idx = idx * 26 + (*p - 'a' + 1);
        if (idx > 26 * 27)
            goto bad;
        p++;
    }
    idx--;
    if (*p) {
        guint64 v;

        if (!g_ascii_string_to_unsigned(p, 10, 1, 15, &v, NULL))
            goto bad;
        part = (int)v;
    }
    if (vdev[0] == 'x') {
        *devid_r = idx < 16 ? (202 << 8) | (idx << 4) | part
                            : (1 << 28) | (idx << 8) | part;
    } else if (vdev[0] == 'h') {
        if (idx > 3)
            goto bad;
        *devid_r = ((idx < 2 ? 3 : 22) << 8) | ((idx % 2) << 6) | part;
    } else {
        if (idx > 15)
            goto bad;
        *devid_r = (8 << 8) | (idx << 4) | part;
    }
    return 0;

 bad:
    return XLITE_ERROR(ctx, -EINVAL, "cannot place disk '%s': expected "
                       "xvdX, hdX or sdX", vdev);
}

/* ---------- the device kinds ---------- */

static const char *const vbd_backends[] = { "vbd", "vbd3", "qdisk", NULL };
static const char *const vif_backends[] = { "vif", NULL };
static const char *const console_backends[] = { "console", NULL };

/* Xen's scripts, as libxl calls them: "block add|remove", "vif-bridge
 * online|offline type_if=vif".  Consoles have none. */
const xlite__devkind xlite__devkinds[XLITE__DEVKIND_N] = {
    [XLITE__DEVKIND_VBD] = {
        .name = "vbd",
        .backends = vbd_backends,
        .script_add = "add",
        .script_remove = "remove",
    },
    [XLITE__DEVKIND_VIF] = {
        .name = "vif",
        .backends = vif_backends,
        .script_add = "online",
        .script_remove = "offline",
        .script_arg = "type_if=vif",
    },
    [XLITE__DEVKIND_CONSOLE] = {
        .name = "console",
        .backends = console_backends,
    },
};

/* The kind a backend directory of kind @backend serves, or NULL. */
static const xlite__devkind *
devkind_of_backend(const char *backend)
{
    size_t k;
    const char *const *b;

    for (k = 0; k < XLITE__DEVKIND_N; k++)
        for (b = xlite__devkinds[k].backends; *b; b++)
            if (strcmp(*b, backend) == 0)
                return &xlite__devkinds[k];
    return NULL;
}

static char *
backend_path(const char *backend, uint32_t domid, int devid)
{
    return g_strdup_printf("/local/domain/0/backend/%s/%u/%d", backend,
                           domid, devid);
}

char *
xlite__frontend_path(const xlite__devkind *kind, uint32_t domid, int devid)
{
    if (kind == &xlite__devkinds[XLITE__DEVKIND_CONSOLE])
        return xlite__console_frontend_path(domid, devid);
    return g_strdup_printf("/local/domain/%u/device/%s/%d", domid,
                           kind->name, devid);
}

char *
xlite__console_frontend_path(uint32_t domid, unsigned int num)
{
    return num == 0
        ? g_strdup_printf("/local/domain/%u/console", domid)
        : g_strdup_printf("/local/domain/%u/device/console/%u", domid, num);
}

/* One of vbd_backends. */
static const char *
disk_backend_kind(const xlite_disk_config *d)
{
    switch (d->backend) {
    case XLITE_DISK_BACKEND_QDISK:
        return "qdisk";
    case XLITE_DISK_BACKEND_TAP:
        return "vbd3";
    case XLITE_DISK_BACKEND_PHY:
    case XLITE_DISK_BACKEND_DEFAULT:
        break;
    }
    return "vbd";
}

char *
xlite__disk_backend_path(uint32_t domid, const xlite_disk_config *d, int devid)
{
    return backend_path(disk_backend_kind(d), domid, devid);
}

char *
xlite__nic_backend_path(uint32_t domid, const xlite_nic_config *n)
{
    return backend_path("vif", domid, n->devid);
}

/* ---------- one device ---------- */

/* A device's hotplug script is its own, else the host's default for its
 * backend kind (Xen's block and vif-bridge on Xen; none on the simulated
 * host, whose backends do that work themselves): blkback's vbd only for
 * disks. */
int
xlite__device_of_disk(xlite_ctx *ctx, uint32_t domid,
                      const xlite_disk_config *d, xlite__device *dev_r)
{
    xlite__device dev = { .kind = &xlite__devkinds[XLITE__DEVKIND_VBD] };
    int rc;

    if ((rc = xlite__disk_devid(ctx, d->vdev, &dev.devid)) < 0)
        return rc;
    dev.backend_kind = disk_backend_kind(d);
    dev.backend = backend_path(dev.backend_kind, domid, dev.devid);
    dev.frontend = xlite__frontend_path(dev.kind, domid, dev.devid);
    dev.script = d->script ? d->script
               : strcmp(dev.backend_kind, "vbd") == 0 ? ctx->hv->disk_script
               : NULL;
    *dev_r = dev;
    return 0;
}

void
xlite__device_of_nic(xlite_ctx *ctx, uint32_t domid,
                     const xlite_nic_config *n, xlite__device *dev_r)
{
    xlite__device dev = { .kind = &xlite__devkinds[XLITE__DEVKIND_VIF] };

    dev.devid = n->devid;
    dev.backend_kind = "vif";
    dev.backend = xlite__nic_backend_path(domid, n);
    dev.frontend = xlite__frontend_path(dev.kind, domid, dev.devid);
    dev.script = n->script ? n->script : ctx->hv->nic_script;
    *dev_r = dev;
}

void
xlite__device_of_console(uint32_t domid, unsigned int num,
                         xlite__device *dev_r)
{
    xlite__device dev = { .kind = &xlite__devkinds[XLITE__DEVKIND_CONSOLE] };

    dev.devid = num;
    dev.backend_kind = "console";
    dev.backend = backend_path(dev.backend_kind, domid, num);
    dev.frontend = xlite__console_frontend_path(domid, num);
    *dev_r = dev;
}

size_t
xlite__device_count(const xlite_domain_config *cfg)
{
    return cfg->num_disks + cfg->num_nics + cfg->num_consoles;
}

int
xlite__device_of(xlite_ctx *ctx, uint32_t domid,
                 const xlite_domain_config *cfg, size_t i,
                 xlite__device *dev_r)
{
    if (i < cfg->num_disks)
        return xlite__device_of_disk(ctx, domid, &cfg->disks[i], dev_r);
    i -= cfg->num_disks;
    if (i < cfg->num_nics) {
        xlite__device_of_nic(ctx, domid, &cfg->nics[i], dev_r);
        return 0;
    }
    xlite__device_of_console(domid, i - cfg->num_nics, dev_r);
    return 0;
}

void
xlite__device_dispose(xlite__device *dev)
{
    g_clear_pointer(&dev->backend, g_free);
    g_clear_pointer(&dev->frontend, g_free);
}

typedef struct {
    const char *path;
    char *value;
} tty_read;

static int
tty_read_body(xlite_ctx *ctx, struct xs_handle *xsh, xs_transaction_t t,
              void *opaque)
{
    tty_read *r = opaque;
    struct xs_permissions *perms;
    unsigned int n = 0, len = 0;
    bool ours;

    g_clear_pointer(&r->value, free);
    perms = xs_get_permissions(xsh, t, r->path, &n);
    ours = perms && n >= 1 && perms[0].id == 0;
    free(perms);
    if (ours && (r->value = xs_read(xsh, t, r->path, &len)) &&
        (len > 64 || strlen(r->value) != len))
        g_clear_pointer(&r->value, free);
    return 0;
}

char *
xlite__console_tty(xlite_ctx *ctx, const char *fe)
{
    g_autofree char *path = g_strdup_printf("%s/tty", fe);
    tty_read r = { .path = path };

    /* The frontend is the guest's: trust the node only while dom0 owns
     * it, as devices_write made it (the guest cannot change a node it may
     * only read, but it can remove its parent and make its own): the
     * owner and the value are read in one transaction. */
    if (xlite__xs_transact(ctx, NULL, tty_read_body, &r) < 0) {
        free(r.value);
        return NULL;
    }
    return r.value;
}

void
xlite__devices_prepare(xlite_domain_config *cfg)
{
    size_t i, j;

    for (i = 0; i < cfg->num_nics; i++) {
        xlite_nic_config *n = &cfg->nics[i];

        if (n->devid < 0) {
            int next = 0;

            for (j = 0; j < cfg->num_nics; j++)
                if (cfg->nics[j].devid >= next)
                    next = cfg->nics[j].devid + 1;
            n->devid = next;
        }
        if (!n->mac[0])
            snprintf(n->mac, sizeof(n->mac), "00:16:3e:%02x:%02x:%02x",
                     g_random_int_range(0, 128), g_random_int_range(0, 256),
                     g_random_int_range(0, 256));
    }
}

/* ---------- writing ---------- */

typedef struct {
    xlite_ctx *ctx;
    struct xs_handle *xsh;
    xs_transaction_t t;
    int rc;
} xs_writer;

static void
w_node(xs_writer *w, const char *path, const char *value,
       const struct xs_permissions *perms, unsigned int nperms)
{
    if (w->rc < 0)
        return;
    if (!xs_write(w->xsh, w->t, path, value, strlen(value)) ||
        (perms && !xs_set_permissions(w->xsh, w->t, path,
                                      (struct xs_permissions *)perms,
                                      nperms)))
        w->rc = -errno ? -errno : -EIO;
}

static void G_GNUC_PRINTF(5, 6)
w_printf(xs_writer *w, const char *dir, const char *key,
         const struct xs_permissions *perms, const char *fmt, ...)
{
    g_autofree char *path = g_strdup_printf("%s/%s", dir, key);
    g_autofree char *value = NULL;
    va_list ap;

    va_start(ap, fmt);
    value = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    w_node(w, path, value, perms, perms ? 2 : 0);
}

/* A device directory pair: backend (dom0 owns, guest reads) and frontend
 * (guest owns, dom0 reads). */
static void
w_dirs(xs_writer *w, uint32_t domid, const char *be, const char *fe)
{
    struct xs_permissions be_perms[2] = {
        { .id = 0, .perms = XS_PERM_NONE },
        { .id = domid, .perms = XS_PERM_READ },
    };
    struct xs_permissions fe_perms[2] = {
        { .id = domid, .perms = XS_PERM_NONE },
        { .id = 0, .perms = XS_PERM_READ },
    };

    w_node(w, be, "", be_perms, 2);
    w_node(w, fe, "", fe_perms, 2);
    w_printf(w, be, "frontend", NULL, "%s", fe);
    w_printf(w, be, "frontend-id", NULL, "%u", domid);
    w_printf(w, be, "online", NULL, "1");
    w_printf(w, be, "state", NULL, "%d", XENBUS_STATE_INITIALISING);
    w_printf(w, fe, "backend", NULL, "%s", be);
    w_printf(w, fe, "backend-id", NULL, "0");
    w_printf(w, fe, "state", NULL, "%d", XENBUS_STATE_INITIALISING);
}

/* The nodes of each kind, as libxl writes them. */
static void
w_vbd(xs_writer *w, const xlite__device *dev, const xlite_disk_config *d)
{
    struct stat sb;

    w_printf(w, dev->backend, "params", NULL, "%s",
             d->target ? d->target : "");
    w_printf(w, dev->backend, "type", NULL, "%s",
             d->target && stat(d->target, &sb) == 0 && S_ISBLK(sb.st_mode)
             ? "phy" : "file");
    w_printf(w, dev->backend, "format", NULL, "%s",
             xlite_disk_format_to_string(d->format));
    w_printf(w, dev->backend, "mode", NULL, "%s", d->readonly ? "r" : "w");
    w_printf(w, dev->backend, "dev", NULL, "%s", d->vdev);
    w_printf(w, dev->backend, "device-type", NULL, "%s",
             d->cdrom ? "cdrom" : "disk");
    w_printf(w, dev->backend, "removable", NULL, "%d", d->cdrom ? 1 : 0);
    w_printf(w, dev->backend, "bootable", NULL, "1");
    if (dev->script)
        w_printf(w, dev->backend, "script", NULL, "%s", dev->script);
    w_printf(w, dev->frontend, "virtual-device", NULL, "%d", dev->devid);
    w_printf(w, dev->frontend, "device-type", NULL, "%s",
             d->cdrom ? "cdrom" : "disk");
}

static void
w_vif(xs_writer *w, const xlite__device *dev, const xlite_nic_config *n)
{
    w_printf(w, dev->backend, "handle", NULL, "%d", n->devid);
    w_printf(w, dev->backend, "mac", NULL, "%s", n->mac);
    w_printf(w, dev->backend, "type", NULL, "vif");
    if (n->bridge)
        w_printf(w, dev->backend, "bridge", NULL, "%s", n->bridge);
    if (dev->script)
        w_printf(w, dev->backend, "script", NULL, "%s", dev->script);
    if (n->ip)
        w_printf(w, dev->backend, "ip", NULL, "%s", n->ip);
    if (n->vifname)
        w_printf(w, dev->backend, "vifname", NULL, "%s", n->vifname);
    w_printf(w, dev->frontend, "handle", NULL, "%d", n->devid);
    w_printf(w, dev->frontend, "mac", NULL, "%s", n->mac);
}

/* The primary console's ring is console_mfn, signalled on console_port.
 * Frontend nodes the guest reads but must not change: where its
 * console's pty is (tools open it), and the console's ring. */
static void
w_console(xs_writer *w, uint32_t domid, const xlite__device *dev,
          uint32_t console_port, uint64_t console_mfn)
{
    struct xs_permissions fe_ro[2] = {
        { .id = 0, .perms = XS_PERM_NONE },
        { .id = domid, .perms = XS_PERM_READ },
    };

    w_printf(w, dev->backend, "protocol", NULL, "vt100");
    w_printf(w, dev->backend, "type", NULL, "xenconsoled");
    w_printf(w, dev->frontend, "type", fe_ro, "xenconsoled");
    w_printf(w, dev->frontend, "output", fe_ro, "pty");
    w_printf(w, dev->frontend, "limit", fe_ro, "1048576");
    w_printf(w, dev->frontend, "tty", fe_ro, "%s", "");
    if (dev->devid == 0) {
        w_printf(w, dev->frontend, "port", fe_ro, "%u", console_port);
        w_printf(w, dev->frontend, "ring-ref", fe_ro, "%" G_GUINT64_FORMAT,
                 console_mfn);
    }
}

int
xlite__devices_write(xlite_ctx *ctx, xs_transaction_t t, uint32_t domid,
                     const xlite_domain_config *cfg, uint32_t console_port,
                     uint64_t console_mfn)
{
    xs_writer w = { .ctx = ctx, .xsh = xlite__xs(ctx), .t = t };
    size_t i, n = xlite__device_count(cfg);
    int rc;

    if (!w.xsh)
        return -EIO;
    for (i = 0; i < n && w.rc == 0; i++) {
        g_auto(xlite__device) dev = { 0 };

        if ((rc = xlite__device_of(ctx, domid, cfg, i, &dev)) < 0)
            return rc;
        w_dirs(&w, domid, dev.backend, dev.frontend);
        if (i < cfg->num_disks)
            w_vbd(&w, &dev, &cfg->disks[i]);
        else if (i < cfg->num_disks + cfg->num_nics)
            w_vif(&w, &dev, &cfg->nics[i - cfg->num_disks]);
        else
            w_console(&w, domid, &dev, console_port, console_mfn);
    }
    if (w.rc < 0)
        return XLITE_ERROR(ctx, w.rc, "cannot write the devices of domain "
                           "%u to xenstore: %s", domid, g_strerror(-w.rc));
    return 0;
}

/* Extra console num's nodes (num >= 1), as a create writes them: for a
 * console added to a running domain (xlite_devop.c). */
int
xlite__console_write(xlite_ctx *ctx, xs_transaction_t t, uint32_t domid,
                     unsigned int num)
{
    xs_writer w = { .ctx = ctx, .xsh = xlite__xs(ctx), .t = t };
    g_auto(xlite__device) dev = { 0 };

    if (!w.xsh)
        return -EIO;
    xlite__device_of_console(domid, num, &dev);
    w_dirs(&w, domid, dev.backend, dev.frontend);
    w_console(&w, domid, &dev, 0, 0);
    if (w.rc < 0)
        return XLITE_ERROR(ctx, w.rc, "cannot write console %u of domain "
                           "%u to xenstore: %s", num, domid,
                           g_strerror(-w.rc));
    return 0;
}

static int
rm_if_empty_body(xlite_ctx *ctx, struct xs_handle *xsh, xs_transaction_t t,
                 void *opaque)
{
    const char *dir = opaque;
    unsigned int n = 0;
    char **children = xs_directory(xsh, t, dir, &n);

    if (children && n == 0)
        xs_rm(xsh, t, dir);
    free(children);
    return 0;
}

/* Removes the parent of path if it has no child left: in a transaction,
 * so that a device another create writes meanwhile is never lost (its
 * transaction or ours is made again). */
static void
rm_node_if_empty(xlite_ctx *ctx, const char *path)
{
    g_autofree char *parent = g_path_get_dirname(path);

    xlite__xs_transact(ctx, NULL, rm_if_empty_body, parent);
}

void
xlite__devices_remove_xs(xlite_ctx *ctx, uint32_t domid)
{
    struct xs_handle *xsh = xlite__xs(ctx);
    const char *const *b;
    size_t k;

    if (!xsh)
        return;
    for (k = 0; k < XLITE__DEVKIND_N; k++) {
        for (b = xlite__devkinds[k].backends; *b; b++) {
            g_autofree char *be = g_strdup_printf(
                "/local/domain/0/backend/%s/%u", *b, domid);
            g_autofree char *err = g_strdup_printf(
                "/local/domain/0/error/backend/%s/%u", *b, domid);

            xs_rm(xsh, XBT_NULL, be);
            xs_rm(xsh, XBT_NULL, err);
            /* The kind's directory too once no domain has one, as
             * libxl's path cleanup does. */
            rm_node_if_empty(ctx, be);
            rm_node_if_empty(ctx, err);
        }
    }
}

/* ---------- hotplug scripts ---------- */

/*
 * "add" scripts run one after the other, in the order of the devices, and
 * the first failure stops them.  "remove" scripts all run at once, as
 * libxl removes devices in parallel (libxl__multidev): under emulation
 * each of Xen's scripts takes seconds, and one after the other made a
 * destroy take twice xl's.  A failing remove script is logged and the
 * others go on: the device goes anyway.
 */

static void hotplug_death_cb(xlite__egc *egc, xlite__spawn_state *ss, int rc,
                             int status);

void
xlite__hotplug_init(xlite__hotplug *hp)
{
    hp->next = 0;
    hp->slots = NULL;
    hp->nslots = 0;
    hp->running = 0;
}

bool
xlite__hotplug_inuse(const xlite__hotplug *hp)
{
    size_t i;

    for (i = 0; i < hp->nslots; i++)
        if (xlite__ev_child_inuse(&hp->slots[i].spawn.child))
            return true;
    return false;
}

static void
slot_clear(xlite__hotplug_slot *slot)
{
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(slot->argv); i++)
        g_clear_pointer(&slot->argv[i], g_free);
    for (i = 0; i < G_N_ELEMENTS(slot->env); i++)
        g_clear_pointer(&slot->env[i], g_free);
}

static void
hotplug_done(xlite__egc *egc, xlite__hotplug *hp, int rc)
{
    size_t i;

    for (i = 0; i < hp->nslots; i++)
        slot_clear(&hp->slots[i]);
    g_clear_pointer(&hp->slots, g_free);
    hp->nslots = 0;
    hp->callback(egc, hp, rc);
}

/*
 * Starts the script of device i (disks first, then nics), if it has one:
 * *started_r says whether it did.  Called as libxl calls Xen's scripts
 * (the kind's arguments), with the interface's name in $vif for a vif.
 */
static int
hotplug_start(xlite__egc *egc, xlite__hotplug *hp, size_t i, bool *started_r)
{
    const xlite_domain_config *cfg = hp->cfg;
    xlite__hotplug_slot *slot = &hp->slots[i];
    xlite_ctx *ctx = egc->ctx;
    g_auto(xlite__device) dev = { 0 };
    const char *be;
    int rc;

    *started_r = false;
    if (xlite__device_of(ctx, hp->domid, cfg, i, &dev) < 0 || !dev.script ||
        !dev.kind->script_add)
        return 0;
    be = dev.backend;
    slot->hp = hp;
    slot->argv[0] = g_strdup(dev.script);
    slot->argv[1] = g_strdup(hp->remove ? dev.kind->script_remove
                                        : dev.kind->script_add);
    slot->argv[2] = g_strdup(dev.kind->script_arg);
    slot->env[0] = g_strdup_printf("XENBUS_PATH=%s", be);
    slot->env[1] = g_strdup_printf("XENBUS_TYPE=%s", dev.kind->name);
    slot->env[2] = g_strdup_printf("XENBUS_BASE_PATH=/local/domain/0/backend");
    slot->env[3] = g_strdup_printf("XLITE_DOMID=%u", hp->domid);
    slot->env[4] = g_strdup_printf("script=%s", dev.script);
    if (dev.kind == &xlite__devkinds[XLITE__DEVKIND_VIF]) {
        /* The kernel's name: the script renames it to vifname. */
        slot->env[5] = g_strdup_printf("vif=vif%u.%d", hp->domid, dev.devid);
        slot->env[6] = g_strdup("netdev=");
    }
    XLITE_LOG(ctx, XLITE_LOG_DEBUG, "domain %u: %s %s for %s", hp->domid,
              dev.script, slot->argv[1], be);
    xlite__spawn_init(&slot->spawn);
    slot->spawn.ao = hp->ao;
    slot->spawn.what = slot->argv[0];
    slot->spawn.argv = (const char *const *)slot->argv;
    slot->spawn.env = (const char *const *)slot->env;
    slot->spawn.stdfds[0] = slot->spawn.stdfds[1] = -1;
    slot->spawn.stdfds[2] = -1;
    slot->spawn.timeout_usec = xlite__hotplug_timeout();
    /* Taking devices down is not stopped by an abort (an aborted create
     * is undone with these very scripts). */
    slot->spawn.unabortable = hp->remove;
    slot->spawn.death_cb = hotplug_death_cb;
    if ((rc = xlite__spawn(egc, &slot->spawn)) < 0) {
        slot_clear(slot);
        if (hp->remove)
            XLITE_LOG(ctx, XLITE_LOG_WARN, "domain %u: the remove script "
                      "of %s did not run: %s", hp->domid, be,
                      xlite_errmsg());
        return rc;
    }
    *started_r = true;
    return 0;
}

static void hotplug_next(xlite__egc *egc, xlite__hotplug *hp);

void
xlite__hotplug_run(xlite__egc *egc, xlite__hotplug *hp)
{
    const xlite_domain_config *cfg = hp->cfg;
    size_t i;

    hp->next = 0;
    hp->running = 0;
    hp->nslots = cfg->num_disks + cfg->num_nics;
    hp->slots = g_new0(xlite__hotplug_slot, hp->nslots);
    for (i = 0; i < hp->nslots; i++)
        xlite__spawn_init(&hp->slots[i].spawn);
    if (!hp->remove) {
        hotplug_next(egc, hp);
        return;
    }
    for (i = 0; i < hp->nslots; i++) {
        bool started;

        if (hotplug_start(egc, hp, i, &started) == 0 && started)
            hp->running++;
    }
    if (hp->running == 0)
        hotplug_done(egc, hp, 0);
}

/* Adding: runs the script of the next device that has one, or completes.
 * Long because it builds the argv and environment Xen's scripts expect,
 * per kind, in the one place they are spelled. */
static void
hotplug_next(xlite__egc *egc, xlite__hotplug *hp)
{
    int rc;

    while (hp->next < hp->nslots) {
        bool started;

        if (xlite__ao_aborting(hp->ao)) {
            hotplug_done(egc, hp, -ECANCELED);
            return;
        }
        if ((rc = hotplug_start(egc, hp, hp->next++, &started)) < 0) {
            hotplug_done(egc, hp, rc);
            return;
        }
        if (started)
            return;
    }
    hotplug_done(egc, hp, 0);
}

static void
hotplug_death_cb(xlite__egc *egc, xlite__spawn_state *ss, int rc, int status)
{
    xlite__hotplug_slot *slot = XLITE__CONTAINER_OF(ss, xlite__hotplug_slot,
                                                    spawn);
    xlite__hotplug *hp = slot->hp;
    g_autofree char *script = g_strdup(slot->argv[0]);

    slot_clear(slot);
    if (rc == -ETIMEDOUT)
        rc = XLITE_ERROR(egc->ctx, rc, "hotplug script %s of domain %u did "
                         "not finish in time", script, hp->domid);
    else if (rc == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
        rc = XLITE_ERROR(egc->ctx, -EIO, "hotplug script %s of domain %u "
                         "failed (wait status %#x)", script, hp->domid,
                         status);
    if (!hp->remove) {
        if (rc < 0)
            hotplug_done(egc, hp, rc);
        else
            hotplug_next(egc, hp);
        return;
    }
    /* Removal goes on past a failing script: the device goes anyway. */
    if (--hp->running == 0)
        hotplug_done(egc, hp, 0);
}

/* ---------- waiting for the backends ---------- */

static int devwait_check(xlite__egc *egc, xlite__xswait *xw,
                         const xlite__xswait_dom *dom);
static int devwait_timedout(xlite__egc *egc, xlite__xswait *xw);
static void devwait_waited(xlite__egc *egc, xlite__xswait *xw, int rc);

void
xlite__devwait_init(xlite__devwait *dw)
{
    dw->paths = NULL;
    xlite__xswait_init(&dw->xswait);
}

void
xlite__devwait_stop(xlite_ctx *ctx, xlite__devwait *dw)
{
    xlite__xswait_stop(ctx, &dw->xswait);
    g_clear_pointer(&dw->paths, g_ptr_array_unref);
}

static void
devwait_done(xlite__egc *egc, xlite__devwait *dw, int rc)
{
    xlite__devwait_stop(egc->ctx, dw);
    dw->callback(egc, dw, rc);
}

static void
devwait_waited(xlite__egc *egc, xlite__xswait *xw, int rc)
{
    devwait_done(egc, XLITE__CONTAINER_OF(xw, xlite__devwait, xswait), rc);
}

/* Are all the consoles served (a pty in their tty)?  Those that are not
 * are named in which, if given. */
static bool
devwait_consoles_ready(xlite_ctx *ctx, xlite__devwait *dw, GString *which)
{
    bool all = true;
    size_t i;

    for (i = dw->nbackends; i < dw->paths->len; i++) {
        const char *fe = g_ptr_array_index(dw->paths, i);
        g_autofree char *tty = xlite__console_tty(ctx, fe);

        if (tty && *tty)
            continue;
        all = false;
        if (which)
            g_string_append_printf(which, "%s%s", which->len ? ", " : "", fe);
    }
    return all;
}

static int
devwait_timedout(xlite__egc *egc, xlite__xswait *xw)
{
    xlite__devwait *dw = XLITE__CONTAINER_OF(xw, xlite__devwait, xswait);
    g_autoptr(GString) which = g_string_new(NULL);
    size_t i;

    if (dw->closing) {
        XLITE_LOG(egc->ctx, XLITE_LOG_WARN, "the backends of domain %u did "
                  "not close in time: removing them anyway", dw->domid);
        return 0;
    }
    for (i = 0; i < dw->nbackends; i++) {
        g_autofree char *path = g_strdup_printf(
            "%s/state", (char *)g_ptr_array_index(dw->paths, i));
        uint64_t state = 0;

        if (xlite__xs_read_uint(egc->ctx, path, 16, &state) < 0 ||
            (state != XENBUS_STATE_INITWAIT &&
             state != XENBUS_STATE_CONNECTED))
            g_string_append_printf(which, "%s%s", which->len ? ", " : "",
                                   (char *)g_ptr_array_index(dw->paths, i));
    }
    if (which->len)
        return XLITE_ERROR(egc->ctx, -ETIMEDOUT, "the backend of %s did not "
                           "connect within %.1f s", which->str,
                           xlite__device_timeout() / 1e6);
    /* All ready just as the timer fired: done. */
    return devwait_consoles_ready(egc->ctx, dw, which)
        ? 0
        : XLITE_ERROR(egc->ctx, -ETIMEDOUT, "no pty for the console %s "
                      "within %.1f s: is xenconsoled running?",
                      which->str, xlite__device_timeout() / 1e6);
}

/* A printable, bounded copy of what a backend wrote as its error. */
static char *
sanitize(const char *s)
{
    char *copy = g_strndup(s ? s : "", 200);
    char *p;

    for (p = copy; *p; p++)
        if (!g_ascii_isprint(*p))
            *p = '?';
    return copy;
}

/* Closing: is every backend Closed, failed or gone? */
static int
devwait_check_closed(xlite__egc *egc, xlite__devwait *dw)
{
    xlite_ctx *ctx = egc->ctx;
    size_t i;

    for (i = 0; i < dw->paths->len; i++) {
        const char *be = g_ptr_array_index(dw->paths, i);
        g_autofree char *spath = g_strdup_printf("%s/state", be);
        g_autofree char *epath = g_strdup_printf("%s/hotplug-error", be);
        g_autofree char *err = NULL;
        uint64_t state = 0;

        if (xlite__xs_read_uint(ctx, spath, 16, &state) < 0 ||
            state == XENBUS_STATE_CLOSED)
            continue;
        if (state == XENBUS_STATE_CLOSING &&
            (err = xlite__xs_read_bounded(ctx, epath, 1024)))
            continue;
        return XLITE__XSWAIT_PENDING;
    }
    return 0;
}

static int
devwait_check(xlite__egc *egc, xlite__xswait *xw,
              const xlite__xswait_dom *dom)
{
    xlite__devwait *dw = XLITE__CONTAINER_OF(xw, xlite__devwait, xswait);
    xlite_ctx *ctx = egc->ctx;
    bool all;
    size_t i;

    if (dw->closing)
        return devwait_check_closed(egc, dw);
    all = devwait_consoles_ready(ctx, dw, NULL);
    for (i = 0; i < dw->nbackends; i++) {
        const char *be = g_ptr_array_index(dw->paths, i);
        g_autofree char *spath = g_strdup_printf("%s/state", be);
        g_autofree char *epath = g_strdup_printf("%s/hotplug-error", be);
        g_autofree char *errnode = NULL;
        g_autofree char *errtext = NULL;
        uint64_t state = 0;

        if (xlite__xs_read_uint(ctx, spath, 16, &state) < 0)
            state = 0;
        if ((errtext = xlite__xs_read_bounded(ctx, epath, 1024)) ||
            state == XENBUS_STATE_CLOSING || state == XENBUS_STATE_CLOSED) {
            g_autofree char *clean = NULL;

            if (!errtext) {
                /* The generic error node of the backend, if any. */
                errnode = g_strdup_printf("/local/domain/0/error%s/error",
                                          be + strlen("/local/domain/0"));
                errtext = xlite__xs_read_bounded(ctx, errnode, 1024);
            }
            clean = sanitize(errtext ? errtext : "it closed");
            return XLITE_ERROR(ctx, -EIO, "the backend %s failed: %s", be,
                               clean);
        }
        if (state != XENBUS_STATE_INITWAIT && state != XENBUS_STATE_CONNECTED)
            all = false;
    }
    return all ? 0 : XLITE__XSWAIT_PENDING;
}

/* The frontend directory a backend of domid serves (the paths
 * xlite__devices_write made), or NULL for a kind we do not make. */
static char *
backend_frontend_path(uint32_t domid, const char *backend, const char *devid)
{
    const xlite__devkind *kind = devkind_of_backend(backend);
    guint64 num;

    if (!kind ||
        !g_ascii_string_to_unsigned(devid, 10, 0, G_MAXINT32, &num, NULL))
        return NULL;
    return xlite__frontend_path(kind, domid, num);
}

/*
 * Closing: the backend directories the domain has, each told to go as
 * libxl's forced removal does (libxl__initiate_device_generic_remove):
 * in one transaction its frontend goes and the backend gets online 0 and
 * state Closing.  The order matters on Linux.  A frontend that goes makes
 * the kernel's backend driver unbind (otherend state Unknown), and at
 * unbind xenbus writes Closed only if the toolstack has already written
 * Closing; blkback otherwise stays Connected, and a Closing written after
 * the unbind reaches nobody (the re-probe fails for want of a frontend):
 * the wait would last until the timeout.  A live guest's frontend is not
 * asked first: the domain is paused (or dead) and would not answer.
 */
/* In one transaction: the backend @be, only if it is still there (never
 * recreated), gets online 0 and state Closing, and the frontend @fe, if
 * given, goes.  True if the backend is then to be waited for: it was
 * neither Closed nor still Initialising (no driver ever took it: a Linux
 * backend goes to InitWait at probe, so none will close it). */
typedef struct {
    const char *be;
    const char *fe;
} backend_close;

static int
backend_close_body(xlite_ctx *ctx, struct xs_handle *xsh, xs_transaction_t t,
                   void *opaque)
{
    const backend_close *bc = opaque;
    g_autofree char *online = g_strdup_printf("%s/online", bc->be);
    g_autofree char *state = g_strdup_printf("%s/state", bc->be);
    unsigned int len;
    char *cur;
    bool wait;

    if (bc->fe)
        xs_rm(xsh, t, bc->fe);
    if (!(cur = xs_read(xsh, t, state, &len)))
        return 0;
    xs_write(xsh, t, online, "0", 1);
    if (strcmp(cur, "6") != 0)
        xs_write(xsh, t, state, "5", 1);
    wait = strcmp(cur, "6") != 0 && strcmp(cur, "1") != 0;
    free(cur);
    return wait;
}

bool
xlite__tell_backend_close(xlite_ctx *ctx, const char *be, const char *fe)
{
    backend_close bc = { .be = be, .fe = fe };

    return xlite__xs_transact(ctx, NULL, backend_close_body, &bc) > 0;
}

static void
devwait_list_and_close(xlite__egc *egc, xlite__devwait *dw)
{
    xlite_ctx *ctx = egc->ctx;
    struct xs_handle *xsh = xlite__xs(ctx);
    const char *const *b;
    size_t k;

    if (!xsh)
        return;
    for (k = 0; k < XLITE__DEVKIND_N; k++) {
        for (b = xlite__devkinds[k].backends; *b; b++) {
            g_autofree char *dir = g_strdup_printf(
                "/local/domain/0/backend/%s/%u", *b, dw->domid);
            unsigned int n = 0, j;
            char **devs = xs_directory(xsh, XBT_NULL, dir, &n);

            for (j = 0; devs && j < n; j++) {
                g_autofree char *be = g_strdup_printf("%s/%s", dir, devs[j]);
                g_autofree char *fe = backend_frontend_path(dw->domid, *b,
                                                            devs[j]);

                /* The PV console's backend (xenconsoled) never reaches
                 * Closed on real Xen: told to go, it is not waited for
                 * (as xl does). */
                if (xlite__tell_backend_close(ctx, be, fe) &&
                    k != XLITE__DEVKIND_CONSOLE)
                    g_ptr_array_add(dw->paths, g_steal_pointer(&be));
            }
            free(devs);
        }
    }
}

/* Closing cfg's devices of a running domain: each backend that is still
 * there is told to go (online 0, state Closing), and its frontend is left
 * to the guest, which closes its side and lets the backend reach Closed. */
static void
devwait_close_devices(xlite__egc *egc, xlite__devwait *dw)
{
    const xlite_domain_config *cfg = dw->cfg;
    xlite_ctx *ctx = egc->ctx;
    size_t i;

    for (i = 0; i < cfg->num_disks + cfg->num_nics; i++) {
        g_auto(xlite__device) dev = { 0 };

        if (xlite__device_of(ctx, dw->domid, cfg, i, &dev) < 0)
            continue;
        if (xlite__tell_backend_close(ctx, dev.backend, NULL))
            g_ptr_array_add(dw->paths, g_steal_pointer(&dev.backend));
    }
}

void
xlite__devwait_start(xlite__egc *egc, xlite__devwait *dw)
{
    const xlite_domain_config *cfg = dw->cfg;
    xlite__xswait *xw = &dw->xswait;
    xlite_ctx *ctx = egc->ctx;
    size_t i;
    int rc;

    dw->paths = g_ptr_array_new_with_free_func(g_free);
    dw->nbackends = 0;
    if (dw->closing) {
        if (cfg)
            devwait_close_devices(egc, dw);
        else
            devwait_list_and_close(egc, dw);
        goto watch;
    }
    /* The backends, then (consoles have no handshake) the consoles'
     * frontends: xlite__device_of counts consoles last. */
    for (i = 0; i < xlite__device_count(cfg); i++) {
        g_auto(xlite__device) dev = { 0 };

        if ((rc = xlite__device_of(ctx, dw->domid, cfg, i, &dev)) < 0) {
            devwait_done(egc, dw, rc);
            return;
        }
        if (dev.kind == &xlite__devkinds[XLITE__DEVKIND_CONSOLE]) {
            g_ptr_array_add(dw->paths, g_steal_pointer(&dev.frontend));
        } else {
            g_ptr_array_add(dw->paths, g_steal_pointer(&dev.backend));
            dw->nbackends++;
        }
    }

 watch:
    if (dw->paths->len == 0) {
        /* A domain without devices is done. */
        devwait_done(egc, dw, 0);
        return;
    }
    /* Abortable while adding; closing runs while taking things back. */
    xw->ao = dw->ao;
    xw->abortable = !dw->closing;
    xw->paths = (const char *const *)dw->paths->pdata;
    xw->npaths = dw->paths->len;
    xw->timeout_usec = xlite__device_timeout();
    xw->check = devwait_check;
    xw->timedout = devwait_timedout;
    xw->callback = devwait_waited;
    if ((rc = xlite__xswait_start(egc, xw)) < 0)
        devwait_done(egc, dw, rc);
    /* Each watch fires once at once: the first check comes from there. */
}
