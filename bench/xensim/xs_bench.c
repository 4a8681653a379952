/*
 * xs_bench.c: xensimd's xenstored against a raw unix-socket echo server,
 * same round trips, same run.
 *
 *   xsim-bench [--seconds N] [--xensimd PATH]
 *
 * For 1 and 16 concurrent clients, operations per second of:
 *   read   a 16-byte node: one request, one reply
 *   write  16 bytes: one request, one reply
 *   watch  a write to a node the client watches, then its event: one
 *          request, two messages back
 * by three kinds of client:
 *   libxs  libxenstore (xs_read, xs_write, xs_read_watch) on xensimd
 *   raw    the same bytes written in one write() on xensimd
 *   echo   the same bytes on an echo server (XS_WATCH answered twice)
 * The echo server is what a xenstored doing no work per request would cost
 * on this machine: one thread, poll(), non-blocking sockets, like xensimd.
 * libxs:e includes libxenstore's own cost (a write per header and argument,
 * a reader thread once watches are used); raw:e is the server's alone.
 * The goal is 0.5 or more.  Never a test: it prints, it does not judge.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <xenstore.h>
#include <xen/io/xs_wire.h>

#define XSIM_BENCH_MAX_CLIENTS 64
#define XSIM_BENCH_VALUE "0123456789abcdef"
#define XSIM_BENCH_ROUNDS 5

typedef enum {
    XSIM_BENCH_READ,
    XSIM_BENCH_WRITE,
    XSIM_BENCH_WATCH,
} XsimBenchOp;

static const char *const xsim_bench_op_names[] = { "read", "write", "watch" };

typedef enum {
    XSIM_BENCH_LIBXS,   /* libxenstore against xensimd */
    XSIM_BENCH_RAW,     /* raw wire client against xensimd */
    XSIM_BENCH_ECHO,    /* raw wire client against the echo server */
} XsimBenchTarget;

typedef struct {
    XsimBenchOp op;
    XsimBenchTarget target;
    int index;
    const char *sock_path;
    double seconds;
    pthread_barrier_t *barrier;
    uint64_t ops;
    bool failed;
} XsimBenchClient;

static double
xsim_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the echo server: one thread, poll(), whole messages echoed ---- */

typedef struct {
    int listen_fd;
    int wake[2];
    pthread_t thread;
} XsimEcho;

typedef struct {
    int fd;
    uint8_t in[sizeof(struct xsd_sockmsg) + XENSTORE_PAYLOAD_MAX];
    size_t in_len;
} XsimEchoConn;

static bool
xsim_write_all(int fd,
               const void *buf,
               size_t len)
{
    const uint8_t *p = buf;

    while (len > 0) {
        ssize_t r = write(fd, p, len);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN) {
            struct pollfd pfd = { .fd = fd, .events = POLLOUT };

            poll(&pfd, 1, -1);
            continue;
        }
        if (r <= 0)
            return false;
        p += r;
        len -= r;
    }
    return true;
}

/* Echo each complete message; XS_WATCH requests get it twice. */
static bool
xsim_echo_serve(XsimEchoConn *c)
{
    ssize_t r = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
    size_t off = 0;

    if (r <= 0)
        return r < 0 && errno == EAGAIN;
    c->in_len += r;
    for (;;) {
        struct xsd_sockmsg hdr;
        size_t total;

        if (c->in_len - off < sizeof(hdr))
            break;
        memcpy(&hdr, c->in + off, sizeof(hdr));
        if (hdr.len > XENSTORE_PAYLOAD_MAX)
            return false;
        total = sizeof(hdr) + hdr.len;
        if (c->in_len - off < total)
            break;
        if (!xsim_write_all(c->fd, c->in + off, total))
            return false;
        if (hdr.type == XS_WATCH && !xsim_write_all(c->fd, c->in + off, total))
            return false;
        off += total;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return true;
}

static void *
xsim_echo_main(void *opaque)
{
    XsimEcho *echo = opaque;
    XsimEchoConn *conns[XSIM_BENCH_MAX_CLIENTS + 2] = { NULL };
    int nconns = 0;

    for (;;) {
        struct pollfd pfds[XSIM_BENCH_MAX_CLIENTS + 4];
        int i;

        pfds[0] = (struct pollfd) { .fd = echo->listen_fd, .events = POLLIN };
        pfds[1] = (struct pollfd) { .fd = echo->wake[0], .events = POLLIN };
        for (i = 0; i < nconns; i++)
            pfds[i + 2] = (struct pollfd) { .fd = conns[i]->fd, .events = POLLIN };
        if (poll(pfds, nconns + 2, -1) < 0)
            continue;
        if (pfds[1].revents)
            break;
        for (i = nconns - 1; i >= 0; i--) {
            if (pfds[i + 2].revents && !xsim_echo_serve(conns[i])) {
                close(conns[i]->fd);
                g_free(conns[i]);
                conns[i] = conns[--nconns];
            }
        }
        if (pfds[0].revents && nconns < XSIM_BENCH_MAX_CLIENTS) {
            int fd = accept4(echo->listen_fd, NULL, NULL,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);

            if (fd >= 0) {
                conns[nconns] = g_new0(XsimEchoConn, 1);
                conns[nconns++]->fd = fd;
            }
        }
    }
    while (nconns > 0) {
        close(conns[--nconns]->fd);
        g_free(conns[nconns]);
    }
    return NULL;
}

static int
xsim_unix_listen(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
    unlink(path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        listen(fd, 64) < 0) {
        perror("echo server");
        exit(EXIT_FAILURE);
    }
    return fd;
}

static int
xsim_unix_connect(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* ---- clients ---- */

/* Buffered reading of whole messages, as few read() calls as possible. */
typedef struct {
    uint8_t buf[2 * (sizeof(struct xsd_sockmsg) + XENSTORE_PAYLOAD_MAX)];
    size_t have;
} XsimRawReader;

static bool
xsim_raw_read_msg(int fd,
                  XsimRawReader *rd)
{
    struct xsd_sockmsg hdr;
    size_t total = sizeof(hdr);

    for (;;) {
        ssize_t r;

        if (rd->have >= sizeof(hdr)) {
            memcpy(&hdr, rd->buf, sizeof(hdr));
            if (hdr.len > XENSTORE_PAYLOAD_MAX)
                return false;
            total = sizeof(hdr) + hdr.len;
            if (rd->have >= total)
                break;
        }
        r = read(fd, rd->buf + rd->have, sizeof(rd->buf) - rd->have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        rd->have += r;
    }
    memmove(rd->buf, rd->buf + total, rd->have - total);
    rd->have -= total;
    return true;
}

/*
 * One client speaking the wire directly, one write per request: against
 * the echo server (which answers XS_WATCH twice) or against xensimd.
 */
static void
xsim_bench_raw_client(XsimBenchClient *cl)
{
    XsimRawReader rd = { .have = 0 };
    char path[64];
    uint8_t msg[sizeof(struct xsd_sockmsg) + 128];
    struct xsd_sockmsg hdr = { 0 };
    size_t plen;
    int replies = cl->op == XSIM_BENCH_WATCH ? 2 : 1;
    bool ok = true;
    double end;
    int fd;

    /* The bytes libxenstore sends for the same operation. */
    plen = g_snprintf(path, sizeof(path), "/bench/%d", cl->index) + 1;
    memcpy(msg + sizeof(hdr), path, plen);
    if (cl->op != XSIM_BENCH_READ) {
        memcpy(msg + sizeof(hdr) + plen, XSIM_BENCH_VALUE, 16);
        plen += 16;
    }
    hdr.len = plen;
    if (cl->op == XSIM_BENCH_READ)
        hdr.type = XS_READ;
    else if (cl->op == XSIM_BENCH_WATCH && cl->target == XSIM_BENCH_ECHO)
        hdr.type = XS_WATCH;
    else
        hdr.type = XS_WRITE;

    fd = xsim_unix_connect(cl->sock_path);
    if (fd >= 0 && cl->target == XSIM_BENCH_RAW) {
        /* Create the node; watch it and take the OK and initial event. */
        hdr.type = XS_WRITE;
        memcpy(msg, &hdr, sizeof(hdr));
        ok = xsim_write_all(fd, msg, sizeof(hdr) + hdr.len) &&
             xsim_raw_read_msg(fd, &rd);
        if (ok && cl->op == XSIM_BENCH_WATCH) {
            struct xsd_sockmsg w = { .type = XS_WATCH, .len = strlen(path) + 3 };
            uint8_t wmsg[sizeof(w) + 64 + 3];

            memcpy(wmsg, &w, sizeof(w));
            memcpy(wmsg + sizeof(w), path, strlen(path) + 1);
            memcpy(wmsg + sizeof(w) + strlen(path) + 1, "t", 2);
            ok = xsim_write_all(fd, wmsg, sizeof(w) + w.len) &&
                 xsim_raw_read_msg(fd, &rd) && xsim_raw_read_msg(fd, &rd);
        }
        if (cl->op == XSIM_BENCH_READ)
            hdr.type = XS_READ, hdr.len = strlen(path) + 1;
    }
    pthread_barrier_wait(cl->barrier);
    if (fd < 0 || !ok) {
        cl->failed = true;
        if (fd >= 0)
            close(fd);
        return;
    }

    end = xsim_now() + cl->seconds;
    while (xsim_now() < end) {
        int i;

        hdr.req_id++;
        memcpy(msg, &hdr, sizeof(hdr));
        if (!xsim_write_all(fd, msg, sizeof(hdr) + hdr.len))
            break;
        for (i = 0; i < replies; i++) {
            if (!xsim_raw_read_msg(fd, &rd))
                goto out;
        }
        cl->ops++;
    }
 out:
    close(fd);
}

static void
xsim_bench_xs_client(XsimBenchClient *cl)
{
    g_autofree char *path = g_strdup_printf("/bench/%d", cl->index);
    struct xs_handle *xsh = xs_open(0);
    double end;

    if (!xsh || !xs_write(xsh, XBT_NULL, path, XSIM_BENCH_VALUE, 16)) {
        cl->failed = true;
        pthread_barrier_wait(cl->barrier);
        if (xsh)
            xs_close(xsh);
        return;
    }
    if (cl->op == XSIM_BENCH_WATCH) {
        char **ev;
        unsigned int num;

        /* Consume the initial event before timing starts. */
        if (!xs_watch(xsh, path, "bench") || !(ev = xs_read_watch(xsh, &num)))
            cl->failed = true;
        else
            free(ev);
    }
    pthread_barrier_wait(cl->barrier);

    end = xsim_now() + cl->seconds;
    while (!cl->failed && xsim_now() < end) {
        unsigned int len;
        char *val;
        char **ev;

        switch (cl->op) {
        case XSIM_BENCH_READ:
            if (!(val = xs_read(xsh, XBT_NULL, path, &len)))
                cl->failed = true;
            free(val);
            break;
        case XSIM_BENCH_WRITE:
            if (!xs_write(xsh, XBT_NULL, path, XSIM_BENCH_VALUE, 16))
                cl->failed = true;
            break;
        case XSIM_BENCH_WATCH:
            if (!xs_write(xsh, XBT_NULL, path, XSIM_BENCH_VALUE, 16) ||
                !(ev = xs_read_watch(xsh, &len)))
                cl->failed = true;
            else
                free(ev);
            break;
        }
        if (!cl->failed)
            cl->ops++;
    }
    xs_close(xsh);
}

static void *
xsim_bench_client_main(void *opaque)
{
    XsimBenchClient *cl = opaque;

    if (cl->target == XSIM_BENCH_LIBXS)
        xsim_bench_xs_client(cl);
    else
        xsim_bench_raw_client(cl);
    return NULL;
}

static double
xsim_bench_run(XsimBenchOp op,
               XsimBenchTarget target,
               int nclients,
               const char *sock_path,
               double seconds)
{
    XsimBenchClient cls[XSIM_BENCH_MAX_CLIENTS];
    pthread_t threads[XSIM_BENCH_MAX_CLIENTS];
    pthread_barrier_t barrier;
    uint64_t total = 0;
    int i;

    pthread_barrier_init(&barrier, NULL, nclients);
    for (i = 0; i < nclients; i++) {
        cls[i] = (XsimBenchClient) {
            .op = op, .target = target, .index = i, .sock_path = sock_path,
            .seconds = seconds, .barrier = &barrier,
        };
        pthread_create(&threads[i], NULL, xsim_bench_client_main, &cls[i]);
    }
    for (i = 0; i < nclients; i++) {
        pthread_join(threads[i], NULL);
        if (cls[i].failed)
            fprintf(stderr, "xsim-bench: client %d failed (%s)\n", i,
                    target == XSIM_BENCH_ECHO ? "echo" :
                    target == XSIM_BENCH_RAW ? "raw" : "libxenstore");
        total += cls[i].ops;
    }
    pthread_barrier_destroy(&barrier);
    return total / seconds;
}

/* ---- xensimd ---- */

static pid_t
xsim_bench_start_xensimd(const char *xensimd,
                         const char *rundir,
                         const char *sock_path)
{
    pid_t pid = fork();
    int i;

    if (pid == 0) {
        execl(xensimd, xensimd, "--rundir", rundir, "--foreground", NULL);
        perror(xensimd);
        _exit(127);
    }
    for (i = 0; i < 500; i++) {
        int fd = xsim_unix_connect(sock_path);

        if (fd >= 0) {
            close(fd);
            return pid;
        }
        g_usleep(10000);
    }
    fprintf(stderr, "xsim-bench: xensimd did not start\n");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    exit(EXIT_FAILURE);
}

/* What a stopped xensimd leaves in its run directory: the log. */
static void
xsim_bench_remove_rundir(const char *dir)
{
    g_autofree char *log_path = g_build_filename(dir, "xensimd.log", NULL);
    g_autofree char *xs_dir = g_build_filename(dir, "xenstored", NULL);

    unlink(log_path);
    rmdir(xs_dir);
    rmdir(dir);
}

int
main(int argc,
     char **argv)
{
    static const int client_counts[] = { 1, 16 };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- xenstored benchmark");
    g_autoptr(GError) error = NULL;
    g_autofree char *tmp = NULL;
    g_autofree char *xs_sock = NULL;
    g_autofree char *echo_sock = NULL;
    g_autofree char *xensimd = g_strdup(XSIM_BENCH_XENSIMD);
    double seconds = 2.0;
    XsimEcho echo;
    pid_t pid;
    int status;
    guint i;
    int op;
    GOptionEntry entries[] = {
        { "seconds", 's', 0, G_OPTION_ARG_DOUBLE, &seconds,
          "Seconds per measurement (2)", "N" },
        { "xensimd", 0, 0, G_OPTION_ARG_FILENAME, &xensimd,
          "The daemon to measure", "PATH" },
        { NULL }
    };

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "xsim-bench: %s\n", error->message);
        return EXIT_FAILURE;
    }

    tmp = g_dir_make_tmp("xsim-bench-XXXXXX", &error);
    if (!tmp) {
        fprintf(stderr, "xsim-bench: %s\n", error->message);
        return EXIT_FAILURE;
    }
    xs_sock = g_build_filename(tmp, "xenstored", "socket", NULL);
    echo_sock = g_build_filename(tmp, "echo.sock", NULL);
    g_setenv("XENSTORED_PATH", xs_sock, TRUE);

    pid = xsim_bench_start_xensimd(xensimd, tmp, xs_sock);
    echo.listen_fd = xsim_unix_listen(echo_sock);
    if (pipe(echo.wake) < 0)
        return EXIT_FAILURE;
    pthread_create(&echo.thread, NULL, xsim_echo_main, &echo);

    printf("%-6s %7s %12s %12s %12s %8s %8s\n", "op", "clients",
           "libxs/s", "raw/s", "echo/s", "libxs:e", "raw:e");
    for (i = 0; i < G_N_ELEMENTS(client_counts); i++) {
        for (op = XSIM_BENCH_READ; op <= XSIM_BENCH_WATCH; op++) {
            int n = client_counts[i];
            double xs = 0;
            double raw = 0;
            double ec = 0;
            int round;

            /*
             * Interleaved in short rounds, so a change in the machine's
             * load hits the three alike.
             */
            for (round = 0; round < XSIM_BENCH_ROUNDS; round++) {
                double slice = seconds / XSIM_BENCH_ROUNDS;

                xs += xsim_bench_run(op, XSIM_BENCH_LIBXS, n, xs_sock, slice);
                raw += xsim_bench_run(op, XSIM_BENCH_RAW, n, xs_sock, slice);
                ec += xsim_bench_run(op, XSIM_BENCH_ECHO, n, echo_sock, slice);
            }
            xs /= XSIM_BENCH_ROUNDS;
            raw /= XSIM_BENCH_ROUNDS;
            ec /= XSIM_BENCH_ROUNDS;

            printf("%-6s %7d %12.0f %12.0f %12.0f %8.2f %8.2f\n",
                   xsim_bench_op_names[op], n, xs, raw, ec,
                   ec > 0 ? xs / ec : 0.0, ec > 0 ? raw / ec : 0.0);
            fflush(stdout);
        }
    }
    printf("libxs:e = libxenstore clients on xensimd / raw clients on the echo server\n"
           "raw:e   = raw clients on xensimd / raw clients on the echo server\n"
           "goal: >= 0.50\n");

    if (write(echo.wake[1], "x", 1) < 0)
        perror("echo wake");
    pthread_join(echo.thread, NULL);
    close(echo.listen_fd);
    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    unlink(echo_sock);
    xsim_bench_remove_rundir(tmp);
    return EXIT_SUCCESS;
}
