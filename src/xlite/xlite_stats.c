/*
 * xlite_stats.c: monitoring figures, as the hypervisor keeps them
 *
 * The hypervisor accounts cpu time per vcpu (Xen's vcpu_runstate; the
 * simulated host keeps the same counters, docs/xensim-hypervisor-protocol.md)
 * and each physical cpu's idle time.  These calls hand them out as they
 * are, one pass over the hypervisor each: a monitoring client polling
 * every domain of a host every few seconds asks once, not once per
 * domain.
 *
 * The read-only ones take the query path (struct xlite_ctx): their own
 * backend state and xenstore handle under query_lock, never the
 * context's lock, which a domain build holds for as long as the
 * hypervisor builds.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <xenstore.h>

#include "xlite_internal.h"
#include "xlite_dom_internal.h"

/* ==================== the query path ==================== */

/* Takes query_lock and opens the query state if it is not yet: 0 with the
 * lock held, or an error without it. */
static int
query_begin(xlite_ctx *ctx)
{
    int rc = 0;

    pthread_mutex_lock(&ctx->query_lock);
    if (ctx->query_state)
        return 0;
    if (!ctx->hv->open_query)
        rc = XLITE_ERROR(ctx, -EOPNOTSUPP, "the %s backend has no "
                         "read-only requests", ctx->hv->name);
    else
        rc = ctx->hv->open_query(ctx, &ctx->query_state);
    if (rc < 0) {
        ctx->query_state = NULL;
        pthread_mutex_unlock(&ctx->query_lock);
    }
    return rc;
}

static void
query_end(xlite_ctx *ctx)
{
    pthread_mutex_unlock(&ctx->query_lock);
}

/* The query path's xenstore handle (query_lock held), opened on first
 * use; NULL if xenstore cannot be reached. */
static struct xs_handle *
query_xs(xlite_ctx *ctx)
{
    xlite__foreign_fds *before;

    if (ctx->query_xsh)
        return ctx->query_xsh;
    /* libxenstore opens its fds itself: made CLOEXEC like every fd of
     * the library. */
    before = xlite__foreign_fds_begin();
    ctx->query_xsh = xs_open(0);
    xlite__foreign_fds_end(before);
    return ctx->query_xsh;
}

/* After a xenstore failure that is not the node's (the connection went,
 * the host restarted): the next use opens a new handle. */
static void
query_xs_failed(xlite_ctx *ctx, int err)
{
    if (err == ENOENT || err == EACCES || err == EINVAL || err == E2BIG)
        return;
    if (ctx->query_xsh) {
        xs_close(ctx->query_xsh);
        ctx->query_xsh = NULL;
    }
}

void
xlite__stats_ctx_free(xlite_ctx *ctx)
{
    if (ctx->query_xsh)
        xs_close(ctx->query_xsh);
    if (ctx->query_state)
        ctx->hv->close(ctx, ctx->query_state);
    ctx->query_xsh = NULL;
    ctx->query_state = NULL;
}

/* ==================== domains and vcpus ==================== */

XLITE_EXPORT int
xlite_domain_stat(xlite_ctx *ctx, uint32_t domid, xlite_dominfo *info_r)
{
    xlite_dominfo info;
    int rc;

    if (!info_r)
        return XLITE_ERROR(ctx, -EINVAL, "a result pointer is required");
    if ((rc = query_begin(ctx)) < 0)
        return rc;
    if (!ctx->hv->dom_info)
        rc = XLITE_ERROR(ctx, -EOPNOTSUPP, "the %s backend runs no domains",
                         ctx->hv->name);
    else if ((rc = ctx->hv->dom_info(ctx, ctx->query_state, domid,
                                     &info)) == -ESRCH)
        rc = XLITE_ERROR(ctx, -ESRCH, "domain %u does not exist", domid);
    query_end(ctx);
    if (rc < 0)
        return rc;
    *info_r = info;
    return 0;
}

XLITE_EXPORT int
xlite_domain_stat_all(xlite_ctx *ctx, xlite_dominfo **infos_r, size_t *n_r)
{
    g_autofree xlite_dominfo *infos = NULL;
    size_t n = 0, i, j;
    int rc;

    if (!infos_r || !n_r)
        return XLITE_ERROR(ctx, -EINVAL, "result pointers are required");
    if ((rc = query_begin(ctx)) < 0)
        return rc;
    if (!ctx->hv->dom_list)
        rc = XLITE_ERROR(ctx, -EOPNOTSUPP, "the %s backend runs no domains",
                         ctx->hv->name);
    else
        rc = ctx->hv->dom_list(ctx, ctx->query_state, &infos, &n);
    query_end(ctx);
    if (rc < 0)
        return rc;
    for (i = 0, j = 0; i < n; i++)
        if (infos[i].domid != 0)
            infos[j++] = infos[i];
    *infos_r = g_steal_pointer(&infos);
    *n_r = j;
    return 0;
}

static int
stats_vcpu_list(xlite_ctx *ctx, uint32_t domid, xlite_vcpuinfo **vcpus_r,
                size_t *n_r)
{
    g_autofree xlite_vcpuinfo *vcpus = NULL;
    size_t n = 0;
    int rc;

    if (!vcpus_r || !n_r)
        return XLITE_ERROR(ctx, -EINVAL, "result pointers are required");
    if ((rc = query_begin(ctx)) < 0)
        return rc;
    if (!ctx->hv->vcpu_list)
        rc = XLITE_ERROR(ctx, -EOPNOTSUPP, "the %s backend has no vcpus",
                         ctx->hv->name);
    else if ((rc = ctx->hv->vcpu_list(ctx, ctx->query_state, domid, &vcpus,
                                      &n)) == -ESRCH)
        rc = XLITE_ERROR(ctx, -ESRCH, "domain %u does not exist", domid);
    query_end(ctx);
    if (rc < 0)
        return rc;
    *vcpus_r = g_steal_pointer(&vcpus);
    *n_r = n;
    return 0;
}

XLITE_EXPORT int
xlite_domain_vcpu_list(xlite_ctx *ctx, uint32_t domid,
                       xlite_vcpuinfo **vcpus_r, size_t *n_r)
{
    if (domid == XLITE__DOMID_ANY)
        return XLITE_ERROR(ctx, -EINVAL, "%u is not a domain id", domid);
    return stats_vcpu_list(ctx, domid, vcpus_r, n_r);
}

XLITE_EXPORT int
xlite_vcpu_list_all(xlite_ctx *ctx, xlite_vcpuinfo **vcpus_r, size_t *n_r)
{
    return stats_vcpu_list(ctx, XLITE__DOMID_ANY, vcpus_r, n_r);
}

XLITE_EXPORT int
xlite_host_pcpu_list(xlite_ctx *ctx, xlite_pcpuinfo **cpus_r, size_t *n_r)
{
    g_autofree xlite_pcpuinfo *cpus = NULL;
    size_t n = 0;
    int rc;

    if (!cpus_r || !n_r)
        return XLITE_ERROR(ctx, -EINVAL, "result pointers are required");
    if ((rc = query_begin(ctx)) < 0)
        return rc;
    if (!ctx->hv->pcpu_list)
        rc = XLITE_ERROR(ctx, -EOPNOTSUPP, "the %s backend does not account "
                         "the host's cpu time", ctx->hv->name);
    else
        rc = ctx->hv->pcpu_list(ctx, ctx->query_state, &cpus, &n);
    query_end(ctx);
    if (rc < 0)
        return rc;
    *cpus_r = g_steal_pointer(&cpus);
    *n_r = n;
    return 0;
}

/*
 * Counters the host's kernel keeps in sysfs: one decimal number per file,
 * read whole and parsed strictly (a file that says anything else is an
 * error, not a zero).  @dfd is the counters' directory, @dir its name for
 * the messages.
 */
#define STATS_COUNTER_MAX 32

static int
stats_read_counter(xlite_ctx *ctx, int dfd, const char *dir,
                   const char *name, uint64_t *val_r)
{
    char text[STATS_COUNTER_MAX + 2];
    size_t len = 0;
    guint64 val;
    ssize_t r;
    int fd;

    xlite__nofork_lock();
    fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    xlite__nofork_unlock();
    if (fd < 0)
        return XLITE_ERROR(ctx, errno == ENOENT ? -ENOENT : -EIO,
                           "cannot read %s/%s: %s", dir, name,
                           g_strerror(errno));
    /* One more byte than a counter may have: to see that it has more. */
    while (len < sizeof(text) - 1 &&
           (r = read(fd, text + len, sizeof(text) - 1 - len)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int err = errno;

            close(fd);
            return XLITE_ERROR(ctx, -EIO, "cannot read %s/%s: %s", dir, name,
                               g_strerror(err));
        }
        len += (size_t)r;
    }
    close(fd);
    text[len] = '\0';
    g_strchomp(text);
    if (len > STATS_COUNTER_MAX ||
        !g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT64, &val, NULL))
        return XLITE_ERROR(ctx, -EPROTO, "%s/%s holds no counter", dir, name);
    *val_r = val;
    return 0;
}

/* Where the host's sysfs is (query_lock held). */
static const char *
stats_sysfs(xlite_ctx *ctx)
{
    return ctx->hv->sysfs_root ? ctx->hv->sysfs_root(ctx->query_state) : NULL;
}

/* A counter file of a sysfs statistics directory and where its value
 * goes in the result structure. */
typedef struct {
    const char *name;
    size_t offset;
} stats_field;

/* Reads each of @fields under @dir into @base.  The directory is opened
 * once, and each counter looked up in it: a whole path resolved for each
 * file cost as much as the reads (on the simulated host the path goes
 * through /proc/PID/root, docs/xensim-host.md). */
static int
stats_read_counters(xlite_ctx *ctx, const char *dir, const stats_field *fields,
                    size_t n, void *base)
{
    int dfd, rc = 0;

    xlite__nofork_lock();
    dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    xlite__nofork_unlock();
    if (dfd < 0)
        return XLITE_ERROR(ctx, errno == ENOENT ? -ENOENT : -EIO,
                           "cannot open %s: %s", dir, g_strerror(errno));
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = stats_read_counter(ctx, dfd, dir, fields[i].name,
                                (uint64_t *)(void *)((char *)base +
                                                     fields[i].offset));
    close(dfd);
    return rc;
}

XLITE_EXPORT int
xlite_device_disk_stats(xlite_ctx *ctx, uint32_t domid, const char *vdev,
                        xlite_disk_stats *stats_r)
{
    static const stats_field fields[] = {
        { "rd_req", offsetof(xlite_disk_stats, rd_req) },
        { "rd_sect", offsetof(xlite_disk_stats, rd_sect) },
        { "wr_req", offsetof(xlite_disk_stats, wr_req) },
        { "wr_sect", offsetof(xlite_disk_stats, wr_sect) },
        { "f_req", offsetof(xlite_disk_stats, f_req) },
        { "ds_req", offsetof(xlite_disk_stats, ds_req) },
        { "oo_req", offsetof(xlite_disk_stats, oo_req) },
    };
    g_autofree char *dir = NULL;
    xlite_disk_stats stats = { 0 };
    const char *sysfs;
    int devid = 0, rc = 0;

    if (!vdev || !stats_r)
        return XLITE_ERROR(ctx, -EINVAL, "a disk and a result pointer are "
                           "required");
    if ((rc = xlite__disk_devid(ctx, vdev, &devid)) < 0)
        return rc;
    if ((rc = query_begin(ctx)) < 0)
        return rc;
    if (!(sysfs = stats_sysfs(ctx))) {
        rc = XLITE_ERROR(ctx, -EOPNOTSUPP, "the %s backend has no disk "
                         "backends", ctx->hv->name);
        goto out;
    }
    dir = g_strdup_printf("%s/bus/xen-backend/devices/vbd-%u-%d/statistics",
                          sysfs, domid, devid);
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        rc = XLITE_ERROR(ctx, -ENOENT, "the backend of disk %s of domain %u "
                         "keeps no statistics (no %s)", vdev, domid, dir);
        goto out;
    }
    rc = stats_read_counters(ctx, dir, fields, G_N_ELEMENTS(fields), &stats);
 out:
    query_end(ctx);
    if (rc < 0)
        return rc;
    *stats_r = stats;
    return 0;
}

/* An interface name as Linux allows it (IFNAMSIZ, no '/' nor blanks, not
 * "." or ".."): it becomes part of a path. */
static bool
stats_ifname_valid(const char *ifname)
{
    size_t len = strlen(ifname);

    if (len == 0 || len > 15 || g_str_equal(ifname, ".") ||
        g_str_equal(ifname, ".."))
        return false;
    for (size_t i = 0; i < len; i++)
        if (ifname[i] == '/' || ifname[i] == ':' || g_ascii_isspace(ifname[i]))
            return false;
    return true;
}

XLITE_EXPORT int
xlite_host_netif_stats(xlite_ctx *ctx, const char *ifname,
                       xlite_netif_stats *stats_r)
{
    static const stats_field fields[] = {
        { "rx_bytes", offsetof(xlite_netif_stats, rx_bytes) },
        { "rx_packets", offsetof(xlite_netif_stats, rx_packets) },
        { "rx_errors", offsetof(xlite_netif_stats, rx_errors) },
        { "rx_dropped", offsetof(xlite_netif_stats, rx_dropped) },
        { "tx_bytes", offsetof(xlite_netif_stats, tx_bytes) },
        { "tx_packets", offsetof(xlite_netif_stats, tx_packets) },
        { "tx_errors", offsetof(xlite_netif_stats, tx_errors) },
        { "tx_dropped", offsetof(xlite_netif_stats, tx_dropped) },
    };
    g_autofree char *dir = NULL;
    xlite_netif_stats stats = { 0 };
    const char *sysfs;
    int rc = 0;

    if (!ifname || !stats_r)
        return XLITE_ERROR(ctx, -EINVAL, "an interface and a result pointer "
                           "are required");
    if (!stats_ifname_valid(ifname))
        return XLITE_ERROR(ctx, -EINVAL, "'%s' is not an interface name",
                           ifname);
    if ((rc = query_begin(ctx)) < 0)
        return rc;
    if (!(sysfs = stats_sysfs(ctx))) {
        rc = XLITE_ERROR(ctx, -EOPNOTSUPP, "the %s backend has no network "
                         "interfaces", ctx->hv->name);
        goto out;
    }
    dir = g_strdup_printf("%s/class/net/%s/statistics", sysfs, ifname);
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        rc = XLITE_ERROR(ctx, -ENOENT, "the host has no interface %s", ifname);
        goto out;
    }
    rc = stats_read_counters(ctx, dir, fields, G_N_ELEMENTS(fields), &stats);
 out:
    query_end(ctx);
    if (rc < 0)
        return rc;
    *stats_r = stats;
    return 0;
}

/*
 * The host's ARP table as Linux lists it in /proc/net/arp: a header, then
 * "IP HWTYPE FLAGS MAC MASK DEVICE" per entry.  Kept: Ethernet entries
 * whose address is known (ATF_COM), not those an administrator fixed
 * (ATF_PERM): as libvirt reads the table (virArpTableGet), the
 * neighbours the host heard from.  Each field is checked, a line that
 * does not parse is an error.
 */
#define STATS_ATF_COM 0x02
#define STATS_ATF_PERM 0x04

static bool
stats_arp_line(const char *line, xlite_arp_entry *entry)
{
    g_auto(GStrv) f = g_strsplit_set(line, " \t", -1);
    const char *field[6];
    guint64 hwtype, flags;
    struct in_addr addr;
    size_t n = 0;

    for (size_t i = 0; f[i]; i++) {
        if (!f[i][0])
            continue;
        if (n == G_N_ELEMENTS(field))
            return false;
        field[n++] = f[i];
    }
    if (n != G_N_ELEMENTS(field) ||
        strlen(field[0]) >= sizeof(entry->ip) ||
        inet_pton(AF_INET, field[0], &addr) != 1 ||
        !g_str_has_prefix(field[1], "0x") || !g_str_has_prefix(field[2], "0x") ||
        !g_ascii_string_to_unsigned(field[1] + 2, 16, 0, 0xffff, &hwtype,
                                    NULL) ||
        !g_ascii_string_to_unsigned(field[2] + 2, 16, 0, 0xffff, &flags,
                                    NULL) ||
        strlen(field[3]) != 17 || !stats_ifname_valid(field[5]))
        return false;
    for (size_t i = 0; i < 17; i++)
        if (i % 3 == 2 ? field[3][i] != ':' : !g_ascii_isxdigit(field[3][i]))
            return false;
    memset(entry, 0, sizeof(*entry));
    if (hwtype != 1 || !(flags & STATS_ATF_COM) || (flags & STATS_ATF_PERM))
        return true;            /* well formed, not one we keep */
    g_strlcpy(entry->ip, field[0], sizeof(entry->ip));
    for (size_t i = 0; i < 17; i++)
        entry->mac[i] = g_ascii_tolower(field[3][i]);
    g_strlcpy(entry->ifname, field[5], sizeof(entry->ifname));
    return true;
}

XLITE_EXPORT int
xlite_host_arp_table(xlite_ctx *ctx, xlite_arp_entry **entries_r,
                     size_t *n_r)
{
    g_autoptr(GArray) entries = g_array_new(FALSE, TRUE,
                                            sizeof(xlite_arp_entry));
    g_autoptr(GError) err = NULL;
    g_autofree char *path = NULL;
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    const char *procnet;
    int rc = 0;

    if (!entries_r || !n_r)
        return XLITE_ERROR(ctx, -EINVAL, "result pointers are required");
    if ((rc = query_begin(ctx)) < 0)
        return rc;
    procnet = ctx->hv->procnet_root ?
              ctx->hv->procnet_root(ctx->query_state) : NULL;
    path = procnet ? g_build_filename(procnet, "arp", NULL) : NULL;
    query_end(ctx);
    if (!path)
        return XLITE_ERROR(ctx, -EOPNOTSUPP, "the %s backend has no "
                           "network", ctx->hv->name);
    if (!g_file_get_contents(path, &text, NULL, &err))
        return XLITE_ERROR(ctx, err->code == G_FILE_ERROR_NOENT ? -ENOENT
                                                                : -EIO,
                           "cannot read %s: %s", path, err->message);
    lines = g_strsplit(text, "\n", -1);
    /* The first line names the columns. */
    for (size_t i = 1; lines[0] && lines[i]; i++) {
        xlite_arp_entry entry;

        if (!lines[i][0])
            continue;
        if (!stats_arp_line(lines[i], &entry))
            return XLITE_ERROR(ctx, -EPROTO, "%s: line %zu is not an ARP "
                               "entry", path, i + 1);
        if (entry.ip[0])
            g_array_append_val(entries, entry);
    }
    *n_r = entries->len;
    *entries_r = (xlite_arp_entry *)(void *)g_array_free(
        g_steal_pointer(&entries), FALSE);
    return 0;
}

/*
 * A figure the guest writes under its home: untrusted, so bounded,
 * strictly parsed and at most @max.  Quietly: a monitoring client polls
 * every few seconds, and a guest must not fill the log through it.
 */
#define STATS_GUEST_VALUE_MAX 24

static uint64_t
stats_guest_kib(xlite_ctx *ctx, uint32_t domid, const char *node,
                uint64_t max)
{
    g_autofree char *path = g_strdup_printf("/local/domain/%u/%s", domid,
                                            node);
    struct xs_handle *xsh = query_xs(ctx);
    unsigned int len = 0;
    guint64 val;
    char *v;
    bool ok;

    if (!xsh)
        return XLITE_MEMSTAT_NONE;
    if (!(v = xs_read(xsh, XBT_NULL, path, &len))) {
        query_xs_failed(ctx, errno);
        return XLITE_MEMSTAT_NONE;
    }
    ok = len <= STATS_GUEST_VALUE_MAX && strlen(v) == len &&
         g_ascii_string_to_unsigned(v, 10, 0, max, &val, NULL);
    free(v);
    return ok ? val : XLITE_MEMSTAT_NONE;
}

XLITE_EXPORT int
xlite_domain_memory_stats(xlite_ctx *ctx, uint32_t domid,
                          const xlite_dominfo *info,
                          xlite_memory_stats *stats_r)
{
    xlite_memory_stats stats;
    xlite_dominfo asked;
    int rc;

    if (!stats_r || (info && info->domid != domid))
        return XLITE_ERROR(ctx, -EINVAL, "a result pointer and the "
                           "domain's own info are required");
    if (!info) {
        if ((rc = xlite_domain_stat(ctx, domid, &asked)) < 0)
            return rc;
        info = &asked;
    }
    stats.actual_kib = info->cur_memkb;
    stats.max_kib = info->max_memkb;
    if ((rc = query_begin(ctx)) < 0)
        return rc;
    stats.guest_total_kib = stats_guest_kib(ctx, domid, "data/meminfo_total",
                                            info->max_memkb);
    /* Free and available memory are part of the total the guest sees. */
    stats.guest_free_kib = stats_guest_kib(ctx, domid, "data/meminfo_free",
                                           info->max_memkb);
    stats.guest_available_kib = stats_guest_kib(ctx, domid,
                                                "data/meminfo_available",
                                                info->max_memkb);
    query_end(ctx);
    if (stats.guest_total_kib == XLITE_MEMSTAT_NONE ||
        (stats.guest_free_kib != XLITE_MEMSTAT_NONE &&
         stats.guest_free_kib > stats.guest_total_kib))
        stats.guest_free_kib = XLITE_MEMSTAT_NONE;
    if (stats.guest_total_kib == XLITE_MEMSTAT_NONE ||
        (stats.guest_available_kib != XLITE_MEMSTAT_NONE &&
         stats.guest_available_kib > stats.guest_total_kib))
        stats.guest_available_kib = XLITE_MEMSTAT_NONE;
    *stats_r = stats;
    return 0;
}

XLITE_EXPORT int
xlite_domain_node_affinity(xlite_ctx *ctx, uint32_t domid, uint64_t *nodes_r)
{
    xlite_host_info host = { 0 };
    xlite_dominfo info;
    uint64_t nodes = 0;
    int rc;

    if (!nodes_r)
        return XLITE_ERROR(ctx, -EINVAL, "a result pointer is required");
    CTX_LOCK(ctx);
    if ((rc = xlite_domain_info(ctx, domid, &info)) < 0)
        goto out;
    if (ctx->hv->dom_node_affinity) {
        rc = ctx->hv->dom_node_affinity(ctx, ctx->hv_state, domid, &nodes);
    } else if ((rc = ctx->hv->host_info(ctx, ctx->hv_state, &host)) == 0) {
        unsigned int n = MAX(1u, MIN(64u, host.numa_nodes));

        nodes = n == 64 ? UINT64_MAX : (UINT64_C(1) << n) - 1;
    }
 out:
    CTX_UNLOCK(ctx);
    if (rc < 0)
        return rc;
    *nodes_r = nodes;
    return 0;
}

XLITE_EXPORT int
xlite_domain_vcpu_set_affinity(xlite_ctx *ctx, uint32_t domid,
                               unsigned int vcpu, const uint8_t *cpumap,
                               size_t maplen)
{
    xlite_host_info host = { 0 };
    xlite_dominfo info;
    bool any = false;
    int rc;

    if (!cpumap || maplen == 0)
        return XLITE_ERROR(ctx, -EINVAL, "a cpu map is required");
    CTX_LOCK(ctx);
    if (!ctx->hv->vcpu_set_affinity) {
        rc = XLITE_ERROR(ctx, -EOPNOTSUPP, "the %s backend has no vcpu "
                         "affinity", ctx->hv->name);
        goto out;
    }
    if ((rc = xlite_domain_info(ctx, domid, &info)) < 0 ||
        (rc = ctx->hv->host_info(ctx, ctx->hv_state, &host)) < 0)
        goto out;
    if (vcpu >= info.max_vcpus) {
        rc = XLITE_ERROR(ctx, -EINVAL, "domain %u has no vcpu %u", domid,
                         vcpu);
        goto out;
    }
    for (size_t i = 0; i < maplen * 8; i++) {
        if (!(cpumap[i / 8] & (1u << (i % 8))))
            continue;
        if (i >= host.nr_cpus) {
            rc = XLITE_ERROR(ctx, -EINVAL, "the host has no cpu %zu", i);
            goto out;
        }
        any = true;
    }
    if (!any) {
        rc = XLITE_ERROR(ctx, -EINVAL, "vcpu %u of domain %u cannot run on "
                         "no cpu", vcpu, domid);
        goto out;
    }
    rc = ctx->hv->vcpu_set_affinity(ctx, ctx->hv_state, domid, vcpu, cpumap,
                                    maplen);
 out:
    CTX_UNLOCK(ctx);
    return rc;
}
