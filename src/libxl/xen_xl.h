/*
 * xen_xl.h: xl.cfg(5) <-> domain XML ("xen-xl"), and xm's older syntax
 * ("xen-xm")
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"
#include "capabilities.h"
#include "domain_conf.h"

/* The native format names of virConnectDomainXMLFromNative/ToNative. */
#define XV_NATIVE_FORMAT_XL "xen-xl"
#define XV_NATIVE_FORMAT_XM "xen-xm"

/* Read a configuration's text into a new domain definition, post-parsed
 * and validated with @xmlopt.  @caps gives the host architecture and may
 * be NULL.  Errors name the line. */
virDomainDef *xvXLConfigParse(const char *text, virCaps *caps,
                              virDomainXMLOption *xmlopt);
virDomainDef *xvXMConfigParse(const char *text, virCaps *caps,
                              virDomainXMLOption *xmlopt);

/* Write @def as a configuration; refuses what the format cannot say. */
char *xvXLConfigFormat(virDomainDef *def);

/* The HVM boot order of @def as xl.cfg's drive letters ("dc"); empty when
 * it names none. */
void xvXLBootOrder(const virDomainDef *def, char boot[VIR_DOMAIN_BOOT_LAST + 1]);

/* libxl's cpuid name for libvirt's cpu feature @name (the same name where
 * they agree). */
const char *xvXLCPUIDFromLibvirt(const char *name);
char *xvXMConfigFormat(virDomainDef *def);
