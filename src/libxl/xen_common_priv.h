/*
 * xen_common_priv.h: what the files of the native conversion share among
 * themselves and show to no one else
 *
 * xen_common.c holds the value layer (lines, typed getters and setters,
 * device specs) and the top-level device walk; each device kind has one
 * file holding its parser and its writer side by side.  xen_xl.c and
 * xen_xm.c use xen_common.h only.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "xen_common.h"

/* xen_common.c: the value layer's check of a string a domain XML will carry */
int xvXenCheckText(xvXenParser *p, const char *key, const char *str);

/* xen_disk.c: "disk" */
int xvXenParseDiskList(xvXenParser *p, virDomainDef *def);
int xvXenFormatDiskList(xvXenWriter *w, virDomainDef *def);

/* xen_vif.c: "vif" */
int xvXenParseVifList(xvXenParser *p, virDomainDef *def);
int xvXenFormatVifList(xvXenWriter *w, virDomainDef *def);

/* xen_pci.c: "pci" */
int xvXenParsePCIList(xvXenParser *p, virDomainDef *def);
int xvXenFormatPCIList(xvXenWriter *w, virDomainDef *def);

/* xen_graphics.c: "vfb" (PV, PVH) or the graphics keys (HVM), and video */
int xvXenParseVfbList(xvXenParser *p, virDomainDef *def);
int xvXenParseVideo(xvXenParser *p, virDomainDef *def);
int xvXenFormatGraphics(xvXenWriter *w, virDomainDef *def);

/* xen_chr.c: "serial", "parallel", and the consoles it refuses */
int xvXenParseSerial(xvXenParser *p, virDomainDef *def);
int xvXenParseParallel(xvXenParser *p, virDomainDef *def);
int xvXenFormatChrDevices(xvXenWriter *w, virDomainDef *def);

/* xen_sound_usb.c: "soundhw", "usb", "usbdevice" and the controllers */
int xvXenParseSound(xvXenParser *p, virDomainDef *def);
int xvXenParseUSB(xvXenParser *p, virDomainDef *def);
int xvXenFormatSoundUSB(xvXenWriter *w, virDomainDef *def);
