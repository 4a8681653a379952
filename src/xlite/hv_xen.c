/*
 * hv_xen.c: the "xen" hypervisor backend, on a real dom0, through
 * libxenctrl and libxenevtchn
 *
 * UNTESTED: this file is compiled wherever Xen's libraries are installed,
 * but selected only on a dom0 of a real Xen host (/proc/xen/capabilities
 * says control_d), which the project's machines are not.  No test runs
 * any of it; treat every path here as unverified (docs/xlite-domains.md).
 *
 * What it maps:
 *  - host_info: xc_physinfo, xc_version;
 *  - create/pause/unpause/destroy/info/list/max mem/sched/evtchn: the
 *    corresponding xc_* calls (hypercalls; short, made with the lock held
 *    like every backend operation);
 *  - domain-change reports: VIRQ_DOM_EXC bound with libxenevtchn, its fd
 *    in the event loop;
 *  - build: NOT IMPLEMENTED.  Loading a PV kernel needs libxenguest's
 *    domain builder (xc_dom_*), which libxlite does not drive yet: build
 *    fails with -ENOSYS and a sentence saying so, and create undoes the
 *    domain.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <string.h>
#include <xenctrl.h>
#include <xenevtchn.h>

#include "xlite_internal.h"

typedef struct {
    xc_interface *xch;
    xenevtchn_handle *xce;
    xenevtchn_port_or_error_t virq_port;
    xlite__ev_fd virq_ev;
    xlite__hv_changed_fn *changed;
} xen_state;

static int
xen_open(xlite_ctx *ctx, void **state_r)
{
    xen_state *st = g_new0(xen_state, 1);
    xlite__foreign_fds *before;

    xlite__ev_fd_init(&st->virq_ev);
    st->virq_port = -1;
    before = xlite__foreign_fds_begin();
    st->xch = xc_interface_open(NULL, NULL, 0);
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
    xlite__ev_fd_deregister(ctx, &st->virq_ev);
    if (st->xce)
        xenevtchn_close(st->xce);
    xc_interface_close(st->xch);
    g_free(st);
}

static int
xc_fail(xlite_ctx *ctx, const char *what)
{
    int err = errno ? errno : EIO;

    return XLITE_ERROR(ctx, -err, "Xen: %s failed: %s", what,
                       g_strerror(err));
}

static int
xen_host_info(xlite_ctx *ctx, void *state, xlite_host_info *info)
{
    xen_state *st = state;
    xc_physinfo_t phys = { 0 };
    xen_extraversion_t extra;
    int ver;

    if (xc_physinfo(st->xch, &phys) < 0)
        return xc_fail(ctx, "xc_physinfo");
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
    info->guest_types = XLITE_GUEST_PV;
    if (phys.capabilities & XEN_SYSCTL_PHYSCAP_hvm)
        info->guest_types |= XLITE_GUEST_HVM | XLITE_GUEST_PVH;
    info->max_vcpus = 128;
    g_strlcpy(info->arch, "x86_64", sizeof(info->arch));
    return 0;
}

static int
xen_dom_create(xlite_ctx *ctx, void *state, const xlite__hv_create_args *a,
               uint32_t *domid_r)
{
    xen_state *st = state;
    struct xen_domctl_createdomain cfg = { 0 };
    uint32_t domid = 0;   /* 0: let Xen choose */

    memcpy(cfg.handle, a->uuid, 16);
    if (a->type != XLITE_DOMAIN_TYPE_PV)
        cfg.flags |= XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap;
    cfg.max_vcpus = a->max_vcpus;
    cfg.max_evtchn_port = -1;
    cfg.max_grant_frames = -1;
    cfg.max_maptrack_frames = -1;
    cfg.grant_opts = XEN_DOMCTL_GRANT_version(1);
    if (xc_domain_create(st->xch, &domid, &cfg) < 0)
        return xc_fail(ctx, "xc_domain_create");
    if (xc_domain_setmaxmem(st->xch, domid, a->max_memkb) < 0) {
        int rc = xc_fail(ctx, "xc_domain_setmaxmem");

        xc_domain_destroy(st->xch, domid);
        return rc;
    }
    *domid_r = domid;
    return 0;
}

static int
xen_dom_build(xlite_ctx *ctx, void *state, uint32_t domid, const char *kernel,
              const char *ramdisk, const char *cmdline)
{
    return XLITE_ERROR(ctx, -ENOSYS, "building domain %u on real Xen needs "
                       "libxenguest's domain builder, which libxlite does "
                       "not drive yet", domid);
}

static int
xen_dom_pause(xlite_ctx *ctx, void *state, uint32_t domid)
{
    xen_state *st = state;

    return xc_domain_pause(st->xch, domid) < 0 ? xc_fail(ctx, "pause") : 0;
}

static int
xen_dom_unpause(xlite_ctx *ctx, void *state, uint32_t domid)
{
    xen_state *st = state;

    return xc_domain_unpause(st->xch, domid) < 0 ? xc_fail(ctx, "unpause")
                                                  : 0;
}

static int
xen_dom_destroy(xlite_ctx *ctx, void *state, uint32_t domid)
{
    xen_state *st = state;

    return xc_domain_destroy(st->xch, domid) < 0 ? xc_fail(ctx, "destroy")
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

static int
xen_dom_info(xlite_ctx *ctx, void *state, uint32_t domid,
             xlite_dominfo *info)
{
    xen_state *st = state;
    xc_domaininfo_t x;
    int n = xc_domain_getinfolist(st->xch, domid, 1, &x);

    if (n < 0)
        return xc_fail(ctx, "xc_domain_getinfolist");
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
        return xc_fail(ctx, "xc_domain_getinfolist");
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
           ? xc_fail(ctx, "xc_domain_setmaxmem") : 0;
}

static int
xen_dom_set_vcpus(xlite_ctx *ctx, void *state, uint32_t domid,
                  unsigned int online)
{
    /* On Xen the guest onlines vcpus itself, told through xenstore
     * (cpu/N/availability), which the core writes. */
    return 0;
}

static int
xen_dom_sched_set(xlite_ctx *ctx, void *state, uint32_t domid,
                  unsigned int weight, unsigned int cap)
{
    xen_state *st = state;
    struct xen_domctl_sched_credit sc = { .weight = weight, .cap = cap };

    return xc_sched_credit_domain_set(st->xch, domid, &sc) < 0
           ? xc_fail(ctx, "xc_sched_credit_domain_set") : 0;
}

static int
xen_evtchn_alloc_unbound(xlite_ctx *ctx, void *state, uint32_t domid,
                         uint32_t remote, uint32_t *port_r)
{
    xen_state *st = state;
    int port = xc_evtchn_alloc_unbound(st->xch, domid, remote);

    if (port < 0)
        return xc_fail(ctx, "xc_evtchn_alloc_unbound");
    *port_r = port;
    return 0;
}

static void
xen_virq_fd_cb(xlite__egc *egc, xlite__ev_fd *ev, int fd, short events,
               short revents)
{
    xen_state *st = XLITE__CONTAINER_OF(ev, xen_state, virq_ev);
    xenevtchn_port_or_error_t port;

    /* The fd is non-blocking: drain every pending port. */
    while ((port = xenevtchn_pending(st->xce)) >= 0)
        xenevtchn_unmask(st->xce, port);
    if (st->changed)
        st->changed(egc);
}

static int
xen_watch_domains(xlite_ctx *ctx, void *state, xlite__hv_changed_fn *fn)
{
    xen_state *st = state;
    xlite__foreign_fds *before;
    int rc;

    st->changed = fn;
    if (!fn) {
        xlite__ev_fd_deregister(ctx, &st->virq_ev);
        return 0;
    }
    if (!st->xce) {
        before = xlite__foreign_fds_begin();
        st->xce = xenevtchn_open(NULL, 0);
        xlite__foreign_fds_end(before);
        if (!st->xce)
            return xc_fail(ctx, "xenevtchn_open");
        if ((st->virq_port = xenevtchn_bind_virq(st->xce, VIRQ_DOM_EXC)) < 0)
            return xc_fail(ctx, "binding VIRQ_DOM_EXC");
    }
    if (!xlite__ev_fd_isregistered(&st->virq_ev) &&
        (rc = xlite__ev_fd_register(ctx, &st->virq_ev, xen_virq_fd_cb,
                                    xenevtchn_fd(st->xce), POLLIN)) < 0)
        return rc;
    return 0;
}

const xlite__hv_ops xlite__hv_xen_ops = {
    .name = "xen",
    .open = xen_open,
    .close = xen_close,
    .host_info = xen_host_info,
    .dom_create = xen_dom_create,
    .dom_build = xen_dom_build,
    .dom_pause = xen_dom_pause,
    .dom_unpause = xen_dom_unpause,
    .dom_destroy = xen_dom_destroy,
    .dom_info = xen_dom_info,
    .dom_list = xen_dom_list,
    .dom_set_max_mem = xen_dom_set_max_mem,
    .dom_set_vcpus = xen_dom_set_vcpus,
    .dom_sched_set = xen_dom_sched_set,
    .evtchn_alloc_unbound = xen_evtchn_alloc_unbound,
    .watch_domains = xen_watch_domains,
};
