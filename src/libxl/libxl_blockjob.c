/*
 * libxl_blockjob.c: block jobs of the driver (DESIGN.md section 7)
 *
 * The core (xlite_blockjob.c) runs the jobs in the domain's disk server
 * and keeps one state machine per job; this file gives them libvirt's
 * shape, with the checks, error codes and messages of libvirt's QEMU
 * driver (qemuDomainBlockJobAbort, qemuDomainBlockCopyCommon, ...):
 *
 *  - every entry point: look up, ACL, job (queries take none), running
 *    check, the disk, then the core call with the domain unlocked;
 *  - the core's block-job events come to xvBlockJobHandleEvent from one
 *    worker thread that takes the domain's lock but never its job: it
 *    updates the disk (the <mirror> element, the source after a pivot),
 *    queues BLOCK_JOB and BLOCK_JOB_2 to every client, saves the status
 *    and wakes the domain's condition;
 *  - a synchronous abort holds the domain's job and waits on that
 *    condition with the domain unlocked (libvirt's qemuBlockJobSyncBegin
 *    pattern), so queries go on and the event it waits for is never
 *    queued behind it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "libxl_blockjob.h"
#include "libxl_domain.h"

#include "datatypes.h"
#include "domain_event.h"
#include "storage_file/storage_source.h"
#include "viraccessapicheck.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "virstoragefile.h"
#include "virstring.h"
#include "virtypedparam.h"
#include "virxml.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.libxl_blockjob");

void
xvBlockJobFree(void *job)
{
    g_free(job);
}

static GHashTable *
xvBlockJobTable(virDomainObj *vm)
{
    xvDomainObjPrivate *priv = vm->privateData;

    if (!priv->blockjobs)
        priv->blockjobs = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                g_free, xvBlockJobFree);
    return priv->blockjobs;
}

static xvBlockJob *
xvBlockJobLookup(virDomainObj *vm, const char *target)
{
    return g_hash_table_lookup(xvBlockJobTable(vm), target);
}

static xvBlockJob *
xvBlockJobGetOrAdd(virDomainObj *vm, const char *target,
                   virDomainBlockJobType type)
{
    xvBlockJob *job = xvBlockJobLookup(vm, target);

    if (!job) {
        job = g_new0(xvBlockJob, 1);
        job->type = type;
        g_hash_table_insert(xvBlockJobTable(vm), g_strdup(target), job);
    }
    return job;
}

static void
xvBlockJobDrop(virDomainObj *vm, const char *target)
{
    g_hash_table_remove(xvBlockJobTable(vm), target);
}

/* ---------------------------------------------------------------------
 * The live backing chain (<backingStore index='N'>): read from the images
 * when the domain starts, as libvirt's QEMU driver reads it, then followed
 * through snapshots and jobs.  Its images are numbered by depth, the
 * disk's own 0 (no index shown), the one below it 1, and so on, as the
 * block records of domstats --backing number them; libvirt's index
 * notation ("xvda[2]") names them.
 */

/* As libvirt's QEMU driver bounds a disk's chain. */
#define XV_BLOCK_CHAIN_MAX_DEPTH 200

virStorageSource *
xvBlockChainRead(const virStorageSource *src)
{
    g_autoptr(virStorageSource) copy = NULL;

    if (!src->path || !virStorageSourceIsLocalStorage(src) ||
        src->format != VIR_STORAGE_FILE_QCOW2)
        return NULL;
    copy = virStorageSourceCopy(src, false);
    if (virStorageSourceGetMetadata(copy, -1, -1, XV_BLOCK_CHAIN_MAX_DEPTH,
                                    false) < 0) {
        /* What cannot be read is left out: no error stays behind. */
        VIR_DEBUG("no backing chain for '%s': %s", src->path,
                  virGetLastErrorMessage());
        virResetLastError();
        return NULL;
    }
    return g_steal_pointer(&copy);
}

void
xvBlockChainUpdate(virDomainDiskDef *disk)
{
    virStorageSource *n;
    unsigned int depth = 0;

    if (!disk->src->backingStore) {
        g_autoptr(virStorageSource) chain = xvBlockChainRead(disk->src);

        if (chain)
            disk->src->backingStore = g_steal_pointer(&chain->backingStore);
    }
    for (n = disk->src; virStorageSourceIsBacking(n); n = n->backingStore)
        n->id = depth++;
}

/* The image of @disk's live chain that @name gives by libvirt's index
 * notation (virStorageSourceChainLookup), looked for below @from: in
 * *@found_r, or NULL when @name is not such an index (a file, for the
 * core to find).  -1 with libvirt's errors for another disk's name or an
 * index the chain does not hold. */
static int
xvBlockChainLookupIndex(virDomainDiskDef *disk, virStorageSource *from,
                        const char *name, virStorageSource **found_r)
{
    g_autofree char *target = NULL;
    unsigned int idx = 0;
    virStorageSource *n;

    *found_r = NULL;
    if (!name || virStorageFileParseBackingStoreStr(name, &target, &idx) < 0 ||
        idx == 0)
        return 0;
    if (STRNEQ(target, disk->dst)) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("requested target '%s' does not match target '%s'"),
                       target, disk->dst);
        return -1;
    }
    for (n = from->backingStore; virStorageSourceIsBacking(n);
         n = n->backingStore) {
        if (n->id == idx && n->path) {
            *found_r = n;
            return 0;
        }
    }
    virReportError(VIR_ERR_INVALID_ARG,
                   _("could not find backing store index '%u' in chain for '%s'"),
                   idx, disk->dst);
    return -1;
}

/* @name as the core takes it: the file of the image an index names, or
 * @name itself; in *@name_r (to free), NULL for a NULL @name. */
static int
xvBlockChainResolve(virDomainDiskDef *disk, virStorageSource *from,
                    const char *name, char **name_r,
                    virStorageSource **found_r)
{
    virStorageSource *found;

    if (xvBlockChainLookupIndex(disk, from, name, &found) < 0)
        return -1;
    *name_r = g_strdup(found ? found->path : name);
    if (found_r)
        *found_r = found;
    return 0;
}

/* ---------------------------------------------------------------------
 * The live backing chain after a job that merged images: known to the
 * process that started the job, which is the one that sees its end
 * (libvirtd; virsh --wait).
 */

typedef struct {
    char *top;      /* COMMIT: the image merged down; NULL: a pull */
    char *base;     /* the image that stays below; NULL: the chain's end
                     * (a pull) or its bottom (a commit) */
} xvBlockMerge;

static void
xvBlockMergeFree(void *p)
{
    xvBlockMerge *merge = p;

    g_free(merge->top);
    g_free(merge->base);
    g_free(merge);
}

static GHashTable *
xvBlockMergeTable(virDomainObj *vm)
{
    xvDomainObjPrivate *priv = vm->privateData;

    if (!priv->blockmerges)
        priv->blockmerges = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                  g_free, xvBlockMergeFree);
    return priv->blockmerges;
}

/* The element of @chain whose file is @path, or NULL.  A relative @path
 * names a file from the directory of the element above (libvirt's
 * virStorageSourceChainLookup). */
static virStorageSource *
xvBlockChainFind(virStorageSource *chain, const char *path)
{
    virStorageSource *above = NULL;

    for (; chain; above = chain, chain = chain->backingStore) {
        g_autofree char *dir = NULL;
        g_autofree char *full = NULL;
        g_autofree char *canon = NULL;

        if (STREQ_NULLABLE(chain->path, path))
            return chain;
        if (!path || g_path_is_absolute(path) || !above || !above->path ||
            !chain->path)
            continue;
        dir = g_path_get_dirname(above->path);
        full = g_build_filename(dir, path, NULL);
        canon = g_canonicalize_filename(full, "/");
        if (STREQ(canon, chain->path))
            return chain;
    }
    return NULL;
}

/* The images strictly between @above and @base go from the chain (all of
 * them below @above for a NULL @base).  A chain that does not show @base
 * is left as it is: it was never known (no snapshot made it). */
static void
xvBlockChainCut(virStorageSource *above, const char *base)
{
    virStorageSource *keep = NULL;

    if (base) {
        if (!(keep = xvBlockChainFind(above->backingStore, base)))
            return;
        keep = virObjectRef(keep);
    }
    virObjectUnref(above->backingStore);
    above->backingStore = keep;
}

/* A pull or a commit completed on @disk. */
static void
xvBlockMergeFollow(virDomainObj *vm, virDomainDiskDef *disk,
                   virDomainBlockJobType type)
{
    xvBlockMerge *merge = g_hash_table_lookup(xvBlockMergeTable(vm),
                                              disk->dst);
    virStorageSource *above;
    virStorageSource *bottom;
    virStorageSource *top;

    if (!merge)
        return;
    if (type == VIR_DOMAIN_BLOCK_JOB_TYPE_PULL) {
        xvBlockChainCut(disk->src, merge->base);
        return;
    }
    if (type != VIR_DOMAIN_BLOCK_JOB_TYPE_COMMIT || !merge->top)
        return;
    top = xvBlockChainFind(disk->src, merge->top);
    for (above = disk->src; above->backingStore; above = above->backingStore) {
        if (top && above->backingStore == top)
            break;
    }
    if (!above->backingStore)
        return;
    if (merge->base) {
        xvBlockChainCut(above, merge->base);
        return;
    }
    for (bottom = above->backingStore; bottom->backingStore;
         bottom = bottom->backingStore)
        ;
    if (bottom != above->backingStore)
        xvBlockChainCut(above, bottom->path);
}

static void
xvBlockJobSaveStatus(xvDriver *driver, virDomainObj *vm)
{
    if (virDomainObjSave(vm, driver->xmlopt, driver->config->runDir) < 0)
        VIR_WARN("domain '%s': cannot save its status: %s", vm->def->name,
                 virGetLastErrorMessage());
}

/* The pulls and commits under way, in the domain's status:
 *   <blockmerges><merge dev='xvda' top='...' base='...'/></blockmerges>
 * (no top: a pull), so that a restarted daemon follows them again. */
int
xvBlockJobStatusFormat(virBuffer *buf, virDomainObj *vm)
{
    xvDomainObjPrivate *priv = vm->privateData;
    g_auto(virBuffer) childBuf = VIR_BUFFER_INIT_CHILD(buf);
    g_autofree gpointer *keys = NULL;
    guint n = 0;
    guint i;

    if (!priv->blockmerges)
        return 0;
    keys = g_hash_table_get_keys_as_array(priv->blockmerges, &n);
    for (i = 0; i < n; i++) {
        xvBlockMerge *merge = g_hash_table_lookup(priv->blockmerges, keys[i]);
        g_auto(virBuffer) attrBuf = VIR_BUFFER_INITIALIZER;

        virBufferEscapeString(&attrBuf, " dev='%s'", keys[i]);
        virBufferEscapeString(&attrBuf, " top='%s'", merge->top);
        virBufferEscapeString(&attrBuf, " base='%s'", merge->base);
        virXMLFormatElement(&childBuf, "merge", &attrBuf, NULL);
    }
    virXMLFormatElement(buf, "blockmerges", NULL, &childBuf);
    return 0;
}

int
xvBlockJobStatusParse(xmlXPathContextPtr ctxt, virDomainObj *vm)
{
    g_autofree xmlNodePtr *nodes = NULL;
    int n;
    int i;

    if ((n = virXPathNodeSet("./blockmerges/merge", ctxt, &nodes)) < 0)
        return -1;
    for (i = 0; i < n; i++) {
        g_autofree char *dev = virXMLPropString(nodes[i], "dev");
        xvBlockMerge *merge;

        if (!dev) {
            virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                           _("block job status without a disk"));
            return -1;
        }
        merge = g_new0(xvBlockMerge, 1);
        merge->top = virXMLPropString(nodes[i], "top");
        merge->base = virXMLPropString(nodes[i], "base");
        g_hash_table_replace(xvBlockMergeTable(vm), g_steal_pointer(&dev),
                             merge);
    }
    return 0;
}

static virDomainBlockJobType
xvBlockJobTypeFromCore(xlite_block_job_type type)
{
    switch (type) {
    case XLITE_BLOCK_JOB_PULL:
        return VIR_DOMAIN_BLOCK_JOB_TYPE_PULL;
    case XLITE_BLOCK_JOB_COPY:
        return VIR_DOMAIN_BLOCK_JOB_TYPE_COPY;
    case XLITE_BLOCK_JOB_COMMIT:
        return VIR_DOMAIN_BLOCK_JOB_TYPE_COMMIT;
    case XLITE_BLOCK_JOB_ACTIVE_COMMIT:
        return VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT;
    }
    return VIR_DOMAIN_BLOCK_JOB_TYPE_UNKNOWN;
}

static int
xvBlockJobStatusFromCore(xlite_block_job_status status)
{
    switch (status) {
    case XLITE_BLOCK_JOB_COMPLETED:
        return VIR_DOMAIN_BLOCK_JOB_COMPLETED;
    case XLITE_BLOCK_JOB_FAILED:
        return VIR_DOMAIN_BLOCK_JOB_FAILED;
    case XLITE_BLOCK_JOB_CANCELED:
        return VIR_DOMAIN_BLOCK_JOB_CANCELED;
    case XLITE_BLOCK_JOB_READY:
        return VIR_DOMAIN_BLOCK_JOB_READY;
    }
    return VIR_DOMAIN_BLOCK_JOB_FAILED;
}

/* libvirt's names of job types, for messages. */
static const char *
xvBlockJobTypeName(virDomainBlockJobType type)
{
    switch (type) {
    case VIR_DOMAIN_BLOCK_JOB_TYPE_PULL:
        return "pull";
    case VIR_DOMAIN_BLOCK_JOB_TYPE_COPY:
        return "copy";
    case VIR_DOMAIN_BLOCK_JOB_TYPE_COMMIT:
        return "commit";
    case VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT:
        return "active-commit";
    case VIR_DOMAIN_BLOCK_JOB_TYPE_BACKUP:
    case VIR_DOMAIN_BLOCK_JOB_TYPE_UNKNOWN:
    case VIR_DOMAIN_BLOCK_JOB_TYPE_LAST:
        break;
    }
    return "unknown";
}

/* The disk a path names (its target or its source), as libvirt's
 * qemuDomainDiskByName. */
static virDomainDiskDef *
xvBlockJobDisk(virDomainObj *vm, const char *path)
{
    virDomainDiskDef *disk;

    if (!path || !(disk = virDomainDiskByName(vm->def, path, true))) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("disk '%s' not found in domain"), NULLSTR(path));
        return NULL;
    }
    return disk;
}

/* The disk a path names, for a new job: none may be running on it. */
static virDomainDiskDef *
xvBlockJobDiskForNewJob(virDomainObj *vm, const char *path)
{
    virDomainDiskDef *disk;

    if (!(disk = xvBlockJobDisk(vm, path)))
        return NULL;
    if (disk->mirror) {
        virReportError(VIR_ERR_BLOCK_COPY_ACTIVE,
                       _("disk '%s' already in active block job"), disk->dst);
        return NULL;
    }
    return disk;
}

/* The disk shows no job any more (no <mirror> element). */
static void
xvBlockJobClearMirror(virDomainDiskDef *disk)
{
    g_clear_pointer(&disk->mirror, virObjectUnref);
    disk->mirrorState = VIR_DOMAIN_DISK_MIRROR_STATE_NONE;
    disk->mirrorJob = VIR_DOMAIN_BLOCK_JOB_TYPE_UNKNOWN;
}

/* A bandwidth of the API in bytes/s: it is in MiB/s unless @bytes, as in
 * libvirt's QEMU driver. */
static int
xvBlockJobBandwidth(unsigned long bandwidth, bool bytes,
                    unsigned long long *speed_r)
{
    unsigned long long speed = bandwidth;

    if (!bytes) {
        if (speed > LLONG_MAX >> 20) {
            virReportError(VIR_ERR_OVERFLOW,
                           _("bandwidth must be less than %llu"),
                           LLONG_MAX >> 20);
            return -1;
        }
        speed <<= 20;
    }
    *speed_r = speed;
    return 0;
}

/* ---------------------------------------------------------------------
 * Events
 */

static void
xvBlockJobEmit(xvDriver *driver, virDomainObj *vm, virDomainDiskDef *disk,
               virDomainBlockJobType type, int status)
{
    const char *path = virDomainDiskGetSource(disk);
    virObjectEvent *event;
    virObjectEvent *event2;

    event = virDomainEventBlockJobNewFromObj(vm, path, type, status);
    event2 = virDomainEventBlockJob2NewFromObj(vm, disk->dst, type, status);
    virObjectEventStateQueue(driver->domainEventState, event);
    virObjectEventStateQueue(driver->domainEventState, event2);
}

void
xvBlockJobHandleEvent(xvDriver *driver, const xlite_event *ev)
{
    virDomainBlockJobType type = xvBlockJobTypeFromCore(ev->u.block_job.job);
    int status = xvBlockJobStatusFromCore(ev->u.block_job.status);
    virDomainDiskDef *disk;
    virDomainObj *vm;
    xvBlockJob *job;

    if (!(vm = virDomainObjListFindByID(driver->domains, ev->domid)))
        return;
    if (!virDomainObjIsActive(vm) || (uint32_t)vm->def->id != ev->domid ||
        memcmp(vm->def->uuid, ev->uuid, VIR_UUID_BUFLEN) != 0)
        goto cleanup;
    if (!(disk = virDomainDiskByTarget(vm->def, ev->u.block_job.disk))) {
        VIR_WARN("domain '%s': block job event for unknown disk '%s'",
                 vm->def->name, ev->u.block_job.disk);
        goto cleanup;
    }
    VIR_DEBUG("domain '%s' disk '%s': block job %s, status %d",
              vm->def->name, disk->dst, xvBlockJobTypeName(type), status);

    job = xvBlockJobGetOrAdd(vm, disk->dst, type);
    if (status == VIR_DOMAIN_BLOCK_JOB_READY) {
        if (disk->mirror)
            disk->mirrorState = VIR_DOMAIN_DISK_MIRROR_STATE_READY;
    } else {
        /* The one terminal event: after a pivot the copy (or the base of
         * an active commit) is the disk. */
        if (status == VIR_DOMAIN_BLOCK_JOB_COMPLETED &&
            type == VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT &&
            disk->mirror &&
            xvBlockChainFind(disk->src->backingStore, disk->mirror->path)) {
            /* The base, with what the chain shows below it. */
            virStorageSource *base = virObjectRef(
                xvBlockChainFind(disk->src->backingStore,
                                 disk->mirror->path));

            virObjectUnref(disk->src);
            disk->src = base;
        } else if (status == VIR_DOMAIN_BLOCK_JOB_COMPLETED &&
                   (type == VIR_DOMAIN_BLOCK_JOB_TYPE_COPY ||
                    type == VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT) &&
                   disk->mirror) {
            virObjectUnref(disk->src);
            disk->src = g_steal_pointer(&disk->mirror);
        } else if (status == VIR_DOMAIN_BLOCK_JOB_COMPLETED) {
            xvBlockMergeFollow(vm, disk, type);
        }
        g_hash_table_remove(xvBlockMergeTable(vm), disk->dst);
        xvBlockJobClearMirror(disk);
        xvBlockChainUpdate(disk);
        job->ended = true;
        job->status = status;
        if (job->waiters == 0 && !job->starting)
            xvBlockJobDrop(vm, disk->dst);
    }
    if (virDomainObjSave(vm, driver->xmlopt, driver->config->runDir) < 0)
        VIR_WARN("domain '%s': cannot save its status after a block job "
                 "event", vm->def->name);
    xvBlockJobEmit(driver, vm, disk, type, status);
    virDomainObjBroadcast(vm);

 cleanup:
    virDomainObjEndAPI(&vm);
}

/* ---------------------------------------------------------------------
 * Abort, information, speed
 */

/* The disk server has no job for the disk: a <mirror> left in the live
 * definition is stale.  Its job ended while no process of this driver
 * watched (in embedded mode, the process that asked for an asynchronous
 * abort or pivot exited before the end).  A pivot is followed; no event
 * is made up for an end nobody saw. */
static void
xvBlockJobForgetStale(xvDriver *driver, virDomainObj *vm, const char *target)
{
    virDomainDiskDef *disk = virDomainDiskByTarget(vm->def, target);
    xvBlockJob *job = xvBlockJobLookup(vm, target);

    /* Not stale: a synchronous abort waits for its end, or it is being
     * started (the core has no job yet, and the <mirror> or the chain's
     * merge is already recorded). */
    if (job && (job->waiters || job->starting))
        return;
    if (job)
        xvBlockJobDrop(vm, target);
    if (g_hash_table_remove(xvBlockMergeTable(vm), target) && disk) {
        /* A pull or a commit ended unseen, completed or not: the images
         * say what the chain is now. */
        VIR_INFO("domain '%s' disk '%s': its pull or commit ended unseen",
                 vm->def->name, target);
        g_clear_pointer(&disk->src->backingStore, virObjectUnref);
        xvBlockChainUpdate(disk);
        ignore_value(virDomainObjSave(vm, driver->xmlopt,
                                      driver->config->runDir));
    }
    if (!disk || !disk->mirror)
        return;
    VIR_INFO("domain '%s' disk '%s': its block job ended unseen",
             vm->def->name, target);
    /* A pivot the disk server made: the core's stored config follows it
     * (it asked the server when it found the job gone). */
    if (disk->mirror->path) {
        xlite_domain_config cfg;
        size_t i;

        xlite_domain_config_init(&cfg);
        if (xlite_retrieve_domain_config(driver->ctx, vm->def->id, &cfg) == 0) {
            for (i = 0; i < cfg.num_disks; i++) {
                if (STREQ_NULLABLE(cfg.disks[i].vdev, target) &&
                    STREQ_NULLABLE(cfg.disks[i].target, disk->mirror->path)) {
                    VIR_INFO("domain '%s' disk '%s': it was pivoted to '%s'",
                             vm->def->name, target, disk->mirror->path);
                    virObjectUnref(disk->src);
                    disk->src = g_steal_pointer(&disk->mirror);
                    break;
                }
            }
        }
        xlite_domain_config_dispose(&cfg);
    }
    xvBlockJobClearMirror(disk);
    xvBlockChainUpdate(disk);
    ignore_value(virDomainObjSave(vm, driver->xmlopt, driver->config->runDir));
}

/* ---------------------------------------------------------------------
 * Reconnecting
 */

void
xvBlockJobReconnect(xvDriver *driver, virDomainObj *vm)
{
    size_t i;

    /* In embedded mode every client process reconnects: it must not hold
     * the disk server's one monitor for as long as it lives (see
     * docs/blockjobs.md); the next call on the disk finds the job. */
    if (driver->embedded)
        return;
    /* A status written before the live chain was kept (an older driver)
     * shows none: it is read now. */
    for (i = 0; i < vm->def->ndisks; i++) {
        virDomainDiskDef *disk = vm->def->disks[i];

        if (!disk->src->backingStore) {
            xvBlockChainUpdate(disk);
            if (disk->src->backingStore)
                xvBlockJobSaveStatus(driver, vm);
        }
    }
    for (i = 0; i < vm->def->ndisks; i++) {
        virDomainDiskDef *disk = vm->def->disks[i];
        xlite_block_job_info info;
        int rc;

        /* A copy or an active commit (a <mirror>), a pull or a commit
         * (what its end does to the chain, saved in the status). */
        if (!disk->mirror &&
            !g_hash_table_contains(xvBlockMergeTable(vm), disk->dst))
            continue;
        /* Asking adopts the job: its events come to this driver again. */
        rc = xlite_block_job_get_info(driver->ctx, vm->def->id, disk->dst,
                                      &info, NULL);
        if (rc == -ENOENT) {
            xvBlockJobForgetStale(driver, vm, disk->dst);
        } else if (rc < 0) {
            VIR_WARN("domain '%s' disk '%s': its block job cannot be found again: %s",
                     vm->def->name, disk->dst, xlite_errmsg());
        } else {
            VIR_INFO("domain '%s' disk '%s': block job found again",
                     vm->def->name, disk->dst);
            if (info.ready)
                disk->mirrorState = VIR_DOMAIN_DISK_MIRROR_STATE_READY;
        }
    }
}


/* The core's answer for a job, with the domain unlocked meanwhile. */
static int
xvBlockJobCoreInfo(xvDriver *driver, virDomainObj *vm, const char *target,
                   xlite_block_job_info *info)
{
    uint32_t domid = vm->def->id;
    g_autofree char *dst = g_strdup(target);
    int rc;

    virObjectUnlock(vm);
    rc = xlite_block_job_get_info(driver->ctx, domid, dst, info, NULL);
    virObjectLock(vm);
    return rc;
}

bool
xvBlockJobAny(xvDriver *driver, virDomainObj *vm)
{
    size_t i;

    for (i = 0; i < vm->def->ndisks && virDomainObjIsActive(vm); i++) {
        xlite_block_job_info info;

        if (vm->def->disks[i]->mirror ||
            xvBlockJobCoreInfo(driver, vm, vm->def->disks[i]->dst,
                               &info) == 0)
            return true;
    }
    return false;
}

static void
xvBlockJobReportCore(const char *what, const char *target)
{
    virReportError(VIR_ERR_OPERATION_FAILED,
                   _("cannot %s the block job of disk '%s': %s"),
                   what, target, xlite_errmsg());
}

static void
xvBlockJobReportNoJob(const char *target)
{
    virReportError(VIR_ERR_INVALID_ARG,
                   _("disk %s does not have an active block job"), target);
}

static void
xvBlockJobReportEnding(const char *target)
{
    virReportError(VIR_ERR_OPERATION_INVALID,
                   _("block job on disk '%s' is still being ended"), target);
}

/* The job an abort or pivot of the disk @target is about, which this
 * driver follows from now on; NULL with an error reported.  The job may
 * have been started by another process (embedded mode): the disk server
 * knows it. */
static xvBlockJob *
xvBlockJobAbortFind(xvDriver *driver, virDomainObj *vm, const char *target)
{
    xvBlockJob *job = xvBlockJobLookup(vm, target);
    xlite_block_job_info info;
    int rc;

    if (job && job->ending && !job->ended) {
        xvBlockJobReportEnding(target);
        return NULL;
    }
    rc = xvBlockJobCoreInfo(driver, vm, target, &info);
    if (rc == -ENOENT) {
        xvBlockJobForgetStale(driver, vm, target);
        xvBlockJobReportNoJob(target);
        return NULL;
    }
    if (rc < 0) {
        xvBlockJobReportCore("abort", target);
        return NULL;
    }
    if (!virDomainObjIsActive(vm)) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("domain '%s' is not running"), vm->def->name);
        return NULL;
    }
    job = xvBlockJobGetOrAdd(vm, target, xvBlockJobTypeFromCore(info.type));
    job->ended = false;
    return job;
}

/* Asks the disk server to end the job of the disk @target (@pivot: onto
 * its copy), with the domain unlocked meanwhile, and reports a refusal
 * as libvirt's QEMU driver does; @type names the job in messages. */
static int
xvBlockJobAbortCore(xvDriver *driver, virDomainObj *vm, const char *target,
                    bool pivot, virDomainBlockJobType type)
{
    uint32_t domid = vm->def->id;
    int rc;

    virObjectUnlock(vm);
    rc = xlite_block_job_abort(driver->ctx, domid, target, pivot, NULL);
    virObjectLock(vm);
    switch (rc) {
    case 0:
        return 0;
    case -ENOENT:
        xvBlockJobReportNoJob(target);
        break;
    case -EALREADY:
        xvBlockJobReportEnding(target);
        break;
    case -EBUSY:
        virReportError(VIR_ERR_BLOCK_COPY_ACTIVE,
                       _("block job '%s' not ready for pivot yet"), target);
        break;
    case -EOPNOTSUPP:
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("job type '%s' does not support pivot"),
                       xvBlockJobTypeName(type));
        break;
    default:
        xvBlockJobReportCore(pivot ? "pivot" : "abort", target);
        break;
    }
    return -1;
}

/* The disk server is ending the job: the live XML says so (<mirror
 * ready='pivot'> or 'abort') until the job's last event. */
static void
xvBlockJobMarkEnding(xvDriver *driver, virDomainObj *vm, const char *target,
                     xvBlockJob *job, bool pivot)
{
    virDomainDiskDef *disk;

    job->ending = true;
    if ((disk = virDomainDiskByTarget(vm->def, target)) && disk->mirror)
        disk->mirrorState = pivot ? VIR_DOMAIN_DISK_MIRROR_STATE_PIVOT
                                  : VIR_DOMAIN_DISK_MIRROR_STATE_ABORT;
    ignore_value(virDomainObjSave(vm, driver->xmlopt, driver->config->runDir));
}

/* Waits for the last event of a job this thread counts among its
 * waiters.  The domain is unlocked while waiting: queries go on, and the
 * event worker takes the lock to report the end. */
static int
xvBlockJobWaitEnd(virDomainObj *vm, xvBlockJob *job, const char *target,
                  bool pivot)
{
    while (!job->ended) {
        if (virDomainObjWait(vm) < 0)
            return -1;
    }
    if (pivot && job->status == VIR_DOMAIN_BLOCK_JOB_FAILED) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("block job '%s' failed while pivoting"), target);
        return -1;
    }
    return 0;
}

/* Lets go of the entry an abort used: the worker leaves an ended job's
 * entry to its last waiter; an abort that failed before the server took
 * it drops what it added. */
static void
xvBlockJobAbortRelease(virDomainObj *vm, const char *target, bool waiting,
                       bool ok)
{
    xvBlockJob *job;

    if (!target || !(job = xvBlockJobLookup(vm, target)))
        return;
    if (waiting) {
        if (--job->waiters == 0 && job->ended)
            xvBlockJobDrop(vm, target);
    } else if (!ok && !job->ending && job->waiters == 0) {
        xvBlockJobDrop(vm, target);
    }
}

int
xvDomainBlockJobAbort(virDomainPtr dom, const char *path, unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    bool pivot = !!(flags & VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT);
    bool async = !!(flags & VIR_DOMAIN_BLOCK_JOB_ABORT_ASYNC);
    g_autofree char *target = NULL;
    virDomainDiskDef *disk;
    virDomainObj *vm;
    xvBlockJob *job;
    bool waiting = false;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_BLOCK_JOB_ABORT_ASYNC |
                  VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT, -1);

    if (!(vm = xvDomainBeginJob(dom, virDomainBlockJobAbortEnsureACL, NULL,
                                0, XV_DOMAIN_BEGIN_ACTIVE)))
        return -1;
    if (!(disk = xvBlockJobDisk(vm, path)))
        goto endjob;
    target = g_strdup(disk->dst);
    /* The steps of an abort at debug level, to see where its time goes
     * (bench/driver/blockjob-bench.py --log). */
    VIR_DEBUG("domain '%s' disk '%s': abort (flags 0x%x), job begun",
              vm->def->name, target, flags);
    if (!(job = xvBlockJobAbortFind(driver, vm, target)))
        goto endjob;
    VIR_DEBUG("domain '%s' disk '%s': the disk server has the job",
              vm->def->name, target);
    if (!async) {
        job->waiters++;
        waiting = true;
    }
    if (xvBlockJobAbortCore(driver, vm, target, pivot, job->type) < 0)
        goto endjob;
    /* A job nobody waits for may have ended while the domain was
     * unlocked: the event worker has then dropped its entry. */
    if ((job = xvBlockJobLookup(vm, target)) && !job->ended)
        xvBlockJobMarkEnding(driver, vm, target, job, pivot);
    VIR_DEBUG("domain '%s' disk '%s': the abort is under way%s",
              vm->def->name, target, waiting ? ", waiting for its end" : "");
    if (waiting && xvBlockJobWaitEnd(vm, job, target, pivot) < 0)
        goto endjob;
    ret = 0;

 endjob:
    xvBlockJobAbortRelease(vm, target, waiting, ret == 0);
    virDomainObjEndJob(vm);
    VIR_DEBUG("domain '%s' disk '%s': abort returns %d", vm->def->name,
              NULLSTR(target), ret);
    virDomainObjEndAPI(&vm);
    return ret;
}

int
xvDomainGetBlockJobInfo(virDomainPtr dom, const char *path,
                        virDomainBlockJobInfoPtr info, unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    bool bytes = !!(flags & VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES);
    g_autofree char *target = NULL;
    xlite_block_job_info raw;
    virDomainDiskDef *disk;
    virDomainObj *vm;
    unsigned long long bandwidth;
    int ret = -1;
    int rc;

    virCheckFlags(VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES, -1);

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainGetBlockJobInfoEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    if (virDomainObjCheckActive(vm) < 0)
        goto cleanup;
    if (!(disk = xvBlockJobDisk(vm, path)))
        goto cleanup;
    target = g_strdup(disk->dst);

    /* A query: no job, and the domain unlocked during the round trip. */
    rc = xvBlockJobCoreInfo(driver, vm, target, &raw);
    if (rc == -ENOENT) {
        if (virDomainObjIsActive(vm))
            xvBlockJobForgetStale(driver, vm, target);
        memset(info, 0, sizeof(*info));
        ret = 0;
        goto cleanup;
    }
    if (rc < 0) {
        xvBlockJobReportCore("query", target);
        goto cleanup;
    }

    /* As libvirt's qemuBlockJobInfoTranslate: cur == end means done to
     * the applications that poll, so never before the job is ready, and
     * never 0/0 before it started. */
    memset(info, 0, sizeof(*info));
    info->type = xvBlockJobTypeFromCore(raw.type);
    info->cur = raw.cur;
    info->end = raw.end;
    if (info->cur == 0 && info->end == 0) {
        info->end = 1;
        if (raw.ready)
            info->cur = 1;
    }
    if (!raw.ready && info->cur == info->end && info->cur > 0)
        info->cur -= 1;
    bandwidth = raw.bandwidth;
    if (bandwidth && !bytes)
        bandwidth = VIR_DIV_UP(bandwidth, 1024 * 1024);
    info->bandwidth = bandwidth;
    if (info->bandwidth != bandwidth) {
        virReportError(VIR_ERR_OVERFLOW,
                       _("bandwidth %llu cannot be represented in result"),
                       bandwidth);
        goto cleanup;
    }
    /* A copy that reached sync while another process watched it (embedded
     * mode) shows as ready here too. */
    if ((disk = virDomainDiskByTarget(vm->def, target)) && disk->mirror &&
        raw.ready &&
        disk->mirrorState == VIR_DOMAIN_DISK_MIRROR_STATE_NONE)
        disk->mirrorState = VIR_DOMAIN_DISK_MIRROR_STATE_READY;
    ret = 1;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}

int
xvDomainBlockJobSetSpeed(virDomainPtr dom, const char *path,
                         unsigned long bandwidth, unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    unsigned long long speed;
    g_autofree char *target = NULL;
    virDomainDiskDef *disk;
    virDomainObj *vm;
    uint32_t domid;
    int ret = -1;
    int rc;

    virCheckFlags(VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES, -1);

    if (xvBlockJobBandwidth(bandwidth,
                            flags & VIR_DOMAIN_BLOCK_JOB_SPEED_BANDWIDTH_BYTES,
                            &speed) < 0)
        return -1;
    if (!(vm = xvDomainBeginJob(dom, virDomainBlockJobSetSpeedEnsureACL, NULL,
                                0, XV_DOMAIN_BEGIN_ACTIVE)))
        return -1;
    if (!(disk = xvBlockJobDisk(vm, path)))
        goto endjob;
    target = g_strdup(disk->dst);
    domid = vm->def->id;

    virObjectUnlock(vm);
    rc = xlite_block_job_set_speed(driver->ctx, domid, target, speed, NULL);
    virObjectLock(vm);
    if (rc == -ENOENT) {
        xvBlockJobReportNoJob(target);
        goto endjob;
    }
    if (rc < 0) {
        xvBlockJobReportCore("set the speed of", target);
        goto endjob;
    }
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    return ret;
}

/* ---------------------------------------------------------------------
 * Starting jobs
 */

/* Starts a job on the disk path names; vm has the job and is locked. */
static int
xvBlockJobStart(xvDriver *driver, virDomainObj *vm, virDomainDiskDef *disk,
                xlite_block_job_params *params)
{
    xvBlockJob *job;
    uint32_t domid = vm->def->id;
    g_autofree char *target = g_strdup(disk->dst);
    g_autofree char *source = g_strdup(virDomainDiskGetSource(disk));
    const char *top = params->top ? params->top : source;
    int rc;

    params->vdev = target;
    if ((job = xvBlockJobLookup(vm, target)) && !job->ended) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED,
                       _("disk '%s' already in active block job"), target);
        return -1;
    }
    xvBlockJobDrop(vm, target);
    job = xvBlockJobGetOrAdd(vm, target, xvBlockJobTypeFromCore(params->type));
    job->starting = true;
    /* Known before the start: the end may come before it returns. */
    if (params->type == XLITE_BLOCK_JOB_PULL ||
        params->type == XLITE_BLOCK_JOB_COMMIT) {
        xvBlockMerge *merge = g_new0(xvBlockMerge, 1);

        merge->top = g_strdup(params->top);
        merge->base = g_strdup(params->base);
        g_hash_table_replace(xvBlockMergeTable(vm), g_strdup(target), merge);
        /* In the status before the job exists: a daemon restarted at any
         * point finds it again (or finds it never started). */
        xvBlockJobSaveStatus(driver, vm);
    }
    virObjectUnlock(vm);
    rc = xlite_block_job_start(driver->ctx, domid, params, NULL);
    virObjectLock(vm);
    /* Its end may have come meanwhile: then it is over. */
    if ((job = xvBlockJobLookup(vm, target))) {
        job->starting = false;
        if (rc < 0 || (job->ended && job->waiters == 0))
            xvBlockJobDrop(vm, target);
    }
    if (rc < 0 &&
        g_hash_table_remove(xvBlockMergeTable(vm), target))
        xvBlockJobSaveStatus(driver, vm);
    if (rc == -EBUSY) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED,
                       _("disk '%s' already in active block job"), target);
        return -1;
    }
    if (rc == -EOPNOTSUPP) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED,
                       _("block jobs are not supported on disk '%s': %s"),
                       target, xlite_errmsg());
        return -1;
    }
    /* What the disk's chain refused, as libvirt's QEMU driver says it. */
    if (rc == -EXDEV) {
        VIR_INFO("disk '%s': %s", target, xlite_errmsg());
        virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                       _("can't keep relative backing relationship"));
        return -1;
    }
    if (rc == -ENXIO) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("base '%s' is not immediately below '%s' in chain for '%s'"),
                       NULLSTR(params->base), NULLSTR(top), NULLSTR(source));
        return -1;
    }
    if (rc == -ENODATA) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("top '%s' in chain for '%s' has no backing file"),
                       NULLSTR(top), NULLSTR(source));
        return -1;
    }
    if (rc == -EINVAL) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("cannot start a block job on disk '%s': %s"),
                       target, xlite_errmsg());
        return -1;
    }
    if (rc < 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot start a block job on disk '%s': %s"),
                       target, xlite_errmsg());
        return -1;
    }
    return 0;
}

/* Starts a job the live XML shows as <mirror job='...'> (a copy, an
 * active commit) until it ends; takes @mirror over.  The mirror is set
 * before the start, so that the job's events, which may come before the
 * start returns, find it. */
static int
xvBlockJobStartMirrored(xvDriver *driver, virDomainObj *vm,
                        virDomainDiskDef *disk, virStorageSource *mirror,
                        virDomainBlockJobType type,
                        xlite_block_job_params *params)
{
    g_autofree char *target = g_strdup(disk->dst);

    disk->mirror = mirror;
    disk->mirrorJob = type;
    disk->mirrorState = VIR_DOMAIN_DISK_MIRROR_STATE_NONE;
    if (xvBlockJobStart(driver, vm, disk, params) < 0) {
        /* The job holds the definition: the disk is still there. */
        if ((disk = virDomainDiskByTarget(vm->def, target)))
            xvBlockJobClearMirror(disk);
        return -1;
    }
    return 0;
}

static int
xvBlockPullCommon(virDomainPtr dom, const char *path, const char *base,
                  unsigned long bandwidth, unsigned int flags,
                  xvDomainACLCheck acl)
{
    xvDriver *driver = dom->conn->privateData;
    xlite_block_job_params params = { .type = XLITE_BLOCK_JOB_PULL };
    unsigned long long speed;
    virDomainDiskDef *disk;
    virDomainObj *vm;
    g_autofree char *baseName = NULL;
    int ret = -1;

    if (flags & VIR_DOMAIN_BLOCK_REBASE_RELATIVE && !base) {
        virReportError(VIR_ERR_INVALID_ARG, "%s",
                       _("flag VIR_DOMAIN_BLOCK_REBASE_RELATIVE is valid only with non-null base"));
        return -1;
    }
    if (xvBlockJobBandwidth(bandwidth,
                            flags & VIR_DOMAIN_BLOCK_PULL_BANDWIDTH_BYTES,
                            &speed) < 0)
        return -1;
    if (!(vm = xvDomainBeginJob(dom, acl, NULL, 0, XV_DOMAIN_BEGIN_ACTIVE)))
        return -1;
    if (!(disk = xvBlockJobDiskForNewJob(vm, path)) ||
        xvBlockChainResolve(disk, disk->src, base, &baseName, NULL) < 0)
        goto endjob;
    params.base = baseName;
    params.bandwidth = speed;
    params.relative = !!(flags & VIR_DOMAIN_BLOCK_REBASE_RELATIVE);
    if (xvBlockJobStart(driver, vm, disk, &params) < 0)
        goto endjob;
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    return ret;
}

int
xvDomainBlockPull(virDomainPtr dom, const char *path, unsigned long bandwidth,
                  unsigned int flags)
{
    virCheckFlags(VIR_DOMAIN_BLOCK_PULL_BANDWIDTH_BYTES, -1);
    return xvBlockPullCommon(dom, path, NULL, bandwidth, flags,
                             virDomainBlockPullEnsureACL);
}

/* The checks of a copy's destination that need no domain. */
static int
xvBlockCopyCheckDest(const virStorageSource *mirror,
                     unsigned long long bandwidth)
{
    if (!mirror->path || !g_path_is_absolute(mirror->path)) {
        virReportError(VIR_ERR_INVALID_ARG, "%s",
                       _("absolute path must be used as block copy target"));
        return -1;
    }
    if (bandwidth > LLONG_MAX) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("bandwidth must be less than '%llu' bytes/s (%llu MiB/s)"),
                       LLONG_MAX, LLONG_MAX >> 20);
        return -1;
    }
    if (mirror->type != VIR_STORAGE_TYPE_FILE) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("block copy is supported only to a file"));
        return -1;
    }
    return 0;
}

/* A copy's parameters from its disk and destination, as libvirt's QEMU
 * driver checks them: a shallow copy of a disk without backing is a
 * full one, the destination file exists exactly when it is reused, and
 * its format is the disk's unless given. */
static int
xvBlockCopyParams(const virDomainDiskDef *disk, virStorageSource *mirror,
                  unsigned int flags, xlite_block_job_params *params)
{
    bool reuse = !!(flags & VIR_DOMAIN_BLOCK_COPY_REUSE_EXT);
    bool shallow = !!(flags & VIR_DOMAIN_BLOCK_COPY_SHALLOW);

    if (!virStorageSourceHasBacking(disk->src))
        shallow = false;
    if (shallow && !reuse && mirror->format == VIR_STORAGE_FILE_RAW) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("shallow copy of disk '%s' into a raw file is not possible"),
                       disk->dst);
        return -1;
    }
    if (!reuse && virFileExists(mirror->path)) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("destination file '%s' already exists; use the REUSE_EXT flag to keep it"),
                       mirror->path);
        return -1;
    }
    if (reuse && !virFileExists(mirror->path)) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("missing destination file for disk %s: %s"),
                       disk->dst, mirror->path);
        return -1;
    }
    if (mirror->format <= VIR_STORAGE_FILE_NONE) {
        if (reuse) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("reused mirror destination format must be specified"));
            return -1;
        }
        mirror->format = disk->src->format;
    }
    switch (mirror->format) {
    case VIR_STORAGE_FILE_RAW:
        params->dest_format = XLITE_DISK_FORMAT_RAW;
        break;
    case VIR_STORAGE_FILE_QCOW2:
        params->dest_format = XLITE_DISK_FORMAT_QCOW2;
        break;
    default:
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("block copy to format '%s' is not supported"),
                       virStorageFileFormatTypeToString(mirror->format));
        return -1;
    }
    params->dest = mirror->path;
    params->reuse_ext = reuse;
    params->shallow = shallow;
    return 0;
}

/* A copy of the disk path names to mirror; takes mirror over. */
static int
xvBlockCopyCommon(virDomainPtr dom, const char *path,
                  virStorageSource *mirrorArg, unsigned long long bandwidth,
                  unsigned int granularity, unsigned long long buf_size,
                  unsigned int flags, xvDomainACLCheck acl)
{
    xvDriver *driver = dom->conn->privateData;
    g_autoptr(virStorageSource) mirror = mirrorArg;
    xlite_block_job_params params = { .type = XLITE_BLOCK_JOB_COPY };
    virDomainDiskDef *disk;
    virDomainObj *vm;
    int ret = -1;

    if (xvBlockCopyCheckDest(mirror, bandwidth) < 0)
        return -1;
    if (!(vm = xvDomainBeginJob(dom, acl, NULL, 0, XV_DOMAIN_BEGIN_ACTIVE)))
        return -1;
    if (!(disk = xvBlockJobDiskForNewJob(vm, path)))
        goto endjob;
    if (!(flags & VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB) && vm->persistent) {
        /* As libvirt: a persistent domain would start again without the
         * copy it had made live. */
        virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                       _("domain is not transient"));
        goto endjob;
    }
    if (xvBlockCopyParams(disk, mirror, flags, &params) < 0)
        goto endjob;
    params.bandwidth = bandwidth;
    params.granularity = granularity;
    params.buf_size = buf_size;
    if (xvBlockJobStartMirrored(driver, vm, disk, g_steal_pointer(&mirror),
                                VIR_DOMAIN_BLOCK_JOB_TYPE_COPY, &params) < 0)
        goto endjob;
    ignore_value(virDomainObjSave(vm, driver->xmlopt, driver->config->runDir));
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    return ret;
}

int
xvDomainBlockRebase(virDomainPtr dom, const char *path, const char *base,
                    unsigned long bandwidth, unsigned int flags)
{
    g_autoptr(virStorageSource) dest = NULL;
    unsigned long long speed;

    virCheckFlags(VIR_DOMAIN_BLOCK_REBASE_SHALLOW |
                  VIR_DOMAIN_BLOCK_REBASE_REUSE_EXT |
                  VIR_DOMAIN_BLOCK_REBASE_COPY |
                  VIR_DOMAIN_BLOCK_REBASE_COPY_RAW |
                  VIR_DOMAIN_BLOCK_REBASE_RELATIVE |
                  VIR_DOMAIN_BLOCK_REBASE_BANDWIDTH_BYTES, -1);

    if (!(flags & VIR_DOMAIN_BLOCK_REBASE_COPY))
        return xvBlockPullCommon(dom, path, base, bandwidth, flags,
                                 virDomainBlockRebaseEnsureACL);

    if (!base) {
        virReportError(VIR_ERR_INVALID_ARG, "%s",
                       _("absolute path must be used as block copy target"));
        return -1;
    }
    if (xvBlockJobBandwidth(bandwidth,
                            flags & VIR_DOMAIN_BLOCK_REBASE_BANDWIDTH_BYTES,
                            &speed) < 0)
        return -1;
    if (flags & VIR_DOMAIN_BLOCK_REBASE_RELATIVE) {
        virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                       _("Relative backing during copy not supported yet"));
        return -1;
    }
    dest = virStorageSourceNew();
    dest->type = VIR_STORAGE_TYPE_FILE;
    dest->path = g_strdup(base);
    if (flags & VIR_DOMAIN_BLOCK_REBASE_COPY_RAW)
        dest->format = VIR_STORAGE_FILE_RAW;
    /* A rebase-copy always made a transient job (libvirt's qemu driver
     * passes its flags on; only SHALLOW and REUSE_EXT carry over). */
    flags &= (VIR_DOMAIN_BLOCK_REBASE_SHALLOW |
              VIR_DOMAIN_BLOCK_REBASE_REUSE_EXT);
    return xvBlockCopyCommon(dom, path, g_steal_pointer(&dest), speed, 0, 0,
                             flags, virDomainBlockRebaseEnsureACL);
}

int
xvDomainBlockCopy(virDomainPtr dom, const char *disk, const char *destxml,
                  virTypedParameterPtr params, int nparams,
                  unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    unsigned long long bandwidth = 0;
    unsigned int granularity = 0;
    unsigned long long buf_size = 0;
    virStorageSource *dest;
    int i;

    virCheckFlags(VIR_DOMAIN_BLOCK_COPY_SHALLOW |
                  VIR_DOMAIN_BLOCK_COPY_REUSE_EXT |
                  VIR_DOMAIN_BLOCK_COPY_TRANSIENT_JOB, -1);

    if (virTypedParamsValidate(params, nparams,
                               VIR_DOMAIN_BLOCK_COPY_BANDWIDTH,
                               VIR_TYPED_PARAM_ULLONG,
                               VIR_DOMAIN_BLOCK_COPY_GRANULARITY,
                               VIR_TYPED_PARAM_UINT,
                               VIR_DOMAIN_BLOCK_COPY_BUF_SIZE,
                               VIR_TYPED_PARAM_ULLONG,
                               NULL) < 0)
        return -1;
    for (i = 0; i < nparams; i++) {
        virTypedParameterPtr param = &params[i];

        if (STREQ(param->field, VIR_DOMAIN_BLOCK_COPY_BANDWIDTH)) {
            bandwidth = param->value.ul;
        } else if (STREQ(param->field, VIR_DOMAIN_BLOCK_COPY_GRANULARITY)) {
            if (param->value.ui != VIR_ROUND_UP_POWER_OF_TWO(param->value.ui)) {
                virReportError(VIR_ERR_INVALID_ARG, "%s",
                               _("granularity must be power of 2"));
                return -1;
            }
            granularity = param->value.ui;
        } else if (STREQ(param->field, VIR_DOMAIN_BLOCK_COPY_BUF_SIZE)) {
            buf_size = param->value.ul;
        }
    }
    if (!(dest = virDomainDiskDefParseSource(destxml, driver->xmlopt,
                                             VIR_DOMAIN_DEF_PARSE_INACTIVE)))
        return -1;
    return xvBlockCopyCommon(dom, disk, dest, bandwidth, granularity,
                             buf_size, flags, virDomainBlockCopyEnsureACL);
}

/* Whether a commit from @top is an active one (from the disk's own
 * image, which ends with a pivot), and whether @flags allow it. */
static int
xvBlockCommitIsActive(const virDomainDiskDef *disk, const char *top,
                      unsigned int flags, bool *active_r)
{
    bool active = !top || STREQ(top, disk->dst) ||
                  STREQ_NULLABLE(top, virDomainDiskGetSource(disk));

    if (active && !(flags & VIR_DOMAIN_BLOCK_COMMIT_ACTIVE)) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("commit of '%s' active layer requires active flag"),
                       disk->dst);
        return -1;
    }
    if (!active && (flags & VIR_DOMAIN_BLOCK_COMMIT_ACTIVE)) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("active commit requested but '%s' is not active"),
                       top);
        return -1;
    }
    *active_r = active;
    return 0;
}

/* A commit's @top and @base as the core takes them, where libvirt's index
 * notation gave them (the base is looked for below top, as libvirt
 * does); the names are kept in @topName and @baseName. */
static int
xvBlockCommitResolve(virDomainDiskDef *disk, const char **top,
                     const char **base, char **topName, char **baseName)
{
    virStorageSource *from = NULL;

    if (xvBlockChainResolve(disk, disk->src, *top, topName, &from) < 0)
        return -1;
    if (!from && *top)
        from = xvBlockChainFind(disk->src, *top);
    if (xvBlockChainResolve(disk, from ? from : disk->src, *base, baseName,
                            NULL) < 0)
        return -1;
    *top = *topName;
    *base = *baseName;
    return 0;
}

/* Starts an active commit, shown as <mirror job='active-commit'> until
 * the pivot.  The mirror's file is the base, which the core finds when
 * not given: then it is asked for after the start. */
static int
xvBlockCommitStartActive(xvDriver *driver, virDomainObj *vm,
                         virDomainDiskDef *disk,
                         xlite_block_job_params *params)
{
    g_autoptr(virStorageSource) mirror = virStorageSourceNew();
    g_autofree char *target = g_strdup(disk->dst);
    xlite_block_job_info info;

    mirror->type = VIR_STORAGE_TYPE_FILE;
    mirror->path = g_strdup(params->base);
    mirror->format = VIR_STORAGE_FILE_QCOW2;
    if (xvBlockJobStartMirrored(driver, vm, disk, g_steal_pointer(&mirror),
                                VIR_DOMAIN_BLOCK_JOB_TYPE_ACTIVE_COMMIT,
                                params) < 0)
        return -1;
    /* The base as the core found it in the chain: its file (base may
     * have been a relative name, or none) and its format. */
    if (xvBlockJobCoreInfo(driver, vm, target, &info) == 0 && info.dest[0] &&
        (disk = virDomainDiskByTarget(vm->def, target)) && disk->mirror) {
        g_free(disk->mirror->path);
        disk->mirror->path = g_strdup(info.dest);
        if (info.dest_format == XLITE_DISK_FORMAT_RAW)
            disk->mirror->format = VIR_STORAGE_FILE_RAW;
    }
    return 0;
}

int
xvDomainBlockCommit(virDomainPtr dom, const char *path, const char *base,
                    const char *top, unsigned long bandwidth,
                    unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    xlite_block_job_params params = { 0 };
    unsigned long long speed;
    virDomainDiskDef *disk;
    virDomainObj *vm;
    g_autofree char *shallowBase = NULL;
    g_autofree char *topName = NULL;
    g_autofree char *baseName = NULL;
    bool active;
    int ret = -1;
    int rc;

    virCheckFlags(VIR_DOMAIN_BLOCK_COMMIT_SHALLOW |
                  VIR_DOMAIN_BLOCK_COMMIT_DELETE |
                  VIR_DOMAIN_BLOCK_COMMIT_ACTIVE |
                  VIR_DOMAIN_BLOCK_COMMIT_RELATIVE |
                  VIR_DOMAIN_BLOCK_COMMIT_BANDWIDTH_BYTES, -1);

    if (xvBlockJobBandwidth(bandwidth,
                            flags & VIR_DOMAIN_BLOCK_COMMIT_BANDWIDTH_BYTES,
                            &speed) < 0)
        return -1;
    if (!(vm = xvDomainBeginJob(dom, virDomainBlockCommitEnsureACL, NULL, 0,
                                XV_DOMAIN_BEGIN_ACTIVE)))
        return -1;
    if (!(disk = xvBlockJobDiskForNewJob(vm, path)) ||
        xvBlockCommitResolve(disk, &top, &base, &topName, &baseName) < 0 ||
        xvBlockCommitIsActive(disk, top, flags, &active) < 0)
        goto endjob;
    params.base = base;
    params.bandwidth = speed;
    /* An active commit rewrites no image above it: there RELATIVE
     * changes nothing (the core ignores it), as in libvirt. */
    params.relative = !!(flags & VIR_DOMAIN_BLOCK_COMMIT_RELATIVE);
    params.shallow = !!(flags & VIR_DOMAIN_BLOCK_COMMIT_SHALLOW);
    params.delete_committed = !!(flags & VIR_DOMAIN_BLOCK_COMMIT_DELETE);
    if (!base && params.shallow) {
        /* The live chain (<backingStore>, as a snapshot made it) says
         * what the core will take: top's backing image. */
        virStorageSource *above = top ? xvBlockChainFind(disk->src, top)
                                      : disk->src;

        if (above && above->backingStore && above->backingStore->path)
            shallowBase = g_strdup(above->backingStore->path);
        params.base = shallowBase;
    }
    if (active) {
        params.type = XLITE_BLOCK_JOB_ACTIVE_COMMIT;
        rc = xvBlockCommitStartActive(driver, vm, disk, &params);
    } else {
        params.type = XLITE_BLOCK_JOB_COMMIT;
        params.top = top;
        rc = xvBlockJobStart(driver, vm, disk, &params);
    }
    if (rc < 0)
        goto endjob;
    ignore_value(virDomainObjSave(vm, driver->xmlopt, driver->config->runDir));
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    return ret;
}

/* ---------------------------------------------------------------------
 * Resize: the checks and errors of libvirt's qemuDomainBlockResize; the
 * core grows the image (the disk server's block_resize, or the file
 * blkback serves) and tells the guest as Xen's backends do.
 */

int
xvDomainBlockResize(virDomainPtr dom, const char *path,
                    unsigned long long size, unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainDiskDef *disk;
    virDomainObj *vm;
    g_autofree char *target = NULL;
    uint32_t domid;
    int ret = -1;
    int rc;

    virCheckFlags(VIR_DOMAIN_BLOCK_RESIZE_BYTES, -1);

    /* Bytes are what the core takes. */
    if (!(flags & VIR_DOMAIN_BLOCK_RESIZE_BYTES)) {
        if (size > ULLONG_MAX / 1024) {
            virReportError(VIR_ERR_OVERFLOW, _("size must be less than %llu"),
                           ULLONG_MAX / 1024);
            return -1;
        }
        size *= 1024;
    }
    if (!(vm = xvDomainBeginJob(dom, virDomainBlockResizeEnsureACL, NULL, 0,
                                XV_DOMAIN_BEGIN_ACTIVE)))
        return -1;
    if (!path || !(disk = virDomainDiskByName(vm->def, path, false))) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("disk '%s' was not found in the domain config"),
                       NULLSTR(path));
        goto endjob;
    }
    /* qcow2 is sized in sectors of 512 bytes: round up, as libvirt does. */
    if (disk->src->format == VIR_STORAGE_FILE_QCOW2)
        size = VIR_ROUND_UP(size, 512);
    if (virStorageSourceIsEmpty(disk->src) || disk->src->readonly) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED,
                       _("can't resize empty or readonly disk '%s'"),
                       disk->dst);
        goto endjob;
    }
    target = g_strdup(disk->dst);
    domid = vm->def->id;
    virObjectUnlock(vm);
    rc = xlite_disk_resize(driver->ctx, domid, target, size, NULL);
    virObjectLock(vm);
    if (rc == -ERANGE) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("cannot shrink disk '%s': %s"), target,
                       xlite_errmsg());
        goto endjob;
    }
    if (rc == -EOPNOTSUPP || rc == -EROFS) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED,
                       _("block resize is not supported for disk '%s': %s"),
                       target, xlite_errmsg());
        goto endjob;
    }
    if (rc < 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot resize disk '%s': %s"), target,
                       xlite_errmsg());
        goto endjob;
    }
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    return ret;
}
