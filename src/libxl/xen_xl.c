/*
 * xen_xl.c: xl.cfg(5) <-> domain XML ("xen-xl")
 *
 * The conversion runs in one order both ways: general settings
 * (xen_general.c) and devices (xen_common.c and one file per device kind),
 * both shared with xm, then what only xl.cfg has, which this file holds:
 * cpuid and nestedhvm, e820_host and passthrough, channels, PV USB.  A key
 * that no step read is refused at the end (xvXenParseFinish).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "libxl_conf.h"
#include "xen_common.h"
#include "xen_xl.h"

#include "cpu_conf.h"
#include "numa_conf.h"
#include "virconf.h"
#include "domain_postparse.h"
#include "domain_validate.h"
#include "viralloc.h"
#include "virerror.h"
#include "virlog.h"
#include "virstring.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.xen_xl");

/* ---------------------------------------------------------------------
 * cpuid = "host,FEATURE=0|1,..." and nestedhvm
 */

/* libxl's cpuid names where libvirt's (cpu_map) differ. */
static const struct {
    const char *xl;
    const char *libvirt;
} xvXLCPUIDNames[] = {
    { "cmpxchg16", "cx16" },
    { "cntxid", "cid" },
    { "dscpl", "ds_cpl" },
    { "pclmulqdq", "pclmuldq" },
    { "sse3", "pni" },
    { "htt", "ht" },
    { "psn", "pn" },
    { "clfsh", "clflush" },
    { "sysenter", "sep" },
    { "cmpxchg8", "cx8" },
    { "nodeid", "nodeid_msr" },
    { "altmovcr8", "cr8legacy" },
    { "lahfsahf", "lahf_lm" },
    { "cmplegacy", "cmp_legacy" },
    { "ffxsr", "fxsr_opt" },
    { "page1gb", "pdpe1gb" },
    { "ibrsb", "spec-ctrl" },
};

static const char *
xvXLCPUIDToLibvirt(const char *name)
{
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(xvXLCPUIDNames); i++) {
        if (STREQ(name, xvXLCPUIDNames[i].xl))
            return xvXLCPUIDNames[i].libvirt;
    }
    return name;
}

const char *
xvXLCPUIDFromLibvirt(const char *name)
{
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(xvXLCPUIDNames); i++) {
        if (STREQ(name, xvXLCPUIDNames[i].libvirt))
            return xvXLCPUIDNames[i].xl;
    }
    return name;
}

static virCPUDef *
xvXLHostPassthrough(virDomainDef *def)
{
    if (!def->cpu) {
        def->cpu = virCPUDefNew();
        def->cpu->mode = VIR_CPU_MODE_HOST_PASSTHROUGH;
        def->cpu->type = VIR_CPU_TYPE_GUEST;
    }
    return def->cpu;
}

static bool
xvXLIsNestedFeature(const char *name)
{
    return STREQ(name, "vmx") || STREQ(name, "svm");
}

static int
xvXLParseCPUID(xvXenParser *p, virDomainDef *def)
{
    const char *cpuid = NULL;
    g_auto(GStrv) parts = NULL;
    bool nested = false;
    size_t i;
    int rc;

    if (virConfGetValueType(p->conf, "cpuid") == VIR_CONF_LIST) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: the xend form of 'cpuid' (a list of register masks) cannot be expressed in a domain XML, use \"host,FEATURE=0|1\""),
                       xvXenLine(p, "cpuid"));
        return -1;
    }
    if ((rc = xvXenGetString(p, "cpuid", &cpuid)) < 0)
        return -1;
    if (rc == 1) {
        parts = g_strsplit(cpuid, ",", 0);
        if (STRNEQ(parts[0], "host")) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: 'cpuid' value '%s' must start with 'host'"),
                           xvXenLine(p, "cpuid"), cpuid);
            return -1;
        }
        xvXLHostPassthrough(def);
        for (i = 1; parts[i]; i++) {
            char *eq = strchr(parts[i], '=');
            const char *name;
            int policy;

            /* 0 and 1 set the bit, x leaves it to the host (libvirt's
             * policy 'optional'); k and s (keep, same across migration)
             * have no domain XML spelling. */
            if (!eq || eq == parts[i] ||
                (STRNEQ(eq, "=0") && STRNEQ(eq, "=1") && STRNEQ(eq, "=x"))) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: 'cpuid' setting '%s' is not supported, expected FEATURE=0, FEATURE=1 or FEATURE=x"),
                               xvXenLine(p, "cpuid"), parts[i]);
                return -1;
            }
            policy = eq[1] == '1' ? VIR_CPU_FEATURE_FORCE
                     : eq[1] == 'x' ? VIR_CPU_FEATURE_OPTIONAL
                     : VIR_CPU_FEATURE_DISABLE;
            *eq = '\0';
            if (strspn(parts[i], "abcdefghijklmnopqrstuvwxyz0123456789_.-") != strlen(parts[i])) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: 'cpuid' feature name '%s' is not valid"),
                               xvXenLine(p, "cpuid"), parts[i]);
                return -1;
            }
            name = xvXLCPUIDToLibvirt(parts[i]);
            if (xvXLIsNestedFeature(name)) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: 'cpuid' setting '%s' is not supported, use 'nestedhvm'"),
                               xvXenLine(p, "cpuid"), parts[i]);
                return -1;
            }
            if (virCPUDefAddFeature(def->cpu, name, policy) < 0) {
                virResetLastError();
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: 'cpuid' names feature '%s' twice"),
                               xvXenLine(p, "cpuid"), parts[i]);
                return -1;
            }
        }
    }

    if (def->os.type == VIR_DOMAIN_OSTYPE_HVM) {
        if ((rc = xvXenGetBool(p, "nestedhvm", &nested)) < 0)
            return -1;
        if (rc == 1 &&
            virCPUDefAddFeature(xvXLHostPassthrough(def), "vmx",
                                nested ? VIR_CPU_FEATURE_REQUIRE
                                       : VIR_CPU_FEATURE_DISABLE) < 0)
            return -1;
    }
    return 0;
}

static int
xvXLFormatCPU(xvXenWriter *w, virDomainDef *def)
{
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    virCPUDef *cpu = def->cpu;
    int nested = -1;
    size_t i;

    if (!cpu)
        return 0;
    /* A CPU that only holds the NUMA cells ("vnuma", below). */
    if (cpu->mode == VIR_CPU_MODE_CUSTOM && !cpu->model && !cpu->nfeatures &&
        !cpu->sockets && !cpu->cores && !cpu->threads && !cpu->cache &&
        !cpu->addr && virDomainNumaGetNodeCount(def->numa) > 0)
        return 0;
    if (cpu->mode != VIR_CPU_MODE_HOST_PASSTHROUGH || cpu->model ||
        cpu->sockets || cpu->cores || cpu->threads || cpu->cache || cpu->addr) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("only a host-passthrough CPU with features can be expressed in a Xen configuration"));
        return -1;
    }
    virBufferAddLit(&buf, "host");
    for (i = 0; i < cpu->nfeatures; i++) {
        virCPUFeatureDef *f = &cpu->features[i];

        if (xvXLIsNestedFeature(f->name) && def->os.type == VIR_DOMAIN_OSTYPE_HVM &&
            (f->policy == VIR_CPU_FEATURE_REQUIRE || f->policy == VIR_CPU_FEATURE_FORCE ||
             f->policy == VIR_CPU_FEATURE_DISABLE || f->policy == VIR_CPU_FEATURE_FORBID)) {
            nested = f->policy != VIR_CPU_FEATURE_DISABLE && f->policy != VIR_CPU_FEATURE_FORBID;
            continue;
        }
        if (f->policy == VIR_CPU_FEATURE_FORCE || f->policy == VIR_CPU_FEATURE_REQUIRE) {
            virBufferAsprintf(&buf, ",%s=1", xvXLCPUIDFromLibvirt(f->name));
        } else if (f->policy == VIR_CPU_FEATURE_DISABLE ||
                   f->policy == VIR_CPU_FEATURE_FORBID) {
            virBufferAsprintf(&buf, ",%s=0", xvXLCPUIDFromLibvirt(f->name));
        } else {
            virBufferAsprintf(&buf, ",%s=x", xvXLCPUIDFromLibvirt(f->name));
        }
    }
    /* A host-passthrough CPU is cpuid "host"; one that only says
     * nestedhvm is written as nestedhvm alone. */
    if ((STRNEQ(virBufferCurrentContent(&buf), "host") || nested == -1) &&
        xvXenSetString(w, "cpuid", virBufferCurrentContent(&buf)) < 0)
        return -1;
    if (nested != -1 && xvXenSetULLong(w, "nestedhvm", nested) < 0)
        return -1;
    return 0;
}

/* ---------------------------------------------------------------------
 * e820_host, passthrough
 */

static int
xvXLParseXenFeatures(xvXenParser *p, virDomainDef *def)
{
    const char *pt = NULL;
    bool e820 = false;
    int rc;

    if (def->os.type == VIR_DOMAIN_OSTYPE_XEN) {
        if ((rc = xvXenGetBool(p, "e820_host", &e820)) < 0)
            return -1;
        if (rc == 1) {
            def->features[VIR_DOMAIN_FEATURE_XEN] = VIR_TRISTATE_SWITCH_ON;
            def->xen_features[VIR_DOMAIN_XEN_E820_HOST] =
                e820 ? VIR_TRISTATE_SWITCH_ON : VIR_TRISTATE_SWITCH_OFF;
        }
    }
    if ((rc = xvXenGetString(p, "passthrough", &pt)) < 0)
        return -1;
    if (rc == 1) {
        virTristateSwitch sw = VIR_TRISTATE_SWITCH_ON;
        virDomainXenPassthroughMode mode = VIR_DOMAIN_XEN_PASSTHROUGH_MODE_DEFAULT;

        if (STREQ(pt, "disabled"))
            sw = VIR_TRISTATE_SWITCH_OFF;
        else if (STREQ(pt, "sync_pt"))
            mode = VIR_DOMAIN_XEN_PASSTHROUGH_MODE_SYNC_PT;
        else if (STREQ(pt, "share_pt"))
            mode = VIR_DOMAIN_XEN_PASSTHROUGH_MODE_SHARE_PT;
        else if (STRNEQ(pt, "enabled")) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: unknown 'passthrough' value '%s'"),
                           xvXenLine(p, "passthrough"), pt);
            return -1;
        }
        def->features[VIR_DOMAIN_FEATURE_XEN] = VIR_TRISTATE_SWITCH_ON;
        def->xen_features[VIR_DOMAIN_XEN_PASSTHROUGH] = sw;
        def->xen_passthrough_mode = mode;
    }
    return 0;
}

static int
xvXLFormatXenFeatures(xvXenWriter *w, virDomainDef *def)
{
    int e820 = def->xen_features[VIR_DOMAIN_XEN_E820_HOST];
    int pt = def->xen_features[VIR_DOMAIN_XEN_PASSTHROUGH];

    if (def->features[VIR_DOMAIN_FEATURE_XEN] != VIR_TRISTATE_SWITCH_ON)
        return 0;
    if (e820 != VIR_TRISTATE_SWITCH_ABSENT) {
        if (def->os.type != VIR_DOMAIN_OSTYPE_XEN) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("the e820_host feature is only valid for PV guests"));
            return -1;
        }
        if (xvXenSetULLong(w, "e820_host", e820 == VIR_TRISTATE_SWITCH_ON) < 0)
            return -1;
    }
    if (pt != VIR_TRISTATE_SWITCH_ABSENT) {
        const char *str = "enabled";

        if (pt == VIR_TRISTATE_SWITCH_OFF)
            str = "disabled";
        else if (def->xen_passthrough_mode == VIR_DOMAIN_XEN_PASSTHROUGH_MODE_SYNC_PT)
            str = "sync_pt";
        else if (def->xen_passthrough_mode == VIR_DOMAIN_XEN_PASSTHROUGH_MODE_SHARE_PT)
            str = "share_pt";
        if (xvXenSetString(w, "passthrough", str) < 0)
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * channel = [ "name=NAME,connection=pty|socket[,path=PATH]" ]
 */

static int
xvXLParseChannels(xvXenParser *p, virDomainDef *def)
{
    g_auto(GStrv) list = NULL;
    size_t i;
    int rc;

    if ((rc = xvXenGetStringList(p, "channel", false, &list)) <= 0)
        return rc;
    for (i = 0; list[i]; i++) {
        g_autoptr(GPtrArray) items = xvXenSpecSplit(list[i], false);
        g_autoptr(virDomainChrDef) chr = virDomainChrDefNew(p->xmlopt);
        unsigned int line = xvXenLineOf(p, "channel", list[i]);
        const char *name = NULL;
        const char *connection = NULL;
        const char *path = NULL;
        size_t j;

        if (!chr)
            return -1;
        for (j = 0; j < items->len; j++) {
            xvXenSpecItem *item = g_ptr_array_index(items, j);

            if (item->key && STREQ(item->key, "name")) {
                name = item->value;
            } else if (item->key && STREQ(item->key, "connection")) {
                connection = item->value;
            } else if (item->key && STREQ(item->key, "path")) {
                path = item->value;
            } else {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: channel spec '%s': '%s' is not supported"),
                               line, list[i], item->key ? item->key : item->value);
                return -1;
            }
        }
        if (!name || !*name || !connection) {
            virReportError(VIR_ERR_CONF_SYNTAX,
                           _("line %u: channel spec '%s' needs a name and a connection"),
                           line, list[i]);
            return -1;
        }
        if (STREQ(connection, "pty") && !path) {
            chr->source->type = VIR_DOMAIN_CHR_TYPE_PTY;
        } else if (STREQ(connection, "socket") && path && *path) {
            chr->source->type = VIR_DOMAIN_CHR_TYPE_UNIX;
            chr->source->data.nix.path = g_strdup(path);
            chr->source->data.nix.listen = true;
        } else {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: channel spec '%s': expected 'connection=pty' or 'connection=socket' with a path"),
                           line, list[i]);
            return -1;
        }
        chr->deviceType = VIR_DOMAIN_CHR_DEVICE_TYPE_CHANNEL;
        chr->targetType = VIR_DOMAIN_CHR_CHANNEL_TARGET_TYPE_XEN;
        chr->target.name = g_strdup(name);
        VIR_APPEND_ELEMENT(def->channels, def->nchannels, chr);
    }
    return 0;
}

static int
xvXLFormatChannels(xvXenWriter *w, virDomainDef *def)
{
    g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(g_free);
    size_t i;

    for (i = 0; i < def->nchannels; i++) {
        virDomainChrDef *chr = def->channels[i];

        if (chr->targetType != VIR_DOMAIN_CHR_CHANNEL_TARGET_TYPE_XEN ||
            !chr->target.name) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("only named channels with target type 'xen' can be expressed in a Xen configuration"));
            return -1;
        }
        if (chr->source->type == VIR_DOMAIN_CHR_TYPE_PTY) {
            g_ptr_array_add(list, g_strdup_printf("name=%s,connection=pty",
                                                  chr->target.name));
        } else if (chr->source->type == VIR_DOMAIN_CHR_TYPE_UNIX &&
                   chr->source->data.nix.listen && chr->source->data.nix.path) {
            g_ptr_array_add(list, g_strdup_printf("name=%s,connection=socket,path=%s",
                                                  chr->target.name,
                                                  chr->source->data.nix.path));
        } else {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("channel '%s': only pty and listening unix sources can be expressed in a Xen configuration"),
                           chr->target.name);
            return -1;
        }
    }
    return xvXenSetStringList(w, "channel", list);
}

/* ---------------------------------------------------------------------
 * PV USB: usbctrl = [ "version=1|2,ports=N" ], usbdev = [ "hostbus=B,hostaddr=A" ]
 */

/* One usbctrl spec: "version=1|2,ports=N[,type=qusb]". */
static int
xvXLParseUSBCtrl(xvXenParser *p, virDomainDef *def, const char *spec)
{
    g_autoptr(GPtrArray) items = xvXenSpecSplit(spec, false);
    unsigned int line = xvXenLineOf(p, "usbctrl", spec);
    unsigned int version = 2;
    unsigned int ports = 8;
    virDomainControllerDef *ctrl;
    size_t j;

    for (j = 0; j < items->len; j++) {
        xvXenSpecItem *item = g_ptr_array_index(items, j);
        unsigned int *target = NULL;

        if (item->key && STREQ(item->key, "version"))
            target = &version;
        else if (item->key && STREQ(item->key, "ports"))
            target = &ports;
        else if (item->key && STREQ(item->key, "type") && STREQ(item->value, "qusb"))
            continue;
        if (!target || virStrToLong_uip(item->value, NULL, 10, target) < 0) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: usbctrl spec '%s': '%s' is not supported"),
                           line, spec, item->key ? item->key : item->value);
            return -1;
        }
    }
    if ((version != 1 && version != 2) || ports < 1 || ports > 31) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: usbctrl spec '%s': version %u with %u ports is not supported"),
                       line, spec, version, ports);
        return -1;
    }
    if (!(ctrl = virDomainDefAddController(def, VIR_DOMAIN_CONTROLLER_TYPE_USB, -1,
                                           version == 1 ? VIR_DOMAIN_CONTROLLER_MODEL_USB_QUSB1
                                                        : VIR_DOMAIN_CONTROLLER_MODEL_USB_QUSB2)))
        return -1;
    ctrl->opts.usbopts.ports = ports;
    return 0;
}

/* One usbdev spec: "hostbus=B,hostaddr=A[,type=hostdev]". */
static int
xvXLParseUSBDev(xvXenParser *p, virDomainDef *def, const char *spec)
{
    g_autoptr(GPtrArray) items = xvXenSpecSplit(spec, false);
    unsigned int line = xvXenLineOf(p, "usbdev", spec);
    g_autoptr(virDomainHostdevDef) hostdev = virDomainHostdevDefNew();
    int bus = -1;
    int addr = -1;
    size_t j;

    if (!hostdev)
        return -1;
    for (j = 0; j < items->len; j++) {
        xvXenSpecItem *item = g_ptr_array_index(items, j);
        int *target = NULL;
        unsigned int v;

        if (item->key && STREQ(item->key, "hostbus"))
            target = &bus;
        else if (item->key && STREQ(item->key, "hostaddr"))
            target = &addr;
        else if (item->key && STREQ(item->key, "type") && STREQ(item->value, "hostdev"))
            continue;
        if (!target || virStrToLong_uip(item->value, NULL, 0, &v) < 0 || v > 0xffff) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: usbdev spec '%s': '%s' is not supported"),
                           line, spec, item->key ? item->key : item->value);
            return -1;
        }
        *target = v;
    }
    if (bus <= 0 || addr <= 0) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: usbdev spec '%s' needs a hostbus and a hostaddr above 0"),
                       line, spec);
        return -1;
    }
    hostdev->mode = VIR_DOMAIN_HOSTDEV_MODE_SUBSYS;
    hostdev->source.subsys.type = VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_USB;
    hostdev->source.subsys.u.usb.bus = bus;
    hostdev->source.subsys.u.usb.device = addr;
    VIR_APPEND_ELEMENT(def->hostdevs, def->nhostdevs, hostdev);
    return 0;
}

static int
xvXLParseUSB(xvXenParser *p, virDomainDef *def)
{
    g_auto(GStrv) ctrls = NULL;
    g_auto(GStrv) devs = NULL;
    size_t i;
    int rc;

    if ((rc = xvXenGetStringList(p, "usbctrl", false, &ctrls)) < 0)
        return -1;
    for (i = 0; rc == 1 && ctrls[i]; i++) {
        if (xvXLParseUSBCtrl(p, def, ctrls[i]) < 0)
            return -1;
    }

    if ((rc = xvXenGetStringList(p, "usbdev", false, &devs)) <= 0)
        return rc;
    for (i = 0; devs[i]; i++) {
        if (xvXLParseUSBDev(p, def, devs[i]) < 0)
            return -1;
    }
    return 0;
}

static int
xvXLFormatUSB(xvXenWriter *w, virDomainDef *def)
{
    g_autoptr(GPtrArray) ctrls = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) devs = g_ptr_array_new_with_free_func(g_free);
    size_t i;

    for (i = 0; i < def->ncontrollers; i++) {
        virDomainControllerDef *c = def->controllers[i];

        if (c->type != VIR_DOMAIN_CONTROLLER_TYPE_USB ||
            (c->model != VIR_DOMAIN_CONTROLLER_MODEL_USB_QUSB1 &&
             c->model != VIR_DOMAIN_CONTROLLER_MODEL_USB_QUSB2))
            continue;
        g_ptr_array_add(ctrls, g_strdup_printf("version=%d,ports=%d",
                                               c->model == VIR_DOMAIN_CONTROLLER_MODEL_USB_QUSB1 ? 1 : 2,
                                               c->opts.usbopts.ports > 0 ? c->opts.usbopts.ports : 8));
    }
    if (def->os.type != VIR_DOMAIN_OSTYPE_HVM) {
        for (i = 0; i < def->nhostdevs; i++) {
            virDomainHostdevDef *h = def->hostdevs[i];

            if (h->mode != VIR_DOMAIN_HOSTDEV_MODE_SUBSYS ||
                h->source.subsys.type != VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_USB)
                continue;
            if (h->source.subsys.u.usb.vendor || h->source.subsys.u.usb.product) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                               _("a PV guest's USB host device must be given by bus and device, not vendor and product, in a Xen configuration"));
                return -1;
            }
            g_ptr_array_add(devs, g_strdup_printf("hostbus=%u,hostaddr=%u",
                                                  h->source.subsys.u.usb.bus,
                                                  h->source.subsys.u.usb.device));
        }
    }
    if (xvXenSetStringList(w, "usbctrl", ctrls) < 0 ||
        xvXenSetStringList(w, "usbdev", devs) < 0)
        return -1;
    return 0;
}

/* ---------------------------------------------------------------------
 * Both formats: the whole conversion
 */

/* ---------------------------------------------------------------------
 * max_grant_frames, max_event_channels: the <xenbus> controller's limits
 */

static int
xvXLParseXenbusLimits(xvXenParser *p, virDomainDef *def)
{
    unsigned long long frames = 0, channels = 0;
    virDomainControllerDef *xenbus;
    int idx;

    if (xvXenGetULLong(p, "max_grant_frames", &frames) < 0 ||
        xvXenGetULLong(p, "max_event_channels", &channels) < 0)
        return -1;
    if (!frames && !channels)
        return 0;
    if (frames > INT_MAX || channels > INT_MAX) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: grant frame or event channel limit is too large"),
                       xvXenLine(p, frames > INT_MAX ? "max_grant_frames" : "max_event_channels"));
        return -1;
    }
    if ((idx = virDomainControllerFindByType(def, VIR_DOMAIN_CONTROLLER_TYPE_XENBUS)) >= 0) {
        xenbus = def->controllers[idx];
    } else if (!(xenbus = virDomainDefAddController(def, VIR_DOMAIN_CONTROLLER_TYPE_XENBUS,
                                                     -1, -1))) {
        return -1;
    }
    xenbus->opts.xenbusopts.maxGrantFrames = frames;
    xenbus->opts.xenbusopts.maxEventChannels = channels;
    return 0;
}

static int
xvXLFormatXenbusLimits(xvXenWriter *w, virDomainDef *def)
{
    size_t i;

    for (i = 0; i < def->ncontrollers; i++) {
        virDomainControllerDef *c = def->controllers[i];

        if (c->type != VIR_DOMAIN_CONTROLLER_TYPE_XENBUS)
            continue;
        if (c->opts.xenbusopts.maxGrantFrames > 0 &&
            xvXenSetULLong(w, "max_grant_frames", c->opts.xenbusopts.maxGrantFrames) < 0)
            return -1;
        if (c->opts.xenbusopts.maxEventChannels > 0 &&
            xvXenSetULLong(w, "max_event_channels", c->opts.xenbusopts.maxEventChannels) < 0)
            return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * vnuma = [ [ "pnode=N", "size=MiB", "vcpus=LIST", "vdistances=D,D..." ], ... ]
 * as <cpu><numa><cell>
 */

static int
xvXLParseVnumaNode(xvXenParser *p, virDomainDef *def, size_t i, size_t n,
                   virConfValue *node)
{
    virDomainNuma *numa = def->numa;
    unsigned int line = xvXenLine(p, "vnuma");
    g_autoptr(virBitmap) cpus = NULL;
    g_auto(GStrv) dists = NULL;
    unsigned long long size = 0;
    bool pnode = false;
    virConfValue *item;
    size_t j;

    if (node->type != VIR_CONF_LIST)
        goto malformed;
    for (item = node->list; item; item = item->next) {
        const char *eq = item->type == VIR_CONF_STRING && item->str
                         ? strchr(item->str, '=') : NULL;
        const char *v = eq ? eq + 1 : NULL;
        unsigned int u;

        if (!eq)
            goto malformed;
        if (STRPREFIX(item->str, "pnode=")) {
            /* The driver backs vnode i with host node i. */
            if (virStrToLong_uip(v, NULL, 10, &u) < 0 || u != i) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: vnuma node %zu: 'pnode=%s' cannot be expressed in a domain XML, only pnode=%zu"),
                               line, i, v, i);
                return -1;
            }
            pnode = true;
        } else if (STRPREFIX(item->str, "size=")) {
            if (virStrToLong_ullp(v, NULL, 10, &size) < 0 || size == 0 ||
                size > 16ULL * 1024 * 1024)
                goto malformed;
        } else if (STRPREFIX(item->str, "vcpus=")) {
            if (virBitmapParse(v, &cpus, VIR_DOMAIN_CPUMASK_LEN) < 0) {
                virResetLastError();
                goto malformed;
            }
        } else if (STRPREFIX(item->str, "vdistances=")) {
            dists = g_strsplit(v, ",", 0);
        } else {
            goto malformed;
        }
    }
    if (!pnode || !size || !cpus || !dists || g_strv_length(dists) != n)
        goto malformed;

    virDomainNumaSetNodeMemorySize(numa, i, size * 1024);
    virDomainNumaSetNodeCpumask(numa, i, g_steal_pointer(&cpus));
    if (virDomainNumaSetNodeDistanceCount(numa, i, n) != n)
        return -1;
    for (j = 0; j < n; j++) {
        unsigned int d;

        if (virStrToLong_uip(dists[j], NULL, 10, &d) < 0 || d < 10 || d > 255 ||
            virDomainNumaSetNodeDistance(numa, i, j, d) < 0) {
            virResetLastError();
            goto malformed;
        }
    }
    return 0;

 malformed:
    virReportError(VIR_ERR_CONF_SYNTAX,
                   _("line %u: vnuma node %zu is malformed, expected [ \"pnode=N\", \"size=MiB\", \"vcpus=LIST\", \"vdistances=D,...\" ] with one distance per node"),
                   line, i);
    return -1;
}

static int
xvXLParseVnuma(xvXenParser *p, virDomainDef *def)
{
    virConfValue *list = virConfGetValue(p->conf, "vnuma");
    virConfValue *node;
    size_t i, n = 0;

    if (!list)
        return 0;
    g_hash_table_add(p->used, g_strdup("vnuma"));
    if (list->type != VIR_CONF_LIST || !list->list) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: 'vnuma' must be a list of node lists"),
                       xvXenLine(p, "vnuma"));
        return -1;
    }
    for (node = list->list; node; node = node->next)
        n++;
    if (n > 64) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: more than 64 vnuma nodes"), xvXenLine(p, "vnuma"));
        return -1;
    }
    if (!def->cpu) {
        def->cpu = virCPUDefNew();
        def->cpu->type = VIR_CPU_TYPE_GUEST;
    }
    if (virDomainNumaSetNodeCount(def->numa, n) != n)
        return -1;
    for (i = 0, node = list->list; node; i++, node = node->next) {
        if (xvXLParseVnumaNode(p, def, i, n, node) < 0)
            return -1;
    }
    return 0;
}

static int
xvXLFormatVnuma(xvXenWriter *w, virDomainDef *def)
{
    size_t n = virDomainNumaGetNodeCount(def->numa);
    virConfValue *list;
    virConfValue **tail;
    size_t i, j;

    if (n == 0)
        return 0;
    list = g_new0(virConfValue, 1);
    list->type = VIR_CONF_LIST;
    tail = &list->list;
    for (i = 0; i < n; i++) {
        virBitmap *cpus = virDomainNumaGetNodeCpumask(def->numa, i);
        unsigned long long kib = virDomainNumaGetNodeMemorySize(def->numa, i);
        g_autoptr(GString) dist = g_string_new(NULL);
        g_autofree char *cpustr = cpus ? virBitmapFormat(cpus) : NULL;
        char *items[4];
        virConfValue *node = g_new0(virConfValue, 1);
        virConfValue **itail = &node->list;

        node->type = VIR_CONF_LIST;
        *tail = node;
        tail = &node->next;
        if (!cpustr || kib % 1024) {
            virConfFreeValue(list);
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("NUMA cell %zu needs cpus and a memory size of whole MiB in a Xen configuration"),
                           i);
            return -1;
        }
        for (j = 0; j < n; j++)
            g_string_append_printf(dist, "%s%zu", j ? "," : "",
                                   virDomainNumaGetNodeDistance(def->numa, i, j));
        items[0] = g_strdup_printf("pnode=%zu", i);
        items[1] = g_strdup_printf("size=%llu", kib / 1024);
        items[2] = g_strdup_printf("vcpus=%s", cpustr);
        items[3] = g_strdup_printf("vdistances=%s", dist->str);
        for (j = 0; j < G_N_ELEMENTS(items); j++) {
            virConfValue *v = g_new0(virConfValue, 1);

            v->type = VIR_CONF_STRING;
            v->str = items[j];
            *itail = v;
            itail = &v->next;
        }
    }
    return virConfSetValue(w->conf, "vnuma", &list);
}

/* ---------------------------------------------------------------------
 * device_model_args: <xen:commandline> (libvirt's Xen namespace)
 */

static int
xvXLParseDMArgs(xvXenParser *p, virDomainDef *def)
{
    g_auto(GStrv) args = NULL;
    xvDomainXmlNsDef *ns;

    if (xvXenGetStringList(p, "device_model_args", false, &args) < 0)
        return -1;
    if (!args || !args[0])
        return 0;
    ns = g_new0(xvDomainXmlNsDef, 1);
    ns->args = g_steal_pointer(&args);
    def->ns = *virDomainXMLOptionGetNamespace(p->xmlopt);
    def->namespaceData = ns;
    return 0;
}

static int
xvXLFormatDMArgs(xvXenWriter *w, virDomainDef *def)
{
    xvDomainXmlNsDef *ns = def->namespaceData;
    g_autoptr(GPtrArray) list = NULL;
    size_t i;

    if (!ns || !ns->args || !ns->args[0])
        return 0;
    list = g_ptr_array_new_with_free_func(g_free);
    for (i = 0; ns->args[i]; i++)
        g_ptr_array_add(list, g_strdup(ns->args[i]));
    return xvXenSetStringList(w, "device_model_args", list);
}

/*
 * xl's parser takes a comment wherever a blank may be, inside a list too;
 * virConf only at the end of a statement.  Drop comments outside quotes,
 * keeping the newlines so that lines keep their numbers.
 */
static char *
xvXenStripComments(const char *text)
{
    g_autofree char *out = g_new0(char, strlen(text) + 1);
    const char *in = text;
    char *o = out;
    char quote = '\0';

    while (*in) {
        if (!quote && STRPREFIX(in, "\"\"\"")) {
            const char *end = strstr(in + 3, "\"\"\"");
            size_t len = end ? (size_t) (end + 3 - in) : strlen(in);

            memcpy(o, in, len);
            o += len;
            in += len;
            continue;
        }
        if (quote) {
            if (*in == quote || *in == '\n')
                quote = '\0';
        } else if (*in == '"' || *in == '\'') {
            quote = *in;
        } else if (*in == '#') {
            while (*in && *in != '\n')
                in++;
            continue;
        }
        *o++ = *in++;
    }
    return g_steal_pointer(&out);
}

virDomainDef *
xvXenConfigParse(const char *text, xvXenFormat format, virCaps *caps,
                 virDomainXMLOption *xmlopt)
{
    g_autoptr(virConf) conf = NULL;
    g_autoptr(virDomainDef) def = NULL;
    g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                       g_free, NULL);
    xvXenParser p = { .text = text, .format = format, .xmlopt = xmlopt,
                      .used = used };

    g_autofree char *stripped = xvXenStripComments(text);

    if (!(conf = virConfReadString(stripped, 0)))
        return NULL;
    p.conf = conf;
    p.text = stripped;
    if (!(def = virDomainDefNew(xmlopt)))
        return NULL;

    if (xvXenParseGeneral(&p, def, caps) < 0 ||
        xvXenParseDevices(&p, def) < 0)
        return NULL;
    if (format == XV_XEN_FORMAT_XL &&
        (xvXLParseCPUID(&p, def) < 0 ||
         xvXLParseXenFeatures(&p, def) < 0 ||
         xvXLParseChannels(&p, def) < 0 ||
         xvXLParseUSB(&p, def) < 0 ||
         xvXLParseXenbusLimits(&p, def) < 0 ||
         xvXLParseVnuma(&p, def) < 0 ||
         xvXLParseDMArgs(&p, def) < 0))
        return NULL;
    if (xvXenParseFinish(&p, def) < 0)
        return NULL;

    if (virDomainDefPostParse(def, VIR_DOMAIN_DEF_PARSE_INACTIVE, xmlopt, NULL) < 0 ||
        virDomainDefValidate(def, VIR_DOMAIN_DEF_PARSE_INACTIVE, xmlopt, NULL) < 0)
        return NULL;
    return g_steal_pointer(&def);
}

char *
xvXenConfigFormat(virDomainDef *def, xvXenFormat format)
{
    g_autoptr(virConf) conf = virConfNew();
    xvXenWriter w = { .conf = conf, .format = format };
    size_t i;

    for (i = 0; i < def->nhostdevs; i++) {
        virDomainHostdevDef *h = def->hostdevs[i];

        if (h->mode != VIR_DOMAIN_HOSTDEV_MODE_SUBSYS ||
            (h->source.subsys.type != VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_PCI &&
             h->source.subsys.type != VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_USB)) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("only PCI and USB host devices can be expressed in a Xen configuration"));
            return NULL;
        }
    }
    if (format == XV_XEN_FORMAT_XM &&
        (def->cpu || def->nchannels ||
         def->features[VIR_DOMAIN_FEATURE_XEN] == VIR_TRISTATE_SWITCH_ON)) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("CPU settings, channels and Xen features cannot be expressed in the xen-xm format"));
        return NULL;
    }

    if (xvXenFormatGeneral(&w, def) < 0 ||
        xvXenFormatDevices(&w, def) < 0)
        return NULL;
    if (format == XV_XEN_FORMAT_XL &&
        (xvXLFormatCPU(&w, def) < 0 ||
         xvXLFormatXenFeatures(&w, def) < 0 ||
         xvXLFormatChannels(&w, def) < 0 ||
         xvXLFormatUSB(&w, def) < 0 ||
         xvXLFormatXenbusLimits(&w, def) < 0 ||
         xvXLFormatVnuma(&w, def) < 0 ||
         xvXLFormatDMArgs(&w, def) < 0))
        return NULL;
    return xvXenWriterToString(&w);
}

virDomainDef *
xvXLConfigParse(const char *text, virCaps *caps, virDomainXMLOption *xmlopt)
{
    return xvXenConfigParse(text, XV_XEN_FORMAT_XL, caps, xmlopt);
}

char *
xvXLConfigFormat(virDomainDef *def)
{
    return xvXenConfigFormat(def, XV_XEN_FORMAT_XL);
}
