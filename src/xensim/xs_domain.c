/*
 * xs_domain.c: introduced domains and their connections.
 *
 * On real Xen a guest reaches xenstored through a shared ring page and an
 * event channel, which INTRODUCE names (mfn, port) for xenstored to map.
 * Here a domain the hypervisor built has such a ring (xsim_ring.h, handed
 * over by xsim_server_domain_built), and INTRODUCE puts a connection on
 * it: no socket, no fd.  A domid introduced with no domain behind it
 * (xenstored tested alone, Xen's own tools run as a guest) gets an
 * endpoint instead, DIR/xenstored/domain/<domid>.sock, and whatever
 * connects there (up to XSIM_DOMAIN_CONNS_MAX at once) speaks as that
 * domain.  Either way the domain's connections are unprivileged, with
 * relative paths under /local/domain/<domid> and quotas applied.  The mfn
 * and port are kept for IS_DOMAIN_INTRODUCED and the log only.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "xs_internal.h"
#include "xsim_fdsource.h"

XsimDomain *
xsim_domain_lookup(XsimServer *srv,
                   uint32_t domid)
{
    return g_hash_table_lookup(srv->domains, GUINT_TO_POINTER(domid));
}

static guint
xsim_domain_count_conns(XsimDomain *dom)
{
    return g_hash_table_size(dom->conns);
}

static void
xsim_domain_accept(int fd,
                   GIOCondition revents,
                   gpointer opaque)
{
    XsimDomain *dom = opaque;
    XsimServer *srv = dom->srv;
    int cfd;

    cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
        if (errno != EAGAIN && errno != EINTR)
            g_warning("domain %u: accept: %s", dom->domid, g_strerror(errno));
        return;
    }
    if (xsim_domain_count_conns(dom) >= XSIM_DOMAIN_CONNS_MAX) {
        g_warning("domain %u: refused a connection over the limit of %u",
                  dom->domid, XSIM_DOMAIN_CONNS_MAX);
        close(cfd);
        return;
    }
    xsim_conn_new(srv, cfd, dom->domid, dom);
    xsim_server_idle(srv);
}

/* Shared with the privileged socket: bind under a tight umask, listen. */
int
xsim_listen_unix(const char *path,
                 GError **error)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    mode_t old_umask;
    int fd;
    int r;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NAMETOOLONG,
                    "socket path '%s' is too long", path);
        return -1;
    }
    strcpy(sun.sun_path, path);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot create socket: %s", g_strerror(errno));
        return -1;
    }
    /* We hold the run dir lock: whatever is there is stale. */
    unlink(path);
    /* Bind creates the file 0600: no window with looser permissions. */
    old_umask = umask(0177);
    r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old_umask);
    if (r < 0 || listen(fd, 128) < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot listen on '%s': %s", path, g_strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int
xsim_domain_introduce(XsimServer *srv,
                      uint32_t domid,
                      uint64_t mfn,
                      uint32_t port)
{
    XsimDomain *dom;
    XsimRing *ring;

    if (domid == 0 || domid >= XSIM_DOMID_MAX)
        return EINVAL;
    if ((dom = xsim_domain_lookup(srv, domid))) {
        /* Re-introduction (a resumed guest): nothing to open again. */
        dom->mfn = mfn;
        dom->port = port;
        return 0;
    }

    dom = g_new0(XsimDomain, 1);
    dom->srv = srv;
    dom->domid = domid;
    dom->mfn = mfn;
    dom->port = port;
    dom->target = XSIM_DOMID_NONE;
    dom->conns = g_hash_table_new(g_direct_hash, g_direct_equal);
    dom->listen_fd = -1;

    ring = g_hash_table_lookup(srv->built, GUINT_TO_POINTER(domid));
    if (ring) {
        xsim_conn_new_ring(srv, ring, domid, dom);
    } else if (srv->rundir) {
        g_autoptr(GError) error = NULL;
        g_autofree char *dir = g_build_filename(srv->rundir, "xenstored",
                                                "domain", NULL);

        if (g_mkdir_with_parents(dir, 0700) < 0) {
            g_warning("cannot create '%s': %s", dir, g_strerror(errno));
            g_free(dom);
            return EIO;
        }
        dom->sock_path = g_strdup_printf("%s/%u.sock", dir, domid);
        dom->listen_fd = xsim_listen_unix(dom->sock_path, &error);
        if (dom->listen_fd < 0) {
            g_warning("domain %u: %s", domid, error->message);
            g_free(dom->sock_path);
            g_free(dom);
            return EIO;
        }
        dom->listen_source = xsim_fd_source_new(dom->listen_fd, G_IO_IN,
                                                xsim_domain_accept, dom);
    }

    g_hash_table_insert(srv->domains, GUINT_TO_POINTER(domid), dom);
    g_message("domain %u introduced (mfn %" G_GUINT64_FORMAT ", port %u)",
              domid, mfn, port);
    xsim_watch_fire_special(srv, "@introduceDomain");
    return 0;
}

/* Close the domain's listener and every connection it has. */
void
xsim_domain_free(XsimDomain *dom)
{
    g_autoptr(GList) conns = NULL;
    XsimServer *srv;

    if (!dom)
        return;
    srv = dom->srv;
    /* Its own: not a walk of every connection of the host. */
    conns = g_hash_table_get_keys(dom->conns);
    for (GList *l = conns; l; l = l->next) {
        XsimConn *conn = l->data;

        xsim_conn_close(conn, "domain released");
        conn->domain = NULL;
    }
    g_hash_table_unref(dom->conns);
    /* Closed connections on the doomed list may still point here. */
    for (guint i = 0; i < srv->doomed->len; i++) {
        XsimConn *conn = g_ptr_array_index(srv->doomed, i);

        if (conn->domain == dom)
            conn->domain = NULL;
    }
    if (dom->listen_source) {
        g_source_destroy(dom->listen_source);
        g_source_unref(dom->listen_source);
    }
    if (dom->listen_fd >= 0)
        close(dom->listen_fd);
    if (dom->sock_path)
        unlink(dom->sock_path);
    g_free(dom->sock_path);
    g_free(dom);
}

int
xsim_domain_release(XsimServer *srv,
                    uint32_t domid)
{
    if (domid == 0 || domid >= XSIM_DOMID_MAX)
        return EINVAL;
    if (!g_hash_table_remove(srv->domains, GUINT_TO_POINTER(domid)))
        return ENOENT;
    g_message("domain %u released", domid);
    xsim_watch_fire_special(srv, "@releaseDomain");
    return 0;
}

int
xsim_domain_set_target(XsimServer *srv,
                       uint32_t domid,
                       uint32_t target)
{
    XsimDomain *dom = xsim_domain_lookup(srv, domid);
    GHashTableIter iter;
    gpointer key;

    if (!dom || !xsim_domain_lookup(srv, target))
        return ENOENT;
    dom->target = target;
    g_hash_table_iter_init(&iter, dom->conns);
    while (g_hash_table_iter_next(&iter, &key, NULL))
        ((XsimConn *)key)->caller.target = target;
    return 0;
}
