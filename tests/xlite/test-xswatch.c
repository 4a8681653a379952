/*
 * test-xswatch.c: xenstore watches as event sources
 *
 * libxenstore talks to a scripted fake xenstored on a unix socket, found
 * through XENSTORED_PATH like the simulated host's.  The fake answers
 * XS_WATCH, XS_UNWATCH and XS_WRITE with the real wire protocol, fires a
 * watch once when it is set (as xenstored does) and on every write below
 * its path, and refuses anything else.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <xenstore.h>
#include <xen/io/xs_wire.h>

#include "testutils.h"
#include "xlite_internal.h"

typedef struct {
    int listen_fd;
    GHashTable *watches;       /* token -> path */
} fake_xenstored;

static bool
read_full(int fd, void *buf, size_t len)
{
    char *p = buf;

    while (len) {
        ssize_t r = read(fd, p, len);

        if (r <= 0)
            return false;
        p += r;
        len -= r;
    }
    return true;
}

static void
send_msg(int fd, uint32_t type, uint32_t req_id, const char *payload,
         size_t len)
{
    struct xsd_sockmsg hdr = { .type = type, .req_id = req_id,
                               .len = (uint32_t)len };

    g_assert_cmpint(write(fd, &hdr, sizeof(hdr)), ==, sizeof(hdr));
    g_assert_cmpint(write(fd, payload, len), ==, (ssize_t)len);
}

static void
send_event(int fd, const char *path, const char *token)
{
    g_autofree char *payload = g_strdup_printf("%s%c%s", path, '\0', token);

    send_msg(fd, XS_WATCH_EVENT, 0, payload,
             strlen(path) + 1 + strlen(token) + 1);
}

static void *
fake_xenstored_main(void *opaque)
{
    fake_xenstored *fx = opaque;
    int fd = accept(fx->listen_fd, NULL, NULL);
    struct xsd_sockmsg hdr;

    g_assert_cmpint(fd, >=, 0);
    while (read_full(fd, &hdr, sizeof(hdr))) {
        g_autofree char *body = g_malloc0(hdr.len + 1);
        const char *arg2;

        g_assert_true(read_full(fd, body, hdr.len));
        arg2 = body + strlen(body) + 1;
        switch (hdr.type) {
        case XS_WATCH:
            g_hash_table_insert(fx->watches, g_strdup(arg2), g_strdup(body));
            send_msg(fd, XS_WATCH, hdr.req_id, "OK", 3);
            send_event(fd, body, arg2);
            break;
        case XS_UNWATCH:
            g_hash_table_remove(fx->watches, arg2);
            send_msg(fd, XS_UNWATCH, hdr.req_id, "OK", 3);
            break;
        case XS_WRITE: {
            GHashTableIter iter;
            gpointer token, path;

            send_msg(fd, XS_WRITE, hdr.req_id, "OK", 3);
            g_hash_table_iter_init(&iter, fx->watches);
            while (g_hash_table_iter_next(&iter, &token, &path))
                if (g_str_has_prefix(body, path))
                    send_event(fd, body, token);
            break;
        }
        default:
            send_msg(fd, XS_ERROR, hdr.req_id, "EINVAL", 7);
            break;
        }
    }
    close(fd);
    return NULL;
}

typedef struct {
    xlite__ev_xswatch w;
    GPtrArray *seen;           /* changed paths */
} watcher;

static void
watch_cb(xlite__egc *egc, xlite__ev_xswatch *w, const char *wpath,
         const char *epath)
{
    watcher *wt = XLITE__CONTAINER_OF(w, watcher, w);

    g_assert_cmpstr(wpath, ==, "/local/domain/5/control");
    g_ptr_array_add(wt->seen, g_strdup(epath));
}

static void
run_until_seen(xlite_ctx *ctx, watcher *wt, guint n)
{
    int64_t give_up = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    xlite_event *ev;

    while (wt->seen->len < n && g_get_monotonic_time() < give_up)
        xlite_event_wait(ctx, 0, NULL, NULL, 10 * 1000, &ev);
    g_assert_cmpuint(wt->seen->len, ==, n);
}

static void
test_watch(void)
{
    g_autofree char *dir = g_dir_make_tmp("xlite-xs-XXXXXX", NULL);
    g_autofree char *sock = g_build_filename(dir, "socket", NULL);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    fake_xenstored fx = { .watches = g_hash_table_new_full(g_str_hash,
                                                           g_str_equal,
                                                           g_free, g_free) };
    watcher wt = { .seen = g_ptr_array_new_with_free_func(g_free) };
    const char *path = "/local/domain/5/control/shutdown";
    xlite_ctx *ctx;
    pthread_t tid;
    leak_check lc;

    leak_check_begin(&lc);
    fx.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_strlcpy(addr.sun_path, sock, sizeof(addr.sun_path));
    g_assert_cmpint(bind(fx.listen_fd, (struct sockaddr *)&addr,
                         sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(fx.listen_fd, 1), ==, 0);
    pthread_create(&tid, NULL, fake_xenstored_main, &fx);
    g_setenv("XENSTORED_PATH", sock, TRUE);

    ctx = test_ctx_new();
    xlite__ev_xswatch_init(&wt.w);
    g_assert_false(xlite__ev_xswatch_isregistered(&wt.w));
    g_assert_cmpint(xlite__ev_xswatch_register(ctx, &wt.w, watch_cb,
                                               "/local/domain/5/control"),
                    ==, 0);
    g_assert_true(xlite__ev_xswatch_isregistered(&wt.w));
    /* The initial firing. */
    run_until_seen(ctx, &wt, 1);
    g_assert_cmpstr(wt.seen->pdata[0], ==, "/local/domain/5/control");

    g_assert_true(xs_write(xlite__xs(ctx), XBT_NULL, path, "poweroff", 8));
    run_until_seen(ctx, &wt, 2);
    g_assert_cmpstr(wt.seen->pdata[1], ==, path);

    xlite__ev_xswatch_deregister(ctx, &wt.w);
    g_assert_false(xlite__ev_xswatch_isregistered(&wt.w));
    g_assert_true(xs_write(xlite__xs(ctx), XBT_NULL, path, "reboot", 6));
    /* Nothing more arrives once unwatched. */
    {
        xlite_event *ev;

        xlite_event_wait(ctx, 0, NULL, NULL, 50 * 1000, &ev);
    }
    g_assert_cmpuint(wt.seen->len, ==, 2);

    xlite_ctx_free(ctx);
    pthread_join(tid, NULL);
    close(fx.listen_fd);
    unlink(sock);
    rmdir(dir);
    g_unsetenv("XENSTORED_PATH");
    g_hash_table_unref(fx.watches);
    g_ptr_array_unref(wt.seen);
    leak_check_end(&lc);
}

/* No xenstored: a clear error, and nothing left behind. */
static void
test_no_xenstored(void)
{
    xlite_ctx *ctx;
    xlite__ev_xswatch w;
    leak_check lc;

    leak_check_begin(&lc);
    g_setenv("XENSTORED_PATH", "/nonexistent/xenstored/socket", TRUE);
    ctx = test_ctx_new();
    xlite__ev_xswatch_init(&w);
    g_assert_cmpint(xlite__ev_xswatch_register(ctx, &w, watch_cb, "/x"), <,
                    0);
    g_assert_nonnull(strstr(xlite_errmsg(), "cannot connect to xenstore"));
    g_assert_false(xlite__ev_xswatch_isregistered(&w));
    xlite_ctx_free(ctx);
    g_unsetenv("XENSTORED_PATH");
    leak_check_end(&lc);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xlite/xswatch/watch", test_watch);
    g_test_add_func("/xlite/xswatch/no-xenstored", test_no_xenstored);
    return g_test_run();
}
