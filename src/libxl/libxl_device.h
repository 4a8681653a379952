/*
 * libxl_device.h: devices of domains: attach and detach
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"

int xvDomainAttachDevice(virDomainPtr dom, const char *xml);
int xvDomainAttachDeviceFlags(virDomainPtr dom, const char *xml,
                              unsigned int flags);
int xvDomainDetachDevice(virDomainPtr dom, const char *xml);
int xvDomainDetachDeviceFlags(virDomainPtr dom, const char *xml,
                              unsigned int flags);
