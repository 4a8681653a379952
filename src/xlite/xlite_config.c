/*
 * xlite_config.c: domain configuration: defaults, validation, JSON
 *
 * The JSON form is described by field tables, one per struct: the writer
 * and the strict reader walk the same table, so they cannot disagree about
 * a key, a type or a bound.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "xlite_internal.h"
#include "xlite_config.h"

/* ---------------------------------------------------------------------
 * Enum names
 */

static const char *const domain_type_names[] = {
    [XLITE_DOMAIN_TYPE_INVALID] = NULL,
    [XLITE_DOMAIN_TYPE_PV] = "pv",
    [XLITE_DOMAIN_TYPE_PVH] = "pvh",
    [XLITE_DOMAIN_TYPE_HVM] = "hvm",
};

static const char *const action_names[] = {
    [XLITE_ACTION_DEFAULT] = NULL,
    [XLITE_ACTION_DESTROY] = "destroy",
    [XLITE_ACTION_RESTART] = "restart",
    [XLITE_ACTION_RENAME_RESTART] = "rename-restart",
    [XLITE_ACTION_PRESERVE] = "preserve",
    [XLITE_ACTION_COREDUMP_DESTROY] = "coredump-destroy",
    [XLITE_ACTION_COREDUMP_RESTART] = "coredump-restart",
    [XLITE_ACTION_SOFT_RESET] = "soft-reset",
};

static const char *const disk_format_names[] = {
    [XLITE_DISK_FORMAT_DEFAULT] = NULL,
    [XLITE_DISK_FORMAT_RAW] = "raw",
    [XLITE_DISK_FORMAT_QCOW2] = "qcow2",
    [XLITE_DISK_FORMAT_VHD] = "vhd",
    [XLITE_DISK_FORMAT_QED] = "qed",
    [XLITE_DISK_FORMAT_EMPTY] = "empty",
    [XLITE_DISK_FORMAT_QCOW] = "qcow",
};

static const char *const disk_backend_names[] = {
    [XLITE_DISK_BACKEND_DEFAULT] = NULL,
    [XLITE_DISK_BACKEND_PHY] = "phy",
    [XLITE_DISK_BACKEND_QDISK] = "qdisk",
    [XLITE_DISK_BACKEND_TAP] = "tap",
};

static const char *const console_kind_names[] = {
    [0] = NULL,
    [XLITE_CONSOLE_PV] = "pv",
    [XLITE_CONSOLE_SERIAL] = "serial",
};

static const char *const defbool_names[] = {
    [XLITE_DEFBOOL_DEFAULT] = NULL,
    [XLITE_DEFBOOL_FALSE] = "false",
    [XLITE_DEFBOOL_TRUE] = "true",
};

static const char *const nic_type_names[] = {
    [XLITE_NIC_TYPE_DEFAULT] = NULL,
    [XLITE_NIC_TYPE_VIF] = "vif",
    [XLITE_NIC_TYPE_VIF_IOEMU] = "vif-ioemu",
};

static const char *const bios_names[] = {
    [XLITE_BIOS_DEFAULT] = NULL,
    [XLITE_BIOS_SEABIOS] = "seabios",
    [XLITE_BIOS_OVMF] = "ovmf",
};

static const char *const tsc_mode_names[] = {
    [XLITE_TSC_MODE_DEFAULT] = NULL,
    [XLITE_TSC_MODE_ALWAYS_EMULATE] = "always_emulate",
    [XLITE_TSC_MODE_NATIVE] = "native",
    [XLITE_TSC_MODE_NATIVE_PARAVIRT] = "native_paravirt",
};

static const char *const passthrough_names[] = {
    [XLITE_PASSTHROUGH_DEFAULT] = NULL,
    [XLITE_PASSTHROUGH_DISABLED] = "disabled",
    [XLITE_PASSTHROUGH_ENABLED] = "enabled",
    [XLITE_PASSTHROUGH_SYNC_PT] = "sync_pt",
    [XLITE_PASSTHROUGH_SHARE_PT] = "share_pt",
};

static const char *const channel_connection_names[] = {
    [0] = NULL,
    [XLITE_CHANNEL_PTY] = "pty",
    [XLITE_CHANNEL_SOCKET] = "socket",
};

typedef struct {
    const char *const *names;
    size_t count;
} enum_table;

#define ENUM_TABLE(a) { (a), G_N_ELEMENTS(a) }

static const enum_table domain_type_table = ENUM_TABLE(domain_type_names);
static const enum_table action_table = ENUM_TABLE(action_names);
static const enum_table disk_format_table = ENUM_TABLE(disk_format_names);
static const enum_table disk_backend_table = ENUM_TABLE(disk_backend_names);
static const enum_table console_kind_table = ENUM_TABLE(console_kind_names);
static const enum_table defbool_table = ENUM_TABLE(defbool_names);
static const enum_table nic_type_table = ENUM_TABLE(nic_type_names);
static const enum_table bios_table = ENUM_TABLE(bios_names);
static const enum_table tsc_mode_table = ENUM_TABLE(tsc_mode_names);
static const enum_table passthrough_table = ENUM_TABLE(passthrough_names);
static const enum_table channel_connection_table = ENUM_TABLE(channel_connection_names);

static const char *
enum_to_string(const enum_table *table, int value)
{
    if (value < 0 || (size_t)value >= table->count)
        return NULL;
    return table->names[value];
}

static int
enum_from_string(const enum_table *table, const char *name)
{
    size_t i;

    for (i = 0; i < table->count; i++) {
        if (table->names[i] && strcmp(table->names[i], name) == 0)
            return (int)i;
    }
    return -1;
}

XLITE_EXPORT const char *
xlite_domain_type_to_string(xlite_domain_type type)
{
    return enum_to_string(&domain_type_table, type);
}

XLITE_EXPORT const char *
xlite_action_to_string(xlite_action action)
{
    return enum_to_string(&action_table, action);
}

XLITE_EXPORT const char *
xlite_disk_format_to_string(xlite_disk_format format)
{
    return enum_to_string(&disk_format_table, format);
}

XLITE_EXPORT const char *
xlite_disk_backend_to_string(xlite_disk_backend backend)
{
    return enum_to_string(&disk_backend_table, backend);
}

/* ---------------------------------------------------------------------
 * Life of a config
 */

XLITE_EXPORT void
xlite_domain_config_init(xlite_domain_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
}

static void
disk_dispose(xlite_disk_config *disk)
{
    g_free(disk->vdev);
    g_free(disk->target);
    g_free(disk->script);
    g_free(disk->backend_domain);
}

static void
nic_dispose(xlite_nic_config *nic)
{
    g_free(nic->bridge);
    g_free(nic->script);
    g_free(nic->ip);
    g_free(nic->model);
    g_free(nic->vifname);
    g_free(nic->backend_domain);
}

XLITE_EXPORT void
xlite_domain_config_dispose(xlite_domain_config *cfg)
{
    size_t i;

    g_free(cfg->name);
    g_free(cfg->kernel);
    g_free(cfg->ramdisk);
    g_free(cfg->cmdline);
    g_free(cfg->bootloader);
    g_free(cfg->bootloader_args);
    g_free(cfg->cpus);
    for (i = 0; i < cfg->num_disks; i++)
        disk_dispose(&cfg->disks[i]);
    g_free(cfg->disks);
    for (i = 0; i < cfg->num_nics; i++)
        nic_dispose(&cfg->nics[i]);
    g_free(cfg->nics);
    g_free(cfg->consoles);
    g_free(cfg->boot);
    g_free(cfg->acpi_firmware);
    g_free(cfg->cpuid);
    g_free(cfg->device_model);
    g_strfreev(cfg->device_model_args);
    g_strfreev(cfg->serials);
    g_free(cfg->soundhw);
    g_strfreev(cfg->usbdevices);
    g_free(cfg->vga);
    for (i = 0; i < cfg->num_vnuma_nodes; i++) {
        g_free(cfg->vnuma_nodes[i].vcpus);
        g_free(cfg->vnuma_nodes[i].distances);
    }
    g_free(cfg->vnuma_nodes);
    g_free(cfg->pcidevs);
    g_free(cfg->usbctrls);
    g_free(cfg->usbdevs);
    for (i = 0; i < cfg->num_channels; i++) {
        g_free(cfg->channels[i].name);
        g_free(cfg->channels[i].path);
    }
    g_free(cfg->channels);
    xlite_domain_config_init(cfg);
}

XLITE_EXPORT xlite_disk_config *
xlite_domain_config_add_disk(xlite_domain_config *cfg)
{
    xlite_disk_config *disk;

    cfg->disks = g_renew(xlite_disk_config, cfg->disks, cfg->num_disks + 1);
    disk = &cfg->disks[cfg->num_disks++];
    memset(disk, 0, sizeof(*disk));
    return disk;
}

XLITE_EXPORT xlite_nic_config *
xlite_domain_config_add_nic(xlite_domain_config *cfg)
{
    xlite_nic_config *nic;

    cfg->nics = g_renew(xlite_nic_config, cfg->nics, cfg->num_nics + 1);
    nic = &cfg->nics[cfg->num_nics++];
    memset(nic, 0, sizeof(*nic));
    nic->devid = -1;
    return nic;
}

XLITE_EXPORT xlite_console_config *
xlite_domain_config_add_console(xlite_domain_config *cfg)
{
    xlite_console_config *console;

    cfg->consoles = g_renew(xlite_console_config, cfg->consoles,
                            cfg->num_consoles + 1);
    console = &cfg->consoles[cfg->num_consoles++];
    memset(console, 0, sizeof(*console));
    return console;
}

/* Append one zeroed element to the array *@array of *@count elements. */
static void *
array_append(void **array, size_t *count, size_t elem_size)
{
    char *elem;

    *array = g_realloc_n(*array, *count + 1, elem_size);
    elem = (char *)*array + *count * elem_size;
    (*count)++;
    memset(elem, 0, elem_size);
    return elem;
}

XLITE_EXPORT xlite_vnuma_node_config *
xlite_domain_config_add_vnuma_node(xlite_domain_config *cfg)
{
    return array_append((void **)&cfg->vnuma_nodes, &cfg->num_vnuma_nodes,
                        sizeof(*cfg->vnuma_nodes));
}

XLITE_EXPORT xlite_pci_config *
xlite_domain_config_add_pcidev(xlite_domain_config *cfg)
{
    xlite_pci_config *pci = array_append((void **)&cfg->pcidevs,
                                         &cfg->num_pcidevs,
                                         sizeof(*cfg->pcidevs));

    pci->vslot = -1;
    return pci;
}

XLITE_EXPORT xlite_usbctrl_config *
xlite_domain_config_add_usbctrl(xlite_domain_config *cfg)
{
    return array_append((void **)&cfg->usbctrls, &cfg->num_usbctrls,
                        sizeof(*cfg->usbctrls));
}

XLITE_EXPORT xlite_usbdev_config *
xlite_domain_config_add_usbdev(xlite_domain_config *cfg)
{
    return array_append((void **)&cfg->usbdevs, &cfg->num_usbdevs,
                        sizeof(*cfg->usbdevs));
}

XLITE_EXPORT xlite_channel_config *
xlite_domain_config_add_channel(xlite_domain_config *cfg)
{
    return array_append((void **)&cfg->channels, &cfg->num_channels,
                        sizeof(*cfg->channels));
}

/* ---------------------------------------------------------------------
 * Defaults and validation
 */

static bool
uuid_is_null(const uint8_t uuid[16])
{
    static const uint8_t zero[16];

    return memcmp(uuid, zero, 16) == 0;
}

XLITE_EXPORT int
xlite_domain_config_set_defaults(xlite_domain_config *cfg)
{
    size_t i;

    if (cfg->target_memkb == 0)
        cfg->target_memkb = cfg->max_memkb;
    if (cfg->max_vcpus == 0)
        cfg->max_vcpus = 1;
    if (cfg->online_vcpus == 0)
        cfg->online_vcpus = cfg->max_vcpus;
    if (cfg->sched_weight == 0)
        cfg->sched_weight = 256;
    if (cfg->on_poweroff == XLITE_ACTION_DEFAULT)
        cfg->on_poweroff = XLITE_ACTION_DESTROY;
    if (cfg->on_reboot == XLITE_ACTION_DEFAULT)
        cfg->on_reboot = XLITE_ACTION_RESTART;
    if (cfg->on_crash == XLITE_ACTION_DEFAULT)
        cfg->on_crash = XLITE_ACTION_DESTROY;
    if (cfg->on_watchdog == XLITE_ACTION_DEFAULT)
        cfg->on_watchdog = XLITE_ACTION_DESTROY;

    for (i = 0; i < cfg->num_disks; i++) {
        xlite_disk_config *disk = &cfg->disks[i];

        if (disk->format == XLITE_DISK_FORMAT_DEFAULT)
            disk->format = disk->target ? XLITE_DISK_FORMAT_RAW
                                        : XLITE_DISK_FORMAT_EMPTY;
        if (disk->backend == XLITE_DISK_BACKEND_DEFAULT)
            disk->backend = disk->target && g_str_has_prefix(disk->target, "/dev/")
                            ? XLITE_DISK_BACKEND_PHY
                            : XLITE_DISK_BACKEND_QDISK;
        if (disk->cdrom)
            disk->readonly = true;
    }

    /* A PV or PVH guest always has its PV console, first. */
    if (cfg->type != XLITE_DOMAIN_TYPE_HVM &&
        (cfg->num_consoles == 0 || cfg->consoles[0].kind != XLITE_CONSOLE_PV)) {
        xlite_console_config *console = xlite_domain_config_add_console(cfg);

        memmove(&cfg->consoles[1], &cfg->consoles[0],
                (cfg->num_consoles - 1) * sizeof(*console));
        cfg->consoles[0].kind = XLITE_CONSOLE_PV;
    }
    return xlite_domain_config_validate(cfg);
}

#define INVALID(...) xlite__error(NULL, -EINVAL, "xlite_domain_config_validate", __VA_ARGS__)

/* Guest-visible names are used to build xenstore paths: keep them to a
 * conservative alphabet. */
static bool
valid_token(const char *s, size_t max, const char *extra)
{
    size_t n = s ? strlen(s) : 0;
    size_t i;

    if (n == 0 || n > max)
        return false;
    for (i = 0; i < n; i++) {
        if (!g_ascii_isalnum(s[i]) && !strchr(extra, s[i]))
            return false;
    }
    return true;
}

/* A path handed to a backend or a script: a control character (a newline
 * above all) would be mangled in xenstore and by the scripts that read it
 * back line by line. */
static bool
valid_path(const char *s)
{
    for (; *s; s++) {
        if (g_ascii_iscntrl(*s))
            return false;
    }
    return true;
}

static bool
valid_mac(const char *mac)
{
    size_t i;

    if (strlen(mac) != 17)
        return false;
    for (i = 0; i < 17; i++) {
        if (i % 3 == 2 ? mac[i] != ':' : !g_ascii_isxdigit(mac[i]))
            return false;
    }
    return true;
}

/* xl's cpu list syntax: "all", or comma-separated items "N", "N-M", "^N". */
static bool
valid_cpulist(const char *s)
{
    g_auto(GStrv) items = NULL;
    size_t i;

    if (strcmp(s, "all") == 0)
        return true;
    items = g_strsplit(s, ",", 0);
    if (!items[0])
        return false;
    for (i = 0; items[i]; i++) {
        const char *p = items[i];
        guint64 lo, hi;
        char *end;

        if (*p == '^')
            p++;
        if (!g_ascii_isdigit(*p))
            return false;
        lo = g_ascii_strtoull(p, &end, 10);
        hi = lo;
        if (*end == '-') {
            if (!g_ascii_isdigit(end[1]))
                return false;
            hi = g_ascii_strtoull(end + 1, &end, 10);
        }
        if (*end || lo > hi || hi >= 4096)
            return false;
    }
    return true;
}

/* A bridge name, with Open vSwitch's ".VLAN" or ":TRUNK:TRUNK" suffix. */
static bool
valid_bridge(const char *s)
{
    size_t n = strcspn(s, ".:");
    g_autofree char *name = g_strndup(s, n);
    const char *p = s + n;

    if (!valid_token(name, 15, "-_"))
        return false;
    if (*p == '.' || *p == ':') {
        char sep = *p;

        while (*p == sep || (sep == '.' && *p == ':')) {
            sep = *p == '.' ? ':' : sep;
            p++;
            if (!g_ascii_isdigit(*p))
                return false;
            while (g_ascii_isdigit(*p))
                p++;
        }
    }
    return *p == '\0';
}

static bool
valid_strv(char *const *v)
{
    size_t i;

    for (i = 0; v && v[i]; i++) {
        if (i >= XLITE_MAX_STRV || !valid_path(v[i]))
            return false;
    }
    return true;
}

/* "10,21,...": one distance per node. */
static bool
valid_distances(const char *s, size_t nodes)
{
    g_auto(GStrv) items = g_strsplit(s, ",", 0);
    size_t i;

    for (i = 0; items[i]; i++) {
        char *end;
        guint64 d = g_ascii_strtoull(items[i], &end, 10);

        if (!g_ascii_isdigit(items[i][0]) || *end || d > 255)
            return false;
    }
    return i == nodes;
}

/* The platform settings and the devices beside disks, NICs and consoles. */
static int
validate_platform(const xlite_domain_config *cfg)
{
    size_t i, j;

    if (cfg->boot && (!cfg->boot[0] || strspn(cfg->boot, "acdn") != strlen(cfg->boot)))
        return INVALID("domain '%s': boot order '%s' is not made of a, c, d and n",
                       cfg->name, cfg->boot);
    if ((cfg->acpi_firmware && !valid_path(cfg->acpi_firmware)) ||
        (cfg->device_model && !valid_path(cfg->device_model)) ||
        (cfg->cpuid && !valid_token(cfg->cpuid, 4096, ",=_.-")) ||
        (cfg->soundhw && !valid_token(cfg->soundhw, 256, ",")) ||
        (cfg->vga && !valid_token(cfg->vga, 16, "")) ||
        !valid_strv(cfg->device_model_args) || !valid_strv(cfg->serials) ||
        !valid_strv(cfg->usbdevices))
        return INVALID("domain '%s': a firmware, device model, cpuid, sound, video, serial or USB setting has a character it cannot have",
                       cfg->name);
    if (cfg->num_vnuma_nodes > XLITE_MAX_VNUMA_NODES ||
        cfg->num_pcidevs > XLITE_MAX_PCIDEVS ||
        cfg->num_usbctrls > XLITE_MAX_USBCTRLS ||
        cfg->num_usbdevs > XLITE_MAX_USBDEVS ||
        cfg->num_channels > XLITE_MAX_CHANNELS)
        return INVALID("domain '%s' has too many devices", cfg->name);

    for (i = 0; i < cfg->num_vnuma_nodes; i++) {
        const xlite_vnuma_node_config *node = &cfg->vnuma_nodes[i];

        if (node->memkb == 0 || !node->vcpus || !valid_cpulist(node->vcpus) ||
            !node->distances || !valid_distances(node->distances, cfg->num_vnuma_nodes))
            return INVALID("domain '%s': vNUMA node %zu needs memory, a vcpu list and one distance per node",
                           cfg->name, i);
    }

    for (i = 0; i < cfg->num_pcidevs; i++) {
        const xlite_pci_config *pci = &cfg->pcidevs[i];

        if (pci->domain > 0xffff || pci->bus > 0xff || pci->dev > 0x1f ||
            pci->func > 7 || pci->vslot < -1 || pci->vslot > 0x1f)
            return INVALID("domain '%s': PCI device %zu has an address out of range",
                           cfg->name, i);
        for (j = 0; j < i; j++) {
            const xlite_pci_config *o = &cfg->pcidevs[j];

            if (o->domain == pci->domain && o->bus == pci->bus &&
                o->dev == pci->dev && o->func == pci->func)
                return INVALID("domain '%s': PCI device %04x:%02x:%02x.%x is given twice",
                               cfg->name, pci->domain, pci->bus, pci->dev, pci->func);
        }
    }

    for (i = 0; i < cfg->num_usbctrls; i++) {
        const xlite_usbctrl_config *c = &cfg->usbctrls[i];

        if ((c->version != 1 && c->version != 2) || c->ports < 1 || c->ports > 31)
            return INVALID("domain '%s': USB controller %zu needs version 1 or 2 and 1 to 31 ports",
                           cfg->name, i);
    }
    for (i = 0; i < cfg->num_usbdevs; i++) {
        if (cfg->usbdevs[i].hostbus > 255 || cfg->usbdevs[i].hostaddr < 1 ||
            cfg->usbdevs[i].hostaddr > 127)
            return INVALID("domain '%s': USB device %zu has an address out of range",
                           cfg->name, i);
    }

    for (i = 0; i < cfg->num_channels; i++) {
        const xlite_channel_config *ch = &cfg->channels[i];

        if (!valid_token(ch->name, 64, "-_."))
            return INVALID("domain '%s': channel %zu has no valid name",
                           cfg->name, i);
        if (!enum_to_string(&channel_connection_table, ch->connection) ||
            (ch->connection == XLITE_CHANNEL_SOCKET) != (ch->path != NULL) ||
            (ch->path && !valid_path(ch->path)))
            return INVALID("domain '%s': channel '%s' needs a pty, or a socket with a path",
                           cfg->name, ch->name);
    }
    return 0;
}

/* The domain itself: its name and type, how it boots, its memory, vcpus
 * and scheduling, and how many disks, NICs and consoles it may have. */
static int
validate_domain(const xlite_domain_config *cfg)
{
    if (!valid_token(cfg->name, XLITE_NAME_MAX, "-_.+:"))
        return INVALID("domain name '%s' must be 1 to %d letters, digits or '-_.+:'",
                       cfg->name ? cfg->name : "", XLITE_NAME_MAX);
    if (!xlite_domain_type_to_string(cfg->type))
        return INVALID("domain '%s' has no valid type (pv, pvh or hvm)",
                       cfg->name);
    if (cfg->type != XLITE_DOMAIN_TYPE_HVM && !cfg->kernel && !cfg->bootloader)
        return INVALID("%s domain '%s' needs a kernel or a bootloader",
                       xlite_domain_type_to_string(cfg->type), cfg->name);
    if ((cfg->kernel && !valid_path(cfg->kernel)) ||
        (cfg->ramdisk && !valid_path(cfg->ramdisk)))
        return INVALID("domain '%s': the kernel or ramdisk path contains a control character",
                       cfg->name);
    if (cfg->max_memkb < 1024)
        return INVALID("domain '%s' needs at least 1024 KiB of memory, not %" G_GUINT64_FORMAT,
                       cfg->name, cfg->max_memkb);
    if (cfg->target_memkb > cfg->max_memkb)
        return INVALID("domain '%s': memory target %" G_GUINT64_FORMAT
                       " KiB exceeds the maximum %" G_GUINT64_FORMAT " KiB",
                       cfg->name, cfg->target_memkb, cfg->max_memkb);
    if (cfg->max_vcpus < 1 || cfg->max_vcpus > XLITE_MAX_VCPUS)
        return INVALID("domain '%s': %u vcpus is outside 1..%d",
                       cfg->name, cfg->max_vcpus, XLITE_MAX_VCPUS);
    if (cfg->online_vcpus > cfg->max_vcpus)
        return INVALID("domain '%s': %u online vcpus exceed the maximum %u",
                       cfg->name, cfg->online_vcpus, cfg->max_vcpus);
    if (cfg->cpus && !valid_cpulist(cfg->cpus))
        return INVALID("domain '%s': cpu list '%s' is not valid",
                       cfg->name, cfg->cpus);
    if (cfg->sched_weight > 65535)
        return INVALID("domain '%s': scheduler weight %u is outside 1..65535",
                       cfg->name, cfg->sched_weight);
    if (cfg->sched_cap > 100 * XLITE_MAX_VCPUS)
        return INVALID("domain '%s': scheduler cap %u%% is too large",
                       cfg->name, cfg->sched_cap);
    if (cfg->num_disks > XLITE_MAX_DISKS || cfg->num_nics > XLITE_MAX_NICS ||
        cfg->num_consoles > XLITE_MAX_CONSOLES)
        return INVALID("domain '%s' has too many devices", cfg->name);
    return 0;
}

static int
validate_disks(const xlite_domain_config *cfg)
{
    size_t i, j;

    for (i = 0; i < cfg->num_disks; i++) {
        const xlite_disk_config *disk = &cfg->disks[i];

        if (!valid_token(disk->vdev, 16, ""))
            return INVALID("domain '%s': disk %zu has no valid guest name",
                           cfg->name, i);
        for (j = 0; j < i; j++) {
            if (strcmp(cfg->disks[j].vdev, disk->vdev) == 0)
                return INVALID("domain '%s': two disks are named '%s'",
                               cfg->name, disk->vdev);
        }
        if (!disk->target && !disk->cdrom)
            return INVALID("domain '%s': disk '%s' has no source",
                           cfg->name, disk->vdev);
        if (disk->network && (!disk->target ||
                              disk->backend != XLITE_DISK_BACKEND_QDISK))
            return INVALID("domain '%s': network disk '%s' needs a source and the qdisk backend",
                           cfg->name, disk->vdev);
        if (disk->target && !disk->network && disk->target[0] != '/')
            return INVALID("domain '%s': disk '%s' source '%s' is not an absolute path",
                           cfg->name, disk->vdev, disk->target);
        if ((disk->target && !valid_path(disk->target)) ||
            (disk->script && !valid_path(disk->script)))
            return INVALID("domain '%s': the source or script path of disk '%s' contains a control character",
                           cfg->name, disk->vdev);
    }
    return 0;
}

static int
validate_nics(const xlite_domain_config *cfg)
{
    size_t i, j;

    for (i = 0; i < cfg->num_nics; i++) {
        const xlite_nic_config *nic = &cfg->nics[i];

        if (nic->mac[0] && !valid_mac(nic->mac))
            return INVALID("domain '%s': network interface %zu has an invalid MAC address '%s'",
                           cfg->name, i, nic->mac);
        if (nic->vifname && !valid_token(nic->vifname, 15, "-_."))
            return INVALID("domain '%s': interface name '%s' is not valid",
                           cfg->name, nic->vifname);
        if (nic->bridge && !valid_bridge(nic->bridge))
            return INVALID("domain '%s': bridge name '%s' is not valid",
                           cfg->name, nic->bridge);
        if (nic->script && !valid_path(nic->script))
            return INVALID("domain '%s': the script path of network interface %zu contains a control character",
                           cfg->name, i);
        for (j = 0; j < i; j++) {
            if (nic->devid >= 0 && cfg->nics[j].devid == nic->devid)
                return INVALID("domain '%s': two network interfaces have device id %d",
                               cfg->name, nic->devid);
        }
    }
    return 0;
}

/* The rules a config must keep, each with its own message: the domain,
 * then its devices, the first broken rule being the one reported. */
XLITE_EXPORT int
xlite_domain_config_validate(const xlite_domain_config *cfg)
{
    size_t i;
    int rc;

    if ((rc = validate_domain(cfg)) < 0 ||
        (rc = validate_disks(cfg)) < 0 ||
        (rc = validate_nics(cfg)) < 0)
        return rc;
    for (i = 0; i < cfg->num_consoles; i++) {
        if (!enum_to_string(&console_kind_table, cfg->consoles[i].kind))
            return INVALID("domain '%s': console %zu has no valid kind",
                           cfg->name, i);
    }
    return validate_platform(cfg);
}

/* ---------------------------------------------------------------------
 * JSON
 */

typedef enum {
    FIELD_STRING,       /* char *, optional */
    FIELD_UINT,         /* unsigned int or uint64_t (size), up to max */
    FIELD_INT,          /* int, -1 means unset */
    FIELD_BOOL,
    FIELD_ENUM,         /* int-sized enum, by name */
    FIELD_UUID,         /* uint8_t[16], as text */
    FIELD_MAC,          /* char[18] */
    FIELD_STRV,         /* char **, NULL terminated; each up to max */
    FIELD_SINT64,       /* int64_t, 0 means unset; |value| up to max */
} field_kind;

typedef struct {
    const char *key;
    field_kind kind;
    size_t offset;
    size_t size;        /* FIELD_UINT: sizeof the member */
    uint64_t max;       /* FIELD_UINT / FIELD_INT / FIELD_STRING bound */
    const enum_table *table;
} field;

#define F_STRING(s, m, bound) \
    { #m, FIELD_STRING, offsetof(s, m), 0, (bound), NULL }
#define F_UINT(s, m, bound) \
    { #m, FIELD_UINT, offsetof(s, m), sizeof(((s *)0)->m), (bound), NULL }
#define F_INT(s, m, bound) \
    { #m, FIELD_INT, offsetof(s, m), 0, (bound), NULL }
#define F_BOOL(s, m) \
    { #m, FIELD_BOOL, offsetof(s, m), 0, 0, NULL }
#define F_ENUM(s, m, t) \
    { #m, FIELD_ENUM, offsetof(s, m), 0, 0, &(t) }
#define F_STRV(s, m, bound) \
    { #m, FIELD_STRV, offsetof(s, m), 0, (bound), NULL }
#define F_SINT64(s, m, bound) \
    { #m, FIELD_SINT64, offsetof(s, m), 0, (bound), NULL }

#define PATH_MAX_LEN 4096
#define TEXT_MAX_LEN 4096

static const field domain_fields[] = {
    F_STRING(xlite_domain_config, name, XLITE_NAME_MAX),
    { "uuid", FIELD_UUID, offsetof(xlite_domain_config, uuid), 0, 0, NULL },
    F_ENUM(xlite_domain_config, type, domain_type_table),
    F_STRING(xlite_domain_config, kernel, PATH_MAX_LEN),
    F_STRING(xlite_domain_config, ramdisk, PATH_MAX_LEN),
    F_STRING(xlite_domain_config, cmdline, TEXT_MAX_LEN),
    F_STRING(xlite_domain_config, bootloader, PATH_MAX_LEN),
    F_STRING(xlite_domain_config, bootloader_args, TEXT_MAX_LEN),
    F_UINT(xlite_domain_config, max_memkb, G_MAXUINT64 / 1024),
    F_UINT(xlite_domain_config, target_memkb, G_MAXUINT64 / 1024),
    F_UINT(xlite_domain_config, max_vcpus, XLITE_MAX_VCPUS),
    F_UINT(xlite_domain_config, online_vcpus, XLITE_MAX_VCPUS),
    F_STRING(xlite_domain_config, cpus, TEXT_MAX_LEN),
    F_UINT(xlite_domain_config, sched_weight, 65535),
    F_UINT(xlite_domain_config, sched_cap, 100 * XLITE_MAX_VCPUS),
    F_ENUM(xlite_domain_config, on_poweroff, action_table),
    F_ENUM(xlite_domain_config, on_reboot, action_table),
    F_ENUM(xlite_domain_config, on_crash, action_table),
    F_ENUM(xlite_domain_config, on_watchdog, action_table),
    F_ENUM(xlite_domain_config, bios, bios_table),
    F_STRING(xlite_domain_config, boot, 8),
    F_STRING(xlite_domain_config, acpi_firmware, PATH_MAX_LEN),
    F_ENUM(xlite_domain_config, acpi, defbool_table),
    F_ENUM(xlite_domain_config, apic, defbool_table),
    F_ENUM(xlite_domain_config, pae, defbool_table),
    F_ENUM(xlite_domain_config, hap, defbool_table),
    F_ENUM(xlite_domain_config, viridian, defbool_table),
    F_ENUM(xlite_domain_config, hpet, defbool_table),
    F_ENUM(xlite_domain_config, nested_hvm, defbool_table),
    F_ENUM(xlite_domain_config, e820_host, defbool_table),
    F_ENUM(xlite_domain_config, passthrough, passthrough_table),
    F_STRING(xlite_domain_config, cpuid, TEXT_MAX_LEN),
    F_UINT(xlite_domain_config, max_grant_frames, G_MAXUINT32),
    F_UINT(xlite_domain_config, max_event_channels, G_MAXUINT32),
    F_ENUM(xlite_domain_config, localtime, defbool_table),
    F_SINT64(xlite_domain_config, rtc_timeoffset, G_MAXINT32),
    F_ENUM(xlite_domain_config, tsc_mode, tsc_mode_table),
    F_STRING(xlite_domain_config, device_model, PATH_MAX_LEN),
    F_STRV(xlite_domain_config, device_model_args, TEXT_MAX_LEN),
    F_STRV(xlite_domain_config, serials, PATH_MAX_LEN),
    F_STRING(xlite_domain_config, soundhw, 256),
    F_STRV(xlite_domain_config, usbdevices, 64),
    F_STRING(xlite_domain_config, vga, 16),
    F_UINT(xlite_domain_config, video_memkb, G_MAXUINT32),
};

static const field disk_fields[] = {
    F_STRING(xlite_disk_config, vdev, 16),
    F_STRING(xlite_disk_config, target, PATH_MAX_LEN),
    F_ENUM(xlite_disk_config, format, disk_format_table),
    F_ENUM(xlite_disk_config, backend, disk_backend_table),
    F_BOOL(xlite_disk_config, readonly),
    F_BOOL(xlite_disk_config, cdrom),
    F_STRING(xlite_disk_config, script, PATH_MAX_LEN),
    F_BOOL(xlite_disk_config, network),
    F_STRING(xlite_disk_config, backend_domain, XLITE_NAME_MAX),
    F_ENUM(xlite_disk_config, discard, defbool_table),
};

static const field nic_fields[] = {
    F_INT(xlite_nic_config, devid, 65535),
    { "mac", FIELD_MAC, offsetof(xlite_nic_config, mac), 0, 0, NULL },
    F_STRING(xlite_nic_config, bridge, 64),
    F_STRING(xlite_nic_config, script, PATH_MAX_LEN),
    F_STRING(xlite_nic_config, ip, TEXT_MAX_LEN),
    F_STRING(xlite_nic_config, model, 64),
    F_STRING(xlite_nic_config, vifname, 15),
    F_UINT(xlite_nic_config, rate_bytes_per_sec, G_MAXUINT64),
    F_ENUM(xlite_nic_config, type, nic_type_table),
    F_STRING(xlite_nic_config, backend_domain, XLITE_NAME_MAX),
};

static const field console_fields[] = {
    F_ENUM(xlite_console_config, kind, console_kind_table),
};

static const field vnuma_fields[] = {
    F_UINT(xlite_vnuma_node_config, memkb, G_MAXUINT64 / 1024),
    F_STRING(xlite_vnuma_node_config, vcpus, TEXT_MAX_LEN),
    F_STRING(xlite_vnuma_node_config, distances, TEXT_MAX_LEN),
    F_UINT(xlite_vnuma_node_config, pnode, 255),
};

static const field pci_fields[] = {
    F_UINT(xlite_pci_config, domain, 0xffff),
    F_UINT(xlite_pci_config, bus, 0xff),
    F_UINT(xlite_pci_config, dev, 0x1f),
    F_UINT(xlite_pci_config, func, 7),
    F_INT(xlite_pci_config, vslot, 0x1f),
    F_BOOL(xlite_pci_config, permissive),
    F_BOOL(xlite_pci_config, seize),
};

static const field usbctrl_fields[] = {
    F_UINT(xlite_usbctrl_config, version, 2),
    F_UINT(xlite_usbctrl_config, ports, 31),
};

static const field usbdev_fields[] = {
    F_UINT(xlite_usbdev_config, hostbus, 255),
    F_UINT(xlite_usbdev_config, hostaddr, 127),
};

static const field channel_fields[] = {
    F_STRING(xlite_channel_config, name, 64),
    F_ENUM(xlite_channel_config, connection, channel_connection_table),
    F_STRING(xlite_channel_config, path, PATH_MAX_LEN),
};

/* The arrays of a domain, by their JSON key. */
typedef void *(*add_fn)(xlite_domain_config *cfg);

typedef struct {
    const char *key;
    size_t array_offset;
    size_t count_offset;
    size_t elem_size;
    size_t max;
    add_fn add;
    const field *fields;
    size_t nfields;
} array_desc;

#define ARRAY(key, m, n, max, add, fields) \
    { key, offsetof(xlite_domain_config, m), offsetof(xlite_domain_config, n), \
      sizeof(*((xlite_domain_config *)0)->m), (max), (add_fn)(add), \
      (fields), G_N_ELEMENTS(fields) }

static const array_desc domain_arrays[] = {
    ARRAY("disks", disks, num_disks, XLITE_MAX_DISKS,
          xlite_domain_config_add_disk, disk_fields),
    ARRAY("nics", nics, num_nics, XLITE_MAX_NICS,
          xlite_domain_config_add_nic, nic_fields),
    ARRAY("consoles", consoles, num_consoles, XLITE_MAX_CONSOLES,
          xlite_domain_config_add_console, console_fields),
    ARRAY("vnuma_nodes", vnuma_nodes, num_vnuma_nodes, XLITE_MAX_VNUMA_NODES,
          xlite_domain_config_add_vnuma_node, vnuma_fields),
    ARRAY("pcidevs", pcidevs, num_pcidevs, XLITE_MAX_PCIDEVS,
          xlite_domain_config_add_pcidev, pci_fields),
    ARRAY("usbctrls", usbctrls, num_usbctrls, XLITE_MAX_USBCTRLS,
          xlite_domain_config_add_usbctrl, usbctrl_fields),
    ARRAY("usbdevs", usbdevs, num_usbdevs, XLITE_MAX_USBDEVS,
          xlite_domain_config_add_usbdev, usbdev_fields),
    ARRAY("channels", channels, num_channels, XLITE_MAX_CHANNELS,
          xlite_domain_config_add_channel, channel_fields),
};

#define MEMBER(base, f, type) ((type *)((char *)(base) + (f)->offset))
#define CMEMBER(base, f, type) ((const type *)((const char *)(base) + (f)->offset))

static uint64_t
uint_get(const void *base, const field *f)
{
    if (f->size == sizeof(uint64_t))
        return *CMEMBER(base, f, uint64_t);
    return *CMEMBER(base, f, unsigned int);
}

static void
uint_set(void *base, const field *f, uint64_t value)
{
    if (f->size == sizeof(uint64_t))
        *MEMBER(base, f, uint64_t) = value;
    else
        *MEMBER(base, f, unsigned int) = (unsigned int)value;
}

static JsonNode *
string_node(const char *s)
{
    return s ? json_node_init_string(json_node_alloc(), s) : NULL;
}

static JsonNode *
int_node(gint64 v)
{
    return json_node_init_int(json_node_alloc(), v);
}

static JsonNode *
uuid_node(const uint8_t *u)
{
    char text[37];

    if (uuid_is_null(u))
        return NULL;
    g_snprintf(text, sizeof(text),
               "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
               "%02x%02x%02x%02x%02x%02x",
               u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7],
               u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
    return string_node(text);
}

static JsonNode *
strv_node(char *const *v)
{
    g_autoptr(JsonArray) array = NULL;
    size_t i;

    if (!v)
        return NULL;
    array = json_array_new();
    for (i = 0; v[i]; i++)
        json_array_add_string_element(array, v[i]);
    return json_node_init_array(json_node_alloc(), array);
}

/* One field's value in the document, or NULL when the field is unset
 * (unset fields are left out). */
static JsonNode *
write_value(const void *base, const field *f)
{
    switch (f->kind) {
    case FIELD_STRING:
        return string_node(*CMEMBER(base, f, char *));
    case FIELD_UINT: {
        uint64_t v = uint_get(base, f);

        return v ? int_node((gint64)v) : NULL;
    }
    case FIELD_INT: {
        int v = *CMEMBER(base, f, int);

        return v >= 0 ? int_node(v) : NULL;
    }
    case FIELD_BOOL:
        return *CMEMBER(base, f, bool)
               ? json_node_init_boolean(json_node_alloc(), TRUE) : NULL;
    case FIELD_ENUM:
        return string_node(enum_to_string(f->table, *CMEMBER(base, f, int)));
    case FIELD_UUID:
        return uuid_node(CMEMBER(base, f, uint8_t));
    case FIELD_MAC: {
        const char *mac = CMEMBER(base, f, char);

        return mac[0] ? string_node(mac) : NULL;
    }
    case FIELD_STRV:
        return strv_node(*(char **const *)((const char *)base + f->offset));
    case FIELD_SINT64: {
        int64_t v = *CMEMBER(base, f, int64_t);

        return v ? int_node(v) : NULL;
    }
    }
    return NULL;
}

static void
write_fields(JsonBuilder *b, const void *base, const field *fields, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        JsonNode *value = write_value(base, &fields[i]);

        if (value) {
            json_builder_set_member_name(b, fields[i].key);
            json_builder_add_value(b, value);
        }
    }
}

static void
write_array(JsonBuilder *b, const char *key, const void *array, size_t count,
            size_t elem_size, const field *fields, size_t nfields)
{
    size_t i;

    if (count == 0)
        return;
    json_builder_set_member_name(b, key);
    json_builder_begin_array(b);
    for (i = 0; i < count; i++) {
        json_builder_begin_object(b);
        write_fields(b, (const char *)array + i * elem_size, fields, nfields);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

XLITE_EXPORT int
xlite_domain_config_to_json(const xlite_domain_config *cfg, char **json_r)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL;
    size_t i;

    json_builder_begin_object(b);
    write_fields(b, cfg, domain_fields, G_N_ELEMENTS(domain_fields));
    for (i = 0; i < G_N_ELEMENTS(domain_arrays); i++) {
        const array_desc *a = &domain_arrays[i];

        write_array(b, a->key,
                    *(void *const *)((const char *)cfg + a->array_offset),
                    *(const size_t *)((const char *)cfg + a->count_offset),
                    a->elem_size, a->fields, a->nfields);
    }
    json_builder_end_object(b);

    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    text = json_generator_to_data(gen, NULL);
    /* Hand out memory the caller releases with free(), not g_free(). */
    *json_r = strdup(text);
    if (!*json_r)
        return xlite__error(NULL, -ENOMEM, __func__, "out of memory");
    return 0;
}

#define JSON_ERROR(...) xlite__error(NULL, -EINVAL, "xlite_domain_config_from_json", __VA_ARGS__)

static const field *
find_field(const field *fields, size_t n, const char *key)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(fields[i].key, key) == 0)
            return &fields[i];
    }
    return NULL;
}

static int
parse_uuid(const char *text, uint8_t uuid[16])
{
    size_t i, n = 0;

    if (strlen(text) != 36)
        return -1;
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-')
                return -1;
            continue;
        }
        if (!g_ascii_isxdigit(text[i]) || !g_ascii_isxdigit(text[i + 1]))
            return -1;
        uuid[n++] = (uint8_t)(g_ascii_xdigit_value(text[i]) << 4 |
                              g_ascii_xdigit_value(text[i + 1]));
        i++;
    }
    return n == 16 ? 0 : -1;
}

/* A field written as a string: text, an enum's name, a UUID or a MAC. */
static int
read_text(void *base, const field *f, const char *s, const char *where)
{
    switch (f->kind) {
    case FIELD_STRING:
        if (strlen(s) > f->max)
            return JSON_ERROR("%s.%s is longer than %" G_GUINT64_FORMAT " bytes",
                              where, f->key, f->max);
        g_free(*MEMBER(base, f, char *));
        *MEMBER(base, f, char *) = g_strdup(s);
        return 0;
    case FIELD_ENUM: {
        int v = enum_from_string(f->table, s);

        if (v < 0)
            return JSON_ERROR("%s.%s has an unknown value '%s'", where, f->key, s);
        *MEMBER(base, f, int) = v;
        return 0;
    }
    case FIELD_UUID:
        if (parse_uuid(s, MEMBER(base, f, uint8_t)) < 0)
            return JSON_ERROR("%s.%s '%s' is not a UUID", where, f->key, s);
        return 0;
    case FIELD_MAC:
        if (!valid_mac(s))
            return JSON_ERROR("%s.%s '%s' is not a MAC address", where, f->key, s);
        g_strlcpy(MEMBER(base, f, char), s, 18);
        return 0;
    default:
        return JSON_ERROR("%s.%s has an unsupported type", where, f->key);
    }
}

/* A field written as an integer, within its bounds: 0..max, or
 * -max..max for a signed one. */
static int
read_integer(void *base, const field *f, gint64 v, const char *where)
{
    bool in_range = f->kind == FIELD_SINT64
                    ? v >= -(gint64)f->max && v <= (gint64)f->max
                    : v >= 0 && (uint64_t)v <= f->max;

    if (!in_range)
        return JSON_ERROR("%s.%s value %" G_GINT64_FORMAT " is out of range",
                          where, f->key, v);
    if (f->kind == FIELD_UINT)
        uint_set(base, f, (uint64_t)v);
    else if (f->kind == FIELD_INT)
        *MEMBER(base, f, int) = (int)v;
    else
        *MEMBER(base, f, int64_t) = v;
    return 0;
}

/* A list of strings, each at most f->max bytes. */
static int
read_strv(void *base, const field *f, JsonNode *node, const char *where)
{
    g_auto(GStrv) v = NULL;
    JsonArray *array;
    guint i, len;

    if (!JSON_NODE_HOLDS_ARRAY(node))
        return JSON_ERROR("%s.%s must be an array of strings", where, f->key);
    array = json_node_get_array(node);
    len = json_array_get_length(array);
    if (len > XLITE_MAX_STRV)
        return JSON_ERROR("%s.%s has more than %d entries", where, f->key,
                          XLITE_MAX_STRV);
    v = g_new0(char *, len + 1);
    for (i = 0; i < len; i++) {
        JsonNode *e = json_array_get_element(array, i);

        if (!JSON_NODE_HOLDS_VALUE(e) ||
            json_node_get_value_type(e) != G_TYPE_STRING ||
            strlen(json_node_get_string(e)) > f->max)
            return JSON_ERROR("%s.%s[%u] must be a string of at most %" G_GUINT64_FORMAT " bytes",
                              where, f->key, i, f->max);
        v[i] = g_strdup(json_node_get_string(e));
    }
    g_strfreev(*MEMBER(base, f, char **));
    *MEMBER(base, f, char **) = g_steal_pointer(&v);
    return 0;
}

static int
read_value(void *base, const field *f, JsonNode *node, const char *where)
{
    GType vtype = JSON_NODE_HOLDS_VALUE(node) ? json_node_get_value_type(node)
                                               : G_TYPE_INVALID;

    switch (f->kind) {
    case FIELD_STRING:
    case FIELD_ENUM:
    case FIELD_UUID:
    case FIELD_MAC:
        if (vtype != G_TYPE_STRING)
            return JSON_ERROR("%s.%s must be a string", where, f->key);
        return read_text(base, f, json_node_get_string(node), where);
    case FIELD_UINT:
    case FIELD_INT:
    case FIELD_SINT64:
        if (vtype != G_TYPE_INT64)
            return JSON_ERROR("%s.%s must be an integer", where, f->key);
        return read_integer(base, f, json_node_get_int(node), where);
    case FIELD_BOOL:
        if (vtype != G_TYPE_BOOLEAN)
            return JSON_ERROR("%s.%s must be true or false", where, f->key);
        *MEMBER(base, f, bool) = json_node_get_boolean(node);
        return 0;
    case FIELD_STRV:
        return read_strv(base, f, node, where);
    }
    return JSON_ERROR("%s.%s has an unsupported type", where, f->key);
}

static int
read_object(void *base, const field *fields, size_t n, JsonNode *node,
            const char *where)
{
    JsonObjectIter iter;
    const char *key;
    JsonNode *value;
    int rc;

    if (!JSON_NODE_HOLDS_OBJECT(node))
        return JSON_ERROR("%s must be an object", where);
    json_object_iter_init(&iter, json_node_get_object(node));
    while (json_object_iter_next(&iter, &key, &value)) {
        const field *f = find_field(fields, n, key);

        if (!f)
            return JSON_ERROR("%s has an unknown key '%s'", where, key);
        if ((rc = read_value(base, f, value, where)) < 0)
            return rc;
    }
    return 0;
}

static int
read_array(xlite_domain_config *cfg, JsonNode *node, const char *key,
           size_t max, add_fn add, const field *fields, size_t nfields)
{
    JsonArray *array;
    guint i, len;
    int rc;

    if (!JSON_NODE_HOLDS_ARRAY(node))
        return JSON_ERROR("domain.%s must be an array", key);
    array = json_node_get_array(node);
    len = json_array_get_length(array);
    if (len > max)
        return JSON_ERROR("domain.%s has more than %zu entries", key, max);
    for (i = 0; i < len; i++) {
        g_autofree char *where = g_strdup_printf("domain.%s[%u]", key, i);

        if ((rc = read_object(add(cfg), fields, nfields,
                              json_array_get_element(array, i), where)) < 0)
            return rc;
    }
    return 0;
}

XLITE_EXPORT int
xlite_domain_config_from_json(const char *json, xlite_domain_config *cfg_r)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(GError) err = NULL;
    xlite_domain_config cfg;
    JsonObjectIter iter;
    const char *key;
    JsonNode *root, *value;
    int rc = 0;

    if (!json_parser_load_from_data(parser, json, -1, &err))
        return JSON_ERROR("the domain configuration is not valid JSON: %s",
                          err->message);
    root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root))
        return JSON_ERROR("the domain configuration must be a JSON object");

    xlite_domain_config_init(&cfg);
    json_object_iter_init(&iter, json_node_get_object(root));
    while (rc == 0 && json_object_iter_next(&iter, &key, &value)) {
        const field *f;

        const array_desc *a = NULL;
        size_t i;

        for (i = 0; i < G_N_ELEMENTS(domain_arrays); i++) {
            if (strcmp(key, domain_arrays[i].key) == 0)
                a = &domain_arrays[i];
        }
        if (a)
            rc = read_array(&cfg, value, key, a->max, a->add, a->fields,
                            a->nfields);
        else if ((f = find_field(domain_fields, G_N_ELEMENTS(domain_fields), key)))
            rc = read_value(&cfg, f, value, "domain");
        else
            rc = JSON_ERROR("domain has an unknown key '%s'", key);
    }
    if (rc < 0) {
        xlite_domain_config_dispose(&cfg);
        return rc;
    }
    xlite_domain_config_dispose(cfg_r);
    *cfg_r = cfg;
    return 0;
}
