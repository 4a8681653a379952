/*
 * libxl_network.c: a domain's interfaces on libvirt networks and its disks
 * from libvirt storage pools, through the daemon's network and storage
 * drivers
 *
 * An <interface type='network'> names a libvirt network; a <disk
 * type='volume'> names a volume of a libvirt storage pool.  Neither says
 * what the core needs (a bridge, a path): the daemon's network and storage
 * drivers do, as they do for libvirt's own drivers.  When a domain starts
 * (or an interface or disk is attached) each such interface gets a port on
 * its network (virNetworkPortCreateXML, through libvirt's
 * virDomainNetAllocateActualDevice, as libvirt's Xen driver does), whose
 * "actual" device (a bridge for a bridged or NAT network) the live XML
 * shows and the core plugs the vif into; each such disk is resolved to the
 * volume's path and type (virDomainDiskTranslateSourcePool, as libvirt's
 * QEMU driver does: libvirt 9.0's Xen driver has no volume disks).  When
 * the domain stops (or the interface is detached) its ports are deleted.
 * When the driver starts again and finds the domain running, its ports
 * are claimed again from the network driver, which recreates those it
 * lost (a network restarted meanwhile), as libvirt's Xen driver does.
 *
 * An embedded driver (xen:///embed) runs in a process with no network or
 * storage driver: a start needing one fails, saying so, rather than ask a
 * system daemon's drivers the embedding process never meant to use.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "libxl_network.h"

#include "datatypes.h"
#include "domain_conf.h"
#include "domain_validate.h"
#include "driver.h"
#include "virnetworkportdef.h"
#include "virerror.h"
#include "virlog.h"
#include "viruuid.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.libxl_network");

/* Allocate the port of @net (of @def) if it is on a libvirt network: its
 * actual device is then known (virDomainNetGetActualType and friends). */
int
xvNetworkPrepareNet(xvDriver *driver, virDomainDef *def, virDomainNetDef *net)
{
    g_autoptr(virConnect) conn = NULL;

    if (net->type != VIR_DOMAIN_NET_TYPE_NETWORK)
        return 0;
    if (driver->embedded) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("interface type 'network' (network '%s') needs libvirt's network driver, which this connection has not got (embedded mode): use a bridge"),
                       net->data.network.name);
        return -1;
    }
    if (!(conn = virGetConnectNetwork()))
        return -1;
    if (virDomainNetAllocateActualDevice(conn, def, net) < 0)
        return -1;
    if (virDomainActualNetDefValidate(net) < 0)
        goto release;

    /* A routed, NAT or isolated network gives its own bridge (actual type
     * 'network'), a bridge network the host's (actual type 'bridge').  A
     * network of host devices or of macvtap devices gives what a Xen vif
     * cannot be. */
    switch (virDomainNetGetActualType(net)) {
    case VIR_DOMAIN_NET_TYPE_NETWORK:
    case VIR_DOMAIN_NET_TYPE_BRIDGE:
        break;
    default:
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("network '%s' gives interfaces of type '%s': only bridged networks are supported by Xen"),
                       net->data.network.name,
                       virDomainNetTypeToString(virDomainNetGetActualType(net)));
        goto release;
    }
    VIR_DEBUG("domain '%s': interface on network '%s' uses bridge '%s'",
              def->name, net->data.network.name,
              NULLSTR(virDomainNetGetActualBridgeName(net)));
    return 0;

 release:
    xvNetworkReleaseNet(def, net);
    return -1;
}

/* Delete the port of @net if it has one.  Never fails: a port left behind
 * is logged (the network driver drops it with the network). */
void
xvNetworkReleaseNet(virDomainDef *def, virDomainNetDef *net)
{
    g_autoptr(virConnect) conn = NULL;
    virErrorPtr saved;

    if (net->type != VIR_DOMAIN_NET_TYPE_NETWORK ||
        !virUUIDIsValid(net->data.network.portid))
        return;

    virErrorPreserveLast(&saved);
    if (!(conn = virGetConnectNetwork()) ||
        virDomainNetReleaseActualDevice(conn, def, net) < 0) {
        VIR_WARN("domain '%s': cannot release its port on network '%s': %s",
                 def->name, net->data.network.name, virGetLastErrorMessage());
    }
    /* The port is gone, or beyond reach: the definition forgets it. */
    memset(net->data.network.portid, 0, sizeof(net->data.network.portid));
    g_clear_pointer(&net->data.network.actual, virDomainActualNetDefFree);
    virErrorRestore(&saved);
}

/* Claim again the port of @net of the running domain @def: the network
 * driver keeps it, or lost it (the network was restarted) and creates it
 * anew with the same identity and bridge.  Never fails: a port not
 * reclaimed is logged. */
static void
xvNetworkReclaimNet(virConnectPtr conn, virDomainDef *def,
                    virDomainNetDef *net)
{
    g_autoptr(virNetwork) network = NULL;
    g_autoptr(virNetworkPort) port = NULL;
    g_autoptr(virNetworkPortDef) portdef = NULL;
    g_autofree char *xml = NULL;

    if (!(network = virNetworkLookupByName(conn, net->data.network.name)))
        goto error;
    if ((port = virNetworkPortLookupByUUID(network, net->data.network.portid)))
        return;
    if (!(portdef = virDomainNetDefActualToNetworkPort(def, net)) ||
        !(xml = virNetworkPortDefFormat(portdef)) ||
        !(port = virNetworkPortCreateXML(network, xml,
                                         VIR_NETWORK_PORT_CREATE_RECLAIM)))
        goto error;
    VIR_INFO("domain '%s': its port on network '%s' was reclaimed",
             def->name, net->data.network.name);
    return;

 error:
    VIR_WARN("domain '%s': cannot reclaim its port on network '%s': %s",
             def->name, net->data.network.name, virGetLastErrorMessage());
    virResetLastError();
}

/* Claim again the ports of the running domain @def, found by a driver
 * that starts (not in embedded mode, which allocates none). */
void
xvNetworkReclaimDomain(virDomainDef *def)
{
    g_autoptr(virConnect) conn = NULL;
    size_t i;

    for (i = 0; i < def->nnets; i++) {
        virDomainNetDef *net = def->nets[i];

        if (net->type != VIR_DOMAIN_NET_TYPE_NETWORK ||
            !virUUIDIsValid(net->data.network.portid))
            continue;
        if (!conn && !(conn = virGetConnectNetwork())) {
            VIR_WARN("domain '%s': cannot reclaim its network ports: %s",
                     def->name, virGetLastErrorMessage());
            virResetLastError();
            return;
        }
        xvNetworkReclaimNet(conn, def, net);
    }
}

/* Resolve @disk if it is a volume of a storage pool: its source is then
 * the volume's (path and actual type). */
int
xvNetworkPrepareDisk(xvDriver *driver, virDomainDiskDef *disk)
{
    if (virDomainDiskGetType(disk) != VIR_STORAGE_TYPE_VOLUME)
        return 0;
    if (driver->embedded) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s' of type 'volume' (pool '%s') needs libvirt's storage driver, which this connection has not got (embedded mode): use a file or block disk"),
                       disk->dst, NULLSTR(disk->src->srcpool ? disk->src->srcpool->pool : NULL));
        return -1;
    }
    return virDomainDiskTranslateSourcePool(disk);
}

/* Everything a starting domain needs of the network and storage drivers,
 * on its live definition @def.  On failure, what was allocated is
 * released. */
int
xvNetworkPrepareDomain(xvDriver *driver, virDomainDef *def)
{
    size_t i;

    for (i = 0; i < def->ndisks; i++) {
        if (xvNetworkPrepareDisk(driver, def->disks[i]) < 0)
            return -1;
    }
    for (i = 0; i < def->nnets; i++) {
        if (xvNetworkPrepareNet(driver, def, def->nets[i]) < 0) {
            xvNetworkReleaseDomain(def);
            return -1;
        }
    }
    return 0;
}

/* Give back the ports of a stopped domain's live definition @def. */
void
xvNetworkReleaseDomain(virDomainDef *def)
{
    size_t i;

    for (i = 0; i < def->nnets; i++)
        xvNetworkReleaseNet(def, def->nets[i]);
}
