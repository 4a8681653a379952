/*
 * libxl_capabilities.c: the host's capabilities, as libvirt describes them
 *
 * The same facts libvirt's Xen driver reports on the same host, from the
 * same sources: the host cpu decoded from Xen's featureset words against
 * libvirt's cpu map, the NUMA cells from Xen's cpu and memory topology,
 * one guest per guest ABI Xen lists in its capabilities string (a PVH
 * guest beside every HVM one).  Where this differs (the device model's
 * path, no migration features) docs/libvirt-compat.md says why.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "libxl_conf.h"

#include "cpu/cpu.h"
#include "cpu/cpu_x86.h"
#include "virarch.h"
#include "virbitmap.h"
#include "virlog.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.libxl_capabilities");

/* Paths Xen's toolstack uses on Debian; reported, not executed.  libvirt's
 * driver names its build-time paths (/usr/lib/xen/...), which Debian's Xen
 * does not install. */
#define XV_DEVICE_MODEL "/usr/lib/xen-4.17/bin/qemu-system-i386"
#define XV_FIRMWARE_DIR "/usr/lib/xen-4.17/boot"
#define XV_HVMLOADER XV_FIRMWARE_DIR "/hvmloader"
#define XV_OVMF XV_FIRMWARE_DIR "/ovmf.bin"

/* The QEMU a domain's capabilities name when the caller names none: the
 * one libvirt's driver names. */
#define XV_DOMCAPS_EMULATOR "/usr/bin/qemu-system-x86_64"

/*
 * Xen has no interface for the most vcpus a guest of each type may have;
 * libvirt's driver reports these, HVM's being Xen's HVM_MAX_VCPUS
 * (public/hvm/hvm_info_table.h) and PV's a figure of its own.
 */
#define XV_HVM_MAX_VCPUS 128
#define XV_PV_MAX_VCPUS 512

/* Bits of Xen's featureset words (public/arch-x86/cpufeatureset.h). */
#define XV_X86_FEATURE_PAE (1u << 6)    /* word 0, CPUID 1.EDX */
#define XV_X86_FEATURE_LM (1u << 29)    /* word 2, CPUID 0x80000001.EDX */

/* ---------------------------------------------------------------------
 * The host cpu
 */

/* Xen's featureset words (in the order of xlite_host_info.hw_cap) as the
 * CPUID leaves they are. */
static virCPUData *
xvCapsFeaturesetData(virArch arch, const uint32_t *hw_cap)
{
    const virCPUx86CPUID leaves[] = {
        { .eax_in = 0x00000001, .edx = hw_cap[0] },
        { .eax_in = 0x00000001, .ecx = hw_cap[1] },
        { .eax_in = 0x80000001, .edx = hw_cap[2] },
        { .eax_in = 0x80000001, .ecx = hw_cap[3] },
        { .eax_in = 0x0000000d, .ecx_in = 1, .eax = hw_cap[4] },
        { .eax_in = 0x00000007, .ecx_in = 0, .ebx = hw_cap[5] },
        { .eax_in = 0x00000007, .ecx_in = 0, .ecx = hw_cap[6] },
        { .eax_in = 0x80000007, .edx = hw_cap[7] },
    };
    g_autoptr(virCPUData) data = NULL;
    size_t i;

    if (!(data = virCPUDataNew(arch)))
        return NULL;
    for (i = 0; i < G_N_ELEMENTS(leaves); i++) {
        virCPUx86DataItem item = {
            .type = VIR_CPU_X86_DATA_CPUID,
            .data.cpuid = leaves[i],
        };

        if (virCPUx86DataAdd(data, &item) < 0)
            return NULL;
    }
    return g_steal_pointer(&data);
}

/*
 * The host cpu from Xen's featureset, the way libvirt's driver makes it:
 * the host's "pae" feature, the arch by long mode, the topology of
 * physinfo with one die, and the model and features libvirt's cpu map
 * decodes the words to (no vendor or signature: the words hold neither).
 * A featureset of zeros (Arm) gives no cpu.  Where the map has no model
 * for the words (an x86 cpu under TCG lacks vme, which every model of
 * libvirt 9.0's map has), libvirt's driver fails to start; this one warns
 * and shows the host without a cpu model.
 */
static int
xvCapsInitCPU(virCaps *caps, const xlite_host_info *info)
{
    g_autoptr(virCPUData) data = NULL;
    g_autoptr(virCPUDef) cpu = NULL;

    if (!info->hw_cap[0])
        return 0;

    if ((info->hw_cap[0] & XV_X86_FEATURE_PAE) &&
        virCapabilitiesAddHostFeature(caps, "pae") < 0)
        return -1;

    cpu = virCPUDefNew();
    cpu->arch = (info->hw_cap[2] & XV_X86_FEATURE_LM) ? VIR_ARCH_X86_64
                                                       : VIR_ARCH_I686;
    cpu->type = VIR_CPU_TYPE_HOST;
    cpu->cores = MAX(1u, info->cores_per_socket);
    cpu->threads = MAX(1u, info->threads_per_core);
    cpu->dies = 1;
    cpu->sockets = MAX(1u, info->nr_cpus / (cpu->cores * cpu->threads));

    if (!(data = xvCapsFeaturesetData(cpu->arch, info->hw_cap)) ||
        cpuDecode(cpu, data, NULL) < 0) {
        VIR_WARN("cannot decode the host cpu from Xen's featureset: %s",
                 virGetLastErrorMessage());
        virResetLastError();
        return 0;
    }

    caps->host.cpu = g_steal_pointer(&cpu);
    return 0;
}

/* ---------------------------------------------------------------------
 * NUMA cells
 */

/*
 * One cell per node Xen knows memory of, with its distances and its
 * online cpus; a cpu's siblings are the cpus of its node with the same
 * socket and core.  Xen reports no dies: die 0, as libvirt's driver says.
 */
static void
xvCapsInitNuma(virCaps *caps, const xlite_host_topology *topo)
{
    g_autofree virCapsHostNUMACellCPU **cells = NULL;
    g_autofree unsigned int *ncells = NULL;
    unsigned int i, j;

    if (!topo || topo->nnodes == 0)
        return;

    cells = g_new0(virCapsHostNUMACellCPU *, topo->nnodes);
    ncells = g_new0(unsigned int, topo->nnodes);

    for (i = 0; i < topo->ncpus; i++) {
        const xlite_cpu_topology *t = &topo->cpus[i];
        virCapsHostNUMACellCPU *cpu;

        if (t->core == XLITE_TOPOLOGY_INVALID || t->node >= topo->nnodes)
            continue;
        cells[t->node] = g_renew(virCapsHostNUMACellCPU, cells[t->node],
                                 ncells[t->node] + 1);
        cpu = &cells[t->node][ncells[t->node]++];
        cpu->id = i;
        cpu->socket_id = t->socket;
        cpu->die_id = 0;
        cpu->core_id = t->core;
        cpu->siblings = virBitmapNew(topo->ncpus);
    }
    for (i = 0; i < topo->ncpus; i++) {
        const xlite_cpu_topology *t = &topo->cpus[i];

        if (t->core == XLITE_TOPOLOGY_INVALID || t->node >= topo->nnodes)
            continue;
        for (j = 0; j < ncells[t->node]; j++) {
            virCapsHostNUMACellCPU *cpu = &cells[t->node][j];

            if (cpu->socket_id == t->socket && cpu->core_id == t->core)
                ignore_value(virBitmapSetBit(cpu->siblings, i));
        }
    }

    caps->host.numa = virCapabilitiesHostNUMANew();
    for (i = 0; i < topo->nnodes; i++) {
        g_autofree virNumaDistance *distances = NULL;

        if (topo->nodes[i].size_kib == XLITE_TOPOLOGY_NO_MEMORY) {
            for (j = 0; j < ncells[i]; j++)
                virBitmapFree(cells[i][j].siblings);
            g_clear_pointer(&cells[i], g_free);
            continue;
        }
        distances = g_new0(virNumaDistance, topo->nnodes);
        for (j = 0; j < topo->nnodes; j++) {
            distances[j].cellid = j;
            distances[j].value = topo->distances[i * topo->nnodes + j];
        }
        virCapabilitiesHostNUMAAddCell(caps->host.numa, i,
                                       topo->nodes[i].size_kib,
                                       ncells[i], &cells[i],
                                       topo->nnodes, &distances,
                                       0, NULL, NULL);
    }
}

/* ---------------------------------------------------------------------
 * Guests
 */

typedef enum {
    XV_GUEST_PV,
    XV_GUEST_HVM,
    XV_GUEST_PVH,
} xvGuestKind;

typedef struct {
    xvGuestKind kind;
    virArch arch;
    bool pae;
    bool nonpae;
    bool ia64_be;
} xvGuestArch;

/*
 * Xen's capabilities string lists the guest ABIs it runs, each
 * "TYPE-VER-ARCH[SUFFIX]": TYPE "xen" (PV) or "hvm", ARCH x86_32 (SUFFIX
 * "p": with PAE; none: without), x86_64, ia64 ("be": big-endian),
 * powerpc64, armv7l, aarch64.  One guest per (type, arch), the suffixes
 * merged; after each new HVM one, a PVH one of the same arch (Xen 4.10
 * and later run PVH guests wherever they run HVM ones).  The order is
 * Xen's, as in libvirt's driver.
 */
static GArray *
xvCapsParseGuestArchs(const char *xenCaps)
{
    g_autoptr(GArray) archs = g_array_new(FALSE, TRUE, sizeof(xvGuestArch));
    g_autoptr(GRegex) re = NULL;
    g_auto(GStrv) tokens = g_strsplit(xenCaps, " ", 0);
    size_t i;

    re = g_regex_new("^(xen|hvm)-[0-9]+\\.[0-9]+-"
                     "(aarch64|armv7l|x86_32|x86_64|ia64|powerpc64)(p|be)?$",
                     0, 0, NULL);
    for (i = 0; tokens[i]; i++) {
        g_autoptr(GMatchInfo) m = NULL;
        g_autofree char *type = NULL;
        g_autofree char *archstr = NULL;
        g_autofree char *suffix = NULL;
        xvGuestArch found = { 0 };
        xvGuestArch *ga = NULL;
        size_t k;

        if (!g_regex_match(re, tokens[i], 0, &m))
            continue;
        type = g_match_info_fetch(m, 1);
        archstr = g_match_info_fetch(m, 2);
        suffix = g_match_info_fetch(m, 3);

        found.kind = STREQ(type, "hvm") ? XV_GUEST_HVM : XV_GUEST_PV;
        if (STREQ(archstr, "x86_32")) {
            found.arch = VIR_ARCH_I686;
            found.pae = STREQ_NULLABLE(suffix, "p");
            found.nonpae = !found.pae;
        } else if (STREQ(archstr, "x86_64")) {
            found.arch = VIR_ARCH_X86_64;
        } else if (STREQ(archstr, "ia64")) {
            found.arch = VIR_ARCH_ITANIUM;
            found.ia64_be = STREQ_NULLABLE(suffix, "be");
        } else if (STREQ(archstr, "powerpc64")) {
            found.arch = VIR_ARCH_PPC64;
        } else if (STREQ(archstr, "armv7l")) {
            found.arch = VIR_ARCH_ARMV7L;
        } else {
            found.arch = VIR_ARCH_AARCH64;
        }

        for (k = 0; k < archs->len; k++) {
            xvGuestArch *g = &g_array_index(archs, xvGuestArch, k);

            if (g->kind == found.kind && g->arch == found.arch) {
                ga = g;
                break;
            }
        }
        if (ga) {
            ga->pae |= found.pae;
            ga->nonpae |= found.nonpae;
            ga->ia64_be |= found.ia64_be;
            continue;
        }
        g_array_append_val(archs, found);
        if (found.kind == XV_GUEST_HVM) {
            xvGuestArch pvh = { .kind = XV_GUEST_PVH, .arch = found.arch };

            g_array_append_val(archs, pvh);
        }
    }
    return g_steal_pointer(&archs);
}

/*
 * One <guest> per guest ABI, in libvirt's vocabulary:
 *   PV  -> os type "xen",    machine "xenpv"
 *   PVH -> os type "xenpvh", machine "xenpvh"
 *   HVM -> os type "hvm",    machine "xenfv", with the firmware loader
 * each with the single domain type "xen", and the features libvirt's
 * driver gives: pae/nonpae/ia64_be from the ABI, acpi and apic for HVM,
 * hap for HVM and PVH.
 */
static int
xvCapsInitGuests(virCaps *caps, const xlite_host_info *info)
{
    static const char *const ostypeMachine[] = {
        [XV_GUEST_PV] = "xenpv",
        [XV_GUEST_HVM] = "xenfv",
        [XV_GUEST_PVH] = "xenpvh",
    };
    static const virDomainOSType ostypes[] = {
        [XV_GUEST_PV] = VIR_DOMAIN_OSTYPE_XEN,
        [XV_GUEST_HVM] = VIR_DOMAIN_OSTYPE_HVM,
        [XV_GUEST_PVH] = VIR_DOMAIN_OSTYPE_XENPVH,
    };
    g_autoptr(GArray) archs = xvCapsParseGuestArchs(info->xen_caps);
    size_t i;

    if (archs->len == 0)
        VIR_WARN("the hypervisor lists no guest type we know: '%s'",
                 info->xen_caps);

    for (i = 0; i < archs->len; i++) {
        const xvGuestArch *ga = &g_array_index(archs, xvGuestArch, i);
        const char *const machines[] = { ostypeMachine[ga->kind] };
        virCapsGuestMachine **guestMachines;
        virCapsGuest *guest;
        bool hvm = ga->kind == XV_GUEST_HVM;

        if (!(guestMachines = virCapabilitiesAllocMachines(machines, 1)))
            return -1;
        guest = virCapabilitiesAddGuest(caps, ostypes[ga->kind], ga->arch,
                                        XV_DEVICE_MODEL,
                                        hvm ? XV_HVMLOADER : NULL,
                                        1, guestMachines);
        virCapabilitiesAddGuestDomain(guest, VIR_DOMAIN_VIRT_XEN,
                                      NULL, NULL, 0, NULL);

        if (ga->pae)
            virCapabilitiesAddGuestFeature(guest, VIR_CAPS_GUEST_FEATURE_TYPE_PAE);
        if (ga->nonpae)
            virCapabilitiesAddGuestFeature(guest, VIR_CAPS_GUEST_FEATURE_TYPE_NONPAE);
        if (ga->ia64_be)
            virCapabilitiesAddGuestFeature(guest, VIR_CAPS_GUEST_FEATURE_TYPE_IA64_BE);
        if (hvm) {
            virCapabilitiesAddGuestFeatureWithToggle(guest,
                                                     VIR_CAPS_GUEST_FEATURE_TYPE_ACPI,
                                                     true, true);
            virCapabilitiesAddGuestFeatureWithToggle(guest,
                                                     VIR_CAPS_GUEST_FEATURE_TYPE_APIC,
                                                     true, false);
        }
        if (hvm || ga->kind == XV_GUEST_PVH)
            virCapabilitiesAddGuestFeatureWithToggle(guest,
                                                     VIR_CAPS_GUEST_FEATURE_TYPE_HAP,
                                                     true, true);
    }
    return 0;
}

/*
 * No <migration_features>: libvirt's driver says <live/>, and migrates;
 * this one does not migrate yet (docs/libvirt-compat.md).
 */
virCaps *
xvCapabilitiesNew(const xlite_host_info *info,
                  const xlite_host_topology *topo)
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

    if (xvCapsInitCPU(caps, info) < 0)
        return NULL;
    virCapabilitiesSetNetPrefix(caps, XV_VIF_PREFIX);
    xvCapsInitNuma(caps, topo);
    if (xvCapsInitGuests(caps, info) < 0)
        return NULL;

    return g_steal_pointer(&caps);
}

/* ---------------------------------------------------------------------
 * Domain capabilities
 */

/*
 * A guest's firmware: none to choose for PV and PVH (the loader is "not
 * supported", as libvirt's driver says); for HVM, OVMF and hvmloader from
 * Xen's firmware directory, as ROM or pflash, read-only.
 */
static void
xvDomainCapsOS(virDomainCaps *domCaps)
{
    virDomainCapsLoader *loader = &domCaps->os.loader;
    static const char *const firmwares[] = { XV_OVMF, XV_HVMLOADER };
    size_t i;

    domCaps->os.supported = VIR_TRISTATE_BOOL_YES;
    loader->supported = VIR_TRISTATE_BOOL_NO;
    loader->type.report = true;
    loader->readonly.report = true;
    if (STRNEQ(domCaps->machine, "xenfv"))
        return;

    loader->supported = VIR_TRISTATE_BOOL_YES;
    loader->values.values = g_new0(char *, G_N_ELEMENTS(firmwares));
    for (i = 0; i < G_N_ELEMENTS(firmwares); i++)
        loader->values.values[loader->values.nvalues++] = g_strdup(firmwares[i]);
    VIR_DOMAIN_CAPS_ENUM_SET(loader->type,
                             VIR_DOMAIN_LOADER_TYPE_ROM,
                             VIR_DOMAIN_LOADER_TYPE_PFLASH);
    VIR_DOMAIN_CAPS_ENUM_SET(loader->readonly, VIR_TRISTATE_BOOL_YES);
}

/*
 * What a guest of machine @machine and @arch can have, as libvirt's
 * driver reports it (vcpus, firmware, disks), except what this driver
 * does not run yet: graphics, video and host devices are said to be
 * unsupported until it runs them (defined as libvirt's driver defines
 * them, refused when a domain starts: see xvDomainConfigFromDef).
 */
virDomainCaps *
xvDomainCapsNew(const char *emulatorbin, const char *machine, virArch arch)
{
    g_autoptr(virDomainCaps) domCaps = NULL;
    virDomainCapsDeviceDisk *disk;

    if (!(domCaps = virDomainCapsNew(emulatorbin ? emulatorbin
                                                 : XV_DOMCAPS_EMULATOR,
                                     machine, arch, VIR_DOMAIN_VIRT_XEN)))
        return NULL;

    domCaps->maxvcpus = STREQ(machine, "xenfv") ? XV_HVM_MAX_VCPUS
                                                : XV_PV_MAX_VCPUS;
    xvDomainCapsOS(domCaps);

    disk = &domCaps->disk;
    disk->supported = VIR_TRISTATE_BOOL_YES;
    disk->diskDevice.report = true;
    disk->bus.report = true;
    disk->model.report = true;
    VIR_DOMAIN_CAPS_ENUM_SET(disk->diskDevice,
                             VIR_DOMAIN_DISK_DEVICE_DISK,
                             VIR_DOMAIN_DISK_DEVICE_CDROM);
    VIR_DOMAIN_CAPS_ENUM_SET(disk->bus,
                             VIR_DOMAIN_DISK_BUS_IDE,
                             VIR_DOMAIN_DISK_BUS_SCSI,
                             VIR_DOMAIN_DISK_BUS_XEN);

    domCaps->graphics.supported = VIR_TRISTATE_BOOL_NO;
    domCaps->video.supported = VIR_TRISTATE_BOOL_NO;
    domCaps->hostdev.supported = VIR_TRISTATE_BOOL_NO;
    domCaps->features[VIR_DOMAIN_CAPS_FEATURE_IOTHREADS] = VIR_TRISTATE_BOOL_NO;
    domCaps->features[VIR_DOMAIN_CAPS_FEATURE_VMCOREINFO] = VIR_TRISTATE_BOOL_NO;
    domCaps->features[VIR_DOMAIN_CAPS_FEATURE_GENID] = VIR_TRISTATE_BOOL_NO;
    domCaps->gic.supported = VIR_TRISTATE_BOOL_NO;

    return g_steal_pointer(&domCaps);
}
