/*
 * xsim_fdsource.h: a GSource for one file descriptor whose interest set
 * changes often (input throttling, pending output) without re-creating the
 * source each time.
 */
#pragma once

#include <glib.h>

typedef void (*XsimFdFunc)(int fd, GIOCondition revents, gpointer opaque);

/* Attached to the thread-default main context; the caller owns one ref. */
GSource *
xsim_fd_source_new(int fd,
                   GIOCondition events,
                   XsimFdFunc cb,
                   gpointer opaque);

void
xsim_fd_source_set_events(GSource *source,
                          GIOCondition events);
