/*
 * hv_stub.c: the bootstrap backend, host facts only
 *
 * Stands in for a hypervisor until the simulated host (xensim) and the
 * real-Xen backend exist: it reports this machine's processors and memory
 * as the host's and offers the guest types of an x86_64 Xen 4.17 host.  It
 * runs no domains.  The domains work replaces it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "xlite_internal.h"

static int
stub_open(xlite_ctx *ctx, void **state_r)
{
    *state_r = NULL;
    return 0;
}

static void
stub_close(xlite_ctx *ctx, void *state)
{
}

static uint64_t
meminfo_kib(const char *key)
{
    g_autofree char *text = NULL;
    const char *line;
    size_t keylen = strlen(key);

    if (!g_file_get_contents("/proc/meminfo", &text, NULL, NULL))
        return 0;
    for (line = text; line && *line; line = strchr(line, '\n')) {
        if (*line == '\n')
            line++;
        if (strncmp(line, key, keylen) == 0 && line[keylen] == ':')
            return g_ascii_strtoull(line + keylen + 1, NULL, 10);
    }
    return 0;
}

static int
stub_host_info(xlite_ctx *ctx, void *state, xlite_host_info *info)
{
    long ncpus = sysconf(_SC_NPROCESSORS_ONLN);

    info->nr_cpus = ncpus > 0 ? (unsigned int)ncpus : 1;
    info->sockets = 1;
    info->cores_per_socket = info->nr_cpus;
    info->threads_per_core = 1;
    info->numa_nodes = 1;
    info->cpu_mhz = 2000;
    info->total_kib = meminfo_kib("MemTotal");
    info->free_kib = meminfo_kib("MemAvailable");
    info->xen_major = 4;
    info->xen_minor = 17;
    g_strlcpy(info->xen_extra, ".0-stub", sizeof(info->xen_extra));
    info->guest_types = XLITE_GUEST_PV | XLITE_GUEST_PVH | XLITE_GUEST_HVM;
    info->max_vcpus = 128;
    g_strlcpy(info->arch, "x86_64", sizeof(info->arch));
    g_strlcpy(info->scheduler, "credit2", sizeof(info->scheduler));
    g_strlcpy(info->xen_caps,
              "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64",
              sizeof(info->xen_caps));
    return 0;
}

const xlite__hv_ops xlite__hv_stub_ops = {
    .name = "stub",
    .open = stub_open,
    .close = stub_close,
    .host_info = stub_host_info,
};
