/*
 * libxl_stats.c: monitoring: cpu, memory, disk and network figures of
 * domains and of the host
 *
 * Every figure comes from where Xen keeps it, through the core: cpu time
 * from the hypervisor's per-vcpu accounting (XEN_DOMCTL_getvcpuinfo, or
 * the simulated host's), host cpu time from its per-cpu idle time.  These
 * are queries: they take no job (DESIGN.md section 6) and answer while a
 * long operation holds the domain's job; the core's calls they make are
 * single hypervisor requests.  Where libvirt's Xen driver has the entry
 * point, its semantics and errors are ours; where it lacks it, libvirt's
 * QEMU driver's are (docs/monitoring.md).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "libxl_stats.h"
#include "libxl_domain.h"

#include "datatypes.h"
#include "viraccessapicheck.h"
#include "viralloc.h"
#include "virbitmap.h"
#include "virerror.h"
#include "virlog.h"
#include "virstring.h"
#include "virtypedparam.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.libxl_stats");

/* ---------------------------------------------------------------------
 * Cpu time of a domain
 */

/* The vcpus of a running domain, from the hypervisor. */
static int
xvStatsDomainVcpus(xvDriver *driver, virDomainObj *vm,
                   xlite_vcpuinfo **vcpus_r, size_t *n_r)
{
    if (xlite_domain_vcpu_list(driver->ctx, vm->def->id, vcpus_r, n_r) < 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot get the vcpus of domain '%s': %s"),
                       vm->def->name, xlite_errmsg());
        return -1;
    }
    return 0;
}

/*
 * start_cpu -1: the domain's total, cpu_time (as libvirt's Xen driver).
 * Otherwise per physical cpu, as libvirt's QEMU driver gives it (libvirt's
 * Xen driver answers per vcpu there): the time the domain's vcpus ran on
 * each, each vcpu counted on the cpu it runs on (exact for pinned vcpus;
 * the simulated host keeps each vcpu on one cpu).
 */
int
xvDomainGetCPUStats(virDomainPtr dom, virTypedParameterPtr params,
                    unsigned int nparams, int start_cpu, unsigned int ncpus,
                    unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    g_autofree xlite_vcpuinfo *vcpus = NULL;
    g_autofree unsigned long long *percpu = NULL;
    unsigned int hostcpus = driver->hostInfo.nr_cpus;
    size_t nvcpus = 0, i;
    int ret = -1;

    virCheckFlags(VIR_TYPED_PARAM_STRING_OKAY, -1);

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainGetCPUStatsEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    if (virDomainObjCheckActive(vm) < 0)
        goto cleanup;

    if (start_cpu == -1) {
        xlite_dominfo info;

        if (nparams == 0) {
            ret = 1;
            goto cleanup;
        }
        if (xlite_domain_info(driver->ctx, vm->def->id, &info) < 0) {
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("cannot get the cpu time of domain '%s': %s"),
                           vm->def->name, xlite_errmsg());
            goto cleanup;
        }
        if (virTypedParameterAssign(&params[0], VIR_DOMAIN_CPU_STATS_CPUTIME,
                                    VIR_TYPED_PARAM_ULLONG,
                                    info.cpu_time_ns) < 0)
            goto cleanup;
        ret = 1;
        goto cleanup;
    }

    /* The number of parameters per cpu, then the number of cpus. */
    if (nparams == 0 && ncpus != 0) {
        ret = 1;
        goto cleanup;
    }
    if (ncpus == 0) {
        ret = hostcpus;
        goto cleanup;
    }
    if (start_cpu >= (int)hostcpus) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("start_cpu %d larger than maximum of %d"),
                       start_cpu, hostcpus - 1);
        goto cleanup;
    }

    if (xvStatsDomainVcpus(driver, vm, &vcpus, &nvcpus) < 0)
        goto cleanup;
    percpu = g_new0(unsigned long long, hostcpus);
    for (i = 0; i < nvcpus; i++)
        if (vcpus[i].cpu < hostcpus)
            percpu[vcpus[i].cpu] += vcpus[i].cpu_time_ns;
    for (i = start_cpu; i < hostcpus && i < start_cpu + (size_t)ncpus; i++) {
        if (virTypedParameterAssign(&params[(i - start_cpu) * nparams],
                                    VIR_DOMAIN_CPU_STATS_CPUTIME,
                                    VIR_TYPED_PARAM_ULLONG, percpu[i]) < 0)
            goto cleanup;
    }
    ret = 1;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}

/* ---------------------------------------------------------------------
 * The host
 */

/* Every cpu Xen reports is online (an offline one is absent from its
 * count), as libvirt's Xen driver has it through libxl_get_online_cpus. */
int
xvNodeGetCPUMap(virConnectPtr conn, unsigned char **cpumap,
                unsigned int *online, unsigned int flags)
{
    xvDriver *driver = conn->privateData;
    unsigned int ncpus = driver->hostInfo.nr_cpus;

    virCheckFlags(0, -1);

    if (virNodeGetCPUMapEnsureACL(conn) < 0)
        return -1;

    if (cpumap) {
        g_autoptr(virBitmap) cpus = virBitmapNew(ncpus);
        int len;

        virBitmapSetAll(cpus);
        if (virBitmapToData(cpus, cpumap, &len) < 0)
            return -1;
    }
    if (online)
        *online = ncpus;
    return ncpus;
}

#define XV_NODE_CPU_STATS 2

/*
 * The host's cpus as the hypervisor accounts them: "user" is the time
 * vcpus ran (every domain's, dom0's included: on Xen all of it is guest
 * time), "idle" the hypervisor's idle time.  The Linux figures libvirt's
 * QEMU driver reads from /proc/stat would be dom0's alone here.
 */
int
xvNodeGetCPUStats(virConnectPtr conn, int cpuNum, virNodeCPUStatsPtr params,
                  int *nparams, unsigned int flags)
{
    xvDriver *driver = conn->privateData;
    g_autofree xlite_pcpuinfo *cpus = NULL;
    unsigned long long guest = 0, idle = 0;
    size_t n = 0, i;
    bool found = false;

    virCheckFlags(0, -1);

    if (virNodeGetCPUStatsEnsureACL(conn) < 0)
        return -1;

    if (*nparams == 0) {
        *nparams = XV_NODE_CPU_STATS;
        return 0;
    }
    if (*nparams != XV_NODE_CPU_STATS) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("nparams must be equal to %d"), XV_NODE_CPU_STATS);
        return -1;
    }

    if (xlite_host_pcpu_list(driver->ctx, &cpus, &n) < 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot get the host's cpu time: %s"),
                       xlite_errmsg());
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (cpuNum != VIR_NODE_CPU_STATS_ALL_CPUS &&
            cpus[i].cpu != (unsigned int)cpuNum)
            continue;
        guest += cpus[i].guest_ns;
        idle += cpus[i].idle_ns;
        found = true;
    }
    if (!found) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("Invalid cpuNum %d"), cpuNum);
        return -1;
    }

    memset(params, 0, sizeof(*params) * XV_NODE_CPU_STATS);
    if (virStrcpyStatic(params[0].field, VIR_NODE_CPU_STATS_USER) < 0 ||
        virStrcpyStatic(params[1].field, VIR_NODE_CPU_STATS_IDLE) < 0)
        return -1;
    params[0].value = guest;
    params[1].value = idle;
    return 0;
}

#define XV_NODE_MEMORY_STATS 2

/* The host's memory as the hypervisor has it: all of it, and what no
 * domain holds (dom0's Linux figures would describe dom0 alone). */
int
xvNodeGetMemoryStats(virConnectPtr conn, int cellNum,
                     virNodeMemoryStatsPtr params, int *nparams,
                     unsigned int flags)
{
    xvDriver *driver = conn->privateData;
    xlite_host_info host;

    virCheckFlags(0, -1);

    if (virNodeGetMemoryStatsEnsureACL(conn) < 0)
        return -1;

    /* One node: cell 0 is the whole host, as libvirt has it without NUMA. */
    if (cellNum != VIR_NODE_MEMORY_STATS_ALL_CELLS &&
        (cellNum < 0 || (unsigned int)cellNum >=
                        MAX(1u, driver->hostInfo.numa_nodes))) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("cellNum must be less than or equal to %u"),
                       MAX(1u, driver->hostInfo.numa_nodes) - 1);
        return -1;
    }
    if (driver->hostInfo.numa_nodes > 1 &&
        cellNum != VIR_NODE_MEMORY_STATS_ALL_CELLS) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                       _("memory statistics per NUMA cell are not supported"));
        return -1;
    }
    if (*nparams == 0) {
        *nparams = XV_NODE_MEMORY_STATS;
        return 0;
    }
    if (*nparams != XV_NODE_MEMORY_STATS) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("nparams must be %d"), XV_NODE_MEMORY_STATS);
        return -1;
    }
    if (xlite_host_get_info(driver->ctx, &host) < 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot get the host's memory: %s"), xlite_errmsg());
        return -1;
    }

    memset(params, 0, sizeof(*params) * XV_NODE_MEMORY_STATS);
    if (virStrcpyStatic(params[0].field, VIR_NODE_MEMORY_STATS_TOTAL) < 0 ||
        virStrcpyStatic(params[1].field, VIR_NODE_MEMORY_STATS_FREE) < 0)
        return -1;
    params[0].value = host.total_kib;
    params[1].value = host.free_kib;
    return 0;
}
