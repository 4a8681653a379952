/*
 * xlite_aodev.c: one device added to or removed from a domain, and
 * several at once
 *
 * Every way a device comes or goes runs through here: a create adds all
 * of a domain's devices, a destroy (or an undone create) removes all of
 * them, and a hotplug adds or removes one (xlite_devop.c).  libxl's
 * libxl__ao_device and multidev are the model.
 *
 * add (its nodes are already written, in the caller's transaction):
 *   aodev_add_check: its backend ready (InitWait or Connected; a console:
 *   its daemon wrote the pty into the frontend's tty), failed, or the
 *   device timeout, or the ao's abort -> aodev_script: its "add" script,
 *   if it has one -> aodev_complete
 * remove:
 *   xlite__tell_backend_close -> aodev_remove_check: Closed, failed or
 *   gone (the device timeout: logged, the removal goes on) ->
 *   aodev_script: its "remove" script, if it has one (a failure is
 *   logged; the device goes anyway) -> its nodes go -> aodev_complete
 *
 * Xen's scripts take seconds each under emulation; a multidev runs every
 * device's steps at once, so a domain's devices cost the slowest one,
 * not their sum.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "xlite_dom_internal.h"

static void aodev_script(xlite__egc *egc, xlite__aodev *aodev);

void
xlite__aodev_init(xlite__aodev *aodev)
{
    memset(aodev, 0, sizeof(*aodev));
    xlite__xswait_init(&aodev->xswait);
    xlite__spawn_init(&aodev->spawn);
}

static bool
is_console(const xlite__aodev *aodev)
{
    return aodev->dev.kind == &xlite__devkinds[XLITE__DEVKIND_CONSOLE];
}

static void
argv_env_clear(xlite__aodev *aodev)
{
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(aodev->argv); i++)
        g_clear_pointer(&aodev->argv[i], g_free);
    for (i = 0; i < G_N_ELEMENTS(aodev->env); i++)
        g_clear_pointer(&aodev->env[i], g_free);
}

void
xlite__aodev_dispose(xlite__aodev *aodev)
{
    argv_env_clear(aodev);
    xlite__device_dispose(&aodev->dev);
}

static void
aodev_complete(xlite__egc *egc, xlite__aodev *aodev, int rc)
{
    argv_env_clear(aodev);
    aodev->rc = rc;
    aodev->callback(egc, aodev);
}

/* A printable, bounded copy of what a backend wrote as its error. */
static char *
sanitize(const char *s)
{
    char *copy = g_strndup(s ? s : "", 200);
    char *p;

    for (p = copy; *p; p++)
        if (!g_ascii_isprint(*p))
            *p = '?';
    return copy;
}

static uint64_t
backend_state(xlite_ctx *ctx, const char *be)
{
    g_autofree char *path = g_strdup_printf("%s/state", be);
    uint64_t state = 0;

    if (xlite__xs_read_uint(ctx, path, 16, &state) < 0)
        return 0;
    return state;
}

static char *
backend_error(xlite_ctx *ctx, const char *be)
{
    g_autofree char *path = g_strdup_printf("%s/hotplug-error", be);

    return xlite__xs_read_bounded(ctx, path, 1024);
}

/* ---------- waiting ---------- */

/* Add: the backend ready; a console served (a pty in its tty). */
static int
aodev_add_check(xlite__egc *egc, xlite__xswait *xw,
                const xlite__xswait_dom *dom)
{
    xlite__aodev *aodev = XLITE__CONTAINER_OF(xw, xlite__aodev, xswait);
    const char *be = aodev->dev.backend;
    xlite_ctx *ctx = egc->ctx;
    g_autofree char *errtext = backend_error(ctx, be);
    uint64_t state = backend_state(ctx, be);

    if (is_console(aodev)) {
        g_autofree char *tty = xlite__console_tty(ctx, aodev->dev.frontend);

        if (tty && *tty)
            return 0;
    } else if (!errtext && (state == XENBUS_STATE_INITWAIT ||
                            state == XENBUS_STATE_CONNECTED)) {
        return 0;
    }
    if (errtext || state == XENBUS_STATE_CLOSING ||
        state == XENBUS_STATE_CLOSED) {
        g_autofree char *clean = NULL;

        if (!errtext) {
            /* The generic error node of the backend, if any. */
            g_autofree char *errnode = g_strdup_printf(
                "/local/domain/0/error%s/error",
                be + strlen("/local/domain/0"));

            errtext = xlite__xs_read_bounded(ctx, errnode, 1024);
        }
        clean = sanitize(errtext ? errtext : "it closed");
        return XLITE_ERROR(ctx, -EIO, "the backend %s failed: %s", be, clean);
    }
    return XLITE__XSWAIT_PENDING;
}

static int
aodev_add_timedout(xlite__egc *egc, xlite__xswait *xw)
{
    xlite__aodev *aodev = XLITE__CONTAINER_OF(xw, xlite__aodev, xswait);
    int rc = aodev_add_check(egc, xw, NULL);

    /* Ready (or failed) just as the timer fired. */
    if (rc != XLITE__XSWAIT_PENDING)
        return rc;
    if (is_console(aodev))
        return XLITE_ERROR(egc->ctx, -ETIMEDOUT, "no pty for console %d of "
                           "domain %u within %.1f s: is xenconsoled "
                           "running?", aodev->dev.devid, aodev->domid,
                           xlite__device_timeout() / 1e6);
    return XLITE_ERROR(egc->ctx, -ETIMEDOUT, "the backend of %s did not "
                       "connect within %.1f s", aodev->dev.backend,
                       xlite__device_timeout() / 1e6);
}

/* Remove: the backend Closed, failed (Closing with a hotplug-error) or
 * gone; a console's also once its frontend answered (Linux's hvc_xen
 * closes its side, and xenconsoled never moves the backend). */
static int
aodev_remove_check(xlite__egc *egc, xlite__xswait *xw,
                   const xlite__xswait_dom *dom)
{
    xlite__aodev *aodev = XLITE__CONTAINER_OF(xw, xlite__aodev, xswait);
    xlite_ctx *ctx = egc->ctx;
    uint64_t state = backend_state(ctx, aodev->dev.backend);
    g_autofree char *errtext = NULL;

    if (state == 0 || state == XENBUS_STATE_CLOSED)
        return 0;
    if (state == XENBUS_STATE_CLOSING &&
        (errtext = backend_error(ctx, aodev->dev.backend)))
        return 0;
    if (is_console(aodev) &&
        backend_state(ctx, aodev->dev.frontend) == XENBUS_STATE_CLOSED)
        return 0;
    return XLITE__XSWAIT_PENDING;
}

static int
aodev_remove_timedout(xlite__egc *egc, xlite__xswait *xw)
{
    xlite__aodev *aodev = XLITE__CONTAINER_OF(xw, xlite__aodev, xswait);

    XLITE_LOG(egc->ctx, XLITE_LOG_WARN, "domain %u: the backend %s did not "
              "close in time: removing it anyway", aodev->domid,
              aodev->dev.backend);
    return 0;
}

static void
aodev_waited(xlite__egc *egc, xlite__xswait *xw, int rc)
{
    xlite__aodev *aodev = XLITE__CONTAINER_OF(xw, xlite__aodev, xswait);

    if (aodev->action == XLITE__DEVICE_REMOVE) {
        /* A wait that could not be made is a wait cut short: the removal
         * goes on. */
        if (rc < 0)
            XLITE_LOG(egc->ctx, XLITE_LOG_WARN, "domain %u: not waiting "
                      "for %s to close: %s", aodev->domid,
                      aodev->dev.backend, xlite_errmsg());
        aodev_script(egc, aodev);
        return;
    }
    if (rc == 0 && xlite__ao_aborting(aodev->ao))
        rc = -ECANCELED;
    if (rc < 0) {
        aodev_complete(egc, aodev, rc);
        return;
    }
    aodev_script(egc, aodev);
}

/* Watches the backend directory (and a console's frontend) until the
 * check holds.  Abortable while adding; a removal runs while taking
 * things back. */
static void
aodev_wait(xlite__egc *egc, xlite__aodev *aodev)
{
    xlite__xswait *xw = &aodev->xswait;
    bool add = aodev->action == XLITE__DEVICE_ADD;
    int rc;

    aodev->paths[0] = aodev->dev.backend;
    aodev->paths[1] = aodev->dev.frontend;
    xw->ao = aodev->ao;
    xw->abortable = add;
    xw->what = add ? "a device's backend" : "a device's backend to close";
    xw->paths = aodev->paths;
    xw->npaths = is_console(aodev) ? 2 : 1;
    xw->timeout_usec = xlite__device_timeout();
    xw->check = add ? aodev_add_check : aodev_remove_check;
    xw->timedout = add ? aodev_add_timedout : aodev_remove_timedout;
    xw->callback = aodev_waited;
    if ((rc = xlite__xswait_start(egc, xw)) < 0)
        aodev_waited(egc, xw, rc);
}

/* ---------- the hotplug script ---------- */

static void
aodev_script_done(xlite__egc *egc, xlite__aodev *aodev, int rc)
{
    if (aodev->action == XLITE__DEVICE_ADD) {
        aodev_complete(egc, aodev, rc);
        return;
    }
    /* Removal goes on past a failing script: the device goes anyway. */
    if (rc < 0)
        XLITE_LOG(egc->ctx, XLITE_LOG_WARN, "domain %u: %s", aodev->domid,
                  xlite_errmsg());
    xlite__device_remove_nodes(egc->ctx, &aodev->dev);
    aodev_complete(egc, aodev, 0);
}

static void
aodev_script_death(xlite__egc *egc, xlite__spawn_state *ss, int rc,
                   int status)
{
    xlite__aodev *aodev = XLITE__CONTAINER_OF(ss, xlite__aodev, spawn);

    if (rc == -ETIMEDOUT)
        rc = XLITE_ERROR(egc->ctx, rc, "hotplug script %s of %s did not "
                         "finish in time", aodev->argv[0],
                         aodev->dev.backend);
    else if (rc == 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
        rc = XLITE_ERROR(egc->ctx, -EIO, "hotplug script %s of %s failed "
                         "(wait status %#x)", aodev->argv[0],
                         aodev->dev.backend, status);
    aodev_script_done(egc, aodev, rc);
}

/* "SCRIPT add" (or "remove", as the kind says), as libxl calls Xen's
 * scripts: XENBUS_PATH and friends in the environment, the interface's
 * kernel name in $vif for a vif, the hotplug timeout. */
static void
aodev_script(xlite__egc *egc, xlite__aodev *aodev)
{
    const xlite__device *dev = &aodev->dev;
    bool add = aodev->action == XLITE__DEVICE_ADD;
    const char *action = add ? dev->kind->script_add
                             : dev->kind->script_remove;
    xlite__spawn_state *ss = &aodev->spawn;
    int rc;

    if (!dev->script || !action || (!add && !aodev->with_script)) {
        aodev_script_done(egc, aodev, 0);
        return;
    }
    aodev->argv[0] = g_strdup(dev->script);
    aodev->argv[1] = g_strdup(action);
    aodev->argv[2] = g_strdup(dev->kind->script_arg);
    aodev->env[0] = g_strdup_printf("XENBUS_PATH=%s", dev->backend);
    aodev->env[1] = g_strdup_printf("XENBUS_TYPE=%s", dev->kind->name);
    aodev->env[2] = g_strdup("XENBUS_BASE_PATH=/local/domain/0/backend");
    aodev->env[3] = g_strdup_printf("XLITE_DOMID=%u", aodev->domid);
    aodev->env[4] = g_strdup_printf("script=%s", dev->script);
    if (dev->kind == &xlite__devkinds[XLITE__DEVKIND_VIF]) {
        /* The kernel's name: the script renames it to vifname. */
        aodev->env[5] = g_strdup_printf("vif=vif%u.%d", aodev->domid,
                                        dev->devid);
        aodev->env[6] = g_strdup("netdev=");
    }
    XLITE_LOG(egc->ctx, XLITE_LOG_DEBUG, "domain %u: %s %s for %s",
              aodev->domid, dev->script, action, dev->backend);
    xlite__spawn_init(ss);
    ss->ao = aodev->ao;
    ss->what = aodev->argv[0];
    ss->argv = (const char *const *)aodev->argv;
    ss->env = (const char *const *)aodev->env;
    ss->stdfds[0] = ss->stdfds[1] = ss->stdfds[2] = -1;
    ss->timeout_usec = xlite__hotplug_timeout();
    /* Taking a device down is not stopped by an abort (an aborted create
     * is undone with these very scripts). */
    ss->unabortable = !add;
    ss->death_cb = aodev_script_death;
    aodev->script_started = true;
    if ((rc = xlite__spawn(egc, ss)) < 0) {
        aodev->script_started = false;
        aodev_script_done(egc, aodev, XLITE_ERROR(egc->ctx, rc, "the "
                          "hotplug script of %s did not run: %s",
                          dev->backend, xlite_errmsg()));
    }
}

/* ---------- the operation ---------- */

void
xlite__aodev_start(xlite__egc *egc, xlite__aodev *aodev)
{
    if (aodev->action == XLITE__DEVICE_ADD) {
        aodev_wait(egc, aodev);
        return;
    }
    /*
     * Told to go; with force its frontend goes in the same transaction
     * (see xlite__tell_backend_close for why that order).  Nothing to
     * wait for if it is Closed, gone, or never taken by a driver.  A
     * console is not waited for when forced: xenconsoled never closes a
     * backend, and the guest that would answer is paused or dead.
     */
    if (!xlite__tell_backend_close(egc->ctx, aodev->dev.backend,
                                   aodev->force ? aodev->dev.frontend
                                                : NULL) ||
        (aodev->force && is_console(aodev))) {
        aodev_script(egc, aodev);
        return;
    }
    aodev_wait(egc, aodev);
}

bool
xlite__aodev_inuse(const xlite__aodev *aodev)
{
    return xlite__xswait_inuse(&aodev->xswait) ||
           xlite__ev_child_inuse(&aodev->spawn.child);
}

/* ---------- several at once ---------- */

static void multidev_one_done(xlite__egc *egc, xlite__aodev *aodev);

void
xlite__multidev_begin(xlite__multidev *md)
{
    md->aodevs = g_ptr_array_new();
    /* The one _prepared gives back: no callback before it. */
    md->pending = 1;
    md->rc = 0;
}

xlite__aodev *
xlite__multidev_prepare(xlite__multidev *md)
{
    xlite__aodev *aodev = g_new(xlite__aodev, 1);

    xlite__aodev_init(aodev);
    aodev->ao = md->ao;
    aodev->multidev = md;
    aodev->callback = multidev_one_done;
    g_ptr_array_add(md->aodevs, aodev);
    md->pending++;
    return aodev;
}

static void
multidev_check(xlite__egc *egc, xlite__multidev *md)
{
    if (--md->pending > 0)
        return;
    md->callback(egc, md, md->rc);
}

static void
multidev_one_done(xlite__egc *egc, xlite__aodev *aodev)
{
    xlite__multidev *md = aodev->multidev;

    if (aodev->rc < 0 && md->rc == 0)
        md->rc = aodev->rc;
    multidev_check(egc, md);
}

void
xlite__multidev_prepared(xlite__egc *egc, xlite__multidev *md, int rc)
{
    if (rc < 0 && md->rc == 0)
        md->rc = rc;
    multidev_check(egc, md);
}

void
xlite__multidev_dispose(xlite__multidev *md)
{
    size_t i;

    if (!md->aodevs)
        return;
    for (i = 0; i < md->aodevs->len; i++) {
        xlite__aodev *aodev = g_ptr_array_index(md->aodevs, i);

        g_assert(!xlite__aodev_inuse(aodev));
        xlite__aodev_dispose(aodev);
        g_free(aodev);
    }
    g_clear_pointer(&md->aodevs, g_ptr_array_unref);
}

int
xlite__multidev_add_all(xlite__egc *egc, xlite__multidev *md, uint32_t domid,
                        const xlite_domain_config *cfg)
{
    size_t i;
    int rc;

    for (i = 0; i < xlite__device_count(cfg); i++) {
        xlite__aodev *aodev = xlite__multidev_prepare(md);

        aodev->domid = domid;
        aodev->action = XLITE__DEVICE_ADD;
        if ((rc = xlite__device_of(egc->ctx, domid, cfg, i,
                                   &aodev->dev)) < 0) {
            /* Counted, never started: done at once, failed. */
            aodev->rc = rc;
            multidev_one_done(egc, aodev);
            return rc;
        }
        xlite__aodev_start(egc, aodev);
    }
    return 0;
}

void
xlite__multidev_remove_all(xlite__egc *egc, xlite__multidev *md,
                           uint32_t domid)
{
    g_autoptr(GPtrArray) devs = xlite__devices_of_xenstore(egc->ctx, domid);
    size_t i;

    for (i = 0; i < devs->len; i++) {
        xlite__aodev *aodev = xlite__multidev_prepare(md);
        xlite__device *dev = g_ptr_array_index(devs, i);

        aodev->domid = domid;
        aodev->action = XLITE__DEVICE_REMOVE;
        aodev->force = true;
        aodev->with_script = true;
        aodev->dev = *dev;
        memset(dev, 0, sizeof(*dev));
        xlite__aodev_start(egc, aodev);
    }
}
