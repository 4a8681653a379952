/*
 * libxl_stats.h: monitoring: cpu, memory, disk and network figures of
 * domains and of the host, one domain at a time and in bulk
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "libxl_conf.h"

int xvDomainGetCPUStats(virDomainPtr dom, virTypedParameterPtr params,
                        unsigned int nparams, int start_cpu,
                        unsigned int ncpus, unsigned int flags);
int xvNodeGetCPUMap(virConnectPtr conn, unsigned char **cpumap,
                    unsigned int *online, unsigned int flags);
int xvNodeGetCPUStats(virConnectPtr conn, int cpuNum,
                      virNodeCPUStatsPtr params, int *nparams,
                      unsigned int flags);
int xvNodeGetMemoryStats(virConnectPtr conn, int cellNum,
                         virNodeMemoryStatsPtr params, int *nparams,
                         unsigned int flags);
int xvDomainBlockStats(virDomainPtr dom, const char *path,
                       virDomainBlockStatsPtr stats);
int xvDomainBlockStatsFlags(virDomainPtr dom, const char *path,
                            virTypedParameterPtr params, int *nparams,
                            unsigned int flags);
int xvDomainInterfaceStats(virDomainPtr dom, const char *device,
                           virDomainInterfaceStatsPtr stats);
int xvDomainInterfaceAddresses(virDomainPtr dom,
                               virDomainInterfacePtr **ifaces,
                               unsigned int source, unsigned int flags);
int xvConnectGetAllDomainStats(virConnectPtr conn, virDomainPtr *doms,
                               unsigned int ndoms, unsigned int stats,
                               virDomainStatsRecordPtr **retStats,
                               unsigned int flags);
int xvDomainMemoryStats(virDomainPtr dom, virDomainMemoryStatPtr stats,
                        unsigned int nr_stats, unsigned int flags);
void xvDomainBalloonChanged(xvDriver *driver, const xlite_event *ev);
