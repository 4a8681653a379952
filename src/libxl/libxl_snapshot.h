/*
 * libxl_snapshot.h: external disk-only snapshots (docs/snapshots.md)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"
#include "driver.h"

#include "libxl_conf.h"

/* At driver start: every domain's snapshot metadata, from
 * <snapshotDir>/<domain>/<snapshot>.xml. */
void xvSnapshotLoadAll(xvDriver *driver);

/* The domain goes for good (undefined, or a transient one stopped): its
 * snapshot metadata goes with it.  vm is locked. */
void xvSnapshotDiscardAll(xvDriver *driver, virDomainObj *vm);

virDomainSnapshotPtr xvDomainSnapshotCreateXML(virDomainPtr dom,
                                               const char *xmlDesc,
                                               unsigned int flags);
int xvDomainSnapshotNum(virDomainPtr dom, unsigned int flags);
int xvDomainSnapshotListNames(virDomainPtr dom, char **names, int nameslen,
                              unsigned int flags);
int xvDomainListAllSnapshots(virDomainPtr dom, virDomainSnapshotPtr **snaps,
                             unsigned int flags);
int xvDomainSnapshotNumChildren(virDomainSnapshotPtr snapshot,
                                unsigned int flags);
int xvDomainSnapshotListChildrenNames(virDomainSnapshotPtr snapshot,
                                      char **names, int nameslen,
                                      unsigned int flags);
int xvDomainSnapshotListAllChildren(virDomainSnapshotPtr snapshot,
                                    virDomainSnapshotPtr **snaps,
                                    unsigned int flags);
virDomainSnapshotPtr xvDomainSnapshotLookupByName(virDomainPtr dom,
                                                  const char *name,
                                                  unsigned int flags);
int xvDomainHasCurrentSnapshot(virDomainPtr dom, unsigned int flags);
virDomainSnapshotPtr xvDomainSnapshotGetParent(virDomainSnapshotPtr snapshot,
                                               unsigned int flags);
virDomainSnapshotPtr xvDomainSnapshotCurrent(virDomainPtr dom,
                                             unsigned int flags);
char *xvDomainSnapshotGetXMLDesc(virDomainSnapshotPtr snapshot,
                                 unsigned int flags);
int xvDomainSnapshotIsCurrent(virDomainSnapshotPtr snapshot,
                              unsigned int flags);
int xvDomainSnapshotHasMetadata(virDomainSnapshotPtr snapshot,
                                unsigned int flags);
int xvDomainSnapshotDelete(virDomainSnapshotPtr snapshot, unsigned int flags);
