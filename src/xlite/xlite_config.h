/*
 * xlite_config.h: a domain's configuration, as the core understands it
 *
 * The application (the libvirt driver, a CLI) fills an xlite_domain_config
 * and hands it to the domain operations.  The core keeps its own private
 * JSON copy of it per domain (DESIGN.md section 4, "Configuration sync"):
 * the JSON form below is that copy's format, stable across versions.
 *
 * Ownership: every pointer inside a config is owned by it and released by
 * xlite_domain_config_dispose(); strings are NUL terminated, NULL meaning
 * "not set".
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    XLITE_DOMAIN_TYPE_INVALID = 0,
    XLITE_DOMAIN_TYPE_PV,
    XLITE_DOMAIN_TYPE_PVH,
    XLITE_DOMAIN_TYPE_HVM,
} xlite_domain_type;

/* What to do when a guest powers off, reboots, crashes or its watchdog
 * fires.  Default: destroy on poweroff, restart on reboot, destroy on crash
 * and watchdog. */
typedef enum {
    XLITE_ACTION_DEFAULT = 0,
    XLITE_ACTION_DESTROY,
    XLITE_ACTION_RESTART,
    XLITE_ACTION_RENAME_RESTART,
    XLITE_ACTION_PRESERVE,
    XLITE_ACTION_COREDUMP_DESTROY,
    XLITE_ACTION_COREDUMP_RESTART,
    XLITE_ACTION_SOFT_RESET,
} xlite_action;

typedef enum {
    XLITE_DISK_FORMAT_DEFAULT = 0, /* raw */
    XLITE_DISK_FORMAT_RAW,
    XLITE_DISK_FORMAT_QCOW2,
    XLITE_DISK_FORMAT_VHD,
    XLITE_DISK_FORMAT_QED,
    XLITE_DISK_FORMAT_EMPTY,       /* a CD-ROM drive with no medium */
} xlite_disk_format;

typedef enum {
    XLITE_DISK_BACKEND_DEFAULT = 0, /* phy for block devices, else qdisk */
    XLITE_DISK_BACKEND_PHY,         /* blkback */
    XLITE_DISK_BACKEND_QDISK,       /* a QEMU (qemu-storage-daemon) */
    XLITE_DISK_BACKEND_TAP,         /* blktap */
} xlite_disk_backend;

typedef struct {
    char *vdev;                 /* guest name: "xvda", "hdc" (required) */
    char *target;               /* host path; NULL for an empty CD-ROM */
    xlite_disk_format format;
    xlite_disk_backend backend;
    bool readonly;
    bool cdrom;
    char *script;               /* block hotplug script, or NULL */
} xlite_disk_config;

typedef struct {
    int devid;                  /* -1: the next free one */
    char mac[18];               /* "00:16:3e:xx:xx:xx"; "" to generate */
    char *bridge;
    char *script;               /* vif hotplug script, or NULL */
    char *ip;                   /* space-separated addresses, or NULL */
    char *model;                /* emulated model (HVM), NULL for PV only */
    char *vifname;              /* host-side interface name, or NULL */
    uint64_t rate_bytes_per_sec;/* 0: unlimited */
} xlite_nic_config;

typedef enum {
    XLITE_CONSOLE_PV = 1,       /* the Xen PV console (hvc) */
    XLITE_CONSOLE_SERIAL,       /* an emulated serial port (HVM) */
} xlite_console_kind;

typedef struct {
    xlite_console_kind kind;
} xlite_console_config;

typedef struct {
    /* Identity */
    char *name;                 /* required */
    uint8_t uuid[16];           /* all zero: generated at create */
    xlite_domain_type type;     /* required */

    /* Boot */
    char *kernel;
    char *ramdisk;
    char *cmdline;
    char *bootloader;
    char *bootloader_args;

    /* Resources */
    uint64_t max_memkb;         /* required */
    uint64_t target_memkb;      /* 0: max_memkb */
    unsigned int max_vcpus;     /* 0: 1 */
    unsigned int online_vcpus;  /* 0: max_vcpus */
    char *cpus;                 /* affinity of every vcpu, as "0-3,^2"; NULL: any */
    unsigned int sched_weight;  /* credit weight, 1..65535; 0: 256 */
    unsigned int sched_cap;     /* percent of one cpu; 0: no cap */

    /* Lifecycle */
    xlite_action on_poweroff;
    xlite_action on_reboot;
    xlite_action on_crash;
    xlite_action on_watchdog;

    /* Devices */
    xlite_disk_config *disks;
    size_t num_disks;
    xlite_nic_config *nics;
    size_t num_nics;
    xlite_console_config *consoles;
    size_t num_consoles;
} xlite_domain_config;

/* Bounds the core enforces (validation and JSON parsing). */
#define XLITE_NAME_MAX 64
#define XLITE_MAX_VCPUS 512
#define XLITE_MAX_DISKS 256
#define XLITE_MAX_NICS 64
#define XLITE_MAX_CONSOLES 8

/* A config whose every field is unset.  _dispose releases what a config
 * owns and leaves it as _init did; both accept an _init'ed config. */
void xlite_domain_config_init(xlite_domain_config *cfg);
void xlite_domain_config_dispose(xlite_domain_config *cfg);

/* Growing the device arrays: each returns the new, _init'ed device. */
xlite_disk_config *xlite_domain_config_add_disk(xlite_domain_config *cfg);
xlite_nic_config *xlite_domain_config_add_nic(xlite_domain_config *cfg);
xlite_console_config *xlite_domain_config_add_console(xlite_domain_config *cfg);

/* Fill every defaulted field (the only place defaults are decided), then
 * check the whole config.  On failure returns -EINVAL and xlite_errmsg()
 * names the field and the problem. */
int xlite_domain_config_set_defaults(xlite_domain_config *cfg);
int xlite_domain_config_validate(const xlite_domain_config *cfg);

/* The JSON form.  _to_json writes a pretty-printed document (caller frees
 * with free()).  _from_json parses strictly: unknown keys, wrong types and
 * out-of-range values are errors; on success *cfg_r is filled (it must be
 * _init'ed; on failure it is left _init'ed). */
int xlite_domain_config_to_json(const xlite_domain_config *cfg, char **json_r);
int xlite_domain_config_from_json(const char *json, xlite_domain_config *cfg_r);

const char *xlite_domain_type_to_string(xlite_domain_type type);
const char *xlite_action_to_string(xlite_action action);
const char *xlite_disk_format_to_string(xlite_disk_format format);
const char *xlite_disk_backend_to_string(xlite_disk_backend backend);

#ifdef __cplusplus
}
#endif
