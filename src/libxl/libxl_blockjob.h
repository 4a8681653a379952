/*
 * libxl_blockjob.h: block jobs (DESIGN.md section 7; docs/blockjobs.md)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"
#include "driver.h"

#include "libxl_conf.h"

/* One job of a disk, as the driver follows it.  The core owns the job's
 * state machine; this says what the driver's callers wait for. */
typedef struct {
    virDomainBlockJobType type;
    bool ending;          /* an abort or pivot was accepted */
    bool ended;           /* its terminal event was handled */
    int status;           /* virConnectDomainEventBlockJobStatus, once ended */
    unsigned int waiters; /* synchronous aborts waiting for the end */
    bool starting;        /* its start is under way (domain unlocked): the
                           * core may not know it yet */
} xvBlockJob;

void xvBlockJobFree(void *job);

/* A copy of @src with the backing chain its images give (libvirt's
 * storage file code reads their headers), numbered by depth; NULL where
 * there is none to read: not a local qcow2 image, or one that cannot be
 * read. */
virStorageSource *xvBlockChainRead(const virStorageSource *src);

/* The live chain of @disk: read from its images if unknown (at start,
 * after a pivot), and numbered by depth, its own image 0, for the
 * <backingStore index='N'> of the live XML and libvirt's "xvda[N]". */
void xvBlockChainUpdate(virDomainDiskDef *disk);

/* Whether a disk of the running @vm has a block job, asked of the core
 * (the job may be another process's, in embedded mode), with the domain
 * unlocked during each question: the caller holds its job. */
bool xvBlockJobAny(xvDriver *driver, virDomainObj *vm);

/* Handles one of the core's XLITE_EVENT_BLOCK_JOB events (from the
 * block-job worker thread; takes the domain's lock, never its job). */
void xvBlockJobHandleEvent(xvDriver *driver, const xlite_event *ev);

/* The domain's private status: the pulls and commits under way (what
 * their ends do to the live chain), so that a restarted daemon follows
 * them. */
int xvBlockJobStatusFormat(virBuffer *buf, virDomainObj *vm);
int xvBlockJobStatusParse(xmlXPathContextPtr ctxt, virDomainObj *vm);

/* After a driver restart: follows again the jobs its saved status shows
 * (a disk with a <mirror>, a pull or a commit), in the daemon only. */
void xvBlockJobReconnect(xvDriver *driver, virDomainObj *vm);

int xvDomainBlockJobAbort(virDomainPtr dom, const char *path,
                          unsigned int flags);
int xvDomainGetBlockJobInfo(virDomainPtr dom, const char *path,
                            virDomainBlockJobInfoPtr info,
                            unsigned int flags);
int xvDomainBlockJobSetSpeed(virDomainPtr dom, const char *path,
                             unsigned long bandwidth, unsigned int flags);
int xvDomainBlockPull(virDomainPtr dom, const char *path,
                      unsigned long bandwidth, unsigned int flags);
int xvDomainBlockRebase(virDomainPtr dom, const char *path,
                        const char *base, unsigned long bandwidth,
                        unsigned int flags);
int xvDomainBlockCommit(virDomainPtr dom, const char *path,
                        const char *base, const char *top,
                        unsigned long bandwidth, unsigned int flags);
int xvDomainBlockResize(virDomainPtr dom, const char *path,
                        unsigned long long size, unsigned int flags);
int xvDomainBlockCopy(virDomainPtr dom, const char *disk,
                      const char *destxml, virTypedParameterPtr params,
                      int nparams, unsigned int flags);
