/*
 * guest.c: the simulated guest kernels.
 *
 * Each running domain's kernel is a thread of xensimd with its own GLib
 * main context.  A thread rather than a child process: the simulation must
 * see pause (a paused domain runs no instruction) and destroy at once and
 * without signals, and a thread costs a stack and one fd (its main
 * context's wakeup; its xenstore and console rings are memory,
 * xsim_ring.h) where a process would cost a whole address space and a
 * reaper.  The thread never touches the domain table: it talks to
 * xenstore over its domain's ring as the real guest would (xsim_xsc.c),
 * and to the hypervisor by posting messages
 * (hv_internal.h).  A guest is hostile input for everybody else, and its
 * code being ours changes nothing: the "garbage" script is there to prove
 * that xenstored's checks hold.
 *
 * What the kernel does, like a Linux PV guest:
 *  - prints boot messages on its console, reaches xenstore through its
 *    domain's xenstore ring (once INTRODUCE has xenstored serve it),
 *    writes control/feature-*, and watches control/shutdown, memory/target
 *    and device/;
 *  - runs the frontend side of the XenbusState handshake for every
 *    device/<kind>/<devid> with kind vbd, vif, console or vkb, and
 *    detaches a device once its backend goes to Closing;
 *  - answers control/shutdown (poweroff, halt, reboot, suspend, crash) by
 *    acknowledging it and shutting down with that reason;
 *  - follows memory/target: the hypervisor's cur_memkb becomes the target;
 *  - prints a login prompt and echoes console input;
 *  - counts the seconds it runs (its ticks), and with the script's
 *    "ticker" prints each on its console and writes it to data/ticks,
 *    beside data/boot-id, the marker its first boot made;
 *  - suspends when asked (control/shutdown = suspend): its state (ticks,
 *    boot id, the tail of its console output) goes to the hypervisor
 *    with the shutdown, and a kernel started from such a state (restore)
 *    resumes instead of booting: same boot id, ticks going on.
 *
 * Device rings are not real: the frontend writes the ring-ref and
 * event-channel nodes a backend expects, but no backend here moves data.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <xen/io/libxenvchan.h>

#include "hv_internal.h"
#include "xsim_agent.h"
#include "xsim_nbdfront.h"
#include "xsim_netfront.h"
#include "xsim_xsc.h"

/* XenbusState (xen/io/xenbus.h) */
enum {
    XSIM_XB_UNKNOWN = 0,
    XSIM_XB_INITIALISING = 1,
    XSIM_XB_INITWAIT = 2,
    XSIM_XB_INITIALISED = 3,
    XSIM_XB_CONNECTED = 4,
    XSIM_XB_CLOSING = 5,
    XSIM_XB_CLOSED = 6,
};

/* Devices a guest handles: more is a guest being flooded, not booting. */
#define XSIM_GUEST_MAX_DEVICES 64

typedef struct {
    char *kind;
    char *devid;
    char *front;            /* relative: device/<kind>/<devid> */
    char *back;             /* the backend's absolute path */
    char *back_state;       /* <back>/state, watched */
    int state;              /* ours, as last written */
    XsimNetfront *net;      /* vif: its frames, once netback connected */
    struct _XsimChan *chan; /* channel: the driver's side, once connected */
    guint64 sectors;        /* vbd: the capacity, as last read */
    /* A qdisk vbd: its disk server's NBD export (xsim_nbdfront.h), named
     * by <back>/nbd-socket and <back>/nbd-export, the latter watched. */
    XsimNbdfront *nbd;
    char *nbd_watch;        /* <back>/nbd-export */
    guint64 nbd_written;    /* the writer's blocks written, in order */
    guint nbd_errors;       /* requests that failed even after a reconnect */
    bool nbd_failing;       /* the last request failed (said once) */
    bool nbd_full;          /* the writer reached the disk's end */
    bool nbd_stopped;       /* verified: the writer writes no more */
} XsimFront;

struct _XsimGuest {
    /* Set at start, read only after. */
    XsimHv *hv;
    uint32_t domid;
    XsimRing *xenstore;     /* the domain's xenstore ring */
    char *cmdline;
    guint64 max_memkb;
    XsimRing *console;      /* hvc0's ring, shared with xenconsoled */
    XsimGuestImage *resume; /* resume from this instead of booting */
    GThread *thread;

    /* Shared with the main thread, under lock. */
    GMutex lock;
    GCond cond;
    bool paused;
    bool stop;
    XsimGuestScript script; /* faults may change it */
    bool script_changed;
    GMainContext *ctx;      /* for wakeups, set before the thread starts */
    bool nbd_verify;        /* asked to stop writing and read back */
    XsimNbdGroup *nbds;     /* the NBD connections, cut by a stop */

    /* The thread's own. */
    XsimXsc *xsc;           /* on the xenstore ring */
    bool xsc_reading;       /* false once hung or cut off */
    bool console_reading;   /* false once hung: input stays in the ring */
    GHashTable *fronts;     /* "kind/devid" -> XsimFront */
    GString *line;          /* console input being typed */
    char *hostname;         /* from our home's name, made printable */
    guint flood_id;
    guint garbage_id;
    guint crash_id;
    guint balloon_id;
    guint tick_id;
    guint nbd_writer_id;
    guint64 ticks;          /* seconds run, across saves */
    char boot_id[XSIM_GUEST_BOOT_ID_LEN + 1];
    GString *log;           /* the tail of our console output */
    bool ticker;
    guint64 garbage_n;
    bool ignore_shutdown;
    bool no_balloon;
    bool hung;
    bool done;              /* shut down: stop doing anything */

    /* Hypercalls that need an answer (hv_internal.h): one at a time,
     * answered under lock; it lives as long as the guest. */
    XsimHcall hcall;
    bool evtchn_pending;    /* under lock: a port of ours was notified */
    guint chan_timer_id;    /* channels' misbehaviour, while any needs it */
};


/* ---- the kernel file ---- */

#define XSIM_GUEST_MAGIC "#!xensim-guest"
#define XSIM_GUEST_SCRIPT_MAX (64 * 1024)

static bool
xsim_guest_parse_seconds(const char *arg,
                         int *val_r)
{
    guint64 val;

    if (!arg || !g_ascii_string_to_unsigned(arg, 10, 0, 86400, &val, NULL))
        return false;
    *val_r = val;
    return true;
}

/* The head of a kernel file, up to the longest script there may be. */
static char *
xsim_guest_read_head(const char *path,
                     GError **error)
{
    g_autofree char *head = NULL;
    ssize_t n;
    int fd;
    int err;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        err = errno;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                    "cannot read kernel '%s': %s", path, g_strerror(err));
        return NULL;
    }
    head = g_malloc0(XSIM_GUEST_SCRIPT_MAX + 1);
    n = read(fd, head, XSIM_GUEST_SCRIPT_MAX);
    err = errno;
    close(fd);
    if (n < 0) {
        /* A directory opens but does not read: not a kernel either. */
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                    "cannot read kernel '%s': %s", path, g_strerror(err));
        return NULL;
    }
    return g_steal_pointer(&head);
}

/* One directive of a guest script (a verb and at most one argument,
 * disk-io's and balloon-after's two aside) into @script; false if it is
 * not one. */
static bool
xsim_guest_parse_directive(const char *line,
                           XsimGuestScript *script)
{
    g_auto(GStrv) words = g_strsplit_set(line, " \t", 3);
    const char *verb = words[0];
    const char *arg = words[1];
    guint64 val, val2;

    if (g_str_equal(verb, "disk-io")) {
        /* disk-io READS WRITES: two numbers, nothing else. */
        if (!arg || !words[2] ||
            !g_ascii_string_to_unsigned(arg, 10, 0, 1000, &val, NULL) ||
            !g_ascii_string_to_unsigned(words[2], 10, 0, 1000, &val2, NULL))
            return false;
        script->disk_reads = val;
        script->disk_writes = val2;
        return true;
    }
    if (g_str_equal(verb, "balloon-after")) {
        /* balloon-after SECONDS KIB */
        if (!xsim_guest_parse_seconds(arg, &script->balloon_after) ||
            !words[2] ||
            !g_ascii_string_to_unsigned(words[2], 10, 16 * 1024, G_MAXUINT32,
                                        &val, NULL))
            return false;
        script->balloon_kib = val;
        return true;
    }
    if (arg && words[2])
        return false;
    if (g_str_equal(verb, "crash-after"))
        return xsim_guest_parse_seconds(arg, &script->crash_after);
    if (g_str_equal(verb, "boot-delay"))
        return xsim_guest_parse_seconds(arg, &script->boot_delay);
    /* Below the toolstack's 5 s wait for a reply. */
    if (g_str_equal(verb, "build-delay"))
        return xsim_guest_parse_seconds(arg, &script->build_delay) &&
               script->build_delay <= 4;
    if (g_str_equal(verb, "nbd-writer")) {
        if (!arg || !g_ascii_string_to_unsigned(arg, 10, 1, 10000, &val, NULL))
            return false;
        script->nbd_writer_ms = val;
        return true;
    }
    if (g_str_equal(verb, "busy-vcpu")) {
        if (!arg || !g_ascii_string_to_unsigned(arg, 10, 0, 63, &val, NULL))
            return false;
        script->busy_vcpus |= G_GUINT64_CONSTANT(1) << val;
        return true;
    }

    if (g_str_has_prefix(verb, "channel-")) {
        static const struct {
            const char *verb;
            XsimChannelMode mode;
        } modes[] = {
            { "channel-echo", XSIM_CHANNEL_ECHO },
            { "channel-sink", XSIM_CHANNEL_SINK },
            { "channel-flood", XSIM_CHANNEL_FLOOD },
            { "channel-corrupt", XSIM_CHANNEL_CORRUPT },
            { "channel-garbage", XSIM_CHANNEL_GARBAGE },
            { "channel-agent", XSIM_CHANNEL_AGENT },
        };

        if (!arg || strlen(arg) > XSIM_CHANNEL_NAME_MAX ||
            script->nchannels >= XSIM_GUEST_MAX_CHANNELS)
            return false;
        for (guint i = 0; i < G_N_ELEMENTS(modes); i++) {
            if (g_str_equal(verb, modes[i].verb)) {
                g_strlcpy(script->channels[script->nchannels].name, arg,
                          sizeof(script->channels[0].name));
                script->channels[script->nchannels++].mode = modes[i].mode;
                return true;
            }
        }
        return false;
    }

    /* The switches, which take no argument. */
    if (arg)
        return false;
    if (g_str_equal(verb, "ignore-shutdown"))
        script->ignore_shutdown = true;
    else if (g_str_equal(verb, "no-balloon"))
        script->no_balloon = true;
    else if (g_str_equal(verb, "console-flood"))
        script->console_flood = true;
    else if (g_str_equal(verb, "garbage"))
        script->garbage = true;
    else if (g_str_equal(verb, "hang"))
        script->hang = true;
    else if (g_str_equal(verb, "ticker"))
        script->ticker = true;
    else if (g_str_equal(verb, "no-agent"))
        script->no_agent = true;
    else if (g_str_equal(verb, "agent-wrong-sync"))
        script->agent_wrong_sync = true;
    else if (g_str_equal(verb, "agent-long-reply"))
        script->agent_long_reply = true;
    else
        return false;
    return true;
}

bool
xsim_guest_parse_script(const char *path,
                        XsimGuestScript *script,
                        GError **error)
{
    g_autofree char *head = NULL;
    g_auto(GStrv) lines = NULL;

    *script = (XsimGuestScript) { .crash_after = -1, .balloon_after = -1 };
    if (!(head = xsim_guest_read_head(path, error)))
        return false;
    /* Any other file is a kernel that boots the default guest. */
    if (!g_str_has_prefix(head, XSIM_GUEST_MAGIC "\n") &&
        g_strcmp0(head, XSIM_GUEST_MAGIC) != 0)
        return true;

    lines = g_strsplit(head, "\n", -1);
    for (guint i = 1; lines[i]; i++) {
        char *line = g_strstrip(lines[i]);

        if (!*line || *line == '#')
            continue;
        if (!xsim_guest_parse_directive(line, script)) {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                        "guest script '%s', line %u: bad directive '%s'",
                        path, i + 1, line);
            return false;
        }
    }
    return true;
}

/* ---- the console ---- */

/*
 * Output goes to the console ring without blocking: what xenconsoled has
 * not taken when the ring is full is lost, never waited for.
 */
static void
xsim_guest_write(XsimGuest *guest,
                 const char *text,
                 gsize len)
{
    xsim_ring_front_write(guest->console, text, len);
    /* The kernel's log buffer: the last XSIM_GUEST_LOG_MAX bytes. */
    g_string_append_len(guest->log, text, len);
    if (guest->log->len > XSIM_GUEST_LOG_MAX)
        g_string_erase(guest->log, 0, guest->log->len - XSIM_GUEST_LOG_MAX);
}

static void G_GNUC_PRINTF(2, 3)
xsim_guest_printf(XsimGuest *guest,
                  const char *fmt,
                  ...)
{
    g_autofree char *text = NULL;
    va_list ap;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    xsim_guest_write(guest, text, strlen(text));
}

static void
xsim_guest_prompt(XsimGuest *guest)
{
    xsim_guest_printf(guest, "\r\nDebian GNU/Linux 12 %s hvc0\r\n\r\n%s login: ",
                      guest->hostname, guest->hostname);
}

/* A getty that never lets anyone in, and echoes what is typed. */
static void
xsim_guest_console_in(XsimGuest *guest)
{
    char buf[512];
    gsize n;

    if (!guest->console_reading)
        return;
    while ((n = xsim_ring_front_read(guest->console, buf, sizeof(buf))) > 0) {
        for (gsize i = 0; i < n; i++) {
            char c = buf[i];

            if (c == '\r' || c == '\n') {
                xsim_guest_printf(guest, "\r\nLogin incorrect\r\n");
                xsim_guest_prompt(guest);
                g_string_truncate(guest->line, 0);
            } else if (guest->line->len < 256) {
                g_string_append_c(guest->line, c);
                xsim_guest_write(guest, &c, 1);
            }
        }
    }
}

/*
 * Either ring's kick (xenstored's replies and events, xenconsoled's
 * input): the thread reads them before it waits again.
 */
static void
xsim_guest_kick(XsimRing *ring,
                gpointer opaque)
{
    XsimGuest *guest = opaque;

    g_main_context_wakeup(guest->ctx);
}

/* ---- sleeping, pausing, stopping ---- */

/* Sleep up to @seconds unless stopped; pause stretches it. */
static bool
xsim_guest_sleep(XsimGuest *guest,
                 gint64 seconds_ms)
{
    gint64 end = g_get_monotonic_time() + seconds_ms * 1000;
    bool stop;

    g_mutex_lock(&guest->lock);
    while (!guest->stop && (guest->paused || g_get_monotonic_time() < end)) {
        if (guest->paused)
            g_cond_wait(&guest->cond, &guest->lock);
        else
            g_cond_wait_until(&guest->cond, &guest->lock, end);
    }
    stop = guest->stop;
    g_mutex_unlock(&guest->lock);
    return !stop;
}

/* ---- shutting down ---- */

/*
 * The log as the state's text: echoed input may be any bytes, and making
 * them valid UTF-8 may lengthen them (U+FFFD is 3 bytes): the tail that
 * fits XSIM_GUEST_LOG_MAX, cut at a character.
 */
static char *
xsim_guest_log_text(GString *log)
{
    g_autofree char *text = g_utf8_make_valid(log->str, log->len);
    gsize len = strlen(text);
    const char *from = text;

    if (len > XSIM_GUEST_LOG_MAX) {
        from = text + len - XSIM_GUEST_LOG_MAX;
        while (*from && (*from & 0xc0) == 0x80)
            from++;
    }
    return g_strdup(from);
}

static void
xsim_guest_shutdown(XsimGuest *guest,
                    XsimShutdownReason reason)
{
    if (guest->done)
        return;
    guest->done = true;
    xsim_guest_printf(guest, "\r\nreboot: %s\r\n",
                      reason == XSIM_SHUTDOWN_REBOOT ? "Restarting system" :
                      reason == XSIM_SHUTDOWN_CRASH ? "Kernel panic - not syncing" :
                      reason == XSIM_SHUTDOWN_SUSPEND ? "Suspending" :
                      "Power down");
    if (reason == XSIM_SHUTDOWN_SUSPEND) {
        XsimGuestImage *image = g_new0(XsimGuestImage, 1);

        image->ticks = guest->ticks;
        memcpy(image->boot_id, guest->boot_id, sizeof(image->boot_id));
        image->log = xsim_guest_log_text(guest->log);
        xsim_hv_post_suspended(guest->hv, guest->domid, image);
    }
    xsim_hv_post_shutdown(guest->hv, guest->domid, reason);
}

static gboolean
xsim_guest_crash_timer(gpointer opaque)
{
    XsimGuest *guest = opaque;

    guest->crash_id = 0;
    xsim_guest_shutdown(guest, XSIM_SHUTDOWN_CRASH);
    return G_SOURCE_REMOVE;
}

/* control/shutdown changed: Linux's shutdown_handler(). */
static void
xsim_guest_control_shutdown(XsimGuest *guest)
{
    g_autofree char *req = NULL;
    XsimShutdownReason reason;

    if (xsim_xsc_read(guest->xsc, "control/shutdown", &req) != 0 || !*req)
        return;
    if (guest->ignore_shutdown)
        return;
    if (g_str_equal(req, "poweroff") || g_str_equal(req, "halt"))
        reason = XSIM_SHUTDOWN_POWEROFF;
    else if (g_str_equal(req, "reboot"))
        reason = XSIM_SHUTDOWN_REBOOT;
    else if (g_str_equal(req, "suspend"))
        reason = XSIM_SHUTDOWN_SUSPEND;
    else if (g_str_equal(req, "crash"))
        reason = XSIM_SHUTDOWN_CRASH;
    else {
        /* The value is the toolstack's, but print only what is printable. */
        g_autofree char *safe = g_strcanon(g_strndup(req, 32),
                                           G_CSET_a_2_z G_CSET_A_2_Z "0123456789-_",
                                           '?');

        xsim_guest_printf(guest, "Ignoring shutdown request: %s\r\n", safe);
        return;
    }
    /* Acknowledge, as Linux does, so the toolstack knows we heard. */
    xsim_xsc_write(guest->xsc, "control/shutdown", "", 0);
    xsim_guest_shutdown(guest, reason);
}

/* ---- the balloon ---- */

/* The balloon goes to @target KiB, and the guest says what it then sees. */
static void
xsim_guest_balloon_to(XsimGuest *guest,
                      guint64 target)
{
    /* The hypervisor clamps to max_memkb; the guest never goes below 16 MiB. */
    target = MAX(target, 16 * 1024);
    xsim_hv_post_memkb(guest->hv, guest->domid, target);
    /*
     * What it then sees of its memory, as XenServer's guest tools write
     * it (data/meminfo_total, _free) and _available: a quarter in use, an
     * eighth more in caches it could drop.
     */
    xsim_xsc_printf(guest->xsc, "data/meminfo_total", "%" G_GUINT64_FORMAT,
                    target);
    xsim_xsc_printf(guest->xsc, "data/meminfo_free", "%" G_GUINT64_FORMAT,
                    target / 4 * 3);
    xsim_xsc_printf(guest->xsc, "data/meminfo_available",
                    "%" G_GUINT64_FORMAT, target / 8 * 7);
}

static void
xsim_guest_memory_target(XsimGuest *guest)
{
    g_autofree char *val = NULL;
    guint64 target;

    if (guest->no_balloon ||
        xsim_xsc_read(guest->xsc, "memory/target", &val) != 0 ||
        !g_ascii_string_to_unsigned(val, 10, 0, G_MAXUINT64 / 2, &target, NULL))
        return;
    xsim_guest_balloon_to(guest, target);
}

/* A script's balloon-after: the guest balloons on its own, as Linux's
 * self-ballooning does, without a new memory/target. */
static gboolean
xsim_guest_balloon_timer(gpointer opaque)
{
    XsimGuest *guest = opaque;
    guint64 kib;

    guest->balloon_id = 0;
    g_mutex_lock(&guest->lock);
    kib = guest->script.balloon_kib;
    g_mutex_unlock(&guest->lock);
    if (!guest->done)
        xsim_guest_balloon_to(guest, kib);
    return G_SOURCE_REMOVE;
}

/* ---- frontends ---- */

static void xsim_chan_free(struct _XsimChan *chan);
static void xsim_chan_connect(XsimGuest *guest, XsimFront *front);
static void xsim_chan_disconnect(XsimGuest *guest, XsimFront *front);

static void
xsim_front_free(XsimFront *front)
{
    xsim_chan_free(front->chan);
    xsim_netfront_free(front->net);
    xsim_nbdfront_free(front->nbd);
    g_free(front->nbd_watch);
    g_free(front->kind);
    g_free(front->devid);
    g_free(front->front);
    g_free(front->back);
    g_free(front->back_state);
    g_free(front);
}

static void
xsim_front_set_state(XsimGuest *guest,
                     XsimFront *front,
                     int state)
{
    g_autofree char *path = g_strdup_printf("%s/state", front->front);

    if (xsim_xsc_printf(guest->xsc, path, "%d", state) == 0)
        front->state = state;
}

/* Whether the backend offers @feature (its node reads "1", or any
 * positive number for a count). */
static bool
xsim_front_backend_has(XsimGuest *guest,
                       XsimFront *front,
                       const char *feature)
{
    g_autofree char *path = g_strdup_printf("%s/%s", front->back, feature);
    g_autofree char *val = NULL;
    guint64 n;

    return xsim_xsc_read(guest->xsc, path, &val) == 0 &&
           g_ascii_string_to_unsigned(val, 10, 1, 4096, &n, NULL);
}

/* What the frontend drivers write before Initialised (ring pages are fake). */
static void
xsim_front_publish(XsimGuest *guest,
                   XsimFront *front)
{
    XsimXsc *xsc = guest->xsc;
    guint n = g_str_hash(front->front) % 1000;
    g_autofree char *f = g_strdup(front->front);

#define XSIM_FRONT_W(node, ...) \
    do { \
        g_autofree char *p_ = g_strdup_printf("%s/" node, f); \
        xsim_xsc_printf(xsc, p_, __VA_ARGS__); \
    } while (0)

    if (g_str_equal(front->kind, "vbd")) {
        XSIM_FRONT_W("ring-ref", "%u", 8 + n);
        XSIM_FRONT_W("event-channel", "%u", 10 + n % 100);
        XSIM_FRONT_W("protocol", "%s", "x86_64-abi");
        XSIM_FRONT_W("feature-persistent", "%d", 1);
    } else if (g_str_equal(front->kind, "vif")) {
        /* netfront (Linux 6.1) with one queue (one vcpu): flat ring
         * nodes, an event channel each way where the backend offers it,
         * then its features and its MTU. */
        if (xsim_front_backend_has(guest, front, "multi-queue-max-queues"))
            XSIM_FRONT_W("multi-queue-num-queues", "%d", 1);
        XSIM_FRONT_W("tx-ring-ref", "%u", 8 + n);
        XSIM_FRONT_W("rx-ring-ref", "%u", 9 + n);
        if (xsim_front_backend_has(guest, front,
                                   "feature-split-event-channels")) {
            XSIM_FRONT_W("event-channel-tx", "%u", 10 + n % 100);
            XSIM_FRONT_W("event-channel-rx", "%u", 11 + n % 100);
        } else {
            XSIM_FRONT_W("event-channel", "%u", 10 + n % 100);
        }
        XSIM_FRONT_W("request-rx-copy", "%d", 1);
        XSIM_FRONT_W("feature-rx-notify", "%d", 1);
        XSIM_FRONT_W("feature-sg", "%d", 1);
        XSIM_FRONT_W("feature-gso-tcpv4", "%d", 1);
        XSIM_FRONT_W("feature-gso-tcpv6", "%d", 1);
        XSIM_FRONT_W("feature-ipv6-csum-offload", "%d", 1);
        if (xsim_front_backend_has(guest, front, "feature-xdp-headroom"))
            XSIM_FRONT_W("xdp-headroom", "%d", 0);
        XSIM_FRONT_W("mtu", "%d", 1500);
    } else if (g_str_equal(front->kind, "vkb")) {
        XSIM_FRONT_W("page-ref", "%u", 8 + n);
        XSIM_FRONT_W("event-channel", "%u", 10 + n % 100);
    } else {
        XSIM_FRONT_W("ring-ref", "%u", 8 + n);
        XSIM_FRONT_W("port", "%u", 10 + n % 100);
    }
#undef XSIM_FRONT_W
}

static void
xsim_front_detach(XsimGuest *guest,
                  XsimFront *front)
{
    xsim_xsc_unwatch(guest->xsc, front->back_state, "back");
    if (front->nbd_watch)
        xsim_xsc_unwatch(guest->xsc, front->nbd_watch, "nbd");
    /* The key is the "kind/devid" tail of front->front: frees @front. */
    g_hash_table_remove(guest->fronts, front->front + strlen("device/"));
}

/*
 * What the script asks of a disk once connected: WRITES writes of 4 KiB
 * (8 sectors) at the start of the disk, request N at sector 8 N, each
 * filled with "xensim write N" and zeros, then READS reads of the same
 * blocks.  Requests go to blkback as a ring would carry them; blkback
 * serves them on the disk's file and counts them.
 */
#define XSIM_GUEST_IO_SECTORS 8

static void
xsim_front_disk_io(XsimGuest *guest,
                   XsimFront *front)
{
    guint64 devid;
    guint reads, writes;

    g_mutex_lock(&guest->lock);
    reads = guest->script.disk_reads;
    writes = guest->script.disk_writes;
    g_mutex_unlock(&guest->lock);
    if ((!reads && !writes) ||
        !g_ascii_string_to_unsigned(front->devid, 10, 0, G_MAXUINT32, &devid,
                                    NULL))
        return;
    for (guint i = 0; i < writes; i++) {
        char block[XSIM_GUEST_IO_SECTORS * 512] = { 0 };

        g_snprintf(block, sizeof(block), "xensim write %u\n", i);
        xsim_backends_guest_io(guest->hv->backends, guest->domid, devid, true,
                               (guint64)i * XSIM_GUEST_IO_SECTORS,
                               XSIM_GUEST_IO_SECTORS, block);
    }
    for (guint i = 0; i < reads; i++)
        xsim_backends_guest_io(guest->hv->backends, guest->domid, devid, false,
                               (guint64)(writes ? i % writes : i) *
                               XSIM_GUEST_IO_SECTORS,
                               XSIM_GUEST_IO_SECTORS, NULL);
    xsim_guest_printf(guest, "blkfront: %s: %u reads, %u writes\r\n",
                      front->devid, reads, writes);
}

/*
 * netback is connected: the guest's end of its interface carries frames
 * (xsim_netfront.c), with the MAC the toolstack gave the frontend and
 * the guest's static address until a DHCP server leases one.  The interface is the one netback named
 * (the toolstack's vifname, else vif<domid>.<devid>).
 */
static void
xsim_front_net_connect(XsimGuest *guest,
                       XsimFront *front)
{
    g_autofree char *mac_path = g_strdup_printf("%s/mac", front->front);
    g_autofree char *name_path = g_strdup_printf("%s/vifname", front->back);
    g_autofree char *mac_text = NULL;
    g_autofree char *ifname = NULL;
    uint32_t addr = xsim_net_guest_addr(guest->domid);
    char addr_text[INET_ADDRSTRLEN];
    guint8 mac[6];
    int err = 0;

    if (front->net)
        return;
    if (xsim_xsc_read(guest->xsc, mac_path, &mac_text) != 0 ||
        !xsim_netfront_parse_mac(mac_text, mac)) {
        xsim_guest_printf(guest, "xen_netfront: vif %s: no valid mac\r\n",
                          front->devid);
        return;
    }
    if (xsim_xsc_read(guest->xsc, name_path, &ifname) != 0)
        ifname = g_strdup_printf("vif%u.%s", guest->domid, front->devid);
    if (!(front->net = xsim_netfront_connect(guest->hv->net, ifname, mac,
                                             addr, guest->hostname, &err))) {
        if (err != ENETDOWN)
            xsim_guest_printf(guest, "xen_netfront: vif %s: %s\r\n",
                              front->devid, g_strerror(err));
        return;
    }
    inet_ntop(AF_INET, &addr, addr_text, sizeof(addr_text));
    xsim_guest_printf(guest, "xen_netfront: vif %s: %s/%d until a DHCP lease\r\n",
                      front->devid, addr_text, XSIM_NET_PREFIX);
}

/* ---- a qdisk's NBD export ---- */

/*
 * The export's coordinates from the backend directory.  The core writes
 * them, but a backend directory is no more trusted than any value read
 * here: an absolute socket path that fits a socket's name, of printable
 * characters, and an export name of the disk-name characters.
 */
static int
xsim_front_nbd_where(XsimGuest *guest,
                     XsimFront *front,
                     char **socket_r,
                     char **export_r)
{
    g_autofree char *spath = g_strdup_printf("%s/nbd-socket", front->back);
    g_autofree char *sock = NULL;
    g_autofree char *export = NULL;
    int rc;

    if ((rc = xsim_xsc_read(guest->xsc, spath, &sock)) != 0 ||
        (rc = xsim_xsc_read(guest->xsc, front->nbd_watch, &export)) != 0)
        return rc;
    if (sock[0] != '/' || strlen(sock) >= 108 ||
        !g_str_is_ascii(sock) ||
        strspn(sock, "/ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789._-+") != strlen(sock) ||
        !*export || strlen(export) > 64 ||
        strspn(export, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                       "0123456789._-") != strlen(export))
        return EINVAL;
    *socket_r = g_steal_pointer(&sock);
    *export_r = g_steal_pointer(&export);
    return 0;
}

/*
 * (Re)connects to the disk's export, as published now, and reads its
 * first block as Linux reads a new disk's partition table.  0, or an
 * errno with a message in *msg_r.
 */
static int
xsim_front_nbd_connect(XsimGuest *guest,
                       XsimFront *front,
                       char **msg_r)
{
    g_autofree char *sock = NULL;
    g_autofree char *export = NULL;
    g_autofree char *path = NULL;
    guint8 block[XSIM_NBD_BLOCK];
    guint64 size;
    int err;

    xsim_nbdfront_disconnect(front->nbd);
    if ((err = xsim_front_nbd_where(guest, front, &sock, &export)) != 0) {
        *msg_r = g_strdup(err == EINVAL ? "the backend names no valid export"
                                        : "the backend names no export");
        return err;
    }
    if ((err = xsim_nbdfront_connect(front->nbd, sock, export, msg_r)) != 0)
        return err;
    size = xsim_nbdfront_size(front->nbd);
    if (size >= sizeof(block) &&
        (err = xsim_nbdfront_io(front->nbd, false, block, sizeof(block), 0,
                                msg_r)) != 0) {
        xsim_nbdfront_disconnect(front->nbd);
        return err;
    }
    path = g_strdup_printf("data/nbd/%s/size", front->devid);
    xsim_xsc_printf(guest->xsc, path, "%" G_GUINT64_FORMAT, size);
    xsim_guest_printf(guest, "blkfront: %s: NBD export '%s', %" G_GUINT64_FORMAT
                      " bytes\r\n", front->devid, export, size);
    return 0;
}

/* The backend (re)published the export: connect to it again. */
static void
xsim_front_nbd_changed(XsimGuest *guest,
                       XsimFront *front)
{
    g_autofree char *msg = NULL;
    g_autofree char *sock = NULL;
    g_autofree char *export = NULL;

    /* Not connected to its backend yet (this comes again then), or not
     * published yet (the watch's first event): nothing to say. */
    if (front->state != XSIM_XB_CONNECTED ||
        xsim_front_nbd_where(guest, front, &sock, &export) == ENOENT)
        return;
    if (xsim_front_nbd_connect(guest, front, &msg) != 0)
        xsim_guest_printf(guest, "blkfront: %s: NBD: %s\r\n", front->devid,
                          msg);
}

/*
 * One block read or written, connecting again once if the connection
 * failed (the export went and came back, as at a resize: the request is
 * made again; a write of the same block is idempotent).
 */
static int
xsim_front_nbd_io(XsimGuest *guest,
                  XsimFront *front,
                  bool write,
                  guint8 *block,
                  guint64 offset,
                  char **msg_r)
{
    int err = 0;

    for (int attempt = 0; attempt < 2; attempt++) {
        g_clear_pointer(msg_r, g_free);
        if (!xsim_nbdfront_connected(front->nbd) &&
            (err = xsim_front_nbd_connect(guest, front, msg_r)) != 0)
            continue;
        err = xsim_nbdfront_io(front->nbd, write, block, XSIM_NBD_BLOCK,
                               offset, msg_r);
        if (err == 0 || err == EINVAL)
            break;
        xsim_nbdfront_disconnect(front->nbd);
    }
    return err;
}

static void
xsim_front_nbd_publish(XsimGuest *guest,
                       XsimFront *front)
{
    g_autofree char *path = g_strdup_printf("data/nbd/%s/written",
                                            front->devid);

    xsim_xsc_printf(guest->xsc, path, "%" G_GUINT64_FORMAT,
                    front->nbd_written);
}

/* The writer's next block on one disk: block N holds pattern N. */
static void
xsim_front_nbd_write_next(XsimGuest *guest,
                          XsimFront *front)
{
    guint8 block[XSIM_NBD_BLOCK];
    g_autofree char *msg = NULL;
    guint64 offset = front->nbd_written * XSIM_NBD_BLOCK;
    int err;

    if (front->nbd_stopped || front->nbd_full ||
        front->state != XSIM_XB_CONNECTED)
        return;
    if (!xsim_nbdfront_connected(front->nbd)) {
        g_autofree char *sock = NULL;
        g_autofree char *export = NULL;

        /* Nothing published yet: the writer waits for its disk server. */
        if (xsim_front_nbd_where(guest, front, &sock, &export) == ENOENT &&
            !front->nbd_failing)
            return;
        if ((err = xsim_front_nbd_connect(guest, front, &msg)) != 0)
            goto fail;
    }
    if (offset + XSIM_NBD_BLOCK > xsim_nbdfront_size(front->nbd)) {
        front->nbd_full = true;
        xsim_guest_printf(guest, "nbd-writer: %s: the disk is full after %"
                          G_GUINT64_FORMAT " blocks\r\n", front->devid,
                          front->nbd_written);
        xsim_front_nbd_publish(guest, front);
        return;
    }
    xsim_nbd_pattern(front->nbd_written, block);
    if ((err = xsim_front_nbd_io(guest, front, true, block, offset,
                                 &msg)) != 0)
        goto fail;
    if (front->nbd_failing)
        xsim_guest_printf(guest, "nbd-writer: %s: writing again\r\n",
                          front->devid);
    front->nbd_failing = false;
    if (++front->nbd_written % 64 == 0)
        xsim_front_nbd_publish(guest, front);
    return;

 fail:
    /* Said once; the next tick tries again (a server that comes back). */
    front->nbd_errors++;
    if (!front->nbd_failing)
        xsim_guest_printf(guest, "nbd-writer: %s: I/O error on block %"
                          G_GUINT64_FORMAT ": %s\r\n", front->devid,
                          front->nbd_written, msg ? msg : g_strerror(err));
    front->nbd_failing = true;
}

/* @fn on each qdisk of a guest that is up and reading its xenstore. */
static void
xsim_guest_each_nbd(XsimGuest *guest,
                    void (*fn)(XsimGuest *guest, XsimFront *front))
{
    GHashTableIter iter;
    gpointer value;

    if (guest->done || guest->hung || !guest->xsc)
        return;
    g_hash_table_iter_init(&iter, guest->fronts);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        XsimFront *front = value;

        if (front->nbd)
            fn(guest, front);
    }
}

static gboolean
xsim_guest_nbd_writer_timer(gpointer opaque)
{
    xsim_guest_each_nbd(opaque, xsim_front_nbd_write_next);
    return G_SOURCE_CONTINUE;
}

/*
 * Asked to check (xensimctl disk-verify): the writer stops, flushes, and
 * reads every block it wrote back.  The result is on the console and in
 * data/nbd/<devid>/verify: "writes=N mismatches=M errors=E first-bad=B"
 * (B the first block read back wrong or unreadable, -1 if none; E the
 * requests that failed, writes included).
 */
static void
xsim_front_nbd_verify(XsimGuest *guest,
                      XsimFront *front)
{
    g_autofree char *path = g_strdup_printf("data/nbd/%s/verify",
                                            front->devid);
    g_autofree char *msg = NULL;
    guint8 want[XSIM_NBD_BLOCK];
    guint8 got[XSIM_NBD_BLOCK];
    guint64 mismatches = 0;
    gint64 first_bad = -1;
    int err;

    front->nbd_stopped = true;
    if ((!xsim_nbdfront_connected(front->nbd) &&
         xsim_front_nbd_connect(guest, front, &msg) != 0) ||
        xsim_nbdfront_flush(front->nbd, &msg) != 0) {
        front->nbd_errors++;
        xsim_guest_printf(guest, "nbd-writer: %s: flush: %s\r\n",
                          front->devid, msg ? msg : "failed");
        g_clear_pointer(&msg, g_free);
    }
    for (guint64 n = 0; n < front->nbd_written; n++) {
        xsim_nbd_pattern(n, want);
        err = xsim_front_nbd_io(guest, front, false, got, n * XSIM_NBD_BLOCK,
                                &msg);
        if (err != 0)
            front->nbd_errors++;
        if (err != 0 || memcmp(want, got, sizeof(want)) != 0) {
            mismatches++;
            if (first_bad < 0) {
                first_bad = n;
                xsim_guest_printf(guest, "nbd-writer: %s: block %"
                                  G_GUINT64_FORMAT " reads back wrong%s%s\r\n",
                                  front->devid, n, err ? ": " : "",
                                  err && msg ? msg : "");
            }
        }
    }
    xsim_front_nbd_publish(guest, front);
    xsim_xsc_printf(guest->xsc, path, "writes=%" G_GUINT64_FORMAT
                    " mismatches=%" G_GUINT64_FORMAT " errors=%u first-bad=%"
                    G_GINT64_FORMAT, front->nbd_written, mismatches,
                    front->nbd_errors, first_bad);
    xsim_guest_printf(guest, "nbd-writer: %s: %" G_GUINT64_FORMAT " writes "
                      "read back, %" G_GUINT64_FORMAT " mismatches, %u "
                      "errors\r\n", front->devid, front->nbd_written,
                      mismatches, front->nbd_errors);
}

/* The backend's "sectors": a decimal, or it is ignored, like Linux. */
static bool
xsim_front_read_sectors(XsimGuest *guest,
                        XsimFront *front,
                        guint64 *sectors_r)
{
    g_autofree char *p = g_strdup_printf("%s/sectors", front->back);
    g_autofree char *val = NULL;

    return xsim_xsc_read(guest->xsc, p, &val) == 0 &&
           g_ascii_string_to_unsigned(val, 10, 0, G_MAXUINT64, sectors_r,
                                      NULL);
}

/* The backend changed state: xenbus' otherend_changed() for one driver. */
static void
xsim_front_backend_changed(XsimGuest *guest,
                           XsimFront *front)
{
    g_autofree char *val = NULL;
    guint64 state = XSIM_XB_UNKNOWN;
    int rc;

    rc = xsim_xsc_read(guest->xsc, front->back_state, &val);
    if (rc == 0 && !g_ascii_string_to_unsigned(val, 10, 0, 6, &state, NULL))
        return;     /* a backend writing nonsense is ignored, like Linux */

    if (g_str_equal(front->kind, "channel")) {
        if (state == XSIM_XB_INITWAIT || state == XSIM_XB_CONNECTED) {
            xsim_chan_connect(guest, front);
        } else if (state >= XSIM_XB_CLOSING || rc == ENOENT) {
            xsim_chan_disconnect(guest, front);
            if (front->state != XSIM_XB_CLOSED && rc == 0)
                xsim_front_set_state(guest, front, XSIM_XB_CLOSED);
            xsim_front_detach(guest, front);
        }
        return;
    }

    switch (state) {
    case XSIM_XB_INITWAIT:
        if (front->state < XSIM_XB_INITIALISED) {
            xsim_front_publish(guest, front);
            /* netfront connects right away; the others wait for the backend. */
            xsim_front_set_state(guest, front, g_str_equal(front->kind, "vif") ?
                                 XSIM_XB_CONNECTED : XSIM_XB_INITIALISED);
        }
        break;
    case XSIM_XB_CONNECTED:
        if (front->state < XSIM_XB_INITIALISED)
            xsim_front_publish(guest, front);
        if (front->state != XSIM_XB_CONNECTED) {
            xsim_front_set_state(guest, front, XSIM_XB_CONNECTED);
            if (g_str_equal(front->kind, "vbd")) {
                if (xsim_front_read_sectors(guest, front, &front->sectors))
                    xsim_guest_printf(guest, "blkfront: %s: %" G_GUINT64_FORMAT
                                      " sectors\r\n", front->devid,
                                      front->sectors);
                xsim_front_disk_io(guest, front);
                if (front->nbd)
                    xsim_front_nbd_changed(guest, front);
            }
        } else if (g_str_equal(front->kind, "vbd")) {
            guint64 sectors;

            /* Connected again while connected: the backend rewrote its
             * state after a resize (xen_vbd_resize), and blkfront reads
             * the capacity again (blkfront_connect). */
            if (xsim_front_read_sectors(guest, front, &sectors) &&
                sectors != front->sectors) {
                front->sectors = sectors;
                xsim_guest_printf(guest, "blkfront: %s: changing capacity to "
                                  "%" G_GUINT64_FORMAT " sectors\r\n",
                                  front->devid, sectors);
            }
        }
        if (g_str_equal(front->kind, "vif"))
            xsim_front_net_connect(guest, front);
        break;
    case XSIM_XB_CLOSING:
    case XSIM_XB_CLOSED:
    case XSIM_XB_UNKNOWN:
        /* Backend leaving (or gone): close our side and forget the device. */
        if (rc == 0 || rc == ENOENT) {
            if (front->state != XSIM_XB_CLOSED)
                xsim_front_set_state(guest, front, XSIM_XB_CLOSED);
            if (state != XSIM_XB_UNKNOWN || rc == ENOENT)
                xsim_front_detach(guest, front);
        }
        break;
    default:
        break;
    }
}

static void
xsim_guest_probe_device(XsimGuest *guest,
                        const char *kind,
                        const char *devid)
{
    g_autofree char *key = g_strdup_printf("%s/%s", kind, devid);
    g_autofree char *bpath = NULL;
    g_autofree char *back = NULL;
    g_autofree char *spath = NULL;
    g_autofree char *state = NULL;
    XsimFront *front;

    if (g_hash_table_contains(guest->fronts, key) ||
        g_hash_table_size(guest->fronts) >= XSIM_GUEST_MAX_DEVICES)
        return;
    /* A device the toolstack is still writing: the next event brings it. */
    bpath = g_strdup_printf("device/%s/backend", key);
    if (xsim_xsc_read(guest->xsc, bpath, &back) != 0 || back[0] != '/')
        return;
    spath = g_strdup_printf("device/%s/state", key);
    if (xsim_xsc_read(guest->xsc, spath, &state) != 0)
        return;
    /* A frontend that was closed stays closed until the toolstack resets it. */
    if (g_str_equal(state, "6"))
        return;

    front = g_new0(XsimFront, 1);
    front->kind = g_strdup(kind);
    front->devid = g_strdup(devid);
    front->front = g_strdup_printf("device/%s", key);
    front->back = g_steal_pointer(&back);
    front->back_state = g_strdup_printf("%s/state", front->back);
    front->state = XSIM_XB_INITIALISING;
    if (g_str_equal(kind, "vbd") && strstr(front->back, "/backend/qdisk/")) {
        front->nbd = xsim_nbdfront_new(guest->nbds);
        front->nbd_watch = g_strdup_printf("%s/nbd-export", front->back);
    }
    g_hash_table_insert(guest->fronts, front->front + strlen("device/"), front);
    /* The initial watch event runs the handshake from wherever it stands. */
    if (xsim_xsc_watch(guest->xsc, front->back_state, "back") != 0 ||
        (front->nbd_watch &&
         xsim_xsc_watch(guest->xsc, front->nbd_watch, "nbd") != 0))
        g_hash_table_remove(guest->fronts, key);
}

/* device/ changed: probe new devices, as xenbus_probe_frontend does. */
static void
xsim_guest_scan_devices(XsimGuest *guest)
{
    static const char *const kinds[] = { "vbd", "vif", "console", "vkb",
                                         "channel" };

    for (guint k = 0; k < G_N_ELEMENTS(kinds); k++) {
        g_autofree char *dir = g_strdup_printf("device/%s", kinds[k]);
        g_auto(GStrv) devids = NULL;

        if (xsim_xsc_directory(guest->xsc, dir, &devids) != 0)
            continue;
        for (guint i = 0; devids[i]; i++) {
            if (strspn(devids[i], "0123456789") == strlen(devids[i]))
                xsim_guest_probe_device(guest, kinds[k], devids[i]);
        }
    }
}

/* The device whose backend state node (@nbd: export node) is @path. */
static XsimFront *
xsim_guest_front_by_watch(XsimGuest *guest,
                          const char *path,
                          bool nbd)
{
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, guest->fronts);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        XsimFront *front = value;

        if (g_strcmp0(nbd ? front->nbd_watch : front->back_state, path) == 0)
            return front;
    }
    return NULL;
}

/* ---- channels (docs/channels.md) ---- */

static guint xsim_guest_add_timer(XsimGuest *guest, GSource *source,
                                  GSourceFunc fn);

/*
 * A channel is a vchan (xen/io/libxenvchan.h) whose server is dom0: the
 * toolstack grants the pages and the guest maps them, so that no page of
 * the guest is ever held by dom0.  Page 0 of the grant is the shared
 * struct vchan_interface; the left ring (our writes, dom0's reads) and
 * the right ring (dom0's writes, our reads) follow, their sizes given by
 * left_order and right_order.  In the simulation one grant covers all the
 * pages (grant_share's "pages"), so the grants[] list repeats ring-ref.
 *
 * With the backend's grant-side = "guest" (the toolstack's debug switch
 * for the zombie test) the roles are the other way round: we share the
 * pages and publish their ref in our frontend's ring-ref, and dom0 maps
 * them.
 */
#define XSIM_CHAN_RING_ORDER 14   /* 16 KiB each way */
#define XSIM_CHAN_PAGES (1 + 2 * (1 << (XSIM_CHAN_RING_ORDER - 12)))

typedef struct _XsimChan {
    XsimChannelMode mode;
    bool guest_grants;      /* the debug layout: our pages, dom0 maps */
    uint32_t gref;          /* the grant we map, or ours */
    uint32_t port;          /* ours, bound to dom0's */
    uint32_t dom0_port;
    void *mem;
    gsize len;
    guint64 moved;          /* bytes read and written, for the console */
    XsimAgent *agent;       /* AGENT: qemu-ga, and its replies not sent */
    GString *agent_out;
} XsimChan;

/* What qemu-ga's replies may hold back before it reads no more. */
#define XSIM_AGENT_OUT_MAX (64 * 1024)

/* Any call of the kernel that needs an answer; ESRCH once stopping. */
static int
xsim_guest_hcall(XsimGuest *guest,
                 XsimHcallOp op,
                 uint32_t remote,
                 uint32_t arg,
                 uint32_t *value_r,
                 char **shm_r)
{
    XsimHcall *hc = &guest->hcall;
    int rc;

    g_mutex_lock(&guest->lock);
    if (guest->stop) {
        g_mutex_unlock(&guest->lock);
        return ESRCH;
    }
    g_free(hc->shm);
    *hc = (XsimHcall) { .op = op, .remote = remote, .arg = arg };
    g_mutex_unlock(&guest->lock);
    xsim_hv_post_hcall(guest->hv, guest->domid, hc);

    g_mutex_lock(&guest->lock);
    while (!hc->done && !guest->stop)
        g_cond_wait(&guest->cond, &guest->lock);
    rc = hc->done ? hc->rc : ESRCH;
    if (rc == 0 && value_r)
        *value_r = hc->value;
    if (rc == 0 && shm_r)
        *shm_r = g_steal_pointer(&hc->shm);
    g_mutex_unlock(&guest->lock);
    return rc;
}

void
xsim_guest_hcall_done(XsimGuest *guest,
                      XsimHcall *hc)
{
    g_mutex_lock(&guest->lock);
    hc->done = true;
    g_cond_broadcast(&guest->cond);
    g_mutex_unlock(&guest->lock);
}

void
xsim_guest_evtchn_kick(XsimGuest *guest,
                       uint32_t port)
{
    g_mutex_lock(&guest->lock);
    guest->evtchn_pending = true;
    g_mutex_unlock(&guest->lock);
    g_main_context_wakeup(guest->ctx);
}

static void *
xsim_chan_map(const char *shm,
              gsize len)
{
    void *mem;
    int fd = shm_open(shm, O_RDWR | O_CLOEXEC, 0);

    if (fd < 0)
        return NULL;
    mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return mem == MAP_FAILED ? NULL : mem;
}

static void
xsim_chan_free(XsimChan *chan)
{
    if (!chan)
        return;
    xsim_agent_free(chan->agent);
    if (chan->agent_out)
        g_string_free(chan->agent_out, TRUE);
    if (chan->mem) {
        struct vchan_interface *vi = chan->mem;

        __atomic_store_n(&vi->cli_live, 0, __ATOMIC_SEQ_CST);
        munmap(chan->mem, chan->len);
    }
    g_free(chan);
}

static XsimChannelMode
xsim_chan_mode(XsimGuest *guest,
               const char *name)
{
    for (guint i = 0; i < guest->script.nchannels; i++) {
        if (g_str_equal(guest->script.channels[i].name, name))
            return guest->script.channels[i].mode;
    }
    if (g_str_equal(name, XSIM_AGENT_CHANNEL) && !guest->script.no_agent)
        return XSIM_CHANNEL_AGENT;
    return XSIM_CHANNEL_NONE;
}

/* The rings of a mapped interface, as the guest (client) sees them: it
 * writes the left one and reads the right one. */
static char *
xsim_chan_left(XsimChan *chan)
{
    return (char *)chan->mem + XSIM_PAGE_SIZE;
}

static char *
xsim_chan_right(XsimChan *chan)
{
    return (char *)chan->mem + XSIM_PAGE_SIZE +
           ((gsize)1 << XSIM_CHAN_RING_ORDER);
}

static void
xsim_chan_notify(XsimGuest *guest,
                 XsimChan *chan)
{
    xsim_hv_post_notify(guest->hv, guest->domid, chan->port);
}

/*
 * qemu-ga: what the host wrote goes to the agent while its unsent
 * replies are few, and its replies into our ring as room allows.
 */
static bool
xsim_chan_pump_agent(XsimChan *chan)
{
    struct vchan_interface *vi = chan->mem;
    const uint32_t size = 1u << XSIM_CHAN_RING_ORDER;
    bool moved = false;

    for (;;) {
        uint32_t rprod = __atomic_load_n(&vi->right.prod, __ATOMIC_ACQUIRE);
        uint32_t rcons = vi->right.cons;
        uint32_t lprod = vi->left.prod;
        uint32_t lcons = __atomic_load_n(&vi->left.cons, __ATOMIC_ACQUIRE);
        uint32_t avail = rprod - rcons, space = size - (lprod - lcons);
        bool step = false;

        if (avail > size || space > size)
            return moved;
        if (avail && chan->agent_out->len < XSIM_AGENT_OUT_MAX) {
            char buf[4096];
            uint32_t n = MIN(avail, sizeof(buf));

            for (uint32_t i = 0; i < n; i++)
                buf[i] = xsim_chan_right(chan)[(rcons + i) & (size - 1)];
            __atomic_store_n(&vi->right.cons, rcons + n, __ATOMIC_RELEASE);
            xsim_agent_input(chan->agent, buf, n, chan->agent_out);
            step = true;
        }
        if (space && chan->agent_out->len) {
            uint32_t n = MIN(space, chan->agent_out->len);

            for (uint32_t i = 0; i < n; i++)
                xsim_chan_left(chan)[(lprod + i) & (size - 1)] =
                    chan->agent_out->str[i];
            g_string_erase(chan->agent_out, 0, n);
            __atomic_store_n(&vi->left.prod, lprod + n, __ATOMIC_RELEASE);
            step = true;
        }
        if (!step)
            return moved;
        moved = true;
    }
}

/* Moves what the script asks for; true if any index moved. */
static bool
xsim_chan_pump(XsimGuest *guest,
               XsimChan *chan)
{
    struct vchan_interface *vi = chan->mem;
    const uint32_t size = 1u << XSIM_CHAN_RING_ORDER;
    uint32_t rprod, rcons, lprod, lcons, avail, space, n;
    bool moved = false;

    if (chan->mode == XSIM_CHANNEL_AGENT)
        return xsim_chan_pump_agent(chan);
    if (chan->mode != XSIM_CHANNEL_ECHO && chan->mode != XSIM_CHANNEL_SINK)
        return false;
    for (;;) {
        rprod = __atomic_load_n(&vi->right.prod, __ATOMIC_ACQUIRE);
        rcons = vi->right.cons;
        lprod = vi->left.prod;
        lcons = __atomic_load_n(&vi->left.cons, __ATOMIC_ACQUIRE);
        avail = rprod - rcons;
        space = size - (lprod - lcons);
        /* dom0 is trusted, but a bad index here must not crash xensimd. */
        if (avail > size || space > size)
            return moved;
        n = chan->mode == XSIM_CHANNEL_ECHO ? MIN(avail, space) : avail;
        if (n == 0)
            return moved;
        for (uint32_t i = 0; i < n; i++) {
            char c = xsim_chan_right(chan)[(rcons + i) & (size - 1)];

            if (chan->mode == XSIM_CHANNEL_ECHO)
                xsim_chan_left(chan)[(lprod + i) & (size - 1)] = c;
        }
        if (chan->mode == XSIM_CHANNEL_ECHO)
            __atomic_store_n(&vi->left.prod, lprod + n, __ATOMIC_RELEASE);
        __atomic_store_n(&vi->right.cons, rcons + n, __ATOMIC_RELEASE);
        chan->moved += n;
        moved = true;
    }
}

/* A port of ours was notified (we do not tell which): every channel. */
static void
xsim_guest_channels_pump(XsimGuest *guest)
{
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, guest->fronts);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        XsimFront *front = value;

        if (front->chan && front->chan->mem &&
            xsim_chan_pump(guest, front->chan))
            xsim_chan_notify(guest, front->chan);
    }
}

/* The misbehaving channels, every 2 ms. */
static gboolean
xsim_guest_chan_timer(gpointer opaque)
{
    XsimGuest *guest = opaque;
    GHashTableIter iter;
    gpointer value;

    if (guest->done || guest->hung)
        return G_SOURCE_CONTINUE;
    g_hash_table_iter_init(&iter, guest->fronts);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        XsimFront *front = value;
        XsimChan *chan = front->chan;
        struct vchan_interface *vi;
        const uint32_t size = 1u << XSIM_CHAN_RING_ORDER;

        if (!chan || !chan->mem)
            continue;
        vi = chan->mem;
        switch (chan->mode) {
        case XSIM_CHANNEL_FLOOD: {
            uint32_t lprod = vi->left.prod;
            uint32_t lcons = __atomic_load_n(&vi->left.cons, __ATOMIC_ACQUIRE);
            uint32_t used = lprod - lcons;

            for (uint32_t i = 0; used <= size && i < size - used; i++)
                xsim_chan_left(chan)[(lprod + i) & (size - 1)] = 'F';
            if (used <= size)
                __atomic_store_n(&vi->left.prod, lcons + size,
                                 __ATOMIC_RELEASE);
            /* And notifications, many more than the data needs. */
            for (int i = 0; i < 4; i++)
                xsim_chan_notify(guest, chan);
            break;
        }
        case XSIM_CHANNEL_CORRUPT:
            /* Indexes no ring can have, then random ones. */
            __atomic_store_n(&vi->left.prod, vi->left.cons + 0x7fffffffu +
                             g_random_int_range(0, 1000), __ATOMIC_RELEASE);
            __atomic_store_n(&vi->right.cons, g_random_int(),
                             __ATOMIC_RELEASE);
            vi->left_order = g_random_int_range(0, 65536);
            vi->right_order = g_random_int_range(0, 65536);
            xsim_chan_notify(guest, chan);
            break;
        case XSIM_CHANNEL_GARBAGE: {
            static const char *const nodes[] = {
                "state", "ring-ref", "name", "backend", "event-channel",
                "state/deeper",
            };
            char junk[512];
            gsize len = g_random_int_range(0, sizeof(junk));
            g_autofree char *path = NULL;

            for (gsize j = 0; j < len; j++)
                junk[j] = g_random_int_range(0, 256);
            path = g_strdup_printf("%s/%s", front->front,
                                   nodes[g_random_int_range(0, G_N_ELEMENTS(nodes))]);
            xsim_xsc_write(guest->xsc, path, junk, len);
            path = (g_free(path), g_strdup_printf("%s/ring-ref", front->back));
            xsim_xsc_write(guest->xsc, path, junk, len);
            break;
        }
        default:
            break;
        }
    }
    return G_SOURCE_CONTINUE;
}

static bool
xsim_chan_read_u32(XsimGuest *guest,
                   const char *dir,
                   const char *node,
                   uint32_t *val_r)
{
    g_autofree char *p = g_strdup_printf("%s/%s", dir, node);
    g_autofree char *val = NULL;
    guint64 v;

    if (xsim_xsc_read(guest->xsc, p, &val) != 0 ||
        !g_ascii_string_to_unsigned(val, 10, 0, G_MAXUINT32, &v, NULL))
        return false;
    *val_r = v;
    return true;
}

static const char *
xsim_guest_agent_hostname(gpointer opaque)
{
    return ((XsimGuest *)opaque)->hostname;
}

static gint
xsim_guest_front_devid_cmp(gconstpointer a, gconstpointer b)
{
    const XsimFront *fa = *(XsimFront *const *)a;
    const XsimFront *fb = *(XsimFront *const *)b;

    return (gint)g_ascii_strtoull(fa->devid, NULL, 10) -
           (gint)g_ascii_strtoull(fb->devid, NULL, 10);
}

/* The vifs netfront carries, in devid order, named as Linux probes them;
 * on the guest's thread, as the netfronts. */
static GArray *
xsim_guest_agent_interfaces(gpointer opaque)
{
    XsimGuest *guest = opaque;
    g_autoptr(GPtrArray) vifs = g_ptr_array_new();
    GArray *out = g_array_new(FALSE, TRUE, sizeof(XsimAgentIface));
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, guest->fronts);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        XsimFront *front = value;

        if (g_str_equal(front->kind, "vif") && front->net)
            g_ptr_array_add(vifs, front);
    }
    g_ptr_array_sort(vifs, xsim_guest_front_devid_cmp);
    for (guint i = 0; i < vifs->len; i++) {
        XsimFront *front = g_ptr_array_index(vifs, i);
        XsimAgentIface iface = { 0 };

        g_snprintf(iface.name, sizeof(iface.name), "eth%u", i);
        xsim_netfront_get_addr(front->net, iface.mac, &iface.addr,
                               &iface.prefix);
        g_array_append_val(out, iface);
    }
    return out;
}

static void
xsim_guest_agent_console(gpointer opaque,
                         const char *line)
{
    xsim_guest_printf(opaque, "%s\r\n", line);
}

static void
xsim_guest_agent_shutdown(gpointer opaque,
                          const char *mode)
{
    xsim_guest_shutdown(opaque, g_str_equal(mode, "reboot") ?
                        XSIM_SHUTDOWN_REBOOT : XSIM_SHUTDOWN_POWEROFF);
}

/*
 * The backend is ready (InitWait): map its pages (or, in the debug
 * layout, share ours), bind to its port, and say Connected.  A channel
 * the script does not name is left alone, like one no driver claims.
 */
static void
xsim_chan_connect(XsimGuest *guest,
                  XsimFront *front)
{
    g_autofree char *name = NULL;
    g_autofree char *side = NULL;
    g_autofree char *shm = NULL;
    g_autofree char *p = g_strdup_printf("%s/name", front->back);
    g_autoptr(GError) error = NULL;
    XsimChan *chan;
    uint32_t dom0_port;
    XsimChannelMode mode;
    int rc;

    if (xsim_xsc_read(guest->xsc, p, &name) != 0 ||
        (mode = xsim_chan_mode(guest, name)) == XSIM_CHANNEL_NONE ||
        !xsim_chan_read_u32(guest, front->back, "event-channel", &dom0_port))
        return;
    /* The same device again, or a new channel that took its number at
     * once (its nodes replaced while we looked away): then the old one
     * goes first. */
    if (front->chan && front->chan->dom0_port == dom0_port)
        return;
    if (front->chan)
        xsim_chan_disconnect(guest, front);
    chan = g_new0(XsimChan, 1);
    chan->mode = mode;
    chan->dom0_port = dom0_port;
    chan->len = (gsize)XSIM_CHAN_PAGES * XSIM_PAGE_SIZE;
    g_free(p);
    p = g_strdup_printf("%s/grant-side", front->back);
    chan->guest_grants = xsim_xsc_read(guest->xsc, p, &side) == 0 &&
                         g_str_equal(side, "guest");
    if (chan->guest_grants) {
        rc = xsim_guest_hcall(guest, XSIM_HCALL_GRANT_SHARE, 0,
                              XSIM_CHAN_PAGES, &chan->gref, &shm);
    } else if (!xsim_chan_read_u32(guest, front->back, "ring-ref",
                                   &chan->gref)) {
        rc = EINVAL;
    } else {
        rc = xsim_guest_hcall(guest, XSIM_HCALL_GRANT_MAP, 0, chan->gref,
                              NULL, &shm);
    }
    if (rc == 0 && !(chan->mem = xsim_chan_map(shm, chan->len)))
        rc = errno;
    if (rc == 0)
        rc = xsim_guest_hcall(guest, XSIM_HCALL_EVTCHN_BIND, 0, dom0_port,
                              &chan->port, NULL);
    if (rc != 0) {
        xsim_guest_printf(guest, "xen-channel %s: cannot connect: %s\r\n",
                          name, g_strerror(rc));
        xsim_chan_free(chan);
        return;
    }
    front->chan = chan;
    if (mode == XSIM_CHANNEL_AGENT) {
        XsimAgentHost host = {
            .hostname = xsim_guest_agent_hostname,
            .shutdown = xsim_guest_agent_shutdown,
            .interfaces = xsim_guest_agent_interfaces,
            .console = xsim_guest_agent_console,
            .wrong_sync = guest->script.agent_wrong_sync,
            .long_reply = guest->script.agent_long_reply,
            .opaque = guest,
        };

        chan->agent = xsim_agent_new(&host);
        chan->agent_out = g_string_new(NULL);
    }
    if (chan->guest_grants) {
        struct vchan_interface *vi = chan->mem;

        vi->left_order = vi->right_order = XSIM_CHAN_RING_ORDER;
        vi->srv_live = 1;
        vi->cli_live = 2;
        g_free(p);
        p = g_strdup_printf("%s/ring-ref", front->front);
        xsim_xsc_printf(guest->xsc, p, "%u", chan->gref);
    } else {
        __atomic_store_n(&((struct vchan_interface *)chan->mem)->cli_live, 1,
                         __ATOMIC_SEQ_CST);
    }
    xsim_front_set_state(guest, front, XSIM_XB_CONNECTED);
    xsim_guest_printf(guest, "xen-channel %s: connected\r\n", name);
    if (mode >= XSIM_CHANNEL_FLOOD && !guest->chan_timer_id)
        guest->chan_timer_id = xsim_guest_add_timer(guest,
                                                    g_timeout_source_new(2),
                                                    xsim_guest_chan_timer);
    /* What dom0 wrote before we came. */
    if (xsim_chan_pump(guest, chan))
        xsim_chan_notify(guest, chan);
}

/* The backend closes: unmap, unbind, Closed. */
static void
xsim_chan_disconnect(XsimGuest *guest,
                     XsimFront *front)
{
    XsimChan *chan = g_steal_pointer(&front->chan);

    if (!chan)
        return;
    if (!chan->guest_grants)
        xsim_guest_hcall(guest, XSIM_HCALL_GRANT_UNMAP, 0, chan->gref,
                         NULL, NULL);
    xsim_guest_hcall(guest, XSIM_HCALL_EVTCHN_CLOSE, 0, chan->port,
                     NULL, NULL);
    xsim_chan_free(chan);
}

/* ---- misbehaviour ---- */

static gboolean
xsim_guest_flood_timer(gpointer opaque)
{
    XsimGuest *guest = opaque;
    char line[1024];

    memset(line, 'x', sizeof(line));
    memcpy(line, "flood ", 6);
    line[sizeof(line) - 2] = '\r';
    line[sizeof(line) - 1] = '\n';
    for (int i = 0; i < 4; i++)
        xsim_guest_write(guest, line, sizeof(line));
    return G_SOURCE_CONTINUE;
}

/*
 * Random writes: oversized values, paths outside the home, node after
 * node until the quota says no.  Every answer is ignored; the point is
 * what xenstored lets through, which the tests check.
 */
static gboolean
xsim_guest_garbage_timer(gpointer opaque)
{
    XsimGuest *guest = opaque;
    /* Each gets a running number appended. */
    static const char *const targets[] = {
        "data/garbage-", "data/g/deeper/still-", "/local/domain/0/garbage-",
        "/local/domain/1/../escape-", "/tool/garbage-", "control/shutdown",
        "memory/target", "device/vbd/", "../../", "data/bad//path-",
    };
    g_autofree char *path = NULL;
    g_autofree char *value = NULL;
    gsize len;

    if (!guest->xsc)
        return G_SOURCE_CONTINUE;
    for (int i = 0; i < 8; i++) {
        guint t = g_random_int_range(0, G_N_ELEMENTS(targets));

        g_free(path);
        g_free(value);
        path = g_strdup_printf("%s%" G_GUINT64_FORMAT, targets[t],
                               guest->garbage_n++);
        /* Up to the payload limit, well over the node-size quota. */
        len = g_random_int_range(0, 4000);
        value = g_malloc(len + 1);
        for (gsize j = 0; j < len; j++)
            value[j] = g_random_int_range(0, 256);
        if (xsim_xsc_write(guest->xsc, path, value, len) == EPIPE)
            return G_SOURCE_CONTINUE;
    }
    return G_SOURCE_CONTINUE;
}

static guint
xsim_guest_add_timer(XsimGuest *guest,
                     GSource *source,
                     GSourceFunc fn)
{
    guint id;

    g_source_set_callback(source, fn, guest, NULL);
    id = g_source_attach(source, guest->ctx);
    g_source_unref(source);
    return id;
}

/* A second of running time (a paused guest's loop does not turn). */
static gboolean
xsim_guest_tick_timer(gpointer opaque)
{
    XsimGuest *guest = opaque;

    if (guest->done)
        return G_SOURCE_CONTINUE;
    guest->ticks++;
    if (guest->ticker && !guest->hung) {
        xsim_guest_printf(guest, "[tick %" G_GUINT64_FORMAT "]\r\n",
                          guest->ticks);
        if (guest->xsc)
            xsim_xsc_printf(guest->xsc, "data/ticks", "%" G_GUINT64_FORMAT,
                            guest->ticks);
    }
    return G_SOURCE_CONTINUE;
}

/* Apply what the script (and any fault since) asks for. */
static void
xsim_guest_apply_script(XsimGuest *guest)
{
    XsimGuestScript script;

    g_mutex_lock(&guest->lock);
    script = guest->script;
    guest->script_changed = false;
    g_mutex_unlock(&guest->lock);

    guest->ignore_shutdown = script.ignore_shutdown;
    guest->no_balloon = script.no_balloon;
    guest->hung = script.hang;
    guest->ticker = script.ticker;
    if (script.console_flood && !guest->flood_id)
        guest->flood_id = xsim_guest_add_timer(guest, g_timeout_source_new(10),
                                               xsim_guest_flood_timer);
    if (script.garbage && !guest->garbage_id)
        guest->garbage_id = xsim_guest_add_timer(guest, g_timeout_source_new(20),
                                                 xsim_guest_garbage_timer);
    if (script.crash_after >= 0 && !guest->crash_id)
        guest->crash_id = xsim_guest_add_timer(
            guest, g_timeout_source_new_seconds(script.crash_after),
            xsim_guest_crash_timer);
    if (script.nbd_writer_ms > 0 && !guest->nbd_writer_id)
        guest->nbd_writer_id = xsim_guest_add_timer(
            guest, g_timeout_source_new(script.nbd_writer_ms),
            xsim_guest_nbd_writer_timer);
    if (script.balloon_after >= 0 && !guest->balloon_id)
        guest->balloon_id = xsim_guest_add_timer(
            guest, g_timeout_source_new_seconds(script.balloon_after),
            xsim_guest_balloon_timer);
}

/* ---- the thread ---- */

static void
xsim_guest_events(XsimGuest *guest)
{
    char *path, *token;

    while (!guest->done && !guest->hung && guest->xsc &&
           xsim_xsc_next_event(guest->xsc, &path, &token)) {
        g_autofree char *p = path;
        g_autofree char *t = token;

        if (g_str_equal(t, "shutdown")) {
            xsim_guest_control_shutdown(guest);
        } else if (g_str_equal(t, "target")) {
            xsim_guest_memory_target(guest);
        } else if (g_str_equal(t, "device")) {
            xsim_guest_scan_devices(guest);
        } else if (g_str_equal(t, "nbd")) {
            XsimFront *front = xsim_guest_front_by_watch(guest, p, true);

            if (front)
                xsim_front_nbd_changed(guest, front);
        } else if (g_str_equal(t, "back")) {
            XsimFront *front = xsim_guest_front_by_watch(guest, p, false);

            if (front)
                xsim_front_backend_changed(guest, front);
        }
    }
}

/* Queue the events xenstored sent, until it cuts us off. */
static void
xsim_guest_xsc_in(XsimGuest *guest)
{
    if (!guest->xsc_reading)
        return;
    if (xsim_xsc_pump(guest->xsc) != 0) {
        /* xenstored closed us: the domain is dying.  Nothing more to say. */
        guest->xsc_reading = false;
    }
}

/*
 * Every request of ours passes here first: a paused vCPU sends nothing, so
 * whatever the thread was doing when the pause came (an event half
 * handled, a read about to see a backend's new state) waits for the
 * unpause.  Without it a pause took effect only between two events, and a
 * toolstack's write made after the pause returned could still be seen.
 * False when the domain goes away meanwhile.
 */
static bool
xsim_guest_may_send(gpointer opaque)
{
    XsimGuest *guest = opaque;
    bool stop;

    g_mutex_lock(&guest->lock);
    while (guest->paused && !guest->stop)
        g_cond_wait(&guest->cond, &guest->lock);
    stop = guest->stop;
    g_mutex_unlock(&guest->lock);
    return !stop;
}

/*
 * xenbus comes up once xenstored serves our ring, which INTRODUCE makes it
 * do (the ring's back is then attached: xenstored's).
 */
static bool
xsim_guest_connect(XsimGuest *guest)
{
    while (!xsim_ring_back(guest->xenstore)) {
        if (!xsim_guest_sleep(guest, 50))
            return false;
    }
    guest->xsc = xsim_xsc_new_ring(guest->xenstore);
    xsim_xsc_set_gate(guest->xsc, xsim_guest_may_send, guest);
    return true;
}

static void
xsim_guest_boot(XsimGuest *guest)
{
    static const char *const features[] = {
        "control/feature-poweroff", "control/feature-reboot",
        "control/feature-suspend",
    };

    if (guest->resume) {
        /* What Linux's xen_suspend() returns to: our memory as it was. */
        guest->ticks = guest->resume->ticks;
        memcpy(guest->boot_id, guest->resume->boot_id, sizeof(guest->boot_id));
        g_string_assign(guest->log, guest->resume->log);
        g_clear_pointer(&guest->resume, xsim_guest_image_free);
        xsim_guest_printf(guest, "PM: resumed from a saved image: boot %s, "
                          "tick %" G_GUINT64_FORMAT "\r\n",
                          guest->boot_id, guest->ticks);
    } else {
        g_snprintf(guest->boot_id, sizeof(guest->boot_id), "%08x%08x",
                   g_random_int(), g_random_int());
        xsim_guest_printf(guest,
                          "Linux version 6.1.0-xensim (xensim@localhost) #1 SMP\r\n"
                          "Command line: %s\r\n"
                          "Booting paravirtualized kernel on Xen\r\n"
                          "Xen version: 4.17.0-xensim (preserve-AD)\r\n"
                          "Memory: %" G_GUINT64_FORMAT "K available\r\n",
                          guest->cmdline ? guest->cmdline : "",
                          guest->max_memkb);
    }
    if (guest->script.boot_delay > 0 &&
        !xsim_guest_sleep(guest, guest->script.boot_delay * 1000))
        return;
    if (!xsim_guest_connect(guest))
        return;
    guest->xsc_reading = true;

    /*
     * Our home: relative paths are under it.  The name is the toolstack's,
     * but it reaches a terminal: keep it short and printable.
     */
    {
        g_autofree char *name = NULL;

        if (xsim_xsc_read(guest->xsc, "name", &name) == 0 && *name) {
            g_free(guest->hostname);
            guest->hostname = g_strcanon(g_strndup(name, 32),
                                         G_CSET_a_2_z G_CSET_A_2_Z
                                         "0123456789-_.", '-');
        }
    }

    /* The toolstack pre-creates these for us (libxl does): just write. */
    for (guint i = 0; i < G_N_ELEMENTS(features); i++)
        xsim_xsc_write_str(guest->xsc, features[i], "1");
    if (guest->ticker) {
        /* Our marker, which a restored kernel writes again: the toolstack
         * makes a new home for the new domain. */
        xsim_xsc_write_str(guest->xsc, "data/boot-id", guest->boot_id);
        xsim_xsc_printf(guest->xsc, "data/ticks", "%" G_GUINT64_FORMAT,
                        guest->ticks);
    }
    xsim_xsc_watch(guest->xsc, "control/shutdown", "shutdown");
    xsim_xsc_watch(guest->xsc, "memory/target", "target");
    xsim_xsc_watch(guest->xsc, "device", "device");
    xsim_guest_printf(guest, "xenbus_probe_frontend: waiting for devices\r\n");
    xsim_guest_prompt(guest);
}

static gpointer
xsim_guest_main(gpointer opaque)
{
    XsimGuest *guest = opaque;

    g_main_context_push_thread_default(guest->ctx);
    guest->console_reading = true;
    xsim_ring_attach_front(guest->xenstore, xsim_guest_kick, guest);
    xsim_ring_attach_front(guest->console, xsim_guest_kick, guest);
    guest->tick_id = xsim_guest_add_timer(guest, g_timeout_source_new(1000),
                                          xsim_guest_tick_timer);
    xsim_guest_apply_script(guest);
    xsim_guest_boot(guest);
    if (guest->hung) {
        /*
         * Hung after boot: nothing reads our rings any more.  xenstored
         * fills the xenstore ring, queues our events until its bound, then
         * drops the connection.
         */
        guest->xsc_reading = false;
        guest->console_reading = false;
    }

    for (;;) {
        bool changed;
        bool verify;

        g_mutex_lock(&guest->lock);
        while (guest->paused && !guest->stop)
            g_cond_wait(&guest->cond, &guest->lock);
        changed = guest->script_changed;
        verify = guest->nbd_verify;
        guest->nbd_verify = false;
        g_mutex_unlock(&guest->lock);
        if (guest->stop)
            break;
        if (changed && !guest->hung)
            xsim_guest_apply_script(guest);
        if (verify)
            xsim_guest_each_nbd(guest, xsim_front_nbd_verify);
        /* Whatever a kick brought since: the wakeup it made is pending. */
        xsim_guest_xsc_in(guest);
        xsim_guest_events(guest);
        xsim_guest_console_in(guest);
        g_mutex_lock(&guest->lock);
        changed = guest->evtchn_pending;
        guest->evtchn_pending = false;
        g_mutex_unlock(&guest->lock);
        if (changed && !guest->hung && !guest->done)
            xsim_guest_channels_pump(guest);
        g_main_context_iteration(guest->ctx, TRUE);
    }

    /* Everything the thread made, in the thread's context. */
    xsim_ring_attach_front(guest->xenstore, NULL, NULL);
    xsim_ring_attach_front(guest->console, NULL, NULL);
    g_hash_table_remove_all(guest->fronts);
    g_clear_pointer(&guest->xsc, xsim_xsc_free);
    g_main_context_pop_thread_default(guest->ctx);
    xsim_hv_post_guest_exited(guest->hv, guest->domid);
    return NULL;
}

XsimGuest *
xsim_guest_start(XsimHvDomain *dom)
{
    XsimGuest *guest = g_new0(XsimGuest, 1);
    g_autoptr(GError) error = NULL;
    g_autofree char *name = g_strdup_printf("guest-%u", dom->domid);

    guest->hv = dom->hv;
    guest->domid = dom->domid;
    guest->xenstore = xsim_ring_ref(dom->xenstore);
    guest->cmdline = g_strdup(dom->cmdline);
    guest->max_memkb = dom->max_memkb;
    guest->script = dom->script;
    guest->console = xsim_ring_ref(dom->console);
    guest->resume = g_steal_pointer(&dom->resume);
    guest->log = g_string_new(NULL);
    guest->fronts = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                          (GDestroyNotify)xsim_front_free);
    guest->line = g_string_new(NULL);
    guest->hostname = g_strdup("xensim");
    guest->ctx = g_main_context_new();
    guest->nbds = xsim_nbd_group_new();
    g_mutex_init(&guest->lock);
    g_cond_init(&guest->cond);
    guest->thread = g_thread_try_new(name, xsim_guest_main, guest, &error);
    if (!guest->thread) {
        g_warning("domain %u: cannot start its kernel: %s", dom->domid,
                  error->message);
        xsim_guest_join(guest);
        return NULL;
    }
    return guest;
}

void
xsim_guest_set_paused(XsimGuest *guest,
                      bool paused)
{
    g_mutex_lock(&guest->lock);
    guest->paused = paused;
    g_cond_broadcast(&guest->cond);
    g_mutex_unlock(&guest->lock);
    g_main_context_wakeup(guest->ctx);
}

void
xsim_guest_fault(XsimGuest *guest,
                 const char *kind)
{
    g_mutex_lock(&guest->lock);
    if (g_str_equal(kind, "garbage"))
        guest->script.garbage = true;
    else if (g_str_equal(kind, "ignore-shutdown"))
        guest->script.ignore_shutdown = true;
    else if (g_str_equal(kind, "disk-verify"))
        guest->nbd_verify = true;
    guest->script_changed = true;
    g_mutex_unlock(&guest->lock);
    g_main_context_wakeup(guest->ctx);
}

void
xsim_guest_stop(XsimGuest *guest)
{
    g_mutex_lock(&guest->lock);
    guest->stop = true;
    g_cond_broadcast(&guest->cond);
    g_mutex_unlock(&guest->lock);
    /* A request to a disk server that does not answer ends now. */
    xsim_nbd_group_cut(guest->nbds);
    g_main_context_wakeup(guest->ctx);
}

void
xsim_guest_image_free(XsimGuestImage *image)
{
    if (!image)
        return;
    g_free(image->log);
    g_free(image);
}

/* Also frees a guest whose thread never started. */
void
xsim_guest_join(XsimGuest *guest)
{
    if (guest->thread)
        g_thread_join(guest->thread);
    xsim_ring_unref(guest->console);
    /* Drops the timers the thread left in its context. */
    g_main_context_unref(guest->ctx);
    g_hash_table_unref(guest->fronts);
    xsim_nbd_group_free(guest->nbds);
    g_string_free(guest->line, TRUE);
    g_string_free(guest->log, TRUE);
    xsim_guest_image_free(guest->resume);
    g_free(guest->hcall.shm);
    g_mutex_clear(&guest->lock);
    g_cond_clear(&guest->cond);
    xsim_ring_unref(guest->xenstore);
    g_free(guest->cmdline);
    g_free(guest->hostname);
    g_free(guest);
}
