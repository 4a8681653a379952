/*
 * libxl_conf.c: the driver's configuration, and domain definitions in the
 * core's terms
 *
 * It holds the driver's paths and xenvirt.conf (which hypervisor backend,
 * where the simulated host runs), the host's version as libvirt numbers
 * it, and the mapping of a virDomainDef (and of one device, for attach and
 * detach) onto the core's xlite_domain_config, refusing what the core
 * cannot do.  The golden tests in tests/domconfigdata/ cover that mapping.
 *
 * It holds no mapping back from the core (the driver keeps its own XML),
 * no native format (xen_common.c and the files beside it), and no domain's
 * state (libxl_domain.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <sys/socket.h>
#include <sys/un.h>

#include "libxl_conf.h"

#include "configmake.h"
#include "viralloc.h"
#include "virconf.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "virutil.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.libxl_conf");

void
xvDriverConfigFree(xvDriverConfig *cfg)
{
    if (!cfg)
        return;
    g_free(cfg->root);
    g_free(cfg->configDir);
    g_free(cfg->domainConfigDir);
    g_free(cfg->autostartDir);
    g_free(cfg->stateDir);
    g_free(cfg->runDir);
    g_free(cfg->logDir);
    g_free(cfg->simRundir);
    g_free(cfg);
}

/* The hypervisor a host offers by default: real Xen on a dom0 whose
 * /proc/xen/capabilities says control_d, the simulated host elsewhere. */
static xlite_backend_kind
xvDefaultBackend(void)
{
    g_autofree char *caps = NULL;

    if (virFileReadAllQuiet("/proc/xen/capabilities", 256, &caps) >= 0 &&
        strstr(caps, "control_d"))
        return XLITE_BACKEND_XEN;
    return XLITE_BACKEND_SIM;
}

xvDriverConfig *
xvDriverConfigNew(bool privileged, const char *root)
{
    g_autoptr(xvDriverConfig) cfg = g_new0(xvDriverConfig, 1);

    if (root) {
        /* Embedded: every path under root, with no "libvirt" component. */
        cfg->root = g_strdup(root);
        cfg->configDir = g_strdup_printf("%s/etc", root);
        cfg->domainConfigDir = g_strdup_printf("%s/etc/xenvirt", root);
        cfg->stateDir = g_strdup_printf("%s/var/lib/xenvirt", root);
        cfg->runDir = g_strdup_printf("%s/run/xenvirt", root);
        cfg->logDir = g_strdup_printf("%s/log/xenvirt", root);
    } else if (privileged) {
        cfg->configDir = g_strdup(SYSCONFDIR "/libvirt");
        cfg->domainConfigDir = g_strdup(SYSCONFDIR "/libvirt/xenvirt");
        cfg->stateDir = g_strdup(LOCALSTATEDIR "/lib/libvirt/xenvirt");
        cfg->runDir = g_strdup(RUNSTATEDIR "/libvirt/xenvirt");
        cfg->logDir = g_strdup(LOCALSTATEDIR "/log/libvirt/xenvirt");
    } else {
        g_autofree char *configBase = virGetUserConfigDirectory();
        g_autofree char *cacheBase = virGetUserCacheDirectory();
        g_autofree char *runBase = virGetUserRuntimeDirectory();

        cfg->configDir = g_strdup(configBase);
        cfg->domainConfigDir = g_strdup_printf("%s/xenvirt", configBase);
        cfg->stateDir = g_strdup_printf("%s/xenvirt/lib", cacheBase);
        cfg->runDir = g_strdup_printf("%s/xenvirt", runBase);
        cfg->logDir = g_strdup_printf("%s/xenvirt/log", cacheBase);
    }

    cfg->autostartDir = g_strdup_printf("%s/autostart", cfg->domainConfigDir);
    cfg->backend = xvDefaultBackend();
    cfg->simRundir = g_strdup_printf("%s/xensim", cfg->runDir);
    return g_steal_pointer(&cfg);
}

static int
xvParseBackend(const char *name, xlite_backend_kind *kind)
{
    if (STREQ(name, "sim"))
        *kind = XLITE_BACKEND_SIM;
    else if (STREQ(name, "xen"))
        *kind = XLITE_BACKEND_XEN;
    else
        return -1;
    return 0;
}

/* Read xenvirt.conf if it exists; a missing file means the defaults. */
int
xvDriverConfigLoadFile(xvDriverConfig *cfg, const char *path)
{
    g_autoptr(virConf) conf = NULL;
    g_autofree char *hypervisor = NULL;
    g_autofree char *simRundir = NULL;

    if (!virFileExists(path)) {
        VIR_DEBUG("no driver config file '%s', using defaults", path);
        return 0;
    }

    if (!(conf = virConfReadFile(path, 0)))
        return -1;

    if (virConfGetValueString(conf, "hypervisor", &hypervisor) < 0)
        return -1;
    if (hypervisor && xvParseBackend(hypervisor, &cfg->backend) < 0) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("unknown hypervisor '%s' in '%s': expected \"sim\" or \"xen\""),
                       hypervisor, path);
        return -1;
    }

    if (virConfGetValueString(conf, "sim_rundir", &simRundir) < 0)
        return -1;
    if (simRundir) {
        if (!g_path_is_absolute(simRundir)) {
            virReportError(VIR_ERR_CONF_SYNTAX,
                           _("sim_rundir '%s' in '%s' must be an absolute path"),
                           simRundir, path);
            return -1;
        }
        g_free(cfg->simRundir);
        cfg->simRundir = g_steal_pointer(&simRundir);
    }
    return 0;
}

/*
 * The simulated host makes unix sockets below its directory, the deepest
 * being a guest's xenstore endpoint, and a socket's name holds at most
 * 107 bytes.  Below a deep root (embedded mode takes any absolute root)
 * they could not be named, so the default directory then moves to a short
 * one of its own under the runtime directory, named by a hash of the
 * directory it replaces: one root always finds the same host, two roots
 * never share one.  A link at the usual place leads there, so xensimctl
 * and an administrator find the host where they expect it.  A directory
 * xenvirt.conf names is the administrator's choice and is never moved.
 */
#define XV_SIM_DEEPEST_SOCKET "/xenstored/domain/32767.sock"

static size_t
xvSimRundirMax(void)
{
    return sizeof(((struct sockaddr_un *)NULL)->sun_path) -
           strlen(XV_SIM_DEEPEST_SOCKET) - 1;
}

/* @link names @target, whatever it named before; a real directory there
 * is left alone (the host is reached by the short name anyway). */
static void
xvSimRundirLink(const char *link, const char *target)
{
    g_autofree char *old = g_file_read_link(link, NULL);

    if (old && STREQ(old, target))
        return;
    if (old)
        unlink(link);
    if (symlink(target, link) < 0)
        VIR_WARN("cannot link '%s' to the simulated host's directory '%s': %s",
                 link, target, g_strerror(errno));
}

int
xvDriverConfigPlaceSimHost(xvDriverConfig *cfg, bool privileged)
{
    g_autofree char *usual = g_strdup_printf("%s/xensim", cfg->runDir);
    g_autofree char *hash = NULL;
    g_autofree char *shortDir = NULL;
    const char *base;

    if (cfg->backend != XLITE_BACKEND_SIM ||
        strlen(cfg->simRundir) <= xvSimRundirMax())
        return 0;

    if (STRNEQ(cfg->simRundir, usual)) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("the simulated host's directory '%s' is too long for its unix sockets (at most %zu bytes)"),
                       cfg->simRundir, xvSimRundirMax());
        return -1;
    }

    hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, usual, -1);
    hash[16] = '\0';
    base = privileged ? RUNSTATEDIR : g_get_user_runtime_dir();
    shortDir = g_strdup_printf("%s/xenvirt-sim/%s", base, hash);
    if (strlen(shortDir) > xvSimRundirMax()) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("the simulated host's directory '%s' is too long for its unix sockets (at most %zu bytes)"),
                       shortDir, xvSimRundirMax());
        return -1;
    }
    if (g_mkdir_with_parents(shortDir, 0700) < 0 ||
        g_mkdir_with_parents(cfg->runDir, 0700) < 0) {
        virReportSystemError(errno, _("cannot create directory '%s'"),
                             shortDir);
        return -1;
    }
    xvSimRundirLink(usual, shortDir);

    VIR_DEBUG("simulated host directory '%s' (for '%s')", shortDir, usual);
    g_free(cfg->simRundir);
    cfg->simRundir = g_steal_pointer(&shortDir);
    return 0;
}

/* libvirt's hypervisor version number: major * 1,000,000 + minor * 1,000
 * + micro, where Xen's "extra" version (".7", ".0-rc") gives the micro. */
unsigned long
xvHostVersion(const xlite_host_info *info)
{
    unsigned long micro = 0;
    const char *p = info->xen_extra;

    if (*p == '.')
        p++;
    while (g_ascii_isdigit(*p) && micro < 1000)
        micro = micro * 10 + (unsigned long)(*p++ - '0');
    return info->xen_major * 1000000UL + info->xen_minor * 1000UL + MIN(micro, 999UL);
}

/* ---------------------------------------------------------------------
 * virDomainDef -> the core's domain configuration
 *
 * Everything the XML says that a Xen guest can run is carried over; what
 * the core cannot provide is refused with VIR_ERR_CONFIG_UNSUPPORTED,
 * naming the element, never silently dropped.
 */

static int
xvActionFromDef(virDomainLifecycleAction action, xlite_action *out,
                const char *event)
{
    switch (action) {
    case VIR_DOMAIN_LIFECYCLE_ACTION_DESTROY:
        *out = XLITE_ACTION_DESTROY;
        return 0;
    case VIR_DOMAIN_LIFECYCLE_ACTION_RESTART:
        *out = XLITE_ACTION_RESTART;
        return 0;
    case VIR_DOMAIN_LIFECYCLE_ACTION_RESTART_RENAME:
        *out = XLITE_ACTION_RENAME_RESTART;
        return 0;
    case VIR_DOMAIN_LIFECYCLE_ACTION_PRESERVE:
        *out = XLITE_ACTION_PRESERVE;
        return 0;
    case VIR_DOMAIN_LIFECYCLE_ACTION_COREDUMP_DESTROY:
        *out = XLITE_ACTION_COREDUMP_DESTROY;
        return 0;
    case VIR_DOMAIN_LIFECYCLE_ACTION_COREDUMP_RESTART:
        *out = XLITE_ACTION_COREDUMP_RESTART;
        return 0;
    case VIR_DOMAIN_LIFECYCLE_ACTION_LAST:
        break;
    }
    virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                   _("action '%s' for %s is not supported by Xen"),
                   NULLSTR(virDomainLifecycleActionTypeToString(action)), event);
    return -1;
}

static int
xvDiskFromDef(virDomainDiskDef *disk, xlite_domain_config *cfg)
{
    xlite_disk_config *out;
    const char *src = virDomainDiskGetSource(disk);
    const char *driverName = virDomainDiskGetDriver(disk);
    int format = virDomainDiskGetFormat(disk);
    virStorageType type = virDomainDiskGetType(disk);

    if (disk->device != VIR_DOMAIN_DISK_DEVICE_DISK &&
        disk->device != VIR_DOMAIN_DISK_DEVICE_CDROM) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s': device '%s' is not supported by Xen, only 'disk' and 'cdrom'"),
                       disk->dst, virDomainDiskDeviceTypeToString(disk->device));
        return -1;
    }
    if (type != VIR_STORAGE_TYPE_FILE && type != VIR_STORAGE_TYPE_BLOCK) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s': source type '%s' is not supported, only 'file' and 'block'"),
                       disk->dst, virStorageTypeToString(type));
        return -1;
    }

    out = xlite_domain_config_add_disk(cfg);
    out->vdev = g_strdup(disk->dst);
    out->target = g_strdup(src);
    out->cdrom = disk->device == VIR_DOMAIN_DISK_DEVICE_CDROM;
    out->readonly = disk->src->readonly;

    switch (format) {
    case VIR_STORAGE_FILE_NONE:
        break;
    case VIR_STORAGE_FILE_RAW:
        out->format = XLITE_DISK_FORMAT_RAW;
        break;
    case VIR_STORAGE_FILE_QCOW2:
        out->format = XLITE_DISK_FORMAT_QCOW2;
        break;
    case VIR_STORAGE_FILE_VHD:
        out->format = XLITE_DISK_FORMAT_VHD;
        break;
    case VIR_STORAGE_FILE_QED:
        out->format = XLITE_DISK_FORMAT_QED;
        break;
    default:
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s': format '%s' is not supported by Xen"),
                       disk->dst, virStorageFileFormatTypeToString(format));
        return -1;
    }

    if (!driverName)
        out->backend = XLITE_DISK_BACKEND_DEFAULT;
    else if (STREQ(driverName, "phy"))
        out->backend = XLITE_DISK_BACKEND_PHY;
    else if (STREQ(driverName, "qemu"))
        out->backend = XLITE_DISK_BACKEND_QDISK;
    else if (STREQ(driverName, "tap") || STREQ(driverName, "tap2"))
        out->backend = XLITE_DISK_BACKEND_TAP;
    else {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s': driver '%s' is not supported by Xen, expected 'phy', 'qemu' or 'tap'"),
                       disk->dst, driverName);
        return -1;
    }
    return 0;
}

bool
xvIsGeneratedVifName(const char *ifname)
{
    unsigned int domid, devid;
    int end = 0;

    return ifname &&
           sscanf(ifname, "vif%u.%u%n", &domid, &devid, &end) == 2 &&
           ifname[end] == '\0';
}

static int
xvNicFromDef(virDomainNetDef *net, xlite_domain_config *cfg)
{
    xlite_nic_config *out;
    virDomainNetType type = virDomainNetGetActualType(net);
    const char *model = virDomainNetGetModelString(net);
    g_autoptr(GString) ips = NULL;
    size_t i;

    if (type != VIR_DOMAIN_NET_TYPE_BRIDGE &&
        type != VIR_DOMAIN_NET_TYPE_ETHERNET) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("network interface type '%s' is not supported by Xen, only 'bridge' and 'ethernet'"),
                       virDomainNetTypeToString(type));
        return -1;
    }

    out = xlite_domain_config_add_nic(cfg);
    virMacAddrFormat(&net->mac, out->mac);
    if (type == VIR_DOMAIN_NET_TYPE_BRIDGE)
        out->bridge = g_strdup(virDomainNetGetActualBridgeName(net));
    out->script = g_strdup(net->script);
    if (!xvIsGeneratedVifName(net->ifname))
        out->vifname = g_strdup(net->ifname);
    /* "netfront" is the PV device every guest has: no emulated model. */
    if (model && STRNEQ(model, "netfront"))
        out->model = g_strdup(model);

    for (i = 0; i < net->guestIP.nips; i++) {
        g_autofree char *addr =
            virSocketAddrFormat(&net->guestIP.ips[i]->address);

        if (!addr)
            return -1;
        if (!ips)
            ips = g_string_new(addr);
        else
            g_string_append_printf(ips, " %s", addr);
    }
    if (ips)
        out->ip = g_string_free(g_steal_pointer(&ips), FALSE);

    /* libvirt's bandwidth is in KiB/s. */
    if (net->bandwidth && net->bandwidth->out && net->bandwidth->out->average)
        out->rate_bytes_per_sec = net->bandwidth->out->average * 1024ULL;
    return 0;
}

static int
xvConsoleFromDef(const virDomainChrDef *chr, xlite_domain_config *cfg)
{
    if (chr->deviceType == VIR_DOMAIN_CHR_DEVICE_TYPE_CONSOLE &&
        chr->targetType == VIR_DOMAIN_CHR_CONSOLE_TARGET_TYPE_XEN) {
        xlite_domain_config_add_console(cfg)->kind = XLITE_CONSOLE_PV;
        return 0;
    }
    if ((chr->deviceType == VIR_DOMAIN_CHR_DEVICE_TYPE_SERIAL ||
         (chr->deviceType == VIR_DOMAIN_CHR_DEVICE_TYPE_CONSOLE &&
          chr->targetType == VIR_DOMAIN_CHR_CONSOLE_TARGET_TYPE_SERIAL))) {
        xlite_domain_config_add_console(cfg)->kind = XLITE_CONSOLE_SERIAL;
        return 0;
    }
    virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                   _("character device '%s' is not supported by Xen"),
                   virDomainChrDeviceTypeToString(chr->deviceType));
    return -1;
}

/* Devices the core cannot provide yet: refused, naming the element. */
static int
xvRefuseUnsupportedDevices(const virDomainDef *def)
{
    const char *what = NULL;

    if (def->ngraphics)
        what = "graphics";
    else if (def->nhostdevs)
        what = "hostdev";
    else if (def->nsounds)
        what = "sound";
    else if (def->nfss)
        what = "filesystem";
    else if (def->nchannels)
        what = "channel";
    else if (def->nparallels)
        what = "parallel";
    else if (def->nsmartcards)
        what = "smartcard";
    else if (def->nredirdevs)
        what = "redirdev";
    else if (def->nrngs)
        what = "rng";
    else if (def->ntpms)
        what = "tpm";
    else if (def->watchdog)
        what = "watchdog";
    if (!what)
        return 0;
    virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                   _("domain '%s': <%s> devices are not supported by this Xen driver yet"),
                   def->name, what);
    return -1;
}

/* The disks, interfaces and consoles of a definition. */
static int
xvDevicesFromDef(const virDomainDef *def, xlite_domain_config *cfg)
{
    size_t i;

    for (i = 0; i < def->ndisks; i++) {
        if (xvDiskFromDef(def->disks[i], cfg) < 0)
            return -1;
    }
    for (i = 0; i < def->nnets; i++) {
        if (xvNicFromDef(def->nets[i], cfg) < 0)
            return -1;
    }
    for (i = 0; i < def->nconsoles; i++) {
        /* libvirt mirrors the first serial port as a console of target
         * type 'serial': that is the same device, counted once below. */
        if (def->consoles[i]->targetType == VIR_DOMAIN_CHR_CONSOLE_TARGET_TYPE_SERIAL &&
            def->nserials > 0)
            continue;
        if (xvConsoleFromDef(def->consoles[i], cfg) < 0)
            return -1;
    }
    for (i = 0; i < def->nserials; i++) {
        if (xvConsoleFromDef(def->serials[i], cfg) < 0)
            return -1;
    }
    return 0;
}

int
xvDomainConfigFromDef(const virDomainDef *def, xlite_domain_config *cfg)
{
    if (xvRefuseUnsupportedDevices(def) < 0)
        return -1;

    cfg->name = g_strdup(def->name);
    memcpy(cfg->uuid, def->uuid, sizeof(cfg->uuid));

    switch (def->os.type) {
    case VIR_DOMAIN_OSTYPE_XEN:
    case VIR_DOMAIN_OSTYPE_LINUX:
        cfg->type = XLITE_DOMAIN_TYPE_PV;
        break;
    case VIR_DOMAIN_OSTYPE_XENPVH:
        cfg->type = XLITE_DOMAIN_TYPE_PVH;
        break;
    case VIR_DOMAIN_OSTYPE_HVM:
        cfg->type = XLITE_DOMAIN_TYPE_HVM;
        break;
    default:
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("os type '%s' is not supported by Xen"),
                       virDomainOSTypeToString(def->os.type));
        return -1;
    }

    cfg->kernel = g_strdup(def->os.kernel);
    cfg->ramdisk = g_strdup(def->os.initrd);
    cfg->cmdline = g_strdup(def->os.cmdline);
    cfg->bootloader = g_strdup(def->os.bootloader);
    cfg->bootloader_args = g_strdup(def->os.bootloaderArgs);

    cfg->max_memkb = virDomainDefGetMemoryTotal(def);
    cfg->target_memkb = def->mem.cur_balloon;
    cfg->max_vcpus = virDomainDefGetVcpusMax(def);
    cfg->online_vcpus = virDomainDefGetVcpus(def);
    if (def->cpumask && !(cfg->cpus = virBitmapFormat(def->cpumask)))
        return -1;
    if (def->cputune.sharesSpecified) {
        if (def->cputune.shares < 1 || def->cputune.shares > 65535) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("cpu shares %llu are outside Xen's weight range 1..65535"),
                           def->cputune.shares);
            return -1;
        }
        cfg->sched_weight = def->cputune.shares;
    }

    if (xvActionFromDef(def->onPoweroff, &cfg->on_poweroff, "on_poweroff") < 0 ||
        xvActionFromDef(def->onReboot, &cfg->on_reboot, "on_reboot") < 0 ||
        xvActionFromDef(def->onCrash, &cfg->on_crash, "on_crash") < 0)
        return -1;

    if (xvDevicesFromDef(def, cfg) < 0)
        return -1;

    if (xlite_domain_config_validate(cfg) < 0) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s", xlite_errmsg());
        return -1;
    }
    return 0;
}

int
xvDeviceConfigFromDef(const virDomainDeviceDef *dev, xlite_domain_config *cfg)
{
    switch (dev->type) {
    case VIR_DOMAIN_DEVICE_DISK:
        return xvDiskFromDef(dev->data.disk, cfg);
    case VIR_DOMAIN_DEVICE_NET:
        return xvNicFromDef(dev->data.net, cfg);
    default:
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("device type '%s' is not supported here"),
                       virDomainDeviceTypeToString(dev->type));
        return -1;
    }
}
