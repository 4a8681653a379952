/*
 * xen_common.c: what the xl.cfg and xm native formats share: reading and
 * writing values, the general settings, and the device specs whose grammar
 * is common to both (vif, pci, vfb, serial, sound)
 *
 * The grammar of the file itself (key = value, strings, numbers, lists,
 * comments) is libvirt's virConf.  This file gives it types and lines, and
 * maps values onto virDomainDef and back.  Whatever a domain XML cannot say
 * is refused with VIR_ERR_CONFIG_UNSUPPORTED naming the key and the value.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "libxl_conf.h"
#include "xen_common.h"
#include "xen_xl.h"

#include "viralloc.h"
#include "virbitmap.h"
#include "virerror.h"
#include "virlog.h"
#include "virmacaddr.h"
#include "virstring.h"
#include "viruuid.h"
#include "domain_postparse.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.xen_common");

/* ---------------------------------------------------------------------
 * Lines
 */

/* The line of "key = ..." (1-based), or 0 if the text does not have it. */
unsigned int
xvXenLine(xvXenParser *p, const char *key)
{
    const char *cur = p->text;
    size_t keylen = strlen(key);
    unsigned int line = 1;

    while (cur && *cur) {
        const char *s = cur;

        while (*s == ' ' || *s == '\t')
            s++;
        if (strncmp(s, key, keylen) == 0) {
            s += keylen;
            while (*s == ' ' || *s == '\t')
                s++;
            if (*s == '=')
                return line;
        }
        if (!(cur = strchr(cur, '\n')))
            break;
        cur++;
        line++;
    }
    return 0;
}

/* The line where @needle (an element of the list @key) appears. */
unsigned int
xvXenLineOf(xvXenParser *p, const char *key, const char *needle)
{
    unsigned int line = xvXenLine(p, key);
    const char *cur = p->text;
    const char *hit;
    unsigned int i;

    if (line == 0)
        return 0;
    for (i = 1; i < line && cur; i++) {
        if ((cur = strchr(cur, '\n')))
            cur++;
    }
    if (!cur || !*needle || !(hit = strstr(cur, needle)))
        return line;
    for (; cur < hit; cur++) {
        if (*cur == '\n')
            line++;
    }
    return line;
}

/* ---------------------------------------------------------------------
 * Typed getters
 */

static virConfValue *
xvXenGet(xvXenParser *p, const char *key)
{
    virConfValue *val = virConfGetValue(p->conf, key);

    if (val)
        g_hash_table_add(p->used, g_strdup(key));
    return val;
}

/* Text that an XML document can carry: UTF-8 without control characters. */
static int
xvXenCheckText(xvXenParser *p, const char *key, const char *str)
{
    const char *c;

    if (g_utf8_validate(str, -1, NULL)) {
        for (c = str; *c; c++) {
            if ((unsigned char) *c < 0x20 || *c == 0x7f)
                break;
        }
        if (!*c)
            return 0;
    }
    virReportError(VIR_ERR_CONF_SYNTAX,
                   _("line %u: the value of '%s' is not valid UTF-8 text without control characters"),
                   xvXenLine(p, key), key);
    return -1;
}

int
xvXenGetString(xvXenParser *p, const char *key, const char **value)
{
    virConfValue *val = xvXenGet(p, key);

    if (!val)
        return 0;
    if (val->type != VIR_CONF_STRING) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: the value of '%s' must be a string"),
                       xvXenLine(p, key), key);
        return -1;
    }
    if (xvXenCheckText(p, key, val->str) < 0)
        return -1;
    /* xl.cfg(5): an empty string is the same as no setting. */
    if (!*val->str)
        return 0;
    *value = val->str;
    return 1;
}

static int
xvXenParseULLongStr(const char *str, unsigned long long *value)
{
    if (!str || !g_ascii_isdigit(*str))
        return -1;
    return virStrToLong_ullp(str, NULL, 10, value);
}

int
xvXenGetULLong(xvXenParser *p, const char *key, unsigned long long *value)
{
    virConfValue *val = xvXenGet(p, key);

    if (!val)
        return 0;
    if (val->type == VIR_CONF_ULLONG) {
        *value = val->l;
        return 1;
    }
    if (val->type == VIR_CONF_STRING &&
        xvXenParseULLongStr(val->str, value) == 0)
        return 1;
    if (val->type == VIR_CONF_STRING)
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: the value '%s' of '%s' is not a non-negative number"),
                       xvXenLine(p, key), val->str, key);
    else
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: the value of '%s' must be a non-negative number"),
                       xvXenLine(p, key), key);
    return -1;
}

int
xvXenGetLLong(xvXenParser *p, const char *key, long long *value)
{
    virConfValue *val = xvXenGet(p, key);

    if (!val)
        return 0;
    if (val->type == VIR_CONF_ULLONG || val->type == VIR_CONF_LLONG) {
        *value = val->l;
        return 1;
    }
    if (val->type == VIR_CONF_STRING &&
        virStrToLong_ll(val->str, NULL, 10, value) == 0)
        return 1;
    virReportError(VIR_ERR_CONF_SYNTAX,
                   _("line %u: the value of '%s' must be a number"),
                   xvXenLine(p, key), key);
    return -1;
}

int
xvXenGetBool(xvXenParser *p, const char *key, bool *value)
{
    virConfValue *val = xvXenGet(p, key);
    long long l = -1;

    if (!val)
        return 0;
    if (val->type == VIR_CONF_ULLONG)
        l = val->l;
    else if (val->type == VIR_CONF_STRING && STREQ(val->str, "1"))
        l = 1;
    else if (val->type == VIR_CONF_STRING && STREQ(val->str, "0"))
        l = 0;
    if (l != 0 && l != 1) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: the value of '%s' must be 0 or 1"),
                       xvXenLine(p, key), key);
        return -1;
    }
    *value = l == 1;
    return 1;
}

int
xvXenGetTristate(xvXenParser *p, const char *key, virTristateSwitch *value)
{
    bool b;
    int rc = xvXenGetBool(p, key, &b);

    if (rc == 1)
        *value = b ? VIR_TRISTATE_SWITCH_ON : VIR_TRISTATE_SWITCH_OFF;
    return rc;
}

/* A list of strings; a single string is a list of one when @allowString. */
int
xvXenGetStringList(xvXenParser *p, const char *key, bool allowString,
                   GStrv *values)
{
    virConfValue *val = xvXenGet(p, key);
    g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(g_free);
    virConfValue *el;

    if (!val)
        return 0;
    if (val->type == VIR_CONF_STRING && allowString) {
        if (xvXenCheckText(p, key, val->str) < 0)
            return -1;
        g_ptr_array_add(list, g_strdup(val->str));
    } else if (val->type != VIR_CONF_LIST) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       allowString ? _("line %u: the value of '%s' must be a string or a list of strings")
                                   : _("line %u: the value of '%s' must be a list of strings"),
                       xvXenLine(p, key), key);
        return -1;
    } else {
        for (el = val->list; el; el = el->next) {
            if (el->type == VIR_CONF_LIST) {
                virReportError(VIR_ERR_CONF_SYNTAX,
                               _("line %u: '%s' holds a nested list, expected strings"),
                               xvXenLine(p, key), key);
                return -1;
            }
            if (el->type != VIR_CONF_STRING) {
                virReportError(VIR_ERR_CONF_SYNTAX,
                               _("line %u: '%s' holds a number, expected strings"),
                               xvXenLine(p, key), key);
                return -1;
            }
            if (xvXenCheckText(p, key, el->str) < 0)
                return -1;
            g_ptr_array_add(list, g_strdup(el->str));
        }
    }
    g_ptr_array_add(list, NULL);
    *values = (GStrv) g_ptr_array_free(g_steal_pointer(&list), FALSE);
    return 1;
}

/* ---------------------------------------------------------------------
 * Setters
 */

int
xvXenSetString(xvXenWriter *w, const char *key, const char *value)
{
    g_autoptr(virConfValue) val = NULL;

    /* xl's parser knows neither escapes nor triple quotes. */
    if (strchr(value, '\n') || (strchr(value, '"') && strchr(value, '\''))) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("the value '%s' of '%s' cannot be written in a Xen configuration: it has a newline or both kinds of quotes"),
                       value, key);
        return -1;
    }
    val = g_new0(virConfValue, 1);
    val->type = VIR_CONF_STRING;
    val->str = g_strdup(value);
    return virConfSetValue(w->conf, key, &val);
}

int
xvXenSetULLong(xvXenWriter *w, const char *key, unsigned long long value)
{
    g_autoptr(virConfValue) val = g_new0(virConfValue, 1);

    val->type = VIR_CONF_ULLONG;
    val->l = value;
    return virConfSetValue(w->conf, key, &val);
}

int
xvXenSetLLong(xvXenWriter *w, const char *key, long long value)
{
    g_autoptr(virConfValue) val = g_new0(virConfValue, 1);

    val->type = value < 0 ? VIR_CONF_LLONG : VIR_CONF_ULLONG;
    val->l = value;
    return virConfSetValue(w->conf, key, &val);
}

int
xvXenSetStringList(xvXenWriter *w, const char *key, GPtrArray *values)
{
    g_autoptr(virConfValue) list = NULL;
    virConfValue **tail;
    size_t i;

    if (!values || values->len == 0)
        return 0;

    list = g_new0(virConfValue, 1);
    list->type = VIR_CONF_LIST;
    tail = &list->list;
    for (i = 0; i < values->len; i++) {
        const char *str = g_ptr_array_index(values, i);
        virConfValue *el;

        if (strchr(str, '\n') || (strchr(str, '"') && strchr(str, '\''))) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("the value '%s' of '%s' cannot be written in a Xen configuration: it has a newline or both kinds of quotes"),
                           str, key);
            return -1;
        }
        el = g_new0(virConfValue, 1);
        el->type = VIR_CONF_STRING;
        el->str = g_strdup(str);
        *tail = el;
        tail = &el->next;
    }
    return virConfSetValue(w->conf, key, &list);
}

char *
xvXenWriterToString(xvXenWriter *w)
{
    int size = 64 * 1024;

    /* virConfWriteMem wants a buffer large enough for the whole text. */
    while (size <= 64 * 1024 * 1024) {
        g_autofree char *buf = g_new0(char, size);
        int len = size;
        int rc = virConfWriteMem(buf, &len, w->conf);

        if (rc >= 0) {
            buf[rc] = '\0';
            return g_steal_pointer(&buf);
        }
        size *= 4;
    }
    virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                   _("the Xen configuration is too large to write"));
    return NULL;
}

/* ---------------------------------------------------------------------
 * Device specs: comma-separated "key=value" and bare words
 */

static void
xvXenSpecItemFree(void *opaque)
{
    xvXenSpecItem *item = opaque;

    g_free(item->key);
    g_free(item->value);
    g_free(item);
}

/*
 * Split @spec at commas, trimming blanks around each part.  With
 * @targetLast, "target=" takes the whole rest of the spec, commas included
 * (xl-disk-configuration(5)).
 */
GPtrArray *
xvXenSpecSplit(const char *spec, bool targetLast)
{
    GPtrArray *items = g_ptr_array_new_with_free_func(xvXenSpecItemFree);
    const char *cur = spec;

    while (true) {
        const char *end;
        const char *eq;
        xvXenSpecItem *item = g_new0(xvXenSpecItem, 1);
        g_autofree char *part = NULL;

        while (*cur == ' ' || *cur == '\t')
            cur++;
        if (targetLast && STRPREFIX(cur, "target=")) {
            item->key = g_strdup("target");
            item->value = g_strdup(cur + strlen("target="));
            g_ptr_array_add(items, item);
            break;
        }
        if (!(end = strchr(cur, ',')))
            end = cur + strlen(cur);
        part = g_strndup(cur, end - cur);
        g_strchomp(part);
        if ((eq = strchr(part, '='))) {
            item->key = g_strndup(part, eq - part);
            g_strchomp(item->key);
            item->value = g_strdup(eq + 1);
            g_strchug(item->value);
        } else {
            item->value = g_steal_pointer(&part);
        }
        g_ptr_array_add(items, item);
        if (!*end)
            break;
        cur = end + 1;
    }
    return items;
}

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

static int
xvXenParseOS(xvXenParser *p, virDomainDef *def)
{
    const char *str = NULL;
    g_auto(GStrv) args = NULL;

    if (xvXenGetString(p, "kernel", &str) < 0)
        return -1;
    def->os.kernel = g_strdup(str);
    str = NULL;
    if (xvXenGetString(p, "ramdisk", &str) < 0)
        return -1;
    def->os.initrd = g_strdup(str);
    if (xvXenParseCmdline(p, def) < 0)
        return -1;

    str = NULL;
    if (xvXenGetString(p, "bootloader", &str) < 0)
        return -1;
    def->os.bootloader = g_strdup(str);
    if (xvXenGetStringList(p, "bootloader_args", true, &args) < 0)
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

    if (def->os.type == VIR_DOMAIN_OSTYPE_HVM) {
        str = NULL;
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
        if (xvXenParseBoot(p, def) < 0)
            return -1;
    }
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

static int
xvXenParseCPU(xvXenParser *p, virDomainDef *def)
{
    unsigned long long vcpus = 1;
    unsigned long long maxvcpus = 0;
    unsigned long long weight = 0;
    unsigned long long cap = 0;
    const char *cpus = NULL;
    virConfValue *val;
    int rc;

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
        if ((rc = xvXenGetString(p, "cpus", &cpus)) < 0)
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
static const struct {
    const char *name;
    virDomainTimerTickpolicyType policy;
} xvXenTimerModes[] = {
    { "delay_for_missed_ticks", VIR_DOMAIN_TIMER_TICKPOLICY_DELAY },
    { "no_delay_for_missed_ticks", VIR_DOMAIN_TIMER_TICKPOLICY_CATCHUP },
    { "no_missed_ticks_pending", VIR_DOMAIN_TIMER_TICKPOLICY_MERGE },
    { "one_missed_tick_pending", VIR_DOMAIN_TIMER_TICKPOLICY_DISCARD },
};

static const struct {
    const char *name;
    virDomainTimerModeType mode;
} xvXenTscModes[] = {
    { "default", VIR_DOMAIN_TIMER_MODE_AUTO },
    { "always_emulate", VIR_DOMAIN_TIMER_MODE_EMULATE },
    { "native", VIR_DOMAIN_TIMER_MODE_NATIVE },
    { "native_paravirt", VIR_DOMAIN_TIMER_MODE_PARAVIRT },
};

static int
xvXenParseTimers(xvXenParser *p, virDomainDef *def)
{
    virConfValue *val;
    const char *str = NULL;
    virTristateSwitch hpet = VIR_TRISTATE_SWITCH_ABSENT;
    size_t i;

    if ((val = virConfGetValue(p->conf, "timer_mode"))) {
        int mode = -1;
        unsigned long long num;

        if (val->type == VIR_CONF_STRING) {
            int rc = xvXenGetString(p, "timer_mode", &str);

            if (rc < 0)
                return -1;
            if (rc == 0)
                mode = -2;  /* empty: no setting */
            for (i = 0; str && i < G_N_ELEMENTS(xvXenTimerModes); i++) {
                if (STREQ(str, xvXenTimerModes[i].name))
                    mode = i;
            }
        } else if (xvXenGetULLong(p, "timer_mode", &num) == 1 &&
                   num < G_N_ELEMENTS(xvXenTimerModes)) {
            mode = num;
        }
        if (mode == -1) {
            virResetLastError();
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: unknown 'timer_mode' value '%s'"),
                           xvXenLine(p, "timer_mode"),
                           str ? str : "(number)");
            return -1;
        }
        if (mode >= 0)
            xvXenAddTimer(def, VIR_DOMAIN_TIMER_NAME_PIT)->tickpolicy =
                xvXenTimerModes[mode].policy;
    }

    if (def->os.type == VIR_DOMAIN_OSTYPE_HVM) {
        if (xvXenGetTristate(p, "hpet", &hpet) < 0)
            return -1;
        if (hpet != VIR_TRISTATE_SWITCH_ABSENT)
            xvXenAddTimer(def, VIR_DOMAIN_TIMER_NAME_HPET)->present =
                hpet == VIR_TRISTATE_SWITCH_ON ? VIR_TRISTATE_BOOL_YES
                                               : VIR_TRISTATE_BOOL_NO;
    }

    str = NULL;
    if ((val = virConfGetValue(p->conf, "tsc_mode"))) {
        int mode = -1;
        unsigned long long num;

        if (val->type == VIR_CONF_STRING) {
            int rc = xvXenGetString(p, "tsc_mode", &str);

            if (rc < 0)
                return -1;
            if (rc == 0)
                mode = -2;  /* empty: no setting */
            for (i = 0; str && i < G_N_ELEMENTS(xvXenTscModes); i++) {
                if (STREQ(str, xvXenTscModes[i].name))
                    mode = i;
            }
        } else if (xvXenGetULLong(p, "tsc_mode", &num) == 1 &&
                   num < G_N_ELEMENTS(xvXenTscModes)) {
            mode = num;
        }
        if (mode == -1) {
            virResetLastError();
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: unknown 'tsc_mode' value '%s'"),
                           xvXenLine(p, "tsc_mode"), str ? str : "(number)");
            return -1;
        }
        if (mode >= 0)
            xvXenAddTimer(def, VIR_DOMAIN_TIMER_NAME_TSC)->mode =
                xvXenTscModes[mode].mode;
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
        xvXenParseOS(p, def) < 0 ||
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
 * vif: "key=value,..." (xl-network-configuration(5); xm has the same)
 */

/* "RATE[@INTERVAL]", RATE in [GMK]B/s or [GMK]b/s: kilobytes per second. */
static int
xvXenParseRate(const char *rate, unsigned long long *kbps)
{
    unsigned long long n;
    unsigned long long factor = 1;
    char *end = NULL;
    const char *at = strchr(rate, '@');
    g_autofree char *unit = NULL;

    if (at && STRNEQ(at, "@50ms") && STRNEQ(at, "@50000us"))
        return -2;
    if (virStrToLong_ull(rate, &end, 10, &n) < 0 || end == rate)
        return -1;
    unit = at ? g_strndup(end, at - end) : g_strdup(end);
    if (unit[0] == 'G')
        factor = 1000ULL * 1000 * 1000;
    else if (unit[0] == 'M')
        factor = 1000ULL * 1000;
    else if (unit[0] == 'K' || unit[0] == 'k')
        factor = 1000ULL;
    if (factor != 1)
        memmove(unit, unit + 1, strlen(unit));
    if (STREQ(unit, "b/s")) {
        if (n > ULLONG_MAX / factor)
            return -1;
        n = n * factor;
        if (n % 8)
            return -3;
        n /= 8;
    } else if (STREQ(unit, "B/s")) {
        if (n > ULLONG_MAX / factor)
            return -1;
        n = n * factor;
    } else {
        return -1;
    }
    if (n % 1000 || n == 0)
        return -3;
    *kbps = n / 1000;
    return 0;
}

static virDomainNetDef *
xvXenParseVif(xvXenParser *p, const char *spec)
{
    g_autoptr(GPtrArray) items = xvXenSpecSplit(spec, false);
    g_autoptr(virDomainNetDef) net = virDomainNetDefNew(p->xmlopt);
    const char *vifType = p->format == XV_XEN_FORMAT_XL ? "vif" : "netfront";
    const char *bridge = NULL;
    const char *script = NULL;
    const char *model = NULL;
    const char *type = NULL;
    unsigned int line = xvXenLineOf(p, "vif", spec);
    size_t i;

    if (!net)
        return NULL;

    for (i = 0; i < items->len; i++) {
        xvXenSpecItem *item = g_ptr_array_index(items, i);
        const char *v = item->value;

        if (!item->key) {
            if (!*v && items->len == 1)
                break;  /* "" is a vif with every default */
            virReportError(VIR_ERR_CONF_SYNTAX,
                           _("line %u: vif spec '%s': '%s' is not a key=value pair"),
                           line, spec, v);
            return NULL;
        }
        if (STREQ(item->key, "mac")) {
            if (virMacAddrParse(v, &net->mac) < 0 ||
                virMacAddrIsMulticast(&net->mac)) {
                virResetLastError();
                virReportError(VIR_ERR_CONF_SYNTAX,
                               _("line %u: vif spec '%s': malformed or multicast mac address '%s'"),
                               line, spec, v);
                return NULL;
            }
        } else if (STREQ(item->key, "bridge")) {
            bridge = v;
        } else if (STREQ(item->key, "script")) {
            script = v;
        } else if (STREQ(item->key, "model")) {
            model = v;
        } else if (STREQ(item->key, "type")) {
            type = v;
        } else if (STREQ(item->key, "vifname")) {
            /* libvirt takes these prefixes for generated names, which an
             * inactive XML drops: they cannot be kept. */
            if (STRPREFIX(v, "vif") || STRPREFIX(v, "vnet") ||
                STRPREFIX(v, "macvtap") || STRPREFIX(v, "macvlan")) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: vif spec '%s': vifname '%s' has a prefix libvirt reserves for generated names (vif, vnet, macvtap, macvlan)"),
                               line, spec, v);
                return NULL;
            }
            g_free(net->ifname);
            net->ifname = g_strdup(v);
        } else if (STREQ(item->key, "backend")) {
            g_free(net->domain_name);
            net->domain_name = g_strdup(v);
        } else if (STREQ(item->key, "ip")) {
            g_auto(GStrv) ips = g_strsplit(v, " ", 0);
            size_t j;

            for (j = 0; ips[j]; j++) {
                char *slash;
                unsigned int prefix = 0;

                if (!*ips[j])
                    continue;
                if ((slash = strchr(ips[j], '/'))) {
                    *slash = '\0';
                    if (virStrToLong_uip(slash + 1, NULL, 10, &prefix) < 0 ||
                        prefix > 128) {
                        virReportError(VIR_ERR_CONF_SYNTAX,
                                       _("line %u: vif spec '%s': malformed ip prefix '%s'"),
                                       line, spec, slash + 1);
                        return NULL;
                    }
                }
                if (virDomainNetAppendIPAddress(net, ips[j], AF_UNSPEC, prefix) < 0 ||
                    (prefix > 32 &&
                     VIR_SOCKET_ADDR_IS_FAMILY(&net->guestIP.ips[net->guestIP.nips - 1]->address,
                                               AF_INET))) {
                    virResetLastError();
                    virReportError(VIR_ERR_CONF_SYNTAX,
                                   _("line %u: vif spec '%s': malformed ip address or prefix '%s'"),
                                   line, spec, ips[j]);
                    return NULL;
                }
            }
        } else if (STREQ(item->key, "rate")) {
            unsigned long long kbps = 0;
            int rc = xvXenParseRate(v, &kbps);

            if (rc == -2 || rc == -3) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               rc == -2 ? _("line %u: vif spec '%s': a rate interval other than 50ms ('%s') cannot be expressed in a domain XML")
                                        : _("line %u: vif spec '%s': rate '%s' is not a whole number of kilobytes per second"),
                               line, spec, v);
                return NULL;
            }
            if (rc < 0) {
                virReportError(VIR_ERR_CONF_SYNTAX,
                               _("line %u: vif spec '%s': malformed rate '%s'"),
                               line, spec, v);
                return NULL;
            }
            virNetDevBandwidthFree(net->bandwidth);
            net->bandwidth = g_new0(virNetDevBandwidth, 1);
            net->bandwidth->out = g_new0(virNetDevBandwidthRate, 1);
            net->bandwidth->out->average = kbps;
        } else if (STREQ(item->key, "mtu") && p->format == XV_XEN_FORMAT_XL) {
            if (virStrToLong_uip(v, NULL, 10, &net->mtu) < 0 || net->mtu == 0) {
                virReportError(VIR_ERR_CONF_SYNTAX,
                               _("line %u: vif spec '%s': malformed mtu '%s'"),
                               line, spec, v);
                return NULL;
            }
        } else {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: vif spec '%s': key '%s' is not supported"),
                           line, spec, item->key);
            return NULL;
        }
    }

    if (bridge) {
        net->type = VIR_DOMAIN_NET_TYPE_BRIDGE;
        net->data.bridge.brname = g_strdup(bridge);
    } else {
        net->type = VIR_DOMAIN_NET_TYPE_ETHERNET;
    }
    if (script && *script)
        net->script = g_strdup(script);

    if (type && STRNEQ(type, vifType) && STRNEQ(type, "ioemu")) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: vif spec '%s': type '%s' is not supported, expected 'ioemu' or '%s'"),
                       line, spec, type, vifType);
        return NULL;
    }
    if (model) {
        if (STREQ_NULLABLE(type, vifType)) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: vif spec '%s': a model is only valid with type 'ioemu'"),
                           line, spec);
            return NULL;
        }
        if (virDomainNetSetModelString(net, model) < 0)
            return NULL;
    } else if (STREQ_NULLABLE(type, vifType)) {
        net->model = VIR_DOMAIN_NET_MODEL_NETFRONT;
    }
    return g_steal_pointer(&net);
}

int
xvXenParseVifList(xvXenParser *p, virDomainDef *def)
{
    g_auto(GStrv) vifs = NULL;
    size_t i;
    int rc;

    if ((rc = xvXenGetStringList(p, "vif", false, &vifs)) <= 0)
        return rc;
    for (i = 0; vifs[i]; i++) {
        virDomainNetDef *net = xvXenParseVif(p, vifs[i]);

        if (!net)
            return -1;
        VIR_APPEND_ELEMENT(def->nets, def->nnets, net);
    }
    return 0;
}

static int
xvXenFormatVif(xvXenWriter *w, virDomainDef *def, virDomainNetDef *net,
               GPtrArray *out)
{
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    char mac[VIR_MAC_STRING_BUFLEN];
    const char *vifType = w->format == XV_XEN_FORMAT_XL ? "vif" : "netfront";
    size_t i;

    virBufferAsprintf(&buf, "mac=%s", virMacAddrFormat(&net->mac, mac));

    switch (net->type) {
    case VIR_DOMAIN_NET_TYPE_BRIDGE:
        virBufferAsprintf(&buf, ",bridge=%s", net->data.bridge.brname);
        break;
    case VIR_DOMAIN_NET_TYPE_ETHERNET:
        break;
    default:
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("interface type '%s' cannot be expressed in a Xen configuration, use 'bridge' or 'ethernet'"),
                       virDomainNetTypeToString(net->type));
        return -1;
    }

    if (net->model == VIR_DOMAIN_NET_MODEL_NETFRONT) {
        virBufferAsprintf(&buf, ",type=%s", vifType);
    } else if (net->model != VIR_DOMAIN_NET_MODEL_UNKNOWN || net->modelstr) {
        if (def->os.type != VIR_DOMAIN_OSTYPE_HVM) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("interface model '%s' is only valid for HVM guests"),
                           virDomainNetGetModelString(net));
            return -1;
        }
        virBufferAsprintf(&buf, ",model=%s", virDomainNetGetModelString(net));
    }

    if (net->guestIP.nips > 0) {
        virBufferAddLit(&buf, ",ip=");
        for (i = 0; i < net->guestIP.nips; i++) {
            g_autofree char *addr = virSocketAddrFormat(&net->guestIP.ips[i]->address);

            if (!addr)
                return -1;
            if (i > 0)
                virBufferAddChar(&buf, ' ');
            virBufferAdd(&buf, addr, -1);
            if (net->guestIP.ips[i]->prefix)
                virBufferAsprintf(&buf, "/%u", net->guestIP.ips[i]->prefix);
        }
    }
    if (net->script)
        virBufferAsprintf(&buf, ",script=%s", net->script);
    if (net->ifname)
        virBufferAsprintf(&buf, ",vifname=%s", net->ifname);
    if (net->domain_name)
        virBufferAsprintf(&buf, ",backend=%s", net->domain_name);
    if (net->mtu) {
        if (w->format != XV_XEN_FORMAT_XL) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("an interface mtu cannot be expressed in the xen-xm format"));
            return -1;
        }
        virBufferAsprintf(&buf, ",mtu=%u", net->mtu);
    }
    if (net->bandwidth) {
        if (net->bandwidth->in ||
            (net->bandwidth->out && (net->bandwidth->out->peak ||
                                     net->bandwidth->out->burst ||
                                     net->bandwidth->out->floor))) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("only an outbound average bandwidth can be expressed in a Xen configuration"));
            return -1;
        }
        if (net->bandwidth->out)
            virBufferAsprintf(&buf, ",rate=%lluKB/s", net->bandwidth->out->average);
    }
    if (net->virtPortProfile || net->vlan.nTags || net->filter ||
        net->tune.sndbuf_specified || net->linkstate) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("interface port profiles, vlans, filters, link states and tuning cannot be expressed in a Xen configuration"));
        return -1;
    }

    g_ptr_array_add(out, virBufferContentAndReset(&buf));
    return 0;
}

int
xvXenFormatVifList(xvXenWriter *w, virDomainDef *def)
{
    g_autoptr(GPtrArray) vifs = g_ptr_array_new_with_free_func(g_free);
    size_t i;

    for (i = 0; i < def->nnets; i++) {
        if (xvXenFormatVif(w, def, def->nets[i], vifs) < 0)
            return -1;
    }
    return xvXenSetStringList(w, "vif", vifs);
}

/* ---------------------------------------------------------------------
 * disk (xl-disk-configuration(5)); xm knows only the deprecated syntax
 */

static const struct {
    const char *xen;
    virStorageFileFormat format;
} xvXenDiskFormats[] = {
    { "raw", VIR_STORAGE_FILE_RAW },
    { "qcow", VIR_STORAGE_FILE_QCOW },
    { "qcow2", VIR_STORAGE_FILE_QCOW2 },
    { "vhd", VIR_STORAGE_FILE_VPC },
    { "qed", VIR_STORAGE_FILE_QED },
};

static int
xvXenDiskFormatFromString(const char *str)
{
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(xvXenDiskFormats); i++) {
        if (STREQ(str, xvXenDiskFormats[i].xen))
            return xvXenDiskFormats[i].format;
    }
    return -1;
}

static const char *
xvXenDiskFormatToString(int format)
{
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(xvXenDiskFormats); i++) {
        if (xvXenDiskFormats[i].format == format)
            return xvXenDiskFormats[i].xen;
    }
    return NULL;
}

/* hdX and sdX with one or two letters, xvdX with up to three, optionally
 * followed by a partition number (xen-vbd-interface(7)); "d0p0"-style
 * numeric names are not accepted.  The bounds also keep the implicit
 * controllers libvirt adds for a disk's index to a sane number. */
static bool
xvXenIsVdev(const char *vdev)
{
    const char *c = vdev;
    size_t maxLetters = 2;
    size_t n;

    if (STRPREFIX(c, "xvd")) {
        c += 3;
        maxLetters = 3;
    } else if (STRPREFIX(c, "hd") || STRPREFIX(c, "sd")) {
        c += 2;
    } else {
        return false;
    }
    for (n = 0; g_ascii_islower(*c); n++)
        c++;
    if (n == 0 || n > maxLetters)
        return false;
    for (n = 0; g_ascii_isdigit(*c); n++)
        c++;
    return *c == '\0' && n <= 2;
}

/* Deprecated prefixes on the target ("phy:", "tap:aio:", "qcow2:"...):
 * formats are kept, the rest is dropped as xl does.  Returns the rest. */
static const char *
xvXenDiskStripPrefixes(const char *target, int *format, char **driver,
                       bool *hadPrefix)
{
    static const char *ignored[] = {
        "tapdisk:", "tap2:", "tap:", "aio:", "ioemu:", "file:", "phy:",
    };
    bool again = true;

    while (again) {
        size_t i;

        again = false;
        for (i = 0; i < G_N_ELEMENTS(ignored); i++) {
            if (STRPREFIX(target, ignored[i])) {
                if (!*driver) {
                    /* tap2: and tapdisk: are spellings of tap: */
                    if (STRPREFIX(ignored[i], "tap"))
                        *driver = g_strdup("tap");
                    else
                        *driver = g_strndup(ignored[i], strlen(ignored[i]) - 1);
                }
                target += strlen(ignored[i]);
                *hadPrefix = again = true;
            }
        }
        for (i = 0; i < G_N_ELEMENTS(xvXenDiskFormats); i++) {
            size_t len = strlen(xvXenDiskFormats[i].xen);

            if (STRPREFIX(target, xvXenDiskFormats[i].xen) && target[len] == ':') {
                *format = xvXenDiskFormats[i].format;
                target += len + 1;
                *hadPrefix = again = true;
            }
        }
    }
    return target;
}

typedef struct {
    char *target;
    char *format;
    char *vdev;
    char *access;
    bool cdrom;
    bool targetSet, formatSet, vdevSet, accessSet;
} xvXenDiskSpec;

static void
xvXenDiskSpecClear(xvXenDiskSpec *s)
{
    g_free(s->target);
    g_free(s->format);
    g_free(s->vdev);
    g_free(s->access);
}

static virDomainDiskDef *
xvXenParseDisk(xvXenParser *p, const char *spec)
{
    g_autoptr(GPtrArray) items = xvXenSpecSplit(spec, p->format == XV_XEN_FORMAT_XL);
    g_autoptr(virDomainDiskDef) disk = virDomainDiskDefNew(p->xmlopt);
    xvXenDiskSpec s = { 0 };
    g_autofree char *driver = NULL;
    char *positional[4] = { NULL };
    size_t npositional = 0;
    unsigned int line = xvXenLineOf(p, "disk", spec);
    int format = VIR_STORAGE_FILE_NONE;
    bool hadPrefix = false;
    bool deprecated = false;
    const char *target;
    virDomainDiskDef *ret = NULL;
    size_t i;

    if (!disk)
        return NULL;

    for (i = 0; i < items->len; i++) {
        xvXenSpecItem *item = g_ptr_array_index(items, i);
        const char *k = item->key;
        const char *v = item->value;

        if (!k) {
            if (STREQ(v, "cdrom") && p->format == XV_XEN_FORMAT_XL) {
                s.cdrom = true;
            } else if ((STREQ(v, "discard") || STREQ(v, "no-discard")) &&
                       p->format == XV_XEN_FORMAT_XL) {
                disk->discard = STREQ(v, "discard") ? VIR_DOMAIN_DISK_DISCARD_UNMAP
                                                    : VIR_DOMAIN_DISK_DISCARD_IGNORE;
            } else if (STREQ(v, "direct-io-safe") && p->format == XV_XEN_FORMAT_XL) {
                disk->cachemode = VIR_DOMAIN_DISK_CACHE_DISABLE;
            } else if (STREQ(v, "trusted") && p->format == XV_XEN_FORMAT_XL) {
                /* the default */
            } else if (STREQ(v, "untrusted") || STREQ(v, "colo")) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: disk spec '%s': flag '%s' cannot be expressed in a domain XML"),
                               line, spec, v);
                goto cleanup;
            } else if (npositional < 4) {
                positional[npositional++] = g_strdup(v);
            } else {
                virReportError(VIR_ERR_CONF_SYNTAX,
                               _("line %u: disk spec '%s': too many positional parameters at '%s'"),
                               line, spec, v);
                goto cleanup;
            }
            continue;
        }

        if (p->format != XV_XEN_FORMAT_XL) {
            virReportError(VIR_ERR_CONF_SYNTAX,
                           _("line %u: disk spec '%s': key '%s' is not valid in the xm syntax"),
                           line, spec, k);
            goto cleanup;
        }
        if (STREQ(k, "target")) {
            g_free(s.target);
            s.target = g_strdup(v);
            s.targetSet = true;
        } else if (STREQ(k, "format")) {
            g_free(s.format);
            s.format = g_strdup(v);
            s.formatSet = true;
        } else if (STREQ(k, "vdev")) {
            g_free(s.vdev);
            s.vdev = g_strdup(v);
            s.vdevSet = true;
        } else if (STREQ(k, "access")) {
            g_free(s.access);
            s.access = g_strdup(v);
            s.accessSet = true;
        } else if (STREQ(k, "devtype")) {
            if (STRNEQ(v, "cdrom") && STRNEQ(v, "disk")) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: disk spec '%s': devtype '%s' is not supported"),
                               line, spec, v);
                goto cleanup;
            }
            s.cdrom = STREQ(v, "cdrom");
        } else if (STREQ(k, "backendtype")) {
            g_clear_pointer(&driver, g_free);
            if (STREQ(v, "phy"))
                driver = g_strdup("phy");
            else if (STREQ(v, "qdisk"))
                driver = g_strdup("qemu");
            else if (STREQ(v, "tap"))
                driver = g_strdup("tap");
            else {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: disk spec '%s': backendtype '%s' is not supported"),
                               line, spec, v);
                goto cleanup;
            }
        } else if (STREQ(k, "backend")) {
            g_free(disk->domain_name);
            disk->domain_name = g_strdup(v);
        } else if (STREQ(k, "specification")) {
            if (STREQ(v, "virtio")) {
                disk->bus = VIR_DOMAIN_DISK_BUS_VIRTIO;
            } else if (STRNEQ(v, "xen")) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: disk spec '%s': specification '%s' is not supported"),
                               line, spec, v);
                goto cleanup;
            }
        } else if (STREQ(k, "script")) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: disk spec '%s': a block script ('script=%s') cannot be expressed in a domain XML"),
                           line, spec, v);
            goto cleanup;
        } else {
            virReportError(VIR_ERR_CONF_SYNTAX,
                           _("line %u: disk spec '%s': unknown key '%s'"),
                           line, spec, k);
            goto cleanup;
        }
    }

    /* The deprecated syntax "[format:]target,vdev[:devtype],access" is
     * told from the positional one by its second word, a vdev. */
    if (npositional >= 2 &&
        (p->format == XV_XEN_FORMAT_XM ||
         (positional[1] && (xvXenIsVdev(positional[1]) ||
                            STRPREFIX(positional[1], "ioemu:") ||
                            strchr(positional[1], ':'))))) {
        deprecated = true;
    }
    if (deprecated) {
        const char *vdev = positional[1];
        char *colon;

        if (npositional > 3) {
            virReportError(VIR_ERR_CONF_SYNTAX,
                           _("line %u: disk spec '%s': too many parameters for the 'target,vdev,access' syntax"),
                           line, spec);
            goto cleanup;
        }
        if (STRPREFIX(vdev, "ioemu:"))
            vdev += strlen("ioemu:");
        if (!s.targetSet) {
            s.target = g_strdup(positional[0]);
            s.targetSet = true;
        }
        if (!s.vdevSet) {
            s.vdev = g_strdup(vdev);
            s.vdevSet = true;
        }
        if ((colon = strchr(s.vdev, ':'))) {
            if (STREQ(colon, ":cdrom")) {
                s.cdrom = true;
            } else if (STRNEQ(colon, ":disk")) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: disk spec '%s': device type '%s' is not supported"),
                               line, spec, colon + 1);
                goto cleanup;
            }
            *colon = '\0';
        }
        if (npositional == 3 && !s.accessSet) {
            s.access = g_strdup(positional[2]);
            s.accessSet = true;
        }
    } else {
        for (i = 0; i < npositional; i++) {
            char **slot[] = { &s.target, &s.format, &s.vdev, &s.access };
            bool *set[] = { &s.targetSet, &s.formatSet, &s.vdevSet, &s.accessSet };
            size_t j;

            for (j = 0; j < 4; j++) {
                if (!*set[j])
                    break;
            }
            if (j == 4) {
                virReportError(VIR_ERR_CONF_SYNTAX,
                               _("line %u: disk spec '%s': '%s' repeats a parameter already given"),
                               line, spec, positional[i]);
                goto cleanup;
            }
            *slot[j] = g_strdup(positional[i]);
            *set[j] = true;
        }
    }

    /* target */
    target = s.target ? s.target : "";
    target = xvXenDiskStripPrefixes(target, &format, &driver, &hadPrefix);
    if (hadPrefix && !deprecated && p->format == XV_XEN_FORMAT_XL &&
        driver && STRNEQ(driver, "tap")) {
        /* "phy:" etc. are ignored by xl (xl-disk-configuration(5)). */
        g_clear_pointer(&driver, g_free);
    }
    if (p->format == XV_XEN_FORMAT_XL && driver &&
        (STREQ(driver, "file") || STREQ(driver, "aio") || STREQ(driver, "ioemu")))
        g_clear_pointer(&driver, g_free);
    if (driver && (STREQ(driver, "aio") || STREQ(driver, "ioemu")))
        g_clear_pointer(&driver, g_free);

    if (s.format && *s.format) {
        if ((format = xvXenDiskFormatFromString(s.format)) < 0) {
            if (STREQ(s.format, "empty")) {
                format = VIR_STORAGE_FILE_NONE;
                target = "";
            } else {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: disk spec '%s': unknown format '%s'"),
                               line, spec, s.format);
                goto cleanup;
            }
        }
    }

    /* vdev */
    if (!s.vdev || !*s.vdev) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: disk spec '%s': no vdev"), line, spec);
        goto cleanup;
    }
    if (!xvXenIsVdev(s.vdev)) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: disk spec '%s': vdev '%s' is not supported, expected hdX, sdX or xvdX"),
                       line, spec, s.vdev);
        goto cleanup;
    }
    disk->dst = g_strdup(s.vdev);
    if (disk->bus == VIR_DOMAIN_DISK_BUS_NONE) {
        if (STRPREFIX(s.vdev, "hd"))
            disk->bus = VIR_DOMAIN_DISK_BUS_IDE;
        else if (STRPREFIX(s.vdev, "sd"))
            disk->bus = VIR_DOMAIN_DISK_BUS_SCSI;
        else
            disk->bus = VIR_DOMAIN_DISK_BUS_XEN;
    }

    /* access */
    disk->device = s.cdrom ? VIR_DOMAIN_DISK_DEVICE_CDROM : VIR_DOMAIN_DISK_DEVICE_DISK;
    if (s.access && *s.access) {
        if (STREQ(s.access, "r") || STREQ(s.access, "ro")) {
            disk->src->readonly = true;
        } else if (s.cdrom && (STREQ(s.access, "w") || STREQ(s.access, "rw") ||
                               STREQ(s.access, "w!"))) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: disk spec '%s': a cdrom cannot be writable"),
                           line, spec);
            goto cleanup;
        } else if (STREQ(s.access, "w!") && p->format == XV_XEN_FORMAT_XM) {
            disk->src->shared = true;
        } else if (STRNEQ(s.access, "w") && STRNEQ(s.access, "rw")) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: disk spec '%s': unknown access '%s', expected 'r', 'ro', 'w' or 'rw'"),
                           line, spec, s.access);
            goto cleanup;
        }
    } else if (s.cdrom) {
        disk->src->readonly = true;
    }

    if (*target && (g_ascii_isspace(target[0]) ||
                    g_ascii_isspace(target[strlen(target) - 1]))) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: disk spec '%s': target '%s' begins or ends with blanks, which a domain XML does not keep"),
                       line, spec, target);
        goto cleanup;
    }
    if (*target) {
        virDomainDiskSetSource(disk, target);
        virDomainDiskSetType(disk, STRPREFIX(target, "/dev/") ? VIR_STORAGE_TYPE_BLOCK
                                                              : VIR_STORAGE_TYPE_FILE);
        if (format != VIR_STORAGE_FILE_NONE)
            virDomainDiskSetFormat(disk, format);
    } else if (!s.cdrom) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: disk spec '%s': no target (only a cdrom may be empty)"),
                       line, spec);
        goto cleanup;
    } else {
        virDomainDiskSetType(disk, VIR_STORAGE_TYPE_FILE);
    }
    if (driver)
        virDomainDiskSetDriver(disk, driver);

    ret = g_steal_pointer(&disk);

 cleanup:
    xvXenDiskSpecClear(&s);
    for (i = 0; i < 4; i++)
        g_free(positional[i]);
    return ret;
}

int
xvXenParseDiskList(xvXenParser *p, virDomainDef *def)
{
    g_auto(GStrv) disks = NULL;
    size_t i;
    int rc;

    if ((rc = xvXenGetStringList(p, "disk", false, &disks)) <= 0)
        return rc;
    for (i = 0; disks[i]; i++) {
        virDomainDiskDef *disk = xvXenParseDisk(p, disks[i]);

        if (!disk)
            return -1;
        /* In the order the XML parser keeps, so that a round trip is stable. */
        virDomainDiskInsert(def, disk);
    }
    return 0;
}

static int
xvXenFormatDisk(xvXenWriter *w, virDomainDiskDef *disk, GPtrArray *out)
{
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    const char *src = virDomainDiskGetSource(disk);
    const char *driver = virDomainDiskGetDriver(disk);
    int type = virDomainDiskGetType(disk);
    int fmt = virDomainDiskGetFormat(disk);
    const char *format = NULL;
    bool cdrom = disk->device == VIR_DOMAIN_DISK_DEVICE_CDROM;

    if (disk->device != VIR_DOMAIN_DISK_DEVICE_DISK && !cdrom) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s': device '%s' cannot be expressed in a Xen configuration"),
                       disk->dst, virDomainDiskDeviceTypeToString(disk->device));
        return -1;
    }
    if (type != VIR_STORAGE_TYPE_FILE && type != VIR_STORAGE_TYPE_BLOCK) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s': source type '%s' cannot be expressed in a Xen configuration"),
                       disk->dst, virStorageTypeToString(type));
        return -1;
    }
    if (!xvXenIsVdev(disk->dst)) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk target '%s' cannot be expressed in a Xen configuration, expected hdX, sdX or xvdX"),
                       disk->dst);
        return -1;
    }
    if (fmt != VIR_STORAGE_FILE_NONE && !(format = xvXenDiskFormatToString(fmt))) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s': format '%s' cannot be expressed in a Xen configuration"),
                       disk->dst, virStorageFileFormatTypeToString(fmt));
        return -1;
    }
    if (disk->bus != VIR_DOMAIN_DISK_BUS_XEN && disk->bus != VIR_DOMAIN_DISK_BUS_IDE &&
        disk->bus != VIR_DOMAIN_DISK_BUS_SCSI && disk->bus != VIR_DOMAIN_DISK_BUS_NONE &&
        (disk->bus != VIR_DOMAIN_DISK_BUS_VIRTIO || w->format != XV_XEN_FORMAT_XL)) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s': bus '%s' cannot be expressed in a Xen configuration"),
                       disk->dst, virDomainDiskBusTypeToString(disk->bus));
        return -1;
    }
    if ((disk->cachemode != VIR_DOMAIN_DISK_CACHE_DEFAULT &&
         disk->cachemode != VIR_DOMAIN_DISK_CACHE_DISABLE) ||
        (disk->discard != VIR_DOMAIN_DISK_DISCARD_DEFAULT && w->format != XV_XEN_FORMAT_XL) ||
        (disk->cachemode != VIR_DOMAIN_DISK_CACHE_DEFAULT && w->format != XV_XEN_FORMAT_XL)) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s': this cache or discard mode cannot be expressed in a Xen configuration"),
                       disk->dst);
        return -1;
    }
    if (driver && STRNEQ(driver, "phy") && STRNEQ(driver, "qemu") &&
        STRNEQ(driver, "tap") && STRNEQ(driver, "file")) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s': driver '%s' cannot be expressed in a Xen configuration"),
                       disk->dst, driver);
        return -1;
    }
    if (disk->src->shared && w->format == XV_XEN_FORMAT_XL) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s': a shareable disk cannot be expressed in the xen-xl format"),
                       disk->dst);
        return -1;
    }

    if (w->format == XV_XEN_FORMAT_XM) {
        /* [prefix:][format:]target,vdev[:cdrom],access */
        if (src) {
            if (driver && STREQ(driver, "tap"))
                virBufferAsprintf(&buf, "tap:%s:", format && STRNEQ(format, "raw") ? format : "aio");
            else if (driver && STREQ(driver, "phy"))
                virBufferAddLit(&buf, "phy:");
            else if (driver && STREQ(driver, "file"))
                virBufferAddLit(&buf, "file:");
            else if (format && STRNEQ(format, "raw"))
                virBufferAsprintf(&buf, "%s:", format);
            if (strchr(src, ','))
                goto badsource;
            virBufferAdd(&buf, src, -1);
        }
        virBufferAsprintf(&buf, ",%s%s,%s", disk->dst, cdrom ? ":cdrom" : "",
                          disk->src->readonly ? "r" : disk->src->shared ? "w!" : "w");
        g_ptr_array_add(out, virBufferContentAndReset(&buf));
        return 0;
    }

    if (format && src)
        virBufferAsprintf(&buf, "format=%s,", format);
    virBufferAsprintf(&buf, "vdev=%s,access=%s", disk->dst,
                      disk->src->readonly ? "ro" : "rw");
    if (cdrom)
        virBufferAddLit(&buf, ",devtype=cdrom");
    if (driver && STREQ(driver, "phy"))
        virBufferAddLit(&buf, ",backendtype=phy");
    else if (driver && STREQ(driver, "qemu"))
        virBufferAddLit(&buf, ",backendtype=qdisk");
    else if (driver && STREQ(driver, "tap"))
        virBufferAddLit(&buf, ",backendtype=tap");
    if (disk->domain_name)
        virBufferAsprintf(&buf, ",backend=%s", disk->domain_name);
    if (disk->bus == VIR_DOMAIN_DISK_BUS_VIRTIO)
        virBufferAddLit(&buf, ",specification=virtio");
    if (disk->discard == VIR_DOMAIN_DISK_DISCARD_UNMAP)
        virBufferAddLit(&buf, ",discard");
    else if (disk->discard == VIR_DOMAIN_DISK_DISCARD_IGNORE)
        virBufferAddLit(&buf, ",no-discard");
    if (disk->cachemode == VIR_DOMAIN_DISK_CACHE_DISABLE)
        virBufferAddLit(&buf, ",direct-io-safe");
    if (src)
        virBufferAsprintf(&buf, ",target=%s", src);
    g_ptr_array_add(out, virBufferContentAndReset(&buf));
    return 0;

 badsource:
    virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                   _("disk '%s': source '%s' has a comma, which the xen-xm format cannot express"),
                   disk->dst, src);
    return -1;
}

int
xvXenFormatDiskList(xvXenWriter *w, virDomainDef *def)
{
    g_autoptr(GPtrArray) disks = g_ptr_array_new_with_free_func(g_free);
    size_t i;

    for (i = 0; i < def->ndisks; i++) {
        if (xvXenFormatDisk(w, def->disks[i], disks) < 0)
            return -1;
    }
    return xvXenSetStringList(w, "disk", disks);
}

/* ---------------------------------------------------------------------
 * pci: "[DDDD:]BB:DD.F[@VSLOT][,key=value...]" (xl-pci-configuration(5))
 */

static virDomainHostdevDef *
xvXenParsePCI(xvXenParser *p, const char *spec)
{
    g_autoptr(GPtrArray) items = xvXenSpecSplit(spec, false);
    g_autoptr(virDomainHostdevDef) hostdev = virDomainHostdevDefNew();
    unsigned int line = xvXenLineOf(p, "pci", spec);
    virPCIDeviceAddress *addr;
    g_autofree char *bdf = NULL;
    unsigned int vslot = 0;
    bool hasVslot = false;
    char *at;
    size_t i;

    if (!hostdev)
        return NULL;
    hostdev->mode = VIR_DOMAIN_HOSTDEV_MODE_SUBSYS;
    hostdev->source.subsys.type = VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_PCI;
    hostdev->source.subsys.u.pci.backend = VIR_DOMAIN_HOSTDEV_PCI_BACKEND_XEN;
    addr = &hostdev->source.subsys.u.pci.addr;

    for (i = 0; i < items->len; i++) {
        xvXenSpecItem *item = g_ptr_array_index(items, i);
        const char *k = item->key;
        const char *v = item->value;

        if (!k && i == 0) {
            bdf = g_strdup(v);
        } else if (k && STREQ(k, "bdf") && !bdf) {
            bdf = g_strdup(v);
        } else if (k && STREQ(k, "vslot")) {
            if (virStrToLong_uip(v, NULL, 0, &vslot) < 0 || vslot > 31)
                goto malformed;
            hasVslot = true;
        } else if (k && STREQ(k, "seize")) {
            if (STRNEQ(v, "0") && STRNEQ(v, "1"))
                goto malformed;
            hostdev->managed = STREQ(v, "1");
        } else if (k && (STREQ(k, "permissive") || STREQ(k, "msitranslate") ||
                         STREQ(k, "power_mgmt"))) {
            if (STRNEQ(v, "0")) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: pci spec '%s': '%s=%s' cannot be expressed in a domain XML"),
                               line, spec, k, v);
                return NULL;
            }
        } else {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: pci spec '%s': '%s' is not supported"),
                           line, spec, k ? k : v);
            return NULL;
        }
    }
    if (!bdf)
        goto malformed;

    if ((at = strchr(bdf, '@'))) {
        *at = '\0';
        if (virStrToLong_uip(at + 1, NULL, 16, &vslot) < 0 || vslot > 31)
            goto malformed;
        hasVslot = true;
    }
    {
        unsigned int d = 0, b, s, f;
        char tail;

        if (sscanf(bdf, "%x:%x:%x.%x%c", &d, &b, &s, &f, &tail) != 4) {
            d = 0;
            if (sscanf(bdf, "%x:%x.%x%c", &b, &s, &f, &tail) != 3)
                goto malformed;
        }
        if (strchr(bdf, '*') || d > 0xffff || b > 0xff || s > 0x1f || f > 7)
            goto malformed;
        addr->domain = d;
        addr->bus = b;
        addr->slot = s;
        addr->function = f;
    }
    if (hasVslot) {
        hostdev->info->type = VIR_DOMAIN_DEVICE_ADDRESS_TYPE_PCI;
        hostdev->info->addr.pci.slot = vslot;
    }
    return g_steal_pointer(&hostdev);

 malformed:
    virReportError(VIR_ERR_CONF_SYNTAX,
                   _("line %u: pci spec '%s' is malformed, expected [DDDD:]BB:DD.F[@VSLOT][,KEY=VALUE...]"),
                   line, spec);
    return NULL;
}

static int
xvXenParsePCIList(xvXenParser *p, virDomainDef *def)
{
    g_auto(GStrv) list = NULL;
    size_t i;
    int rc;

    if ((rc = xvXenGetStringList(p, "pci", false, &list)) <= 0)
        return rc;
    for (i = 0; list[i]; i++) {
        virDomainHostdevDef *hostdev = xvXenParsePCI(p, list[i]);

        if (!hostdev)
            return -1;
        VIR_APPEND_ELEMENT(def->hostdevs, def->nhostdevs, hostdev);
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * Graphics: vfb specs (PV, PVH) or top-level keys (HVM); both take the
 * same names, so one parser reads a "key -> value" lookup of either.
 */

typedef const char *(*xvXenLookup)(void *opaque, const char *key);

typedef struct {
    xvXenParser *p;
    GPtrArray *items;       /* of a vfb spec, or NULL for top-level keys */
    const char *spec;
    unsigned int line;
    bool failed;
} xvXenGfxSource;

static const char *
xvXenGfxGet(xvXenGfxSource *src, const char *key)
{
    size_t i;

    if (src->items) {
        const char *found = NULL;

        for (i = 0; i < src->items->len; i++) {
            xvXenSpecItem *item = g_ptr_array_index(src->items, i);

            if (item->key && STREQ(item->key, key))
                found = item->value;
        }
        return found && *found ? found : NULL;
    } else {
        virConfValue *val = virConfGetValue(src->p->conf, key);
        static __thread char num[32];

        if (!val)
            return NULL;
        g_hash_table_add(src->p->used, g_strdup(key));
        if (val->type == VIR_CONF_STRING) {
            if (xvXenCheckText(src->p, key, val->str) < 0) {
                src->failed = true;
                return NULL;
            }
            return *val->str ? val->str : NULL;
        }
        if (val->type == VIR_CONF_ULLONG) {
            g_snprintf(num, sizeof(num), "%lld", val->l);
            return num;
        }
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: the value of '%s' must be a string or a number"),
                       xvXenLine(src->p, key), key);
        src->failed = true;
        return NULL;
    }
}

static int
xvXenGfxBool(xvXenGfxSource *src, const char *key, int *value)
{
    const char *v = xvXenGfxGet(src, key);

    if (src->failed)
        return -1;
    if (!v)
        return 0;
    if (STRNEQ(v, "0") && STRNEQ(v, "1")) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: '%s' must be 0 or 1, not '%s'"),
                       src->items ? src->line : xvXenLine(src->p, key), key, v);
        return -1;
    }
    *value = STREQ(v, "1");
    return 1;
}

static int
xvXenGfxUInt(xvXenGfxSource *src, const char *key, unsigned int max,
             unsigned int *value)
{
    const char *v = xvXenGfxGet(src, key);

    if (src->failed)
        return -1;
    if (!v)
        return 0;
    if (virStrToLong_uip(v, NULL, 10, value) < 0 || *value > max) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: '%s' must be a number up to %u, not '%s'"),
                       src->items ? src->line : xvXenLine(src->p, key), key, max, v);
        return -1;
    }
    return 1;
}

/* A listen address: libvirt writes it into an attribute unescaped. */
static const char *
xvXenGfxListen(xvXenGfxSource *src, const char *key)
{
    const char *v = xvXenGfxGet(src, key);

    if (v && strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:-_%") != strlen(v)) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: '%s' value '%s' is not a host name or address"),
                       src->items ? src->line : xvXenLine(src->p, key), key, v);
        src->failed = true;
        return NULL;
    }
    return v;
}

static int
xvXenParseGraphics(xvXenGfxSource *src, virDomainDef *def)
{
    xvXenParser *p = src->p;
    int vnc = 0;
    int sdl = 0;
    int spice = 0;
    int b;
    const char *v;

    if (xvXenGfxBool(src, "vnc", &vnc) < 0 ||
        xvXenGfxBool(src, "sdl", &sdl) < 0)
        return -1;
    if (!src->items && def->os.type == VIR_DOMAIN_OSTYPE_HVM &&
        p->format == XV_XEN_FORMAT_XL && xvXenGfxBool(src, "spice", &spice) < 0)
        return -1;

    if (vnc) {
        g_autoptr(virDomainGraphicsDef) gfx = virDomainGraphicsDefNew(p->xmlopt);
        unsigned int display = 0;
        int unused = -1;
        int rc;

        if (!gfx)
            return -1;
        gfx->type = VIR_DOMAIN_GRAPHICS_TYPE_VNC;
        if ((rc = xvXenGfxUInt(src, "vncdisplay", 65535 - 5900, &display)) < 0 ||
            xvXenGfxBool(src, "vncunused", &unused) < 0)
            return -1;
        if (unused == 1 || (unused == -1 && rc == 0)) {
            gfx->data.vnc.autoport = true;
            gfx->data.vnc.port = -1;
        } else {
            gfx->data.vnc.port = 5900 + display;
        }
        /* Like the XML parser: a listen element even without address. */
        v = xvXenGfxListen(src, "vnclisten");
        if (src->failed || virDomainGraphicsListenAppendAddress(gfx, v) < 0)
            return -1;
        if ((v = xvXenGfxGet(src, "vncpasswd")) && *v)
            gfx->data.vnc.auth.passwd = g_strdup(v);
        if ((v = xvXenGfxGet(src, "keymap")))
            gfx->data.vnc.keymap = g_strdup(v);
        if (src->failed)
            return -1;
        VIR_APPEND_ELEMENT(def->graphics, def->ngraphics, gfx);
    }
    if (sdl) {
        g_autoptr(virDomainGraphicsDef) gfx = virDomainGraphicsDefNew(p->xmlopt);
        int gl = -1;

        if (!gfx)
            return -1;
        gfx->type = VIR_DOMAIN_GRAPHICS_TYPE_SDL;
        if ((v = xvXenGfxGet(src, "display")))
            gfx->data.sdl.display = g_strdup(v);
        if ((v = xvXenGfxGet(src, "xauthority")))
            gfx->data.sdl.xauth = g_strdup(v);
        if (xvXenGfxBool(src, "opengl", &gl) < 0)
            return -1;
        if (gl != -1)
            gfx->data.sdl.gl = gl ? VIR_TRISTATE_BOOL_YES : VIR_TRISTATE_BOOL_NO;
        if (src->failed)
            return -1;
        VIR_APPEND_ELEMENT(def->graphics, def->ngraphics, gfx);
    }
    if (spice) {
        g_autoptr(virDomainGraphicsDef) gfx = virDomainGraphicsDefNew(p->xmlopt);
        unsigned int port = 0;
        unsigned int tlsport = 0;
        int noticket = 0;

        if (!gfx)
            return -1;
        gfx->type = VIR_DOMAIN_GRAPHICS_TYPE_SPICE;
        v = xvXenGfxListen(src, "spicehost");
        if (src->failed || virDomainGraphicsListenAppendAddress(gfx, v) < 0)
            return -1;
        if (xvXenGfxUInt(src, "spiceport", 65535, &port) < 0 ||
            xvXenGfxUInt(src, "spicetls_port", 65535, &tlsport) < 0 ||
            xvXenGfxBool(src, "spicedisable_ticketing", &noticket) < 0)
            return -1;
        gfx->data.spice.port = port;
        gfx->data.spice.tlsPort = tlsport;
        gfx->data.spice.autoport = port == 0 && tlsport == 0;
        if ((v = xvXenGfxGet(src, "spicepasswd"))) {
            if (noticket) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: 'spicepasswd' contradicts 'spicedisable_ticketing = 1'"),
                               xvXenLine(p, "spicepasswd"));
                return -1;
            }
            gfx->data.spice.auth.passwd = g_strdup(v);
        } else if (!noticket) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: spice needs 'spicepasswd' or 'spicedisable_ticketing = 1'"),
                           xvXenLine(p, "spice"));
            return -1;
        }
        b = -1;
        if (xvXenGfxBool(src, "spiceagent_mouse", &b) < 0)
            return -1;
        if (b != -1)
            gfx->data.spice.mousemode = b ? VIR_DOMAIN_MOUSE_MODE_CLIENT
                                          : VIR_DOMAIN_MOUSE_MODE_SERVER;
        b = -1;
        if (xvXenGfxBool(src, "spice_clipboard_sharing", &b) < 0)
            return -1;
        if (b != -1)
            gfx->data.spice.copypaste = b ? VIR_TRISTATE_BOOL_YES : VIR_TRISTATE_BOOL_NO;
        VIR_APPEND_ELEMENT(def->graphics, def->ngraphics, gfx);
    }
    return 0;
}

static int
xvXenParseVfbList(xvXenParser *p, virDomainDef *def)
{
    g_auto(GStrv) list = NULL;
    size_t i;
    int rc;

    if (def->os.type == VIR_DOMAIN_OSTYPE_HVM) {
        xvXenGfxSource src = { .p = p };

        return xvXenParseGraphics(&src, def);
    }

    if ((rc = xvXenGetStringList(p, "vfb", false, &list)) <= 0)
        return rc;
    for (i = 0; list[i]; i++) {
        g_autoptr(GPtrArray) items = xvXenSpecSplit(list[i], false);
        xvXenGfxSource src = { .p = p, .items = items, .spec = list[i],
                               .line = xvXenLineOf(p, "vfb", list[i]) };
        const char *known[] = { "vnc", "sdl", "vncdisplay", "vncunused",
                                "vnclisten", "vncpasswd", "keymap",
                                "display", "xauthority", "opengl" };
        size_t j;
        size_t k;

        for (j = 0; j < items->len; j++) {
            xvXenSpecItem *item = g_ptr_array_index(items, j);

            for (k = 0; k < G_N_ELEMENTS(known); k++) {
                if (item->key && STREQ(item->key, known[k]))
                    break;
            }
            if (k == G_N_ELEMENTS(known) && (item->key || *item->value)) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: vfb spec '%s': '%s' is not supported"),
                               src.line, list[i], item->key ? item->key : item->value);
                return -1;
            }
        }
        if (xvXenParseGraphics(&src, def) < 0)
            return -1;
    }

    /* A vfb is the Xen PV framebuffer, whatever the PVH default is. */
    if (def->ngraphics > 0 && def->nvideos == 0) {
        virDomainVideoDef *video = virDomainVideoDefNew(p->xmlopt);

        if (!video)
            return -1;
        video->type = VIR_DOMAIN_VIDEO_TYPE_XEN;
        video->heads = 1;
        video->primary = true;
        VIR_APPEND_ELEMENT(def->videos, def->nvideos, video);
    }
    return 0;
}

static int
xvXenParseVideo(xvXenParser *p, virDomainDef *def)
{
    const char *vga = NULL;
    bool stdvga = false;
    unsigned long long videoram = 0;
    g_autoptr(virDomainVideoDef) video = NULL;
    int type = -1;
    int rc;

    if (def->os.type != VIR_DOMAIN_OSTYPE_HVM)
        return 0;
    if (xvXenGetBool(p, "stdvga", &stdvga) < 0 ||
        (p->format == XV_XEN_FORMAT_XL && xvXenGetString(p, "vga", &vga) < 0) ||
        (rc = xvXenGetULLong(p, "videoram", &videoram)) < 0)
        return -1;

    if (vga) {
        if (STREQ(vga, "stdvga"))
            type = VIR_DOMAIN_VIDEO_TYPE_VGA;
        else if (STREQ(vga, "cirrus"))
            type = VIR_DOMAIN_VIDEO_TYPE_CIRRUS;
        else if (STREQ(vga, "qxl"))
            type = VIR_DOMAIN_VIDEO_TYPE_QXL;
        else if (STREQ(vga, "none"))
            type = VIR_DOMAIN_VIDEO_TYPE_NONE;
        else {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: unknown 'vga' value '%s'"),
                           xvXenLine(p, "vga"), vga);
            return -1;
        }
    } else if (stdvga) {
        type = VIR_DOMAIN_VIDEO_TYPE_VGA;
    }
    if (type < 0 && rc == 0)
        return 0;
    if (type < 0)
        type = VIR_DOMAIN_VIDEO_TYPE_CIRRUS;
    if (videoram > UINT_MAX / 1024) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: 'videoram' %llu is out of range"),
                       xvXenLine(p, "videoram"), videoram);
        return -1;
    }
    if (!(video = virDomainVideoDefNew(p->xmlopt)))
        return -1;
    video->type = type;
    video->vram = videoram * 1024;
    video->heads = 1;
    video->primary = true;
    VIR_APPEND_ELEMENT(def->videos, def->nvideos, video);
    return 0;
}

/* ---------------------------------------------------------------------
 * Character devices: qemu's legacy chardev syntax in 'serial'
 */

static virDomainChrDef *
xvXenParseChr(xvXenParser *p, const char *key, const char *value)
{
    g_autoptr(virDomainChrDef) chr = virDomainChrDefNew(p->xmlopt);
    virDomainChrSourceDef *src;
    unsigned int line = xvXenLineOf(p, key, value);

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
    } else if (STRPREFIX(value, "tcp:") || STRPREFIX(value, "unix:")) {
        bool tcp = STRPREFIX(value, "tcp:");
        g_auto(GStrv) opts = g_strsplit(strchr(value, ':') + 1, ",", 0);
        bool listen = false;
        size_t i;

        if (!opts[0])
            goto unsupported;   /* "tcp:" or "unix:" and nothing more */
        for (i = 1; opts[i]; i++) {
            if (STREQ(opts[i], "server") || STREQ(opts[i], "server=on"))
                listen = true;
            else if (STRNEQ(opts[i], "nowait") && STRNEQ(opts[i], "wait=off") &&
                     STRNEQ(opts[i], "server=off"))
                goto unsupported;
        }
        if (tcp) {
            char *colon = strrchr(opts[0], ':');

            if (!colon || !colon[1])
                goto unsupported;
            src->type = VIR_DOMAIN_CHR_TYPE_TCP;
            src->data.tcp.host = colon == opts[0] ? NULL : g_strndup(opts[0], colon - opts[0]);
            src->data.tcp.service = g_strdup(colon + 1);
            src->data.tcp.listen = listen;
            src->data.tcp.protocol = VIR_DOMAIN_CHR_TCP_PROTOCOL_RAW;
        } else {
            if (!*opts[0])
                goto unsupported;
            src->type = VIR_DOMAIN_CHR_TYPE_UNIX;
            src->data.nix.path = g_strdup(opts[0]);
            src->data.nix.listen = listen;
        }
    } else {
        goto unsupported;
    }
    return g_steal_pointer(&chr);

 unsupported:
    virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                   _("line %u: '%s' device '%s' is not supported"),
                   line, key, value);
    return NULL;
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
    case VIR_DOMAIN_CHR_TYPE_TCP:
        if (src->data.tcp.protocol != VIR_DOMAIN_CHR_TCP_PROTOCOL_RAW)
            break;
        virBufferAsprintf(buf, "tcp:%s:%s%s", NULLSTR_EMPTY(src->data.tcp.host),
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

static int
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

/* ---------------------------------------------------------------------
 * Sound and USB (HVM)
 */

static int
xvXenParseSound(xvXenParser *p, virDomainDef *def)
{
    const char *soundhw = NULL;
    g_auto(GStrv) models = NULL;
    size_t i;
    int rc;

    if (def->os.type != VIR_DOMAIN_OSTYPE_HVM)
        return 0;
    if ((rc = xvXenGetString(p, "soundhw", &soundhw)) <= 0)
        return rc;
    models = g_strsplit(soundhw, ",", 0);
    for (i = 0; models[i]; i++) {
        virDomainSoundDef *sound;
        int model;

        if (STREQ(models[i], "hda"))
            model = VIR_DOMAIN_SOUND_MODEL_ICH6;
        else if (STREQ(models[i], "ac97") || STREQ(models[i], "sb16") ||
                 STREQ(models[i], "es1370"))
            model = virDomainSoundModelTypeFromString(models[i]);
        else {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: sound card '%s' in 'soundhw' is not supported, expected ac97, es1370, hda or sb16"),
                           xvXenLine(p, "soundhw"), models[i]);
            return -1;
        }
        sound = g_new0(virDomainSoundDef, 1);
        sound->model = model;
        VIR_APPEND_ELEMENT(def->sounds, def->nsounds, sound);
    }
    return 0;
}

static int
xvXenAddInput(virDomainDef *def, int type, int bus)
{
    virDomainInputDef *input = g_new0(virDomainInputDef, 1);

    input->type = type;
    input->bus = bus;
    VIR_APPEND_ELEMENT(def->inputs, def->ninputs, input);
    return 0;
}

static int
xvXenParseUSB(xvXenParser *p, virDomainDef *def)
{
    g_auto(GStrv) list = NULL;
    bool usb = false;
    size_t i;
    int rc;

    if (def->os.type != VIR_DOMAIN_OSTYPE_HVM)
        return 0;
    if (xvXenGetBool(p, "usb", &usb) < 0)
        return -1;
    if (usb && !virDomainDefAddController(def, VIR_DOMAIN_CONTROLLER_TYPE_USB, 0,
                                          VIR_DOMAIN_CONTROLLER_MODEL_USB_PIIX3_UHCI))
        return -1;

    if ((rc = xvXenGetStringList(p, "usbdevice", true, &list)) <= 0)
        return rc;
    for (i = 0; list[i]; i++) {
        unsigned int a, b;
        char tail;

        if (STREQ(list[i], "tablet")) {
            xvXenAddInput(def, VIR_DOMAIN_INPUT_TYPE_TABLET, VIR_DOMAIN_INPUT_BUS_USB);
        } else if (STREQ(list[i], "mouse")) {
            xvXenAddInput(def, VIR_DOMAIN_INPUT_TYPE_MOUSE, VIR_DOMAIN_INPUT_BUS_USB);
        } else if (STREQ(list[i], "keyboard")) {
            xvXenAddInput(def, VIR_DOMAIN_INPUT_TYPE_KBD, VIR_DOMAIN_INPUT_BUS_USB);
        } else if (STRPREFIX(list[i], "host:") &&
                   ((sscanf(list[i] + 5, "%x:%x%c", &a, &b, &tail) == 2 &&
                     a <= 0xffff && b <= 0xffff) ||
                    (sscanf(list[i] + 5, "%u.%u%c", &a, &b, &tail) == 2))) {
            virDomainHostdevDef *hostdev = virDomainHostdevDefNew();
            virDomainHostdevSubsysUSB *usbsrc;

            if (!hostdev)
                return -1;
            hostdev->mode = VIR_DOMAIN_HOSTDEV_MODE_SUBSYS;
            hostdev->source.subsys.type = VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_USB;
            usbsrc = &hostdev->source.subsys.u.usb;
            if (a == 0 || b == 0) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: USB device '%s' in 'usbdevice' cannot have a zero number"),
                               xvXenLineOf(p, "usbdevice", list[i]), list[i]);
                virDomainHostdevDefFree(hostdev);
                return -1;
            }
            if (strchr(list[i] + 5, ':')) {
                usbsrc->vendor = a;
                usbsrc->product = b;
            } else {
                usbsrc->bus = a;
                usbsrc->device = b;
            }
            VIR_APPEND_ELEMENT(def->hostdevs, def->nhostdevs, hostdev);
        } else {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: USB device '%s' in 'usbdevice' is not supported"),
                           xvXenLineOf(p, "usbdevice", list[i]), list[i]);
            return -1;
        }
    }
    return 0;
}

int
xvXenParseDevices(xvXenParser *p, virDomainDef *def)
{
    if (xvXenParseDiskList(p, def) < 0 ||
        xvXenParseVifList(p, def) < 0 ||
        xvXenParsePCIList(p, def) < 0 ||
        xvXenParseVfbList(p, def) < 0 ||
        xvXenParseVideo(p, def) < 0 ||
        xvXenParseSerial(p, def) < 0 ||
        xvXenParseSound(p, def) < 0 ||
        xvXenParseUSB(p, def) < 0)
        return -1;
    return 0;
}

/* ---------------------------------------------------------------------
 * The end of parsing: no key left unread
 */

static int
xvXenCheckUsed(const char *name, virConfValue *value, void *opaque)
{
    xvXenParser *p = opaque;

    if (g_hash_table_contains(p->used, name))
        return 0;
    if (value->type == VIR_CONF_STRING)
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: '%s = \"%s\"' is not supported for this guest in the %s format"),
                       xvXenLine(p, name), name, value->str,
                       p->format == XV_XEN_FORMAT_XL ? "xen-xl" : "xen-xm");
    else if (value->type == VIR_CONF_LIST)
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: '%s = [...]' is not supported for this guest in the %s format"),
                       xvXenLine(p, name), name,
                       p->format == XV_XEN_FORMAT_XL ? "xen-xl" : "xen-xm");
    else
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: '%s = %lld' is not supported for this guest in the %s format"),
                       xvXenLine(p, name), name, value->l,
                       p->format == XV_XEN_FORMAT_XL ? "xen-xl" : "xen-xm");
    return -1;
}

int
xvXenParseFinish(xvXenParser *p, virDomainDef *def G_GNUC_UNUSED)
{
    return virConfWalk(p->conf, xvXenCheckUsed, p);
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

static int
xvXenFormatOS(xvXenWriter *w, virDomainDef *def)
{
    bool xl = w->format == XV_XEN_FORMAT_XL;
    bool hvm = def->os.type == VIR_DOMAIN_OSTYPE_HVM;

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

    if (hvm) {
        if (def->os.firmware == VIR_DOMAIN_OS_DEF_FIRMWARE_EFI &&
            xvXenSetString(w, "bios", "ovmf") < 0)
            return -1;
        if (def->os.firmware == VIR_DOMAIN_OS_DEF_FIRMWARE_BIOS &&
            xvXenSetString(w, "bios", "seabios") < 0)
            return -1;
        if (def->os.loader && def->os.loader->path) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("an explicit firmware loader path cannot be expressed in a Xen configuration, use firmware='efi' or 'bios'"));
            return -1;
        }
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
        xvXenSetString(w, "bootloader_args", def->os.bootloaderArgs) < 0)
        return -1;

    if (hvm && def->os.nBootDevs > 0) {
        char boot[VIR_DOMAIN_BOOT_LAST + 1] = { 0 };
        size_t i;

        for (i = 0; i < def->os.nBootDevs; i++) {
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
        if (xvXenSetString(w, "boot", boot) < 0)
            return -1;
    }
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
                if (xvXenTimerModes[j].policy == t->tickpolicy)
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
                if (xvXenTscModes[j].mode == t->mode)
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

/* ---------------------------------------------------------------------
 * Writing: devices other than disks and vifs
 */

static int
xvXenFormatPCI(xvXenWriter *w, virDomainDef *def)
{
    g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(g_free);
    size_t i;

    for (i = 0; i < def->nhostdevs; i++) {
        virDomainHostdevDef *h = def->hostdevs[i];
        virPCIDeviceAddress *a = &h->source.subsys.u.pci.addr;
        g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;

        if (h->mode != VIR_DOMAIN_HOSTDEV_MODE_SUBSYS ||
            h->source.subsys.type != VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_PCI)
            continue;
        if (h->source.subsys.u.pci.backend != VIR_DOMAIN_HOSTDEV_PCI_BACKEND_XEN &&
            h->source.subsys.u.pci.backend != VIR_DOMAIN_HOSTDEV_PCI_BACKEND_DEFAULT) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("a PCI host device needs the 'xen' driver to be expressed in a Xen configuration"));
            return -1;
        }
        virBufferAsprintf(&buf, "%04x:%02x:%02x.%x", a->domain, a->bus, a->slot, a->function);
        if (h->info->type == VIR_DOMAIN_DEVICE_ADDRESS_TYPE_PCI) {
            if (h->info->addr.pci.domain || h->info->addr.pci.bus ||
                h->info->addr.pci.function) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                               _("a PCI host device's guest address can only name a slot on bus 0 in a Xen configuration"));
                return -1;
            }
            virBufferAsprintf(&buf, "@%x", h->info->addr.pci.slot);
        } else if (h->info->type != VIR_DOMAIN_DEVICE_ADDRESS_TYPE_NONE) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("a PCI host device's guest address must be a PCI address in a Xen configuration"));
            return -1;
        }
        if (h->managed)
            virBufferAddLit(&buf, ",seize=1");
        g_ptr_array_add(list, virBufferContentAndReset(&buf));
    }
    return xvXenSetStringList(w, "pci", list);
}

static int
xvXenFormatGraphicsSpec(xvXenWriter *w, virDomainGraphicsDef *gfx, bool hvm,
                        virBuffer *spec)
{
    const char *listen = NULL;
    virDomainGraphicsListenDef *l = virDomainGraphicsGetListen(gfx, 0);

    if (gfx->nListens > 1 ||
        (l && l->type != VIR_DOMAIN_GRAPHICS_LISTEN_TYPE_ADDRESS)) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("graphics can only listen on one address in a Xen configuration"));
        return -1;
    }
    if (l)
        listen = l->address;

#define XV_GFX_SET_STR(key, val) \
    do { \
        if (hvm) { \
            if (xvXenSetString(w, key, val) < 0) \
                return -1; \
        } else { \
            virBufferAsprintf(spec, ",%s=%s", key, val); \
        } \
    } while (0)
#define XV_GFX_SET_NUM(key, val) \
    do { \
        if (hvm) { \
            if (xvXenSetULLong(w, key, val) < 0) \
                return -1; \
        } else { \
            virBufferAsprintf(spec, ",%s=%llu", key, (unsigned long long) (val)); \
        } \
    } while (0)

    switch (gfx->type) {
    case VIR_DOMAIN_GRAPHICS_TYPE_VNC:
        XV_GFX_SET_NUM("vnc", 1);
        if (gfx->data.vnc.autoport || gfx->data.vnc.port < 5900) {
            XV_GFX_SET_NUM("vncunused", 1);
        } else {
            XV_GFX_SET_NUM("vncdisplay", gfx->data.vnc.port - 5900);
            XV_GFX_SET_NUM("vncunused", 0);
        }
        if (listen)
            XV_GFX_SET_STR("vnclisten", listen);
        if (gfx->data.vnc.auth.passwd)
            XV_GFX_SET_STR("vncpasswd", gfx->data.vnc.auth.passwd);
        if (gfx->data.vnc.keymap)
            XV_GFX_SET_STR("keymap", gfx->data.vnc.keymap);
        break;
    case VIR_DOMAIN_GRAPHICS_TYPE_SDL:
        XV_GFX_SET_NUM("sdl", 1);
        if (gfx->data.sdl.display)
            XV_GFX_SET_STR("display", gfx->data.sdl.display);
        if (gfx->data.sdl.xauth)
            XV_GFX_SET_STR("xauthority", gfx->data.sdl.xauth);
        if (gfx->data.sdl.gl != VIR_TRISTATE_BOOL_ABSENT)
            XV_GFX_SET_NUM("opengl", gfx->data.sdl.gl == VIR_TRISTATE_BOOL_YES);
        if (gfx->data.sdl.fullscreen) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("full-screen SDL graphics cannot be expressed in a Xen configuration"));
            return -1;
        }
        break;
    case VIR_DOMAIN_GRAPHICS_TYPE_SPICE:
        if (!hvm || w->format != XV_XEN_FORMAT_XL) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("spice graphics can only be expressed for HVM guests in the xen-xl format"));
            return -1;
        }
        XV_GFX_SET_NUM("spice", 1);
        if (listen)
            XV_GFX_SET_STR("spicehost", listen);
        if (gfx->data.spice.port > 0)
            XV_GFX_SET_NUM("spiceport", gfx->data.spice.port);
        if (gfx->data.spice.tlsPort > 0)
            XV_GFX_SET_NUM("spicetls_port", gfx->data.spice.tlsPort);
        if (gfx->data.spice.auth.passwd) {
            XV_GFX_SET_NUM("spicedisable_ticketing", 0);
            XV_GFX_SET_STR("spicepasswd", gfx->data.spice.auth.passwd);
        } else {
            XV_GFX_SET_NUM("spicedisable_ticketing", 1);
        }
        if (gfx->data.spice.mousemode)
            XV_GFX_SET_NUM("spiceagent_mouse",
                           gfx->data.spice.mousemode == VIR_DOMAIN_MOUSE_MODE_CLIENT);
        if (gfx->data.spice.copypaste)
            XV_GFX_SET_NUM("spice_clipboard_sharing",
                           gfx->data.spice.copypaste == VIR_TRISTATE_BOOL_YES);
        break;
    default:
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("graphics type '%s' cannot be expressed in a Xen configuration"),
                       virDomainGraphicsTypeToString(gfx->type));
        return -1;
    }
#undef XV_GFX_SET_STR
#undef XV_GFX_SET_NUM
    return 0;
}

static int
xvXenFormatGraphics(xvXenWriter *w, virDomainDef *def)
{
    bool hvm = def->os.type == VIR_DOMAIN_OSTYPE_HVM;
    g_autoptr(GPtrArray) vfbs = g_ptr_array_new_with_free_func(g_free);
    size_t i;

    for (i = 0; i < def->ngraphics; i++) {
        g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
        const char *spec;

        if (hvm && i > 0 && def->graphics[i]->type == def->graphics[0]->type) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("an HVM guest can have at most one graphics device of each type in a Xen configuration"));
            return -1;
        }
        if (xvXenFormatGraphicsSpec(w, def->graphics[i], hvm, &buf) < 0)
            return -1;
        if (!hvm) {
            spec = virBufferCurrentContent(&buf);
            g_ptr_array_add(vfbs, g_strdup(spec + 1));
        }
    }
    if (!hvm && xvXenSetStringList(w, "vfb", vfbs) < 0)
        return -1;

    for (i = 0; i < def->nvideos; i++) {
        virDomainVideoDef *v = def->videos[i];
        const char *vga = NULL;

        if (!hvm) {
            if (v->type != VIR_DOMAIN_VIDEO_TYPE_XEN) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("video model '%s' is only valid for HVM guests"),
                               virDomainVideoTypeToString(v->type));
                return -1;
            }
            continue;
        }
        if (i > 0) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("an HVM guest can have one video device in a Xen configuration"));
            return -1;
        }
        switch (v->type) {
        case VIR_DOMAIN_VIDEO_TYPE_VGA:
            vga = "stdvga";
            break;
        case VIR_DOMAIN_VIDEO_TYPE_CIRRUS:
            vga = "cirrus";
            break;
        case VIR_DOMAIN_VIDEO_TYPE_QXL:
            vga = "qxl";
            break;
        case VIR_DOMAIN_VIDEO_TYPE_NONE:
            vga = "none";
            break;
        default:
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("video model '%s' cannot be expressed in a Xen configuration"),
                           virDomainVideoTypeToString(v->type));
            return -1;
        }
        if (w->format == XV_XEN_FORMAT_XL) {
            if (xvXenSetString(w, "vga", vga) < 0)
                return -1;
        } else if (v->type == VIR_DOMAIN_VIDEO_TYPE_VGA) {
            if (xvXenSetULLong(w, "stdvga", 1) < 0)
                return -1;
        } else if (v->type != VIR_DOMAIN_VIDEO_TYPE_CIRRUS) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("video model '%s' cannot be expressed in the xen-xm format"),
                           virDomainVideoTypeToString(v->type));
            return -1;
        }
        if (v->vram && xvXenSetULLong(w, "videoram", v->vram / 1024) < 0)
            return -1;
    }
    return 0;
}

static int
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
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("parallel ports cannot be expressed in a Xen configuration"));
        return -1;
    }
    return 0;
}

static int
xvXenFormatSoundUSB(xvXenWriter *w, virDomainDef *def)
{
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    g_autoptr(GPtrArray) usbdevs = g_ptr_array_new_with_free_func(g_free);
    bool hvm = def->os.type == VIR_DOMAIN_OSTYPE_HVM;
    size_t i;

    for (i = 0; i < def->nsounds; i++) {
        const char *model = def->sounds[i]->model == VIR_DOMAIN_SOUND_MODEL_ICH6
                            ? "hda" : virDomainSoundModelTypeToString(def->sounds[i]->model);

        if (!hvm) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("sound devices are only valid for HVM guests"));
            return -1;
        }
        virBufferAsprintf(&buf, "%s%s", i ? "," : "", model);
    }
    if (def->nsounds > 0 &&
        xvXenSetString(w, "soundhw", virBufferCurrentContent(&buf)) < 0)
        return -1;

    for (i = 0; i < def->ninputs; i++) {
        virDomainInputDef *in = def->inputs[i];

        if (in->bus == VIR_DOMAIN_INPUT_BUS_PS2 || in->bus == VIR_DOMAIN_INPUT_BUS_XEN)
            continue;   /* implicit with graphics */
        if (in->bus == VIR_DOMAIN_INPUT_BUS_USB && hvm &&
            (in->type == VIR_DOMAIN_INPUT_TYPE_TABLET ||
             in->type == VIR_DOMAIN_INPUT_TYPE_MOUSE ||
             in->type == VIR_DOMAIN_INPUT_TYPE_KBD)) {
            g_ptr_array_add(usbdevs, g_strdup(in->type == VIR_DOMAIN_INPUT_TYPE_TABLET ? "tablet" :
                                              in->type == VIR_DOMAIN_INPUT_TYPE_MOUSE ? "mouse" :
                                              "keyboard"));
            continue;
        }
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("input device '%s' on bus '%s' cannot be expressed in a Xen configuration for this guest"),
                       virDomainInputTypeToString(in->type),
                       virDomainInputBusTypeToString(in->bus));
        return -1;
    }
    for (i = 0; i < def->nhostdevs; i++) {
        virDomainHostdevDef *h = def->hostdevs[i];
        virDomainHostdevSubsysUSB *usb = &h->source.subsys.u.usb;

        if (h->mode != VIR_DOMAIN_HOSTDEV_MODE_SUBSYS ||
            h->source.subsys.type != VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_USB)
            continue;
        if (w->format == XV_XEN_FORMAT_XL && !hvm)
            continue;   /* PV USB: usbdev, in xen_xl.c */
        if (!hvm) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("USB host devices of PV guests cannot be expressed in the xen-xm format"));
            return -1;
        }
        if (usb->vendor || usb->product)
            g_ptr_array_add(usbdevs, g_strdup_printf("host:%04x:%04x", usb->vendor, usb->product));
        else
            g_ptr_array_add(usbdevs, g_strdup_printf("host:%u.%u", usb->bus, usb->device));
    }
    if (usbdevs->len == 1) {
        if (xvXenSetString(w, "usbdevice", g_ptr_array_index(usbdevs, 0)) < 0)
            return -1;
    } else if (xvXenSetStringList(w, "usbdevice", usbdevs) < 0) {
        return -1;
    }

    for (i = 0; i < def->ncontrollers; i++) {
        virDomainControllerDef *c = def->controllers[i];

        switch ((virDomainControllerType) c->type) {
        case VIR_DOMAIN_CONTROLLER_TYPE_XENBUS:
        case VIR_DOMAIN_CONTROLLER_TYPE_IDE:
        case VIR_DOMAIN_CONTROLLER_TYPE_SCSI:
        case VIR_DOMAIN_CONTROLLER_TYPE_PCI:
            break;  /* implicit */
        case VIR_DOMAIN_CONTROLLER_TYPE_USB:
            if (hvm && (c->model == VIR_DOMAIN_CONTROLLER_MODEL_USB_PIIX3_UHCI ||
                        c->model == VIR_DOMAIN_CONTROLLER_MODEL_USB_DEFAULT)) {
                if (xvXenSetULLong(w, "usb", 1) < 0)
                    return -1;
                break;
            }
            if (w->format == XV_XEN_FORMAT_XL &&
                (c->model == VIR_DOMAIN_CONTROLLER_MODEL_USB_QUSB1 ||
                 c->model == VIR_DOMAIN_CONTROLLER_MODEL_USB_QUSB2))
                break;  /* usbctrl, in xen_xl.c */
            G_GNUC_FALLTHROUGH;
        default:
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("controller '%s' with this model cannot be expressed in a Xen configuration for this guest"),
                           virDomainControllerTypeToString(c->type));
            return -1;
        }
    }
    return 0;
}

int
xvXenFormatDevices(xvXenWriter *w, virDomainDef *def)
{
    if (def->nfss || def->watchdog || def->nsmartcards || def->nhubs ||
        def->nredirdevs || def->nrngs || def->ntpms || def->nshmems ||
        def->nmems || def->npanics || def->vsock || def->nleases ||
        def->iommu) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("filesystems, watchdogs, smartcards, hubs, redirected USB devices, rng, tpm, shmem, memory, panic, vsock, lease and iommu devices cannot be expressed in a Xen configuration"));
        return -1;
    }
    if (def->memballoon && def->memballoon->model != VIR_DOMAIN_MEMBALLOON_MODEL_XEN &&
        def->memballoon->model != VIR_DOMAIN_MEMBALLOON_MODEL_NONE) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("memory balloon model '%s' cannot be expressed in a Xen configuration"),
                       virDomainMemballoonModelTypeToString(def->memballoon->model));
        return -1;
    }
    if (xvXenFormatDiskList(w, def) < 0 ||
        xvXenFormatVifList(w, def) < 0 ||
        xvXenFormatPCI(w, def) < 0 ||
        xvXenFormatGraphics(w, def) < 0 ||
        xvXenFormatChrDevices(w, def) < 0 ||
        xvXenFormatSoundUSB(w, def) < 0)
        return -1;
    return 0;
}
