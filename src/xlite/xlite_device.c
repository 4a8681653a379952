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

#include "xlite_dom_internal.h"

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
    dev.script = g_strdup(d->script ? d->script
                          : strcmp(dev.backend_kind, "vbd") == 0
                          ? ctx->hv->disk_script : NULL);
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
    dev.script = g_strdup(n->script ? n->script : ctx->hv->nic_script);
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
    g_clear_pointer(&dev->script, g_free);
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

int
xlite__extra_console_unserved(xlite_ctx *ctx, const char *domain)
{
    return XLITE_ERROR(ctx, -ENOTSUP, "domain '%s': an extra PV console is "
                       "served by QEMU's Xen console backend on this host "
                       "(xenconsoled serves the first console only), which "
                       "this toolstack does not start yet", domain);
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

/* ---------- removing ---------- */

/*
 * Telling a backend to go.  Removed by force (the guest is paused or
 * dead: a destroy), a device goes as in libxl's forced removal
 * (libxl__initiate_device_generic_remove): in one transaction its
 * frontend goes and the backend gets online 0 and state Closing.  The order matters on Linux.  A frontend that goes makes
 * the kernel's backend driver unbind (otherend state Unknown), and at
 * unbind xenbus writes Closed only if the toolstack has already written
 * Closing; blkback otherwise stays Connected, and a Closing written after
 * the unbind reaches nobody (the re-probe fails for want of a frontend):
 * the wait would last until the timeout.  A live guest's frontend is not
 * asked first: the domain is paused (or dead) and would not answer.
 * Removed from a running guest, its frontend is left to the guest, which
 * closes its side and lets the backend reach Closed.
 */
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

/* True if the backend is then to be waited for: it was neither Closed
 * nor still Initialising (no driver ever took it: a Linux backend goes to
 * InitWait at probe, so none will close it). */
bool
xlite__tell_backend_close(xlite_ctx *ctx, const char *be, const char *fe)
{
    backend_close bc = { .be = be, .fe = fe };

    return xlite__xs_transact(ctx, NULL, backend_close_body, &bc) > 0;
}

static void
device_free(gpointer data)
{
    xlite__device_dispose(data);
    g_free(data);
}

/* A backend's script node: dom0's (the guest may only read it), written
 * by devices_write from the config, an absolute path or nothing. */
static char *
backend_script(xlite_ctx *ctx, const char *be)
{
    g_autofree char *path = g_strdup_printf("%s/script", be);
    g_autofree char *script = xlite__xs_read_bounded(ctx, path, 4096);

    if (script && !g_path_is_absolute(script)) {
        XLITE_LOG(ctx, XLITE_LOG_WARN, "ignoring the script of %s: not an "
                  "absolute path", be);
        return NULL;
    }
    return g_steal_pointer(&script);
}

GPtrArray *
xlite__devices_of_xenstore(xlite_ctx *ctx, uint32_t domid)
{
    GPtrArray *devs = g_ptr_array_new_with_free_func(device_free);
    struct xs_handle *xsh = xlite__xs(ctx);
    const char *const *b;
    size_t k;

    for (k = 0; xsh && k < XLITE__DEVKIND_N; k++) {
        const xlite__devkind *kind = &xlite__devkinds[k];

        for (b = kind->backends; *b; b++) {
            g_autofree char *dir = g_strdup_printf(
                "/local/domain/0/backend/%s/%u", *b, domid);
            unsigned int n = 0, j;
            char **ids = xs_directory(xsh, XBT_NULL, dir, &n);

            for (j = 0; ids && j < n; j++) {
                xlite__device *dev;
                guint64 devid;

                if (!g_ascii_string_to_unsigned(ids[j], 10, 0, G_MAXINT32,
                                                &devid, NULL))
                    continue;
                dev = g_new0(xlite__device, 1);
                dev->kind = kind;
                dev->backend_kind = *b;
                dev->devid = (int)devid;
                dev->backend = backend_path(*b, domid, dev->devid);
                dev->frontend = xlite__frontend_path(kind, domid, dev->devid);
                if (kind->script_remove)
                    dev->script = backend_script(ctx, dev->backend);
                g_ptr_array_add(devs, dev);
            }
            free(ids);
        }
    }
    return devs;
}

void
xlite__device_remove_nodes(xlite_ctx *ctx, const xlite__device *dev)
{
    struct xs_handle *xsh = xlite__xs(ctx);
    g_autofree char *err = NULL;

    if (!xsh || !dev->backend)
        return;
    err = g_strdup_printf("/local/domain/0/error%s",
                          dev->backend + strlen("/local/domain/0"));
    xs_rm(xsh, XBT_NULL, dev->backend);
    if (dev->frontend)
        xs_rm(xsh, XBT_NULL, dev->frontend);
    xs_rm(xsh, XBT_NULL, err);
}
