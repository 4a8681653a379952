/*
 * xen_vif.c: network interfaces, the "vif" list of xl.cfg and xm
 * ("key=value,...", xl-network-configuration(5)), read and written
 *
 * It holds the vif spec parser, its rate syntax and its writer, nothing
 * else; the spec splitter is in xen_common.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "xen_common_priv.h"

#include "viralloc.h"
#include "virerror.h"
#include "virlog.h"
#include "virmacaddr.h"
#include "virstring.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.xen_vif");

/* ---------------------------------------------------------------------
 * vif: "key=value,..." (xl-network-configuration(5); xm has the same)
 */

/* "RATE[@INTERVAL]", RATE in [GMK]B/s or [GMK]b/s: kilobytes per second. */
static int
xvXenParseRate(const char *rate, unsigned long long *kbps)
{
    unsigned long long n;
    unsigned long long factor = 1;
    char *end = NULL;
    const char *at = strchr(rate, '@');
    g_autofree char *unit = NULL;

    if (at && STRNEQ(at, "@50ms") && STRNEQ(at, "@50000us"))
        return -2;
    if (virStrToLong_ull(rate, &end, 10, &n) < 0 || end == rate)
        return -1;
    unit = at ? g_strndup(end, at - end) : g_strdup(end);
    if (unit[0] == 'G')
        factor = 1000ULL * 1000 * 1000;
    else if (unit[0] == 'M')
        factor = 1000ULL * 1000;
    else if (unit[0] == 'K' || unit[0] == 'k')
        factor = 1000ULL;
    if (factor != 1)
        memmove(unit, unit + 1, strlen(unit));
    if (STREQ(unit, "b/s")) {
        if (n > ULLONG_MAX / factor)
            return -1;
        n = n * factor;
        if (n % 8)
            return -3;
        n /= 8;
    } else if (STREQ(unit, "B/s")) {
        if (n > ULLONG_MAX / factor)
            return -1;
        n = n * factor;
    } else {
        return -1;
    }
    if (n % 1000 || n == 0)
        return -3;
    *kbps = n / 1000;
    return 0;
}

/* "mac=": a unicast address. */
static int
xvXenParseVifMac(virDomainNetDef *net, unsigned int line, const char *spec,
                 const char *v)
{
    if (virMacAddrParse(v, &net->mac) < 0 ||
        virMacAddrIsMulticast(&net->mac)) {
        virResetLastError();
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: vif spec '%s': malformed or multicast mac address '%s'"),
                       line, spec, v);
        return -1;
    }
    return 0;
}

/* "vifname=": libvirt takes some prefixes for generated names, which an
 * inactive XML drops: they cannot be kept. */
static int
xvXenParseVifName(virDomainNetDef *net, unsigned int line, const char *spec,
                  const char *v)
{
    if (STRPREFIX(v, "vif") || STRPREFIX(v, "vnet") ||
        STRPREFIX(v, "macvtap") || STRPREFIX(v, "macvlan")) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: vif spec '%s': vifname '%s' has a prefix libvirt reserves for generated names (vif, vnet, macvtap, macvlan)"),
                       line, spec, v);
        return -1;
    }
    g_free(net->ifname);
    net->ifname = g_strdup(v);
    return 0;
}

/* "ip=ADDR[/PREFIX] ...": blank-separated addresses. */
static int
xvXenParseVifIP(virDomainNetDef *net, unsigned int line, const char *spec,
                const char *v)
{
    g_auto(GStrv) ips = g_strsplit(v, " ", 0);
    size_t j;

    for (j = 0; ips[j]; j++) {
        char *slash;
        unsigned int prefix = 0;

        if (!*ips[j])
            continue;
        if ((slash = strchr(ips[j], '/'))) {
            *slash = '\0';
            if (virStrToLong_uip(slash + 1, NULL, 10, &prefix) < 0 ||
                prefix > 128) {
                virReportError(VIR_ERR_CONF_SYNTAX,
                               _("line %u: vif spec '%s': malformed ip prefix '%s'"),
                               line, spec, slash + 1);
                return -1;
            }
        }
        if (virDomainNetAppendIPAddress(net, ips[j], AF_UNSPEC, prefix) < 0 ||
            (prefix > 32 &&
             VIR_SOCKET_ADDR_IS_FAMILY(&net->guestIP.ips[net->guestIP.nips - 1]->address,
                                       AF_INET))) {
            virResetLastError();
            virReportError(VIR_ERR_CONF_SYNTAX,
                           _("line %u: vif spec '%s': malformed ip address or prefix '%s'"),
                           line, spec, ips[j]);
            return -1;
        }
    }
    return 0;
}

/* "rate=": the outbound average bandwidth. */
static int
xvXenParseVifRate(virDomainNetDef *net, unsigned int line, const char *spec,
                  const char *v)
{
    unsigned long long kbps = 0;
    int rc = xvXenParseRate(v, &kbps);

    if (rc == -2 || rc == -3) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       rc == -2 ? _("line %u: vif spec '%s': a rate interval other than 50ms ('%s') cannot be expressed in a domain XML")
                                : _("line %u: vif spec '%s': rate '%s' is not a whole number of kilobytes per second"),
                       line, spec, v);
        return -1;
    }
    if (rc < 0) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: vif spec '%s': malformed rate '%s'"),
                       line, spec, v);
        return -1;
    }
    virNetDevBandwidthFree(net->bandwidth);
    net->bandwidth = g_new0(virNetDevBandwidth, 1);
    net->bandwidth->out = g_new0(virNetDevBandwidthRate, 1);
    net->bandwidth->out->average = kbps;
    return 0;
}

/* "type=" and "model=": an emulated NIC (ioemu) may name a model, the PV
 * one (@vifType: "vif" in xl, "netfront" in xm) is the netfront model. */
static int
xvXenParseVifModel(virDomainNetDef *net, unsigned int line, const char *spec,
                   const char *vifType, const char *type, const char *model)
{
    if (type && STRNEQ(type, vifType) && STRNEQ(type, "ioemu")) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: vif spec '%s': type '%s' is not supported, expected 'ioemu' or '%s'"),
                       line, spec, type, vifType);
        return -1;
    }
    if (model) {
        if (STREQ_NULLABLE(type, vifType)) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: vif spec '%s': a model is only valid with type 'ioemu'"),
                           line, spec);
            return -1;
        }
        if (virDomainNetSetModelString(net, model) < 0)
            return -1;
    } else if (STREQ_NULLABLE(type, vifType)) {
        net->model = VIR_DOMAIN_NET_MODEL_NETFRONT;
    }
    return 0;
}

static int
xvXenParseVifMTU(virDomainNetDef *net, unsigned int line, const char *spec,
                 const char *value)
{
    if (virStrToLong_uip(value, NULL, 10, &net->mtu) < 0 || net->mtu == 0) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: vif spec '%s': malformed mtu '%s'"),
                       line, spec, value);
        return -1;
    }
    return 0;
}

/* Open vSwitch's bridge forms (xl-network-configuration(5)):
 * "BRIDGE.VLAN" tags the port, "BRIDGE:T1:T2..." trunks VLANs; both are
 * an Open vSwitch port with a <vlan>. */
static int
xvXenParseVifBridge(virDomainNetDef *net, const char *bridge)
{
    size_t n = strcspn(bridge, ".:");
    g_auto(GStrv) tags = NULL;
    size_t i;

    net->data.bridge.brname = g_strndup(bridge, n);
    if (!bridge[n])
        return 0;
    if (n == 0)
        return -1;
    tags = g_strsplit(bridge + n + 1, ":", 0);
    if (bridge[n] == '.' && g_strv_length(tags) != 1)
        return -1;
    net->vlan.nTags = g_strv_length(tags);
    net->vlan.tag = g_new0(unsigned int, net->vlan.nTags);
    net->vlan.trunk = bridge[n] == ':';
    for (i = 0; tags[i]; i++) {
        if (virStrToLong_uip(tags[i], NULL, 10, &net->vlan.tag[i]) < 0 ||
            net->vlan.tag[i] > 4095)
            return -1;
    }
    net->virtPortProfile = g_new0(virNetDevVPortProfile, 1);
    net->virtPortProfile->virtPortType = VIR_NETDEV_VPORT_PROFILE_OPENVSWITCH;
    return 0;
}

static virDomainNetDef *
xvXenParseVif(xvXenParser *p, const char *spec)
{
    g_autoptr(GPtrArray) items = xvXenSpecSplit(spec, false);
    g_autoptr(virDomainNetDef) net = virDomainNetDefNew(p->xmlopt);
    const char *vifType = p->format == XV_XEN_FORMAT_XL ? "vif" : "netfront";
    const char *bridge = NULL;
    const char *script = NULL;
    const char *model = NULL;
    const char *type = NULL;
    unsigned int line = xvXenLineOf(p, "vif", spec);
    size_t i;

    if (!net)
        return NULL;

    for (i = 0; i < items->len; i++) {
        xvXenSpecItem *item = g_ptr_array_index(items, i);
        const char *v = item->value;

        if (!item->key) {
            if (!*v && items->len == 1)
                break;  /* "" is a vif with every default */
            virReportError(VIR_ERR_CONF_SYNTAX,
                           _("line %u: vif spec '%s': '%s' is not a key=value pair"),
                           line, spec, v);
            return NULL;
        }
        if (STREQ(item->key, "mac")) {
            if (xvXenParseVifMac(net, line, spec, v) < 0)
                return NULL;
        } else if (STREQ(item->key, "bridge")) {
            bridge = v;
        } else if (STREQ(item->key, "script")) {
            script = v;
        } else if (STREQ(item->key, "model")) {
            model = v;
        } else if (STREQ(item->key, "type")) {
            type = v;
        } else if (STREQ(item->key, "vifname")) {
            if (xvXenParseVifName(net, line, spec, v) < 0)
                return NULL;
        } else if (STREQ(item->key, "backend")) {
            g_free(net->domain_name);
            net->domain_name = g_strdup(v);
        } else if (STREQ(item->key, "ip")) {
            if (xvXenParseVifIP(net, line, spec, v) < 0)
                return NULL;
        } else if (STREQ(item->key, "rate")) {
            if (xvXenParseVifRate(net, line, spec, v) < 0)
                return NULL;
        } else if (STREQ(item->key, "mtu") && p->format == XV_XEN_FORMAT_XL) {
            if (xvXenParseVifMTU(net, line, spec, v) < 0)
                return NULL;
        } else {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: vif spec '%s': key '%s' is not supported"),
                           line, spec, item->key);
            return NULL;
        }
    }

    if (bridge) {
        net->type = VIR_DOMAIN_NET_TYPE_BRIDGE;
        if (xvXenParseVifBridge(net, bridge) < 0) {
            virReportError(VIR_ERR_CONF_SYNTAX,
                           _("line %u: vif spec '%s': bridge '%s' is malformed, expected BRIDGE[.VLAN] or BRIDGE:TRUNK[:TRUNK...]"),
                           line, spec, bridge);
            return NULL;
        }
    } else {
        net->type = VIR_DOMAIN_NET_TYPE_ETHERNET;
    }
    if (script && *script)
        net->script = g_strdup(script);
    if (xvXenParseVifModel(net, line, spec, vifType, type, model) < 0)
        return NULL;
    return g_steal_pointer(&net);
}

int
xvXenParseVifList(xvXenParser *p, virDomainDef *def)
{
    g_auto(GStrv) vifs = NULL;
    size_t i;
    int rc;

    if ((rc = xvXenGetStringList(p, "vif", false, &vifs)) <= 0)
        return rc;
    for (i = 0; vifs[i]; i++) {
        virDomainNetDef *net = xvXenParseVif(p, vifs[i]);

        if (!net)
            return -1;
        VIR_APPEND_ELEMENT(def->nets, def->nnets, net);
    }
    return 0;
}

/* ",ip=ADDR[/PREFIX] ...", if the interface has addresses. */
static int
xvXenFormatVifIP(virDomainNetDef *net, virBuffer *buf)
{
    size_t i;

    if (net->guestIP.nips == 0)
        return 0;
    virBufferAddLit(buf, ",ip=");
    for (i = 0; i < net->guestIP.nips; i++) {
        g_autofree char *addr = virSocketAddrFormat(&net->guestIP.ips[i]->address);

        if (!addr)
            return -1;
        if (i > 0)
            virBufferAddChar(buf, ' ');
        virBufferAdd(buf, addr, -1);
        if (net->guestIP.ips[i]->prefix)
            virBufferAsprintf(buf, "/%u", net->guestIP.ips[i]->prefix);
    }
    return 0;
}

/* An Open vSwitch port's VLANs, in the bridge name. */
static int
xvXenFormatVifVlan(virDomainNetDef *net, virBuffer *buf)
{
    const virNetDevVPortProfile *port = net->virtPortProfile;
    size_t i;

    if (!port && !net->vlan.nTags)
        return 0;
    /* The port's interfaceid (which libvirt's parser generates when the
     * XML has none) has no xl setting: vif-openvswitch names the port. */
    if (!port || port->virtPortType != VIR_NETDEV_VPORT_PROFILE_OPENVSWITCH ||
        port->profileID[0]) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("only an Open vSwitch port without a profile id can be expressed in a Xen configuration"));
        return -1;
    }
    if (net->vlan.nativeMode) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("a native VLAN mode cannot be expressed in a Xen configuration"));
        return -1;
    }
    for (i = 0; i < (size_t)net->vlan.nTags; i++)
        virBufferAsprintf(buf, "%c%u", net->vlan.trunk ? ':' : '.', net->vlan.tag[i]);
    return 0;
}

static int
xvXenFormatVif(xvXenWriter *w, virDomainDef *def, virDomainNetDef *net,
               GPtrArray *out)
{
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    char mac[VIR_MAC_STRING_BUFLEN];
    const char *vifType = w->format == XV_XEN_FORMAT_XL ? "vif" : "netfront";

    virBufferAsprintf(&buf, "mac=%s", virMacAddrFormat(&net->mac, mac));

    switch (net->type) {
    case VIR_DOMAIN_NET_TYPE_BRIDGE:
        virBufferAsprintf(&buf, ",bridge=%s", net->data.bridge.brname);
        if (xvXenFormatVifVlan(net, &buf) < 0)
            return -1;
        break;
    case VIR_DOMAIN_NET_TYPE_ETHERNET:
        break;
    default:
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("interface type '%s' cannot be expressed in a Xen configuration, use 'bridge' or 'ethernet'"),
                       virDomainNetTypeToString(net->type));
        return -1;
    }

    if (net->model == VIR_DOMAIN_NET_MODEL_NETFRONT) {
        virBufferAsprintf(&buf, ",type=%s", vifType);
    } else if (net->model != VIR_DOMAIN_NET_MODEL_UNKNOWN || net->modelstr) {
        /* Written for PV guests too, as libvirt's converter does: xl
         * ignores it there (and the driver refuses it at start). */
        virBufferAsprintf(&buf, ",model=%s", virDomainNetGetModelString(net));
    }

    if (xvXenFormatVifIP(net, &buf) < 0)
        return -1;
    if (net->script)
        virBufferAsprintf(&buf, ",script=%s", net->script);
    if (net->ifname)
        virBufferAsprintf(&buf, ",vifname=%s", net->ifname);
    if (net->domain_name)
        virBufferAsprintf(&buf, ",backend=%s", net->domain_name);
    if (net->mtu) {
        if (w->format != XV_XEN_FORMAT_XL) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("an interface mtu cannot be expressed in the xen-xm format"));
            return -1;
        }
        virBufferAsprintf(&buf, ",mtu=%u", net->mtu);
    }
    if (net->bandwidth) {
        if (net->bandwidth->in ||
            (net->bandwidth->out && (net->bandwidth->out->peak ||
                                     net->bandwidth->out->burst ||
                                     net->bandwidth->out->floor))) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("only an outbound average bandwidth can be expressed in a Xen configuration"));
            return -1;
        }
        if (net->bandwidth->out)
            virBufferAsprintf(&buf, ",rate=%lluKB/s", net->bandwidth->out->average);
    }
    if (((net->virtPortProfile || net->vlan.nTags) &&
         net->type != VIR_DOMAIN_NET_TYPE_BRIDGE) ||
        net->filter || net->tune.sndbuf_specified || net->linkstate) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("interface port profiles and vlans (other than on an Open vSwitch bridge), filters, link states and tuning cannot be expressed in a Xen configuration"));
        return -1;
    }

    g_ptr_array_add(out, virBufferContentAndReset(&buf));
    return 0;
}

int
xvXenFormatVifList(xvXenWriter *w, virDomainDef *def)
{
    g_autoptr(GPtrArray) vifs = g_ptr_array_new_with_free_func(g_free);
    size_t i;

    for (i = 0; i < def->nnets; i++) {
        if (xvXenFormatVif(w, def, def->nets[i], vifs) < 0)
            return -1;
    }
    return xvXenSetStringList(w, "vif", vifs);
}
