/*
 * libxl_save.c: save, restore and managed save (docs/save-restore.md)
 *
 * The core writes and checks the image (src/xlite/xlite_save.c: the
 * core's config, the guest's state, and a section of ours).  Ours is one
 * line saying whether the domain runs or stays paused when restored, then
 * the domain's XML:
 *
 *   xenvirt-save 1 running|paused
 *   <domain ...>
 *
 * A save suspends the guest (the core waits for it), then destroys the
 * domain: shut off, reason saved.  A restore is a start
 * (xvDomainStartRestore) whose core call is xlite_domain_restore.  The
 * managed save image of a domain is STATE_DIR/save/NAME.save; a start of
 * a domain that has one restores it (xvDomainStart).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <unistd.h>

#include "libxl_blockjob.h"
#include "libxl_domain.h"
#include "libxl_driver.h"
#include "libxl_save.h"

#include "datatypes.h"
#include "domain_event.h"
#include "viraccessapicheck.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.libxl_save");

char *
xvDomainManagedSavePath(xvDriver *driver, virDomainObj *vm)
{
    return g_strdup_printf("%s/save/%s.save", driver->config->stateDir,
                           vm->def->name);
}

int
xvDomainManagedSaveLoad(virDomainObj *vm, void *opaque)
{
    xvDriver *driver = opaque;
    g_autofree char *path = NULL;

    virObjectLock(vm);
    path = xvDomainManagedSavePath(driver, vm);
    vm->hasManagedSave = virFileExists(path);
    virObjectUnlock(vm);
    return 0;
}

#define XV_SAVE_DATA_HEAD "xenvirt-save 1 "

static char *
xvSaveDataFormat(const char *xml, bool paused)
{
    return g_strdup_printf(XV_SAVE_DATA_HEAD "%s\n%s",
                           paused ? "paused" : "running", xml);
}

/* The image's XML (a pointer into @data) and its state, or -1 with
 * VIR_ERR_OPERATION_FAILED for data that is not ours. */
static int
xvSaveDataParse(const char *path, const char *data, bool *paused_r,
                const char **xml_r)
{
    const char *rest;

    if (g_str_has_prefix(data, XV_SAVE_DATA_HEAD "running\n")) {
        *paused_r = false;
        rest = data + strlen(XV_SAVE_DATA_HEAD "running\n");
    } else if (g_str_has_prefix(data, XV_SAVE_DATA_HEAD "paused\n")) {
        *paused_r = true;
        rest = data + strlen(XV_SAVE_DATA_HEAD "paused\n");
    } else {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("'%s' is not a valid save image: it holds no domain XML"),
                       path);
        return -1;
    }
    *xml_r = rest;
    return 0;
}

/* The definition saved in the image at @path, and its state; with @dxml,
 * that definition instead, which must describe the same machine. */
static virDomainDef *
xvSaveImageOpen(xvDriver *driver, const char *path, const char *dxml,
                bool *paused_r)
{
    g_autofree char *data = NULL;
    g_autoptr(virDomainDef) def = NULL;
    g_autoptr(virDomainDef) newdef = NULL;
    const char *xml;
    int rc;

    if ((rc = xlite_save_image_read(driver->ctx, path, NULL, &data,
                                    NULL)) < 0) {
        /* libvirt's Xen driver: a file it cannot open is a system error,
         * one without the magic an invalid argument, the rest a failure. */
        if (rc == -ENOENT || rc == -EACCES || rc == -EPERM || rc == -EISDIR)
            virReportSystemError(-rc, _("Failed to open domain image file '%s'"),
                                 path);
        else
            virReportError(rc == -EINVAL ? VIR_ERR_INVALID_ARG :
                           VIR_ERR_OPERATION_FAILED, "%s", xlite_errmsg());
        return NULL;
    }
    if (xvSaveDataParse(path, data, paused_r, &xml) < 0 ||
        !(def = xvDomainDefParse(driver, xml, VIR_DOMAIN_DEF_PARSE_INACTIVE)))
        return NULL;
    if (!dxml)
        return g_steal_pointer(&def);
    if (!(newdef = xvDomainDefParse(driver, dxml,
                                    VIR_DOMAIN_DEF_PARSE_INACTIVE)))
        return NULL;
    if (!virDomainDefCheckABIStability(def, newdef, driver->xmlopt))
        return NULL;
    return g_steal_pointer(&newdef);
}

/* Save the running @vm to @path and destroy it: the caller holds a MODIFY
 * job.  @dxml replaces the definition the image carries (the same
 * machine); @flags RUNNING or PAUSED say how a restore leaves it (running
 * unless told). */
static int
xvDomainSaveInternal(xvDriver *driver, virDomainObj *vm, const char *path,
                     const char *dxml, unsigned int flags, bool managed)
{
    g_autoptr(virDomainDef) newdef = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *data = NULL;
    g_autofree char *dir = NULL;
    uint32_t domid = vm->def->id;
    int rc;

    if (virDomainObjCheckActive(vm) < 0)
        return -1;
    /* As libvirt's Xen driver: the guest suspends itself, so it must run. */
    if (virDomainObjGetState(vm, NULL) == VIR_DOMAIN_PAUSED) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("Domain '%d' has to be running because libxenlight will suspend it"),
                       vm->def->id);
        return -1;
    }
    /* As libvirt's QEMU driver: the job would be lost with the domain. */
    if (xvBlockJobAny(driver, vm)) {
        if (virDomainObjCheckActive(vm) == 0)
            virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                           _("domain has active block job"));
        return -1;
    }
    if (dxml) {
        if (!(newdef = xvDomainDefParse(driver, dxml,
                                        VIR_DOMAIN_DEF_PARSE_INACTIVE)))
            return -1;
        if (!virDomainDefCheckABIStability(vm->def, newdef, driver->xmlopt))
            return -1;
    }
    if (!(xml = virDomainDefFormat(newdef ? newdef : vm->def, driver->xmlopt,
                                   VIR_DOMAIN_DEF_FORMAT_SECURE)))
        return -1;
    data = xvSaveDataFormat(xml, flags & VIR_DOMAIN_SAVE_PAUSED);
    if (managed) {
        dir = g_path_get_dirname(path);
        if (g_mkdir_with_parents(dir, 0700) < 0) {
            virReportSystemError(errno, _("cannot create directory '%s'"), dir);
            return -1;
        }
    }

    virObjectUnlock(vm);
    rc = xlite_domain_save(driver->ctx, domid, path, data, strlen(data), NULL);
    virObjectLock(vm);
    if (rc < 0) {
        virReportError(rc == -ENOTSUP ? VIR_ERR_OPERATION_UNSUPPORTED :
                       VIR_ERR_OPERATION_FAILED,
                       _("failed to save domain '%s': %s"), vm->def->name,
                       xlite_errmsg());
        return -1;
    }
    if (xvDomainDestroyAndCleanup(driver, vm, VIR_DOMAIN_SHUTOFF_SAVED,
                                  VIR_DOMAIN_EVENT_STOPPED_SAVED) < 0)
        return -1;
    vm->hasManagedSave = managed;
    return 0;
}

int
xvDomainSaveFlags(virDomainPtr dom, const char *to, const char *dxml,
                  unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    int ret;

    virCheckFlags(VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED, -1);
    VIR_EXCLUSIVE_FLAGS_RET(VIR_DOMAIN_SAVE_RUNNING, VIR_DOMAIN_SAVE_PAUSED, -1);

    if (!(vm = xvDomainBeginJob(dom, virDomainSaveFlagsEnsureACL, NULL, 0,
                                XV_DOMAIN_BEGIN_ACTIVE)))
        return -1;
    ret = xvDomainSaveInternal(driver, vm, to, dxml, flags, false);
    if (ret == 0)
        dom->id = -1;
    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    return ret;
}

int
xvDomainSave(virDomainPtr dom, const char *to)
{
    return xvDomainSaveFlags(dom, to, NULL, 0);
}

int
xvDomainRestoreFlags(virConnectPtr conn, const char *from, const char *dxml,
                     unsigned int flags)
{
    xvDriver *driver = conn->privateData;
    g_autoptr(virDomainDef) def = NULL;
    virDomainObj *existing = NULL;
    virDomainObj *vm = NULL;
    virObjectEvent *event = NULL;
    bool paused = false;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED, -1);
    VIR_EXCLUSIVE_FLAGS_RET(VIR_DOMAIN_SAVE_RUNNING, VIR_DOMAIN_SAVE_PAUSED, -1);

    if (!(def = xvSaveImageOpen(driver, from, dxml, &paused)))
        return -1;
    if (virDomainRestoreFlagsEnsureACL(conn, def) < 0)
        return -1;
    if (flags & VIR_DOMAIN_SAVE_RUNNING)
        paused = false;
    else if (flags & VIR_DOMAIN_SAVE_PAUSED)
        paused = true;

    if (xvDomainBeginRedefine(driver, def->uuid, &existing) < 0)
        goto cleanup;
    if (!(vm = virDomainObjListAdd(driver->domains, &def, driver->xmlopt,
                                   VIR_DOMAIN_OBJ_LIST_ADD_LIVE |
                                   VIR_DOMAIN_OBJ_LIST_ADD_CHECK_LIVE, NULL)))
        goto cleanup;
    if (existing) {
        virObjectUnref(g_steal_pointer(&existing));
    } else if (virDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0) {
        if (!vm->persistent)
            virDomainObjListRemove(driver->domains, vm);
        goto cleanup;
    }

    if (xvDomainStartRestore(driver, vm, from, paused,
                             VIR_DOMAIN_RUNNING_RESTORED) < 0) {
        if (!vm->persistent)
            virDomainObjListRemove(driver->domains, vm);
        goto endjob;
    }
    event = virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_STARTED,
                                              VIR_DOMAIN_EVENT_STARTED_RESTORED);
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);
 cleanup:
    virDomainObjEndAPI(&vm);
    xvDomainEndRedefine(&existing);
    virObjectEventStateQueue(driver->domainEventState, event);
    return ret;
}

int
xvDomainRestore(virConnectPtr conn, const char *from)
{
    return xvDomainRestoreFlags(conn, from, NULL, 0);
}

char *
xvDomainSaveImageGetXMLDesc(virConnectPtr conn, const char *path,
                            unsigned int flags)
{
    xvDriver *driver = conn->privateData;
    g_autoptr(virDomainDef) def = NULL;
    bool paused;

    virCheckFlags(VIR_DOMAIN_SAVE_IMAGE_XML_SECURE, NULL);

    if (!(def = xvSaveImageOpen(driver, path, NULL, &paused)))
        return NULL;
    if (virDomainSaveImageGetXMLDescEnsureACL(conn, def) < 0)
        return NULL;
    return virDomainDefFormat(def, driver->xmlopt,
                              virDomainDefFormatConvertXMLFlags(flags));
}

int
xvDomainSaveImageDefineXML(virConnectPtr conn, const char *path,
                           const char *dxml, unsigned int flags)
{
    xvDriver *driver = conn->privateData;
    g_autoptr(virDomainDef) def = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *data = NULL;
    bool paused;

    virCheckFlags(VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED, -1);
    VIR_EXCLUSIVE_FLAGS_RET(VIR_DOMAIN_SAVE_RUNNING, VIR_DOMAIN_SAVE_PAUSED, -1);

    if (!(def = xvSaveImageOpen(driver, path, dxml, &paused)))
        return -1;
    if (virDomainSaveImageDefineXMLEnsureACL(conn, def) < 0)
        return -1;
    if (flags & VIR_DOMAIN_SAVE_RUNNING)
        paused = false;
    else if (flags & VIR_DOMAIN_SAVE_PAUSED)
        paused = true;
    if (!(xml = virDomainDefFormat(def, driver->xmlopt,
                                   VIR_DOMAIN_DEF_FORMAT_SECURE)))
        return -1;
    data = xvSaveDataFormat(xml, paused);
    if (xlite_save_image_set_data(driver->ctx, path, data, strlen(data)) < 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot update save image '%s': %s"), path,
                       xlite_errmsg());
        return -1;
    }
    return 0;
}

int
xvDomainManagedSave(virDomainPtr dom, unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    g_autofree char *path = NULL;
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_SAVE_RUNNING | VIR_DOMAIN_SAVE_PAUSED, -1);
    VIR_EXCLUSIVE_FLAGS_RET(VIR_DOMAIN_SAVE_RUNNING, VIR_DOMAIN_SAVE_PAUSED, -1);

    if (!(vm = xvDomainBeginJob(dom, virDomainManagedSaveEnsureACL, NULL, 0,
                                XV_DOMAIN_BEGIN_ACTIVE)))
        return -1;
    if (!vm->persistent) {
        virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                       _("cannot do managed save for transient domain"));
        goto endjob;
    }
    path = xvDomainManagedSavePath(driver, vm);
    VIR_INFO("Saving state to %s", path);
    if (xvDomainSaveInternal(driver, vm, path, NULL, flags, true) < 0)
        goto endjob;
    dom->id = -1;
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    return ret;
}

int
xvDomainHasManagedSaveImage(virDomainPtr dom, unsigned int flags)
{
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainHasManagedSaveImageEnsureACL(dom->conn, vm->def) == 0)
        ret = vm->hasManagedSave;
    virDomainObjEndAPI(&vm);
    return ret;
}

int
xvDomainManagedSaveRemove(virDomainPtr dom, unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    g_autofree char *path = NULL;
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainManagedSaveRemoveEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    path = xvDomainManagedSavePath(driver, vm);
    if (unlink(path) < 0 && errno != ENOENT) {
        virReportSystemError(errno, _("Failed to remove managed save file '%s'"),
                             path);
        goto cleanup;
    }
    vm->hasManagedSave = false;
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}

int
xvDomainManagedSaveAssignDef(xvDriver *driver, virDomainObj *vm,
                             const char *path, bool *paused_r)
{
    g_autoptr(virDomainDef) def = NULL;

    if (!(def = xvSaveImageOpen(driver, path, NULL, paused_r)))
        return -1;
    if (!virDomainDefCheckABIStability(vm->def, def, driver->xmlopt))
        return -1;
    virDomainObjAssignDef(vm, &def, true, NULL);
    return 0;
}
