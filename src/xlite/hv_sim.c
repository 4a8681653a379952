/*
 * hv_sim.c: the "sim" hypervisor backend, a client of xensimd's control
 * socket (docs/xensim-hypervisor-protocol.md)
 *
 * Two connections to DIR/hypervisor.sock:
 *  - the request connection: one JSON line out, the reply line back, made
 *    synchronously with the context's lock held, like a hypercall (see
 *    "Hypervisor backends" in xlite_internal.h), bounded by
 *    XLITE__HV_REPLY_TIMEOUT;
 *  - the notification connection, only while the core watches domains:
 *    subscribed, its fd in the event loop, each domain_changed line a
 *    "look again" for the core.
 *
 * When a connection breaks (xensimd died), the call that sees it fails
 * with -ENOTCONN and "hypervisor connection lost"; the next call tries to
 * connect again (a restarted xensimd is a new, empty host, with a new
 * xenstored: xlite__xs_reset).  The notification connection retries on a
 * timer and, once back, asks the core to look again.
 *
 * At open, if nothing serves DIR, the backend starts `xensimd --rundir
 * DIR` (with --shared-netns where the context says) (which forks and
 * returns once it serves) and waits for the socket.
 * xensimd outlives the context, like a host outlives its toolstack.  It
 * also points libxenstore at DIR's xenstored (XENSTORED_PATH) unless the
 * environment already names one.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xlite_internal.h"

/* Requests are at most 65536 bytes a line; replies grow with the host
 * (a list of 500 domains is ~130 KB), so we accept up to 16 MiB. */
#define SIM_LINE_MAX (16 * 1024 * 1024)
#define SIM_START_TIMEOUT (10 * G_USEC_PER_SEC)
/* A guest state goes in one request line, which xensimd bounds at 64 KiB. */
#define SIM_MAX_GUEST_STATE (60 * 1024)

extern char **environ;

typedef struct {
    char *rundir;
    char *sock_path;
    char *sysfs;                  /* RUNDIR/sys: its backends' statistics */
    char *procnet;                /* RUNDIR/net: its network's /proc/net */
    /* The query path's state: reconnects without resetting xenstore (the
     * context's own state sees the host restart). */
    bool query;
    /* The request connection: -1 when not connected. */
    int fd;
    bool connected_before;
    GString *inbuf;
    uint64_t next_id;
    /* The notification connection. */
    int nfd;
    GString *ninbuf;
    xlite__ev_fd nev;
    xlite__ev_time nretry;        /* reconnecting after a loss */
    xlite__hv_changed_fn *changed;
} sim_state;

#define SIM_NOTIFY_RETRY (500 * 1000)

static int sim_notify_start(xlite_ctx *ctx, sim_state *st);

/* ---------- connecting ---------- */

static int
sim_connect_fd(xlite_ctx *ctx, const char *path, int *fd_r)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd;
    int r;

    if (strlen(path) >= sizeof(sun.sun_path))
        return XLITE_ERROR(ctx, -ENAMETOOLONG,
                           "the hypervisor socket path %s is too long", path);
    strcpy(sun.sun_path, path);
    xlite__nofork_lock();
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    xlite__nofork_unlock();
    if (fd < 0)
        return XLITE_ERROR(ctx, -errno, "cannot create a socket: %s",
                           g_strerror(errno));
    do {
        r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        int err = errno;

        close(fd);
        return -err;
    }
    *fd_r = fd;
    return 0;
}

static bool
sim_socket_serves(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd;
    bool ok;

    if (strlen(path) >= sizeof(sun.sun_path))
        return false;
    strcpy(sun.sun_path, path);
    xlite__nofork_lock();
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    xlite__nofork_unlock();
    if (fd < 0)
        return false;
    ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
    close(fd);
    return ok;
}

/* Whether this code was loaded from the build tree (a test, the demo, a
 * developer's LIBVIRT_DRIVER_DIR) rather than from where it is installed:
 * the module or program that holds it lies below the build root. */
static bool
sim_runs_from_build_tree(void)
{
#ifdef XLITE_BUILD_ROOT
    g_autofree char *self = NULL;
    const char *where = NULL;
    Dl_info info;

    if (dladdr((void *)sim_runs_from_build_tree, &info) && info.dli_fname &&
        info.dli_fname[0] == '/')
        where = info.dli_fname;
    else if ((self = g_file_read_link("/proc/self/exe", NULL)))
        where = self;
    return where && g_str_has_prefix(where, XLITE_BUILD_ROOT "/");
#else
    return false;
#endif
}

/*
 * The xensimd to start: $XLITE_XENSIMD; the build's own when this code
 * runs from the build tree, so a build never starts an installed daemon
 * of another version; the installed one when it runs installed, never a
 * build tree's that happens to remain; else the one PATH finds.
 */
static const char *
sim_xensimd_program(void)
{
    const char *p = g_getenv("XLITE_XENSIMD");

    if (p && *p)
        return p;
#ifdef XLITE_XENSIMD_BUILD
    if (sim_runs_from_build_tree() && access(XLITE_XENSIMD_BUILD, X_OK) == 0)
        return XLITE_XENSIMD_BUILD;
#endif
#ifdef XLITE_XENSIMD_INSTALLED
    if (access(XLITE_XENSIMD_INSTALLED, X_OK) == 0)
        return XLITE_XENSIMD_INSTALLED;
#endif
    return "xensimd";
}

/* Starts xensimd for the run directory and waits until it serves.  Called
 * from xlite_ctx_new, before the context has children or a SIGCHLD mode:
 * xensimd forks itself and its first process exits once it serves, so we
 * only wait for that pid (someone else's SIGCHLD handler may reap it
 * first: ECHILD is fine) and then for the socket. */
static int
sim_start_xensimd(xlite_ctx *ctx, sim_state *st)
{
    const char *prog = sim_xensimd_program();
    char *argv[] = { (char *)prog, (char *)"--rundir", st->rundir,
                     ctx->sim_shared_netns ? (char *)"--shared-netns" : NULL,
                     NULL };
    posix_spawn_file_actions_t fa;
    int64_t deadline;
    pid_t pid;
    int status;
    int r;

    XLITE_LOG(ctx, XLITE_LOG_INFO, "starting %s --rundir %s%s", prog,
              st->rundir, ctx->sim_shared_netns ? " --shared-netns" : "");
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    xlite__nofork_lock();
    r = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
    xlite__nofork_unlock();
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0)
        return XLITE_ERROR(ctx, -r, "cannot start %s: %s", prog,
                           g_strerror(r));
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    deadline = g_get_monotonic_time() + SIM_START_TIMEOUT;
    while (!sim_socket_serves(st->sock_path)) {
        if (g_get_monotonic_time() > deadline)
            return XLITE_ERROR(ctx, -ETIMEDOUT,
                               "xensimd did not start serving %s (see %s/"
                               "xensimd.log)", st->sock_path, st->rundir);
        g_usleep(10000);
    }
    return 0;
}

static void
sim_disconnect(sim_state *st)
{
    xlite__close(&st->fd);
    g_string_truncate(st->inbuf, 0);
}

static int
sim_lost(xlite_ctx *ctx, sim_state *st, const char *why)
{
    sim_disconnect(st);
    return XLITE_ERROR(ctx, -ENOTCONN,
                       "hypervisor connection lost (xensimd at %s: %s)",
                       st->rundir, why);
}

static int
sim_ensure_connected(xlite_ctx *ctx, sim_state *st)
{
    int rc;

    if (st->fd >= 0)
        return 0;
    if ((rc = sim_connect_fd(ctx, st->sock_path, &st->fd)) < 0)
        return XLITE_ERROR(ctx, -ENOTCONN,
                           "hypervisor connection lost: cannot connect to "
                           "%s: %s", st->sock_path, g_strerror(-rc));
    /* A new xensimd is a new host: its xenstored too. */
    if (st->connected_before && !st->query)
        xlite__xs_reset(ctx);
    st->connected_before = true;
    return 0;
}

/* ---------- lines ---------- */

static void
json_append_string(GString *out, const char *s)
{
    g_string_append_c(out, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            g_string_append_printf(out, "\\%c", c);
        else if (c < 0x20)
            g_string_append_printf(out, "\\u%04x", c);
        else
            g_string_append_c(out, c);
    }
    g_string_append_c(out, '"');
}

static int
write_all(int fd, const char *buf, size_t len, int64_t deadline)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd pfd = { .fd = fd, .events = POLLOUT };
            int64_t left = deadline - g_get_monotonic_time();

            if (left <= 0)
                return -ETIMEDOUT;
            poll(&pfd, 1, (int)(left / 1000) + 1);
            continue;
        }
        if (n < 0)
            return -errno;
        buf += n;
        len -= n;
    }
    return 0;
}

/* Takes one complete line out of buf, if there is one. */
static char *
take_line(GString *buf)
{
    char *nl = memchr(buf->str, '\n', buf->len);
    char *line;

    if (!nl)
        return NULL;
    line = g_strndup(buf->str, nl - buf->str);
    g_string_erase(buf, 0, nl - buf->str + 1);
    return line;
}

/* Reads what is there (non-blocking): 0, or -EPIPE at end of file. */
static int
read_some(int fd, GString *buf)
{
    char chunk[8192];

    for (;;) {
        ssize_t n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EPIPE;
        g_string_append_len(buf, chunk, n);
        if (buf->len > SIM_LINE_MAX && !memchr(buf->str, '\n', buf->len))
            return -EPROTO;
    }
}

/*
 * The next complete line of @fd, waiting for it until @deadline: 0, or
 * -ETIMEDOUT, -EPIPE at end of file, another -errno.
 */
static int
read_line(int fd, GString *buf, int64_t deadline, char **line_r)
{
    int rc;

    while (!(*line_r = take_line(buf))) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int64_t left = deadline - g_get_monotonic_time();

        if (left <= 0)
            return -ETIMEDOUT;
        if (poll(&pfd, 1, (int)(left / 1000) + 1) < 0 && errno != EINTR)
            return -errno;
        if ((rc = read_some(fd, buf)) < 0)
            return rc;
    }
    return 0;
}

static JsonObject *
parse_object(const char *line, JsonParser **parser_r)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonNode *root;

    if (!json_parser_load_from_data(parser, line, -1, NULL))
        return NULL;
    root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root))
        return NULL;
    *parser_r = g_steal_pointer(&parser);
    return json_node_get_object(root);
}

static int
errno_from_name(const char *name)
{
    static const struct { const char *name; int err; } tab[] = {
        { "EINVAL", EINVAL }, { "ENOENT", ENOENT }, { "ESRCH", ESRCH },
        { "EEXIST", EEXIST }, { "ENOMEM", ENOMEM }, { "EBUSY", EBUSY },
        { "EACCES", EACCES }, { "ENOSYS", ENOSYS }, { "EPERM", EPERM },
        { "EIO", EIO }, { "ENOSPC", ENOSPC },
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(tab); i++)
        if (g_strcmp0(tab[i].name, name) == 0)
            return tab[i].err;
    return EIO;
}

/*
 * One request and its reply.  args is the rest of the JSON object (",
 * "domid": 3" style, starting with a comma) or "".  On success *result_r
 * is the "ok" object, alive as long as *parser_r.  With quiet_esrch, an
 * ESRCH reply returns -ESRCH without reporting an error.
 */
static int
sim_call(xlite_ctx *ctx, sim_state *st, const char *op, const char *args,
         bool quiet_esrch, JsonParser **parser_r, JsonObject **result_r)
{
    g_autoptr(GString) req = g_string_new(NULL);
    int64_t deadline = g_get_monotonic_time() + XLITE__HV_REPLY_TIMEOUT;
    uint64_t id;
    int rc;

    if ((rc = sim_ensure_connected(ctx, st)) < 0)
        return rc;
    id = ++st->next_id;
    g_string_printf(req, "{\"id\": %" G_GUINT64_FORMAT ", \"op\": \"%s\"%s}\n",
                    id, op, args);
    if ((rc = write_all(st->fd, req->str, req->len, deadline)) < 0)
        return sim_lost(ctx, st, g_strerror(-rc));

    for (;;) {
        g_autofree char *line = NULL;
        g_autoptr(JsonParser) parser = NULL;
        JsonObject *obj;
        JsonNode *node;

        if ((rc = read_line(st->fd, st->inbuf, deadline, &line)) < 0)
            return sim_lost(ctx, st,
                            rc == -ETIMEDOUT ? "no reply in time" :
                            rc == -EPIPE ? "it closed the connection" :
                            g_strerror(-rc));
        if (!(obj = parse_object(line, &parser)))
            return sim_lost(ctx, st, "it sent a line that is not a JSON "
                            "object");
        if (json_object_has_member(obj, "event"))
            continue;           /* not subscribed here; ignore */
        node = json_object_get_member(obj, "id");
        if (!node || json_node_get_value_type(node) != G_TYPE_INT64 ||
            (uint64_t)json_node_get_int(node) != id)
            return sim_lost(ctx, st, "a reply out of order");
        if ((node = json_object_get_member(obj, "error"))) {
            const char *ename = json_object_get_string_member_with_default(
                obj, "error", "EIO");
            const char *msg = json_object_get_string_member_with_default(
                obj, "message", "");
            int err = errno_from_name(ename);

            if (err == ESRCH && quiet_esrch)
                return -ESRCH;
            return XLITE_ERROR(ctx, -err, "hypervisor: %s failed: %s (%s)",
                               op, msg, ename);
        }
        node = json_object_get_member(obj, "ok");
        if (!node || !JSON_NODE_HOLDS_OBJECT(node))
            return sim_lost(ctx, st, "a reply without a result");
        if (result_r) {
            *result_r = json_node_get_object(node);
            *parser_r = g_steal_pointer(&parser);
        }
        return 0;
    }
}

static uint64_t
obj_uint(JsonObject *o, const char *key)
{
    JsonNode *n = json_object_get_member(o, key);

    if (!n || json_node_get_value_type(n) != G_TYPE_INT64 ||
        json_node_get_int(n) < 0)
        return 0;
    return (uint64_t)json_node_get_int(n);
}

static bool
obj_bool(JsonObject *o, const char *key)
{
    JsonNode *n = json_object_get_member(o, key);

    return n && json_node_get_value_type(n) == G_TYPE_BOOLEAN &&
           json_node_get_boolean(n);
}

static const char *
obj_str(JsonObject *o, const char *key)
{
    JsonNode *n = json_object_get_member(o, key);

    if (!n || json_node_get_value_type(n) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(n);
}

static int
shutdown_reason_from_string(const char *s)
{
    static const char *const names[] = {
        [XLITE_SHUTDOWN_POWEROFF] = "poweroff",
        [XLITE_SHUTDOWN_REBOOT] = "reboot",
        [XLITE_SHUTDOWN_SUSPEND] = "suspend",
        [XLITE_SHUTDOWN_CRASH] = "crash",
        [XLITE_SHUTDOWN_WATCHDOG] = "watchdog",
        [XLITE_SHUTDOWN_SOFT_RESET] = "soft_reset",
    };
    size_t i;

    for (i = 0; s && i < G_N_ELEMENTS(names); i++)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    return XLITE_SHUTDOWN_POWEROFF;
}

static void
uuid_parse_text(const char *s, uint8_t uuid[16])
{
    size_t i = 0;

    memset(uuid, 0, 16);
    for (; s && *s && i < 32; s++) {
        int v = g_ascii_xdigit_value(*s);

        if (*s == '-')
            continue;
        if (v < 0)
            return;
        uuid[i / 2] |= (uint8_t)(i % 2 ? v : v << 4);
        i++;
    }
}

static void
info_from_json(JsonObject *o, xlite_dominfo *info)
{
    const char *type = obj_str(o, "type");

    memset(info, 0, sizeof(*info));
    info->domid = (uint32_t)obj_uint(o, "domid");
    uuid_parse_text(obj_str(o, "uuid"), info->uuid);
    info->type = g_strcmp0(type, "hvm") == 0 ? XLITE_DOMAIN_TYPE_HVM :
                 g_strcmp0(type, "pvh") == 0 ? XLITE_DOMAIN_TYPE_PVH :
                 XLITE_DOMAIN_TYPE_PV;
    info->running = obj_bool(o, "running");
    info->blocked = obj_bool(o, "blocked");
    info->paused = obj_bool(o, "paused");
    info->shutdown = obj_bool(o, "shutdown");
    info->dying = obj_bool(o, "dying");
    info->shutdown_reason =
        shutdown_reason_from_string(obj_str(o, "shutdown_reason"));
    info->cur_memkb = obj_uint(o, "cur_memkb");
    info->max_memkb = obj_uint(o, "max_memkb");
    info->online_vcpus = (unsigned int)obj_uint(o, "online_vcpus");
    info->max_vcpus = (unsigned int)obj_uint(o, "max_vcpus");
    info->cpu_time_ns = obj_uint(o, "cpu_time_ns");
    info->sched_weight = (unsigned int)obj_uint(o, "weight");
    info->sched_cap = (unsigned int)obj_uint(o, "cap");
}

/* ---------- the operations ---------- */

static int
sim_open(xlite_ctx *ctx, void **state_r)
{
    sim_state *st = g_new0(sim_state, 1);
    g_autofree char *xs_path = NULL;
    int rc;

    st->fd = -1;
    st->nfd = -1;
    st->inbuf = g_string_new(NULL);
    st->ninbuf = g_string_new(NULL);
    xlite__ev_fd_init(&st->nev);
    xlite__ev_time_init(&st->nretry);
    st->rundir = ctx->sim_rundir ? g_strdup(ctx->sim_rundir)
                                 : g_build_filename(ctx->state_dir, "xensim",
                                                    NULL);
    st->sock_path = g_build_filename(st->rundir, "hypervisor.sock", NULL);
    st->sysfs = g_build_filename(st->rundir, "sys", NULL);
    st->procnet = g_build_filename(st->rundir, "net", NULL);

    /* libxenstore finds xenstored through the environment only. */
    xs_path = g_build_filename(st->rundir, "xenstored", "socket", NULL);
    if (!g_getenv("XENSTORED_PATH"))
        g_setenv("XENSTORED_PATH", xs_path, FALSE);
    else if (strcmp(g_getenv("XENSTORED_PATH"), xs_path) != 0)
        XLITE_LOG(ctx, XLITE_LOG_WARN,
                  "XENSTORED_PATH=%s is not the simulated host's %s",
                  g_getenv("XENSTORED_PATH"), xs_path);

    if (!sim_socket_serves(st->sock_path) &&
        (rc = sim_start_xensimd(ctx, st)) < 0)
        goto fail;
    if ((rc = sim_ensure_connected(ctx, st)) < 0)
        goto fail;
    *state_r = st;
    return 0;

 fail:
    g_string_free(st->inbuf, TRUE);
    g_string_free(st->ninbuf, TRUE);
    g_free(st->rundir);
    g_free(st->sock_path);
    g_free(st->sysfs);
    g_free(st->procnet);
    g_free(st);
    return rc;
}

static void
sim_notify_stop(xlite_ctx *ctx, sim_state *st)
{
    xlite__ev_time_deregister(ctx, &st->nretry);
    xlite__ev_fd_deregister(ctx, &st->nev);
    xlite__close(&st->nfd);
    g_string_truncate(st->ninbuf, 0);
}

static void
sim_close(xlite_ctx *ctx, void *state)
{
    sim_state *st = state;

    if (!st)
        return;
    sim_notify_stop(ctx, st);
    sim_disconnect(st);
    g_string_free(st->inbuf, TRUE);
    g_string_free(st->ninbuf, TRUE);
    g_free(st->rundir);
    g_free(st->sock_path);
    g_free(st->sysfs);
    g_free(st->procnet);
    g_free(st);
}

/* The query path's connection: to the host the context's state started. */
static int
sim_open_query(xlite_ctx *ctx, void **state_r)
{
    sim_state *st = g_new0(sim_state, 1);
    int rc;

    st->fd = -1;
    st->nfd = -1;
    st->query = true;
    st->inbuf = g_string_new(NULL);
    st->ninbuf = g_string_new(NULL);
    xlite__ev_fd_init(&st->nev);
    xlite__ev_time_init(&st->nretry);
    st->rundir = ctx->sim_rundir ? g_strdup(ctx->sim_rundir)
                                 : g_build_filename(ctx->state_dir, "xensim",
                                                    NULL);
    st->sock_path = g_build_filename(st->rundir, "hypervisor.sock", NULL);
    st->sysfs = g_build_filename(st->rundir, "sys", NULL);
    st->procnet = g_build_filename(st->rundir, "net", NULL);
    if ((rc = sim_ensure_connected(ctx, st)) < 0) {
        sim_close(ctx, st);
        return rc;
    }
    *state_r = st;
    return 0;
}

static int
sim_host_info(xlite_ctx *ctx, void *state, xlite_host_info *info)
{
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o;
    JsonArray *types, *words;
    int rc;

    if ((rc = sim_call(ctx, state, "host_info", "", false, &parser, &o)) < 0)
        return rc;
    info->nr_cpus = (unsigned int)obj_uint(o, "nr_cpus");
    info->sockets = (unsigned int)obj_uint(o, "sockets");
    info->cores_per_socket = (unsigned int)obj_uint(o, "cores_per_socket");
    info->threads_per_core = (unsigned int)obj_uint(o, "threads_per_core");
    info->numa_nodes = (unsigned int)obj_uint(o, "numa_nodes");
    info->cpu_mhz = (unsigned int)obj_uint(o, "cpu_mhz");
    info->total_kib = obj_uint(o, "total_kib");
    info->free_kib = obj_uint(o, "free_kib");
    info->xen_major = (unsigned int)obj_uint(o, "xen_major");
    info->xen_minor = (unsigned int)obj_uint(o, "xen_minor");
    g_strlcpy(info->xen_extra, obj_str(o, "xen_extra") ?: "",
              sizeof(info->xen_extra));
    info->max_vcpus = (unsigned int)obj_uint(o, "max_vcpus");
    g_strlcpy(info->arch, obj_str(o, "arch") ?: "x86_64", sizeof(info->arch));
    g_strlcpy(info->scheduler, obj_str(o, "scheduler") ?: "credit2",
              sizeof(info->scheduler));
    g_strlcpy(info->xen_caps, obj_str(o, "xen_caps") ?: "",
              sizeof(info->xen_caps));
    if ((words = json_object_get_array_member(o, "hw_cap"))) {
        guint n = MIN(json_array_get_length(words), G_N_ELEMENTS(info->hw_cap));

        for (guint i = 0; i < n; i++) {
            JsonNode *w = json_array_get_element(words, i);

            if (json_node_get_value_type(w) == G_TYPE_INT64)
                info->hw_cap[i] = (uint32_t)json_node_get_int(w);
        }
    }
    info->guest_types = 0;
    if ((types = json_object_get_array_member(o, "guest_types"))) {
        guint i;

        for (i = 0; i < json_array_get_length(types); i++) {
            const char *t = json_array_get_string_element(types, i);

            /* Xen's capability strings ("xen-3.0-x86_64" is PV,
             * "hvm-3.0-x86_64" HVM, which PVH needs too) or plain names. */
            if (!t)
                continue;
            if (g_strcmp0(t, "pv") == 0 || g_str_has_prefix(t, "xen-"))
                info->guest_types |= XLITE_GUEST_PV;
            else if (g_strcmp0(t, "pvh") == 0)
                info->guest_types |= XLITE_GUEST_PVH;
            else if (g_strcmp0(t, "hvm") == 0 || g_str_has_prefix(t, "hvm-"))
                info->guest_types |= XLITE_GUEST_HVM | XLITE_GUEST_PVH;
        }
    }
    return 0;
}

#define SIM_MAX_NUMA_NODES 1024u

/* A member that is a number in 0..UINT32_MAX, or XLITE_TOPOLOGY_INVALID. */
static uint32_t
obj_u32(JsonObject *o, const char *key)
{
    JsonNode *n = json_object_get_member(o, key);

    if (!n || json_node_get_value_type(n) != G_TYPE_INT64 ||
        json_node_get_int(n) < 0 || json_node_get_int(n) > UINT32_MAX)
        return XLITE_TOPOLOGY_INVALID;
    return (uint32_t)json_node_get_int(n);
}

static int
sim_host_topology(xlite_ctx *ctx, void *state, xlite_host_topology *topo)
{
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o;
    JsonArray *cpus, *nodes;
    guint ncpus, nnodes;
    int rc;

    if ((rc = sim_call(ctx, state, "topology", "", false, &parser, &o)) < 0)
        return rc;
    if (!(cpus = json_object_get_array_member(o, "cpus")) ||
        !(nodes = json_object_get_array_member(o, "nodes")))
        return XLITE_ERROR(ctx, -EPROTO,
                           "hypervisor: topology without cpus or nodes");
    ncpus = json_array_get_length(cpus);
    nnodes = json_array_get_length(nodes);
    /* The distance matrix is nnodes squared: bound it (Xen has at most
     * 64 nodes, CONFIG_NR_NUMA_NODES). */
    if (nnodes > SIM_MAX_NUMA_NODES)
        return XLITE_ERROR(ctx, -EPROTO, "hypervisor: %u NUMA nodes, more "
                           "than %u", nnodes, SIM_MAX_NUMA_NODES);

    topo->ncpus = ncpus;
    topo->cpus = g_new0(xlite_cpu_topology, MAX(ncpus, 1));
    for (guint i = 0; i < ncpus; i++) {
        JsonNode *e = json_array_get_element(cpus, i);
        JsonObject *c = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e)
                                                 : NULL;

        topo->cpus[i].core = c ? obj_u32(c, "core") : XLITE_TOPOLOGY_INVALID;
        topo->cpus[i].socket = c ? obj_u32(c, "socket") : XLITE_TOPOLOGY_INVALID;
        topo->cpus[i].node = c ? obj_u32(c, "node") : XLITE_TOPOLOGY_INVALID;
    }

    topo->nnodes = nnodes;
    topo->nodes = g_new0(xlite_numa_node, MAX(nnodes, 1));
    topo->distances = g_new(uint32_t, MAX(nnodes * nnodes, 1));
    for (guint i = 0; i < nnodes; i++) {
        JsonNode *e = json_array_get_element(nodes, i);
        JsonObject *n = JSON_NODE_HOLDS_OBJECT(e) ? json_node_get_object(e)
                                                 : NULL;
        JsonArray *dists = n ? json_object_get_array_member(n, "distances")
                             : NULL;

        topo->nodes[i].size_kib = XLITE_TOPOLOGY_NO_MEMORY;
        if (n && json_object_has_member(n, "size_kib")) {
            topo->nodes[i].size_kib = obj_uint(n, "size_kib");
            topo->nodes[i].free_kib = obj_uint(n, "free_kib");
        }
        for (guint j = 0; j < nnodes; j++) {
            JsonNode *d = dists && j < json_array_get_length(dists)
                          ? json_array_get_element(dists, j) : NULL;

            topo->distances[i * nnodes + j] =
                d && json_node_get_value_type(d) == G_TYPE_INT64 &&
                json_node_get_int(d) >= 0 && json_node_get_int(d) < UINT32_MAX
                ? (uint32_t)json_node_get_int(d) : XLITE_TOPOLOGY_INVALID;
        }
    }
    return 0;
}

static int
sim_dom_create(xlite_ctx *ctx, void *state, const xlite__hv_create_args *a,
               uint32_t *domid_r)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autofree char *args = NULL;
    const uint8_t *u = a->uuid;
    JsonObject *o;
    int rc;

    args = g_strdup_printf(
        ", \"uuid\": \"%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
        "%02x%02x%02x%02x%02x%02x\", \"type\": \"%s\", \"max_vcpus\": %u, "
        "\"max_memkb\": %" G_GUINT64_FORMAT,
        u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10],
        u[11], u[12], u[13], u[14], u[15],
        xlite_domain_type_to_string(a->type), a->max_vcpus, a->max_memkb);
    if ((rc = sim_call(ctx, state, "create", args, false, &parser, &o)) < 0)
        return rc;
    *domid_r = (uint32_t)obj_uint(o, "domid");
    return 0;
}

static int
sim_dom_build(xlite_ctx *ctx, void *state, uint32_t domid,
              xlite__hv_build_args *a)
{
    g_autoptr(GString) args = g_string_new(NULL);
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o;
    int rc;

    g_string_printf(args, ", \"domid\": %u, \"store_port\": %u, "
                    "\"console_port\": %u", domid, a->store_port,
                    a->console_port);
    if (a->kernel) {
        g_string_append(args, ", \"kernel\": ");
        json_append_string(args, a->kernel);
    }
    if (a->ramdisk) {
        g_string_append(args, ", \"ramdisk\": ");
        json_append_string(args, a->ramdisk);
    }
    if (a->cmdline) {
        g_string_append(args, ", \"cmdline\": ");
        json_append_string(args, a->cmdline);
    }
    if ((rc = sim_call(ctx, state, "build", args->str, false, &parser,
                       &o)) < 0)
        return rc;
    a->store_mfn = obj_uint(o, "store_mfn");
    a->console_mfn = obj_uint(o, "console_mfn");
    return 0;
}

static int
sim_domid_op(xlite_ctx *ctx, void *state, const char *op, uint32_t domid)
{
    g_autofree char *args = g_strdup_printf(", \"domid\": %u", domid);

    return sim_call(ctx, state, op, args, false, NULL, NULL);
}

static int
sim_dom_pause(xlite_ctx *ctx, void *state, uint32_t domid)
{
    return sim_domid_op(ctx, state, "pause", domid);
}

static int
sim_dom_unpause(xlite_ctx *ctx, void *state, uint32_t domid)
{
    return sim_domid_op(ctx, state, "unpause", domid);
}

static int
sim_dom_destroy(xlite_ctx *ctx, void *state, uint32_t domid)
{
    return sim_domid_op(ctx, state, "destroy", domid);
}

/* The guest state is the "state" object of save_state, as JSON text. */
static int
sim_dom_save_state(xlite_ctx *ctx, void *state, uint32_t domid,
                   char **state_r, size_t *len_r)
{
    g_autofree char *args = g_strdup_printf(", \"domid\": %u", domid);
    g_autoptr(JsonParser) parser = NULL;
    JsonNode *node;
    JsonObject *o;
    char *text;
    int rc;

    if ((rc = sim_call(ctx, state, "save_state", args, false, &parser,
                       &o)) < 0)
        return rc;
    if (!(node = json_object_get_member(o, "state")) ||
        !JSON_NODE_HOLDS_OBJECT(node))
        return XLITE_ERROR(ctx, -EIO, "hypervisor: save_state of domain %u "
                           "returned no state", domid);
    text = json_to_string(node, FALSE);
    *len_r = strlen(text);
    *state_r = text;
    return 0;
}

/*
 * The bytes come from an image file: parsed here and written out again,
 * so that only one JSON object reaches the request line, whatever the
 * file held.  xensimd checks its members.
 */
static int
sim_dom_restore_state(xlite_ctx *ctx, void *state, uint32_t domid,
                      const char *blob, size_t len)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    g_autofree char *args = NULL;
    JsonNode *root;

    if (len > SIM_MAX_GUEST_STATE || memchr(blob, '\0', len) ||
        !json_parser_load_from_data(parser, blob, len, &error) ||
        !(root = json_parser_get_root(parser)) || !JSON_NODE_HOLDS_OBJECT(root))
        return XLITE_ERROR(ctx, -EINVAL, "the guest state of domain %u is not "
                           "one of the simulated host's", domid);
    text = json_to_string(root, FALSE);
    args = g_strdup_printf(", \"domid\": %u, \"state\": %s", domid, text);
    return sim_call(ctx, state, "restore_state", args, false, NULL, NULL);
}

static int
sim_dom_info(xlite_ctx *ctx, void *state, uint32_t domid, xlite_dominfo *info)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autofree char *args = g_strdup_printf(", \"domid\": %u", domid);
    JsonObject *o;
    int rc;

    if ((rc = sim_call(ctx, state, "info", args, true, &parser, &o)) < 0)
        return rc;
    info_from_json(o, info);
    return 0;
}

static int
sim_dom_list(xlite_ctx *ctx, void *state, xlite_dominfo **infos_r,
             size_t *n_r)
{
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o;
    JsonArray *doms;
    xlite_dominfo *infos;
    guint i, n;
    int rc;

    if ((rc = sim_call(ctx, state, "list", "", false, &parser, &o)) < 0)
        return rc;
    if (!(doms = json_object_get_array_member(o, "domains")))
        return XLITE_ERROR(ctx, -EPROTO, "hypervisor: list without domains");
    n = json_array_get_length(doms);
    infos = g_new0(xlite_dominfo, n ? n : 1);
    for (i = 0; i < n; i++) {
        JsonNode *e = json_array_get_element(doms, i);

        if (JSON_NODE_HOLDS_OBJECT(e))
            info_from_json(json_node_get_object(e), &infos[i]);
    }
    *infos_r = infos;
    *n_r = n;
    return 0;
}

static int
sim_vcpu_list(xlite_ctx *ctx, void *state, uint32_t domid,
              xlite_vcpuinfo **vcpus_r, size_t *n_r)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autofree char *args = domid == XLITE__DOMID_ANY ? g_strdup("")
                          : g_strdup_printf(", \"domid\": %u", domid);
    JsonObject *o;
    JsonArray *arr;
    xlite_vcpuinfo *vcpus;
    guint i, n;
    int rc;

    if ((rc = sim_call(ctx, state, "vcpus", args, true, &parser, &o)) < 0)
        return rc;
    if (!(arr = json_object_get_array_member(o, "vcpus")))
        return XLITE_ERROR(ctx, -EPROTO, "hypervisor: vcpus without vcpus");
    n = json_array_get_length(arr);
    vcpus = g_new0(xlite_vcpuinfo, n ? n : 1);
    for (i = 0; i < n; i++) {
        JsonNode *e = json_array_get_element(arr, i);
        JsonObject *v;

        if (!JSON_NODE_HOLDS_OBJECT(e))
            continue;
        v = json_node_get_object(e);
        vcpus[i].domid = (uint32_t)obj_uint(v, "domid");
        vcpus[i].vcpuid = (unsigned int)obj_uint(v, "vcpu");
        vcpus[i].online = obj_bool(v, "online");
        vcpus[i].running = obj_bool(v, "running");
        vcpus[i].blocked = obj_bool(v, "blocked");
        vcpus[i].cpu = (unsigned int)obj_uint(v, "cpu");
        vcpus[i].cpu_time_ns = obj_uint(v, "cpu_time_ns");
    }
    *vcpus_r = vcpus;
    *n_r = n;
    return 0;
}

static int
sim_pcpu_list(xlite_ctx *ctx, void *state, xlite_pcpuinfo **cpus_r,
              size_t *n_r)
{
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o;
    JsonArray *arr;
    xlite_pcpuinfo *cpus;
    guint i, n;
    int rc;

    if ((rc = sim_call(ctx, state, "pcpus", "", false, &parser, &o)) < 0)
        return rc;
    if (!(arr = json_object_get_array_member(o, "cpus")))
        return XLITE_ERROR(ctx, -EPROTO, "hypervisor: pcpus without cpus");
    n = json_array_get_length(arr);
    cpus = g_new0(xlite_pcpuinfo, n ? n : 1);
    for (i = 0; i < n; i++) {
        JsonNode *e = json_array_get_element(arr, i);
        JsonObject *c;

        if (!JSON_NODE_HOLDS_OBJECT(e))
            continue;
        c = json_node_get_object(e);
        cpus[i].cpu = (unsigned int)obj_uint(c, "cpu");
        cpus[i].guest_ns = obj_uint(c, "guest_ns");
        cpus[i].idle_ns = obj_uint(c, "idle_ns");
    }
    *cpus_r = cpus;
    *n_r = n;
    return 0;
}

static int
sim_vcpu_set_affinity(xlite_ctx *ctx, void *state, uint32_t domid,
                      unsigned int vcpu, const uint8_t *cpumap, size_t maplen)
{
    g_autoptr(GString) args = g_string_new(NULL);
    const char *sep = "";

    g_string_printf(args, ", \"domid\": %u, \"vcpu\": %u, \"cpus\": [",
                    domid, vcpu);
    for (size_t i = 0; i < maplen * 8; i++) {
        if (cpumap[i / 8] & (1u << (i % 8))) {
            g_string_append_printf(args, "%s%zu", sep, i);
            sep = ", ";
        }
    }
    g_string_append_c(args, ']');
    return sim_call(ctx, state, "vcpu_affinity", args->str, false, NULL, NULL);
}

static const char *
sim_sysfs_root(void *state)
{
    sim_state *st = state;

    return st->sysfs;
}

static const char *
sim_procnet_root(void *state)
{
    sim_state *st = state;

    return st->procnet;
}

static int
sim_dom_set_max_mem(xlite_ctx *ctx, void *state, uint32_t domid,
                    uint64_t max_memkb)
{
    g_autofree char *args = g_strdup_printf(
        ", \"domid\": %u, \"max_memkb\": %" G_GUINT64_FORMAT, domid,
        max_memkb);

    return sim_call(ctx, state, "set_max_mem", args, false, NULL, NULL);
}

static int
sim_dom_set_vcpus(xlite_ctx *ctx, void *state, uint32_t domid,
                  unsigned int online)
{
    g_autofree char *args = g_strdup_printf(", \"domid\": %u, \"online\": %u",
                                            domid, online);

    return sim_call(ctx, state, "set_vcpus", args, false, NULL, NULL);
}

static int
sim_dom_sched_set(xlite_ctx *ctx, void *state, uint32_t domid,
                  unsigned int weight, unsigned int cap)
{
    g_autofree char *args = g_strdup_printf(
        ", \"domid\": %u, \"weight\": %u, \"cap\": %u", domid, weight, cap);

    return sim_call(ctx, state, "sched_set", args, false, NULL, NULL);
}

static int
sim_evtchn_alloc_unbound(xlite_ctx *ctx, void *state, uint32_t domid,
                         uint32_t remote, uint32_t *port_r)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autofree char *args = g_strdup_printf(", \"domid\": %u, \"remote\": %u",
                                            domid, remote);
    JsonObject *o;
    int rc;

    if ((rc = sim_call(ctx, state, "evtchn_alloc_unbound", args, false,
                       &parser, &o)) < 0)
        return rc;
    *port_r = (uint32_t)obj_uint(o, "port");
    return 0;
}

/* ---------- channels: grants and event channels of dom0 ---------- */

#define SIM_PAGE_SIZE 4096

static void *
sim_shm_map(xlite_ctx *ctx, const char *shm, unsigned int pages)
{
    void *mem;
    int fd;

    /* A name the host chose, but still checked: one component. */
    if (shm[0] != '/' || strchr(shm + 1, '/') || strlen(shm) > 255) {
        XLITE_ERROR(ctx, -EPROTO, "hypervisor: a bad grant name");
        return NULL;
    }
    xlite__nofork_lock();
    fd = shm_open(shm, O_RDWR | O_CLOEXEC, 0);
    xlite__nofork_unlock();
    if (fd < 0) {
        XLITE_ERROR(ctx, -errno, "cannot open grant %s: %s", shm,
                    g_strerror(errno));
        return NULL;
    }
    mem = mmap(NULL, (size_t)pages * SIM_PAGE_SIZE, PROT_READ | PROT_WRITE,
               MAP_SHARED, fd, 0);
    close(fd);
    if (mem == MAP_FAILED) {
        XLITE_ERROR(ctx, -errno, "cannot map grant %s: %s", shm,
                    g_strerror(errno));
        return NULL;
    }
    return mem;
}

static int
sim_gnt_share(xlite_ctx *ctx, void *state, uint32_t peer, unsigned int pages,
              uint32_t *gref_r, void **mem_r)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autofree char *args = g_strdup_printf(
        ", \"domid\": 0, \"peer\": %u, \"pages\": %u", peer, pages);
    g_autofree char *end = NULL;
    JsonObject *o;
    uint32_t gref;
    void *mem;
    int rc;

    if ((rc = sim_call(ctx, state, "grant_share", args, false, &parser,
                       &o)) < 0)
        return rc;
    gref = (uint32_t)obj_uint(o, "gref");
    if (!(mem = sim_shm_map(ctx, obj_str(o, "shm"), pages))) {
        rc = -EIO;
        end = g_strdup_printf(", \"domid\": 0, \"gref\": %u", gref);
        sim_call(ctx, state, "grant_end", end, false, NULL, NULL);
        return rc;
    }
    *gref_r = gref;
    *mem_r = mem;
    return 0;
}

static void
sim_gnt_end(xlite_ctx *ctx, void *state, uint32_t gref, void *mem,
            unsigned int pages)
{
    g_autofree char *args = g_strdup_printf(", \"domid\": 0, \"gref\": %u",
                                            gref);

    munmap(mem, (size_t)pages * SIM_PAGE_SIZE);
    sim_call(ctx, state, "grant_end", args, false, NULL, NULL);
}

static int
sim_gnt_map(xlite_ctx *ctx, void *state, uint32_t granter, uint32_t gref,
            unsigned int pages, void **mem_r)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autofree char *args = g_strdup_printf(
        ", \"domid\": 0, \"granter\": %u, \"gref\": %u", granter, gref);
    JsonObject *o;
    void *mem;
    int rc;

    if ((rc = sim_call(ctx, state, "grant_map", args, false, &parser,
                       &o)) < 0)
        return rc;
    if (!(mem = sim_shm_map(ctx, obj_str(o, "shm"), pages))) {
        sim_call(ctx, state, "grant_unmap", args, false, NULL, NULL);
        return -EIO;
    }
    *mem_r = mem;
    return 0;
}

static void
sim_gnt_unmap(xlite_ctx *ctx, void *state, uint32_t granter, uint32_t gref,
              void *mem, unsigned int pages)
{
    g_autofree char *args = g_strdup_printf(
        ", \"domid\": 0, \"granter\": %u, \"gref\": %u", granter, gref);

    munmap(mem, (size_t)pages * SIM_PAGE_SIZE);
    sim_call(ctx, state, "grant_unmap", args, false, NULL, NULL);
}

/*
 * A port's notifications come on a connection of its own (xensimd's
 * evtchn_watch), as /dev/xen/evtchn is opened per user: its fd is the
 * one the core polls.  Once watched, nothing waits on it: notify and
 * unmask go out without waiting for their replies, which the reader
 * drops (an error among them is logged).
 */
struct xlite__hv_evtchn {
    sim_state conn;               /* fd, inbuf, next_id, sock_path */
    uint32_t port;
};

static int
sim_evtchn_send(xlite_ctx *ctx, struct xlite__hv_evtchn *ev, const char *op)
{
    g_autofree char *req = g_strdup_printf(
        "{\"id\": %" G_GUINT64_FORMAT ", \"op\": \"%s\", \"domid\": 0, "
        "\"port\": %u}\n", ++ev->conn.next_id, op, ev->port);
    int rc;

    if (ev->conn.fd < 0)
        return -ENOTCONN;
    if ((rc = write_all(ev->conn.fd, req, strlen(req), g_get_monotonic_time() +
                        XLITE__HV_REPLY_TIMEOUT)) < 0)
        return XLITE_ERROR(ctx, rc, "hypervisor: cannot %s port %u: %s", op,
                           ev->port, g_strerror(-rc));
    return 0;
}

static void
sim_evtchn_free(xlite_ctx *ctx, struct xlite__hv_evtchn *ev)
{
    xlite__close(&ev->conn.fd);
    if (ev->conn.inbuf)
        g_string_free(ev->conn.inbuf, TRUE);
    g_free(ev->conn.sock_path);
    g_free(ev);
}

static int
sim_evtchn_open(xlite_ctx *ctx, void *state, uint32_t remote,
                struct xlite__hv_evtchn **ev_r, uint32_t *port_r, int *fd_r)
{
    sim_state *st = state;
    struct xlite__hv_evtchn *ev;
    g_autofree char *args = NULL;
    g_autofree char *closeargs = NULL;
    int rc;

    ev = g_new0(struct xlite__hv_evtchn, 1);
    ev->conn.fd = -1;
    ev->conn.nfd = -1;
    ev->conn.inbuf = g_string_new(NULL);
    ev->conn.sock_path = g_strdup(st->sock_path);
    ev->conn.rundir = st->rundir;      /* borrowed, for messages */
    if ((rc = sim_evtchn_alloc_unbound(ctx, state, 0, remote,
                                       &ev->port)) < 0) {
        sim_evtchn_free(ctx, ev);
        return rc;
    }
    closeargs = g_strdup_printf(", \"domid\": 0, \"port\": %u", ev->port);
    if ((rc = sim_connect_fd(ctx, st->sock_path, &ev->conn.fd)) < 0) {
        rc = XLITE_ERROR(ctx, rc, "cannot connect to the hypervisor: %s",
                         g_strerror(-rc));
    } else {
        args = g_strdup_printf(", \"domid\": 0, \"port\": %u", ev->port);
        /* Connected by hand: sim_call must not reconnect this one. */
        rc = sim_call(ctx, &ev->conn, "evtchn_watch", args, false, NULL,
                      NULL);
    }
    if (rc < 0) {
        sim_call(ctx, state, "evtchn_close", closeargs, false, NULL, NULL);
        sim_evtchn_free(ctx, ev);
        return rc;
    }
    *port_r = ev->port;
    *fd_r = ev->conn.fd;
    *ev_r = ev;
    return 0;
}

static int
sim_evtchn_notify(xlite_ctx *ctx, struct xlite__hv_evtchn *ev)
{
    return sim_evtchn_send(ctx, ev, "evtchn_notify");
}

static int
sim_evtchn_consume(xlite_ctx *ctx, struct xlite__hv_evtchn *ev)
{
    bool notified = false;
    char *line;
    int rc;

    if (ev->conn.fd < 0)
        return -ENOTCONN;
    rc = read_some(ev->conn.fd, ev->conn.inbuf);
    while ((line = take_line(ev->conn.inbuf))) {
        g_autofree char *l = line;
        g_autoptr(JsonParser) parser = NULL;
        JsonObject *obj = parse_object(l, &parser);

        if (!obj)
            continue;
        if (json_object_has_member(obj, "event"))
            notified = true;
        else if (json_object_has_member(obj, "error"))
            XLITE_LOG(ctx, XLITE_LOG_WARN, "hypervisor: port %u: %s",
                      ev->port, json_object_get_string_member_with_default(
                          obj, "message", ""));
    }
    if (rc < 0)
        return XLITE_ERROR(ctx, rc, "hypervisor: the connection of port %u "
                           "is lost", ev->port);
    /* Told once until unmasked: unmask, and the caller looks again. */
    if (notified && (rc = sim_evtchn_send(ctx, ev, "evtchn_unmask")) < 0)
        return rc;
    return notified ? 1 : 0;
}

static void
sim_evtchn_close(xlite_ctx *ctx, void *state, struct xlite__hv_evtchn *ev)
{
    g_autofree char *args = g_strdup_printf(", \"domid\": 0, \"port\": %u",
                                            ev->port);

    if (!ev)
        return;
    sim_call(ctx, state, "evtchn_close", args, false, NULL, NULL);
    sim_evtchn_free(ctx, ev);
}

static void
sim_chan_forget(xlite_ctx *ctx, void *state, uint32_t gref, uint32_t port)
{
    g_autofree char *gargs = g_strdup_printf(", \"domid\": 0, \"gref\": %u",
                                             gref);
    g_autofree char *pargs = g_strdup_printf(", \"domid\": 0, \"port\": %u",
                                             port);

    /* Either may be gone already (the host restarted): no matter. */
    sim_call(ctx, state, "grant_end", gargs, false, NULL, NULL);
    sim_call(ctx, state, "evtchn_close", pargs, false, NULL, NULL);
}

/* ---------- notifications ---------- */

static void sim_notify_retry_cb(xlite__egc *egc, xlite__ev_time *ev);

static void
sim_notify_fd_cb(xlite__egc *egc, xlite__ev_fd *ev, int fd, short events,
                 short revents)
{
    sim_state *st = XLITE__CONTAINER_OF(ev, sim_state, nev);
    g_autoptr(GHashTable) domids = g_hash_table_new(g_direct_hash,
                                                    g_direct_equal);
    GHashTableIter iter;
    void *key;
    bool any = false;
    char *line;
    int rc;

    rc = read_some(st->nfd, st->ninbuf);
    while ((line = take_line(st->ninbuf))) {
        /* "Look again at domain N", once per domain however many came;
         * one we cannot read makes us look at all. */
        if (strstr(line, "\"event\"")) {
            const char *p = strstr(line, "\"domid\":");
            char *end = NULL;
            guint64 domid = 0;

            if (p) {
                p += strlen("\"domid\":");
                p += strspn(p, " ");
                domid = g_ascii_strtoull(p, &end, 10);
            }
            if (p && end != p && g_ascii_isdigit(*p) &&
                (*end == '}' || *end == ',' || *end == ' ') &&
                domid < XLITE__DOMID_ANY)
                g_hash_table_add(domids, GUINT_TO_POINTER((guint)domid));
            else
                any = true;
        }
        g_free(line);
    }
    if (rc < 0) {
        XLITE_LOG(egc->ctx, XLITE_LOG_ERROR,
                  "hypervisor connection lost (notifications from xensimd "
                  "at %s)", st->rundir);
        sim_notify_stop(egc->ctx, st);
        /* The request connection is dead too: the next call says so.
         * Meanwhile we try to come back, so that the watchers learn what
         * a restarted host no longer has. */
        if (xlite__ev_time_register_rel(egc->ctx, &st->nretry,
                                        sim_notify_retry_cb,
                                        SIM_NOTIFY_RETRY) < 0)
            XLITE_LOG(egc->ctx, XLITE_LOG_ERROR, "cannot register a timer");
        any = true;
    }
    /* A report may end the watching (st->changed NULL). */
    if (any) {
        if (st->changed)
            st->changed(egc, XLITE__DOMID_ANY);
        return;
    }
    g_hash_table_iter_init(&iter, domids);
    while (g_hash_table_iter_next(&iter, &key, NULL) && st->changed)
        st->changed(egc, GPOINTER_TO_UINT(key));
}

static void
sim_notify_retry_cb(xlite__egc *egc, xlite__ev_time *ev)
{
    sim_state *st = XLITE__CONTAINER_OF(ev, sim_state, nretry);

    if (!st->changed)
        return;
    if (!sim_socket_serves(st->sock_path) ||
        sim_notify_start(egc->ctx, st) < 0) {
        if (xlite__ev_time_register_rel(egc->ctx, &st->nretry,
                                        sim_notify_retry_cb,
                                        SIM_NOTIFY_RETRY) < 0)
            XLITE_LOG(egc->ctx, XLITE_LOG_ERROR, "cannot register a timer");
        return;
    }
    XLITE_LOG(egc->ctx, XLITE_LOG_INFO, "xensimd at %s serves again",
              st->rundir);
    st->changed(egc, XLITE__DOMID_ANY);
}

/*
 * Subscribed once xensimd has answered: a change made after we return is
 * reported, so the look the core takes next misses nothing.  (Not waiting
 * for the answer lost changes: xensimd could serve the core's look, made
 * on the request connection, before it read the subscription, and the
 * domain change between the two reached nobody.  libxenstore's xs_watch
 * waits for its reply for the same reason.)  Notifications read together
 * with the answer stay in the buffer, for the next read.
 */
static int
sim_notify_start(xlite_ctx *ctx, sim_state *st)
{
    static const char sub[] = "{\"id\": 0, \"op\": \"subscribe\"}\n";
    int64_t deadline = g_get_monotonic_time() + XLITE__HV_REPLY_TIMEOUT;
    g_autofree char *reply = NULL;
    int rc;

    if ((rc = sim_connect_fd(ctx, st->sock_path, &st->nfd)) < 0)
        return XLITE_ERROR(ctx, -ENOTCONN,
                           "hypervisor connection lost: cannot connect to "
                           "%s: %s", st->sock_path, g_strerror(-rc));
    g_string_truncate(st->ninbuf, 0);
    if ((rc = write_all(st->nfd, sub, strlen(sub), deadline)) < 0 ||
        (rc = read_line(st->nfd, st->ninbuf, deadline, &reply)) < 0 ||
        (rc = strstr(reply, "\"ok\"") ? 0 : -EPROTO) < 0 ||
        (rc = xlite__ev_fd_register(ctx, &st->nev, sim_notify_fd_cb, st->nfd,
                                    POLLIN)) < 0) {
        xlite__close(&st->nfd);
        return XLITE_ERROR(ctx, rc, "cannot subscribe to domain changes: %s",
                           g_strerror(-rc));
    }
    return 0;
}

static int
sim_watch_domains(xlite_ctx *ctx, void *state, xlite__hv_changed_fn *fn)
{
    sim_state *st = state;

    st->changed = fn;
    if (!fn) {
        sim_notify_stop(ctx, st);
        return 0;
    }
    if (st->nfd >= 0)
        return 0;
    return sim_notify_start(ctx, st);
}

const xlite__hv_ops xlite__hv_sim_ops = {
    .name = "sim",
    .extra_consoles = true,
    .open = sim_open,
    .open_query = sim_open_query,
    .close = sim_close,
    .host_info = sim_host_info,
    .host_topology = sim_host_topology,
    .dom_create = sim_dom_create,
    .dom_build = sim_dom_build,
    .dom_pause = sim_dom_pause,
    .dom_unpause = sim_dom_unpause,
    .dom_destroy = sim_dom_destroy,
    .dom_save_state = sim_dom_save_state,
    .dom_restore_state = sim_dom_restore_state,
    .dom_info = sim_dom_info,
    .dom_list = sim_dom_list,
    .dom_set_max_mem = sim_dom_set_max_mem,
    .dom_set_vcpus = sim_dom_set_vcpus,
    .dom_sched_set = sim_dom_sched_set,
    .evtchn_alloc_unbound = sim_evtchn_alloc_unbound,
    .gnt_share = sim_gnt_share,
    .gnt_end = sim_gnt_end,
    .gnt_map = sim_gnt_map,
    .gnt_unmap = sim_gnt_unmap,
    .evtchn_open = sim_evtchn_open,
    .evtchn_notify = sim_evtchn_notify,
    .evtchn_consume = sim_evtchn_consume,
    .evtchn_close = sim_evtchn_close,
    .chan_forget = sim_chan_forget,
    .vcpu_list = sim_vcpu_list,
    .pcpu_list = sim_pcpu_list,
    .sysfs_root = sim_sysfs_root,
    .procnet_root = sim_procnet_root,
    .vcpu_set_affinity = sim_vcpu_set_affinity,
    .watch_domains = sim_watch_domains,
};
