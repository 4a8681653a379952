/*
 * libxl_driver.h: registration of the Xenvirt driver with libvirt
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

int xvRegister(void);
