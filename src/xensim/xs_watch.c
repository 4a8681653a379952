/*
 * xs_watch.c: watches and the events they fire.
 *
 * Rules, as in the C xenstored:
 *  - a change to P fires every watch on P or an ancestor of P, with P as
 *    the event path;
 *  - removing P also fires every watch below P, with the watch's own path;
 *  - an event is sent only to connections that may read the changed node
 *    (its permissions as the change left them, or as they were for a
 *    removal), so watches cannot probe for nodes;
 *  - a watch registered with a relative path gets relative event paths;
 *  - special watches ("@introduceDomain", "@releaseDomain") fire on their
 *    exact name only, to connections the special node's permissions let read.
 */
#include <errno.h>
#include <string.h>

#include "xs_internal.h"

void
xsim_watch_free(XsimWatch *watch)
{
    g_free(watch->path);
    g_free(watch->token);
    g_free(watch);
}

/* ---- the index (xs_internal.h) ---- */

static XsimWatchNode *
xsim_watch_node_new(XsimWatchNode *parent,
                    const char *name)
{
    XsimWatchNode *node = g_new0(XsimWatchNode, 1);

    node->parent = parent;
    node->name = g_strdup(name);
    return node;
}

static void
xsim_watch_node_free(XsimWatchNode *node)
{
    if (!node)
        return;
    if (node->children)
        g_hash_table_unref(node->children);
    if (node->watches)
        g_ptr_array_unref(node->watches);
    g_free(node->name);
    g_free(node);
}

void
xsim_watch_index_init(XsimServer *srv)
{
    srv->watch_root = xsim_watch_node_new(NULL, "");
    srv->watch_specials = g_hash_table_new_full(
        g_str_hash, g_str_equal, NULL, (GDestroyNotify)xsim_watch_node_free);
}

void
xsim_watch_index_free(XsimServer *srv)
{
    /* Every connection has gone, and its watches with it. */
    xsim_watch_node_free(srv->watch_root);
    g_hash_table_unref(srv->watch_specials);
}

/* The next component of a canonical path at *p, advancing *p past it. */
static char *
xsim_watch_component(const char **p)
{
    const char *slash = strchr(*p, '/');
    gsize len = slash ? (gsize)(slash - *p) : strlen(*p);
    char *name = g_strndup(*p, len);

    *p += slash ? len + 1 : len;
    return name;
}

/* The node of @path (canonical), made if @create, else NULL if none. */
static XsimWatchNode *
xsim_watch_node_find(XsimServer *srv,
                     const char *path,
                     bool create)
{
    XsimWatchNode *node = srv->watch_root;
    const char *p = path + 1;

    if (path[0] != '/') {
        node = g_hash_table_lookup(srv->watch_specials, path);
        if (!node && create) {
            node = xsim_watch_node_new(NULL, path);
            g_hash_table_insert(srv->watch_specials, node->name, node);
        }
        return node;
    }
    while (*p) {
        g_autofree char *name = xsim_watch_component(&p);
        XsimWatchNode *child = node->children ?
            g_hash_table_lookup(node->children, name) : NULL;

        if (!child) {
            if (!create)
                return NULL;
            if (!node->children)
                node->children = g_hash_table_new_full(
                    g_str_hash, g_str_equal, NULL,
                    (GDestroyNotify)xsim_watch_node_free);
            child = xsim_watch_node_new(node, name);
            g_hash_table_insert(node->children, child->name, child);
        }
        node = child;
    }
    return node;
}

/* Drops @node and its empty ancestors once nothing hangs on them. */
static void
xsim_watch_node_prune(XsimServer *srv,
                      XsimWatchNode *node)
{
    while (node != srv->watch_root &&
           (!node->watches || node->watches->len == 0) &&
           (!node->children || g_hash_table_size(node->children) == 0)) {
        XsimWatchNode *parent = node->parent;

        if (!parent) {
            g_hash_table_remove(srv->watch_specials, node->name);
            return;
        }
        g_hash_table_remove(parent->children, node->name);
        node = parent;
    }
}

static void
xsim_watch_unlink(XsimWatch *watch)
{
    XsimServer *srv = watch->conn->srv;
    XsimWatchNode *node = watch->node;

    g_hash_table_remove(watch->conn->watches, watch);
    g_ptr_array_remove(node->watches, watch);
    watch->conn->nwatches--;
    xsim_watch_free(watch);
    xsim_watch_node_prune(srv, node);
}

static XsimWatch *
xsim_watch_find(XsimConn *conn,
                const char *path,
                const char *token)
{
    XsimWatchNode *node = xsim_watch_node_find(conn->srv, path, false);

    for (guint i = 0; node && node->watches && i < node->watches->len; i++) {
        XsimWatch *w = g_ptr_array_index(node->watches, i);

        if (w->conn == conn && strcmp(w->token, token) == 0)
            return w;
    }
    return NULL;
}

int
xsim_watch_add(XsimConn *conn,
               const char *path,
               const char *token,
               gsize strip)
{
    XsimServer *srv = conn->srv;
    XsimWatch *watch;

    if (xsim_watch_find(conn, path, token))
        return EEXIST;
    if (!conn->caller.privileged && conn->nwatches >= srv->quota.watches)
        return E2BIG;

    watch = g_new0(XsimWatch, 1);
    watch->path = g_strdup(path);
    watch->token = g_strdup(token);
    watch->strip = strip;
    watch->conn = conn;
    watch->seq = ++srv->watch_seq;
    watch->node = xsim_watch_node_find(srv, path, true);
    if (!watch->node->watches)
        watch->node->watches = g_ptr_array_new();
    g_ptr_array_add(watch->node->watches, watch);
    g_hash_table_add(conn->watches, watch);
    conn->nwatches++;
    return 0;
}

int
xsim_watch_remove(XsimConn *conn,
                  const char *path,
                  const char *token)
{
    XsimWatch *watch = xsim_watch_find(conn, path, token);

    if (!watch)
        return ENOENT;
    xsim_watch_unlink(watch);
    return 0;
}

void
xsim_watch_remove_all(XsimConn *conn)
{
    g_autoptr(GList) watches = g_hash_table_get_keys(conn->watches);

    for (GList *l = watches; l; l = l->next)
        xsim_watch_unlink(l->data);
    conn->nwatches = 0;
}

/* ---- firing ---- */

typedef struct {
    XsimWatch *watch;
    const char *path;       /* the event's path */
} XsimWatchHit;

static void
xsim_watch_hits_add(GArray *hits,
                    XsimWatchNode *node,
                    const char *path)
{
    for (guint i = 0; node->watches && i < node->watches->len; i++) {
        XsimWatch *w = g_ptr_array_index(node->watches, i);
        XsimWatchHit hit = { w, path ? path : w->path };

        g_array_append_val(hits, hit);
    }
}

/* The watches strictly below @node, each with its own path. */
static void
xsim_watch_hits_add_below(GArray *hits,
                          XsimWatchNode *node)
{
    GHashTableIter iter;
    gpointer value;

    if (!node->children)
        return;
    g_hash_table_iter_init(&iter, node->children);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        xsim_watch_hits_add(hits, value, NULL);
        xsim_watch_hits_add_below(hits, value);
    }
}

static gint
xsim_watch_hit_cmp(gconstpointer a,
                   gconstpointer b)
{
    const XsimWatchHit *x = a, *y = b;

    return x->watch->seq < y->watch->seq ? -1 : x->watch->seq > y->watch->seq;
}

static void
xsim_watch_send(XsimWatch *watch,
                const char *path)
{
    if (watch->strip && strlen(path) > watch->strip)
        path += watch->strip;
    xsim_conn_watch_event(watch->conn, path, watch->token);
}

void
xsim_watch_fire(XsimServer *srv,
                const XsimChange *change)
{
    g_autoptr(GArray) hits = g_array_new(FALSE, FALSE, sizeof(XsimWatchHit));
    const char *path = change->path;
    XsimWatchNode *node;

    /* The watches on the path and its ancestors; for a removal, those
     * below it too.  A special name fires its own watches only. */
    if (path[0] != '/') {
        if ((node = g_hash_table_lookup(srv->watch_specials, path)))
            xsim_watch_hits_add(hits, node, path);
    } else {
        const char *p = path + 1;

        node = srv->watch_root;
        xsim_watch_hits_add(hits, node, path);
        while (node && *p) {
            g_autofree char *name = xsim_watch_component(&p);

            node = node->children ? g_hash_table_lookup(node->children, name)
                                  : NULL;
            if (node)
                xsim_watch_hits_add(hits, node, path);
        }
        if (node && change->removed)
            xsim_watch_hits_add_below(hits, node);
    }
    /* In the order they were registered, as before the index. */
    if (hits->len > 1)
        g_array_sort(hits, xsim_watch_hit_cmp);

    /* Sending may close a connection but never edits the watch index. */
    for (guint i = 0; i < hits->len; i++) {
        XsimWatchHit *hit = &g_array_index(hits, XsimWatchHit, i);
        XsimWatch *w = hit->watch;

        if (w->conn->dead)
            continue;
        if (!(xsim_perm_for_caller(&w->conn->caller, change->perms,
                                   change->nperms) & XSIM_PERM_READ))
            continue;
        xsim_watch_send(w, hit->path);
    }
}

void
xsim_watch_fire_changes(XsimServer *srv,
                        GPtrArray *changes)
{
    guint i;

    for (i = 0; i < changes->len; i++)
        xsim_watch_fire(srv, g_ptr_array_index(changes, i));
}

void
xsim_watch_fire_special(XsimServer *srv,
                        const char *name)
{
    static const XsimCaller dom0 = { 0, true, XSIM_DOMID_NONE };
    const XsimPerm *perms = NULL;
    guint nperms = 0;
    XsimChange change = { 0 };

    if (xsim_store_get_perms(srv->store, NULL, &dom0, name, &perms, &nperms) != 0)
        return;
    change.path = (char *)name;
    change.perms = (XsimPerm *)perms;
    change.nperms = nperms;
    xsim_watch_fire(srv, &change);
}
