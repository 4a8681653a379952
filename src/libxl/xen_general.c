/*
 * xen_general.c: the general settings of xl.cfg and xm, read and
 * written: guest type and OS boot, memory, vcpus and pinning, lifecycle
 * actions, clock and timers, features, name and uuid
 *
 * No device is read or written here: the devices are in xen_disk.c,
 * xen_vif.c, xen_pci.c, xen_graphics.c, xen_chr.c and xen_sound_usb.c, the
 * value layer in xen_common.c, and the keys only xl.cfg has in xen_xl.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "xen_common_priv.h"
#include "xen_xl.h"

#include "viralloc.h"
#include "virbitmap.h"
#include "virerror.h"
#include "virlog.h"
#include "virstring.h"
#include "viruuid.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.xen_general");

/* ---------------------------------------------------------------------
 * General settings
 */

static int
xvXenParseOSType(xvXenParser *p, virDomainDef *def)
{
    const char *type = NULL;
    const char *builder = NULL;
    bool pvh = false;
    int rc;

    if (p->format == XV_XEN_FORMAT_XL &&
        (rc = xvXenGetString(p, "type", &type)) < 0)
        return -1;
    if (xvXenGetString(p, "builder", &builder) < 0)
        return -1;
    if (p->format == XV_XEN_FORMAT_XL && xvXenGetBool(p, "pvh", &pvh) < 0)
        return -1;

    def->os.type = VIR_DOMAIN_OSTYPE_XEN;
    if (type) {
        if (STREQ(type, "pv")) {
            def->os.type = VIR_DOMAIN_OSTYPE_XEN;
        } else if (STREQ(type, "pvh")) {
            def->os.type = VIR_DOMAIN_OSTYPE_XENPVH;
        } else if (STREQ(type, "hvm")) {
            def->os.type = VIR_DOMAIN_OSTYPE_HVM;
        } else {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: unknown guest type '%s', expected 'pv', 'pvh' or 'hvm'"),
                           xvXenLine(p, "type"), type);
            return -1;
        }
    } else if (builder) {
        if (STREQ(builder, "hvm")) {
            def->os.type = VIR_DOMAIN_OSTYPE_HVM;
        } else if (STREQ(builder, "generic") || STREQ(builder, "linux")) {
            def->os.type = VIR_DOMAIN_OSTYPE_XEN;
        } else {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: unknown builder '%s', expected 'hvm' or '%s'"),
                           xvXenLine(p, "builder"), builder,
                           p->format == XV_XEN_FORMAT_XL ? "generic" : "linux");
            return -1;
        }
    } else if (pvh) {
        def->os.type = VIR_DOMAIN_OSTYPE_XENPVH;
    }

    switch ((virDomainOSType) def->os.type) {
    case VIR_DOMAIN_OSTYPE_HVM:
        def->os.machine = g_strdup("xenfv");
        break;
    case VIR_DOMAIN_OSTYPE_XENPVH:
        def->os.machine = g_strdup("xenpvh");
        break;
    default:
        def->os.machine = g_strdup("xenpv");
        break;
    }
    return 0;
}

static int
xvXenParseCmdline(xvXenParser *p, virDomainDef *def)
{
    const char *cmdline = NULL;
    const char *extra = NULL;
    const char *root = NULL;

    if (p->format == XV_XEN_FORMAT_XL &&
        xvXenGetString(p, "cmdline", &cmdline) < 0)
        return -1;
    if (xvXenGetString(p, "extra", &extra) < 0 ||
        xvXenGetString(p, "root", &root) < 0)
        return -1;

    if (cmdline) {
        /* xl.cfg(5): cmdline wins over root and extra. */
        if (extra || root) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: 'cmdline' cannot be combined with 'root' or 'extra'"),
                           xvXenLine(p, "cmdline"));
            return -1;
        }
        def->os.cmdline = g_strdup(cmdline);
    } else if (root && extra) {
        def->os.cmdline = g_strdup_printf("root=%s %s", root, extra);
    } else if (root) {
        def->os.cmdline = g_strdup_printf("root=%s", root);
    } else if (extra) {
        def->os.cmdline = g_strdup(extra);
    }
    return 0;
}

static int
xvXenParseBoot(xvXenParser *p, virDomainDef *def)
{
    const char *boot = NULL;
    const char *c;

    int rc;

    if ((rc = xvXenGetString(p, "boot", &boot)) <= 0)
        return rc;

    if (def->os.type != VIR_DOMAIN_OSTYPE_HVM) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: 'boot' is only valid for HVM guests"),
                       xvXenLine(p, "boot"));
        return -1;
    }
    for (c = boot; *c; c++) {
        virDomainBootOrder dev;
        size_t i;

        switch (*c) {
        case 'a':
            dev = VIR_DOMAIN_BOOT_FLOPPY;
            break;
        case 'c':
            dev = VIR_DOMAIN_BOOT_DISK;
            break;
        case 'd':
            dev = VIR_DOMAIN_BOOT_CDROM;
            break;
        case 'n':
            dev = VIR_DOMAIN_BOOT_NET;
            break;
        default:
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: unknown boot device '%c' in 'boot' value '%s', expected a, c, d or n"),
                           xvXenLine(p, "boot"), *c, boot);
            return -1;
        }
        for (i = 0; i < def->os.nBootDevs; i++) {
            if (def->os.bootDevs[i] == dev) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: boot device '%c' is repeated in 'boot' value '%s'"),
                               xvXenLine(p, "boot"), *c, boot);
                return -1;
            }
        }
        def->os.bootDevs[def->os.nBootDevs++] = dev;
    }
    return 0;
}

/* Xen's HVM firmware loader, as the host's capabilities name it. */
static const char *
xvXenHVMLoader(virCaps *caps)
{
    size_t i;

    for (i = 0; caps && i < caps->nguests; i++) {
        if (caps->guests[i]->ostype == VIR_DOMAIN_OSTYPE_HVM &&
            caps->guests[i]->arch.defaultInfo.loader)
            return caps->guests[i]->arch.defaultInfo.loader;
    }
    return NULL;
}

static void
xvXenSetLoader(virDomainDef *def, const char *path)
{
    def->os.loader = g_new0(virDomainLoaderDef, 1);
    def->os.loader->type = VIR_DOMAIN_LOADER_TYPE_ROM;
    def->os.loader->path = g_strdup(path);
}

/* The bootloader (pygrub and the like) and its arguments. */
static int
xvXenParseBootloader(xvXenParser *p, virDomainDef *def)
{
    const char *str = NULL;
    g_auto(GStrv) args = NULL;

    if (xvXenGetString(p, "bootloader", &str) < 0)
        return -1;
    def->os.bootloader = g_strdup(str);
    /* xm names the bootloader's arguments "bootargs" (one string). */
    if (p->format == XV_XEN_FORMAT_XM) {
        str = NULL;
        if (xvXenGetString(p, "bootargs", &str) < 0)
            return -1;
        if (str)
            args = g_strsplit(str, "\x01", 1);
    }
    if (!args && xvXenGetStringList(p, "bootloader_args", true, &args) < 0)
        return -1;
    if (args) {
        if (!def->os.bootloader) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: 'bootloader_args' needs a 'bootloader'"),
                           xvXenLine(p, "bootloader_args"));
            return -1;
        }
        def->os.bootloaderArgs = g_strjoinv(" ", args);
        if (!*def->os.bootloaderArgs)
            g_clear_pointer(&def->os.bootloaderArgs, g_free);
    }
    if (def->os.bootloader && def->os.type == VIR_DOMAIN_OSTYPE_HVM) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: 'bootloader' is not valid for HVM guests"),
                       xvXenLine(p, "bootloader"));
        return -1;
    }
    return 0;
}

/* An HVM guest's firmware: bios, an extra ACPI table, the loader, and
 * the boot order. */
static int
xvXenParseFirmware(xvXenParser *p, virDomainDef *def, virCaps *caps)
{
    const char *str = NULL;

    if (xvXenGetString(p, "bios", &str) < 0)
        return -1;
    if (str) {
        if (STREQ(str, "ovmf")) {
            def->os.firmware = VIR_DOMAIN_OS_DEF_FIRMWARE_EFI;
        } else if (STREQ(str, "seabios")) {
            def->os.firmware = VIR_DOMAIN_OS_DEF_FIRMWARE_BIOS;
        } else {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: firmware 'bios = \"%s\"' is not supported, expected 'seabios' or 'ovmf'"),
                           xvXenLine(p, "bios"), str);
            return -1;
        }
    }
    /* An extra ACPI table (SLIC) for the firmware. */
    str = NULL;
    if (p->format == XV_XEN_FORMAT_XL &&
        xvXenGetString(p, "acpi_firmware", &str) < 0)
        return -1;
    def->os.slic_table = g_strdup(str);
    /* Without OVMF, the HVM firmware loader is the host's hvmloader,
     * as libvirt's converter shows it. */
    if (def->os.firmware == VIR_DOMAIN_OS_DEF_FIRMWARE_NONE && !def->os.loader &&
        xvXenHVMLoader(caps))
        xvXenSetLoader(def, xvXenHVMLoader(caps));
    return xvXenParseBoot(p, def);
}

static int
xvXenParseOS(xvXenParser *p, virDomainDef *def, virCaps *caps)
{
    const char *str = NULL;
    bool hvm = def->os.type == VIR_DOMAIN_OSTYPE_HVM;

    if (xvXenGetString(p, "kernel", &str) < 0)
        return -1;
    /* xm's "kernel" of an HVM guest is its firmware loader (hvmloader). */
    if (hvm && p->format == XV_XEN_FORMAT_XM && str)
        xvXenSetLoader(def, str);
    else
        def->os.kernel = g_strdup(str);
    str = NULL;
    if (xvXenGetString(p, "ramdisk", &str) < 0)
        return -1;
    def->os.initrd = g_strdup(str);
    if (xvXenParseCmdline(p, def) < 0 ||
        xvXenParseBootloader(p, def) < 0)
        return -1;
    if (hvm && xvXenParseFirmware(p, def, caps) < 0)
        return -1;
    return 0;
}

#define XV_XEN_MAX_MEMORY_MIB (16ULL * 1024 * 1024)

static int
xvXenParseMemory(xvXenParser *p, virDomainDef *def)
{
    unsigned long long memory = 128;
    unsigned long long maxmem = 0;

    if (xvXenGetULLong(p, "memory", &memory) < 0 ||
        xvXenGetULLong(p, "maxmem", &maxmem) < 0)
        return -1;
    /* Up to 16 TiB, as much as Xen gives a guest. */
    if (memory == 0 || memory > XV_XEN_MAX_MEMORY_MIB ||
        maxmem > XV_XEN_MAX_MEMORY_MIB) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: memory sizes %llu MiB and %llu MiB must be between 1 MiB and 16 TiB"),
                       xvXenLine(p, "memory"), memory, maxmem);
        return -1;
    }
    if (maxmem == 0)
        maxmem = memory;
    if (maxmem < memory) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: 'maxmem' (%llu MiB) is smaller than 'memory' (%llu MiB)"),
                       xvXenLine(p, "maxmem"), maxmem, memory);
        return -1;
    }
    virDomainDefSetMemoryTotal(def, maxmem * 1024);
    def->mem.cur_balloon = memory * 1024;
    return 0;
}

/* "cpus": one cpu list for all vcpus, or a list of one per vcpu. */
static int
xvXenParseCPUAffinity(xvXenParser *p, virDomainDef *def,
                      unsigned long long maxvcpus)
{
    const char *cpus = NULL;
    virConfValue *val;

    if ((val = virConfGetValue(p->conf, "cpus")) && val->type == VIR_CONF_LIST) {
        g_auto(GStrv) list = NULL;
        size_t i;

        /* Per-vcpu affinity: one cpu list per vcpu. */
        if (xvXenGetStringList(p, "cpus", false, &list) < 0)
            return -1;
        for (i = 0; list[i]; i++) {
            virDomainVcpuDef *vcpu = virDomainDefGetVcpu(def, i);

            if (!vcpu) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: 'cpus' names more vcpus than the %llu the domain has"),
                               xvXenLine(p, "cpus"), maxvcpus);
                return -1;
            }
            if (virBitmapParse(list[i], &vcpu->cpumask, VIR_DOMAIN_CPUMASK_LEN) < 0) {
                virResetLastError();
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: cpu list '%s' in 'cpus' is not supported"),
                               xvXenLine(p, "cpus"), list[i]);
                return -1;
            }
        }
    } else {
        if (xvXenGetString(p, "cpus", &cpus) < 0)
            return -1;
        if (cpus && STRNEQ(cpus, "all")) {
            if (virBitmapParse(cpus, &def->cpumask, VIR_DOMAIN_CPUMASK_LEN) < 0) {
                virResetLastError();
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: cpu list 'cpus = \"%s\"' is not supported"),
                               xvXenLine(p, "cpus"), cpus);
                return -1;
            }
        }
    }
    return 0;
}

/* "cpu_weight" and "cap": the credit scheduler's parameters. */
static int
xvXenParseCPUTune(xvXenParser *p, virDomainDef *def)
{
    unsigned long long weight = 0;
    unsigned long long cap = 0;
    int rc;

    if ((rc = xvXenGetULLong(p, "cpu_weight", &weight)) < 0)
        return -1;
    if (rc == 1) {
        if (weight < 1 || weight > 65535) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: 'cpu_weight' %llu is out of range 1 to 65535"),
                           xvXenLine(p, "cpu_weight"), weight);
            return -1;
        }
        def->cputune.shares = weight;
        def->cputune.sharesSpecified = true;
    }
    if ((rc = xvXenGetULLong(p, "cap", &cap)) < 0)
        return -1;
    if (rc == 1 && cap > 0) {
        if (cap > 100 * 4096) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: 'cap' %llu is out of range"),
                           xvXenLine(p, "cap"), cap);
            return -1;
        }
        /* cap is a percentage of one physical CPU for the whole domain. */
        def->cputune.global_period = 100000;
        def->cputune.global_quota = cap * 1000;
    }
    return 0;
}

static int
xvXenParseCPU(xvXenParser *p, virDomainDef *def)
{
    unsigned long long vcpus = 1;
    unsigned long long maxvcpus = 0;

    if (xvXenGetULLong(p, "vcpus", &vcpus) < 0 ||
        xvXenGetULLong(p, "maxvcpus", &maxvcpus) < 0)
        return -1;
    if (maxvcpus == 0)
        maxvcpus = vcpus;
    if (vcpus == 0 || maxvcpus < vcpus || maxvcpus > 4096) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: %llu vcpus with a maximum of %llu is not a valid vcpu count"),
                       xvXenLine(p, "vcpus"), vcpus, maxvcpus);
        return -1;
    }
    if (virDomainDefSetVcpusMax(def, maxvcpus, p->xmlopt) < 0 ||
        virDomainDefSetVcpus(def, vcpus) < 0)
        return -1;

    if (xvXenParseCPUAffinity(p, def, maxvcpus) < 0 ||
        xvXenParseCPUTune(p, def) < 0)
        return -1;
    return 0;
}

static int
xvXenParseLifecycle(xvXenParser *p, const char *key, int *action, bool crash)
{
    const char *str = NULL;
    int a;
    int rc;

    if ((rc = xvXenGetString(p, key, &str)) <= 0)
        return rc;
    if ((a = virDomainLifecycleActionTypeFromString(str)) < 0 ||
        (!crash && (a == VIR_DOMAIN_LIFECYCLE_ACTION_COREDUMP_DESTROY ||
                    a == VIR_DOMAIN_LIFECYCLE_ACTION_COREDUMP_RESTART))) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: action '%s = \"%s\"' is not supported"),
                       xvXenLine(p, key), key, str);
        return -1;
    }
    *action = a;
    return 0;
}

static int
xvXenParseEvents(xvXenParser *p, virDomainDef *def)
{
    const char *watchdog = NULL;

    def->onPoweroff = VIR_DOMAIN_LIFECYCLE_ACTION_DESTROY;
    def->onReboot = VIR_DOMAIN_LIFECYCLE_ACTION_RESTART;
    def->onCrash = VIR_DOMAIN_LIFECYCLE_ACTION_DESTROY;
    if (xvXenParseLifecycle(p, "on_poweroff", &def->onPoweroff, false) < 0 ||
        xvXenParseLifecycle(p, "on_reboot", &def->onReboot, false) < 0 ||
        xvXenParseLifecycle(p, "on_crash", &def->onCrash, true) < 0)
        return -1;

    /* A domain XML has no action for a watchdog firing without a watchdog
     * device model, which xl.cfg cannot describe. */
    if (xvXenGetString(p, "on_watchdog", &watchdog) < 0)
        return -1;
    if (watchdog && STRNEQ(watchdog, "destroy")) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: 'on_watchdog = \"%s\"' cannot be expressed in a domain XML"),
                       xvXenLine(p, "on_watchdog"), watchdog);
        return -1;
    }
    return 0;
}

static int
xvXenParseClock(xvXenParser *p, virDomainDef *def)
{
    bool localtime = false;
    long long offset = 0;
    int rc;

    if (xvXenGetBool(p, "localtime", &localtime) < 0)
        return -1;
    if ((rc = xvXenGetLLong(p, "rtc_timeoffset", &offset)) < 0)
        return -1;

    if (rc == 1) {
        def->clock.offset = VIR_DOMAIN_CLOCK_OFFSET_VARIABLE;
        def->clock.data.variable.adjustment = offset;
        def->clock.data.variable.basis = localtime ? VIR_DOMAIN_CLOCK_BASIS_LOCALTIME
                                                   : VIR_DOMAIN_CLOCK_BASIS_UTC;
    } else if (localtime) {
        def->clock.offset = VIR_DOMAIN_CLOCK_OFFSET_LOCALTIME;
    } else {
        def->clock.offset = VIR_DOMAIN_CLOCK_OFFSET_UTC;
    }
    return 0;
}

static virDomainTimerDef *
xvXenAddTimer(virDomainDef *def, virDomainTimerNameType name)
{
    virDomainTimerDef *timer = g_new0(virDomainTimerDef, 1);

    timer->name = name;
    VIR_APPEND_ELEMENT(def->clock.timers, def->clock.ntimers, timer);
    return def->clock.timers[def->clock.ntimers - 1];
}

/* xl.cfg timer_mode names and numbers, in the order of their numbers, and
 * the libvirt tick policy each one is. */
typedef struct {
    const char *name;
    int value;
} xvXenNamedValue;

static const xvXenNamedValue xvXenTimerModes[] = {
    { "delay_for_missed_ticks", VIR_DOMAIN_TIMER_TICKPOLICY_DELAY },
    { "no_delay_for_missed_ticks", VIR_DOMAIN_TIMER_TICKPOLICY_CATCHUP },
    { "no_missed_ticks_pending", VIR_DOMAIN_TIMER_TICKPOLICY_MERGE },
    { "one_missed_tick_pending", VIR_DOMAIN_TIMER_TICKPOLICY_DISCARD },
};

/* xl.cfg tsc_mode names and numbers, and the libvirt timer mode of each. */
static const xvXenNamedValue xvXenTscModes[] = {
    { "default", VIR_DOMAIN_TIMER_MODE_AUTO },
    { "always_emulate", VIR_DOMAIN_TIMER_MODE_EMULATE },
    { "native", VIR_DOMAIN_TIMER_MODE_NATIVE },
    { "native_paravirt", VIR_DOMAIN_TIMER_MODE_PARAVIRT },
};

/*
 * A key naming one entry of @table by its name or by its number: 1 and
 * *@value when it does, 0 when it is absent or empty, -1 with an error.
 */
static int
xvXenParseNamed(xvXenParser *p, const char *key,
                const xvXenNamedValue *table, size_t n, int *value)
{
    virConfValue *val = virConfGetValue(p->conf, key);
    const char *str = NULL;
    unsigned long long num;
    int found = -1;
    size_t i;

    if (!val)
        return 0;
    if (val->type == VIR_CONF_STRING) {
        int rc = xvXenGetString(p, key, &str);

        if (rc <= 0)
            return rc;  /* an error, or empty: no setting */
        for (i = 0; i < n; i++) {
            if (STREQ(str, table[i].name))
                found = i;
        }
    } else if (xvXenGetULLong(p, key, &num) == 1 && num < n) {
        found = num;
    }
    if (found == -1) {
        virResetLastError();
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: unknown '%s' value '%s'"),
                       xvXenLine(p, key), key, str ? str : "(number)");
        return -1;
    }
    *value = table[found].value;
    return 1;
}

static int
xvXenParseTimers(xvXenParser *p, virDomainDef *def)
{
    virTristateSwitch hpet = VIR_TRISTATE_SWITCH_ABSENT;
    int value;
    int rc;

    if ((rc = xvXenParseNamed(p, "timer_mode", xvXenTimerModes,
                              G_N_ELEMENTS(xvXenTimerModes), &value)) < 0)
        return -1;
    if (rc == 1)
        xvXenAddTimer(def, VIR_DOMAIN_TIMER_NAME_PIT)->tickpolicy = value;

    if (def->os.type == VIR_DOMAIN_OSTYPE_HVM) {
        if (xvXenGetTristate(p, "hpet", &hpet) < 0)
            return -1;
        if (hpet != VIR_TRISTATE_SWITCH_ABSENT)
            xvXenAddTimer(def, VIR_DOMAIN_TIMER_NAME_HPET)->present =
                hpet == VIR_TRISTATE_SWITCH_ON ? VIR_TRISTATE_BOOL_YES
                                               : VIR_TRISTATE_BOOL_NO;
    }

    if ((rc = xvXenParseNamed(p, "tsc_mode", xvXenTscModes,
                              G_N_ELEMENTS(xvXenTscModes), &value)) < 0)
        return -1;
    if (rc == 1) {
        virDomainTimerDef *tsc = xvXenAddTimer(def, VIR_DOMAIN_TIMER_NAME_TSC);

        tsc->mode = value;
        tsc->present = VIR_TRISTATE_BOOL_YES;
    }
    return 0;
}

static int
xvXenParseFeatures(xvXenParser *p, virDomainDef *def)
{
    virTristateSwitch sw;
    bool b;

    if (def->os.type == VIR_DOMAIN_OSTYPE_HVM) {
        /* xl.cfg(5) defaults: pae, acpi and apic are on. */
        const char *onByDefault[] = { "pae", "acpi", "apic" };
        const virDomainFeature features[] = {
            VIR_DOMAIN_FEATURE_PAE, VIR_DOMAIN_FEATURE_ACPI,
            VIR_DOMAIN_FEATURE_APIC,
        };
        size_t i;

        for (i = 0; i < G_N_ELEMENTS(features); i++) {
            b = true;
            if (xvXenGetBool(p, onByDefault[i], &b) < 0)
                return -1;
            if (b)
                def->features[features[i]] = VIR_TRISTATE_SWITCH_ON;
        }

        sw = VIR_TRISTATE_SWITCH_ABSENT;
        if (xvXenGetTristate(p, "hap", &sw) < 0)
            return -1;
        def->features[VIR_DOMAIN_FEATURE_HAP] = sw;

        if (virConfGetValueType(p->conf, "viridian") == VIR_CONF_LIST) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: a list of viridian enlightenment groups cannot be expressed in a domain XML, use 'viridian = 1'"),
                           xvXenLine(p, "viridian"));
            return -1;
        }
        b = false;
        if (xvXenGetBool(p, "viridian", &b) < 0)
            return -1;
        if (b)
            def->features[VIR_DOMAIN_FEATURE_VIRIDIAN] = VIR_TRISTATE_SWITCH_ON;
    } else {
        b = false;
        if (xvXenGetBool(p, "pae", &b) < 0)
            return -1;
        if (b)
            def->features[VIR_DOMAIN_FEATURE_PAE] = VIR_TRISTATE_SWITCH_ON;
    }
    return 0;
}

static int
xvXenParseUUID(xvXenParser *p, virDomainDef *def)
{
    const char *uuid = NULL;

    if (xvXenGetString(p, "uuid", &uuid) < 0)
        return -1;
    if (!uuid)
        return virUUIDGenerate(def->uuid);
    if (virUUIDParse(uuid, def->uuid) < 0) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: 'uuid' value '%s' is not a UUID"),
                       xvXenLine(p, "uuid"), uuid);
        return -1;
    }
    return 0;
}

int
xvXenParseGeneral(xvXenParser *p, virDomainDef *def, virCaps *caps)
{
    const char *name = NULL;
    const char *emulator = NULL;
    const char *dmv = NULL;

    def->virtType = VIR_DOMAIN_VIRT_XEN;
    def->id = -1;
    def->os.arch = caps ? caps->host.arch : VIR_ARCH_X86_64;

    if (xvXenGetString(p, "name", &name) < 0)
        return -1;
    if (!name || !*name) {
        virReportError(VIR_ERR_CONF_SYNTAX, "%s",
                       _("the configuration has no 'name'"));
        return -1;
    }
    def->name = g_strdup(name);

    if (xvXenParseUUID(p, def) < 0 ||
        xvXenParseOSType(p, def) < 0 ||
        xvXenParseOS(p, def, caps) < 0 ||
        xvXenParseMemory(p, def) < 0 ||
        xvXenParseCPU(p, def) < 0 ||
        xvXenParseEvents(p, def) < 0 ||
        xvXenParseClock(p, def) < 0 ||
        xvXenParseTimers(p, def) < 0 ||
        xvXenParseFeatures(p, def) < 0)
        return -1;

    if (xvXenGetString(p, "device_model_override", &emulator) < 0)
        return -1;
    def->emulator = g_strdup(emulator);
    if (xvXenGetString(p, "device_model_version", &dmv) < 0)
        return -1;
    if (dmv && STRNEQ(dmv, "qemu-xen")) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: 'device_model_version = \"%s\"' is not supported, only 'qemu-xen' is"),
                       xvXenLine(p, "device_model_version"), dmv);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * Writing: general settings
 */

static int
xvXenFormatBool(xvXenWriter *w, const char *key, virTristateSwitch sw)
{
    if (sw == VIR_TRISTATE_SWITCH_ABSENT)
        return 0;
    return xvXenSetULLong(w, key, sw == VIR_TRISTATE_SWITCH_ON ? 1 : 0);
}

/* "type" (xl) or "builder" (xm): the guest type. */
static int
xvXenFormatOSType(xvXenWriter *w, virDomainDef *def)
{
    bool xl = w->format == XV_XEN_FORMAT_XL;

    switch (def->os.type) {
    case VIR_DOMAIN_OSTYPE_HVM:
        if (xvXenSetString(w, xl ? "type" : "builder", "hvm") < 0)
            return -1;
        break;
    case VIR_DOMAIN_OSTYPE_XENPVH:
        if (!xl) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("a PVH guest cannot be expressed in the xen-xm format"));
            return -1;
        }
        if (xvXenSetString(w, "type", "pvh") < 0)
            return -1;
        break;
    case VIR_DOMAIN_OSTYPE_XEN:
    case VIR_DOMAIN_OSTYPE_LINUX:
        if (xl && xvXenSetString(w, "type", "pv") < 0)
            return -1;
        break;
    default:
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("os type '%s' cannot be expressed in a Xen configuration"),
                       virDomainOSTypeToString(def->os.type));
        return -1;
    }
    return 0;
}

void
xvXLBootOrder(const virDomainDef *def, char boot[VIR_DOMAIN_BOOT_LAST + 1])
{
    size_t i;

    memset(boot, 0, VIR_DOMAIN_BOOT_LAST + 1);
    for (i = 0; i < def->os.nBootDevs && i < VIR_DOMAIN_BOOT_LAST; i++) {
        switch (def->os.bootDevs[i]) {
        case VIR_DOMAIN_BOOT_FLOPPY:
            boot[i] = 'a';
            break;
        case VIR_DOMAIN_BOOT_CDROM:
            boot[i] = 'd';
            break;
        case VIR_DOMAIN_BOOT_NET:
            boot[i] = 'n';
            break;
        case VIR_DOMAIN_BOOT_DISK:
        default:
            boot[i] = 'c';
            break;
        }
    }
}

/* "boot": the HVM boot order as drive letters. */
static int
xvXenFormatBoot(xvXenWriter *w, virDomainDef *def)
{
    char boot[VIR_DOMAIN_BOOT_LAST + 1];

    xvXLBootOrder(def, boot);
    if (xvXenSetString(w, "boot", boot) < 0)
        return -1;
    return 0;
}

/* The firmware loader of an HVM guest: xm names it as "kernel"; xl has
 * hvmloader (not written: it is the default) or OVMF ("bios"), and no
 * other loader (which libvirt's converter drops silently). */
static int
xvXenFormatLoader(xvXenWriter *w, const virDomainLoaderDef *loader)
{
    g_autofree char *base = g_path_get_basename(loader->path);

    if (w->format == XV_XEN_FORMAT_XM)
        return xvXenSetString(w, "kernel", loader->path);
    if (loader->type == VIR_DOMAIN_LOADER_TYPE_PFLASH)
        return xvXenSetString(w, "bios", "ovmf");
    if (STREQ(base, "hvmloader"))
        return 0;
    virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                   _("firmware loader '%s' cannot be expressed in a Xen configuration, only Xen's hvmloader or OVMF (firmware='efi')"),
                   loader->path);
    return -1;
}

static int
xvXenFormatOS(xvXenWriter *w, virDomainDef *def)
{
    bool xl = w->format == XV_XEN_FORMAT_XL;
    bool hvm = def->os.type == VIR_DOMAIN_OSTYPE_HVM;

    if (xvXenFormatOSType(w, def) < 0)
        return -1;

    if (hvm) {
        if (def->os.firmware == VIR_DOMAIN_OS_DEF_FIRMWARE_EFI &&
            xvXenSetString(w, "bios", "ovmf") < 0)
            return -1;
        if (def->os.firmware == VIR_DOMAIN_OS_DEF_FIRMWARE_BIOS &&
            xvXenSetString(w, "bios", "seabios") < 0)
            return -1;
        if (def->os.loader && def->os.loader->path &&
            xvXenFormatLoader(w, def->os.loader) < 0)
            return -1;
    }

    if (def->os.kernel && xvXenSetString(w, "kernel", def->os.kernel) < 0)
        return -1;
    if (def->os.initrd && xvXenSetString(w, "ramdisk", def->os.initrd) < 0)
        return -1;
    if (def->os.cmdline &&
        xvXenSetString(w, xl ? "cmdline" : "extra", def->os.cmdline) < 0)
        return -1;
    if (def->os.bootloader) {
        if (hvm) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("a bootloader is not valid for HVM guests"));
            return -1;
        }
        if (xvXenSetString(w, "bootloader", def->os.bootloader) < 0)
            return -1;
    }
    if (def->os.bootloaderArgs &&
        xvXenSetString(w, xl ? "bootloader_args" : "bootargs",
                       def->os.bootloaderArgs) < 0)
        return -1;
    if (def->os.slic_table) {
        if (!hvm || !xl) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("an ACPI table can only be expressed for an HVM guest in the xen-xl format"));
            return -1;
        }
        if (xvXenSetString(w, "acpi_firmware", def->os.slic_table) < 0)
            return -1;
    }

    if (hvm && def->os.nBootDevs > 0 && xvXenFormatBoot(w, def) < 0)
        return -1;
    return 0;
}

static int
xvXenFormatMemory(xvXenWriter *w, virDomainDef *def)
{
    unsigned long long max = virDomainDefGetMemoryTotal(def);
    unsigned long long cur = def->mem.cur_balloon ? def->mem.cur_balloon : max;

    if (max % 1024 || cur % 1024) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("memory sizes %llu KiB and %llu KiB are not whole MiB, which a Xen configuration needs"),
                       cur, max);
        return -1;
    }
    if (xvXenSetULLong(w, "memory", cur / 1024) < 0)
        return -1;
    if (max != cur && xvXenSetULLong(w, "maxmem", max / 1024) < 0)
        return -1;
    return 0;
}

static int
xvXenFormatCPU(xvXenWriter *w, virDomainDef *def)
{
    unsigned int max = virDomainDefGetVcpusMax(def);
    unsigned int cur = virDomainDefGetVcpus(def);
    g_autoptr(GPtrArray) pins = g_ptr_array_new_with_free_func(g_free);
    size_t i;

    if (xvXenSetULLong(w, "vcpus", cur) < 0)
        return -1;
    if (max != cur && xvXenSetULLong(w, "maxvcpus", max) < 0)
        return -1;

    if (def->placement_mode == VIR_DOMAIN_CPU_PLACEMENT_MODE_AUTO) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("automatic vcpu placement cannot be expressed in a Xen configuration"));
        return -1;
    }
    for (i = 0; i < max; i++) {
        virDomainVcpuDef *vcpu = virDomainDefGetVcpu(def, i);

        if (vcpu && vcpu->cpumask) {
            /* Per-vcpu pinning: a list, one entry per vcpu from vcpu 0. */
            if (pins->len != i) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                               _("vcpu pinning must name every vcpu from vcpu 0 on to be expressed in a Xen configuration"));
                return -1;
            }
            g_ptr_array_add(pins, virBitmapFormat(vcpu->cpumask));
        }
    }
    if (pins->len > 0) {
        if (def->cpumask) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("a domain cpuset together with vcpu pinning cannot be expressed in a Xen configuration"));
            return -1;
        }
        if (xvXenSetStringList(w, "cpus", pins) < 0)
            return -1;
    } else if (def->cpumask) {
        g_autofree char *mask = virBitmapFormat(def->cpumask);

        if (!mask || xvXenSetString(w, "cpus", mask) < 0)
            return -1;
    }

    if (def->cputune.sharesSpecified &&
        xvXenSetULLong(w, "cpu_weight", def->cputune.shares) < 0)
        return -1;
    if (def->cputune.global_quota > 0) {
        unsigned long long period = def->cputune.global_period ? def->cputune.global_period : 100000;

        if ((def->cputune.global_quota * 100) % period) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("a global quota of %lld in a period of %llu is not a whole percentage of a CPU, which 'cap' needs"),
                           def->cputune.global_quota, period);
            return -1;
        }
        if (xvXenSetULLong(w, "cap", def->cputune.global_quota * 100 / period) < 0)
            return -1;
    }
    if (def->cputune.period || def->cputune.quota || def->cputune.emulator_period ||
        def->cputune.emulator_quota || def->cputune.iothread_period ||
        def->cputune.iothread_quota || def->cputune.emulatorpin ||
        def->cputune.emulatorsched) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("only shares, global_period and global_quota of <cputune> can be expressed in a Xen configuration"));
        return -1;
    }
    return 0;
}

static int
xvXenFormatEvents(xvXenWriter *w, virDomainDef *def)
{
    const char *keys[] = { "on_poweroff", "on_reboot", "on_crash" };
    int actions[] = { def->onPoweroff, def->onReboot, def->onCrash };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(keys); i++) {
        const char *str = virDomainLifecycleActionTypeToString(actions[i]);

        if (!str) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("lifecycle action %d for '%s' cannot be expressed in a Xen configuration"),
                           actions[i], keys[i]);
            return -1;
        }
        if (xvXenSetString(w, keys[i], str) < 0)
            return -1;
    }
    if (def->onLockFailure) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("a lock failure action cannot be expressed in a Xen configuration"));
        return -1;
    }
    return 0;
}

static int
xvXenFormatClock(xvXenWriter *w, virDomainDef *def)
{
    size_t i;

    switch (def->clock.offset) {
    case VIR_DOMAIN_CLOCK_OFFSET_UTC:
        break;
    case VIR_DOMAIN_CLOCK_OFFSET_LOCALTIME:
        if (xvXenSetULLong(w, "localtime", 1) < 0)
            return -1;
        break;
    case VIR_DOMAIN_CLOCK_OFFSET_VARIABLE:
        if (def->clock.data.variable.basis == VIR_DOMAIN_CLOCK_BASIS_LOCALTIME &&
            xvXenSetULLong(w, "localtime", 1) < 0)
            return -1;
        if (xvXenSetLLong(w, "rtc_timeoffset", def->clock.data.variable.adjustment) < 0)
            return -1;
        break;
    default:
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("clock offset '%s' cannot be expressed in a Xen configuration"),
                       virDomainClockOffsetTypeToString(def->clock.offset));
        return -1;
    }

    for (i = 0; i < def->clock.ntimers; i++) {
        virDomainTimerDef *t = def->clock.timers[i];
        size_t j;

        if (t->name == VIR_DOMAIN_TIMER_NAME_PIT && t->tickpolicy &&
            t->present == VIR_TRISTATE_BOOL_ABSENT && !t->track && !t->frequency) {
            for (j = 0; j < G_N_ELEMENTS(xvXenTimerModes); j++) {
                if (xvXenTimerModes[j].value == (int) t->tickpolicy)
                    break;
            }
            if (j < G_N_ELEMENTS(xvXenTimerModes) &&
                t->catchup.threshold == 0 && t->catchup.slew == 0 &&
                t->catchup.limit == 0) {
                if (xvXenSetString(w, "timer_mode", xvXenTimerModes[j].name) < 0)
                    return -1;
                continue;
            }
        } else if (t->name == VIR_DOMAIN_TIMER_NAME_HPET &&
                   def->os.type == VIR_DOMAIN_OSTYPE_HVM && !t->tickpolicy &&
                   t->present != VIR_TRISTATE_BOOL_ABSENT) {
            if (xvXenSetULLong(w, "hpet", t->present == VIR_TRISTATE_BOOL_YES) < 0)
                return -1;
            continue;
        } else if (t->name == VIR_DOMAIN_TIMER_NAME_TSC && !t->tickpolicy &&
                   !t->frequency && t->present != VIR_TRISTATE_BOOL_NO) {
            for (j = 0; j < G_N_ELEMENTS(xvXenTscModes); j++) {
                if (xvXenTscModes[j].value == (int) t->mode)
                    break;
            }
            if (j < G_N_ELEMENTS(xvXenTscModes)) {
                if (xvXenSetString(w, "tsc_mode", xvXenTscModes[j].name) < 0)
                    return -1;
                continue;
            }
        }
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("timer '%s' with these settings cannot be expressed in a Xen configuration"),
                       virDomainTimerNameTypeToString(t->name));
        return -1;
    }
    return 0;
}

static int
xvXenFormatFeatures(xvXenWriter *w, virDomainDef *def)
{
    size_t i;

    if (def->os.type == VIR_DOMAIN_OSTYPE_HVM) {
        if (xvXenSetULLong(w, "pae", def->features[VIR_DOMAIN_FEATURE_PAE] == VIR_TRISTATE_SWITCH_ON) < 0 ||
            xvXenSetULLong(w, "acpi", def->features[VIR_DOMAIN_FEATURE_ACPI] == VIR_TRISTATE_SWITCH_ON) < 0 ||
            xvXenSetULLong(w, "apic", def->features[VIR_DOMAIN_FEATURE_APIC] == VIR_TRISTATE_SWITCH_ON) < 0)
            return -1;
        if (xvXenFormatBool(w, "hap", def->features[VIR_DOMAIN_FEATURE_HAP]) < 0)
            return -1;
        if (def->features[VIR_DOMAIN_FEATURE_VIRIDIAN] == VIR_TRISTATE_SWITCH_ON &&
            xvXenSetULLong(w, "viridian", 1) < 0)
            return -1;
    } else if (def->features[VIR_DOMAIN_FEATURE_PAE] == VIR_TRISTATE_SWITCH_ON) {
        if (xvXenSetULLong(w, "pae", 1) < 0)
            return -1;
    }

    for (i = 0; i < VIR_DOMAIN_FEATURE_LAST; i++) {
        switch ((virDomainFeature) i) {
        case VIR_DOMAIN_FEATURE_PAE:
        case VIR_DOMAIN_FEATURE_ACPI:
        case VIR_DOMAIN_FEATURE_APIC:
        case VIR_DOMAIN_FEATURE_HAP:
        case VIR_DOMAIN_FEATURE_VIRIDIAN:
            if (def->os.type == VIR_DOMAIN_OSTYPE_HVM || i == VIR_DOMAIN_FEATURE_PAE)
                continue;
            break;
        case VIR_DOMAIN_FEATURE_XEN:
            if (w->format == XV_XEN_FORMAT_XL)
                continue;
            break;
        default:
            break;
        }
        if (def->features[i] != VIR_TRISTATE_SWITCH_ABSENT &&
            !(def->features[i] == VIR_TRISTATE_SWITCH_OFF &&
              i != VIR_DOMAIN_FEATURE_HAP)) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("feature '%s' cannot be expressed in a Xen configuration for this guest"),
                           virDomainFeatureTypeToString(i));
            return -1;
        }
    }
    return 0;
}

int
xvXenFormatGeneral(xvXenWriter *w, virDomainDef *def)
{
    char uuid[VIR_UUID_STRING_BUFLEN];

    if (xvXenSetString(w, "name", def->name) < 0 ||
        xvXenSetString(w, "uuid", virUUIDFormat(def->uuid, uuid)) < 0)
        return -1;
    if (xvXenFormatOS(w, def) < 0 ||
        xvXenFormatMemory(w, def) < 0 ||
        xvXenFormatCPU(w, def) < 0 ||
        xvXenFormatEvents(w, def) < 0 ||
        xvXenFormatClock(w, def) < 0 ||
        xvXenFormatFeatures(w, def) < 0)
        return -1;
    if (def->emulator &&
        xvXenSetString(w, "device_model_override", def->emulator) < 0)
        return -1;
    return 0;
}
