/*
 * libxl_domain.c: the life of the driver's domain objects
 *
 * It holds, in this order: the domain XML conventions (Xen's defaults after
 * parsing, and the checks that refuse what a Xen host cannot run, in the
 * driver's virDomainXMLOption); the private data of domain objects; starting
 * and stopping a domain through the core, with the start marks that let a
 * restarted driver undo a start its predecessor left half done; the core's
 * domain events (shutdown, death), triaged in the core's callback and acted
 * on by a worker, one queue per domain; and, after the driver starts,
 * reconnecting to the running domains and autostart.
 *
 * It holds no entry point (libxl_driver.c, and libxl_device.c for
 * devices), no mapping of a definition onto the core's config
 * (libxl_conf.c), and no device attach or detach (libxl_device.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libxl_device.h"
#include "libxl_domain.h"
#include "libxl_agent.h"
#include "libxl_blockjob.h"
#include "libxl_snapshot.h"
#include "libxl_network.h"
#include "libxl_save.h"
#include "libxl_stats.h"

#include "viralloc.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "viruuid.h"
#include "domain_event.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.libxl_domain");

static bool
xvDefIsPV(const virDomainDef *def)
{
    return def->os.type == VIR_DOMAIN_OSTYPE_XEN ||
           def->os.type == VIR_DOMAIN_OSTYPE_LINUX;
}

/* A PV or PVH guest's console is the Xen PV console. */
static void
xvDomainChrDefPostParse(virDomainChrDef *chr, const virDomainDef *def)
{
    if (chr->deviceType == VIR_DOMAIN_CHR_DEVICE_TYPE_CONSOLE &&
        chr->targetType == VIR_DOMAIN_CHR_CONSOLE_TARGET_TYPE_NONE &&
        def->os.type != VIR_DOMAIN_OSTYPE_HVM)
        chr->targetType = VIR_DOMAIN_CHR_CONSOLE_TARGET_TYPE_XEN;
}

static void
xvDomainDiskDefPostParse(virDomainDiskDef *disk)
{
    /* Network sources are served by QEMU (qdisk). */
    if (virStorageSourceGetActualType(disk->src) == VIR_STORAGE_TYPE_NETWORK &&
        !virDomainDiskGetDriver(disk))
        virDomainDiskSetDriver(disk, "qemu");
    /* xl-disk-configuration(5): the default format is raw. */
    if (virDomainDiskGetFormat(disk) == VIR_STORAGE_FILE_NONE &&
        !virStorageSourceIsEmpty(disk->src))
        virDomainDiskSetFormat(disk, VIR_STORAGE_FILE_RAW);
}

static void
xvDomainVideoDefPostParse(virDomainVideoDef *video, const virDomainDef *def)
{
    if (video->type == VIR_DOMAIN_VIDEO_TYPE_DEFAULT)
        video->type = xvDefIsPV(def) ? VIR_DOMAIN_VIDEO_TYPE_XEN
                                     : VIR_DOMAIN_VIDEO_TYPE_CIRRUS;
    /* QEMU's (qemu-xen's) video memory defaults, as libvirt's driver
     * writes them for HVM guests. */
    if (def->os.type == VIR_DOMAIN_OSTYPE_HVM && video->vram == 0)
        video->vram = xvVideoDefaultVram(video->type);
}

/* A PCI device passed through (a <hostdev>, or an <interface
 * type='hostdev'>) uses Xen's PCI backend unless another is named. */
static void
xvDomainPCIBackendPostParse(virDomainHostdevSubsysPCI *pcisrc)
{
    if (pcisrc->backend == VIR_DOMAIN_HOSTDEV_PCI_BACKEND_DEFAULT)
        pcisrc->backend = VIR_DOMAIN_HOSTDEV_PCI_BACKEND_XEN;
}

static int
xvDomainHostdevDefPostParse(virDomainHostdevDef *hostdev)
{
    if (hostdev->mode == VIR_DOMAIN_HOSTDEV_MODE_CAPABILITIES) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("hostdev mode 'capabilities' is not supported by Xen"));
        return -1;
    }
    if (hostdev->mode == VIR_DOMAIN_HOSTDEV_MODE_SUBSYS &&
        hostdev->source.subsys.type == VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_PCI)
        xvDomainPCIBackendPostParse(&hostdev->source.subsys.u.pci);
    return 0;
}

static int
xvDomainDeviceDefPostParse(virDomainDeviceDef *dev,
                           const virDomainDef *def,
                           unsigned int parseFlags G_GNUC_UNUSED,
                           void *opaque G_GNUC_UNUSED,
                           void *parseOpaque G_GNUC_UNUSED)
{
    switch ((virDomainDeviceType) dev->type) {
    case VIR_DOMAIN_DEVICE_CHR:
        xvDomainChrDefPostParse(dev->data.chr, def);
        break;
    case VIR_DOMAIN_DEVICE_DISK:
        xvDomainDiskDefPostParse(dev->data.disk);
        break;
    case VIR_DOMAIN_DEVICE_VIDEO:
        xvDomainVideoDefPostParse(dev->data.video, def);
        break;
    case VIR_DOMAIN_DEVICE_NET:
        if (dev->data.net->type == VIR_DOMAIN_NET_TYPE_HOSTDEV)
            xvDomainPCIBackendPostParse(&dev->data.net->data.hostdev.def.source.subsys.u.pci);
        break;
    case VIR_DOMAIN_DEVICE_HOSTDEV:
        return xvDomainHostdevDefPostParse(dev->data.hostdev);
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

    /* Every guest has a keyboard and a mouse, as libvirt's Xen driver
     * shows them: PV ones for PV and PVH guests, emulated PS/2 ones for
     * HVM guests. */
    {
        virDomainInputBus bus = def->os.type == VIR_DOMAIN_OSTYPE_HVM
                                ? VIR_DOMAIN_INPUT_BUS_PS2
                                : VIR_DOMAIN_INPUT_BUS_XEN;

        if (virDomainDefMaybeAddInput(def, VIR_DOMAIN_INPUT_TYPE_MOUSE, bus) < 0 ||
            virDomainDefMaybeAddInput(def, VIR_DOMAIN_INPUT_TYPE_KBD, bus) < 0)
            return -1;
    }

    /* x86_64 HVM guests always run with PAE. */
    if (def->os.type == VIR_DOMAIN_OSTYPE_HVM && def->os.arch == VIR_ARCH_X86_64) {
        def->features[VIR_DOMAIN_FEATURE_PAE] = VIR_TRISTATE_SWITCH_ON;
        /* The guest learns its virtual NUMA layout through ACPI. */
        if (virDomainNumaGetNodeCount(def->numa) > 0)
            def->features[VIR_DOMAIN_FEATURE_ACPI] = VIR_TRISTATE_SWITCH_ON;
    }

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

static virDomainXMLPrivateDataCallbacks xvDomainXMLPrivateDataCallbacks;

/* <xen:commandline><xen:arg value='...'/></xen:commandline>: extra
 * arguments for the device model, in libvirt's Xen namespace. */
static void
xvDomainDefNamespaceFree(void *data)
{
    xvDomainXmlNsDef *ns = data;

    if (!ns)
        return;
    g_strfreev(ns->args);
    g_free(ns);
}

static int
xvDomainDefNamespaceParse(xmlXPathContextPtr ctxt, void **data)
{
    g_autofree xmlNodePtr *nodes = NULL;
    xvDomainXmlNsDef *ns;
    ssize_t n;
    ssize_t i;

    if ((n = virXPathNodeSet("./xen:commandline/xen:arg", ctxt, &nodes)) <= 0)
        return n < 0 ? -1 : 0;

    ns = g_new0(xvDomainXmlNsDef, 1);
    ns->args = g_new0(char *, n + 1);
    for (i = 0; i < n; i++) {
        if (!(ns->args[i] = virXMLPropString(nodes[i], "value"))) {
            virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                           _("No device model command-line argument specified"));
            xvDomainDefNamespaceFree(ns);
            return -1;
        }
    }
    *data = ns;
    return 0;
}

static int
xvDomainDefNamespaceFormatXML(virBuffer *buf, void *data)
{
    xvDomainXmlNsDef *ns = data;
    size_t i;

    if (!ns->args || !ns->args[0])
        return 0;
    virBufferAddLit(buf, "<xen:commandline>\n");
    virBufferAdjustIndent(buf, 2);
    for (i = 0; ns->args[i]; i++)
        virBufferEscapeString(buf, "<xen:arg value='%s'/>\n", ns->args[i]);
    virBufferAdjustIndent(buf, -2);
    virBufferAddLit(buf, "</xen:commandline>\n");
    return 0;
}

static virXMLNamespace xvDomainXMLNamespace = {
    .parse = xvDomainDefNamespaceParse,
    .free = xvDomainDefNamespaceFree,
    .format = xvDomainDefNamespaceFormatXML,
    .prefix = "xen",
    .uri = "http://libvirt.org/schemas/domain/xen/1.0",
};

static virDomainDefParserConfig xvDomainDefParserConfig = {
    .macPrefix = { 0x00, 0x16, 0x3e },
    .netPrefix = XV_VIF_PREFIX,
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
    return virDomainXMLOptionNew(&config, &xvDomainXMLPrivateDataCallbacks,
                                 &xvDomainXMLNamespace, NULL, NULL, NULL);
}

/* ---------------------------------------------------------------------
 * Private data of domain objects
 */

static void *
xvDomainObjPrivateAlloc(void *opaque G_GNUC_UNUSED)
{
    xvDomainObjPrivate *priv = g_new0(xvDomainObjPrivate, 1);

    if (!(priv->devs = virChrdevAlloc())) {
        g_free(priv);
        return NULL;
    }
    priv->agentTimeout = VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_DEFAULT;
    return priv;
}

static void
xvDomainObjPrivateFree(void *data)
{
    xvDomainObjPrivate *priv = data;

    /* The generator is disabled when the domain stops, before the object
     * can go away. */
    g_assert(!priv->deathEvgen);
    virChrdevFree(priv->devs);
    g_clear_pointer(&priv->blockjobs, g_hash_table_unref);
    g_clear_pointer(&priv->blockmerges, g_hash_table_unref);
    /* Closed when the domain stops, before the object can go away. */
    g_assert(!priv->channels || priv->channels->len == 0);
    g_clear_pointer(&priv->channels, g_ptr_array_unref);
    g_free(priv);
}

static int
xvDomainObjPrivateXMLFormat(virBuffer *buf, virDomainObj *vm)
{
    return xvBlockJobStatusFormat(buf, vm);
}

static int
xvDomainObjPrivateXMLParse(xmlXPathContextPtr ctxt, virDomainObj *vm,
                           virDomainDefParserConfig *config G_GNUC_UNUSED)
{
    return xvBlockJobStatusParse(ctxt, vm);
}

static virDomainXMLPrivateDataCallbacks xvDomainXMLPrivateDataCallbacks = {
    .alloc = xvDomainObjPrivateAlloc,
    .free = xvDomainObjPrivateFree,
    .format = xvDomainObjPrivateXMLFormat,
    .parse = xvDomainObjPrivateXMLParse,
};

/* ---------------------------------------------------------------------
 * Starting and stopping
 */

static void
xvDomainDisableEvents(xvDriver *driver, virDomainObj *vm)
{
    xvDomainObjPrivate *priv = vm->privateData;

    if (priv->deathEvgen)
        xlite_evdisable(driver->ctx, g_steal_pointer(&priv->deathEvgen));
}

/* The core's events the driver acts on: subscribed to for the whole
 * context (xvDomainEventsInit) and enabled for each running domain
 * (xvDomainEnableEvents); anything else is dropped on arrival. */
#define XV_DOMAIN_EVENTS \
    (XLITE_EVENTMASK(XLITE_EVENT_DOMAIN_SHUTDOWN) | \
     XLITE_EVENTMASK(XLITE_EVENT_DOMAIN_DEATH) | \
     XLITE_EVENTMASK(XLITE_EVENT_DISK_EJECT) | \
     XLITE_EVENTMASK(XLITE_EVENT_BLOCK_JOB) | \
     XLITE_EVENTMASK(XLITE_EVENT_BALLOON_CHANGE))

static int
xvDomainEnableEvents(xvDriver *driver, virDomainObj *vm)
{
    xvDomainObjPrivate *priv = vm->privateData;
    int rc;

    rc = xlite_evenable_domain(driver->ctx, vm->def->id, XV_DOMAIN_EVENTS,
                               (uint64_t)vm->def->id, &priv->deathEvgen);
    if (rc < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("cannot watch domain '%s' for shutdown: %s"),
                       vm->def->name, xlite_errmsg());
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * Channels (docs/channels.md)
 */

static void
xvDomainCloseChannels(xvDriver *driver, virDomainObj *vm)
{
    xvDomainObjPrivate *priv = vm->privateData;
    size_t i;

    if (!priv->channels)
        return;
    for (i = 0; i < priv->channels->len; i++)
        xlite_channel_close(driver->ctx, g_ptr_array_index(priv->channels, i));
    g_ptr_array_set_size(priv->channels, 0);
    /* The core tells nothing of a close of ours: the agent is gone. */
    xvAgentChannelClosed(driver, vm);
}

static int
xvDomainCloseChannelsOne(virDomainObj *vm, void *opaque)
{
    virObjectLock(vm);
    xvDomainCloseChannels(opaque, vm);
    virObjectUnlock(vm);
    return 0;
}

/* The driver stops: the channels it served go with it (a new driver
 * opens them again at reconnect). */
void
xvDomainCloseAllChannels(xvDriver *driver)
{
    if (driver->domains)
        virDomainObjListForEach(driver->domains, false,
                                xvDomainCloseChannelsOne, driver);
}

/*
 * The core sets up and serves each Xen channel of the running domain (its
 * xenstore nodes, dom0's grant of the ring, the event channel, the pty or
 * socket); the live definition shows each pty's path.  @reconnect: a new
 * driver takes over channels another process served (open replaces what
 * was left), and a failure is only logged, as the domain runs anyway.
 */
static int
xvDomainOpenChannels(xvDriver *driver, virDomainObj *vm, bool reconnect)
{
    xvDomainObjPrivate *priv = vm->privateData;
    virDomainDef *def = vm->def;
    size_t i;

    xvDomainCloseChannels(driver, vm);
    if (!priv->channels)
        priv->channels = g_ptr_array_new();
    for (i = 0; i < def->nchannels; i++) {
        virDomainChrDef *chr = def->channels[i];
        xlite_channel_config cfg = { 0 };
        xlite_channel *chan = NULL;

        if (!chr->info.alias)
            chr->info.alias = g_strdup_printf("channel%zu", i);
        if (chr->targetType != VIR_DOMAIN_CHR_CHANNEL_TARGET_TYPE_XEN ||
            !chr->target.name) {
            g_ptr_array_add(priv->channels, NULL);
            continue;
        }
        cfg.name = chr->target.name;
        if (chr->source->type == VIR_DOMAIN_CHR_TYPE_UNIX) {
            cfg.connection = XLITE_CHANNEL_SOCKET;
            cfg.path = chr->source->data.nix.path;
        } else {
            cfg.connection = XLITE_CHANNEL_PTY;
        }
        if (xlite_channel_open(driver->ctx, def->id, &cfg, &chan, NULL) < 0) {
            if (reconnect) {
                VIR_WARN("domain '%s': cannot serve channel '%s': %s",
                         def->name, chr->target.name, xlite_errmsg());
                g_ptr_array_add(priv->channels, NULL);
                continue;
            }
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("cannot open channel '%s' of domain '%s': %s"),
                           chr->target.name, def->name, xlite_errmsg());
            return -1;
        }
        g_ptr_array_add(priv->channels, chan);
        /* The agent's channel is disconnected until the guest takes it
         * (XLITE_EVENT_CHANNEL_STATE, handled under this lock: after). */
        if ((ssize_t)i == xvAgentChannelIndex(def))
            chr->state = VIR_DOMAIN_CHR_DEVICE_STATE_DISCONNECTED;
        if (chr->source->type == VIR_DOMAIN_CHR_TYPE_PTY) {
            g_free(chr->source->data.file.path);
            chr->source->data.file.path = g_strdup(xlite_channel_path(chan));
        }
    }
    return 0;
}

/* Forget the running instance: state, status file, transient object. */
static void
xvDomainCleanupStopped(xvDriver *driver, virDomainObj *vm,
                       virDomainShutoffReason reason)
{
    g_autofree char *statusFile = virDomainConfigFile(driver->config->runDir,
                                                      vm->def->name);

    xvDomainCloseChannels(driver, vm);
    xvDomainDisableEvents(driver, vm);
    xvNetworkReleaseDomain(vm->def);
    if (unlink(statusFile) < 0 && errno != ENOENT)
        VIR_WARN("cannot remove status file '%s': %s", statusFile,
                 g_strerror(errno));
    vm->def->id = -1;
    virDomainObjSetState(vm, VIR_DOMAIN_SHUTOFF, reason);
    /* A transient domain's snapshots go with it, as in libvirt's QEMU
     * driver. */
    if (!vm->persistent)
        xvSnapshotDiscardAll(driver, vm);
    if (vm->newDef) {
        virDomainDefFree(vm->def);
        vm->def = g_steal_pointer(&vm->newDef);
        vm->def->id = -1;
    }
}

/* The console devices' ptys, from the console backend, into the live
 * definition: they show in the live XML and `virsh console` opens them. */
static void
xvDomainRecordConsoles(xvDriver *driver, virDomainObj *vm)
{
    virDomainDef *def = vm->def;
    size_t i;

    for (i = 0; i < def->nconsoles; i++) {
        virDomainChrDef *chr = def->consoles[i];
        char *path = NULL;

        /* The serial-mirroring console of HVM guests shares serial 0. */
        if (chr->targetType == VIR_DOMAIN_CHR_CONSOLE_TARGET_TYPE_SERIAL &&
            def->nserials > 0)
            chr = def->serials[0];
        if (chr->source->type != VIR_DOMAIN_CHR_TYPE_PTY)
            continue;
        if (xlite_domain_console_path(driver->ctx, def->id, i, &path) < 0) {
            VIR_WARN("domain '%s': console %zu has no pty: %s", def->name, i,
                     xlite_errmsg());
            continue;
        }
        g_free(chr->source->data.file.path);
        chr->source->data.file.path = g_strdup(path);
        free(path);
        if (def->consoles[i] != chr) {
            g_free(def->consoles[i]->source->data.file.path);
            def->consoles[i]->source->data.file.path = g_strdup(chr->source->data.file.path);
        }
    }
}

/*
 * Starts in progress
 *
 * Between the moment the hypervisor knows a new domain and the moment its
 * status file is saved, only the starting thread knows the domain is ours.
 * If the driver dies there (libvirtd killed, an embedded client gone), the
 * host keeps a domain no status names, and every later start of the same
 * definition fails on its uuid.  So a start holds a mark from before the
 * core creates the domain until its status is saved or the domain is
 * undone: a file named after the uuid, locked with flock(2) (owned by the
 * open file description, so another thread's or process's attempt sees it
 * held, and the kernel drops it when the holder dies).  The next driver to
 * start finds a mark nobody holds and destroys whatever domain of the host
 * carries that uuid, unless a saved status has claimed it: the start is
 * then either finished or undone, whatever point it died at.
 */

static char *
xvDomainMarkPath(xvDriver *driver, const unsigned char *uuid,
                 const char *suffix)
{
    char uuidstr[VIR_UUID_STRING_BUFLEN];

    virUUIDFormat(uuid, uuidstr);
    return g_strdup_printf("%s/%s.%s", driver->config->runDir, uuidstr, suffix);
}

static char *
xvDomainStartMarkPath(xvDriver *driver, const unsigned char *uuid)
{
    return xvDomainMarkPath(driver, uuid, "starting");
}

/* Is @fd, locked, still the file at @path?  The holder unlinks its mark
 * before it lets the lock go, so a lock won on an unlinked file says
 * only that the start finished. */
static bool
xvDomainStartMarkCurrent(int fd, const char *path)
{
    struct stat fdSt;
    struct stat pathSt;

    return fstat(fd, &fdSt) == 0 && stat(path, &pathSt) == 0 &&
           fdSt.st_dev == pathSt.st_dev && fdSt.st_ino == pathSt.st_ino;
}

/* Returns the locked mark's fd, or -1 with an error reported. */
static int
xvDomainStartMarkSet(xvDriver *driver, virDomainObj *vm)
{
    g_autofree char *path = xvDomainStartMarkPath(driver, vm->def->uuid);
    VIR_AUTOCLOSE fd = -1;
    int ret;

    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        virReportSystemError(errno, _("cannot create '%s'"), path);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            virReportError(VIR_ERR_OPERATION_INVALID,
                           _("domain '%s' is being started by another process"),
                           vm->def->name);
        else
            virReportSystemError(errno, _("cannot lock '%s'"), path);
        return -1;
    }
    ret = fd;
    fd = -1;
    return ret;
}

static void
xvDomainStartMarkClear(xvDriver *driver, virDomainObj *vm, int *fd)
{
    g_autofree char *path = xvDomainStartMarkPath(driver, vm->def->uuid);

    if (*fd < 0)
        return;
    if (unlink(path) < 0 && errno != ENOENT)
        VIR_WARN("cannot remove '%s': %s", path, g_strerror(errno));
    VIR_FORCE_CLOSE(*fd);
}

/* The domain of @uuid with id @domid, if a saved status claims it. */
static bool
xvDomainClaimed(xvDriver *driver, const unsigned char *uuid, uint32_t domid)
{
    virDomainObj *vm;
    bool claimed;

    if (!(vm = virDomainObjListFindByUUID(driver->domains, uuid)))
        return false;
    claimed = virDomainObjIsActive(vm) && vm->def->id == (int)domid;
    virDomainObjEndAPI(&vm);
    return claimed;
}

/* Undo the start behind one abandoned mark: destroy every domain of the
 * host with its uuid that no saved status claims. */
static void
xvDomainReclaimStart(xvDriver *driver, const unsigned char *uuid,
                     const xlite_dominfo *infos, size_t n)
{
    char uuidstr[VIR_UUID_STRING_BUFLEN];
    size_t i;

    virUUIDFormat(uuid, uuidstr);
    for (i = 0; i < n; i++) {
        int rc;

        if (memcmp(infos[i].uuid, uuid, VIR_UUID_BUFLEN) != 0 ||
            xvDomainClaimed(driver, uuid, infos[i].domid))
            continue;
        VIR_WARN("domain %u (uuid %s) was left half-started by a driver that stopped: destroying it",
                 infos[i].domid, uuidstr);
        rc = xlite_domain_destroy(driver->ctx, infos[i].domid, NULL);
        if (rc < 0 && rc != -ESRCH)
            VIR_ERROR(_("cannot destroy half-started domain %u (uuid %s): %s"),
                      infos[i].domid, uuidstr, xlite_errmsg());
    }
}

void
xvDomainReclaimStarts(xvDriver *driver)
{
    g_autoptr(DIR) dir = NULL;
    g_autofree xlite_dominfo *infos = NULL;
    size_t n = 0;
    bool listed = false;
    struct dirent *ent;

    if (virDirOpenQuiet(&dir, driver->config->runDir) <= 0)
        return;
    while (virDirRead(dir, &ent, NULL) > 0) {
        g_autofree char *path = NULL;
        g_autofree char *uuidstr = NULL;
        unsigned char uuid[VIR_UUID_BUFLEN];
        VIR_AUTOCLOSE fd = -1;

        if (!g_str_has_suffix(ent->d_name, ".starting"))
            continue;
        uuidstr = g_strndup(ent->d_name,
                            strlen(ent->d_name) - strlen(".starting"));
        if (virUUIDParse(uuidstr, uuid) < 0)
            continue;
        path = g_strdup_printf("%s/%s", driver->config->runDir, ent->d_name);
        if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
            continue;
        /* Held: that start is alive in another process. */
        if (flock(fd, LOCK_EX | LOCK_NB) < 0 ||
            !xvDomainStartMarkCurrent(fd, path))
            continue;
        if (!listed) {
            if (xlite_domain_list(driver->ctx, &infos, &n) < 0) {
                VIR_ERROR(_("cannot list the host's domains to undo abandoned starts: %s"),
                          xlite_errmsg());
                return;
            }
            listed = true;
        }
        xvDomainReclaimStart(driver, uuid, infos, n);
        if (unlink(path) < 0 && errno != ENOENT)
            VIR_WARN("cannot remove '%s': %s", path, g_strerror(errno));
    }
}

void
xvDomainNameDisk(virDomainDiskDef *disk)
{
    if (!disk->info.alias)
        disk->info.alias = g_strdup_printf("xen-disk-%s", disk->dst);
}

void
xvDomainNameNic(virDomainObj *vm, virDomainNetDef *net, int devid)
{
    if (!net->info.alias)
        net->info.alias = g_strdup_printf("xen-net-%d", devid);
    if (!net->ifname || xvIsGeneratedVifName(net->ifname)) {
        g_free(net->ifname);
        net->ifname = g_strdup_printf("vif%d.%d", vm->def->id, devid);
    }
}

/* The names of the devices of a domain just created: the core numbered
 * its interfaces, found again by their MAC addresses. */
static void
xvDomainNameDevices(xvDriver *driver, virDomainObj *vm)
{
    virDomainDef *def = vm->def;
    xlite_domain_config cfg;
    size_t i, j;

    for (i = 0; i < def->ndisks; i++)
        xvDomainNameDisk(def->disks[i]);
    /* The Xen PV consoles, by their number, as virDomainOpenConsole
     * names them ("console1"); libvirt's QEMU driver names them so. */
    for (i = 0; i < def->nconsoles; i++) {
        virDomainChrDef *chr = def->consoles[i];

        if (chr->targetType == VIR_DOMAIN_CHR_CONSOLE_TARGET_TYPE_XEN &&
            !chr->info.alias)
            chr->info.alias = g_strdup_printf("console%zu", i);
    }
    if (def->nnets == 0)
        return;
    xlite_domain_config_init(&cfg);
    if (xlite_retrieve_domain_config(driver->ctx, def->id, &cfg) < 0) {
        VIR_WARN("domain '%s': cannot read its devices back: %s", def->name,
                 xlite_errmsg());
        return;
    }
    for (i = 0; i < def->nnets; i++) {
        char mac[VIR_MAC_STRING_BUFLEN];

        virMacAddrFormat(&def->nets[i]->mac, mac);
        for (j = 0; j < cfg.num_nics; j++) {
            if (g_ascii_strcasecmp(cfg.nics[j].mac, mac) == 0) {
                xvDomainNameNic(vm, def->nets[i], cfg.nics[j].devid);
                break;
            }
        }
    }
    xlite_domain_config_dispose(&cfg);
}

/* A vcpu's hard affinity, in libvirt's cpumap layout. */
typedef struct {
    unsigned int vcpu;
    unsigned char *map;
    int len;
} xvVcpuPin;

static void
xvVcpuPinClear(void *data)
{
    g_free(((xvVcpuPin *)data)->map);
}

/* The affinity of every vcpu the definition pins (<vcpupin>, or the
 * domain's <vcpu cpuset>), to be given to the hypervisor before the
 * domain first runs, as libvirt's Xen driver does. */
static GArray *
xvDomainVcpuPins(virDomainDef *def)
{
    GArray *pins = g_array_new(FALSE, TRUE, sizeof(xvVcpuPin));
    unsigned int i;

    g_array_set_clear_func(pins, xvVcpuPinClear);
    for (i = 0; i < virDomainDefGetVcpusMax(def); i++) {
        virDomainVcpuDef *vcpu = virDomainDefGetVcpu(def, i);
        virBitmap *mask = vcpu && vcpu->cpumask ? vcpu->cpumask : def->cpumask;
        xvVcpuPin pin = { .vcpu = i };

        if (!mask || virBitmapIsAllClear(mask))
            continue;
        if (virBitmapToData(mask, &pin.map, &pin.len) < 0)
            continue;
        g_array_append_val(pins, pin);
    }
    return pins;
}

/* What the driver refuses to start: a running domain, or one with
 * graphics, which it defines (as libvirt's driver defines them) but does
 * not run yet: a start refuses them rather than run the guest without its
 * display. */
static int
xvDomainStartCheck(virDomainObj *vm)
{
    if (virDomainObjIsActive(vm)) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("domain '%s' is already running"), vm->def->name);
        return -1;
    }
    if (vm->def->ngraphics > 0) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("domain '%s': <graphics type='%s'> is not run by this driver yet"),
                       vm->def->name,
                       virDomainGraphicsTypeToString(vm->def->graphics[0]->type));
        return -1;
    }
    return 0;
}

/* The core's part of a start, the long one, with the domain unlocked so
 * that queries go on meanwhile: create the domain, pin its vcpus before
 * they first run, and unpause it unless @startPaused.  @created_r and
 * @domid_r are set once the domain exists, even when a later step
 * fails. */
static int
xvDomainStartCore(xvDriver *driver, virDomainObj *vm,
                  const xlite_domain_config *cfg, GArray *pins,
                  const char *restorePath, bool startPaused,
                  bool *created_r, uint32_t *domid_r)
{
    uint32_t domid = 0;
    size_t i;
    int rc;

    virObjectUnlock(vm);
    if (restorePath)
        rc = xlite_domain_restore(driver->ctx, restorePath, cfg, &domid, NULL);
    else
        rc = xlite_domain_create(driver->ctx, cfg, &domid, NULL);
    if (rc == 0) {
        *created_r = true;
        *domid_r = domid;
    }
    for (i = 0; rc == 0 && i < pins->len; i++) {
        xvVcpuPin *pin = &g_array_index(pins, xvVcpuPin, i);

        rc = xlite_domain_vcpu_set_affinity(driver->ctx, domid, pin->vcpu,
                                            pin->map, pin->len);
    }
    if (rc == 0 && !startPaused)
        rc = xlite_domain_unpause(driver->ctx, domid);
    virObjectLock(vm);

    if (rc < 0) {
        if (restorePath)
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("failed to restore domain '%s': %s"),
                           vm->def->name, xlite_errmsg());
        else
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("failed to start domain '%s': %s"),
                           vm->def->name, xlite_errmsg());
        return -1;
    }
    return 0;
}

/* The domain runs: what the driver learns and records about it. */
static int
xvDomainStartFinish(xvDriver *driver, virDomainObj *vm, uint32_t domid,
                    bool startPaused, virDomainRunningReason reason)
{
    size_t i;

    vm->def->id = domid;
    xvDomainRecordConsoles(driver, vm);
    xvDomainNameDevices(driver, vm);
    for (i = 0; i < vm->def->ndisks; i++)
        xvBlockChainUpdate(vm->def->disks[i]);
    if (xvDomainEnableEvents(driver, vm) < 0 ||
        xvDomainOpenChannels(driver, vm, false) < 0)
        return -1;
    if (startPaused)
        virDomainObjSetState(vm, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER);
    else
        virDomainObjSetState(vm, VIR_DOMAIN_RUNNING, reason);
    return virDomainObjSave(vm, driver->xmlopt, driver->config->runDir);
}

/* Undoes a start that failed: the domain, if the core created it, and
 * the driver's state of a running domain; the first error stays the one
 * reported. */
static void
xvDomainStartUndo(xvDriver *driver, virDomainObj *vm, bool created,
                  uint32_t domid)
{
    if (created) {
        virErrorPtr saved;

        virErrorPreserveLast(&saved);
        virObjectUnlock(vm);
        if (xlite_domain_destroy(driver->ctx, domid, NULL) < 0)
            VIR_WARN("cannot destroy half-started domain %u: %s", domid,
                     xlite_errmsg());
        virObjectLock(vm);
        virErrorRestore(&saved);
    }
    xvDomainCleanupStopped(driver, vm, VIR_DOMAIN_SHUTOFF_FAILED);
}

int
xvDomainStartRestore(xvDriver *driver, virDomainObj *vm,
                     const char *restorePath, bool startPaused,
                     virDomainRunningReason reason)
{
    xlite_domain_config cfg;
    uint32_t domid = 0;
    bool created = false;
    VIR_AUTOCLOSE mark = -1;
    g_autoptr(GArray) pins = NULL;
    int rc;

    if (xvDomainStartCheck(vm) < 0)
        return -1;

    /* The running instance keeps its own copy of the definition, so that
     * live changes never touch the persistent one; its interfaces on
     * libvirt networks get their ports there, its volume disks their
     * paths (libxl_network.c). */
    if (virDomainObjSetDefTransient(driver->xmlopt, vm, NULL) < 0)
        return -1;
    if (xvNetworkPrepareDomain(driver, vm->def) < 0) {
        virDomainObjRemoveTransientDef(vm);
        return -1;
    }
    xlite_domain_config_init(&cfg);
    if (xvDomainConfigFromDef(vm->def, &cfg,
                              XV_CONFIG_START |
                              (driver->embedded ? XV_CONFIG_NO_NETWORK_DRIVER : 0)) < 0 ||
        (mark = xvDomainStartMarkSet(driver, vm)) < 0) {
        xlite_domain_config_dispose(&cfg);
        xvNetworkReleaseDomain(vm->def);
        virDomainObjRemoveTransientDef(vm);
        return -1;
    }
    pins = xvDomainVcpuPins(vm->def);
    rc = xvDomainStartCore(driver, vm, &cfg, pins, restorePath, startPaused,
                           &created, &domid);
    xlite_domain_config_dispose(&cfg);

    if (rc < 0 ||
        xvDomainStartFinish(driver, vm, domid, startPaused, reason) < 0) {
        xvDomainStartUndo(driver, vm, created, domid);
        xvDomainStartMarkClear(driver, vm, &mark);
        return -1;
    }
    xvDomainStartMarkClear(driver, vm, &mark);
    return 0;
}

int
xvDomainStart(xvDriver *driver, virDomainObj *vm, bool startPaused,
              virDomainRunningReason reason)
{
    g_autofree char *managed = xvDomainManagedSavePath(driver, vm);
    bool paused = false;

    if (!virFileExists(managed))
        return xvDomainStartRestore(driver, vm, NULL, startPaused, reason);
    /* The machine the image holds, which the definition may no longer
     * describe exactly: it runs, the definition stays for the next boot. */
    if (xvDomainManagedSaveAssignDef(driver, vm, managed, &paused) < 0 ||
        xvDomainStartRestore(driver, vm, managed, startPaused || paused,
                             VIR_DOMAIN_RUNNING_RESTORED) < 0) {
        /* Back to the definition, whichever step failed. */
        virDomainObjRemoveTransientDef(vm);
        return -1;
    }
    if (unlink(managed) < 0 && errno != ENOENT)
        VIR_WARN("cannot remove managed save image '%s': %s", managed,
                 g_strerror(errno));
    vm->hasManagedSave = false;
    return 0;
}

/*
 * Destroys in progress
 *
 * The core's destroy pauses the domain and removes its xenstore home
 * before the hypervisor lets it go.  A driver that dies in between leaves
 * a paused domain without a name, which the next one would reconnect to
 * as paused.  So a destroy holds a mark like a start's (a locked file
 * named after the uuid, ".destroying") while the core works, and the next
 * driver that finds a running domain with a mark nobody holds finishes
 * its destroy.
 */

/* Returns the locked mark's fd, or -1: a destroy goes on without one. */
static int
xvDomainDestroyMarkSet(xvDriver *driver, virDomainObj *vm)
{
    g_autofree char *path = xvDomainMarkPath(driver, vm->def->uuid,
                                             "destroying");
    VIR_AUTOCLOSE fd = -1;
    int ret;

    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 ||
        flock(fd, LOCK_EX | LOCK_NB) < 0) {
        VIR_WARN("cannot mark the destroy of domain '%s' in '%s': %s",
                 vm->def->name, path, g_strerror(errno));
        return -1;
    }
    ret = fd;
    fd = -1;
    return ret;
}

static void
xvDomainDestroyMarkClear(xvDriver *driver, virDomainObj *vm, int *fd)
{
    g_autofree char *path = xvDomainMarkPath(driver, vm->def->uuid,
                                             "destroying");

    if (*fd < 0)
        return;
    if (unlink(path) < 0 && errno != ENOENT)
        VIR_WARN("cannot remove '%s': %s", path, g_strerror(errno));
    VIR_FORCE_CLOSE(*fd);
}

/* Was a destroy of @vm cut short?  Removes the mark if so. */
static bool
xvDomainDestroyAbandoned(xvDriver *driver, virDomainObj *vm)
{
    g_autofree char *path = xvDomainMarkPath(driver, vm->def->uuid,
                                             "destroying");
    VIR_AUTOCLOSE fd = -1;

    if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
        return false;
    /* Held: that destroy is alive in another process. */
    if (flock(fd, LOCK_EX | LOCK_NB) < 0 ||
        !xvDomainStartMarkCurrent(fd, path))
        return false;
    if (unlink(path) < 0 && errno != ENOENT)
        VIR_WARN("cannot remove '%s': %s", path, g_strerror(errno));
    return true;
}

/* Destroy the hypervisor domain; the domain object is left as it is for
 * the caller to mark stopped or restart. */
static int
xvDomainDestroyCore(xvDriver *driver, virDomainObj *vm)
{
    uint32_t domid = vm->def->id;
    VIR_AUTOCLOSE mark = xvDomainDestroyMarkSet(driver, vm);
    int rc;

    /* The watch stays on during the destroy: the death it reports is
     * handled once our job ends, and finds the domain stopped (or running
     * again under another domid).  A destroy that fails leaves the domain
     * watched: turning the watch off and on again would lose it for good
     * when the host cannot be asked (xensimd gone), and the domain would
     * stay "running" after the host came back without it. */
    virObjectUnlock(vm);
    rc = xlite_domain_destroy(driver->ctx, domid, NULL);
    virObjectLock(vm);
    xvDomainDestroyMarkClear(driver, vm, &mark);
    if (rc < 0 && rc != -ESRCH) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("failed to destroy domain '%s': %s"),
                       vm->def->name, xlite_errmsg());
        return -1;
    }
    xvDomainDisableEvents(driver, vm);
    return 0;
}

int
xvDomainDestroyAndCleanup(xvDriver *driver, virDomainObj *vm,
                          virDomainShutoffReason reason,
                          virDomainEventStoppedDetailType detail)
{
    virObjectEvent *event;

    if (xvDomainDestroyCore(driver, vm) < 0)
        return -1;

    event = virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_STOPPED,
                                              detail);
    xvDomainCleanupStopped(driver, vm, reason);
    virObjectEventStateQueue(driver->domainEventState, event);
    if (!vm->persistent)
        virDomainObjListRemove(driver->domains, vm);
    return 0;
}

/* ---------------------------------------------------------------------
 * The core's domain events
 *
 * The core calls xvDomainEventOccurs from any thread, with none of its
 * locks held.  It only triages and hands each event to its domain's queue
 * (one per domid, in driver->eventQueues).  A queue with events is
 * drained by one thread of the worker pool at a time, so a domain's events
 * are handled in the order they came, and a domain whose job is held for
 * long (a slow start, a destroy waiting for a backend) delays only its own
 * events.  Handling takes the domain's job like any API call; a job that
 * cannot be had in time is waited for again, never given up on: a guest
 * that shut down while a long call held its job still shows shut off once
 * the job is free.  Only an event for a domain the driver no longer runs
 * under that domid is dropped.
 */

/* How many domains' events are handled at once: past that, a domain's
 * events wait for a thread as well as for their job. */
#define XV_EVENT_THREADS 16

typedef struct {
    xvDriver *driver;
    uint32_t domid;
    GQueue events;              /* xlite_event *, oldest first */
} xvDomainEventQueue;

static void
xvDomainEventQueueFree(xvDomainEventQueue *queue)
{
    xlite_event *ev;

    while ((ev = g_queue_pop_head(&queue->events)))
        xlite_event_free(ev);
    g_free(queue);
}

static xlite_action
xvDomainActionFor(virDomainObj *vm, xlite_shutdown_reason reason)
{
    virDomainLifecycleAction action;

    switch (reason) {
    case XLITE_SHUTDOWN_POWEROFF:
        action = vm->def->onPoweroff;
        break;
    case XLITE_SHUTDOWN_REBOOT:
        action = vm->def->onReboot;
        break;
    case XLITE_SHUTDOWN_CRASH:
        action = vm->def->onCrash;
        break;
    case XLITE_SHUTDOWN_WATCHDOG:
    case XLITE_SHUTDOWN_SUSPEND:
    case XLITE_SHUTDOWN_SOFT_RESET:
    default:
        return XLITE_ACTION_DESTROY;
    }
    switch (action) {
    case VIR_DOMAIN_LIFECYCLE_ACTION_RESTART:
    case VIR_DOMAIN_LIFECYCLE_ACTION_RESTART_RENAME:
    case VIR_DOMAIN_LIFECYCLE_ACTION_COREDUMP_RESTART:
        return XLITE_ACTION_RESTART;
    case VIR_DOMAIN_LIFECYCLE_ACTION_PRESERVE:
        return XLITE_ACTION_PRESERVE;
    case VIR_DOMAIN_LIFECYCLE_ACTION_DESTROY:
    case VIR_DOMAIN_LIFECYCLE_ACTION_COREDUMP_DESTROY:
    case VIR_DOMAIN_LIFECYCLE_ACTION_LAST:
    default:
        return XLITE_ACTION_DESTROY;
    }
}

static void
xvDomainHandleShutdown(xvDriver *driver, virDomainObj *vm,
                       xlite_shutdown_reason reason)
{
    bool crashed = reason == XLITE_SHUTDOWN_CRASH;
    virObjectEvent *event = NULL;

    switch (xvDomainActionFor(vm, reason)) {
    case XLITE_ACTION_PRESERVE:
        virDomainObjSetState(vm, crashed ? VIR_DOMAIN_CRASHED : VIR_DOMAIN_SHUTDOWN,
                             crashed ? VIR_DOMAIN_CRASHED_PANICKED
                                     : VIR_DOMAIN_SHUTDOWN_USER);
        event = crashed
            ? virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_CRASHED,
                                                VIR_DOMAIN_EVENT_CRASHED_PANICKED)
            : virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_SHUTDOWN,
                                                VIR_DOMAIN_EVENT_SHUTDOWN_GUEST);
        virObjectEventStateQueue(driver->domainEventState, event);
        ignore_value(virDomainObjSave(vm, driver->xmlopt, driver->config->runDir));
        return;

    case XLITE_ACTION_RESTART:
        if (reason == XLITE_SHUTDOWN_REBOOT) {
            event = virDomainEventRebootNewFromObj(vm);
        } else {
            event = virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_STOPPED,
                                                      VIR_DOMAIN_EVENT_STOPPED_CRASHED);
        }
        if (xvDomainDestroyCore(driver, vm) < 0) {
            virObjectUnref(event);
            return;
        }
        /* Restarted with the same live definition, under a new domid. */
        vm->def->id = -1;
        virObjectEventStateQueue(driver->domainEventState, event);
        if (xvDomainStart(driver, vm, false,
                          crashed ? VIR_DOMAIN_RUNNING_CRASHED
                                  : VIR_DOMAIN_RUNNING_BOOTED) < 0) {
            VIR_WARN("cannot restart domain '%s': %s", vm->def->name,
                     virGetLastErrorMessage());
            if (!vm->persistent)
                virDomainObjListRemove(driver->domains, vm);
            return;
        }
        if (reason != XLITE_SHUTDOWN_REBOOT)
            virObjectEventStateQueue(driver->domainEventState,
                                     virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_STARTED,
                                                                       VIR_DOMAIN_EVENT_STARTED_BOOTED));
        return;

    default:
        if (!crashed)
            virObjectEventStateQueue(driver->domainEventState,
                                     virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_SHUTDOWN,
                                                                       VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED));
        /* The guest is off; its teardown (backends, hotplug scripts:
         * seconds on real Xen) runs with the domain unlocked, shown as "in
         * shutdown" (or "crashed"), as libvirt's QEMU driver shows a guest
         * whose QEMU has not exited yet.  "shut off" is said only once nothing of the
         * domain holds its disks and NICs: a client that then reclaims
         * them (Nova disconnecting a volume) cannot race the backends.
         * libvirt's libxl driver says "shut off" before its teardown. */
        if (crashed)
            virDomainObjSetState(vm, VIR_DOMAIN_CRASHED, VIR_DOMAIN_CRASHED_PANICKED);
        else
            virDomainObjSetState(vm, VIR_DOMAIN_SHUTDOWN, VIR_DOMAIN_SHUTDOWN_USER);
        ignore_value(xvDomainDestroyAndCleanup(driver, vm,
                                               crashed ? VIR_DOMAIN_SHUTOFF_CRASHED
                                                       : VIR_DOMAIN_SHUTOFF_SHUTDOWN,
                                               crashed ? VIR_DOMAIN_EVENT_STOPPED_CRASHED
                                                       : VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN));
        return;
    }
}

/* The job of the domain that has the event's domid, or NULL if no domain
 * runs under it (any more).  A job that is busy past libvirt's wait is
 * waited for again, as long as the driver runs. */
static virDomainObj *
xvDomainEventBeginJob(xvDriver *driver, uint32_t domid)
{
    virDomainObj *vm;

    if (!(vm = virDomainObjListFindByID(driver->domains, domid)))
        return NULL;
    while (virDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0) {
        bool running;

        if (vm->removing) {
            /* A transient domain whose destroy removes it: that call
             * handles its end (every embedded-mode destroy comes here). */
            VIR_DEBUG("domain '%s': event for domid %u: the domain is "
                      "being removed", vm->def->name, domid);
            virResetLastError();
            virDomainObjEndAPI(&vm);
            return NULL;
        }
        if (virGetLastErrorCode() != VIR_ERR_OPERATION_TIMEOUT) {
            VIR_WARN("domain '%s': event for domid %u not handled: %s",
                     vm->def->name, domid, virGetLastErrorMessage());
            virDomainObjEndAPI(&vm);
            return NULL;
        }
        g_mutex_lock(&driver->eventWorkerLock);
        running = driver->eventWorker != NULL;
        g_mutex_unlock(&driver->eventWorkerLock);
        if (!running) {
            virDomainObjEndAPI(&vm);
            return NULL;
        }
        VIR_INFO("domain '%s': an event waits for the job held by another call",
                 vm->def->name);
    }
    virResetLastError();
    return vm;
}

static void
xvDomainEventHandle(xvDriver *driver, const xlite_event *ev)
{
    virDomainObj *vm;

    if (ev->type == XLITE_EVENT_CHANNEL_STATE) {
        /* A state, as the balloon's figure: no job (libxl_agent.c). */
        xvAgentChannelEvent(driver, ev);
        return;
    }
    if (ev->type == XLITE_EVENT_BALLOON_CHANGE) {
        /* A figure, not a change of state: no job (libxl_stats.c). */
        xvDomainBalloonChanged(driver, ev);
        return;
    }
    if (!(vm = xvDomainEventBeginJob(driver, ev->domid)))
        return;

    /* The domain may have been stopped, or restarted under another domid,
     * while the event waited for the job. */
    if (!virDomainObjIsActive(vm) || (uint32_t)vm->def->id != ev->domid)
        goto endjob;

    if (ev->type == XLITE_EVENT_DOMAIN_SHUTDOWN) {
        xvDomainHandleShutdown(driver, vm, ev->u.domain_shutdown.reason);
    } else if (ev->type == XLITE_EVENT_DISK_EJECT) {
        g_autofree char *vdev = g_strndup(ev->u.disk_eject.vdev,
                                          sizeof(ev->u.disk_eject.vdev));

        xvDomainGuestEject(driver, vm, vdev);
    } else if (ev->type == XLITE_EVENT_DOMAIN_DEATH) {
        /* Gone behind our back (destroyed by another tool, or the host
         * lost it): it is shut off now. */
        virObjectEvent *event =
            virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_STOPPED,
                                              VIR_DOMAIN_EVENT_STOPPED_DESTROYED);
        int rc;

        /* Nobody ran our destroy: its xenstore nodes and stored config
         * (of the old host, if the host restarted) are still there. */
        rc = xlite_domain_forget(driver->ctx, ev->domid, vm->def->uuid);
        if (rc < 0 && rc != -EBUSY && rc != -EEXIST)
            VIR_WARN("cannot remove what domain '%s' (domid %u) left on the host: %s",
                     vm->def->name, ev->domid, xlite_errmsg());
        xvDomainCleanupStopped(driver, vm, VIR_DOMAIN_SHUTOFF_DESTROYED);
        virObjectEventStateQueue(driver->domainEventState, event);
        if (!vm->persistent)
            virDomainObjListRemove(driver->domains, vm);
    }

 endjob:
    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
}

/* A pool thread drains one domain's queue; the queue goes away, under the
 * lock, the moment it is found empty, so a later event makes a new one. */
static void
xvDomainEventWorker(gpointer data, gpointer user G_GNUC_UNUSED)
{
    xvDomainEventQueue *queue = data;
    xvDriver *driver = queue->driver;

    for (;;) {
        xlite_event *ev;

        g_mutex_lock(&driver->eventWorkerLock);
        if (!(ev = g_queue_pop_head(&queue->events))) {
            g_hash_table_remove(driver->eventQueues,
                                GUINT_TO_POINTER(queue->domid));
            g_mutex_unlock(&driver->eventWorkerLock);
            xvDomainEventQueueFree(queue);
            return;
        }
        g_mutex_unlock(&driver->eventWorkerLock);
        xvDomainEventHandle(driver, ev);
        xlite_event_free(ev);
    }
}

/* Block-job events, one at a time in the order they came. */
static void
xvBlockJobEventWorker(gpointer data, gpointer user)
{
    xlite_event *ev = data;

    xvBlockJobHandleEvent(user, ev);
    xlite_event_free(ev);
}

static void
xvDomainEventOccurs(void *user, xlite_event *ev)
{
    xvDriver *driver = user;
    xvDomainEventQueue *queue;

    if (ev->type <= 0 || ev->type > XLITE_EVENT_LAST ||
        !(XLITE_EVENTMASK(ev->type) &
          (XV_DOMAIN_EVENTS | XLITE_EVENTMASK(XLITE_EVENT_CHANNEL_STATE)))) {
        xlite_event_free(ev);
        return;
    }
    g_mutex_lock(&driver->eventWorkerLock);
    if (!driver->eventWorker) {
        /* The driver is stopping: nobody is left to act on it. */
        g_mutex_unlock(&driver->eventWorkerLock);
        xlite_event_free(ev);
        return;
    }
    if (ev->type == XLITE_EVENT_BLOCK_JOB) {
        /* Not behind the domain's other events: those wait for the job,
         * which a synchronous abort holds while it waits for this. */
        g_thread_pool_push(driver->blockJobWorker, ev, NULL);
        g_mutex_unlock(&driver->eventWorkerLock);
        return;
    }
    if (!(queue = g_hash_table_lookup(driver->eventQueues,
                                      GUINT_TO_POINTER(ev->domid)))) {
        queue = g_new0(xvDomainEventQueue, 1);
        queue->driver = driver;
        queue->domid = ev->domid;
        g_queue_init(&queue->events);
        g_hash_table_insert(driver->eventQueues,
                            GUINT_TO_POINTER(ev->domid), queue);
        g_thread_pool_push(driver->eventWorker, queue, NULL);
    }
    g_queue_push_tail(&queue->events, ev);
    g_mutex_unlock(&driver->eventWorkerLock);
}

void
xvDomainEventsStop(xvDriver *driver)
{
    GThreadPool *worker;

    GThreadPool *blockJobWorker;

    g_mutex_lock(&driver->eventWorkerLock);
    worker = g_steal_pointer(&driver->eventWorker);
    blockJobWorker = g_steal_pointer(&driver->blockJobWorker);
    g_mutex_unlock(&driver->eventWorkerLock);
    /* Finish the queued events: they may still call into the core, which
     * is freed only after this.  Each queue frees itself once drained. */
    if (worker)
        g_thread_pool_free(worker, FALSE, TRUE);
    if (blockJobWorker)
        g_thread_pool_free(blockJobWorker, FALSE, TRUE);
    g_clear_pointer(&driver->eventQueues, g_hash_table_unref);
}

int
xvDomainEventsInit(xvDriver *driver)
{
    g_autoptr(GError) err = NULL;

    driver->eventQueues = g_hash_table_new(NULL, NULL);
    if (!(driver->eventWorker = g_thread_pool_new(xvDomainEventWorker, NULL,
                                                  XV_EVENT_THREADS, FALSE,
                                                  &err))) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("cannot start the domain event worker: %s"),
                       err->message);
        return -1;
    }
    if (!(driver->blockJobWorker = g_thread_pool_new(xvBlockJobEventWorker,
                                                     driver, 1, FALSE,
                                                     &err))) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("cannot start the block job event worker: %s"),
                       err->message);
        return -1;
    }
    if (xlite_event_register_callbacks(driver->ctx,
                                       XV_DOMAIN_EVENTS |
                                       XLITE_EVENTMASK(XLITE_EVENT_CHANNEL_STATE),
                                       xvDomainEventOccurs, driver, NULL) < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("cannot register for domain events: %s"),
                       xlite_errmsg());
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * Reconnecting after the driver starts
 *
 * The simulated host (and a real one) outlives the driver: a libvirtd
 * restart, or the next virsh process in embedded mode, finds its running
 * domains from their saved status and asks the hypervisor whether each is
 * still the same domain (domid and uuid).  One that is gone is reported
 * shut off, with the stop event.
 */

static int
xvDomainCollect(virDomainObj *vm, void *opaque)
{
    g_ptr_array_add(opaque, virObjectRef(vm));
    return 0;
}

/* Every domain object, referenced, outside the list's lock. */
static GPtrArray *
xvDomainListAll(xvDriver *driver)
{
    GPtrArray *vms = g_ptr_array_new_with_free_func(virObjectUnref);

    virDomainObjListForEach(driver->domains, false, xvDomainCollect, vms);
    return vms;
}

static void
xvDomainReconnect(xvDriver *driver, virDomainObj *vm)
{
    xlite_dominfo info;
    virObjectEvent *event;
    int rc;

    rc = xlite_domain_info(driver->ctx, vm->def->id, &info);
    if (rc < 0 && rc != -ESRCH) {
        /* The host did not answer: that says nothing of the domain.  It is
         * kept as its status says, not reported shut off (a start would
         * then fail on its uuid, or run it twice). */
        VIR_ERROR(_("cannot ask the host about domain '%s' (domid %d), keeping it as it was: %s"),
                  vm->def->name, vm->def->id, xlite_errmsg());
        return;
    }
    if (rc == 0 && memcmp(info.uuid, vm->def->uuid, VIR_UUID_BUFLEN) == 0 &&
        !info.dying && xvDomainDestroyAbandoned(driver, vm)) {
        VIR_WARN("domain '%s' (domid %d) was left half-destroyed by a driver that stopped: destroying it",
                 vm->def->name, vm->def->id);
        rc = xlite_domain_destroy(driver->ctx, vm->def->id, NULL);
        if (rc < 0 && rc != -ESRCH) {
            VIR_ERROR(_("cannot destroy half-destroyed domain '%s' (domid %d): %s"),
                      vm->def->name, vm->def->id, xlite_errmsg());
            return;
        }
        rc = -ESRCH;
    }
    if (rc == 0 && memcmp(info.uuid, vm->def->uuid, VIR_UUID_BUFLEN) == 0 &&
        !info.dying) {
        if (info.paused)
            virDomainObjSetState(vm, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_UNKNOWN);
        else if (virDomainObjGetState(vm, NULL) == VIR_DOMAIN_PAUSED)
            virDomainObjSetState(vm, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_UNPAUSED);
        vm->def->mem.cur_balloon = info.cur_memkb;
        if (info.shutdown) {
            /* It shut down while no driver was watching: act on it now. */
            if (virDomainObjBeginJob(vm, VIR_JOB_MODIFY) == 0) {
                xvDomainHandleShutdown(driver, vm, info.shutdown_reason);
                virDomainObjEndJob(vm);
            }
            return;
        }
        if (xvDomainSyncDevices(driver, vm) &&
            virDomainObjSave(vm, driver->xmlopt, driver->config->runDir) < 0)
            VIR_WARN("domain '%s': cannot save its status: %s", vm->def->name,
                     virGetLastErrorMessage());
        /* Running, whether or not it can be watched: a domain that runs is
         * never reported shut off. */
        if (xvDomainEnableEvents(driver, vm) < 0)
            VIR_ERROR(_("domain '%s' (domid %d) runs, but its shutdown will not be seen: %s"),
                      vm->def->name, vm->def->id, virGetLastErrorMessage());
        else
            VIR_INFO("reconnected to domain '%s' (domid %d)", vm->def->name,
                     vm->def->id);
        xvBlockJobReconnect(driver, vm);
        xvNetworkReclaimDomain(vm->def);
        ignore_value(xvDomainOpenChannels(driver, vm, true));
        return;
    }

    VIR_INFO("domain '%s' (domid %d) is gone from the host", vm->def->name,
             vm->def->id);
    /* A driver that died in the middle of its destroy, after the host let
     * the domain go, left its xenstore nodes and stored config, and its
     * mark. */
    ignore_value(xvDomainDestroyAbandoned(driver, vm));
    rc = xlite_domain_forget(driver->ctx, vm->def->id, vm->def->uuid);
    if (rc < 0 && rc != -EBUSY)
        VIR_WARN("cannot remove what domain '%s' (domid %d) left on the host: %s",
                 vm->def->name, vm->def->id, xlite_errmsg());
    event = virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_STOPPED,
                                              VIR_DOMAIN_EVENT_STOPPED_DESTROYED);
    xvDomainCleanupStopped(driver, vm, VIR_DOMAIN_SHUTOFF_DESTROYED);
    virObjectEventStateQueue(driver->domainEventState, event);
    if (!vm->persistent)
        virDomainObjListRemove(driver->domains, vm);
}

void
xvDomainReconnectAll(xvDriver *driver)
{
    g_autoptr(GPtrArray) vms = xvDomainListAll(driver);
    size_t i;

    for (i = 0; i < vms->len; i++) {
        virDomainObj *vm = vms->pdata[i];

        virObjectLock(vm);
        if (virDomainObjIsActive(vm))
            xvDomainReconnect(driver, vm);
        virObjectUnlock(vm);
    }
}

void
xvDomainAutostartAll(xvDriver *driver)
{
    g_autoptr(GPtrArray) vms = xvDomainListAll(driver);
    size_t i;

    for (i = 0; i < vms->len; i++) {
        virDomainObj *vm = vms->pdata[i];
        virObjectEvent *event = NULL;

        virObjectLock(vm);
        if (vm->autostart && !virDomainObjIsActive(vm) &&
            virDomainObjBeginJob(vm, VIR_JOB_MODIFY) == 0) {
            if (xvDomainStart(driver, vm, false, VIR_DOMAIN_RUNNING_BOOTED) < 0)
                VIR_ERROR(_("failed to autostart domain '%s': %s"),
                          vm->def->name, virGetLastErrorMessage());
            else
                event = virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_STARTED,
                                                          VIR_DOMAIN_EVENT_STARTED_BOOTED);
            virDomainObjEndJob(vm);
        }
        virObjectUnlock(vm);
        virObjectEventStateQueue(driver->domainEventState, event);
    }
}
