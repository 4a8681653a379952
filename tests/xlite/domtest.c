/*
 * domtest.c: helpers of the domain tests
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xenstore.h>

#include <glib/gstdio.h>

#include "domtest.h"

static const char *
xensimd_program(void)
{
    const char *p = g_getenv("XLITE_XENSIMD");

    return p && *p ? p : XENSIMD_PATH;
}

static void
simhost_spawn(simhost *sh)
{
    const char *argv[] = { xensimd_program(), "--rundir", sh->rundir, NULL };
    g_autoptr(GError) err = NULL;
    g_autofree char *pidfile = g_build_filename(sh->rundir, "xensimd.pid",
                                                NULL);
    g_autofree char *text = NULL;
    int status = 0;

    /* xensimd forks; its first process exits once the sockets serve. */
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
                      NULL, NULL, NULL, NULL, &status, &err))
        g_error("cannot run %s: %s", argv[0], err->message);
    g_assert_cmpint(status, ==, 0);
    g_assert_true(g_file_get_contents(pidfile, &text, NULL, NULL));
    sh->pid = (pid_t)atoi(text);
    g_assert_cmpint(sh->pid, >, 1);
}

simhost *
simhost_start(void)
{
    simhost *sh = g_new0(simhost, 1);
    g_autofree char *xs = NULL;

    sh->dir = g_dir_make_tmp("xlite-domtest-XXXXXX", NULL);
    g_assert_nonnull(sh->dir);
    sh->rundir = g_build_filename(sh->dir, "run", NULL);
    sh->state_dir = g_build_filename(sh->dir, "state", NULL);
    g_assert_cmpint(g_mkdir_with_parents(sh->state_dir, 0700), ==, 0);
    xs = g_build_filename(sh->rundir, "xenstored", "socket", NULL);
    g_setenv("XENSTORED_PATH", xs, TRUE);
    simhost_spawn(sh);
    sh->kernel = simhost_kernel(sh, "vmlinuz", NULL);
    return sh;
}

void
simhost_restart(simhost *sh)
{
    simhost_spawn(sh);
}

void
simhost_kill(simhost *sh, int sig)
{
    int i;

    if (sh->pid <= 0)
        return;
    kill(sh->pid, sig);
    for (i = 0; i < 1000 && kill(sh->pid, 0) == 0; i++)
        g_usleep(10000);
    g_assert_cmpint(kill(sh->pid, 0), <, 0);
    sh->pid = 0;
}

static void
rm_rf(const char *path)
{
    g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
    const char *name;

    if (d) {
        while ((name = g_dir_read_name(d))) {
            g_autofree char *p = g_build_filename(path, name, NULL);

            if (g_file_test(p, G_FILE_TEST_IS_DIR) &&
                !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
                rm_rf(p);
            else
                g_unlink(p);
        }
    }
    g_rmdir(path);
}

/* The disk servers (qemu-storage-daemon) the core started for the host's
 * domains outlive them as they outlive their toolstack: a host that goes
 * takes them with it, by the pid files under its state directory. */
static void
simhost_stop_disk_servers(simhost *sh)
{
    g_autofree char *qsd = g_build_filename(sh->state_dir, "qsd", NULL);
    g_autoptr(GDir) d = g_dir_open(qsd, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *pidfile = g_build_filename(qsd, name, "pid", NULL);
        g_autofree char *text = NULL;
        guint64 pid;
        int i;

        if (!g_file_get_contents(pidfile, &text, NULL, NULL) ||
            !g_ascii_string_to_unsigned(g_strstrip(text), 10, 1, G_MAXINT,
                                        &pid, NULL) ||
            kill((pid_t)pid, SIGTERM) < 0)
            continue;
        for (i = 0; i < 500 && kill((pid_t)pid, 0) == 0; i++)
            g_usleep(10000);
    }
}

void
simhost_free(simhost *sh)
{
    if (!sh)
        return;
    simhost_stop_disk_servers(sh);
    simhost_kill(sh, SIGTERM);
    rm_rf(sh->dir);
    g_free(sh->dir);
    g_free(sh->rundir);
    g_free(sh->state_dir);
    g_free(sh->kernel);
    g_free(sh);
}

xlite_ctx *
simhost_ctx(simhost *sh)
{
    xlite_ctx_options opts = {
        .backend = XLITE_BACKEND_SIM,
        .state_dir = sh->state_dir,
        .sim_rundir = sh->rundir,
    };
    xlite_ctx *ctx = NULL;

    if (xlite_ctx_new(&opts, &ctx) < 0)
        g_error("xlite_ctx_new: %s", xlite_errmsg());
    return ctx;
}

char *
simhost_kernel(simhost *sh, const char *name, const char *directives)
{
    char *path = g_build_filename(sh->dir, name, NULL);
    g_autofree char *text = directives
        ? g_strdup_printf("#!xensim-guest\n%s\n", directives)
        : g_strdup("a kernel\n");

    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    return path;
}

void
domtest_config(xlite_domain_config *cfg, const char *name, const char *kernel)
{
    xlite_domain_config_init(cfg);
    cfg->name = g_strdup(name);
    /* DOMTEST_HVM=1: device-less HVM guests (no PV console), to exercise
     * the core where the simulator's backends are not there. */
    if (g_strcmp0(g_getenv("DOMTEST_HVM"), "1") == 0) {
        cfg->type = XLITE_DOMAIN_TYPE_HVM;
    } else {
        cfg->type = XLITE_DOMAIN_TYPE_PV;
        cfg->kernel = g_strdup(kernel);
    }
    cfg->max_memkb = 65536;
    cfg->max_vcpus = 1;
}

static bool
xs_exists(struct xs_handle *xsh, const char *path)
{
    unsigned int len;
    void *v = xs_read(xsh, XBT_NULL, path, &len);

    free(v);
    return v != NULL;
}

unsigned int
domtest_userdata_files(simhost *sh)
{
    g_autofree char *dir = g_build_filename(sh->state_dir, "userdata", NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    unsigned int n = 0;

    while (d && g_dir_read_name(d))
        n++;
    return n;
}

void
domtest_assert_gone(simhost *sh, xlite_ctx *ctx, uint32_t domid)
{
    static const char *const kinds[] = { "vbd", "vbd3", "qdisk", "vif",
                                         "console" };
    g_autofree char *dir = g_build_filename(sh->state_dir, "userdata", NULL);
    g_autofree char *prefix = g_strdup_printf("%u-", domid);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    struct xs_handle *xsh;
    xlite_dominfo info;
    const char *name;
    size_t i;

    /* 1. no domain */
    g_assert_cmpint(xlite_domain_info(ctx, domid, &info), ==, -ESRCH);
    /* 2. no xenstore nodes */
    xsh = xs_open(0);
    g_assert_nonnull(xsh);
    {
        g_autofree char *home = g_strdup_printf("/local/domain/%u", domid);

        g_assert_false(xs_exists(xsh, home));
    }
    for (i = 0; i < G_N_ELEMENTS(kinds); i++) {
        g_autofree char *be = g_strdup_printf("/local/domain/0/backend/%s/%u",
                                              kinds[i], domid);

        g_assert_false(xs_exists(xsh, be));
    }
    {
        unsigned int n = 0, j;
        char **vms = xs_directory(xsh, XBT_NULL, "/vm", &n);

        /* Every /vm entry must belong to a domain that exists. */
        for (j = 0; j < n; j++) {
            g_autofree char *p = g_strdup_printf("/vm/%s/name", vms[j]);
            unsigned int len;
            char *v = xs_read(xsh, XBT_NULL, p, &len);
            xlite_dominfo *infos = NULL;
            size_t k, ndoms = 0;
            bool owned = false;

            g_assert_cmpint(xlite_domain_list(ctx, &infos, &ndoms), ==, 0);
            for (k = 0; k < ndoms; k++)
                owned |= v && strcmp(infos[k].name, v) == 0;
            if (!owned)
                g_error("/vm/%s (%s) is left behind", vms[j], v ? v : "?");
            free(infos);
            free(v);
        }
        free(vms);
    }
    {
        unsigned int n = 0, j;
        char **names = xs_directory(xsh, XBT_NULL, "/libxlite/names", &n);

        /* No entry of the name index names it. */
        for (j = 0; j < n; j++) {
            g_autofree char *p = g_strdup_printf("/libxlite/names/%s",
                                                 names[j]);
            unsigned int len;
            char *v = xs_read(xsh, XBT_NULL, p, &len);

            if (v && g_ascii_strtoull(v, NULL, 10) == domid)
                g_error("%s (%s) is left behind", p, v);
            free(v);
        }
        free(names);
    }
    xs_close(xsh);
    /* 3, 4. no stored config, no lock file (5: children, by the caller's
     * leak check) */
    while (d && (name = g_dir_read_name(d)))
        if (g_str_has_prefix(name, prefix))
            g_error("%s/%s is left behind", dir, name);
}

unsigned int
domtest_count_fds(void)
{
    g_autoptr(GDir) d = g_dir_open("/proc/self/fd", 0, NULL);
    unsigned int n = 0;

    while (d && g_dir_read_name(d))
        n++;
    return n;
}

unsigned int
domtest_count_threads(void)
{
    g_autoptr(GDir) d = g_dir_open("/proc/self/task", 0, NULL);
    unsigned int n = 0;

    while (d && g_dir_read_name(d))
        n++;
    return n;
}

unsigned long
domtest_rss_kib(void)
{
    g_autofree char *text = NULL;
    const char *p;

    if (!g_file_get_contents("/proc/self/status", &text, NULL, NULL) ||
        !(p = strstr(text, "VmRSS:")))
        return 0;
    return strtoul(p + 6, NULL, 10);
}
