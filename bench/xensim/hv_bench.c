/*
 * hv_bench.c: how many domains per second the simulated host runs through
 * a whole life, and what a running guest costs xensimd in memory.
 *
 *   xsim-hv-bench [--domains N] [--guests M] [--xensimd PATH]
 *
 * Starts its own xensimd in a temporary run directory and plays the
 * toolstack over the two sockets, as libxlite would:
 *
 *   lifecycle   create, build, the xenstore home, INTRODUCE, unpause, wait
 *               until the guest kernel has written control/feature-poweroff,
 *               destroy, wait until gone, remove the nodes.  Domains per
 *               second, one at a time, bare (no devices) and with a vbd, a
 *               vif and a console (every handshake completed, a pty each).
 *   reference   create + destroy alone: the hypervisor without xenstore or
 *               a guest, so the ratio shows what booting a guest costs.
 *   memory      VmRSS of xensimd before and after M guests are running
 *               (booted, handshakes done), divided by M; bare and with
 *               devices.
 *
 * Never a test: it prints, it does not fail on numbers.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "xsim_xsc.h"

typedef struct {
    int fd;
    GString *in;
    gint64 id;
} XsimBenchHv;

static double
xsim_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void G_GNUC_NORETURN G_GNUC_PRINTF(1, 2)
xsim_die(const char *fmt,
         ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "xsim-hv-bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static int
xsim_connect_unix(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
        xsim_die("cannot connect to %s: %s", path, g_strerror(errno));
    return fd;
}

/* One request, its "ok" result as a new object; dies on any error. */
static JsonObject *
xsim_hv_call(XsimBenchHv *hv,
             const char *fmt,
             ...) G_GNUC_PRINTF(2, 3);

static JsonObject *
xsim_hv_call(XsimBenchHv *hv,
             const char *fmt,
             ...)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *args = NULL;
    g_autofree char *line = NULL;
    JsonObject *reply;
    va_list ap;
    char *nl;

    va_start(ap, fmt);
    args = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    line = g_strdup_printf("{\"id\": %" G_GINT64_FORMAT ", %s}\n", ++hv->id, args);
    if (send(hv->fd, line, strlen(line), MSG_NOSIGNAL) != (ssize_t)strlen(line))
        xsim_die("send: %s", g_strerror(errno));
    while (!(nl = memchr(hv->in->str, '\n', hv->in->len))) {
        char buf[65536];
        ssize_t n = recv(hv->fd, buf, sizeof(buf), 0);

        if (n <= 0)
            xsim_die("hypervisor.sock closed");
        g_string_append_len(hv->in, buf, n);
    }
    if (!json_parser_load_from_data(parser, hv->in->str, nl - hv->in->str, NULL))
        xsim_die("bad reply");
    g_string_erase(hv->in, 0, nl - hv->in->str + 1);
    reply = json_node_get_object(json_parser_get_root(parser));
    if (json_object_has_member(reply, "error"))
        xsim_die("%s: %s", args, json_object_get_string_member(reply, "message"));
    return json_object_ref(json_object_get_object_member(reply, "ok"));
}

static void
xsim_xs(int rc,
        const char *what)
{
    if (rc != 0)
        xsim_die("xenstore %s: %s", what, g_strerror(rc));
}

/* Wait until @path reads @want, through a watch (no polling). */
static void
xsim_wait_value(XsimXsc *xsc,
                const char *path,
                const char *want)
{
    double deadline = xsim_now() + 30;
    char *epath, *etoken;

    xsim_xs(xsim_xsc_watch(xsc, path, "w"), "watch");
    for (;;) {
        g_autofree char *val = NULL;
        struct pollfd pfd = { .fd = xsim_xsc_fd(xsc), .events = POLLIN };

        if (xsim_xsc_read(xsc, path, &val) == 0 && g_str_equal(val, want))
            break;
        while (!xsim_xsc_next_event(xsc, &epath, &etoken)) {
            if (xsim_now() > deadline)
                xsim_die("timed out waiting for %s", path);
            poll(&pfd, 1, 1000);
            xsim_xs(xsim_xsc_pump(xsc), "pump");
        }
        g_free(epath);
        g_free(etoken);
    }
    xsim_xs(xsim_xsc_unwatch(xsc, path, "w"), "unwatch");
    /* Events already queued for the old watch are of no interest. */
    while (xsim_xsc_next_event(xsc, &epath, &etoken)) {
        g_free(epath);
        g_free(etoken);
    }
}

/* mkdir, then permissions: the children written next inherit them. */
static void
xsim_mkdir_perms(XsimXsc *xsc,
                 const char *path,
                 const char *owner,
                 const char *reader)
{
    const char *perms[] = { owner, reader, NULL };

    xsim_xs(xsim_xsc_mkdir(xsc, path), "mkdir");
    xsim_xs(xsim_xsc_set_perms(xsc, path, perms), "set_perms");
}

typedef struct {
    XsimBenchHv *hv;
    XsimXsc *xsc;
    const char *kernel;
    const char *disk;
    guint64 n;
} XsimBench;

/* The device nodes libxl writes: backend (dom0's) and frontend (guest's). */
static void
xsim_add_device(XsimBench *b,
                guint domid,
                const char *kind,
                guint devid,
                const char *const *back,
                bool primary_console)
{
    g_autofree char *be = g_strdup_printf("/local/domain/0/backend/%s/%u/%u",
                                          kind, domid, devid);
    g_autofree char *fe = primary_console ?
        g_strdup_printf("/local/domain/%u/console", domid) :
        g_strdup_printf("/local/domain/%u/device/%s/%u", domid, kind, devid);
    g_autofree char *guest = g_strdup_printf("n%u", domid);
    g_autofree char *reader = g_strdup_printf("r%u", domid);

    xsim_mkdir_perms(b->xsc, be, "n0", reader);
    xsim_mkdir_perms(b->xsc, fe, guest, "r0");

    for (guint i = 0; back && back[i]; i += 2) {
        g_autofree char *p = g_strdup_printf("%s/%s", be, back[i]);

        xsim_xs(xsim_xsc_write_str(b->xsc, p, back[i + 1]), "write");
    }
#define W(base, node, val) \
    do { \
        g_autofree char *p_ = g_strdup_printf("%s/%s", base, node); \
        xsim_xs(xsim_xsc_write_str(b->xsc, p_, val), "write"); \
    } while (0)
    W(be, "frontend", fe);
    W(be, "online", "1");
    W(be, "state", "1");
    W(fe, "backend", be);
    W(fe, "backend-id", "0");
    if (!primary_console)
        W(fe, "state", "1");
#undef W
}

/*
 * Toolstack side of starting a domain.  Simpler than libxl: the whole home
 * is the guest's (libxl keeps it dom0's and pre-creates the nodes the
 * guest writes); the device nodes have libxl's permissions.
 */
static guint
xsim_start_domain(XsimBench *b,
                  bool devices)
{
    g_autoptr(JsonObject) r = NULL;
    g_autoptr(JsonObject) r2 = NULL;
    g_autoptr(JsonObject) r3 = NULL;
    g_autofree char *home = NULL;
    g_autofree char *feat = NULL;
    guint domid;

    r = xsim_hv_call(b->hv, "\"op\": \"create\", \"uuid\": "
                     "\"00000000-0000-4000-8000-%012" G_GINT64_MODIFIER "x\", "
                     "\"type\": \"pv\", \"max_vcpus\": 1, \"max_memkb\": 65536",
                     ++b->n);
    domid = json_object_get_int_member(r, "domid");
    r2 = xsim_hv_call(b->hv, "\"op\": \"build\", \"domid\": %u, \"kernel\": \"%s\"",
                      domid, b->kernel);
    home = g_strdup_printf("/local/domain/%u", domid);
    {
        g_autofree char *guest = g_strdup_printf("n%u", domid);

        xsim_mkdir_perms(b->xsc, home, guest, "r0");
    }
    if (devices) {
        const char *vbd[] = { "params", b->disk, "mode", "w", "type", "file", NULL };
        const char *vif[] = { "mac", "00:16:3e:00:00:01", NULL };

        xsim_add_device(b, domid, "vbd", 51712, vbd, false);
        xsim_add_device(b, domid, "vif", 0, vif, false);
        xsim_add_device(b, domid, "console", 0, NULL, true);
    }
    xsim_xs(xsim_xsc_introduce(b->xsc, domid, 1000 + domid, 1), "introduce");
    r3 = xsim_hv_call(b->hv, "\"op\": \"unpause\", \"domid\": %u", domid);
    feat = g_strdup_printf("%s/control/feature-poweroff", home);
    xsim_wait_value(b->xsc, feat, "1");
    if (devices) {
        g_autofree char *s1 = g_strdup_printf("/local/domain/0/backend/vbd/%u/51712/state",
                                              domid);
        g_autofree char *s2 = g_strdup_printf("/local/domain/0/backend/vif/%u/0/state",
                                              domid);

        xsim_wait_value(b->xsc, s1, "4");
        xsim_wait_value(b->xsc, s2, "4");
    }
    return domid;
}

static bool
xsim_domain_exists(XsimBench *b,
                   guint domid)
{
    g_autoptr(JsonObject) r = xsim_hv_call(b->hv, "\"op\": \"list\"");
    JsonArray *doms = json_object_get_array_member(r, "domains");

    for (guint i = 0; i < json_array_get_length(doms); i++) {
        if (json_object_get_int_member(json_array_get_object_element(doms, i),
                                       "domid") == domid)
            return true;
    }
    return false;
}

static void
xsim_stop_domain(XsimBench *b,
                 guint domid)
{
    g_autoptr(JsonObject) r = xsim_hv_call(b->hv, "\"op\": \"destroy\", "
                                           "\"domid\": %u", domid);
    static const char *const dirs[] = {
        "/local/domain/", "/local/domain/0/backend/vbd/",
        "/local/domain/0/backend/vif/", "/local/domain/0/backend/console/",
    };

    /* Gone once its kernel thread has ended: a few ms at most. */
    while (xsim_domain_exists(b, domid))
        g_usleep(200);
    for (guint i = 0; i < G_N_ELEMENTS(dirs); i++) {
        g_autofree char *p = g_strdup_printf("%s%u", dirs[i], domid);
        int rc = xsim_xsc_rm(b->xsc, p);

        if (rc != 0 && rc != ENOENT)
            xsim_xs(rc, "rm");
    }
}

static long
xsim_rss_kib(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
    g_autofree char *text = NULL;
    const char *p;

    if (!g_file_get_contents(path, &text, NULL, NULL) ||
        !(p = strstr(text, "VmRSS:")))
        return -1;
    return strtol(p + 6, NULL, 10);
}

static double
xsim_bench_lifecycle(XsimBench *b,
                     guint n,
                     bool devices)
{
    double t0 = xsim_now();

    for (guint i = 0; i < n; i++)
        xsim_stop_domain(b, xsim_start_domain(b, devices));
    return n / (xsim_now() - t0);
}

static double
xsim_bench_reference(XsimBench *b,
                     guint n)
{
    double t0 = xsim_now();

    for (guint i = 0; i < n; i++) {
        g_autoptr(JsonObject) r = xsim_hv_call(
            b->hv, "\"op\": \"create\", \"uuid\": \"00000000-0000-4000-8000-%012"
            G_GINT64_MODIFIER "x\", \"type\": \"pv\", \"max_vcpus\": 1, "
            "\"max_memkb\": 65536", ++b->n);
        guint domid = json_object_get_int_member(r, "domid");
        g_autoptr(JsonObject) r2 = xsim_hv_call(b->hv, "\"op\": \"destroy\", "
                                                "\"domid\": %u", domid);
    }
    return n / (xsim_now() - t0);
}

static double
xsim_bench_memory(XsimBench *b,
                  pid_t pid,
                  guint m,
                  bool devices)
{
    g_autofree guint *domids = g_new0(guint, m);
    long before, after;

    before = xsim_rss_kib(pid);
    for (guint i = 0; i < m; i++)
        domids[i] = xsim_start_domain(b, devices);
    g_usleep(200 * 1000);
    after = xsim_rss_kib(pid);
    for (guint i = 0; i < m; i++)
        xsim_stop_domain(b, domids[i]);
    return (double)(after - before) / m;
}

int
main(int argc,
     char **argv)
{
    g_autoptr(GOptionContext) octx = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *xensimd = g_strdup(XSIM_BENCH_XENSIMD);
    g_autofree char *kernel = NULL;
    g_autofree char *disk = NULL;
    g_autofree char *hv_path = NULL;
    g_autofree char *xs_path = NULL;
    g_autofree char *pid_path = NULL;
    g_autofree char *pid_text = NULL;
    g_autofree char *rm = NULL;
    g_autoptr(XsimXsc) xsc = NULL;
    XsimBenchHv hv = { .fd = -1 };
    XsimBench b = { 0 };
    int domains = 200, guests = 100;
    double bare, full, ref, mem_bare, mem_full;
    pid_t pid;
    int err = 0;
    GOptionEntry entries[] = {
        { "domains", 'n', 0, G_OPTION_ARG_INT, &domains,
          "Domains per lifecycle measurement (200)", "N" },
        { "guests", 'm', 0, G_OPTION_ARG_INT, &guests,
          "Guests running at once for the memory measurement (100)", "M" },
        { "xensimd", 0, 0, G_OPTION_ARG_FILENAME, &xensimd,
          "The daemon to measure", "PATH" },
        { NULL }
    };

    octx = g_option_context_new("- simulated host lifecycle benchmark");
    g_option_context_add_main_entries(octx, entries, NULL);
    if (!g_option_context_parse(octx, &argc, &argv, &error))
        xsim_die("%s", error->message);
    if (domains < 1 || guests < 1)
        xsim_die("--domains and --guests must be positive");

    dir = g_dir_make_tmp("xsim-hv-bench-XXXXXX", &error);
    if (!dir)
        xsim_die("%s", error->message);
    kernel = g_build_filename(dir, "vmlinuz", NULL);
    disk = g_build_filename(dir, "disk.img", NULL);
    if (!g_file_set_contents(kernel, "kernel\n", -1, &error) ||
        !g_file_set_contents(disk, "", 0, &error) || truncate(disk, 1 << 20) < 0)
        xsim_die("cannot write test files in %s", dir);

    {
        const char *args[] = { xensimd, "--rundir", dir, "--daemonize", NULL };
        int status = 0;

        /* --daemonize returns once both sockets serve. */
        if (!g_spawn_sync(NULL, (char **)args, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                          NULL, NULL, &status, &error) ||
            !g_spawn_check_wait_status(status, &error))
            xsim_die("cannot start %s: %s", xensimd, error->message);
    }
    pid_path = g_build_filename(dir, "xensimd.pid", NULL);
    if (!g_file_get_contents(pid_path, &pid_text, NULL, &error))
        xsim_die("%s", error->message);
    pid = atoi(pid_text);

    hv_path = g_build_filename(dir, "hypervisor.sock", NULL);
    xs_path = g_build_filename(dir, "xenstored", "socket", NULL);
    hv.fd = xsim_connect_unix(hv_path);
    hv.in = g_string_new(NULL);
    if (!(xsc = xsim_xsc_connect(xs_path, &err)))
        xsim_die("cannot connect to %s: %s", xs_path, g_strerror(err));
    b.hv = &hv;
    b.xsc = xsc;
    b.kernel = kernel;
    b.disk = disk;

    /* Warm up: the first domain creates the shared parents. */
    xsim_bench_lifecycle(&b, 3, true);

    ref = xsim_bench_reference(&b, domains);
    bare = xsim_bench_lifecycle(&b, domains, false);
    full = xsim_bench_lifecycle(&b, domains, true);
    mem_bare = xsim_bench_memory(&b, pid, guests, false);
    mem_full = xsim_bench_memory(&b, pid, guests, true);

    printf("xensimd lifecycle, one domain at a time, %d domains each:\n", domains);
    printf("  %-44s %8.1f domains/s\n", "reference: create + destroy only", ref);
    printf("  %-44s %8.1f domains/s  (%.2f of reference)\n",
           "bare guest: boot, xenstore, destroy", bare, bare / ref);
    printf("  %-44s %8.1f domains/s  (%.2f of reference)\n",
           "with vbd, vif, console: all handshakes", full, full / ref);
    printf("xensimd memory per running guest (%d at once, RSS delta / guests):\n",
           guests);
    printf("  %-44s %8.1f KiB\n", "bare guest", mem_bare);
    printf("  %-44s %8.1f KiB\n", "with vbd, vif, console", mem_full);

    g_autoptr(JsonObject) stop = xsim_hv_call(&hv, "\"op\": \"stop\"");
    for (int i = 0; i < 500 && kill(pid, 0) == 0; i++)
        g_usleep(10 * 1000);
    close(hv.fd);
    g_string_free(hv.in, TRUE);
    rm = g_strdup_printf("rm -rf '%s'", dir);
    if (system(rm) != 0)
        fprintf(stderr, "xsim-hv-bench: could not remove %s\n", dir);
    return 0;
}
