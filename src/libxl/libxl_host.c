/*
 * libxl_host.c: the host's identity: SMBIOS, security model, cpu model
 *
 * The entry points libvirt's Xen driver has for them, with its
 * semantics.  The host cpu is decoded from the cpuid that dom0 sees (on
 * the simulated host, this machine's), with the topology the hypervisor
 * reports; libvirt's Xen driver decodes the hypervisor's feature words
 * instead, which dom0's cpuid follows except for the features Xen hides
 * from a PV dom0.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "libxl_host.h"

#include "cpu/cpu.h"
#include "datatypes.h"
#include "viraccessapicheck.h"
#include "virbuffer.h"
#include "virerror.h"
#include "virlog.h"
#include "virsysinfo.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.libxl_host");

virCPUDef *
xvHostCPUNew(const xlite_host_info *info, virArch arch)
{
    virNodeInfo nodeinfo = {
        .cpus = info->nr_cpus,
        .mhz = info->cpu_mhz,
        .nodes = MAX(1u, info->numa_nodes),
        .sockets = MAX(1u, info->sockets),
        .cores = MAX(1u, info->cores_per_socket),
        .threads = MAX(1u, info->threads_per_core),
    };
    virCPUDef *cpu;

    if (!virCPUGetHostIsSupported(arch))
        return NULL;
    if (!(cpu = virCPUGetHost(arch, VIR_CPU_TYPE_HOST, &nodeinfo, NULL))) {
        /* Capabilities without a host cpu, as before: compareCPU then
         * answers "incompatible", as libvirt's Xen driver does. */
        VIR_WARN("cannot decode the host cpu: %s", virGetLastErrorMessage());
        virResetLastError();
    }
    return cpu;
}

/* SMBIOS as dom0 reads it (dmidecode): on Xen, the machine's. */
char *
xvConnectGetSysinfo(virConnectPtr conn, unsigned int flags)
{
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    g_autoptr(virSysinfoDef) sysinfo = NULL;

    virCheckFlags(0, NULL);

    if (virConnectGetSysinfoEnsureACL(conn) < 0)
        return NULL;

    /* Read when asked (rarely), not at every start of an embedded client. */
    if (!(sysinfo = virSysinfoRead())) {
        virResetLastError();
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("Host SMBIOS information is not available"));
        return NULL;
    }
    if (virSysinfoFormat(&buf, sysinfo) < 0)
        return NULL;
    return virBufferContentAndReset(&buf);
}

/* No security driver: success with nothing in it, as libvirt's Xen and
 * QEMU drivers answer, rather than "not supported" in every log. */
int
xvNodeGetSecurityModel(virConnectPtr conn, virSecurityModelPtr secmodel)
{
    memset(secmodel, 0, sizeof(*secmodel));

    if (virNodeGetSecurityModelEnsureACL(conn) < 0)
        return -1;
    return 0;
}

int
xvConnectCompareCPU(virConnectPtr conn, const char *xmlDesc,
                    unsigned int flags)
{
    xvDriver *driver = conn->privateData;

    virCheckFlags(VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE |
                  VIR_CONNECT_COMPARE_CPU_VALIDATE_XML,
                  VIR_CPU_COMPARE_ERROR);

    if (virConnectCompareCPUEnsureACL(conn) < 0)
        return VIR_CPU_COMPARE_ERROR;

    return virCPUCompareXML(driver->caps->host.arch, driver->caps->host.cpu,
                            xmlDesc,
                            !!(flags & VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE),
                            !!(flags & VIR_CONNECT_COMPARE_CPU_VALIDATE_XML));
}

char *
xvConnectBaselineCPU(virConnectPtr conn, const char **xmlCPUs,
                     unsigned int ncpus, unsigned int flags)
{
    virCPUDef **cpus = NULL;
    g_autoptr(virCPUDef) cpu = NULL;
    char *ret = NULL;

    virCheckFlags(VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES |
                  VIR_CONNECT_BASELINE_CPU_MIGRATABLE, NULL);

    if (virConnectBaselineCPUEnsureACL(conn) < 0)
        return NULL;

    if (!(cpus = virCPUDefListParse(xmlCPUs, ncpus, VIR_CPU_TYPE_HOST)))
        goto cleanup;
    if (!(cpu = virCPUBaseline(VIR_ARCH_NONE, cpus, ncpus, NULL, NULL,
                               !!(flags & VIR_CONNECT_BASELINE_CPU_MIGRATABLE))))
        goto cleanup;
    if ((flags & VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES) &&
        virCPUExpandFeatures(cpus[0]->arch, cpu) < 0)
        goto cleanup;
    ret = virCPUDefFormat(cpu, NULL);

 cleanup:
    virCPUDefListFree(cpus);
    return ret;
}
