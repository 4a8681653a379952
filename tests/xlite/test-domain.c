/*
 * test-domain.c: domain life cycles on a private simulated host
 *
 * Each test starts its own xensimd (in a temporary run directory) and
 * stops it by pid at the end, and ends with the leak check: no event
 * source (the context asserts it when freed), no child, no new fd.
 *
 *  - round trip: create, unpause, info, list, retrieve, change memory,
 *    vcpus, name, shutdown, destroy, with the generator's events;
 *  - death order: 5 domains destroyed in a random order, each DEATH event
 *    with its domid and uuid, exactly once;
 *  - reasons: reboot and crash;
 *  - ignore-shutdown: the shutdown times out with a clear error, destroy
 *    then works;
 *  - failed creates: missing kernel, bad disk path, a backend that never
 *    connects, a failing hotplug script, a xenstore limit: nothing left;
 *  - names: dom0's name is refused; the name index (/libxlite/names)
 *    follows create, rename and destroy, tells names that xenstore paths
 *    spell alike apart, and a stale entry does not hold a name;
 *  - destroy of a running guest with a disk and a NIC (both Connected):
 *    the backends close at once (the guest, paused, cannot answer), so the
 *    destroy does not wait out the device timeout; the two remove scripts
 *    run at the same time; nothing is left (not even the backend kinds'
 *    directories, as with libxl).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include <xenstore.h>

#include "domtest.h"

#define SHUTDOWN_TIMEOUT (20 * G_USEC_PER_SEC)

static xlite_event *
wait_event(xlite_ctx *ctx, xlite_event_type type, int64_t usec)
{
    xlite_event *ev = NULL;
    int rc = xlite_event_wait(ctx, XLITE_EVENTMASK(type), NULL, NULL, usec,
                              &ev);

    if (rc < 0)
        g_error("no event %d: %s", type, xlite_errmsg());
    return ev;
}

static void
assert_no_event(xlite_ctx *ctx, uint64_t mask, int64_t usec)
{
    xlite_event *ev = NULL;

    g_assert_cmpint(xlite_event_wait(ctx, mask, NULL, NULL, usec, &ev), ==,
                    -ETIMEDOUT);
}

static uint32_t
create_ok(xlite_ctx *ctx, xlite_domain_config *cfg)
{
    uint32_t domid = 0;

    if (xlite_domain_create(ctx, cfg, &domid, NULL) < 0)
        g_error("create %s: %s", cfg->name, xlite_errmsg());
    g_assert_cmpuint(domid, >, 0);
    return domid;
}

static void
test_roundtrip(void)
{
    leak_check lc;
    simhost *sh;
    xlite_ctx *ctx;
    xlite_domain_config cfg, got;
    xlite_dominfo info, *infos = NULL;
    xlite_evgen *gen = NULL;
    xlite_event *ev;
    g_autofree char *disk = NULL;
    size_t n = 0;
    uint32_t domid;

    leak_check_begin(&lc);
    sh = simhost_start();
    ctx = simhost_ctx(sh);

    disk = g_build_filename(sh->dir, "disk.img", NULL);
    g_assert_true(g_file_set_contents(disk, "", 0, NULL));
    g_assert_cmpint(truncate(disk, 1 << 20), ==, 0);
    domtest_config(&cfg, "round-trip", sh->kernel);
    xlite_disk_config *d = xlite_domain_config_add_disk(&cfg);
    d->vdev = g_strdup("xvda");
    d->target = g_strdup(disk);
    d->backend = XLITE_DISK_BACKEND_PHY;
    xlite_nic_config *nic = xlite_domain_config_add_nic(&cfg);
    nic->bridge = g_strdup("xenbr0");
    domid = create_ok(ctx, &cfg);

    g_assert_cmpint(xlite_domain_info(ctx, domid, &info), ==, 0);
    g_assert_true(info.paused);
    g_assert_cmpstr(info.name, ==, "round-trip");
    g_assert_cmpint(xlite_evenable_domain(ctx, domid,
                                          XLITE_EVENTMASK(XLITE_EVENT_DOMAIN_SHUTDOWN) |
                                          XLITE_EVENTMASK(XLITE_EVENT_DOMAIN_DEATH),
                                          42, &gen), ==, 0);
    g_assert_cmpint(xlite_domain_unpause(ctx, domid), ==, 0);
    g_assert_cmpint(xlite_domain_info(ctx, domid, &info), ==, 0);
    g_assert_false(info.paused);

    g_assert_cmpint(xlite_domain_list(ctx, &infos, &n), ==, 0);
    g_assert_cmpuint(n, ==, 1);
    g_assert_cmpuint(infos[0].domid, ==, domid);
    free(infos);

    /* Same name twice: refused. */
    {
        uint32_t other;

        g_assert_cmpint(xlite_domain_create(ctx, &cfg, &other, NULL), ==,
                        -EEXIST);
    }

    /* host facts through the simulator */
    {
        xlite_host_info hi;

        xlite_host_topology *topo = NULL;
        unsigned int node0_cpus = 0;

        g_assert_cmpint(xlite_host_get_info(ctx, &hi), ==, 0);
        g_assert_cmpuint(hi.nr_cpus, >, 0);
        g_assert_cmpuint(hi.total_kib, >, hi.free_kib);
        g_assert_true(hi.guest_types & XLITE_GUEST_PV);
        g_assert_true(g_str_has_prefix(hi.xen_caps, "xen-3.0-x86_64 "));

        /* The topology agrees with the host's figures: every cpu on a
         * node, each core with threads_per_core threads, the nodes'
         * memory the host's, a node at distance 10 from itself. */
        g_assert_cmpint(xlite_host_get_topology(ctx, &topo), ==, 0);
        g_assert_cmpuint(topo->ncpus, ==, hi.nr_cpus);
        g_assert_cmpuint(topo->nnodes, ==, hi.numa_nodes);
        for (unsigned int i = 0; i < topo->ncpus; i++) {
            g_assert_cmpuint(topo->cpus[i].node, <, topo->nnodes);
            g_assert_cmpuint(topo->cpus[i].socket, <, hi.sockets);
            g_assert_cmpuint(topo->cpus[i].core, <, hi.cores_per_socket);
            g_assert_cmpuint(topo->cpus[i].core, ==,
                             i / hi.threads_per_core % hi.cores_per_socket);
            node0_cpus += topo->cpus[i].node == 0;
        }
        g_assert_cmpuint(node0_cpus, ==, hi.nr_cpus);
        g_assert_cmpuint(topo->nodes[0].size_kib, ==, hi.total_kib);
        g_assert_cmpuint(topo->nodes[0].free_kib, <=, hi.free_kib);
        g_assert_cmpuint(topo->distances[0], ==, 10);
        xlite_host_topology_free(topo);
    }
    /* the console's pty, from its backend */
    {
        char *pty = NULL;

        g_assert_cmpint(xlite_domain_console_path(ctx, domid, 0, &pty), ==, 0);
        g_assert_true(g_str_has_prefix(pty, "/dev/pts/"));
        free(pty);
        g_assert_cmpint(xlite_domain_console_path(ctx, domid, 5, &pty), ==,
                        -ENOENT);
    }
    g_assert_cmpint(xlite_domain_pause(ctx, domid), ==, 0);
    g_assert_cmpint(xlite_domain_info(ctx, domid, &info), ==, 0);
    g_assert_true(info.paused);
    g_assert_cmpint(xlite_domain_unpause(ctx, domid), ==, 0);
    g_assert_cmpint(xlite_domain_set_max_memory(ctx, domid, 98304), ==, 0);
    g_assert_cmpint(xlite_domain_set_vcpus(ctx, domid, 2), ==, -EINVAL);
    g_assert_cmpint(xlite_domain_set_vcpus(ctx, domid, 1), ==, 0);
    g_assert_cmpint(xlite_domain_set_sched(ctx, domid, 512, 50), ==, 0);
    g_assert_cmpint(xlite_domain_info(ctx, domid, &info), ==, 0);
    g_assert_cmpuint(info.max_memkb, ==, 98304);
    g_assert_cmpuint(info.sched_weight, ==, 512);
    g_assert_cmpuint(info.sched_cap, ==, 50);
    g_assert_cmpint(xlite_domain_set_memory_target(ctx, domid, 32768), ==, 0);
    g_assert_cmpint(xlite_domain_rename(ctx, domid, "renamed"), ==, 0);
    xlite_domain_config_init(&got);
    g_assert_cmpint(xlite_retrieve_domain_config(ctx, domid, &got), ==, 0);
    g_assert_cmpstr(got.name, ==, "renamed");
    g_assert_cmpuint(got.target_memkb, ==, 32768);
    g_assert_cmpuint(got.num_disks, ==, 1);
    g_assert_cmpstr(got.disks[0].target, ==, disk);
    g_assert_cmpuint(got.num_nics, ==, 1);
    g_assert_cmpuint(memcmp(got.uuid, info.uuid, 16), ==, 0);
    xlite_domain_config_dispose(&got);

    g_assert_cmpint(xlite_domain_shutdown(ctx, domid,
                                          XLITE_SHUTDOWN_REQUEST_POWEROFF,
                                          SHUTDOWN_TIMEOUT, NULL), ==, 0);
    ev = wait_event(ctx, XLITE_EVENT_DOMAIN_SHUTDOWN, SHUTDOWN_TIMEOUT);
    g_assert_cmpuint(ev->domid, ==, domid);
    g_assert_cmpuint(ev->for_user, ==, 42);
    g_assert_cmpint(ev->u.domain_shutdown.reason, ==, XLITE_SHUTDOWN_POWEROFF);
    xlite_event_free(ev);

    g_assert_cmpint(xlite_domain_destroy(ctx, domid, NULL), ==, 0);
    ev = wait_event(ctx, XLITE_EVENT_DOMAIN_DEATH, SHUTDOWN_TIMEOUT);
    g_assert_cmpuint(ev->domid, ==, domid);
    g_assert_cmpuint(memcmp(ev->uuid, info.uuid, 16), ==, 0);
    xlite_event_free(ev);
    /* At most one shutdown, exactly one death. */
    assert_no_event(ctx, XLITE_EVENTMASK_ALL, 300000);
    xlite_evdisable(ctx, gen);

    domtest_assert_gone(sh, ctx, domid);
    g_assert_cmpuint(domtest_userdata_files(sh), ==, 0);
    g_assert_cmpint(xlite_domain_destroy(ctx, domid, NULL), ==, -ESRCH);
    xlite_domain_config_dispose(&cfg);
    xlite_ctx_free(ctx);
    simhost_free(sh);
    leak_check_end(&lc);
}

static void
test_death_order(void)
{
    enum { N = 5 };
    leak_check lc;
    simhost *sh;
    xlite_ctx *ctx;
    uint32_t domids[N];
    uint8_t uuids[N][16];
    xlite_evgen *gens[N];
    int order[N];
    bool seen[N] = { false };
    int i;

    leak_check_begin(&lc);
    sh = simhost_start();
    ctx = simhost_ctx(sh);
    for (i = 0; i < N; i++) {
        g_autofree char *name = g_strdup_printf("order-%d", i);
        xlite_domain_config cfg;
        xlite_dominfo info;

        domtest_config(&cfg, name, sh->kernel);
        domids[i] = create_ok(ctx, &cfg);
        xlite_domain_config_dispose(&cfg);
        g_assert_cmpint(xlite_domain_unpause(ctx, domids[i]), ==, 0);
        g_assert_cmpint(xlite_domain_info(ctx, domids[i], &info), ==, 0);
        memcpy(uuids[i], info.uuid, 16);
        g_assert_cmpint(xlite_evenable_domain(
                            ctx, domids[i],
                            XLITE_EVENTMASK(XLITE_EVENT_DOMAIN_DEATH), 100 + i,
                            &gens[i]), ==, 0);
        order[i] = i;
    }
    for (i = N - 1; i > 0; i--) {
        int j = g_test_rand_int_range(0, i + 1);
        int t = order[i];

        order[i] = order[j];
        order[j] = t;
    }
    for (i = 0; i < N; i++) {
        xlite_event *ev;
        int k = order[i];

        g_assert_cmpint(xlite_domain_destroy(ctx, domids[k], NULL), ==, 0);
        ev = wait_event(ctx, XLITE_EVENT_DOMAIN_DEATH, SHUTDOWN_TIMEOUT);
        g_assert_cmpuint(ev->domid, ==, domids[k]);
        g_assert_cmpuint(ev->for_user, ==, 100 + (uint64_t)k);
        g_assert_cmpuint(memcmp(ev->uuid, uuids[k], 16), ==, 0);
        g_assert_false(seen[k]);
        seen[k] = true;
        xlite_event_free(ev);
    }
    assert_no_event(ctx, XLITE_EVENTMASK_ALL, 300000);
    for (i = 0; i < N; i++) {
        xlite_evdisable(ctx, gens[i]);
        domtest_assert_gone(sh, ctx, domids[i]);
    }
    xlite_ctx_free(ctx);
    simhost_free(sh);
    leak_check_end(&lc);
}

static void
check_reason(simhost *sh, xlite_ctx *ctx, const char *kernel,
             xlite_shutdown_request request, xlite_shutdown_reason reason)
{
    xlite_domain_config cfg;
    xlite_evgen *gen = NULL;
    xlite_event *ev;
    uint32_t domid;

    domtest_config(&cfg, "reason", kernel);
    domid = create_ok(ctx, &cfg);
    xlite_domain_config_dispose(&cfg);
    g_assert_cmpint(xlite_evenable_domain(ctx, domid, XLITE_EVENTMASK_ALL &
                                          (XLITE_EVENTMASK(XLITE_EVENT_DOMAIN_SHUTDOWN) |
                                           XLITE_EVENTMASK(XLITE_EVENT_DOMAIN_DEATH)),
                                          7, &gen), ==, 0);
    g_assert_cmpint(xlite_domain_unpause(ctx, domid), ==, 0);
    if (request)
        g_assert_cmpint(xlite_domain_shutdown(ctx, domid, request,
                                              SHUTDOWN_TIMEOUT, NULL), ==, 0);
    ev = wait_event(ctx, XLITE_EVENT_DOMAIN_SHUTDOWN, SHUTDOWN_TIMEOUT);
    g_assert_cmpuint(ev->domid, ==, domid);
    g_assert_cmpint(ev->u.domain_shutdown.reason, ==, reason);
    xlite_event_free(ev);
    g_assert_cmpint(xlite_domain_destroy(ctx, domid, NULL), ==, 0);
    ev = wait_event(ctx, XLITE_EVENT_DOMAIN_DEATH, SHUTDOWN_TIMEOUT);
    g_assert_cmpuint(ev->domid, ==, domid);
    xlite_event_free(ev);
    assert_no_event(ctx, XLITE_EVENTMASK_ALL, 200000);
    xlite_evdisable(ctx, gen);
    domtest_assert_gone(sh, ctx, domid);
}

static void
test_reasons(void)
{
    leak_check lc;
    simhost *sh;
    xlite_ctx *ctx;
    g_autofree char *crasher = NULL;

    leak_check_begin(&lc);
    sh = simhost_start();
    ctx = simhost_ctx(sh);
    crasher = simhost_kernel(sh, "crasher", "crash-after 1");
    check_reason(sh, ctx, sh->kernel, XLITE_SHUTDOWN_REQUEST_REBOOT,
                 XLITE_SHUTDOWN_REBOOT);
    check_reason(sh, ctx, sh->kernel, XLITE_SHUTDOWN_REQUEST_POWEROFF,
                 XLITE_SHUTDOWN_POWEROFF);
    check_reason(sh, ctx, crasher, 0, XLITE_SHUTDOWN_CRASH);
    xlite_ctx_free(ctx);
    simhost_free(sh);
    leak_check_end(&lc);
}

static void
test_ignore_shutdown(void)
{
    leak_check lc;
    simhost *sh;
    xlite_ctx *ctx;
    xlite_domain_config cfg;
    g_autofree char *stubborn = NULL;
    xlite_dominfo info;
    uint32_t domid;
    int64_t t0;

    leak_check_begin(&lc);
    sh = simhost_start();
    ctx = simhost_ctx(sh);
    stubborn = simhost_kernel(sh, "stubborn", "ignore-shutdown");
    domtest_config(&cfg, "stubborn", stubborn);
    domid = create_ok(ctx, &cfg);
    xlite_domain_config_dispose(&cfg);
    g_assert_cmpint(xlite_domain_unpause(ctx, domid), ==, 0);
    t0 = g_get_monotonic_time();
    g_assert_cmpint(xlite_domain_shutdown(ctx, domid,
                                          XLITE_SHUTDOWN_REQUEST_POWEROFF,
                                          G_USEC_PER_SEC, NULL), ==,
                    -ETIMEDOUT);
    g_assert_cmpint(g_get_monotonic_time() - t0, >=, G_USEC_PER_SEC);
    g_assert_nonnull(strstr(xlite_errmsg(), "did not shut down"));
    g_test_message("the error: %s", xlite_errmsg());
    g_assert_cmpint(xlite_domain_info(ctx, domid, &info), ==, 0);
    g_assert_false(info.shutdown);
    g_assert_cmpint(xlite_domain_destroy(ctx, domid, NULL), ==, 0);
    domtest_assert_gone(sh, ctx, domid);
    xlite_ctx_free(ctx);
    simhost_free(sh);
    leak_check_end(&lc);
}

/* A create that must fail, and leave nothing.  Returns its message. */
static char *
create_fails(simhost *sh, xlite_ctx *ctx, xlite_domain_config *cfg,
             const char *what)
{
    xlite_dominfo *infos = NULL;
    uint32_t domid = 0;
    size_t n = 99;
    int rc;

    char *msg;

    rc = xlite_domain_create(ctx, cfg, &domid, NULL);
    msg = g_strdup(xlite_errmsg());
    g_test_message("%s: %d %s", what, rc, msg);
    g_assert_cmpint(rc, <, 0);
    g_assert_cmpuint(domid, ==, 0);
    g_assert_cmpint(xlite_domain_list(ctx, &infos, &n), ==, 0);
    g_assert_cmpuint(n, ==, 0);
    free(infos);
    g_assert_cmpuint(domtest_userdata_files(sh), ==, 0);
    /* Domain ids are not reused: check the next few that were tried. */
    for (domid = 1; domid < 16; domid++)
        domtest_assert_gone(sh, ctx, domid);
    return msg;
}

static void
test_create_failures(void)
{
    leak_check lc;
    simhost *sh;
    xlite_ctx *ctx;
    xlite_domain_config cfg;
    xlite_disk_config *d;
    char *msg;
    g_autofree char *disk = NULL;
    g_autofree char *script = NULL;

    leak_check_begin(&lc);
    g_setenv("XLITE_DEVICE_TIMEOUT_MS", "1500", TRUE);
    sh = simhost_start();
    ctx = simhost_ctx(sh);
    disk = g_build_filename(sh->dir, "disk.img", NULL);
    g_assert_true(g_file_set_contents(disk, "0123456789", -1, NULL));
    script = g_build_filename(sh->dir, "failing-hotplug", NULL);
    g_assert_true(g_file_set_contents(script, "#!/bin/sh\nexit 3\n", -1,
                                      NULL));
    g_assert_cmpint(chmod(script, 0755), ==, 0);

    /* missing kernel */
    domtest_config(&cfg, "no-kernel", "/nonexistent/vmlinuz");
    msg = create_fails(sh, ctx, &cfg, "missing kernel");
    g_assert_nonnull(strstr(msg, "/nonexistent/vmlinuz"));
    g_free(msg);
    xlite_domain_config_dispose(&cfg);

    /* bad disk path: the backend refuses it */
    domtest_config(&cfg, "bad-disk", sh->kernel);
    d = xlite_domain_config_add_disk(&cfg);
    d->vdev = g_strdup("xvda");
    d->target = g_strdup("/nonexistent/disk.img");
    d->backend = XLITE_DISK_BACKEND_PHY;
    g_free(create_fails(sh, ctx, &cfg, "bad disk path"));
    xlite_domain_config_dispose(&cfg);

    /* a backend that never connects: nobody serves tapdisk here */
    domtest_config(&cfg, "no-backend", sh->kernel);
    d = xlite_domain_config_add_disk(&cfg);
    d->vdev = g_strdup("xvda");
    d->target = g_strdup(disk);
    d->backend = XLITE_DISK_BACKEND_TAP;
    msg = create_fails(sh, ctx, &cfg, "backend never connects");
    g_assert_nonnull(strstr(msg, "did not connect"));
    g_free(msg);
    xlite_domain_config_dispose(&cfg);

    /* a hotplug script that fails */
    domtest_config(&cfg, "bad-hotplug", sh->kernel);
    d = xlite_domain_config_add_disk(&cfg);
    d->vdev = g_strdup("xvda");
    d->target = g_strdup(disk);
    d->backend = XLITE_DISK_BACKEND_PHY;
    d->script = g_strdup(script);
    msg = create_fails(sh, ctx, &cfg, "failing hotplug script");
    g_assert_nonnull(strstr(msg, "hotplug script"));
    g_free(msg);
    xlite_domain_config_dispose(&cfg);

    /* A create undone after a disk's "add" script ran (the nic's script
     * then fails) runs the disk's "remove" script, while the backend's
     * nodes are still there to read, as Xen's block script needs. */
    {
        g_autofree char *logger = g_build_filename(sh->dir, "log-hotplug",
                                                   NULL);
        g_autofree char *log = g_build_filename(sh->dir, "hotplug.log",
                                                NULL);
        /* The script logs its action and the backend's params it reads
         * from xenstore (the context's XENSTORED_PATH is inherited). */
        g_autofree char *body = g_strdup_printf(
            "#!/bin/sh\necho \"$1 $XENBUS_TYPE "
            "$(xenstore-read \"$XENBUS_PATH/params\")\" >>%s\n", log);
        g_autofree char *got = NULL;
        g_autofree char *expect = NULL;
        xlite_nic_config *n;

        g_assert_true(g_file_set_contents(logger, body, -1, NULL));
        g_assert_cmpint(chmod(logger, 0755), ==, 0);
        domtest_config(&cfg, "undo-hotplug", sh->kernel);
        d = xlite_domain_config_add_disk(&cfg);
        d->vdev = g_strdup("xvda");
        d->target = g_strdup(disk);
        d->backend = XLITE_DISK_BACKEND_PHY;
        d->script = g_strdup(logger);
        n = xlite_domain_config_add_nic(&cfg);
        n->script = g_strdup(script);
        msg = create_fails(sh, ctx, &cfg, "undone after an add script");
        g_assert_nonnull(strstr(msg, "hotplug script"));
        g_free(msg);
        xlite_domain_config_dispose(&cfg);
        g_assert_true(g_file_get_contents(log, &got, NULL, NULL));
        expect = g_strdup_printf("add vbd %s\nremove vbd %s\n", disk, disk);
        g_assert_cmpstr(got, ==, expect);
    }

    /* xenstore's limit: a value beyond the 4096-byte payload */
    domtest_config(&cfg, "xs-limit", sh->kernel);
    cfg.cmdline = g_strnfill(4090, 'x');
    g_free(create_fails(sh, ctx, &cfg, "xenstore limit"));
    xlite_domain_config_dispose(&cfg);

    g_unsetenv("XLITE_DEVICE_TIMEOUT_MS");
    xlite_ctx_free(ctx);
    simhost_free(sh);
    leak_check_end(&lc);
}

static char *
xs_read_str(struct xs_handle *xsh, const char *path)
{
    unsigned int len;

    return xs_read(xsh, XBT_NULL, path, &len);
}

static void
test_names(void)
{
    leak_check lc;
    simhost *sh;
    xlite_ctx *ctx;
    xlite_domain_config cfg;
    struct xs_handle *xsh;
    uint32_t a, b, c, other;
    char *v;

    leak_check_begin(&lc);
    sh = simhost_start();
    ctx = simhost_ctx(sh);
    xsh = xs_open(0);
    g_assert_nonnull(xsh);

    /* dom0's name, as Xen's xen-init-dom0 writes it, is the host's. */
    v = xs_read_str(xsh, "/local/domain/0/name");
    g_assert_cmpstr(v, ==, "Domain-0");
    free(v);
    domtest_config(&cfg, "Domain-0", sh->kernel);
    g_assert_cmpint(xlite_domain_create(ctx, &cfg, &other, NULL), ==,
                    -EEXIST);
    g_assert_nonnull(strstr(xlite_errmsg(), "domid 0"));
    xlite_domain_config_dispose(&cfg);

    /* Indexed at create, in xenstore: a second create is refused. */
    domtest_config(&cfg, "web.1", sh->kernel);
    a = create_ok(ctx, &cfg);
    xlite_domain_config_dispose(&cfg);
    v = xs_read_str(xsh, "/libxlite/names/web_2e1");
    g_assert_nonnull(v);
    g_assert_cmpuint(g_ascii_strtoull(v, NULL, 10), ==, a);
    free(v);
    domtest_config(&cfg, "web.1", sh->kernel);
    g_assert_cmpint(xlite_domain_create(ctx, &cfg, &other, NULL), ==,
                    -EEXIST);
    xlite_domain_config_dispose(&cfg);

    /* A name that a path spelling would confuse with it is another. */
    domtest_config(&cfg, "web_2e1", sh->kernel);
    b = create_ok(ctx, &cfg);
    xlite_domain_config_dispose(&cfg);

    /* Rename: onto a taken name (or dom0's) refused; the old name is
     * free once renamed. */
    g_assert_cmpint(xlite_domain_rename(ctx, b, "web.1"), ==, -EEXIST);
    g_assert_cmpint(xlite_domain_rename(ctx, b, "Domain-0"), ==, -EEXIST);
    g_assert_cmpint(xlite_domain_rename(ctx, a, "web.2"), ==, 0);
    v = xs_read_str(xsh, "/libxlite/names/web_2e1");
    g_assert_null(v);
    domtest_config(&cfg, "web.1", sh->kernel);
    c = create_ok(ctx, &cfg);
    xlite_domain_config_dispose(&cfg);

    /* Destroy frees the name. */
    g_assert_cmpint(xlite_domain_destroy(ctx, c, NULL), ==, 0);
    domtest_assert_gone(sh, ctx, c);
    domtest_config(&cfg, "web.1", sh->kernel);
    c = create_ok(ctx, &cfg);
    xlite_domain_config_dispose(&cfg);

    /* A stale entry (a crash between the hypervisor and xenstore) names a
     * domain that is gone, or one of another name: it holds nothing. */
    g_assert_true(xs_write(xsh, XBT_NULL, "/libxlite/names/stale", "4000",
                           4));
    g_assert_true(xs_write(xsh, XBT_NULL, "/libxlite/names/stale2", "1", 1));
    domtest_config(&cfg, "stale", sh->kernel);
    other = create_ok(ctx, &cfg);
    xlite_domain_config_dispose(&cfg);
    g_assert_cmpint(xlite_domain_destroy(ctx, other, NULL), ==, 0);
    domtest_config(&cfg, "stale2", sh->kernel);
    other = create_ok(ctx, &cfg);
    xlite_domain_config_dispose(&cfg);
    g_assert_cmpint(xlite_domain_destroy(ctx, other, NULL), ==, 0);

    g_assert_cmpint(xlite_domain_destroy(ctx, a, NULL), ==, 0);
    g_assert_cmpint(xlite_domain_destroy(ctx, b, NULL), ==, 0);
    g_assert_cmpint(xlite_domain_destroy(ctx, c, NULL), ==, 0);
    domtest_assert_gone(sh, ctx, a);
    domtest_assert_gone(sh, ctx, b);
    domtest_assert_gone(sh, ctx, c);
    xs_close(xsh);
    xlite_ctx_free(ctx);
    simhost_free(sh);
    leak_check_end(&lc);
}

/* A backend's state, 0 if it has none. */
static int
backend_state(struct xs_handle *xsh, const char *be)
{
    g_autofree char *path = g_strdup_printf("%s/state", be);
    unsigned int len = 0;
    char *v = xs_read(xsh, XBT_NULL, path, &len);
    int state = v ? atoi(v) : 0;

    free(v);
    return state;
}

static void
test_destroy_running(void)
{
    leak_check lc;
    simhost *sh;
    xlite_ctx *ctx;
    xlite_domain_config cfg;
    xlite_disk_config *d;
    xlite_nic_config *n;
    struct xs_handle *xsh;
    g_autofree char *disk = NULL;
    g_autofree char *vbd = NULL;
    g_autofree char *vif = NULL;
    g_autofree char *script = NULL;
    g_autofree char *body = NULL;
    g_autofree char *log = NULL;
    g_autofree char *got = NULL;
    g_auto(GStrv) lines = NULL;
    int64_t deadline, t0, took;
    uint32_t domid;

    leak_check_begin(&lc);
    /* Far beyond what a destroy takes: waiting it out would show. */
    g_setenv("XLITE_DEVICE_TIMEOUT_MS", "30000", TRUE);
    sh = simhost_start();
    ctx = simhost_ctx(sh);
    disk = g_build_filename(sh->dir, "disk.img", NULL);
    g_assert_true(g_file_set_contents(disk, "", 0, NULL));
    g_assert_cmpint(truncate(disk, 1 << 20), ==, 0);
    /* Its removal takes a second and says when it starts and ends. */
    log = g_build_filename(sh->dir, "hotplug.log", NULL);
    script = g_build_filename(sh->dir, "slow-remove", NULL);
    body = g_strdup_printf("#!/bin/sh\ncase $1 in remove|offline)\n"
                           "echo start >>%s; sleep 1; echo end >>%s;;\n"
                           "esac\n", log, log);
    g_assert_true(g_file_set_contents(script, body, -1, NULL));
    g_assert_cmpint(chmod(script, 0755), ==, 0);
    domtest_config(&cfg, "destroy-running", sh->kernel);
    d = xlite_domain_config_add_disk(&cfg);
    d->vdev = g_strdup("xvda");
    d->target = g_strdup(disk);
    d->backend = XLITE_DISK_BACKEND_PHY;
    d->script = g_strdup(script);
    n = xlite_domain_config_add_nic(&cfg);
    n->bridge = g_strdup("xenbr0");
    n->script = g_strdup(script);
    domid = create_ok(ctx, &cfg);
    g_assert_cmpint(xlite_domain_unpause(ctx, domid), ==, 0);

    /* The guest connects both devices. */
    xsh = xs_open(0);
    g_assert_nonnull(xsh);
    vbd = g_strdup_printf("/local/domain/0/backend/vbd/%u/51712", domid);
    vif = g_strdup_printf("/local/domain/0/backend/vif/%u/0", domid);
    deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while ((backend_state(xsh, vbd) != 4 || backend_state(xsh, vif) != 4) &&
           g_get_monotonic_time() < deadline)
        g_usleep(20000);
    g_assert_cmpint(backend_state(xsh, vbd), ==, 4);
    g_assert_cmpint(backend_state(xsh, vif), ==, 4);
    xs_close(xsh);

    t0 = g_get_monotonic_time();
    g_assert_cmpint(xlite_domain_destroy(ctx, domid, NULL), ==, 0);
    took = g_get_monotonic_time() - t0;
    g_test_message("destroy took %.2f s", took / 1e6);
    g_assert_cmpint(took, <, 10 * G_USEC_PER_SEC);
    domtest_assert_gone(sh, ctx, domid);
    g_assert_cmpuint(domtest_userdata_files(sh), ==, 0);
    /* Not even the kinds' directories, which no domain uses now. */
    xsh = xs_open(0);
    g_assert_nonnull(xsh);
    g_assert_null(xs_read(xsh, XBT_NULL, "/local/domain/0/backend/vbd", NULL));
    g_assert_null(xs_read(xsh, XBT_NULL, "/local/domain/0/backend/vif", NULL));
    xs_close(xsh);
    /* Both scripts started before either ended. */
    g_assert_true(g_file_get_contents(log, &got, NULL, NULL));
    lines = g_strsplit(got, "\n", -1);
    g_assert_cmpuint(g_strv_length(lines), ==, 5);
    g_assert_cmpstr(lines[0], ==, "start");
    g_assert_cmpstr(lines[1], ==, "start");

    g_unsetenv("XLITE_DEVICE_TIMEOUT_MS");
    xlite_domain_config_dispose(&cfg);
    xlite_ctx_free(ctx);
    simhost_free(sh);
    leak_check_end(&lc);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    /* No SIGPIPE from a dead xensimd. */
    signal(SIGPIPE, SIG_IGN);
    g_test_add_func("/xlite/domain/roundtrip", test_roundtrip);
    g_test_add_func("/xlite/domain/death-order", test_death_order);
    g_test_add_func("/xlite/domain/reasons", test_reasons);
    g_test_add_func("/xlite/domain/ignore-shutdown", test_ignore_shutdown);
    g_test_add_func("/xlite/domain/create-failures", test_create_failures);
    g_test_add_func("/xlite/domain/names", test_names);
    g_test_add_func("/xlite/domain/destroy-running", test_destroy_running);
    return g_test_run();
}
