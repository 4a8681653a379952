/*
 * xs_store.c: the xenstore tree.
 *
 * The committed tree is a hash table from absolute path to node; each node
 * lists its children by name, so DIRECTORY and recursive RM need no scan.
 * Every change stamps the changed node (and a parent whose child list
 * changed) with a new store-wide generation number.
 *
 * A transaction is an overlay of the nodes it touched: on first access a
 * node is copied in (or recorded as absent) together with its generation,
 * and every later read or write in the transaction uses the copy.  Commit
 * checks that no accessed node has a different generation in the committed
 * tree (else EAGAIN) and then moves the modified copies in.  This is the
 * scheme of the C xenstored: optimistic, isolation per node, no locks held
 * between requests.
 *
 * A node's child list (XsimKids) is shared, not copied, by the copies a
 * transaction makes: on a host of thousands of domains /local/domain,
 * /vm and backend/<kind> have thousands of children, and nearly every
 * transaction touches one of them.  A copy records the children it adds
 * and removes in a log over the shared list; commit replays the log onto
 * the committed list (copying it only if another transaction still
 * shares it), and a read of the copy's children replays it onto a private
 * copy of the list.  A list is changed in place only by its sole owner,
 * and finds a child through an index once it is long, so adding or
 * removing a child costs the same in a directory of ten or of thousands.
 */
#include <errno.h>
#include <string.h>

#include "xs_store.h"

/* Past this many children a list keeps an index of positions. */
#define XSIM_KIDS_INDEXED 16

typedef struct {
    gint ref;
    GPtrArray *names;       /* GRefString, in DIRECTORY's order */
    GHashTable *index;      /* name -> position + 1; NULL while short */
} XsimKids;

typedef struct {
    char *value;
    gsize len;
    XsimPerm *perms;
    guint nperms;
    XsimKids *kids;         /* shared with the node it was copied from */
    GPtrArray *log;         /* a transaction's copy: changes to kids not
                             * made yet, GRefString "+name" / "-name" */
    GPtrArray *replayed;    /* kids with the log replayed, for reads */
    guint64 generation;
} XsimNode;

typedef struct {
    XsimNode *node;         /* the transaction's version, NULL if absent */
    guint64 base_generation;/* committed generation at first access, 0: absent */
    bool dirty;
} XsimTxnEntry;

struct _XsimStore {
    XsimStoreQuota quota;
    GHashTable *nodes;      /* path -> XsimNode */
    GHashTable *owned;      /* domid -> count of nodes it owns */
    guint64 generation;
};

struct _XsimTxn {
    XsimStore *store;
    GHashTable *entries;    /* path -> XsimTxnEntry */
    GHashTable *owned_delta;/* domid -> signed change in owned nodes */
    GPtrArray *changes;     /* XsimChange, fired on commit */
};

/* ---- child lists ---- */

static XsimKids *
xsim_kids_new(void)
{
    XsimKids *kids = g_new0(XsimKids, 1);

    kids->ref = 1;
    kids->names = g_ptr_array_new_with_free_func(
        (GDestroyNotify)g_ref_string_release);
    return kids;
}

static XsimKids *
xsim_kids_ref(XsimKids *kids)
{
    kids->ref++;
    return kids;
}

static void
xsim_kids_unref(XsimKids *kids)
{
    if (!kids || --kids->ref > 0)
        return;
    g_ptr_array_unref(kids->names);
    if (kids->index)
        g_hash_table_unref(kids->index);
    g_free(kids);
}

static void
xsim_kids_index(XsimKids *kids)
{
    guint i;

    kids->index = g_hash_table_new(g_str_hash, g_str_equal);
    for (i = 0; i < kids->names->len; i++)
        g_hash_table_insert(kids->index, g_ptr_array_index(kids->names, i),
                            GUINT_TO_POINTER(i + 1));
}

/* Makes *kidsp its holder's own, to change: a copy if it is shared. */
static XsimKids *
xsim_kids_own(XsimKids **kidsp)
{
    XsimKids *old = *kidsp;
    XsimKids *kids;
    guint i;

    if (old->ref == 1)
        return old;
    kids = xsim_kids_new();
    for (i = 0; i < old->names->len; i++)
        g_ptr_array_add(kids->names,
                        g_ref_string_acquire(g_ptr_array_index(old->names, i)));
    if (old->index)
        xsim_kids_index(kids);
    xsim_kids_unref(old);
    *kidsp = kids;
    return kids;
}

static void
xsim_kids_add(XsimKids *kids,
              char *name)          /* a GRefString, taken */
{
    g_ptr_array_add(kids->names, name);
    if (kids->index)
        g_hash_table_insert(kids->index, name,
                            GUINT_TO_POINTER(kids->names->len));
    else if (kids->names->len > XSIM_KIDS_INDEXED)
        xsim_kids_index(kids);
}

/* Removes @name: the last child takes its place (the order DIRECTORY has
 * always given after a removal). */
static void
xsim_kids_remove(XsimKids *kids,
                 const char *name)
{
    guint i, last = kids->names->len - 1;

    if (kids->index) {
        gpointer pos = g_hash_table_lookup(kids->index, name);

        if (!pos)
            return;
        i = GPOINTER_TO_UINT(pos) - 1;
        g_hash_table_remove(kids->index, name);
        if (i != last)
            g_hash_table_insert(kids->index,
                                g_ptr_array_index(kids->names, last),
                                GUINT_TO_POINTER(i + 1));
        g_ptr_array_remove_index_fast(kids->names, i);
        return;
    }
    for (i = 0; i < kids->names->len; i++) {
        if (strcmp(g_ptr_array_index(kids->names, i), name) == 0) {
            g_ptr_array_remove_index_fast(kids->names, i);
            return;
        }
    }
}

/* Replays a transaction's log onto @kids, which must be its own. */
static void
xsim_kids_replay(XsimKids *kids,
                 GPtrArray *log)
{
    guint i;

    for (i = 0; i < log->len; i++) {
        const char *op = g_ptr_array_index(log, i);

        if (op[0] == '+')
            xsim_kids_add(kids, g_ref_string_new(op + 1));
        else
            xsim_kids_remove(kids, op + 1);
    }
}

/* ---- nodes ---- */

static void
xsim_node_free(XsimNode *node)
{
    if (!node)
        return;
    g_free(node->value);
    g_free(node->perms);
    xsim_kids_unref(node->kids);
    if (node->log)
        g_ptr_array_unref(node->log);
    if (node->replayed)
        g_ptr_array_unref(node->replayed);
    g_free(node);
}

static XsimNode *
xsim_node_new(const XsimPerm *perms,
              guint nperms)
{
    XsimNode *node = g_new0(XsimNode, 1);

    node->value = g_strdup("");
    node->perms = g_memdup2(perms, sizeof(*perms) * nperms);
    node->nperms = nperms;
    node->kids = xsim_kids_new();
    return node;
}

/* A transaction's copy: the child list is shared, changes go to a log. */
static XsimNode *
xsim_node_copy(const XsimNode *src)
{
    XsimNode *node = g_new0(XsimNode, 1);

    node->value = g_memdup2(src->value, src->len + 1);
    node->len = src->len;
    node->perms = g_memdup2(src->perms, sizeof(*src->perms) * src->nperms);
    node->nperms = src->nperms;
    node->kids = xsim_kids_ref(src->kids);
    node->log = g_ptr_array_new_with_free_func(g_free);
    node->generation = src->generation;
    return node;
}

/* The node's children as it sees them (borrowed, valid until it changes). */
static const GPtrArray *
xsim_node_children(XsimNode *node)
{
    XsimKids *kids;

    if (!node->log || node->log->len == 0)
        return node->kids->names;
    if (!node->replayed) {
        kids = xsim_kids_ref(node->kids);
        xsim_kids_own(&kids);
        xsim_kids_replay(kids, node->log);
        node->replayed = g_ptr_array_ref(kids->names);
        xsim_kids_unref(kids);
    }
    return node->replayed;
}

static void
xsim_node_add_child(XsimNode *node,
                    const char *name)
{
    if (node->log) {
        g_ptr_array_add(node->log, g_strconcat("+", name, NULL));
        g_clear_pointer(&node->replayed, g_ptr_array_unref);
        return;
    }
    xsim_kids_add(xsim_kids_own(&node->kids), g_ref_string_new(name));
}

static void
xsim_node_remove_child(XsimNode *node,
                       const char *name)
{
    if (node->log) {
        g_ptr_array_add(node->log, g_strconcat("-", name, NULL));
        g_clear_pointer(&node->replayed, g_ptr_array_unref);
        return;
    }
    xsim_kids_remove(xsim_kids_own(&node->kids), name);
}

/* Commit: the copy's log, made real on its (committed) child list. */
static void
xsim_node_settle(XsimNode *node)
{
    if (!node->log)
        return;
    if (node->log->len > 0)
        xsim_kids_replay(xsim_kids_own(&node->kids), node->log);
    g_clear_pointer(&node->log, g_ptr_array_unref);
    g_clear_pointer(&node->replayed, g_ptr_array_unref);
}

static uint32_t
xsim_node_owner(const XsimNode *node)
{
    return node->perms[0].id;
}

/* What the node-size quota counts: the value and the child names. */
static gsize
xsim_node_size(XsimNode *node)
{
    const GPtrArray *children = xsim_node_children(node);
    gsize size = node->len;
    guint i;

    for (i = 0; i < children->len; i++)
        size += strlen(g_ptr_array_index(children, i)) + 1;
    return size;
}

void
xsim_change_free(XsimChange *change)
{
    if (!change)
        return;
    g_free(change->path);
    g_free(change->perms);
    g_free(change);
}

static void
xsim_change_add(GPtrArray *changes,
                const char *path,
                bool removed,
                const XsimNode *node)
{
    XsimChange *change;

    if (!changes)
        return;
    change = g_new0(XsimChange, 1);
    change->path = g_strdup(path);
    change->removed = removed;
    change->perms = g_memdup2(node->perms, sizeof(*node->perms) * node->nperms);
    change->nperms = node->nperms;
    g_ptr_array_add(changes, change);
}

/* ---- paths ---- */

/* The parent of a canonical absolute path other than "/". */
static char *
xsim_path_parent(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (!slash || slash == path)
        return g_strdup("/");
    return g_strndup(path, slash - path);
}

static const char *
xsim_path_basename(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

static char *
xsim_path_child(const char *parent,
                const char *name)
{
    if (strcmp(parent, "/") == 0)
        return g_strconcat("/", name, NULL);
    return g_strconcat(parent, "/", name, NULL);
}

/* ---- the store ---- */

static void
xsim_store_owned_add(GHashTable *owned,
                     uint32_t domid,
                     int delta)
{
    gpointer key = GUINT_TO_POINTER(domid);
    int count = GPOINTER_TO_INT(g_hash_table_lookup(owned, key)) + delta;

    if (count == 0)
        g_hash_table_remove(owned, key);
    else
        g_hash_table_insert(owned, key, GINT_TO_POINTER(count));
}

XsimStore *
xsim_store_new(const XsimStoreQuota *quota)
{
    static const XsimPerm root_perms[] = { { 0, XSIM_PERM_NONE } };
    static const char *const initial[] = { "/local", "/local/domain", "/tool" };
    XsimStore *store = g_new0(XsimStore, 1);
    XsimNode *root;
    guint i;

    store->quota = *quota;
    store->nodes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify)xsim_node_free);
    store->owned = g_hash_table_new(g_direct_hash, g_direct_equal);

    root = xsim_node_new(root_perms, 1);
    root->generation = ++store->generation;
    g_hash_table_insert(store->nodes, g_strdup("/"), root);
    xsim_store_owned_add(store->owned, 0, 1);

    for (i = 0; i < G_N_ELEMENTS(initial); i++) {
        XsimCaller dom0 = { 0, true, XSIM_DOMID_NONE };

        xsim_store_mkdir(store, NULL, &dom0, initial[i], NULL);
    }
    return store;
}

void
xsim_store_free(XsimStore *store)
{
    if (!store)
        return;
    g_hash_table_unref(store->nodes);
    g_hash_table_unref(store->owned);
    g_free(store);
}

void
xsim_store_add_special(XsimStore *store,
                       const char *name)
{
    static const XsimPerm perms[] = { { 0, XSIM_PERM_NONE } };
    XsimNode *node;

    if (g_hash_table_contains(store->nodes, name))
        return;
    node = xsim_node_new(perms, 1);
    node->generation = ++store->generation;
    g_hash_table_insert(store->nodes, g_strdup(name), node);
    xsim_store_owned_add(store->owned, 0, 1);
}

guint
xsim_store_owned(XsimStore *store,
                 uint32_t domid)
{
    return GPOINTER_TO_INT(g_hash_table_lookup(store->owned,
                                               GUINT_TO_POINTER(domid)));
}

guint
xsim_store_size(XsimStore *store)
{
    return g_hash_table_size(store->nodes);
}

/* ---- the view: the committed tree, or a transaction's overlay of it ---- */

/*
 * Look a node up as the caller's transaction sees it.  In a transaction
 * this is an access: the node is copied in and will be checked at commit.
 */
static int
xsim_view_get(XsimStore *store,
              XsimTxn *txn,
              const XsimCaller *caller,
              const char *path,
              XsimNode **node_r)
{
    XsimTxnEntry *entry;
    XsimNode *committed;

    committed = g_hash_table_lookup(store->nodes, path);
    if (!txn) {
        *node_r = committed;
        return 0;
    }

    entry = g_hash_table_lookup(txn->entries, path);
    if (!entry) {
        if (!caller->privileged &&
            g_hash_table_size(txn->entries) >= store->quota.txn_nodes)
            return ENOSPC;
        entry = g_new0(XsimTxnEntry, 1);
        if (committed) {
            entry->node = xsim_node_copy(committed);
            entry->base_generation = committed->generation;
        }
        g_hash_table_insert(txn->entries, g_strdup(path), entry);
    }
    *node_r = entry->node;
    return 0;
}

/* The caller changed a node it got from xsim_view_get(). */
static void
xsim_view_touch(XsimStore *store,
                XsimTxn *txn,
                const char *path,
                XsimNode *node)
{
    if (txn) {
        XsimTxnEntry *entry = g_hash_table_lookup(txn->entries, path);

        entry->dirty = true;
    } else {
        node->generation = ++store->generation;
    }
}

static GHashTable *
xsim_view_owned(XsimStore *store,
                XsimTxn *txn)
{
    return txn ? txn->owned_delta : store->owned;
}

/* Put a new node where xsim_view_get() just found none. */
static void
xsim_view_insert(XsimStore *store,
                 XsimTxn *txn,
                 const char *path,
                 XsimNode *node)
{
    xsim_store_owned_add(xsim_view_owned(store, txn), xsim_node_owner(node), 1);
    if (txn) {
        XsimTxnEntry *entry = g_hash_table_lookup(txn->entries, path);

        entry->node = node;
        entry->dirty = true;
    } else {
        node->generation = ++store->generation;
        g_hash_table_insert(store->nodes, g_strdup(path), node);
    }
}

static void
xsim_view_remove(XsimStore *store,
                 XsimTxn *txn,
                 const char *path,
                 XsimNode *node)
{
    xsim_store_owned_add(xsim_view_owned(store, txn), xsim_node_owner(node), -1);
    if (txn) {
        XsimTxnEntry *entry = g_hash_table_lookup(txn->entries, path);

        xsim_node_free(g_steal_pointer(&entry->node));
        entry->dirty = true;
    } else {
        g_hash_table_remove(store->nodes, path);
    }
}

static guint
xsim_view_owned_count(XsimStore *store,
                      XsimTxn *txn,
                      uint32_t domid)
{
    int count = xsim_store_owned(store, domid);

    if (txn)
        count += GPOINTER_TO_INT(g_hash_table_lookup(txn->owned_delta,
                                                     GUINT_TO_POINTER(domid)));
    return count < 0 ? 0 : count;
}

/*
 * The error for a node that does not exist: ENOENT, unless the caller may
 * not read the nearest existing ancestor.  A guest must not learn whether
 * nodes it cannot read exist.
 */
static int
xsim_view_missing(XsimStore *store,
                  XsimTxn *txn,
                  const XsimCaller *caller,
                  const char *path)
{
    g_autofree char *cur = g_strdup(path);

    if (caller->privileged || cur[0] != '/')
        return ENOENT;

    while (strcmp(cur, "/") != 0) {
        g_autofree char *parent = xsim_path_parent(cur);
        XsimNode *node = NULL;
        int rc;

        if ((rc = xsim_view_get(store, txn, caller, parent, &node)) != 0)
            return rc;
        if (node) {
            guint perm = xsim_perm_for_caller(caller, node->perms, node->nperms);

            return (perm & XSIM_PERM_READ) ? ENOENT : EACCES;
        }
        g_free(cur);
        cur = g_steal_pointer(&parent);
    }
    return ENOENT;
}

/* Look up an existing node the caller needs @want on. */
static int
xsim_view_get_checked(XsimStore *store,
                      XsimTxn *txn,
                      const XsimCaller *caller,
                      const char *path,
                      guint want,
                      XsimNode **node_r)
{
    XsimNode *node = NULL;
    guint perm;
    int rc;

    if ((rc = xsim_view_get(store, txn, caller, path, &node)) != 0)
        return rc;
    if (!node)
        return xsim_view_missing(store, txn, caller, path);
    perm = xsim_perm_for_caller(caller, node->perms, node->nperms);
    if ((perm & want) != want)
        return EACCES;
    *node_r = node;
    return 0;
}

/* ---- operations ---- */

int
xsim_store_read(XsimStore *store,
                XsimTxn *txn,
                const XsimCaller *caller,
                const char *path,
                const char **value_r,
                gsize *len_r)
{
    XsimNode *node = NULL;
    int rc;

    if ((rc = xsim_view_get_checked(store, txn, caller, path,
                                    XSIM_PERM_READ, &node)) != 0)
        return rc;
    *value_r = node->value;
    *len_r = node->len;
    return 0;
}

int
xsim_store_directory(XsimStore *store,
                     XsimTxn *txn,
                     const XsimCaller *caller,
                     const char *path,
                     const GPtrArray **children_r,
                     guint64 *generation_r)
{
    XsimNode *node = NULL;
    int rc;

    if ((rc = xsim_view_get_checked(store, txn, caller, path,
                                    XSIM_PERM_READ, &node)) != 0)
        return rc;
    *children_r = xsim_node_children(node);
    *generation_r = node->generation;
    return 0;
}

int
xsim_store_get_perms(XsimStore *store,
                     XsimTxn *txn,
                     const XsimCaller *caller,
                     const char *path,
                     const XsimPerm **perms_r,
                     guint *nperms_r)
{
    XsimNode *node = NULL;
    int rc;

    if ((rc = xsim_view_get_checked(store, txn, caller, path,
                                    XSIM_PERM_READ, &node)) != 0)
        return rc;
    *perms_r = node->perms;
    *nperms_r = node->nperms;
    return 0;
}

/*
 * Create @path and its missing ancestors.  Checks everything before
 * changing anything, so a refused request leaves no trace.  Long because
 * the checks (permissions, quotas, limits) and the changes are two passes
 * over the same walk, kept side by side.
 */
static int
xsim_store_create(XsimStore *store,
                  XsimTxn *txn,
                  const XsimCaller *caller,
                  const char *path,
                  const char *value,
                  gsize len,
                  GPtrArray *changes)
{
    g_autoptr(GPtrArray) missing = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *anchor_path = NULL;
    XsimNode *anchor = NULL;
    XsimNode *parent;
    const char *parent_path;
    g_autofree XsimPerm *perms = NULL;
    guint nperms;
    guint perm;
    int i;
    int rc;

    /* Walk up to the nearest existing ancestor, collecting what is missing. */
    g_ptr_array_add(missing, g_strdup(path));
    for (;;) {
        g_autofree char *up = xsim_path_parent(g_ptr_array_index(missing,
                                                                 missing->len - 1));

        if ((rc = xsim_view_get(store, txn, caller, up, &anchor)) != 0)
            return rc;
        if (anchor) {
            anchor_path = g_steal_pointer(&up);
            break;
        }
        g_ptr_array_add(missing, g_steal_pointer(&up));
    }

    perm = xsim_perm_for_caller(caller, anchor->perms, anchor->nperms);
    if (!(perm & XSIM_PERM_WRITE))
        return EACCES;

    /* New nodes inherit the parent's permissions; guests own what they create. */
    nperms = anchor->nperms;
    perms = g_memdup2(anchor->perms, sizeof(*perms) * nperms);
    if (!caller->privileged)
        perms[0].id = caller->domid;

    if (!caller->privileged) {
        const char *first = g_ptr_array_index(missing, missing->len - 1);

        if (xsim_view_owned_count(store, txn, perms[0].id) + missing->len >
            store->quota.nodes)
            return ENOSPC;
        if (len > store->quota.node_size)
            return ENOSPC;
        if (xsim_node_size(anchor) + strlen(xsim_path_basename(first)) + 1 >
            store->quota.node_size)
            return ENOSPC;
        for (i = 0; i < (int)missing->len - 1; i++) {
            const char *child = g_ptr_array_index(missing, i);

            if (strlen(xsim_path_basename(child)) + 1 > store->quota.node_size)
                return ENOSPC;
        }
    }

    parent = anchor;
    parent_path = anchor_path;
    for (i = missing->len - 1; i >= 0; i--) {
        const char *child_path = g_ptr_array_index(missing, i);
        XsimNode *child = xsim_node_new(perms, nperms);

        if (i == 0) {
            g_free(child->value);
            child->value = g_malloc(len + 1);
            memcpy(child->value, value, len);
            child->value[len] = '\0';
            child->len = len;
        }
        xsim_node_add_child(parent, xsim_path_basename(child_path));
        xsim_view_touch(store, txn, parent_path, parent);
        /* The walk up looked every missing path up: in a transaction, each
         * has its (absent) entry already. */
        xsim_view_insert(store, txn, child_path, child);
        parent = child;
        parent_path = child_path;
    }

    if (txn)
        xsim_change_add(txn->changes, path, false, parent);
    else
        xsim_change_add(changes, path, false, parent);
    return 0;
}

int
xsim_store_write(XsimStore *store,
                 XsimTxn *txn,
                 const XsimCaller *caller,
                 const char *path,
                 const char *value,
                 gsize len,
                 GPtrArray *changes)
{
    XsimNode *node = NULL;
    guint perm;
    int rc;

    if ((rc = xsim_view_get(store, txn, caller, path, &node)) != 0)
        return rc;
    if (!node)
        return xsim_store_create(store, txn, caller, path, value, len, changes);

    perm = xsim_perm_for_caller(caller, node->perms, node->nperms);
    if (!(perm & XSIM_PERM_WRITE))
        return EACCES;
    if (!caller->privileged &&
        xsim_node_size(node) - node->len + len > store->quota.node_size)
        return ENOSPC;

    g_free(node->value);
    node->value = g_malloc(len + 1);
    memcpy(node->value, value, len);
    node->value[len] = '\0';
    node->len = len;
    xsim_view_touch(store, txn, path, node);
    xsim_change_add(txn ? txn->changes : changes, path, false, node);
    return 0;
}

int
xsim_store_mkdir(XsimStore *store,
                 XsimTxn *txn,
                 const XsimCaller *caller,
                 const char *path,
                 GPtrArray *changes)
{
    XsimNode *node = NULL;
    int rc;

    if ((rc = xsim_view_get(store, txn, caller, path, &node)) != 0)
        return rc;
    if (!node)
        return xsim_store_create(store, txn, caller, path, "", 0, changes);
    if (!(xsim_perm_for_caller(caller, node->perms, node->nperms) &
          XSIM_PERM_WRITE))
        return EACCES;
    return 0;
}

/* Remove a subtree, children first; every node of it is touched. */
static int
xsim_store_rm_tree(XsimStore *store,
                   XsimTxn *txn,
                   const XsimCaller *caller,
                   const char *path,
                   XsimNode *node)
{
    const GPtrArray *children = xsim_node_children(node);
    guint i;
    int rc;

    /* Removing a child leaves this node's child list alone: it goes too. */
    for (i = 0; i < children->len; i++) {
        g_autofree char *child_path =
            xsim_path_child(path, g_ptr_array_index(children, i));
        XsimNode *child = NULL;

        if ((rc = xsim_view_get(store, txn, caller, child_path, &child)) != 0)
            return rc;
        if (child && (rc = xsim_store_rm_tree(store, txn, caller,
                                              child_path, child)) != 0)
            return rc;
    }
    xsim_view_remove(store, txn, path, node);
    return 0;
}

/*
 * Count the subtree as the transaction sees it, touching every node, so
 * the removal itself cannot fail half way on the transaction quota.
 */
static int
xsim_store_rm_count(XsimStore *store,
                    XsimTxn *txn,
                    const XsimCaller *caller,
                    const char *path,
                    XsimNode *node)
{
    const GPtrArray *children = xsim_node_children(node);
    guint i;
    int rc;

    for (i = 0; i < children->len; i++) {
        g_autofree char *child_path =
            xsim_path_child(path, g_ptr_array_index(children, i));
        XsimNode *child = NULL;

        if ((rc = xsim_view_get(store, txn, caller, child_path, &child)) != 0)
            return rc;
        if (child &&
            (rc = xsim_store_rm_count(store, txn, caller, child_path, child)) != 0)
            return rc;
    }
    return 0;
}

int
xsim_store_rm(XsimStore *store,
              XsimTxn *txn,
              const XsimCaller *caller,
              const char *path,
              GPtrArray *changes)
{
    g_autofree char *parent_path = NULL;
    XsimNode *node = NULL;
    XsimNode *parent = NULL;
    XsimChange *change;
    int rc;

    if (path[0] != '/' || strcmp(path, "/") == 0)
        return EINVAL;

    if ((rc = xsim_view_get(store, txn, caller, path, &node)) != 0)
        return rc;
    parent_path = xsim_path_parent(path);
    if (!node) {
        rc = xsim_view_missing(store, txn, caller, path);
        if (rc != ENOENT)
            return rc;
        /* Removing what is not there is fine, if its parent is. */
        if ((rc = xsim_view_get(store, txn, caller, parent_path, &parent)) != 0)
            return rc;
        return parent ? 0 : ENOENT;
    }
    if (!(xsim_perm_for_caller(caller, node->perms, node->nperms) &
          XSIM_PERM_WRITE))
        return EACCES;

    if ((rc = xsim_view_get(store, txn, caller, parent_path, &parent)) != 0)
        return rc;
    if (txn && (rc = xsim_store_rm_count(store, txn, caller, path, node)) != 0)
        return rc;

    change = g_new0(XsimChange, 1);
    change->path = g_strdup(path);
    change->removed = true;
    change->perms = g_memdup2(node->perms, sizeof(*node->perms) * node->nperms);
    change->nperms = node->nperms;

    if ((rc = xsim_store_rm_tree(store, txn, caller, path, node)) != 0) {
        /* Cannot happen: every node was touched by the count above. */
        xsim_change_free(change);
        return rc;
    }
    if (parent) {
        xsim_node_remove_child(parent, xsim_path_basename(path));
        xsim_view_touch(store, txn, parent_path, parent);
    }

    if (txn)
        g_ptr_array_add(txn->changes, change);
    else if (changes)
        g_ptr_array_add(changes, change);
    else
        xsim_change_free(change);
    return 0;
}

int
xsim_store_set_perms(XsimStore *store,
                     XsimTxn *txn,
                     const XsimCaller *caller,
                     const char *path,
                     const XsimPerm *perms,
                     guint nperms,
                     GPtrArray *changes)
{
    GHashTable *owned = xsim_view_owned(store, txn);
    XsimNode *node = NULL;
    int rc;

    if (nperms == 0)
        return EINVAL;
    if ((rc = xsim_view_get_checked(store, txn, caller, path,
                                    XSIM_PERM_WRITE | XSIM_PERM_OWNER,
                                    &node)) != 0)
        return rc;
    if (!caller->privileged) {
        if (nperms > store->quota.perms)
            return ENOSPC;
        /* A guest may share its nodes, not give them away. */
        if (perms[0].id != xsim_node_owner(node))
            return EPERM;
    }

    xsim_store_owned_add(owned, xsim_node_owner(node), -1);
    g_free(node->perms);
    node->perms = g_memdup2(perms, sizeof(*perms) * nperms);
    node->nperms = nperms;
    xsim_store_owned_add(owned, xsim_node_owner(node), 1);
    xsim_view_touch(store, txn, path, node);
    xsim_change_add(txn ? txn->changes : changes, path, false, node);
    return 0;
}

/* ---- transactions ---- */

static void
xsim_txn_entry_free(XsimTxnEntry *entry)
{
    xsim_node_free(entry->node);
    g_free(entry);
}

XsimTxn *
xsim_txn_new(XsimStore *store)
{
    XsimTxn *txn = g_new0(XsimTxn, 1);

    txn->store = store;
    txn->entries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify)xsim_txn_entry_free);
    txn->owned_delta = g_hash_table_new(g_direct_hash, g_direct_equal);
    txn->changes = g_ptr_array_new_with_free_func((GDestroyNotify)xsim_change_free);
    return txn;
}

void
xsim_txn_free(XsimTxn *txn)
{
    if (!txn)
        return;
    g_hash_table_unref(txn->entries);
    g_hash_table_unref(txn->owned_delta);
    g_ptr_array_unref(txn->changes);
    g_free(txn);
}

/*
 * A transaction fires once per node it changed, however often it changed
 * it, in the order of first change.  A removal anywhere in the sequence
 * still fires the watches below the node; the last permissions decide who
 * sees the event.
 */
static void
xsim_txn_merge_changes(XsimTxn *txn,
                       GPtrArray *changes)
{
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    guint i;

    for (i = 0; i < txn->changes->len; i++) {
        XsimChange *change = g_ptr_array_index(txn->changes, i);
        XsimChange *first = g_hash_table_lookup(seen, change->path);

        if (!first) {
            g_hash_table_insert(seen, change->path, change);
            continue;
        }
        first->removed |= change->removed;
        g_free(first->perms);
        first->perms = g_steal_pointer(&change->perms);
        first->nperms = change->nperms;
        g_ptr_array_index(txn->changes, i) = NULL;
        xsim_change_free(change);
    }
    for (i = 0; i < txn->changes->len; i++) {
        XsimChange *change = g_ptr_array_index(txn->changes, i);

        if (change) {
            g_ptr_array_index(txn->changes, i) = NULL;
            g_ptr_array_add(changes, change);
        }
    }
    g_ptr_array_set_size(txn->changes, 0);
}

int
xsim_txn_commit(XsimTxn *txn,
                GPtrArray *changes)
{
    XsimStore *store = txn->store;
    GHashTableIter iter;
    gpointer key;
    gpointer value;

    g_hash_table_iter_init(&iter, txn->entries);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        XsimTxnEntry *entry = value;
        XsimNode *committed = g_hash_table_lookup(store->nodes, key);
        guint64 generation = committed ? committed->generation : 0;

        if (generation != entry->base_generation)
            return EAGAIN;
    }

    g_hash_table_iter_init(&iter, txn->entries);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        XsimTxnEntry *entry = value;
        XsimNode *committed = g_hash_table_lookup(store->nodes, key);

        if (!entry->dirty)
            continue;
        if (committed) {
            xsim_store_owned_add(store->owned, xsim_node_owner(committed), -1);
            g_hash_table_remove(store->nodes, key);
        }
        if (entry->node) {
            XsimNode *node = g_steal_pointer(&entry->node);

            /* The committed node that shared its list is gone: the list is
             * ours now, unless another transaction holds it too. */
            xsim_node_settle(node);
            node->generation = ++store->generation;
            xsim_store_owned_add(store->owned, xsim_node_owner(node), 1);
            g_hash_table_insert(store->nodes, g_strdup(key), node);
        }
    }

    if (changes)
        xsim_txn_merge_changes(txn, changes);
    return 0;
}

/* ---- consistency ---- */

bool
xsim_store_check(XsimStore *store)
{
    g_autoptr(GHashTable) owned = g_hash_table_new(g_direct_hash, g_direct_equal);
    GHashTableIter iter;
    gpointer key;
    gpointer value;
    guint children = 0;
    guint linked = 0;

    g_hash_table_iter_init(&iter, store->nodes);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        const char *path = key;
        XsimNode *node = value;
        guint i;

        if (node->nperms == 0 || node->value[node->len] != '\0')
            return false;
        /* A committed node has no log, and its index says where each
         * child is. */
        if (node->log || node->kids->ref < 1)
            return false;
        if (node->kids->index) {
            if (g_hash_table_size(node->kids->index) != node->kids->names->len)
                return false;
            for (i = 0; i < node->kids->names->len; i++)
                if (GPOINTER_TO_UINT(g_hash_table_lookup(
                        node->kids->index,
                        g_ptr_array_index(node->kids->names, i))) != i + 1)
                    return false;
        }
        xsim_store_owned_add(owned, xsim_node_owner(node), 1);
        if (path[0] != '/')
            continue;
        if (strcmp(path, "/") != 0) {
            g_autofree char *parent_path = xsim_path_parent(path);
            XsimNode *parent = g_hash_table_lookup(store->nodes, parent_path);
            bool found = false;

            if (!parent)
                return false;
            for (i = 0; i < parent->kids->names->len && !found; i++)
                found = strcmp(g_ptr_array_index(parent->kids->names, i),
                               xsim_path_basename(path)) == 0;
            if (!found)
                return false;
            linked++;
        }
        for (i = 0; i < node->kids->names->len; i++) {
            g_autofree char *child_path =
                xsim_path_child(path, g_ptr_array_index(node->kids->names, i));

            if (!g_hash_table_contains(store->nodes, child_path))
                return false;
            children++;
        }
    }
    if (children != linked)
        return false;

    g_hash_table_iter_init(&iter, owned);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        if (g_hash_table_lookup(store->owned, key) != value)
            return false;
    }
    return g_hash_table_size(owned) == g_hash_table_size(store->owned);
}
