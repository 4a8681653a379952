/*
 * libxl_conf.c: driver configuration: paths and xenvirt.conf
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "libxl_conf.h"

#include "configmake.h"
#include "viralloc.h"
#include "virconf.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "virutil.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.libxl_conf");

void
xvDriverConfigFree(xvDriverConfig *cfg)
{
    if (!cfg)
        return;
    g_free(cfg->root);
    g_free(cfg->configDir);
    g_free(cfg->domainConfigDir);
    g_free(cfg->stateDir);
    g_free(cfg->runDir);
    g_free(cfg->logDir);
    g_free(cfg->simRundir);
    g_free(cfg);
}

/* The hypervisor a host offers by default: real Xen on a dom0 whose
 * /proc/xen/capabilities says control_d, the simulated host elsewhere. */
static xlite_backend_kind
xvDefaultBackend(void)
{
    g_autofree char *caps = NULL;

    if (virFileReadAllQuiet("/proc/xen/capabilities", 256, &caps) >= 0 &&
        strstr(caps, "control_d"))
        return XLITE_BACKEND_XEN;
    return XLITE_BACKEND_SIM;
}

xvDriverConfig *
xvDriverConfigNew(bool privileged, const char *root)
{
    g_autoptr(xvDriverConfig) cfg = g_new0(xvDriverConfig, 1);

    if (root) {
        /* Embedded: every path under root, with no "libvirt" component. */
        cfg->root = g_strdup(root);
        cfg->configDir = g_strdup_printf("%s/etc", root);
        cfg->domainConfigDir = g_strdup_printf("%s/etc/xenvirt", root);
        cfg->stateDir = g_strdup_printf("%s/var/lib/xenvirt", root);
        cfg->runDir = g_strdup_printf("%s/run/xenvirt", root);
        cfg->logDir = g_strdup_printf("%s/log/xenvirt", root);
    } else if (privileged) {
        cfg->configDir = g_strdup(SYSCONFDIR "/libvirt");
        cfg->domainConfigDir = g_strdup(SYSCONFDIR "/libvirt/xenvirt");
        cfg->stateDir = g_strdup(LOCALSTATEDIR "/lib/libvirt/xenvirt");
        cfg->runDir = g_strdup(RUNSTATEDIR "/libvirt/xenvirt");
        cfg->logDir = g_strdup(LOCALSTATEDIR "/log/libvirt/xenvirt");
    } else {
        g_autofree char *configBase = virGetUserConfigDirectory();
        g_autofree char *cacheBase = virGetUserCacheDirectory();
        g_autofree char *runBase = virGetUserRuntimeDirectory();

        cfg->configDir = g_strdup(configBase);
        cfg->domainConfigDir = g_strdup_printf("%s/xenvirt", configBase);
        cfg->stateDir = g_strdup_printf("%s/xenvirt/lib", cacheBase);
        cfg->runDir = g_strdup_printf("%s/xenvirt", runBase);
        cfg->logDir = g_strdup_printf("%s/xenvirt/log", cacheBase);
    }

    cfg->backend = xvDefaultBackend();
    cfg->simRundir = g_strdup_printf("%s/xensim", cfg->runDir);
    return g_steal_pointer(&cfg);
}

static int
xvParseBackend(const char *name, xlite_backend_kind *kind)
{
    if (STREQ(name, "sim"))
        *kind = XLITE_BACKEND_SIM;
    else if (STREQ(name, "xen"))
        *kind = XLITE_BACKEND_XEN;
    else
        return -1;
    return 0;
}

/* Read xenvirt.conf if it exists; a missing file means the defaults. */
int
xvDriverConfigLoadFile(xvDriverConfig *cfg, const char *path)
{
    g_autoptr(virConf) conf = NULL;
    g_autofree char *hypervisor = NULL;
    g_autofree char *simRundir = NULL;

    if (!virFileExists(path)) {
        VIR_DEBUG("no driver config file '%s', using defaults", path);
        return 0;
    }

    if (!(conf = virConfReadFile(path, 0)))
        return -1;

    if (virConfGetValueString(conf, "hypervisor", &hypervisor) < 0)
        return -1;
    if (hypervisor && xvParseBackend(hypervisor, &cfg->backend) < 0) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("unknown hypervisor '%s' in '%s': expected \"sim\" or \"xen\""),
                       hypervisor, path);
        return -1;
    }

    if (virConfGetValueString(conf, "sim_rundir", &simRundir) < 0)
        return -1;
    if (simRundir) {
        if (!g_path_is_absolute(simRundir)) {
            virReportError(VIR_ERR_CONF_SYNTAX,
                           _("sim_rundir '%s' in '%s' must be an absolute path"),
                           simRundir, path);
            return -1;
        }
        g_free(cfg->simRundir);
        cfg->simRundir = g_steal_pointer(&simRundir);
    }
    return 0;
}

/* libvirt's hypervisor version number: major * 1,000,000 + minor * 1,000
 * + micro, where Xen's "extra" version (".7", ".0-rc") gives the micro. */
unsigned long
xvHostVersion(const xlite_host_info *info)
{
    unsigned long micro = 0;
    const char *p = info->xen_extra;

    if (*p == '.')
        p++;
    while (g_ascii_isdigit(*p) && micro < 1000)
        micro = micro * 10 + (unsigned long)(*p++ - '0');
    return info->xen_major * 1000000UL + info->xen_minor * 1000UL + MIN(micro, 999UL);
}
