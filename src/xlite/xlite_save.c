/*
 * xlite_save.c: save images, and saving and restoring domains with them.
 *
 * A save, as libxl's: the guest is asked to suspend (control/shutdown =
 * suspend) and we wait until it has shut down with reason suspend; the
 * hypervisor backend then gives the guest's state, and the image is
 * written: a header, the domain's config (our JSON, as retrieved when the
 * save began), an opaque section for the application (libvirt's XML),
 * the guest state, and a SHA-256 of all that.  The domain is left
 * suspended; the caller destroys it (libxl's contract, which libvirt's
 * driver follows).
 *
 * A restore reads and checks the whole image before anything exists, then
 * runs a create (xlite_domain.c) that hands the state to the hypervisor
 * after the build, before the domain first runs.  A file that is not an
 * image, or from another kind of host, or of a newer version, or cut
 * short, or changed by a single bit, is refused with a message that says
 * which, and nothing is created.
 *
 * The image format (docs/xlite-domains.md, "Save images"), integers
 * little-endian:
 *
 *   0   8  magic "XLITESAV"
 *   8   4  version (1)
 *   12  4  header length (48)
 *   16  8  config length C
 *   24  8  application data length A
 *   32  8  guest state length S
 *   40  8  the hypervisor backend that saved it ("sim", "xen"), NUL padded
 *   48  C  the config, JSON (xlite_domain_config_to_json)
 *       A  application data
 *       S  guest state, the backend's own format
 *       32 SHA-256 of everything before it
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xlite_internal.h"
#include "xlite_dom_internal.h"

#define SAVE_MAGIC "XLITESAV"
#define SAVE_VERSION 1
#define SAVE_HEADER_LEN 48
#define SAVE_DIGEST_LEN 32
#define SAVE_CONFIG_MAX (4 * 1024 * 1024)
#define SAVE_DATA_MAX (16 * 1024 * 1024)
#define SAVE_STATE_MAX ((uint64_t)64 * 1024 * 1024)
/* How long a guest may take to suspend (libxl waits as long). */
#define SAVE_SUSPEND_TIMEOUT (60 * G_USEC_PER_SEC)

/* ---------- the file ---------- */

static void
put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = v >> (8 * i);
}

static void
put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = v >> (8 * i);
}

static uint32_t
get_le32(const uint8_t *p)
{
    uint32_t v = 0;

    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t
get_le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int
write_all(xlite_ctx *ctx, int fd, const char *path, const void *buf,
          size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t r = write(fd, p, len);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return XLITE_ERROR(ctx, -errno, "cannot write save image '%s': "
                               "%s", path, g_strerror(errno));
        p += r;
        len -= r;
    }
    return 0;
}

/*
 * Writes the image to a new file beside @path (mode 0600), then renames it
 * over @path: an image that exists is complete, and a failed save leaves
 * what was at @path as it was.
 */
static int
image_write(xlite_ctx *ctx, const char *path, const char *config,
            const void *data, size_t data_len, const char *state,
            size_t state_len)
{
    g_autofree char *tmp = g_strdup_printf("%s.tmp-%08x", path,
                                           g_random_int());
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    const char *backend = ctx->hv->name;
    uint8_t header[SAVE_HEADER_LEN] = { 0 };
    uint8_t digest[SAVE_DIGEST_LEN];
    gsize digest_len = sizeof(digest);
    size_t config_len = strlen(config);
    int fd;
    int rc;

    memcpy(header, SAVE_MAGIC, 8);
    put_le32(header + 8, SAVE_VERSION);
    put_le32(header + 12, SAVE_HEADER_LEN);
    put_le64(header + 16, config_len);
    put_le64(header + 24, data_len);
    put_le64(header + 32, state_len);
    memcpy(header + 40, backend, MIN(strlen(backend), 8));
    g_checksum_update(sum, header, sizeof(header));
    g_checksum_update(sum, (const guchar *)config, config_len);
    if (data_len)
        g_checksum_update(sum, data, data_len);
    g_checksum_update(sum, (const guchar *)state, state_len);
    g_checksum_get_digest(sum, digest, &digest_len);

    if ((fd = xlite__open(ctx, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
        return fd;
    if ((rc = write_all(ctx, fd, path, header, sizeof(header))) < 0 ||
        (rc = write_all(ctx, fd, path, config, config_len)) < 0 ||
        (rc = write_all(ctx, fd, path, data, data_len)) < 0 ||
        (rc = write_all(ctx, fd, path, state, state_len)) < 0 ||
        (rc = write_all(ctx, fd, path, digest, sizeof(digest))) < 0)
        goto fail;
    if (fsync(fd) < 0) {
        rc = XLITE_ERROR(ctx, -errno, "cannot write save image '%s': %s",
                         path, g_strerror(errno));
        goto fail;
    }
    xlite__close(&fd);
    if (rename(tmp, path) < 0) {
        rc = XLITE_ERROR(ctx, -errno, "cannot write save image '%s': %s",
                         path, g_strerror(errno));
        goto fail;
    }
    return 0;

 fail:
    xlite__close(&fd);
    unlink(tmp);
    return rc;
}

/* An image read and checked: every section in memory. */
typedef struct {
    char *buf;                 /* the whole file */
    size_t len;
    const char *config;        /* NUL-terminated copies below */
    char *config_copy;
    const char *data;
    size_t data_len;
    const char *state;
    size_t state_len;
} save_image;

static void
image_dispose(save_image *img)
{
    g_free(img->buf);
    g_free(img->config_copy);
    memset(img, 0, sizeof(*img));
}

/* An image whose content is damaged: -EBADMSG.  (Not an image at all is
 * -EINVAL; an image of another version or kind of host, -ENOTSUP.) */
static int
image_corrupt(xlite_ctx *ctx, const char *path, const char *why)
{
    return XLITE_ERROR(ctx, -EBADMSG, "'%s' is not a valid save image: %s",
                       path, why);
}

/* Reads the whole file, at most @max bytes (more: an error). */
static int
read_file(xlite_ctx *ctx, const char *path, size_t max, char **buf_r,
          size_t *len_r)
{
    g_autofree char *buf = NULL;
    size_t len = 0, cap = 64 * 1024;
    struct stat st;
    int fd;
    int rc = 0;

    if ((fd = xlite__open(ctx, path, O_RDONLY | O_NOCTTY, 0)) < 0)
        return fd;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = XLITE_ERROR(ctx, -EINVAL, "'%s' is not a valid save image: "
                         "not a regular file", path);
        goto out;
    }
    buf = g_malloc(cap);
    for (;;) {
        ssize_t r;

        if (len == cap) {
            if (cap > max) {
                rc = image_corrupt(ctx, path, "it is too large");
                goto out;
            }
            cap *= 2;
            buf = g_realloc(buf, cap);
        }
        r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = XLITE_ERROR(ctx, -errno, "cannot read save image '%s': %s",
                             path, g_strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += r;
    }
    if (len > max) {
        rc = image_corrupt(ctx, path, "it is too large");
        goto out;
    }
    *buf_r = g_steal_pointer(&buf);
    *len_r = len;
 out:
    xlite__close(&fd);
    return rc;
}

static int
image_read(xlite_ctx *ctx, const char *path, save_image *img)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    uint8_t digest[SAVE_DIGEST_LEN];
    gsize digest_len = sizeof(digest);
    const uint8_t *h;
    uint64_t config_len, data_len, state_len;
    char backend[9] = { 0 };
    int rc;

    memset(img, 0, sizeof(*img));
    if (!path)
        return XLITE_ERROR(ctx, -EINVAL, "a save image path is required");
    if ((rc = read_file(ctx, path, SAVE_HEADER_LEN + SAVE_CONFIG_MAX +
                        SAVE_DATA_MAX + SAVE_STATE_MAX + SAVE_DIGEST_LEN,
                        &img->buf, &img->len)) < 0)
        return rc;
    h = (const uint8_t *)img->buf;
    if (img->len < 8 || memcmp(h, SAVE_MAGIC, 8) != 0) {
        rc = XLITE_ERROR(ctx, -EINVAL, "'%s' is not a valid save image: it "
                         "does not start with the save image magic", path);
        goto fail;
    }
    if (img->len < SAVE_HEADER_LEN + SAVE_DIGEST_LEN) {
        rc = image_corrupt(ctx, path, "it is truncated");
        goto fail;
    }
    if (get_le32(h + 8) != SAVE_VERSION) {
        rc = XLITE_ERROR(ctx, -ENOTSUP, "save image '%s' has version %u; "
                         "this toolstack reads version %u", path,
                         get_le32(h + 8), SAVE_VERSION);
        goto fail;
    }
    config_len = get_le64(h + 16);
    data_len = get_le64(h + 24);
    state_len = get_le64(h + 32);
    if (get_le32(h + 12) != SAVE_HEADER_LEN ||
        config_len > SAVE_CONFIG_MAX || data_len > SAVE_DATA_MAX ||
        state_len > SAVE_STATE_MAX) {
        rc = image_corrupt(ctx, path, "its header is corrupt");
        goto fail;
    }
    if (img->len != SAVE_HEADER_LEN + config_len + data_len + state_len +
        SAVE_DIGEST_LEN) {
        rc = image_corrupt(ctx, path,
                           img->len < SAVE_HEADER_LEN + config_len + data_len +
                           state_len + SAVE_DIGEST_LEN ?
                           "it is truncated" : "it has trailing data");
        goto fail;
    }
    g_checksum_update(sum, h, img->len - SAVE_DIGEST_LEN);
    g_checksum_get_digest(sum, digest, &digest_len);
    if (memcmp(digest, h + img->len - SAVE_DIGEST_LEN, SAVE_DIGEST_LEN)) {
        rc = image_corrupt(ctx, path, "its checksum does not match (the "
                           "file is corrupt)");
        goto fail;
    }
    memcpy(backend, h + 40, 8);
    if (strcmp(backend, ctx->hv->name) != 0) {
        g_autofree char *safe = g_strcanon(g_strdup(backend),
                                           G_CSET_a_2_z G_CSET_A_2_Z
                                           "0123456789", '?');

        rc = XLITE_ERROR(ctx, -ENOTSUP, "save image '%s' was made on a '%s' "
                         "host, this one is '%s'", path, safe,
                         ctx->hv->name);
        goto fail;
    }
    img->config_copy = g_strndup(img->buf + SAVE_HEADER_LEN, config_len);
    if (strlen(img->config_copy) != config_len) {
        rc = image_corrupt(ctx, path, "its config holds a NUL byte");
        goto fail;
    }
    img->config = img->config_copy;
    img->data = img->buf + SAVE_HEADER_LEN + config_len;
    img->data_len = data_len;
    img->state = img->data + data_len;
    img->state_len = state_len;
    return 0;

 fail:
    image_dispose(img);
    return rc;
}

XLITE_EXPORT int
xlite_save_image_read(xlite_ctx *ctx, const char *path,
                      xlite_domain_config *cfg_r, char **data_r,
                      size_t *data_len_r)
{
    save_image img;
    xlite_domain_config cfg;
    int rc;

    xlite_domain_config_init(&cfg);
    CTX_LOCK(ctx);
    if ((rc = image_read(ctx, path, &img)) < 0)
        goto out;
    if (cfg_r && (rc = xlite_domain_config_from_json(img.config, &cfg)) < 0) {
        rc = image_corrupt(ctx, path, "its domain config does not parse");
        goto out;
    }
    if (data_r) {
        /* One more byte: a NUL, for data that is text. */
        *data_r = g_malloc(img.data_len + 1);
        memcpy(*data_r, img.data, img.data_len);
        (*data_r)[img.data_len] = '\0';
        if (data_len_r)
            *data_len_r = img.data_len;
    }
    if (cfg_r) {
        *cfg_r = cfg;
        xlite_domain_config_init(&cfg);
    }
 out:
    image_dispose(&img);
    xlite_domain_config_dispose(&cfg);
    CTX_UNLOCK(ctx);
    return rc;
}

XLITE_EXPORT int
xlite_save_image_set_data(xlite_ctx *ctx, const char *path, const void *data,
                          size_t data_len)
{
    save_image img;
    int rc;

    if (data_len > SAVE_DATA_MAX)
        return XLITE_ERROR(ctx, -E2BIG, "application data of %zu bytes is "
                           "more than a save image holds", data_len);
    CTX_LOCK(ctx);
    if ((rc = image_read(ctx, path, &img)) == 0) {
        rc = image_write(ctx, path, img.config, data, data_len, img.state,
                         img.state_len);
        image_dispose(&img);
    }
    CTX_UNLOCK(ctx);
    return rc;
}

/* ---------- save ---------- */

typedef struct {
    /* caller */
    xlite__ao *ao;
    uint32_t domid;
    char *path;
    char *data;
    size_t data_len;
    /* private */
    char *config;                  /* JSON, as retrieved at the start */
    xlite__xswait suspended;
} save_state;

static int save_suspend_check(xlite__egc *egc, xlite__xswait *xw,
                              const xlite__xswait_dom *dom);
static int save_suspend_timedout(xlite__egc *egc, xlite__xswait *xw);
static void save_suspended(xlite__egc *egc, xlite__xswait *xw, int rc);

static void
save_state_free(save_state *ss)
{
    g_free(ss->path);
    g_free(ss->data);
    g_free(ss->config);
    g_free(ss);
}

static char *
control_shutdown_path(uint32_t domid)
{
    return g_strdup_printf("/local/domain/%u/control/shutdown", domid);
}

XLITE_EXPORT int
xlite_domain_save(xlite_ctx *ctx, uint32_t domid, const char *path,
                  const void *data, size_t data_len,
                  const xlite_async_how *how)
{
    xlite_domain_config cfg;
    g_autofree char *control = NULL;
    struct xs_handle *xsh;
    xlite_dominfo info;
    save_state *ss = NULL;
    xlite__ao *ao;
    int rc;
    EGC_INIT(ctx);

    if (!path || !*path)
        return XLITE_ERROR(ctx, -EINVAL, "a save image path is required");
    if (data_len > SAVE_DATA_MAX)
        return XLITE_ERROR(ctx, -E2BIG, "application data of %zu bytes is "
                           "more than a save image holds", data_len);
    xlite_domain_config_init(&cfg);
    CTX_LOCK(ctx);
    if (!ctx->hv->dom_save_state) {
        rc = XLITE_ERROR(ctx, -ENOTSUP, "the '%s' hypervisor backend cannot "
                         "save domains", ctx->hv->name);
        goto out;
    }
    if ((rc = xlite__dom_info(ctx, domid, &info)) < 0)
        goto out;
    if (info.shutdown || info.dying) {
        rc = XLITE_ERROR(ctx, -EINVAL, "domain %u is not running", domid);
        goto out;
    }
    /* The guest suspends itself: paused, it never would. */
    if (info.paused) {
        rc = XLITE_ERROR(ctx, -EINVAL, "domain %u is paused: its guest "
                         "cannot suspend", domid);
        goto out;
    }
    ss = g_new0(save_state, 1);
    ss->domid = domid;
    ss->path = g_strdup(path);
    ss->data = g_memdup2(data, data_len);
    ss->data_len = data_len;
    /* The config as it is now: the devices attached since the create. */
    if ((rc = xlite_retrieve_domain_config(ctx, domid, &cfg)) < 0 ||
        (rc = xlite_domain_config_to_json(&cfg, &ss->config)) < 0)
        goto out;
    if (!(xsh = xlite__xs(ctx))) {
        rc = -EIO;
        goto out;
    }
    control = control_shutdown_path(domid);
    if (!xs_write(xsh, XBT_NULL, control, "suspend", strlen("suspend"))) {
        rc = XLITE_ERROR(ctx, -errno, "cannot ask domain %u to suspend: %s",
                         domid, g_strerror(errno));
        goto out;
    }
    ao = xlite__ao_create(ctx, how);
    ss->ao = ao;
    xlite__xswait_init(&ss->suspended);
    ss->suspended.ao = ao;
    ss->suspended.abortable = true;
    ss->suspended.what = "the guest's suspend";
    ss->suspended.watch_domain = true;
    ss->suspended.domid = domid;
    ss->suspended.timeout_usec = SAVE_SUSPEND_TIMEOUT;
    ss->suspended.check = save_suspend_check;
    ss->suspended.timedout = save_suspend_timedout;
    ss->suspended.callback = save_suspended;
    if ((rc = xlite__xswait_start(egc, &ss->suspended)) < 0) {
        xs_write(xsh, XBT_NULL, control, "", 0);
        xlite__ao_create_fail(ao);
        goto out;
    }
    ss = NULL;
    rc = xlite__ao_inprogress(egc, ao);

 out:
    if (ss)
        save_state_free(ss);
    xlite_domain_config_dispose(&cfg);
    CTX_UNLOCK(ctx);
    EGC_FREE;
    return rc;
}

static int
save_suspend_check(xlite__egc *egc, xlite__xswait *xw,
                   const xlite__xswait_dom *dom)
{
    if (dom->rc < 0)
        return dom->rc;
    if (!dom->info || dom->info->dying)
        return XLITE_ERROR(egc->ctx, -ESRCH, "domain %u went away while "
                           "it was being saved", xw->domid);
    if (!dom->info->shutdown)
        return XLITE__XSWAIT_PENDING;
    if (dom->info->shutdown_reason != XLITE_SHUTDOWN_SUSPEND)
        return XLITE_ERROR(egc->ctx, -EIO, "domain %u shut down instead of "
                           "suspending", xw->domid);
    return 0;
}

/* The guest never answered: take the request back, as libxl does, so that
 * it does not suspend later with nobody saving it. */
static int
save_suspend_timedout(xlite__egc *egc, xlite__xswait *xw)
{
    g_autofree char *control = control_shutdown_path(xw->domid);
    struct xs_handle *xsh = xlite__xs(egc->ctx);

    if (xsh)
        xs_write(xsh, XBT_NULL, control, "", 0);
    return XLITE_ERROR(egc->ctx, -ETIMEDOUT, "domain %u did not suspend "
                       "within %.0f s: the guest ignored the request",
                       xw->domid, xw->timeout_usec / 1e6);
}

static void
save_suspended(xlite__egc *egc, xlite__xswait *xw, int rc)
{
    save_state *ss = XLITE__CONTAINER_OF(xw, save_state, suspended);
    xlite_ctx *ctx = egc->ctx;
    xlite__ao *ao = ss->ao;
    g_autofree char *state = NULL;
    size_t state_len = 0;

    if (rc == -ECANCELED) {
        g_autofree char *control = control_shutdown_path(ss->domid);
        struct xs_handle *xsh = xlite__xs(ctx);

        if (xsh)
            xs_write(xsh, XBT_NULL, control, "", 0);
    }
    if (rc < 0)
        goto out;
    /* From here on the guest is suspended: a failure leaves it so, for
     * the caller to destroy or keep. */
    if ((rc = ctx->hv->dom_save_state(ctx, ctx->hv_state, ss->domid, &state,
                                      &state_len)) < 0)
        goto out;
    if (state_len > SAVE_STATE_MAX) {
        rc = XLITE_ERROR(ctx, -E2BIG, "the state of domain %u is larger "
                         "than a save image holds", ss->domid);
        goto out;
    }
    rc = image_write(ctx, ss->path, ss->config, ss->data, ss->data_len,
                     state, state_len);
    if (rc == 0)
        XLITE_LOG(ctx, XLITE_LOG_INFO, "domain %u saved to %s (%zu bytes "
                  "of guest state)", ss->domid, ss->path, state_len);
 out:
    save_state_free(ss);
    xlite__ao_complete(egc, ao, rc);
}

/* ---------- restore ---------- */

XLITE_EXPORT int
xlite_domain_restore(xlite_ctx *ctx, const char *path,
                     const xlite_domain_config *cfg, uint32_t *domid_r,
                     const xlite_async_how *how)
{
    xlite_domain_config image_cfg;
    save_image img = { 0 };
    int rc;

    if (!domid_r)
        return XLITE_ERROR(ctx, -EINVAL, "a result pointer is required");
    xlite_domain_config_init(&image_cfg);
    CTX_LOCK(ctx);
    if (!ctx->hv->dom_restore_state)
        rc = XLITE_ERROR(ctx, -ENOTSUP, "the '%s' hypervisor backend cannot "
                         "restore domains", ctx->hv->name);
    else if ((rc = image_read(ctx, path, &img)) == 0 &&
             xlite_domain_config_from_json(img.config, &image_cfg) < 0)
        rc = image_corrupt(ctx, path, "its domain config does not parse");
    else if (rc == 0 && cfg && memcmp(cfg->uuid, image_cfg.uuid, 16) != 0)
        rc = XLITE_ERROR(ctx, -EINVAL, "the config given to restore '%s' is "
                         "not that of the saved domain (another uuid)", path);
    CTX_UNLOCK(ctx);
    /* The create takes the lock itself and may call back: not held. */
    if (rc == 0)
        rc = xlite__domain_create_restore(ctx, cfg ? cfg : &image_cfg,
                                          img.state, img.state_len, domid_r,
                                          how);
    image_dispose(&img);
    xlite_domain_config_dispose(&image_cfg);
    return rc;
}
