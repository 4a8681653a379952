/*
 * libxl_module.c: the plugin's one exported symbol
 *
 * Built twice: as libvirt_driver_libxl.so exporting libxlRegister (the name
 * Debian's libvirtd loads) and as libvirt_driver_xen.so exporting
 * xenRegister (the name libvirt derives from the xen:// scheme in embedded
 * mode).  XV_REGISTER_FUNC names the function for each build.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "internal.h"

#include "libxl_driver.h"

int XV_REGISTER_FUNC(void);

__attribute__((visibility("default"))) int
XV_REGISTER_FUNC(void)
{
    return xvRegister();
}
