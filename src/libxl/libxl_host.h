/*
 * libxl_host.h: the host's identity: SMBIOS, security model, cpu model
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "libxl_conf.h"

/* The host cpu for the capabilities, or NULL where it cannot be decoded. */
virCPUDef *xvHostCPUNew(const xlite_host_info *info, virArch arch);

char *xvConnectGetSysinfo(virConnectPtr conn, unsigned int flags);
int xvNodeGetSecurityModel(virConnectPtr conn, virSecurityModelPtr secmodel);
int xvConnectCompareCPU(virConnectPtr conn, const char *xmlDesc,
                        unsigned int flags);
char *xvConnectBaselineCPU(virConnectPtr conn, const char **xmlCPUs,
                           unsigned int ncpus, unsigned int flags);
