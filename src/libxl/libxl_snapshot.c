/*
 * libxl_snapshot.c: external disk-only snapshots (docs/snapshots.md)
 *
 * What builds the chains block jobs collapse: virDomainSnapshotCreateXML
 * with VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY puts a new qcow2 overlay on
 * top of each disk of a running domain (the core's disk snapshot: one QMP
 * transaction in the domain's disk server), and the disk's old image
 * becomes the overlay's <backingStore>.  The checks, error codes and
 * messages are those of libvirt's QEMU driver (qemu_snapshot.c).
 *
 * Snapshots kept with metadata live in the domain's
 * virDomainSnapshotObjList, written as <snapshotDir>/<domain>/<name>.xml
 * the way libvirt's QEMU driver writes them, and read again when the
 * driver starts.  Deleting one removes its metadata only
 * (VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY): the images are merged by
 * the caller with blockcommit or blockpull, as Nova does.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "libxl_snapshot.h"
#include "libxl_domain.h"
#include "libxl_blockjob.h"

#include "datatypes.h"
#include "snapshot_conf.h"
#include "viraccessapicheck.h"
#include "virdomainsnapshotobjlist.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "virstring.h"
#include "viruuid.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.libxl_snapshot");

/* ---------------------------------------------------------------------
 * Metadata
 */

static char *
xvSnapshotDomainDir(xvDriver *driver, virDomainObj *vm)
{
    return g_strdup_printf("%s/%s", driver->config->snapshotDir,
                           vm->def->name);
}

static int
xvSnapshotWriteMetadata(xvDriver *driver, virDomainObj *vm,
                        virDomainMomentObj *snap)
{
    unsigned int flags = VIR_DOMAIN_SNAPSHOT_FORMAT_SECURE |
                         VIR_DOMAIN_SNAPSHOT_FORMAT_INTERNAL;
    g_autofree char *dir = xvSnapshotDomainDir(driver, vm);
    g_autofree char *file = NULL;
    g_autofree char *xml = NULL;
    char uuidstr[VIR_UUID_STRING_BUFLEN];

    if (virDomainSnapshotGetCurrent(vm->snapshots) == snap)
        flags |= VIR_DOMAIN_SNAPSHOT_FORMAT_CURRENT;
    virUUIDFormat(vm->def->uuid, uuidstr);
    if (!(xml = virDomainSnapshotDefFormat(uuidstr,
                                           virDomainSnapshotObjGetDef(snap),
                                           driver->xmlopt, flags)))
        return -1;
    if (g_mkdir_with_parents(dir, 0700) < 0) {
        virReportSystemError(errno,
                             _("cannot create snapshot directory '%s'"), dir);
        return -1;
    }
    file = g_strdup_printf("%s/%s.xml", dir, snap->def->name);
    return virXMLSaveFile(file, NULL, "snapshot-edit", xml);
}

/* The snapshot's metadata goes: its file, its place in the tree (its
 * children go to its parent, whose name their files then say), and the
 * current mark (to its parent).  The images are left alone. */
static int
xvSnapshotDiscardMetadata(xvDriver *driver, virDomainObj *vm,
                          virDomainMomentObj *snap)
{
    g_autofree char *dir = xvSnapshotDomainDir(driver, vm);
    g_autofree char *file = g_strdup_printf("%s/%s.xml", dir,
                                            snap->def->name);
    g_autoptr(GPtrArray) children = g_ptr_array_new();
    /* The list's root when snap is one of its roots (no def). */
    virDomainMomentObj *parent = snap->parent;
    bool current = virDomainSnapshotGetCurrent(vm->snapshots) == snap;
    virDomainMomentObj *child;
    int ret = 0;
    size_t i;

    for (child = snap->first_child; child; child = child->sibling) {
        g_free(child->def->parent_name);
        child->def->parent_name = parent && parent->def
                                  ? g_strdup(parent->def->name) : NULL;
        g_ptr_array_add(children, child);
    }
    if (parent)
        virDomainMomentMoveChildren(snap, parent);
    if (current)
        virDomainSnapshotSetCurrent(vm->snapshots,
                                    parent && parent->def ? parent : NULL);
    if (unlink(file) < 0 && errno != ENOENT) {
        virReportSystemError(errno, _("failed to remove snapshot file '%s'"),
                             file);
        ret = -1;
    }
    virDomainMomentDropParent(snap);
    virDomainSnapshotObjListRemove(vm->snapshots, snap);

    /* What changed in the others' files: their parent, the current mark. */
    for (i = 0; i < children->len; i++)
        ignore_value(xvSnapshotWriteMetadata(driver, vm, children->pdata[i]));
    if (current && parent && parent->def)
        ignore_value(xvSnapshotWriteMetadata(driver, vm, parent));
    return ret;
}

static int
xvSnapshotLoadOne(virDomainObj *vm, void *opaque)
{
    xvDriver *driver = opaque;
    unsigned int flags = VIR_DOMAIN_SNAPSHOT_PARSE_REDEFINE |
                         VIR_DOMAIN_SNAPSHOT_PARSE_INTERNAL;
    virDomainMomentObj *current = NULL;
    g_autofree char *dir = NULL;
    g_autoptr(DIR) dh = NULL;
    struct dirent *entry;
    int rc;

    virObjectLock(vm);
    dir = xvSnapshotDomainDir(driver, vm);
    if (virDirOpenIfExists(&dh, dir) <= 0)
        goto out;
    while ((rc = virDirRead(dh, &entry, dir)) > 0) {
        g_autoptr(virDomainSnapshotDef) def = NULL;
        g_autofree char *file = NULL;
        g_autofree char *xml = NULL;
        virDomainMomentObj *snap;
        bool cur = false;

        if (!virStringHasSuffix(entry->d_name, ".xml"))
            continue;
        /* One unreadable file costs its snapshot, not the others. */
        file = g_strdup_printf("%s/%s", dir, entry->d_name);
        if (virFileReadAll(file, 1024 * 1024, &xml) < 0 ||
            !(def = virDomainSnapshotDefParseString(xml, driver->xmlopt, NULL,
                                                    &cur, flags))) {
            VIR_WARN("domain '%s': snapshot file '%s' skipped: %s",
                     vm->def->name, file, virGetLastErrorMessage());
            continue;
        }
        if ((snap = virDomainSnapshotAssignDef(vm->snapshots, &def)) && cur)
            current = snap;
    }
    virDomainSnapshotSetCurrent(vm->snapshots, current);
    if (virDomainSnapshotUpdateRelations(vm->snapshots) < 0)
        VIR_WARN("domain '%s': its snapshots have inconsistent relations",
                 vm->def->name);
 out:
    virResetLastError();
    virObjectUnlock(vm);
    return 0;
}

void
xvSnapshotLoadAll(xvDriver *driver)
{
    virDomainObjListForEach(driver->domains, false, xvSnapshotLoadOne, driver);
}

void
xvSnapshotDiscardAll(xvDriver *driver, virDomainObj *vm)
{
    g_autofree char *dir = xvSnapshotDomainDir(driver, vm);

    virDomainSnapshotObjListRemoveAll(vm->snapshots);
    if (virFileDeleteTree(dir) < 0)
        VIR_WARN("domain '%s': cannot remove its snapshot metadata in '%s'",
                 vm->def->name, dir);
}

/* ---------------------------------------------------------------------
 * Creation
 */

/* Checks each disk the aligned snapshot names, as libvirt's QEMU driver
 * does for an external snapshot of a running domain; returns how many
 * disks are snapshotted. */
static ssize_t
xvSnapshotCheckDisks(virDomainObj *vm, virDomainSnapshotDef *def,
                     bool reuse)
{
    ssize_t n = 0;
    size_t i;

    for (i = 0; i < def->ndisks; i++) {
        virDomainSnapshotDiskDef *sd = &def->disks[i];
        virDomainDiskDef *disk = vm->def->disks[i];

        switch (sd->snapshot) {
        case VIR_DOMAIN_SNAPSHOT_LOCATION_NO:
            continue;
        case VIR_DOMAIN_SNAPSHOT_LOCATION_EXTERNAL:
            break;
        case VIR_DOMAIN_SNAPSHOT_LOCATION_INTERNAL:
        case VIR_DOMAIN_SNAPSHOT_LOCATION_MANUAL:
        case VIR_DOMAIN_SNAPSHOT_LOCATION_DEFAULT:
        case VIR_DOMAIN_SNAPSHOT_LOCATION_LAST:
        default:
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("snapshot location '%s' of disk '%s' is not supported: only external disk snapshots are"),
                           virDomainSnapshotLocationTypeToString(sd->snapshot),
                           sd->name);
            return -1;
        }
        if (disk->mirror) {
            virReportError(VIR_ERR_BLOCK_COPY_ACTIVE,
                           _("disk '%s' already in active block job"),
                           disk->dst);
            return -1;
        }
        if (virStorageSourceGetActualType(sd->src) != VIR_STORAGE_TYPE_FILE) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("external active snapshots are not supported on '%s' disks"),
                           virStorageTypeToString(virStorageSourceGetActualType(sd->src)));
            return -1;
        }
        if (sd->src->format != VIR_STORAGE_FILE_NONE &&
            sd->src->format != VIR_STORAGE_FILE_QCOW2) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("external snapshot format for disk %s is unsupported: %s"),
                           sd->name,
                           virStorageFileFormatTypeToString(sd->src->format));
            return -1;
        }
        if (!sd->src->path || !g_path_is_absolute(sd->src->path)) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("the overlay of disk '%s' must be an absolute path"),
                           sd->name);
            return -1;
        }
        if (!reuse && virFileExists(sd->src->path)) {
            virReportError(VIR_ERR_OPERATION_UNSUPPORTED,
                           _("external snapshot file for disk %s already exists and is not a block device: %s"),
                           sd->name, sd->src->path);
            return -1;
        }
        if (reuse && !virFileExists(sd->src->path)) {
            virReportError(VIR_ERR_INVALID_ARG,
                           _("reused snapshot file '%s' of disk '%s' does not exist"),
                           sd->src->path, sd->name);
            return -1;
        }
        n++;
    }
    if (n == 0) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("disk-only snapshots require at least one disk to be selected for snapshot"));
        return -1;
    }
    return n;
}

/* The disk's image is now the overlay, its old chain below it. */
static void
xvSnapshotUpdateDisk(virDomainDiskDef *disk, const char *overlay)
{
    virStorageSource *src = virStorageSourceNew();

    src->type = VIR_STORAGE_TYPE_FILE;
    src->path = g_strdup(overlay);
    src->format = VIR_STORAGE_FILE_QCOW2;
    src->backingStore = g_steal_pointer(&disk->src);
    disk->src = src;
}

/* The persistent definition follows, where its disk was the one that got
 * the overlay (libvirt's QEMU driver does the same). */
static void
xvSnapshotUpdatePersistent(virDomainObj *vm, const char *target,
                           const char *oldpath, const char *overlay)
{
    virDomainDiskDef *disk;

    if (!vm->newDef || !(disk = virDomainDiskByTarget(vm->newDef, target)) ||
        STRNEQ_NULLABLE(virDomainDiskGetSource(disk), oldpath))
        return;
    xvSnapshotUpdateDisk(disk, overlay);
}

static int
xvSnapshotCheckFlags(virDomainObj *vm, unsigned int flags)
{
    if (flags & VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE) {
        virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                       _("redefining snapshots is not supported"));
        return -1;
    }
    if (flags & VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT) {
        virReportError(VIR_ERR_INVALID_ARG, "%s",
                       _("current flag requires redefine flag"));
        return -1;
    }
    if (!(flags & VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY)) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                       _("only disk-only snapshots are supported (VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY): the memory state of a Xen domain cannot be saved with them"));
        return -1;
    }
    if (flags & VIR_DOMAIN_SNAPSHOT_CREATE_LIVE) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                       _("live snapshot creation is supported only during full system snapshots"));
        return -1;
    }
    if (flags & VIR_DOMAIN_SNAPSHOT_CREATE_HALT) {
        virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                       _("halting a domain after its snapshot is not supported"));
        return -1;
    }
    if (flags & VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE) {
        virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                       _("quiescing the guest's file systems for a snapshot is not supported"));
        return -1;
    }
    if (!virDomainObjIsActive(vm)) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                       _("disk-only snapshots of an inactive domain are not supported"));
        return -1;
    }
    return 0;
}

virDomainSnapshotPtr
xvDomainSnapshotCreateXML(virDomainPtr dom, const char *xmlDesc,
                          unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    g_autoptr(virDomainSnapshotDef) def = NULL;
    g_autofree xlite_disk_snapshot *disks = NULL;
    g_autoptr(GPtrArray) strs = g_ptr_array_new_with_free_func(g_free);
    unsigned int parseFlags = 0;
    virDomainSnapshotPtr ret = NULL;
    virDomainMomentObj *snap = NULL;
    virDomainMomentObj *current;
    virDomainObj *vm;
    ssize_t ndisks;
    uint32_t domid;
    size_t i, n;
    int rc;

    virCheckFlags(VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE |
                  VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT |
                  VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA |
                  VIR_DOMAIN_SNAPSHOT_CREATE_HALT |
                  VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY |
                  VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT |
                  VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE |
                  VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC |
                  VIR_DOMAIN_SNAPSHOT_CREATE_LIVE |
                  VIR_DOMAIN_SNAPSHOT_CREATE_VALIDATE, NULL);

    if (flags & VIR_DOMAIN_SNAPSHOT_CREATE_VALIDATE)
        parseFlags |= VIR_DOMAIN_SNAPSHOT_PARSE_VALIDATE;

    if (!(vm = xvDomainBeginJob(dom, NULL, virDomainSnapshotCreateXMLEnsureACL,
                                flags, XV_DOMAIN_BEGIN_ANY)))
        return NULL;
    if (xvSnapshotCheckFlags(vm, flags) < 0)
        goto endjob;
    if (!(def = virDomainSnapshotDefParseString(xmlDesc, driver->xmlopt, NULL,
                                                NULL, parseFlags)))
        goto endjob;
    /* Its name names its file. */
    if (!(flags & VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA) &&
        (strchr(def->parent.name, '/') || def->parent.name[0] == '.')) {
        virReportError(VIR_ERR_XML_DETAIL,
                       _("invalid snapshot name '%s': name can't contain '/' or start with '.'"),
                       def->parent.name);
        goto endjob;
    }
    if (!(flags & VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA) &&
        virDomainSnapshotFindByName(vm->snapshots, def->parent.name)) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("snapshot '%s' already exists"), def->parent.name);
        goto endjob;
    }
    if (!(def->parent.dom = virDomainDefCopy(vm->def, driver->xmlopt, NULL,
                                             true)))
        goto endjob;
    def->state = VIR_DOMAIN_SNAPSHOT_DISK_SNAPSHOT;
    def->memory = VIR_DOMAIN_SNAPSHOT_LOCATION_NO;
    if (virDomainSnapshotAlignDisks(def, NULL,
                                    VIR_DOMAIN_SNAPSHOT_LOCATION_EXTERNAL,
                                    true) < 0)
        goto endjob;
    if ((ndisks = xvSnapshotCheckDisks(vm, def,
                                       flags & VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT)) < 0)
        goto endjob;

    disks = g_new0(xlite_disk_snapshot, ndisks);
    for (i = 0, n = 0; i < def->ndisks; i++) {
        virDomainSnapshotDiskDef *sd = &def->disks[i];

        if (sd->snapshot != VIR_DOMAIN_SNAPSHOT_LOCATION_EXTERNAL)
            continue;
        sd->src->format = VIR_STORAGE_FILE_QCOW2;
        disks[n].vdev = g_strdup(sd->name);
        disks[n].overlay = g_strdup(sd->src->path);
        g_ptr_array_add(strs, (char *)disks[n].vdev);
        g_ptr_array_add(strs, (char *)disks[n].overlay);
        n++;
    }

    domid = vm->def->id;
    virObjectUnlock(vm);
    rc = xlite_disk_snapshot_create(driver->ctx, domid, disks, n,
                                    flags & VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT,
                                    NULL);
    virObjectLock(vm);
    if (rc == -EBUSY) {
        virReportError(VIR_ERR_BLOCK_COPY_ACTIVE, "%s", xlite_errmsg());
        goto endjob;
    }
    if (rc == -EOPNOTSUPP) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED,
                       _("external snapshots are not supported here: %s"),
                       xlite_errmsg());
        goto endjob;
    }
    if (rc < 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot take snapshot '%s': %s"), def->parent.name,
                       xlite_errmsg());
        goto endjob;
    }

    /* Taken: the live definition (and the persistent one) name the
     * overlays, the old images as their backing stores. */
    for (i = 0; i < n; i++) {
        virDomainDiskDef *disk = virDomainDiskByTarget(vm->def, disks[i].vdev);
        g_autofree char *oldpath = NULL;

        if (!disk)
            continue;
        oldpath = g_strdup(virDomainDiskGetSource(disk));
        xvSnapshotUpdateDisk(disk, disks[i].overlay);
        xvBlockChainUpdate(disk);
        xvSnapshotUpdatePersistent(vm, disks[i].vdev, oldpath,
                                   disks[i].overlay);
    }
    if (virDomainObjSave(vm, driver->xmlopt, driver->config->runDir) < 0)
        VIR_WARN("domain '%s': status not saved after snapshot '%s'",
                 vm->def->name, def->parent.name);
    if (vm->persistent && vm->newDef &&
        virDomainDefSave(vm->newDef, driver->xmlopt,
                         driver->config->domainConfigDir) < 0)
        VIR_WARN("domain '%s': config not saved after snapshot '%s'",
                 vm->def->name, def->parent.name);

    ret = virGetDomainSnapshot(dom, def->parent.name);
    if (flags & VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA)
        goto endjob;

    /* Kept: a child of the current snapshot, and current itself. */
    current = virDomainSnapshotGetCurrent(vm->snapshots);
    if (current)
        def->parent.parent_name = g_strdup(current->def->name);
    def->parent.creationTime = g_get_real_time() / G_USEC_PER_SEC;
    if (!(snap = virDomainSnapshotAssignDef(vm->snapshots, &def)))
        goto endjob;
    virDomainSnapshotLinkParent(vm->snapshots, snap);
    virDomainSnapshotSetCurrent(vm->snapshots, snap);
    if (xvSnapshotWriteMetadata(driver, vm, snap) < 0) {
        /* The images changed, the metadata could not be kept: say so,
         * and keep no snapshot that would vanish at the next start. */
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("unable to save metadata for snapshot %s"),
                       snap->def->name);
        virDomainSnapshotSetCurrent(vm->snapshots, current);
        virDomainMomentDropParent(snap);
        virDomainSnapshotObjListRemove(vm->snapshots, snap);
        g_clear_pointer(&ret, virObjectUnref);
        goto endjob;
    }
    if (current)
        ignore_value(xvSnapshotWriteMetadata(driver, vm, current));

 endjob:
    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    return ret;
}

/* ---------------------------------------------------------------------
 * Listing and lookup
 */

static virDomainObj *
xvSnapshotDomObj(virDomainSnapshotPtr snapshot)
{
    return xvDomObjFromDomain(snapshot->domain);
}

static virDomainMomentObj *
xvSnapshotFind(virDomainObj *vm, const char *name)
{
    virDomainMomentObj *snap = virDomainSnapshotFindByName(vm->snapshots,
                                                           name);

    if (!snap)
        virReportError(VIR_ERR_NO_DOMAIN_SNAPSHOT,
                       _("no domain snapshot with matching name '%s'"), name);
    return snap;
}

int
xvDomainSnapshotNum(virDomainPtr dom, unsigned int flags)
{
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_SNAPSHOT_LIST_ROOTS |
                  VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL |
                  VIR_DOMAIN_SNAPSHOT_FILTERS_ALL, -1);

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainSnapshotNumEnsureACL(dom->conn, vm->def) == 0)
        ret = virDomainSnapshotObjListNum(vm->snapshots, NULL, flags);
    virDomainObjEndAPI(&vm);
    return ret;
}

int
xvDomainSnapshotListNames(virDomainPtr dom, char **names, int nameslen,
                          unsigned int flags)
{
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_SNAPSHOT_LIST_ROOTS |
                  VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL |
                  VIR_DOMAIN_SNAPSHOT_FILTERS_ALL, -1);

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainSnapshotListNamesEnsureACL(dom->conn, vm->def) == 0)
        ret = virDomainSnapshotObjListGetNames(vm->snapshots, NULL, names,
                                               nameslen, flags);
    virDomainObjEndAPI(&vm);
    return ret;
}

int
xvDomainListAllSnapshots(virDomainPtr dom, virDomainSnapshotPtr **snaps,
                         unsigned int flags)
{
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_SNAPSHOT_LIST_ROOTS |
                  VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL |
                  VIR_DOMAIN_SNAPSHOT_FILTERS_ALL, -1);

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainListAllSnapshotsEnsureACL(dom->conn, vm->def) == 0)
        ret = virDomainListSnapshots(vm->snapshots, NULL, dom, snaps, flags);
    virDomainObjEndAPI(&vm);
    return ret;
}

int
xvDomainSnapshotNumChildren(virDomainSnapshotPtr snapshot, unsigned int flags)
{
    virDomainMomentObj *snap;
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS |
                  VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL |
                  VIR_DOMAIN_SNAPSHOT_FILTERS_ALL, -1);

    if (!(vm = xvSnapshotDomObj(snapshot)))
        return -1;
    if (virDomainSnapshotNumChildrenEnsureACL(snapshot->domain->conn,
                                              vm->def) == 0 &&
        (snap = xvSnapshotFind(vm, snapshot->name)))
        ret = virDomainSnapshotObjListNum(vm->snapshots, snap, flags);
    virDomainObjEndAPI(&vm);
    return ret;
}

int
xvDomainSnapshotListChildrenNames(virDomainSnapshotPtr snapshot, char **names,
                                  int nameslen, unsigned int flags)
{
    virDomainMomentObj *snap;
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS |
                  VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL |
                  VIR_DOMAIN_SNAPSHOT_FILTERS_ALL, -1);

    if (!(vm = xvSnapshotDomObj(snapshot)))
        return -1;
    if (virDomainSnapshotListChildrenNamesEnsureACL(snapshot->domain->conn,
                                                    vm->def) == 0 &&
        (snap = xvSnapshotFind(vm, snapshot->name)))
        ret = virDomainSnapshotObjListGetNames(vm->snapshots, snap, names,
                                               nameslen, flags);
    virDomainObjEndAPI(&vm);
    return ret;
}

int
xvDomainSnapshotListAllChildren(virDomainSnapshotPtr snapshot,
                                virDomainSnapshotPtr **snaps,
                                unsigned int flags)
{
    virDomainMomentObj *snap;
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS |
                  VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL |
                  VIR_DOMAIN_SNAPSHOT_FILTERS_ALL, -1);

    if (!(vm = xvSnapshotDomObj(snapshot)))
        return -1;
    if (virDomainSnapshotListAllChildrenEnsureACL(snapshot->domain->conn,
                                                  vm->def) == 0 &&
        (snap = xvSnapshotFind(vm, snapshot->name)))
        ret = virDomainListSnapshots(vm->snapshots, snap, snapshot->domain,
                                     snaps, flags);
    virDomainObjEndAPI(&vm);
    return ret;
}

virDomainSnapshotPtr
xvDomainSnapshotLookupByName(virDomainPtr dom, const char *name,
                             unsigned int flags)
{
    virDomainSnapshotPtr ret = NULL;
    virDomainObj *vm;

    virCheckFlags(0, NULL);

    if (!(vm = xvDomObjFromDomain(dom)))
        return NULL;
    if (virDomainSnapshotLookupByNameEnsureACL(dom->conn, vm->def) == 0 &&
        xvSnapshotFind(vm, name))
        ret = virGetDomainSnapshot(dom, name);
    virDomainObjEndAPI(&vm);
    return ret;
}

int
xvDomainHasCurrentSnapshot(virDomainPtr dom, unsigned int flags)
{
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainHasCurrentSnapshotEnsureACL(dom->conn, vm->def) == 0)
        ret = virDomainSnapshotGetCurrent(vm->snapshots) != NULL;
    virDomainObjEndAPI(&vm);
    return ret;
}

virDomainSnapshotPtr
xvDomainSnapshotGetParent(virDomainSnapshotPtr snapshot, unsigned int flags)
{
    virDomainSnapshotPtr ret = NULL;
    virDomainMomentObj *snap;
    virDomainObj *vm;

    virCheckFlags(0, NULL);

    if (!(vm = xvSnapshotDomObj(snapshot)))
        return NULL;
    if (virDomainSnapshotGetParentEnsureACL(snapshot->domain->conn,
                                            vm->def) < 0 ||
        !(snap = xvSnapshotFind(vm, snapshot->name)))
        goto out;
    if (!snap->def->parent_name) {
        virReportError(VIR_ERR_NO_DOMAIN_SNAPSHOT,
                       _("snapshot '%s' does not have a parent"),
                       snap->def->name);
        goto out;
    }
    ret = virGetDomainSnapshot(snapshot->domain, snap->def->parent_name);

 out:
    virDomainObjEndAPI(&vm);
    return ret;
}

virDomainSnapshotPtr
xvDomainSnapshotCurrent(virDomainPtr dom, unsigned int flags)
{
    virDomainSnapshotPtr ret = NULL;
    const char *name;
    virDomainObj *vm;

    virCheckFlags(0, NULL);

    if (!(vm = xvDomObjFromDomain(dom)))
        return NULL;
    if (virDomainSnapshotCurrentEnsureACL(dom->conn, vm->def) < 0)
        goto out;
    if (!(name = virDomainSnapshotGetCurrentName(vm->snapshots))) {
        virReportError(VIR_ERR_NO_DOMAIN_SNAPSHOT, "%s",
                       _("the domain does not have a current snapshot"));
        goto out;
    }
    ret = virGetDomainSnapshot(dom, name);

 out:
    virDomainObjEndAPI(&vm);
    return ret;
}

char *
xvDomainSnapshotGetXMLDesc(virDomainSnapshotPtr snapshot, unsigned int flags)
{
    xvDriver *driver = snapshot->domain->conn->privateData;
    char uuidstr[VIR_UUID_STRING_BUFLEN];
    virDomainMomentObj *snap;
    virDomainObj *vm;
    char *ret = NULL;

    virCheckFlags(VIR_DOMAIN_SNAPSHOT_XML_SECURE, NULL);

    if (!(vm = xvSnapshotDomObj(snapshot)))
        return NULL;
    if (virDomainSnapshotGetXMLDescEnsureACL(snapshot->domain->conn, vm->def,
                                             flags) == 0 &&
        (snap = xvSnapshotFind(vm, snapshot->name))) {
        virUUIDFormat(snapshot->domain->uuid, uuidstr);
        ret = virDomainSnapshotDefFormat(uuidstr,
                                         virDomainSnapshotObjGetDef(snap),
                                         driver->xmlopt,
                                         virDomainSnapshotFormatConvertXMLFlags(flags));
    }
    virDomainObjEndAPI(&vm);
    return ret;
}

int
xvDomainSnapshotIsCurrent(virDomainSnapshotPtr snapshot, unsigned int flags)
{
    virDomainMomentObj *snap;
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(vm = xvSnapshotDomObj(snapshot)))
        return -1;
    if (virDomainSnapshotIsCurrentEnsureACL(snapshot->domain->conn,
                                            vm->def) == 0 &&
        (snap = xvSnapshotFind(vm, snapshot->name)))
        ret = snap == virDomainSnapshotGetCurrent(vm->snapshots);
    virDomainObjEndAPI(&vm);
    return ret;
}

int
xvDomainSnapshotHasMetadata(virDomainSnapshotPtr snapshot, unsigned int flags)
{
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(vm = xvSnapshotDomObj(snapshot)))
        return -1;
    /* Every snapshot this driver can look up is one kept with metadata. */
    if (virDomainSnapshotHasMetadataEnsureACL(snapshot->domain->conn,
                                              vm->def) == 0 &&
        xvSnapshotFind(vm, snapshot->name))
        ret = 1;
    virDomainObjEndAPI(&vm);
    return ret;
}

/* ---------------------------------------------------------------------
 * Deletion: metadata only
 */

static int
xvSnapshotCollect(void *payload, const char *name G_GNUC_UNUSED,
                  void *opaque)
{
    g_ptr_array_add(opaque, payload);
    return 0;
}

int
xvDomainSnapshotDelete(virDomainSnapshotPtr snapshot, unsigned int flags)
{
    xvDriver *driver = snapshot->domain->conn->privateData;
    g_autoptr(GPtrArray) found = g_ptr_array_new();
    virDomainMomentObj *snap;
    virDomainObj *vm;
    int ret = -1;
    size_t i;

    virCheckFlags(VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN |
                  VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY |
                  VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY, -1);

    if (!(vm = xvDomainBeginJob(snapshot->domain,
                                virDomainSnapshotDeleteEnsureACL, NULL, 0,
                                XV_DOMAIN_BEGIN_ANY)))
        return -1;
    if (!(snap = xvSnapshotFind(vm, snapshot->name)))
        goto endjob;

    if (!(flags & VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)) {
        /* libvirt's QEMU driver refuses these before anything else. */
        if (flags & (VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN |
                     VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY) &&
            snap->nchildren > 0) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("deletion of external children disk snapshots not supported"));
            goto endjob;
        }
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED,
                       _("deleting external snapshot '%s' with its images is not supported: merge them with blockcommit or blockpull, then delete its metadata (VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY)"),
                       snap->def->name);
        goto endjob;
    }

    if (flags & (VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN |
                 VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY))
        virDomainMomentForEachDescendant(snap, xvSnapshotCollect, found);
    /* Each after its descendants (they come after it), so each goes as a
     * leaf. */
    for (i = found->len; i > 0; i--) {
        if (xvSnapshotDiscardMetadata(driver, vm, found->pdata[i - 1]) < 0)
            goto endjob;
    }
    if (!(flags & VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN_ONLY) &&
        xvSnapshotDiscardMetadata(driver, vm, snap) < 0)
        goto endjob;
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    return ret;
}
