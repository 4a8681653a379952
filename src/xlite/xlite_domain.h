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

/* What the hypervisor says of one vcpu of a domain now. */
typedef struct {
    uint32_t domid;
    unsigned int vcpuid;
    bool online;
    bool running;                   /* on a physical cpu now */
    bool blocked;                   /* waiting for an event */
    unsigned int cpu;               /* the physical cpu it runs or last ran on */
    uint64_t cpu_time_ns;           /* the time it has run */
} xlite_vcpuinfo;

/* What the hypervisor says of one physical cpu: its time since the host
 * booted, split into the time vcpus ran on it (every domain's, dom0's
 * included) and the time it was idle.  The rest is the hypervisor's own. */
typedef struct {
    unsigned int cpu;
    uint64_t guest_ns;
    uint64_t idle_ns;
} xlite_pcpuinfo;

/* A disk's requests as its blkback counts them (Linux's
 * /sys/bus/xen-backend/devices/vbd-D-N/statistics); sectors of 512 bytes. */
typedef struct {
    uint64_t rd_req;
    uint64_t rd_sect;
    uint64_t wr_req;
    uint64_t wr_sect;
    uint64_t f_req;                 /* flushes and barriers */
    uint64_t ds_req;                /* discards */
    uint64_t oo_req;                /* requests refused: out of resources */
} xlite_disk_stats;

/* A host network interface's counters, as the host sees them (for a
 * guest's vif, the host's rx is the guest's tx). */
typedef struct {
    uint64_t rx_bytes;
    uint64_t rx_packets;
    uint64_t rx_errors;
    uint64_t rx_dropped;
    uint64_t tx_bytes;
    uint64_t tx_packets;
    uint64_t tx_errors;
    uint64_t tx_dropped;
} xlite_netif_stats;

/* An entry of the host's ARP table: a neighbour whose hardware address
 * the host knows (what Linux's /proc/net/arp lists as complete). */
typedef struct {
    char ip[16];                    /* IPv4, dotted quad */
    char mac[18];                   /* aa:bb:cc:dd:ee:ff, lower case */
    char ifname[16];                /* the host's interface it is on */
} xlite_arp_entry;

/* A domain's memory: what it holds (the balloon), and what its guest
 * reports of its own use in xenstore (data/meminfo_total, _free as
 * XenServer's guest tools write them, and _available), in KiB;
 * XLITE_MEMSTAT_NONE where the guest says nothing valid. */
#define XLITE_MEMSTAT_NONE UINT64_MAX
typedef struct {
    uint64_t actual_kib;
    uint64_t max_kib;
    uint64_t guest_total_kib;
    uint64_t guest_free_kib;
    uint64_t guest_available_kib;
} xlite_memory_stats;

/* What a guest is asked to do through control/shutdown. */
typedef enum {
    XLITE_SHUTDOWN_REQUEST_POWEROFF = 1,
    XLITE_SHUTDOWN_REQUEST_REBOOT,
    XLITE_SHUTDOWN_REQUEST_SUSPEND,
} xlite_shutdown_request;

#ifdef __cplusplus
}
#endif
