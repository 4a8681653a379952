/*
 * xlite_xs.c: the xenstore connection, reads and writes, and watches
 *
 * The rules are in xlite_internal.h, "xenstore".  libxenstore delivers
 * watch events through an fd (xs_fileno) that becomes readable when events
 * are queued; xs_check_watch takes them one at a time without blocking.
 *
 * Every registration gets a token never used before, and an event is
 * delivered only if its token is still in ctx->xswatches: so an event that
 * was already queued when xs_unwatch returned is dropped here.  The
 * connection is deliberately opened without XS_UNWATCH_FILTER: in
 * libxenstore 4.17 that filter unlinks the queued event and frees the
 * message but not its body, a leak per unwatch that had an event pending
 * (found by LeakSanitizer; tests/README.md, "Sanitizers").
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#include "xlite_internal.h"

/* Longest path xenstored accepts (XENSTORE_ABS_PATH_MAX); anything longer
 * in an event did not come from a well-behaved xenstored. */
#define XS_PATH_MAX 3072

static void
watch_fd_cb(xlite__egc *egc, xlite__ev_fd *ev, int fd, short events,
            short revents)
{
    xlite_ctx *ctx = egc->ctx;
    char **event;

    while ((event = xs_check_watch(ctx->xsh))) {
        const char *epath = event[XS_WATCH_PATH];
        const char *token = event[XS_WATCH_TOKEN];
        xlite__ev_xswatch *w = NULL;
        char *end;
        uintptr_t id;

        errno = 0;
        id = (uintptr_t)strtoull(token, &end, 10);
        if (!errno && *end == '\0')
            w = g_hash_table_lookup(ctx->xswatches, (void *)id);
        if (!w)
            XLITE_LOG(ctx, XLITE_LOG_DEBUG,
                      "xenstore event for unknown watch token '%.32s'",
                      token);
        else if (strnlen(epath, XS_PATH_MAX + 1) > XS_PATH_MAX)
            XLITE_LOG(ctx, XLITE_LOG_WARN,
                      "xenstore event with an overlong path ignored");
        else
            w->callback(egc, w, w->path, epath);
        free(event);
    }
    if (errno != EAGAIN)
        XLITE_LOG(ctx, XLITE_LOG_ERROR, "reading xenstore watch events: %s",
                  g_strerror(errno));
}

struct xs_handle *
xlite__xs(xlite_ctx *ctx)
{
    xlite__foreign_fds *before;
    int fd = -1;
    int err;
    int rc;

    CTX_LOCK(ctx);
    if (ctx->xsh)
        goto out;
    /* libxenstore creates its socket and its event pipe itself. */
    before = xlite__foreign_fds_begin();
    ctx->xsh = xs_open(0);
    err = errno;
    if (ctx->xsh)
        fd = xs_fileno(ctx->xsh);
    xlite__foreign_fds_end(before);

    if (!ctx->xsh) {
        XLITE_ERROR(ctx, err ? -err : -EIO,
                    "cannot connect to xenstore (XENSTORED_PATH=%s): %s",
                    g_getenv("XENSTORED_PATH") ?: "unset", g_strerror(err));
        goto out;
    }
    if (fd < 0 ||
        (rc = xlite__ev_fd_register(ctx, &ctx->xs_ev, watch_fd_cb, fd,
                                    POLLIN)) < 0) {
        if (fd < 0)
            XLITE_ERROR(ctx, -EIO, "libxenstore gave no watch fd");
        xs_close(ctx->xsh);
        ctx->xsh = NULL;
    }

 out:
    CTX_UNLOCK(ctx);
    return ctx->xsh;
}

void
xlite__xs_reset(xlite_ctx *ctx)
{
    GHashTableIter iter;
    void *key, *value;

    /* A new host: the stored configs of the old one's domains (a destroy
     * or a create undo cut short by the loss left them) are collected at
     * the first look at the new one. */
    ctx->userdata_collected = false;
    if (!ctx->xsh)
        return;
    XLITE_LOG(ctx, XLITE_LOG_INFO, "the host restarted: reconnecting to "
              "xenstore");
    xlite__ev_fd_deregister(ctx, &ctx->xs_ev);
    xs_close(ctx->xsh);
    ctx->xsh = NULL;
    if (g_hash_table_size(ctx->xswatches) == 0 || !xlite__xs(ctx))
        return;
    /* The watches the mechanisms hold, on the new connection (each fires
     * once at once, as a new watch does). */
    g_hash_table_iter_init(&iter, ctx->xswatches);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        xlite__ev_xswatch *w = value;
        char token[32];

        snprintf(token, sizeof(token), "%" G_GUINTPTR_FORMAT,
                 (guintptr)key);
        if (!xs_watch(ctx->xsh, w->path, token))
            XLITE_LOG(ctx, XLITE_LOG_ERROR, "cannot watch %s again: %s",
                      w->path, g_strerror(errno));
    }
}

/* ---------- reads and writes ---------- */

char *
xlite__xs_read_bounded(xlite_ctx *ctx, const char *path, size_t max)
{
    struct xs_handle *xsh = xlite__xs(ctx);
    unsigned int len = 0;
    char *v;

    if (!xsh || !(v = xs_read(xsh, XBT_NULL, path, &len)))
        return NULL;
    if (len > max || strlen(v) != len) {
        XLITE_LOG_GUEST(ctx, "ignoring the value of %s: too long or not "
                        "a string", path);
        free(v);
        return NULL;
    }
    return v;
}

int
xlite__xs_read_uint(xlite_ctx *ctx, const char *path, uint64_t max,
                    uint64_t *val_r)
{
    g_autofree char *v = xlite__xs_read_bounded(ctx, path, 24);
    guint64 n;

    if (!v || !g_ascii_string_to_unsigned(v, 10, 0, max, &n, NULL))
        return -EINVAL;
    *val_r = n;
    return 0;
}

int
xlite__xs_write_checked(xlite_ctx *ctx, const char *path, const char *value)
{
    struct xs_handle *xsh = xlite__xs(ctx);

    if (!xsh)
        return -EIO;
    if (!xs_write(xsh, XBT_NULL, path, value, strlen(value)))
        return XLITE_ERROR(ctx, -errno, "cannot write %s: %s", path,
                           g_strerror(errno));
    return 0;
}

bool
xlite__xs_exists(xlite_ctx *ctx, const char *path)
{
    g_autofree char *v = xlite__xs_read_bounded(ctx, path, 4096);

    return v != NULL;
}

/* ---------- transactions ---------- */

int
xlite__xs_transact(xlite_ctx *ctx, const char *what,
                   xlite__xs_txn_body *body, void *opaque)
{
    struct xs_handle *xsh = xlite__xs(ctx);
    unsigned int attempt;
    int rc;

    if (!xsh)
        return -EIO;
    for (attempt = 0; attempt < XLITE__XS_TXN_ATTEMPTS; attempt++) {
        xs_transaction_t t = xs_transaction_start(xsh);

        if (t == XBT_NULL)
            goto failed;
        if ((rc = body(ctx, xsh, t, opaque)) < 0) {
            int saved = errno;

            xs_transaction_end(xsh, t, true);
            errno = saved;
            return rc;
        }
        if (xs_transaction_end(xsh, t, false))
            return rc;
        if (errno != EAGAIN)
            goto failed;
    }
    return what ? XLITE_ERROR(ctx, -EAGAIN, "cannot %s: too many "
                              "conflicting xenstore transactions", what)
                : -EAGAIN;

 failed:
    rc = errno ? -errno : -EIO;
    return what ? XLITE_ERROR(ctx, rc, "cannot %s: %s", what,
                              g_strerror(-rc))
                : rc;
}

/* ---------- watch sources ---------- */

void
xlite__ev_xswatch_init(xlite__ev_xswatch *w)
{
    w->callback = NULL;
    w->path = NULL;
    w->token = 0;
}

bool
xlite__ev_xswatch_isregistered(const xlite__ev_xswatch *w)
{
    return w->callback != NULL;
}

int
xlite__ev_xswatch_register(xlite_ctx *ctx, xlite__ev_xswatch *w,
                           xlite__ev_xswatch_callback *func, const char *path)
{
    char token[32];
    int rc = 0;

    CTX_LOCK(ctx);
    assert(!xlite__ev_xswatch_isregistered(w));
    if (!xlite__xs(ctx)) {
        rc = -EIO;
        goto out;
    }
    w->token = ++ctx->next_xs_token;
    snprintf(token, sizeof(token), "%" PRIuPTR, w->token);
    if (!xs_watch(ctx->xsh, path, token)) {
        rc = XLITE_ERROR(ctx, -errno, "cannot watch xenstore path %s: %s",
                         path, g_strerror(errno));
        goto out;
    }
    w->callback = func;
    w->path = g_strdup(path);
    g_hash_table_insert(ctx->xswatches, (void *)w->token, w);

 out:
    CTX_UNLOCK(ctx);
    return rc;
}

void
xlite__ev_xswatch_deregister(xlite_ctx *ctx, xlite__ev_xswatch *w)
{
    char token[32];

    CTX_LOCK(ctx);
    if (xlite__ev_xswatch_isregistered(w)) {
        snprintf(token, sizeof(token), "%" PRIuPTR, w->token);
        if (!xs_unwatch(ctx->xsh, w->path, token))
            XLITE_LOG(ctx, XLITE_LOG_WARN, "cannot unwatch xenstore path %s: %s",
                      w->path, g_strerror(errno));
        g_hash_table_remove(ctx->xswatches, (void *)w->token);
        g_free(w->path);
        xlite__ev_xswatch_init(w);
    }
    CTX_UNLOCK(ctx);
}

void
xlite__xs_ctx_init(xlite_ctx *ctx)
{
    xlite__ev_fd_init(&ctx->xs_ev);
    ctx->xswatches = g_hash_table_new(g_direct_hash, g_direct_equal);
}

void
xlite__xs_ctx_free(xlite_ctx *ctx)
{
    /* Programming error: watches left registered. */
    assert(!ctx->xswatches || g_hash_table_size(ctx->xswatches) == 0);
    g_clear_pointer(&ctx->xswatches, g_hash_table_unref);
    xlite__ev_fd_deregister(ctx, &ctx->xs_ev);
    if (ctx->xsh) {
        xs_close(ctx->xsh);
        ctx->xsh = NULL;
    }
}
