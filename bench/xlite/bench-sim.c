/*
 * bench-sim.c: a private simulated host for the libxlite benchmarks
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <glib.h>

#include "bench-sim.h"

void
bench_sim_start(bench_sim *sim)
{
    const char *argv[] = { XENSIMD_PATH, "--rundir", NULL, NULL };
    g_autofree char *pidfile = NULL;
    g_autofree char *text = NULL;
    g_autofree char *xs = NULL;
    int status;

    if (!(sim->dir = g_dir_make_tmp("xlite-bench-XXXXXX", NULL)))
        g_error("cannot make a temporary directory");
    sim->rundir = g_build_filename(sim->dir, "run", NULL);
    sim->state_dir = g_build_filename(sim->dir, "state", NULL);
    g_mkdir_with_parents(sim->state_dir, 0700);
    argv[2] = sim->rundir;
    xs = g_build_filename(sim->rundir, "xenstored", "socket", NULL);
    g_setenv("XENSTORED_PATH", xs, TRUE);
    if (!g_spawn_sync(NULL, (char **)argv, NULL, 0, NULL, NULL, NULL, NULL,
                      &status, NULL) || status != 0)
        g_error("cannot start xensimd");
    pidfile = g_build_filename(sim->rundir, "xensimd.pid", NULL);
    if (!g_file_get_contents(pidfile, &text, NULL, NULL))
        g_error("xensimd left no pid file");
    sim->pid = atoi(text);
}

void
bench_sim_stop(bench_sim *sim)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", sim->dir);
    unsigned int i;

    kill(sim->pid, SIGTERM);
    for (i = 0; i < 500 && kill(sim->pid, 0) == 0; i++)
        g_usleep(10000);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", sim->dir);
    g_clear_pointer(&sim->dir, g_free);
    g_clear_pointer(&sim->rundir, g_free);
    g_clear_pointer(&sim->state_dir, g_free);
}
