/*
 * libxl_event.h: libxlite's event loop hooks on libvirt's event loop
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "xlite.h"

/* Makes ctx watch its fds and timers through libvirt's event loop (the
 * implementation registered with virEventRegisterImpl or
 * virEventRegisterDefaultImpl), and reap only its own children
 * (libvirtd waits for its own children synchronously).  Call once, right
 * after xlite_ctx_new.  Returns 0, or -1 with the reason in
 * xlite_errmsg(), for the caller to report. */
int xvEventHooksInstall(xlite_ctx *ctx);

/* Stops delivering ctx's events (the glue's dispatcher thread ends; what
 * it had not delivered yet is dropped).  Call before xlite_ctx_free, once
 * nothing waits for an event of ctx any more; xlite_ctx_free does it too. */
void xvEventHooksStop(xlite_ctx *ctx);
