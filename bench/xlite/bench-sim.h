/*
 * bench-sim.h: a private simulated host for the libxlite benchmarks
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <sys/types.h>

typedef struct {
    char *dir;          /* a fresh temporary directory, removed at stop */
    char *rundir;       /* xensimd's run directory, under dir */
    char *state_dir;    /* a state directory for a libxlite context */
    pid_t pid;
} bench_sim;

/* Starts xensimd (XENSIMD_PATH) in a new temporary directory and points
 * libxenstore at it (XENSTORED_PATH).  Exits on failure. */
void bench_sim_start(bench_sim *sim);
/* Stops it and removes the directory. */
void bench_sim_stop(bench_sim *sim);
