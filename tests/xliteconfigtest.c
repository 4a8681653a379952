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

/* An HVM guest with every platform setting and device kind beside disks
 * and NICs: all of it survives the JSON form. */
static void
fill_hvm_full(xlite_domain_config *cfg)
{
    xlite_vnuma_node_config *node;
    xlite_pci_config *pci;
    xlite_channel_config *ch;
    static const char *args[] = { "-d", "guest_errors", NULL };
    size_t i;

    fill_pv(cfg);
    cfg->type = XLITE_DOMAIN_TYPE_HVM;
    cfg->bios = XLITE_BIOS_OVMF;
    cfg->boot = g_strdup("dc");
    cfg->acpi_firmware = g_strdup("/etc/xen/slic.dat");
    cfg->acpi = cfg->apic = cfg->pae = cfg->hpet = XLITE_DEFBOOL_TRUE;
    cfg->hap = XLITE_DEFBOOL_FALSE;
    cfg->nested_hvm = XLITE_DEFBOOL_TRUE;
    cfg->passthrough = XLITE_PASSTHROUGH_SYNC_PT;
    cfg->cpuid = g_strdup("host,aes=1,vmx=0");
    cfg->max_grant_frames = 64;
    cfg->max_event_channels = 2047;
    cfg->localtime = XLITE_DEFBOOL_TRUE;
    cfg->rtc_timeoffset = -3600;
    cfg->tsc_mode = XLITE_TSC_MODE_NATIVE;
    cfg->device_model = g_strdup("/usr/bin/qemu-system-i386");
    cfg->device_model_args = g_strdupv((char **)args);
    cfg->serials = g_strsplit("pty;file:/var/log/guest.log", ";", 0);
    cfg->soundhw = g_strdup("hda,ac97");
    cfg->usbdevices = g_strsplit("tablet", ";", 0);
    cfg->vga = g_strdup("cirrus");
    cfg->video_memkb = 8192;
    for (i = 0; i < 2; i++) {
        node = xlite_domain_config_add_vnuma_node(cfg);
        node->memkb = 262144;
        node->vcpus = g_strdup(i ? "1" : "0");
        node->distances = g_strdup(i ? "21,10" : "10,21");
    }
    pci = xlite_domain_config_add_pcidev(cfg);
    pci->bus = 0x0a;
    pci->dev = 0x10;
    pci->permissive = true;
    pci->seize = true;
    xlite_domain_config_add_usbctrl(cfg)->version = 2;
    cfg->usbctrls[0].ports = 4;
    xlite_domain_config_add_usbdev(cfg)->hostbus = 1;
    cfg->usbdevs[0].hostaddr = 3;
    ch = xlite_domain_config_add_channel(cfg);
    ch->name = g_strdup("org.qemu.guest_agent.0");
    ch->connection = XLITE_CHANNEL_SOCKET;
    ch->path = g_strdup("/run/guest.sock");
    g_free(cfg->nics[0].bridge);
    cfg->nics[0].bridge = g_strdup("ovsbr0.42");
    cfg->nics[0].type = XLITE_NIC_TYPE_VIF_IOEMU;
    cfg->disks[0].discard = XLITE_DEFBOOL_FALSE;
}

static void
test_json_round_trip_platform(void)
{
    xlite_domain_config cfg, back;
    char *json = NULL, *again = NULL;

    fill_hvm_full(&cfg);
    g_assert_cmpint(xlite_domain_config_set_defaults(&cfg), ==, 0);
    g_assert_cmpint(xlite_domain_config_to_json(&cfg, &json), ==, 0);
    g_assert_nonnull(strstr(json, "\"rtc_timeoffset\" : -3600"));
    g_assert_nonnull(strstr(json, "\"hap\" : \"false\""));

    xlite_domain_config_init(&back);
    g_assert_cmpint(xlite_domain_config_from_json(json, &back), ==, 0);
    g_assert_cmpint(xlite_domain_config_to_json(&back, &again), ==, 0);
    g_assert_cmpstr(json, ==, again);
    g_assert_cmpint(back.rtc_timeoffset, ==, -3600);
    g_assert_cmpstr(back.device_model_args[1], ==, "guest_errors");
    g_assert_null(back.device_model_args[2]);
    g_assert_cmpuint(back.num_vnuma_nodes, ==, 2);
    g_assert_cmpstr(back.vnuma_nodes[1].distances, ==, "21,10");
    g_assert_true(back.pcidevs[0].permissive);
    g_assert_cmpint(back.pcidevs[0].vslot, ==, -1);
    g_assert_cmpstr(back.channels[0].path, ==, "/run/guest.sock");
    g_assert_cmpint(back.nics[0].type, ==, XLITE_NIC_TYPE_VIF_IOEMU);

    free(json);
    free(again);
    xlite_domain_config_dispose(&cfg);
    xlite_domain_config_dispose(&back);
}

static void m_bad_boot(xlite_domain_config *c) { g_free(c->boot); c->boot = g_strdup("cx"); }
static void m_bad_distances(xlite_domain_config *c) { g_free(c->vnuma_nodes[0].distances); c->vnuma_nodes[0].distances = g_strdup("10"); }
static void m_bad_pci(xlite_domain_config *c) { c->pcidevs[0].func = 8; }
static void m_same_pci(xlite_domain_config *c) { xlite_pci_config first = c->pcidevs[0]; *xlite_domain_config_add_pcidev(c) = first; }
static void m_bad_usbctrl(xlite_domain_config *c) { c->usbctrls[0].ports = 0; }
static void m_socket_no_path(xlite_domain_config *c) { g_clear_pointer(&c->channels[0].path, g_free); }
static void m_bad_vlan(xlite_domain_config *c) { g_free(c->nics[0].bridge); c->nics[0].bridge = g_strdup("br0.x"); }
static void m_serial_newline(xlite_domain_config *c) { g_free(c->serials[1]); c->serials[1] = g_strdup("file:/a\nb"); }

static void
test_validation_platform(void)
{
    static const struct {
        void (*mutate)(xlite_domain_config *cfg);
        const char *error;
    } cases[] = {
        { m_bad_boot, "boot order 'cx'" },
        { m_bad_distances, "vNUMA node 0 needs" },
        { m_bad_pci, "PCI device 0 has an address out of range" },
        { m_same_pci, "0000:0a:10.0 is given twice" },
        { m_bad_usbctrl, "USB controller 0 needs" },
        { m_socket_no_path, "needs a pty, or a socket with a path" },
        { m_bad_vlan, "bridge name 'br0.x'" },
        { m_serial_newline, "has a character it cannot have" },
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        xlite_domain_config cfg;

        fill_hvm_full(&cfg);
        g_assert_cmpint(xlite_domain_config_validate(&cfg), ==, 0);
        cases[i].mutate(&cfg);
        g_assert_cmpint(xlite_domain_config_set_defaults(&cfg), ==, -EINVAL);
        if (!strstr(xlite_errmsg(), cases[i].error))
            g_error("case %zu: '%s' does not contain '%s'", i, xlite_errmsg(),
                    cases[i].error);
        xlite_domain_config_dispose(&cfg);
    }
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
        { "{\"serials\": \"pty\"}", "must be an array of strings" },
        { "{\"serials\": [1]}", "domain.serials[0] must be a string" },
        { "{\"rtc_timeoffset\": 99999999999}", "out of range" },
        { "{\"hap\": \"maybe\"}", "unknown value 'maybe'" },
        { "{\"pcidevs\": [{\"func\": 8}]}", "out of range" },
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
    g_test_add_func("/config/json/round-trip-platform", test_json_round_trip_platform);
    g_test_add_func("/config/validation-platform", test_validation_platform);
    return g_test_run();
}
