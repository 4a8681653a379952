/*
 * hv.h: the simulated hypervisor of xensimd.
 *
 * It keeps the domain table (what Xen itself knows of each domain), serves
 * the control socket DIR/hypervisor.sock (docs/xensim-hypervisor-protocol.md)
 * and runs the simulated guest kernels and dom0's backends.  It lives in
 * the thread-default main context, beside the xenstore server it reports
 * domain deaths to.
 */
#pragma once

#include <glib.h>

#include "xs_server.h"

typedef struct _XsimHv XsimHv;

/* Called from the main loop when a client asked the host to stop. */
typedef void (*XsimHvStopFunc)(gpointer opaque);

/* @total_kib: the host's memory, of which dom0 holds @dom0_kib. */
XsimHv *
xsim_hv_new(XsimServer *xs,
            const char *rundir,
            guint64 total_kib,
            guint64 dom0_kib);

/* dom0's network is the namespace xensimd runs in, not one of its own
 * (xensimd --shared-netns; xsim_net_new).  Before xsim_hv_start. */
void
xsim_hv_share_network(XsimHv *hv);

/* Listen on DIR/hypervisor.sock (0600) and start dom0's backends. */
bool
xsim_hv_start(XsimHv *hv,
              GError **error);

void
xsim_hv_set_stop_func(XsimHv *hv,
                      XsimHvStopFunc cb,
                      gpointer opaque);

/* Destroys every guest, stops the backends, closes the socket. */
void
xsim_hv_free(XsimHv *hv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XsimHv, xsim_hv_free);
