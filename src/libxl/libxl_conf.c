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
#include "driver.h"
#include "numa_conf.h"
#include "xen_xl.h"

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
    g_free(cfg->snapshotDir);
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
    /* Beside the core's state, as libvirt's QEMU driver keeps it beside
     * its own (/var/lib/libvirt/qemu/snapshot). */
    cfg->snapshotDir = g_strdup_printf("%s/snapshot", cfg->stateDir);
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
    g_autofree char *simNetwork = NULL;
    g_autofree char *blockjobEvents = NULL;

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

    if (virConfGetValueString(conf, "sim_network", &simNetwork) < 0)
        return -1;
    if (simNetwork) {
        if (STREQ(simNetwork, "shared")) {
            cfg->simSharedNetns = true;
        } else if (STREQ(simNetwork, "own")) {
            cfg->simSharedNetns = false;
        } else {
            virReportError(VIR_ERR_CONF_SYNTAX,
                           _("unknown sim_network '%s' in '%s': expected \"own\" or \"shared\""),
                           simNetwork, path);
            return -1;
        }
    }

    if (virConfGetValueString(conf, "blockjob_events", &blockjobEvents) < 0)
        return -1;
    if (blockjobEvents) {
        if (STREQ(blockjobEvents, "poll")) {
            cfg->blockjobPoll = true;
        } else if (STREQ(blockjobEvents, "auto")) {
            cfg->blockjobPoll = false;
        } else {
            virReportError(VIR_ERR_CONF_SYNTAX,
                           _("unknown blockjob_events '%s' in '%s': expected \"auto\" or \"poll\""),
                           blockjobEvents, path);
            return -1;
        }
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

/* libvirt's Xen driver checks part of a definition only when it starts
 * the domain (a disk driver and format pair libxl cannot serve, a timer
 * Xen has no setting for, a parallel port...): it defines such a domain,
 * and so do we, and the start refuses it with libvirt's error.  At define
 * (@start false) the item is left out of the configuration, which is only
 * checked and dropped. */
#define XV_START_REFUSES(start, code, ...) \
    do { \
        if (start) { \
            virReportError(code, __VA_ARGS__); \
            return -1; \
        } \
        return 0; \
    } while (0)

static int
xvDiskFormat(int format, xlite_disk_format *out)
{
    switch (format) {
    case VIR_STORAGE_FILE_RAW:
        *out = XLITE_DISK_FORMAT_RAW;
        return 0;
    case VIR_STORAGE_FILE_QCOW:
        *out = XLITE_DISK_FORMAT_QCOW;
        return 0;
    case VIR_STORAGE_FILE_QCOW2:
        *out = XLITE_DISK_FORMAT_QCOW2;
        return 0;
    case VIR_STORAGE_FILE_VHD:
        *out = XLITE_DISK_FORMAT_VHD;
        return 0;
    case VIR_STORAGE_FILE_QED:
        *out = XLITE_DISK_FORMAT_QED;
        return 0;
    default:
        return -1;
    }
}

/* libvirt's Xen driver's table of disk drivers and formats:
 *   tap, tap2   raw and vhd on blktap, qcow, qcow2 and qed on qdisk
 *   qemu        raw, qcow, qcow2, qed and vhd on qdisk
 *   file        raw on qdisk
 *   phy         raw on blkback
 * Without a driver libxl picks the backend; the format is the one given
 * (libvirt's driver passes raw whatever the format says). */
static int
xvDiskBackend(const virDomainDiskDef *disk, bool start,
              xlite_disk_config *out)
{
    const char *driver = virDomainDiskGetDriver(disk);
    int format = virDomainDiskGetFormat((virDomainDiskDef *)disk);
    bool known = xvDiskFormat(format, &out->format) == 0;

    if (format == VIR_STORAGE_FILE_NONE) {
        known = true;
        out->format = XLITE_DISK_FORMAT_DEFAULT;
    }

    if (!driver) {
        out->backend = XLITE_DISK_BACKEND_DEFAULT;
    } else if (STREQ(driver, "tap") || STREQ(driver, "tap2")) {
        out->backend = format == VIR_STORAGE_FILE_RAW ||
                       format == VIR_STORAGE_FILE_VHD
                       ? XLITE_DISK_BACKEND_TAP : XLITE_DISK_BACKEND_QDISK;
    } else if (STREQ(driver, "qemu")) {
        out->backend = XLITE_DISK_BACKEND_QDISK;
    } else if (STREQ(driver, "file") || STREQ(driver, "phy")) {
        known = format == VIR_STORAGE_FILE_RAW;
        out->backend = STREQ(driver, "phy") ? XLITE_DISK_BACKEND_PHY
                                            : XLITE_DISK_BACKEND_QDISK;
    } else {
        XV_START_REFUSES(start, VIR_ERR_INTERNAL_ERROR,
                         _("libxenlight does not support disk driver %s"),
                         driver);
    }
    if (!known)
        XV_START_REFUSES(start, VIR_ERR_INTERNAL_ERROR,
                         _("libxenlight does not support disk format %s with disk driver %s"),
                         virStorageFileFormatTypeToString(format),
                         NULLSTR(driver));
    return 1;
}

/* QEMU's source string for a network disk (the qdisk backend's target):
 * rbd as libvirt's Xen driver writes it, nbd and iscsi in QEMU's own
 * forms. */
char *
xvNetworkDiskSource(const virStorageSource *src)
{
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    size_t i;

    switch ((virStorageNetProtocol) src->protocol) {
    case VIR_STORAGE_NET_PROTOCOL_RBD:
        if (strchr(src->path, ':')) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("':' not allowed in RBD source volume name '%s'"),
                           src->path);
            return NULL;
        }
        if (src->auth) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("RBD disk '%s': authentication is not supported by this driver yet"),
                           src->path);
            return NULL;
        }
        virBufferStrcat(&buf, "rbd:", src->volume, "/", src->path, NULL);
        virBufferAddLit(&buf, ":auth_supported=none");
        if (src->nhosts > 0) {
            virBufferAddLit(&buf, ":mon_host=");
            for (i = 0; i < src->nhosts; i++) {
                if (i)
                    virBufferAddLit(&buf, "\\;");
                if (strchr(src->hosts[i].name, ':'))
                    virBufferEscape(&buf, '\\', ":", "[%s]", src->hosts[i].name);
                else
                    virBufferAddStr(&buf, src->hosts[i].name);
                if (src->hosts[i].port)
                    virBufferAsprintf(&buf, "\\:%u", src->hosts[i].port);
            }
        }
        if (src->configFile)
            virBufferEscape(&buf, '\\', ":", ":conf=%s", src->configFile);
        return virBufferContentAndReset(&buf);

    case VIR_STORAGE_NET_PROTOCOL_NBD:
        if (src->nhosts != 1)
            break;
        if (src->hosts[0].transport == VIR_STORAGE_NET_HOST_TRANS_UNIX)
            virBufferAsprintf(&buf, "nbd:unix:%s", src->hosts[0].socket);
        else
            virBufferAsprintf(&buf, "nbd:%s:%u", src->hosts[0].name,
                              src->hosts[0].port ? src->hosts[0].port : 10809);
        if (src->path)
            virBufferAsprintf(&buf, ":exportname=%s", src->path);
        return virBufferContentAndReset(&buf);

    case VIR_STORAGE_NET_PROTOCOL_ISCSI:
        if (src->nhosts != 1 || !src->path)
            break;
        virBufferAsprintf(&buf, "iscsi://%s:%u/%s", src->hosts[0].name,
                          src->hosts[0].port ? src->hosts[0].port : 3260,
                          src->path);
        if (!strchr(src->path, '/'))
            virBufferAddLit(&buf, "/0");
        return virBufferContentAndReset(&buf);

    default:
        break;
    }
    virReportError(VIR_ERR_NO_SUPPORT,
                   _("Unsupported network block protocol '%s'"),
                   virStorageNetProtocolTypeToString(src->protocol));
    return NULL;
}

static int
xvDiskFromDef(const virDomainDiskDef *disk, xlite_domain_config *cfg,
              bool start)
{
    xlite_disk_config one = { 0 };
    xlite_disk_config *out;
    virStorageType type = virStorageSourceGetActualType(disk->src);
    g_autofree char *target = NULL;
    int rc;

    if (disk->device != VIR_DOMAIN_DISK_DEVICE_DISK &&
        disk->device != VIR_DOMAIN_DISK_DEVICE_CDROM)
        XV_START_REFUSES(start, VIR_ERR_CONFIG_UNSUPPORTED,
                         _("disk '%s': device '%s' is not supported by Xen, only 'disk' and 'cdrom'"),
                         disk->dst, virDomainDiskDeviceTypeToString(disk->device));
    if (disk->transient)
        XV_START_REFUSES(start, VIR_ERR_INTERNAL_ERROR, "%s",
                         _("libxenlight does not support transient disks"));

    switch (type) {
    case VIR_STORAGE_TYPE_FILE:
    case VIR_STORAGE_TYPE_BLOCK:
        target = g_strdup(virDomainDiskGetSource(disk));
        break;
    case VIR_STORAGE_TYPE_NETWORK:
        if (STRNEQ_NULLABLE(virDomainDiskGetDriver(disk), "qemu")) {
            virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                           _("only the 'qemu' driver can be used with network disks"));
            return -1;
        }
        if (!(target = xvNetworkDiskSource(disk->src)))
            return start ? -1 : 0;
        one.network = true;
        break;
    default:
        XV_START_REFUSES(start, VIR_ERR_CONFIG_UNSUPPORTED,
                         _("disk '%s': source type '%s' is not supported, only 'file', 'block' and 'network'"),
                         disk->dst, virStorageTypeToString(type));
    }

    if ((rc = xvDiskBackend(disk, start, &one)) <= 0)
        return rc;

    out = xlite_domain_config_add_disk(cfg);
    *out = one;
    out->vdev = g_strdup(disk->dst);
    out->target = g_steal_pointer(&target);
    out->cdrom = disk->device == VIR_DOMAIN_DISK_DEVICE_CDROM;
    out->readonly = disk->src->readonly;
    out->backend_domain = g_strdup(disk->domain_name);
    if (disk->discard == VIR_DOMAIN_DISK_DISCARD_UNMAP)
        out->discard = XLITE_DEFBOOL_TRUE;
    else if (disk->discard == VIR_DOMAIN_DISK_DISCARD_IGNORE)
        out->discard = XLITE_DEFBOOL_FALSE;
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

/* The bridge of an interface, with Open vSwitch's VLAN forms
 * (BRIDGE.TAG for a tag, BRIDGE:TAG:TAG for a trunk) as libxl takes them,
 * and the script: vif-openvswitch unless the XML names one. */
static char *
xvNicBridge(const virDomainNetDef *net, const char *bridge,
            const char **script)
{
    const virNetDevVPortProfile *port = virDomainNetGetActualVirtPortProfile(net);
    const virNetDevVlan *vlan = virDomainNetGetActualVlan(net);
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    size_t i;

    virBufferAddStr(&buf, bridge);
    if (port && port->virtPortType == VIR_NETDEV_VPORT_PROFILE_OPENVSWITCH) {
        if (!*script)
            *script = "vif-openvswitch";
        if (vlan && vlan->nTags > 0) {
            if (vlan->trunk) {
                for (i = 0; i < (size_t)vlan->nTags; i++)
                    virBufferAsprintf(&buf, ":%u", vlan->tag[i]);
            } else {
                virBufferAsprintf(&buf, ".%u", vlan->tag[0]);
            }
        }
    }
    return virBufferContentAndReset(&buf);
}

/* The bridge of the libvirt network an interface names, through the
 * daemon's network driver (none in embedded mode). */
static char *
xvNetworkBridge(const virDomainNetDef *net)
{
    virConnectPtr conn;
    virNetworkPtr network = NULL;
    char *bridge = NULL;

    if (!(conn = virGetConnectNetwork()))
        return NULL;
    if ((network = virNetworkLookupByName(conn, net->data.network.name))) {
        bridge = virNetworkGetBridgeName(network);
        virNetworkFree(network);
    }
    virConnectClose(conn);
    return bridge;
}

/* The bridge of an interface on a libvirt network at start: its port's
 * (libxl_network.c), else the network's own; NULL with an error where no
 * network driver is at hand (embedded mode). */
static char *
xvNicNetworkBridge(const virDomainNetDef *net, unsigned int flags)
{
    if (flags & XV_CONFIG_NO_NETWORK_DRIVER) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("interface type 'network' (network '%s') needs libvirt's network driver, which this connection has not got (embedded mode): use a bridge"),
                       net->data.network.name);
        return NULL;
    }
    if (virDomainNetGetActualBridgeName(net))
        return g_strdup(virDomainNetGetActualBridgeName(net));
    return xvNetworkBridge(net);
}

/* The interface's guest addresses, space-separated, as vif's "ip". */
static char *
xvNicIPs(const virDomainNetDef *net)
{
    g_autoptr(GString) ips = g_string_new(NULL);
    size_t i;

    for (i = 0; i < net->guestIP.nips; i++) {
        g_autofree char *addr =
            virSocketAddrFormat(&net->guestIP.ips[i]->address);

        if (!addr)
            return NULL;
        g_string_append_printf(ips, "%s%s", i ? " " : "", addr);
    }
    return g_string_free(g_steal_pointer(&ips), FALSE);
}

static int
xvNicFromDef(const virDomainDef *def, const virDomainNetDef *net,
             xlite_domain_config *cfg, unsigned int flags)
{
    bool start = flags & XV_CONFIG_START;
    xlite_nic_config *out;
    virDomainNetType type = virDomainNetGetActualType(net);
    const char *model = virDomainNetGetModelString(net);
    const char *script = net->script;
    g_autofree char *bridge = NULL;
    const virNetDevBandwidth *bw;

    switch (type) {
    case VIR_DOMAIN_NET_TYPE_BRIDGE:
        bridge = xvNicBridge(net, virDomainNetGetActualBridgeName(net), &script);
        break;
    case VIR_DOMAIN_NET_TYPE_ETHERNET:
        break;
    case VIR_DOMAIN_NET_TYPE_NETWORK:
        /* Resolved when the domain starts, as libvirt's driver does. */
        if (!start)
            break;
        if (!(bridge = xvNicNetworkBridge(net, flags)))
            return -1;
        script = NULL;
        break;
    case VIR_DOMAIN_NET_TYPE_HOSTDEV:
        /* A passed-through NIC: in the definition's hostdevs too. */
        return 0;
    default:
        XV_START_REFUSES(start, VIR_ERR_CONFIG_UNSUPPORTED,
                         _("unsupported interface type %s"),
                         virDomainNetTypeToString(net->type));
    }

    if (model && def->os.type != VIR_DOMAIN_OSTYPE_HVM &&
        net->model != VIR_DOMAIN_NET_MODEL_NETFRONT)
        XV_START_REFUSES(start, VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                         _("only model 'netfront' is supported for Xen PV(H) domains"));

    out = xlite_domain_config_add_nic(cfg);
    virMacAddrFormat(&net->mac, out->mac);
    out->bridge = g_steal_pointer(&bridge);
    out->script = g_strdup(script);
    if (!xvIsGeneratedVifName(net->ifname))
        out->vifname = g_strdup(net->ifname);
    /* "netfront" is the PV device every guest has: no emulated model. */
    if (model && net->model != VIR_DOMAIN_NET_MODEL_NETFRONT)
        out->model = g_strdup(model);
    if (model)
        out->type = net->model == VIR_DOMAIN_NET_MODEL_NETFRONT
                    ? XLITE_NIC_TYPE_VIF : XLITE_NIC_TYPE_VIF_IOEMU;
    out->backend_domain = g_strdup(net->domain_name);

    if (net->guestIP.nips && !(out->ip = xvNicIPs(net)))
        return -1;

    /* libvirt's bandwidth is in KiB/s. */
    bw = virDomainNetGetActualBandwidth(net);
    if (bw && bw->out && bw->out->average)
        out->rate_bytes_per_sec = bw->out->average * 1024ULL;
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

/* A serial port as the device model's spec: "pty", "file:PATH",
 * "tcp:HOST:PORT[,server,nowait]"... (xl.cfg(5), serial). */
static char *
xvSerialSpec(const virDomainChrSourceDef *src)
{
    const char *type = virDomainChrTypeToString(src->type);

    switch ((virDomainChrType) src->type) {
    case VIR_DOMAIN_CHR_TYPE_NULL:
    case VIR_DOMAIN_CHR_TYPE_STDIO:
    case VIR_DOMAIN_CHR_TYPE_VC:
    case VIR_DOMAIN_CHR_TYPE_PTY:
        return g_strdup(type);
    case VIR_DOMAIN_CHR_TYPE_FILE:
    case VIR_DOMAIN_CHR_TYPE_PIPE:
        return g_strdup_printf("%s:%s", type, src->data.file.path);
    case VIR_DOMAIN_CHR_TYPE_DEV:
        return g_strdup(src->data.file.path);
    case VIR_DOMAIN_CHR_TYPE_UDP:
        return g_strdup_printf("udp:%s:%s@%s:%s",
                               NULLSTR_EMPTY(src->data.udp.connectHost),
                               src->data.udp.connectService,
                               NULLSTR_EMPTY(src->data.udp.bindHost),
                               src->data.udp.bindService ? src->data.udp.bindService : "0");
    case VIR_DOMAIN_CHR_TYPE_TCP:
        return g_strdup_printf("%s:%s:%s%s",
                               src->data.tcp.protocol == VIR_DOMAIN_CHR_TCP_PROTOCOL_TELNET
                               ? "telnet" : "tcp",
                               src->data.tcp.host, src->data.tcp.service,
                               src->data.tcp.listen ? ",server,nowait" : "");
    case VIR_DOMAIN_CHR_TYPE_UNIX:
        return g_strdup_printf("unix:%s%s", src->data.nix.path,
                               src->data.nix.listen ? ",server,nowait" : "");
    default:
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("unsupported chardev '%s'"), NULLSTR(type));
        return NULL;
    }
}

static int
xvChannelFromDef(const virDomainChrDef *chr, xlite_domain_config *cfg,
                 bool start)
{
    xlite_channel_config *out;

    if (chr->targetType != VIR_DOMAIN_CHR_CHANNEL_TARGET_TYPE_XEN)
        XV_START_REFUSES(start, VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                         _("channel target type not supported"));
    if (chr->source->type != VIR_DOMAIN_CHR_TYPE_PTY &&
        chr->source->type != VIR_DOMAIN_CHR_TYPE_UNIX)
        XV_START_REFUSES(start, VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                         _("channel source type not supported"));
    if (!chr->target.name)
        XV_START_REFUSES(start, VIR_ERR_OPERATION_INVALID, "%s",
                         _("channel target name missing"));

    out = xlite_domain_config_add_channel(cfg);
    out->name = g_strdup(chr->target.name);
    if (chr->source->type == VIR_DOMAIN_CHR_TYPE_UNIX) {
        out->connection = XLITE_CHANNEL_SOCKET;
        out->path = g_strdup(chr->source->data.nix.path);
    } else {
        out->connection = XLITE_CHANNEL_PTY;
    }
    return 0;
}

/* The disks, interfaces, consoles, serial ports and channels. */
static int
xvDevicesFromDef(const virDomainDef *def, xlite_domain_config *cfg,
                 unsigned int flags)
{
    bool start = flags & XV_CONFIG_START;
    bool hvm = def->os.type == VIR_DOMAIN_OSTYPE_HVM;
    size_t i;

    for (i = 0; i < def->ndisks; i++) {
        if (xvDiskFromDef(def->disks[i], cfg, start) < 0)
            return -1;
    }
    for (i = 0; i < def->nnets; i++) {
        if (xvNicFromDef(def, def->nets[i], cfg, flags) < 0)
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
    /* An HVM guest's serial ports are the device model's: their specs. */
    if (hvm && def->nserials) {
        cfg->serials = g_new0(char *, def->nserials + 1);
        for (i = 0; i < def->nserials; i++) {
            if (!(cfg->serials[i] = xvSerialSpec(def->serials[i]->source)))
                return -1;
        }
    }
    for (i = 0; i < def->nchannels; i++) {
        if (xvChannelFromDef(def->channels[i], cfg, start) < 0)
            return -1;
    }
    return 0;
}

/* Host devices: PCI (hostdev, and interfaces of type hostdev, which the
 * parser lists among the hostdevs too) and USB, with the PV USB
 * controllers that carry them. */
static int
xvHostdevsFromDef(const virDomainDef *def, xlite_domain_config *cfg,
                  bool start)
{
    size_t i, nusb = 0;

    for (i = 0; i < def->nhostdevs; i++) {
        const virDomainHostdevDef *hostdev = def->hostdevs[i];
        const virDomainHostdevSubsys *sub = &hostdev->source.subsys;

        if (hostdev->mode != VIR_DOMAIN_HOSTDEV_MODE_SUBSYS)
            continue;
        if (sub->type == VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_PCI) {
            xlite_pci_config *pci = xlite_domain_config_add_pcidev(cfg);

            pci->domain = sub->u.pci.addr.domain;
            pci->bus = sub->u.pci.addr.bus;
            pci->dev = sub->u.pci.addr.slot;
            pci->func = sub->u.pci.addr.function;
            pci->permissive = hostdev->writeFiltering == VIR_TRISTATE_BOOL_NO;
            pci->seize = hostdev->managed;
        } else if (sub->type == VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_USB) {
            xlite_usbdev_config *usb;

            if (sub->u.usb.bus == 0 || sub->u.usb.device == 0)
                XV_START_REFUSES(start, VIR_ERR_OPERATION_FAILED,
                                 _("failed to find USB device busnum:devnum for %x:%x"),
                                 sub->u.usb.vendor, sub->u.usb.product);
            usb = xlite_domain_config_add_usbdev(cfg);
            usb->hostbus = sub->u.usb.bus;
            usb->hostaddr = sub->u.usb.device;
            nusb++;
        }
    }

    for (i = 0; i < def->ncontrollers; i++) {
        const virDomainControllerDef *ctrl = def->controllers[i];
        xlite_usbctrl_config *out;

        if (ctrl->type != VIR_DOMAIN_CONTROLLER_TYPE_USB ||
            ctrl->model == VIR_DOMAIN_CONTROLLER_MODEL_USB_NONE)
            continue;
        /* libvirt's driver gives PV USB only the qusb models (and the
         * default); the emulated HVM controllers are the device model's. */
        if (ctrl->model != VIR_DOMAIN_CONTROLLER_MODEL_USB_DEFAULT &&
            ctrl->model != VIR_DOMAIN_CONTROLLER_MODEL_USB_QUSB1 &&
            ctrl->model != VIR_DOMAIN_CONTROLLER_MODEL_USB_QUSB2)
            continue;
        out = xlite_domain_config_add_usbctrl(cfg);
        out->version = ctrl->model == VIR_DOMAIN_CONTROLLER_MODEL_USB_QUSB1 ? 1 : 2;
        out->ports = ctrl->opts.usbopts.ports == -1 ? 8 : ctrl->opts.usbopts.ports;
    }
    /* Host USB devices without a controller get 8-port qusb2 ones. */
    if (nusb && cfg->num_usbctrls == 0) {
        for (i = 0; i < VIR_DIV_UP(nusb, 8); i++) {
            xlite_usbctrl_config *out = xlite_domain_config_add_usbctrl(cfg);

            out->version = 2;
            out->ports = 8;
        }
    }
    return 0;
}

static xlite_defbool
xvDefbool(int tristate)
{
    if (tristate == VIR_TRISTATE_SWITCH_ON)
        return XLITE_DEFBOOL_TRUE;
    if (tristate == VIR_TRISTATE_SWITCH_OFF)
        return XLITE_DEFBOOL_FALSE;
    return XLITE_DEFBOOL_DEFAULT;
}

/* As libvirt's driver: for HVM, pae, apic and acpi are on exactly when
 * the XML says so. */
static xlite_defbool
xvDefboolOnlyIfOn(int tristate)
{
    return tristate == VIR_TRISTATE_SWITCH_ON ? XLITE_DEFBOOL_TRUE
                                              : XLITE_DEFBOOL_FALSE;
}

/* <features><xen><passthrough>: PCI passthrough and its mode. */
static void
xvPassthroughFromDef(const virDomainDef *def, xlite_domain_config *cfg)
{
    switch ((virTristateSwitch) def->xen_features[VIR_DOMAIN_XEN_PASSTHROUGH]) {
    case VIR_TRISTATE_SWITCH_ON:
        if (def->xen_passthrough_mode == VIR_DOMAIN_XEN_PASSTHROUGH_MODE_SYNC_PT)
            cfg->passthrough = XLITE_PASSTHROUGH_SYNC_PT;
        else if (def->xen_passthrough_mode == VIR_DOMAIN_XEN_PASSTHROUGH_MODE_SHARE_PT)
            cfg->passthrough = XLITE_PASSTHROUGH_SHARE_PT;
        else
            cfg->passthrough = XLITE_PASSTHROUGH_ENABLED;
        break;
    case VIR_TRISTATE_SWITCH_OFF:
        cfg->passthrough = XLITE_PASSTHROUGH_DISABLED;
        break;
    case VIR_TRISTATE_SWITCH_ABSENT:
    case VIR_TRISTATE_SWITCH_LAST:
        break;
    }
}

/* <cpu mode='host-passthrough'>: its features become the cpuid policy;
 * vmx and svm say whether the guest gets nested virtualisation.  A custom
 * CPU model is ignored, as libvirt's driver ignores it (with a warning). */
static void
xvCPUFromDef(const virDomainDef *def, xlite_domain_config *cfg)
{
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    bool nested = false;
    size_t i;

    if (!def->cpu)
        return;
    if (def->cpu->mode == VIR_CPU_MODE_CUSTOM) {
        VIR_WARN("Ignoring CPU with mode=custom, update your config to "
                 "mode=host-passthrough to avoid risk of changed guest "
                 "semantics when mode=custom is supported in the future");
        return;
    }
    if (def->cpu->mode != VIR_CPU_MODE_HOST_PASSTHROUGH)
        return;
    for (i = 0; i < def->cpu->nfeatures; i++) {
        const virCPUFeatureDef *f = &def->cpu->features[i];
        bool on;

        if (f->policy == VIR_CPU_FEATURE_FORCE || f->policy == VIR_CPU_FEATURE_REQUIRE)
            on = true;
        else if (f->policy == VIR_CPU_FEATURE_DISABLE || f->policy == VIR_CPU_FEATURE_FORBID)
            on = false;
        else
            continue;
        if (STREQ(f->name, "vmx") || STREQ(f->name, "svm")) {
            nested = on;
            continue;
        }
        virBufferAsprintf(&buf, ",%s=%d", xvXLCPUIDFromLibvirt(f->name), on);
    }
    cfg->nested_hvm = nested ? XLITE_DEFBOOL_TRUE : XLITE_DEFBOOL_FALSE;
    if (virBufferUse(&buf))
        cfg->cpuid = g_strdup_printf("host%s", virBufferCurrentContent(&buf));
}

/* <controller type='xenbus'>: the grant frame and event channel limits. */
static void
xvXenbusFromDef(const virDomainDef *def, xlite_domain_config *cfg)
{
    size_t i;

    for (i = 0; i < def->ncontrollers; i++) {
        const virDomainControllerDef *ctrl = def->controllers[i];

        if (ctrl->type != VIR_DOMAIN_CONTROLLER_TYPE_XENBUS)
            continue;
        if (ctrl->opts.xenbusopts.maxGrantFrames > 0)
            cfg->max_grant_frames = ctrl->opts.xenbusopts.maxGrantFrames;
        if (ctrl->opts.xenbusopts.maxEventChannels > 0)
            cfg->max_event_channels = ctrl->opts.xenbusopts.maxEventChannels;
    }
}

/* <features>, <cpu> (cpuid and nested HVM), <xenbus> limits. */
static int
xvFeaturesFromDef(const virDomainDef *def, xlite_domain_config *cfg)
{
    bool hvm = def->os.type == VIR_DOMAIN_OSTYPE_HVM;
    bool pv = def->os.type == VIR_DOMAIN_OSTYPE_XEN ||
              def->os.type == VIR_DOMAIN_OSTYPE_LINUX;

    if (hvm) {
        cfg->pae = xvDefboolOnlyIfOn(def->features[VIR_DOMAIN_FEATURE_PAE]);
        cfg->apic = xvDefboolOnlyIfOn(def->features[VIR_DOMAIN_FEATURE_APIC]);
        cfg->acpi = xvDefboolOnlyIfOn(def->features[VIR_DOMAIN_FEATURE_ACPI]);
        cfg->viridian = xvDefbool(def->features[VIR_DOMAIN_FEATURE_VIRIDIAN]);
    }
    if (!pv)
        cfg->hap = xvDefbool(def->features[VIR_DOMAIN_FEATURE_HAP]);

    if (def->features[VIR_DOMAIN_FEATURE_XEN] == VIR_TRISTATE_SWITCH_ON) {
        if (pv)
            cfg->e820_host = xvDefbool(def->xen_features[VIR_DOMAIN_XEN_E820_HOST]);
        xvPassthroughFromDef(def, cfg);
    }
    if (def->features[VIR_DOMAIN_FEATURE_PVSPINLOCK] != VIR_TRISTATE_SWITCH_ABSENT)
        VIR_INFO("domain '%s': <pvspinlock> has no toolstack setting on Xen (the guest kernel chooses)",
                 def->name);
    if (!pv)
        xvCPUFromDef(def, cfg);
    xvXenbusFromDef(def, cfg);
    return 0;
}

/* <clock>: the RTC's offset and basis, the tsc and hpet timers. */
static int
xvClockFromDef(const virDomainDef *def, xlite_domain_config *cfg, bool start)
{
    const virDomainClockDef *clock = &def->clock;
    size_t i;

    switch ((virDomainClockOffsetType) clock->offset) {
    case VIR_DOMAIN_CLOCK_OFFSET_VARIABLE:
        if (clock->data.variable.basis == VIR_DOMAIN_CLOCK_BASIS_LOCALTIME)
            cfg->localtime = XLITE_DEFBOOL_TRUE;
        cfg->rtc_timeoffset = clock->data.variable.adjustment;
        break;
    case VIR_DOMAIN_CLOCK_OFFSET_LOCALTIME:
        cfg->localtime = XLITE_DEFBOOL_TRUE;
        break;
    case VIR_DOMAIN_CLOCK_OFFSET_UTC:
        break;
    case VIR_DOMAIN_CLOCK_OFFSET_TIMEZONE:
    case VIR_DOMAIN_CLOCK_OFFSET_ABSOLUTE:
    case VIR_DOMAIN_CLOCK_OFFSET_LAST:
    default:
        if (start) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("unsupported clock offset '%s'"),
                           NULLSTR(virDomainClockOffsetTypeToString(clock->offset)));
            return -1;
        }
        break;
    }

    for (i = 0; i < clock->ntimers; i++) {
        const virDomainTimerDef *timer = clock->timers[i];

        switch ((virDomainTimerNameType) timer->name) {
        case VIR_DOMAIN_TIMER_NAME_TSC:
            switch ((virDomainTimerModeType) timer->mode) {
            case VIR_DOMAIN_TIMER_MODE_NATIVE:
                cfg->tsc_mode = XLITE_TSC_MODE_NATIVE;
                break;
            case VIR_DOMAIN_TIMER_MODE_PARAVIRT:
                cfg->tsc_mode = XLITE_TSC_MODE_NATIVE_PARAVIRT;
                break;
            case VIR_DOMAIN_TIMER_MODE_EMULATE:
                cfg->tsc_mode = XLITE_TSC_MODE_ALWAYS_EMULATE;
                break;
            case VIR_DOMAIN_TIMER_MODE_NONE:
            case VIR_DOMAIN_TIMER_MODE_AUTO:
            case VIR_DOMAIN_TIMER_MODE_SMPSAFE:
            case VIR_DOMAIN_TIMER_MODE_LAST:
                cfg->tsc_mode = XLITE_TSC_MODE_DEFAULT;
                break;
            }
            break;
        case VIR_DOMAIN_TIMER_NAME_HPET:
            if (def->os.type != VIR_DOMAIN_OSTYPE_HVM && start) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("unsupported timer type (name) '%s'"),
                               virDomainTimerNameTypeToString(timer->name));
                return -1;
            }
            if (timer->present == VIR_TRISTATE_BOOL_YES)
                cfg->hpet = XLITE_DEFBOOL_TRUE;
            break;
        default:
            if (start) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("unsupported timer type (name) '%s'"),
                               NULLSTR(virDomainTimerNameTypeToString(timer->name)));
                return -1;
            }
            break;
        }
    }
    return 0;
}

static int
xvVnumaFromDef(const virDomainDef *def, xlite_domain_config *cfg)
{
    size_t n = virDomainNumaGetNodeCount(def->numa);
    size_t i, j;

    for (i = 0; i < n; i++) {
        xlite_vnuma_node_config *node = xlite_domain_config_add_vnuma_node(cfg);
        virBitmap *cpus = virDomainNumaGetNodeCpumask(def->numa, i);
        g_autoptr(GString) dist = g_string_new(NULL);

        if (!cpus) {
            virReportError(VIR_ERR_INTERNAL_ERROR,
                           _("vnuma sibling %zu missing vcpus set"), i);
            return -1;
        }
        node->memkb = virDomainNumaGetNodeMemorySize(def->numa, i);
        node->pnode = i;
        if (!(node->vcpus = virBitmapFormat(cpus)))
            return -1;
        for (j = 0; j < n; j++)
            g_string_append_printf(dist, "%s%zu", j ? "," : "",
                                   virDomainNumaGetNodeDistance(def->numa, i, j));
        node->distances = g_string_free(g_steal_pointer(&dist), FALSE);
    }
    return 0;
}

/* <emulator>, which must be there to start, and the device model's
 * extra arguments (<xen:commandline>). */
static int
xvEmulatorFromDef(const virDomainDef *def, xlite_domain_config *cfg,
                  bool start)
{
    const xvDomainXmlNsDef *ns = def->namespaceData;

    if (def->emulator) {
        if (start && !virFileExists(def->emulator)) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("emulator '%s' not found"), def->emulator);
            return -1;
        }
        if (start && !virFileIsExecutable(def->emulator)) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("emulator '%s' is not executable"), def->emulator);
            return -1;
        }
        cfg->device_model = g_strdup(def->emulator);
    }
    if (ns && ns->args)
        cfg->device_model_args = g_strdupv(ns->args);
    return 0;
}

/* xl.cfg(5): soundhw is a list of models, "hda" for ich6. */
static void
xvSoundFromDef(const virDomainDef *def, xlite_domain_config *cfg)
{
    g_autoptr(GString) models = NULL;
    size_t i;

    if (!def->nsounds)
        return;
    models = g_string_new(NULL);
    for (i = 0; i < def->nsounds; i++) {
        const char *model = def->sounds[i]->model == VIR_DOMAIN_SOUND_MODEL_ICH6
                            ? "hda" : virDomainSoundModelTypeToString(def->sounds[i]->model);

        g_string_append_printf(models, "%s%s", i ? "," : "", model);
    }
    cfg->soundhw = g_string_free(g_steal_pointer(&models), FALSE);
}

/* USB mice and tablets (xl.cfg's usbdevice list). */
static int
xvUSBInputsFromDef(const virDomainDef *def, xlite_domain_config *cfg,
                   bool start)
{
    size_t i, n = 0;

    for (i = 0; i < def->ninputs; i++) {
        const virDomainInputDef *input = def->inputs[i];

        if (input->bus != VIR_DOMAIN_INPUT_BUS_USB)
            continue;
        if (input->type != VIR_DOMAIN_INPUT_TYPE_MOUSE &&
            input->type != VIR_DOMAIN_INPUT_TYPE_TABLET) {
            if (!start)
                continue;
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("Unknown input device type"));
            return -1;
        }
        VIR_EXPAND_N(cfg->usbdevices, n, 1);
        cfg->usbdevices[n - 1] = g_strdup(input->type == VIR_DOMAIN_INPUT_TYPE_MOUSE
                                          ? "mouse" : "tablet");
    }
    if (n)
        VIR_EXPAND_N(cfg->usbdevices, n, 1);
    return 0;
}

unsigned int
xvVideoDefaultVram(virDomainVideoType type)
{
    switch (type) {
    case VIR_DOMAIN_VIDEO_TYPE_VGA:
    case VIR_DOMAIN_VIDEO_TYPE_XEN:
        return 16 * 1024;
    case VIR_DOMAIN_VIDEO_TYPE_CIRRUS:
        return 8 * 1024;
    case VIR_DOMAIN_VIDEO_TYPE_QXL:
        return 128 * 1024;
    default:
        return 0;
    }
}

/* The first <video>: the emulated card and its memory, at least what
 * QEMU needs for that card. */
static int
xvVideoFromDef(const virDomainDef *def, xlite_domain_config *cfg, bool start)
{
    const virDomainVideoDef *video;
    unsigned int min;

    if (!def->nvideos) {
        cfg->vga = g_strdup("none");
        return 0;
    }
    video = def->videos[0];
    min = xvVideoDefaultVram(video->type);
    switch (video->type) {
    case VIR_DOMAIN_VIDEO_TYPE_VGA:
    case VIR_DOMAIN_VIDEO_TYPE_XEN:
        cfg->vga = g_strdup("stdvga");
        break;
    case VIR_DOMAIN_VIDEO_TYPE_CIRRUS:
        cfg->vga = g_strdup("cirrus");
        break;
    case VIR_DOMAIN_VIDEO_TYPE_QXL:
        cfg->vga = g_strdup("qxl");
        break;
    case VIR_DOMAIN_VIDEO_TYPE_NONE:
        cfg->vga = g_strdup("none");
        break;
    default:
        if (start) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("video type %s is not supported by libxl"),
                           virDomainVideoTypeToString(video->type));
            return -1;
        }
        break;
    }
    if (start && video->vram < min) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("videoram must be at least %uMB for %s"),
                       min / 1024, cfg->vga);
        return -1;
    }
    cfg->video_memkb = video->vram;
    return 0;
}

/* The HVM platform: firmware, boot order, device model, sound, USB
 * input, video. */
static int
xvHVMFromDef(const virDomainDef *def, xlite_domain_config *cfg, bool start)
{
    char boot[VIR_DOMAIN_BOOT_LAST + 1] = "";

    xvXLBootOrder(def, boot);
    cfg->boot = g_strdup(boot[0] ? boot : "c");

    if (def->os.firmware == VIR_DOMAIN_OS_DEF_FIRMWARE_EFI ||
        virDomainDefHasOldStyleUEFI(def))
        cfg->bios = XLITE_BIOS_OVMF;
    cfg->acpi_firmware = g_strdup(def->os.slic_table);

    if (xvEmulatorFromDef(def, cfg, start) < 0)
        return -1;
    xvSoundFromDef(def, cfg);
    if (xvUSBInputsFromDef(def, cfg, start) < 0 ||
        xvVideoFromDef(def, cfg, start) < 0)
        return -1;
    if (start && def->nparallels) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("Parallel devices are not supported by libxl"));
        return -1;
    }
    return 0;
}

/* What libvirt's Xen driver accepts and gives nothing on Xen: kept in the
 * definition as written, logged once per start. */
static void
xvLogIgnoredDevices(const virDomainDef *def)
{
    if (def->nrngs)
        VIR_INFO("domain '%s': <rng> has no Xen device; ignored", def->name);
    if (def->watchdog)
        VIR_INFO("domain '%s': <watchdog> has no Xen device; ignored", def->name);
    if (def->memballoon && def->memballoon->model != VIR_DOMAIN_MEMBALLOON_MODEL_XEN)
        VIR_INFO("domain '%s': memballoon model '%s' is not Xen's; the Xen balloon is used",
                 def->name, virDomainMemballoonModelTypeToString(def->memballoon->model));
    if (def->nsounds && def->os.type != VIR_DOMAIN_OSTYPE_HVM)
        VIR_INFO("domain '%s': <sound> is emulated for HVM guests only; ignored",
                 def->name);
    if (def->nvideos && def->os.type != VIR_DOMAIN_OSTYPE_HVM)
        VIR_INFO("domain '%s': <video> means nothing for a PV or PVH guest; ignored",
                 def->name);
    if (def->ntpms || def->nsmartcards || def->nredirdevs || def->nfss ||
        def->nshmems || def->nmems || def->npanics || def->vsock)
        VIR_INFO("domain '%s': a tpm, smartcard, redirdev, filesystem, shmem, memory, panic or vsock device has no Xen device; ignored",
                 def->name);
}

/* <os>: the domain's type and how it boots.  As xl and libvirt's driver,
 * a PV guest without a kernel boots through pygrub. */
static int
xvOSFromDef(const virDomainDef *def, xlite_domain_config *cfg)
{
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
    if (cfg->type == XLITE_DOMAIN_TYPE_PV && !cfg->kernel && !cfg->bootloader)
        cfg->bootloader = g_strdup(XV_DEFAULT_BOOTLOADER);
    return 0;
}

/* <memory>, <currentMemory>, <vcpu> and <cputune><shares> (Xen's credit
 * scheduler weight). */
static int
xvResourcesFromDef(const virDomainDef *def, xlite_domain_config *cfg)
{
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
    return 0;
}

/* A start needs Xen's own balloon: it cannot be another model, nor
 * none. */
static int
xvCheckBalloon(const virDomainDef *def)
{
    if (!def->memballoon ||
        def->memballoon->model == VIR_DOMAIN_MEMBALLOON_MODEL_XEN)
        return 0;
    if (def->memballoon->model == VIR_DOMAIN_MEMBALLOON_MODEL_NONE)
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("balloon device cannot be disabled"));
    else
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("unsupported balloon device model '%s'"),
                       virDomainMemballoonModelTypeToString(def->memballoon->model));
    return -1;
}

int
xvDomainConfigFromDef(const virDomainDef *def, xlite_domain_config *cfg,
                      unsigned int flags)
{
    bool start = flags & XV_CONFIG_START;

    cfg->name = g_strdup(def->name);
    memcpy(cfg->uuid, def->uuid, sizeof(cfg->uuid));

    if (xvOSFromDef(def, cfg) < 0 ||
        xvResourcesFromDef(def, cfg) < 0)
        return -1;
    if (xvActionFromDef(def->onPoweroff, &cfg->on_poweroff, "on_poweroff") < 0 ||
        xvActionFromDef(def->onReboot, &cfg->on_reboot, "on_reboot") < 0 ||
        xvActionFromDef(def->onCrash, &cfg->on_crash, "on_crash") < 0)
        return -1;

    if (xvFeaturesFromDef(def, cfg) < 0 ||
        xvClockFromDef(def, cfg, start) < 0 ||
        xvVnumaFromDef(def, cfg) < 0 ||
        (cfg->type == XLITE_DOMAIN_TYPE_HVM && xvHVMFromDef(def, cfg, start) < 0) ||
        xvDevicesFromDef(def, cfg, flags) < 0 ||
        xvHostdevsFromDef(def, cfg, start) < 0)
        return -1;

    if (start) {
        if (xvCheckBalloon(def) < 0)
            return -1;
        xvLogIgnoredDevices(def);
    }

    if (xlite_domain_config_validate(cfg) < 0) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s", xlite_errmsg());
        return -1;
    }
    return 0;
}

int
xvDeviceConfigFromDef(const virDomainDef *def, const virDomainDeviceDef *dev,
                      xlite_domain_config *cfg, unsigned int flags)
{
    switch (dev->type) {
    case VIR_DOMAIN_DEVICE_DISK:
        return xvDiskFromDef(dev->data.disk, cfg, true);
    case VIR_DOMAIN_DEVICE_NET:
        return xvNicFromDef(def, dev->data.net, cfg, flags | XV_CONFIG_START);
    default:
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("device type '%s' is not supported here"),
                       virDomainDeviceTypeToString(dev->type));
        return -1;
    }
}
