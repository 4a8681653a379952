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

/* Is @path @ancestor or below it?  Both canonical. */
static bool
xsim_path_is_under(const char *path,
                   const char *ancestor)
{
    gsize len = strlen(ancestor);

    if (path[0] != '/' || ancestor[0] != '/')
        return strcmp(path, ancestor) == 0;
    if (strcmp(ancestor, "/") == 0)
        return true;
    return strncmp(path, ancestor, len) == 0 &&
           (path[len] == '\0' || path[len] == '/');
}

int
xsim_watch_add(XsimConn *conn,
               const char *path,
               const char *token,
               gsize strip)
{
    XsimServer *srv = conn->srv;
    XsimWatch *watch;
    guint i;

    for (i = 0; i < srv->watches->len; i++) {
        XsimWatch *w = g_ptr_array_index(srv->watches, i);

        if (w->conn == conn && strcmp(w->path, path) == 0 &&
            strcmp(w->token, token) == 0)
            return EEXIST;
    }
    if (!conn->caller.privileged && conn->nwatches >= srv->quota.watches)
        return E2BIG;

    watch = g_new0(XsimWatch, 1);
    watch->path = g_strdup(path);
    watch->token = g_strdup(token);
    watch->strip = strip;
    watch->conn = conn;
    g_ptr_array_add(srv->watches, watch);
    conn->nwatches++;
    return 0;
}

int
xsim_watch_remove(XsimConn *conn,
                  const char *path,
                  const char *token)
{
    XsimServer *srv = conn->srv;
    guint i;

    for (i = 0; i < srv->watches->len; i++) {
        XsimWatch *w = g_ptr_array_index(srv->watches, i);

        if (w->conn == conn && strcmp(w->path, path) == 0 &&
            strcmp(w->token, token) == 0) {
            /* Keep registration order: it is the order events are sent in. */
            g_ptr_array_remove_index(srv->watches, i);
            conn->nwatches--;
            return 0;
        }
    }
    return ENOENT;
}

void
xsim_watch_remove_all(XsimConn *conn)
{
    XsimServer *srv = conn->srv;
    guint i = 0;

    while (i < srv->watches->len) {
        XsimWatch *w = g_ptr_array_index(srv->watches, i);

        if (w->conn == conn)
            g_ptr_array_remove_index(srv->watches, i);
        else
            i++;
    }
    conn->nwatches = 0;
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
    guint i;

    /* Sending may close a connection but never edits the watch list. */
    for (i = 0; i < srv->watches->len; i++) {
        XsimWatch *w = g_ptr_array_index(srv->watches, i);
        const char *path;

        if (w->conn->dead)
            continue;
        if (xsim_path_is_under(change->path, w->path))
            path = change->path;
        else if (change->removed && xsim_path_is_under(w->path, change->path))
            path = w->path;
        else
            continue;
        if (!(xsim_perm_for_caller(&w->conn->caller, change->perms,
                                   change->nperms) & XSIM_PERM_READ))
            continue;
        xsim_watch_send(w, path);
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
