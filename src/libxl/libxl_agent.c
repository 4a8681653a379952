/*
 * libxl_agent.c: the driver's client of the QEMU guest agent over the
 * domain's Xen channel org.qemu.guest_agent.0 (docs/channels.md, "The
 * guest agent")
 *
 * The core serves the channel on a pty or a unix socket in this process
 * (xlite_channel.c); the driver is that fd's only reader: it opens it for
 * each command, under the domain's agent job, and closes it after.  Users
 * cannot open the agent's channel with virDomainOpenChannel (the driver
 * refuses it), so nothing else reads the replies.
 *
 * What comes back is written by the guest: read with a deadline, bounded
 * in size, checked for nesting before it is parsed, and never put into an
 * error message or a log unfiltered.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "libxl_agent.h"

#include "datatypes.h"
#include "domain_event.h"
#include "virerror.h"
#include "virfile.h"
#include "virstring.h"
#include "virlog.h"
#include "virtime.h"
#include "virtypedparam.h"
#include "viraccessapicheck.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.libxl_agent");

/* libvirt's QEMU driver's: the sync waits at most this (seconds), and so
 * does a command at the default timeout. */
#define XV_AGENT_WAIT_TIME 5

/* The longest reply line the driver reads (qemu-ga's answers are a few
 * KiB; libvirt's QEMU driver takes 10 MiB), and what it drops while it
 * looks for the sync's reply. */
#define XV_AGENT_LINE_MAX (1024 * 1024)
#define XV_AGENT_DRAIN_MAX (4 * 1024 * 1024)

/* JSON nested deeper than this is refused before it is parsed. */
#define XV_AGENT_DEPTH_MAX 64

#define XV_AGENT_DELIM ((char)0xff)

ssize_t
xvAgentChannelIndex(const virDomainDef *def)
{
    size_t i;

    for (i = 0; i < def->nchannels; i++) {
        const virDomainChrDef *chr = def->channels[i];

        if (chr->targetType == VIR_DOMAIN_CHR_CHANNEL_TARGET_TYPE_XEN &&
            STREQ_NULLABLE(chr->target.name, XV_AGENT_CHANNEL))
            return i;
    }
    return -1;
}

/* The core's channel object of the agent, or NULL (@vm locked). */
static xlite_channel *
xvAgentChannel(virDomainObj *vm)
{
    xvDomainObjPrivate *priv = vm->privateData;
    ssize_t idx = xvAgentChannelIndex(vm->def);

    if (idx < 0 || !priv->channels || (size_t)idx >= priv->channels->len)
        return NULL;
    return g_ptr_array_index(priv->channels, idx);
}

bool
xvAgentAvailable(xvDriver *driver, virDomainObj *vm, bool reportError)
{
    xlite_channel *chan;
    xlite_channel_info info;

    if (virDomainObjGetState(vm, NULL) != VIR_DOMAIN_RUNNING) {
        if (reportError)
            virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                           _("domain is not running"));
        return false;
    }
    if (xvAgentChannelIndex(vm->def) < 0) {
        if (reportError)
            virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                           _("QEMU guest agent is not configured"));
        return false;
    }
    if (!(chan = xvAgentChannel(vm)))
        goto notconnected;
    xlite_channel_get_info(driver->ctx, chan, &info);
    if (info.state != XLITE_CHANNEL_CONNECTED)
        goto notconnected;
    return true;

 notconnected:
    if (reportError)
        virReportError(VIR_ERR_AGENT_UNRESPONSIVE, "%s",
                       _("QEMU guest agent is not connected"));
    return false;
}

void
xvAgentSetTimeout(virDomainObj *vm, int timeout)
{
    xvDomainObjPrivate *priv = vm->privateData;

    priv->agentTimeout = timeout;
}

virJSONValue *
xvAgentMakeCommand(const char *name, virJSONValue *args)
{
    g_autoptr(virJSONValue) cmd = virJSONValueNewObject();

    if (virJSONValueObjectAppendString(cmd, "execute", name) < 0)
        goto error;
    if (args && virJSONValueObjectAppend(cmd, "arguments", &args) < 0)
        goto error;
    return g_steal_pointer(&cmd);

 error:
    virJSONValueFree(args);
    return NULL;
}

/*
 * One exchange with the agent, on one fd.
 */
typedef struct {
    int fd;
    char *buf;                  /* the current line */
    size_t len;
    bool synced;                /* past the agent's 0xFF */
    bool dropping;              /* inside a line past the bound */
    size_t drained;             /* bytes dropped looking for the sync */
    char chunk[4096];           /* read, not yet looked at from cpos */
    size_t cpos, clen;
} xvAgentConn;

typedef enum {
    XV_AGENT_IO_OK = 0,
    XV_AGENT_IO_TIMEOUT,
    XV_AGENT_IO_EOF,
    XV_AGENT_IO_ERROR,          /* reported */
} xvAgentIO;

/* Milliseconds until @deadline (0 is none: wait without end). */
static int
xvAgentPollTimeout(unsigned long long deadline)
{
    unsigned long long now;

    if (deadline == 0)
        return -1;
    if (virTimeMillisNow(&now) < 0 || now >= deadline)
        return 0;
    return MIN(deadline - now, INT_MAX);
}

static xvAgentIO
xvAgentWait(int fd, short events, unsigned long long deadline)
{
    struct pollfd pfd = { .fd = fd, .events = events };
    int rc;

    do {
        rc = poll(&pfd, 1, xvAgentPollTimeout(deadline));
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        virReportSystemError(errno, "%s",
                             _("Error while processing agent IO"));
        return XV_AGENT_IO_ERROR;
    }
    if (rc == 0)
        return XV_AGENT_IO_TIMEOUT;
    if (pfd.revents & events)
        return XV_AGENT_IO_OK;
    /* POLLHUP/POLLERR with nothing to read or write: the pty's slave of a
     * closed channel, a socket the core closed. */
    return XV_AGENT_IO_EOF;
}

static xvAgentIO
xvAgentWrite(xvAgentConn *conn, const char *data, size_t len,
             unsigned long long deadline)
{
    while (len > 0) {
        ssize_t n = write(conn->fd, data, len);
        xvAgentIO io;

        if (n > 0) {
            data += n;
            len -= n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN) {
            if (errno == EIO || errno == EPIPE || errno == ECONNRESET)
                return XV_AGENT_IO_EOF;
            virReportSystemError(errno, "%s",
                                 _("Unable to write to guest agent"));
            return XV_AGENT_IO_ERROR;
        }
        if ((io = xvAgentWait(conn->fd, POLLOUT, deadline)) != XV_AGENT_IO_OK)
            return io;
    }
    return XV_AGENT_IO_OK;
}

/* Whether @line (@len bytes, untrusted) nests arrays or objects deeper than
 * XV_AGENT_DEPTH_MAX, counting outside strings. */
static bool
xvAgentTooDeep(const char *line, size_t len)
{
    bool instr = false, esc = false;
    int depth = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        char c = line[i];

        if (instr) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                instr = false;
            continue;
        }
        if (c == '"') {
            instr = true;
        } else if (c == '[' || c == '{') {
            if (++depth > XV_AGENT_DEPTH_MAX)
                return true;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return false;
}

/* The next whole line the agent sent after its 0xFF (looking for it first
 * when @conn is not synced), NUL-terminated in conn->buf, or why not.  A
 * line past XV_AGENT_LINE_MAX is dropped and reported as *@toolong. */
static xvAgentIO
xvAgentReadLine(xvAgentConn *conn, unsigned long long deadline,
                bool *toolong)
{
    *toolong = false;
    conn->len = 0;
    for (;;) {
        xvAgentIO io;

        if (conn->cpos == conn->clen) {
            ssize_t n = read(conn->fd, conn->chunk, sizeof(conn->chunk));

            if (n == 0)
                return XV_AGENT_IO_EOF;
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EIO || errno == ECONNRESET)
                    return XV_AGENT_IO_EOF;
                if (errno != EAGAIN) {
                    virReportSystemError(errno, "%s",
                                         _("Unable to read from guest agent"));
                    return XV_AGENT_IO_ERROR;
                }
                if ((io = xvAgentWait(conn->fd, POLLIN, deadline)) != XV_AGENT_IO_OK)
                    return io;
                continue;
            }
            conn->cpos = 0;
            conn->clen = n;
        }
        while (conn->cpos < conn->clen) {
            char c = conn->chunk[conn->cpos++];

            if (c == XV_AGENT_DELIM) {
                /* The agent starts over: what came before is dropped. */
                conn->synced = true;
                conn->len = 0;
                conn->dropping = false;
                continue;
            }
            if (!conn->synced) {
                if (++conn->drained > XV_AGENT_DRAIN_MAX) {
                    virReportError(VIR_ERR_AGENT_UNSYNCED, "%s",
                                   _("guest agent sent too much data before its reply to the sync"));
                    return XV_AGENT_IO_ERROR;
                }
                continue;
            }
            if (c == '\n') {
                bool dropped = conn->dropping;

                conn->buf[conn->len] = '\0';
                conn->dropping = false;
                if (dropped || conn->len > 0) {
                    *toolong = dropped;
                    return XV_AGENT_IO_OK;
                }
                continue;
            }
            if (conn->dropping)
                continue;
            if (conn->len >= XV_AGENT_LINE_MAX) {
                conn->dropping = true;
                conn->len = 0;
                continue;
            }
            conn->buf[conn->len++] = c;
        }
    }
}

/* The line in @conn, parsed: a JSON object, or NULL. */
static virJSONValue *
xvAgentParseLine(xvAgentConn *conn)
{
    g_autoptr(virJSONValue) obj = NULL;

    if (xvAgentTooDeep(conn->buf, conn->len))
        return NULL;
    if (!(obj = virJSONValueFromString(conn->buf)) ||
        virJSONValueGetType(obj) != VIR_JSON_TYPE_OBJECT) {
        virResetLastError();
        return NULL;
    }
    return g_steal_pointer(&obj);
}

/* A printable copy of an untrusted string, cut to 256 bytes. */
static char *
xvAgentSafeString(const char *s)
{
    char *out = g_strndup(s ? s : "", 256);
    char *p;

    for (p = out; *p; p++) {
        if (!g_ascii_isprint(*p))
            *p = '?';
    }
    return out;
}

static void
xvAgentReportIO(xvAgentIO io)
{
    switch (io) {
    case XV_AGENT_IO_TIMEOUT:
        virReportError(VIR_ERR_AGENT_UNRESPONSIVE, "%s",
                       _("Guest agent not available for now"));
        break;
    case XV_AGENT_IO_EOF:
        virReportError(VIR_ERR_AGENT_UNRESPONSIVE, "%s",
                       _("Guest agent disappeared while executing command"));
        break;
    case XV_AGENT_IO_OK:
    case XV_AGENT_IO_ERROR:
        break;
    }
}

/* Open the channel's fd: its pty's slave, or a connection to its socket. */
static int
xvAgentOpen(const char *path, bool isSocket)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd;

    if (!isSocket) {
        if ((fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)) < 0)
            virReportSystemError(errno, _("Unable to open guest agent channel '%s'"),
                                 path);
        return fd;
    }
    if (virStrcpyStatic(addr.sun_path, path) < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("Socket path %s too big for destination"), path);
        return -1;
    }
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
        virReportSystemError(errno, "%s", _("failed to create socket"));
        return -1;
    }
    /* The core listens in this process: a connection is queued at once
     * (or refused if the channel is gone). */
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 &&
        errno != EINPROGRESS) {
        virReportSystemError(errno, _("Unable to connect to guest agent channel '%s'"),
                             path);
        VIR_FORCE_CLOSE(fd);
    }
    return fd;
}

/* The deadline @seconds from now in ms since the epoch, 0 for none. */
static unsigned long long
xvAgentDeadline(int seconds)
{
    unsigned long long now = 0;

    if (seconds == VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_BLOCK)
        return 0;
    if (seconds == VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_DEFAULT)
        seconds = XV_AGENT_WAIT_TIME;
    ignore_value(virTimeMillisNow(&now));
    return now + seconds * 1000ull + (seconds == 0 ? 1 : 0);
}

/* The exchange itself, on an unlocked object: see xvAgentCommand. */
static int
xvAgentExchange(xvAgentConn *conn, const char *cmdName, const char *cmdText,
                int timeout, virJSONValue **reply_r, bool reportUnsupported)
{
    unsigned long long id;
    unsigned long long deadline;
    g_autofree char *sync = NULL;
    g_autofree char *text = NULL;
    g_autoptr(virJSONValue) reply = NULL;
    virJSONValue *error;
    bool toolong;
    xvAgentIO io;
    int syncTimeout = XV_AGENT_WAIT_TIME;

    /* A random id, below 2^52 (the agent's JSON numbers are doubles to
     * some). */
    id = ((unsigned long long)g_random_int() << 20) ^ g_random_int();
    id &= (1ULL << 52) - 1;
    sync = g_strdup_printf("%c{\"execute\":\"guest-sync-delimited\","
                           "\"arguments\":{\"id\":%llu}}\n",
                           XV_AGENT_DELIM, id);
    if (timeout >= 0 && timeout < syncTimeout)
        syncTimeout = timeout;
    deadline = xvAgentDeadline(syncTimeout);

    if ((io = xvAgentWrite(conn, sync, strlen(sync), deadline)) != XV_AGENT_IO_OK)
        goto ioerror;
    for (;;) {
        long long got;

        if ((io = xvAgentReadLine(conn, deadline, &toolong)) != XV_AGENT_IO_OK)
            goto ioerror;
        conn->synced = false;   /* the next line only after another 0xFF */
        if (toolong)
            continue;
        g_clear_pointer(&reply, virJSONValueFree);
        if ((reply = xvAgentParseLine(conn)) &&
            virJSONValueObjectGetNumberLong(reply, "return", &got) == 0 &&
            (unsigned long long)got == id)
            break;
        VIR_DEBUG("dropping a reply that is not the sync's (%zu bytes)",
                  conn->len);
    }
    g_clear_pointer(&reply, virJSONValueFree);
    /* After the sync, the agent's replies come as plain lines. */
    conn->synced = true;
    conn->len = 0;

    text = g_strdup_printf("%s\n", cmdText);
    deadline = xvAgentDeadline(timeout);
    if ((io = xvAgentWrite(conn, text, strlen(text), deadline)) != XV_AGENT_IO_OK)
        goto ioerror;
    if (!reply_r)
        return 0;

    if ((io = xvAgentReadLine(conn, deadline, &toolong)) != XV_AGENT_IO_OK)
        goto ioerror;
    if (toolong) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("guest agent reply to '%s' exceeds %d bytes"),
                       cmdName, XV_AGENT_LINE_MAX);
        return -1;
    }
    if (!(reply = xvAgentParseLine(conn))) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("guest agent sent a malformed reply to '%s'"), cmdName);
        return -1;
    }
    if ((error = virJSONValueObjectGet(reply, "error"))) {
        const char *klass = virJSONValueObjectGetString(error, "class");
        g_autofree char *desc = NULL;

        if (!reportUnsupported &&
            (STREQ_NULLABLE(klass, "CommandNotFound") ||
             STREQ_NULLABLE(klass, "CommandDisabled")))
            return -2;
        desc = xvAgentSafeString(virJSONValueObjectGetString(error, "desc"));
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("unable to execute QEMU agent command '%s': %s"),
                       cmdName, *desc ? desc : _("unknown QEMU command error"));
        return -1;
    }
    if (virJSONValueObjectRemoveKey(reply, "return", reply_r) <= 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("unable to execute QEMU agent command '%s'"), cmdName);
        return -1;
    }
    return 0;

 ioerror:
    xvAgentReportIO(io);
    return -1;
}

int
xvAgentCommand(xvDriver *driver G_GNUC_UNUSED, virDomainObj *vm,
               virJSONValue *cmd, virJSONValue **reply_r,
               bool reportUnsupported)
{
    xvDomainObjPrivate *priv = vm->privateData;
    ssize_t idx = xvAgentChannelIndex(vm->def);
    g_autofree char *path = NULL;
    g_autofree char *cmdText = NULL;
    g_autofree char *cmdName = NULL;
    xvAgentConn conn = { .fd = -1 };
    bool isSocket;
    int timeout = priv->agentTimeout;
    int ret = -1;

    if (reply_r)
        *reply_r = NULL;
    if (idx >= 0 && xvAgentChannel(vm)) {
        virDomainChrSourceDef *src = vm->def->channels[idx]->source;

        isSocket = src->type == VIR_DOMAIN_CHR_TYPE_UNIX;
        path = g_strdup(isSocket ? src->data.nix.path : src->data.file.path);
    }
    if (!path) {
        virReportError(VIR_ERR_AGENT_UNRESPONSIVE, "%s",
                       _("QEMU guest agent is not connected"));
        return -1;
    }
    cmdName = g_strdup(virJSONValueObjectGetString(cmd, "execute"));
    if (!(cmdText = virJSONValueToString(cmd, false)))
        return -1;

    virObjectUnlock(vm);
    if ((conn.fd = xvAgentOpen(path, isSocket)) >= 0) {
        conn.buf = g_new(char, XV_AGENT_LINE_MAX + 1);
        ret = xvAgentExchange(&conn, cmdName, cmdText, timeout, reply_r,
                              reportUnsupported);
        g_free(conn.buf);
        VIR_FORCE_CLOSE(conn.fd);
    }
    virObjectLock(vm);
    return ret;
}

/* ---------------------------------------------------------------------
 * Entry points, as libvirt's QEMU driver answers them
 */

/* Look @dom up, check its ACL (@acl, or @aclFlags with @flags), begin an
 * agent job of @job and check the agent is there (reporting why not).
 * Returns the object locked, referenced, with the agent job held: end
 * with xvAgentEnd. */
static virDomainObj *
xvAgentBegin(virDomainPtr dom, xvDomainACLCheck acl,
             xvDomainACLCheckFlags aclFlags, unsigned int flags,
             virDomainAgentJob job)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;

    if (!(vm = xvDomObjFromDomainACL(dom, acl, aclFlags, flags)))
        return NULL;
    if (virDomainObjBeginAgentJob(vm, job) < 0)
        goto error;
    if (!xvAgentAvailable(driver, vm, true)) {
        virDomainObjEndAgentJob(vm);
        goto error;
    }
    return vm;

 error:
    virDomainObjEndAPI(&vm);
    return NULL;
}

static void
xvAgentEnd(virDomainObj **vm)
{
    virDomainObjEndAgentJob(*vm);
    virDomainObjEndAPI(vm);
}

/* Run @name (with @args, stolen) on @vm as xvAgentCommand does. */
static int
xvAgentRun(virDomainPtr dom, virDomainObj *vm, const char *name,
           virJSONValue *args, virJSONValue **reply_r,
           bool reportUnsupported)
{
    g_autoptr(virJSONValue) cmd = xvAgentMakeCommand(name, args);

    if (!cmd)
        return -1;
    return xvAgentCommand(dom->conn->privateData, vm, cmd, reply_r,
                          reportUnsupported);
}

/* One command as an entry point's whole work: an agent job of @job on
 * @dom (ACL @acl), @name with @args (stolen), its reply in *@reply_r. */
static int
xvAgentOneCommand(virDomainPtr dom, xvDomainACLCheck acl,
                  virDomainAgentJob job, const char *name, virJSONValue *args,
                  virJSONValue **reply_r)
{
    g_autoptr(virJSONValue) owned = args;
    virDomainObj *vm;
    int ret;

    if (!(vm = xvAgentBegin(dom, acl, NULL, 0, job)))
        return -1;
    ret = xvAgentRun(dom, vm, name, g_steal_pointer(&owned), reply_r, true);
    xvAgentEnd(&vm);
    return ret;
}

int
xvAgentShutdown(virDomainPtr dom, bool reboot, bool reportError)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    g_autoptr(virJSONValue) args = NULL;
    int ret = -1;

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    /* The caller checked the ACL. */
    if (virDomainObjBeginAgentJob(vm, VIR_AGENT_JOB_MODIFY) < 0)
        goto cleanup;
    if (!xvAgentAvailable(driver, vm, reportError))
        goto endjob;
    args = virJSONValueNewObject();
    if (virJSONValueObjectAppendString(args, "mode",
                                       reboot ? "reboot" : "powerdown") < 0)
        goto endjob;
    /* qemu-ga answers nothing to a shutdown it carries out: the sync
     * showed it is there, the death or reboot event shows it did it. */
    ret = xvAgentRun(dom, vm, "guest-shutdown", g_steal_pointer(&args), NULL,
                     true);

 endjob:
    virDomainObjEndAgentJob(vm);
 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}

char *
xvDomainGetHostname(virDomainPtr dom, unsigned int flags)
{
    g_autoptr(virJSONValue) reply = NULL;
    const char *name;

    /* The DHCP leases' host name (VIR_DOMAIN_GET_HOSTNAME_LEASE) needs
     * libvirt's networks: refused (docs/libvirt-compat.md). */
    virCheckFlags(VIR_DOMAIN_GET_HOSTNAME_AGENT, NULL);

    if (xvAgentOneCommand(dom, virDomainGetHostnameEnsureACL,
                          VIR_AGENT_JOB_QUERY, "guest-get-host-name", NULL,
                          &reply) < 0)
        return NULL;
    if (virJSONValueGetType(reply) != VIR_JSON_TYPE_OBJECT ||
        !(name = virJSONValueObjectGetString(reply, "host-name"))) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("'host-name' missing in guest-get-host-name reply"));
        return NULL;
    }
    return g_strdup(name);
}

int
xvDomainGetTime(virDomainPtr dom, long long *seconds,
                unsigned int *nseconds, unsigned int flags)
{
    g_autoptr(virJSONValue) reply = NULL;
    unsigned long long t;

    virCheckFlags(0, -1);

    if (xvAgentOneCommand(dom, virDomainGetTimeEnsureACL, VIR_AGENT_JOB_QUERY,
                          "guest-get-time", NULL, &reply) < 0)
        return -1;
    if (virJSONValueGetNumberUlong(reply, &t) < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("malformed return value"));
        return -1;
    }
    *seconds = t / 1000000000ULL;
    *nseconds = t % 1000000000ULL;
    return 0;
}

int
xvDomainSetTime(virDomainPtr dom, long long seconds, unsigned int nseconds,
                unsigned int flags)
{
    g_autoptr(virJSONValue) args = NULL;
    g_autoptr(virJSONValue) reply = NULL;

    virCheckFlags(VIR_DOMAIN_TIME_SYNC, -1);

    /* With SYNC no time: the guest reads its own hardware clock. */
    if (!(flags & VIR_DOMAIN_TIME_SYNC)) {
        /* The agent takes nanoseconds since the epoch in a long long. */
        if (seconds < 0 || seconds > LLONG_MAX / 1000000000LL - 1 ||
            nseconds >= 1000000000U) {
            virReportError(VIR_ERR_INVALID_ARG,
                           _("Time '%lld' is too big for guest agent"),
                           seconds);
            return -1;
        }
        args = virJSONValueNewObject();
        if (virJSONValueObjectAppendNumberLong(
                args, "time", seconds * 1000000000LL + nseconds) < 0)
            return -1;
    }
    return xvAgentOneCommand(dom, virDomainSetTimeEnsureACL,
                             VIR_AGENT_JOB_MODIFY, "guest-set-time",
                             g_steal_pointer(&args), &reply);
}

int
xvDomainSetUserPassword(virDomainPtr dom, const char *user,
                        const char *password, unsigned int flags)
{
    g_autoptr(virJSONValue) args = virJSONValueNewObject();
    g_autoptr(virJSONValue) reply = NULL;
    g_autofree char *b64 = NULL;

    virCheckFlags(VIR_DOMAIN_PASSWORD_ENCRYPTED, -1);

    b64 = g_base64_encode((const guchar *)password, strlen(password));
    if (virJSONValueObjectAppendString(args, "username", user) < 0 ||
        virJSONValueObjectAppendString(args, "password", b64) < 0 ||
        virJSONValueObjectAppendBoolean(args, "crypted",
                                        !!(flags & VIR_DOMAIN_PASSWORD_ENCRYPTED)) < 0)
        return -1;
    return xvAgentOneCommand(dom, virDomainSetUserPasswordEnsureACL,
                             VIR_AGENT_JOB_MODIFY, "guest-set-user-password",
                             g_steal_pointer(&args), &reply);
}

/* A freeze or a thaw (@name, with @args, stolen): the count it returns. */
static int
xvAgentFreezeThaw(virDomainPtr dom, xvDomainACLCheck acl, const char *name,
                  virJSONValue *args)
{
    g_autoptr(virJSONValue) reply = NULL;
    int n;

    if (xvAgentOneCommand(dom, acl, VIR_AGENT_JOB_MODIFY, name, args,
                          &reply) < 0)
        return -1;
    if (virJSONValueGetNumberInt(reply, &n) < 0 || n < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("malformed return value"));
        return -1;
    }
    return n;
}

int
xvDomainFSFreeze(virDomainPtr dom, const char **mountpoints,
                 unsigned int nmountpoints, unsigned int flags)
{
    g_autoptr(virJSONValue) args = NULL;
    size_t i;

    virCheckFlags(0, -1);

    if (nmountpoints > 0) {
        g_autoptr(virJSONValue) list = virJSONValueNewArray();

        for (i = 0; i < nmountpoints; i++) {
            if (virJSONValueArrayAppendString(list, mountpoints[i]) < 0)
                return -1;
        }
        args = virJSONValueNewObject();
        if (virJSONValueObjectAppend(args, "mountpoints", &list) < 0)
            return -1;
    }
    return xvAgentFreezeThaw(dom, virDomainFSFreezeEnsureACL,
                             args ? "guest-fsfreeze-freeze-list"
                                  : "guest-fsfreeze-freeze",
                             g_steal_pointer(&args));
}

int
xvDomainFSThaw(virDomainPtr dom, const char **mountpoints,
               unsigned int nmountpoints, unsigned int flags)
{
    virCheckFlags(0, -1);

    if (mountpoints || nmountpoints) {
        virReportError(VIR_ERR_ARGUMENT_UNSUPPORTED, "%s",
                       _("specifying mountpoints is not supported"));
        return -1;
    }
    return xvAgentFreezeThaw(dom, virDomainFSThawEnsureACL,
                             "guest-fsfreeze-thaw", NULL);
}

/* Guest info groups, as libvirt's QEMU driver names their parameters.
 * Each returns 0, -2 (the agent lacks the command and @report is false:
 * the group is left out), or -1 with an error. */
static int
xvAgentInfoUsers(virDomainPtr dom, virDomainObj *vm,
                 virTypedParameterPtr *params, int *nparams, int *maxparams,
                 bool report)
{
    g_autoptr(virJSONValue) reply = NULL;
    size_t i, n;
    int rc;

    if ((rc = xvAgentRun(dom, vm, "guest-get-users", NULL, &reply, report)) < 0)
        return rc;
    if (virJSONValueGetType(reply) != VIR_JSON_TYPE_ARRAY) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("guest-get-users reply was missing return data"));
        return -1;
    }
    n = virJSONValueArraySize(reply);
    if (virTypedParamsAddUInt(params, nparams, maxparams, "user.count", n) < 0)
        return -1;
    for (i = 0; i < n; i++) {
        virJSONValue *e = virJSONValueArrayGet(reply, i);
        char name[VIR_TYPED_PARAM_FIELD_LENGTH];
        const char *s;
        double login;

        if (!e || !(s = virJSONValueObjectGetString(e, "user"))) {
            virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                           _("'user' missing in reply of guest-get-users"));
            return -1;
        }
        g_snprintf(name, sizeof(name), "user.%zu.name", i);
        if (virTypedParamsAddString(params, nparams, maxparams, name, s) < 0)
            return -1;
        if ((s = virJSONValueObjectGetString(e, "domain"))) {
            g_snprintf(name, sizeof(name), "user.%zu.domain", i);
            if (virTypedParamsAddString(params, nparams, maxparams, name, s) < 0)
                return -1;
        }
        if (virJSONValueObjectGetNumberDouble(e, "login-time", &login) < 0 ||
            !(login >= 0 && login < 1e15)) {
            virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                           _("'login-time' missing in reply of guest-get-users"));
            return -1;
        }
        g_snprintf(name, sizeof(name), "user.%zu.login-time", i);
        if (virTypedParamsAddULLong(params, nparams, maxparams, name,
                                    login * 1000) < 0)
            return -1;
    }
    return 0;
}

static int
xvAgentInfoOS(virDomainPtr dom, virDomainObj *vm,
              virTypedParameterPtr *params, int *nparams, int *maxparams,
              bool report)
{
    static const char *const keys[][2] = {
        { "id", "os.id" }, { "name", "os.name" },
        { "pretty-name", "os.pretty-name" }, { "version", "os.version" },
        { "version-id", "os.version-id" }, { "machine", "os.machine" },
        { "variant", "os.variant" }, { "variant-id", "os.variant-id" },
        { "kernel-release", "os.kernel-release" },
        { "kernel-version", "os.kernel-version" },
    };
    g_autoptr(virJSONValue) reply = NULL;
    size_t i;
    int rc;

    if ((rc = xvAgentRun(dom, vm, "guest-get-osinfo", NULL, &reply, report)) < 0)
        return rc;
    if (virJSONValueGetType(reply) != VIR_JSON_TYPE_OBJECT) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("guest-get-osinfo reply was missing return data"));
        return -1;
    }
    for (i = 0; i < G_N_ELEMENTS(keys); i++) {
        const char *s = virJSONValueObjectGetString(reply, keys[i][0]);

        if (s && virTypedParamsAddString(params, nparams, maxparams,
                                         keys[i][1], s) < 0)
            return -1;
    }
    return 0;
}

static int
xvAgentInfoTimezone(virDomainPtr dom, virDomainObj *vm,
                    virTypedParameterPtr *params, int *nparams, int *maxparams,
                    bool report)
{
    g_autoptr(virJSONValue) reply = NULL;
    const char *zone;
    int offset;
    int rc;

    if ((rc = xvAgentRun(dom, vm, "guest-get-timezone", NULL, &reply,
                         report)) < 0)
        return rc;
    if (virJSONValueGetType(reply) != VIR_JSON_TYPE_OBJECT) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("guest-get-timezone reply was missing return data"));
        return -1;
    }
    if ((zone = virJSONValueObjectGetString(reply, "zone")) &&
        virTypedParamsAddString(params, nparams, maxparams, "timezone.name",
                                zone) < 0)
        return -1;
    if (virJSONValueObjectGetNumberInt(reply, "offset", &offset) < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("'offset' missing in reply of guest-get-timezone"));
        return -1;
    }
    return virTypedParamsAddInt(params, nparams, maxparams, "timezone.offset",
                                offset);
}

static int
xvAgentInfoHostname(virDomainPtr dom, virDomainObj *vm,
                    virTypedParameterPtr *params, int *nparams, int *maxparams,
                    bool report)
{
    g_autoptr(virJSONValue) reply = NULL;
    const char *name;
    int rc;

    if ((rc = xvAgentRun(dom, vm, "guest-get-host-name", NULL, &reply,
                         report)) < 0)
        return rc;
    if (virJSONValueGetType(reply) != VIR_JSON_TYPE_OBJECT ||
        !(name = virJSONValueObjectGetString(reply, "host-name"))) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("'host-name' missing in guest-get-host-name reply"));
        return -1;
    }
    return virTypedParamsAddString(params, nparams, maxparams, "hostname",
                                   name);
}

#define XV_AGENT_INFO_TYPES \
    (VIR_DOMAIN_GUEST_INFO_USERS | VIR_DOMAIN_GUEST_INFO_OS | \
     VIR_DOMAIN_GUEST_INFO_TIMEZONE | VIR_DOMAIN_GUEST_INFO_HOSTNAME)

int
xvDomainGetGuestInfo(virDomainPtr dom, unsigned int types,
                     virTypedParameterPtr *params, int *nparams,
                     unsigned int flags)
{
    static const struct {
        unsigned int type;
        int (*get)(virDomainPtr, virDomainObj *, virTypedParameterPtr *,
                   int *, int *, bool);
    } groups[] = {
        { VIR_DOMAIN_GUEST_INFO_USERS, xvAgentInfoUsers },
        { VIR_DOMAIN_GUEST_INFO_OS, xvAgentInfoOS },
        { VIR_DOMAIN_GUEST_INFO_TIMEZONE, xvAgentInfoTimezone },
        { VIR_DOMAIN_GUEST_INFO_HOSTNAME, xvAgentInfoHostname },
    };
    virDomainObj *vm;
    bool report = types != 0;
    int maxparams = 0;
    int ret = -1;
    size_t i;

    virCheckFlags(0, -1);

    /* The file systems, disks and interfaces need the guest's devices
     * matched to the domain's: not done (docs/libvirt-compat.md). */
    if (types & ~XV_AGENT_INFO_TYPES) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("unsupported guest information types '0x%x'"),
                       types & ~XV_AGENT_INFO_TYPES);
        return -1;
    }
    if (types == 0)
        types = XV_AGENT_INFO_TYPES;
    *params = NULL;
    *nparams = 0;

    if (!(vm = xvAgentBegin(dom, virDomainGetGuestInfoEnsureACL, NULL, 0,
                            VIR_AGENT_JOB_QUERY)))
        return -1;
    for (i = 0; i < G_N_ELEMENTS(groups); i++) {
        if ((types & groups[i].type) &&
            groups[i].get(dom, vm, params, nparams, &maxparams, report) == -1)
            goto cleanup;
    }
    ret = 0;

 cleanup:
    if (ret < 0) {
        virTypedParamsFree(*params, *nparams);
        *params = NULL;
        *nparams = 0;
    }
    xvAgentEnd(&vm);
    return ret;
}

int
xvDomainAgentSetResponseTimeout(virDomainPtr dom, int timeout,
                                unsigned int flags)
{
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(0, -1);

    if (timeout < VIR_DOMAIN_QEMU_AGENT_COMMAND_MIN) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("guest agent timeout '%d' is less than the minimum '%d'"),
                       timeout, VIR_DOMAIN_QEMU_AGENT_COMMAND_MIN);
        return -1;
    }
    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainAgentSetResponseTimeoutEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    /* No job: a command in progress keeps the timeout it began with. */
    xvAgentSetTimeout(vm, timeout);
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}

/* ---------------------------------------------------------------------
 * The agent's channel coming and going: AGENT_LIFECYCLE events and the
 * live XML's state
 */

void
xvAgentChannelEvent(xvDriver *driver, const xlite_event *ev)
{
    static const uint8_t nouuid[VIR_UUID_BUFLEN];
    virDomainObj *vm;
    virObjectEvent *event = NULL;
    virDomainChrDef *chr;
    ssize_t idx;
    virDomainChrDeviceState state;

    if (!STREQ(ev->u.channel_state.name, XV_AGENT_CHANNEL))
        return;
    if (!(vm = virDomainObjListFindByID(driver->domains, ev->domid)))
        return;
    /* Stopped, or another instance, since the core saw it. */
    if (!virDomainObjIsActive(vm) || (uint32_t)vm->def->id != ev->domid ||
        (memcmp(ev->uuid, nouuid, VIR_UUID_BUFLEN) != 0 &&
         memcmp(vm->def->uuid, ev->uuid, VIR_UUID_BUFLEN) != 0) ||
        (idx = xvAgentChannelIndex(vm->def)) < 0)
        goto cleanup;
    chr = vm->def->channels[idx];
    state = ev->u.channel_state.state == XLITE_CHANNEL_CONNECTED
            ? VIR_DOMAIN_CHR_DEVICE_STATE_CONNECTED
            : VIR_DOMAIN_CHR_DEVICE_STATE_DISCONNECTED;
    if (chr->state == state)
        goto cleanup;
    chr->state = state;
    VIR_DEBUG("domain '%s': guest agent channel %s", vm->def->name,
              state == VIR_DOMAIN_CHR_DEVICE_STATE_CONNECTED
              ? "connected" : "disconnected");
    event = virDomainEventAgentLifecycleNewFromObj(
        vm,
        state == VIR_DOMAIN_CHR_DEVICE_STATE_CONNECTED
        ? VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED
        : VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_DISCONNECTED,
        VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_CHANNEL);

 cleanup:
    virDomainObjEndAPI(&vm);
    virObjectEventStateQueue(driver->domainEventState, event);
}

void
xvAgentChannelClosed(xvDriver *driver, virDomainObj *vm)
{
    ssize_t idx = xvAgentChannelIndex(vm->def);
    virObjectEvent *event;

    if (idx < 0 ||
        vm->def->channels[idx]->state != VIR_DOMAIN_CHR_DEVICE_STATE_CONNECTED)
        return;
    vm->def->channels[idx]->state = VIR_DOMAIN_CHR_DEVICE_STATE_DISCONNECTED;
    if (!driver->domainEventState)
        return;
    event = virDomainEventAgentLifecycleNewFromObj(
        vm, VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_DISCONNECTED,
        VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_CHANNEL);
    virObjectEventStateQueue(driver->domainEventState, event);
}

char *
xvAgentFormatState(virDomainObj *vm, char *xml)
{
    ssize_t idx = xvAgentChannelIndex(vm->def);
    const char *target = "<target type='xen' name='" XV_AGENT_CHANNEL "'/>";
    const char *state;
    g_autofree char *with = NULL;
    char *at, *out;

    if (!xml || idx < 0 || !virDomainObjIsActive(vm))
        return xml;
    switch (vm->def->channels[idx]->state) {
    case VIR_DOMAIN_CHR_DEVICE_STATE_CONNECTED:
        state = "connected";
        break;
    case VIR_DOMAIN_CHR_DEVICE_STATE_DISCONNECTED:
        state = "disconnected";
        break;
    default:
        return xml;
    }
    if (!(at = strstr(xml, target)))
        return xml;
    with = g_strdup_printf("<target type='xen' name='%s' state='%s'/>",
                           XV_AGENT_CHANNEL, state);
    out = g_strdup_printf("%.*s%s%s", (int)(at - xml), xml, with,
                          at + strlen(target));
    g_free(xml);
    return out;
}

/* ---------------------------------------------------------------------
 * virDomainInterfaceAddresses, source agent
 */

/* What the driver takes of guest-network-get-interfaces: more is a guest
 * flooding the caller. */
#define XV_AGENT_IFACES_MAX 256
#define XV_AGENT_IFACE_ADDRS_MAX 64

static int
xvAgentIfaceAddress(virDomainIPAddressPtr out, virJSONValue *obj,
                    const char *ifname)
{
    const char *type = virJSONValueObjectGetString(obj, "ip-address-type");
    const char *addr = virJSONValueObjectGetString(obj, "ip-address");
    unsigned int prefix;
    bool v4;

    if (!type || (STRNEQ(type, "ipv4") && STRNEQ(type, "ipv6"))) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("qemu agent didn't provide 'ip-address-type' field for interface '%s'"),
                       ifname);
        return -1;
    }
    v4 = STREQ(type, "ipv4");
    if (!addr || strlen(addr) >= INET6_ADDRSTRLEN) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("qemu agent didn't provide 'ip-address' field for interface '%s'"),
                       ifname);
        return -1;
    }
    if (virJSONValueObjectGetNumberUint(obj, "prefix", &prefix) < 0 ||
        prefix > (v4 ? 32 : 128)) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("malformed 'prefix' field"));
        return -1;
    }
    out->type = v4 ? VIR_IP_ADDR_TYPE_IPV4 : VIR_IP_ADDR_TYPE_IPV6;
    out->addr = g_strdup(addr);
    out->prefix = prefix;
    return 0;
}

/* The interfaces of @reply (the guest's array) into @ifaces; an alias
 * (NAME:ALIAS) adds its addresses to NAME's entry.  Returns the count. */
static int
xvAgentParseInterfaces(virJSONValue *reply, GPtrArray *ifaces)
{
    size_t i, j, n;

    if (!virJSONValueIsArray(reply) ||
        (n = virJSONValueArraySize(reply)) > XV_AGENT_IFACES_MAX) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("guest-network-get-interfaces reply was missing return data"));
        return -1;
    }
    for (i = 0; i < n; i++) {
        virJSONValue *obj = virJSONValueArrayGet(reply, i);
        virJSONValue *addrs;
        const char *name = obj ? virJSONValueObjectGetString(obj, "name") : NULL;
        g_autofree char *ifname = NULL;
        virDomainInterfacePtr iface = NULL;
        size_t k, naddrs;

        if (!name) {
            virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                           _("qemu agent didn't provide 'name' field"));
            return -1;
        }
        ifname = g_strndup(name, strcspn(name, ":"));
        for (k = 0; k < ifaces->len && !iface; k++) {
            virDomainInterfacePtr it = g_ptr_array_index(ifaces, k);

            if (STREQ(it->name, ifname))
                iface = it;
        }
        if (!iface) {
            iface = g_new0(virDomainInterface, 1);
            iface->name = g_strdup(ifname);
            iface->hwaddr = g_strdup(virJSONValueObjectGetString(obj,
                                                                 "hardware-address"));
            g_ptr_array_add(ifaces, iface);
        }
        if (!(addrs = virJSONValueObjectGet(obj, "ip-addresses")))
            continue;
        if (!virJSONValueIsArray(addrs) ||
            (naddrs = virJSONValueArraySize(addrs)) >
            XV_AGENT_IFACE_ADDRS_MAX - iface->naddrs) {
            virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                           _("Malformed ip-addresses array"));
            return -1;
        }
        iface->addrs = g_renew(virDomainIPAddress, iface->addrs,
                               iface->naddrs + naddrs);
        for (j = 0; j < naddrs; j++) {
            virJSONValue *a = virJSONValueArrayGet(addrs, j);

            if (!a || xvAgentIfaceAddress(iface->addrs + iface->naddrs, a,
                                          ifname) < 0)
                return -1;
            iface->naddrs++;
        }
    }
    return ifaces->len;
}

int
xvAgentInterfaceAddresses(virDomainPtr dom, virDomainInterfacePtr **ifaces_r,
                          unsigned int source)
{
    g_autoptr(GPtrArray) ifaces =
        g_ptr_array_new_with_free_func((GDestroyNotify)virDomainInterfaceFree);
    g_autoptr(virJSONValue) reply = NULL;
    virDomainObj *vm;
    int ret = -1;

    if (!(vm = xvAgentBegin(dom, NULL, virDomainInterfaceAddressesEnsureACL,
                            source, VIR_AGENT_JOB_QUERY)))
        return -1;
    if (xvAgentRun(dom, vm, "guest-network-get-interfaces", NULL, &reply,
                   true) < 0 ||
        (ret = xvAgentParseInterfaces(reply, ifaces)) < 0)
        goto cleanup;
    g_ptr_array_set_free_func(ifaces, NULL);
    *ifaces_r = (virDomainInterfacePtr *)g_ptr_array_free(
        g_steal_pointer(&ifaces), ret == 0);

 cleanup:
    xvAgentEnd(&vm);
    return ret;
}
