/*
 * xsim_fdsource.c: see xsim_fdsource.h.
 *
 * GLib polls every fd of every source at each iteration of a main loop,
 * so with one source per fd an event costs as much as the host has
 * guests (a xenstored connection and a listening socket per guest in the
 * main loop, a pty per console in the backends' loop).  A main context
 * that watches that many fds (xsim_fd_sources_many()) has ONE GSource,
 * the "set", whose only fd is an epoll instance; its fd sources are
 * registered in that epoll, and the set dispatches the ready ones itself.
 * Such an fd source is still a GSource for its owner (g_source_destroy +
 * g_source_unref end it), but it is never attached: GLib neither polls
 * nor walks it.  In the other contexts (a guest's: two fds) an fd source
 * is an ordinary attached GSource polling its fd: an epoll there would
 * only cost a guest one more fd.
 *
 * Each registration carries an id, looked up at dispatch: an event for an
 * fd source that went in the meantime (a callback ended it) finds nothing.
 * A destroyed source leaves the epoll at its finalize, or at the next event
 * of its fd if its owner still holds it.
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "xsim_fdsource.h"

typedef struct {
    GSource base;
    GMainContext *ctx;      /* not a ref: the set dies with its context */
    int epfd;
    GHashTable *sources;    /* id -> XsimFdSource (not refs) */
    guint64 next_id;
} XsimFdSet;

typedef struct {
    GSource base;
    XsimFdSet *set;         /* a ref; NULL: attached, GLib polls the fd */
    gpointer tag;           /* without a set: GLib's for the fd */
    guint64 id;
    int fd;
    GIOCondition events;
    bool registered;
    XsimFdFunc cb;
    gpointer opaque;
} XsimFdSource;

/* One set per main context: context -> XsimFdSet, not refs. */
static GMutex xsim_fd_sets_lock;
static GHashTable *xsim_fd_sets;

static void
xsim_fd_source_unregister(XsimFdSource *fds)
{
    if (!fds->registered)
        return;
    fds->registered = false;
    /* EBADF if the owner closed the fd first: it left the epoll then. */
    epoll_ctl(fds->set->epfd, EPOLL_CTL_DEL, fds->fd, NULL);
    g_hash_table_remove(fds->set->sources, &fds->id);
}

static gboolean
xsim_fd_set_dispatch(GSource *source,
                     GSourceFunc unused,
                     gpointer unused_data)
{
    XsimFdSet *set = (XsimFdSet *)source;
    struct epoll_event evs[64];
    int n;

    n = epoll_wait(set->epfd, evs, G_N_ELEMENTS(evs), 0);
    for (int i = 0; i < n; i++) {
        guint64 id = evs[i].data.u64;
        XsimFdSource *fds = g_hash_table_lookup(set->sources, &id);

        if (!fds)
            continue;
        if (g_source_is_destroyed(&fds->base)) {
            xsim_fd_source_unregister(fds);
            continue;
        }
        /* epoll's bits are poll()'s, hence GIOCondition's. */
        fds->cb(fds->fd, evs[i].events & (G_IO_IN | G_IO_PRI | G_IO_OUT |
                                          G_IO_ERR | G_IO_HUP),
                fds->opaque);
    }
    return G_SOURCE_CONTINUE;
}

static void
xsim_fd_set_finalize(GSource *source)
{
    XsimFdSet *set = (XsimFdSet *)source;

    g_mutex_lock(&xsim_fd_sets_lock);
    if (g_hash_table_lookup(xsim_fd_sets, set->ctx) == set)
        g_hash_table_remove(xsim_fd_sets, set->ctx);
    g_mutex_unlock(&xsim_fd_sets_lock);
    g_assert(g_hash_table_size(set->sources) == 0);
    g_hash_table_unref(set->sources);
    close(set->epfd);
}

static GSourceFuncs xsim_fd_set_funcs = {
    .dispatch = xsim_fd_set_dispatch,
    .finalize = xsim_fd_set_finalize,
};

void
xsim_fd_sources_many(GMainContext *ctx)
{
    XsimFdSet *set;
    int epfd;

    if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        g_error("epoll_create1: %s", g_strerror(errno));
    set = (XsimFdSet *)g_source_new(&xsim_fd_set_funcs, sizeof(XsimFdSet));
    set->ctx = ctx;
    set->epfd = epfd;
    set->sources = g_hash_table_new(g_int64_hash, g_int64_equal);
    g_source_add_unix_fd(&set->base, epfd, G_IO_IN);
    /*
     * GLib "blocks" a non-recursive source while dispatching it, taking its
     * fds out of the poll set and back, and each of those signals the
     * context's wakeup eventfd: two writes, a read and a spurious poll
     * return per request.  We never iterate the loop from a callback, so
     * recursion cannot happen and the blocking buys nothing.
     */
    g_source_set_can_recurse(&set->base, TRUE);
    g_source_attach(&set->base, ctx);
    /* The context's ref keeps it; the map holds none. */
    g_source_unref(&set->base);
    g_mutex_lock(&xsim_fd_sets_lock);
    if (!xsim_fd_sets)
        xsim_fd_sets = g_hash_table_new(g_direct_hash, g_direct_equal);
    g_hash_table_insert(xsim_fd_sets, ctx, set);
    g_mutex_unlock(&xsim_fd_sets_lock);
}

/* The set of @ctx, a new ref, or NULL if it has none. */
static XsimFdSet *
xsim_fd_set_get(GMainContext *ctx)
{
    XsimFdSet *set = NULL;

    g_mutex_lock(&xsim_fd_sets_lock);
    if (xsim_fd_sets)
        set = g_hash_table_lookup(xsim_fd_sets, ctx);
    /* A destroyed set is that of a context that went at this address. */
    if (set && g_source_is_destroyed(&set->base))
        set = NULL;
    if (set)
        g_source_ref(&set->base);
    g_mutex_unlock(&xsim_fd_sets_lock);
    return set;
}

/* Without a set: GLib polled the fd. */
static gboolean
xsim_fd_source_dispatch(GSource *source,
                        GSourceFunc unused,
                        gpointer unused_data)
{
    XsimFdSource *fds = (XsimFdSource *)source;
    GIOCondition revents = g_source_query_unix_fd(source, fds->tag);

    if (revents)
        fds->cb(fds->fd, revents, fds->opaque);
    return G_SOURCE_CONTINUE;
}

static void
xsim_fd_source_finalize(GSource *source)
{
    XsimFdSource *fds = (XsimFdSource *)source;

    if (!fds->set)
        return;
    xsim_fd_source_unregister(fds);
    g_source_unref(&fds->set->base);
}

static GSourceFuncs xsim_fd_source_funcs = {
    .dispatch = xsim_fd_source_dispatch,
    .finalize = xsim_fd_source_finalize,
};

GSource *
xsim_fd_source_new(int fd,
                   GIOCondition events,
                   XsimFdFunc cb,
                   gpointer opaque)
{
    g_autoptr(GMainContext) ctx = g_main_context_ref_thread_default();
    GSource *source = g_source_new(&xsim_fd_source_funcs, sizeof(XsimFdSource));
    XsimFdSource *fds = (XsimFdSource *)source;
    struct epoll_event ev = { .events = events };

    fds->fd = fd;
    fds->events = events;
    fds->cb = cb;
    fds->opaque = opaque;
    if (!(fds->set = xsim_fd_set_get(ctx))) {
        fds->tag = g_source_add_unix_fd(source, fd, events);
        /* As the set's, above. */
        g_source_set_can_recurse(source, TRUE);
        g_source_attach(source, ctx);
        return source;
    }
    fds->id = ++fds->set->next_id;
    ev.data.u64 = fds->id;
    if (epoll_ctl(fds->set->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        g_warning("cannot watch fd %d: %s", fd, g_strerror(errno));
        return source;
    }
    fds->registered = true;
    g_hash_table_insert(fds->set->sources, &fds->id, fds);
    return source;
}

void
xsim_fd_source_set_events(GSource *source,
                          GIOCondition events)
{
    XsimFdSource *fds = (XsimFdSource *)source;
    struct epoll_event ev = { .events = events, .data.u64 = fds->id };

    if (fds->events == events)
        return;
    fds->events = events;
    if (!fds->set) {
        g_source_modify_unix_fd(source, fds->tag, events);
        return;
    }
    if (fds->registered &&
        epoll_ctl(fds->set->epfd, EPOLL_CTL_MOD, fds->fd, &ev) < 0)
        g_warning("epoll_ctl(MOD, %d): %s", fds->fd, g_strerror(errno));
}
