/*
 * xlite.h: the public interface of libxlite, Xenvirt's core library
 *
 * libxlite is to Xenvirt what libxl is to Xen's toolstacks: the one place
 * that knows how to drive a Xen host (a real one through libxenctrl, or the
 * simulated one, xensim).  It never calls libvirt and is usable from any
 * program.
 *
 * Conventions of the whole interface:
 *  - Functions that can fail return 0 (or a non-negative count) on success
 *    and a negative errno-style code on failure.  The calling thread can
 *    fetch a sentence describing the last failure with xlite_errmsg().
 *  - Outputs are passed as pointers whose names end in _r, and are written
 *    only on success.
 *  - Destructors accept NULL.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "xlite_config.h"
#include "xlite_domain.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xlite_ctx xlite_ctx;

/* Which hypervisor backend a context drives. */
typedef enum {
    XLITE_BACKEND_AUTO = 0, /* "xen" on a dom0 with control_d, else "sim" */
    XLITE_BACKEND_STUB,     /* host facts only; no domains (bootstrap) */
    XLITE_BACKEND_SIM,      /* the simulated host, xensimd */
    XLITE_BACKEND_XEN,      /* a real dom0 through libxenctrl */
} xlite_backend_kind;

typedef enum {
    XLITE_LOG_DEBUG = 0,
    XLITE_LOG_INFO,
    XLITE_LOG_WARN,
    XLITE_LOG_ERROR,
} xlite_log_level;

/* Called for every message the library logs, possibly from any thread that
 * is inside the library, never with the library's lock held. */
typedef void (*xlite_log_fn)(void *opaque, xlite_log_level level,
                             const char *func, const char *msg);

typedef struct {
    xlite_backend_kind backend;
    /* Private state of the core (stored configs, locks).  Required. */
    const char *state_dir;
    /* The simulated host's run directory (backend SIM).  Optional. */
    const char *sim_rundir;
    /* A simulated host this context starts takes the network namespace
     * the process runs in as dom0's, not one of its own (xensimd
     * --shared-netns): where libvirt's virtual networks are. */
    bool sim_shared_netns;
    xlite_log_fn log;
    void *log_opaque;
    /* Debugging: every child the library spawns writes a line to its
     * stderr for each file descriptor above 2 it would inherit across
     * exec (none should: see "File descriptors" below).  Also switched on
     * by XLITE_DEBUG_FDS=1 in the environment. */
    bool debug_child_fds;
    /* Block jobs are polled even where the disk server sends job events
     * (the fallback for one that sends none; docs/blockjobs.md).  Also
     * switched on by XLITE_BLOCKJOB_POLL=1 in the environment. */
    bool blockjob_poll;
} xlite_ctx_options;

int xlite_ctx_new(const xlite_ctx_options *opts, xlite_ctx **ctx_r);
/* Every operation must have completed, every generator been disabled and
 * no thread be inside the library for ctx: freeing a context still in use
 * is a programming error, caught by assertions in debug builds. */
void xlite_ctx_free(xlite_ctx *ctx);

/* The backend a context ended up with (never XLITE_BACKEND_AUTO). */
xlite_backend_kind xlite_ctx_backend(xlite_ctx *ctx);
const char *xlite_backend_name(xlite_backend_kind kind);

/* The last failure of the calling thread, as a sentence; "" if none. */
const char *xlite_errmsg(void);

/* Guest types a host can run. */
typedef enum {
    XLITE_GUEST_PV = 1 << 0,
    XLITE_GUEST_PVH = 1 << 1,
    XLITE_GUEST_HVM = 1 << 2,
} xlite_guest_type;

typedef struct {
    unsigned int nr_cpus;         /* online physical cpus */
    unsigned int sockets;
    unsigned int cores_per_socket;
    unsigned int threads_per_core;
    unsigned int numa_nodes;
    unsigned int cpu_mhz;
    uint64_t total_kib;           /* host memory */
    uint64_t free_kib;            /* memory not owned by any domain */
    unsigned int xen_major;
    unsigned int xen_minor;
    char xen_extra[32];           /* e.g. ".7" */
    unsigned int guest_types;     /* xlite_guest_type bits */
    unsigned int max_vcpus;       /* per guest */
    char arch[16];                /* "x86_64" */
    char scheduler[16];           /* the cpu pool's: "credit2", "credit",
                                   * "rtds", "arinc653", "null" */
    /* The host's cpu featureset as Xen keeps it (physinfo hw_cap), in
     * Xen's word order: CPUID 1.EDX, 1.ECX, 0x80000001.EDX,
     * 0x80000001.ECX, 0xD:1.EAX, 7:0.EBX, 7:0.ECX, 0x80000007.EDX.
     * All zero where the host has no such words (Arm). */
    uint32_t hw_cap[8];
    /* The guest ABIs the hypervisor runs, as Xen lists them
     * (XENVER_capabilities): space-separated "TYPE-VER-ARCH[SUFFIX]",
     * e.g. "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64". */
    char xen_caps[1024];
} xlite_host_info;

int xlite_host_get_info(xlite_ctx *ctx, xlite_host_info *info_r);

/*
 * The host's cpu and memory topology (Xen's XEN_SYSCTL_cputopoinfo and
 * XEN_SYSCTL_numainfo), indexed by physical cpu and by NUMA node.  An
 * entry Xen has nothing for holds XLITE_TOPOLOGY_INVALID: core, socket and
 * node of a cpu that is offline, a distance Xen does not know; a node Xen
 * knows no memory of has size_kib XLITE_TOPOLOGY_NO_MEMORY.  Free with
 * xlite_host_topology_free (NULL is fine).
 */
#define XLITE_TOPOLOGY_INVALID UINT32_MAX
#define XLITE_TOPOLOGY_NO_MEMORY UINT64_MAX

typedef struct {
    uint32_t core;
    uint32_t socket;
    uint32_t node;
} xlite_cpu_topology;

typedef struct {
    uint64_t size_kib;
    uint64_t free_kib;
} xlite_numa_node;

typedef struct {
    unsigned int ncpus;
    xlite_cpu_topology *cpus;
    unsigned int nnodes;
    xlite_numa_node *nodes;
    /* nnodes x nnodes: the distance from node i to node j is
     * distances[i * nnodes + j] (XLITE_TOPOLOGY_INVALID: unknown). */
    uint32_t *distances;
} xlite_host_topology;

int xlite_host_get_topology(xlite_ctx *ctx, xlite_host_topology **topo_r);
void xlite_host_topology_free(xlite_host_topology *topo);


/* Called when the library lets go of an opaque pointer the application
 * handed it along with this function (GDestroyNotify-compatible). */
typedef void (*xlite_free_fn)(void *opaque);

/*
 * ==================== Event loop integration ====================
 *
 * The library waits on file descriptors and timers.  An application with
 * its own event loop registers hooks, and the library asks the loop to
 * watch for it; without hooks, the library only makes progress while some
 * thread is inside a synchronous call or xlite_event_wait(), which runs an
 * internal poll() loop.  The two mix: with hooks installed, a synchronous
 * call still runs its own loop over the same sources, and whichever of
 * the two sees readiness first handles it.
 *
 * Times are absolute CLOCK_MONOTONIC microseconds (g_get_monotonic_time()).
 *
 * The hooks are called with the context's lock held, from any thread that
 * is inside the library (including xlite_osevent_occurred_*).  So the lock
 * hierarchy is: application locks taken by the hooks < the library's lock
 * < application locks held while calling into the library.  In words: an
 * application must never call into libxlite while holding a lock its hook
 * functions take, and its hooks must not call into libxlite.
 *
 * fd_register: watch fd for the poll() bits in events (POLLIN, POLLOUT,
 *   POLLPRI; POLLERR/POLLHUP are always implied).  Store what the loop
 *   needs in *for_app_registration_r.  When the fd is ready, call
 *   xlite_osevent_occurred_fd() with for_xlite.  Return 0 or a negative
 *   errno-style code.  Level or edge triggering are both fine.
 * fd_modify: change the bits (never to 0); may update the registration.
 * fd_deregister: stop watching; cannot fail.  A delivery for it that was
 *   already under way when deregistration happened is harmless.
 * timeout_register: one-shot timeout at abs_usec; when it is due, call
 *   xlite_osevent_occurred_timeout() with for_xlite, once, and forget the
 *   registration (it is not periodic and is never deregistered).
 * timeout_modify: move a registered timeout.  abs_usec == 0 means "as
 *   soon as possible": it is how the library abandons a timeout, and it
 *   may happen while the timeout is firing in another thread; either way
 *   the application delivers it exactly once more and then forgets it.
 *
 * Deliveries that are spurious (nothing ready), stale (for a registration
 * since deregistered or already delivered), duplicated or early are
 * ignored by the library.
 *
 * After xlite_ctx_free() has called user_free, no delivery may be made any
 * more: user_free must drop any registration the loop still holds (only
 * abandoned timeouts can still be outstanding then).
 */
typedef struct {
    int (*fd_register)(void *user, int fd, void **for_app_registration_r,
                       short events, void *for_xlite);
    int (*fd_modify)(void *user, int fd, void **for_app_registration_update,
                     short events);
    void (*fd_deregister)(void *user, int fd, void *for_app_registration);
    int (*timeout_register)(void *user, void **for_app_registration_r,
                            int64_t abs_usec, void *for_xlite);
    int (*timeout_modify)(void *user, void **for_app_registration_update,
                          int64_t abs_usec);
} xlite_osevent_hooks;

/* Installs hooks; only before the context has registered any source
 * (-EBUSY otherwise), at most once (-EEXIST).  The context keeps a copy of
 * *hooks and calls user_free(user) when it is freed. */
int xlite_osevent_register_hooks(xlite_ctx *ctx,
                                 const xlite_osevent_hooks *hooks,
                                 void *user, xlite_free_fn user_free);

/* Readiness feedback from the application's loop.  revents is a hint
 * only: the library checks the fd itself. */
void xlite_osevent_occurred_fd(xlite_ctx *ctx, void *for_xlite, int fd,
                               short events, short revents);
void xlite_osevent_occurred_timeout(xlite_ctx *ctx, void *for_xlite);

/*
 * ==================== Events ====================
 *
 * An event is a heap object owned by whoever receives it, released with
 * xlite_event_free().  Events from a generator carry the generator's
 * for_user cookie; completion events carry the operation's cookie.
 */

typedef enum {
    XLITE_EVENT_DOMAIN_SHUTDOWN = 1,
    XLITE_EVENT_DOMAIN_DEATH,
    XLITE_EVENT_DISK_EJECT,
    XLITE_EVENT_DEVICE_REMOVED,
    XLITE_EVENT_BLOCK_JOB,
    XLITE_EVENT_CONSOLE_AVAILABLE,
    XLITE_EVENT_OPERATION_COMPLETE,
    XLITE_EVENT_OPERATION_PROGRESS,
    XLITE_EVENT_BALLOON_CHANGE,     /* what the domain holds moved */
    XLITE_EVENT_CHANNEL_STATE,      /* a channel's guest side came or went */
    XLITE_EVENT_LAST = XLITE_EVENT_CHANNEL_STATE,
} xlite_event_type;

#define XLITE_EVENTMASK(type) (UINT64_C(1) << (type))
#define XLITE_EVENTMASK_ALL UINT64_MAX

typedef enum {
    XLITE_SHUTDOWN_POWEROFF = 0,
    XLITE_SHUTDOWN_REBOOT,
    XLITE_SHUTDOWN_SUSPEND,
    XLITE_SHUTDOWN_CRASH,
    XLITE_SHUTDOWN_WATCHDOG,
    XLITE_SHUTDOWN_SOFT_RESET,
} xlite_shutdown_reason;

typedef enum {
    XLITE_BLOCK_JOB_PULL = 1,
    XLITE_BLOCK_JOB_COPY,
    XLITE_BLOCK_JOB_COMMIT,
    XLITE_BLOCK_JOB_ACTIVE_COMMIT,
} xlite_block_job_type;

typedef enum {
    XLITE_BLOCK_JOB_COMPLETED = 0,
    XLITE_BLOCK_JOB_FAILED,
    XLITE_BLOCK_JOB_CANCELED,
    XLITE_BLOCK_JOB_READY,
} xlite_block_job_status;

typedef struct {
    xlite_event_type type;
    uint32_t domid;           /* 0 for operation events */
    uint8_t uuid[16];
    uint64_t for_user;        /* the generator's or operation's cookie */
    union {
        struct {
            xlite_shutdown_reason reason;
        } domain_shutdown;
        struct {
            char vdev[32];    /* "xvdc" */
        } disk_eject;
        struct {
            char kind[16];    /* "vbd", "vif", ... */
            int devid;
        } device_removed;
        struct {
            char disk[32];
            xlite_block_job_type job;
            xlite_block_job_status status;
        } block_job;
        struct {
            int rc;           /* 0 or a negative errno-style code */
        } operation_complete;
        struct {
            unsigned int step; /* 1 .. total - 1 */
            unsigned int total;
        } operation_progress;
        struct {
            uint64_t actual_kib; /* what the domain holds now */
        } balloon_change;
        struct {
            char name[65];    /* the channel's name */
            int state;        /* xlite_channel_state: CONNECTED or CLOSED */
        } channel_state;
    } u;
} xlite_event;

void xlite_event_free(xlite_event *ev);

/*
 * Events whose type is in mask go to event_occurs, called without any
 * library lock, in the order they occurred, from whichever thread produced
 * them; the callee owns ev.  Others are queued for xlite_event_check/wait.
 * Once only (-EEXIST); user_free(user) is called when the context is freed.
 */
int xlite_event_register_callbacks(xlite_ctx *ctx, uint64_t mask,
                                   void (*event_occurs)(void *user,
                                                        xlite_event *ev),
                                   void *user, xlite_free_fn user_free);

typedef bool (*xlite_event_predicate)(const xlite_event *ev, void *user);

/* Takes the oldest queued event whose type is in mask and for which pred
 * (if not NULL) is true.  pred is called with the library's lock held and
 * must not call the library.  check returns -ENOENT when there is none;
 * wait runs the library's loop until there is one or timeout_usec
 * (relative, < 0 for none) runs out (-ETIMEDOUT).  With mask 0, wait just
 * runs the loop for timeout_usec: a way to drive the library without
 * hooks. */
int xlite_event_check(xlite_ctx *ctx, uint64_t mask,
                      xlite_event_predicate pred, void *pred_user,
                      xlite_event **ev_r);
int xlite_event_wait(xlite_ctx *ctx, uint64_t mask,
                     xlite_event_predicate pred, void *pred_user,
                     int64_t timeout_usec, xlite_event **ev_r);

/*
 * Per-domain event generators.  While a generator is enabled, events of the
 * types in mask that concern domid are produced with its for_user cookie.
 * After xlite_evdisable() returns none is produced any more (some may still
 * be queued).  -EOPNOTSUPP if no producer serves a type in mask.
 */
typedef struct xlite_evgen xlite_evgen;

int xlite_evenable_domain(xlite_ctx *ctx, uint32_t domid, uint64_t mask,
                          uint64_t for_user, xlite_evgen **evgen_r);
void xlite_evdisable(xlite_ctx *ctx, xlite_evgen *evgen);

/*
 * ==================== Asynchronous operations ====================
 *
 * Every call that can wait takes how:
 *  - NULL: synchronous; the call returns the operation's result.
 *  - callback set: the call returns 0 once the operation is under way (or
 *    an error if it could not start, and then nothing else happens), and
 *    callback(ctx, rc, opaque) is called once when it completes, without
 *    any library lock, possibly before the initiating call returns.  Then
 *    opaque_free(opaque), if set: on success the library owns opaque (on
 *    an error return the caller keeps it).
 *  - callback NULL: completion is an XLITE_EVENT_OPERATION_COMPLETE event
 *    with u.operation_complete.rc and for_user = for_event.
 * Outputs (_r) are written before completion is reported, on success only.
 *
 * Every operation completes exactly once, with 0, its own error, or
 * -ECANCELED when aborted first.  xlite_async_abort(ctx, how) asks all
 * operations started with the how pointer to stop; it is idempotent,
 * returns 0 if one was still running, -ESRCH if none.  An operation may
 * still succeed if it was past the point of no return.
 *
 * Progress reports (aop) go to their own callback or become events; every
 * report of an operation is delivered before its completion, so aop's
 * opaque need only live until then (the completion's opaque_free can
 * release it).
 */
typedef struct {
    void (*callback)(xlite_ctx *ctx, int rc, void *opaque);
    void *opaque;
    xlite_free_fn opaque_free;
    uint64_t for_event;
} xlite_async_how;

typedef struct {
    void (*callback)(xlite_ctx *ctx, xlite_event *ev, void *opaque);
    void *opaque;
    uint64_t for_event;
} xlite_asyncprogress_how;

int xlite_async_abort(xlite_ctx *ctx, const xlite_async_how *how);

/* Waits ticks (>= 1) periods of usec microseconds, reporting progress
 * (step i of ticks) after each period but the last. */
int xlite_sleep(xlite_ctx *ctx, int64_t usec, unsigned int ticks,
                const xlite_asyncprogress_how *aop,
                const xlite_async_how *how);

/* Waits until fd is ready for events (poll() bits): 0; or until
 * timeout_usec (relative, < 0 for none) runs out: -ETIMEDOUT. */
int xlite_fd_wait(xlite_ctx *ctx, int fd, short events,
                  int64_t timeout_usec, const xlite_async_how *how);

/*
 * ==================== Child processes ====================
 *
 * Who owns SIGCHLD, set before the library has children (-EBUSY):
 *  - XLITE_SIGCHLD_OWNER_LIBRARY (default): the library installs a SIGCHLD
 *    handler when it first spawns and reaps every child with waitpid(-1):
 *    the application must not have children of its own.
 *  - XLITE_SIGCHLD_OWNER_MAINLOOP: the application owns SIGCHLD and reaps.
 *    It passes every status it reaps to xlite_childproc_reaped() (which
 *    returns -ESRCH for a pid that is not the library's), or, if it only
 *    reaps its own pids, calls xlite_childproc_sigchld_occurred() on each
 *    SIGCHLD and the library reaps its own.
 *  - XLITE_SIGCHLD_OWNER_SELECTIVE_REAP: the library installs a handler for
 *    as long as the mode lasts and reaps only its own pids, so that the
 *    application's own waitpid(its_pid) keeps working.  The application
 *    must not install a SIGCHLD handler itself.
 * The library's handler is process-wide and shared by its contexts.
 */
typedef enum {
    XLITE_SIGCHLD_OWNER_LIBRARY = 0,
    XLITE_SIGCHLD_OWNER_MAINLOOP,
    XLITE_SIGCHLD_OWNER_SELECTIVE_REAP,
} xlite_sigchld_owner;

int xlite_childproc_setmode(xlite_ctx *ctx, xlite_sigchld_owner mode);
int xlite_childproc_reaped(xlite_ctx *ctx, pid_t pid, int status);
void xlite_childproc_sigchld_occurred(xlite_ctx *ctx);

/* Runs argv[0] (searched in PATH) with argv, the environment plus env
 * ("NAME=value" entries, NULL-terminated, may be NULL), and stdin, stdout,
 * stderr from fds[0..2] (-1: /dev/null).  Completes when it has exited,
 * with its wait status in *status_r (whatever the status: 0 means the
 * program ran, not that it succeeded); after timeout_usec (< 0: none) it
 * is killed with SIGKILL and the operation completes with -ETIMEDOUT. */
int xlite_run_command(xlite_ctx *ctx, const char *const *argv,
                      const char *const *env, const int fds[3],
                      int64_t timeout_usec, int *status_r,
                      const xlite_async_how *how);

/* A new pseudo-terminal pair in raw mode, opened by openpty(3) in a helper
 * child (openpty may fork, which is unsafe in a process with a SIGCHLD
 * handler) and passed back over a socket.  Both fds are CLOEXEC and belong
 * to the caller. */
int xlite_openpty(xlite_ctx *ctx, int *master_r, int *slave_r,
                  const xlite_async_how *how);

/*
 * An exclusive lock on a file, created if missing: flock(2) semantics, held
 * until released and not inherited by programs the process executes.  If the lock
 * is busy, a helper child waits for it, and the operation completes when
 * it is ours.  Abort stops waiting.
 */
typedef struct xlite_file_lock xlite_file_lock;

int xlite_file_lock_acquire(xlite_ctx *ctx, const char *path,
                            xlite_file_lock **lock_r,
                            const xlite_async_how *how);
void xlite_file_lock_release(xlite_file_lock *lock);

/*
 * ==================== Domains ====================
 *
 * (Declared here so that every caller sees them with the async types
 * above.  The types live in xlite_domain.h, included at the top.)
 *
 * create: makes the domain, builds it (kernel), writes its xenstore home
 *   and devices, runs hotplug scripts, waits for the backends and leaves
 *   it paused; *domid_r is written before completion.  A create that fails
 *   at any step undoes all it did: no domain, no xenstore nodes, no child,
 *   no stored config, no lock file.  The stored config is written first.
 * shutdown: writes the request to control/shutdown and completes when the
 *   guest has shut down (0) or when timeout_usec runs out (-ETIMEDOUT; the
 *   domain keeps running and can then be destroyed).
 * destroy: tears down devices, xenstore, children, the stored config and
 *   the hypervisor domain; completes when the hypervisor has let it go.
 * forget: for a domain the hypervisor no longer has (dying counts as
 *   gone): removes what a toolstack that died in the middle of its destroy
 *   left behind, its xenstore home, vm path, backend and error nodes, its
 *   stored config and lock file.  "remove" hotplug scripts are not run.
 *   -EEXIST while the domain (that domid with that uuid) lives, -EBUSY
 *   while an operation in any process holds the domain's lock.
 */
int xlite_domain_create(xlite_ctx *ctx, const xlite_domain_config *cfg,
                        uint32_t *domid_r, const xlite_async_how *how);
int xlite_domain_unpause(xlite_ctx *ctx, uint32_t domid);
int xlite_domain_pause(xlite_ctx *ctx, uint32_t domid);
int xlite_domain_shutdown(xlite_ctx *ctx, uint32_t domid,
                          xlite_shutdown_request request,
                          int64_t timeout_usec, const xlite_async_how *how);
int xlite_domain_destroy(xlite_ctx *ctx, uint32_t domid,
                         const xlite_async_how *how);
int xlite_domain_forget(xlite_ctx *ctx, uint32_t domid,
                        const uint8_t uuid[16]);


/*
 * Save and restore (xlite_save.c; docs/xlite-domains.md, "Save images").
 *
 * save: asks the guest to suspend, waits (60 s at most) until it has shut
 *   down with reason suspend, and writes the image to path (mode 0600,
 *   through a new file renamed over path): the domain's config as
 *   xlite_retrieve_domain_config gives it when the save starts, data (the
 *   application's own section, e.g. libvirt's XML) and the guest state.
 *   The domain is left suspended: the caller destroys it.  A paused
 *   domain is refused (-EINVAL): its guest could not suspend.  A guest that
 *   does not suspend in time has its request taken back and keeps
 *   running (-ETIMEDOUT); an abort before it suspended does the same.
 * restore: reads and checks the whole image, then creates the domain as
 *   xlite_domain_create does, from cfg (which must have the saved
 *   domain's uuid) or, if NULL, the image's config, and hands it the
 *   guest state: it is left paused and resumes where it stopped at its
 *   unpause.  A file that is not an image is refused with -EINVAL, an
 *   image of another version or kind of host with -ENOTSUP, a damaged one
 *   (cut short, a bit changed) with -EBADMSG, and nothing is created.
 * save_image_read: the image's config (cfg_r _init'ed, or NULL) and data
 *   (NUL-terminated, g_free; or NULL), after the same checks.
 * save_image_set_data: replaces the data section (the same checks, then
 *   the same rewrite as a save).
 */
int xlite_domain_save(xlite_ctx *ctx, uint32_t domid, const char *path,
                      const void *data, size_t data_len,
                      const xlite_async_how *how);
int xlite_domain_restore(xlite_ctx *ctx, const char *path,
                         const xlite_domain_config *cfg, uint32_t *domid_r,
                         const xlite_async_how *how);
int xlite_save_image_read(xlite_ctx *ctx, const char *path,
                          xlite_domain_config *cfg_r, char **data_r,
                          size_t *data_len_r);
int xlite_save_image_set_data(xlite_ctx *ctx, const char *path,
                              const void *data, size_t data_len);

int xlite_domain_info(xlite_ctx *ctx, uint32_t domid, xlite_dominfo *info_r);
/* Every domain but dom0, by domid; free *infos_r with free(). */
int xlite_domain_list(xlite_ctx *ctx, xlite_dominfo **infos_r, size_t *n_r);

/*
 * Monitoring (xlite_stats.c).  Each is one pass over the hypervisor.  The
 * read-only ones never wait for the context's lock (a domain build may
 * hold it for seconds): they use a connection of their own.
 *
 * stat: what xlite_domain_info says, without the name and the scheduler
 *   parameters (which the hypervisor does not keep in the same place).
 * stat_all: the same for every domain but dom0, by domid.  Free *infos_r
 *   with free().
 * vcpu_list: the vcpus of domain domid, every one up to its maximum (an
 *   offline one with online false), by vcpuid.  vcpu_list_all: every
 *   domain's, dom0's included, by domid then vcpuid.  Free with free().
 * pcpu_list: the host's physical cpus, by number.  Free with free().
 * disk_stats: the requests the backend of disk vdev of domid counted;
 *   -ENOENT if the backend keeps no statistics (a qdisk, or none yet).
 * netif_stats: the counters of a host network interface (a guest's vif,
 *   vifD.N or the name its config gives); -ENOENT if there is none.
 * Both read the host's sysfs, where Linux's blkback and netdevs keep them
 * (the simulated host keeps the same files under its run directory; a
 * vif's are its network namespace's own).
 * arp_table: the host's ARP table (/proc/net/arp; the simulated host's
 *   network namespace's), its complete, not permanent, Ethernet entries.
 *   Free *entries_r with free().
 * memory_stats: the balloon from the hypervisor (or from info, a
 *   dominfo of the domain the caller has just had, to spare a request in
 *   a pass over many domains) and what the guest reports in xenstore,
 *   untrusted: a value that is not a plain decimal number of at most 24
 *   bytes, or is more than the domain's maximum memory, is left out
 *   (XLITE_MEMSTAT_NONE), as are free or available figures above the
 *   guest's total.
 */
int xlite_domain_stat(xlite_ctx *ctx, uint32_t domid, xlite_dominfo *info_r);
int xlite_domain_stat_all(xlite_ctx *ctx, xlite_dominfo **infos_r,
                          size_t *n_r);
int xlite_domain_vcpu_list(xlite_ctx *ctx, uint32_t domid,
                           xlite_vcpuinfo **vcpus_r, size_t *n_r);
int xlite_vcpu_list_all(xlite_ctx *ctx, xlite_vcpuinfo **vcpus_r,
                        size_t *n_r);
int xlite_host_pcpu_list(xlite_ctx *ctx, xlite_pcpuinfo **cpus_r,
                         size_t *n_r);
int xlite_device_disk_stats(xlite_ctx *ctx, uint32_t domid, const char *vdev,
                            xlite_disk_stats *stats_r);
int xlite_host_netif_stats(xlite_ctx *ctx, const char *ifname,
                           xlite_netif_stats *stats_r);
int xlite_host_arp_table(xlite_ctx *ctx, xlite_arp_entry **entries_r,
                         size_t *n_r);
int xlite_domain_memory_stats(xlite_ctx *ctx, uint32_t domid,
                              const xlite_dominfo *info,
                              xlite_memory_stats *stats_r);
/* The NUMA nodes the domain's memory may come from (bit N: node N, for
 * the first 64 nodes). */
int xlite_domain_node_affinity(xlite_ctx *ctx, uint32_t domid,
                               uint64_t *nodes_r);

int xlite_domain_set_memory_target(xlite_ctx *ctx, uint32_t domid,
                                   uint64_t target_memkb);
int xlite_domain_set_max_memory(xlite_ctx *ctx, uint32_t domid,
                                uint64_t max_memkb);
int xlite_domain_set_vcpus(xlite_ctx *ctx, uint32_t domid,
                           unsigned int online);
/* The physical cpus a vcpu may run on (its hard affinity): bit N of
 * cpumap (maplen bytes, libvirt's layout) is cpu N.  -EINVAL for an empty
 * map, a vcpu the domain does not have or a cpu the host does not have. */
int xlite_domain_vcpu_set_affinity(xlite_ctx *ctx, uint32_t domid,
                                   unsigned int vcpu, const uint8_t *cpumap,
                                   size_t maplen);
int xlite_domain_set_sched(xlite_ctx *ctx, uint32_t domid,
                           unsigned int weight, unsigned int cap);
int xlite_domain_rename(xlite_ctx *ctx, uint32_t domid, const char *name);

/* The console's pty path (console 0 is the PV console or first serial);
 * free *path_r with free().  -ENOENT while xenconsoled (or the simulated
 * host) has not made one. */
int xlite_domain_console_path(xlite_ctx *ctx, uint32_t domid,
                              unsigned int num, char **path_r);

/*
 * Devices of a running domain (DESIGN.md section 4, "Configuration sync").
 * add writes the device's entry into the stored config first, then its
 * xenstore nodes, waits for its backend and runs its hotplug script; a
 * failure at any step takes back all it did.  remove tells the backend to
 * close and waits for Closed (the guest answers) up to the device timeout,
 * then goes on by force: its remove script, its nodes, and only then its
 * entry.  Both hold the domain's lock file, so changes to one domain are
 * serialised and no update of the stored config is lost.  The disk's
 * defaults are filled as create fills them; a nic with devid -1 gets the
 * next free one (in *devid_r, which may be NULL) and a MAC if it has
 * none.  -EEXIST: the guest name or devid is taken; -ENOENT: no such
 * device.
 */
int xlite_device_disk_add(xlite_ctx *ctx, uint32_t domid,
                          const xlite_disk_config *disk,
                          const xlite_async_how *how);
int xlite_device_disk_remove(xlite_ctx *ctx, uint32_t domid,
                             const char *vdev, const xlite_async_how *how);
int xlite_device_nic_add(xlite_ctx *ctx, uint32_t domid,
                         const xlite_nic_config *nic, int *devid_r,
                         const xlite_async_how *how);
int xlite_device_nic_remove(xlite_ctx *ctx, uint32_t domid, int devid,
                            const xlite_async_how *how);
/* Extra PV consoles, num >= 1 (0 is the primary console, made with the
 * domain; -EPERM to remove it).  Consoles are numbered by their place:
 * add takes the next number (-EEXIST for one present, -EINVAL past the
 * next) and remove the last (-EBUSY for another, -ENOENT for none).  An
 * added console is ready once xenconsoled has published its pty
 * (xlite_domain_console_path); remove waits for its backend to close. */
int xlite_device_console_add(xlite_ctx *ctx, uint32_t domid, unsigned int num,
                             const xlite_async_how *how);
int xlite_device_console_remove(xlite_ctx *ctx, uint32_t domid,
                                unsigned int num, const xlite_async_how *how);
/* A CD-ROM drive's medium: ejected, then (target not NULL) the new one
 * inserted, so that xenstore and the stored config never hold two
 * different media (seed 001).  -EINVAL for a disk that is not a CD-ROM. */
int xlite_device_disk_change_media(xlite_ctx *ctx, uint32_t domid,
                                   const char *vdev, const char *target,
                                   xlite_disk_format format,
                                   const xlite_async_how *how);

/*
 * ==================== Channels ====================
 *
 * (docs/channels.md.)  A named byte stream between dom0 and a guest, the
 * Xen channel of libvirt's <channel type='pty'|'unix'><target type='xen'
 * name='...'/>.  The library writes the xenstore nodes (the guest may
 * write only its frontend's state), dom0 grants the ring pages (a vchan,
 * xen/io/libxenvchan.h, whose server is dom0: the guest maps them, the
 * toolstack never maps a page of the guest) and allocates the event
 * channel, and watches for a dead peer.  The core serves the data on an
 * fd in its event loop: a pty (path: its slave, which the core also
 * holds open, as xenconsoled does) or a unix socket it listens on (path:
 * the socket; one client at a time).
 *
 * open completes once all that is in place, without waiting for the
 * guest: what is written before the guest connects waits in the ring (and
 * then in the fd).  When the guest closes its side, dies, shuts down, or
 * breaks the protocol (ring indexes no ring can have), the channel is
 * CLOSED: every node, grant, port and fd is released at once and readers
 * get end of file; the object stays until xlite_channel_close, which
 * releases what is left (and is the only release when the guest is
 * alive).  Neither waits for the guest.  The channel is served by this
 * context: it ends with the process (a new process opens it again; open
 * replaces the nodes of a channel of the same name left behind).
 *
 * The guest's side connecting (CONNECTED) and the channel closing
 * (CLOSED) otherwise than by xlite_channel_close are reported as
 * XLITE_EVENT_CHANNEL_STATE events (the domain's domid and uuid, the
 * channel's name): to the event callback if its mask has the type, else
 * to the queue (xlite_event_check/wait).
 *
 * The config is a domain config's channel (xlite_config.h): its name,
 * and a pty or a socket with an absolute path.
 *
 * -EINVAL: a bad name (1 to 64 of [A-Za-z0-9._-]) or path; -EEXIST: the
 * domain has an open channel of that name in this context; -ESRCH: no
 * such domain (or it is dying); -EOPNOTSUPP: the host has no channels.
 */
typedef struct xlite_channel xlite_channel;

typedef enum {
    XLITE_CHANNEL_WAITING = 0,    /* set up; the guest has not connected */
    XLITE_CHANNEL_CONNECTED,
    XLITE_CHANNEL_CLOSED,         /* the guest went: nothing is held */
} xlite_channel_state;

typedef struct {
    xlite_channel_state state;
    int devid;                    /* its number under device/channel */
    uint64_t to_guest;            /* bytes put in the ring for the guest */
    uint64_t from_guest;          /* bytes taken from the guest's ring */
    char why[128];                /* CLOSED: what closed it */
} xlite_channel_info;

int xlite_channel_open(xlite_ctx *ctx, uint32_t domid,
                       const xlite_channel_config *cfg,
                       xlite_channel **chan_r, const xlite_async_how *how);
/* The pty's slave or the socket: valid until xlite_channel_close. */
const char *xlite_channel_path(const xlite_channel *chan);
void xlite_channel_get_info(xlite_ctx *ctx, xlite_channel *chan,
                            xlite_channel_info *info_r);
/* Releases everything the channel still holds, and the object (NULL is
 * fine).  Tells the guest (its backend goes Closed) without waiting. */
void xlite_channel_close(xlite_ctx *ctx, xlite_channel *chan);

/*
 * ==================== Block jobs ====================
 *
 * (DESIGN.md section 7; docs/blockjobs.md.)  Disks with a QEMU backend
 * (qdisk) are served by one qemu-storage-daemon per domain, the "disk
 * server", started by the first job on the domain and stopped when the
 * domain is destroyed.  It outlives the context and the process that
 * started it: any context finds it again (its pid file and QMP socket
 * under the core's state directory, found under the domain's lock) and
 * re-reads its jobs from it.  A context holds the server's one QMP
 * connection while it has a job in flight or a call under way, and lets
 * it go afterwards, so the next process can take it.
 *
 * One job per disk.  Each job has one state machine (the states below,
 * libvirt's), driven by the server's JOB_STATUS_CHANGE and BLOCK_JOB_*
 * events: a job reports exactly one terminal XLITE_EVENT_BLOCK_JOB
 * (COMPLETED, CANCELED or FAILED), and READY once, to the generators of
 * the context that watches it.  An abort answered by the server makes the
 * terminal event CANCELED even if the copy had reached sync (QEMU reports
 * such a cancel as a completion); a pivot makes it COMPLETED, after the
 * domain's stored config names the new file.
 */
typedef enum {
    XLITE_BLOCK_JOB_STATE_CREATED = 0,
    XLITE_BLOCK_JOB_STATE_RUNNING,
    XLITE_BLOCK_JOB_STATE_READY,       /* a copy in sync: pivot possible */
    XLITE_BLOCK_JOB_STATE_ABORTING,    /* cancel requested */
    XLITE_BLOCK_JOB_STATE_PIVOTING,    /* complete requested */
    XLITE_BLOCK_JOB_STATE_CONCLUDED,
    XLITE_BLOCK_JOB_STATE_FAILED,
} xlite_block_job_state;

typedef struct {
    xlite_block_job_type type;
    const char *vdev;            /* the disk: "xvda" */
    /* COPY: the destination, its format (DEFAULT: the source's), whether
     * it exists already (REUSE_EXT: its contents are the caller's), and
     * whether only the top image is copied (SHALLOW: the destination
     * keeps the source's backing chain).  COMMIT, ACTIVE_COMMIT with
     * shallow: base is top's own backing image (when base is NULL too);
     * -ENXIO if base names another.  Either commit of a top without
     * backing: -ENODATA. */
    const char *dest;
    xlite_disk_format dest_format;
    bool reuse_ext;
    bool shallow;
    /* PULL: the backing file that stays (NULL: pull everything in).
     * COMMIT, ACTIVE_COMMIT: the image committed into (NULL: the bottom
     * of the chain).  base and top are absolute files, or names relative
     * to the image above them (as that image records them, or from its
     * directory), as libvirt looks them up in a chain. */
    const char *base;
    /* COMMIT: the image whose data goes down into base (not the active
     * one: that is ACTIVE_COMMIT, two-phase like a copy, whose pivot
     * makes base the disk's image). */
    const char *top;
    uint64_t bandwidth;          /* bytes per second; 0: unlimited */
    /* PULL with a base, COMMIT: the image that gets a new backing file
     * (the active one for a pull, the one above top for a commit) names
     * it relatively, built from the names the images in between give
     * their backing files (libvirt's RELATIVE flags); -EXDEV if one of
     * them names its backing file by an absolute path.  Ignored by an
     * ACTIVE_COMMIT, which rewrites no image. */
    bool relative;
    /* COMMIT, ACTIVE_COMMIT: once the job completed (an active commit:
     * pivoted), the images whose data went down are deleted: top and
     * those between it and base, never base, never a file the disk's
     * chain did not hold when the job started. */
    bool delete_committed;
    /* COPY: the granularity of the copy's dirty bitmap in bytes (a power
     * of two) and the size of its buffer; 0: the server's defaults. */
    uint32_t granularity;
    uint64_t buf_size;
} xlite_block_job_params;

typedef struct {
    xlite_block_job_type type;
    xlite_block_job_state state;
    uint64_t cur;                /* progress, in the server's units */
    uint64_t end;
    uint64_t bandwidth;          /* bytes per second; 0: unlimited */
    bool ready;
    /* COPY, ACTIVE_COMMIT: the file the disk switches to at the pivot
     * ("" if not known). */
    char dest[1024];
    xlite_disk_format dest_format;   /* its format (DEFAULT: not known) */
} xlite_block_job_info;

/* Starts a job (completes once the server accepted it).  -EBUSY: the disk
 * has a job; -ENOENT: no such disk; -EOPNOTSUPP: the disk has no QEMU
 * backend; -EIO: the server refused (its reason in xlite_errmsg()).
 * Where the disk's chain had to be read (an active commit without base,
 * relative, shallow or delete_committed): -EINVAL if base or top is not
 * in it; -EXDEV, -ENXIO, -ENODATA as said of the params above. */
int xlite_block_job_start(xlite_ctx *ctx, uint32_t domid,
                          const xlite_block_job_params *params,
                          const xlite_async_how *how);
/* Asks the job to stop: cancel, or with pivot complete (a COPY in READY
 * only); completes once the server accepted the request, and the
 * terminal event follows.  -ENOENT: no job; -EALREADY: the job is ending
 * already; -EBUSY: pivot before READY; -EOPNOTSUPP: pivot on a job that
 * is not a copy.  A request that raced with the job's own end succeeds
 * (the one terminal event is the job's own). */
int xlite_block_job_abort(xlite_ctx *ctx, uint32_t domid, const char *vdev,
                          bool pivot, const xlite_async_how *how);
/* The job's state and progress, asked of the server.  -ENOENT: no job. */
int xlite_block_job_get_info(xlite_ctx *ctx, uint32_t domid,
                             const char *vdev, xlite_block_job_info *info_r,
                             const xlite_async_how *how);
int xlite_block_job_set_speed(xlite_ctx *ctx, uint32_t domid,
                              const char *vdev, uint64_t bandwidth,
                              const xlite_async_how *how);

/*
 * Growing a running domain's disk to size bytes (docs/snapshots.md).
 *  - A raw or qcow2 file with a QEMU backend (qdisk): the disk server's
 *    block_resize on the node the disk's export serves (the server is
 *    started, and the disk opened in it, if they are not yet);
 *  - a raw file with blkback (backend phy or default): the file grows.
 * Then the backend's "sectors" is rewritten, and its "state" rewritten
 * to the same value in the same transaction, which is what Linux's
 * xen-blkback (xen_vbd_resize) and QEMU's xen-block do on a resize: a
 * connected blkfront re-reads the capacity.  Never shrinks: -ERANGE for
 * a size below the disk's.  -ENOENT: no such disk; -EOPNOTSUPP: any
 * other disk (a CD-ROM, a block device, tap, a network source); -EROFS:
 * a read-only disk; -EIO: the server refused (xlite_errmsg()).
 */
int xlite_disk_resize(xlite_ctx *ctx, uint32_t domid, const char *vdev,
                      uint64_t size, const xlite_async_how *how);

/*
 * External disk snapshots of a running domain (docs/snapshots.md): each
 * disk named (a raw or qcow2 file with a QEMU backend) goes on in a new
 * qcow2 overlay whose backing file is the disk's image; the disk's old
 * chain is read-only from then on.  The overlay is created (qemu-img
 * create -b) unless reuse_ext, when it must exist with the disk's image
 * as its backing file (how Nova prepares it).  In the disk server: each
 * overlay is opened (blockdev-add), then one QMP transaction of
 * blockdev-snapshot puts them all on top at once, so that several disks
 * are snapshotted together or not at all; on failure the overlays this
 * call opened are closed and those it created removed.  Then the stored
 * config names the overlays (qcow2).  -ENOENT: no such disk; -EBUSY: a
 * disk has a block job; -EEXIST: an overlay to create exists already;
 * -EOPNOTSUPP: a disk not served by a QEMU; -EIO: the server or qemu-img
 * refused (xlite_errmsg()).
 */
typedef struct {
    const char *vdev;            /* the disk: "xvda" */
    const char *overlay;         /* absolute path of the new top image */
} xlite_disk_snapshot;

int xlite_disk_snapshot_create(xlite_ctx *ctx, uint32_t domid,
                               const xlite_disk_snapshot *disks,
                               size_t num_disks, bool reuse_ext,
                               const xlite_async_how *how);

/* The user's config as stored at create, merged with the runtime facts
 * (name, memory, vcpus): xenstore is the primary reference and the stored
 * JSON the template (DESIGN.md section 4).  cfg_r must be _init'ed. */
int xlite_retrieve_domain_config(xlite_ctx *ctx, uint32_t domid,
                                 xlite_domain_config *cfg_r);

#ifdef __cplusplus
}
#endif
