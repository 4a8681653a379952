/*
 * xen_chr.c: character devices: qemu's legacy chardev syntax in
 * the HVM "serial" key, read and written, and the consoles and parallel
 * ports a Xen configuration cannot say, refused
 *
 * The PV console is implicit and has no key; channels are xl-only and are
 * in xen_xl.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "xen_common_priv.h"

#include "viralloc.h"
#include "virerror.h"
#include "virlog.h"
#include "virstring.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.xen_chr");

/* ---------------------------------------------------------------------
 * Character devices: qemu's legacy chardev syntax in 'serial'
 */

/* udp:[HOST]:PORT[@[BINDHOST]:BINDPORT], @spec past the "udp:". */
static bool
xvXenParseChrUDP(virDomainChrSourceDef *src, const char *spec)
{
    g_autofree char *copy = g_strdup(spec);
    char *at = strchr(copy, '@');
    char *colon;

    if (at)
        *at++ = '\0';
    if (!(colon = strrchr(copy, ':')) || !colon[1])
        return false;
    *colon = '\0';
    src->type = VIR_DOMAIN_CHR_TYPE_UDP;
    src->data.udp.connectHost = *copy ? g_strdup(copy) : NULL;
    src->data.udp.connectService = g_strdup(colon + 1);
    if (at) {
        if (!(colon = strrchr(at, ':')) || !colon[1])
            return false;
        *colon = '\0';
        src->data.udp.bindHost = *at ? g_strdup(at) : NULL;
        src->data.udp.bindService = g_strdup(colon + 1);
    }
    return true;
}

/* tcp:[HOST]:PORT, telnet:[HOST]:PORT or unix:PATH, each with the
 * options server and nowait (in qemu's old and new spellings). */
static bool
xvXenParseChrSocket(virDomainChrSourceDef *src, const char *value)
{
    bool tcp = !STRPREFIX(value, "unix:");
    bool telnet = STRPREFIX(value, "telnet:");
    g_auto(GStrv) opts = g_strsplit(strchr(value, ':') + 1, ",", 0);
    bool listen = false;
    size_t i;

    if (!opts[0])
        return false;   /* "tcp:" or "unix:" and nothing more */
    for (i = 1; opts[i]; i++) {
        if (STREQ(opts[i], "server") || STREQ(opts[i], "server=on"))
            listen = true;
        else if (STRNEQ(opts[i], "nowait") && STRNEQ(opts[i], "wait=off") &&
                 STRNEQ(opts[i], "server=off"))
            return false;
    }
    if (tcp) {
        char *colon = strrchr(opts[0], ':');

        if (!colon || !colon[1])
            return false;
        src->type = VIR_DOMAIN_CHR_TYPE_TCP;
        src->data.tcp.host = colon == opts[0] ? NULL : g_strndup(opts[0], colon - opts[0]);
        src->data.tcp.service = g_strdup(colon + 1);
        src->data.tcp.listen = listen;
        src->data.tcp.protocol = telnet ? VIR_DOMAIN_CHR_TCP_PROTOCOL_TELNET
                                        : VIR_DOMAIN_CHR_TCP_PROTOCOL_RAW;
    } else {
        if (!*opts[0])
            return false;
        src->type = VIR_DOMAIN_CHR_TYPE_UNIX;
        src->data.nix.path = g_strdup(opts[0]);
        src->data.nix.listen = listen;
    }
    return true;
}

static virDomainChrDef *
xvXenParseChr(xvXenParser *p, const char *key, const char *value)
{
    g_autoptr(virDomainChrDef) chr = virDomainChrDefNew(p->xmlopt);
    virDomainChrSourceDef *src;
    bool ok = true;

    if (!chr)
        return NULL;
    src = chr->source;

    if (STREQ(value, "pty")) {
        src->type = VIR_DOMAIN_CHR_TYPE_PTY;
    } else if (STREQ(value, "null")) {
        src->type = VIR_DOMAIN_CHR_TYPE_NULL;
    } else if (STREQ(value, "vc")) {
        src->type = VIR_DOMAIN_CHR_TYPE_VC;
    } else if (STREQ(value, "stdio")) {
        src->type = VIR_DOMAIN_CHR_TYPE_STDIO;
    } else if (STRPREFIX(value, "file:") && value[5]) {
        src->type = VIR_DOMAIN_CHR_TYPE_FILE;
        src->data.file.path = g_strdup(value + 5);
    } else if (STRPREFIX(value, "pipe:") && value[5]) {
        src->type = VIR_DOMAIN_CHR_TYPE_PIPE;
        src->data.file.path = g_strdup(value + 5);
    } else if (STRPREFIX(value, "/dev/")) {
        src->type = VIR_DOMAIN_CHR_TYPE_DEV;
        src->data.file.path = g_strdup(value);
    } else if (STRPREFIX(value, "udp:")) {
        ok = xvXenParseChrUDP(src, value + 4);
    } else if (STRPREFIX(value, "tcp:") || STRPREFIX(value, "telnet:") ||
               STRPREFIX(value, "unix:")) {
        ok = xvXenParseChrSocket(src, value);
    } else {
        ok = false;
    }
    if (!ok) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: '%s' device '%s' is not supported"),
                       xvXenLineOf(p, key, value), key, value);
        return NULL;
    }
    return g_steal_pointer(&chr);
}

static int
xvXenFormatChr(virDomainChrSourceDef *src, virBuffer *buf)
{
    switch ((virDomainChrType) src->type) {
    case VIR_DOMAIN_CHR_TYPE_PTY:
        virBufferAddLit(buf, "pty");
        return 0;
    case VIR_DOMAIN_CHR_TYPE_NULL:
        virBufferAddLit(buf, "null");
        return 0;
    case VIR_DOMAIN_CHR_TYPE_VC:
        virBufferAddLit(buf, "vc");
        return 0;
    case VIR_DOMAIN_CHR_TYPE_STDIO:
        virBufferAddLit(buf, "stdio");
        return 0;
    case VIR_DOMAIN_CHR_TYPE_FILE:
        virBufferAsprintf(buf, "file:%s", src->data.file.path);
        return 0;
    case VIR_DOMAIN_CHR_TYPE_PIPE:
        virBufferAsprintf(buf, "pipe:%s", src->data.file.path);
        return 0;
    case VIR_DOMAIN_CHR_TYPE_DEV:
        if (!STRPREFIX(src->data.file.path, "/dev/"))
            break;
        virBufferAdd(buf, src->data.file.path, -1);
        return 0;
    case VIR_DOMAIN_CHR_TYPE_UDP:
        virBufferAsprintf(buf, "udp:%s:%s", NULLSTR_EMPTY(src->data.udp.connectHost),
                          src->data.udp.connectService);
        if (src->data.udp.bindHost || src->data.udp.bindService)
            virBufferAsprintf(buf, "@%s:%s", NULLSTR_EMPTY(src->data.udp.bindHost),
                              src->data.udp.bindService ? src->data.udp.bindService : "0");
        return 0;
    case VIR_DOMAIN_CHR_TYPE_TCP:
        if (src->data.tcp.protocol != VIR_DOMAIN_CHR_TCP_PROTOCOL_RAW &&
            src->data.tcp.protocol != VIR_DOMAIN_CHR_TCP_PROTOCOL_TELNET)
            break;
        virBufferAsprintf(buf, "%s:%s:%s%s",
                          src->data.tcp.protocol == VIR_DOMAIN_CHR_TCP_PROTOCOL_TELNET
                          ? "telnet" : "tcp",
                          NULLSTR_EMPTY(src->data.tcp.host),
                          src->data.tcp.service,
                          src->data.tcp.listen ? ",server,nowait" : "");
        return 0;
    case VIR_DOMAIN_CHR_TYPE_UNIX:
        virBufferAsprintf(buf, "unix:%s%s", src->data.nix.path,
                          src->data.nix.listen ? ",server,nowait" : "");
        return 0;
    default:
        break;
    }
    virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                   _("character device type '%s' cannot be expressed in a Xen configuration"),
                   virDomainChrTypeToString(src->type));
    return -1;
}

int
xvXenParseSerial(xvXenParser *p, virDomainDef *def)
{
    g_auto(GStrv) list = NULL;
    size_t i;
    int rc;

    if (def->os.type != VIR_DOMAIN_OSTYPE_HVM)
        return 0;
    if ((rc = xvXenGetStringList(p, "serial", true, &list)) <= 0)
        return rc;
    if (list[0] && !list[1] && STREQ(list[0], "none"))
        return 0;
    for (i = 0; list[i]; i++) {
        virDomainChrDef *chr = xvXenParseChr(p, "serial", list[i]);

        if (!chr)
            return -1;
        chr->deviceType = VIR_DOMAIN_CHR_DEVICE_TYPE_SERIAL;
        chr->targetType = VIR_DOMAIN_CHR_SERIAL_TARGET_TYPE_ISA;
        chr->target.port = i;
        VIR_APPEND_ELEMENT(def->serials, def->nserials, chr);
    }
    return 0;
}

/* "parallel": one port of an HVM guest's device model, or "none" (which
 * libvirt's converter writes for a guest without one). */
int
xvXenParseParallel(xvXenParser *p, virDomainDef *def)
{
    const char *value = NULL;
    virDomainChrDef *chr;
    int rc;

    if ((rc = xvXenGetString(p, "parallel", &value)) <= 0)
        return rc;
    if (STREQ(value, "none"))
        return 0;
    if (def->os.type != VIR_DOMAIN_OSTYPE_HVM) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: 'parallel' is only valid for HVM guests"),
                       xvXenLine(p, "parallel"));
        return -1;
    }
    if (!(chr = xvXenParseChr(p, "parallel", value)))
        return -1;
    chr->deviceType = VIR_DOMAIN_CHR_DEVICE_TYPE_PARALLEL;
    chr->target.port = 0;
    VIR_APPEND_ELEMENT(def->parallels, def->nparallels, chr);
    return 0;
}

/* ---------------------------------------------------------------------
 * Writing
 */

int
xvXenFormatChrDevices(xvXenWriter *w, virDomainDef *def)
{
    g_autoptr(GPtrArray) serials = g_ptr_array_new_with_free_func(g_free);
    size_t i;

    for (i = 0; i < def->nserials; i++) {
        g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;

        if (def->os.type != VIR_DOMAIN_OSTYPE_HVM) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("serial devices are only valid for HVM guests, PV guests have a console"));
            return -1;
        }
        if (def->serials[i]->target.port != (int) i) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("serial ports must be numbered from 0 without gaps in a Xen configuration"));
            return -1;
        }
        if (xvXenFormatChr(def->serials[i]->source, &buf) < 0)
            return -1;
        g_ptr_array_add(serials, virBufferContentAndReset(&buf));
    }
    if (serials->len == 1) {
        if (xvXenSetString(w, "serial", g_ptr_array_index(serials, 0)) < 0)
            return -1;
    } else if (xvXenSetStringList(w, "serial", serials) < 0) {
        return -1;
    }

    for (i = 0; i < def->nconsoles; i++) {
        virDomainChrDef *c = def->consoles[i];

        /* The PV console is implicit; an HVM console is its first serial. */
        if (c->targetType == VIR_DOMAIN_CHR_CONSOLE_TARGET_TYPE_XEN &&
            c->source->type == VIR_DOMAIN_CHR_TYPE_PTY && i == 0)
            continue;
        if (c->targetType == VIR_DOMAIN_CHR_CONSOLE_TARGET_TYPE_SERIAL && i == 0 &&
            def->nserials > 0)
            continue;
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("only the implicit pty console can be expressed in a Xen configuration"));
        return -1;
    }
    if (def->nparallels > 0) {
        g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;

        if (def->os.type != VIR_DOMAIN_OSTYPE_HVM || def->nparallels > 1) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("only one parallel port, of an HVM guest, can be expressed in a Xen configuration"));
            return -1;
        }
        if (xvXenFormatChr(def->parallels[0]->source, &buf) < 0)
            return -1;
        if (xvXenSetString(w, "parallel", virBufferCurrentContent(&buf)) < 0)
            return -1;
    }
    return 0;
}
