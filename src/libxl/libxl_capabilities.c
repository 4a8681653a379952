/*
 * libxl_capabilities.c: the host's capabilities, as libvirt describes them
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "libxl_conf.h"
#include "libxl_host.h"

#include "virarch.h"
#include "virlog.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.libxl_capabilities");

/* Paths Xen's toolstack uses on Debian; reported, not executed. */
#define XV_DEVICE_MODEL "/usr/lib/xen-4.17/bin/qemu-system-i386"
#define XV_HVMLOADER "/usr/lib/xen-4.17/boot/hvmloader"

/*
 * One <guest> per guest type the host offers, in libvirt's vocabulary:
 *   PV  -> os type "xen",    machine "xenpv"
 *   PVH -> os type "xenpvh", machine "xenpvh"
 *   HVM -> os type "hvm",    machine "xenfv", with the firmware loader
 * Every guest type has the single domain type "xen".
 */
static int
xvCapsAddGuest(virCaps *caps, virDomainOSType ostype, virArch arch,
               const char *machine)
{
    const char *const machines[] = { machine };
    virCapsGuestMachine **guestMachines;
    virCapsGuest *guest;
    bool hvm = ostype == VIR_DOMAIN_OSTYPE_HVM;

    if (!(guestMachines = virCapabilitiesAllocMachines(machines, 1)))
        return -1;

    guest = virCapabilitiesAddGuest(caps, ostype, arch, XV_DEVICE_MODEL,
                                    hvm ? XV_HVMLOADER : NULL,
                                    1, guestMachines);
    virCapabilitiesAddGuestDomain(guest, VIR_DOMAIN_VIRT_XEN,
                                  NULL, NULL, 0, NULL);

    if (ostype == VIR_DOMAIN_OSTYPE_XEN)
        virCapabilitiesAddGuestFeature(guest, VIR_CAPS_GUEST_FEATURE_TYPE_PAE);
    if (hvm) {
        virCapabilitiesAddGuestFeature(guest, VIR_CAPS_GUEST_FEATURE_TYPE_PAE);
        virCapabilitiesAddGuestFeatureWithToggle(guest,
                                                 VIR_CAPS_GUEST_FEATURE_TYPE_ACPI,
                                                 true, true);
        virCapabilitiesAddGuestFeatureWithToggle(guest,
                                                 VIR_CAPS_GUEST_FEATURE_TYPE_APIC,
                                                 true, false);
        virCapabilitiesAddGuestFeatureWithToggle(guest,
                                                 VIR_CAPS_GUEST_FEATURE_TYPE_HAP,
                                                 true, true);
    }
    return 0;
}

virCaps *
xvCapabilitiesNew(const xlite_host_info *info)
{
    g_autoptr(virCaps) caps = NULL;
    virArch arch = virArchFromString(info->arch);

    if (arch == VIR_ARCH_NONE) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("unknown host architecture '%s'"), info->arch);
        return NULL;
    }

    if (!(caps = virCapabilitiesNew(arch, false, false)))
        return NULL;

    caps->host.cpu = xvHostCPUNew(info, arch);

    if ((info->guest_types & XLITE_GUEST_PV) &&
        xvCapsAddGuest(caps, VIR_DOMAIN_OSTYPE_XEN, arch, "xenpv") < 0)
        return NULL;
    if ((info->guest_types & XLITE_GUEST_PVH) &&
        xvCapsAddGuest(caps, VIR_DOMAIN_OSTYPE_XENPVH, arch, "xenpvh") < 0)
        return NULL;
    if ((info->guest_types & XLITE_GUEST_HVM) &&
        xvCapsAddGuest(caps, VIR_DOMAIN_OSTYPE_HVM, arch, "xenfv") < 0)
        return NULL;

    return g_steal_pointer(&caps);
}
