/*
 * xsim_fdsource.c: see xsim_fdsource.h.
 */
#include "xsim_fdsource.h"

typedef struct {
    GSource base;
    gpointer tag;
    int fd;
    GIOCondition events;
    XsimFdFunc cb;
    gpointer opaque;
} XsimFdSource;

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

static GSourceFuncs xsim_fd_source_funcs = {
    .dispatch = xsim_fd_source_dispatch,
};

GSource *
xsim_fd_source_new(int fd,
                   GIOCondition events,
                   XsimFdFunc cb,
                   gpointer opaque)
{
    GSource *source = g_source_new(&xsim_fd_source_funcs, sizeof(XsimFdSource));
    XsimFdSource *fds = (XsimFdSource *)source;

    fds->fd = fd;
    fds->events = events;
    fds->cb = cb;
    fds->opaque = opaque;
    fds->tag = g_source_add_unix_fd(source, fd, events);
    /*
     * GLib "blocks" a non-recursive source while dispatching it, taking its
     * fds out of the poll set and back, and each of those signals the
     * context's wakeup eventfd: two writes, a read and a spurious poll
     * return per request.  We never iterate the loop from a callback, so
     * recursion cannot happen and the blocking buys nothing.
     */
    g_source_set_can_recurse(source, TRUE);
    g_source_attach(source, g_main_context_get_thread_default());
    return source;
}

void
xsim_fd_source_set_events(GSource *source,
                          GIOCondition events)
{
    XsimFdSource *fds = (XsimFdSource *)source;

    if (fds->events == events)
        return;
    fds->events = events;
    g_source_modify_unix_fd(source, fds->tag, events);
}
