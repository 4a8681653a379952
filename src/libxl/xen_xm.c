/*
 * xen_xm.c: xm's configuration syntax ("xen-xm")
 *
 * xm's files are python assignments that virConf reads like xl.cfg.  What
 * differs is handled where each value is read, from the parser's format:
 * "builder" instead of "type" (no PVH), "extra"/"root" instead of
 * "cmdline", the deprecated "[prefix:]target,vdev[:cdrom],access" disk
 * syntax only, "netfront" as the PV-only vif type, and no xl-only keys.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "libxl_conf.h"
#include "xen_common.h"
#include "xen_xl.h"

#include "virlog.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.xen_xm");

virDomainDef *
xvXMConfigParse(const char *text, virCaps *caps, virDomainXMLOption *xmlopt)
{
    return xvXenConfigParse(text, XV_XEN_FORMAT_XM, caps, xmlopt);
}

char *
xvXMConfigFormat(virDomainDef *def)
{
    return xvXenConfigFormat(def, XV_XEN_FORMAT_XM);
}
