/*
 * xlite_userdata.c: the stored config of each domain and its lock
 *
 * The user's config, as given to create (defaults filled), is kept as JSON
 * in STATE_DIR/userdata/<domid>-<uuid>.json (DESIGN.md section 4,
 * "Configuration sync", and seed 001): private to the core, never read
 * by applications, written atomically (temporary file, fsync, rename,
 * fsync of the directory) and only while holding the domain's lock file
 * STATE_DIR/userdata/<domid>-<uuid>.lock, taken with the core's file
 * lock (xlite__flock).  Both files go away when the domain is
 * destroyed; those of domains that no longer exist (the host restarted,
 * or a process died in a create) are collected by xlite_domain_list(),
 * at the first list of a context and again after the host restarted.
 *
 * The domid and the uuid both name the files: a domid is reused after a
 * wrap, a uuid after a destroy, the pair is not.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xlite_internal.h"

static char *
userdata_dir(xlite_ctx *ctx)
{
    return g_build_filename(ctx->state_dir, "userdata", NULL);
}

char *
xlite__userdata_path(xlite_ctx *ctx, uint32_t domid, const uint8_t uuid[16],
                     const char *suffix)
{
    g_autofree char *dir = userdata_dir(ctx);
    const uint8_t *u = uuid;

    return g_strdup_printf("%s/%u-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                           "%02x%02x%02x%02x%02x%02x.%s", dir, domid, u[0],
                           u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8],
                           u[9], u[10], u[11], u[12], u[13], u[14], u[15],
                           suffix);
}

static int
fsync_dir(xlite_ctx *ctx, const char *dir)
{
    int fd = xlite__open(ctx, dir, O_RDONLY | O_DIRECTORY, 0);
    int r;

    if (fd < 0)
        return fd;
    r = fsync(fd);
    close(fd);
    return r < 0 ? -errno : 0;
}

int
xlite__userdata_store(xlite_ctx *ctx, uint32_t domid, const uint8_t uuid[16],
                      const xlite_domain_config *cfg)
{
    g_autofree char *dir = userdata_dir(ctx);
    g_autofree char *path = xlite__userdata_path(ctx, domid, uuid, "json");
    g_autofree char *tmp = g_strconcat(path, ".tmp", NULL);
    g_autofree char *json = NULL;
    size_t len, done = 0;
    int fd = -1;
    int rc;

    if ((rc = xlite_domain_config_to_json(cfg, &json)) < 0)
        return rc;
    if (g_mkdir_with_parents(dir, 0700) < 0)
        return XLITE_ERROR(ctx, -errno, "cannot create %s: %s", dir,
                           g_strerror(errno));
    if ((fd = xlite__open(ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
        return fd;
    len = strlen(json);
    while (done < len) {
        ssize_t n = write(fd, json + done, len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = XLITE_ERROR(ctx, -errno, "cannot write %s: %s", tmp,
                             g_strerror(errno));
            goto out;
        }
        done += n;
    }
    if (fsync(fd) < 0) {
        rc = XLITE_ERROR(ctx, -errno, "cannot sync %s: %s", tmp,
                         g_strerror(errno));
        goto out;
    }
    if (rename(tmp, path) < 0) {
        rc = XLITE_ERROR(ctx, -errno, "cannot rename %s to %s: %s", tmp, path,
                         g_strerror(errno));
        goto out;
    }
    if ((rc = fsync_dir(ctx, dir)) < 0) {
        rc = XLITE_ERROR(ctx, rc, "cannot sync %s: %s", dir, g_strerror(-rc));
        goto out;
    }
    rc = 0;

 out:
    xlite__close(&fd);
    if (rc < 0)
        unlink(tmp);
    return rc;
}

int
xlite__userdata_load(xlite_ctx *ctx, uint32_t domid, const uint8_t uuid[16],
                     xlite_domain_config *cfg_r)
{
    g_autofree char *path = xlite__userdata_path(ctx, domid, uuid, "json");
    g_autofree char *json = NULL;
    g_autoptr(GError) err = NULL;

    if (!g_file_get_contents(path, &json, NULL, &err))
        return XLITE_ERROR(ctx, err->code == G_FILE_ERROR_NOENT ? -ENOENT
                                                                : -EIO,
                           "no stored config for domain %u: %s", domid,
                           err->message);
    return xlite_domain_config_from_json(json, cfg_r);
}

void
xlite__userdata_remove(xlite_ctx *ctx, uint32_t domid, const uint8_t uuid[16])
{
    g_autofree char *path = xlite__userdata_path(ctx, domid, uuid, "json");
    g_autofree char *tmp = g_strconcat(path, ".tmp", NULL);

    if (unlink(path) < 0 && errno != ENOENT)
        XLITE_LOG(ctx, XLITE_LOG_WARN, "cannot remove %s: %s", path,
                  g_strerror(errno));
    unlink(tmp);
}

/* "<domid>-<uuid>.json": strict, since it decides what we delete. */
static bool
parse_name(const char *name, uint32_t *domid_r, uint8_t uuid[16])
{
    const char *dash = strchr(name, '-');
    g_autofree char *id = NULL;
    guint64 domid;
    size_t i, j;

    if (!dash || dash == name || !g_str_has_suffix(name, ".json") ||
        strlen(dash + 1) != 36 + 5)
        return false;
    id = g_strndup(name, dash - name);
    if (!g_ascii_string_to_unsigned(id, 10, 0, G_MAXUINT32, &domid, NULL))
        return false;
    memset(uuid, 0, 16);
    for (i = 0, j = 0; i < 36; i++) {
        char c = dash[1 + i];
        int v;

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
            continue;
        }
        if ((v = g_ascii_xdigit_value(c)) < 0)
            return false;
        uuid[j / 2] |= (uint8_t)(j % 2 ? v : v << 4);
        j++;
    }
    *domid_r = (uint32_t)domid;
    return true;
}

void
xlite__userdata_gc(xlite_ctx *ctx, const xlite_dominfo *infos, size_t n)
{
    g_autofree char *dir = userdata_dir(ctx);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    g_autoptr(GHashTable) byid = NULL;
    const char *name;
    size_t i;

    if (!d)
        return;
    byid = g_hash_table_new(g_direct_hash, g_direct_equal);
    for (i = 0; i < n; i++)
        g_hash_table_insert(byid, GUINT_TO_POINTER(infos[i].domid),
                            (void *)&infos[i]);
    while ((name = g_dir_read_name(d))) {
        g_autofree char *lockpath = NULL;
        const xlite_dominfo *info;
        uint8_t uuid[16];
        uint32_t domid;
        int fd;

        if (!parse_name(name, &domid, uuid))
            continue;
        info = g_hash_table_lookup(byid, GUINT_TO_POINTER(domid));
        if (info && memcmp(info->uuid, uuid, 16) == 0)
            continue;
        /* A create in progress holds the lock: leave it alone. */
        lockpath = xlite__userdata_path(ctx, domid, uuid, "lock");
        fd = xlite__open(ctx, lockpath, O_RDWR | O_CREAT, 0600);
        if (fd < 0)
            continue;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            XLITE_LOG(ctx, XLITE_LOG_INFO,
                      "removing the stored config of domain %u, which no "
                      "longer exists", domid);
            /* Its disk server too, unless the domid is another
             * domain's now (whose server it would be). */
            if (!info)
                xlite__diskserver_stop(ctx, domid, uuid);
            xlite__userdata_remove(ctx, domid, uuid);
            unlink(lockpath);
        }
        close(fd);
    }
}

/* ---------- the per-domain lock, as a sub-operation ---------- */

static void udlock_locked(xlite__egc *egc, xlite__flock *fl, int rc);

void
xlite__udlock_init(xlite__udlock *ul)
{
    ul->fd = -1;
    ul->path = NULL;
    xlite__flock_init(&ul->flock);
}

bool
xlite__udlock_inuse(const xlite__udlock *ul)
{
    return xlite__flock_inuse(&ul->flock);
}

int
xlite__udlock_acquire(xlite__egc *egc, xlite__udlock *ul)
{
    xlite_ctx *ctx = egc->ctx;
    g_autofree char *dir = userdata_dir(ctx);
    int rc;

    if (g_mkdir_with_parents(dir, 0700) < 0)
        return XLITE_ERROR(ctx, -errno, "cannot create %s: %s", dir,
                           g_strerror(errno));
    g_free(ul->path);
    ul->path = xlite__userdata_path(ctx, ul->domid, ul->uuid, "lock");
    ul->flock.ao = ul->ao;
    ul->flock.path = ul->path;
    ul->flock.callback = udlock_locked;
    if ((rc = xlite__flock_acquire(egc, &ul->flock)) < 0)
        g_clear_pointer(&ul->path, g_free);
    return rc;
}

static void
udlock_locked(xlite__egc *egc, xlite__flock *fl, int rc)
{
    xlite__udlock *ul = XLITE__CONTAINER_OF(fl, xlite__udlock, flock);

    if (rc == 0)
        ul->fd = fl->fd;
    else
        g_clear_pointer(&ul->path, g_free);
    ul->callback(egc, ul, rc);
}

void
xlite__udlock_release(xlite_ctx *ctx, xlite__udlock *ul, bool remove)
{
    if (ul->fd >= 0) {
        /* Deleted while held, so that a waiter re-checks the inode. */
        if (remove)
            unlink(ul->path);
        xlite__close(&ul->fd);
    }
    g_clear_pointer(&ul->path, g_free);
}
