/*
 * libxl_domain.h: the driver's domain objects: XML conventions, private
 * data, start and stop, the core's events, reconnect (libxl_domain.c), and
 * the beginning every domain entry point shares (libxl_driver.c)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "libxl_conf.h"

#include "virchrdev.h"

/* The XML options of the driver: Xen defaults applied after parsing, and the
 * checks that refuse what a Xen host cannot run.  @driver may be NULL (the
 * format converters, tests): the capabilities check is then skipped. */
virDomainXMLOption *xvDomainXMLOptionNew(xvDriver *driver);

/*
 * Running domains.
 *
 * The domain object's lock protects its definition and state; a domain's
 * job (virDomainObjBeginJob) serialises changes.  Long calls into the core
 * run with the job held and the object unlocked, so queries, which take no
 * job, never wait behind them.
 */

/* Private data of each domain object: protected by the object's lock. */
typedef struct _xvDomainObjPrivate xvDomainObjPrivate;
struct _xvDomainObjPrivate {
    /* The core's shutdown/death generator for the running domain. */
    xlite_evgen *deathEvgen;

    /* Console streams: one client per console unless forced.  Thread
     * safe by itself. */
    virChrdevs *devs;

    /* Block jobs this driver knows of, by disk target (xvBlockJob,
     * libxl_blockjob.c).  Protected by the domain object's lock. */
    GHashTable *blockjobs;

    /* What the live backing chain of each disk whose block job merges
     * images (a pull, a commit) becomes when the job completes, by disk
     * target (xvBlockMerge, libxl_blockjob.c).  Protected by the domain
     * object's lock. */
    GHashTable *blockmerges;

    /* The Xen channels the core serves for the running domain
     * (xlite_channel *), one per def->channels entry in its order, NULL
     * where the entry is not a Xen channel.  Opened at start and at
     * reconnect, closed when the domain stops.  Protected by the domain
     * object's lock. */
    GPtrArray *channels;

    /* The guest agent's response timeout (libxl_agent.c): seconds, or
     * VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_BLOCK/_DEFAULT/_NOWAIT.  Not
     * kept across a restart of the driver.  Protected by the domain
     * object's lock. */
    int agentTimeout;
};

/* The domain object for @dom, locked and referenced (release it with
 * virDomainObjEndAPI), or NULL with VIR_ERR_NO_DOMAIN reported. */
virDomainObj *xvDomObjFromDomain(virDomainPtr dom);

/* The generated ACL checks (viraccessapicheck.h) come in two shapes: with
 * the API's flags, where the rule depends on them (VIR_DOMAIN_AFFECT_CONFIG
 * also needs the permission to save), and without. */
typedef int (*xvDomainACLCheck)(virConnectPtr conn, virDomainDef *def);
typedef int (*xvDomainACLCheckFlags)(virConnectPtr conn, virDomainDef *def,
                                     unsigned int flags);

/* xvDomObjFromDomain, then the generated ACL check (@acl, or @aclFlags
 * with the API's @flags: exactly one of the two): NULL with the error
 * reported if either fails. */
virDomainObj *xvDomObjFromDomainACL(virDomainPtr dom, xvDomainACLCheck acl,
                                    xvDomainACLCheckFlags aclFlags,
                                    unsigned int flags);

typedef enum {
    XV_DOMAIN_BEGIN_ANY = 0,            /* running or not */
    XV_DOMAIN_BEGIN_ACTIVE = 1 << 0,    /* refuse a domain that is not running */
} xvDomainBeginFlags;

/*
 * The beginning of every entry point that changes a domain, libvirt's
 * skeleton up to "act": look @dom up, run its generated ACL check (@acl,
 * or @aclFlags with the API's @flags: pass exactly one of the two), begin a
 * MODIFY job and, with XV_DOMAIN_BEGIN_ACTIVE (@begin), refuse a domain
 * that is not running (VIR_ERR_OPERATION_INVALID).  Returns the object
 * locked, referenced and with the job held: the entry point ends with
 * virDomainObjEndJob and virDomainObjEndAPI.  NULL with an error reported
 * and nothing held.  The entry point names its own vir...EnsureACL.
 */
virDomainObj *xvDomainBeginJob(virDomainPtr dom, xvDomainACLCheck acl,
                               xvDomainACLCheckFlags aclFlags,
                               unsigned int flags, unsigned int begin);

/* The names a running domain's devices get: an alias for each (kept if
 * the user gave one, "ua-..."), and an interface's host name vifDOMID.DEVID
 * where the user chose none, as Xen's netback names it. */
void xvDomainNameDisk(virDomainDiskDef *disk);
void xvDomainNameNic(virDomainObj *vm, virDomainNetDef *net, int devid);

/* Start a defined domain: the caller holds a MODIFY job and the lock.
 * On failure nothing is left behind: no domain in the hypervisor, no
 * status file, the object back to shut off. */
int xvDomainStart(xvDriver *driver, virDomainObj *vm, bool startPaused,
                  virDomainRunningReason reason);

/* The same from a save image at @restorePath (NULL: a boot).  A plain
 * start restores the domain's managed save image if it has one, and then
 * removes it. */
int xvDomainStartRestore(xvDriver *driver, virDomainObj *vm,
                         const char *restorePath, bool startPaused,
                         virDomainRunningReason reason);

/* Destroy a running domain and mark it shut off with @reason; the caller
 * holds a MODIFY job and the lock.  Queues the STOPPED event @detail. */
int xvDomainDestroyAndCleanup(xvDriver *driver, virDomainObj *vm,
                              virDomainShutoffReason reason,
                              virDomainEventStoppedDetailType detail);

/* Route the core's domain events (death, shutdown) into the driver. */
int xvDomainEventsInit(xvDriver *driver);

/* After the driver (re)starts, once the saved statuses are loaded: undo
 * the starts a driver that stopped left half done (see "Starts in
 * progress" in libxl_domain.c). */
void xvDomainReclaimStarts(xvDriver *driver);

/* After the driver (re)starts: reconnect to every domain whose status was
 * saved, and report the ones that died meanwhile as shut off. */
void xvDomainReconnectAll(xvDriver *driver);

/* The driver stops: close the channels it serves (docs/channels.md). */
void xvDomainCloseAllChannels(xvDriver *driver);

/* Start the autostart domains that are not running. */
void xvDomainAutostartAll(xvDriver *driver);
