/*
 * xen_common.c: the value layer the xl.cfg and xm native formats share,
 * and the walk over their devices
 *
 * The grammar of the file itself (key = value, strings, numbers, lists,
 * comments) is libvirt's virConf.  This file gives it types and lines
 * (the line of a key, typed getters that record every key read, setters
 * that refuse what xl cannot read back), splits device specs into
 * "key=value" items, and walks the device kinds in the order a
 * configuration is read and written.  Whatever a domain XML cannot say is
 * refused with VIR_ERR_CONFIG_UNSUPPORTED naming the key and the value.
 *
 * It holds no mapping of its own: the general settings are in
 * xen_general.c, each device kind's parser and writer in its own file
 * (xen_disk.c, xen_vif.c, xen_pci.c, xen_graphics.c, xen_chr.c,
 * xen_sound_usb.c), and what only xl.cfg says in xen_xl.c.
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
int
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

/* Can @value be written as one string?  xl's parser knows neither escapes
 * nor triple quotes; xm's (python) takes a string with both kinds of
 * quotes in triple quotes, which virConf writes. */
static int
xvXenCheckWritable(xvXenWriter *w, const char *key, const char *value)
{
    bool both = strchr(value, '"') && strchr(value, '\'');

    if (strchr(value, '\n') ||
        (both && (w->format == XV_XEN_FORMAT_XL || strstr(value, "\"\"\"") ||
                  g_str_has_suffix(value, "\"")))) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("the value '%s' of '%s' cannot be written in a Xen configuration: it has a newline or both kinds of quotes"),
                       value, key);
        return -1;
    }
    return 0;
}

int
xvXenSetString(xvXenWriter *w, const char *key, const char *value)
{
    g_autoptr(virConfValue) val = NULL;

    if (xvXenCheckWritable(w, key, value) < 0)
        return -1;
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

        if (xvXenCheckWritable(w, key, str) < 0)
            return -1;
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
 * Reading the devices: one step per device kind, each in its own file
 */

int
xvXenParseDevices(xvXenParser *p, virDomainDef *def)
{
    if (xvXenParseDiskList(p, def) < 0 ||
        xvXenParseVifList(p, def) < 0 ||
        xvXenParsePCIList(p, def) < 0 ||
        xvXenParseVfbList(p, def) < 0 ||
        xvXenParseVideo(p, def) < 0 ||
        xvXenParseSerial(p, def) < 0 ||
        xvXenParseParallel(p, def) < 0 ||
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
 * Writing the devices, in the order they are read
 */

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
        xvXenFormatPCIList(w, def) < 0 ||
        xvXenFormatGraphics(w, def) < 0 ||
        xvXenFormatChrDevices(w, def) < 0 ||
        xvXenFormatSoundUSB(w, def) < 0)
        return -1;
    return 0;
}
