/*
 * xlite_ctx.c: the context, errors and logging
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "xlite_internal.h"

/* The last failure of each thread, for xlite_errmsg(). */
static __thread char errmsg_buf[1024];

XLITE_EXPORT const char *
xlite_errmsg(void)
{
    return errmsg_buf;
}

void
xlite__errmsg_restore(const char *msg)
{
    g_strlcpy(errmsg_buf, msg ? msg : "", sizeof(errmsg_buf));
}

void
xlite__log(xlite_ctx *ctx, xlite_log_level level, const char *func,
           const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    if (!ctx || !ctx->log)
        return;
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    ctx->log(ctx->log_opaque, level, func, msg);
}

void
xlite__log_guest(xlite_ctx *ctx, const char *func, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    unsigned int held = 0;
    int64_t now;
    va_list ap;

    if (!ctx || !ctx->log)
        return;
    now = g_get_monotonic_time();
    pthread_mutex_lock(&ctx->guestlog_lock);
    if (ctx->guestlog_tokens < XLITE__GUESTLOG_BURST) {
        int64_t periods = (now - ctx->guestlog_refilled) /
                          XLITE__GUESTLOG_PERIOD_US;

        if (periods > 0) {
            ctx->guestlog_tokens = MIN((int64_t)XLITE__GUESTLOG_BURST,
                                       ctx->guestlog_tokens + periods);
            ctx->guestlog_refilled = now;
        }
    } else {
        ctx->guestlog_refilled = now;
    }
    if (ctx->guestlog_tokens == 0) {
        ctx->guestlog_held++;
        pthread_mutex_unlock(&ctx->guestlog_lock);
        return;
    }
    ctx->guestlog_tokens--;
    held = ctx->guestlog_held;
    ctx->guestlog_held = 0;
    pthread_mutex_unlock(&ctx->guestlog_lock);

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (held > 0) {
        g_autofree char *more = msg;

        msg = g_strdup_printf("%s (%u more such warnings held back)",
                              more, held);
    }
    ctx->log(ctx->log_opaque, XLITE_LOG_WARN, func, msg);
}

int
xlite__error(xlite_ctx *ctx, int rc, const char *func, const char *fmt, ...)
{
    va_list ap;

    g_assert(rc < 0);
    va_start(ap, fmt);
    vsnprintf(errmsg_buf, sizeof(errmsg_buf), fmt, ap);
    va_end(ap);
    xlite__log(ctx, XLITE_LOG_ERROR, func, "%s", errmsg_buf);
    return rc;
}

XLITE_EXPORT const char *
xlite_backend_name(xlite_backend_kind kind)
{
    switch (kind) {
    case XLITE_BACKEND_AUTO:
        return "auto";
    case XLITE_BACKEND_STUB:
        return "stub";
    case XLITE_BACKEND_SIM:
        return "sim";
    case XLITE_BACKEND_XEN:
        return "xen";
    }
    return "unknown";
}

/* A dom0 of a real Xen host says "control_d" in /proc/xen/capabilities. */
static bool
on_xen_control_domain(void)
{
    g_autofree char *caps = NULL;

    return g_file_get_contents("/proc/xen/capabilities", &caps, NULL, NULL) &&
           strstr(caps, "control_d") != NULL;
}

static xlite_backend_kind
backend_resolve(xlite_backend_kind kind)
{
    if (kind != XLITE_BACKEND_AUTO)
        return kind;
    return on_xen_control_domain() ? XLITE_BACKEND_XEN : XLITE_BACKEND_SIM;
}

static const xlite__hv_ops *
hv_ops_for(xlite_backend_kind kind)
{
    switch (kind) {
    case XLITE_BACKEND_STUB:
        return &xlite__hv_stub_ops;
    case XLITE_BACKEND_SIM:
        return &xlite__hv_sim_ops;
    case XLITE_BACKEND_XEN:
#ifdef XLITE_HAVE_XENCTRL
        return &xlite__hv_xen_ops;
#else
        return NULL;
#endif
    case XLITE_BACKEND_AUTO:
        break;
    }
    return NULL;
}

/* Tears down what ctx_new set up, mechanism by mechanism, in the reverse
 * order; each one asserts that nothing of it is left in use. */
static void
ctx_free_fields(xlite_ctx *ctx)
{
    xlite__xs_ctx_free(ctx);
    xlite__childproc_ctx_free(ctx);
    xlite__ao_ctx_free(ctx);
    xlite__event_ctx_free(ctx);
    g_free(ctx->state_dir);
    g_free(ctx->sim_rundir);
    pthread_mutex_destroy(&ctx->lock);
    pthread_mutex_destroy(&ctx->query_lock);
    pthread_mutex_destroy(&ctx->guestlog_lock);
    g_free(ctx);
}

XLITE_EXPORT int
xlite_ctx_new(const xlite_ctx_options *opts, xlite_ctx **ctx_r)
{
    xlite_ctx *ctx;
    pthread_mutexattr_t attr;
    int rc;

    if (!opts || !ctx_r)
        return xlite__error(NULL, -EINVAL, __func__,
                            "xlite_ctx_new needs options and a result pointer");
    if (!opts->state_dir || !g_path_is_absolute(opts->state_dir))
        return xlite__error(NULL, -EINVAL, __func__,
                            "the state directory must be an absolute path");

    ctx = g_new0(xlite_ctx, 1);
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&ctx->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    pthread_mutex_init(&ctx->query_lock, NULL);
    pthread_mutex_init(&ctx->guestlog_lock, NULL);
    ctx->guestlog_tokens = XLITE__GUESTLOG_BURST;
    ctx->guestlog_refilled = g_get_monotonic_time();

    ctx->state_dir = g_strdup(opts->state_dir);
    ctx->sim_rundir = g_strdup(opts->sim_rundir);
    ctx->sim_shared_netns = opts->sim_shared_netns;
    ctx->log = opts->log;
    ctx->log_opaque = opts->log_opaque;
    ctx->debug_child_fds = opts->debug_child_fds;
    ctx->blockjob_poll = opts->blockjob_poll ||
                         g_strcmp0(g_getenv("XLITE_BLOCKJOB_POLL"), "1") == 0;
    ctx->backend = backend_resolve(opts->backend);
    ctx->hv = hv_ops_for(ctx->backend);
    if (!ctx->hv) {
        rc = xlite__error(NULL, -EOPNOTSUPP, __func__,
                          "the %s backend is not built in",
                          xlite_backend_name(ctx->backend));
        pthread_mutex_destroy(&ctx->lock);
        pthread_mutex_destroy(&ctx->query_lock);
        pthread_mutex_destroy(&ctx->guestlog_lock);
        g_free(ctx->state_dir);
        g_free(ctx->sim_rundir);
        g_free(ctx);
        return rc;
    }
    g_queue_init(&ctx->aos);
    xlite__childproc_ctx_init(ctx);
    xlite__xs_ctx_init(ctx);

    if ((rc = xlite__event_ctx_init(ctx)) < 0 ||
        (rc = ctx->hv->open(ctx, &ctx->hv_state)) < 0) {
        ctx_free_fields(ctx);
        return rc;
    }
    if ((rc = xlite__domains_ctx_init(ctx)) < 0 ||
        (rc = xlite__blockjobs_ctx_init(ctx)) < 0) {
        xlite__domains_ctx_free(ctx);
        ctx->hv->close(ctx, ctx->hv_state);
        ctx_free_fields(ctx);
        return rc;
    }
    xlite__ejects_ctx_init(ctx);
    xlite__balloons_ctx_init(ctx);
    *ctx_r = ctx;
    return 0;
}

XLITE_EXPORT void
xlite_ctx_free(xlite_ctx *ctx)
{
    if (!ctx)
        return;
    xlite__balloons_ctx_free(ctx);
    xlite__ejects_ctx_free(ctx);
    xlite__blockjobs_ctx_free(ctx);
    xlite__domains_ctx_free(ctx);
    xlite__stats_ctx_free(ctx);
    ctx->hv->close(ctx, ctx->hv_state);
    ctx_free_fields(ctx);
}

XLITE_EXPORT xlite_backend_kind
xlite_ctx_backend(xlite_ctx *ctx)
{
    return ctx->backend;
}

XLITE_EXPORT int
xlite_host_get_info(xlite_ctx *ctx, xlite_host_info *info_r)
{
    xlite_host_info info = { 0 };
    int rc;

    CTX_LOCK(ctx);
    rc = ctx->hv->host_info(ctx, ctx->hv_state, &info);
    CTX_UNLOCK(ctx);
    if (rc < 0)
        return rc;
    *info_r = info;
    return 0;
}

XLITE_EXPORT void
xlite_host_topology_free(xlite_host_topology *topo)
{
    if (!topo)
        return;
    g_free(topo->cpus);
    g_free(topo->nodes);
    g_free(topo->distances);
    g_free(topo);
}

XLITE_EXPORT int
xlite_host_get_topology(xlite_ctx *ctx, xlite_host_topology **topo_r)
{
    xlite_host_topology *topo;
    int rc;

    if (!topo_r)
        return XLITE_ERROR(ctx, -EINVAL, "a result pointer is required");
    if (!ctx->hv->host_topology)
        return XLITE_ERROR(ctx, -EOPNOTSUPP, "the %s backend knows no host "
                           "topology", ctx->hv->name);

    topo = g_new0(xlite_host_topology, 1);
    CTX_LOCK(ctx);
    rc = ctx->hv->host_topology(ctx, ctx->hv_state, topo);
    CTX_UNLOCK(ctx);
    if (rc < 0) {
        xlite_host_topology_free(topo);
        return rc;
    }
    *topo_r = topo;
    return 0;
}
