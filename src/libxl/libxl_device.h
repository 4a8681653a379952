/*
 * libxl_device.h: devices of domains: attach and detach
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "libxl_conf.h"

int xvDomainAttachDevice(virDomainPtr dom, const char *xml);
int xvDomainAttachDeviceFlags(virDomainPtr dom, const char *xml,
                              unsigned int flags);
int xvDomainDetachDevice(virDomainPtr dom, const char *xml);
int xvDomainDetachDeviceFlags(virDomainPtr dom, const char *xml,
                              unsigned int flags);
int xvDomainDetachDeviceAlias(virDomainPtr dom, const char *alias,
                              unsigned int flags);
int xvDomainUpdateDeviceFlags(virDomainPtr dom, const char *xml,
                              unsigned int flags);

/* After the driver restarts: make the running domain's live devices agree
 * with the core's (an attach or detach cut short by the driver's death).
 * True if the live definition changed (its status is then to be saved). */
bool xvDomainSyncDevices(xvDriver *driver, virDomainObj *vm);

/* The guest ejected the medium of its CD-ROM drive @vdev (the core's
 * DISK_EJECT event; the caller holds the domain's job): the core's stored
 * config and the live definition follow, and TRAY_CHANGE (open) is
 * queued. */
void xvDomainGuestEject(xvDriver *driver, virDomainObj *vm, const char *vdev);
