/*
 * xliteconfigtest.c: libxlite's domain configuration: defaults, validation
 * and the strict JSON form
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "xlite.h"

static void
fill_pv(xlite_domain_config *cfg)
{
    xlite_disk_config *disk;
    xlite_nic_config *nic;

    xlite_domain_config_init(cfg);
    cfg->name = g_strdup("guest-1");
    cfg->type = XLITE_DOMAIN_TYPE_PV;
    cfg->kernel = g_strdup("/boot/vmlinuz");
    cfg->cmdline = g_strdup("root=/dev/xvda1 console=hvc0");
    cfg->max_memkb = 524288;
    cfg->max_vcpus = 2;
    memcpy(cfg->uuid, "\x4d\xa9\x1e\x3c\x00\x11\x42\x33\x84\x55\x66\x77\x88\x99\xaa\xbb", 16);
    disk = xlite_domain_config_add_disk(cfg);
    disk->vdev = g_strdup("xvda");
    disk->target = g_strdup("/srv/guest-1.img");
    disk = xlite_domain_config_add_disk(cfg);
    disk->vdev = g_strdup("xvdb");
    disk->cdrom = true;
    nic = xlite_domain_config_add_nic(cfg);
    g_strlcpy(nic->mac, "00:16:3e:00:00:01", sizeof(nic->mac));
    nic->bridge = g_strdup("xenbr0");
}

static void
test_defaults(void)
{
    xlite_domain_config cfg;

    fill_pv(&cfg);
    g_assert_cmpint(xlite_domain_config_set_defaults(&cfg), ==, 0);
    g_assert_cmpuint(cfg.target_memkb, ==, 524288);
    g_assert_cmpuint(cfg.online_vcpus, ==, 2);
    g_assert_cmpuint(cfg.sched_weight, ==, 256);
    g_assert_cmpint(cfg.on_poweroff, ==, XLITE_ACTION_DESTROY);
    g_assert_cmpint(cfg.on_reboot, ==, XLITE_ACTION_RESTART);
    g_assert_cmpint(cfg.on_crash, ==, XLITE_ACTION_DESTROY);
    g_assert_cmpint(cfg.disks[0].format, ==, XLITE_DISK_FORMAT_RAW);
    g_assert_cmpint(cfg.disks[0].backend, ==, XLITE_DISK_BACKEND_QDISK);
    g_assert_cmpint(cfg.disks[1].format, ==, XLITE_DISK_FORMAT_EMPTY);
    g_assert_true(cfg.disks[1].readonly);
    g_assert_cmpuint(cfg.num_consoles, ==, 1);
    g_assert_cmpint(cfg.consoles[0].kind, ==, XLITE_CONSOLE_PV);
    /* Idempotent: a second pass adds no second console. */
    g_assert_cmpint(xlite_domain_config_set_defaults(&cfg), ==, 0);
    g_assert_cmpuint(cfg.num_consoles, ==, 1);
    xlite_domain_config_dispose(&cfg);
}

static void
test_json_round_trip(void)
{
    xlite_domain_config cfg, back;
    char *json = NULL, *again = NULL;

    fill_pv(&cfg);
    g_assert_cmpint(xlite_domain_config_set_defaults(&cfg), ==, 0);
    g_assert_cmpint(xlite_domain_config_to_json(&cfg, &json), ==, 0);
    g_assert_nonnull(strstr(json, "\"uuid\" : \"4da91e3c-0011-4233-8455-66778899aabb\""));

    xlite_domain_config_init(&back);
    g_assert_cmpint(xlite_domain_config_from_json(json, &back), ==, 0);
    g_assert_cmpint(xlite_domain_config_to_json(&back, &again), ==, 0);
    g_assert_cmpstr(json, ==, again);
    g_assert_cmpmem(cfg.uuid, 16, back.uuid, 16);
    g_assert_cmpstr(back.disks[0].target, ==, "/srv/guest-1.img");
    g_assert_cmpint(back.nics[0].devid, ==, -1);

    free(json);
    free(again);
    xlite_domain_config_dispose(&cfg);
    xlite_domain_config_dispose(&back);
}

typedef struct {
    const char *json;
    const char *error;
} bad_json;

static void
test_json_strict(void)
{
    static const bad_json cases[] = {
        { "[1]", "must be a JSON object" },
        { "{\"name\": ", "not valid JSON" },
        { "{\"nmae\": \"x\"}", "unknown key 'nmae'" },
        { "{\"name\": 3}", "domain.name must be a string" },
        { "{\"type\": \"kvm\"}", "unknown value 'kvm'" },
        { "{\"max_vcpus\": 100000}", "out of range" },
        { "{\"max_memkb\": -1}", "out of range" },
        { "{\"max_memkb\": 1.5}", "must be an integer" },
        { "{\"uuid\": \"not-a-uuid\"}", "is not a UUID" },
        { "{\"disks\": {}}", "must be an array" },
        { "{\"disks\": [{\"vdev\": \"xvda\", \"bogus\": 1}]}", "domain.disks[0] has an unknown key 'bogus'" },
        { "{\"disks\": [{\"readonly\": \"yes\"}]}", "must be true or false" },
        { "{\"nics\": [{\"mac\": \"00:16:3e:zz:00:01\"}]}", "not a MAC address" },
        { "{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", "longer than 64" },
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        xlite_domain_config cfg;

        xlite_domain_config_init(&cfg);
        g_assert_cmpint(xlite_domain_config_from_json(cases[i].json, &cfg), ==, -EINVAL);
        if (!strstr(xlite_errmsg(), cases[i].error))
            g_error("case %zu: '%s' does not contain '%s'", i, xlite_errmsg(),
                    cases[i].error);
        g_assert_null(cfg.name);
        g_assert_cmpuint(cfg.num_disks, ==, 0);
    }
}

typedef void (*mutate_fn)(xlite_domain_config *cfg);

static void m_no_name(xlite_domain_config *c) { g_clear_pointer(&c->name, g_free); }
static void m_bad_name(xlite_domain_config *c) { g_free(c->name); c->name = g_strdup("a/b"); }
static void m_no_kernel(xlite_domain_config *c) { g_clear_pointer(&c->kernel, g_free); }
static void m_no_type(xlite_domain_config *c) { c->type = XLITE_DOMAIN_TYPE_INVALID; }
static void m_little_memory(xlite_domain_config *c) { c->max_memkb = 512; }
static void m_target_above_max(xlite_domain_config *c) { c->target_memkb = c->max_memkb + 1; }
static void m_online_above_max(xlite_domain_config *c) { c->online_vcpus = 3; }
static void m_bad_cpus(xlite_domain_config *c) { c->cpus = g_strdup("0-x"); }
static void m_same_vdev(xlite_domain_config *c) { g_free(c->disks[1].vdev); c->disks[1].vdev = g_strdup("xvda"); }
static void m_relative_disk(xlite_domain_config *c) { g_free(c->disks[0].target); c->disks[0].target = g_strdup("disk.img"); }
static void m_bad_bridge(xlite_domain_config *c) { g_free(c->nics[0].bridge); c->nics[0].bridge = g_strdup("br;rm -rf"); }

static void
test_validation(void)
{
    static const struct {
        mutate_fn mutate;
        const char *error;
    } cases[] = {
        { m_no_name, "domain name '' must be" },
        { m_bad_name, "domain name 'a/b' must be" },
        { m_no_kernel, "needs a kernel or a bootloader" },
        { m_no_type, "has no valid type" },
        { m_little_memory, "at least 1024 KiB" },
        { m_target_above_max, "exceeds the maximum" },
        { m_online_above_max, "online vcpus exceed" },
        { m_bad_cpus, "cpu list '0-x'" },
        { m_same_vdev, "two disks are named 'xvda'" },
        { m_relative_disk, "not an absolute path" },
        { m_bad_bridge, "bridge name 'br;rm -rf'" },
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        xlite_domain_config cfg;

        fill_pv(&cfg);
        cases[i].mutate(&cfg);
        g_assert_cmpint(xlite_domain_config_set_defaults(&cfg), ==, -EINVAL);
        if (!strstr(xlite_errmsg(), cases[i].error))
            g_error("case %zu: '%s' does not contain '%s'", i, xlite_errmsg(),
                    cases[i].error);
        xlite_domain_config_dispose(&cfg);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/config/defaults", test_defaults);
    g_test_add_func("/config/json/round-trip", test_json_round_trip);
    g_test_add_func("/config/json/strict", test_json_strict);
    g_test_add_func("/config/validation", test_validation);
    return g_test_run();
}
