/*
 * xlite_qmp.h: an asynchronous QMP client (internal to libxlite)
 *
 * One xlite__qmp is one connection to a QMP peer (qemu-storage-daemon, or
 * a QEMU).  Its socket is an fd watch of the context, so it makes progress
 * from the application's loop (osevent hooks) or from any synchronous
 * call's internal poller, like the xenstore connection.
 *
 * Life of a connection:
 *  1. xlite__qmp_connect() (a unix socket path) or xlite__qmp_open_fd()
 *     (an fd already connected, for tests) registers the socket;
 *  2. the peer's greeting ({"QMP": {"version": ..., "capabilities": [...]}})
 *     is read and checked, qmp_capabilities is sent, and its reply
 *     completes the handshake: cbs->state(egc, qmp, 0, opaque);
 *  3. commands may be sent from step 1 on (they are queued behind the
 *     handshake); each reply goes to its command's callback, matched by id;
 *     events go to cbs->event;
 *  4. when the connection fails (the peer closed it, sent something that is
 *     not valid QMP, or the handshake timed out), every pending command's
 *     callback gets the error, then cbs->state gets it (once), and the
 *     connection is dead: the owner frees it with xlite__qmp_free().
 *
 * Everything the peer sends is validated strictly: a line longer than
 * XLITE__QMP_LINE_MAX, a line that is not one JSON object, a greeting
 * after the handshake, a reply to no command of ours, an event without a
 * name or timestamp, an error without class and description: each ends
 * the connection with -EPROTO and a message that says what was wrong.
 *
 * Every command has a timeout.  A command whose reply does not come in
 * time completes with -ETIMEDOUT; its id is remembered, so that a late
 * reply is dropped rather than taken for a protocol error, and the
 * connection stays usable.
 *
 * Callbacks run with the context's lock held and an egc (they are library
 * code, see xlite_internal.h), and may send commands or free the
 * connection (after which nothing more is delivered for it).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <json-glib/json-glib.h>

#include "xlite_internal.h"

/* Longest line accepted from a peer (query-block-jobs of 256 disks fits
 * many times over). */
#define XLITE__QMP_LINE_MAX (1024 * 1024)
/* The greeting and capabilities negotiation together. */
#define XLITE__QMP_HANDSHAKE_TIMEOUT (10 * G_USEC_PER_SEC)
/* The default for commands (a job start, a cancel). */
#define XLITE__QMP_COMMAND_TIMEOUT (30 * G_USEC_PER_SEC)

typedef struct xlite__qmp xlite__qmp;

/* rc 0: ret is the command's "return" value (borrowed).  rc -EIO: the
 * peer answered with an error: errclass and errdesc say which (the
 * callback decides whether it is one, and reports it).  Any other rc: the
 * command had no answer (-ETIMEDOUT) or the connection failed (-EPIPE,
 * -ECONNRESET, -EPROTO), already reported. */
typedef void xlite__qmp_reply_callback(xlite__egc *egc, xlite__qmp *qmp,
                                       int rc, JsonNode *ret,
                                       const char *errclass,
                                       const char *errdesc, void *opaque);

typedef struct {
    /* rc 0: the handshake is done; < 0: the connection failed (reported),
     * after the pending commands were told.  At most one of each. */
    void (*state)(xlite__egc *egc, xlite__qmp *qmp, int rc, void *opaque);
    /* An event: name, its "data" object (NULL if it had none; borrowed)
     * and its timestamp in microseconds. */
    void (*event)(xlite__egc *egc, xlite__qmp *qmp, const char *name,
                  JsonObject *data, int64_t timestamp_usec, void *opaque);
} xlite__qmp_callbacks;

int xlite__qmp_connect(xlite__egc *egc, const char *path,
                       const xlite__qmp_callbacks *cbs, void *opaque,
                       xlite__qmp **qmp_r);
/* Takes ownership of fd (closed on failure too). */
int xlite__qmp_open_fd(xlite__egc *egc, int fd,
                       const xlite__qmp_callbacks *cbs, void *opaque,
                       xlite__qmp **qmp_r);

/* Sends a command; args (may be NULL) is taken over.  timeout_usec < 0:
 * XLITE__QMP_COMMAND_TIMEOUT.  Fails at once (-EPIPE, reported) on a dead
 * connection; otherwise cb is called exactly once, never from inside
 * this call. */
int xlite__qmp_command(xlite__egc *egc, xlite__qmp *qmp, const char *name,
                       JsonObject *args, int64_t timeout_usec,
                       xlite__qmp_reply_callback *cb, void *opaque);

bool xlite__qmp_is_ready(const xlite__qmp *qmp);
bool xlite__qmp_is_dead(const xlite__qmp *qmp);
/* The peer's version from its greeting ("7.2.22"), or "" before it. */
const char *xlite__qmp_peer_version(const xlite__qmp *qmp);

/* Closes the connection and frees it: nothing more is called back, not
 * even for pending commands (their owner is going away with it).  Safe
 * from inside its own callbacks; accepts NULL. */
void xlite__qmp_free(xlite_ctx *ctx, xlite__qmp *qmp);
