/*
 * xs_bench.c: xensimd's xenstored against a raw unix-socket echo server,
 * same clients, same round trips, same run.
 *
 *   xsim-bench [--seconds N] [--xensimd PATH]
 *
 * For 1 and 16 concurrent clients, measures per second:
 *   read   libxenstore xs_read of a 16-byte node      vs  one echo round trip
 *   write  libxenstore xs_write of 16 bytes           vs  one echo round trip
 *   watch  xs_write to a watched node, then wait for  vs  one request answered
 *          its event (reply and event: 2 messages)        by two messages
 * and prints xensimd / echo.  The echo server is what a xenstored with
 * zero work per request would cost on this machine: one thread, poll(),
 * non-blocking sockets, like xensimd.  The goal is a ratio of 0.5 or more.
 * Never a test: it prints, it does not fail on numbers.
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

typedef enum {
    XSIM_BENCH_READ,
    XSIM_BENCH_WRITE,
    XSIM_BENCH_WATCH,
} XsimBenchOp;

static const char *const xsim_bench_op_names[] = { "read", "write", "watch" };

typedef struct {
    XsimBenchOp op;
    bool echo;
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

static bool
xsim_read_all(int fd,
              void *buf,
              size_t len)
{
    uint8_t *p = buf;

    while (len > 0) {
        ssize_t r = read(fd, p, len);

        if (r < 0 && errno == EINTR)
            continue;
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

static void
xsim_bench_echo_client(XsimBenchClient *cl)
{
    char path[64];
    uint8_t msg[sizeof(struct xsd_sockmsg) + 128];
    uint8_t reply[sizeof(msg)];
    struct xsd_sockmsg hdr = { 0 };
    size_t plen;
    int replies = cl->op == XSIM_BENCH_WATCH ? 2 : 1;
    double end;
    int fd;

    /* The same bytes as libxenstore puts on the wire for the real thing. */
    plen = g_snprintf(path, sizeof(path), "/bench/%d", cl->index) + 1;
    hdr.type = cl->op == XSIM_BENCH_READ ? XS_READ :
               cl->op == XSIM_BENCH_WRITE ? XS_WRITE : XS_WATCH;
    memcpy(msg + sizeof(hdr), path, plen);
    if (cl->op != XSIM_BENCH_READ) {
        memcpy(msg + sizeof(hdr) + plen, XSIM_BENCH_VALUE, 16);
        plen += 16;
    }
    hdr.len = plen;

    fd = xsim_unix_connect(cl->sock_path);
    pthread_barrier_wait(cl->barrier);
    if (fd < 0) {
        cl->failed = true;
        return;
    }
    end = xsim_now() + cl->seconds;
    while (xsim_now() < end) {
        int i;

        hdr.req_id++;
        memcpy(msg, &hdr, sizeof(hdr));
        if (!xsim_write_all(fd, msg, sizeof(hdr) + plen))
            break;
        for (i = 0; i < replies; i++) {
            if (!xsim_read_all(fd, reply, sizeof(hdr) + plen))
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

    if (cl->echo)
        xsim_bench_echo_client(cl);
    else
        xsim_bench_xs_client(cl);
    return NULL;
}

static double
xsim_bench_run(XsimBenchOp op,
               bool echo,
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
            .op = op, .echo = echo, .index = i, .sock_path = sock_path,
            .seconds = seconds, .barrier = &barrier,
        };
        pthread_create(&threads[i], NULL, xsim_bench_client_main, &cls[i]);
    }
    for (i = 0; i < nclients; i++) {
        pthread_join(threads[i], NULL);
        if (cls[i].failed)
            fprintf(stderr, "xsim-bench: client %d failed (%s)\n", i,
                    echo ? "echo" : "xensimd");
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

    printf("%-6s %7s %14s %14s %7s\n", "op", "clients", "xensimd/s", "echo/s",
           "ratio");
    for (i = 0; i < G_N_ELEMENTS(client_counts); i++) {
        for (op = XSIM_BENCH_READ; op <= XSIM_BENCH_WATCH; op++) {
            double xs = xsim_bench_run(op, false, client_counts[i], xs_sock,
                                       seconds);
            double ec = xsim_bench_run(op, true, client_counts[i], echo_sock,
                                       seconds);

            printf("%-6s %7d %14.0f %14.0f %7.2f\n", xsim_bench_op_names[op],
                   client_counts[i], xs, ec, ec > 0 ? xs / ec : 0.0);
            fflush(stdout);
        }
    }
    printf("goal: ratio >= 0.50 (xensimd throughput / echo server's)\n");

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
