/*
 * qmppeer.c: the scripted fake QMP peer (see qmppeer.h)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "qmppeer.h"

struct qmp_peer {
    const peer_step *script;
    int fd;
    int listen_fd;
    pthread_t tid;
    GString *in;
    GString *failure;
    char *last_id;
    const char *poll_state;     /* PEER_POLL_STATE */
};

static void
peer_fail(qmp_peer *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (p->failure->len)
        g_string_append(p->failure, "; ");
    g_string_append_vprintf(p->failure, fmt, ap);
    va_end(ap);
}

static bool
peer_send(qmp_peer *p, const char *text)
{
    g_autofree char *line = g_strdup_printf("%s\r\n", text);
    size_t off = 0;

    while (off < strlen(line)) {
        ssize_t r = send(p->fd, line + off, strlen(line) - off, MSG_NOSIGNAL);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        off += r;
    }
    return true;
}

/* The next line the client sent, or NULL at its end. */
static char *
peer_read_line(qmp_peer *p)
{
    for (;;) {
        char *nl = memchr(p->in->str, '\n', p->in->len);
        char buf[4096];
        ssize_t r;

        if (nl) {
            char *line = g_strndup(p->in->str, nl - p->in->str);

            g_string_erase(p->in, 0, nl + 1 - p->in->str);
            return line;
        }
        r = read(p->fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return NULL;
        g_string_append_len(p->in, buf, r);
    }
}

static char *
replace_id(const char *tmpl, const char *id)
{
    g_auto(GStrv) parts = g_strsplit(tmpl, "@ID@", -1);

    return g_strjoinv(id, parts);
}

/* Whether the command obj has the arguments step s wants. */
static bool
peer_args_match(qmp_peer *p, const peer_step *s, JsonObject *obj,
                const char *line)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *want;
    JsonObject *args;
    g_autoptr(GList) members = NULL;

    if (!s->args)
        return true;
    g_assert_true(json_parser_load_from_data(parser, s->args, -1, NULL));
    want = json_node_get_object(json_parser_get_root(parser));
    args = json_object_has_member(obj, "arguments")
           ? json_object_get_object_member(obj, "arguments") : NULL;
    members = json_object_get_members(want);
    for (GList *l = members; l; l = l->next) {
        JsonNode *got = args ? json_object_get_member(args, l->data) : NULL;

        if (!got || !json_node_equal(got, json_object_get_member(want,
                                                                 l->data))) {
            peer_fail(p, "'%s' without the argument %s of %s: %s", s->text,
                      (const char *)l->data, s->args, line);
            return false;
        }
    }
    return true;
}

static bool
peer_expect(qmp_peer *p, const peer_step *s)
{
    g_autofree char *line = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *obj;
    JsonNode *id;
    const char *name;

    for (;;) {
        g_free(line);
        if (!(line = peer_read_line(p))) {
            peer_fail(p, "expected '%s', the client closed", s->text);
            return false;
        }
        if (!json_parser_load_from_data(parser, line, -1, NULL) ||
            JSON_NODE_TYPE(json_parser_get_root(parser)) !=
                JSON_NODE_OBJECT) {
            peer_fail(p, "the client sent something not JSON: %s", line);
            return false;
        }
        obj = json_node_get_object(json_parser_get_root(parser));
        name = json_object_has_member(obj, "execute")
               ? json_object_get_string_member(obj, "execute") : NULL;
        if (!(id = json_object_get_member(obj, "id"))) {
            peer_fail(p, "command without id: %s", line);
            return false;
        }
        g_free(p->last_id);
        p->last_id = json_to_string(id, FALSE);
        /* A poll, answered from the current state (PEER_POLL_STATE). */
        if (p->poll_state && g_strcmp0(name, s->text) != 0 &&
            g_strcmp0(name, "query-block-jobs") == 0) {
            g_autofree char *reply = replace_id(p->poll_state, p->last_id);

            if (!peer_send(p, reply))
                return false;
            continue;
        }
        break;
    }
    if (g_strcmp0(name, s->text) != 0) {
        peer_fail(p, "expected '%s', got: %s", s->text, line);
        return false;
    }
    if (!peer_args_match(p, s, obj, line))
        return false;
    if (s->reply) {
        g_autofree char *reply = replace_id(s->reply, p->last_id);

        return peer_send(p, reply);
    }
    return true;
}

static void *
peer_main(void *opaque)
{
    qmp_peer *p = opaque;

    if (p->listen_fd >= 0) {
        p->fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (p->fd < 0) {
            peer_fail(p, "accept: %s", g_strerror(errno));
            return NULL;
        }
    }
    for (const peer_step *s = p->script; s->op != PEER_END; s++) {
        switch (s->op) {
        case PEER_SEND:
            if (!peer_send(p, s->text))
                return NULL;
            break;
        case PEER_SEND_LAST_ID: {
            g_autofree char *text = replace_id(s->text, p->last_id ?
                                               p->last_id : "null");

            if (!peer_send(p, text))
                return NULL;
            break;
        }
        case PEER_EXPECT:
            if (!peer_expect(p, s))
                return NULL;
            break;
        case PEER_SLEEP:
            g_usleep(s->ms * 1000);
            break;
        case PEER_POLL_STATE:
            p->poll_state = s->text;
            break;
        case PEER_CLOSE:
            shutdown(p->fd, SHUT_RDWR);
            return NULL;
        case PEER_DRAIN: {
            g_autofree char *line = NULL;

            while ((line = peer_read_line(p))) {
                /* A late poll (PEER_POLL_STATE) is no failure. */
                if (p->poll_state && strstr(line, "\"query-block-jobs\"")) {
                    g_autoptr(JsonParser) jp = json_parser_new();
                    g_autofree char *id = NULL;
                    g_autofree char *reply = NULL;

                    if (json_parser_load_from_data(jp, line, -1, NULL) &&
                        JSON_NODE_TYPE(json_parser_get_root(jp)) ==
                            JSON_NODE_OBJECT &&
                        json_object_has_member(json_node_get_object(
                            json_parser_get_root(jp)), "id")) {
                        id = json_to_string(json_object_get_member(
                            json_node_get_object(json_parser_get_root(jp)),
                            "id"), FALSE);
                        reply = replace_id(p->poll_state, id);
                        peer_send(p, reply);
                        g_clear_pointer(&line, g_free);
                        continue;
                    }
                }
                peer_fail(p, "unexpected after the script: %s", line);
                g_clear_pointer(&line, g_free);
            }
            return NULL;
        }
        case PEER_END:
            break;
        }
    }
    return NULL;
}

static qmp_peer *
peer_new(const peer_step *script)
{
    qmp_peer *p = g_new0(qmp_peer, 1);

    p->script = script;
    p->fd = -1;
    p->listen_fd = -1;
    p->in = g_string_new(NULL);
    p->failure = g_string_new(NULL);
    return p;
}

qmp_peer *
qmp_peer_start(const peer_step *script, int *client_fd_r)
{
    qmp_peer *p = peer_new(script);
    int fds[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
                               fds), ==, 0);
    p->fd = fds[1];
    *client_fd_r = fds[0];
    g_assert_cmpint(pthread_create(&p->tid, NULL, peer_main, p), ==, 0);
    return p;
}

qmp_peer *
qmp_peer_listen(const peer_step *script, const char *path)
{
    qmp_peer *p = peer_new(script);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };

    g_assert_cmpuint(strlen(path), <, sizeof(sun.sun_path));
    strcpy(sun.sun_path, path);
    p->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(p->listen_fd, >=, 0);
    unlink(path);
    g_assert_cmpint(bind(p->listen_fd, (struct sockaddr *)&sun,
                         sizeof(sun)), ==, 0);
    g_assert_cmpint(listen(p->listen_fd, 4), ==, 0);
    g_assert_cmpint(pthread_create(&p->tid, NULL, peer_main, p), ==, 0);
    return p;
}

char *
qmp_peer_finish(qmp_peer *p)
{
    char *failure;

    pthread_join(p->tid, NULL);
    if (p->fd >= 0)
        close(p->fd);
    if (p->listen_fd >= 0)
        close(p->listen_fd);
    failure = p->failure->len ? g_strdup(p->failure->str) : NULL;
    g_string_free(p->in, TRUE);
    g_string_free(p->failure, TRUE);
    g_free(p->last_id);
    g_free(p);
    return failure;
}
