/*
 * test-domain-lost.c: xensimd dies under running domains
 *
 * The next call reports "hypervisor connection lost"; a restarted xensimd
 * is a clean, empty host, and the next list removes the stored configs of
 * the domains that went with the old one.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "domtest.h"

static void
test_lost(void)
{
    leak_check lc;
    simhost *sh;
    xlite_ctx *ctx;
    xlite_dominfo *infos = NULL;
    xlite_dominfo info;
    size_t n = 99;
    int i, rc;

    leak_check_begin(&lc);
    sh = simhost_start();
    ctx = simhost_ctx(sh);
    for (i = 0; i < 3; i++) {
        g_autofree char *name = g_strdup_printf("doomed-%d", i);
        xlite_domain_config cfg;
        uint32_t domid;

        domtest_config(&cfg, name, sh->kernel);
        g_assert_cmpint(xlite_domain_create(ctx, &cfg, &domid, NULL), ==, 0);
        g_assert_cmpint(xlite_domain_unpause(ctx, domid), ==, 0);
        xlite_domain_config_dispose(&cfg);
    }
    g_assert_cmpuint(domtest_userdata_files(sh), ==, 6);   /* json + lock */

    simhost_kill(sh, SIGKILL);
    rc = xlite_domain_list(ctx, &infos, &n);
    g_test_message("after the kill: %d %s", rc, xlite_errmsg());
    g_assert_cmpint(rc, ==, -ENOTCONN);
    g_assert_nonnull(strstr(xlite_errmsg(), "hypervisor connection lost"));
    /* Still lost: nothing serves. */
    g_assert_cmpint(xlite_domain_info(ctx, 1, &info), ==, -ENOTCONN);
    g_assert_nonnull(strstr(xlite_errmsg(), "hypervisor connection lost"));

    simhost_restart(sh);
    g_assert_cmpint(xlite_domain_list(ctx, &infos, &n), ==, 0);
    g_assert_cmpuint(n, ==, 0);
    free(infos);
    g_assert_cmpuint(domtest_userdata_files(sh), ==, 0);

    /* And the new host works. */
    {
        xlite_domain_config cfg;
        uint32_t domid;

        domtest_config(&cfg, "reborn", sh->kernel);
        g_assert_cmpint(xlite_domain_create(ctx, &cfg, &domid, NULL), ==, 0);
        g_assert_cmpint(xlite_domain_destroy(ctx, domid, NULL), ==, 0);
        domtest_assert_gone(sh, ctx, domid);
        xlite_domain_config_dispose(&cfg);
    }
    xlite_ctx_free(ctx);
    simhost_free(sh);
    leak_check_end(&lc);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    g_test_add_func("/xlite/domain/hypervisor-lost", test_lost);
    return g_test_run();
}
