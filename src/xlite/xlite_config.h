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
    XLITE_DISK_FORMAT_QCOW,        /* QEMU's version 1 format */
} xlite_disk_format;

typedef enum {
    XLITE_DISK_BACKEND_DEFAULT = 0, /* phy for block devices, else qdisk */
    XLITE_DISK_BACKEND_PHY,         /* blkback */
    XLITE_DISK_BACKEND_QDISK,       /* a QEMU (qemu-storage-daemon) */
    XLITE_DISK_BACKEND_TAP,         /* blktap */
} xlite_disk_backend;

/* A setting left to the core's default, or set either way. */
typedef enum {
    XLITE_DEFBOOL_DEFAULT = 0,
    XLITE_DEFBOOL_FALSE,
    XLITE_DEFBOOL_TRUE,
} xlite_defbool;

typedef struct {
    char *vdev;                 /* guest name: "xvda", "hdc" (required) */
    char *target;               /* host path; NULL for an empty CD-ROM; a
                                 * QEMU source ("rbd:pool/image:...") when
                                 * network is set */
    xlite_disk_format format;
    xlite_disk_backend backend;
    bool readonly;
    bool cdrom;
    bool network;               /* target is a network source (qdisk only) */
    char *script;               /* block hotplug script, or NULL */
    char *backend_domain;       /* the driver domain serving it; NULL: dom0 */
    xlite_defbool discard;      /* pass discard requests to the backing store */
} xlite_disk_config;

typedef enum {
    XLITE_NIC_TYPE_DEFAULT = 0, /* emulated and PV for HVM, else PV only */
    XLITE_NIC_TYPE_VIF,         /* the PV device only */
    XLITE_NIC_TYPE_VIF_IOEMU,   /* an emulated NIC and the PV device (HVM) */
} xlite_nic_type;

typedef struct {
    int devid;                  /* -1: the next free one */
    char mac[18];               /* "00:16:3e:xx:xx:xx"; "" to generate */
    char *bridge;               /* "BRIDGE[.VLAN][:TRUNK[:TRUNK...]]", the
                                 * VLAN forms for an Open vSwitch bridge */
    char *script;               /* vif hotplug script, or NULL */
    char *ip;                   /* space-separated addresses, or NULL */
    char *model;                /* emulated model (HVM), NULL for PV only */
    char *vifname;              /* host-side interface name, or NULL */
    uint64_t rate_bytes_per_sec;/* 0: unlimited */
    xlite_nic_type type;
    char *backend_domain;       /* the driver domain serving it; NULL: dom0 */
} xlite_nic_config;

typedef enum {
    XLITE_CONSOLE_PV = 1,       /* the Xen PV console (hvc) */
    XLITE_CONSOLE_SERIAL,       /* an emulated serial port (HVM) */
} xlite_console_kind;

typedef struct {
    xlite_console_kind kind;
} xlite_console_config;

typedef enum {
    XLITE_BIOS_DEFAULT = 0,     /* SeaBIOS */
    XLITE_BIOS_SEABIOS,
    XLITE_BIOS_OVMF,
} xlite_bios;

typedef enum {
    XLITE_TSC_MODE_DEFAULT = 0,
    XLITE_TSC_MODE_ALWAYS_EMULATE,
    XLITE_TSC_MODE_NATIVE,
    XLITE_TSC_MODE_NATIVE_PARAVIRT,
} xlite_tsc_mode;

typedef enum {
    XLITE_PASSTHROUGH_DEFAULT = 0, /* enabled if the guest has PCI devices */
    XLITE_PASSTHROUGH_DISABLED,
    XLITE_PASSTHROUGH_ENABLED,
    XLITE_PASSTHROUGH_SYNC_PT,
    XLITE_PASSTHROUGH_SHARE_PT,
} xlite_passthrough;

/* A virtual NUMA node: its memory, its vcpus and its distances to every
 * node (in node order). */
typedef struct {
    uint64_t memkb;
    char *vcpus;                /* cpu list syntax, "0-1" (required) */
    char *distances;            /* "10,21": one per node (required) */
    unsigned int pnode;         /* the host node backing it */
} xlite_vnuma_node_config;

/* A host PCI device passed through, xl-pci-configuration(5). */
typedef struct {
    unsigned int domain, bus, dev, func;
    int vslot;                  /* guest slot; -1: any */
    bool permissive;            /* writes to unknown config space allowed */
    bool seize;                 /* bound to pciback by the toolstack */
} xlite_pci_config;

/* A PV USB controller (qusb) and a host USB device on it. */
typedef struct {
    unsigned int version;       /* 1 or 2 (required) */
    unsigned int ports;         /* 1..31 (required) */
} xlite_usbctrl_config;

typedef struct {
    unsigned int hostbus;
    unsigned int hostaddr;
} xlite_usbdev_config;

typedef enum {
    XLITE_CHANNEL_PTY = 1,
    XLITE_CHANNEL_SOCKET,
} xlite_channel_connection;

/* A PV channel (xen-pv-channel.txt): a named console ring. */
typedef struct {
    char *name;                 /* required */
    xlite_channel_connection connection;
    char *path;                 /* socket path, for XLITE_CHANNEL_SOCKET */
} xlite_channel_config;

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

    /* Platform (HVM unless noted) */
    xlite_bios bios;
    char *boot;                 /* boot order, "cdn" (a c d n); NULL: "c" */
    char *acpi_firmware;        /* extra ACPI table file (SLIC) */
    xlite_defbool acpi;         /* HVM and PVH */
    xlite_defbool apic;
    xlite_defbool pae;
    xlite_defbool hap;          /* all types */
    xlite_defbool viridian;
    xlite_defbool hpet;
    xlite_defbool nested_hvm;   /* HVM and PVH */
    xlite_defbool e820_host;    /* PV only */
    xlite_passthrough passthrough;
    char *cpuid;                /* xl's cpuid policy, "host,aes=1,vmx=0" */
    unsigned int max_grant_frames;   /* 0: the host's default */
    unsigned int max_event_channels; /* 0: the host's default */
    xlite_defbool localtime;    /* the RTC starts at local time */
    int64_t rtc_timeoffset;     /* seconds added to the RTC */
    xlite_tsc_mode tsc_mode;
    char *device_model;         /* the device model binary; NULL: default */
    char **device_model_args;   /* extra arguments, NULL terminated */
    char **serials;             /* "pty", "file:/p", "tcp:h:p"...; NULL ended */
    char *soundhw;              /* "hda,ac97" */
    char **usbdevices;          /* emulated USB input: "mouse", "tablet" */
    char *vga;                  /* "cirrus", "stdvga", "qxl", "none" */
    uint64_t video_memkb;       /* 0: the default */
    xlite_vnuma_node_config *vnuma_nodes;
    size_t num_vnuma_nodes;

    /* Devices */
    xlite_disk_config *disks;
    size_t num_disks;
    xlite_nic_config *nics;
    size_t num_nics;
    xlite_console_config *consoles;
    size_t num_consoles;
    xlite_pci_config *pcidevs;
    size_t num_pcidevs;
    xlite_usbctrl_config *usbctrls;
    size_t num_usbctrls;
    xlite_usbdev_config *usbdevs;
    size_t num_usbdevs;
    xlite_channel_config *channels;
    size_t num_channels;
} xlite_domain_config;

/* Bounds the core enforces (validation and JSON parsing). */
#define XLITE_NAME_MAX 64
#define XLITE_MAX_VCPUS 512
#define XLITE_MAX_DISKS 256
#define XLITE_MAX_NICS 64
#define XLITE_MAX_CONSOLES 8
#define XLITE_MAX_VNUMA_NODES 64
#define XLITE_MAX_PCIDEVS 32
#define XLITE_MAX_USBCTRLS 8
#define XLITE_MAX_USBDEVS 64
#define XLITE_MAX_CHANNELS 16
#define XLITE_MAX_STRV 64          /* entries of a string list */

/* A config whose every field is unset.  _dispose releases what a config
 * owns and leaves it as _init did; both accept an _init'ed config. */
void xlite_domain_config_init(xlite_domain_config *cfg);
void xlite_domain_config_dispose(xlite_domain_config *cfg);

/* Growing the device arrays: each returns the new, _init'ed device. */
xlite_disk_config *xlite_domain_config_add_disk(xlite_domain_config *cfg);
xlite_nic_config *xlite_domain_config_add_nic(xlite_domain_config *cfg);
xlite_console_config *xlite_domain_config_add_console(xlite_domain_config *cfg);
xlite_vnuma_node_config *xlite_domain_config_add_vnuma_node(xlite_domain_config *cfg);
xlite_pci_config *xlite_domain_config_add_pcidev(xlite_domain_config *cfg);
xlite_usbctrl_config *xlite_domain_config_add_usbctrl(xlite_domain_config *cfg);
xlite_usbdev_config *xlite_domain_config_add_usbdev(xlite_domain_config *cfg);
xlite_channel_config *xlite_domain_config_add_channel(xlite_domain_config *cfg);

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
