/*
 * test-stats.c: monitoring figures of the core (xlite_stats.c) on a
 * private simulated host
 *
 * The simulated hypervisor's rates are known (an idle vcpu runs 1% of the
 * time, a busy one 100%; vcpu N of domain D on cpu (D + N) mod 8), so the
 * figures are checked against what they must be; the sysfs counters and
 * the guest's memory report are checked against what is written there,
 * hostile values included; the balloon's events (xlite_balloon.c) against
 * the target the test sets.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <xenstore.h>

#include "domtest.h"

#define HOST_CPUS 8

/* A running PV guest with two vcpus (vcpu 1 busy), a blkback disk and a
 * vif. */
static uint32_t
start_guest(simhost *sh, xlite_ctx *ctx, char **disk_r)
{
    g_autofree char *kernel = simhost_kernel(sh, "busy", "busy-vcpu 1\n");
    g_autofree char *disk = g_build_filename(sh->dir, "disk.img", NULL);
    xlite_domain_config cfg;
    uint32_t domid;

    g_assert_true(g_file_set_contents(disk, "", 0, NULL));
    g_assert_cmpint(truncate(disk, 4 << 20), ==, 0);
    domtest_config(&cfg, "stats", kernel);
    cfg.max_vcpus = 2;
    cfg.disks = g_new0(xlite_disk_config, 1);
    cfg.num_disks = 1;
    cfg.disks[0].vdev = g_strdup("xvda");
    cfg.disks[0].target = g_strdup(disk);
    cfg.disks[0].format = XLITE_DISK_FORMAT_RAW;
    cfg.disks[0].backend = XLITE_DISK_BACKEND_PHY;
    cfg.nics = g_new0(xlite_nic_config, 1);
    cfg.num_nics = 1;
    cfg.nics[0].devid = 0;
    cfg.nics[0].bridge = g_strdup("xenbr0");
    g_assert_cmpint(xlite_domain_create(ctx, &cfg, &domid, NULL), ==, 0);
    g_assert_cmpint(xlite_domain_unpause(ctx, domid), ==, 0);
    xlite_domain_config_dispose(&cfg);
    *disk_r = g_steal_pointer(&disk);
    return domid;
}

static void
test_cpu(simhost *sh, xlite_ctx *ctx, uint32_t domid)
{
    g_autofree xlite_vcpuinfo *a = NULL;
    g_autofree xlite_vcpuinfo *b = NULL;
    g_autofree xlite_vcpuinfo *all = NULL;
    g_autofree xlite_pcpuinfo *p0 = NULL;
    g_autofree xlite_pcpuinfo *p1 = NULL;
    xlite_dominfo info;
    size_t na = 0, nb = 0, nall = 0, np0 = 0, np1 = 0, i;
    gint64 t0, wall;
    unsigned int busy_cpu = (domid + 1) % HOST_CPUS;

    t0 = g_get_monotonic_time();
    g_assert_cmpint(xlite_domain_vcpu_list(ctx, domid, &a, &na), ==, 0);
    g_assert_cmpint(xlite_host_pcpu_list(ctx, &p0, &np0), ==, 0);
    g_usleep(300 * 1000);
    g_assert_cmpint(xlite_domain_vcpu_list(ctx, domid, &b, &nb), ==, 0);
    g_assert_cmpint(xlite_host_pcpu_list(ctx, &p1, &np1), ==, 0);
    wall = g_get_monotonic_time() - t0;
    g_assert_cmpint(xlite_domain_info(ctx, domid, &info), ==, 0);

    g_assert_cmpuint(na, ==, 2);
    g_assert_cmpuint(nb, ==, 2);
    for (i = 0; i < 2; i++) {
        g_assert_cmpuint(b[i].domid, ==, domid);
        g_assert_cmpuint(b[i].vcpuid, ==, i);
        g_assert_true(b[i].online);
        g_assert_cmpuint(b[i].cpu, ==, (domid + i) % HOST_CPUS);
    }
    g_assert_true(b[0].blocked && !b[0].running);
    g_assert_true(b[1].running && !b[1].blocked);
    /* The busy vcpu ran the whole time between the reads, the idle one
     * a hundredth of it. */
    g_assert_cmpuint(b[1].cpu_time_ns - a[1].cpu_time_ns, >=, 280 * 1000000);
    g_assert_cmpuint(b[1].cpu_time_ns - a[1].cpu_time_ns, <=,
                     (guint64)wall * 1000);
    g_assert_cmpuint(b[0].cpu_time_ns - a[0].cpu_time_ns, <=,
                     (guint64)wall * 10);
    g_assert_cmpuint(b[0].cpu_time_ns + b[1].cpu_time_ns, <=,
                     info.cpu_time_ns);

    /* Every domain's, dom0's first, in one list. */
    g_assert_cmpint(xlite_vcpu_list_all(ctx, &all, &nall), ==, 0);
    g_assert_cmpuint(nall, ==, 4);
    g_assert_cmpuint(all[0].domid, ==, 0);
    g_assert_cmpuint(all[1].domid, ==, 0);
    g_assert_cmpuint(all[2].domid, ==, domid);
    g_assert_cmpuint(all[3].vcpuid, ==, 1);

    /* The busy vcpu's cpu: guest time grows, idle time stands. */
    g_assert_cmpuint(np1, ==, HOST_CPUS);
    g_assert_cmpuint(p1[busy_cpu].cpu, ==, busy_cpu);
    g_assert_cmpuint(p1[busy_cpu].guest_ns - p0[busy_cpu].guest_ns, >=,
                     280 * 1000000);
    g_assert_cmpuint(p1[busy_cpu].idle_ns, <=,
                     p0[busy_cpu].idle_ns + 10 * 1000000);

    /* Pinned elsewhere, the busy vcpu runs there. */
    {
        uint8_t map[2] = { 0, 0x01 };       /* cpu 8: the host has 0..7 */
        uint8_t none[1] = { 0 };
        unsigned int target = (busy_cpu + 4) % HOST_CPUS;
        uint8_t to[1] = { (uint8_t)(1u << target) };
        g_autofree xlite_vcpuinfo *c = NULL;
        size_t nc = 0;

        g_assert_cmpint(xlite_domain_vcpu_set_affinity(ctx, domid, 1, map, 2),
                        ==, -EINVAL);
        g_assert_cmpint(xlite_domain_vcpu_set_affinity(ctx, domid, 1, none, 1),
                        ==, -EINVAL);
        g_assert_cmpint(xlite_domain_vcpu_set_affinity(ctx, domid, 2, to, 1),
                        ==, -EINVAL);
        g_assert_cmpint(xlite_domain_vcpu_set_affinity(ctx, domid, 1, to, 1),
                        ==, 0);
        g_assert_cmpint(xlite_domain_vcpu_list(ctx, domid, &c, &nc), ==, 0);
        g_assert_cmpuint(c[1].cpu, ==, target);
        g_assert_cmpuint(c[0].cpu, ==, domid % HOST_CPUS);
    }

    g_assert_cmpint(xlite_domain_vcpu_list(ctx, 4242, &a, &na), ==, -ESRCH);
    g_assert_nonnull(strstr(xlite_errmsg(), "does not exist"));
    (void)sh;
}

static void
write_file(const char *dir, const char *name, const char *text)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);

    g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

/* The guest is in dom0's ARP table once dom0 answered its request. */
static bool
arp_has_guest(xlite_ctx *ctx, const char *ip)
{
    g_autofree xlite_arp_entry *arp = NULL;
    size_t narp = 0;

    g_assert_cmpint(xlite_host_arp_table(ctx, &arp, &narp), ==, 0);
    for (size_t i = 0; i < narp; i++) {
        if (g_str_equal(arp[i].ip, ip)) {
            g_assert_cmpstr(arp[i].ifname, ==, "xenbr0");
            g_assert_cmpuint(strlen(arp[i].mac), ==, 17);
            return true;
        }
    }
    return false;
}

static void
test_counters(simhost *sh, xlite_ctx *ctx, uint32_t domid)
{
    g_autofree char *vbd = g_strdup_printf(
        "%s/sys/bus/xen-backend/devices/vbd-%u-51712/statistics",
        sh->rundir, domid);
    g_autofree char *ifname = g_strdup_printf("vif%u.0", domid);
    /* The simulated guest's static address (docs/xensim-host.md). */
    g_autofree char *ip = g_strdup_printf("10.200.%u.%u", domid / 256,
                                          domid % 256);
    xlite_disk_stats ds;
    xlite_netif_stats ns;

    /* What the simulated backends publish: zeros, the guest moved nothing. */
    g_assert_cmpint(xlite_device_disk_stats(ctx, domid, "xvda", &ds), ==, 0);
    g_assert_cmpuint(ds.rd_req + ds.wr_req + ds.rd_sect + ds.f_req, ==, 0);

    /* The vif is a real interface: the kernel counts the guest's frames,
     * at least a DHCPDISCOVER (342 bytes) and two ARP requests (42 each),
     * and dom0 answered its ARP request: the guest is in its table, and
     * the answer is counted once the guest read it (a tap counts what it
     * sends as its reader takes it). */
    for (int i = 0; i < 1000 && !(arp_has_guest(ctx, ip) &&
                                  xlite_host_netif_stats(ctx, ifname,
                                                         &ns) == 0 &&
                                  ns.tx_packets >= 1); i++)
        g_usleep(10 * 1000);
    g_assert_true(arp_has_guest(ctx, ip));
    g_assert_cmpint(xlite_host_netif_stats(ctx, ifname, &ns), ==, 0);
    g_assert_cmpuint(ns.rx_packets, >=, 3);
    g_assert_cmpuint(ns.rx_bytes, >=, 342 + 2 * 42);
    g_assert_cmpuint(ns.tx_packets, >=, 1);
    g_assert_cmpuint(ns.rx_errors + ns.rx_dropped, ==, 0);

    /* What the kernel would count. */
    write_file(vbd, "rd_req", "12\n");
    write_file(vbd, "wr_sect", "18446744073709551615\n");
    g_assert_cmpint(xlite_device_disk_stats(ctx, domid, "xvda", &ds), ==, 0);
    g_assert_cmpuint(ds.rd_req, ==, 12);
    g_assert_cmpuint(ds.wr_sect, ==, G_MAXUINT64);

    /* Anything else in a counter is an error, not a number. */
    write_file(vbd, "rd_req", "12 apples\n");
    g_assert_cmpint(xlite_device_disk_stats(ctx, domid, "xvda", &ds), ==,
                    -EPROTO);
    write_file(vbd, "rd_req", "18446744073709551616\n");
    g_assert_cmpint(xlite_device_disk_stats(ctx, domid, "xvda", &ds), ==,
                    -EPROTO);
    write_file(vbd, "rd_req", "0\n");

    /* No such disk or interface; names that would leave the directory. */
    g_assert_cmpint(xlite_device_disk_stats(ctx, domid, "xvdb", &ds), ==,
                    -ENOENT);
    g_assert_cmpint(xlite_device_disk_stats(ctx, domid, "../vbd", &ds), ==,
                    -EINVAL);
    g_assert_cmpint(xlite_host_netif_stats(ctx, "vif999.9", &ns), ==, -ENOENT);
    g_assert_cmpint(xlite_host_netif_stats(ctx, "..", &ns), ==, -EINVAL);
    g_assert_cmpint(xlite_host_netif_stats(ctx, "a/../../b", &ns), ==,
                    -EINVAL);
    g_assert_cmpint(xlite_host_netif_stats(ctx, "averyveryverylongname",
                                           &ns), ==, -EINVAL);
}

static void
xs_put(const char *path, const char *value)
{
    struct xs_handle *xsh = xs_open(0);

    g_assert_nonnull(xsh);
    g_assert_true(xs_write(xsh, XBT_NULL, path, value, strlen(value)));
    xs_close(xsh);
}

/* The guest writes its report once it has seen its target. */
static bool
wait_for_guest_total(xlite_ctx *ctx, uint32_t domid, uint64_t kib)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    xlite_memory_stats m;

    while (g_get_monotonic_time() < deadline) {
        if (xlite_domain_memory_stats(ctx, domid, NULL, &m) == 0 &&
            m.guest_total_kib == kib)
            return true;
        g_usleep(20 * 1000);
    }
    return false;
}

static void
test_memory(simhost *sh, xlite_ctx *ctx, uint32_t domid)
{
    g_autofree char *free_path = g_strdup_printf(
        "/local/domain/%u/data/meminfo_free", domid);
    static const char *const bad[] = {
        "-1", "1e3", "0x10", " 1", "1 ", "", "65537",
        "999999999999999999999999999", "12\n",
    };
    xlite_memory_stats m;
    xlite_dominfo info;
    uint64_t nodes = 0;

    /* The guest reports as it follows the balloon (at boot, its target). */
    g_assert_true(wait_for_guest_total(ctx, domid, 65536));
    g_assert_cmpint(xlite_domain_memory_stats(ctx, domid, NULL, &m), ==, 0);
    g_assert_cmpuint(m.actual_kib, ==, 65536);
    g_assert_cmpuint(m.max_kib, ==, 65536);
    g_assert_cmpuint(m.guest_total_kib, ==, 65536);
    g_assert_cmpuint(m.guest_free_kib, ==, 65536 / 4 * 3);
    g_assert_cmpuint(m.guest_available_kib, ==, 65536 / 8 * 7);

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        xs_put(free_path, bad[i]);
        g_assert_cmpint(xlite_domain_memory_stats(ctx, domid, NULL, &m), ==, 0);
        g_assert_cmpuint(m.guest_free_kib, ==, XLITE_MEMSTAT_NONE);
        g_assert_cmpuint(m.guest_total_kib, ==, 65536);
    }
    xs_put(free_path, "1024");

    /* A caller's info spares the request, and must be the domain's. */
    g_assert_cmpint(xlite_domain_info(ctx, domid, &info), ==, 0);
    g_assert_cmpint(xlite_domain_memory_stats(ctx, domid, &info, &m), ==, 0);
    g_assert_cmpuint(m.guest_free_kib, ==, 1024);
    info.domid++;
    g_assert_cmpint(xlite_domain_memory_stats(ctx, domid, &info, &m), ==,
                    -EINVAL);

    g_assert_cmpint(xlite_domain_node_affinity(ctx, domid, &nodes), ==, 0);
    g_assert_cmpuint(nodes, ==, 1);
    (void)sh;
}

/* BALLOON_CHANGE: the hypervisor's figure, each time it moves. */
static void
test_balloon_events(simhost *sh, xlite_ctx *ctx, uint32_t domid)
{
    g_autofree char *total_path = g_strdup_printf(
        "/local/domain/%u/data/meminfo_total", domid);
    uint64_t mask = XLITE_EVENTMASK(XLITE_EVENT_BALLOON_CHANGE);
    xlite_evgen *evgen = NULL;
    xlite_event *ev = NULL;

    g_assert_cmpint(xlite_evenable_domain(ctx, domid, mask, 42, &evgen), ==, 0);
    /* Enabling reports nothing: nothing moved. */
    g_assert_cmpint(xlite_event_wait(ctx, mask, NULL, NULL,
                                     300 * 1000, &ev), ==, -ETIMEDOUT);

    g_assert_cmpint(xlite_domain_set_memory_target(ctx, domid, 32768), ==, 0);
    g_assert_cmpint(xlite_event_wait(ctx, mask, NULL, NULL,
                                     10 * G_USEC_PER_SEC, &ev), ==, 0);
    g_assert_cmpint(ev->type, ==, XLITE_EVENT_BALLOON_CHANGE);
    g_assert_cmpuint(ev->domid, ==, domid);
    g_assert_cmpuint(ev->for_user, ==, 42);
    g_assert_cmpuint(ev->u.balloon_change.actual_kib, ==, 32768);
    g_clear_pointer(&ev, xlite_event_free);

    /* A guest that rewrites its report without ballooning: no event. */
    xs_put(total_path, "1234");
    g_assert_cmpint(xlite_event_wait(ctx, mask, NULL, NULL,
                                     300 * 1000, &ev), ==, -ETIMEDOUT);

    xlite_evdisable(ctx, evgen);
    (void)sh;
}

static void
test_stats(void)
{
    leak_check lc;
    simhost *sh;
    xlite_ctx *ctx;
    g_autofree char *disk = NULL;
    uint32_t domid;

    leak_check_begin(&lc);
    sh = simhost_start();
    ctx = simhost_ctx(sh);
    domid = start_guest(sh, ctx, &disk);

    test_cpu(sh, ctx, domid);
    test_counters(sh, ctx, domid);
    test_memory(sh, ctx, domid);
    test_balloon_events(sh, ctx, domid);

    g_assert_cmpint(xlite_domain_destroy(ctx, domid, NULL), ==, 0);
    domtest_assert_gone(sh, ctx, domid);
    xlite_ctx_free(ctx);
    simhost_free(sh);
    leak_check_end(&lc);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    g_test_add_func("/xlite/stats", test_stats);
    return g_test_run();
}
