/*
 * xsim_rundir.h: ownership of a run directory by one daemon.
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef struct _XsimRundir XsimRundir;

/*
 * Create DIR if needed and lock DIR/xensimd.pid.  Fails if another daemon
 * holds it.  The lock lives as long as the returned object.
 */
XsimRundir *
xsim_rundir_acquire(const char *dir,
                    GError **error);

/* Record our pid (after daemonizing: the pid that will run). */
bool
xsim_rundir_write_pid(XsimRundir *rd,
                      GError **error);

void
xsim_rundir_release(XsimRundir *rd);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XsimRundir, xsim_rundir_release);
