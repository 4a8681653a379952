/*
 * hv_internal.h: the simulated hypervisor's structures, shared by hv.c
 * (domains and their operations), hv_control.c (the control socket),
 * guest.c (the simulated guest kernels) and backend.c (dom0's backends).
 *
 * Threads and locking, the rules every file here follows:
 *
 *  - The main thread runs the GLib main loop that also serves xenstore.
 *    It alone creates, changes and frees XsimHvDomain objects, and it alone
 *    calls into the xenstore server (which is single threaded).
 *  - Every running guest kernel is a thread of its own (guest.c), and all
 *    dom0 backends share one thread (backend.c).  Both reach xenstore only
 *    through the wire protocol, as real guests and backends do: the
 *    backends over a socket, a guest over its domain's xenstore ring
 *    (xsim_ring.h); they never touch XsimServer.
 *  - Those threads never modify the domain table.  They report to the
 *    hypervisor by queueing a message on the main context
 *    (xsim_hv_post_*), which the main thread applies in order.
 *  - The few things they read from the table (a domain's console ring,
 *    its pending backend faults) are read under hv->lock, which the main
 *    thread takes whenever it adds or removes a domain or changes those
 *    fields.  The main thread reads its own table without the lock.
 *  - The main thread may wait for a guest thread to end (join), because a
 *    guest thread never waits for the main thread except for a xenstore
 *    reply on its ring, which the main thread closes before joining, and
 *    for the answer to a hypercall (XsimHcall: a channel's grant map or
 *    port bind), which a stop ends too.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "hv.h"
#include "xsim_net.h"
#include "xsim_ring.h"

#define XSIM_PAGE_SIZE 4096

/*
 * What the rings hold.  Xen's pages hold 1 KiB each way for xenstore, and
 * 2 KiB of console output and 1 KiB of input; ours hold more, like the
 * socket buffers they replace: what a kernel prints before xenconsoled
 * attaches, or xenstored's replies and events to a kernel slow to read
 * them, are not cut shorter than before (xenstored's own bounds,
 * docs/xensim-xenstored.md, apply past the ring).
 */
#define XSIM_XS_RING_REQ (64 * 1024)
#define XSIM_XS_RING_RSP (128 * 1024)
#define XSIM_CONS_RING_OUT (16 * 1024)
#define XSIM_CONS_RING_IN (4 * 1024)

/* What the simulated machine looks like: a small one-socket server, one
 * NUMA node, 4 cores of 2 threads; cpu N is thread N % 2 of core N / 2
 * (Xen numbers a core's threads next to each other). */
#define XSIM_HOST_CPUS 8
#define XSIM_HOST_SOCKETS 1
#define XSIM_HOST_CORES_PER_SOCKET 4
#define XSIM_HOST_THREADS_PER_CORE 2
G_STATIC_ASSERT(XSIM_HOST_CPUS == XSIM_HOST_SOCKETS *
                XSIM_HOST_CORES_PER_SOCKET * XSIM_HOST_THREADS_PER_CORE);
/* The distance of a node to itself (the ACPI SLIT's "local"). */
#define XSIM_NODE_LOCAL_DISTANCE 10
/* dom0's vcpus: blkback and netback offer a queue per vcpu. */
#define XSIM_DOM0_VCPUS 2
#define XSIM_GUEST_MAX_VCPUS 128

/*
 * Simulated cpu time, accounted per vcpu as Xen does: an idle Linux vcpu
 * runs about 1% of the time (10 ns per us), a vcpu the guest script keeps
 * busy (busy-vcpu N) runs flat out (1000 ns per us).  Vcpu N of domain D
 * runs on physical cpu (D + N) mod XSIM_HOST_CPUS, so per-cpu figures are
 * deterministic, until its affinity excludes that cpu: it then runs on
 * the lowest cpu of its affinity.
 */
#define XSIM_VCPU_IDLE_NS_PER_US 10
#define XSIM_VCPU_BUSY_NS_PER_US 1000

typedef enum {
    XSIM_DOM_PV,
    XSIM_DOM_PVH,
    XSIM_DOM_HVM,
} XsimDomType;

/* Xen's SHUTDOWN_* codes, in their order (xen/sched.h). */
typedef enum {
    XSIM_SHUTDOWN_NONE = -1,
    XSIM_SHUTDOWN_POWEROFF = 0,
    XSIM_SHUTDOWN_REBOOT = 1,
    XSIM_SHUTDOWN_SUSPEND = 2,
    XSIM_SHUTDOWN_CRASH = 3,
    XSIM_SHUTDOWN_WATCHDOG = 4,
    XSIM_SHUTDOWN_SOFT_RESET = 5,
} XsimShutdownReason;

const char *
xsim_shutdown_reason_name(XsimShutdownReason reason);

XsimShutdownReason
xsim_shutdown_reason_parse(const char *name);

/* Channels (docs/channels.md): what a guest's driver does with one. */
typedef enum {
    XSIM_CHANNEL_NONE = 0,
    XSIM_CHANNEL_ECHO,      /* sends back what it reads */
    XSIM_CHANNEL_SINK,      /* reads and drops */
    XSIM_CHANNEL_FLOOD,     /* fills the ring and notifies, forever */
    XSIM_CHANNEL_CORRUPT,   /* writes nonsense into the ring's indexes */
    XSIM_CHANNEL_GARBAGE,   /* writes garbage to the channel's nodes */
    XSIM_CHANNEL_AGENT,     /* qemu-ga (xsim_agent.c) */
} XsimChannelMode;
/* The guest agent's channel, which the guest's qemu-ga takes unless its
 * script says no-agent or names the channel itself. */
#define XSIM_AGENT_CHANNEL "org.qemu.guest_agent.0"
#define XSIM_CHANNEL_NAME_MAX 128
#define XSIM_GUEST_MAX_CHANNELS 4

/* The behaviour a guest script (the kernel file) selects. */
typedef struct {
    bool ignore_shutdown;
    int crash_after;        /* seconds, or -1 */
    bool no_balloon;
    int balloon_after;      /* seconds, or -1: then balloons on its own */
    guint64 balloon_kib;    /* ... to this */
    bool console_flood;
    bool garbage;
    bool hang;
    int boot_delay;         /* seconds, or 0 */
    int build_delay;        /* seconds the builder takes, or 0 */
    guint64 busy_vcpus;     /* bit N: vcpu N runs flat out (N < 64) */
    guint disk_reads;       /* requests to each vbd once connected */
    guint disk_writes;
    bool ticker;            /* prints and publishes its tick counter */
    guint nbd_writer_ms;    /* writes its pattern through each qdisk's
                             * NBD export every that many ms, or 0 */
    /* What the kernel's channel driver does with each named channel
     * (channel-echo NAME, ...); a channel not named stays unconnected. */
    struct {
        char name[XSIM_CHANNEL_NAME_MAX + 1];
        XsimChannelMode mode;
    } channels[XSIM_GUEST_MAX_CHANNELS];
    guint nchannels;
    bool no_agent;          /* no qemu-ga on its agent channel */
    bool agent_wrong_sync;  /* its qemu-ga answers a sync with another id */
    bool agent_long_reply;  /* ... and anything else with 2 MiB in a line */
} XsimGuestScript;

/*
 * What a suspended guest's memory holds that the simulation shows, the
 * "guest state" of a save image (docs/xensim-hypervisor-protocol.md,
 * "Save and restore"): the guest thread fills the first three when it
 * suspends, the hypervisor the memory it held.  A restored guest carries
 * on from it instead of booting.
 */
#define XSIM_GUEST_STATE_VERSION 1
#define XSIM_GUEST_LOG_MAX 4096
#define XSIM_GUEST_BOOT_ID_LEN 16

typedef struct {
    guint64 ticks;          /* seconds it has run, since its first boot */
    char boot_id[XSIM_GUEST_BOOT_ID_LEN + 1];   /* hex, made at first boot */
    char *log;              /* the tail of its console output, UTF-8 */
    guint64 memkb;          /* what it held when it suspended */
} XsimGuestImage;

void
xsim_guest_image_free(XsimGuestImage *image);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XsimGuestImage, xsim_guest_image_free);

typedef struct _XsimHvClient XsimHvClient;

/* One event channel port of a domain. */
typedef enum {
    XSIM_EVTCHN_UNBOUND,    /* waiting for @remote to bind */
    XSIM_EVTCHN_INTERDOMAIN,
} XsimEvtchnState;

typedef struct {
    XsimEvtchnState state;
    uint32_t remote;        /* the peer domain */
    uint32_t remote_port;   /* INTERDOMAIN: its port */
    guint64 pending;        /* notifications received, for the log/tests */
    /* A control connection told of notifications to this port (the
     * toolstack's /dev/xen/evtchn, evtchn_watch), and whether it was told
     * since its last evtchn_unmask: one event until then, however many
     * notifications come (a flooding peer costs it one line). */
    XsimHvClient *watcher;
    bool masked;
} XsimEvtchn;

/* A page range a domain grants to a peer, backed by a /dev/shm file. */
typedef struct {
    uint32_t gref;
    uint32_t peer;
    guint pages;
    char *shm;              /* shm_open() name, "/xensim-..." */
    guint maps;             /* how many times the peer has it mapped */
} XsimGrant;

typedef struct _XsimGuest XsimGuest;

typedef struct {
    XsimHv *hv;
    uint32_t domid;
    char *uuid;
    XsimDomType type;

    bool paused;
    bool booted;            /* the guest kernel was started */
    bool shutdown;
    bool dying;
    XsimShutdownReason reason;

    guint64 cur_memkb;
    guint64 max_memkb;
    guint online_vcpus;
    guint max_vcpus;
    guint weight;
    guint cap;

    /* Each vcpu's time: vcpu_ns[i] accumulated up to run_since, plus the
     * current run since then at the vcpu's rate (xsim_hv_vcpu_ns). */
    gint64 *vcpu_ns;        /* max_vcpus entries */
    guint *vcpu_cpu;        /* the physical cpu each runs on */
    gint64 *vcpu_moved_ns;  /* its time when it came to that cpu */
    gint64 run_since;       /* monotonic us, 0 when not running */

    bool built;
    char *kernel;
    char *ramdisk;
    char *cmdline;
    XsimGuestScript script;

    GHashTable *evtchns;    /* port -> XsimEvtchn */
    uint32_t next_port;
    GHashTable *grants;     /* gref -> XsimGrant */
    uint32_t next_gref;
    GPtrArray *mapped;      /* XsimHvMapping: others' grants this one maps */

    /*
     * Its rings (xsim_ring.h), made with the domain, as the builder makes
     * the pages: the xenstore ring, handed to xenstored at create
     * (xsim_server_domain_built) and closed when the domain dies; the
     * console ring, which xenconsoled takes while it serves the console.
     * The kernel takes a ref of each at boot.
     */
    XsimRing *xenstore;
    XsimRing *console;

    XsimGuest *guest;       /* the running kernel, or NULL */

    /* Save and restore: what the kernel left when it suspended (set once
     * it shut down with reason suspend), and what the next boot resumes
     * from instead (restore_state, before the first unpause).  Main
     * thread only; the kernel takes resume at its start. */
    XsimGuestImage *suspended;
    XsimGuestImage *resume;

    /* Faults for the backends, read by backend.c under hv->lock. */
    bool fail_next_hotplug;
} XsimHvDomain;

typedef struct {
    uint32_t granter;
    uint32_t gref;
} XsimHvMapping;

typedef struct _XsimBackends XsimBackends;

struct _XsimHv {
    XsimServer *xs;
    char *rundir;
    char *sock_path;
    int listen_fd;
    GSource *listen_source;
    GList *clients;         /* XsimHvClient */

    GMutex lock;            /* see the rules at the top */
    GHashTable *domains;    /* domid -> XsimHvDomain; main thread writes */
    GHashTable *live_uuids; /* lower-case uuid -> XsimHvDomain not dying;
                             * main thread only */
    uint32_t next_domid;

    guint64 total_kib;
    guint64 dom0_kib;
    guint64 held_kib;       /* sum of every domain's cur_memkb; main thread */
    gint64 started;         /* monotonic us at start, for the idle time */
    /* Per cpu, what vcpus ran there before they moved away or their
     * domain went. */
    gint64 settled_ns[XSIM_HOST_CPUS];

    XsimBackends *backends;
    /* dom0's network namespace, made before any thread that uses it:
     * set at start, read only after (its own lock inside). */
    XsimNet *net;
    bool shared_netns;      /* set before start: dom0's is the process's */

    XsimHvStopFunc stop_cb;
    gpointer stop_opaque;
    bool stopping;
};

/* hv.c: the operations, called by hv_control.c in the main thread. */
XsimHvDomain *
xsim_hv_lookup(XsimHv *hv,
               uint32_t domid);

void
xsim_hv_notify(XsimHv *hv,
               uint32_t domid);

void
xsim_hv_domain_set_shutdown(XsimHvDomain *dom,
                            XsimShutdownReason reason);

guint64
xsim_hv_free_kib(XsimHv *hv);

/* The host's cpu featureset in Xen's physinfo hw_cap word order. */
void
xsim_hv_featureset(uint32_t words[8]);

gint64
xsim_hv_domain_cpu_ns(XsimHvDomain *dom);

/* One vcpu of a domain: its time, whether it runs flat out now, and the
 * physical cpu it runs on. */
gint64
xsim_hv_vcpu_ns(XsimHvDomain *dom,
                guint vcpu);

/* The same at monotonic time @now (us), for figures taken at one instant. */
gint64
xsim_hv_vcpu_ns_at(XsimHvDomain *dom,
                   guint vcpu,
                   gint64 now);

bool
xsim_hv_vcpu_busy(XsimHvDomain *dom,
                  guint vcpu);

guint
xsim_hv_vcpu_cpu(XsimHvDomain *dom,
                 guint vcpu);

/* A vcpu's hard affinity (bit N: cpu N): it moves to the lowest cpu of
 * @cpus unless it runs on one of them already. */
void
xsim_hv_vcpu_set_affinity(XsimHvDomain *dom,
                          guint vcpu,
                          guint64 cpus);

/* Before a vcpu's rate changes (vcpus onlined or offlined): fold the
 * current run into the accumulated times. */
void
xsim_hv_domain_fold_cpu(XsimHvDomain *dom);

/* The time every vcpu (dom0's included, and those of domains gone) ran on
 * physical cpu @cpu, at monotonic time @now. */
gint64
xsim_hv_pcpu_guest_ns(XsimHv *hv,
                      guint cpu,
                      gint64 now);

/* hv_control.c */
void
xsim_hv_client_notify_all(XsimHv *hv,
                          uint32_t domid);

void
xsim_hv_clients_free(XsimHv *hv);

bool
xsim_hv_control_listen(XsimHv *hv,
                       GError **error);

/* guest.c: one thread per running guest kernel. */
XsimGuest *
xsim_guest_start(XsimHvDomain *dom);

void
xsim_guest_set_paused(XsimGuest *guest,
                      bool paused);

/* Ask the kernel to act as if it had seen this fault ("garbage", ...). */
void
xsim_guest_fault(XsimGuest *guest,
                 const char *kind);

/* Stop the thread and wait for it; the domain's xenstore link must be cut. */
void
xsim_guest_stop(XsimGuest *guest);

bool
xsim_guest_parse_script(const char *path,
                        XsimGuestScript *script,
                        GError **error);

/* Messages from guest threads, applied in the main thread. */

/* Before its shutdown with reason suspend: the hypervisor owns @image. */
void
xsim_hv_post_suspended(XsimHv *hv,
                       uint32_t domid,
                       XsimGuestImage *image);

void
xsim_hv_post_shutdown(XsimHv *hv,
                      uint32_t domid,
                      XsimShutdownReason reason);

void
xsim_hv_post_memkb(XsimHv *hv,
                   uint32_t domid,
                   guint64 memkb);

/* backend.c: dom0's backends, one thread. */
XsimBackends *
xsim_backends_start(XsimHv *hv);

void
xsim_backends_stop(XsimBackends *be);

/* A fault for one device of @domid: @device is "KIND/DEVID". */
int
xsim_backends_fault(XsimBackends *be,
                    uint32_t domid,
                    const char *kind,
                    const char *device,
                    int seconds);

/*
 * A request of a guest's blkfront to its vbd (the ring the simulation
 * does not have): @nsect sectors of 512 bytes at @sector, written from
 * @data (a copy is taken) or read; served and counted by blkback in the
 * backends' thread.  Callable from any thread while the backends run.
 */
void
xsim_backends_guest_io(XsimBackends *be,
                       uint32_t domid,
                       uint32_t devid,
                       bool write,
                       guint64 sector,
                       guint nsect,
                       const void *data);

/* The domain is gone: drop whatever its devices still hold. */
void
xsim_backends_domain_gone(XsimBackends *be,
                          uint32_t domid);

/* Under hv->lock: a ref of the domain's console ring, NULL if it is gone
 * or dying. */
XsimRing *
xsim_hv_console_ring(XsimHv *hv,
                     uint32_t domid);

/* Under hv->lock: consume the domain's fail-next-hotplug fault. */
bool
xsim_hv_take_hotplug_fault(XsimHv *hv,
                           uint32_t domid);

/* hv.c: the operations behind the control protocol (main thread). */
int
xsim_hv_domain_create(XsimHv *hv,
                      const char *uuid,
                      XsimDomType type,
                      guint max_vcpus,
                      guint64 max_memkb,
                      uint32_t *domid_r);

int
xsim_hv_domain_unpause(XsimHvDomain *dom);

int
xsim_hv_domain_pause(XsimHvDomain *dom);

int
xsim_hv_domain_destroy(XsimHvDomain *dom);

int
xsim_hv_evtchn_alloc_unbound(XsimHvDomain *dom,
                             uint32_t remote,
                             uint32_t *port_r);

int
xsim_hv_evtchn_bind(XsimHvDomain *dom,
                    XsimHvDomain *remote,
                    uint32_t remote_port,
                    uint32_t *port_r);

int
xsim_hv_evtchn_notify(XsimHvDomain *dom,
                      uint32_t port);

int
xsim_hv_evtchn_close(XsimHvDomain *dom,
                     uint32_t port);

int
xsim_hv_grant_share(XsimHvDomain *dom,
                    uint32_t peer,
                    guint pages,
                    uint32_t *gref_r,
                    const char **shm_r);

int
xsim_hv_grant_map(XsimHvDomain *dom,
                  XsimHvDomain *granter,
                  uint32_t gref,
                  const char **shm_r);

int
xsim_hv_grant_unmap(XsimHvDomain *dom,
                    uint32_t granter,
                    uint32_t gref);

/* The granter ends its grant (gnttab_end_foreign_access): the entry and
 * its shm name go at once; a peer that still maps the pages keeps its
 * mapping until it unmaps (or dies), as Linux's gntalloc defers the free. */
int
xsim_hv_grant_end(XsimHvDomain *dom,
                  uint32_t gref);

/* evtchn_watch: @client is told of notifications to @port of @dom (EBUSY
 * if another is); evtchn_unmask: told again from now on. */
int
xsim_hv_evtchn_watch(XsimHvDomain *dom,
                     uint32_t port,
                     XsimHvClient *client);

int
xsim_hv_evtchn_unmask(XsimHvDomain *dom,
                      uint32_t port,
                      XsimHvClient *client);

/* Sends @client the event of a watched port (hv_control.c). */
void
xsim_hv_client_evtchn_event(XsimHvClient *client,
                            uint32_t domid,
                            uint32_t port);

/* A client going: its port watches end. */
void
xsim_hv_evtchn_unwatch_client(XsimHv *hv,
                              XsimHvClient *client,
                              uint32_t domid,
                              uint32_t port);

/*
 * Hypercalls of a guest kernel that need an answer (map a grant, bind a
 * port): the guest thread posts one and waits for it on its own lock and
 * condition (guest.c), which a stop also wakes; the main thread performs
 * it in order with the guest's other messages, so before the kernel's
 * exit is handled, and the request, part of the XsimGuest, outlives it.
 */
typedef enum {
    XSIM_HCALL_GRANT_MAP,
    XSIM_HCALL_GRANT_UNMAP,
    XSIM_HCALL_GRANT_SHARE,
    XSIM_HCALL_EVTCHN_BIND,
    XSIM_HCALL_EVTCHN_CLOSE,
} XsimHcallOp;

typedef struct {
    XsimHcallOp op;
    uint32_t remote;        /* granter, peer or remote domain */
    uint32_t arg;           /* gref, pages or port */
    /* results, set by the main thread before done */
    int rc;
    uint32_t value;         /* the port or gref */
    char *shm;              /* the grant's shm name, g_malloc'd */
    bool done;
} XsimHcall;

/* Any thread: queue @hc of the kernel of @domid (the guest thread waits
 * for hc->done, signalled through xsim_guest_hcall_done). */
void
xsim_hv_post_hcall(XsimHv *hv,
                   uint32_t domid,
                   XsimHcall *hc);

/* Any thread: the kernel of @domid notifies its @port (fire and forget). */
void
xsim_hv_post_notify(XsimHv *hv,
                    uint32_t domid,
                    uint32_t port);

/* guest.c, main thread: the answer is in @hc. */
void
xsim_guest_hcall_done(XsimGuest *guest,
                      XsimHcall *hc);

/* guest.c, main thread: a port of the guest was notified. */
void
xsim_guest_evtchn_kick(XsimGuest *guest,
                       uint32_t port);

void
xsim_hv_stop_requested(XsimHv *hv);

void
xsim_hv_post_guest_exited(XsimHv *hv,
                          uint32_t domid);

/* guest.c: after xsim_guest_stop(), wait for the thread and free it. */
void
xsim_guest_join(XsimGuest *guest);
