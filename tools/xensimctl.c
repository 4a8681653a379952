/*
 * xensimctl: look inside a simulated Xen host and break things in it.
 *
 *   xensimctl --rundir DIR list                      domains and their state
 *   xensimctl --rundir DIR tree [PATH]               the xenstore tree
 *   xensimctl --rundir DIR devices DOMID             a domain's devices
 *   xensimctl --rundir DIR crash DOMID               the guest crashes now
 *   xensimctl --rundir DIR ignore-shutdown DOMID     ... ignores control/shutdown
 *   xensimctl --rundir DIR garbage DOMID             ... writes garbage
 *   xensimctl --rundir DIR kill-backend DOMID KIND/DEVID
 *   xensimctl --rundir DIR delay-backend DOMID KIND/DEVID SECONDS
 *   xensimctl --rundir DIR fail-next-hotplug DOMID
 *   xensimctl --rundir DIR disk-verify DOMID         the NBD writer reads back
 *   xensimctl --rundir DIR stop                      tear everything down
 *
 * It speaks the control protocol (docs/xensim-hypervisor-protocol.md) on
 * DIR/hypervisor.sock and xenstore on DIR/xenstored/socket, like any
 * other client: no private door into the daemon.  Exit status 0 on
 * success, 1 when the host refused (its message on stderr), 2 on usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "xsim_xsc.h"

typedef struct {
    int fd;
    GString *in;
    gint64 next_id;
} XsimCtl;

static int
xsim_ctl_connect(XsimCtl *ctl,
                 const char *rundir)
{
    g_autofree char *path = g_build_filename(rundir, "hypervisor.sock", NULL);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };

    if (strlen(path) >= sizeof(sun.sun_path)) {
        fprintf(stderr, "xensimctl: socket path '%s' is too long\n", path);
        return -1;
    }
    strcpy(sun.sun_path, path);
    ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ctl->fd < 0 ||
        connect(ctl->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        fprintf(stderr, "xensimctl: cannot connect to '%s': %s\n", path,
                g_strerror(errno));
        return -1;
    }
    ctl->in = g_string_new(NULL);
    return 0;
}

/*
 * One request; returns the "ok" object (a new reference), or NULL after
 * printing the host's error.  @args: a JSON object's members, or NULL.
 */
static JsonObject *
xsim_ctl_call(XsimCtl *ctl,
              const char *op,
              JsonObject *args)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autofree char *line = NULL;
    JsonObject *reply;
    const char *p;
    gsize left;
    char *nl;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_int_value(b, ++ctl->next_id);
    json_builder_set_member_name(b, "op");
    json_builder_add_string_value(b, op);
    if (args) {
        g_autoptr(GList) members = json_object_get_members(args);

        for (GList *l = members; l; l = l->next) {
            json_builder_set_member_name(b, l->data);
            json_builder_add_value(b, json_node_copy(
                json_object_get_member(args, l->data)));
        }
    }
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    line = json_to_string(root, FALSE);

    /* Write the line, then read until ours: we never subscribe. */
    for (p = line, left = strlen(line); left > 0; ) {
        ssize_t n = send(ctl->fd, p, left, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "xensimctl: send: %s\n", g_strerror(errno));
            return NULL;
        }
        p += n;
        left -= n;
    }
    if (send(ctl->fd, "\n", 1, MSG_NOSIGNAL) != 1) {
        fprintf(stderr, "xensimctl: send: %s\n", g_strerror(errno));
        return NULL;
    }
    while (!(nl = memchr(ctl->in->str, '\n', ctl->in->len))) {
        char buf[65536];
        ssize_t n = recv(ctl->fd, buf, sizeof(buf), 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "xensimctl: the host closed the connection\n");
            return NULL;
        }
        g_string_append_len(ctl->in, buf, n);
    }
    if (!json_parser_load_from_data(parser, ctl->in->str, nl - ctl->in->str,
                                    NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
        fprintf(stderr, "xensimctl: the host sent garbage\n");
        return NULL;
    }
    g_string_erase(ctl->in, 0, nl - ctl->in->str + 1);
    reply = json_node_get_object(json_parser_get_root(parser));
    if (json_object_has_member(reply, "error")) {
        fprintf(stderr, "xensimctl: %s: %s\n",
                json_object_get_string_member(reply, "error"),
                json_object_get_string_member_with_default(reply, "message", ""));
        return NULL;
    }
    return json_object_ref(json_object_get_object_member(reply, "ok"));
}

/* ---- xenstore ---- */

static XsimXsc *
xsim_ctl_xs(const char *rundir)
{
    g_autofree char *path = g_build_filename(rundir, "xenstored", "socket", NULL);
    XsimXsc *xsc;
    int err = 0;

    if (!(xsc = xsim_xsc_connect(path, &err)))
        fprintf(stderr, "xensimctl: cannot connect to '%s': %s\n", path,
                g_strerror(err));
    return xsc;
}

/* The value, printable: xenstore values are bytes, maybe a guest's. */
static char *
xsim_ctl_printable(const char *value)
{
    GString *out = g_string_new(NULL);

    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p >= 0x20 && *p < 0x7f && *p != '\\' && *p != '"')
            g_string_append_c(out, *p);
        else
            g_string_append_printf(out, "\\x%02x", *p);
    }
    return g_string_free(out, FALSE);
}

static char *
xsim_ctl_read(XsimXsc *xsc,
              const char *fmt,
              ...) G_GNUC_PRINTF(2, 3);

static char *
xsim_ctl_read(XsimXsc *xsc,
              const char *fmt,
              ...)
{
    g_autofree char *path = NULL;
    g_autofree char *value = NULL;
    va_list ap;

    va_start(ap, fmt);
    path = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (xsim_xsc_read(xsc, path, &value) != 0)
        return NULL;
    return xsim_ctl_printable(value);
}

/* Like xenstore-ls: the tree, indented, with values. */
static int
xsim_ctl_tree_node(XsimXsc *xsc,
                   const char *path,
                   const char *name,
                   int depth)
{
    g_auto(GStrv) children = NULL;
    g_autofree char *value = NULL;
    g_autofree char *shown = NULL;
    int rc;

    if ((rc = xsim_xsc_read(xsc, path, &value)) != 0 && rc != ENOENT)
        value = NULL;
    shown = value ? xsim_ctl_printable(value) : g_strdup("");
    if (depth >= 0)
        printf("%*s%s = \"%s\"\n", depth, "", name, shown);
    if ((rc = xsim_xsc_directory(xsc, path, &children)) != 0)
        return rc == ENOENT && depth >= 0 ? 0 : rc;
    for (guint i = 0; children[i]; i++) {
        g_autofree char *child = g_strcmp0(path, "/") == 0 ?
            g_strdup_printf("/%s", children[i]) :
            g_strdup_printf("%s/%s", path, children[i]);

        if ((rc = xsim_ctl_tree_node(xsc, child, children[i], depth + 1)))
            return rc;
    }
    return 0;
}

static int
xsim_ctl_tree(const char *rundir,
              const char *path)
{
    g_autoptr(XsimXsc) xsc = xsim_ctl_xs(rundir);
    int rc;

    if (!xsc)
        return 1;
    if (path[0] != '/') {
        fprintf(stderr, "xensimctl: '%s' is not an absolute path\n", path);
        return 2;
    }
    if ((rc = xsim_ctl_tree_node(xsc, path, path, -1))) {
        fprintf(stderr, "xensimctl: %s: %s\n", path, g_strerror(rc));
        return 1;
    }
    return 0;
}

/* ---- commands ---- */

static const char *
xsim_ctl_state(JsonObject *info)
{
    static char s[7];

    /* xl list's columns: running blocked paused shutdown crashed dying */
    s[0] = json_object_get_boolean_member(info, "running") ? 'r' : '-';
    s[1] = json_object_get_boolean_member(info, "blocked") ? 'b' : '-';
    s[2] = json_object_get_boolean_member(info, "paused") ? 'p' : '-';
    s[3] = json_object_get_boolean_member(info, "shutdown") ? 's' : '-';
    s[4] = g_strcmp0(json_object_get_string_member(info, "shutdown_reason"),
                     "crash") == 0 ? 'c' : '-';
    s[5] = json_object_get_boolean_member(info, "dying") ? 'd' : '-';
    s[6] = '\0';
    return s;
}

static int
xsim_ctl_list(XsimCtl *ctl,
              const char *rundir)
{
    g_autoptr(JsonObject) ok = xsim_ctl_call(ctl, "list", NULL);
    g_autoptr(XsimXsc) xsc = NULL;
    JsonArray *doms;

    if (!ok)
        return 1;
    /* Names live in xenstore; without it the list is still worth having. */
    xsc = xsim_ctl_xs(rundir);
    doms = json_object_get_array_member(ok, "domains");
    printf("%-24s %5s %8s %5s %-6s %10s %s\n", "Name", "ID", "Mem", "VCPUs",
           "State", "Time(s)", "Reason");
    for (guint i = 0; i < json_array_get_length(doms); i++) {
        JsonObject *d = json_array_get_object_element(doms, i);
        gint64 domid = json_object_get_int_member(d, "domid");
        g_autofree char *name = NULL;
        const char *reason;

        if (xsc)
            name = xsim_ctl_read(xsc, "/local/domain/%" G_GINT64_FORMAT "/name",
                                 domid);
        if (!name)
            name = g_strdup(domid == 0 ? "Domain-0" : "(unnamed)");
        reason = json_object_get_string_member(d, "shutdown_reason");
        printf("%-24.24s %5" G_GINT64_FORMAT " %8" G_GINT64_FORMAT " %5"
               G_GINT64_FORMAT " %-6s %10.1f %s\n", name, domid,
               json_object_get_int_member(d, "cur_memkb") / 1024,
               json_object_get_int_member(d, "online_vcpus"),
               xsim_ctl_state(d),
               json_object_get_int_member(d, "cpu_time_ns") / 1e9,
               reason ? reason : "");
    }
    return 0;
}

static const char *const xsim_ctl_states[] = {
    "Unknown", "Initialising", "InitWait", "Initialised", "Connected",
    "Closing", "Closed", "Reconfiguring", "Reconfigured",
};

static const char *
xsim_ctl_state_name(const char *state)
{
    guint64 n;

    if (!state)
        return "-";
    if (!g_ascii_string_to_unsigned(state, 10, 0,
                                    G_N_ELEMENTS(xsim_ctl_states) - 1, &n, NULL))
        return "?";
    return xsim_ctl_states[n];
}

/* Every backend dom0 holds for the domain, with its frontend. */
static int
xsim_ctl_devices(const char *rundir,
                 guint64 domid)
{
    static const char *const kinds[] = { "vbd", "vif", "console", "vkb", "qdisk" };
    g_autoptr(XsimXsc) xsc = xsim_ctl_xs(rundir);
    guint found = 0;

    if (!xsc)
        return 1;
    printf("%-8s %-6s %-13s %-13s %s\n", "Kind", "Devid", "Backend", "Frontend",
           "Detail");
    for (guint k = 0; k < G_N_ELEMENTS(kinds); k++) {
        g_autofree char *dir = g_strdup_printf("/local/domain/0/backend/%s/%"
                                               G_GUINT64_FORMAT, kinds[k], domid);
        g_auto(GStrv) devids = NULL;

        if (xsim_xsc_directory(xsc, dir, &devids) != 0)
            continue;
        for (guint i = 0; devids[i]; i++) {
            g_autofree char *bstate = xsim_ctl_read(xsc, "%s/%s/state", dir, devids[i]);
            g_autofree char *fe = xsim_ctl_read(xsc, "%s/%s/frontend", dir, devids[i]);
            g_autofree char *fstate = fe ? xsim_ctl_read(xsc, "%s/state", fe) : NULL;
            g_autofree char *detail = NULL;
            g_autofree char *error = xsim_ctl_read(xsc, "%s/%s/hotplug-error",
                                                   dir, devids[i]);
            const char *what = g_str_equal(kinds[k], "vif") ? "mac" :
                               g_str_equal(kinds[k], "console") ? "tty" : "params";

            /* A console's pty is in its frontend, as xenconsoled writes it. */
            detail = g_str_equal(kinds[k], "console")
                ? (fe ? xsim_ctl_read(xsc, "%s/tty", fe) : NULL)
                : xsim_ctl_read(xsc, "%s/%s/%s", dir, devids[i], what);
            printf("%-8s %-6s %-13s %-13s %s%s%s%s\n", kinds[k], devids[i],
                   xsim_ctl_state_name(bstate),
                   fe && !fstate && g_str_equal(kinds[k], "console") ? "(primary)" :
                   xsim_ctl_state_name(fstate),
                   detail ? what : "", detail ? "=" : "", detail ? detail : "",
                   error ? " error: " : "");
            if (error)
                printf("         %s\n", error);
            found++;
        }
    }
    if (!found)
        printf("(no devices)\n");
    return 0;
}

static int
xsim_ctl_fault(XsimCtl *ctl,
               const char *kind,
               guint64 domid,
               const char *device,
               gint64 seconds)
{
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(JsonObject) ok = NULL;

    json_object_set_int_member(args, "domid", domid);
    json_object_set_string_member(args, "kind", kind);
    if (device)
        json_object_set_string_member(args, "device", device);
    if (seconds >= 0)
        json_object_set_int_member(args, "seconds", seconds);
    ok = xsim_ctl_call(ctl, "fault", args);
    return ok ? 0 : 1;
}

static int
xsim_ctl_usage(void)
{
    fprintf(stderr,
            "usage: xensimctl --rundir DIR COMMAND [ARGS]\n"
            "  list                              domains and their state\n"
            "  tree [PATH]                       dump the xenstore tree\n"
            "  devices DOMID                     a domain's devices\n"
            "  destroy DOMID                     destroy a domain behind the\n"
            "                                    toolstack's back (a fault)\n"
            "  crash DOMID                       crash the guest now\n"
            "  ignore-shutdown DOMID             make it ignore control/shutdown\n"
            "  garbage DOMID                     make it write garbage to xenstore\n"
            "  kill-backend DOMID KIND/DEVID     kill one backend\n"
            "  delay-backend DOMID KIND/DEVID S  stall one backend's handshake\n"
            "  fail-next-hotplug DOMID           the next backend up fails\n"
            "  disk-verify DOMID                 its NBD writer stops, reads back\n"
            "  stop                              tear every guest down, stop\n");
    return 2;
}

static bool
xsim_ctl_domid(const char *arg,
               guint64 *domid_r)
{
    if (!arg || !g_ascii_string_to_unsigned(arg, 10, 0, 0x7fef, domid_r, NULL)) {
        fprintf(stderr, "xensimctl: '%s' is not a domain id\n", arg ? arg : "");
        return false;
    }
    return true;
}

int
main(int argc,
     char **argv)
{
    g_autoptr(GOptionContext) octx = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *rundir = NULL;
    XsimCtl ctl = { .fd = -1 };
    const char *cmd;
    guint64 domid = 0;
    guint64 seconds;
    int nargs;
    int rc;
    GOptionEntry entries[] = {
        { "rundir", 'r', 0, G_OPTION_ARG_FILENAME, &rundir,
          "The simulated host's run directory", "DIR" },
        { NULL }
    };

    octx = g_option_context_new("COMMAND [ARGS] - inspect a simulated Xen host");
    g_option_context_add_main_entries(octx, entries, NULL);
    if (!g_option_context_parse(octx, &argc, &argv, &error)) {
        fprintf(stderr, "xensimctl: %s\n", error->message);
        return 2;
    }
    if (!rundir || argc < 2)
        return xsim_ctl_usage();
    /* The driver links a deep root's host directory to a short one (its
     * sockets could not be named below the root): name the sockets by
     * the directory the link leads to. */
    {
        char *real = realpath(rundir, NULL);

        if (real) {
            g_free(rundir);
            rundir = g_strdup(real);
            free(real);
        }
    }
    cmd = argv[1];
    nargs = argc - 2;

    if (g_str_equal(cmd, "tree")) {
        if (nargs > 1)
            return xsim_ctl_usage();
        return xsim_ctl_tree(rundir, nargs == 1 ? argv[2] : "/");
    }
    if (g_str_equal(cmd, "devices")) {
        if (nargs != 1 || !xsim_ctl_domid(argv[2], &domid))
            return xsim_ctl_usage();
        return xsim_ctl_devices(rundir, domid);
    }

    if (xsim_ctl_connect(&ctl, rundir) < 0)
        return 1;
    if (g_str_equal(cmd, "list") && nargs == 0) {
        rc = xsim_ctl_list(&ctl, rundir);
    } else if (g_str_equal(cmd, "stop") && nargs == 0) {
        g_autoptr(JsonObject) ok = xsim_ctl_call(&ctl, "stop", NULL);

        rc = ok ? 0 : 1;
    } else if (g_str_equal(cmd, "destroy") && nargs == 1) {
        if (xsim_ctl_domid(argv[2], &domid)) {
            g_autoptr(JsonObject) args = json_object_new();
            g_autoptr(JsonObject) ok = NULL;

            json_object_set_int_member(args, "domid", domid);
            ok = xsim_ctl_call(&ctl, "destroy", args);
            rc = ok ? 0 : 1;
        } else {
            rc = 2;
        }
    } else if ((g_str_equal(cmd, "crash") || g_str_equal(cmd, "ignore-shutdown") ||
                g_str_equal(cmd, "garbage") ||
                g_str_equal(cmd, "fail-next-hotplug") ||
                g_str_equal(cmd, "disk-verify")) && nargs == 1) {
        rc = xsim_ctl_domid(argv[2], &domid) ?
            xsim_ctl_fault(&ctl, cmd, domid, NULL, -1) : 2;
    } else if (g_str_equal(cmd, "kill-backend") && nargs == 2) {
        rc = xsim_ctl_domid(argv[2], &domid) ?
            xsim_ctl_fault(&ctl, cmd, domid, argv[3], -1) : 2;
    } else if (g_str_equal(cmd, "delay-backend") && nargs == 3) {
        if (!xsim_ctl_domid(argv[2], &domid) ||
            !g_ascii_string_to_unsigned(argv[4], 10, 0, 3600, &seconds, NULL)) {
            fprintf(stderr, "xensimctl: '%s' is not a number of seconds "
                    "(0..3600)\n", argv[4]);
            rc = 2;
        } else {
            rc = xsim_ctl_fault(&ctl, cmd, domid, argv[3], seconds);
        }
    } else {
        rc = xsim_ctl_usage();
    }
    close(ctl.fd);
    g_string_free(ctl.in, TRUE);
    return rc;
}
