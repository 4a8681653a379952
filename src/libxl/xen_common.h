/*
 * xen_common.h: what the xl.cfg and xm native formats share
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"
#include "virconf.h"
#include "domain_conf.h"
#include "capabilities.h"

/* libvirt 9.0.0 declares no cleanup functions for these two. */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virDomainHostdevDef, virDomainHostdevDefFree);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virDomainGraphicsDef, virDomainGraphicsDefFree);

typedef enum {
    XV_XEN_FORMAT_XL,   /* xl.cfg(5), "xen-xl" */
    XV_XEN_FORMAT_XM,   /* xm/xend's python syntax, "xen-xm" */
} xvXenFormat;

/*
 * One native configuration being read.  Every key a parser consults is
 * recorded in @used; a key nobody consulted is refused at the end, so that
 * nothing a user wrote is dropped silently.  @text is the source, kept to
 * name the line of a value in error messages (virConf keeps no lines).
 */
typedef struct _xvXenParser xvXenParser;
struct _xvXenParser {
    virConf *conf;
    const char *text;
    xvXenFormat format;
    virDomainXMLOption *xmlopt;
    GHashTable *used;
};

/* A configuration being written: @format selects the spellings. */
typedef struct _xvXenWriter xvXenWriter;
struct _xvXenWriter {
    virConf *conf;
    xvXenFormat format;
};

/* Source lines */
unsigned int xvXenLine(xvXenParser *p, const char *key);
unsigned int xvXenLineOf(xvXenParser *p, const char *key, const char *needle);

/* Typed getters.  Each returns 0 when the key is absent (outputs untouched),
 * 1 when present and valid, -1 with an error naming the line otherwise. */
int xvXenGetString(xvXenParser *p, const char *key, const char **value);
int xvXenGetULLong(xvXenParser *p, const char *key, unsigned long long *value);
int xvXenGetLLong(xvXenParser *p, const char *key, long long *value);
int xvXenGetBool(xvXenParser *p, const char *key, bool *value);
int xvXenGetTristate(xvXenParser *p, const char *key, virTristateSwitch *value);
int xvXenGetStringList(xvXenParser *p, const char *key, bool allowString,
                       GStrv *values);

/* Setters; they take copies. */
int xvXenSetString(xvXenWriter *w, const char *key, const char *value);
int xvXenSetULLong(xvXenWriter *w, const char *key, unsigned long long value);
int xvXenSetLLong(xvXenWriter *w, const char *key, long long value);
int xvXenSetStringList(xvXenWriter *w, const char *key, GPtrArray *values);

/* A device spec split into "key=value" and bare words. */
typedef struct _xvXenSpecItem xvXenSpecItem;
struct _xvXenSpecItem {
    char *key;      /* NULL for a positional word */
    char *value;
};
GPtrArray *xvXenSpecSplit(const char *spec, bool targetLast);

/* Shared conversions, in the order a configuration is read. */
int xvXenParseGeneral(xvXenParser *p, virDomainDef *def, virCaps *caps);
int xvXenParseDevices(xvXenParser *p, virDomainDef *def);
int xvXenParseFinish(xvXenParser *p, virDomainDef *def);

int xvXenFormatGeneral(xvXenWriter *w, virDomainDef *def);
int xvXenFormatDevices(xvXenWriter *w, virDomainDef *def);
char *xvXenWriterToString(xvXenWriter *w);

/* Entry points: xen_xl.c */
virDomainDef *xvXenConfigParse(const char *text, xvXenFormat format,
                               virCaps *caps, virDomainXMLOption *xmlopt);
char *xvXenConfigFormat(virDomainDef *def, xvXenFormat format);
