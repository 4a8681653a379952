/*
 * xen_pci.c: PCI passthrough, the "pci" list of xl.cfg and xm
 * ("[DDDD:]BB:DD.F[@VSLOT][,key=value...]", xl-pci-configuration(5)), read
 * and written
 *
 * Only PCI host devices are here; USB host devices are in xen_sound_usb.c
 * (HVM "usbdevice") and xen_xl.c (PV "usbdev").
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "xen_common_priv.h"

#include "viralloc.h"
#include "virerror.h"
#include "virlog.h"
#include "virstring.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.xen_pci");

/* ---------------------------------------------------------------------
 * pci: "[DDDD:]BB:DD.F[@VSLOT][,key=value...]" (xl-pci-configuration(5))
 */

/* "[DDDD:]BB:DD.F[@VSLOT]": -1 if malformed, without an error. */
static int
xvXenParsePCIAddress(char *bdf, virPCIDeviceAddress *addr,
                     unsigned int *vslot, bool *hasVslot)
{
    unsigned int d = 0, b, s, f;
    char tail;
    char *at;

    if ((at = strchr(bdf, '@'))) {
        *at = '\0';
        if (virStrToLong_uip(at + 1, NULL, 16, vslot) < 0 || *vslot > 31)
            return -1;
        *hasVslot = true;
    }
    if (sscanf(bdf, "%x:%x:%x.%x%c", &d, &b, &s, &f, &tail) != 4) {
        d = 0;
        if (sscanf(bdf, "%x:%x.%x%c", &b, &s, &f, &tail) != 3)
            return -1;
    }
    if (strchr(bdf, '*') || d > 0xffff || b > 0xff || s > 0x1f || f > 7)
        return -1;
    addr->domain = d;
    addr->bus = b;
    addr->slot = s;
    addr->function = f;
    return 0;
}

static virDomainHostdevDef *
xvXenParsePCI(xvXenParser *p, const char *spec)
{
    g_autoptr(GPtrArray) items = xvXenSpecSplit(spec, false);
    g_autoptr(virDomainHostdevDef) hostdev = virDomainHostdevDefNew();
    unsigned int line = xvXenLineOf(p, "pci", spec);
    virPCIDeviceAddress *addr;
    g_autofree char *bdf = NULL;
    unsigned int vslot = 0;
    bool hasVslot = false;
    size_t i;

    if (!hostdev)
        return NULL;
    hostdev->mode = VIR_DOMAIN_HOSTDEV_MODE_SUBSYS;
    hostdev->source.subsys.type = VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_PCI;
    hostdev->source.subsys.u.pci.backend = VIR_DOMAIN_HOSTDEV_PCI_BACKEND_XEN;
    addr = &hostdev->source.subsys.u.pci.addr;

    for (i = 0; i < items->len; i++) {
        xvXenSpecItem *item = g_ptr_array_index(items, i);
        const char *k = item->key;
        const char *v = item->value;

        if (!k && i == 0) {
            bdf = g_strdup(v);
        } else if (k && STREQ(k, "bdf") && !bdf) {
            bdf = g_strdup(v);
        } else if (k && STREQ(k, "vslot")) {
            if (virStrToLong_uip(v, NULL, 0, &vslot) < 0 || vslot > 31)
                goto malformed;
            hasVslot = true;
        } else if (k && STREQ(k, "seize")) {
            if (STRNEQ(v, "0") && STRNEQ(v, "1"))
                goto malformed;
            hostdev->managed = STREQ(v, "1");
        } else if (k && STREQ(k, "permissive")) {
            /* Writes to config space pciback does not know are passed
             * through: libvirt's writeFiltering='no'. */
            if (STRNEQ(v, "0") && STRNEQ(v, "1"))
                goto malformed;
            hostdev->writeFiltering = STREQ(v, "1") ? VIR_TRISTATE_BOOL_NO
                                                    : VIR_TRISTATE_BOOL_ABSENT;
        } else if (k && (STREQ(k, "msitranslate") || STREQ(k, "power_mgmt"))) {
            if (STRNEQ(v, "0")) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: pci spec '%s': '%s=%s' cannot be expressed in a domain XML"),
                               line, spec, k, v);
                return NULL;
            }
        } else {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: pci spec '%s': '%s' is not supported"),
                           line, spec, k ? k : v);
            return NULL;
        }
    }
    if (!bdf)
        goto malformed;

    if (xvXenParsePCIAddress(bdf, addr, &vslot, &hasVslot) < 0)
        goto malformed;
    if (hasVslot) {
        hostdev->info->type = VIR_DOMAIN_DEVICE_ADDRESS_TYPE_PCI;
        hostdev->info->addr.pci.slot = vslot;
    }
    return g_steal_pointer(&hostdev);

 malformed:
    virReportError(VIR_ERR_CONF_SYNTAX,
                   _("line %u: pci spec '%s' is malformed, expected [DDDD:]BB:DD.F[@VSLOT][,KEY=VALUE...]"),
                   line, spec);
    return NULL;
}

int
xvXenParsePCIList(xvXenParser *p, virDomainDef *def)
{
    g_auto(GStrv) list = NULL;
    size_t i;
    int rc;

    if ((rc = xvXenGetStringList(p, "pci", false, &list)) <= 0)
        return rc;
    for (i = 0; list[i]; i++) {
        virDomainHostdevDef *hostdev = xvXenParsePCI(p, list[i]);

        if (!hostdev)
            return -1;
        VIR_APPEND_ELEMENT(def->hostdevs, def->nhostdevs, hostdev);
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * Writing
 */

int
xvXenFormatPCIList(xvXenWriter *w, virDomainDef *def)
{
    g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(g_free);
    size_t i;

    for (i = 0; i < def->nhostdevs; i++) {
        virDomainHostdevDef *h = def->hostdevs[i];
        virPCIDeviceAddress *a = &h->source.subsys.u.pci.addr;
        g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;

        if (h->mode != VIR_DOMAIN_HOSTDEV_MODE_SUBSYS ||
            h->source.subsys.type != VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_PCI)
            continue;
        if (h->source.subsys.u.pci.backend != VIR_DOMAIN_HOSTDEV_PCI_BACKEND_XEN &&
            h->source.subsys.u.pci.backend != VIR_DOMAIN_HOSTDEV_PCI_BACKEND_DEFAULT) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("a PCI host device needs the 'xen' driver to be expressed in a Xen configuration"));
            return -1;
        }
        virBufferAsprintf(&buf, "%04x:%02x:%02x.%x", a->domain, a->bus, a->slot, a->function);
        if (h->info->type == VIR_DOMAIN_DEVICE_ADDRESS_TYPE_PCI) {
            if (h->info->addr.pci.domain || h->info->addr.pci.bus ||
                h->info->addr.pci.function) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                               _("a PCI host device's guest address can only name a slot on bus 0 in a Xen configuration"));
                return -1;
            }
            virBufferAsprintf(&buf, "@%x", h->info->addr.pci.slot);
        } else if (h->info->type != VIR_DOMAIN_DEVICE_ADDRESS_TYPE_NONE) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("a PCI host device's guest address must be a PCI address in a Xen configuration"));
            return -1;
        }
        if (h->writeFiltering == VIR_TRISTATE_BOOL_NO)
            virBufferAddLit(&buf, ",permissive=1");
        if (h->managed)
            virBufferAddLit(&buf, ",seize=1");
        g_ptr_array_add(list, virBufferContentAndReset(&buf));
    }
    return xvXenSetStringList(w, "pci", list);
}
