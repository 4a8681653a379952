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
    unlink(path);
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
    expect_conf_error("hypervisor = \"sim\n", "");
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
    g_test_init(&argc, &argv, NULL);
    if (virInitialize() < 0)
        return EXIT_FAILURE;
    g_test_add_func("/conf/paths/embedded", test_paths_embedded);
    g_test_add_func("/conf/paths/system", test_paths_system);
    g_test_add_func("/conf/file/missing", test_conf_missing_file_keeps_defaults);
    g_test_add_func("/conf/file/values", test_conf_values);
    g_test_add_func("/conf/file/errors", test_conf_errors);
    g_test_add_func("/conf/host-version", test_host_version);
    return g_test_run();
}
