/*
 * test-save.c: save images (xlite_save.c) on a private simulated host
 *
 *  - a ticking guest saved and restored is the same guest going on: its
 *    boot id again in its new home, its tick counter past where it was;
 *    the image is mode 0600 and its sections read back as written;
 *  - every truncation, a flipped bit anywhere, a foreign or future file
 *    is refused with a message saying so, and nothing is created: no
 *    domain, no xenstore home, no stored config;
 *  - a guest that will not suspend is still running after an aborted
 *    save, with its request taken back.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xenstore.h>

#include "domtest.h"

static char *
xs_read_str(struct xs_handle *xsh, const char *path)
{
    unsigned int len;

    return xs_read(xsh, XBT_NULL, path, &len);
}

static char *
guest_node(struct xs_handle *xsh, uint32_t domid, const char *node)
{
    g_autofree char *path = g_strdup_printf("/local/domain/%u/%s", domid,
                                            node);

    return xs_read_str(xsh, path);
}

/* Waits until the guest's data/ticks is at least @min; its value. */
static guint64
wait_ticks(struct xs_handle *xsh, uint32_t domid, guint64 min)
{
    for (int i = 0; i < 200; i++) {
        g_autofree char *v = guest_node(xsh, domid, "data/ticks");
        guint64 n;

        if (v && g_ascii_string_to_unsigned(v, 10, 0, G_MAXUINT64, &n, NULL) &&
            n >= min)
            return n;
        g_usleep(50 * 1000);
    }
    g_error("domain %u: data/ticks never reached %" G_GUINT64_FORMAT, domid,
            min);
}

static uint32_t
start_ticker(simhost *sh, xlite_ctx *ctx, const char *name)
{
    g_autofree char *kernel = simhost_kernel(sh, name, "ticker");
    xlite_domain_config cfg;
    uint32_t domid;

    domtest_config(&cfg, name, kernel);
    g_assert_cmpint(xlite_domain_create(ctx, &cfg, &domid, NULL), ==, 0);
    g_assert_cmpint(xlite_domain_unpause(ctx, domid), ==, 0);
    xlite_domain_config_dispose(&cfg);
    return domid;
}

static void
test_save_restore(void)
{
    static const char data[] = "<domain>the application's own</domain>";
    leak_check lc;
    simhost *sh;
    xlite_ctx *ctx;
    struct xs_handle *xsh;
    g_autofree char *image = NULL;
    g_autofree char *boot_id = NULL;
    g_autofree char *again = NULL;
    g_autofree char *read_data = NULL;
    xlite_domain_config cfg;
    xlite_dominfo info;
    struct stat st;
    size_t read_len = 0;
    guint64 ticks;
    uint32_t domid, restored;

    leak_check_begin(&lc);
    sh = simhost_start();
    ctx = simhost_ctx(sh);
    xsh = xs_open(0);
    g_assert_nonnull(xsh);
    image = g_build_filename(sh->dir, "saved.img", NULL);

    domid = start_ticker(sh, ctx, "saved");
    ticks = wait_ticks(xsh, domid, 2);
    boot_id = guest_node(xsh, domid, "data/boot-id");
    g_assert_nonnull(boot_id);
    g_assert_cmpuint(strlen(boot_id), ==, 16);

    /* Paused, the guest could never suspend: refused at once. */
    g_assert_cmpint(xlite_domain_pause(ctx, domid), ==, 0);
    g_assert_cmpint(xlite_domain_save(ctx, domid, image, data, sizeof(data),
                                      NULL), ==, -EINVAL);
    g_assert_nonnull(strstr(xlite_errmsg(), "is paused"));
    g_assert_false(g_file_test(image, G_FILE_TEST_EXISTS));
    g_assert_cmpint(xlite_domain_unpause(ctx, domid), ==, 0);

    g_assert_cmpint(xlite_domain_save(ctx, domid, image, data, sizeof(data),
                                      NULL), ==, 0);
    /* Left suspended, for the caller to destroy. */
    g_assert_cmpint(xlite_domain_info(ctx, domid, &info), ==, 0);
    g_assert_true(info.shutdown);
    g_assert_cmpint(info.shutdown_reason, ==, XLITE_SHUTDOWN_SUSPEND);
    g_assert_cmpint(stat(image, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0600);
    g_assert_cmpint(xlite_domain_destroy(ctx, domid, NULL), ==, 0);
    domtest_assert_gone(sh, ctx, domid);

    xlite_domain_config_init(&cfg);
    g_assert_cmpint(xlite_save_image_read(ctx, image, &cfg, &read_data,
                                          &read_len), ==, 0);
    g_assert_cmpstr(cfg.name, ==, "saved");
    g_assert_cmpuint(read_len, ==, sizeof(data));
    g_assert_cmpmem(read_data, read_len, data, sizeof(data));
    xlite_domain_config_dispose(&cfg);
    g_clear_pointer(&read_data, g_free);
    g_assert_cmpint(xlite_save_image_set_data(ctx, image, "new", 3), ==, 0);
    g_assert_cmpint(xlite_save_image_read(ctx, image, NULL, &read_data,
                                          &read_len), ==, 0);
    g_assert_cmpstr(read_data, ==, "new");

    g_assert_cmpint(xlite_domain_restore(ctx, image, NULL, &restored, NULL),
                    ==, 0);
    g_assert_cmpuint(restored, !=, domid);
    g_assert_cmpint(xlite_domain_info(ctx, restored, &info), ==, 0);
    g_assert_true(info.paused);
    g_assert_cmpint(xlite_domain_unpause(ctx, restored), ==, 0);
    /* The same guest: its marker, and its counter going on from where it
     * was: the first value it writes is the one it had (a new boot would
     * start again from 0). */
    g_assert_cmpuint(wait_ticks(xsh, restored, 0), >=, ticks);
    g_assert_cmpuint(wait_ticks(xsh, restored, ticks + 1), >, ticks);
    again = guest_node(xsh, restored, "data/boot-id");
    g_assert_cmpstr(again, ==, boot_id);
    g_assert_cmpint(xlite_domain_destroy(ctx, restored, NULL), ==, 0);
    domtest_assert_gone(sh, ctx, restored);

    xs_close(xsh);
    xlite_ctx_free(ctx);
    simhost_free(sh);
    leak_check_end(&lc);
}

/* Restoring @content must fail with @want (and a message holding @msg),
 * leaving nothing. */
static void
restore_refused(simhost *sh, xlite_ctx *ctx, const char *path,
                const void *content, size_t len, int want, const char *msg)
{
    g_autoptr(GError) error = NULL;
    xlite_dominfo *infos = NULL;
    size_t n = 99;
    uint32_t domid = 0;
    int rc;

    g_assert_true(g_file_set_contents(path, content, len, &error));
    rc = xlite_domain_restore(ctx, path, NULL, &domid, NULL);
    if (rc != want || !strstr(xlite_errmsg(), msg))
        g_error("restore of a %zu-byte file: %d '%s', wanted %d '%s'", len,
                rc, xlite_errmsg(), want, msg);
    g_assert_cmpint(xlite_save_image_read(ctx, path, NULL, NULL, NULL), ==,
                    want);
    g_assert_cmpint(xlite_domain_list(ctx, &infos, &n), ==, 0);
    g_assert_cmpuint(n, ==, 0);
    free(infos);
    g_assert_cmpuint(domtest_userdata_files(sh), ==, 0);
}

static void
test_bad_images(void)
{
    leak_check lc;
    simhost *sh;
    xlite_ctx *ctx;
    g_autofree char *image = NULL;
    g_autofree char *bad = NULL;
    g_autofree char *good = NULL;
    g_autoptr(GError) error = NULL;
    gsize len;
    uint32_t domid;

    leak_check_begin(&lc);
    sh = simhost_start();
    ctx = simhost_ctx(sh);
    image = g_build_filename(sh->dir, "good.img", NULL);
    bad = g_build_filename(sh->dir, "bad.img", NULL);

    domid = start_ticker(sh, ctx, "victim");
    g_assert_cmpint(xlite_domain_save(ctx, domid, image, "xml", 3, NULL), ==, 0);
    g_assert_cmpint(xlite_domain_destroy(ctx, domid, NULL), ==, 0);
    g_assert_true(g_file_get_contents(image, &good, &len, &error));
    g_assert_cmpuint(len, >, 48 + 32);

    /* Cut short anywhere: in the magic, the header, each section. */
    restore_refused(sh, ctx, bad, good, 0, -EINVAL, "save image magic");
    restore_refused(sh, ctx, bad, good, 5, -EINVAL, "save image magic");
    for (gsize cut = 8; cut < len; cut += cut < 100 ? 13 : 211)
        restore_refused(sh, ctx, bad, good, cut, -EBADMSG, "truncated");
    restore_refused(sh, ctx, bad, good, len - 1, -EBADMSG, "truncated");

    /* One bit flipped, past the magic: the header's checks or the sum. */
    for (gsize at = 8; at < len; at += at < 48 ? 1 : 97) {
        g_autofree char *copy = g_memdup2(good, len);

        copy[at] ^= 0x10;
        /* Bytes 8 to 11 are the version. */
        restore_refused(sh, ctx, bad, copy, len, at < 12 ? -ENOTSUP : -EBADMSG,
                        at < 12 ? "version" : "not a valid save image");
    }
    {
        g_autofree char *copy = g_memdup2(good, len);

        /* Another file altogether, and one with more after the sum. */
        memcpy(copy, "LibvirtXMLSave", 14);
        restore_refused(sh, ctx, bad, copy, len, -EINVAL, "save image magic");
        g_free(copy);
        copy = g_malloc(len + 1);
        memcpy(copy, good, len);
        copy[len] = '\n';
        restore_refused(sh, ctx, bad, copy, len + 1, -EBADMSG, "trailing data");
    }
    /* Not a file. */
    g_assert_cmpint(xlite_domain_restore(ctx, sh->dir, NULL, &domid, NULL),
                    ==, -EINVAL);

    /* And the good one restores. */
    g_assert_cmpint(xlite_domain_restore(ctx, image, NULL, &domid, NULL), ==, 0);
    g_assert_cmpint(xlite_domain_destroy(ctx, domid, NULL), ==, 0);
    domtest_assert_gone(sh, ctx, domid);

    xlite_ctx_free(ctx);
    simhost_free(sh);
    leak_check_end(&lc);
}

/* A save that cannot happen leaves the guest running: abort while it
 * ignores the request. */
static void
save_done(xlite_ctx *ctx, int rc, void *opaque)
{
    *(int *)opaque = rc;
}

static void
test_save_aborted(void)
{
    leak_check lc;
    simhost *sh;
    xlite_ctx *ctx;
    struct xs_handle *xsh;
    g_autofree char *kernel = NULL;
    g_autofree char *image = NULL;
    g_autofree char *request = NULL;
    xlite_domain_config cfg;
    xlite_dominfo info;
    int done = 1;
    xlite_async_how how = { .callback = save_done, .opaque = &done };
    uint32_t domid;

    leak_check_begin(&lc);
    sh = simhost_start();
    ctx = simhost_ctx(sh);
    xsh = xs_open(0);
    kernel = simhost_kernel(sh, "deaf", "ignore-shutdown");
    image = g_build_filename(sh->dir, "deaf.img", NULL);
    domtest_config(&cfg, "deaf", kernel);
    g_assert_cmpint(xlite_domain_create(ctx, &cfg, &domid, NULL), ==, 0);
    g_assert_cmpint(xlite_domain_unpause(ctx, domid), ==, 0);
    xlite_domain_config_dispose(&cfg);

    g_assert_cmpint(xlite_domain_save(ctx, domid, image, NULL, 0, &how), ==, 0);
    g_assert_cmpint(xlite_sleep(ctx, 300 * 1000, 1, NULL, NULL), ==, 0);
    g_assert_cmpint(done, ==, 1);
    g_assert_cmpint(xlite_async_abort(ctx, &how), ==, 0);
    for (int i = 0; i < 100 && done == 1; i++)
        g_assert_cmpint(xlite_sleep(ctx, 20 * 1000, 1, NULL, NULL), ==, 0);
    g_assert_cmpint(done, ==, -ECANCELED);

    g_assert_cmpint(xlite_domain_info(ctx, domid, &info), ==, 0);
    g_assert_false(info.shutdown);
    request = guest_node(xsh, domid, "control/shutdown");
    g_assert_cmpstr(request, ==, "");
    g_assert_false(g_file_test(image, G_FILE_TEST_EXISTS));
    g_assert_cmpint(xlite_domain_destroy(ctx, domid, NULL), ==, 0);
    domtest_assert_gone(sh, ctx, domid);

    xs_close(xsh);
    xlite_ctx_free(ctx);
    simhost_free(sh);
    leak_check_end(&lc);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    g_test_add_func("/xlite/save/save-restore", test_save_restore);
    g_test_add_func("/xlite/save/bad-images", test_bad_images);
    g_test_add_func("/xlite/save/aborted", test_save_aborted);
    return g_test_run();
}
