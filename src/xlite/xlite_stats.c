/*
 * xlite_stats.c: monitoring figures, as the hypervisor keeps them
 *
 * The hypervisor accounts cpu time per vcpu (Xen's vcpu_runstate; the
 * simulated host keeps the same counters, docs/xensim-hypervisor-protocol.md)
 * and each physical cpu's idle time.  These calls hand them out as they
 * are, one pass over the hypervisor each: a monitoring client polling
 * every domain of a host every few seconds asks once, not once per
 * domain.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>

#include "xlite_internal.h"

static int
stats_vcpu_list(xlite_ctx *ctx, uint32_t domid, xlite_vcpuinfo **vcpus_r,
                size_t *n_r)
{
    g_autofree xlite_vcpuinfo *vcpus = NULL;
    size_t n = 0;
    int rc;

    if (!vcpus_r || !n_r)
        return XLITE_ERROR(ctx, -EINVAL, "result pointers are required");
    CTX_LOCK(ctx);
    if (!ctx->hv->vcpu_list)
        rc = XLITE_ERROR(ctx, -EOPNOTSUPP, "the %s backend has no vcpus",
                         ctx->hv->name);
    else if ((rc = ctx->hv->vcpu_list(ctx, ctx->hv_state, domid, &vcpus,
                                      &n)) == -ESRCH)
        rc = XLITE_ERROR(ctx, -ESRCH, "domain %u does not exist", domid);
    CTX_UNLOCK(ctx);
    if (rc < 0)
        return rc;
    *vcpus_r = g_steal_pointer(&vcpus);
    *n_r = n;
    return 0;
}

XLITE_EXPORT int
xlite_domain_vcpu_list(xlite_ctx *ctx, uint32_t domid,
                       xlite_vcpuinfo **vcpus_r, size_t *n_r)
{
    if (domid == XLITE__DOMID_ANY)
        return XLITE_ERROR(ctx, -EINVAL, "%u is not a domain id", domid);
    return stats_vcpu_list(ctx, domid, vcpus_r, n_r);
}

XLITE_EXPORT int
xlite_vcpu_list_all(xlite_ctx *ctx, xlite_vcpuinfo **vcpus_r, size_t *n_r)
{
    return stats_vcpu_list(ctx, XLITE__DOMID_ANY, vcpus_r, n_r);
}

XLITE_EXPORT int
xlite_host_pcpu_list(xlite_ctx *ctx, xlite_pcpuinfo **cpus_r, size_t *n_r)
{
    g_autofree xlite_pcpuinfo *cpus = NULL;
    size_t n = 0;
    int rc;

    if (!cpus_r || !n_r)
        return XLITE_ERROR(ctx, -EINVAL, "result pointers are required");
    CTX_LOCK(ctx);
    if (!ctx->hv->pcpu_list)
        rc = XLITE_ERROR(ctx, -EOPNOTSUPP, "the %s backend does not account "
                         "the host's cpu time", ctx->hv->name);
    else
        rc = ctx->hv->pcpu_list(ctx, ctx->hv_state, &cpus, &n);
    CTX_UNLOCK(ctx);
    if (rc < 0)
        return rc;
    *cpus_r = g_steal_pointer(&cpus);
    *n_r = n;
    return 0;
}
