/*
 * xsim_agent.c: the simulated guest's QEMU guest agent, the protocol
 *
 * What qemu-ga 7.2 (Debian 12's) answers on its channel, for the commands
 * a toolstack uses: one JSON object per command, a reply per command as
 * one JSON object and "\n"; {"return": ...} or {"error": {"class",
 * "desc"}}.  The guest's state the commands touch (its clock's offset,
 * its frozen file systems) lives here; what belongs to the guest (its
 * name, a shutdown) is asked of it through XsimAgentHost.
 *
 * Input is the toolstack's, so bounded all the same: a line longer than
 * XSIM_AGENT_LINE_MAX is dropped whole (an error reply), anything that is
 * not a JSON object with a string "execute" gets a GenericError, and a
 * 0xFF byte resets the parser as qemu-ga's does.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <arpa/inet.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "xsim_agent.h"

#define XSIM_AGENT_LINE_MAX (64 * 1024)
#define XSIM_AGENT_VERSION "7.2.0"

struct _XsimAgent {
    XsimAgentHost host;
    GString *line;
    bool dropping;          /* inside a line past the bound */
    gint64 clock_offset_ns; /* the guest's clock minus the host's */
    bool frozen;
};

static const char *const xsim_agent_commands[] = {
    "guest-sync", "guest-sync-delimited", "guest-ping", "guest-info",
    "guest-get-time", "guest-set-time", "guest-get-host-name",
    "guest-get-osinfo", "guest-get-timezone", "guest-get-users",
    "guest-fsfreeze-status", "guest-fsfreeze-freeze", "guest-fsfreeze-thaw",
    "guest-shutdown", "guest-network-get-interfaces",
    "guest-set-user-password",
};

XsimAgent *
xsim_agent_new(const XsimAgentHost *host)
{
    XsimAgent *agent = g_new0(XsimAgent, 1);

    agent->host = *host;
    agent->line = g_string_new(NULL);
    return agent;
}

void
xsim_agent_free(XsimAgent *agent)
{
    if (!agent)
        return;
    g_string_free(agent->line, TRUE);
    g_free(agent);
}

static void
xsim_agent_reply(GString *out,
                 JsonBuilder *b,
                 bool delimited)
{
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *text = json_to_string(root, FALSE);

    if (delimited)
        g_string_append_c(out, (char)0xff);
    g_string_append(out, text);
    g_string_append_c(out, '\n');
}

static void
xsim_agent_error(GString *out,
                 const char *klass,
                 const char *desc)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "error");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "class");
    json_builder_add_string_value(b, klass);
    json_builder_set_member_name(b, "desc");
    json_builder_add_string_value(b, desc);
    json_builder_end_object(b);
    json_builder_end_object(b);
    xsim_agent_reply(out, b, false);
}

static gint64
xsim_agent_now_ns(XsimAgent *agent)
{
    return g_get_real_time() * 1000 + agent->clock_offset_ns;
}

/* An argument, a number of the given range: false if absent or not. */
static bool
xsim_agent_int_arg(JsonObject *args,
                   const char *name,
                   gint64 *val_r)
{
    JsonNode *n = args ? json_object_get_member(args, name) : NULL;

    if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_INT64)
        return false;
    *val_r = json_node_get_int(n);
    return true;
}

static const char *
xsim_agent_str_arg(JsonObject *args,
                   const char *name)
{
    JsonNode *n = args ? json_object_get_member(args, name) : NULL;

    if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(n);
}

/* One interface of guest-network-get-interfaces, as qemu-ga gives it. */
static void
xsim_agent_iface(JsonBuilder *b,
                 const char *name,
                 const guint8 mac[6],
                 const char *addr,
                 guint prefix)
{
    g_autofree char *hw = g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x",
                                          mac[0], mac[1], mac[2], mac[3],
                                          mac[4], mac[5]);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "hardware-address");
    json_builder_add_string_value(b, hw);
    json_builder_set_member_name(b, "ip-addresses");
    json_builder_begin_array(b);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "ip-address-type");
    json_builder_add_string_value(b, "ipv4");
    json_builder_set_member_name(b, "ip-address");
    json_builder_add_string_value(b, addr);
    json_builder_set_member_name(b, "prefix");
    json_builder_add_int_value(b, prefix);
    json_builder_end_object(b);
    json_builder_end_array(b);
    json_builder_end_object(b);
}

/* Whether @s is base64 (RFC 4648, padded) of at most @max bytes. */
static bool
xsim_agent_base64(const char *s,
                  gsize max)
{
    gsize len = strlen(s), pad = 0;

    if (len == 0 || len % 4 != 0 || len / 4 * 3 > max + 2)
        return false;
    for (gsize i = 0; i < len; i++) {
        if (s[i] == '=' && i >= len - 2) {
            pad++;
            continue;
        }
        if (pad || !(g_ascii_isalnum(s[i]) || s[i] == '+' || s[i] == '/'))
            return false;
    }
    return true;
}

/*
 * guest-set-user-password: qemu-ga runs chpasswd (-e when crypted); the
 * simulated guest has one account, root, and says on its console what
 * chpasswd did, which is what a test can see of it.
 */
static bool
xsim_agent_set_password(XsimAgent *agent,
                        JsonObject *args,
                        GString *out)
{
    const char *user = xsim_agent_str_arg(args, "username");
    const char *pw = xsim_agent_str_arg(args, "password");
    JsonNode *crypted = args ? json_object_get_member(args, "crypted") : NULL;
    g_autofree guchar *plain = NULL;
    g_autofree char *line = NULL;
    gsize len;

    if (!user || !pw || !crypted || !JSON_NODE_HOLDS_VALUE(crypted) ||
        json_node_get_value_type(crypted) != G_TYPE_BOOLEAN) {
        xsim_agent_error(out, "GenericError",
                         "Parameter 'username', 'password' or 'crypted' is missing");
        return false;
    }
    if (!xsim_agent_base64(pw, 1024)) {
        xsim_agent_error(out, "GenericError", "Invalid base64 data");
        return false;
    }
    plain = g_base64_decode(pw, &len);
    if (len == 0 || memchr(plain, '\n', len) || memchr(plain, ':', len) ||
        memchr(plain, '\0', len)) {
        xsim_agent_error(out, "GenericError",
                         "Password must not contain newline, colon or NUL");
        return false;
    }
    if (!g_str_equal(user, "root")) {
        xsim_agent_error(out, "GenericError",
                         "child process has failed to set user password");
        return false;
    }
    line = g_strdup_printf("chpasswd: password of 'root' changed (%s, %zu bytes)",
                           json_node_get_boolean(crypted) ? "crypted" : "plain",
                           len);
    agent->host.console(agent->host.opaque, line);
    return true;
}

/* One command; its reply into @out. */
static void
xsim_agent_command(XsimAgent *agent,
                   const char *execute,
                   JsonObject *args,
                   GString *out)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    bool delimited = false;
    gint64 n;

    if (agent->host.long_reply && !g_str_has_prefix(execute, "guest-sync")) {
        g_string_append(out, "{\"return\": \"");
        for (guint i = 0; i < 2 * 1024 * 1024 / 64; i++)
            g_string_append(out, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        g_string_append(out, "\"}\n");
        return;
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "return");
    if (g_str_equal(execute, "guest-sync") ||
        g_str_equal(execute, "guest-sync-delimited")) {
        if (!xsim_agent_int_arg(args, "id", &n)) {
            xsim_agent_error(out, "GenericError",
                             "Parameter 'id' is missing");
            return;
        }
        delimited = g_str_equal(execute, "guest-sync-delimited");
        json_builder_add_int_value(b, agent->host.wrong_sync ? n + 1 : n);
    } else if (g_str_equal(execute, "guest-ping") ||
               g_str_equal(execute, "guest-set-time") ||
               g_str_equal(execute, "guest-shutdown")) {
        if (g_str_equal(execute, "guest-set-time")) {
            /* Without a time, the guest reads its hardware clock: the
             * host's, here. */
            if (xsim_agent_int_arg(args, "time", &n))
                agent->clock_offset_ns = n - g_get_real_time() * 1000;
            else
                agent->clock_offset_ns = 0;
        } else if (g_str_equal(execute, "guest-shutdown")) {
            const char *mode = xsim_agent_str_arg(args, "mode");

            if (!mode)
                mode = "powerdown";
            if (!g_str_equal(mode, "powerdown") &&
                !g_str_equal(mode, "halt") && !g_str_equal(mode, "reboot")) {
                xsim_agent_error(out, "GenericError",
                                 "Parameter 'mode' has an invalid value");
                return;
            }
            /* qemu-ga answers nothing to a shutdown that happens. */
            agent->host.shutdown(agent->host.opaque, mode);
            return;
        }
        json_builder_begin_object(b);
        json_builder_end_object(b);
    } else if (g_str_equal(execute, "guest-info")) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "version");
        json_builder_add_string_value(b, XSIM_AGENT_VERSION);
        json_builder_set_member_name(b, "supported_commands");
        json_builder_begin_array(b);
        for (guint i = 0; i < G_N_ELEMENTS(xsim_agent_commands); i++) {
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "name");
            json_builder_add_string_value(b, xsim_agent_commands[i]);
            json_builder_set_member_name(b, "enabled");
            json_builder_add_boolean_value(b, true);
            json_builder_set_member_name(b, "success-response");
            json_builder_add_boolean_value(
                b, !g_str_equal(xsim_agent_commands[i], "guest-shutdown"));
            json_builder_end_object(b);
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
    } else if (g_str_equal(execute, "guest-get-time")) {
        json_builder_add_int_value(b, xsim_agent_now_ns(agent));
    } else if (g_str_equal(execute, "guest-get-host-name")) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "host-name");
        json_builder_add_string_value(b,
                                      agent->host.hostname(agent->host.opaque));
        json_builder_end_object(b);
    } else if (g_str_equal(execute, "guest-get-osinfo")) {
        static const char *const kv[] = {
            "id", "debian", "name", "Debian GNU/Linux",
            "pretty-name", "Debian GNU/Linux 12 (bookworm)",
            "version", "12 (bookworm)", "version-id", "12",
            "kernel-release", "6.1.0-xensim", "kernel-version", "#1 SMP",
            "machine", "x86_64",
        };

        json_builder_begin_object(b);
        for (guint i = 0; i < G_N_ELEMENTS(kv); i += 2) {
            json_builder_set_member_name(b, kv[i]);
            json_builder_add_string_value(b, kv[i + 1]);
        }
        json_builder_end_object(b);
    } else if (g_str_equal(execute, "guest-get-timezone")) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "zone");
        json_builder_add_string_value(b, "UTC");
        json_builder_set_member_name(b, "offset");
        json_builder_add_int_value(b, 0);
        json_builder_end_object(b);
    } else if (g_str_equal(execute, "guest-set-user-password")) {
        if (!xsim_agent_set_password(agent, args, out))
            return;
        json_builder_begin_object(b);
        json_builder_end_object(b);
    } else if (g_str_equal(execute, "guest-network-get-interfaces")) {
        static const guint8 nomac[6];
        g_autoptr(GArray) ifaces = agent->host.interfaces(agent->host.opaque);

        json_builder_begin_array(b);
        xsim_agent_iface(b, "lo", nomac, "127.0.0.1", 8);
        for (guint i = 0; i < ifaces->len; i++) {
            const XsimAgentIface *it = &g_array_index(ifaces, XsimAgentIface, i);
            char text[INET_ADDRSTRLEN];

            inet_ntop(AF_INET, &it->addr, text, sizeof(text));
            xsim_agent_iface(b, it->name, it->mac, text, it->prefix);
        }
        json_builder_end_array(b);
    } else if (g_str_equal(execute, "guest-get-users")) {
        json_builder_begin_array(b);
        json_builder_end_array(b);
    } else if (g_str_equal(execute, "guest-fsfreeze-status")) {
        json_builder_add_string_value(b, agent->frozen ? "frozen" : "thawed");
    } else if (g_str_equal(execute, "guest-fsfreeze-freeze")) {
        if (agent->frozen) {
            xsim_agent_error(out, "GenericError",
                             "Command guest-fsfreeze-freeze has been disabled: "
                             "the agent is in frozen state");
            return;
        }
        agent->frozen = true;
        json_builder_add_int_value(b, 1);    /* its root file system */
    } else if (g_str_equal(execute, "guest-fsfreeze-thaw")) {
        json_builder_add_int_value(b, agent->frozen ? 1 : 0);
        agent->frozen = false;
    } else {
        g_autofree char *desc = g_strdup_printf(
            "The command %.64s has not been found", execute);

        xsim_agent_error(out, "CommandNotFound", desc);
        return;
    }
    json_builder_end_object(b);
    xsim_agent_reply(out, b, delimited);
}

/* While frozen, qemu-ga runs only what thaws or looks. */
static bool
xsim_agent_allowed_frozen(const char *execute)
{
    return g_str_equal(execute, "guest-ping") ||
           g_str_equal(execute, "guest-info") ||
           g_str_equal(execute, "guest-sync") ||
           g_str_equal(execute, "guest-sync-delimited") ||
           g_str_equal(execute, "guest-fsfreeze-status") ||
           g_str_equal(execute, "guest-fsfreeze-thaw");
}

static void
xsim_agent_line(XsimAgent *agent,
                const char *line,
                gsize len,
                GString *out)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    JsonObject *obj, *args = NULL;
    JsonNode *root, *node;
    const char *execute;

    while (len > 0 && g_ascii_isspace(line[len - 1]))
        len--;
    if (len == 0)
        return;
    if (!json_parser_load_from_data(parser, line, len, NULL) ||
        !(root = json_parser_get_root(parser)) ||
        !JSON_NODE_HOLDS_OBJECT(root)) {
        xsim_agent_error(out, "GenericError", "JSON parse error");
        return;
    }
    obj = json_node_get_object(root);
    node = json_object_get_member(obj, "execute");
    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING) {
        xsim_agent_error(out, "GenericError",
                         "Expecting a command, found no 'execute'");
        return;
    }
    execute = json_node_get_string(node);
    node = json_object_get_member(obj, "arguments");
    if (node && JSON_NODE_HOLDS_OBJECT(node))
        args = json_node_get_object(node);
    if (agent->frozen && !xsim_agent_allowed_frozen(execute)) {
        g_autofree char *desc = g_strdup_printf(
            "Command %.64s has been disabled: the agent is in frozen state",
            execute);

        xsim_agent_error(out, "GenericError", desc);
        return;
    }
    xsim_agent_command(agent, execute, args, out);
}

void
xsim_agent_input(XsimAgent *agent,
                 const char *data,
                 gsize len,
                 GString *out)
{
    for (gsize i = 0; i < len; i++) {
        char c = data[i];

        if ((guchar)c == 0xff) {
            /* The host resynchronises: whatever came before is dropped. */
            g_string_truncate(agent->line, 0);
            agent->dropping = false;
            continue;
        }
        if (c == '\n') {
            if (agent->dropping)
                xsim_agent_error(out, "GenericError", "Command too long");
            else
                xsim_agent_line(agent, agent->line->str, agent->line->len,
                                out);
            g_string_truncate(agent->line, 0);
            agent->dropping = false;
            continue;
        }
        if (agent->dropping)
            continue;
        if (agent->line->len >= XSIM_AGENT_LINE_MAX) {
            agent->dropping = true;
            g_string_truncate(agent->line, 0);
            continue;
        }
        g_string_append_c(agent->line, c);
    }
}
