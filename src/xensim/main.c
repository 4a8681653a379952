/*
 * main.c: xensimd, the simulated Xen host: its xenstored and its
 * hypervisor (guests and dom0's backends), in one main loop.
 *
 *   xensimd --rundir DIR [--foreground] [--verbose] [--memory MIB]
 *           [--quota-* N ...]
 *
 * Without --foreground the daemon forks, and the parent exits only once
 * both sockets (xenstored/socket and hypervisor.sock) accept connections
 * (0) or start-up failed (1), so a caller can connect as soon as xensimd
 * returns.  --daemonize is accepted as the explicit name of that default.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/un.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <glib-unix.h>

#include "hv.h"
#include "xs_server.h"
#include "xsim_fdsource.h"
#include "xsim_rundir.h"

static FILE *xsim_log_file;
static bool xsim_log_verbose;

static void
xsim_log_handler(const char *domain,
                 GLogLevelFlags level,
                 const char *message,
                 gpointer opaque)
{
    const char *name = "info";
    struct timespec ts;
    struct tm tm;
    char stamp[32];

    if ((level & G_LOG_LEVEL_DEBUG) && !xsim_log_verbose)
        return;
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
        name = "error";
    else if (level & G_LOG_LEVEL_WARNING)
        name = "warning";
    else if (level & G_LOG_LEVEL_DEBUG)
        name = "debug";

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(xsim_log_file ? xsim_log_file : stderr, "%s.%03ld %d %s: %s\n",
            stamp, ts.tv_nsec / 1000000, (int)getpid(), name, message);
    if (xsim_log_file)
        fflush(xsim_log_file);
}

/* The "stop" operation of the control socket. */
static void
xsim_on_stop(gpointer opaque)
{
    g_main_loop_quit(opaque);
}

static gboolean
xsim_on_signal(gpointer opaque)
{
    GMainLoop *loop = opaque;

    g_message("signal received, stopping");
    g_main_loop_quit(loop);
    return G_SOURCE_CONTINUE;
}

/* Parent side of the start-up handshake: exit with the child's verdict. */
static int
xsim_wait_ready(int fd)
{
    char c = 1;

    while (read(fd, &c, 1) < 0 && errno == EINTR)
        ;
    return c == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static void
xsim_report_ready(int *fd,
                  bool ok)
{
    char c = ok ? 0 : 1;

    if (*fd < 0)
        return;
    if (write(*fd, &c, 1) < 0) {
        /* The parent is gone: nobody to tell. */
    }
    close(*fd);
    *fd = -1;
}

static bool
xsim_daemonize(int *ready_fd,
               GError **error)
{
    int pipefd[2];
    pid_t pid;
    int null;

    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "pipe: %s", g_strerror(errno));
        return false;
    }
    pid = fork();
    if (pid < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "fork: %s", g_strerror(errno));
        return false;
    }
    if (pid > 0) {
        close(pipefd[1]);
        exit(xsim_wait_ready(pipefd[0]));
    }
    close(pipefd[0]);
    *ready_fd = pipefd[1];
    setsid();
    null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        close(null);
    }
    return true;
}

/*
 * Three fds per running guest (its console's pty, master and slave, and
 * its kernel thread's main context; its xenstore and console rings are
 * memory, its vbds and vifs hold none at rest), so a host of thousands
 * needs more than the usual 1024: as much as we may (root
 * with CAP_SYS_RESOURCE may raise the hard limit too), as a real dom0
 * sizes its daemons.
 */
static void
xsim_raise_fd_limit(void)
{
    struct rlimit rl;
    rlim_t want = 1 << 18;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
        return;
    if (rl.rlim_max < want) {
        struct rlimit more = { .rlim_cur = want, .rlim_max = want };

        if (setrlimit(RLIMIT_NOFILE, &more) == 0)
            return;
    }
    rl.rlim_cur = MIN(rl.rlim_max, want);
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        g_warning("cannot raise the limit of open files: %s",
                  g_strerror(errno));
}

/* The command line, as given: the quotas start at their defaults. */
typedef struct {
    char *rundir;
    gboolean foreground;
    gboolean daemonize;
    gboolean verbose;
    gboolean shared_netns;
    int memory_mib;
    int nodes, node_size, perms, txn_nodes;
    int watches, txns, outstanding, wq;
} XsimOptions;

/* The defaults: the quotas' from @quota. */
static void
xsim_options_init(XsimOptions *opts,
                  const XsimQuota *quota)
{
    *opts = (XsimOptions) {
        .memory_mib = 16384,
        .nodes = quota->store.nodes,
        .node_size = quota->store.node_size,
        .perms = quota->store.perms,
        .txn_nodes = quota->store.txn_nodes,
        .watches = quota->watches,
        .txns = quota->transactions,
        .outstanding = quota->outstanding,
        .wq = quota->watch_queue,
    };
}

static void
xsim_options_clear(XsimOptions *opts)
{
    g_clear_pointer(&opts->rundir, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(XsimOptions, xsim_options_clear);

static bool
xsim_parse_options(int *argc,
                   char ***argv,
                   XsimOptions *opts)
{
    GOptionEntry entries[] = {
        { "rundir", 'r', 0, G_OPTION_ARG_FILENAME, &opts->rundir,
          "Run directory (sockets, pid file, log)", "DIR" },
        { "foreground", 'f', 0, G_OPTION_ARG_NONE, &opts->foreground,
          "Do not fork", NULL },
        { "daemonize", 'd', 0, G_OPTION_ARG_NONE, &opts->daemonize,
          "Fork, return once serving (the default)", NULL },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &opts->verbose,
          "Log every request", NULL },
        { "shared-netns", 0, 0, G_OPTION_ARG_NONE, &opts->shared_netns,
          "dom0's network is the namespace xensimd starts in (where "
          "libvirt's networks are), not one of its own", NULL },
        { "memory", 'm', 0, G_OPTION_ARG_INT, &opts->memory_mib,
          "The host's memory in MiB (16384), 1024 of it dom0's", "MIB" },
        { "quota-nodes", 0, 0, G_OPTION_ARG_INT, &opts->nodes,
          "Nodes a domain may own (1000)", "N" },
        { "quota-node-size", 0, 0, G_OPTION_ARG_INT, &opts->node_size,
          "Bytes of value and child names per node (2048)", "N" },
        { "quota-perms", 0, 0, G_OPTION_ARG_INT, &opts->perms,
          "Permission entries per node (5)", "N" },
        { "quota-transaction-nodes", 0, 0, G_OPTION_ARG_INT, &opts->txn_nodes,
          "Nodes one transaction may touch (1024)", "N" },
        { "quota-watches", 0, 0, G_OPTION_ARG_INT, &opts->watches,
          "Watches per connection (128)", "N" },
        { "quota-transactions", 0, 0, G_OPTION_ARG_INT, &opts->txns,
          "Open transactions per connection (10)", "N" },
        { "quota-outstanding", 0, 0, G_OPTION_ARG_INT, &opts->outstanding,
          "Unanswered requests per connection before reading pauses (20)", "N" },
        { "watch-queue", 0, 0, G_OPTION_ARG_INT, &opts->wq,
          "Undelivered watch events before a connection is closed (1024)", "N" },
        { NULL }
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- simulated Xen host");
    g_autoptr(GError) error = NULL;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, argc, argv, &error)) {
        fprintf(stderr, "xensimd: %s\n", error->message);
        return false;
    }
    return true;
}

/* Every socket lives below DIR, the deepest being a guest's xenstore
 * endpoint: a DIR too deep for unix socket names is refused at once,
 * with a clear message, rather than fail on the first guest. */
static bool
xsim_check_rundir_length(const char *rundir)
{
    struct sockaddr_un sun;
    size_t deepest = strlen(rundir) + strlen("/xenstored/domain/32767.sock");

    if (deepest >= sizeof(sun.sun_path)) {
        fprintf(stderr, "xensimd: run directory '%s' is too long: its unix "
                "sockets need %zu bytes, the limit is %zu; use a shorter "
                "directory\n", rundir, deepest + 1, sizeof(sun.sun_path));
        return false;
    }
    return true;
}

/* The options' checks, and the quotas they set. */
static bool
xsim_check_options(const XsimOptions *opts,
                   XsimQuota *quota)
{
    if (!opts->rundir) {
        fprintf(stderr, "xensimd: --rundir is required\n");
        return false;
    }
    if (opts->nodes < 1 || opts->node_size < 1 || opts->perms < 1 ||
        opts->txn_nodes < 1 || opts->watches < 0 || opts->txns < 0 ||
        opts->outstanding < 1 || opts->wq < 1) {
        fprintf(stderr, "xensimd: quotas must be positive\n");
        return false;
    }
    if (opts->foreground && opts->daemonize) {
        fprintf(stderr, "xensimd: --foreground and --daemonize exclude each other\n");
        return false;
    }
    if (opts->memory_mib < 2048 || opts->memory_mib > 64 * 1024 * 1024) {
        fprintf(stderr, "xensimd: --memory must be 2048..%d MiB\n",
                64 * 1024 * 1024);
        return false;
    }
    if (!xsim_check_rundir_length(opts->rundir))
        return false;
    quota->store.nodes = opts->nodes;
    quota->store.node_size = opts->node_size;
    quota->store.perms = opts->perms;
    quota->store.txn_nodes = opts->txn_nodes;
    quota->watches = opts->watches;
    quota->transactions = opts->txns;
    quota->outstanding = opts->outstanding;
    quota->watch_queue = opts->wq;
    return true;
}

/* A part failed to start once the log is open: logged, shown on stderr
 * in the foreground, and told to the parent waiting for the verdict. */
static int
xsim_start_failed(int *ready_fd,
                  bool foreground,
                  const GError *error)
{
    g_warning("%s", error->message);
    if (foreground)
        fprintf(stderr, "xensimd: %s\n", error->message);
    xsim_report_ready(ready_fd, false);
    return EXIT_FAILURE;
}

/*
 * The daemon's life in order: its options, the run directory, the
 * start-up handshake, its parts started in the order clients may reach
 * them, the main loop, and its parts stopped in reverse.
 */
int
main(int argc,
     char **argv)
{
    g_auto(XsimOptions) opts = { 0 };
    g_autoptr(GError) error = NULL;
    g_autoptr(XsimRundir) rd = NULL;
    g_autoptr(XsimServer) srv = NULL;
    g_autoptr(XsimHv) hv = NULL;
    g_autoptr(GMainLoop) loop = NULL;
    g_autofree char *log_path = NULL;
    int ready_fd = -1;
    XsimQuota quota;

    xsim_quota_init_default(&quota);
    xsim_options_init(&opts, &quota);
    if (!xsim_parse_options(&argc, &argv, &opts) ||
        !xsim_check_options(&opts, &quota))
        return EXIT_FAILURE;
    xsim_log_verbose = opts.verbose;
    xsim_server_set_debug(opts.verbose);

    /* Lock first: nothing in DIR is touched unless it is ours. */
    if (!(rd = xsim_rundir_acquire(opts.rundir, &error)) ||
        (!opts.foreground && !xsim_daemonize(&ready_fd, &error))) {
        fprintf(stderr, "xensimd: %s\n", error->message);
        return EXIT_FAILURE;
    }

    log_path = g_build_filename(opts.rundir, "xensimd.log", NULL);
    xsim_log_file = fopen(log_path, "ae");
    g_log_set_default_handler(xsim_log_handler, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!xsim_rundir_write_pid(rd, &error)) {
        g_warning("%s", error->message);
        xsim_report_ready(&ready_fd, false);
        return EXIT_FAILURE;
    }

    xsim_raise_fd_limit();
    /* xenstored, the control socket, the endpoints of domids not built:
     * many fds. */
    xsim_fd_sources_many(g_main_context_default());

    /*
     * Signals first: a client may send SIGTERM as soon as a socket
     * appears, and must get a clean stop, not death by the default action.
     */
    loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGTERM, xsim_on_signal, loop);
    g_unix_signal_add(SIGINT, xsim_on_signal, loop);

    srv = xsim_server_new(&quota, opts.rundir);
    if (!xsim_server_listen(srv, &error))
        return xsim_start_failed(&ready_fd, opts.foreground, error);
    hv = xsim_hv_new(srv, opts.rundir, (guint64)opts.memory_mib * 1024,
                     1024 * 1024);
    xsim_hv_set_stop_func(hv, xsim_on_stop, loop);
    if (opts.shared_netns)
        xsim_hv_share_network(hv);
    if (!xsim_hv_start(hv, &error))
        return xsim_start_failed(&ready_fd, opts.foreground, error);
    g_message("xensimd started, run directory %s", opts.rundir);
    xsim_report_ready(&ready_fd, true);

    g_main_loop_run(loop);

    /* Guests first: tearing them down still talks to the xenstore server. */
    g_clear_pointer(&hv, xsim_hv_free);
    g_clear_pointer(&srv, xsim_server_free);
    g_message("xensimd stopped");
    g_clear_pointer(&rd, xsim_rundir_release);
    if (xsim_log_file)
        fclose(xsim_log_file);
    return EXIT_SUCCESS;
}
