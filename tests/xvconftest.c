/*
 * xvconftest.c: the driver's configuration: xenvirt.conf and paths
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "libxl_conf.h"

#include "virerror.h"

static char *
write_conf(const char *text)
{
    g_autoptr(GError) err = NULL;
    char *path = NULL;
    int fd = g_file_open_tmp("xvconf-XXXXXX.conf", &path, &err);

    g_assert_no_error(err);
    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    close(fd);
    return path;
}

static void
test_paths_embedded(void)
{
    g_autoptr(xvDriverConfig) cfg = xvDriverConfigNew(true, "/srv/x");

    g_assert_cmpstr(cfg->root, ==, "/srv/x");
    g_assert_cmpstr(cfg->configDir, ==, "/srv/x/etc");
    g_assert_cmpstr(cfg->domainConfigDir, ==, "/srv/x/etc/xenvirt");
    g_assert_cmpstr(cfg->stateDir, ==, "/srv/x/var/lib/xenvirt");
    g_assert_cmpstr(cfg->runDir, ==, "/srv/x/run/xenvirt");
    g_assert_cmpstr(cfg->simRundir, ==, "/srv/x/run/xenvirt/xensim");
}

static void
test_paths_system(void)
{
    g_autoptr(xvDriverConfig) cfg = xvDriverConfigNew(true, NULL);

    g_assert_null(cfg->root);
    g_assert_cmpstr(cfg->configDir, ==, "/etc/libvirt");
    g_assert_cmpstr(cfg->stateDir, ==, "/var/lib/libvirt/xenvirt");
    g_assert_cmpstr(cfg->runDir, ==, "/run/libvirt/xenvirt");
}

static void
test_conf_missing_file_keeps_defaults(void)
{
    g_autoptr(xvDriverConfig) cfg = xvDriverConfigNew(true, "/srv/x");
    xlite_backend_kind before = cfg->backend;

    g_assert_cmpint(xvDriverConfigLoadFile(cfg, "/nonexistent/xenvirt.conf"), ==, 0);
    g_assert_cmpint(cfg->backend, ==, before);
}

static void
test_conf_values(void)
{
    g_autoptr(xvDriverConfig) cfg = xvDriverConfigNew(true, "/srv/x");
    g_autofree char *path =
        write_conf("# comment\nhypervisor = \"sim\"\nsim_rundir = \"/srv/sim\"\n");

    g_assert_cmpint(xvDriverConfigLoadFile(cfg, path), ==, 0);
    g_assert_cmpint(cfg->backend, ==, XLITE_BACKEND_SIM);
    g_assert_cmpstr(cfg->simRundir, ==, "/srv/sim");
    /* The simulated host's network: its own namespace unless told. */
    g_assert_false(cfg->simSharedNetns);
    unlink(path);
}

static void
test_conf_sim_network(void)
{
    g_autoptr(xvDriverConfig) cfg = xvDriverConfigNew(true, "/srv/x");
    g_autofree char *shared = write_conf("sim_network = \"shared\"\n");
    g_autofree char *own = NULL;

    g_assert_cmpint(xvDriverConfigLoadFile(cfg, shared), ==, 0);
    g_assert_true(cfg->simSharedNetns);
    unlink(shared);
    own = write_conf("sim_network = \"own\"\n");
    g_assert_cmpint(xvDriverConfigLoadFile(cfg, own), ==, 0);
    g_assert_false(cfg->simSharedNetns);
    unlink(own);
}

static void
test_conf_blockjob_events(void)
{
    g_autoptr(xvDriverConfig) cfg = xvDriverConfigNew(true, "/srv/x");
    g_autofree char *poll = write_conf("blockjob_events = \"poll\"\n");
    g_autofree char *dflt = NULL;

    g_assert_false(cfg->blockjobPoll);
    g_assert_cmpint(xvDriverConfigLoadFile(cfg, poll), ==, 0);
    g_assert_true(cfg->blockjobPoll);
    unlink(poll);
    dflt = write_conf("blockjob_events = \"auto\"\n");
    g_assert_cmpint(xvDriverConfigLoadFile(cfg, dflt), ==, 0);
    g_assert_false(cfg->blockjobPoll);
    unlink(dflt);
}

static void
expect_conf_error(const char *text, const char *fragment)
{
    g_autoptr(xvDriverConfig) cfg = xvDriverConfigNew(true, "/srv/x");
    g_autofree char *path = write_conf(text);

    virResetLastError();
    g_assert_cmpint(xvDriverConfigLoadFile(cfg, path), ==, -1);
    g_assert_nonnull(strstr(virGetLastErrorMessage(), fragment));
    unlink(path);
}

static void
test_conf_errors(void)
{
    expect_conf_error("hypervisor = \"kvm\"\n", "unknown hypervisor 'kvm'");
    expect_conf_error("sim_rundir = \"rel/dir\"\n", "must be an absolute path");
    expect_conf_error("hypervisor = 3\n", "hypervisor");
    expect_conf_error("sim_network = \"host\"\n",
                      "unknown sim_network 'host'");
    expect_conf_error("blockjob_events = \"never\"\n",
                      "unknown blockjob_events 'never'");
    expect_conf_error("hypervisor = \"sim\n", "");
}

/* A root too deep for the simulated host's sockets: the host moves to a
 * short directory of the runtime directory, the same one for the same
 * root, and the usual place links there. */
static void
test_paths_deep_root(void)
{
    g_autofree char *tmp = g_dir_make_tmp("xvconf-XXXXXX", NULL);
    g_autofree char *root = g_strdup_printf("%s/%0190d", tmp, 0);
    g_autofree char *link = NULL;
    g_autofree char *target = NULL;
    g_autoptr(xvDriverConfig) cfg = xvDriverConfigNew(false, root);
    g_autoptr(xvDriverConfig) again = xvDriverConfigNew(false, root);
    g_autoptr(xvDriverConfig) other = NULL;
    g_autoptr(xvDriverConfig) chosen = NULL;
    g_autofree char *otherRoot = g_strdup_printf("%s/%0190d", tmp, 1);
    g_autofree char *path = NULL;
    g_autofree char *rm = NULL;

    cfg->backend = again->backend = XLITE_BACKEND_SIM;
    g_assert_cmpint(xvDriverConfigPlaceSimHost(cfg, false), ==, 0);
    g_assert_true(g_str_has_prefix(cfg->simRundir, g_get_user_runtime_dir()));
    g_assert_nonnull(strstr(cfg->simRundir, "/xenvirt-sim/"));
    g_assert_cmpuint(strlen(cfg->simRundir) + strlen("/xenstored/domain/32767.sock"),
                     <, 108);
    g_assert_true(g_file_test(cfg->simRundir, G_FILE_TEST_IS_DIR));

    link = g_strdup_printf("%s/xensim", cfg->runDir);
    target = g_file_read_link(link, NULL);
    g_assert_cmpstr(target, ==, cfg->simRundir);

    g_assert_cmpint(xvDriverConfigPlaceSimHost(again, false), ==, 0);
    g_assert_cmpstr(again->simRundir, ==, cfg->simRundir);

    other = xvDriverConfigNew(false, otherRoot);
    other->backend = XLITE_BACKEND_SIM;
    g_assert_cmpint(xvDriverConfigPlaceSimHost(other, false), ==, 0);
    g_assert_cmpstr(other->simRundir, !=, cfg->simRundir);

    /* A directory the administrator named is never moved. */
    chosen = xvDriverConfigNew(false, "/srv/x");
    path = write_conf("hypervisor = \"sim\"\n"
                      "sim_rundir = \"/srv/0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890\"\n");
    g_assert_cmpint(xvDriverConfigLoadFile(chosen, path), ==, 0);
    virResetLastError();
    g_assert_cmpint(xvDriverConfigPlaceSimHost(chosen, false), ==, -1);
    g_assert_nonnull(strstr(virGetLastErrorMessage(), "too long"));
    unlink(path);

    rmdir(cfg->simRundir);
    rmdir(other->simRundir);
    rm = g_strdup_printf("rm -rf '%s'", tmp);
    g_assert_cmpint(system(rm), ==, 0);
}

static void
test_host_version(void)
{
    xlite_host_info info = { .xen_major = 4, .xen_minor = 17 };

    g_strlcpy(info.xen_extra, ".7", sizeof(info.xen_extra));
    g_assert_cmpuint(xvHostVersion(&info), ==, 4017007);
    g_strlcpy(info.xen_extra, ".0-rc", sizeof(info.xen_extra));
    g_assert_cmpuint(xvHostVersion(&info), ==, 4017000);
    g_strlcpy(info.xen_extra, "-unstable", sizeof(info.xen_extra));
    g_assert_cmpuint(xvHostVersion(&info), ==, 4017000);
    g_strlcpy(info.xen_extra, ".123456", sizeof(info.xen_extra));
    g_assert_cmpuint(xvHostVersion(&info), ==, 4017999);
}

int
main(int argc, char **argv)
{
    g_autofree char *runtime = g_dir_make_tmp("xvconf-run-XXXXXX", NULL);
    g_autofree char *simBase = NULL;
    int rc;

    /* Before GLib caches it: the deep-root test makes directories there. */
    g_setenv("XDG_RUNTIME_DIR", runtime, TRUE);
    g_test_init(&argc, &argv, NULL);
    if (virInitialize() < 0)
        return EXIT_FAILURE;
    g_test_add_func("/conf/paths/embedded", test_paths_embedded);
    g_test_add_func("/conf/paths/system", test_paths_system);
    g_test_add_func("/conf/paths/deep-root", test_paths_deep_root);
    g_test_add_func("/conf/file/missing", test_conf_missing_file_keeps_defaults);
    g_test_add_func("/conf/file/values", test_conf_values);
    g_test_add_func("/conf/file/sim-network", test_conf_sim_network);
    g_test_add_func("/conf/file/blockjob-events", test_conf_blockjob_events);
    g_test_add_func("/conf/file/errors", test_conf_errors);
    g_test_add_func("/conf/host-version", test_host_version);
    rc = g_test_run();
    simBase = g_build_filename(runtime, "xenvirt-sim", NULL);
    rmdir(simBase);
    rmdir(runtime);
    return rc;
}
