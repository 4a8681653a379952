/*
 * libxl_network.h: a domain's interfaces on libvirt networks and its disks
 * from libvirt storage pools, through the daemon's network and storage
 * drivers
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "libxl_conf.h"

int xvNetworkPrepareNet(xvDriver *driver, virDomainDef *def,
                        virDomainNetDef *net);
void xvNetworkReleaseNet(virDomainDef *def, virDomainNetDef *net);
int xvNetworkPrepareDisk(xvDriver *driver, virDomainDiskDef *disk);

int xvNetworkPrepareDomain(xvDriver *driver, virDomainDef *def);
void xvNetworkReleaseDomain(virDomainDef *def);
void xvNetworkReclaimDomain(virDomainDef *def);
