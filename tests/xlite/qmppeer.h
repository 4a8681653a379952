/*
 * qmppeer.h: a scripted fake QMP peer for the libxlite tests
 *
 * In the spirit of libvirt's tests/qemumonitortestutils.c: a thread holds
 * the other end of a socket and plays a script of steps: send a line (a
 * greeting, an event, garbage), expect a command by name and answer it
 * (with its id put into the reply in place of @ID@), pause, or close the
 * connection (a peer that dies mid-command).  Everything the client sends
 * that the script did not expect is recorded as a failure, which
 * qmp_peer_finish() returns.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <glib.h>

typedef enum {
    PEER_END = 0,
    PEER_SEND,        /* text: a line, sent as is with "\r\n" */
    PEER_EXPECT,      /* text: a command name; reply: sent after (may be
                       * NULL), with @ID@ replaced by the command's id */
    PEER_SEND_LAST_ID,/* text, with @ID@ replaced by the last expected id */
    PEER_SLEEP,       /* ms */
    PEER_CLOSE,       /* closes the socket and ends */
    PEER_DRAIN,       /* reads until the client closes (end of a test) */
    PEER_POLL_STATE,  /* text: the answer (with @ID@) to any query-block-jobs
                       * the client sends from now on while the script
                       * waits for another command: a peer without job
                       * events, whose jobs the client polls at its own
                       * pace (NULL: polls are unexpected again) */
} peer_op;

typedef struct {
    peer_op op;
    const char *text;
    const char *reply;
    int ms;
    /* PEER_EXPECT: a JSON object whose members the command's "arguments"
     * must hold, with these values (NULL: not checked) */
    const char *args;
} peer_step;

#define PEER_GREETING \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, " \
    "\"major\": 7}, \"package\": \"Debian\"}, \"capabilities\": [\"oob\"]}}"
/* The greeting and the capabilities negotiation. */
#define PEER_HANDSHAKE \
    { PEER_SEND, PEER_GREETING, NULL, 0 }, \
    { PEER_EXPECT, "qmp_capabilities", "{\"return\": {}, \"id\": @ID@}", 0 }
/* A peer that is not a QEMU known to send job events (older than 2.12),
 * and whose schema lists none: its jobs are polled. */
#define PEER_GREETING_OLD \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 11, " \
    "\"major\": 2}, \"package\": \"fake\"}, \"capabilities\": []}}"
#define PEER_HANDSHAKE_NO_JOB_EVENTS \
    { PEER_SEND, PEER_GREETING_OLD, NULL, 0 }, \
    { PEER_EXPECT, "qmp_capabilities", "{\"return\": {}, \"id\": @ID@}", 0 }, \
    { PEER_EXPECT, "query-qmp-schema", \
      "{\"return\": [{\"name\": \"query-block-jobs\", \"meta-type\": " \
      "\"command\", \"arg-type\": \"0\", \"ret-type\": \"1\"}, " \
      "{\"name\": \"BLOCK_IO_ERROR\", \"meta-type\": \"event\", " \
      "\"arg-type\": \"2\"}], \"id\": @ID@}", 0 }
#define PEER_TS "\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 1}"

typedef struct qmp_peer qmp_peer;

/* Starts the peer's thread on a socket pair; *client_fd_r is the client's
 * end (CLOEXEC). */
qmp_peer *qmp_peer_start(const peer_step *script, int *client_fd_r);
/* Starts it listening on a unix socket at path (one connection). */
qmp_peer *qmp_peer_listen(const peer_step *script, const char *path);
/* Waits for the script's end; returns NULL or what went wrong (free). */
char *qmp_peer_finish(qmp_peer *peer);
