/*
 * xlite_dom_internal.h: what the domain and device files share
 * (xlite_domain.c, xlite_device.c, xlite_devop.c, xlite_retrieve.c)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <xenstore.h>

#include "xlite_internal.h"

/* The XenbusState values a toolstack reads and writes. */
#define XENBUS_STATE_INITIALISING 1
#define XENBUS_STATE_INITWAIT 2
#define XENBUS_STATE_CONNECTED 4
#define XENBUS_STATE_CLOSING 5
#define XENBUS_STATE_CLOSED 6

/* How long a backend may take to come up or close, a dying domain to go
 * (10 s), and a hotplug script to run (40 s), as libxl's timeouts;
 * XLITE_DEVICE_TIMEOUT_MS in the environment overrides both (tests). */
int64_t xlite__device_timeout(void);
int64_t xlite__hotplug_timeout(void);

/* The domain's info, with a clear error (-ESRCH) if it does not exist,
 * -EOPNOTSUPP on a backend that runs no domains, -EINVAL for dom0 or an
 * id out of range.  Lock held. */
int xlite__dom_info(xlite_ctx *ctx, uint32_t domid, xlite_dominfo *info);

/* xlite_domain_create, for a restore (xlite_save.c): the guest @state
 * (the backend's bytes, copied) is handed to the hypervisor after the
 * build, so the domain resumes from it at its first unpause.  Lock not
 * held. */
int xlite__domain_create_restore(xlite_ctx *ctx,
                                 const xlite_domain_config *cfg,
                                 const char *state, size_t state_len,
                                 uint32_t *domid_r,
                                 const xlite_async_how *how);

/* Fills what create decides for devices: nic devids and MACs. */
void xlite__devices_prepare(xlite_domain_config *cfg);

/* Writes every device's frontend and backend nodes (state Initialising)
 * in transaction t; the primary console's ring is console_mfn, signalled
 * on console_port. */
int xlite__devices_write(xlite_ctx *ctx, xs_transaction_t t, uint32_t domid,
                         const xlite_domain_config *cfg,
                         uint32_t console_port, uint64_t console_mfn);

/*
 * Device kinds.  Each kind of device the core makes is an entry of
 * xlite__devkinds: its name (the frontend directory under the guest's
 * device/, the XENBUS_TYPE of its script), every backend kind that may
 * serve it (a disk's depends on its config: blkback's vbd, tapdisk's
 * vbd3, QEMU's qdisk), and the arguments its hotplug script takes, as
 * libxl calls Xen's scripts (script_add NULL: the kind has no script).
 * The core asks the table, or an xlite__device built from it, and
 * spells no device path or kind name elsewhere.
 */
typedef enum {
    XLITE__DEVKIND_VBD,
    XLITE__DEVKIND_VIF,
    XLITE__DEVKIND_CONSOLE,
    XLITE__DEVKIND_N
} xlite__devkind_id;

typedef struct {
    const char *name;
    const char *const *backends;  /* NULL-terminated */
    const char *script_add;       /* argv[1] when adding */
    const char *script_remove;    /* ... when removing */
    const char *script_arg;       /* argv[2], or NULL */
} xlite__devkind;

extern const xlite__devkind xlite__devkinds[XLITE__DEVKIND_N];

/* One device of a domain, where the core places it. */
typedef struct {
    const xlite__devkind *kind;
    const char *backend_kind;     /* one of kind->backends */
    int devid;                    /* a console's: its number */
    char *backend;                /* xenstore directories */
    char *frontend;
    char *script;                 /* its own or the host's; NULL: none */
} xlite__device;

/* Device i of cfg, counted disks, then nics, then consoles (there are
 * xlite__device_count of them); -EINVAL (reported) for a disk we cannot
 * place. */
size_t xlite__device_count(const xlite_domain_config *cfg);
int xlite__device_of(xlite_ctx *ctx, uint32_t domid,
                     const xlite_domain_config *cfg, size_t i,
                     xlite__device *dev_r);
int xlite__device_of_disk(xlite_ctx *ctx, uint32_t domid,
                          const xlite_disk_config *d, xlite__device *dev_r);
void xlite__device_of_nic(xlite_ctx *ctx, uint32_t domid,
                          const xlite_nic_config *n, xlite__device *dev_r);
/* Console num (0: the primary) of domid. */
void xlite__device_of_console(uint32_t domid, unsigned int num,
                              xlite__device *dev_r);
void xlite__device_dispose(xlite__device *dev);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(xlite__device, xlite__device_dispose)

/* The frontend directory of device devid of a kind; of console num. */
char *xlite__frontend_path(const xlite__devkind *kind, uint32_t domid,
                           int devid);
char *xlite__console_frontend_path(uint32_t domid, unsigned int num);
/* The tty its daemon wrote under a console's frontend directory ("" until
 * then), or NULL if there is none or dom0 does not own the node. */
char *xlite__console_tty(xlite_ctx *ctx, const char *fe);

/* The error (-ENOTSUP) for an extra PV console on a host that has no
 * server for it (xlite__hv_ops.extra_consoles). */
int xlite__extra_console_unserved(xlite_ctx *ctx, const char *domain);

/* Writes extra console num's (>= 1) backend and frontend nodes in t. */
int xlite__console_write(xlite_ctx *ctx, xs_transaction_t t, uint32_t domid,
                         unsigned int num);

/* In one transaction: the backend @be, only if it is still there (never
 * recreated), gets online 0 and state Closing, and the frontend @fe, if
 * given, goes.  True if the backend is then to be waited for: it was
 * neither Closed nor still Initialising (no driver ever took it). */
bool xlite__tell_backend_close(xlite_ctx *ctx, const char *be,
                               const char *fe);

/* Every device domid has in xenstore (xlite__device, with the script its
 * backend names), for a removal that cannot trust a config. */
GPtrArray *xlite__devices_of_xenstore(xlite_ctx *ctx, uint32_t domid);
/* One device's backend, frontend and error nodes. */
void xlite__device_remove_nodes(xlite_ctx *ctx, const xlite__device *dev);

/* Removes every backend directory of domid (vbd, vbd3, qdisk, vif,
 * console) and its error nodes. */
void xlite__devices_remove_xs(xlite_ctx *ctx, uint32_t domid);

/* The backend xenstore directory of a disk and its devid; -EINVAL (and
 * an error) for a vdev we cannot place.  A nic's backend directory. */
int xlite__disk_devid(xlite_ctx *ctx, const char *vdev, int *devid_r);
char *xlite__disk_backend_path(uint32_t domid, const xlite_disk_config *d,
                               int devid);
char *xlite__nic_backend_path(uint32_t domid, const xlite_nic_config *n);

/*
 * One device added to or removed from a domain (xlite_aodev.c): a
 * sub-operation of a create, a destroy or a hotplug, libxl's
 * libxl__ao_device.
 *
 * add: the device's nodes are already written (in the caller's
 * transaction); its backend is waited for (InitWait or Connected; a
 * console: a pty in its frontend's tty), failing at Closing, Closed or a
 * hotplug-error, at the device timeout or at the ao's abort; then its
 * "add" script runs, if it has one (script_started says it did).
 * remove: its backend is told to close, with its frontend going in the
 * same transaction when force (the guest is paused or dead), and waited
 * for until Closed, failed or gone (a console: also once its frontend
 * is Closed; not at all when forced: xenconsoled never closes one), or
 * the device timeout (logged: it goes anyway); then its "remove" script
 * if it has one and with_script (a failure is logged), then its nodes
 * go.  A removal is not abortable and always ends with rc 0.
 *
 * The caller fills the caller fields (the device is the aodev's from
 * then: _dispose frees it) and calls _start; callback(egc, aodev) comes
 * once, possibly from inside _start, with aodev->rc.
 */
typedef enum {
    XLITE__DEVICE_ADD,
    XLITE__DEVICE_REMOVE,
} xlite__devaction;

typedef struct xlite__aodev xlite__aodev;
typedef struct xlite__multidev xlite__multidev;
typedef void xlite__aodev_callback(xlite__egc *egc, xlite__aodev *aodev);
struct xlite__aodev {
    /* caller */
    xlite__ao *ao;
    uint32_t domid;
    xlite__devaction action;
    xlite__device dev;
    bool force;                   /* remove: the guest will not answer */
    bool with_script;             /* remove: run its "remove" script */
    xlite__aodev_callback *callback;
    /* results */
    int rc;
    bool script_started;          /* its script was started */
    /* private */
    xlite__multidev *multidev;
    const char *paths[2];         /* what xswait watches */
    char *argv[4];                /* NULL-terminated */
    char *env[8];
    xlite__xswait xswait;
    xlite__spawn_state spawn;
};

void xlite__aodev_init(xlite__aodev *aodev);
void xlite__aodev_start(xlite__egc *egc, xlite__aodev *aodev);
bool xlite__aodev_inuse(const xlite__aodev *aodev);
void xlite__aodev_dispose(xlite__aodev *aodev);

/*
 * Several devices at once, each step of each as soon as it can (libxl's
 * multidev): under emulation Xen's scripts take seconds each, and a
 * domain's devices then cost the slowest one, not their sum.  The caller
 * sets ao and callback, calls _begin, takes an aodev from _prepare for
 * each device (its callback is the combiner's), fills and starts it, and
 * calls _prepared once all are started (with an rc < 0 if preparing
 * failed).  callback(egc, md, rc) comes once, after _prepared and the
 * last device, with the first failure or 0; the aodevs stay readable
 * until _dispose.
 *   _add_all: every device of cfg (xlite__device_of), nodes written;
 *   returns < 0 if one cannot be placed (the others go on).
 *   _remove_all: every device domid has in xenstore, by force, each
 *   with the script its backend names (libxl's destroy of a domain).
 */
typedef void xlite__multidev_callback(xlite__egc *egc, xlite__multidev *md,
                                      int rc);
struct xlite__multidev {
    /* caller */
    xlite__ao *ao;
    xlite__multidev_callback *callback;
    /* private */
    GPtrArray *aodevs;
    size_t pending;               /* not done yet, _prepared counting one */
    int rc;
};

void xlite__multidev_begin(xlite__multidev *md);
xlite__aodev *xlite__multidev_prepare(xlite__multidev *md);
void xlite__multidev_prepared(xlite__egc *egc, xlite__multidev *md, int rc);
void xlite__multidev_dispose(xlite__multidev *md);
int xlite__multidev_add_all(xlite__egc *egc, xlite__multidev *md,
                            uint32_t domid, const xlite_domain_config *cfg);
void xlite__multidev_remove_all(xlite__egc *egc, xlite__multidev *md,
                                uint32_t domid);
