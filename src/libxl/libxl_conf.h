/*
 * libxl_conf.h: the Xenvirt driver's private state and configuration
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"
#include "capabilities.h"
#include "domain_capabilities.h"
#include "domain_conf.h"
#include "object_event.h"
#include "virdomainobjlist.h"
#include "virthread.h"

#include "xlite.h"

/* Our messages belong to our own text domain, not libvirt's: every driver
 * file includes this header after libvirt's internal.h. */
#undef _
#define _(str) dgettext(XV_GETTEXT_PACKAGE, str)

#define XV_DRIVER_NAME "Xen"

/* The name Xen hosts give dom0 (xen-init-dom0 writes it). */
#define XV_DOM0_NAME "Domain-0"

/*
 * Where the driver keeps its files.  Daemon mode uses the system locations
 * (privileged) or the user's (unprivileged); embedded mode puts everything
 * under the root the application named, as virStateInitialize prescribes.
 */
typedef struct _xvDriverConfig xvDriverConfig;
struct _xvDriverConfig {
    char *root;           /* embedded root, or NULL */
    char *configDir;      /* xenvirt.conf */
    char *domainConfigDir;/* persistent domain XML */
    char *autostartDir;   /* links to the domains that start with the driver */
    char *stateDir;       /* libxlite's private state */
    char *runDir;         /* live status of running domains */
    char *logDir;
    char *snapshotDir;    /* snapshot metadata: <snapshotDir>/<domain>/ */

    /* From xenvirt.conf */
    xlite_backend_kind backend;
    char *simRundir;      /* the simulated host's run directory */
    bool simSharedNetns;  /* sim_network = "shared" */
    bool blockjobPoll;    /* blockjob_events = "poll" */
};

void xvDriverConfigFree(xvDriverConfig *cfg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xvDriverConfig, xvDriverConfigFree);

xvDriverConfig *xvDriverConfigNew(bool privileged, const char *root);
int xvDriverConfigLoadFile(xvDriverConfig *cfg, const char *path);
int xvDriverConfigPlaceSimHost(xvDriverConfig *cfg, bool privileged);

/*
 * The driver.  Locking rules are written on each field; "immutable" fields
 * are set in stateInitialize before any connection can exist and never
 * change afterwards, so they are read without a lock.
 */
typedef struct _xvDriver xvDriver;
struct _xvDriver {
    /* Immutable */
    bool privileged;
    bool embedded;
    xvDriverConfig *config;
    xlite_ctx *ctx;               /* thread safe by itself */
    xlite_host_info hostInfo;     /* taken once at initialisation */

    /* Immutable pointer, self-locking object */
    virDomainObjList *domains;

    /* Immutable pointer, self-locking object */
    virObjectEventState *domainEventState;

    /* Immutable pointer; the capabilities are never modified after
     * initialisation, so readers take a reference and need no lock. */
    virCaps *caps;

    /* Immutable pointer, immutable object */
    virDomainXMLOption *xmlopt;

    /* The core's domain events, queued per domid and handled in order
     * within a domain by a pool of threads (libxl_domain.c).  The core
     * may deliver an event from any thread up to the moment the context
     * is freed, so handing one over, draining a queue and stopping the
     * pool are serialised by eventWorkerLock: eventWorker is NULL once
     * stopped.  eventQueues (domid -> its queue) and every queue's
     * contents are protected by eventWorkerLock. */
    GMutex eventWorkerLock;
    GThreadPool *eventWorker;
    GHashTable *eventQueues;
    /* Block-job events (libxl_blockjob.c), in the order they came, by one
     * thread that never takes a domain's job: a synchronous abort holds
     * the job while it waits for them.  Protected by eventWorkerLock like
     * eventWorker; NULL once stopped. */
    GThreadPool *blockJobWorker;
};

/* The prefix of the names of the host's interfaces of guests' NICs
 * (vifD.N), which a user's <target dev> may not take. */
#define XV_VIF_PREFIX "vif"

/* @topo may be NULL: no NUMA cells then. */
virCaps *xvCapabilitiesNew(const xlite_host_info *info,
                           const xlite_host_topology *topo);
virDomainCaps *xvDomainCapsNew(const char *emulatorbin, const char *machine,
                               virArch arch);
unsigned long xvHostVersion(const xlite_host_info *info);

/* The device model arguments of <xen:commandline> (the XML namespace
 * http://libvirt.org/schemas/domain/xen/1.0, as libvirt's Xen driver). */
typedef struct {
    char **args;                /* NULL terminated */
} xvDomainXmlNsDef;

/* pygrub, which xl and libvirt's driver use for a PV guest with neither a
 * kernel nor a bootloader. */
#define XV_DEFAULT_BOOTLOADER "/usr/lib/xen/bin/pygrub"

typedef enum {
    /* Map for a start: every check libvirt's Xen driver makes when it
     * starts a domain.  Without it (define), only what libvirt's driver
     * refuses at define time is refused. */
    XV_CONFIG_START = 1 << 0,
    /* No libvirt network driver to resolve <interface type='network'>
     * (embedded mode): such an interface fails the start, saying so. */
    XV_CONFIG_NO_NETWORK_DRIVER = 1 << 1,
} xvConfigFlags;

/* Fill @cfg (initialised by the caller) from @def.  On failure reports the
 * error and leaves @cfg for the caller to dispose. */
int xvDomainConfigFromDef(const virDomainDef *def, xlite_domain_config *cfg,
                          unsigned int flags);

/* Fill @cfg (initialised by the caller) with the one disk or interface
 * @dev of @def holds; the same conversion as a whole definition's start
 * (@flags: XV_CONFIG_NO_NETWORK_DRIVER). */
int xvDeviceConfigFromDef(const virDomainDef *def, const virDomainDeviceDef *dev,
                          xlite_domain_config *cfg, unsigned int flags);

/* Is @ifname the name Xen's netback gives a guest's interface
 * (vifDOMID.DEVID)?  Such a name belongs to one run of a domain and is
 * never passed on as a chosen name. */
bool xvIsGeneratedVifName(const char *ifname);

/* The video memory, in KiB, that QEMU (qemu-xen) gives the card @type
 * by default and needs at least; 0 for a card with no such amount. */
unsigned int xvVideoDefaultVram(virDomainVideoType type);

/* QEMU's source string for the network disk source @src (what the qdisk
 * backend and xl's disk "target" take), or NULL with an error. */
char *xvNetworkDiskSource(const virStorageSource *src);

/* Stop handing the core's events to the worker and wait for the worker to
 * finish what it was given. */
void xvDomainEventsStop(xvDriver *driver);
