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

#include <stdbool.h>
#include <stdint.h>

#include "xlite_config.h"

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
    xlite_log_fn log;
    void *log_opaque;
} xlite_ctx_options;

int xlite_ctx_new(const xlite_ctx_options *opts, xlite_ctx **ctx_r);
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
} xlite_host_info;

int xlite_host_get_info(xlite_ctx *ctx, xlite_host_info *info_r);

#ifdef __cplusplus
}
#endif
