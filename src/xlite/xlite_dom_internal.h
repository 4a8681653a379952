/*
 * xlite_dom_internal.h: what the domain and device files share
 * (xlite_domain.c, xlite_device.c, xlite_devop.c, xlite_retrieve.c)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <xenstore.h>

#include "xlite_internal.h"

/* How long a backend may take to come up or close, a dying domain to go
 * (10 s), and a hotplug script to run (40 s), as libxl's timeouts;
 * XLITE_DEVICE_TIMEOUT_MS in the environment overrides both (tests). */
int64_t xlite__device_timeout(void);
int64_t xlite__hotplug_timeout(void);

/* The domain's info, with a clear error (-ESRCH) if it does not exist,
 * -EOPNOTSUPP on a backend that runs no domains, -EINVAL for dom0 or an
 * id out of range.  Lock held. */
int xlite__dom_info(xlite_ctx *ctx, uint32_t domid, xlite_dominfo *info);

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
    const char *script;           /* its own or the host's; NULL: none */
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

/* Writes extra console num's (>= 1) backend and frontend nodes in t. */
int xlite__console_write(xlite_ctx *ctx, xs_transaction_t t, uint32_t domid,
                         unsigned int num);

/* In one transaction: the backend @be, only if it is still there (never
 * recreated), gets online 0 and state Closing, and the frontend @fe, if
 * given, goes.  True if the backend is then to be waited for: it was
 * neither Closed nor still Initialising (no driver ever took it). */
bool xlite__tell_backend_close(xlite_ctx *ctx, const char *be,
                               const char *fe);

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
 * Hotplug scripts: "SCRIPT add" (or "remove") with XENBUS_PATH and
 * friends in the environment, each with the hotplug timeout.  "add"
 * scripts run one after the other and stop at the first failure;
 * "remove" scripts all run at once (as libxl's multidev), and one that
 * fails is logged and does not stop the others.  done(egc, hp, rc) once,
 * after the last (or the first failure of an "add").
 */
typedef struct xlite__hotplug xlite__hotplug;
typedef void xlite__hotplug_callback(xlite__egc *egc, xlite__hotplug *hp,
                                     int rc);
/* One device's script. */
typedef struct {
    xlite__hotplug *hp;
    char *argv[4];                /* NULL-terminated */
    char *env[8];
    xlite__spawn_state spawn;
} xlite__hotplug_slot;
struct xlite__hotplug {
    /* caller */
    xlite__ao *ao;
    uint32_t domid;
    const xlite_domain_config *cfg;
    bool remove;
    xlite__hotplug_callback *callback;
    /* private */
    xlite__hotplug_slot *slots;   /* one per device: disks, then nics */
    size_t nslots;
    size_t next;                  /* adding: the next slot to run */
    size_t running;               /* removing: scripts not done yet */
};

void xlite__hotplug_init(xlite__hotplug *hp);
/* Starts; the callback may run before this returns. */
void xlite__hotplug_run(xlite__egc *egc, xlite__hotplug *hp);
bool xlite__hotplug_inuse(const xlite__hotplug *hp);

/*
 * Waiting for every backend of a new domain to be ready (InitWait or
 * Connected), or one to fail (Closing, Closed, an error node), or the
 * timeout: an xlite__xswait on every backend directory, abortable.
 * Consoles have no handshake: xenconsoled (or a QEMU) never moves their
 * backend's state; a console is ready when its daemon has written the
 * pty into the frontend's tty (a node dom0 owns), so for consoles it is
 * the frontend directory that is watched.
 *
 * With closing set, the other way round.  Without cfg, for a domain
 * being destroyed (DESIGN.md: "a dead domain's backends are torn down as
 * libxl does"): every device the domain has in xenstore is removed by
 * force as libxl does, its frontend going in the transaction that gives
 * its backend online 0 and state Closing, which makes the kernel's
 * backend close at once without the (paused or dead) guest.  With cfg,
 * a hot removal from a running guest: only the backends of cfg's disks
 * and nics are told to close, and their frontends are left to the guest,
 * which answers.  Backends are then waited for until Closed, failed
 * (Closing with a hotplug-error) or gone, except those nobody will close
 * (the console's, and any still Initialising); at the timeout the
 * removal goes on anyway (logged).  Not abortable: it runs while taking
 * things back.  _stop abandons a wait (or frees what a finished one
 * left); the callback is called once, possibly from inside _start.
 */
typedef struct xlite__devwait xlite__devwait;
typedef void xlite__devwait_callback(xlite__egc *egc, xlite__devwait *dw,
                                     int rc);
struct xlite__devwait {
    /* caller */
    xlite__ao *ao;
    uint32_t domid;
    const xlite_domain_config *cfg;
    bool closing;
    xlite__devwait_callback *callback;
    /* private */
    GPtrArray *paths;             /* backend directories, then */
    size_t nbackends;             /* ...console frontends from here */
    xlite__xswait xswait;         /* on paths, the device timeout */
};

void xlite__devwait_init(xlite__devwait *dw);
void xlite__devwait_start(xlite__egc *egc, xlite__devwait *dw);
void xlite__devwait_stop(xlite_ctx *ctx, xlite__devwait *dw);
