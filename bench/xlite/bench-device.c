/*
 * bench-device.c: attach + detach cycles per second of a disk and of a
 * network interface on a running simulated guest through libxlite,
 * against the same xenstore work issued directly; prints the core's cost
 * as a ratio.
 *
 *   xlite-bench-device [--rounds N]
 *
 * Both sides, on one private xensimd and one running PV guest, per cycle:
 * the device's backend and frontend nodes written in one transaction, the
 * wait for the simulated backend's handshake (InitWait or Connected), the
 * backend told to close (online 0, Closing), the wait for Closed, the
 * nodes removed.  The core adds what makes it safe: the domain's lock
 * file, the stored config written (and fsync'ed) twice, the checks of
 * names and duplicates, its watches and timers.
 *
 * Not a test: it never fails on a time.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xenstore.h>

#include <glib.h>

#include "bench-sim.h"
#include "xlite.h"

static bench_sim sim;

/* ---------- the direct side ---------- */

/* Waits on a watch of @dir until its state node reads one of @want. */
static void
wait_state(struct xs_handle *xsh, const char *dir, const char *want)
{
    g_autofree char *path = g_strdup_printf("%s/state", dir);

    if (!xs_watch(xsh, path, "bench"))
        g_error("cannot watch %s", path);
    for (;;) {
        unsigned int len = 0, n;
        char *v = xs_read(xsh, XBT_NULL, path, &len);
        bool done = v && strstr(want, v);
        char **ev;

        free(v);
        if (done)
            break;
        if (!(ev = xs_read_watch(xsh, &n)))
            g_error("the watch of %s failed", path);
        free(ev);
    }
    xs_unwatch(xsh, path, "bench");
}

static void
raw_cycle(struct xs_handle *xsh, uint32_t domid, bool nic, const char *img)
{
    /* Not the core side's devices (xvdb, vif 1): a device written again
     * the moment it was removed may meet its own teardown. */
    g_autofree char *be = nic
        ? g_strdup_printf("/local/domain/0/backend/vif/%u/2", domid)
        : g_strdup_printf("/local/domain/0/backend/qdisk/%u/51744", domid);
    g_autofree char *fe = nic
        ? g_strdup_printf("/local/domain/%u/device/vif/2", domid)
        : g_strdup_printf("/local/domain/%u/device/vbd/51744", domid);
    struct xs_permissions be_perms[2] = {
        { .id = 0, .perms = XS_PERM_NONE },
        { .id = domid, .perms = XS_PERM_READ },
    };
    struct xs_permissions fe_perms[2] = {
        { .id = domid, .perms = XS_PERM_NONE },
        { .id = 0, .perms = XS_PERM_READ },
    };
    xs_transaction_t t;
    bool ok;

#define W(dir, key, ...) \
    do { \
        g_autofree char *p_ = g_strdup_printf("%s/%s", dir, key); \
        g_autofree char *v_ = g_strdup_printf(__VA_ARGS__); \
        ok = ok && xs_write(xsh, t, p_, v_, strlen(v_)); \
    } while (0)

    do {
        t = xs_transaction_start(xsh);
        ok = t != XBT_NULL &&
             xs_write(xsh, t, be, "", 0) &&
             xs_set_permissions(xsh, t, be, be_perms, 2) &&
             xs_write(xsh, t, fe, "", 0) &&
             xs_set_permissions(xsh, t, fe, fe_perms, 2);
        W(be, "frontend", "%s", fe);
        W(be, "frontend-id", "%u", domid);
        W(be, "online", "1");
        W(be, "state", "1");
        W(fe, "backend", "%s", be);
        W(fe, "backend-id", "0");
        W(fe, "state", "1");
        if (nic) {
            W(be, "handle", "2");
            W(be, "mac", "00:16:3e:00:00:98");
            W(be, "type", "vif");
            W(be, "bridge", "xenbr0");
            W(fe, "handle", "2");
            W(fe, "mac", "00:16:3e:00:00:98");
        } else {
            W(be, "params", "%s", img);
            W(be, "type", "file");
            W(be, "format", "raw");
            W(be, "mode", "w");
            W(be, "dev", "xvdc");
            W(be, "device-type", "disk");
            W(be, "removable", "0");
            W(be, "bootable", "1");
            W(fe, "virtual-device", "51744");
            W(fe, "device-type", "disk");
        }
        if (!ok)
            g_error("cannot write the device nodes");
    } while (!xs_transaction_end(xsh, t, false) && errno == EAGAIN);
#undef W
    wait_state(xsh, be, "2 4");

    do {
        g_autofree char *online = g_strdup_printf("%s/online", be);
        g_autofree char *state = g_strdup_printf("%s/state", be);

        t = xs_transaction_start(xsh);
        xs_write(xsh, t, online, "0", 1);
        xs_write(xsh, t, state, "5", 1);
    } while (!xs_transaction_end(xsh, t, false) && errno == EAGAIN);
    wait_state(xsh, be, "6");
    xs_rm(xsh, XBT_NULL, be);
    xs_rm(xsh, XBT_NULL, fe);
}

/* ---------- the core side ---------- */

static void
core_cycle(xlite_ctx *ctx, uint32_t domid, bool nic, const char *img)
{
    if (nic) {
        xlite_nic_config n = { .devid = 1, .mac = "00:16:3e:00:00:99" };

        n.bridge = (char *)"xenbr0";
        if (xlite_device_nic_add(ctx, domid, &n, NULL, NULL) < 0 ||
            xlite_device_nic_remove(ctx, domid, 1, NULL) < 0)
            g_error("core: %s", xlite_errmsg());
    } else {
        xlite_disk_config d = { 0 };

        d.vdev = (char *)"xvdb";
        d.target = (char *)img;
        if (xlite_device_disk_add(ctx, domid, &d, NULL) < 0 ||
            xlite_device_disk_remove(ctx, domid, "xvdb", NULL) < 0)
            g_error("core: %s", xlite_errmsg());
    }
}

static double
timed(xlite_ctx *ctx, struct xs_handle *xsh, uint32_t domid, bool nic,
      bool core, const char *img, unsigned int rounds)
{
    int64_t t0 = g_get_monotonic_time();
    unsigned int i;

    for (i = 0; i < rounds; i++) {
        if (core)
            core_cycle(ctx, domid, nic, img);
        else
            raw_cycle(xsh, domid, nic, img);
    }
    return rounds / ((g_get_monotonic_time() - t0) / 1e6);
}

int
main(int argc, char **argv)
{
    xlite_ctx_options opts = { .backend = XLITE_BACKEND_SIM };
    g_autofree char *kernel = NULL;
    g_autofree char *img = NULL;
    unsigned int rounds = 200;
    xlite_domain_config cfg;
    xlite_ctx *ctx = NULL;
    struct xs_handle *xsh;
    uint32_t domid;
    int k;

    if (argc == 3 && strcmp(argv[1], "--rounds") == 0)
        rounds = (unsigned int)atoi(argv[2]);
    signal(SIGPIPE, SIG_IGN);
    bench_sim_start(&sim);
    kernel = g_build_filename(sim.dir, "vmlinuz", NULL);
    img = g_build_filename(sim.dir, "disk.img", NULL);
    g_file_set_contents(kernel, "a kernel\n", -1, NULL);
    g_file_set_contents(img, "", 0, NULL);
    if (truncate(img, 1 << 20) < 0)
        g_error("cannot size %s", img);
    opts.state_dir = sim.state_dir;
    opts.sim_rundir = sim.rundir;
    if (xlite_ctx_new(&opts, &ctx) < 0)
        g_error("ctx: %s", xlite_errmsg());
    if (!(xsh = xs_open(0)))
        g_error("cannot open xenstore");

    xlite_domain_config_init(&cfg);
    cfg.name = g_strdup("bench-devices");
    cfg.type = XLITE_DOMAIN_TYPE_PV;
    cfg.kernel = g_strdup(kernel);
    cfg.max_memkb = 65536;
    cfg.max_vcpus = 1;
    if (xlite_domain_create(ctx, &cfg, &domid, NULL) < 0 ||
        xlite_domain_unpause(ctx, domid) < 0)
        g_error("core: %s", xlite_errmsg());
    xlite_domain_config_dispose(&cfg);

    printf("attach + detach cycles on one running simulated guest, %u "
           "rounds each\n", rounds);
    for (k = 0; k < 2; k++) {
        bool nic = k == 1;
        double raw, core;

        /* Warm up both, then alternate so that drift hits both alike. */
        raw_cycle(xsh, domid, nic, img);
        core_cycle(ctx, domid, nic, img);
        raw = timed(ctx, xsh, domid, nic, false, img, rounds / 2);
        core = timed(ctx, xsh, domid, nic, true, img, rounds / 2);
        raw = (raw + timed(ctx, xsh, domid, nic, false, img,
                           rounds / 2)) / 2;
        core = (core + timed(ctx, xsh, domid, nic, true, img,
                             rounds / 2)) / 2;
        printf("  %-4s  xenstore directly: %7.1f /s   libxlite: %7.1f /s   "
               "core cost: %.2fx the direct time\n",
               nic ? "nic" : "disk", raw, core, raw / core);
    }

    if (xlite_domain_destroy(ctx, domid, NULL) < 0)
        g_error("core: %s", xlite_errmsg());
    xs_close(xsh);
    xlite_ctx_free(ctx);
    bench_sim_stop(&sim);
    return 0;
}
