/*
 * xlite_qmp.c: an asynchronous QMP client
 *
 * The contract is in xlite_qmp.h.  This file follows a connection through
 * its life: opening, writing, reading and splitting lines, checking each
 * message, dispatching it, failing, freeing.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "xlite_qmp.h"

typedef enum {
    QMP_GREETING,        /* waiting for the peer's greeting */
    QMP_CAPABILITIES,    /* qmp_capabilities sent, waiting for its reply */
    QMP_READY,
    QMP_DEAD,
} qmp_phase;

typedef struct {
    xlite__qmp *qmp;
    uint64_t id;
    char *name;
    xlite__qmp_reply_callback *cb;
    void *opaque;
    xlite__ev_time timeout;
} qmp_cmd;

struct xlite__qmp {
    /* caller */
    xlite__qmp_callbacks cbs;
    void *opaque;
    /* private */
    xlite_ctx *ctx;
    int fd;
    xlite__ev_fd ev;
    xlite__ev_time handshake_timeout;
    qmp_phase phase;
    GString *in;
    GString *out;           /* written as the socket takes it */
    GString *held;          /* commands sent before the handshake ended */
    uint64_t next_id;
    GHashTable *pending;    /* id -> qmp_cmd */
    GHashTable *abandoned;  /* ids of commands that timed out */
    char *peer_version;
    unsigned int dispatching;  /* callbacks under way */
    bool freed;             /* xlite__qmp_free during a callback */
};

static void qmp_fail(xlite__egc *egc, xlite__qmp *qmp, int rc);

/* ---------- commands ---------- */

static void
cmd_free(qmp_cmd *cmd)
{
    if (!cmd)
        return;
    xlite__ev_time_deregister(cmd->qmp->ctx, &cmd->timeout);
    g_free(cmd->name);
    g_free(cmd);
}

/* Calls back a command that is no longer pending.  Returns false if the
 * callback freed the connection. */
static bool
cmd_complete(xlite__egc *egc, qmp_cmd *cmd, int rc, JsonNode *ret,
             const char *errclass, const char *errdesc)
{
    xlite__qmp *qmp = cmd->qmp;
    bool alive;

    qmp->dispatching++;
    cmd->cb(egc, qmp, rc, ret, errclass, errdesc, cmd->opaque);
    cmd_free(cmd);
    qmp->dispatching--;
    alive = !qmp->freed;
    if (!alive && qmp->dispatching == 0)
        xlite__qmp_free(egc->ctx, qmp);
    return alive;
}

static void
cmd_timeout_cb(xlite__egc *egc, xlite__ev_time *ev)
{
    qmp_cmd *cmd = XLITE__CONTAINER_OF(ev, qmp_cmd, timeout);
    xlite__qmp *qmp = cmd->qmp;
    int rc;

    g_hash_table_steal(qmp->pending, &cmd->id);
    g_hash_table_add(qmp->abandoned, g_memdup2(&cmd->id, sizeof(cmd->id)));
    rc = XLITE_ERROR(egc->ctx, -ETIMEDOUT,
                     "the disk server did not answer '%s' in time",
                     cmd->name);
    cmd_complete(egc, cmd, rc, NULL, NULL, NULL);
}

/* ---------- writing ---------- */

static int
qmp_flush(xlite__egc *egc, xlite__qmp *qmp)
{
    while (qmp->out->len > 0) {
        ssize_t r = send(qmp->fd, qmp->out->str, qmp->out->len,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (r < 0)
            return XLITE_ERROR(egc->ctx, -EPIPE,
                               "cannot write to the disk server: %s",
                               g_strerror(errno));
        g_string_erase(qmp->out, 0, r);
    }
    return xlite__ev_fd_modify(egc->ctx, &qmp->ev,
                               qmp->out->len ? POLLIN | POLLOUT : POLLIN);
}

static void
append_message(GString *buf, const char *name, JsonObject *args,
               uint64_t id)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "execute");
    json_builder_add_string_value(b, name);
    if (args) {
        JsonNode *node = json_node_new(JSON_NODE_OBJECT);

        json_node_set_object(node, args);
        json_builder_set_member_name(b, "arguments");
        json_builder_add_value(b, node);
    }
    json_builder_set_member_name(b, "id");
    json_builder_add_int_value(b, (gint64)id);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    text = json_generator_to_data(gen, NULL);
    g_string_append(buf, text);
    g_string_append_c(buf, '\n');
}

int
xlite__qmp_command(xlite__egc *egc, xlite__qmp *qmp, const char *name,
                   JsonObject *args, int64_t timeout_usec,
                   xlite__qmp_reply_callback *cb, void *opaque)
{
    xlite_ctx *ctx = egc->ctx;
    g_autoptr(JsonObject) owned_args = args;
    qmp_cmd *cmd;
    int rc;

    if (qmp->phase == QMP_DEAD)
        return XLITE_ERROR(ctx, -EPIPE, "the connection to the disk server "
                           "is closed; cannot send '%s'", name);
    cmd = g_new0(qmp_cmd, 1);
    cmd->qmp = qmp;
    cmd->id = ++qmp->next_id;
    cmd->name = g_strdup(name);
    cmd->cb = cb;
    cmd->opaque = opaque;
    xlite__ev_time_init(&cmd->timeout);
    if ((rc = xlite__ev_time_register_rel(ctx, &cmd->timeout, cmd_timeout_cb,
                                          timeout_usec < 0 ?
                                          XLITE__QMP_COMMAND_TIMEOUT :
                                          timeout_usec)) < 0) {
        cmd_free(cmd);
        return rc;
    }
    g_hash_table_insert(qmp->pending, &cmd->id, cmd);
    if (qmp->phase != QMP_READY) {
        append_message(qmp->held, name, owned_args, cmd->id);
        return 0;
    }
    /* Written from the fd callback, so that nothing (a write error that
     * kills the connection) is called back from inside this call. */
    append_message(qmp->out, name, owned_args, cmd->id);
    if ((rc = xlite__ev_fd_modify(ctx, &qmp->ev, POLLIN | POLLOUT)) < 0) {
        g_hash_table_remove(qmp->pending, &cmd->id);
        cmd_free(cmd);
        return rc;
    }
    return 0;
}

/* ---------- reading and checking ---------- */

static int
protocol_error(xlite__egc *egc, const char *what)
{
    return XLITE_ERROR(egc->ctx, -EPROTO,
                       "the disk server sent an invalid QMP message: %s",
                       what);
}

/* Only members in allowed[] (NULL-terminated) may appear. */
static bool
only_members(JsonObject *obj, const char *const *allowed)
{
    g_autoptr(GList) names = json_object_get_members(obj);

    for (GList *l = names; l; l = l->next) {
        if (!g_strv_contains(allowed, l->data))
            return false;
    }
    return true;
}

static bool
member_is(JsonObject *obj, const char *name, JsonNodeType type)
{
    JsonNode *n = json_object_get_member(obj, name);

    return n && JSON_NODE_TYPE(n) == type;
}

static bool
member_is_int(JsonObject *obj, const char *name)
{
    JsonNode *n = json_object_get_member(obj, name);

    return n && JSON_NODE_HOLDS_VALUE(n) &&
           json_node_get_value_type(n) == G_TYPE_INT64;
}

static int
handle_greeting(xlite__egc *egc, xlite__qmp *qmp, JsonObject *msg)
{
    static const char *const top[] = { "QMP", NULL };
    JsonObject *qmpobj;
    JsonObject *version;
    JsonObject *qemu;
    int rc;

    if (qmp->phase != QMP_GREETING)
        return protocol_error(egc, "a second greeting");
    if (!only_members(msg, top) || !member_is(msg, "QMP", JSON_NODE_OBJECT))
        return protocol_error(egc, "a malformed greeting");
    qmpobj = json_object_get_object_member(msg, "QMP");
    if (!member_is(qmpobj, "version", JSON_NODE_OBJECT) ||
        !member_is(qmpobj, "capabilities", JSON_NODE_ARRAY))
        return protocol_error(egc, "a greeting without version or "
                              "capabilities");
    version = json_object_get_object_member(qmpobj, "version");
    if (!member_is(version, "qemu", JSON_NODE_OBJECT))
        return protocol_error(egc, "a greeting without the QEMU version");
    qemu = json_object_get_object_member(version, "qemu");
    if (!member_is_int(qemu, "major") || !member_is_int(qemu, "minor") ||
        !member_is_int(qemu, "micro"))
        return protocol_error(egc, "a greeting with a malformed version");
    g_free(qmp->peer_version);
    qmp->peer_version =
        g_strdup_printf("%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT
                        ".%" G_GINT64_FORMAT,
                        json_object_get_int_member(qemu, "major"),
                        json_object_get_int_member(qemu, "minor"),
                        json_object_get_int_member(qemu, "micro"));

    /* qmp_capabilities goes first, before any command held meanwhile. */
    qmp->phase = QMP_CAPABILITIES;
    append_message(qmp->out, "qmp_capabilities", NULL, 0);
    if ((rc = qmp_flush(egc, qmp)) < 0)
        return rc;
    return 0;
}

static int
handle_capabilities_reply(xlite__egc *egc, xlite__qmp *qmp, JsonObject *msg)
{
    int rc;

    if (!json_object_has_member(msg, "return"))
        return XLITE_ERROR(egc->ctx, -EPROTO, "the disk server refused "
                           "QMP capabilities negotiation");
    xlite__ev_time_deregister(egc->ctx, &qmp->handshake_timeout);
    qmp->phase = QMP_READY;
    g_string_append_len(qmp->out, qmp->held->str, qmp->held->len);
    g_string_truncate(qmp->held, 0);
    if ((rc = qmp_flush(egc, qmp)) < 0)
        return rc;
    if (qmp->cbs.state) {
        qmp->dispatching++;
        qmp->cbs.state(egc, qmp, 0, qmp->opaque);
        qmp->dispatching--;
        if (qmp->freed) {
            if (qmp->dispatching == 0)
                xlite__qmp_free(egc->ctx, qmp);
            return 1;
        }
    }
    return 0;
}

/* Returns < 0 on a protocol error, 1 if a callback freed the connection,
 * else 0. */
static int
handle_reply(xlite__egc *egc, xlite__qmp *qmp, JsonObject *msg)
{
    static const char *const top[] = { "return", "error", "id", NULL };
    static const char *const errkeys[] = { "class", "desc", NULL };
    bool is_error = json_object_has_member(msg, "error");
    JsonObject *err = NULL;
    qmp_cmd *cmd;
    uint64_t id;

    if (!only_members(msg, top) ||
        is_error == json_object_has_member(msg, "return"))
        return protocol_error(egc, "a reply with both or neither of "
                              "'return' and 'error', or unknown members");
    if (is_error) {
        if (!member_is(msg, "error", JSON_NODE_OBJECT))
            return protocol_error(egc, "an error that is not an object");
        err = json_object_get_object_member(msg, "error");
        if (!only_members(err, errkeys) ||
            !member_is(err, "class", JSON_NODE_VALUE) ||
            !member_is(err, "desc", JSON_NODE_VALUE) ||
            json_node_get_value_type(json_object_get_member(err, "class")) !=
                G_TYPE_STRING ||
            json_node_get_value_type(json_object_get_member(err, "desc")) !=
                G_TYPE_STRING)
            return protocol_error(egc, "an error without class and "
                                  "description");
    }
    if (!member_is_int(msg, "id") || json_object_get_int_member(msg, "id") < 0)
        return protocol_error(egc, "a reply without a valid id");
    id = (uint64_t)json_object_get_int_member(msg, "id");

    if (qmp->phase == QMP_CAPABILITIES) {
        if (id != 0)
            return protocol_error(egc, "a reply before the handshake ended");
        if (is_error)
            return XLITE_ERROR(egc->ctx, -EPROTO, "the disk server refused "
                               "QMP capabilities negotiation: %s",
                               json_object_get_string_member(err, "desc"));
        return handle_capabilities_reply(egc, qmp, msg);
    }
    if (qmp->phase != QMP_READY)
        return protocol_error(egc, "a reply before the greeting");

    if (!(cmd = g_hash_table_lookup(qmp->pending, &id))) {
        if (g_hash_table_remove(qmp->abandoned, &id)) {
            XLITE_LOG(egc->ctx, XLITE_LOG_DEBUG, "late reply to command %"
                      G_GUINT64_FORMAT " dropped", id);
            return 0;
        }
        return protocol_error(egc, "a reply to no command");
    }
    g_hash_table_steal(qmp->pending, &id);
    if (is_error)
        return cmd_complete(egc, cmd, -EIO, NULL,
                            json_object_get_string_member(err, "class"),
                            json_object_get_string_member(err, "desc"))
               ? 0 : 1;
    return cmd_complete(egc, cmd, 0, json_object_get_member(msg, "return"),
                        NULL, NULL) ? 0 : 1;
}

static int
handle_event(xlite__egc *egc, xlite__qmp *qmp, JsonObject *msg)
{
    static const char *const top[] = { "event", "data", "timestamp", NULL };
    static const char *const tskeys[] = { "seconds", "microseconds", NULL };
    JsonObject *ts;
    JsonObject *data = NULL;
    const char *name;
    int64_t usec;

    if (!only_members(msg, top) ||
        !member_is(msg, "event", JSON_NODE_VALUE) ||
        json_node_get_value_type(json_object_get_member(msg, "event")) !=
            G_TYPE_STRING ||
        !member_is(msg, "timestamp", JSON_NODE_OBJECT))
        return protocol_error(egc, "an event without name or timestamp");
    name = json_object_get_string_member(msg, "event");
    if (!*name || strlen(name) > 64)
        return protocol_error(egc, "an event with an invalid name");
    ts = json_object_get_object_member(msg, "timestamp");
    if (!only_members(ts, tskeys) || !member_is_int(ts, "seconds") ||
        !member_is_int(ts, "microseconds"))
        return protocol_error(egc, "an event with a malformed timestamp");
    if (json_object_has_member(msg, "data")) {
        if (!member_is(msg, "data", JSON_NODE_OBJECT))
            return protocol_error(egc, "an event whose data is not an "
                                  "object");
        data = json_object_get_object_member(msg, "data");
    }
    if (qmp->phase != QMP_READY)
        return protocol_error(egc, "an event before the handshake ended");
    usec = json_object_get_int_member(ts, "seconds") * G_USEC_PER_SEC +
           json_object_get_int_member(ts, "microseconds");
    if (!qmp->cbs.event)
        return 0;
    qmp->dispatching++;
    qmp->cbs.event(egc, qmp, name, data, usec, qmp->opaque);
    qmp->dispatching--;
    if (qmp->freed) {
        if (qmp->dispatching == 0)
            xlite__qmp_free(egc->ctx, qmp);
        return 1;
    }
    return 0;
}

static int
handle_line(xlite__egc *egc, xlite__qmp *qmp, const char *line, size_t len)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(GError) err = NULL;
    JsonNode *root;
    JsonObject *msg;

    if (memchr(line, '\0', len))
        return protocol_error(egc, "a line with a NUL byte");
    if (!json_parser_load_from_data(parser, line, len, &err)) {
        g_autofree char *what = g_strdup_printf("not JSON (%s)",
                                                err->message);
        return protocol_error(egc, what);
    }
    root = json_parser_get_root(parser);
    if (!root || JSON_NODE_TYPE(root) != JSON_NODE_OBJECT)
        return protocol_error(egc, "a line that is not a JSON object");
    msg = json_node_get_object(root);
    if (json_object_has_member(msg, "QMP"))
        return handle_greeting(egc, qmp, msg);
    if (json_object_has_member(msg, "event"))
        return handle_event(egc, qmp, msg);
    if (json_object_has_member(msg, "return") ||
        json_object_has_member(msg, "error"))
        return handle_reply(egc, qmp, msg);
    return protocol_error(egc, "neither greeting, reply nor event");
}

/* Handles every complete line in the input buffer.  Returns < 0 on a
 * protocol error, 1 if the connection was freed, else 0. */
static int
handle_input(xlite__egc *egc, xlite__qmp *qmp)
{
    size_t start = 0;
    int rc = 0;

    for (;;) {
        char *nl = memchr(qmp->in->str + start, '\n', qmp->in->len - start);
        size_t len;

        if (!nl)
            break;
        len = nl - (qmp->in->str + start);
        if (len > 0 && qmp->in->str[start + len - 1] == '\r')
            len--;
        if (len > XLITE__QMP_LINE_MAX)
            return protocol_error(egc, "a line longer than 1 MiB");
        if (len > 0 &&
            (rc = handle_line(egc, qmp, qmp->in->str + start, len)) != 0)
            return rc;
        start = nl + 1 - qmp->in->str;
        if (qmp->phase == QMP_DEAD)
            return 0;
    }
    g_string_erase(qmp->in, 0, start);
    if (qmp->in->len > XLITE__QMP_LINE_MAX)
        return protocol_error(egc, "a line longer than 1 MiB");
    return 0;
}

static void
qmp_fd_cb(xlite__egc *egc, xlite__ev_fd *ev, int fd, short events,
          short revents)
{
    xlite__qmp *qmp = XLITE__CONTAINER_OF(ev, xlite__qmp, ev);
    char buf[16384];
    int rc;

    if (revents & POLLOUT) {
        if ((rc = qmp_flush(egc, qmp)) < 0) {
            qmp_fail(egc, qmp, rc);
            return;
        }
    }
    if (!(revents & (POLLIN | POLLHUP | POLLERR)))
        return;
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            /* Whatever complete lines came before the end still count. */
            if (r == 0 && (rc = handle_input(egc, qmp)) != 0) {
                if (rc < 0)
                    qmp_fail(egc, qmp, rc);
                return;
            }
            rc = r == 0
                 ? XLITE_ERROR(egc->ctx, -ECONNRESET, "the disk server "
                               "closed its QMP connection")
                 : XLITE_ERROR(egc->ctx, -ECONNRESET, "cannot read from the "
                               "disk server: %s", g_strerror(errno));
            qmp_fail(egc, qmp, rc);
            return;
        }
        g_string_append_len(qmp->in, buf, r);
        if ((rc = handle_input(egc, qmp)) != 0) {
            if (rc < 0)
                qmp_fail(egc, qmp, rc);
            return;
        }
        if (qmp->phase == QMP_DEAD)
            return;
    }
}

/* ---------- failing ---------- */

static void
handshake_timeout_cb(xlite__egc *egc, xlite__ev_time *ev)
{
    xlite__qmp *qmp = XLITE__CONTAINER_OF(ev, xlite__qmp, handshake_timeout);

    qmp_fail(egc, qmp,
             XLITE_ERROR(egc->ctx, -ETIMEDOUT, "the disk server did not "
                         "complete the QMP handshake in time (is another "
                         "client connected to it?)"));
}

/* The connection is dead: every pending command, then the owner, are
 * told rc (once).  The socket is closed at once; the struct lives until
 * the owner frees it. */
static void
qmp_fail(xlite__egc *egc, xlite__qmp *qmp, int rc)
{
    xlite_ctx *ctx = egc->ctx;
    GHashTableIter it;
    gpointer value;

    if (qmp->phase == QMP_DEAD)
        return;
    qmp->phase = QMP_DEAD;
    xlite__ev_fd_deregister(ctx, &qmp->ev);
    xlite__ev_time_deregister(ctx, &qmp->handshake_timeout);
    xlite__close(&qmp->fd);

    qmp->dispatching++;
    g_hash_table_iter_init(&it, qmp->pending);
    while (!qmp->freed && g_hash_table_iter_next(&it, NULL, &value)) {
        qmp_cmd *cmd = value;

        g_hash_table_iter_steal(&it);
        cmd->cb(egc, qmp, rc, NULL, NULL, NULL, cmd->opaque);
        cmd_free(cmd);
        /* A callback may have freed the connection (then the table is
         * gone) or sent a command (refused: dead), so start over. */
        if (qmp->freed)
            break;
        g_hash_table_iter_init(&it, qmp->pending);
    }
    if (!qmp->freed && qmp->cbs.state)
        qmp->cbs.state(egc, qmp, rc, qmp->opaque);
    qmp->dispatching--;
    if (qmp->freed && qmp->dispatching == 0)
        xlite__qmp_free(ctx, qmp);
}

/* ---------- opening ---------- */

int
xlite__qmp_open_fd(xlite__egc *egc, int fd, const xlite__qmp_callbacks *cbs,
                   void *opaque, xlite__qmp **qmp_r)
{
    xlite_ctx *ctx = egc->ctx;
    xlite__qmp *qmp;
    int rc;

    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        rc = XLITE_ERROR(ctx, -errno, "cannot make the QMP socket "
                         "non-blocking: %s", g_strerror(errno));
        close(fd);
        return rc;
    }
    qmp = g_new0(xlite__qmp, 1);
    qmp->cbs = *cbs;
    qmp->opaque = opaque;
    qmp->ctx = ctx;
    qmp->fd = fd;
    qmp->phase = QMP_GREETING;
    qmp->in = g_string_new(NULL);
    qmp->out = g_string_new(NULL);
    qmp->held = g_string_new(NULL);
    qmp->pending = g_hash_table_new(g_int64_hash, g_int64_equal);
    qmp->abandoned = g_hash_table_new_full(g_int64_hash, g_int64_equal,
                                           g_free, NULL);
    qmp->peer_version = g_strdup("");
    xlite__ev_fd_init(&qmp->ev);
    xlite__ev_time_init(&qmp->handshake_timeout);

    if ((rc = xlite__ev_fd_register(ctx, &qmp->ev, qmp_fd_cb, fd,
                                    POLLIN)) < 0 ||
        (rc = xlite__ev_time_register_rel(ctx, &qmp->handshake_timeout,
                                          handshake_timeout_cb,
                                          XLITE__QMP_HANDSHAKE_TIMEOUT)) < 0) {
        xlite__qmp_free(ctx, qmp);
        return rc;
    }
    *qmp_r = qmp;
    return 0;
}

int
xlite__qmp_connect(xlite__egc *egc, const char *path,
                   const xlite__qmp_callbacks *cbs, void *opaque,
                   xlite__qmp **qmp_r)
{
    xlite_ctx *ctx = egc->ctx;
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd;
    int r;

    if (strlen(path) >= sizeof(sun.sun_path))
        return XLITE_ERROR(ctx, -ENAMETOOLONG, "the QMP socket path %s is "
                           "too long", path);
    strcpy(sun.sun_path, path);
    xlite__nofork_lock();
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    xlite__nofork_unlock();
    if (fd < 0)
        return XLITE_ERROR(ctx, -errno, "cannot create a socket: %s",
                           g_strerror(errno));
    /* A unix socket connects at once or not at all (a full backlog is
     * EAGAIN only for non-blocking sockets, which this is not yet). */
    do {
        r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        int err = errno;

        close(fd);
        return XLITE_ERROR(ctx, -err, "cannot connect to the disk server at "
                           "%s: %s", path, g_strerror(err));
    }
    return xlite__qmp_open_fd(egc, fd, cbs, opaque, qmp_r);
}

bool
xlite__qmp_is_ready(const xlite__qmp *qmp)
{
    return qmp->phase == QMP_READY;
}

bool
xlite__qmp_is_dead(const xlite__qmp *qmp)
{
    return qmp->phase == QMP_DEAD;
}

const char *
xlite__qmp_peer_version(const xlite__qmp *qmp)
{
    return qmp->peer_version;
}

/* ---------- freeing ---------- */

void
xlite__qmp_free(xlite_ctx *ctx, xlite__qmp *qmp)
{
    GHashTableIter it;
    gpointer value;

    if (!qmp)
        return;
    if (qmp->dispatching > 0) {
        /* Inside one of its callbacks: stop everything now, free when the
         * callback returns. */
        qmp->freed = true;
        qmp->phase = QMP_DEAD;
        xlite__ev_fd_deregister(ctx, &qmp->ev);
        xlite__ev_time_deregister(ctx, &qmp->handshake_timeout);
        xlite__close(&qmp->fd);
        return;
    }
    xlite__ev_fd_deregister(ctx, &qmp->ev);
    xlite__ev_time_deregister(ctx, &qmp->handshake_timeout);
    xlite__close(&qmp->fd);
    g_hash_table_iter_init(&it, qmp->pending);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        g_hash_table_iter_steal(&it);
        cmd_free(value);
    }
    g_hash_table_unref(qmp->pending);
    g_hash_table_unref(qmp->abandoned);
    g_string_free(qmp->in, TRUE);
    g_string_free(qmp->out, TRUE);
    g_string_free(qmp->held, TRUE);
    g_free(qmp->peer_version);
    g_free(qmp);
}
