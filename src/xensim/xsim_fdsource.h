/*
 * xsim_fdsource.h: a GSource for one file descriptor whose interest set
 * changes often (input throttling, pending output) without re-creating the
 * source each time, and whose cost does not grow with the number of fds
 * the main context watches (one epoll for a context of many fds,
 * xsim_fdsource.c).
 */
#pragma once

#include <glib.h>

typedef void (*XsimFdFunc)(int fd, GIOCondition revents, gpointer opaque);

/*
 * Before any fd source of @ctx: @ctx will watch many fds (one per guest):
 * its fd sources go through one epoll, whose cost does not grow with them.
 */
void
xsim_fd_sources_many(GMainContext *ctx);

/*
 * Dispatched by the thread-default main context; the caller owns the only
 * ref, and ends it with g_source_destroy() and g_source_unref().
 */
GSource *
xsim_fd_source_new(int fd,
                   GIOCondition events,
                   XsimFdFunc cb,
                   gpointer opaque);

void
xsim_fd_source_set_events(GSource *source,
                          GIOCondition events);
