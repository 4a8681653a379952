/*
 * libxl_driver.h: registration of the Xenvirt driver with libvirt
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "libxl_conf.h"

int xvRegister(void);

/* Parse domain XML the way every entry point that accepts one does, and
 * refuse at once what the core could never run. */
virDomainDef *xvDomainDefParse(xvDriver *driver, const char *xml,
                               unsigned int parseFlags);

/* Replacing the definition of a domain that may exist, under its job
 * (see libxl_driver.c): *existing is the domain of @uuid with its MODIFY
 * job begun and its lock dropped, or NULL; EndRedefine ends that job. */
int xvDomainBeginRedefine(xvDriver *driver, const unsigned char *uuid,
                          virDomainObj **existing);
void xvDomainEndRedefine(virDomainObj **existing);
