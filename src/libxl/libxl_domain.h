/*
 * libxl_domain.h: domain XML conventions of the Xen driver
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "libxl_conf.h"

/* The XML options of the driver: Xen defaults applied after parsing, and the
 * checks that refuse what a Xen host cannot run.  @driver may be NULL (the
 * format converters, tests): the capabilities check is then skipped. */
virDomainXMLOption *xvDomainXMLOptionNew(xvDriver *driver);
