/*
 * xlite_internal.h: the rulebook of libxlite
 *
 * Only files under src/xlite/ include this header.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <assert.h>
#include <glib.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <xenstore.h>

#include "xlite.h"

#define XLITE_EXPORT __attribute__((visibility("default")))

/*
 * ==================== Errors and logging ====================
 *
 * A failure is reported once, where it is detected: the function that
 * sees it calls xlite__error() with the errno-style code and a whole
 * sentence, which records the message for xlite_errmsg() in the calling
 * thread and logs it, then returns the negative code.  Callers pass the
 * code on unchanged and do not log it again.
 */

int xlite__error(xlite_ctx *ctx, int rc, const char *func,
                 const char *fmt, ...) G_GNUC_PRINTF(4, 5);
/* Puts back a message saved from xlite_errmsg() (after cleanup that may
 * have reported other failures), without logging it again. */
void xlite__errmsg_restore(const char *msg);
#define XLITE_ERROR(ctx, rc, ...) \
    xlite__error((ctx), (rc), __func__, __VA_ARGS__)

void xlite__log(xlite_ctx *ctx, xlite_log_level level, const char *func,
                const char *fmt, ...) G_GNUC_PRINTF(4, 5);
#define XLITE_LOG(ctx, level, ...) \
    xlite__log((ctx), (level), __func__, __VA_ARGS__)

/* A warning about what a guest wrote where the core reads it (a value too
 * long, not a string, not a path).  A guest that writes garbage in a loop
 * must not flood the toolstack's log: a context lets XLITE__GUESTLOG_BURST
 * of these through at once, then one per XLITE__GUESTLOG_PERIOD_US; the
 * next one that goes out says how many were held back. */
void xlite__log_guest(xlite_ctx *ctx, const char *func,
                      const char *fmt, ...) G_GNUC_PRINTF(3, 4);
#define XLITE_LOG_GUEST(ctx, ...) \
    xlite__log_guest((ctx), __func__, __VA_ARGS__)
#define XLITE__GUESTLOG_BURST 10
#define XLITE__GUESTLOG_PERIOD_US G_USEC_PER_SEC

/*
 * ==================== Hypervisor backends ====================
 *
 * The core reaches the hypervisor only through this table; nothing else
 * in the core knows which backend runs.  Each operation returns 0 or a
 * negative errno-style code reported with XLITE_ERROR.
 */

/*
 * A hypervisor operation is the equivalent of a hypercall: a short,
 * synchronous exchange made with ctx->lock held, like libxl's xc_* calls.
 * Backends bound it (the sim backend gives up on a reply after
 * XLITE__HV_REPLY_TIMEOUT and reports the connection lost), so it never
 * waits on a guest, a backend or a child.  Anything that waits for a
 * domain to change state watches instead: the backend calls the function
 * given to watch_domains() (lock held, with an egc) whenever some domain
 * may have changed (a domain_changed notification in the sim, which
 * names the domain; Xen's backend has none: xenstored holds VIRQ_DOM_EXC
 * and fires @releaseDomain, which the core then watches instead); the
 * core then looks at that domain, or lists them all and compares.
 * watch_domains may be NULL.
 *
 * Domain operations are NULL in a backend that runs no domains (the stub);
 * the core reports -EOPNOTSUPP for them.  dom_list includes dom0.
 */
#define XLITE__HV_REPLY_TIMEOUT (5 * G_USEC_PER_SEC)

typedef struct {
    uint8_t uuid[16];
    xlite_domain_type type;
    unsigned int max_vcpus;
    uint64_t max_memkb;
} xlite__hv_create_args;

/*
 * The domain builder's arguments.  The core allocates the two event
 * channels the guest starts with (remote end dom0) and passes them in; the
 * builder loads the kernel, lays out memory and returns the frames of the
 * xenstore and console rings it placed, which the core then writes into
 * the domain's home (store/, console/) and gives xenstored at introduce.
 */
typedef struct {
    const char *kernel;
    const char *ramdisk;      /* NULL: none */
    const char *cmdline;      /* NULL: empty */
    xlite_domain_type type;
    unsigned int max_vcpus;
    uint64_t max_memkb;
    uint64_t target_memkb;    /* what the guest starts with */
    uint32_t store_port;      /* in */
    uint32_t console_port;    /* in */
    uint64_t store_mfn;       /* out */
    uint64_t console_mfn;     /* out */
} xlite__hv_build_args;

typedef struct xlite__egc xlite__egc;
/* A report of a change of domain @domid, or of XLITE__DOMID_ANY: some
 * domains may have changed (look at all). */
#define XLITE__DOMID_ANY UINT32_MAX
typedef void xlite__hv_changed_fn(xlite__egc *egc, uint32_t domid);
/* A port of dom0 and its notifications, the backend's own (channels). */
struct xlite__hv_evtchn;

typedef struct xlite__hv_ops {
    const char *name;
    /* Other toolstacks (xl) may make domains on this host: a name the
     * core's index does not hold is then checked against every domain, as
     * libxl does (xlite_domain.c, "the name index"). */
    bool foreign_domains;
    /* The hotplug scripts devices without one of their own run (for vbd
     * and vif backends), or NULL where the host's backends need none. */
    const char *disk_script;
    const char *nic_script;
    /* Extra PV consoles (1 and up) have a server.  On Xen they are QEMU's
     * (its Xen console backend, as libxl makes them: xenconsoled serves
     * console 0 only), and the core starts no QEMU for a PV guest yet;
     * the simulated host's console daemon serves them all. */
    bool extra_consoles;
    int (*open)(xlite_ctx *ctx, void **state_r);
    /* A second state for the query path (see struct xlite_ctx), closed
     * with close; its requests never touch the context's other state.
     * NULL: the backend has no read-only requests. */
    int (*open_query)(xlite_ctx *ctx, void **state_r);
    void (*close)(xlite_ctx *ctx, void *state);
    int (*host_info)(xlite_ctx *ctx, void *state, xlite_host_info *info_r);
    /* Fills the arrays of topo (which starts zeroed); the caller frees
     * them, on failure too.  NULL: the backend knows no topology. */
    int (*host_topology)(xlite_ctx *ctx, void *state,
                         xlite_host_topology *topo);

    int (*dom_create)(xlite_ctx *ctx, void *state,
                      const xlite__hv_create_args *args, uint32_t *domid_r);
    int (*dom_build)(xlite_ctx *ctx, void *state, uint32_t domid,
                     xlite__hv_build_args *args);
    int (*dom_pause)(xlite_ctx *ctx, void *state, uint32_t domid);
    int (*dom_unpause)(xlite_ctx *ctx, void *state, uint32_t domid);
    int (*dom_destroy)(xlite_ctx *ctx, void *state, uint32_t domid);
    /*
     * Save and restore (xlite_save.c).  save_state: the state of a domain
     * that shut down with reason suspend, as bytes the backend alone
     * understands (*state_r g_malloc'd); restore_state: hands such bytes,
     * read back from an image (untrusted: the backend checks them), to a
     * built domain that has not run, which resumes from them at its first
     * unpause.  NULL where the backend cannot save (-ENOTSUP).
     */
    int (*dom_save_state)(xlite_ctx *ctx, void *state, uint32_t domid,
                          char **state_r, size_t *len_r);
    int (*dom_restore_state)(xlite_ctx *ctx, void *state, uint32_t domid,
                             const char *blob, size_t len);
    /* -ESRCH, without reporting an error, if domid does not exist. */
    int (*dom_info)(xlite_ctx *ctx, void *state, uint32_t domid,
                    xlite_dominfo *info_r);
    int (*dom_list)(xlite_ctx *ctx, void *state, xlite_dominfo **infos_r,
                    size_t *n_r);
    int (*dom_set_max_mem)(xlite_ctx *ctx, void *state, uint32_t domid,
                           uint64_t max_memkb);
    int (*dom_set_vcpus)(xlite_ctx *ctx, void *state, uint32_t domid,
                         unsigned int online);
    int (*dom_sched_set)(xlite_ctx *ctx, void *state, uint32_t domid,
                         unsigned int weight, unsigned int cap);
    /* Best effort, for backends whose dom_info leaves weight and cap out
     * (NULL where it has them). */
    void (*dom_sched_get)(xlite_ctx *ctx, void *state, uint32_t domid,
                          unsigned int *weight_r, unsigned int *cap_r);
    int (*evtchn_alloc_unbound)(xlite_ctx *ctx, void *state, uint32_t domid,
                                uint32_t remote, uint32_t *port_r);
    /* The vcpus of domid, or of every domain for XLITE__DOMID_ANY, by
     * domid then vcpuid; -ESRCH, quietly, if domid does not exist. */
    int (*vcpu_list)(xlite_ctx *ctx, void *state, uint32_t domid,
                     xlite_vcpuinfo **vcpus_r, size_t *n_r);
    int (*pcpu_list)(xlite_ctx *ctx, void *state, xlite_pcpuinfo **cpus_r,
                     size_t *n_r);
    /* The cpus (bit N of cpumap: cpu N) vcpu may run on. */
    int (*vcpu_set_affinity)(xlite_ctx *ctx, void *state, uint32_t domid,
                             unsigned int vcpu, const uint8_t *cpumap,
                             size_t maplen);
    /* Bit N: node N; NULL where domains are not placed on nodes (every
     * domain spans the host's nodes). */
    int (*dom_node_affinity)(xlite_ctx *ctx, void *state, uint32_t domid,
                             uint64_t *nodes_r);
    /* Where the host's sysfs is (the simulated host keeps the parts its
     * backends serve under its run directory), or NULL for none. */
    const char *(*sysfs_root)(void *state);
    /* Where the host's /proc/net is (the simulated host's is its network
     * namespace's, linked from its run directory), or NULL for none. */
    const char *(*procnet_root)(void *state);
    /* Start (fn) or stop (NULL) reporting domain state changes. */
    int (*watch_domains)(xlite_ctx *ctx, void *state,
                         xlite__hv_changed_fn *fn);

    /*
     * Channels (xlite_channel.c, docs/channels.md); NULL where the
     * backend has none (the core reports -EOPNOTSUPP).
     * gnt_share: pages of dom0's memory granted to peer, mapped here at
     * *mem_r (libxengntshr's share_pages); gnt_end revokes and unmaps.
     * gnt_map/gnt_unmap: a grant of another domain mapped here (only the
     * tests' debug layout does this: it is what makes zombies).
     * evtchn_open: a port of dom0 left unbound for remote, with an fd
     * that polls readable when the port is notified (/dev/xen/evtchn);
     * evtchn_consume takes that readiness and re-arms the port: 1 if it
     * was notified, 0 if not, < 0 if the fd is lost.  evtchn_notify and
     * evtchn_consume never wait.
     */
    int (*gnt_share)(xlite_ctx *ctx, void *state, uint32_t peer,
                     unsigned int pages, uint32_t *gref_r, void **mem_r);
    void (*gnt_end)(xlite_ctx *ctx, void *state, uint32_t gref, void *mem,
                    unsigned int pages);
    int (*gnt_map)(xlite_ctx *ctx, void *state, uint32_t granter,
                   uint32_t gref, unsigned int pages, void **mem_r);
    void (*gnt_unmap)(xlite_ctx *ctx, void *state, uint32_t granter,
                      uint32_t gref, void *mem, unsigned int pages);
    int (*evtchn_open)(xlite_ctx *ctx, void *state, uint32_t remote,
                       struct xlite__hv_evtchn **ev_r, uint32_t *port_r,
                       int *fd_r);
    int (*evtchn_notify)(xlite_ctx *ctx, struct xlite__hv_evtchn *ev);
    int (*evtchn_consume)(xlite_ctx *ctx, struct xlite__hv_evtchn *ev);
    void (*evtchn_close)(xlite_ctx *ctx, void *state,
                         struct xlite__hv_evtchn *ev);
    /* A channel another process served and left behind (it died, or an
     * embedded client exited): dom0's grant gref ended and its port
     * closed, best effort.  NULL: nothing to do. */
    void (*chan_forget)(xlite_ctx *ctx, void *state, uint32_t gref,
                        uint32_t port);
} xlite__hv_ops;

/* xlite_stats.c: the query path's teardown, at xlite_ctx_free. */
void xlite__stats_ctx_free(xlite_ctx *ctx);

extern const xlite__hv_ops xlite__hv_stub_ops;
extern const xlite__hv_ops xlite__hv_sim_ops;
#ifdef XLITE_HAVE_XENCTRL
extern const xlite__hv_ops xlite__hv_xen_ops;
#endif

/* Sub-operations are embedded in their parent's state; callbacks find the
 * parent from the member they are given. */
#define XLITE__CONTAINER_OF(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

typedef struct xlite__ao xlite__ao;

/*
 * ==================== Locking and callbacks ====================
 *
 * The context has one recursive lock, ctx->lock, taken with CTX_LOCK at
 * every public entry point and held while the library touches any state.
 * Nothing blocks while holding it except the application's osevent hooks
 * (see xlite.h for the resulting lock hierarchy), fork(), request and
 * reply round trips to the local xenstored, and syscalls on fds that are
 * known to be ready or non-blocking.  Only the poller (below) waits for
 * events, and it releases the lock to do so.
 *
 * Callbacks into the application (event callbacks, progress reports,
 * operation completions) are never made with the lock held.  Every public
 * entry point that may cause one declares an event generation context,
 * EGC_INIT(ctx), on its stack; the internal code queues the callbacks in
 * it; after CTX_UNLOCK the entry point calls EGC_FREE, which runs them in
 * this order: occurred events, then progress reports, then completions,
 * repeating until nothing is left (a progress report being delivered may
 * release a completion).  The application may call back into the library
 * from any of these: the lock is not held.
 *
 * Internal callbacks (an fd became ready, a timer expired, a child died)
 * are library code: they are called with the lock held and an egc, and
 * must not block.  An fd callback is only called when poll() on the fd,
 * under the lock, has just said it is ready, and it must consume all the
 * readiness it is told about (read until EAGAIN, or deregister), so that an
 * edge-triggered application loop loses nothing.
 */

void xlite__ctx_lock(xlite_ctx *ctx);
void xlite__ctx_unlock(xlite_ctx *ctx);
#define CTX_LOCK(ctx) xlite__ctx_lock(ctx)
#define CTX_UNLOCK(ctx) xlite__ctx_unlock(ctx)

struct xlite__egc {
    xlite_ctx *ctx;
    GQueue occurred;      /* xlite_event *, for the event callback */
    GQueue progress;      /* xlite__aop_report * */
    GQueue completed;     /* xlite__ao *, async, to notify */
};

#define EGC_INIT(ctx_) \
    xlite__egc egc[1] = { { .ctx = (ctx_), .occurred = G_QUEUE_INIT, \
                            .progress = G_QUEUE_INIT, \
                            .completed = G_QUEUE_INIT } }
#define EGC_FREE xlite__egc_cleanup(egc)

/* Runs what egc holds.  Called without the lock. */
void xlite__egc_cleanup(xlite__egc *egc);

/*
 * ==================== Event sources ====================
 *
 * Each source is a struct embedded in the state of whoever uses it.  _init
 * makes it "not registered" (so _deregister on it is a no-op and
 * _isregistered false); _register arms it; when it fires it is called with
 * the lock held.  A timer is deregistered by the library just before its
 * callback runs; an fd watch stays registered until deregistered.  All
 * functions take the lock (or are called with it held).  Freeing a context
 * with any source registered is a programming error (assertion).
 *
 * With osevent hooks installed, each fd watch and timer is mirrored in the
 * application's loop.  The application gets an opaque token per
 * registration, an id never reused (a 64-bit counter), looked up in a
 * table: deliveries for ids no longer in the table are stale and dropped.
 * A timer the library gives up on is modified to "now" and its id stays in
 * the table, without a timer, until the application delivers it.
 *
 * The poller: a thread that must wait (a synchronous operation, or
 * xlite_event_wait) runs xlite__wait_until().  If no other thread is
 * polling, it becomes the poller: it gathers every registered fd and the
 * earliest timer, releases the lock, poll()s, retakes the lock and
 * dispatches; the others sleep on ctx->wait_cond.  Anything that may end a
 * wait (a completion, a queued event) or change what the poller should
 * watch (a new registration) broadcasts the condition and writes to the
 * poller's wake pipe.
 */

typedef struct xlite__ev_fd xlite__ev_fd;
typedef void xlite__ev_fd_callback(xlite__egc *egc, xlite__ev_fd *ev, int fd,
                                   short events, short revents);
struct xlite__ev_fd {
    /* private */
    xlite__ev_fd_callback *func;   /* NULL: not registered */
    int fd;
    short events;
    uintptr_t id;
    void *for_app_reg;
};

void xlite__ev_fd_init(xlite__ev_fd *ev);
int xlite__ev_fd_register(xlite_ctx *ctx, xlite__ev_fd *ev,
                          xlite__ev_fd_callback *func, int fd, short events);
int xlite__ev_fd_modify(xlite_ctx *ctx, xlite__ev_fd *ev, short events);
void xlite__ev_fd_deregister(xlite_ctx *ctx, xlite__ev_fd *ev);
bool xlite__ev_fd_isregistered(const xlite__ev_fd *ev);

typedef struct xlite__ev_time xlite__ev_time;
typedef struct xlite__hook_timeout xlite__hook_timeout;
/* Called once the time has come (and the timer deregistered). */
typedef void xlite__ev_time_callback(xlite__egc *egc, xlite__ev_time *ev);
struct xlite__ev_time {
    /* private */
    xlite__ev_time_callback *func; /* NULL: not registered */
    int64_t abs;                   /* CLOCK_MONOTONIC, us */
    GList link;                    /* in ctx->etimes, sorted by abs */
    xlite__hook_timeout *hook;     /* its mirror in the app's loop */
};

void xlite__ev_time_init(xlite__ev_time *ev);
int xlite__ev_time_register_abs(xlite_ctx *ctx, xlite__ev_time *ev,
                                xlite__ev_time_callback *func, int64_t abs);
int xlite__ev_time_register_rel(xlite_ctx *ctx, xlite__ev_time *ev,
                                xlite__ev_time_callback *func, int64_t usec);
void xlite__ev_time_deregister(xlite_ctx *ctx, xlite__ev_time *ev);
bool xlite__ev_time_isregistered(const xlite__ev_time *ev);

/* Runs the loop (as the poller or asleep) until done(ctx, data), called
 * with the lock held, is true, or the absolute deadline passes (< 0:
 * none): 0 or -ETIMEDOUT.  Called with the lock held exactly once, since
 * the wait releases it.  egc collects what each round of dispatching
 * produces and is flushed, without the lock, after each round. */
int xlite__wait_until(xlite__egc *egc, bool (*done)(xlite_ctx *ctx, void *data),
                      void *data, int64_t deadline);

/* Wakes every waiter and the poller (something they wait for changed). */
void xlite__wake_waiters(xlite_ctx *ctx);

/*
 * ==================== Events for the application ====================
 *
 * xlite__event_occurs() takes ownership of ev (from xlite__event_new) and
 * queues it in egc (for the event callback) or in the context's queue (for
 * xlite_event_check/wait).
 *
 * Generators: a producer (one per family of event types, added by the
 * mechanism that watches for them) is told when the first generator for a
 * domain wants one of its types and when the last one stops, and emits
 * with xlite__evgen_emit(), which makes one event per interested generator.
 */

xlite_event *xlite__event_new(xlite_event_type type, uint32_t domid,
                              uint64_t for_user);
void xlite__event_occurs(xlite__egc *egc, xlite_event *ev);
/* Without the lock (from EGC_FREE): to the callback or the queue. */
void xlite__event_deliver(xlite_ctx *ctx, xlite_event *ev);

typedef struct xlite__evgen_producer xlite__evgen_producer;
struct xlite__evgen_producer {
    /* caller */
    uint64_t mask;        /* the event types it produces */
    /* Start and stop watching domid; called with the lock held. */
    int (*start)(xlite_ctx *ctx, xlite__evgen_producer *p, uint32_t domid);
    void (*stop)(xlite_ctx *ctx, xlite__evgen_producer *p, uint32_t domid);
    /* private */
    GList link;           /* in ctx->producers */
};

void xlite__evgen_producer_add(xlite_ctx *ctx, xlite__evgen_producer *p);
void xlite__evgen_producer_remove(xlite_ctx *ctx, xlite__evgen_producer *p);
/* Emits an event like tmpl (type, domid, payload) to every generator that
 * wants it, each with its own for_user. */
void xlite__evgen_emit(xlite__egc *egc, const xlite_event *tmpl);

/*
 * ==================== Machinery for asynchronous operations ====================
 *
 * A public function that can wait is an initiator.  It:
 *  1. declares EGC_INIT, takes the lock, and creates the ao with
 *     xlite__ao_create(ctx, how);
 *  2. allocates its state (caller-filled fields, results, private), with
 *     ao pointing at the ao, and starts the first step: registers sources,
 *     forks helpers.  If this fails before anything was registered, it
 *     calls xlite__ao_create_fail() and returns the error;
 *  3. otherwise returns xlite__ao_inprogress(egc, ao), which for a
 *     synchronous call runs the loop until the operation completes and
 *     returns its rc, and for an asynchronous one returns 0;
 *  4. releases the lock and calls EGC_FREE.
 *
 * Steps after the first run as internal callbacks (lock held, never
 * blocking).  The operation ends with xlite__ao_complete(egc, ao, rc)
 * exactly once, after it has deregistered every source and freed its
 * state: completing twice is an assertion failure.  The ao itself lives on
 * until the application has been told (or the synchronous initiator has
 * returned); nothing may touch it after xlite__ao_complete.
 *
 * Abort: an operation registers an xlite__ao_abortable for each thing it
 * waits for that can be stopped early.  xlite_async_abort() marks the ao
 * aborting and calls each registered abortable's callback once (with the
 * lock held), deregistering it first; the callback stops the step and
 * leads to completion, normally with -ECANCELED.  A step that begins after
 * the abort sees xlite__ao_aborting() and stops at once.
 *
 * Progress: xlite__ao_progress_report() queues a report in egc.  Reports
 * outstanding (queued and not yet delivered, possibly in another thread's
 * egc) hold back the notification of completion, which is therefore
 * always the ao's last callback.
 *
 * Sub-operations.  A step that may wait (for a lock, a child, xenstore,
 * a domain) is a sub-operation: a struct embedded in its parent's state
 * (caller fields, results, private), with _init, _start (or _acquire)
 * and a callback called once with the lock held, found back with
 * XLITE__CONTAINER_OF; it registers its own abortables against the
 * parent's ao.  Its header comment says whether the callback may run
 * from inside _start.
 *
 * No public initiator is called from inside the core.  An initiator
 * takes the lock as an entry point, makes an ao of its own whose
 * completion reaches its caller through an egc without the lock, and so
 * from a thread and at a time the core does not choose; the core would
 * have to bounce it back into the loop (and could not report a failure
 * to do so).  Where an initiator's work is needed inside the core, it is
 * a sub-operation, and the public initiator is a thin wrapper that makes
 * the ao and embeds it (xlite_file_lock_acquire wraps xlite__flock).
 * Synchronous public calls that do not wait (xlite_errmsg, the config
 * helpers) may be used anywhere.
 *
 * What is slow, and so must be asynchronous: anything whose duration
 * another party decides.  Waiting for a lock another process holds, a
 * child process (hotplug script, helper, disk server), a guest or a
 * backend to change xenstore, a domain to shut down or go, a QMP reply,
 * a timeout.  What is not: a round trip to the local xenstored, a
 * hypervisor operation (bounded, see "Hypervisor backends"), a
 * non-blocking syscall, a small local file read or written (the stored
 * config, a lock file created), fork().  These are made with the lock
 * held, in line.
 */

typedef struct xlite__ao_abortable xlite__ao_abortable;
typedef void xlite__ao_abortable_callback(xlite__egc *egc,
                                          xlite__ao_abortable *abrt, int rc);
struct xlite__ao_abortable {
    /* caller */
    xlite__ao *ao;
    xlite__ao_abortable_callback *callback;
    /* private */
    bool registered;
    GList link;           /* in ao->abortables */
};

void xlite__ao_abortable_init(xlite__ao_abortable *abrt);
int xlite__ao_abortable_register(xlite__ao_abortable *abrt);
void xlite__ao_abortable_deregister(xlite__ao_abortable *abrt);
bool xlite__ao_abortable_isregistered(const xlite__ao_abortable *abrt);

xlite__ao *xlite__ao_create(xlite_ctx *ctx, const xlite_async_how *how);
void xlite__ao_create_fail(xlite__ao *ao);
int xlite__ao_inprogress(xlite__egc *egc, xlite__ao *ao);
void xlite__ao_complete(xlite__egc *egc, xlite__ao *ao, int rc);
bool xlite__ao_aborting(const xlite__ao *ao);
void xlite__ao_progress_report(xlite__egc *egc, xlite__ao *ao,
                               const xlite_asyncprogress_how *aop,
                               xlite_event *ev);

/*
 * ==================== File descriptors and fork ====================
 *
 * No fd the library creates may reach a program some thread executes.
 * Every fd is created CLOEXEC (O_CLOEXEC, SOCK_CLOEXEC, MSG_CMSG_CLOEXEC)
 * while holding the process-wide "no forking" lock, which pthread_atfork
 * handlers also take: no thread can fork between the creation of an fd and
 * its CLOEXEC flag, even where a foreign library (libxenstore) creates it
 * without the flag and we set it afterwards.
 *
 * The no-forking lock is a leaf: nothing else is taken while it is held,
 * and it is never held across fork() by its holder (fork takes it).
 */

void xlite__nofork_lock(void);
void xlite__nofork_unlock(void);
int xlite__pipe(xlite_ctx *ctx, int fds_r[2]);
int xlite__socketpair(xlite_ctx *ctx, int fds_r[2]);
int xlite__open(xlite_ctx *ctx, const char *path, int flags, mode_t mode);
/* For foreign code that creates fds: between begin and end (no-forking
 * lock held), end sets CLOEXEC on every fd that was not open at begin. */
typedef struct xlite__foreign_fds xlite__foreign_fds;
xlite__foreign_fds *xlite__foreign_fds_begin(void);
void xlite__foreign_fds_end(xlite__foreign_fds *before);
void xlite__close(int *fd);

/*
 * ==================== Child processes ====================
 *
 * xlite__fork() forks with the lock held and registers the child (in the
 * parent) so that its death calls ch->callback, with the lock held, once.
 * In the child it returns 0 with signal dispositions and mask reset; the
 * child may use async-signal-safe calls only and must end in exec or
 * _exit.  SIGCHLD is handled as xlite_childproc_setmode() says.
 *
 * xlite__spawn runs a program with stdio redirected, an environment and a
 * timeout (after which it is killed with SIGKILL), and calls death_cb once
 * with rc 0 or -ETIMEDOUT and the wait status.  It is an abortable step:
 * abort kills the child and death_cb gets -ECANCELED.
 */

typedef struct xlite__ev_child xlite__ev_child;
typedef void xlite__ev_child_callback(xlite__egc *egc, xlite__ev_child *ch,
                                      pid_t pid, int status);
struct xlite__ev_child {
    /* caller */
    xlite__ev_child_callback *callback;
    /* private */
    pid_t pid;            /* -1: not registered */
    GList link;           /* in ctx->children */
};

void xlite__ev_child_init(xlite__ev_child *ch);
bool xlite__ev_child_inuse(const xlite__ev_child *ch);
pid_t xlite__fork(xlite__egc *egc, xlite__ev_child *ch);
/* In a child: writes msg to stderr and _exit(code).  Async-signal-safe. */
G_GNUC_NORETURN void xlite__child_fail(const char *msg, int code);

typedef struct xlite__spawn_state xlite__spawn_state;
typedef void xlite__spawn_death_callback(xlite__egc *egc,
                                         xlite__spawn_state *ss,
                                         int rc, int status);
struct xlite__spawn_state {
    /* caller */
    xlite__ao *ao;
    const char *what;              /* for messages */
    const char *const *argv;
    const char *const *env;        /* extra "NAME=value", may be NULL */
    int stdfds[3];                 /* -1: /dev/null */
    int64_t timeout_usec;          /* < 0: none */
    bool unabortable;              /* the ao's abort does not kill it */
    xlite__spawn_death_callback *death_cb;
    /* private */
    xlite__ev_child child;
    xlite__ev_time timeout;
    xlite__ao_abortable abrt;
    int rc;                        /* why we killed it, if we did */
};

void xlite__spawn_init(xlite__spawn_state *ss);
int xlite__spawn(xlite__egc *egc, xlite__spawn_state *ss);

/* Called by the context. */
void xlite__childproc_ctx_init(xlite_ctx *ctx);
void xlite__childproc_ctx_free(xlite_ctx *ctx);

/*
 * ==================== xenstore ====================
 *
 * One libxenstore connection per context, opened on first use (xs_open
 * honours XENSTORED_PATH), its watch fd in the loop.  A watch fires its
 * callback (lock held) for each event with the watched and the changed
 * path; the changed path is guest-influenced data: bounded and not to be
 * trusted beyond being a string.
 */

typedef struct xlite__ev_xswatch xlite__ev_xswatch;
typedef void xlite__ev_xswatch_callback(xlite__egc *egc, xlite__ev_xswatch *w,
                                        const char *wpath, const char *epath);
struct xlite__ev_xswatch {
    /* private */
    xlite__ev_xswatch_callback *callback;  /* NULL: not registered */
    char *path;
    uintptr_t token;
};

void xlite__ev_xswatch_init(xlite__ev_xswatch *w);
int xlite__ev_xswatch_register(xlite_ctx *ctx, xlite__ev_xswatch *w,
                               xlite__ev_xswatch_callback *func,
                               const char *path);
void xlite__ev_xswatch_deregister(xlite_ctx *ctx, xlite__ev_xswatch *w);
bool xlite__ev_xswatch_isregistered(const xlite__ev_xswatch *w);
/* The connection, for reads and writes by the mechanisms; NULL and an
 * error reported if it cannot be opened. */
struct xs_handle *xlite__xs(xlite_ctx *ctx);
/* Closes the connection (the host restarted) and, if watches use it,
 * opens a new one and registers them again on it; otherwise the next use
 * opens it. */
void xlite__xs_reset(xlite_ctx *ctx);
/* Reads and writes outside a transaction.  _read_bounded: the value, or
 * NULL if the node is missing, longer than max or not a string (logged);
 * what a guest may write is read only this way.  _read_uint: a decimal
 * no greater than max, else -EINVAL (quietly).  _write_checked: reports
 * the failure.  _exists: the node is there (and a bounded string). */
char *xlite__xs_read_bounded(xlite_ctx *ctx, const char *path, size_t max);
int xlite__xs_read_uint(xlite_ctx *ctx, const char *path, uint64_t max,
                        uint64_t *val_r);
int xlite__xs_write_checked(xlite_ctx *ctx, const char *path,
                            const char *value);
bool xlite__xs_exists(xlite_ctx *ctx, const char *path);
/*
 * A read-decide-write on xenstore: one transaction, made again from the
 * start while it conflicts with another writer (its end fails with
 * EAGAIN), at most XLITE__XS_TXN_ATTEMPTS times.  body(ctx, xsh, t,
 * opaque) does the transaction's reads and writes and returns
 *   - >= 0 to commit; once committed, that is what _transact returns (a
 *     body may so tell what it found);
 *   - < 0 to abort (nothing it wrote stays); returned as is.
 * The body reports its own errors (XLITE_ERROR) where they deserve a
 * message, and keeps nothing from an attempt that conflicted: it runs
 * again from scratch.  _transact reports the transaction's own failures
 * (it cannot start or end, or conflicts every time: -EAGAIN) as "cannot
 * <what>: ..."; a NULL @what reports nothing (a best-effort cleanup).
 */
#define XLITE__XS_TXN_ATTEMPTS 16
typedef int xlite__xs_txn_body(xlite_ctx *ctx, struct xs_handle *xsh,
                               xs_transaction_t t, void *opaque);
int xlite__xs_transact(xlite_ctx *ctx, const char *what,
                       xlite__xs_txn_body *body, void *opaque);
void xlite__xs_ctx_init(xlite_ctx *ctx);
void xlite__xs_ctx_free(xlite_ctx *ctx);

/*
 * ==================== The context ====================
 *
 * One per application (per driver).  Fields set at creation and never
 * changed afterwards may be read without the lock; all others are guarded
 * by ctx->lock.
 */

struct xlite_ctx {
    /* Immutable after xlite_ctx_new. */
    char *state_dir;
    char *sim_rundir;
    bool sim_shared_netns;
    xlite_log_fn log;
    void *log_opaque;
    bool debug_child_fds;
    bool blockjob_poll;
    xlite_backend_kind backend;
    const xlite__hv_ops *hv;
    void *hv_state;

    /* The one recursive lock of the context, and its holder's depth. */
    pthread_mutex_t lock;
    unsigned int lock_depth;

    /*
     * The query path (xlite_stats.c): a second backend state and xenstore
     * handle for read-only requests, opened on first use and used under
     * query_lock alone, never under lock: monitoring never waits for a
     * long hypervisor request (a domain build) that another thread makes
     * with the context's lock held.  query_lock is a leaf: nothing takes
     * lock while holding it.
     */
    pthread_mutex_t query_lock;
    void *query_state;
    struct xs_handle *query_xsh;

    /* The guest warnings' budget (xlite__log_guest), under guestlog_lock,
     * a leaf: warnings come from both paths above. */
    pthread_mutex_t guestlog_lock;
    unsigned int guestlog_tokens;
    int64_t guestlog_refilled;           /* monotonic, microseconds */
    unsigned int guestlog_held;

    /* Event loop (xlite_event.c). */
    const xlite_osevent_hooks *hooks;    /* NULL or &hooks_copy */
    xlite_osevent_hooks hooks_copy;
    void *hooks_user;
    xlite_free_fn hooks_user_free;
    uintptr_t next_id;
    GHashTable *fds_by_id;               /* id -> xlite__ev_fd */
    GHashTable *hook_timeouts;           /* id -> xlite__hook_timeout */
    GQueue etimes;                       /* xlite__ev_time, by abs */
    int wake_pipe[2];
    pthread_cond_t wait_cond;
    bool poller_busy;
    unsigned int nwaiters;

    /* Events (xlite_event.c). */
    uint64_t event_mask;
    void (*event_occurs)(void *user, xlite_event *ev);
    void *event_user;
    xlite_free_fn event_user_free;
    GQueue events;                       /* xlite_event, queued */
    GQueue producers;                    /* xlite__evgen_producer */
    /* domid -> GQueue of xlite_evgen, in the order enabled: an event, or
     * enabling one domain's, looks at that domain's generators only. */
    GHashTable *evgens;

    /* Asynchronous operations (xlite_ao.c). */
    GQueue aos;                          /* xlite__ao, not yet complete */

    /* Child processes (xlite_fork.c). */
    xlite_sigchld_owner sigchld_owner;
    GQueue children;                     /* xlite__ev_child */
    bool sigchld_installed;
    int sigchld_pipe[2];
    xlite__ev_fd sigchld_ev;

    /* xenstore (xlite_xs.c). */
    struct xs_handle *xsh;
    xlite__ev_fd xs_ev;
    GHashTable *xswatches;               /* token -> xlite__ev_xswatch */
    uintptr_t next_xs_token;

    /* Domains (xlite_domain.c, xlite_death.c). */
    struct xlite__domains *domains;
    /* A guest's CD-ROM eject requests (xlite_eject.c). */
    struct xlite__ejects *ejects;
    /* The balloon's movements (xlite_balloon.c). */
    struct xlite__balloons *balloons;
    /* Disk servers and block jobs (xlite_blockjob.c). */
    struct xlite__blockjobs *blockjobs;
    /* Open channels (xlite_channel.c), xlite_channel.link. */
    GQueue channels;
    /* The stored configs of domains the host does not have were collected
     * on this host (xlite__userdata_collect: once per context, and again
     * after the host restarted). */
    bool userdata_collected;
};

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xlite_ctx, xlite_ctx_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xlite_event, xlite_event_free)

/* Called by xlite_ctx_new / xlite_ctx_free for each mechanism. */
int xlite__event_ctx_init(xlite_ctx *ctx);
void xlite__event_ctx_free(xlite_ctx *ctx);
void xlite__ao_ctx_free(xlite_ctx *ctx);

/*
 * ==================== Domains ====================
 *
 * A domain's state lives in three places, none of them in memory: the
 * hypervisor (through ctx->hv), its xenstore home, and its stored config
 * (xlite_userdata.c).  So any number of contexts, in any number of
 * processes, see the same domains.
 *
 * Domain watching (xlite_death.c): while anything waits for domains to
 * change (an event generator, a shutdown or destroy waiting for the
 * domain to go), the context holds the backend's domain-change reports,
 * or, for a backend without any, ONE @releaseDomain xenstore watch.  A
 * report that names a domain makes one look at it (one dom_info) that the
 * waiters on it see; any other makes one scan (one dom_list) that every
 * waiter sees.  A waiter is a struct embedded in the
 * operation's state; its callback runs with the lock held and the info of
 * its domain, or NULL when the domain is gone.
 *
 * Guest-writable xenstore values (everything under the guest's own
 * device/, control/, data/, console/, memory/ written by the guest) are
 * read with xlite__xs_read_bounded() and parsed strictly; they never
 * become a path, a command or a format string.
 */
typedef struct xlite__domwait xlite__domwait;
/* rc < 0: the hypervisor could not be asked (info NULL); else info is the
 * domain's state, NULL if it is gone. */
typedef void xlite__domwait_callback(xlite__egc *egc, xlite__domwait *dw,
                                     int rc, const xlite_dominfo *info);
struct xlite__domwait {
    /* caller */
    uint32_t domid;
    xlite__domwait_callback *callback;
    /* private */
    bool registered;
    uint64_t seen_scan;
    GList link;
};

void xlite__domwait_init(xlite__domwait *dw);
int xlite__domwait_register(xlite__egc *egc, xlite__domwait *dw);
void xlite__domwait_deregister(xlite_ctx *ctx, xlite__domwait *dw);
/* Asks for a look at @domid (XLITE__DOMID_ANY: a scan) soon, from a zero
 * timer: after something the core did itself that waiters must see. */
void xlite__domains_kick(xlite_ctx *ctx, uint32_t domid);

int xlite__domains_ctx_init(xlite_ctx *ctx);
void xlite__domains_ctx_free(xlite_ctx *ctx);
void xlite__ejects_ctx_init(xlite_ctx *ctx);
void xlite__ejects_ctx_free(xlite_ctx *ctx);
void xlite__balloons_ctx_init(xlite_ctx *ctx);
void xlite__balloons_ctx_free(xlite_ctx *ctx);

/*
 * ==================== Waiting for a condition ====================
 *
 * xlite__xswait (xlite_xswait.c) is the one way the core waits for
 * something outside it to reach a state: a condition on xenstore nodes
 * or on one domain's state, a timeout, and optionally the ao's abort,
 * ending in exactly one call of the callback.  libxl's
 * libxl__xswait_state is the model; ours adds the domain as a source
 * (on Xen itself a xenstore watch, @releaseDomain) and lets the caller's
 * check function, not the callback, say when the condition holds.
 *
 * The caller fills in the caller fields and calls _start.  From then on
 * check(egc, xw, dom) runs, lock held, each time a watched path or the
 * domain may have changed, and at least once: every new xenstore watch
 * fires once, and a domain wait looks once.  It never runs from inside
 * _start.  dom is NULL for a xenstore change; for a look at the domain,
 * dom->rc < 0 says the hypervisor could not be asked, otherwise
 * dom->info is the domain's state, or NULL if it is gone.  check returns
 * XLITE__XSWAIT_PENDING to go on waiting, or the rc to end with (0: the
 * condition holds), having reported any error itself.
 *
 * At the timeout, timedout(egc, xw) gives the rc to end with (it may
 * look once more and return 0); without one, -ETIMEDOUT is reported with
 * what.  With abortable, the ao's abort ends the wait with its rc.
 *
 * Whatever ends it, every source is deregistered before callback(egc,
 * xw, rc) runs, once; the callback may start xw again.  _stop abandons a
 * wait without calling back (a no-op on one that is not running).
 * _start returns 0, or an error with nothing registered and no callback
 * to come.
 */
#define XLITE__XSWAIT_PENDING 1

typedef struct xlite__xswait xlite__xswait;
typedef struct {
    int rc;
    const xlite_dominfo *info;
} xlite__xswait_dom;
typedef int xlite__xswait_check(xlite__egc *egc, xlite__xswait *xw,
                                const xlite__xswait_dom *dom);
typedef int xlite__xswait_timedout(xlite__egc *egc, xlite__xswait *xw);
typedef void xlite__xswait_callback(xlite__egc *egc, xlite__xswait *xw,
                                    int rc);
typedef struct {
    xlite__ev_xswatch watch;
    xlite__xswait *xw;
} xlite__xswait_watch;
struct xlite__xswait {
    /* caller */
    xlite__ao *ao;
    bool abortable;
    const char *what;              /* a noun phrase, for messages */
    const char *const *paths;      /* xenstore paths to watch (read at */
    size_t npaths;                 /* start only) */
    bool watch_domain;
    uint32_t domid;                /* with watch_domain */
    int64_t timeout_usec;          /* < 0: none */
    xlite__xswait_check *check;
    xlite__xswait_timedout *timedout;
    xlite__xswait_callback *callback;
    /* private */
    xlite__xswait_watch *watches;
    size_t nwatches;
    xlite__domwait dw;
    xlite__ev_time timeout;
    xlite__ao_abortable abrt;
};

void xlite__xswait_init(xlite__xswait *xw);
int xlite__xswait_start(xlite__egc *egc, xlite__xswait *xw);
bool xlite__xswait_inuse(const xlite__xswait *xw);
void xlite__xswait_stop(xlite_ctx *ctx, xlite__xswait *xw);

/*
 * Disk servers and block jobs (xlite_blockjob.c; docs/blockjobs.md).
 *
 * Stopping a domain's disk server, with the domain's lock held: this
 * context's connection to it goes (its jobs end without events, like the
 * domain), the server is asked to stop (SIGTERM: it flushes its images)
 * and, as a sub-operation of destroy, waited for, so that the images are
 * free when destroy completes; after XLITE__DSSTOP_TIMEOUT it is killed.
 * xlite__diskserver_stop does the same without waiting (forget).
 */
#define XLITE__DSSTOP_TIMEOUT (10 * G_USEC_PER_SEC)

typedef struct xlite__dsstop xlite__dsstop;
typedef void xlite__dsstop_callback(xlite__egc *egc, xlite__dsstop *st);
struct xlite__dsstop {
    /* caller */
    uint32_t domid;
    uint8_t uuid[16];
    xlite__dsstop_callback *callback;
    /* private */
    pid_t pid;
    int64_t deadline;
    bool killed;
    char *dir;
    xlite__ev_time timer;
};

void xlite__dsstop_init(xlite__dsstop *st);
/* Calls st->callback once, from the loop (never from inside this call). */
void xlite__dsstop_start(xlite__egc *egc, xlite__dsstop *st);

int xlite__blockjobs_ctx_init(xlite_ctx *ctx);
void xlite__blockjobs_ctx_free(xlite_ctx *ctx);
void xlite__diskserver_stop(xlite_ctx *ctx, uint32_t domid,
                            const uint8_t uuid[16]);

/* The stored config (xlite_userdata.c).  Paths are
 * STATE_DIR/userdata/<domid>-<uuid>.{json,lock}. */
char *xlite__userdata_path(xlite_ctx *ctx, uint32_t domid,
                           const uint8_t uuid[16], const char *suffix);
int xlite__userdata_store(xlite_ctx *ctx, uint32_t domid,
                          const uint8_t uuid[16],
                          const xlite_domain_config *cfg);
int xlite__userdata_load(xlite_ctx *ctx, uint32_t domid,
                         const uint8_t uuid[16], xlite_domain_config *cfg_r);
void xlite__userdata_remove(xlite_ctx *ctx, uint32_t domid,
                            const uint8_t uuid[16]);
/* Removes stored configs of domains not in infos (with their domid and
 * uuid); skips those whose lock is held.  One pass over the directory. */
void xlite__userdata_gc(xlite_ctx *ctx, const xlite_dominfo *infos, size_t n);
/* xlite__userdata_gc unless this context did it on this host already. */
void xlite__userdata_collect(xlite_ctx *ctx, const xlite_dominfo *infos,
                             size_t n);

/*
 * An exclusive flock(2) on a file, as a sub-operation (xlite_flock.c):
 * the file at path (created 0600 if missing) locked through fd, and
 * still the file at path when the callback gets 0; then the caller owns
 * fd, and closing it releases the lock.  Waiting is done by a helper
 * child (a blocking flock on our open file description), which abort
 * kills: the callback then gets -ECANCELED.  _acquire returns 0 and the
 * callback is called once, from the loop (never from inside _acquire),
 * or returns an error with nothing registered and no callback to come.
 * xlite_file_lock_acquire is this, wrapped in an operation of its own.
 */
typedef struct xlite__flock xlite__flock;
typedef void xlite__flock_callback(xlite__egc *egc, xlite__flock *fl,
                                   int rc);
struct xlite__flock {
    /* caller */
    xlite__ao *ao;
    const char *path;             /* copied at _acquire */
    xlite__flock_callback *callback;
    /* results */
    int fd;                       /* locked, once callback got 0 */
    /* private */
    char *path_copy;              /* non-NULL: in use */
    xlite__ev_time attempt;
    xlite__ev_child child;
    xlite__ao_abortable abrt;
};

void xlite__flock_init(xlite__flock *fl);
int xlite__flock_acquire(xlite__egc *egc, xlite__flock *fl);
bool xlite__flock_inuse(const xlite__flock *fl);

/*
 * The per-domain lock (xlite_userdata.c), as a sub-operation: the
 * domain's lock file, created in the userdata directory, taken with
 * xlite__flock.  Like it, _acquire returns 0 and the callback is called
 * once, from the loop, or returns an error and no callback comes.
 */
typedef struct xlite__udlock xlite__udlock;
typedef void xlite__udlock_callback(xlite__egc *egc, xlite__udlock *ul,
                                    int rc);
struct xlite__udlock {
    /* caller */
    xlite__ao *ao;
    uint32_t domid;
    uint8_t uuid[16];
    xlite__udlock_callback *callback;
    /* results */
    int fd;                       /* the lock, held once callback got 0 */
    /* private */
    char *path;
    xlite__flock flock;
};

void xlite__udlock_init(xlite__udlock *ul);
int xlite__udlock_acquire(xlite__egc *egc, xlite__udlock *ul);
bool xlite__udlock_inuse(const xlite__udlock *ul);
/* Releases the lock; with remove, deletes the lock file first (while
 * holding it, so that a waiter re-checks the inode). */
void xlite__udlock_release(xlite_ctx *ctx, xlite__udlock *ul, bool remove);

/*
 * A pseudo-terminal pair in raw mode, as a sub-operation (xlite_pty.c):
 * openpty(3) runs in a helper child and the fds come back by SCM_RIGHTS.
 * _start returns 0 and the callback is called once, from the loop (never
 * from inside _start), with master and slave (CLOEXEC, the caller's) on
 * 0; or returns an error with nothing registered and no callback to
 * come.  Abort kills the helper: the callback gets -ECANCELED.
 * xlite_openpty is this, wrapped in an operation of its own.
 */
typedef struct xlite__openpty xlite__openpty;
typedef void xlite__openpty_callback(xlite__egc *egc, xlite__openpty *op,
                                     int rc);
struct xlite__openpty {
    /* caller */
    xlite__ao *ao;
    xlite__openpty_callback *callback;
    /* results */
    int master;
    int slave;
    /* private */
    int sock;
    xlite__ev_child child;
    xlite__ao_abortable abrt;
};

void xlite__openpty_init(xlite__openpty *op);
int xlite__openpty_start(xlite__egc *egc, xlite__openpty *op);
