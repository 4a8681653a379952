/*
 * bench-domain.c: domain create + unpause + destroy per second through
 * libxlite, against the same operations issued directly on xensimd's
 * control socket and xenstore; prints the core's overhead as a ratio.
 *
 *   xlite-bench-domain [--rounds N]
 *
 * Both sides, on one private xensimd, per domain:
 *   create, build, the xenstore home (the same nodes, in one transaction),
 *   an event channel, INTRODUCE, unpause, destroy, removal of the home,
 *   and waiting until the domain is gone from the hypervisor's list.
 * The core adds what makes it safe: the name check, the per-domain lock
 * file, the stored JSON config (fsync'ed), the domain watch.  Guests are
 * device-less HVM so that both sides do the same work; a third line shows
 * a PV guest with its console (the backend handshake) through the core.
 *
 * Not a test: it never fails on a time.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <xenstore.h>

#include <glib.h>

#include "bench-sim.h"
#include "xlite.h"

static bench_sim sim;

/* ---------- the raw side: one JSON line out, one back ---------- */

typedef struct {
    int fd;
    GString *buf;
    unsigned int id;
} raw_conn;

static void
raw_connect(raw_conn *c)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    g_autofree char *path = g_build_filename(sim.rundir, "hypervisor.sock",
                                             NULL);

    g_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
        g_error("connect %s: %s", path, g_strerror(errno));
    c->buf = g_string_new(NULL);
}

/* Sends a request, returns the reply line (to free). */
static char *
raw_call(raw_conn *c, const char *fmt, ...)
{
    g_autofree char *args = NULL;
    g_autofree char *req = NULL;
    va_list ap;
    char *nl;

    va_start(ap, fmt);
    args = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    req = g_strdup_printf("{\"id\": %u, %s}\n", ++c->id, args);
    if (write(c->fd, req, strlen(req)) != (ssize_t)strlen(req))
        g_error("write: %s", g_strerror(errno));
    while (!(nl = memchr(c->buf->str, '\n', c->buf->len))) {
        char chunk[65536];
        ssize_t n = read(c->fd, chunk, sizeof(chunk));

        if (n <= 0)
            g_error("read: %s", n < 0 ? g_strerror(errno) : "EOF");
        g_string_append_len(c->buf, chunk, n);
    }
    {
        char *line = g_strndup(c->buf->str, nl - c->buf->str);

        g_string_erase(c->buf, 0, nl - c->buf->str + 1);
        if (strstr(line, "\"error\""))
            g_error("request %s: %s", req, line);
        return line;
    }
}

static unsigned int
json_uint(const char *line, const char *key)
{
    g_autofree char *k = g_strdup_printf("\"%s\":", key);
    const char *p = strstr(line, k);

    if (!p)
        g_error("no %s in %s", key, line);
    p += strlen(k);
    while (*p == ' ')
        p++;
    return (unsigned int)strtoul(p, NULL, 10);
}

static void
raw_round(raw_conn *c, struct xs_handle *xsh, unsigned int i)
{
    g_autofree char *r = NULL;
    g_autofree char *home = NULL;
    g_autofree char *vm = NULL;
    char uuid[37];
    unsigned int domid, port;
    xs_transaction_t t;

    snprintf(uuid, sizeof(uuid), "00000000-0000-4000-8000-%012x", i);
    r = raw_call(c, "\"op\": \"create\", \"uuid\": \"%s\", \"type\": \"hvm\", "
                 "\"max_vcpus\": 1, \"max_memkb\": 65536", uuid);
    domid = json_uint(r, "domid");
    g_free(raw_call(c, "\"op\": \"build\", \"domid\": %u", domid));
    home = g_strdup_printf("/local/domain/%u", domid);
    vm = g_strdup_printf("/vm/%s", uuid);
    do {
        struct xs_permissions ro[2] = { { 0, XS_PERM_NONE },
                                        { domid, XS_PERM_READ } };
        struct xs_permissions rw[1] = { { domid, XS_PERM_NONE } };
        static const char *const dirs[] = { "control", "control/shutdown",
                                            "device", "data", "drivers",
                                            "attr", "error", "feature",
                                            "messages" };
        char p[256], v[64];
        size_t k;

        t = xs_transaction_start(xsh);
        xs_write(xsh, t, home, "", 0);
        xs_set_permissions(xsh, t, home, ro, 2);
        xs_write(xsh, t, vm, "", 0);
        xs_set_permissions(xsh, t, vm, ro, 2);
#define WR(fmtp, base, val) \
        do { snprintf(p, sizeof(p), fmtp, base); \
             xs_write(xsh, t, p, val, strlen(val)); } while (0)
        WR("%s/uuid", vm, uuid);
        WR("%s/name", vm, "raw");
        WR("%s/image/ostype", vm, "hvm");
        WR("%s/start_time", vm, "0");
        WR("%s/name", home, "raw");
        snprintf(v, sizeof(v), "%u", domid);
        WR("%s/domid", home, v);
        WR("%s/vm", home, vm);
        snprintf(p, sizeof(p), "%s/memory", home);
        xs_write(xsh, t, p, "", 0);
        xs_set_permissions(xsh, t, p, ro, 2);
        WR("%s/memory/static-max", home, "65536");
        WR("%s/memory/target", home, "65536");
        snprintf(p, sizeof(p), "%s/cpu", home);
        xs_write(xsh, t, p, "", 0);
        xs_set_permissions(xsh, t, p, ro, 2);
        WR("%s/cpu/0/availability", home, "online");
        for (k = 0; k < G_N_ELEMENTS(dirs); k++) {
            snprintf(p, sizeof(p), "%s/%s", home, dirs[k]);
            xs_write(xsh, t, p, "", 0);
            xs_set_permissions(xsh, t, p, rw, 1);
        }
#undef WR
    } while (!xs_transaction_end(xsh, t, false) && errno == EAGAIN);
    g_free(r);
    r = raw_call(c, "\"op\": \"evtchn_alloc_unbound\", \"domid\": %u, "
                 "\"remote\": 0", domid);
    port = json_uint(r, "port");
    if (!xs_introduce_domain(xsh, domid, 0, port))
        g_error("introduce: %s", g_strerror(errno));
    g_free(raw_call(c, "\"op\": \"unpause\", \"domid\": %u", domid));
    g_free(raw_call(c, "\"op\": \"destroy\", \"domid\": %u", domid));
    xs_rm(xsh, XBT_NULL, home);
    xs_rm(xsh, XBT_NULL, vm);
    /* Gone from the list (what the core's destroy waits for). */
    for (;;) {
        g_autofree char *l = raw_call(c, "\"op\": \"list\"");
        g_autofree char *key = g_strdup_printf("\"domid\": %u,", domid);
        g_autofree char *key2 = g_strdup_printf("\"domid\":%u,", domid);

        if (!strstr(l, key) && !strstr(l, key2))
            break;
        g_usleep(1000);
    }
}

/* ---------- the core side ---------- */

static void
core_round(xlite_ctx *ctx, unsigned int i, bool pv, const char *kernel)
{
    xlite_domain_config cfg;
    uint32_t domid;

    xlite_domain_config_init(&cfg);
    cfg.name = g_strdup_printf("bench-%u", i);
    cfg.type = pv ? XLITE_DOMAIN_TYPE_PV : XLITE_DOMAIN_TYPE_HVM;
    cfg.kernel = pv ? g_strdup(kernel) : NULL;
    cfg.max_memkb = 65536;
    cfg.max_vcpus = 1;
    if (xlite_domain_create(ctx, &cfg, &domid, NULL) < 0 ||
        xlite_domain_unpause(ctx, domid) < 0 ||
        xlite_domain_destroy(ctx, domid, NULL) < 0)
        g_error("core: %s", xlite_errmsg());
    xlite_domain_config_dispose(&cfg);
}

int
main(int argc, char **argv)
{
    g_autofree char *kernel = NULL;
    unsigned int rounds = 100, i;
    xlite_ctx_options opts = { .backend = XLITE_BACKEND_SIM };
    xlite_ctx *ctx = NULL;
    struct xs_handle *xsh;
    raw_conn c;
    double core_s, core_pv_s, raw_s;
    int64_t t0;

    if (argc == 3 && strcmp(argv[1], "--rounds") == 0)
        rounds = (unsigned int)atoi(argv[2]);
    signal(SIGPIPE, SIG_IGN);
    bench_sim_start(&sim);
    kernel = g_build_filename(sim.dir, "vmlinuz", NULL);
    g_file_set_contents(kernel, "a kernel\n", -1, NULL);
    opts.state_dir = sim.state_dir;
    opts.sim_rundir = sim.rundir;
    if (xlite_ctx_new(&opts, &ctx) < 0)
        g_error("ctx: %s", xlite_errmsg());
    raw_connect(&c);
    xsh = xs_open(0);

    /* Warm up both. */
    core_round(ctx, 0, false, kernel);
    raw_round(&c, xsh, 0);

    t0 = g_get_monotonic_time();
    for (i = 1; i <= rounds; i++)
        raw_round(&c, xsh, i);
    raw_s = (g_get_monotonic_time() - t0) / 1e6;
    t0 = g_get_monotonic_time();
    for (i = 1; i <= rounds; i++)
        core_round(ctx, i, false, kernel);
    core_s = (g_get_monotonic_time() - t0) / 1e6;
    t0 = g_get_monotonic_time();
    for (i = 1; i <= rounds; i++)
        core_round(ctx, i, true, kernel);
    core_pv_s = (g_get_monotonic_time() - t0) / 1e6;

    printf("create+unpause+destroy, %u rounds each, one private xensimd\n",
           rounds);
    printf("  raw control socket + xenstore (HVM, no devices): %8.1f /s\n",
           rounds / raw_s);
    printf("  libxlite                      (HVM, no devices): %8.1f /s\n",
           rounds / core_s);
    printf("  libxlite                      (PV + console)   : %8.1f /s\n",
           rounds / core_pv_s);
    printf("  core overhead (same work): %.2fx the raw time\n",
           core_s / raw_s);
    /* What the durable config write alone costs here (the core syncs the
     * JSON file and its directory once per create). */
    {
        g_autofree char *f = g_build_filename(sim.state_dir, "fsync-probe",
                                              NULL);
        int64_t t1 = g_get_monotonic_time();

        for (i = 0; i < 20; i++) {
            FILE *fp = fopen(f, "w");
            g_autofree char *d = g_path_get_dirname(f);
            FILE *dp = fopen(d, "r");

            fputs("{}", fp);
            fflush(fp);
            fsync(fileno(fp));
            fclose(fp);
            fsync(fileno(dp));
            fclose(dp);
        }
        printf("  of which the durable config write (2 fsyncs) costs "
               "%.2f ms a create on this disk\n",
               (g_get_monotonic_time() - t1) / 1e3 / 20);
        unlink(f);
    }

    xs_close(xsh);
    close(c.fd);
    g_string_free(c.buf, TRUE);
    xlite_ctx_free(ctx);
    bench_sim_stop(&sim);
    return 0;
}
