/*
 * xs_store.h: the xenstore tree, its permissions, quotas and transactions.
 *
 * The store knows nothing of connections or the wire: callers hand it
 * canonical absolute paths (or a special "@..." name where allowed) and an
 * XsimCaller, and get back 0 or a positive errno value as Xen's xenstored
 * would send it.  Changes that may fire watches are reported as XsimChange
 * records; the store never fires anything itself.
 */
#pragma once

#include <glib.h>

#include "xs_perms.h"

typedef struct _XsimStore XsimStore;
typedef struct _XsimTxn XsimTxn;

/* Limits that apply to unprivileged callers only (C xenstored defaults). */
typedef struct {
    guint nodes;        /* nodes owned per domain (1000) */
    guint node_size;    /* value plus child names, bytes (2048) */
    guint perms;        /* permission entries per node (5) */
    guint txn_nodes;    /* nodes touched per transaction (1024) */
} XsimStoreQuota;

/* A change to the tree, for watches. */
typedef struct {
    char *path;
    bool removed;       /* the node and its whole subtree are gone */
    XsimPerm *perms;    /* the node's permissions: who may see the event */
    guint nperms;
} XsimChange;

void
xsim_change_free(XsimChange *change);

XsimStore *
xsim_store_new(const XsimStoreQuota *quota);

void
xsim_store_free(XsimStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XsimStore, xsim_store_free);

/* Create an unlinked special node ("@introduceDomain") owned by dom0. */
void
xsim_store_add_special(XsimStore *store,
                       const char *name);

/*
 * Every operation below takes an optional transaction.  Without one, the
 * operation applies at once and its XsimChange records are appended to
 * @changes (an array with xsim_change_free as element destructor, or
 * NULL); within one, they are kept until xsim_txn_commit().
 */
int
xsim_store_read(XsimStore *store,
                XsimTxn *txn,
                const XsimCaller *caller,
                const char *path,
                const char **value_r,
                gsize *len_r);

int
xsim_store_write(XsimStore *store,
                 XsimTxn *txn,
                 const XsimCaller *caller,
                 const char *path,
                 const char *value,
                 gsize len,
                 GPtrArray *changes);

int
xsim_store_mkdir(XsimStore *store,
                 XsimTxn *txn,
                 const XsimCaller *caller,
                 const char *path,
                 GPtrArray *changes);

int
xsim_store_rm(XsimStore *store,
              XsimTxn *txn,
              const XsimCaller *caller,
              const char *path,
              GPtrArray *changes);

/* @children_r: borrowed, valid until the next change to the store. */
int
xsim_store_directory(XsimStore *store,
                     XsimTxn *txn,
                     const XsimCaller *caller,
                     const char *path,
                     const GPtrArray **children_r,
                     guint64 *generation_r);

int
xsim_store_get_perms(XsimStore *store,
                     XsimTxn *txn,
                     const XsimCaller *caller,
                     const char *path,
                     const XsimPerm **perms_r,
                     guint *nperms_r);

int
xsim_store_set_perms(XsimStore *store,
                     XsimTxn *txn,
                     const XsimCaller *caller,
                     const char *path,
                     const XsimPerm *perms,
                     guint nperms,
                     GPtrArray *changes);

/* Nodes owned by @domid (perms[0].id), committed state. */
guint
xsim_store_owned(XsimStore *store,
                 uint32_t domid);

guint
xsim_store_size(XsimStore *store);

/*
 * Consistency of the committed tree: every node but the root has its
 * parent, parents list exactly their children, ownership counts add up.
 * For tests and the fuzzer.
 */
bool
xsim_store_check(XsimStore *store);

/* Transactions: reads see the tree as of each node's first access. */
XsimTxn *
xsim_txn_new(XsimStore *store);

void
xsim_txn_free(XsimTxn *txn);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XsimTxn, xsim_txn_free);

/*
 * Apply the transaction if no node it accessed changed since; EAGAIN if one
 * did.  On success appends its changes to @changes.  Frees nothing: the
 * caller frees the transaction either way.
 */
int
xsim_txn_commit(XsimTxn *txn,
                GPtrArray *changes);
