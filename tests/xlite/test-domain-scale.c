/*
 * test-domain-scale.c: 500 domains created, listed and destroyed through
 * the core; no growth in fds, threads or memory afterwards (printed).
 *
 * XLITE_SCALE_DOMAINS overrides the count (and valgrind runs 50).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domtest.h"

static void
test_scale(void)
{
    leak_check lc;
    simhost *sh;
    xlite_ctx *ctx;
    xlite_dominfo *infos = NULL;
    g_autofree uint32_t *domids = NULL;
    unsigned int fds0, threads0, fds1, threads1, fds2, threads2;
    unsigned long rss0, rss1, rss2;
    int64_t t0, t1, t2, t3;
    size_t n = 0;
    int count = test_iterations(500, 50);
    int i;

    if (g_getenv("XLITE_SCALE_DOMAINS"))
        count = atoi(g_getenv("XLITE_SCALE_DOMAINS"));
    domids = g_new0(uint32_t, count);
    leak_check_begin(&lc);
    sh = simhost_start();
    ctx = simhost_ctx(sh);

    /* A first round so that lazily opened things (xenstore) exist. */
    {
        xlite_domain_config cfg;
        uint32_t domid;

        domtest_config(&cfg, "warm-up", sh->kernel);
        g_assert_cmpint(xlite_domain_create(ctx, &cfg, &domid, NULL), ==, 0);
        g_assert_cmpint(xlite_domain_destroy(ctx, domid, NULL), ==, 0);
        xlite_domain_config_dispose(&cfg);
    }
    fds0 = domtest_count_fds();
    threads0 = domtest_count_threads();
    rss0 = domtest_rss_kib();

    t0 = g_get_monotonic_time();
    for (i = 0; i < count; i++) {
        g_autofree char *name = g_strdup_printf("scale-%d", i);
        xlite_domain_config cfg;

        domtest_config(&cfg, name, sh->kernel);
        cfg.max_memkb = 16384;    /* 500 of them fit the simulated host */
        if (xlite_domain_create(ctx, &cfg, &domids[i], NULL) < 0)
            g_error("create %d: %s", i, xlite_errmsg());
        xlite_domain_config_dispose(&cfg);
        if ((i + 1) % 100 == 0)
            printf("# %d created, %.1f s\n", i + 1,
                   (g_get_monotonic_time() - t0) / 1e6);
    }
    t1 = g_get_monotonic_time();
    g_assert_cmpint(xlite_domain_list(ctx, &infos, &n), ==, 0);
    g_assert_cmpuint(n, ==, (size_t)count);
    free(infos);
    t2 = g_get_monotonic_time();
    fds1 = domtest_count_fds();
    threads1 = domtest_count_threads();
    rss1 = domtest_rss_kib();
    for (i = 0; i < count; i++)
        if (xlite_domain_destroy(ctx, domids[i], NULL) < 0)
            g_error("destroy %u: %s", domids[i], xlite_errmsg());
    t3 = g_get_monotonic_time();
    g_assert_cmpint(xlite_domain_list(ctx, &infos, &n), ==, 0);
    g_assert_cmpuint(n, ==, 0);
    free(infos);
    g_assert_cmpuint(domtest_userdata_files(sh), ==, 0);
    fds2 = domtest_count_fds();
    threads2 = domtest_count_threads();
    rss2 = domtest_rss_kib();

    printf("# %d domains: create %.1f s (%.1f/s), list %.3f s, destroy "
           "%.1f s (%.1f/s)\n", count, (t1 - t0) / 1e6,
           count / ((t1 - t0) / 1e6), (t2 - t1) / 1e6, (t3 - t2) / 1e6,
           count / ((t3 - t2) / 1e6));
    printf("# fds: %u before, %u with the domains, %u after\n", fds0, fds1,
           fds2);
    printf("# threads: %u before, %u with the domains, %u after\n", threads0,
           threads1, threads2);
    printf("# RSS: %lu KiB before, %lu KiB with the domains, %lu KiB after\n",
           rss0, rss1, rss2);
    g_assert_cmpuint(fds2, ==, fds0);
    g_assert_cmpuint(threads2, ==, threads0);
    /* Allocator slack only.  Under valgrind RSS means nothing, and under
     * AddressSanitizer freed memory stays in its quarantine (and
     * LeakSanitizer checks the leaks themselves at exit). */
#if !defined(__SANITIZE_ADDRESS__)
    if (!g_getenv("XLITE_UNDER_VALGRIND"))
        g_assert_cmpuint(rss2, <, rss0 + 4096 + (unsigned long)count * 4);
#endif

    xlite_ctx_free(ctx);
    simhost_free(sh);
    leak_check_end(&lc);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    g_test_add_func("/xlite/domain/scale", test_scale);
    return g_test_run();
}
