/*
 * xsim_nbdfront.h: a simulated guest's block I/O through its disk's NBD
 * export.
 *
 * A qdisk disk is served by a QEMU (on the simulated host, the domain's
 * qemu-storage-daemon, which libxlite runs); its backend directory names
 * the export ("nbd-socket", "nbd-export": docs/xensim-host.md, "Disk I/O
 * through the disk server").  The guest's blkfront talks to it with
 * libnbd, as a QEMU's xen-block serves a real blkfront's ring requests
 * from its block layer: every read and write is a real request on the
 * image, through whatever node the export serves (the copy after a
 * pivot).  The server is an outside process: libnbd checks all it sends
 * (lengths, handles, structured replies), and a server that dies, or a
 * stop of the guest, fails what blocks with an I/O error rather than
 * hanging the guest's thread (xsim_nbd_group_cut).
 */
#pragma once

#include <stdint.h>

#include <glib.h>

typedef struct _XsimNbdGroup XsimNbdGroup;
typedef struct _XsimNbdfront XsimNbdfront;

/* The connections of one guest, so that one call from another thread
 * ends whatever any of them blocks on. */
XsimNbdGroup *
xsim_nbd_group_new(void);

/* Frees an empty group (its fronts freed first); NULL is fine. */
void
xsim_nbd_group_free(XsimNbdGroup *group);

/*
 * From any thread: every connection of the group is shut down (what
 * blocks on one fails at once) and no connection is made any more.
 */
void
xsim_nbd_group_cut(XsimNbdGroup *group);

/* A disk's client, not connected, in @group. */
XsimNbdfront *
xsim_nbdfront_new(XsimNbdGroup *group);

/* Disconnects and frees; NULL is fine. */
void
xsim_nbdfront_free(XsimNbdfront *nf);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XsimNbdfront, xsim_nbdfront_free);

/*
 * Connects to export @name on the unix socket @path (any earlier
 * connection is closed first).  0, or an errno with a message in *msg_r.
 */
int
xsim_nbdfront_connect(XsimNbdfront *nf,
                      const char *path,
                      const char *name,
                      char **msg_r);

void
xsim_nbdfront_disconnect(XsimNbdfront *nf);

bool
xsim_nbdfront_connected(XsimNbdfront *nf);

/* The export's size in bytes, as the server said at connection. */
guint64
xsim_nbdfront_size(XsimNbdfront *nf);

/* One read or write of @count bytes at @offset; 0, or an errno with a
 * message in *msg_r.  Beyond the export's size is EINVAL without asking
 * the server. */
int
xsim_nbdfront_io(XsimNbdfront *nf,
                 bool write,
                 void *buf,
                 gsize count,
                 guint64 offset,
                 char **msg_r);

int
xsim_nbdfront_flush(XsimNbdfront *nf,
                    char **msg_r);

/*
 * The pattern a writer guest writes: block N (XSIM_NBD_BLOCK bytes at
 * offset N * XSIM_NBD_BLOCK) holds "xensim-nbd seq N\n" followed by the
 * bytes (N * 131 + i) mod 256 for the rest of its positions i, so that
 * every byte of every block says which write it came from.  The tests
 * compute the same (tests/integration/test_blockjobs.py).
 */
#define XSIM_NBD_BLOCK 4096

void
xsim_nbd_pattern(guint64 seq,
                 guint8 block[XSIM_NBD_BLOCK]);
