/*
 * test-qmp.c: the QMP client against the scripted fake peer
 *
 * Each test plays a script (qmppeer.h) and checks what the client made of
 * it: replies matched by id whatever their order, events in order between
 * replies, a peer that dies mid-command, garbage of every kind ending the
 * connection with -EPROTO and a message that says what was wrong, a
 * command that gets no answer timing out without killing the connection.
 * Never a hang: every wait below is bounded.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "qmppeer.h"
#include "testutils.h"
#include "xlite_qmp.h"

typedef struct {
    int state_calls;
    int state_rc;            /* the last state callback's rc */
    int ready;               /* state 0 seen */
    GPtrArray *events;       /* "NAME data-json" */
    GPtrArray *replies;      /* "TAG rc result-or-error" */
    char *fail_msg;          /* xlite_errmsg() at the failure */
    bool free_in_event;      /* free the connection from the event cb */
    xlite__qmp *qmp;
} rec;

static void
rec_state(xlite__egc *egc, xlite__qmp *qmp, int rc, void *opaque)
{
    rec *r = opaque;

    r->state_calls++;
    r->state_rc = rc;
    if (rc == 0)
        r->ready++;
    else
        r->fail_msg = g_strdup(xlite_errmsg());
}

static void
rec_event(xlite__egc *egc, xlite__qmp *qmp, const char *name,
          JsonObject *data, int64_t ts, void *opaque)
{
    rec *r = opaque;
    g_autofree char *json = NULL;

    if (data) {
        g_autoptr(JsonNode) n = json_node_new(JSON_NODE_OBJECT);

        json_node_set_object(n, data);
        json = json_to_string(n, FALSE);
    }
    g_ptr_array_add(r->events, g_strdup_printf("%s %s", name,
                                               json ? json : "-"));
    if (r->free_in_event) {
        xlite__qmp_free(egc->ctx, qmp);
        r->qmp = NULL;
    }
}

static const xlite__qmp_callbacks rec_cbs = { rec_state, rec_event };

/* Replies are recorded through a small per-command tag. */
typedef struct {
    rec *r;
    const char *tag;
} tagged;

static void
tag_reply(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
          const char *errclass, const char *errdesc, void *opaque)
{
    tagged *t = opaque;
    g_autofree char *json = ret ? json_to_string(ret, FALSE) : NULL;

    if (rc == 0)
        g_ptr_array_add(t->r->replies, g_strdup_printf("%s 0 %s", t->tag,
                                                       json));
    else if (rc == -EIO)
        g_ptr_array_add(t->r->replies, g_strdup_printf("%s EIO %s %s",
                                                       t->tag, errclass,
                                                       errdesc));
    else
        g_ptr_array_add(t->r->replies, g_strdup_printf("%s %d", t->tag, rc));
}

static void
rec_init(rec *r)
{
    memset(r, 0, sizeof(*r));
    r->events = g_ptr_array_new_with_free_func(g_free);
    r->replies = g_ptr_array_new_with_free_func(g_free);
}

static void
rec_dispose(rec *r)
{
    g_ptr_array_unref(r->events);
    g_ptr_array_unref(r->replies);
    g_free(r->fail_msg);
}

static xlite__qmp *
open_on(xlite_ctx *ctx, int fd, rec *r)
{
    xlite__qmp *qmp = NULL;
    EGC_INIT(ctx);

    CTX_LOCK(ctx);
    g_assert_cmpint(xlite__qmp_open_fd(egc, fd, &rec_cbs, r, &qmp), ==, 0);
    CTX_UNLOCK(ctx);
    EGC_FREE;
    r->qmp = qmp;
    return qmp;
}

static void
send_cmd(xlite_ctx *ctx, xlite__qmp *qmp, const char *name,
         JsonObject *args, int64_t timeout, tagged *t)
{
    EGC_INIT(ctx);

    CTX_LOCK(ctx);
    g_assert_cmpint(xlite__qmp_command(egc, qmp, name, args, timeout,
                                       tag_reply, t), ==, 0);
    CTX_UNLOCK(ctx);
    EGC_FREE;
}

static void
close_qmp(xlite_ctx *ctx, xlite__qmp *qmp)
{
    CTX_LOCK(ctx);
    xlite__qmp_free(ctx, qmp);
    CTX_UNLOCK(ctx);
}

/* Runs the library's loop until *count reaches want, at most 10 s. */
static void
run_until(xlite_ctx *ctx, const guint *count, guint want)
{
    int64_t end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    while (*count < want) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        xlite_event_wait(ctx, 0, NULL, NULL, 10000, NULL);
    }
}

static void
run_until_int(xlite_ctx *ctx, const int *count, int want)
{
    int64_t end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    while (*count < want) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        xlite_event_wait(ctx, 0, NULL, NULL, 10000, NULL);
    }
}

static void
assert_peer_ok(qmp_peer *peer)
{
    g_autofree char *failure = qmp_peer_finish(peer);

    g_assert_cmpstr(failure, ==, NULL);
}

/* ---------- the tests ---------- */

static void
test_handshake_and_reply(void)
{
    static const peer_step script[] = {
        PEER_HANDSHAKE,
        { PEER_EXPECT, "query-block-jobs", "{\"return\": [], \"id\": @ID@}" },
        { PEER_DRAIN },
        { PEER_END },
    };
    leak_check lc;
    xlite_ctx *ctx;
    qmp_peer *peer;
    xlite__qmp *qmp;
    tagged t;
    rec r;
    int fd;

    leak_check_begin(&lc);
    ctx = test_ctx_new();
    rec_init(&r);
    peer = qmp_peer_start(script, &fd);
    qmp = open_on(ctx, fd, &r);
    /* Sent before the handshake ends: held, then sent after it. */
    t = (tagged){ &r, "q" };
    send_cmd(ctx, qmp, "query-block-jobs", NULL, -1, &t);
    run_until(ctx, &r.replies->len, 1);
    g_assert_cmpint(r.ready, ==, 1);
    g_assert_cmpstr(xlite__qmp_peer_version(qmp), ==, "7.2.22");
    g_assert_cmpstr(r.replies->pdata[0], ==, "q 0 []");
    close_qmp(ctx, qmp);
    assert_peer_ok(peer);
    g_assert_cmpint(r.state_calls, ==, 1);
    rec_dispose(&r);
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

static void
test_replies_out_of_order_and_events(void)
{
    /* The peer answers the second command first, with events before,
     * between and after the replies, one of them twice. */
    static const peer_step script[] = {
        PEER_HANDSHAKE,
        { PEER_EXPECT, "first", NULL },
        { PEER_EXPECT, "second", "{\"return\": {\"n\": 2}, \"id\": @ID@}" },
        { PEER_SEND, "{\"event\": \"JOB_STATUS_CHANGE\", \"data\": "
                     "{\"id\": \"j\", \"status\": \"running\"}, " PEER_TS "}" },
        { PEER_SEND, "{\"event\": \"JOB_STATUS_CHANGE\", \"data\": "
                     "{\"id\": \"j\", \"status\": \"running\"}, " PEER_TS "}" },
        { PEER_SEND, "{\"return\": {\"n\": 1}, \"id\": 1}" },
        { PEER_SEND, "{\"event\": \"SHUTDOWN\", " PEER_TS "}" },
        { PEER_EXPECT, "third", "{\"error\": {\"class\": \"GenericError\", "
                                "\"desc\": \"no such job\"}, \"id\": @ID@}" },
        { PEER_DRAIN },
        { PEER_END },
    };
    leak_check lc;
    xlite_ctx *ctx;
    qmp_peer *peer;
    xlite__qmp *qmp;
    tagged t1, t2, t3;
    rec r;
    int fd;

    leak_check_begin(&lc);
    ctx = test_ctx_new();
    rec_init(&r);
    peer = qmp_peer_start(script, &fd);
    qmp = open_on(ctx, fd, &r);
    run_until_int(ctx, &r.ready, 1);
    t1 = (tagged){ &r, "first" };
    t2 = (tagged){ &r, "second" };
    t3 = (tagged){ &r, "third" };
    send_cmd(ctx, qmp, "first", NULL, -1, &t1);
    send_cmd(ctx, qmp, "second", NULL, -1, &t2);
    run_until(ctx, &r.replies->len, 2);
    send_cmd(ctx, qmp, "third", NULL, -1, &t3);
    run_until(ctx, &r.replies->len, 3);
    g_assert_cmpstr(r.replies->pdata[0], ==, "second 0 {\"n\":2}");
    g_assert_cmpstr(r.replies->pdata[1], ==, "first 0 {\"n\":1}");
    g_assert_cmpstr(r.replies->pdata[2], ==,
                    "third EIO GenericError no such job");
    g_assert_cmpuint(r.events->len, ==, 3);
    g_assert_cmpstr(r.events->pdata[0], ==,
                    "JOB_STATUS_CHANGE {\"id\":\"j\",\"status\":\"running\"}");
    g_assert_cmpstr(r.events->pdata[1], ==, r.events->pdata[0]);
    g_assert_cmpstr(r.events->pdata[2], ==, "SHUTDOWN -");
    close_qmp(ctx, qmp);
    assert_peer_ok(peer);
    rec_dispose(&r);
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

static void
test_peer_dies_mid_command(void)
{
    static const peer_step script[] = {
        PEER_HANDSHAKE,
        { PEER_EXPECT, "block-job-cancel", NULL },
        { PEER_CLOSE },
        { PEER_END },
    };
    leak_check lc;
    xlite_ctx *ctx;
    qmp_peer *peer;
    xlite__qmp *qmp;
    tagged t;
    rec r;
    int fd;

    leak_check_begin(&lc);
    ctx = test_ctx_new();
    rec_init(&r);
    peer = qmp_peer_start(script, &fd);
    qmp = open_on(ctx, fd, &r);
    t = (tagged){ &r, "cancel" };
    send_cmd(ctx, qmp, "block-job-cancel", NULL, -1, &t);
    run_until_int(ctx, &r.state_calls, 2);
    g_assert_cmpuint(r.replies->len, ==, 1);
    g_assert_cmpstr(r.replies->pdata[0], ==, "cancel -104"); /* ECONNRESET */
    g_assert_cmpint(r.state_rc, ==, -ECONNRESET);
    g_assert_nonnull(strstr(r.fail_msg, "closed its QMP connection"));
    g_assert_true(xlite__qmp_is_dead(qmp));
    {
        /* A dead connection refuses commands at once. */
        EGC_INIT(ctx);

        CTX_LOCK(ctx);
        g_assert_cmpint(xlite__qmp_command(egc, qmp, "x", NULL, -1,
                                           tag_reply, &t), ==, -EPIPE);
        CTX_UNLOCK(ctx);
        EGC_FREE;
    }
    close_qmp(ctx, qmp);
    assert_peer_ok(peer);
    g_assert_cmpint(r.state_calls, ==, 2);
    rec_dispose(&r);
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

static void
test_command_timeout(void)
{
    /* No answer to the first command in time; its late reply is dropped
     * and the connection goes on. */
    static const peer_step script[] = {
        PEER_HANDSHAKE,
        { PEER_EXPECT, "slow", NULL },
        { PEER_SLEEP, NULL, NULL, 300 },
        { PEER_SEND_LAST_ID, "{\"return\": {}, \"id\": @ID@}" },
        { PEER_EXPECT, "fast", "{\"return\": {}, \"id\": @ID@}" },
        { PEER_DRAIN },
        { PEER_END },
    };
    leak_check lc;
    xlite_ctx *ctx;
    qmp_peer *peer;
    xlite__qmp *qmp;
    tagged t1, t2;
    rec r;
    int fd;

    leak_check_begin(&lc);
    ctx = test_ctx_new();
    rec_init(&r);
    peer = qmp_peer_start(script, &fd);
    qmp = open_on(ctx, fd, &r);
    t1 = (tagged){ &r, "slow" };
    t2 = (tagged){ &r, "fast" };
    send_cmd(ctx, qmp, "slow", NULL, 50 * 1000, &t1);
    run_until(ctx, &r.replies->len, 1);
    g_assert_cmpstr(r.replies->pdata[0], ==, "slow -110"); /* ETIMEDOUT */
    g_assert_nonnull(strstr(xlite_errmsg(), "did not answer 'slow'"));
    g_usleep(400 * 1000);
    send_cmd(ctx, qmp, "fast", NULL, -1, &t2);
    run_until(ctx, &r.replies->len, 2);
    g_assert_cmpstr(r.replies->pdata[1], ==, "fast 0 {}");
    g_assert_false(xlite__qmp_is_dead(qmp));
    close_qmp(ctx, qmp);
    assert_peer_ok(peer);
    g_assert_cmpint(r.state_calls, ==, 1);
    rec_dispose(&r);
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

static void
test_free_from_event(void)
{
    /* The owner frees the connection from inside its event callback,
     * with more lines behind in the same read. */
    static const peer_step script[] = {
        PEER_HANDSHAKE,
        { PEER_SEND, "{\"event\": \"A\", " PEER_TS "}\r\n"
                     "{\"event\": \"B\", " PEER_TS "}" },
        { PEER_DRAIN },
        { PEER_END },
    };
    leak_check lc;
    xlite_ctx *ctx;
    qmp_peer *peer;
    rec r;
    int fd;

    leak_check_begin(&lc);
    ctx = test_ctx_new();
    rec_init(&r);
    r.free_in_event = true;
    peer = qmp_peer_start(script, &fd);
    open_on(ctx, fd, &r);
    run_until(ctx, &r.events->len, 1);
    g_assert_null(r.qmp);
    /* Nothing more comes for a freed connection. */
    xlite_event_wait(ctx, 0, NULL, NULL, 50000, NULL);
    g_assert_cmpuint(r.events->len, ==, 1);
    assert_peer_ok(peer);
    rec_dispose(&r);
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

/* Garbage: each line ends the connection with -EPROTO and a message. */
typedef struct {
    const char *name;
    const char *line;           /* sent after the handshake (or instead) */
    bool before_handshake;
    const char *message;        /* expected in the error */
} garbage_case;

static const garbage_case garbage[] = {
    { "not-json", "{\"event\": ", false, "not JSON" },
    { "array", "[1, 2]", false, "not a JSON object" },
    { "string", "\"hello\"", false, "not a JSON object" },
    { "unknown", "{\"hello\": 1}", false, "neither greeting, reply nor event" },
    { "reply-no-id", "{\"return\": {}}", false, "without a valid id" },
    { "reply-unknown-id", "{\"return\": {}, \"id\": 4242}", false,
      "a reply to no command" },
    { "reply-both", "{\"return\": {}, \"error\": {}, \"id\": 1}", false,
      "both or neither" },
    { "error-no-desc", "{\"error\": {\"class\": \"X\"}, \"id\": 1}", false,
      "without class and description" },
    { "event-no-ts", "{\"event\": \"X\"}", false, "without name or timestamp" },
    { "event-bad-data", "{\"event\": \"X\", \"data\": 3, " PEER_TS "}", false,
      "data is not an object" },
    { "event-bad-ts", "{\"event\": \"X\", \"timestamp\": {\"seconds\": "
      "\"now\", \"microseconds\": 0}}", false, "malformed timestamp" },
    { "second-greeting", PEER_GREETING, false, "a second greeting" },
    { "bad-greeting", "{\"QMP\": {\"version\": 7}}", true,
      "without version or capabilities" },
    { "event-before-greeting", "{\"event\": \"X\", " PEER_TS "}", true,
      "before the handshake" },
    { "nul", "{\"event\": \"X\"\\u0000}", false, "not JSON" },
};

static void
test_garbage(const void *data)
{
    const garbage_case *gc = data;
    peer_step script[] = {
        PEER_HANDSHAKE,
        { PEER_EXPECT, "query-jobs", NULL },
        { PEER_SEND, gc->line },
        { PEER_DRAIN },
        { PEER_END },
    };
    leak_check lc;
    xlite_ctx *ctx;
    qmp_peer *peer;
    xlite__qmp *qmp;
    tagged t;
    rec r;
    int fd;

    if (gc->before_handshake) {
        script[0] = (peer_step){ PEER_SEND, gc->line };
        script[1] = (peer_step){ PEER_DRAIN };
        script[2] = (peer_step){ PEER_END };
    }
    leak_check_begin(&lc);
    ctx = test_ctx_new();
    rec_init(&r);
    peer = qmp_peer_start(script, &fd);
    qmp = open_on(ctx, fd, &r);
    t = (tagged){ &r, "pending" };
    if (!gc->before_handshake)
        /* A command in flight (sent at once, held until the handshake
         * ends) fails with the connection. */
        send_cmd(ctx, qmp, "query-jobs", NULL, -1, &t);
    run_until_int(ctx, &r.state_calls, gc->before_handshake ? 1 : 2);
    g_assert_cmpint(r.state_rc, ==, -EPROTO);
    if (!strstr(r.fail_msg, gc->message))
        g_error("%s: '%s' does not say '%s'", gc->name, r.fail_msg,
                gc->message);
    if (!gc->before_handshake) {
        g_assert_cmpuint(r.replies->len, ==, 1);
        g_assert_cmpstr(r.replies->pdata[0], ==, "pending -71"); /* EPROTO */
    }
    close_qmp(ctx, qmp);
    assert_peer_ok(peer);
    rec_dispose(&r);
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

static void
test_overlong_line(void)
{
    g_autofree char *big = g_strnfill(XLITE__QMP_LINE_MAX + 10, 'x');
    peer_step script[] = {
        PEER_HANDSHAKE,
        { PEER_SEND, big },
        { PEER_DRAIN },
        { PEER_END },
    };
    leak_check lc;
    xlite_ctx *ctx;
    qmp_peer *peer;
    xlite__qmp *qmp;
    rec r;
    int fd;

    /* The big line is one "line" to the peer but has no newline until its
     * end: the client gives up before. */
    leak_check_begin(&lc);
    ctx = test_ctx_new();
    rec_init(&r);
    peer = qmp_peer_start(script, &fd);
    qmp = open_on(ctx, fd, &r);
    run_until_int(ctx, &r.state_calls, 2);
    g_assert_cmpint(r.state_rc, ==, -EPROTO);
    g_assert_nonnull(strstr(r.fail_msg, "longer than 1 MiB"));
    close_qmp(ctx, qmp);
    assert_peer_ok(peer);
    rec_dispose(&r);
    xlite_ctx_free(ctx);
    leak_check_end(&lc);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xlite/qmp/handshake-and-reply", test_handshake_and_reply);
    g_test_add_func("/xlite/qmp/out-of-order-and-events",
                    test_replies_out_of_order_and_events);
    g_test_add_func("/xlite/qmp/peer-dies-mid-command",
                    test_peer_dies_mid_command);
    g_test_add_func("/xlite/qmp/command-timeout", test_command_timeout);
    g_test_add_func("/xlite/qmp/free-from-event", test_free_from_event);
    g_test_add_func("/xlite/qmp/overlong-line", test_overlong_line);
    for (size_t i = 0; i < G_N_ELEMENTS(garbage); i++) {
        g_autofree char *path = g_strdup_printf("/xlite/qmp/garbage/%s",
                                                garbage[i].name);

        g_test_add_data_func(path, &garbage[i], test_garbage);
    }
    return g_test_run();
}
