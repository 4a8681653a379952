/*
 * libxl_stats.c: monitoring: cpu, memory, disk and network figures of
 * domains and of the host
 *
 * Every figure comes from where Xen keeps it, through the core: cpu time
 * from the hypervisor's per-vcpu accounting (XEN_DOMCTL_getvcpuinfo, or
 * the simulated host's), host cpu time from its per-cpu idle time.  These
 * are queries: they take no job (DESIGN.md section 6) and answer while a
 * long operation holds the domain's job; the core's calls they make are
 * single read-only requests on its query path, which a long hypervisor
 * request of another thread (a domain build) does not hold up.  Where libvirt's Xen driver has the entry
 * point, its semantics and errors are ours; where it lacks it, libvirt's
 * QEMU driver's are (docs/monitoring.md).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libxl_agent.h"
#include "libxl_stats.h"
#include "libxl_domain.h"
#include "libxl_blockjob.h"

#include "datatypes.h"
#include "domain_event.h"
#include "storage_file/storage_source.h"
#include "viraccessapicheck.h"
#include "viralloc.h"
#include "virbitmap.h"
#include "virendian.h"
#include "virfile.h"
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
 * each.  Xen keeps time per vcpu, not per cpu: each vcpu's time is
 * counted on the cpu it runs on now, exact for a vcpu that stays on one
 * cpu (pinned to it; the simulated host moves a vcpu only when pinned).
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
        if (xlite_domain_stat(driver->ctx, vm->def->id, &info) < 0) {
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

/* ---------------------------------------------------------------------
 * Memory of a domain
 *
 * The balloon from the hypervisor; the guest's own figures where its
 * guest tools write them in xenstore (data/meminfo_total, _free, as
 * XenServer's tools do, and _available), read as untrusted input by the
 * core.  Without them, "available" is the domain's maximum, as libvirt's
 * Xen driver reports it.
 */

/* Fills @stats in tag order; returns how many. */
static int
xvStatsMemoryFill(const xlite_memory_stats *m, const virDomainDef *def,
                  virDomainMemoryStatPtr stats, unsigned int nr_stats)
{
    unsigned int n = 0;

#define XV_MEMSTAT(TAG, VAL) \
    do { \
        if (n < nr_stats) { \
            stats[n].tag = (TAG); \
            stats[n].val = (VAL); \
            n++; \
        } \
    } while (0)
    if (m->guest_free_kib != XLITE_MEMSTAT_NONE)
        XV_MEMSTAT(VIR_DOMAIN_MEMORY_STAT_UNUSED, m->guest_free_kib);
    XV_MEMSTAT(VIR_DOMAIN_MEMORY_STAT_AVAILABLE,
               m->guest_total_kib != XLITE_MEMSTAT_NONE
               ? m->guest_total_kib : virDomainDefGetMemoryTotal(def));
    XV_MEMSTAT(VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON, m->actual_kib);
    if (m->guest_available_kib != XLITE_MEMSTAT_NONE)
        XV_MEMSTAT(VIR_DOMAIN_MEMORY_STAT_USABLE, m->guest_available_kib);
#undef XV_MEMSTAT
    return n;
}

int
xvDomainMemoryStats(virDomainPtr dom, virDomainMemoryStatPtr stats,
                    unsigned int nr_stats, unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    xlite_memory_stats m;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainMemoryStatsEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    if (virDomainObjCheckActive(vm) < 0)
        goto cleanup;
    if (xlite_domain_memory_stats(driver->ctx, vm->def->id, NULL, &m) < 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot get the memory of domain '%s': %s"),
                       vm->def->name, xlite_errmsg());
        goto cleanup;
    }
    ret = xvStatsMemoryFill(&m, vm->def, stats, nr_stats);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}

/*
 * The core saw the balloon move (XLITE_EVENT_BALLOON_CHANGE, from the
 * domain's event worker): the live definition's current memory follows,
 * and clients get VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE with what the domain
 * holds now, in KiB, as from libvirt's QEMU driver (libvirt's Xen driver
 * sends none).  No job: only a figure changes, one the queries read from
 * the hypervisor anyway, and a long job must not hold the event back.
 */
void
xvDomainBalloonChanged(xvDriver *driver, const xlite_event *ev)
{
    virDomainObj *vm;
    virObjectEvent *event = NULL;

    if (!(vm = virDomainObjListFindByID(driver->domains, ev->domid)))
        return;
    /* Stopped, or another instance, since the core saw it. */
    if (virDomainObjIsActive(vm) && (uint32_t)vm->def->id == ev->domid &&
        memcmp(vm->def->uuid, ev->uuid, VIR_UUID_BUFLEN) == 0) {
        VIR_DEBUG("domain '%s': balloon at %llu KiB", vm->def->name,
                  (unsigned long long)ev->u.balloon_change.actual_kib);
        vm->def->mem.cur_balloon = ev->u.balloon_change.actual_kib;
        event = virDomainEventBalloonChangeNewFromObj(vm,
                                                      ev->u.balloon_change.actual_kib);
    }
    virDomainObjEndAPI(&vm);
    virObjectEventStateQueue(driver->domainEventState, event);
}

/* ---------------------------------------------------------------------
 * Disks and interfaces
 *
 * A disk's requests are counted by its blkback, an interface's traffic
 * by the host's vif: the core reads both where Linux keeps them, in
 * dom0's sysfs (libvirt's Xen driver reads the same blkback files).
 */

typedef struct {
    unsigned long long rd_req;
    unsigned long long rd_bytes;
    unsigned long long wr_req;
    unsigned long long wr_bytes;
    unsigned long long fl_req;
    unsigned long long errs;
} xvDiskStats;

/* blkback counts sectors of 512 bytes, whatever the disk's sector size. */
#define XV_BLKBACK_SECTOR 512ULL

static int
xvStatsDiskRead(xvDriver *driver, virDomainObj *vm, virDomainDiskDef *disk,
                xvDiskStats *st, bool quiet)
{
    xlite_disk_stats raw;
    int rc;

    if ((rc = xlite_device_disk_stats(driver->ctx, vm->def->id, disk->dst,
                                      &raw)) < 0) {
        if (!quiet)
            virReportError(rc == -ENOENT ? VIR_ERR_OPERATION_UNSUPPORTED
                                         : VIR_ERR_OPERATION_FAILED,
                           _("cannot get the statistics of disk '%s': %s"),
                           disk->dst, xlite_errmsg());
        return -1;
    }
    st->rd_req = raw.rd_req;
    st->rd_bytes = raw.rd_sect * XV_BLKBACK_SECTOR;
    st->wr_req = raw.wr_req;
    st->wr_bytes = raw.wr_sect * XV_BLKBACK_SECTOR;
    st->fl_req = raw.f_req;
    st->errs = raw.oo_req;
    return 0;
}

/* The guest's view of its interface: the host's vif receives what the
 * guest sends. */
static int
xvStatsInterfaceRead(xvDriver *driver, virDomainNetDef *net,
                     virDomainInterfaceStatsPtr st, bool quiet)
{
    xlite_netif_stats host;
    int rc;

    if ((rc = xlite_host_netif_stats(driver->ctx, net->ifname, &host)) < 0) {
        if (!quiet)
            virReportError(rc == -ENOENT ? VIR_ERR_OPERATION_INVALID
                                         : VIR_ERR_OPERATION_FAILED,
                           _("cannot get the statistics of interface '%s': %s"),
                           net->ifname, xlite_errmsg());
        return -1;
    }
    st->rx_bytes = host.tx_bytes;
    st->rx_packets = host.tx_packets;
    st->rx_errs = host.tx_errors;
    st->rx_drop = host.tx_dropped;
    st->tx_bytes = host.rx_bytes;
    st->tx_packets = host.rx_packets;
    st->tx_errs = host.rx_errors;
    st->tx_drop = host.rx_dropped;
    return 0;
}

typedef struct {
    unsigned long long allocation;  /* bytes the image uses on the host */
    unsigned long long capacity;    /* bytes the guest sees */
    unsigned long long physical;    /* the image's size */
} xvDiskSize;

/* The size of a local image @src (a disk's, or a layer of its backing
 * chain): raw, or qcow2 (whose header gives the virtual size); nothing
 * for others and for block devices. */
static int
xvStatsImageSize(const virStorageSource *src, xvDiskSize *size)
{
    const char *path = src->path;
    int format = src->format;
    VIR_AUTOCLOSE fd = -1;
    struct stat sb;

    if (!path || !virStorageSourceIsLocalStorage(src) ||
        (format != VIR_STORAGE_FILE_RAW && format != VIR_STORAGE_FILE_QCOW2 &&
         format != VIR_STORAGE_FILE_NONE))
        return -1;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0 ||
        fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode))
        return -1;
    size->allocation = (unsigned long long)sb.st_blocks * 512;
    size->physical = sb.st_size;
    size->capacity = sb.st_size;
    if (format == VIR_STORAGE_FILE_QCOW2) {
        unsigned char hdr[32];

        if (pread(fd, hdr, sizeof(hdr), 0) != sizeof(hdr) ||
            memcmp(hdr, "QFI\xfb", 4) != 0)
            return -1;
        size->capacity = virReadBufInt64BE(hdr + 24);
    }
    return 0;
}

/* "" (every disk, summed) or one disk, by target or source. */
static int
xvStatsDiskGather(xvDriver *driver, virDomainObj *vm, const char *path,
                  xvDiskStats *st)
{
    size_t i;

    memset(st, 0, sizeof(*st));
    if (*path) {
        virDomainDiskDef *disk = virDomainDiskByName(vm->def, path, false);

        if (!disk) {
            virReportError(VIR_ERR_INVALID_ARG,
                           _("invalid path: %s"), path);
            return -1;
        }
        return xvStatsDiskRead(driver, vm, disk, st, false);
    }
    for (i = 0; i < vm->def->ndisks; i++) {
        xvDiskStats one;

        if (xvStatsDiskRead(driver, vm, vm->def->disks[i], &one, false) < 0)
            return -1;
        st->rd_req += one.rd_req;
        st->rd_bytes += one.rd_bytes;
        st->wr_req += one.wr_req;
        st->wr_bytes += one.wr_bytes;
        st->fl_req += one.fl_req;
        st->errs += one.errs;
    }
    return 0;
}

int
xvDomainBlockStats(virDomainPtr dom, const char *path,
                   virDomainBlockStatsPtr stats)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    xvDiskStats st;
    int ret = -1;

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainBlockStatsEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    if (virDomainObjCheckActive(vm) < 0)
        goto cleanup;
    if (xvStatsDiskGather(driver, vm, path, &st) < 0)
        goto cleanup;
    stats->rd_req = st.rd_req;
    stats->rd_bytes = st.rd_bytes;
    stats->wr_req = st.wr_req;
    stats->wr_bytes = st.wr_bytes;
    stats->errs = st.errs;
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}

#define XV_BLOCK_STATS 6

int
xvDomainBlockStatsFlags(virDomainPtr dom, const char *path,
                        virTypedParameterPtr params, int *nparams,
                        unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    xvDiskStats st;
    int n = 0;
    int ret = -1;

    virCheckFlags(VIR_TYPED_PARAM_STRING_OKAY, -1);

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainBlockStatsFlagsEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    if (virDomainObjCheckActive(vm) < 0)
        goto cleanup;
    if (*nparams == 0) {
        *nparams = XV_BLOCK_STATS;
        ret = 0;
        goto cleanup;
    }
    if (xvStatsDiskGather(driver, vm, path, &st) < 0)
        goto cleanup;

#define XV_BLOCK_PARAM(name, value) \
    do { \
        if (n < *nparams && \
            virTypedParameterAssign(&params[n++], name, VIR_TYPED_PARAM_LLONG, \
                                    (long long)(value)) < 0) \
            goto cleanup; \
    } while (0)
    /* libvirt's Xen driver's order. */
    XV_BLOCK_PARAM(VIR_DOMAIN_BLOCK_STATS_WRITE_BYTES, st.wr_bytes);
    XV_BLOCK_PARAM(VIR_DOMAIN_BLOCK_STATS_WRITE_REQ, st.wr_req);
    XV_BLOCK_PARAM(VIR_DOMAIN_BLOCK_STATS_READ_BYTES, st.rd_bytes);
    XV_BLOCK_PARAM(VIR_DOMAIN_BLOCK_STATS_READ_REQ, st.rd_req);
    XV_BLOCK_PARAM(VIR_DOMAIN_BLOCK_STATS_FLUSH_REQ, st.fl_req);
    XV_BLOCK_PARAM(VIR_DOMAIN_BLOCK_STATS_ERRS, st.errs);
#undef XV_BLOCK_PARAM
    *nparams = n;
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}

int
xvDomainInterfaceStats(virDomainPtr dom, const char *device,
                       virDomainInterfaceStatsPtr stats)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    virDomainNetDef *net;
    int ret = -1;

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainInterfaceStatsEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    if (virDomainObjCheckActive(vm) < 0)
        goto cleanup;
    if (!(net = virDomainNetFind(vm->def, device)))
        goto cleanup;
    if (!net->ifname) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("interface '%s' has no host interface"), device);
        goto cleanup;
    }
    if (xvStatsInterfaceRead(driver, net, stats, false) < 0)
        goto cleanup;
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}

/* ---------------------------------------------------------------------
 * Addresses of a domain's interfaces: virDomainInterfaceAddresses
 *
 * As libvirt's Xen driver: the leases libvirt's network driver handed out
 * to the interfaces on a libvirt network (`virsh domifaddr`, the default
 * source).  The host's ARP table, which libvirt's Xen driver lacks, as
 * libvirt's QEMU driver reads its host's (virDomainNetARPInterfaces): on
 * a real dom0 its table, on the simulated host its network namespace's.
 * The guest agent, which no Xen driver has yet, is refused with libvirt's
 * Xen driver's error.
 */

/* The leases of @net's MAC on its network, as one interface; NULL with
 * *none_r set when it has none. */
static virDomainInterfacePtr
xvStatsNetLeases(virConnectPtr netconn, const virDomainNetDef *net,
                 bool *none_r)
{
    g_autoptr(virNetwork) network = NULL;
    virNetworkDHCPLeasePtr *leases = NULL;
    char macaddr[VIR_MAC_STRING_BUFLEN];
    virDomainInterfacePtr iface;
    int n;
    int i;

    *none_r = false;
    virMacAddrFormat(&net->mac, macaddr);
    if (!(network = virNetworkLookupByName(netconn, net->data.network.name)) ||
        (n = virNetworkGetDHCPLeases(network, macaddr, &leases, 0)) < 0)
        return NULL;
    if (n == 0) {
        *none_r = true;
        return NULL;
    }
    iface = g_new0(virDomainInterface, 1);
    iface->name = g_strdup(net->ifname);
    iface->hwaddr = g_strdup(macaddr);
    /* One address a lease. */
    iface->naddrs = n;
    iface->addrs = g_new0(virDomainIPAddress, n);
    for (i = 0; i < n; i++) {
        iface->addrs[i].type = leases[i]->type;
        iface->addrs[i].addr = g_strdup(leases[i]->ipaddr);
        iface->addrs[i].prefix = leases[i]->prefix;
        virNetworkDHCPLeaseFree(leases[i]);
    }
    g_free(leases);
    return iface;
}

static int
xvStatsLeases(virDomainObj *vm, virDomainInterfacePtr **ifaces)
{
    virConnectPtr netconn = NULL;
    virDomainInterfacePtr *found = NULL;
    size_t nfound = 0;
    size_t i;
    int ret = -1;

    for (i = 0; i < vm->def->nnets; i++) {
        const virDomainNetDef *net = vm->def->nets[i];
        virDomainInterfacePtr iface;
        bool none;

        if (net->type != VIR_DOMAIN_NET_TYPE_NETWORK)
            continue;
        /* Only a domain on a libvirt network needs its network driver. */
        if (!netconn && !(netconn = virGetConnectNetwork()))
            goto cleanup;
        if (!(iface = xvStatsNetLeases(netconn, net, &none))) {
            if (none)
                continue;
            goto cleanup;
        }
        VIR_APPEND_ELEMENT(found, nfound, iface);
    }
    *ifaces = g_steal_pointer(&found);
    ret = nfound;

 cleanup:
    for (i = 0; found && i < nfound; i++)
        virDomainInterfaceFree(found[i]);
    g_free(found);
    if (netconn)
        virConnectClose(netconn);
    return ret;
}

/* Each entry of the host's ARP table with an interface's MAC, as one
 * interface of one address (prefix unknown: 0), as libvirt's QEMU driver
 * lists them. */
static int
xvStatsArp(xvDriver *driver, virDomainObj *vm, virDomainInterfacePtr **ifaces)
{
    g_autofree xlite_arp_entry *table = NULL;
    virDomainInterfacePtr *found = NULL;
    size_t nfound = 0;
    size_t ntable = 0;
    size_t i, j;

    if (xlite_host_arp_table(driver->ctx, &table, &ntable) < 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot read the host's ARP table: %s"),
                       xlite_errmsg());
        return -1;
    }
    for (i = 0; i < vm->def->nnets; i++) {
        const virDomainNetDef *net = vm->def->nets[i];
        char macaddr[VIR_MAC_STRING_BUFLEN];

        virMacAddrFormat(&net->mac, macaddr);
        for (j = 0; j < ntable; j++) {
            virDomainInterfacePtr iface;

            if (STRNEQ(table[j].mac, macaddr))
                continue;
            iface = g_new0(virDomainInterface, 1);
            iface->name = g_strdup(net->ifname);
            iface->hwaddr = g_strdup(macaddr);
            iface->naddrs = 1;
            iface->addrs = g_new0(virDomainIPAddress, 1);
            iface->addrs[0].type = VIR_IP_ADDR_TYPE_IPV4;
            iface->addrs[0].addr = g_strdup(table[j].ip);
            VIR_APPEND_ELEMENT(found, nfound, iface);
        }
    }
    *ifaces = g_steal_pointer(&found);
    return nfound;
}

int
xvDomainInterfaceAddresses(virDomainPtr dom, virDomainInterfacePtr **ifaces,
                           unsigned int source, unsigned int flags)
{
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(0, -1);

    if (source == VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT)
        return xvAgentInterfaceAddresses(dom, ifaces, source);

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainInterfaceAddressesEnsureACL(dom->conn, vm->def, source) < 0)
        goto cleanup;
    if (virDomainObjCheckActive(vm) < 0)
        goto cleanup;

    switch ((virDomainInterfaceAddressesSource) source) {
    case VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE:
        ret = xvStatsLeases(vm, ifaces);
        break;
    case VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP:
        ret = xvStatsArp(dom->conn->privateData, vm, ifaces);
        break;
    case VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT:
    case VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LAST:
    default:
        virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED,
                       _("Unsupported IP address data source %d"), source);
        break;
    }

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}

/* ---------------------------------------------------------------------
 * Bulk stats: virConnectGetAllDomainStats, virDomainListGetStats
 *
 * One pass over the host: the domains' info (cpu time, memory) and every
 * vcpu are asked of the hypervisor once for all the domains, whatever
 * their number, then each record is filled from those answers and the
 * domain's definition.  A domain the answers do not cover (started
 * meanwhile, or gone) gets what its definition says, as libvirt's QEMU
 * driver silently leaves out what it cannot read.
 */

#define XV_STATS_SUPPORTED (VIR_DOMAIN_STATS_STATE | \
                            VIR_DOMAIN_STATS_CPU_TOTAL | \
                            VIR_DOMAIN_STATS_BALLOON | \
                            VIR_DOMAIN_STATS_VCPU | \
                            VIR_DOMAIN_STATS_INTERFACE | \
                            VIR_DOMAIN_STATS_BLOCK)

/* What the hypervisor said, for every domain, in one pass. */
typedef struct {
    GHashTable *infos;      /* domid -> xlite_dominfo *, into infoList */
    xlite_dominfo *infoList;
    GHashTable *vcpus;      /* domid -> first xlite_vcpuinfo *, in vcpuList */
    xlite_vcpuinfo *vcpuList;
    size_t nvcpus;
} xvStatsHost;

static void
xvStatsHostClear(xvStatsHost *host)
{
    g_clear_pointer(&host->infos, g_hash_table_unref);
    g_clear_pointer(&host->vcpus, g_hash_table_unref);
    g_clear_pointer(&host->infoList, g_free);
    g_clear_pointer(&host->vcpuList, g_free);
}

static int
xvStatsHostLoad(xvDriver *driver, unsigned int stats, xvStatsHost *host)
{
    size_t n = 0, i;

    host->infos = g_hash_table_new(g_direct_hash, g_direct_equal);
    host->vcpus = g_hash_table_new(g_direct_hash, g_direct_equal);

    if (stats & (VIR_DOMAIN_STATS_CPU_TOTAL | VIR_DOMAIN_STATS_BALLOON)) {
        if (xlite_domain_stat_all(driver->ctx, &host->infoList, &n) < 0) {
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("cannot list the host's domains: %s"),
                           xlite_errmsg());
            return -1;
        }
        for (i = 0; i < n; i++)
            g_hash_table_insert(host->infos,
                                GUINT_TO_POINTER(host->infoList[i].domid),
                                &host->infoList[i]);
    }
    if (stats & VIR_DOMAIN_STATS_VCPU) {
        if (xlite_vcpu_list_all(driver->ctx, &host->vcpuList,
                                &host->nvcpus) < 0) {
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("cannot list the host's vcpus: %s"),
                           xlite_errmsg());
            return -1;
        }
        /* By domid then vcpuid: each domain's first vcpu starts its run. */
        for (i = host->nvcpus; i-- > 0;)
            g_hash_table_insert(host->vcpus,
                                GUINT_TO_POINTER(host->vcpuList[i].domid),
                                &host->vcpuList[i]);
    }
    return 0;
}

/* The hypervisor's info for a running domain, if it is that domain (the
 * same domid with the same uuid). */
static const xlite_dominfo *
xvStatsHostInfo(const xvStatsHost *host, virDomainObj *vm)
{
    const xlite_dominfo *info;

    if (!virDomainObjIsActive(vm) ||
        !(info = g_hash_table_lookup(host->infos,
                                     GUINT_TO_POINTER(vm->def->id))) ||
        memcmp(info->uuid, vm->def->uuid, VIR_UUID_BUFLEN) != 0)
        return NULL;
    return info;
}

static int
xvStatsState(virDomainObj *vm, virTypedParamList *params)
{
    int reason;
    int state = virDomainObjGetState(vm, &reason);

    if (virTypedParamListAddInt(params, state, "state.state") < 0 ||
        virTypedParamListAddInt(params, reason, "state.reason") < 0)
        return -1;
    return 0;
}

static int
xvStatsCpuTotal(const xlite_dominfo *info, virTypedParamList *params)
{
    if (info &&
        virTypedParamListAddULLong(params, info->cpu_time_ns, "cpu.time") < 0)
        return -1;
    return 0;
}

/* The balloon, and for a running domain what its guest reports (one
 * xenstore read per figure: no hypervisor request). */
static int
xvStatsBalloon(xvDriver *driver, virDomainObj *vm, const xlite_dominfo *info,
               virTypedParamList *params)
{
    static const struct {
        int tag;
        const char *name;
    } names[] = {
        { VIR_DOMAIN_MEMORY_STAT_UNUSED, "unused" },
        { VIR_DOMAIN_MEMORY_STAT_AVAILABLE, "available" },
        { VIR_DOMAIN_MEMORY_STAT_USABLE, "usable" },
    };
    unsigned long long current = info ? info->cur_memkb
                                      : vm->def->mem.cur_balloon;
    virDomainMemoryStatStruct stats[VIR_DOMAIN_MEMORY_STAT_NR];
    xlite_memory_stats m;
    int n, i;
    size_t j;

    if (virTypedParamListAddULLong(params, current, "balloon.current") < 0 ||
        virTypedParamListAddULLong(params,
                                   virDomainDefGetMemoryTotal(vm->def),
                                   "balloon.maximum") < 0)
        return -1;
    if (!info ||
        xlite_domain_memory_stats(driver->ctx, vm->def->id, info, &m) < 0)
        return 0;
    n = xvStatsMemoryFill(&m, vm->def, stats, G_N_ELEMENTS(stats));
    for (i = 0; i < n; i++) {
        for (j = 0; j < G_N_ELEMENTS(names); j++) {
            if (stats[i].tag == names[j].tag &&
                virTypedParamListAddULLong(params, stats[i].val,
                                           "balloon.%s", names[j].name) < 0)
                return -1;
        }
    }
    return 0;
}

/* The online vcpus: state for all, time for a running domain's. */
static int
xvStatsVcpu(virDomainObj *vm, const xvStatsHost *host,
            virTypedParamList *params)
{
    const xlite_vcpuinfo *v = NULL;
    const xlite_vcpuinfo *end = host->vcpuList + host->nvcpus;
    unsigned int current = virDomainDefGetVcpus(vm->def);
    unsigned int i;

    if (virTypedParamListAddUInt(params, current, "vcpu.current") < 0 ||
        virTypedParamListAddUInt(params, virDomainDefGetVcpusMax(vm->def),
                                 "vcpu.maximum") < 0)
        return -1;
    if (virDomainObjIsActive(vm))
        v = g_hash_table_lookup(host->vcpus, GUINT_TO_POINTER(vm->def->id));

    for (i = 0; i < current; i++) {
        const xlite_vcpuinfo *match = NULL;
        int state = VIR_VCPU_OFFLINE;

        /* This domain's run of vcpus, in vcpuid order (a vcpu id Xen has
         * no vcpu for is missing from it). */
        while (v && v < end && v->domid == (uint32_t)vm->def->id &&
               v->vcpuid < i)
            v++;
        if (v && v < end && v->domid == (uint32_t)vm->def->id &&
            v->vcpuid == i)
            match = v;
        if (match)
            state = match->running ? VIR_VCPU_RUNNING
                  : match->blocked ? VIR_VCPU_BLOCKED : VIR_VCPU_OFFLINE;
        if (virTypedParamListAddInt(params, state, "vcpu.%u.state", i) < 0)
            return -1;
        if (match && virTypedParamListAddULLong(params, match->cpu_time_ns,
                                                "vcpu.%u.time", i) < 0)
            return -1;
    }
    return 0;
}

#define XV_STATS_ADD_ULL(params, value, fmt, ...) \
    do { \
        if (virTypedParamListAddULLong(params, value, fmt, __VA_ARGS__) < 0) \
            return -1; \
    } while (0)

/* A running domain's interfaces: the host's vifD.N carries their
 * traffic, seen from the host (its rx is the guest's tx). */
static int
xvStatsInterface(xvDriver *driver, virDomainObj *vm,
                 virTypedParamList *params)
{
    size_t i;

    if (!virDomainObjIsActive(vm))
        return 0;
    if (virTypedParamListAddUInt(params, vm->def->nnets, "net.count") < 0)
        return -1;
    for (i = 0; i < vm->def->nnets; i++) {
        virDomainNetDef *net = vm->def->nets[i];
        virDomainInterfaceStatsStruct st = { 0 };

        if (!net->ifname)
            continue;
        if (virTypedParamListAddString(params, net->ifname,
                                       "net.%zu.name", i) < 0)
            return -1;
        if (xvStatsInterfaceRead(driver, net, &st, true) < 0)
            continue;
        XV_STATS_ADD_ULL(params, st.rx_bytes, "net.%zu.rx.bytes", i);
        XV_STATS_ADD_ULL(params, st.rx_packets, "net.%zu.rx.pkts", i);
        XV_STATS_ADD_ULL(params, st.rx_errs, "net.%zu.rx.errs", i);
        XV_STATS_ADD_ULL(params, st.rx_drop, "net.%zu.rx.drop", i);
        XV_STATS_ADD_ULL(params, st.tx_bytes, "net.%zu.tx.bytes", i);
        XV_STATS_ADD_ULL(params, st.tx_packets, "net.%zu.tx.pkts", i);
        XV_STATS_ADD_ULL(params, st.tx_errs, "net.%zu.tx.errs", i);
        XV_STATS_ADD_ULL(params, st.tx_drop, "net.%zu.tx.drop", i);
    }
    return 0;
}

/*
 * The backing chain of a disk's local qcow2 image, as libvirt's storage
 * file code reads it from the images' headers (libvirt's QEMU driver
 * reads the same at start, and so does this driver for the live XML):
 * the layers below the disk's own image carry ids 1, 2... from the top
 * down, the index <backingStore index='N'> gives them.  NULL when there
 * is no chain to show: a disk whose format is not given as qcow2 (the
 * backing file of an image whose format was probed is never followed, as
 * in libvirt), or a top image that cannot be read.  A chain ends where a
 * layer cannot be read or names no format.
 */
static virStorageSource *
xvStatsDiskChain(virDomainDiskDef *disk)
{
    return xvBlockChainRead(disk->src);
}

/* One record's name, path and place in its disk's chain, as libvirt's
 * QEMU driver gives them (an image without an id, the disk's own, has
 * no backingIndex); and the image's size. */
static int
xvStatsBlockLayer(virTypedParamList *params, virDomainDiskDef *disk,
                  const virStorageSource *src, size_t rec)
{
    xvDiskSize size;

    if (virTypedParamListAddString(params, disk->dst,
                                   "block.%zu.name", rec) < 0)
        return -1;
    if (src->path && virStorageSourceIsLocalStorage(src) &&
        virTypedParamListAddString(params, src->path,
                                   "block.%zu.path", rec) < 0)
        return -1;
    if (src->id &&
        virTypedParamListAddUInt(params, src->id,
                                 "block.%zu.backingIndex", rec) < 0)
        return -1;
    if (xvStatsImageSize(src, &size) == 0) {
        XV_STATS_ADD_ULL(params, size.allocation, "block.%zu.allocation", rec);
        XV_STATS_ADD_ULL(params, size.capacity, "block.%zu.capacity", rec);
        XV_STATS_ADD_ULL(params, size.physical, "block.%zu.physical", rec);
    }
    return 0;
}

/* The disks: their names and sources, the size of a local image, and
 * for a running domain the requests its backend counted.  With
 * @backing (VIR_CONNECT_GET_ALL_DOMAINS_STATS_BACKING), each layer of a
 * disk's backing chain is a record of its own after the disk's, as
 * libvirt's QEMU driver lists them, and block.count counts records. */
static int
xvStatsBlock(xvDriver *driver, virDomainObj *vm, bool backing,
             virTypedParamList *params)
{
    size_t count_index = params->npar;
    size_t rec = 0;
    size_t i;

    if (virTypedParamListAddUInt(params, vm->def->ndisks, "block.count") < 0)
        return -1;
    for (i = 0; i < vm->def->ndisks; i++) {
        virDomainDiskDef *disk = vm->def->disks[i];
        g_autoptr(virStorageSource) chain = NULL;
        virStorageSource *n;
        xvDiskStats st;

        if (xvStatsBlockLayer(params, disk, disk->src, rec) < 0)
            return -1;
        if (virDomainObjIsActive(vm) &&
            xvStatsDiskRead(driver, vm, disk, &st, true) == 0) {
            XV_STATS_ADD_ULL(params, st.rd_req, "block.%zu.rd.reqs", rec);
            XV_STATS_ADD_ULL(params, st.rd_bytes, "block.%zu.rd.bytes", rec);
            XV_STATS_ADD_ULL(params, st.wr_req, "block.%zu.wr.reqs", rec);
            XV_STATS_ADD_ULL(params, st.wr_bytes, "block.%zu.wr.bytes", rec);
            XV_STATS_ADD_ULL(params, st.fl_req, "block.%zu.fl.reqs", rec);
            XV_STATS_ADD_ULL(params, st.errs, "block.%zu.errs", rec);
        }
        rec++;
        if (!backing || !(chain = xvStatsDiskChain(disk)))
            continue;
        for (n = chain->backingStore; virStorageSourceIsBacking(n);
             n = n->backingStore) {
            if (xvStatsBlockLayer(params, disk, n, rec++) < 0)
                return -1;
        }
    }
    params->par[count_index].value.ui = rec;
    return 0;
}

#undef XV_STATS_ADD_ULL

static int
xvStatsRecord(virConnectPtr conn, virDomainObj *vm, unsigned int stats,
              bool backing, const xvStatsHost *host,
              virDomainStatsRecordPtr *record_r)
{
    g_autoptr(virTypedParamList) params = g_new0(virTypedParamList, 1);
    g_autofree virDomainStatsRecordPtr record = NULL;
    const xlite_dominfo *info = xvStatsHostInfo(host, vm);

    if ((stats & VIR_DOMAIN_STATS_STATE) && xvStatsState(vm, params) < 0)
        return -1;
    if ((stats & VIR_DOMAIN_STATS_CPU_TOTAL) &&
        xvStatsCpuTotal(info, params) < 0)
        return -1;
    if ((stats & VIR_DOMAIN_STATS_BALLOON) &&
        xvStatsBalloon(conn->privateData, vm, info, params) < 0)
        return -1;
    if ((stats & VIR_DOMAIN_STATS_VCPU) && xvStatsVcpu(vm, host, params) < 0)
        return -1;
    if ((stats & VIR_DOMAIN_STATS_INTERFACE) &&
        xvStatsInterface(conn->privateData, vm, params) < 0)
        return -1;
    if ((stats & VIR_DOMAIN_STATS_BLOCK) &&
        xvStatsBlock(conn->privateData, vm, backing, params) < 0)
        return -1;

    record = g_new0(virDomainStatsRecord, 1);
    if (!(record->dom = virGetDomain(conn, vm->def->name, vm->def->uuid,
                                     vm->def->id)))
        return -1;
    record->nparams = virTypedParamListStealParams(params, &record->params);
    *record_r = g_steal_pointer(&record);
    return 0;
}

int
xvConnectGetAllDomainStats(virConnectPtr conn, virDomainPtr *doms,
                           unsigned int ndoms, unsigned int stats,
                           virDomainStatsRecordPtr **retStats,
                           unsigned int flags)
{
    xvDriver *driver = conn->privateData;
    unsigned int lflags = flags & (VIR_CONNECT_LIST_DOMAINS_FILTERS_ACTIVE |
                                   VIR_CONNECT_LIST_DOMAINS_FILTERS_PERSISTENT |
                                   VIR_CONNECT_LIST_DOMAINS_FILTERS_STATE);
    bool enforce = !!(flags & VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS);
    bool backing = !!(flags & VIR_CONNECT_GET_ALL_DOMAINS_STATS_BACKING);
    virDomainObj **vms = NULL;
    size_t nvms = 0, i;
    virDomainStatsRecordPtr *records = NULL;
    xvStatsHost host = { 0 };
    int nrecords = 0;
    int ret = -1;

    virCheckFlags(VIR_CONNECT_LIST_DOMAINS_FILTERS_ACTIVE |
                  VIR_CONNECT_LIST_DOMAINS_FILTERS_PERSISTENT |
                  VIR_CONNECT_LIST_DOMAINS_FILTERS_STATE |
                  VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT |
                  VIR_CONNECT_GET_ALL_DOMAINS_STATS_BACKING |
                  VIR_CONNECT_GET_ALL_DOMAINS_STATS_ENFORCE_STATS, -1);

    if (virConnectGetAllDomainStatsEnsureACL(conn) < 0)
        return -1;

    if (stats == 0) {
        stats = XV_STATS_SUPPORTED;
    } else if (enforce && (stats & ~XV_STATS_SUPPORTED)) {
        virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED,
                       _("Stats types bits 0x%x are not supported by this daemon"),
                       stats & ~XV_STATS_SUPPORTED);
        return -1;
    }
    stats &= XV_STATS_SUPPORTED;

    if (ndoms) {
        if (virDomainObjListConvert(driver->domains, conn, doms, ndoms, &vms,
                                    &nvms, virConnectGetAllDomainStatsCheckACL,
                                    lflags, true) < 0)
            return -1;
    } else {
        virDomainObjListCollect(driver->domains, conn, &vms, &nvms,
                                virConnectGetAllDomainStatsCheckACL, lflags);
    }

    /* Queries take no job, so NOWAIT has nothing to skip. */
    if (xvStatsHostLoad(driver, stats, &host) < 0)
        goto cleanup;

    records = g_new0(virDomainStatsRecordPtr, nvms + 1);
    for (i = 0; i < nvms; i++) {
        int rc;

        virObjectLock(vms[i]);
        rc = xvStatsRecord(conn, vms[i], stats, backing, &host,
                           &records[nrecords]);
        virObjectUnlock(vms[i]);
        if (rc < 0)
            goto cleanup;
        nrecords++;
    }
    *retStats = g_steal_pointer(&records);
    ret = nrecords;

 cleanup:
    xvStatsHostClear(&host);
    if (records) {
        virErrorPtr orig_err = NULL;

        virErrorPreserveLast(&orig_err);
        virDomainStatsRecordListFree(records);
        virErrorRestore(&orig_err);
    }
    virObjectListFreeCount(vms, nvms);
    return ret;
}
