/*
 * libxl_device.c: devices of domains: attach and detach, live and in the
 * persistent definition
 *
 * The entry points have the driver's one skeleton (look up, ACL, job,
 * act, save, end job, queue events).  A live change runs in the core
 * (xlite_device_*: the stored config first, then xenstore; DESIGN.md
 * section 4) with the object unlocked and the job held, so queries go on
 * meanwhile; only once the core has finished is the live definition
 * changed and the DEVICE_ADDED or DEVICE_REMOVED event queued, named by
 * the device's alias, as management stacks (Nova) wait for it.  Errors
 * follow libvirt's Xen driver, except that a missing device is
 * VIR_ERR_DEVICE_MISSING everywhere (docs/devices.md).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <sys/stat.h>

#include "libxl_device.h"
#include "libxl_domain.h"
#include "libxl_network.h"

#include "datatypes.h"
#include "domain_event.h"
#include "viraccessapicheck.h"
#include "viralloc.h"
#include "virbuffer.h"
#include "virerror.h"
#include "virlog.h"
#include "virstring.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.libxl_device");

/*
 * Character devices: extra Xen PV consoles only, <console type='pty'>
 * with <target type='xen' port='N'/>, N >= 1, served by xenconsoled.
 * Consoles are numbered by their place (libvirt's parser gives a
 * <console> its index as its port), so one is attached at the end and
 * only the last is detached.  Serial consoles are refused as libvirt's
 * QEMU driver refuses them (qemuDomainChrPreInsert, qemuDomainChrRemove);
 * libvirt's Xen driver attaches no character device at all.
 */
static int
xvDeviceCheckChr(const virDomainChrDef *chr, bool attach)
{
    if (chr->deviceType == VIR_DOMAIN_CHR_DEVICE_TYPE_CONSOLE &&
        chr->targetType == VIR_DOMAIN_CHR_CONSOLE_TARGET_TYPE_SERIAL) {
        if (attach)
            virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                           _("attaching serial console is not supported"));
        else
            virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                           _("detaching serial console is not supported"));
        return -1;
    }
    if (chr->deviceType != VIR_DOMAIN_CHR_DEVICE_TYPE_CONSOLE ||
        chr->targetType != VIR_DOMAIN_CHR_CONSOLE_TARGET_TYPE_XEN) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED,
                       _("attaching or detaching a '%s' character device is not supported, only a console of target type 'xen'"),
                       virDomainChrDeviceTypeToString(chr->deviceType));
        return -1;
    }
    if (attach && chr->source->type != VIR_DOMAIN_CHR_TYPE_PTY) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("a Xen console must be of type 'pty', not '%s'"),
                       virDomainChrTypeToString(chr->source->type));
        return -1;
    }
    return 0;
}

/* The port an attached console takes in @def: the one its XML names, or
 * the next; only the next is accepted. */
static int
xvDeviceConsolePort(const virDomainDef *def, virDomainChrDef *chr)
{
    if (chr->target.port < 0)
        chr->target.port = def->nconsoles;
    if (chr->target.port < (int)def->nconsoles) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("domain '%s' already has a console with port %d"),
                       def->name, chr->target.port);
        return -1;
    }
    if (chr->target.port > (int)def->nconsoles) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("consoles are numbered in order: the next console of domain '%s' has port %zu, not %d"),
                       def->name, def->nconsoles, chr->target.port);
        return -1;
    }
    return 0;
}

/* The index of the console of @def that a detach of @chr names (its
 * port), which must be an extra one and the last. */
static int
xvDeviceConsoleFind(const virDomainDef *def, const virDomainChrDef *chr)
{
    int port = chr->target.port;

    if (port < 0 || port >= (int)def->nconsoles ||
        def->consoles[port]->targetType != VIR_DOMAIN_CHR_CONSOLE_TARGET_TYPE_XEN) {
        virReportError(VIR_ERR_DEVICE_MISSING,
                       _("chr type '%s' device not present in domain configuration"),
                       virDomainChrDeviceTypeToString(chr->deviceType));
        return -1;
    }
    if (port == 0) {
        virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                       _("the primary console of a Xen domain cannot be detached"));
        return -1;
    }
    if (port != (int)def->nconsoles - 1) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED,
                       _("consoles are numbered in order: only the last console of domain '%s' (port %zu) can be detached"),
                       def->name, def->nconsoles - 1);
        return -1;
    }
    return port;
}

/* The kinds of device that can be attached and detached. */
static int
xvDeviceCheckKind(const virDomainDeviceDef *dev, bool live, bool attach)
{
    switch (dev->type) {
    case VIR_DOMAIN_DEVICE_CHR:
        return xvDeviceCheckChr(dev->data.chr, attach);
    case VIR_DOMAIN_DEVICE_DISK:
        if (live && dev->data.disk->device != VIR_DOMAIN_DISK_DEVICE_DISK) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("live attach or detach of a '%s' device is not supported, only 'disk'"),
                           virDomainDiskDeviceTypeToString(dev->data.disk->device));
            return -1;
        }
        return 0;
    case VIR_DOMAIN_DEVICE_NET:
        return 0;
    default:
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("attaching or detaching a device of type '%s' is not supported"),
                       virDomainDeviceTypeToString(dev->type));
        return -1;
    }
}

/* Can the core run @def?  Checked before a persistent change is saved,
 * so that no definition is stored that a start would refuse. */
static int
xvDeviceCheckDef(const virDomainDef *def)
{
    xlite_domain_config cfg;
    int rc;

    xlite_domain_config_init(&cfg);
    rc = xvDomainConfigFromDef(def, &cfg, 0);
    xlite_domain_config_dispose(&cfg);
    return rc;
}

/* ---------------------------------------------------------------------
 * The persistent definition
 */

static int
xvDeviceAttachConfig(virDomainDef *vmdef, virDomainDeviceDef *dev)
{
    if (dev->type == VIR_DOMAIN_DEVICE_CHR) {
        if (xvDeviceConsolePort(vmdef, dev->data.chr) < 0)
            return -1;
        VIR_APPEND_ELEMENT(vmdef->consoles, vmdef->nconsoles, dev->data.chr);
    } else if (dev->type == VIR_DOMAIN_DEVICE_DISK) {
        virDomainDiskDef *disk = dev->data.disk;

        if (virDomainDiskIndexByName(vmdef, disk->dst, true) >= 0) {
            virReportError(VIR_ERR_INVALID_ARG,
                           _("target %s already exists."), disk->dst);
            return -1;
        }
        virDomainDiskInsert(vmdef, disk);
        dev->data.disk = NULL;
    } else {
        virDomainNetDef *net = dev->data.net;
        char mac[VIR_MAC_STRING_BUFLEN];

        if (virDomainHasNet(vmdef, net)) {
            virReportError(VIR_ERR_INVALID_ARG,
                           _("network device with mac %s already exists"),
                           virMacAddrFormat(&net->mac, mac));
            return -1;
        }
        if (virDomainNetInsert(vmdef, net) < 0)
            return -1;
        dev->data.net = NULL;
    }
    return xvDeviceCheckDef(vmdef);
}

static int
xvDeviceDetachConfig(virDomainDef *vmdef, virDomainDeviceDef *dev)
{
    if (dev->type == VIR_DOMAIN_DEVICE_CHR) {
        int idx;

        if ((idx = xvDeviceConsoleFind(vmdef, dev->data.chr)) < 0)
            return -1;
        virDomainChrDefFree(vmdef->consoles[idx]);
        VIR_DELETE_ELEMENT(vmdef->consoles, idx, vmdef->nconsoles);
    } else if (dev->type == VIR_DOMAIN_DEVICE_DISK) {
        virDomainDiskDef *disk;

        if (!(disk = virDomainDiskRemoveByName(vmdef, dev->data.disk->dst))) {
            virReportError(VIR_ERR_DEVICE_MISSING,
                           _("no target device %s"), dev->data.disk->dst);
            return -1;
        }
        virDomainDiskDefFree(disk);
    } else {
        int idx;

        if ((idx = virDomainNetFindIdx(vmdef, dev->data.net)) < 0)
            return -1;
        virDomainNetDefFree(virDomainNetRemove(vmdef, idx));
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * The running domain
 */

/* The core's devid of the running domain's interface with @mac. */
static int
xvDeviceNicDevid(xvDriver *driver, virDomainObj *vm, const virMacAddr *mac)
{
    xlite_domain_config cfg;
    char macstr[VIR_MAC_STRING_BUFLEN];
    int devid = -1;
    size_t i;

    virMacAddrFormat(mac, macstr);
    xlite_domain_config_init(&cfg);
    if (xlite_retrieve_domain_config(driver->ctx, vm->def->id, &cfg) < 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot read the devices of domain '%s': %s"),
                       vm->def->name, xlite_errmsg());
        return -1;
    }
    for (i = 0; i < cfg.num_nics && devid < 0; i++) {
        if (g_ascii_strcasecmp(cfg.nics[i].mac, macstr) == 0)
            devid = cfg.nics[i].devid;
    }
    xlite_domain_config_dispose(&cfg);
    if (devid < 0)
        virReportError(VIR_ERR_DEVICE_MISSING,
                       _("domain '%s' has no network interface with MAC address %s"),
                       vm->def->name, macstr);
    return devid;
}

/* Attaches the console @dev to the running domain, with its pty once
 * xenconsoled has published it. */
static int
xvDeviceAttachConsoleLive(xvDriver *driver, virDomainObj *vm,
                          virDomainDeviceDef *dev, char **alias_r)
{
    virDomainChrDef *chr = dev->data.chr;
    char *path = NULL;
    int port;
    int rc;

    if (vm->def->os.type == VIR_DOMAIN_OSTYPE_HVM) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                       _("live attach of a console is supported for PV and PVH domains only"));
        return -1;
    }
    if (xvDeviceConsolePort(vm->def, chr) < 0)
        return -1;
    port = chr->target.port;
    virObjectUnlock(vm);
    rc = xlite_device_console_add(driver->ctx, vm->def->id, port, NULL);
    if (rc == 0)
        rc = xlite_domain_console_path(driver->ctx, vm->def->id, port, &path);
    virObjectLock(vm);
    if (rc < 0) {
        virReportError(rc == -EEXIST ? VIR_ERR_OPERATION_FAILED
                       : rc == -EOPNOTSUPP ? VIR_ERR_OPERATION_UNSUPPORTED
                       : VIR_ERR_INTERNAL_ERROR,
                       _("failed to attach a device to domain '%s': %s"),
                       vm->def->name, xlite_errmsg());
        return -1;
    }
    g_free(chr->source->data.file.path);
    chr->source->data.file.path = g_strdup(path);
    free(path);
    if (!chr->info.alias)
        chr->info.alias = g_strdup_printf("console%d", port);
    *alias_r = g_strdup(chr->info.alias);
    VIR_APPEND_ELEMENT(vm->def->consoles, vm->def->nconsoles, dev->data.chr);
    return 0;
}

/* Attaches @dev to the running domain; its alias (for the event) in
 * *alias_r. */
static int
xvDeviceAttachLive(xvDriver *driver, virDomainObj *vm,
                   virDomainDeviceDef *dev, char **alias_r)
{
    xlite_domain_config one;
    int devid = -1;
    int rc;

    if (dev->type == VIR_DOMAIN_DEVICE_CHR)
        return xvDeviceAttachConsoleLive(driver, vm, dev, alias_r);

    if (dev->type == VIR_DOMAIN_DEVICE_DISK &&
        virDomainDiskIndexByName(vm->def, dev->data.disk->dst, true) >= 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("target %s already exists"), dev->data.disk->dst);
        return -1;
    }
    if (dev->type == VIR_DOMAIN_DEVICE_NET &&
        virDomainHasNet(vm->def, dev->data.net)) {
        char mac[VIR_MAC_STRING_BUFLEN];

        virReportError(VIR_ERR_INVALID_ARG,
                       _("network device with mac %s already exists"),
                       virMacAddrFormat(&dev->data.net->mac, mac));
        return -1;
    }

    /* An interface on a libvirt network gets its port, a volume disk its
     * path (libxl_network.c). */
    if ((dev->type == VIR_DOMAIN_DEVICE_NET &&
         xvNetworkPrepareNet(driver, vm->def, dev->data.net) < 0) ||
        (dev->type == VIR_DOMAIN_DEVICE_DISK &&
         xvNetworkPrepareDisk(driver, dev->data.disk) < 0))
        return -1;
    xlite_domain_config_init(&one);
    if (xvDeviceConfigFromDef(vm->def, dev, &one,
                              driver->embedded ? XV_CONFIG_NO_NETWORK_DRIVER : 0) < 0) {
        xlite_domain_config_dispose(&one);
        if (dev->type == VIR_DOMAIN_DEVICE_NET)
            xvNetworkReleaseNet(vm->def, dev->data.net);
        return -1;
    }
    virObjectUnlock(vm);
    if (dev->type == VIR_DOMAIN_DEVICE_DISK)
        rc = xlite_device_disk_add(driver->ctx, vm->def->id, &one.disks[0],
                                   NULL);
    else
        rc = xlite_device_nic_add(driver->ctx, vm->def->id, &one.nics[0],
                                  &devid, NULL);
    virObjectLock(vm);
    xlite_domain_config_dispose(&one);
    if (rc < 0) {
        virReportError(rc == -EEXIST ? VIR_ERR_OPERATION_FAILED
                                     : VIR_ERR_INTERNAL_ERROR,
                       _("failed to attach a device to domain '%s': %s"),
                       vm->def->name, xlite_errmsg());
        if (dev->type == VIR_DOMAIN_DEVICE_NET)
            xvNetworkReleaseNet(vm->def, dev->data.net);
        return -1;
    }

    if (dev->type == VIR_DOMAIN_DEVICE_DISK) {
        virDomainDiskDef *disk = g_steal_pointer(&dev->data.disk);

        xvDomainNameDisk(disk);
        *alias_r = g_strdup(disk->info.alias);
        virDomainDiskInsert(vm->def, disk);
    } else {
        virDomainNetDef *net = g_steal_pointer(&dev->data.net);

        xvDomainNameNic(vm, net, devid);
        *alias_r = g_strdup(net->info.alias);
        if (virDomainNetInsert(vm->def, net) < 0)
            virDomainNetDefFree(net);
    }
    return 0;
}

/* Detaches the extra console @dev names (by its port), the last. */
static int
xvDeviceDetachConsoleLive(xvDriver *driver, virDomainObj *vm,
                          virDomainDeviceDef *dev, char **alias_r)
{
    virDomainChrDef *chr;
    int port;
    int rc;

    if ((port = xvDeviceConsoleFind(vm->def, dev->data.chr)) < 0)
        return -1;
    virObjectUnlock(vm);
    rc = xlite_device_console_remove(driver->ctx, vm->def->id, port, NULL);
    virObjectLock(vm);
    if (rc < 0 && rc != -ENOENT) {
        virReportError(rc == -EBUSY ? VIR_ERR_OPERATION_UNSUPPORTED
                                    : VIR_ERR_INTERNAL_ERROR,
                       _("failed to detach a device from domain '%s': %s"),
                       vm->def->name, xlite_errmsg());
        return -1;
    }
    /* The object was unlocked: the console is found again. */
    if (port >= (int)vm->def->nconsoles)
        return 0;
    chr = vm->def->consoles[port];
    *alias_r = g_strdup(chr->info.alias);
    VIR_DELETE_ELEMENT(vm->def->consoles, port, vm->def->nconsoles);
    virDomainChrDefFree(chr);
    return 0;
}

/* Detaches the live device matching @dev; its alias (for the event) in
 * *alias_r. */
static int
xvDeviceDetachLive(xvDriver *driver, virDomainObj *vm,
                   virDomainDeviceDef *dev, char **alias_r)
{
    int idx;
    int devid = -1;
    int rc;

    if (dev->type == VIR_DOMAIN_DEVICE_CHR)
        return xvDeviceDetachConsoleLive(driver, vm, dev, alias_r);

    if (dev->type == VIR_DOMAIN_DEVICE_DISK) {
        if ((idx = virDomainDiskIndexByName(vm->def, dev->data.disk->dst,
                                            true)) < 0) {
            virReportError(VIR_ERR_DEVICE_MISSING,
                           _("disk %s not found"), dev->data.disk->dst);
            return -1;
        }
        if (vm->def->disks[idx]->device != VIR_DOMAIN_DISK_DEVICE_DISK) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("live detach of a '%s' device is not supported, only 'disk'"),
                           virDomainDiskDeviceTypeToString(vm->def->disks[idx]->device));
            return -1;
        }
    } else {
        if ((idx = virDomainNetFindIdx(vm->def, dev->data.net)) < 0 ||
            (devid = xvDeviceNicDevid(driver, vm,
                                      &vm->def->nets[idx]->mac)) < 0)
            return -1;
    }

    virObjectUnlock(vm);
    if (dev->type == VIR_DOMAIN_DEVICE_DISK)
        rc = xlite_device_disk_remove(driver->ctx, vm->def->id,
                                      dev->data.disk->dst, NULL);
    else
        rc = xlite_device_nic_remove(driver->ctx, vm->def->id, devid, NULL);
    virObjectLock(vm);
    if (rc < 0 && rc != -ENOENT) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("failed to detach a device from domain '%s': %s"),
                       vm->def->name, xlite_errmsg());
        return -1;
    }

    /* The object was unlocked: find the device again. */
    if (dev->type == VIR_DOMAIN_DEVICE_DISK) {
        virDomainDiskDef *disk;

        if ((disk = virDomainDiskRemoveByName(vm->def, dev->data.disk->dst))) {
            *alias_r = g_strdup(disk->info.alias);
            virDomainDiskDefFree(disk);
        }
    } else if ((idx = virDomainNetFindIdx(vm->def, dev->data.net)) >= 0) {
        virDomainNetDef *net = virDomainNetRemove(vm->def, idx);

        *alias_r = g_strdup(net->info.alias);
        xvNetworkReleaseNet(vm->def, net);
        virDomainNetDefFree(net);
    } else {
        virResetLastError();
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * After a restart of the driver
 *
 * A driver that died in the middle of an attach or a detach left the
 * domain's saved status behind the core: the core's view (the stored
 * config where xenstore has the device, xlite_retrieve_domain_config) is
 * the truth, and the live definition is made to agree with it.  A device
 * only the core has is described from its config and parsed as a user's
 * XML would be.
 */

static virDomainDeviceDef *
xvDeviceDefFromCore(xvDriver *driver, virDomainObj *vm,
                    const xlite_disk_config *disk, const xlite_nic_config *nic)
{
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    g_autofree char *xml = NULL;

    if (disk) {
        const char *format = disk->format == XLITE_DISK_FORMAT_QCOW2 ? "qcow2"
                           : disk->format == XLITE_DISK_FORMAT_VHD ? "vpc"
                           : disk->format == XLITE_DISK_FORMAT_QED ? "qed"
                           : "raw";

        struct stat sb;
        bool block = disk->target && stat(disk->target, &sb) == 0 &&
                     S_ISBLK(sb.st_mode);

        virBufferAsprintf(&buf, "<disk type='%s' device='%s'>",
                          block ? "block" : "file",
                          disk->cdrom ? "cdrom" : "disk");
        virBufferAsprintf(&buf, "<driver name='%s' type='%s'/>",
                          disk->backend == XLITE_DISK_BACKEND_PHY ? "phy"
                          : disk->backend == XLITE_DISK_BACKEND_TAP ? "tap"
                          : "qemu",
                          format);
        if (disk->target)
            virBufferEscapeString(&buf, block ? "<source dev='%s'/>"
                                              : "<source file='%s'/>",
                                  disk->target);
        virBufferEscapeString(&buf, "<target dev='%s' bus='xen'/>",
                              disk->vdev);
        if (disk->readonly)
            virBufferAddLit(&buf, "<readonly/>");
        virBufferAddLit(&buf, "</disk>");
    } else {
        virBufferAsprintf(&buf, "<interface type='%s'>",
                          nic->bridge ? "bridge" : "ethernet");
        virBufferEscapeString(&buf, "<mac address='%s'/>", nic->mac);
        virBufferEscapeString(&buf, "<source bridge='%s'/>", nic->bridge);
        virBufferEscapeString(&buf, "<script path='%s'/>", nic->script);
        virBufferEscapeString(&buf, "<target dev='%s'/>", nic->vifname);
        virBufferAddLit(&buf, "</interface>");
    }
    xml = virBufferContentAndReset(&buf);
    return virDomainDeviceDefParse(xml, vm->def, driver->xmlopt, NULL,
                                   VIR_DOMAIN_DEF_PARSE_INACTIVE);
}

/* Are @def's consoles the core's, one for one?  Those of a PV or PVH
 * guest without serial ports are; an HVM guest's first console mirrors
 * its first serial port, and extra consoles are never hotplugged there. */
static bool
xvDomainSyncConsoles(const virDomainDef *def)
{
    return def->os.type != VIR_DOMAIN_OSTYPE_HVM && def->nserials == 0;
}

/* What the live definition has and the core does not: gone. */
static bool
xvDomainSyncDropGone(virDomainObj *vm, const xlite_domain_config *cfg)
{
    virDomainDef *def = vm->def;
    bool changed = false;
    size_t i, j;

    for (i = def->ndisks; i-- > 0;) {
        virDomainDiskDef *disk = def->disks[i];

        for (j = 0; j < cfg->num_disks; j++)
            if (STREQ(cfg->disks[j].vdev, disk->dst))
                break;
        if (j < cfg->num_disks)
            continue;
        VIR_WARN("domain '%s': disk %s is no longer there", def->name,
                 disk->dst);
        virDomainDiskDefFree(virDomainDiskRemove(def, i));
        changed = true;
    }
    for (i = def->nnets; i-- > 0;) {
        char mac[VIR_MAC_STRING_BUFLEN];

        virMacAddrFormat(&def->nets[i]->mac, mac);
        for (j = 0; j < cfg->num_nics; j++)
            if (g_ascii_strcasecmp(cfg->nics[j].mac, mac) == 0)
                break;
        if (j < cfg->num_nics)
            continue;
        VIR_WARN("domain '%s': interface %s is no longer there", def->name,
                 mac);
        xvNetworkReleaseNet(def, def->nets[i]);
        virDomainNetDefFree(virDomainNetRemove(def, i));
        changed = true;
    }
    while (xvDomainSyncConsoles(def) && def->nconsoles > 1 &&
           def->nconsoles > cfg->num_consoles) {
        VIR_WARN("domain '%s': console %zu is no longer there", def->name,
                 def->nconsoles - 1);
        virDomainChrDefFree(def->consoles[def->nconsoles - 1]);
        VIR_DELETE_ELEMENT(def->consoles, def->nconsoles - 1, def->nconsoles);
        changed = true;
    }
    return changed;
}

/* What the core has and the live definition does not: there. */
static bool
xvDomainSyncAddNew(xvDriver *driver, virDomainObj *vm,
                   const xlite_domain_config *cfg)
{
    virDomainDef *def = vm->def;
    bool changed = false;
    size_t i, j;

    for (j = 0; j < cfg->num_disks; j++) {
        virDomainDeviceDef *dev;

        if (virDomainDiskIndexByName(def, cfg->disks[j].vdev, true) >= 0)
            continue;
        VIR_WARN("domain '%s': disk %s is there, from an attach the driver did not see finish",
                 def->name, cfg->disks[j].vdev);
        if (!(dev = xvDeviceDefFromCore(driver, vm, &cfg->disks[j], NULL)))
            continue;
        xvDomainNameDisk(dev->data.disk);
        virDomainDiskInsert(def, g_steal_pointer(&dev->data.disk));
        virDomainDeviceDefFree(dev);
        changed = true;
    }
    for (j = 0; j < cfg->num_nics; j++) {
        virDomainDeviceDef *dev;
        virMacAddr mac;

        if (virMacAddrParse(cfg->nics[j].mac, &mac) < 0)
            continue;
        for (i = 0; i < def->nnets; i++)
            if (virMacAddrCmp(&def->nets[i]->mac, &mac) == 0)
                break;
        if (i < def->nnets)
            continue;
        VIR_WARN("domain '%s': interface %s is there, from an attach the driver did not see finish",
                 def->name, cfg->nics[j].mac);
        if (!(dev = xvDeviceDefFromCore(driver, vm, NULL, &cfg->nics[j])))
            continue;
        xvDomainNameNic(vm, dev->data.net, cfg->nics[j].devid);
        if (virDomainNetInsert(def, dev->data.net) == 0)
            dev->data.net = NULL;
        virDomainDeviceDefFree(dev);
        changed = true;
    }
    while (xvDomainSyncConsoles(def) && def->nconsoles > 0 &&
           def->nconsoles < cfg->num_consoles) {
        size_t port = def->nconsoles;
        virDomainChrDef *chr;
        char *path = NULL;

        if (cfg->consoles[port].kind != XLITE_CONSOLE_PV ||
            !(chr = virDomainChrDefNew(driver->xmlopt)))
            break;
        VIR_WARN("domain '%s': console %zu is there, from an attach the driver did not see finish",
                 def->name, port);
        chr->deviceType = VIR_DOMAIN_CHR_DEVICE_TYPE_CONSOLE;
        chr->targetType = VIR_DOMAIN_CHR_CONSOLE_TARGET_TYPE_XEN;
        chr->target.port = port;
        chr->source->type = VIR_DOMAIN_CHR_TYPE_PTY;
        if (xlite_domain_console_path(driver->ctx, def->id, port, &path) == 0) {
            chr->source->data.file.path = g_strdup(path);
            free(path);
        }
        chr->info.alias = g_strdup_printf("console%zu", port);
        VIR_APPEND_ELEMENT(def->consoles, def->nconsoles, chr);
        changed = true;
    }
    return changed;
}

bool
xvDomainSyncDevices(xvDriver *driver, virDomainObj *vm)
{
    xlite_domain_config cfg;
    bool changed;

    xlite_domain_config_init(&cfg);
    if (xlite_retrieve_domain_config(driver->ctx, vm->def->id, &cfg) < 0) {
        VIR_WARN("domain '%s': cannot read its devices back: %s", vm->def->name,
                 xlite_errmsg());
        return false;
    }
    changed = xvDomainSyncDropGone(vm, &cfg);
    if (xvDomainSyncAddNew(driver, vm, &cfg))
        changed = true;
    xlite_domain_config_dispose(&cfg);
    return changed;
}

/* ---------------------------------------------------------------------
 * Entry points
 */

typedef enum {
    XV_DEVICE_ATTACH,
    XV_DEVICE_DETACH,
} xvDeviceChange;

/* The device of @def named by @alias, described just enough for a detach
 * to find it (a disk by its target, an interface by its MAC), or NULL
 * with VIR_ERR_DEVICE_MISSING. */
static char *
xvDeviceXMLForAlias(virDomainDef *def, const char *alias)
{
    virDomainDeviceDef dev;
    char mac[VIR_MAC_STRING_BUFLEN];

    if (virDomainDefFindDevice(def, alias, &dev, false) == 0) {
        if (dev.type == VIR_DOMAIN_DEVICE_DISK) {
            g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;

            virBufferAsprintf(&buf, "<disk type='file' device='%s'>",
                              virDomainDiskDeviceTypeToString(dev.data.disk->device));
            virBufferEscapeString(&buf, "<source file='%s'/>",
                                  virDomainDiskGetSource(dev.data.disk));
            virBufferEscapeString(&buf, "<target dev='%s'/></disk>",
                                  dev.data.disk->dst);
            return virBufferContentAndReset(&buf);
        }
        if (dev.type == VIR_DOMAIN_DEVICE_NET)
            return g_strdup_printf("<interface type='ethernet'><mac address='%s'/></interface>",
                                   virMacAddrFormat(&dev.data.net->mac, mac));
        if (dev.type == VIR_DOMAIN_DEVICE_CHR &&
            dev.data.chr->deviceType == VIR_DOMAIN_CHR_DEVICE_TYPE_CONSOLE)
            return g_strdup_printf("<console type='pty'><target type='%s' port='%d'/></console>",
                                   virDomainChrConsoleTargetTypeToString(dev.data.chr->targetType),
                                   dev.data.chr->target.port);
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("detaching a device of type '%s' is not supported"),
                       virDomainDeviceTypeToString(dev.type));
        return NULL;
    }
    virReportError(VIR_ERR_DEVICE_MISSING,
                   _("no device found with alias %s"), alias);
    return NULL;
}

/*
 * Attach or detach the device @xml describes, or with @alias (detach
 * only) the device that has that alias.
 *
 * Longer than the rest (about 90 lines) on purpose: it is the entry
 * points' one skeleton with both halves in view, the persistent one and
 * then the live one, which share the alias lookup and the MAC a NIC gets
 * when the XML names none; split, each half would take and return half a
 * dozen of the other's locals.
 */
static int
xvDomainChangeDevice(virDomainPtr dom, const char *xml, const char *alias,
                     unsigned int flags, xvDeviceChange change,
                     xvDomainACLCheckFlags acl)
{
    g_autofree char *confXML = NULL;
    g_autofree char *liveXML = NULL;
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    g_autoptr(virDomainDef) vmdef = NULL;
    virDomainDeviceDef *devConf = NULL;
    virDomainDeviceDef *devLive = NULL;
    g_autofree char *eventAlias = NULL;
    virMacAddr confMac;
    bool haveConfMac = false;
    virObjectEvent *event = NULL;
    int ret = -1;

    if (!(vm = xvDomainBeginJob(dom, NULL, acl, flags, XV_DOMAIN_BEGIN_ANY)))
        return -1;

    if (virDomainObjUpdateModificationImpact(vm, &flags) < 0)
        goto endjob;

    if (alias && (flags & VIR_DOMAIN_AFFECT_CONFIG) &&
        !(xml = confXML = xvDeviceXMLForAlias(vm->newDef ? vm->newDef : vm->def,
                                               alias)))
        goto endjob;
    if (flags & VIR_DOMAIN_AFFECT_CONFIG) {
        if (!(devConf = virDomainDeviceDefParse(xml, vm->def, driver->xmlopt,
                                                NULL,
                                                VIR_DOMAIN_DEF_PARSE_INACTIVE)) ||
            xvDeviceCheckKind(devConf, false, change == XV_DEVICE_ATTACH) < 0 ||
            !(vmdef = virDomainObjCopyPersistentDef(vm, driver->xmlopt, NULL)))
            goto endjob;
        if (devConf->type == VIR_DOMAIN_DEVICE_NET) {
            virMacAddrSet(&confMac, &devConf->data.net->mac);
            haveConfMac = true;
        }
        if ((change == XV_DEVICE_ATTACH
             ? xvDeviceAttachConfig(vmdef, devConf)
             : xvDeviceDetachConfig(vmdef, devConf)) < 0)
            goto endjob;
    }

    if (alias && (flags & VIR_DOMAIN_AFFECT_LIVE) &&
        !(xml = liveXML = xvDeviceXMLForAlias(vm->def, alias)))
        goto endjob;
    if (flags & VIR_DOMAIN_AFFECT_LIVE) {
        if (!(devLive = virDomainDeviceDefParse(xml, vm->def, driver->xmlopt,
                                                NULL,
                                                VIR_DOMAIN_DEF_PARSE_INACTIVE)) ||
            xvDeviceCheckKind(devLive, true, change == XV_DEVICE_ATTACH) < 0)
            goto endjob;
        /* One MAC for both definitions when the XML named none. */
        if (haveConfMac && devLive->type == VIR_DOMAIN_DEVICE_NET)
            virMacAddrSet(&devLive->data.net->mac, &confMac);

        if (change == XV_DEVICE_ATTACH) {
            if (xvDeviceAttachLive(driver, vm, devLive, &eventAlias) < 0)
                goto endjob;
            event = virDomainEventDeviceAddedNewFromObj(vm, eventAlias);
        } else {
            if (xvDeviceDetachLive(driver, vm, devLive, &eventAlias) < 0)
                goto endjob;
            if (eventAlias)
                event = virDomainEventDeviceRemovedNewFromObj(vm, eventAlias);
        }
        if (virDomainObjSave(vm, driver->xmlopt, driver->config->runDir) < 0)
            goto endjob;
    }

    if (vmdef) {
        if (virDomainDefSave(vmdef, driver->xmlopt,
                             driver->config->domainConfigDir) < 0)
            goto endjob;
        virDomainObjAssignDef(vm, &vmdef, false, NULL);
    }
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);
    virDomainDeviceDefFree(devConf);
    virDomainDeviceDefFree(devLive);
    virDomainObjEndAPI(&vm);
    virObjectEventStateQueue(driver->domainEventState, event);
    return ret;
}

int
xvDomainAttachDeviceFlags(virDomainPtr dom, const char *xml,
                          unsigned int flags)
{
    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG, -1);

    return xvDomainChangeDevice(dom, xml, NULL, flags, XV_DEVICE_ATTACH,
                                virDomainAttachDeviceFlagsEnsureACL);
}

int
xvDomainAttachDevice(virDomainPtr dom, const char *xml)
{
    return xvDomainAttachDeviceFlags(dom, xml, VIR_DOMAIN_AFFECT_LIVE);
}

int
xvDomainDetachDeviceFlags(virDomainPtr dom, const char *xml,
                          unsigned int flags)
{
    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG, -1);

    return xvDomainChangeDevice(dom, xml, NULL, flags, XV_DEVICE_DETACH,
                                virDomainDetachDeviceFlagsEnsureACL);
}

int
xvDomainDetachDevice(virDomainPtr dom, const char *xml)
{
    return xvDomainDetachDeviceFlags(dom, xml, VIR_DOMAIN_AFFECT_LIVE);
}

int
xvDomainDetachDeviceAlias(virDomainPtr dom, const char *alias,
                          unsigned int flags)
{
    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG, -1);

    return xvDomainChangeDevice(dom, NULL, alias, flags, XV_DEVICE_DETACH,
                                virDomainDetachDeviceAliasEnsureACL);
}

/* ---------------------------------------------------------------------
 * CD-ROM media
 */

/* The medium of @disk (a CD-ROM drive of @def) changed to @newdisk's:
 * in the running domain through the core (@driver set), in a definition
 * only in the XML.  Queues TRAY_CHANGE (open on the eject, closed once a
 * medium is in) for a running domain. */
static int
xvDeviceChangeMedia(xvDriver *driver, virDomainObj *vm, virDomainDef *def,
                    virDomainDiskDef *newdisk)
{
    virDomainDiskDef *disk;
    const char *src = virDomainDiskGetSource(newdisk);
    int idx;
    int rc;

    if ((idx = virDomainDiskIndexByName(def, newdisk->dst, false)) < 0) {
        virReportError(VIR_ERR_DEVICE_MISSING,
                       _("disk %s not found"), newdisk->dst);
        return -1;
    }
    disk = def->disks[idx];
    if (disk->device != VIR_DOMAIN_DISK_DEVICE_CDROM ||
        newdisk->device != VIR_DOMAIN_DISK_DEVICE_CDROM) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk %s: only the medium of a CD-ROM drive can be changed"),
                       newdisk->dst);
        return -1;
    }
    if (driver) {
        xlite_domain_config one;
        xlite_disk_format format;

        xlite_domain_config_init(&one);
        rc = xvDeviceConfigFromDef(def, &(virDomainDeviceDef){
                                       .type = VIR_DOMAIN_DEVICE_DISK,
                                       .data.disk = newdisk }, &one, 0);
        format = rc == 0 ? one.disks[0].format : XLITE_DISK_FORMAT_DEFAULT;
        xlite_domain_config_dispose(&one);
        if (rc < 0)
            return -1;
        virObjectUnlock(vm);
        rc = xlite_device_disk_change_media(driver->ctx, vm->def->id,
                                            newdisk->dst, src, format, NULL);
        virObjectLock(vm);
        if (rc < 0) {
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("cannot change the medium of disk %s of domain '%s': %s"),
                           newdisk->dst, vm->def->name, xlite_errmsg());
            return -1;
        }
        /* The object was unlocked: the disk is found again. */
        if ((idx = virDomainDiskIndexByName(def, newdisk->dst, false)) < 0)
            return 0;
        disk = def->disks[idx];
        virObjectEventStateQueue(driver->domainEventState,
                                 virDomainEventTrayChangeNewFromObj(vm, disk->info.alias,
                                                                    VIR_DOMAIN_EVENT_TRAY_CHANGE_OPEN));
        if (src)
            virObjectEventStateQueue(driver->domainEventState,
                                     virDomainEventTrayChangeNewFromObj(vm, disk->info.alias,
                                                                        VIR_DOMAIN_EVENT_TRAY_CHANGE_CLOSE));
    }
    virDomainDiskSetSource(disk, src);
    virDomainDiskSetFormat(disk, virDomainDiskGetFormat(newdisk));
    return 0;
}

void
xvDomainGuestEject(xvDriver *driver, virDomainObj *vm, const char *vdev)
{
    g_autoptr(virDomainDiskDef) empty = NULL;
    int idx;

    /* Already empty here: an eject the driver made itself, or a repeated
     * request. */
    if ((idx = virDomainDiskIndexByName(vm->def, vdev, false)) < 0 ||
        !virDomainDiskGetSource(vm->def->disks[idx]))
        return;
    if (!(empty = virDomainDiskDefNew(driver->xmlopt)))
        return;
    empty->device = VIR_DOMAIN_DISK_DEVICE_CDROM;
    empty->dst = g_strdup(vdev);
    virDomainDiskSetType(empty, VIR_STORAGE_TYPE_FILE);
    if (xvDeviceChangeMedia(driver, vm, vm->def, empty) < 0 ||
        virDomainObjSave(vm, driver->xmlopt, driver->config->runDir) < 0) {
        VIR_WARN("domain '%s': the guest's eject of %s: %s", vm->def->name,
                 vdev, virGetLastErrorMessage());
        return;
    }
    VIR_INFO("domain '%s' ejected the medium of %s", vm->def->name, vdev);
}

int
xvDomainUpdateDeviceFlags(virDomainPtr dom, const char *xml,
                          unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    g_autoptr(virDomainDef) vmdef = NULL;
    virDomainDeviceDef *dev = NULL;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG |
                  VIR_DOMAIN_DEVICE_MODIFY_FORCE, -1);

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainUpdateDeviceFlagsEnsureACL(dom->conn, vm->def, flags) < 0)
        goto cleanup;
    if (virDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0)
        goto cleanup;
    if (virDomainObjUpdateModificationImpact(vm, &flags) < 0)
        goto endjob;
    if (!(dev = virDomainDeviceDefParse(xml, vm->def, driver->xmlopt, NULL,
                                        VIR_DOMAIN_DEF_PARSE_INACTIVE)))
        goto endjob;
    if (dev->type != VIR_DOMAIN_DEVICE_DISK) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("updating a device of type '%s' is not supported, only the medium of a CD-ROM drive"),
                       virDomainDeviceTypeToString(dev->type));
        goto endjob;
    }

    if ((flags & VIR_DOMAIN_AFFECT_CONFIG) &&
        (!(vmdef = virDomainObjCopyPersistentDef(vm, driver->xmlopt, NULL)) ||
         xvDeviceChangeMedia(NULL, vm, vmdef, dev->data.disk) < 0))
        goto endjob;
    if (flags & VIR_DOMAIN_AFFECT_LIVE) {
        if (xvDeviceChangeMedia(driver, vm, vm->def, dev->data.disk) < 0 ||
            virDomainObjSave(vm, driver->xmlopt, driver->config->runDir) < 0)
            goto endjob;
    }
    if (vmdef) {
        if (virDomainDefSave(vmdef, driver->xmlopt,
                             driver->config->domainConfigDir) < 0)
            goto endjob;
        virDomainObjAssignDef(vm, &vmdef, false, NULL);
    }
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);
 cleanup:
    virDomainDeviceDefFree(dev);
    virDomainObjEndAPI(&vm);
    return ret;
}
