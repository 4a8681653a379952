/*
 * libxl_domain.c: domain XML conventions of the Xen driver
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "libxl_domain.h"

#include "viralloc.h"
#include "virerror.h"
#include "virlog.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.libxl_domain");

static bool
xvDefIsPV(const virDomainDef *def)
{
    return def->os.type == VIR_DOMAIN_OSTYPE_XEN ||
           def->os.type == VIR_DOMAIN_OSTYPE_LINUX;
}

static int
xvDomainDeviceDefPostParse(virDomainDeviceDef *dev,
                           const virDomainDef *def,
                           unsigned int parseFlags G_GNUC_UNUSED,
                           void *opaque G_GNUC_UNUSED,
                           void *parseOpaque G_GNUC_UNUSED)
{
    switch ((virDomainDeviceType) dev->type) {
    case VIR_DOMAIN_DEVICE_CHR: {
        virDomainChrDef *chr = dev->data.chr;

        /* A PV or PVH guest's console is the Xen PV console. */
        if (chr->deviceType == VIR_DOMAIN_CHR_DEVICE_TYPE_CONSOLE &&
            chr->targetType == VIR_DOMAIN_CHR_CONSOLE_TARGET_TYPE_NONE &&
            def->os.type != VIR_DOMAIN_OSTYPE_HVM)
            chr->targetType = VIR_DOMAIN_CHR_CONSOLE_TARGET_TYPE_XEN;
        break;
    }

    case VIR_DOMAIN_DEVICE_DISK: {
        virDomainDiskDef *disk = dev->data.disk;

        /* xl-disk-configuration(5): the default format is raw. */
        if (virDomainDiskGetFormat(disk) == VIR_STORAGE_FILE_NONE &&
            !virStorageSourceIsEmpty(disk->src))
            virDomainDiskSetFormat(disk, VIR_STORAGE_FILE_RAW);
        break;
    }

    case VIR_DOMAIN_DEVICE_VIDEO: {
        virDomainVideoDef *video = dev->data.video;

        if (video->type == VIR_DOMAIN_VIDEO_TYPE_DEFAULT)
            video->type = xvDefIsPV(def) ? VIR_DOMAIN_VIDEO_TYPE_XEN
                                         : VIR_DOMAIN_VIDEO_TYPE_CIRRUS;
        break;
    }

    case VIR_DOMAIN_DEVICE_HOSTDEV: {
        virDomainHostdevDef *hostdev = dev->data.hostdev;

        if (hostdev->mode == VIR_DOMAIN_HOSTDEV_MODE_CAPABILITIES) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("hostdev mode 'capabilities' is not supported by Xen"));
            return -1;
        }
        if (hostdev->mode == VIR_DOMAIN_HOSTDEV_MODE_SUBSYS &&
            hostdev->source.subsys.type == VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_PCI &&
            hostdev->source.subsys.u.pci.backend ==
                VIR_DOMAIN_HOSTDEV_PCI_BACKEND_DEFAULT)
            hostdev->source.subsys.u.pci.backend =
                VIR_DOMAIN_HOSTDEV_PCI_BACKEND_XEN;
        break;
    }

    default:
        break;
    }
    return 0;
}

/* Devices every Xen guest has whether or not the XML names them. */
static int
xvDomainDefPostParse(virDomainDef *def,
                     unsigned int parseFlags G_GNUC_UNUSED,
                     void *opaque G_GNUC_UNUSED,
                     void *parseOpaque G_GNUC_UNUSED)
{
    /* A PV or PVH guest always has a PV console. */
    if (def->os.type != VIR_DOMAIN_OSTYPE_HVM && def->nconsoles == 0) {
        virDomainChrDef *chr;

        if (!(chr = virDomainChrDefNew(NULL)))
            return -1;
        chr->source->type = VIR_DOMAIN_CHR_TYPE_PTY;
        chr->deviceType = VIR_DOMAIN_CHR_DEVICE_TYPE_CONSOLE;
        chr->targetType = VIR_DOMAIN_CHR_CONSOLE_TARGET_TYPE_XEN;
        chr->target.port = 0;
        VIR_APPEND_ELEMENT(def->consoles, def->nconsoles, chr);
    }

    /* Graphics come with a keyboard and a mouse: PV ones for PV guests,
     * emulated PS/2 ones for HVM guests. */
    if (def->ngraphics > 0) {
        virDomainInputBus bus = def->os.type == VIR_DOMAIN_OSTYPE_HVM
                                ? VIR_DOMAIN_INPUT_BUS_PS2
                                : VIR_DOMAIN_INPUT_BUS_XEN;

        if (virDomainDefMaybeAddInput(def, VIR_DOMAIN_INPUT_TYPE_MOUSE, bus) < 0 ||
            virDomainDefMaybeAddInput(def, VIR_DOMAIN_INPUT_TYPE_KBD, bus) < 0)
            return -1;
    }

    /* x86_64 HVM guests always run with PAE. */
    if (def->os.type == VIR_DOMAIN_OSTYPE_HVM && def->os.arch == VIR_ARCH_X86_64)
        def->features[VIR_DOMAIN_FEATURE_PAE] = VIR_TRISTATE_SWITCH_ON;

    /* Every guest balloons through xenstore's memory/target. */
    if (!def->memballoon) {
        def->memballoon = g_new0(virDomainMemballoonDef, 1);
        def->memballoon->model = VIR_DOMAIN_MEMBALLOON_MODEL_XEN;
    }

    if (virDomainControllerFindByType(def, VIR_DOMAIN_CONTROLLER_TYPE_XENBUS) < 0 &&
        !virDomainDefAddController(def, VIR_DOMAIN_CONTROLLER_TYPE_XENBUS, -1, -1))
        return -1;

    return 0;
}

static int
xvDomainDefValidate(const virDomainDef *def,
                    void *opaque,
                    void *parseOpaque G_GNUC_UNUSED)
{
    xvDriver *driver = opaque;
    size_t i;

    if (driver &&
        !virCapabilitiesDomainSupported(driver->caps, def->os.type,
                                        def->os.arch, def->virtType))
        return -1;

    if ((def->os.loader && def->os.loader->secure == VIR_TRISTATE_BOOL_YES) ||
        (def->os.firmwareFeatures &&
         def->os.firmwareFeatures[VIR_DOMAIN_OS_DEF_FIRMWARE_FEATURE_SECURE_BOOT] ==
             VIR_TRISTATE_BOOL_YES)) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("secure boot is not supported by Xen"));
        return -1;
    }

    for (i = 0; i < def->nsounds; i++) {
        switch (def->sounds[i]->model) {
        case VIR_DOMAIN_SOUND_MODEL_ICH6:
        case VIR_DOMAIN_SOUND_MODEL_ES1370:
        case VIR_DOMAIN_SOUND_MODEL_AC97:
        case VIR_DOMAIN_SOUND_MODEL_SB16:
            break;
        default:
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("sound model '%s' is not supported by Xen"),
                           virDomainSoundModelTypeToString(def->sounds[i]->model));
            return -1;
        }
    }
    return 0;
}

static virDomainDefParserConfig xvDomainDefParserConfig = {
    .macPrefix = { 0x00, 0x16, 0x3e },
    .netPrefix = "vif",
    .devicesPostParseCallback = xvDomainDeviceDefPostParse,
    .domainPostParseCallback = xvDomainDefPostParse,
    .domainValidateCallback = xvDomainDefValidate,
    .features = VIR_DOMAIN_DEF_FEATURE_USER_ALIAS |
                VIR_DOMAIN_DEF_FEATURE_FW_AUTOSELECT |
                VIR_DOMAIN_DEF_FEATURE_NET_MODEL_STRING,
};

virDomainXMLOption *
xvDomainXMLOptionNew(xvDriver *driver)
{
    /* The parser config's opaque is per xmlopt: copy the static template. */
    virDomainDefParserConfig config = xvDomainDefParserConfig;

    config.priv = driver;
    return virDomainXMLOptionNew(&config, NULL, NULL, NULL, NULL, NULL);
}
