/*
 * xlite_domain.h: domains: create, run, stop, inspect
 *
 * Included by xlite.h; see there for the conventions (errors, outputs,
 * asynchronous operations).  Every call that waits on the guest, a
 * backend, a child process or the hypervisor takes an xlite_async_how.
 *
 * A domain's death and shutdown are reported by the generator that
 * xlite_evenable_domain() enables for XLITE_EVENT_DOMAIN_SHUTDOWN (at most
 * once per shutdown, with its reason) and XLITE_EVENT_DOMAIN_DEATH (exactly
 * once, with the domid and uuid).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xlite_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the hypervisor says of a domain now. */
typedef struct {
    uint32_t domid;
    uint8_t uuid[16];
    char name[XLITE_NAME_MAX + 1];  /* from xenstore; "" if unknown */
    xlite_domain_type type;
    bool running;
    bool blocked;
    bool paused;
    bool shutdown;
    bool dying;
    int shutdown_reason;            /* xlite_shutdown_reason, if shutdown */
    uint64_t cur_memkb;
    uint64_t max_memkb;
    unsigned int online_vcpus;
    unsigned int max_vcpus;
    uint64_t cpu_time_ns;
    unsigned int sched_weight;
    unsigned int sched_cap;
} xlite_dominfo;

/* What a guest is asked to do through control/shutdown. */
typedef enum {
    XLITE_SHUTDOWN_REQUEST_POWEROFF = 1,
    XLITE_SHUTDOWN_REQUEST_REBOOT,
    XLITE_SHUTDOWN_REQUEST_SUSPEND,
} xlite_shutdown_request;

#ifdef __cplusplus
}
#endif
