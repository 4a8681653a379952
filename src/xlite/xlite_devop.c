/*
 * xlite_devop.c: adding and removing one device of a running domain
 *
 * The contract is seed 001's, as DESIGN.md section 4 ("Configuration
 * sync") states it: the stored config (the JSON) and xenstore never
 * disagree in a way that loses a device or reports a ghost.
 *   - add: the JSON first (the device's entry), then its xenstore nodes;
 *     a device xenstore has is always in the JSON.
 *   - remove: the reverse: the xenstore nodes first, then the entry.  An
 *     entry whose nodes are gone is regarded as not present
 *     (xlite_retrieve_domain_config elides it), so a removal cut short
 *     anywhere shows either the whole device or none.
 * Both run under the domain's lock file (the udlock), which serialises
 * every change of one domain's stored config, across threads and
 * processes.
 *
 * The device itself goes through what a create and a destroy use: its
 * nodes are written as a create writes them (xlite__devices_write), and
 * it is added or removed by the same sub-operation (xlite__aodev: the
 * backend's handshake and the hotplug script).  Removal tells the backend
 * to close and waits for Closed while the guest runs (its frontend
 * answers); at the device timeout the nodes go anyway, as libxl's forced
 * removal does.
 *
 * add:    initiator: the domain's uuid -> devop_locked: the JSON with the
 *         device, its nodes, its aodev -> devop_added: done.  A failed
 *         add is taken back there: the device removed by its aodev (its
 *         remove script only if the add one ran) -> devop_add_undone:
 *         its entry: done.
 * remove: initiator -> devop_locked: its aodev (closed, remove script,
 *         nodes) -> devop_removed: its entry: done.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "xlite_dom_internal.h"

typedef enum {
    DEVOP_DISK,
    DEVOP_NIC,
    DEVOP_CONSOLE,
} devop_kind;

typedef struct {
    /* caller */
    xlite__ao *ao;
    uint32_t domid;
    devop_kind kind;
    bool remove;
    bool media;                    /* change a CD-ROM's medium: disk.vdev,
                                    * disk.target (NULL: eject only) */
    xlite_disk_config disk;        /* add: the disk; remove: its vdev */
    xlite_nic_config nic;          /* add: the nic; remove: its devid */
    int *devid_r;                  /* add nic: the devid it got */
    unsigned int console;          /* a console's number (>= 1) */
    /* private */
    uint8_t uuid[16];
    xlite_domain_config stored;    /* the JSON, as it is on disk */
    xlite_domain_config one;       /* the device alone, defaults filled */
    int rc;                        /* why an add is undone */
    char *errmsg;
    xlite__udlock udlock;
    xlite__aodev aodev;
} devop_state;

static void devop_locked(xlite__egc *egc, xlite__udlock *ul, int rc);
static void devop_added(xlite__egc *egc, xlite__aodev *aodev);
static void devop_add_undone(xlite__egc *egc, xlite__aodev *aodev);
static void devop_removed(xlite__egc *egc, xlite__aodev *aodev);
static void devop_console_locked(xlite__egc *egc, devop_state *ds);

/* ---------- the device's config and nodes ---------- */

static void
disk_copy(const xlite_disk_config *from, xlite_disk_config *to)
{
    *to = *from;
    to->vdev = g_strdup(from->vdev);
    to->target = g_strdup(from->target);
    to->script = g_strdup(from->script);
}

static void
nic_copy(const xlite_nic_config *from, xlite_nic_config *to)
{
    *to = *from;
    to->bridge = g_strdup(from->bridge);
    to->script = g_strdup(from->script);
    to->ip = g_strdup(from->ip);
    to->model = g_strdup(from->model);
    to->vifname = g_strdup(from->vifname);
}

static void
disk_clear(xlite_disk_config *d)
{
    g_free(d->vdev);
    g_free(d->target);
    g_free(d->script);
    memset(d, 0, sizeof(*d));
}

static void
nic_clear(xlite_nic_config *n)
{
    g_free(n->bridge);
    g_free(n->script);
    g_free(n->ip);
    g_free(n->model);
    g_free(n->vifname);
    memset(n, 0, sizeof(*n));
    n->devid = -1;
}

/* A new operation of kind on domid, its nic cleared (devid -1). */
static devop_state *
devop_new(uint32_t domid, devop_kind kind, bool remove)
{
    devop_state *ds = g_new0(devop_state, 1);

    ds->domid = domid;
    ds->kind = kind;
    ds->remove = remove;
    nic_clear(&ds->nic);
    return ds;
}

/* The index of the device in cfg, or -1. */
static ssize_t
find_device(const xlite_domain_config *cfg, devop_kind kind,
            const char *vdev, int devid)
{
    size_t i;

    if (kind == DEVOP_DISK) {
        for (i = 0; i < cfg->num_disks; i++)
            if (strcmp(cfg->disks[i].vdev, vdev) == 0)
                return i;
    } else {
        for (i = 0; i < cfg->num_nics; i++)
            if (cfg->nics[i].devid == devid)
                return i;
    }
    return -1;
}

static void
drop_device(xlite_domain_config *cfg, devop_kind kind, size_t i)
{
    if (kind == DEVOP_DISK) {
        disk_clear(&cfg->disks[i]);
        memmove(&cfg->disks[i], &cfg->disks[i + 1],
                (cfg->num_disks - i - 1) * sizeof(cfg->disks[0]));
        cfg->num_disks--;
    } else {
        nic_clear(&cfg->nics[i]);
        memmove(&cfg->nics[i], &cfg->nics[i + 1],
                (cfg->num_nics - i - 1) * sizeof(cfg->nics[0]));
        cfg->num_nics--;
    }
}

/* ds->one's device, copied from cfg's entry i. */
static void
set_one(devop_state *ds, const xlite_domain_config *cfg, size_t i)
{
    xlite_domain_config_dispose(&ds->one);
    if (ds->kind == DEVOP_DISK)
        disk_copy(&cfg->disks[i], xlite_domain_config_add_disk(&ds->one));
    else
        nic_copy(&cfg->nics[i], xlite_domain_config_add_nic(&ds->one));
}

static char *
backend_path(devop_state *ds)
{
    int devid;

    if (ds->kind == DEVOP_CONSOLE)
        return g_strdup_printf("/local/domain/0/backend/console/%u/%u",
                               ds->domid, ds->console);
    if (ds->kind == DEVOP_NIC)
        return xlite__nic_backend_path(ds->domid, &ds->one.nics[0]);
    if (xlite__disk_devid(NULL, ds->one.disks[0].vdev, &devid) < 0)
        return NULL;
    return xlite__disk_backend_path(ds->domid, &ds->one.disks[0], devid);
}

static bool
backend_exists(xlite_ctx *ctx, const char *dir)
{
    g_autofree char *path = g_strdup_printf("%s/state", dir);
    g_autofree char *v = xlite__xs_read_bounded(ctx, path, 16);

    return v != NULL;
}

static int
write_nodes_body(xlite_ctx *ctx, struct xs_handle *xsh, xs_transaction_t t,
                 void *opaque)
{
    devop_state *ds = opaque;

    return ds->kind == DEVOP_CONSOLE
        ? xlite__console_write(ctx, t, ds->domid, ds->console)
        : xlite__devices_write(ctx, t, ds->domid, &ds->one, 0, 0);
}

/* Writes the device's nodes (ds->one's, or console ds->console's) in one
 * transaction. */
static int
write_nodes(xlite_ctx *ctx, devop_state *ds)
{
    g_autofree char *what = g_strdup_printf("write the device nodes of "
                                            "domain %u", ds->domid);

    return xlite__xs_transact(ctx, what, write_nodes_body, ds);
}

/* The device ds is about (ds->one's, or console ds->console). */
static int
devop_device(xlite_ctx *ctx, devop_state *ds, xlite__device *dev_r)
{
    if (ds->kind == DEVOP_CONSOLE) {
        xlite__device_of_console(ds->domid, ds->console, dev_r);
        return 0;
    }
    if (ds->kind == DEVOP_NIC) {
        xlite__device_of_nic(ctx, ds->domid, &ds->one.nics[0], dev_r);
        return 0;
    }
    return xlite__device_of_disk(ctx, ds->domid, &ds->one.disks[0], dev_r);
}

/* Removes the device's backend, frontend and error nodes. */
static void
remove_nodes(xlite_ctx *ctx, devop_state *ds)
{
    g_auto(xlite__device) dev = { 0 };

    if (devop_device(ctx, ds, &dev) == 0)
        xlite__device_remove_nodes(ctx, &dev);
}

static int
device_exists(xlite_ctx *ctx, devop_state *ds)
{
    if (ds->kind == DEVOP_DISK)
        return XLITE_ERROR(ctx, -EEXIST, "domain %u already has a disk %s",
                           ds->domid, ds->one.disks[0].vdev);
    return XLITE_ERROR(ctx, -EEXIST, "domain %u already has a network "
                       "interface %d", ds->domid, ds->one.nics[0].devid);
}

/* ---------- the operation ---------- */

static void
devop_state_free(devop_state *ds)
{
    disk_clear(&ds->disk);
    nic_clear(&ds->nic);
    xlite_domain_config_dispose(&ds->stored);
    xlite_domain_config_dispose(&ds->one);
    g_free(ds->errmsg);
    xlite__aodev_dispose(&ds->aodev);
    g_free(ds);
}

static void
devop_done(xlite__egc *egc, devop_state *ds, int rc)
{
    xlite__ao *ao = ds->ao;

    xlite__udlock_release(egc->ctx, &ds->udlock, false);
    devop_state_free(ds);
    xlite__ao_complete(egc, ao, rc);
}

static int
devop_start(xlite_ctx *ctx, devop_state *ds, const xlite_async_how *how)
{
    xlite_dominfo info;
    int rc;
    EGC_INIT(ctx);

    CTX_LOCK(ctx);
    if ((rc = ctx->hv->dom_info(ctx, ctx->hv_state, ds->domid, &info)) < 0 ||
        info.dying) {
        rc = XLITE_ERROR(ctx, rc < 0 ? rc : -ESRCH, "domain %u does not run",
                         ds->domid);
        devop_state_free(ds);
        goto out;
    }
    ds->ao = xlite__ao_create(ctx, how);
    memcpy(ds->uuid, info.uuid, 16);
    xlite_domain_config_init(&ds->stored);
    xlite_domain_config_init(&ds->one);
    xlite__udlock_init(&ds->udlock);
    xlite__aodev_init(&ds->aodev);
    ds->udlock.ao = ds->ao;
    ds->udlock.domid = ds->domid;
    memcpy(ds->udlock.uuid, info.uuid, 16);
    ds->udlock.callback = devop_locked;
    if ((rc = xlite__udlock_acquire(egc, &ds->udlock)) < 0) {
        xlite__ao *ao = ds->ao;

        devop_state_free(ds);
        xlite__ao_create_fail(ao);
        goto out;
    }
    rc = xlite__ao_inprogress(egc, ds->ao);

 out:
    CTX_UNLOCK(ctx);
    EGC_FREE;
    return rc;
}

/* Add: the stored config with the device, defaults filled as a create
 * fills them, checked as a whole (names, limits, duplicates). */
static int
devop_add_to_stored(xlite_ctx *ctx, devop_state *ds)
{
    xlite_domain_config *cfg = &ds->stored;
    ssize_t old;
    size_t i;
    int rc;

    if (ds->kind == DEVOP_DISK) {
        old = find_device(cfg, DEVOP_DISK, ds->disk.vdev, -1);
    } else if (ds->nic.devid >= 0) {
        old = find_device(cfg, DEVOP_NIC, NULL, ds->nic.devid);
    } else {
        old = -1;
        ds->nic.devid = 0;
        for (i = 0; i < cfg->num_nics; i++)
            if (cfg->nics[i].devid >= ds->nic.devid)
                ds->nic.devid = cfg->nics[i].devid + 1;
    }
    if (old >= 0) {
        g_autofree char *be = NULL;

        set_one(ds, cfg, old);
        if ((be = backend_path(ds)) && backend_exists(ctx, be))
            return device_exists(ctx, ds);
        /* An entry whose nodes are gone is not there (a removal was cut
         * short): it makes way. */
        drop_device(cfg, ds->kind, old);
    }
    if (ds->kind == DEVOP_DISK) {
        disk_copy(&ds->disk, xlite_domain_config_add_disk(cfg));
    } else {
        xlite_nic_config *n = xlite_domain_config_add_nic(cfg);

        nic_copy(&ds->nic, n);
        if (!n->mac[0])
            snprintf(n->mac, sizeof(n->mac), "00:16:3e:%02x:%02x:%02x",
                     g_random_int_range(0, 128), g_random_int_range(0, 256),
                     g_random_int_range(0, 256));
    }
    if ((rc = xlite_domain_config_set_defaults(cfg)) < 0)
        return rc;
    set_one(ds, cfg, ds->kind == DEVOP_DISK ? cfg->num_disks - 1
                                            : cfg->num_nics - 1);
    {
        /* Nodes nobody's entry names (another toolstack's): not ours to
         * take over. */
        g_autofree char *be = backend_path(ds);

        if (!be || backend_exists(ctx, be))
            return device_exists(ctx, ds);
    }
    return 0;
}

typedef struct {
    devop_state *ds;
    const char *be;
    const char *target;
} medium_write;

static int
write_medium_body(xlite_ctx *ctx, struct xs_handle *xsh, xs_transaction_t t,
                  void *opaque)
{
    const medium_write *mw = opaque;
    g_autofree char *params = g_strdup_printf("%s/params", mw->be);
    g_autofree char *state = g_strdup_printf("%s/state", mw->be);
    unsigned int len = 0;
    char *cur;

    if (!(cur = xs_read(xsh, t, state, &len)))
        return XLITE_ERROR(ctx, -ENOENT, "domain %u has no disk %s",
                           mw->ds->domid, mw->ds->disk.vdev);
    free(cur);
    if (!xs_write(xsh, t, params, mw->target, strlen(mw->target)))
        return XLITE_ERROR(ctx, -errno, "cannot change the medium of disk "
                           "%s of domain %u: %s", mw->ds->disk.vdev,
                           mw->ds->domid, g_strerror(errno));
    return 0;
}

/* The backend's params (its medium) set to @target ("" for none), only
 * while the backend is there. */
static int
write_medium(xlite_ctx *ctx, devop_state *ds, const char *target)
{
    g_autofree char *be = backend_path(ds);
    g_autofree char *what = g_strdup_printf("change the medium of disk %s "
                                            "of domain %u", ds->disk.vdev,
                                            ds->domid);
    medium_write mw = { .ds = ds, .be = be, .target = target };

    return xlite__xs_transact(ctx, what, write_medium_body, &mw);
}

/*
 * A CD-ROM's medium changed as seed 001 resolves it: always an eject,
 * then an insert, so that xenstore and the stored config never hold two
 * different media.  The eject empties xenstore first, then the entry (an
 * empty medium in xenstore wins); the insert writes the entry first, then
 * xenstore (the entry is the template once xenstore is not empty).
 */
static int
devop_change_media(xlite_ctx *ctx, devop_state *ds)
{
    xlite_disk_config *d;
    ssize_t i;
    int rc;

    if ((i = find_device(&ds->stored, DEVOP_DISK, ds->disk.vdev, -1)) < 0)
        return XLITE_ERROR(ctx, -ENOENT, "domain %u has no disk %s",
                           ds->domid, ds->disk.vdev);
    d = &ds->stored.disks[i];
    if (!d->cdrom)
        return XLITE_ERROR(ctx, -EINVAL, "disk %s of domain %u is not a "
                           "CD-ROM drive: its medium cannot change",
                           ds->disk.vdev, ds->domid);
    set_one(ds, &ds->stored, i);

    if ((rc = write_medium(ctx, ds, "")) < 0)
        return rc;
    g_clear_pointer(&d->target, g_free);
    d->format = XLITE_DISK_FORMAT_EMPTY;
    if ((rc = xlite__userdata_store(ctx, ds->domid, ds->uuid,
                                    &ds->stored)) < 0 || !ds->disk.target)
        return rc;

    d->target = g_strdup(ds->disk.target);
    d->format = ds->disk.format == XLITE_DISK_FORMAT_EMPTY ||
                ds->disk.format == XLITE_DISK_FORMAT_DEFAULT
        ? XLITE_DISK_FORMAT_RAW : ds->disk.format;
    if ((rc = xlite__userdata_store(ctx, ds->domid, ds->uuid,
                                    &ds->stored)) < 0)
        return rc;
    return write_medium(ctx, ds, ds->disk.target);
}

/* Starts the device's aodev: ADD, or REMOVE with its remove script if
 * with_script; its callback ends the operation. */
static void
devop_run(xlite__egc *egc, devop_state *ds, xlite__devaction action,
          bool with_script, xlite__aodev_callback *callback)
{
    xlite__aodev *aodev = &ds->aodev;
    int rc;

    xlite__aodev_dispose(aodev);
    xlite__aodev_init(aodev);
    aodev->ao = ds->ao;
    aodev->domid = ds->domid;
    aodev->action = action;
    aodev->with_script = with_script;
    aodev->callback = callback;
    if ((rc = devop_device(egc->ctx, ds, &aodev->dev)) < 0) {
        aodev->rc = rc;
        callback(egc, aodev);
        return;
    }
    xlite__aodev_start(egc, aodev);
}

static void
devop_locked(xlite__egc *egc, xlite__udlock *ul, int rc)
{
    devop_state *ds = XLITE__CONTAINER_OF(ul, devop_state, udlock);
    xlite_ctx *ctx = egc->ctx;
    g_autofree char *be = NULL;
    ssize_t i;

    if (rc < 0 ||
        (rc = xlite__userdata_load(ctx, ds->domid, ds->uuid,
                                   &ds->stored)) < 0) {
        devop_done(egc, ds, rc);
        return;
    }

    if (ds->media) {
        devop_done(egc, ds, devop_change_media(ctx, ds));
        return;
    }
    if (ds->kind == DEVOP_CONSOLE) {
        devop_console_locked(egc, ds);
        return;
    }

    if (!ds->remove) {
        /* The JSON first: from here the device exists in the entry. */
        if ((rc = devop_add_to_stored(ctx, ds)) < 0 ||
            (rc = xlite__userdata_store(ctx, ds->domid, ds->uuid,
                                        &ds->stored)) < 0) {
            devop_done(egc, ds, rc);
            return;
        }
        if (ds->devid_r && ds->kind == DEVOP_NIC)
            *ds->devid_r = ds->one.nics[0].devid;
        if ((rc = write_nodes(ctx, ds)) < 0) {
            /* No node was written: only the entry goes. */
            ds->rc = rc;
            ds->errmsg = g_strdup(xlite_errmsg());
            ds->aodev.rc = 0;
            devop_add_undone(egc, &ds->aodev);
            return;
        }
        devop_run(egc, ds, XLITE__DEVICE_ADD, false, devop_added);
        return;
    }

    i = find_device(&ds->stored, ds->kind, ds->disk.vdev, ds->nic.devid);
    if (i < 0) {
        devop_done(egc, ds, ds->kind == DEVOP_DISK
                   ? XLITE_ERROR(ctx, -ENOENT, "domain %u has no disk %s",
                                 ds->domid, ds->disk.vdev)
                   : XLITE_ERROR(ctx, -ENOENT, "domain %u has no network "
                                 "interface %d", ds->domid, ds->nic.devid));
        return;
    }
    set_one(ds, &ds->stored, i);
    be = backend_path(ds);
    if (!be || !backend_exists(ctx, be)) {
        /* Its nodes are gone already: only the entry is left to go. */
        drop_device(&ds->stored, ds->kind, i);
        devop_done(egc, ds, xlite__userdata_store(ctx, ds->domid, ds->uuid,
                                                  &ds->stored));
        return;
    }
    devop_run(egc, ds, XLITE__DEVICE_REMOVE, true, devop_removed);
}

/* The last step of a removal and of an undone add: the device's nodes
 * go (again: a removal took them already), then its entry in the stored
 * config (xenstore first).  A console's entry goes only if it is the
 * last one (consoles are numbered by their place). */
static int
devop_forget(xlite_ctx *ctx, devop_state *ds)
{
    ssize_t i;

    remove_nodes(ctx, ds);
    if (ds->kind == DEVOP_CONSOLE) {
        if (ds->console != ds->stored.num_consoles - 1)
            return 0;
        ds->stored.num_consoles--;
        return xlite__userdata_store(ctx, ds->domid, ds->uuid, &ds->stored);
    }
    i = ds->kind == DEVOP_DISK
        ? find_device(&ds->stored, DEVOP_DISK, ds->one.disks[0].vdev, -1)
        : find_device(&ds->stored, DEVOP_NIC, NULL, ds->one.nics[0].devid);
    if (i < 0)
        return 0;
    drop_device(&ds->stored, ds->kind, i);
    return xlite__userdata_store(ctx, ds->domid, ds->uuid, &ds->stored);
}

static const char *
devop_what(const devop_state *ds)
{
    switch (ds->kind) {
    case DEVOP_DISK:
        return ds->one.disks[0].vdev;
    case DEVOP_NIC:
        return "a nic";
    case DEVOP_CONSOLE:
        break;
    }
    return "a console";
}

/* ---------- add ---------- */

static void
devop_added(xlite__egc *egc, xlite__aodev *aodev)
{
    devop_state *ds = XLITE__CONTAINER_OF(aodev, devop_state, aodev);
    int rc = aodev->rc;

    if (rc == 0 && xlite__ao_aborting(ds->ao))
        rc = -ECANCELED;
    if (rc < 0) {
        /* Taken back in the order of a removal: the device (its remove
         * script only if the add one ran), then its entry.  The error
         * reported stays the add's. */
        ds->rc = rc;
        ds->errmsg = g_strdup(xlite_errmsg());
        devop_run(egc, ds, XLITE__DEVICE_REMOVE, aodev->script_started,
                  devop_add_undone);
        return;
    }
    XLITE_LOG(egc->ctx, XLITE_LOG_INFO, "domain %u: %s added", ds->domid,
              devop_what(ds));
    devop_done(egc, ds, 0);
}

static void
devop_add_undone(xlite__egc *egc, xlite__aodev *aodev)
{
    devop_state *ds = XLITE__CONTAINER_OF(aodev, devop_state, aodev);
    xlite_ctx *ctx = egc->ctx;

    if (devop_forget(ctx, ds) < 0)
        XLITE_LOG(ctx, XLITE_LOG_WARN, "domain %u: the entry of a device "
                  "whose add failed stays in the stored config (its nodes "
                  "are gone, so it is not reported)", ds->domid);
    xlite__errmsg_restore(ds->errmsg);
    devop_done(egc, ds, ds->rc);
}

/* ---------- remove ---------- */

static void
devop_removed(xlite__egc *egc, xlite__aodev *aodev)
{
    devop_state *ds = XLITE__CONTAINER_OF(aodev, devop_state, aodev);
    xlite_ctx *ctx = egc->ctx;
    int rc = devop_forget(ctx, ds);

    if (rc == 0)
        XLITE_LOG(ctx, XLITE_LOG_INFO, "domain %u: %s removed", ds->domid,
                  devop_what(ds));
    devop_done(egc, ds, rc);
}

/* ---------- consoles ----------
 *
 * Extra PV consoles, numbered from 1 (0 is the primary one, made with the
 * domain and never removed).  A console's number is its place in the
 * stored config, as libvirt numbers <console> elements by their place,
 * so a console is added at the end and only the last one is removed: one
 * in the middle going would renumber those after it.  The JSON-first
 * rule is the other kinds': the entry is written before the nodes and
 * dropped after them, and an entry whose nodes are gone is not there.
 * xenconsoled has no hotplug script and no state to wait for on add: a
 * console is ready once its daemon has written the pty's path into the
 * frontend's tty, and it has gone once its backend is Closed or its
 * frontend (the guest's, answering the backend's Closing) is, or the
 * backend is removed (xlite__aodev).
 */

/* Trailing extra consoles of the stored config whose backend is gone:
 * dropped (a removal cut short between the nodes and the entry). */
static void
console_trim_ghosts(xlite_ctx *ctx, devop_state *ds)
{
    xlite_domain_config *cfg = &ds->stored;
    unsigned int saved = ds->console;

    while (cfg->num_consoles > 1) {
        g_autofree char *be = NULL;

        ds->console = cfg->num_consoles - 1;
        be = backend_path(ds);
        if (backend_exists(ctx, be))
            break;
        cfg->num_consoles--;
    }
    ds->console = saved;
}

/* 0: under way; < 0: refused. */
static int
console_add_start(xlite__egc *egc, devop_state *ds)
{
    xlite_ctx *ctx = egc->ctx;
    xlite_domain_config *cfg = &ds->stored;
    g_autofree char *be = backend_path(ds);
    int rc;

    if (ds->console < cfg->num_consoles)
        return XLITE_ERROR(ctx, -EEXIST, "domain %u already has a console "
                           "%u", ds->domid, ds->console);
    if (ds->console > cfg->num_consoles)
        return XLITE_ERROR(ctx, -EINVAL, "domain %u can have console %zu "
                           "next, not %u: consoles are numbered in order",
                           ds->domid, cfg->num_consoles, ds->console);
    /* Nodes nobody's entry names (another toolstack's). */
    if (backend_exists(ctx, be))
        return XLITE_ERROR(ctx, -EEXIST, "domain %u already has a console "
                           "%u", ds->domid, ds->console);
    if (!ctx->hv->extra_consoles)
        return xlite__extra_console_unserved(ctx, cfg->name);
    /* The JSON first: from here the console exists in the entry. */
    xlite_domain_config_add_console(cfg)->kind = XLITE_CONSOLE_PV;
    if ((rc = xlite__userdata_store(ctx, ds->domid, ds->uuid, cfg)) < 0) {
        cfg->num_consoles--;
        return rc;
    }
    if ((rc = write_nodes(ctx, ds)) < 0) {
        ds->rc = rc;
        ds->errmsg = g_strdup(xlite_errmsg());
        ds->aodev.rc = 0;
        devop_add_undone(egc, &ds->aodev);
        return 0;
    }
    devop_run(egc, ds, XLITE__DEVICE_ADD, false, devop_added);
    return 0;
}

/* 0: under way; < 0: refused. */
static int
console_remove_start(xlite__egc *egc, devop_state *ds)
{
    xlite_ctx *ctx = egc->ctx;
    xlite_domain_config *cfg = &ds->stored;

    if (ds->console >= cfg->num_consoles)
        return XLITE_ERROR(ctx, -ENOENT, "domain %u has no console %u",
                           ds->domid, ds->console);
    if (ds->console != cfg->num_consoles - 1)
        return XLITE_ERROR(ctx, -EBUSY, "console %u of domain %u is not its "
                           "last (%zu): consoles are numbered in order, and "
                           "only the last one can be removed", ds->console,
                           ds->domid, cfg->num_consoles - 1);
    devop_run(egc, ds, XLITE__DEVICE_REMOVE, false, devop_removed);
    return 0;
}

static void
devop_console_locked(xlite__egc *egc, devop_state *ds)
{
    int rc;

    console_trim_ghosts(egc->ctx, ds);
    rc = ds->remove ? console_remove_start(egc, ds)
                    : console_add_start(egc, ds);
    if (rc < 0)
        devop_done(egc, ds, rc);
}

/* ---------- initiators ---------- */

XLITE_EXPORT int
xlite_device_disk_add(xlite_ctx *ctx, uint32_t domid,
                      const xlite_disk_config *disk,
                      const xlite_async_how *how)
{
    devop_state *ds;
    int devid;
    int rc;

    if (!disk || !disk->vdev)
        return XLITE_ERROR(ctx, -EINVAL, "a disk with a guest name is "
                           "required");
    if ((rc = xlite__disk_devid(ctx, disk->vdev, &devid)) < 0)
        return rc;
    ds = devop_new(domid, DEVOP_DISK, false);
    disk_copy(disk, &ds->disk);
    return devop_start(ctx, ds, how);
}

XLITE_EXPORT int
xlite_device_disk_remove(xlite_ctx *ctx, uint32_t domid, const char *vdev,
                         const xlite_async_how *how)
{
    devop_state *ds;

    if (!vdev)
        return XLITE_ERROR(ctx, -EINVAL, "a disk's guest name is required");
    ds = devop_new(domid, DEVOP_DISK, true);
    ds->disk.vdev = g_strdup(vdev);
    return devop_start(ctx, ds, how);
}

XLITE_EXPORT int
xlite_device_nic_add(xlite_ctx *ctx, uint32_t domid,
                     const xlite_nic_config *nic, int *devid_r,
                     const xlite_async_how *how)
{
    devop_state *ds;

    if (!nic)
        return XLITE_ERROR(ctx, -EINVAL, "a network interface is required");
    ds = devop_new(domid, DEVOP_NIC, false);
    ds->devid_r = devid_r;
    nic_copy(nic, &ds->nic);
    return devop_start(ctx, ds, how);
}

XLITE_EXPORT int
xlite_device_nic_remove(xlite_ctx *ctx, uint32_t domid, int devid,
                        const xlite_async_how *how)
{
    devop_state *ds;

    if (devid < 0)
        return XLITE_ERROR(ctx, -EINVAL, "a network interface's device id "
                           "is required");
    ds = devop_new(domid, DEVOP_NIC, true);
    ds->nic.devid = devid;
    return devop_start(ctx, ds, how);
}

XLITE_EXPORT int
xlite_device_disk_change_media(xlite_ctx *ctx, uint32_t domid,
                               const char *vdev, const char *target,
                               xlite_disk_format format,
                               const xlite_async_how *how)
{
    devop_state *ds;

    if (!vdev)
        return XLITE_ERROR(ctx, -EINVAL, "a disk's guest name is required");
    if (target && (target[0] != '/' || strpbrk(target, "\n\r")))
        return XLITE_ERROR(ctx, -EINVAL, "a medium must be an absolute "
                           "path, not '%s'", target);
    ds = devop_new(domid, DEVOP_DISK, false);
    ds->media = true;
    ds->disk.vdev = g_strdup(vdev);
    ds->disk.target = g_strdup(target);
    ds->disk.format = format;
    return devop_start(ctx, ds, how);
}

XLITE_EXPORT int
xlite_device_console_add(xlite_ctx *ctx, uint32_t domid, unsigned int num,
                         const xlite_async_how *how)
{
    devop_state *ds;

    if (num == 0 || num >= XLITE_MAX_CONSOLES)
        return XLITE_ERROR(ctx, -EINVAL, "an extra console is numbered "
                           "from 1 to %d, not %u", XLITE_MAX_CONSOLES - 1,
                           num);
    ds = devop_new(domid, DEVOP_CONSOLE, false);
    ds->console = num;
    return devop_start(ctx, ds, how);
}

XLITE_EXPORT int
xlite_device_console_remove(xlite_ctx *ctx, uint32_t domid, unsigned int num,
                            const xlite_async_how *how)
{
    devop_state *ds;

    if (num == 0)
        return XLITE_ERROR(ctx, -EPERM, "console 0 of domain %u is its "
                           "primary console: it goes with the domain", domid);
    ds = devop_new(domid, DEVOP_CONSOLE, true);
    ds->console = num;
    return devop_start(ctx, ds, how);
}
