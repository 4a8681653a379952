/*
 * domtest.h: helpers of the domain tests: a private simulated host
 * (xensimd in a temporary run directory, stopped by its pid), contexts on
 * it, guest kernels and configs, and the "nothing left behind" checks.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "testutils.h"

typedef struct {
    char *dir;          /* temporary: run/, state/, kernels */
    char *rundir;
    char *state_dir;
    pid_t pid;          /* xensimd */
    char *kernel;       /* the default guest */
} simhost;

/* Starts xensimd in a new temporary directory (and points XENSTORED_PATH
 * at it: call before starting threads). */
simhost *simhost_start(void);
/* Starts xensimd again in the same run directory. */
void simhost_restart(simhost *sh);
/* SIGKILL (or SIGTERM) xensimd and wait until it is gone. */
void simhost_kill(simhost *sh, int sig);
/* Stops xensimd and removes the directory. */
void simhost_free(simhost *sh);

xlite_ctx *simhost_ctx(simhost *sh);

/* A guest kernel file in the host's directory with these directives
 * (NULL: the default guest). */
char *simhost_kernel(simhost *sh, const char *name, const char *directives);

/* A PV config: name, 64 MiB, 1 vcpu, kernel (its PV console is added by
 * the core's defaults). */
void domtest_config(xlite_domain_config *cfg, const char *name,
                    const char *kernel);

/* Fails the test if anything of domid is left: the domain, xenstore
 * nodes (home, vm path, backends), the stored config or its lock file. */
void domtest_assert_gone(simhost *sh, xlite_ctx *ctx, uint32_t domid);
/* Number of files in the state directory's userdata/. */
unsigned int domtest_userdata_files(simhost *sh);

/* Process figures for the scale test. */
unsigned int domtest_count_fds(void);
unsigned int domtest_count_threads(void);
unsigned long domtest_rss_kib(void);
