/*
 * libxl_save.h: save, restore and managed save (docs/save-restore.md)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"
#include "driver.h"

#include "libxl_conf.h"

/* Where @vm's managed save image is (STATE_DIR/save/NAME.save). */
char *xvDomainManagedSavePath(xvDriver *driver, virDomainObj *vm);

/* For virDomainObjListForEach at the driver's start: whether each domain
 * has a managed save image (vm->hasManagedSave). */
int xvDomainManagedSaveLoad(virDomainObj *vm, void *opaque);

/* The start of a domain that has a managed save image at @path (the
 * caller holds its job and lock, and it is not running): the machine the
 * image holds becomes its live definition, after libvirt's ABI check
 * against its definition; *paused_r says whether it was saved to stay
 * paused.  -1 with an error reported. */
int xvDomainManagedSaveAssignDef(xvDriver *driver, virDomainObj *vm,
                                 const char *path, bool *paused_r);

int xvDomainSave(virDomainPtr dom, const char *to);
int xvDomainSaveFlags(virDomainPtr dom, const char *to, const char *dxml,
                      unsigned int flags);
int xvDomainRestore(virConnectPtr conn, const char *from);
int xvDomainRestoreFlags(virConnectPtr conn, const char *from,
                         const char *dxml, unsigned int flags);
char *xvDomainSaveImageGetXMLDesc(virConnectPtr conn, const char *path,
                                  unsigned int flags);
int xvDomainSaveImageDefineXML(virConnectPtr conn, const char *path,
                               const char *dxml, unsigned int flags);
int xvDomainManagedSave(virDomainPtr dom, unsigned int flags);
int xvDomainHasManagedSaveImage(virDomainPtr dom, unsigned int flags);
int xvDomainManagedSaveRemove(virDomainPtr dom, unsigned int flags);
