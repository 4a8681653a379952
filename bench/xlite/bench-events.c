/*
 * bench-events.c: events dispatched per second through libxlite's hooks on
 * libvirt's default event loop, against a bare poll() loop doing the same
 * work
 *
 * The work: a byte travels round a pipe; each time the read end becomes
 * readable, a callback reads the byte and writes it again.  Measured side
 * by side in one run:
 *
 *   bare      poll() on the fd, read, write: the floor.
 *   libvirt   the same callback registered directly with virEventAddHandle:
 *             what libvirt's loop itself costs, for reference.
 *   watch     a persistent libxlite fd watch, mirrored into libvirt's loop
 *             (virEventAddHandle) by the driver's glue; each event goes
 *             virEventRunDefaultImpl -> xlite_osevent_occurred_fd -> the
 *             library's readiness check -> the callback.
 *   fd_wait   the public asynchronous operation xlite_fd_wait, one per
 *             event: register and deregister the watch (and a timeout)
 *             through the hooks, complete, notify the application.
 *
 * Prints events per second for each and the ratio to bare.  Never a test.
 *
 *   bench-events [EVENTS]      (default 200000)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <libvirt/libvirt.h>

#include "libxl_event.h"
#include "xlite_internal.h"

static int pipe_fds[2];
static long remaining;

static void
pass_byte(int fd)
{
    char byte;

    if (read(fd, &byte, 1) == 1 && remaining-- > 0 &&
        write(pipe_fds[1], &byte, 1) != 1)
        abort();
}

static double
seconds_since(int64_t start)
{
    return (g_get_monotonic_time() - start) / (double)G_USEC_PER_SEC;
}

static double
bench_bare(long events)
{
    struct pollfd pfd = { .fd = pipe_fds[0], .events = POLLIN };
    int64_t start = g_get_monotonic_time();

    remaining = events;
    if (write(pipe_fds[1], "x", 1) != 1)
        abort();
    while (remaining > 0) {
        if (poll(&pfd, 1, -1) == 1)
            pass_byte(pipe_fds[0]);
    }
    pass_byte(pipe_fds[0]);
    return events / seconds_since(start);
}

static void
libvirt_cb(int watch, int fd, int events, void *opaque)
{
    pass_byte(fd);
}

static double
bench_libvirt(long events)
{
    int64_t start = g_get_monotonic_time();
    int watch = virEventAddHandle(pipe_fds[0], VIR_EVENT_HANDLE_READABLE,
                                  libvirt_cb, NULL, NULL);

    if (watch < 0)
        abort();
    remaining = events;
    if (write(pipe_fds[1], "x", 1) != 1)
        abort();
    while (remaining > 0)
        virEventRunDefaultImpl();
    virEventRemoveHandle(watch);
    pass_byte(pipe_fds[0]);
    return events / seconds_since(start);
}

static void
watch_cb(xlite__egc *egc, xlite__ev_fd *ev, int fd, short events,
         short revents)
{
    pass_byte(fd);
}

static double
bench_watch(xlite_ctx *ctx, long events)
{
    xlite__ev_fd ev;
    int64_t start;

    xlite__ev_fd_init(&ev);
    if (xlite__ev_fd_register(ctx, &ev, watch_cb, pipe_fds[0], POLLIN) < 0)
        abort();
    start = g_get_monotonic_time();
    remaining = events;
    if (write(pipe_fds[1], "x", 1) != 1)
        abort();
    while (remaining > 0)
        virEventRunDefaultImpl();
    xlite__ev_fd_deregister(ctx, &ev);
    pass_byte(pipe_fds[0]);
    return events / seconds_since(start);
}

static xlite_async_how fd_wait_how;

static void
fd_wait_done_cb(xlite_ctx *ctx, int rc, void *opaque)
{
    pass_byte(pipe_fds[0]);
    if (remaining > 0 &&
        xlite_fd_wait(ctx, pipe_fds[0], POLLIN, G_USEC_PER_SEC,
                      &fd_wait_how) < 0)
        abort();
}

static double
bench_fd_wait(xlite_ctx *ctx, long events)
{
    int64_t start = g_get_monotonic_time();

    remaining = events;
    fd_wait_how = (xlite_async_how){ .callback = fd_wait_done_cb };
    if (write(pipe_fds[1], "x", 1) != 1 ||
        xlite_fd_wait(ctx, pipe_fds[0], POLLIN, G_USEC_PER_SEC,
                      &fd_wait_how) < 0)
        abort();
    while (remaining > 0)
        virEventRunDefaultImpl();
    return events / seconds_since(start);
}

static void
tick_cb(int timer, void *opaque)
{
}

int
main(int argc, char **argv)
{
    long events = argc > 1 ? atol(argv[1]) : 200000;
    xlite_ctx_options opts = {
        .backend = XLITE_BACKEND_STUB,
        .state_dir = g_get_tmp_dir(),
    };
    xlite_ctx *ctx = NULL;
    double bare, direct, watch, fd_wait;
    int tick;
    int i;

    if (virEventRegisterDefaultImpl() < 0 ||
        xlite_ctx_new(&opts, &ctx) < 0 || xvEventHooksInstall(ctx) < 0 ||
        pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        fprintf(stderr, "bench-events: setup failed: %s\n", xlite_errmsg());
        return 1;
    }

    bare = bench_bare(events);
    direct = bench_libvirt(events);
    watch = bench_watch(ctx, events);
    fd_wait = bench_fd_wait(ctx, events);

    /* Let libvirt's loop free what was removed, and libxlite's abandoned
     * timeouts fire, before the context goes. */
    tick = virEventAddTimeout(0, tick_cb, NULL, NULL);
    for (i = 0; i < 3; i++)
        virEventRunDefaultImpl();
    virEventRemoveTimeout(tick);
    xlite_ctx_free(ctx);
    close(pipe_fds[0]);
    close(pipe_fds[1]);

    printf("events:   %ld per run\n", events);
    printf("bare      %10.0f events/s\n", bare);
    printf("libvirt   %10.0f events/s   bare/libvirt = %.2fx\n", direct,
           bare / direct);
    printf("watch     %10.0f events/s   bare/watch   = %.2fx\n", watch,
           bare / watch);
    printf("fd_wait   %10.0f events/s   bare/fd_wait = %.2fx\n", fd_wait,
           bare / fd_wait);
    return 0;
}
