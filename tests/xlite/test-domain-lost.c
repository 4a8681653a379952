/*
 * test-domain-lost.c: xensimd dies under running domains
 *
 * The next call reports "hypervisor connection lost"; a restarted xensimd
 * is a clean, empty host: the generator reports the death of the domains
 * that went with the old one, and the next list removes their stored
 * configs.
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
    xlite_evgen *gens[3];
    uint32_t domids[3];
    bool dead[3] = { false };
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
        g_assert_cmpint(xlite_evenable_domain(
                            ctx, domid,
                            XLITE_EVENTMASK(XLITE_EVENT_DOMAIN_DEATH), i,
                            &gens[i]), ==, 0);
        domids[i] = domid;
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
    /* The watchers learn that the domains went with the old host. */
    for (i = 0; i < 3; i++) {
        xlite_event *ev = NULL;

        g_assert_cmpint(xlite_event_wait(ctx,
                                         XLITE_EVENTMASK(XLITE_EVENT_DOMAIN_DEATH),
                                         NULL, NULL, 10 * G_USEC_PER_SEC, &ev),
                        ==, 0);
        g_assert_cmpuint(ev->for_user, <, 3);
        g_assert_cmpuint(ev->domid, ==, domids[ev->for_user]);
        g_assert_false(dead[ev->for_user]);
        dead[ev->for_user] = true;
        xlite_event_free(ev);
    }
    for (i = 0; i < 3; i++)
        xlite_evdisable(ctx, gens[i]);
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
