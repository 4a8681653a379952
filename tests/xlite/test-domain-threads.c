/*
 * test-domain-threads.c: the create/unpause/shutdown/destroy scenario
 *  - synchronously (NULL how) from 8 threads at once on one context;
 *  - asynchronously, through the osevent hooks (the recording fake loop
 *    of testutils) and completion callbacks, 8 domains at once;
 * with the same results: every domain created, shut down (poweroff),
 * destroyed, and nothing left.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "domtest.h"

#define NTHREADS 8
#define SHUTDOWN_TIMEOUT (30 * G_USEC_PER_SEC)

typedef struct {
    simhost *sh;
    xlite_ctx *ctx;
    int index;
    int rounds;
    uint32_t domids[16];
} worker;

static void *
worker_main(void *opaque)
{
    worker *w = opaque;
    int i;

    for (i = 0; i < w->rounds; i++) {
        g_autofree char *name = g_strdup_printf("t%d-%d", w->index, i);
        xlite_domain_config cfg;
        xlite_dominfo info;
        uint32_t domid = 0;
        int rc;

        domtest_config(&cfg, name, w->sh->kernel);
        rc = xlite_domain_create(w->ctx, &cfg, &domid, NULL);
        if (rc < 0)
            g_error("thread %d: create: %s", w->index, xlite_errmsg());
        xlite_domain_config_dispose(&cfg);
        g_assert_cmpint(xlite_domain_unpause(w->ctx, domid), ==, 0);
        rc = xlite_domain_shutdown(w->ctx, domid,
                                   XLITE_SHUTDOWN_REQUEST_POWEROFF,
                                   SHUTDOWN_TIMEOUT, NULL);
        if (rc < 0)
            g_error("thread %d: shutdown %u: %s", w->index, domid,
                    xlite_errmsg());
        g_assert_cmpint(xlite_domain_info(w->ctx, domid, &info), ==, 0);
        g_assert_true(info.shutdown);
        g_assert_cmpint(info.shutdown_reason, ==, XLITE_SHUTDOWN_POWEROFF);
        g_assert_cmpint(xlite_domain_destroy(w->ctx, domid, NULL), ==, 0);
        w->domids[i] = domid;
    }
    return NULL;
}

static void
test_threads_sync(void)
{
    leak_check lc;
    simhost *sh;
    xlite_ctx *ctx;
    pthread_t threads[NTHREADS];
    worker workers[NTHREADS];
    xlite_dominfo *infos = NULL;
    size_t n = 99;
    int i, j;

    leak_check_begin(&lc);
    sh = simhost_start();
    ctx = simhost_ctx(sh);
    for (i = 0; i < NTHREADS; i++) {
        workers[i] = (worker){ .sh = sh, .ctx = ctx, .index = i,
                               .rounds = test_iterations(3, 1) };
        pthread_create(&threads[i], NULL, worker_main, &workers[i]);
    }
    for (i = 0; i < NTHREADS; i++)
        pthread_join(threads[i], NULL);
    g_assert_cmpint(xlite_domain_list(ctx, &infos, &n), ==, 0);
    g_assert_cmpuint(n, ==, 0);
    free(infos);
    for (i = 0; i < NTHREADS; i++)
        for (j = 0; j < workers[i].rounds; j++)
            domtest_assert_gone(sh, ctx, workers[i].domids[j]);
    g_assert_cmpuint(domtest_userdata_files(sh), ==, 0);
    xlite_ctx_free(ctx);
    simhost_free(sh);
    leak_check_end(&lc);
}

/* ---------- asynchronously, through the hooks ---------- */

typedef enum { ST_CREATING, ST_SHUTTING, ST_DESTROYING, ST_DONE } stage;

typedef struct {
    xlite_ctx *ctx;
    int index;
    stage st;
    uint32_t domid;
    xlite_async_how how;
    int failures;
} chain;

static void chain_step(xlite_ctx *ctx, int rc, void *opaque);

static void
chain_step(xlite_ctx *ctx, int rc, void *opaque)
{
    chain *c = opaque;

    if (rc < 0) {
        g_test_message("domain %d at stage %d: %s", c->index, c->st,
                       xlite_errmsg());
        c->failures++;
        c->st = ST_DONE;
        return;
    }
    switch (c->st) {
    case ST_CREATING:
        g_assert_cmpuint(c->domid, >, 0);
        g_assert_cmpint(xlite_domain_unpause(ctx, c->domid), ==, 0);
        c->st = ST_SHUTTING;
        rc = xlite_domain_shutdown(ctx, c->domid,
                                   XLITE_SHUTDOWN_REQUEST_POWEROFF,
                                   SHUTDOWN_TIMEOUT, &c->how);
        break;
    case ST_SHUTTING:
        c->st = ST_DESTROYING;
        rc = xlite_domain_destroy(ctx, c->domid, &c->how);
        break;
    case ST_DESTROYING:
        c->st = ST_DONE;
        return;
    case ST_DONE:
        g_assert_not_reached();
    }
    g_assert_cmpint(rc, ==, 0);
}

static void
test_async_hooks(void)
{
    leak_check lc;
    simhost *sh;
    xlite_ctx *ctx;
    g_autoptr(fake_loop) loop = NULL;
    chain chains[NTHREADS];
    int64_t deadline;
    int i, done;

    leak_check_begin(&lc);
    sh = simhost_start();
    ctx = simhost_ctx(sh);
    loop = fake_loop_new();
    fake_loop_install(loop, ctx);
    for (i = 0; i < NTHREADS; i++) {
        g_autofree char *name = g_strdup_printf("async-%d", i);
        xlite_domain_config cfg;

        chains[i] = (chain){ .ctx = ctx, .index = i, .st = ST_CREATING };
        chains[i].how = (xlite_async_how){ .callback = chain_step,
                                           .opaque = &chains[i] };
        domtest_config(&cfg, name, sh->kernel);
        g_assert_cmpint(xlite_domain_create(ctx, &cfg, &chains[i].domid,
                                            &chains[i].how), ==, 0);
        xlite_domain_config_dispose(&cfg);
    }
    deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
    do {
        fake_loop_run_once(loop, ctx, 100);
        for (i = 0, done = 0; i < NTHREADS; i++)
            done += chains[i].st == ST_DONE;
    } while (done < NTHREADS && g_get_monotonic_time() < deadline);
    for (i = 0; i < NTHREADS; i++) {
        g_assert_cmpint(chains[i].failures, ==, 0);
        g_assert_cmpint(chains[i].st, ==, ST_DONE);
        domtest_assert_gone(sh, ctx, chains[i].domid);
    }
    g_assert_cmpuint(domtest_userdata_files(sh), ==, 0);
    xlite_ctx_free(ctx);
    g_assert_true(fake_loop_released(loop));
    g_free(fake_loop_take_log(loop));
    simhost_free(sh);
    leak_check_end(&lc);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    g_test_add_func("/xlite/domain/threads-sync", test_threads_sync);
    g_test_add_func("/xlite/domain/async-hooks", test_async_hooks);
    return g_test_run();
}
