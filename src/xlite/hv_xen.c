/*
 * hv_xen.c: the "xen" hypervisor backend, on a real dom0, through
 * libxenctrl and libxenguest's domain builder
 *
 * Proven on Xen 4.17 with a Debian PV dom0 booted under QEMU by
 * tools/xen-testhost (tests/realxen): PV guests are created, built,
 * started, shut down and destroyed through it.  PVH and HVM guests are not
 * built here (they need the HVM builder and, for HVM, a device model).
 *
 * What it maps:
 *  - host_info: xc_physinfo (with the featureset words), xc_version
 *    (with the capabilities string), xc_sched_id;
 *  - host_topology: xc_cputopoinfo, xc_numainfo, as libxl's
 *    libxl_get_cpu_topology and libxl_get_numainfo read them;
 *  - create/pause/unpause/destroy/info/list/max mem/sched/evtchn: the
 *    corresponding xc_* calls (hypercalls; short, made with the lock held
 *    like every backend operation);
 *  - build: libxenguest's PV builder (xc_dom_*), as a toolstack drives it:
 *    the kernel and ramdisk are loaded from files, the memory populated,
 *    the start info told the two event channels the core allocated, the
 *    grant table seeded for xenconsoled and xenstored; the frames of the
 *    console and xenstore rings go back to the core;
 *  - domain-change reports: none from here.  VIRQ_DOM_EXC, the
 *    hypervisor's "a domain changed" interrupt, can be bound by one
 *    process only, and xenstored holds it (binding it again fails with
 *    EEXIST, seen under tools/xen-testhost); xenstored turns it into the
 *    @releaseDomain watch, on shutdown as on death, which the core
 *    watches on every backend (xlite_death.c).
 *
 * Xen's libraries log through xentoollog: their messages go to the
 * core's log, and the last error is kept to explain a failed build.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <string.h>
#include <xenctrl.h>
#include <xenguest.h>
#include <xentoollog.h>

#include "xlite_internal.h"

/* xentoollog to the core's log. */
typedef struct {
    xentoollog_logger vtable;
    xlite_ctx *ctx;
    char last_error[256];
} xen_logger;

typedef struct {
    xen_logger logger;
    xc_interface *xch;
} xen_state;

static void G_GNUC_PRINTF(5, 0)
xen_log_vmessage(xentoollog_logger *vt, xentoollog_level level, int errnoval,
                 const char *context, const char *format, va_list ap)
{
    xen_logger *lg = XLITE__CONTAINER_OF(vt, xen_logger, vtable);
    g_autofree char *msg = g_strdup_vprintf(format, ap);
    xlite_log_level ours = level >= XTL_ERROR ? XLITE_LOG_ERROR
                         : level >= XTL_WARN ? XLITE_LOG_WARN
                         : level >= XTL_PROGRESS ? XLITE_LOG_INFO
                         : XLITE_LOG_DEBUG;

    if (level >= XTL_ERROR)
        g_snprintf(lg->last_error, sizeof(lg->last_error), "%s%s%s",
                   msg, errnoval >= 0 ? ": " : "",
                   errnoval >= 0 ? g_strerror(errnoval) : "");
    XLITE_LOG(lg->ctx, ours, "%s: %s%s%s", context ? context : "xen", msg,
              errnoval >= 0 ? ": " : "",
              errnoval >= 0 ? g_strerror(errnoval) : "");
}

static void
xen_log_destroy(xentoollog_logger *vt)
{
}

static int
xen_open(xlite_ctx *ctx, void **state_r)
{
    xen_state *st = g_new0(xen_state, 1);
    xlite__foreign_fds *before;

    st->logger.vtable.vmessage = xen_log_vmessage;
    st->logger.vtable.destroy = xen_log_destroy;
    st->logger.ctx = ctx;
    before = xlite__foreign_fds_begin();
    st->xch = xc_interface_open(&st->logger.vtable, &st->logger.vtable, 0);
    xlite__foreign_fds_end(before);
    if (!st->xch) {
        g_free(st);
        return XLITE_ERROR(ctx, -errno ? -errno : -EIO,
                           "cannot open the Xen control interface: %s",
                           g_strerror(errno));
    }
    *state_r = st;
    return 0;
}

static void
xen_close(xlite_ctx *ctx, void *state)
{
    xen_state *st = state;

    if (!st)
        return;
    xc_interface_close(st->xch);
    g_free(st);
}

static int
xen_fail(xlite_ctx *ctx, const char *what)
{
    int err = errno ? errno : EIO;

    return XLITE_ERROR(ctx, -err, "Xen: %s failed: %s", what,
                       g_strerror(err));
}

/* The name of the scheduler of dom0's cpu pool (XEN_SYSCTL_sched_id),
 * as xl names it; "" for one this code does not know. */
static const char *
xen_sched_name(int sched)
{
    switch (sched) {
    case XEN_SCHEDULER_CREDIT: return "credit";
    case XEN_SCHEDULER_CREDIT2: return "credit2";
    case XEN_SCHEDULER_RTDS: return "rtds";
    case XEN_SCHEDULER_ARINC653: return "arinc653";
    case XEN_SCHEDULER_NULL: return "null";
    default: return "";
    }
}

static int
xen_host_info(xlite_ctx *ctx, void *state, xlite_host_info *info)
{
    xen_state *st = state;
    xc_physinfo_t phys = { 0 };
    xen_extraversion_t extra;
    xen_capabilities_info_t caps;
    int ver;
    int sched = 0;

    if (xc_physinfo(st->xch, &phys) < 0)
        return xen_fail(ctx, "xc_physinfo");
    ver = xc_version(st->xch, XENVER_version, NULL);
    xc_version(st->xch, XENVER_extraversion, &extra);
    info->nr_cpus = phys.nr_cpus;
    info->threads_per_core = phys.threads_per_core ? phys.threads_per_core : 1;
    info->cores_per_socket = phys.cores_per_socket ? phys.cores_per_socket : 1;
    info->sockets = phys.nr_cpus / (info->threads_per_core *
                                    info->cores_per_socket);
    if (!info->sockets)
        info->sockets = 1;
    info->numa_nodes = phys.nr_nodes;
    info->cpu_mhz = phys.cpu_khz / 1000;
    info->total_kib = phys.total_pages * 4;
    info->free_kib = phys.free_pages * 4;
    info->xen_major = ver >> 16;
    info->xen_minor = ver & 0xffff;
    g_strlcpy(info->xen_extra, extra, sizeof(info->xen_extra));
    G_STATIC_ASSERT(sizeof(info->hw_cap) == sizeof(phys.hw_cap));
    memcpy(info->hw_cap, phys.hw_cap, sizeof(info->hw_cap));
    if (xc_version(st->xch, XENVER_capabilities, &caps) < 0)
        return xen_fail(ctx, "xc_version(XENVER_capabilities)");
    G_STATIC_ASSERT(sizeof(info->xen_caps) >= sizeof(caps));
    g_strlcpy(info->xen_caps, caps, sizeof(info->xen_caps));
    info->guest_types = XLITE_GUEST_PV;
    if (phys.capabilities & XEN_SYSCTL_PHYSCAP_hvm)
        info->guest_types |= XLITE_GUEST_HVM | XLITE_GUEST_PVH;
    info->max_vcpus = 128;
    g_strlcpy(info->arch, "x86_64", sizeof(info->arch));
    if (xc_sched_id(st->xch, &sched) < 0)
        return xen_fail(ctx, "xc_sched_id");
    g_strlcpy(info->scheduler, xen_sched_name(sched), sizeof(info->scheduler));
    return 0;
}

/*
 * Xen answers each query twice: first how many entries (null handles),
 * then the entries, into arrays of that many.  A cpu or node that came
 * online in between is left out (Xen then returns a part and the larger
 * count); the distance matrix's rows are as long as the count asked for.
 */
static int
xen_host_topology(xlite_ctx *ctx, void *state, xlite_host_topology *topo)
{
    xen_state *st = state;
    g_autofree xc_cputopo_t *cpus = NULL;
    g_autofree xc_meminfo_t *mem = NULL;
    g_autofree uint32_t *dists = NULL;
    unsigned int ncpus = 0, nnodes = 0, maxcpus, maxnodes;

    if (xc_cputopoinfo(st->xch, &ncpus, NULL) < 0)
        return xen_fail(ctx, "xc_cputopoinfo");
    maxcpus = ncpus;
    cpus = g_new0(xc_cputopo_t, MAX(maxcpus, 1));
    if (xc_cputopoinfo(st->xch, &ncpus, cpus) < 0)
        return xen_fail(ctx, "xc_cputopoinfo");
    ncpus = MIN(ncpus, maxcpus);

    if (xc_numainfo(st->xch, &nnodes, NULL, NULL) < 0)
        return xen_fail(ctx, "xc_numainfo");
    maxnodes = nnodes;
    mem = g_new0(xc_meminfo_t, MAX(maxnodes, 1));
    dists = g_new0(uint32_t, MAX(maxnodes * maxnodes, 1));
    if (xc_numainfo(st->xch, &nnodes, mem, dists) < 0)
        return xen_fail(ctx, "xc_numainfo");
    nnodes = MIN(nnodes, maxnodes);

    topo->ncpus = ncpus;
    topo->cpus = g_new0(xlite_cpu_topology, MAX(ncpus, 1));
    for (unsigned int i = 0; i < ncpus; i++) {
        /* Xen's invalid ids are ours (~0U). */
        topo->cpus[i].core = cpus[i].core;
        topo->cpus[i].socket = cpus[i].socket;
        topo->cpus[i].node = cpus[i].node;
    }
    topo->nnodes = nnodes;
    topo->nodes = g_new0(xlite_numa_node, MAX(nnodes, 1));
    topo->distances = g_new0(uint32_t, MAX(nnodes * nnodes, 1));
    for (unsigned int i = 0; i < nnodes; i++) {
        for (unsigned int j = 0; j < nnodes; j++)
            topo->distances[i * nnodes + j] = dists[i * maxnodes + j];
        if (mem[i].memsize == XEN_INVALID_MEM_SZ) {
            topo->nodes[i].size_kib = XLITE_TOPOLOGY_NO_MEMORY;
            continue;
        }
        topo->nodes[i].size_kib = mem[i].memsize / 1024;
        topo->nodes[i].free_kib = mem[i].memfree / 1024;
    }
    return 0;
}

static int
xen_dom_create(xlite_ctx *ctx, void *state, const xlite__hv_create_args *a,
               uint32_t *domid_r)
{
    xen_state *st = state;
    struct xen_domctl_createdomain cfg = { 0 };
    uint32_t domid = 0;   /* 0: let Xen choose */
    int rc;

    memcpy(cfg.handle, a->uuid, 16);
    if (a->type != XLITE_DOMAIN_TYPE_PV)
        cfg.flags |= XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap;
    cfg.max_vcpus = a->max_vcpus;
    cfg.max_evtchn_port = -1;
    cfg.max_grant_frames = -1;
    cfg.max_maptrack_frames = -1;
    cfg.grant_opts = XEN_DOMCTL_GRANT_version(1);
    if (xc_domain_create(st->xch, &domid, &cfg) < 0)
        return xen_fail(ctx, "xc_domain_create");
    /* createdomain sets the limit; this makes the vcpus (without it the
     * builder has no vcpu 0 to set up).  Then the memory limit, and the
     * CPUID policy a new domain gets from the host's (as libxl does). */
    if (xc_domain_max_vcpus(st->xch, domid, a->max_vcpus) < 0) {
        rc = xen_fail(ctx, "xc_domain_max_vcpus");
        goto undo;
    }
    if (xc_domain_setmaxmem(st->xch, domid, a->max_memkb) < 0) {
        rc = xen_fail(ctx, "xc_domain_setmaxmem");
        goto undo;
    }
    if ((rc = xc_cpuid_apply_policy(st->xch, domid, false, NULL, 0, true,
                                    false, false, NULL, NULL)) < 0) {
        errno = -rc;
        rc = xen_fail(ctx, "xc_cpuid_apply_policy");
        goto undo;
    }
    *domid_r = domid;
    return 0;

 undo:
    xc_domain_destroy(st->xch, domid);
    return rc;
}

/*
 * The PV domain builder, in libxl's order: load the images, let Xen's
 * memory be populated with target_memkb, lay out and copy the kernel,
 * start info, page tables and the rings, set the boot vcpu's context,
 * seed the grant table (console and xenstore entries for dom0).
 */
static int
xen_dom_build(xlite_ctx *ctx, void *state, uint32_t domid,
              xlite__hv_build_args *a)
{
    xen_state *st = state;
    struct xc_dom_image *dom = NULL;
    xlite__foreign_fds *before;
    const char *step = "xc_dom_allocate";
    int err = 0;

    if (a->type != XLITE_DOMAIN_TYPE_PV)
        return XLITE_ERROR(ctx, -EOPNOTSUPP, "domain %u: libxlite builds "
                           "only PV guests on real Xen (not %s)", domid,
                           xlite_domain_type_to_string(a->type));
    if (!a->kernel)
        return XLITE_ERROR(ctx, -EINVAL, "domain %u: a PV guest needs a "
                           "kernel", domid);
    if (a->target_memkb < 4096 || a->target_memkb > a->max_memkb)
        return XLITE_ERROR(ctx, -EINVAL, "domain %u: memory target %"
                           G_GUINT64_FORMAT " KiB is below 4 MiB or above "
                           "the maximum", domid, a->target_memkb);

    st->logger.last_error[0] = '\0';
    before = xlite__foreign_fds_begin();
    if (!(dom = xc_dom_allocate(st->xch, a->cmdline ? a->cmdline : "",
                                NULL))) {
        err = errno ? errno : ENOMEM;
        goto out;
    }
    dom->container_type = XC_DOM_PV_CONTAINER;
    dom->max_vcpus = a->max_vcpus;
    dom->console_evtchn = a->console_port;
    dom->console_domid = 0;
    dom->xenstore_evtchn = a->store_port;
    dom->xenstore_domid = 0;

#define STEP(what, call) \
    do { \
        step = (what); \
        errno = 0; \
        if ((call) != 0) { \
            err = errno ? errno : EIO; \
            goto out; \
        } \
    } while (0)
    STEP("setting the memory map limit",
         xc_domain_set_memmap_limit(st->xch, domid, a->max_memkb));
    STEP("loading the kernel", xc_dom_kernel_file(dom, a->kernel));
    if (a->ramdisk)
        STEP("loading the ramdisk", xc_dom_module_file(dom, a->ramdisk, NULL));
    STEP("xc_dom_boot_xen_init", xc_dom_boot_xen_init(dom, st->xch, domid));
    STEP("parsing the kernel", xc_dom_parse_image(dom));
    STEP("xc_dom_mem_init", xc_dom_mem_init(dom, a->target_memkb / 1024));
    STEP("populating its memory", xc_dom_boot_mem_init(dom));
    STEP("building the image", xc_dom_build_image(dom));
    STEP("booting the image", xc_dom_boot_image(dom));
    STEP("seeding the grant table", xc_dom_gnttab_init(dom));
#undef STEP
    a->console_mfn = xc_dom_p2m(dom, dom->console_pfn);
    a->store_mfn = xc_dom_p2m(dom, dom->xenstore_pfn);

 out:
    if (dom)
        xc_dom_release(dom);
    xlite__foreign_fds_end(before);
    if (err)
        return XLITE_ERROR(ctx, -err, "building domain %u on Xen failed "
                           "(%s): %s", domid, step,
                           st->logger.last_error[0] ? st->logger.last_error
                                                    : g_strerror(err));
    XLITE_LOG(ctx, XLITE_LOG_DEBUG, "domain %u built: store mfn %#"
              G_GINT64_MODIFIER "x port %u, console mfn %#"
              G_GINT64_MODIFIER "x port %u", domid, a->store_mfn,
              a->store_port, a->console_mfn, a->console_port);
    return 0;
}

static int
xen_dom_pause(xlite_ctx *ctx, void *state, uint32_t domid)
{
    xen_state *st = state;

    return xc_domain_pause(st->xch, domid) < 0 ? xen_fail(ctx, "pause") : 0;
}

static int
xen_dom_unpause(xlite_ctx *ctx, void *state, uint32_t domid)
{
    xen_state *st = state;

    return xc_domain_unpause(st->xch, domid) < 0 ? xen_fail(ctx, "unpause")
                                                  : 0;
}

static int
xen_dom_destroy(xlite_ctx *ctx, void *state, uint32_t domid)
{
    xen_state *st = state;

    return xc_domain_destroy(st->xch, domid) < 0 ? xen_fail(ctx, "destroy")
                                                  : 0;
}

static void
info_from_xc(const xc_domaininfo_t *x, xlite_dominfo *info)
{
    memset(info, 0, sizeof(*info));
    info->domid = x->domain;
    memcpy(info->uuid, x->handle, 16);
    info->type = (x->flags & XEN_DOMINF_hvm_guest) ? XLITE_DOMAIN_TYPE_HVM
                                                   : XLITE_DOMAIN_TYPE_PV;
    info->running = x->flags & XEN_DOMINF_running;
    info->blocked = x->flags & XEN_DOMINF_blocked;
    info->paused = x->flags & XEN_DOMINF_paused;
    info->shutdown = x->flags & XEN_DOMINF_shutdown;
    info->dying = x->flags & XEN_DOMINF_dying;
    info->shutdown_reason = (x->flags >> XEN_DOMINF_shutdownshift) &
                            XEN_DOMINF_shutdownmask;
    info->cur_memkb = x->tot_pages * 4;
    info->max_memkb = x->max_pages * 4;
    info->online_vcpus = x->nr_online_vcpus;
    info->max_vcpus = x->max_vcpu_id + 1;
    info->cpu_time_ns = x->cpu_time;
}

/* The credit schedulers' weight and cap of a domain, quietly left as
 * they are where the host runs another scheduler or the domain is going.
 * Only xlite_domain_info asks: two hypercalls every existence check need
 * not pay. */
static void
xen_dom_sched_get(xlite_ctx *ctx, void *state, uint32_t domid,
                  unsigned int *weight_r, unsigned int *cap_r)
{
    xen_state *st = state;
    int sched = 0;

    if (xc_sched_id(st->xch, &sched) < 0)
        return;
    if (sched == XEN_SCHEDULER_CREDIT) {
        struct xen_domctl_sched_credit sc = { 0 };

        if (xc_sched_credit_domain_get(st->xch, domid, &sc) == 0) {
            *weight_r = sc.weight;
            *cap_r = sc.cap;
        }
    } else if (sched == XEN_SCHEDULER_CREDIT2) {
        struct xen_domctl_sched_credit2 sc = { 0 };

        if (xc_sched_credit2_domain_get(st->xch, domid, &sc) == 0) {
            *weight_r = sc.weight;
            *cap_r = sc.cap;
        }
    }
}

static int
xen_dom_info(xlite_ctx *ctx, void *state, uint32_t domid,
             xlite_dominfo *info)
{
    xen_state *st = state;
    xc_domaininfo_t x;
    int n = xc_domain_getinfolist(st->xch, domid, 1, &x);

    if (n < 0)
        return xen_fail(ctx, "xc_domain_getinfolist");
    if (n == 0 || x.domain != domid)
        return -ESRCH;
    info_from_xc(&x, info);
    return 0;
}

static int
xen_dom_list(xlite_ctx *ctx, void *state, xlite_dominfo **infos_r,
             size_t *n_r)
{
    xen_state *st = state;
    g_autofree xc_domaininfo_t *x = g_new0(xc_domaininfo_t, 1024);
    xlite_dominfo *infos;
    int n, i;

    if ((n = xc_domain_getinfolist(st->xch, 0, 1024, x)) < 0)
        return xen_fail(ctx, "xc_domain_getinfolist");
    infos = g_new0(xlite_dominfo, n ? n : 1);
    for (i = 0; i < n; i++)
        info_from_xc(&x[i], &infos[i]);
    *infos_r = infos;
    *n_r = n;
    return 0;
}

static int
xen_dom_set_max_mem(xlite_ctx *ctx, void *state, uint32_t domid,
                    uint64_t max_memkb)
{
    xen_state *st = state;

    return xc_domain_setmaxmem(st->xch, domid, max_memkb) < 0
           ? xen_fail(ctx, "xc_domain_setmaxmem") : 0;
}

static int
xen_dom_set_vcpus(xlite_ctx *ctx, void *state, uint32_t domid,
                  unsigned int online)
{
    /* On Xen the guest onlines vcpus itself, told through xenstore
     * (cpu/N/availability), which the core writes. */
    return 0;
}

/*
 * Weight and cap are the credit schedulers' (credit, and credit2, Xen
 * 4.17's default); the host's scheduler is asked each time (it is that of
 * cpupool 0, where libxlite's domains run).
 */
static int
xen_scheduler(xlite_ctx *ctx, xen_state *st, int *sched_r)
{
    if (xc_sched_id(st->xch, sched_r) < 0)
        return xen_fail(ctx, "xc_sched_id");
    if (*sched_r != XEN_SCHEDULER_CREDIT && *sched_r != XEN_SCHEDULER_CREDIT2)
        return XLITE_ERROR(ctx, -EOPNOTSUPP, "the host's scheduler (id %d) "
                           "has no weight and cap", *sched_r);
    return 0;
}

static int
xen_dom_sched_set(xlite_ctx *ctx, void *state, uint32_t domid,
                  unsigned int weight, unsigned int cap)
{
    xen_state *st = state;
    int sched, rc;

    if ((rc = xen_scheduler(ctx, st, &sched)) < 0)
        return rc;
    if (weight > G_MAXUINT16 || cap > G_MAXUINT16)
        return XLITE_ERROR(ctx, -EINVAL, "scheduler weight %u or cap %u is "
                           "out of range", weight, cap);
    if (sched == XEN_SCHEDULER_CREDIT) {
        struct xen_domctl_sched_credit sc = { .weight = weight, .cap = cap };

        if (xc_sched_credit_domain_set(st->xch, domid, &sc) < 0)
            return xen_fail(ctx, "xc_sched_credit_domain_set");
    } else {
        struct xen_domctl_sched_credit2 sc = { .weight = weight, .cap = cap };

        if (xc_sched_credit2_domain_set(st->xch, domid, &sc) < 0)
            return xen_fail(ctx, "xc_sched_credit2_domain_set");
    }
    return 0;
}

static int
xen_evtchn_alloc_unbound(xlite_ctx *ctx, void *state, uint32_t domid,
                         uint32_t remote, uint32_t *port_r)
{
    xen_state *st = state;
    int port = xc_evtchn_alloc_unbound(st->xch, domid, remote);

    if (port < 0)
        return xen_fail(ctx, "xc_evtchn_alloc_unbound");
    *port_r = port;
    return 0;
}

/* One domain's vcpus through XEN_DOMCTL_getvcpuinfo, appended to @out;
 * vcpu ids up to max_vcpu_id, an offline one as such. */
static int
xen_vcpus_append(xlite_ctx *ctx, xen_state *st, const xc_domaininfo_t *d,
                 GArray *out)
{
    for (unsigned int i = 0; i <= d->max_vcpu_id; i++) {
        xc_vcpuinfo_t x = { 0 };
        xlite_vcpuinfo v = { 0 };

        if (xc_vcpu_getinfo(st->xch, d->domain, i, &x) < 0) {
            /* A vcpu id without a vcpu (never brought up) is skipped. */
            if (errno == ESRCH || errno == ENOENT)
                continue;
            return xen_fail(ctx, "xc_vcpu_getinfo");
        }
        v.domid = d->domain;
        v.vcpuid = i;
        v.online = x.online;
        v.running = x.running;
        v.blocked = x.blocked;
        v.cpu = x.cpu;
        v.cpu_time_ns = x.cpu_time;
        g_array_append_val(out, v);
    }
    return 0;
}

static int
xen_vcpu_list(xlite_ctx *ctx, void *state, uint32_t domid,
              xlite_vcpuinfo **vcpus_r, size_t *n_r)
{
    xen_state *st = state;
    g_autofree xc_domaininfo_t *x = g_new0(xc_domaininfo_t, 1024);
    g_autoptr(GArray) out = g_array_new(FALSE, TRUE, sizeof(xlite_vcpuinfo));
    int n, i, rc;

    if (domid == XLITE__DOMID_ANY) {
        if ((n = xc_domain_getinfolist(st->xch, 0, 1024, x)) < 0)
            return xen_fail(ctx, "xc_domain_getinfolist");
    } else {
        if ((n = xc_domain_getinfolist(st->xch, domid, 1, x)) < 0)
            return xen_fail(ctx, "xc_domain_getinfolist");
        if (n == 0 || x[0].domain != domid)
            return -ESRCH;
    }
    for (i = 0; i < n; i++)
        if ((rc = xen_vcpus_append(ctx, st, &x[i], out)) < 0)
            return rc;
    *n_r = out->len;
    *vcpus_r = (xlite_vcpuinfo *)(void *)g_array_free(g_steal_pointer(&out),
                                                      FALSE);
    return 0;
}

/*
 * Xen keeps each physical cpu's idle time (XEN_SYSCTL_getcpuinfo); the
 * time vcpus ran on it is their runstate time, which Xen keeps per vcpu,
 * not per cpu: each vcpu's time is counted on the cpu it runs on now,
 * exact for pinned vcpus and an attribution for the others.
 */
static int
xen_pcpu_list(xlite_ctx *ctx, void *state, xlite_pcpuinfo **cpus_r,
              size_t *n_r)
{
    xen_state *st = state;
    g_autofree xc_cpuinfo_t *info = NULL;
    g_autofree xlite_vcpuinfo *vcpus = NULL;
    xc_physinfo_t phys = { 0 };
    xlite_pcpuinfo *cpus;
    size_t nvcpus = 0;
    int n = 0, rc;

    if (xc_physinfo(st->xch, &phys) < 0)
        return xen_fail(ctx, "xc_physinfo");
    info = g_new0(xc_cpuinfo_t, phys.max_cpu_id + 1);
    if (xc_getcpuinfo(st->xch, phys.max_cpu_id + 1, info, &n) < 0)
        return xen_fail(ctx, "xc_getcpuinfo");
    if ((rc = xen_vcpu_list(ctx, state, XLITE__DOMID_ANY, &vcpus,
                            &nvcpus)) < 0)
        return rc;
    cpus = g_new0(xlite_pcpuinfo, n ? n : 1);
    for (int i = 0; i < n; i++) {
        cpus[i].cpu = i;
        cpus[i].idle_ns = info[i].idletime;
    }
    for (size_t j = 0; j < nvcpus; j++)
        if (vcpus[j].cpu < (unsigned int)n)
            cpus[vcpus[j].cpu].guest_ns += vcpus[j].cpu_time_ns;
    *cpus_r = cpus;
    *n_r = n;
    return 0;
}

static int
xen_dom_node_affinity(xlite_ctx *ctx, void *state, uint32_t domid,
                      uint64_t *nodes_r)
{
    xen_state *st = state;
    xc_nodemap_t map = xc_nodemap_alloc(st->xch);
    int bytes = xc_get_nodemap_size(st->xch);
    uint64_t nodes = 0;

    if (!map || bytes <= 0) {
        free(map);
        return xen_fail(ctx, "xc_nodemap_alloc");
    }
    if (xc_domain_node_getaffinity(st->xch, domid, map) < 0) {
        free(map);
        return xen_fail(ctx, "xc_domain_node_getaffinity");
    }
    for (int i = 0; i < bytes * 8 && i < 64; i++)
        if (map[i / 8] & (1u << (i % 8)))
            nodes |= UINT64_C(1) << i;
    free(map);
    *nodes_r = nodes;
    return 0;
}

/* Hard affinity, as libxl_set_vcpuaffinity sets it. */
static int
xen_vcpu_set_affinity(xlite_ctx *ctx, void *state, uint32_t domid,
                      unsigned int vcpu, const uint8_t *cpumap, size_t maplen)
{
    xen_state *st = state;
    int size = xc_get_cpumap_size(st->xch);
    xc_cpumap_t hard;
    int r;

    if (size <= 0 || !(hard = xc_cpumap_alloc(st->xch)))
        return xen_fail(ctx, "xc_cpumap_alloc");
    memcpy(hard, cpumap, MIN((size_t)size, maplen));
    r = xc_vcpu_setaffinity(st->xch, domid, vcpu, hard, NULL,
                            XEN_VCPUAFFINITY_HARD);
    free(hard);
    return r < 0 ? xen_fail(ctx, "xc_vcpu_setaffinity") : 0;
}

static const char *
xen_sysfs_root(void *state)
{
    return "/sys";
}

static const char *
xen_procnet_root(void *state)
{
    return "/proc/net";
}

const xlite__hv_ops xlite__hv_xen_ops = {
    .name = "xen",
    /* Xen's own, as libxl runs them: block sets up a loop device for a
     * file and writes physical-device; vif-bridge puts vifN.M on the
     * bridge.  Both write hotplug-status, which the Linux backends wait
     * for. */
    .disk_script = "/etc/xen/scripts/block",
    .nic_script = "/etc/xen/scripts/vif-bridge",
    .open = xen_open,
    .open_query = xen_open,     /* a handle of its own */
    .close = xen_close,
    .host_info = xen_host_info,
    .host_topology = xen_host_topology,
    .dom_create = xen_dom_create,
    .dom_build = xen_dom_build,
    .dom_pause = xen_dom_pause,
    .dom_unpause = xen_dom_unpause,
    .dom_destroy = xen_dom_destroy,
    .foreign_domains = true,
    .dom_info = xen_dom_info,
    .dom_list = xen_dom_list,
    .dom_set_max_mem = xen_dom_set_max_mem,
    .dom_set_vcpus = xen_dom_set_vcpus,
    .dom_sched_set = xen_dom_sched_set,
    .dom_sched_get = xen_dom_sched_get,
    .evtchn_alloc_unbound = xen_evtchn_alloc_unbound,
    .vcpu_list = xen_vcpu_list,
    .pcpu_list = xen_pcpu_list,
    .sysfs_root = xen_sysfs_root,
    .procnet_root = xen_procnet_root,
    .dom_node_affinity = xen_dom_node_affinity,
    .vcpu_set_affinity = xen_vcpu_set_affinity,
};
