/*
 * test-blockjob.c: block jobs through a real qemu-storage-daemon
 *
 * A private simulated host runs a domain whose disk is a real qcow2 image
 * (made with qemu-img, filled with qemu-io); the core starts the domain's
 * disk server on the first job and the tests check, against the images
 * themselves:
 *  - copy: READY once, pivot, COMPLETED once, the copy identical to the
 *    source (qemu-img compare), the stored config naming the copy; a
 *    second abort finds no job;
 *  - copy aborted after READY: CANCELED (not COMPLETED), config unchanged;
 *  - pivot before READY refused (-EBUSY), set speed, abort while aborting
 *    refused (-EALREADY);
 *  - pull: the top image no longer needs its backing file;
 *  - another context (the next virsh process in embedded mode) finds the
 *    server and the job, and pivots it;
 *  - the server killed mid-job: FAILED, no hang;
 *  - a disk snapshot: the overlay on top (stored config, its backing
 *    file), refused ones leave nothing; an active commit after it merges
 *    the overlay down; a resize grows the image, never shrinks it;
 *  - destroy stops the server and removes its files.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "domtest.h"
#include "qmppeer.h"

#define MIB (1024 * 1024)
#define EVENT_TIMEOUT (20 * G_USEC_PER_SEC)

static bool
have_qsd(void)
{
    g_autofree char *qsd = g_find_program_in_path("qemu-storage-daemon");
    g_autofree char *img = g_find_program_in_path("qemu-img");

    return qsd && img;
}

static void
run(const char *cmdline)
{
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;
    int status = 0;

    if (!g_spawn_command_line_sync(cmdline, &out, &err, &status, &error))
        g_error("%s: %s", cmdline, error->message);
    if (!g_spawn_check_wait_status(status, NULL))
        g_error("%s failed: %s%s", cmdline, out, err);
}

static int
run_status(const char *cmdline)
{
    int status = 0;

    g_assert_true(g_spawn_command_line_sync(cmdline, NULL, NULL, &status,
                                            NULL));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A qcow2 image of size MiB with pattern bytes in its first MiB's. */
static char *
make_image(simhost *sh, const char *name, int size, int written,
           const char *backing)
{
    char *path = g_build_filename(sh->dir, name, NULL);
    g_autofree char *cmd = NULL;

    if (backing)
        cmd = g_strdup_printf("qemu-img create -q -f qcow2 -b %s -F qcow2 "
                              "%s", backing, path);
    else
        cmd = g_strdup_printf("qemu-img create -q -f qcow2 %s %dM", path,
                              size);
    run(cmd);
    if (written) {
        g_autofree char *io = g_strdup_printf("qemu-io -f qcow2 -c "
                                              "'write -P 0x5a 0 %dM' %s",
                                              written, path);
        run(io);
    }
    return path;
}

typedef struct {
    simhost *sh;
    xlite_ctx *ctx;
    uint32_t domid;
    xlite_evgen *gen;
    char *disk;
} fixture;

static void
fixture_start(fixture *f, const char *name, const char *disk)
{
    xlite_domain_config cfg;
    xlite_disk_config *d;

    f->ctx = simhost_ctx(f->sh);
    f->disk = g_strdup(disk);
    domtest_config(&cfg, name, f->sh->kernel);
    d = xlite_domain_config_add_disk(&cfg);
    d->vdev = g_strdup("xvda");
    d->target = g_strdup(disk);
    d->format = XLITE_DISK_FORMAT_QCOW2;
    d->backend = XLITE_DISK_BACKEND_QDISK;
    if (xlite_domain_create(f->ctx, &cfg, &f->domid, NULL) < 0)
        g_error("create: %s", xlite_errmsg());
    xlite_domain_config_dispose(&cfg);
    g_assert_cmpint(xlite_evenable_domain(f->ctx, f->domid,
                                          XLITE_EVENTMASK(XLITE_EVENT_BLOCK_JOB),
                                          7, &f->gen), ==, 0);
}

static char *
server_dir(fixture *f)
{
    return g_strdup_printf("%s/qsd/%u", f->sh->state_dir, f->domid);
}

static pid_t
server_pid(fixture *f)
{
    g_autofree char *dir = server_dir(f);
    g_autofree char *path = g_strdup_printf("%s/pid", dir);
    g_autofree char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return 0;
    return (pid_t)atoi(text);
}

static void
fixture_stop(fixture *f)
{
    g_autofree char *dir = server_dir(f);
    pid_t pid = server_pid(f);

    xlite_evdisable(f->ctx, f->gen);
    g_assert_cmpint(xlite_domain_destroy(f->ctx, f->domid, NULL), ==, 0);
    /* The server is stopped and its files are gone. */
    g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
    /* Destroy waited for it: its images are closed and flushed. */
    if (pid > 0) {
        g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
        g_autofree char *stat = NULL;

        if (g_file_get_contents(path, &stat, NULL, NULL))
            g_assert_nonnull(strstr(stat, ") Z "));
    }
    domtest_assert_gone(f->sh, f->ctx, f->domid);
    xlite_ctx_free(f->ctx);
    g_free(f->disk);
}

static xlite_block_job_status
wait_job_event(xlite_ctx *ctx, xlite_block_job_type type)
{
    xlite_event *ev = NULL;
    xlite_block_job_status st;

    if (xlite_event_wait(ctx, XLITE_EVENTMASK(XLITE_EVENT_BLOCK_JOB), NULL,
                         NULL, EVENT_TIMEOUT, &ev) < 0)
        g_error("no block job event: %s", xlite_errmsg());
    g_assert_cmpstr(ev->u.block_job.disk, ==, "xvda");
    g_assert_cmpint(ev->u.block_job.job, ==, type);
    g_assert_cmpuint(ev->for_user, ==, 7);
    st = ev->u.block_job.status;
    xlite_event_free(ev);
    return st;
}

static void
assert_no_job_event(xlite_ctx *ctx, int64_t usec)
{
    xlite_event *ev = NULL;

    g_assert_cmpint(xlite_event_wait(ctx,
                                     XLITE_EVENTMASK(XLITE_EVENT_BLOCK_JOB),
                                     NULL, NULL, usec, &ev), ==, -ETIMEDOUT);
}

static char *
stored_target(fixture *f)
{
    xlite_domain_config cfg;
    char *target;

    xlite_domain_config_init(&cfg);
    g_assert_cmpint(xlite_retrieve_domain_config(f->ctx, f->domid, &cfg), ==,
                    0);
    g_assert_cmpuint(cfg.num_disks, >=, 1);
    target = g_strdup(cfg.disks[0].target);
    xlite_domain_config_dispose(&cfg);
    return target;
}

static void
test_copy_pivot(void)
{
    g_autofree char *src = NULL;
    g_autofree char *dest = NULL;
    g_autofree char *cmp = NULL;
    g_autofree char *target = NULL;
    xlite_block_job_params p = { 0 };
    xlite_block_job_info info;
    leak_check lc;
    fixture f = { 0 };

    leak_check_begin(&lc);
    f.sh = simhost_start();
    src = make_image(f.sh, "src.qcow2", 64, 8, NULL);
    dest = g_build_filename(f.sh->dir, "copy.qcow2", NULL);
    fixture_start(&f, "copy", src);

    /* No job yet: no server either. */
    g_assert_cmpint(xlite_block_job_get_info(f.ctx, f.domid, "xvda", &info,
                                             NULL), ==, -ENOENT);
    g_assert_cmpint(xlite_block_job_abort(f.ctx, f.domid, "xvda", false,
                                          NULL), ==, -ENOENT);

    p.type = XLITE_BLOCK_JOB_COPY;
    p.vdev = "xvda";
    p.dest = dest;
    if (xlite_block_job_start(f.ctx, f.domid, &p, NULL) < 0)
        g_error("copy: %s", xlite_errmsg());
    g_assert_cmpint(server_pid(&f), >, 0);
    /* One job per disk. */
    g_assert_cmpint(xlite_block_job_start(f.ctx, f.domid, &p, NULL), ==,
                    -EBUSY);
    g_assert_cmpint(wait_job_event(f.ctx, XLITE_BLOCK_JOB_COPY), ==,
                    XLITE_BLOCK_JOB_READY);
    g_assert_cmpint(xlite_block_job_get_info(f.ctx, f.domid, "xvda", &info,
                                             NULL), ==, 0);
    g_assert_cmpint(info.type, ==, XLITE_BLOCK_JOB_COPY);
    g_assert_cmpint(info.state, ==, XLITE_BLOCK_JOB_STATE_READY);
    g_assert_true(info.ready);
    g_assert_cmpuint(info.cur, ==, info.end);
    g_assert_cmpuint(info.end, >=, 8 * MIB);

    g_assert_cmpint(xlite_block_job_abort(f.ctx, f.domid, "xvda", true,
                                          NULL), ==, 0);
    g_assert_cmpint(wait_job_event(f.ctx, XLITE_BLOCK_JOB_COPY), ==,
                    XLITE_BLOCK_JOB_COMPLETED);
    assert_no_job_event(f.ctx, 200 * 1000);
    /* Exactly one terminal event, and then no job. */
    g_assert_cmpint(xlite_block_job_abort(f.ctx, f.domid, "xvda", false,
                                          NULL), ==, -ENOENT);
    target = stored_target(&f);
    g_assert_cmpstr(target, ==, dest);
    /* Compared once the server is stopped (destroy waits for it): until
     * then its cache may hold metadata not yet on disk. */
    fixture_stop(&f);
    cmp = g_strdup_printf("qemu-img compare %s %s", src, dest);
    g_assert_cmpint(run_status(cmp), ==, 0);
    simhost_free(f.sh);
    leak_check_end(&lc);
}

static void
test_copy_cancel_and_checks(void)
{
    g_autofree char *src = NULL;
    g_autofree char *dest = NULL;
    g_autofree char *target = NULL;
    xlite_block_job_params p = { 0 };
    xlite_block_job_info info;
    leak_check lc;
    fixture f = { 0 };

    leak_check_begin(&lc);
    f.sh = simhost_start();
    src = make_image(f.sh, "src.qcow2", 128, 64, NULL);
    dest = g_build_filename(f.sh->dir, "copy.qcow2", NULL);
    fixture_start(&f, "cancel", src);

    /* Slow enough never to be ready during the test (QEMU copies its
     * first buffer, 16 MiB, at once, and then keeps to the speed). */
    p.type = XLITE_BLOCK_JOB_COPY;
    p.vdev = "xvda";
    p.dest = dest;
    p.bandwidth = 64 * 1024;
    if (xlite_block_job_start(f.ctx, f.domid, &p, NULL) < 0)
        g_error("copy: %s", xlite_errmsg());
    g_assert_cmpint(xlite_block_job_abort(f.ctx, f.domid, "xvda", true,
                                          NULL), ==, -EBUSY);
    g_assert_cmpint(xlite_block_job_set_speed(f.ctx, f.domid, "xvda",
                                              128 * 1024, NULL), ==, 0);
    g_assert_cmpint(xlite_block_job_get_info(f.ctx, f.domid, "xvda", &info,
                                             NULL), ==, 0);
    g_assert_cmpuint(info.bandwidth, ==, 128 * 1024);
    g_assert_false(info.ready);
    g_assert_cmpuint(info.cur, <, info.end);

    g_assert_cmpint(xlite_block_job_abort(f.ctx, f.domid, "xvda", false,
                                          NULL), ==, 0);
    /* Ending already (or ended, if the cancel was that quick). */
    {
        int rc = xlite_block_job_abort(f.ctx, f.domid, "xvda", false, NULL);

        g_assert_true(rc == -EALREADY || rc == -ENOENT);
    }
    g_assert_cmpint(wait_job_event(f.ctx, XLITE_BLOCK_JOB_COPY), ==,
                    XLITE_BLOCK_JOB_CANCELED);
    assert_no_job_event(f.ctx, 200 * 1000);
    target = stored_target(&f);
    g_assert_cmpstr(target, ==, src);
    fixture_stop(&f);
    simhost_free(f.sh);
    leak_check_end(&lc);
}

static void
test_copy_abort_after_ready(void)
{
    g_autofree char *src = NULL;
    g_autofree char *dest = NULL;
    g_autofree char *target = NULL;
    xlite_block_job_params p = { 0 };
    leak_check lc;
    fixture f = { 0 };

    leak_check_begin(&lc);
    f.sh = simhost_start();
    src = make_image(f.sh, "src.qcow2", 64, 4, NULL);
    dest = g_build_filename(f.sh->dir, "copy.qcow2", NULL);
    fixture_start(&f, "abort-ready", src);
    p.type = XLITE_BLOCK_JOB_COPY;
    p.vdev = "xvda";
    p.dest = dest;
    g_assert_cmpint(xlite_block_job_start(f.ctx, f.domid, &p, NULL), ==, 0);
    g_assert_cmpint(wait_job_event(f.ctx, XLITE_BLOCK_JOB_COPY), ==,
                    XLITE_BLOCK_JOB_READY);
    /* QEMU ends a cancelled mirror in sync as "completed": for the user
     * it was aborted. */
    g_assert_cmpint(xlite_block_job_abort(f.ctx, f.domid, "xvda", false,
                                          NULL), ==, 0);
    g_assert_cmpint(wait_job_event(f.ctx, XLITE_BLOCK_JOB_COPY), ==,
                    XLITE_BLOCK_JOB_CANCELED);
    assert_no_job_event(f.ctx, 200 * 1000);
    target = stored_target(&f);
    g_assert_cmpstr(target, ==, src);
    fixture_stop(&f);
    simhost_free(f.sh);
    leak_check_end(&lc);
}

static void
test_pull(void)
{
    g_autofree char *base = NULL;
    g_autofree char *top = NULL;
    g_autofree char *info = NULL;
    g_autofree char *cmd = NULL;
    xlite_block_job_params p = { 0 };
    leak_check lc;
    fixture f = { 0 };

    leak_check_begin(&lc);
    f.sh = simhost_start();
    base = make_image(f.sh, "base.qcow2", 32, 4, NULL);
    top = make_image(f.sh, "top.qcow2", 0, 0, base);
    fixture_start(&f, "pull", top);
    p.type = XLITE_BLOCK_JOB_PULL;
    p.vdev = "xvda";
    if (xlite_block_job_start(f.ctx, f.domid, &p, NULL) < 0)
        g_error("pull: %s", xlite_errmsg());
    g_assert_cmpint(wait_job_event(f.ctx, XLITE_BLOCK_JOB_PULL), ==,
                    XLITE_BLOCK_JOB_COMPLETED);
    assert_no_job_event(f.ctx, 200 * 1000);
    /* The top image stands alone now, with the same contents. */
    fixture_stop(&f);
    cmd = g_strdup_printf("qemu-img info %s", top);
    g_assert_true(g_spawn_command_line_sync(cmd, &info, NULL, NULL, NULL));
    g_assert_null(strstr(info, "backing file"));
    g_free(cmd);
    /* Compared against the base's data, copied away first: the top must
     * not read through to the base any more. */
    cmd = g_strdup_printf("qemu-img compare %s %s", base, top);
    g_assert_cmpint(run_status(cmd), ==, 0);
    simhost_free(f.sh);
    leak_check_end(&lc);
}

static void
test_commit_and_active_commit(void)
{
    g_autofree char *base = NULL;
    g_autofree char *mid = NULL;
    g_autofree char *top = NULL;
    g_autofree char *target = NULL;
    g_autofree char *cmd = NULL;
    g_autofree char *out = NULL;
    xlite_block_job_params p = { 0 };
    xlite_block_job_info info;
    leak_check lc;
    fixture f = { 0 };

    leak_check_begin(&lc);
    f.sh = simhost_start();
    base = make_image(f.sh, "base.qcow2", 32, 4, NULL);
    mid = make_image(f.sh, "mid.qcow2", 0, 0, base);
    top = make_image(f.sh, "top.qcow2", 0, 0, mid);
    cmd = g_strdup_printf("qemu-io -f qcow2 -c 'write -P 0x22 4M 1M' %s", mid);
    run(cmd);
    g_free(cmd);
    cmd = g_strdup_printf("qemu-io -f qcow2 -c 'write -P 0x33 8M 1M' %s", top);
    run(cmd);
    g_free(cmd);
    fixture_start(&f, "commit", top);

    /* mid into base: one phase, the disk keeps its image. */
    p.type = XLITE_BLOCK_JOB_COMMIT;
    p.vdev = "xvda";
    p.top = mid;
    p.base = base;
    if (xlite_block_job_start(f.ctx, f.domid, &p, NULL) < 0)
        g_error("commit: %s", xlite_errmsg());
    g_assert_cmpint(wait_job_event(f.ctx, XLITE_BLOCK_JOB_COMMIT), ==,
                    XLITE_BLOCK_JOB_COMPLETED);
    target = stored_target(&f);
    g_assert_cmpstr(target, ==, top);
    g_clear_pointer(&target, g_free);

    /* The active image into the bottom of the chain (found by the core):
     * ready, pivot, and the disk is the base. */
    memset(&p, 0, sizeof(p));
    p.type = XLITE_BLOCK_JOB_ACTIVE_COMMIT;
    p.vdev = "xvda";
    if (xlite_block_job_start(f.ctx, f.domid, &p, NULL) < 0)
        g_error("active commit: %s", xlite_errmsg());
    g_assert_cmpint(wait_job_event(f.ctx, XLITE_BLOCK_JOB_ACTIVE_COMMIT), ==,
                    XLITE_BLOCK_JOB_READY);
    g_assert_cmpint(xlite_block_job_get_info(f.ctx, f.domid, "xvda", &info,
                                             NULL), ==, 0);
    g_assert_cmpint(info.type, ==, XLITE_BLOCK_JOB_ACTIVE_COMMIT);
    g_assert_cmpstr(info.dest, ==, base);
    g_assert_cmpint(xlite_block_job_abort(f.ctx, f.domid, "xvda", true,
                                          NULL), ==, 0);
    g_assert_cmpint(wait_job_event(f.ctx, XLITE_BLOCK_JOB_ACTIVE_COMMIT), ==,
                    XLITE_BLOCK_JOB_COMPLETED);
    assert_no_job_event(f.ctx, 200 * 1000);
    target = stored_target(&f);
    g_assert_cmpstr(target, ==, base);
    fixture_stop(&f);

    /* Everything went down into the base. */
    cmd = g_strdup_printf("qemu-io -f qcow2 -c 'read -P 0x5a 0 4M' "
                          "-c 'read -P 0x22 4M 1M' -c 'read -P 0x33 8M 1M' %s",
                          base);
    g_assert_true(g_spawn_command_line_sync(cmd, &out, NULL, NULL, NULL));
    g_assert_null(strstr(out, "Pattern verification failed"));
    simhost_free(f.sh);
    leak_check_end(&lc);
}

static uint64_t
virtual_size(const char *image)
{
    g_autofree char *cmd = g_strdup_printf("qemu-img info -U --output=json "
                                           "%s", image);
    g_autofree char *out = NULL;
    g_autoptr(JsonParser) p = json_parser_new();

    g_assert_true(g_spawn_command_line_sync(cmd, &out, NULL, NULL, NULL));
    g_assert_true(json_parser_load_from_data(p, out, -1, NULL));
    return json_object_get_int_member(
        json_node_get_object(json_parser_get_root(p)), "virtual-size");
}

static void
test_snapshot_commit_resize(void)
{
    g_autofree char *base = NULL;
    g_autofree char *ov = NULL;
    g_autofree char *other = NULL;
    g_autofree char *target = NULL;
    g_autofree char *cmd = NULL;
    g_autofree char *out = NULL;
    xlite_disk_snapshot snap = { .vdev = "xvda" };
    xlite_block_job_params p = { 0 };
    leak_check lc;
    fixture f = { 0 };

    leak_check_begin(&lc);
    f.sh = simhost_start();
    base = make_image(f.sh, "base.qcow2", 32, 4, NULL);
    ov = g_build_filename(f.sh->dir, "ov.qcow2", NULL);
    other = g_build_filename(f.sh->dir, "nowhere", "ov.qcow2", NULL);
    fixture_start(&f, "snapshot", base);

    /* Refused: nothing is left of them, the disk is as it was. */
    snap.overlay = other;
    g_assert_cmpint(xlite_disk_snapshot_create(f.ctx, f.domid, &snap, 1,
                                               false, NULL), ==, -EIO);
    g_assert_cmpint(xlite_disk_snapshot_create(f.ctx, f.domid, &snap, 1,
                                               true, NULL), ==, -EIO);
    snap.vdev = "xvdz";
    snap.overlay = ov;
    g_assert_cmpint(xlite_disk_snapshot_create(f.ctx, f.domid, &snap, 1,
                                               false, NULL), ==, -ENOENT);
    g_assert_false(g_file_test(ov, G_FILE_TEST_EXISTS));
    target = stored_target(&f);
    g_assert_cmpstr(target, ==, base);
    g_clear_pointer(&target, g_free);

    /* Taken: the overlay is the disk's image, the base its backing. */
    snap.vdev = "xvda";
    g_assert_cmpint(xlite_disk_snapshot_create(f.ctx, f.domid, &snap, 1,
                                               false, NULL), ==, 0);
    target = stored_target(&f);
    g_assert_cmpstr(target, ==, ov);
    g_clear_pointer(&target, g_free);
    g_assert_cmpint(xlite_disk_snapshot_create(f.ctx, f.domid, &snap, 1,
                                               false, NULL), ==, -EEXIST);
    cmd = g_strdup_printf("qemu-img info -U %s", ov);
    g_assert_true(g_spawn_command_line_sync(cmd, &out, NULL, NULL, NULL));
    g_assert_nonnull(strstr(out, base));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&cmd, g_free);

    /* Resized: the top image grows (the base does not), never shrinks. */
    g_assert_cmpint(xlite_disk_resize(f.ctx, f.domid, "xvda", 48 * MIB,
                                      NULL), ==, 0);
    g_assert_cmpuint(virtual_size(ov), ==, 48 * MIB);
    g_assert_cmpuint(virtual_size(base), ==, 32 * MIB);
    g_assert_cmpint(xlite_disk_resize(f.ctx, f.domid, "xvda", 16 * MIB,
                                      NULL), ==, -ERANGE);
    g_assert_cmpint(xlite_disk_resize(f.ctx, f.domid, "xvdz", 64 * MIB,
                                      NULL), ==, -ENOENT);

    /* The job acts on the top: an active commit merges the overlay into
     * the base, which is the disk's image again. */
    p.type = XLITE_BLOCK_JOB_ACTIVE_COMMIT;
    p.vdev = "xvda";
    p.base = base;
    if (xlite_block_job_start(f.ctx, f.domid, &p, NULL) < 0)
        g_error("active commit: %s", xlite_errmsg());
    g_assert_cmpint(wait_job_event(f.ctx, XLITE_BLOCK_JOB_ACTIVE_COMMIT), ==,
                    XLITE_BLOCK_JOB_READY);
    g_assert_cmpint(xlite_block_job_abort(f.ctx, f.domid, "xvda", true,
                                          NULL), ==, 0);
    g_assert_cmpint(wait_job_event(f.ctx, XLITE_BLOCK_JOB_ACTIVE_COMMIT), ==,
                    XLITE_BLOCK_JOB_COMPLETED);
    target = stored_target(&f);
    g_assert_cmpstr(target, ==, base);
    fixture_stop(&f);
    /* The commit took the overlay's size down with it. */
    g_assert_cmpuint(virtual_size(base), ==, 48 * MIB);
    cmd = g_strdup_printf("qemu-io -f qcow2 -c 'read -P 0x5a 0 4M' %s", base);
    g_assert_true(g_spawn_command_line_sync(cmd, &out, NULL, NULL, NULL));
    g_assert_null(strstr(out, "Pattern verification failed"));
    simhost_free(f.sh);
    leak_check_end(&lc);
}

static void
test_other_context_pivots(void)
{
    g_autofree char *src = NULL;
    g_autofree char *dest = NULL;
    g_autofree char *target = NULL;
    xlite_block_job_params p = { 0 };
    xlite_block_job_info info;
    leak_check lc;
    fixture f = { 0 };
    xlite_ctx *first;
    int64_t end;

    leak_check_begin(&lc);
    f.sh = simhost_start();
    src = make_image(f.sh, "src.qcow2", 64, 4, NULL);
    dest = g_build_filename(f.sh->dir, "copy.qcow2", NULL);
    /* The first context starts the copy and goes away (a virsh process
     * that ends); the job goes on in the server. */
    first = simhost_ctx(f.sh);
    fixture_start(&f, "handover", src);
    xlite_evdisable(f.ctx, f.gen);
    p.type = XLITE_BLOCK_JOB_COPY;
    p.vdev = "xvda";
    p.dest = dest;
    g_assert_cmpint(xlite_block_job_start(f.ctx, f.domid, &p, NULL), ==, 0);
    xlite_ctx_free(f.ctx);
    xlite_ctx_free(first);

    f.ctx = simhost_ctx(f.sh);
    g_assert_cmpint(xlite_evenable_domain(f.ctx, f.domid,
                                          XLITE_EVENTMASK(XLITE_EVENT_BLOCK_JOB),
                                          7, &f.gen), ==, 0);
    end = g_get_monotonic_time() + EVENT_TIMEOUT;
    do {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        g_assert_cmpint(xlite_block_job_get_info(f.ctx, f.domid, "xvda",
                                                 &info, NULL), ==, 0);
        if (!info.ready)
            g_usleep(20 * 1000);
    } while (!info.ready);
    g_assert_cmpint(info.type, ==, XLITE_BLOCK_JOB_COPY);
    g_assert_cmpint(xlite_block_job_abort(f.ctx, f.domid, "xvda", true,
                                          NULL), ==, 0);
    /* READY is seen here if the copy reached sync after this context
     * connected (it adopts the job as it is). */
    {
        xlite_block_job_status st = wait_job_event(f.ctx,
                                                   XLITE_BLOCK_JOB_COPY);

        if (st == XLITE_BLOCK_JOB_READY)
            st = wait_job_event(f.ctx, XLITE_BLOCK_JOB_COPY);
        g_assert_cmpint(st, ==, XLITE_BLOCK_JOB_COMPLETED);
    }
    assert_no_job_event(f.ctx, 200 * 1000);
    target = stored_target(&f);
    g_assert_cmpstr(target, ==, dest);
    fixture_stop(&f);
    simhost_free(f.sh);
    leak_check_end(&lc);
}

static void
test_server_killed(void)
{
    g_autofree char *src = NULL;
    g_autofree char *dest = NULL;
    xlite_block_job_params p = { 0 };
    xlite_block_job_info info;
    leak_check lc;
    fixture f = { 0 };

    leak_check_begin(&lc);
    f.sh = simhost_start();
    src = make_image(f.sh, "src.qcow2", 128, 64, NULL);
    dest = g_build_filename(f.sh->dir, "copy.qcow2", NULL);
    fixture_start(&f, "killed", src);
    p.type = XLITE_BLOCK_JOB_COPY;
    p.vdev = "xvda";
    p.dest = dest;
    p.bandwidth = 64 * 1024;
    g_assert_cmpint(xlite_block_job_start(f.ctx, f.domid, &p, NULL), ==, 0);
    g_assert_cmpint(kill(server_pid(&f), SIGKILL), ==, 0);
    g_assert_cmpint(wait_job_event(f.ctx, XLITE_BLOCK_JOB_COPY), ==,
                    XLITE_BLOCK_JOB_FAILED);
    assert_no_job_event(f.ctx, 200 * 1000);
    g_assert_cmpint(xlite_block_job_get_info(f.ctx, f.domid, "xvda", &info,
                                             NULL), ==, -ENOENT);
    fixture_stop(&f);
    simhost_free(f.sh);
    leak_check_end(&lc);
}


/* ---------- against the scripted fake peer ----------
 *
 * The domain's server directory is laid out as the core's own start
 * would: its uuid, a pid file locked by a live process (a real
 * qemu-storage-daemon with no monitor, so that the "is it running"
 * check is the real one), and a QMP socket served by the fake peer.  The
 * peer then plays what a real server will not do on demand: an abort
 * that races the job's own end, in both orders; duplicated and missing
 * events; garbage.
 */

#define JOB_READY_LIST \
    "{\"return\": [{\"device\": \"xvda\", \"type\": \"mirror\", \"len\": 100, " \
    "\"offset\": 100, \"speed\": 0, \"status\": \"ready\", \"ready\": true, " \
    "\"busy\": false, \"paused\": false, \"io-status\": \"ok\", " \
    "\"auto-finalize\": true, \"auto-dismiss\": true}], \"id\": @ID@}"
#define EV(name, data) \
    "{\"event\": \"" name "\", \"data\": " data ", " PEER_TS "}"
#define JOB_DATA "{\"device\": \"xvda\", \"len\": 100, \"offset\": 100, " \
                 "\"speed\": 0, \"type\": \"mirror\"}"

typedef struct {
    fixture f;
    char *dir;
    pid_t holder;
} fake_server;

static void
fake_server_start(fake_server *fs, const char *name)
{
    g_autofree char *src = NULL;
    g_autofree char *cmd = NULL;
    g_autofree char *pidpath = NULL;
    g_autofree char *text = NULL;
    g_autofree char *uuidpath = NULL;
    xlite_dominfo info;

    fs->f.sh = simhost_start();
    src = make_image(fs->f.sh, "src.qcow2", 1, 0, NULL);
    fixture_start(&fs->f, name, src);
    fs->dir = server_dir(&fs->f);
    g_assert_cmpint(g_mkdir_with_parents(fs->dir, 0700), ==, 0);
    g_assert_cmpint(xlite_domain_info(fs->f.ctx, fs->f.domid, &info), ==, 0);
    uuidpath = g_strdup_printf("%s/uuid", fs->dir);
    g_assert_true(g_file_set_contents(uuidpath, (const char *)info.uuid, 16,
                                      NULL));
    pidpath = g_strdup_printf("%s/pid", fs->dir);
    cmd = g_strdup_printf("qemu-storage-daemon --daemonize --pidfile=%s",
                          pidpath);
    run(cmd);
    g_assert_true(g_file_get_contents(pidpath, &text, NULL, NULL));
    fs->holder = atoi(text);
    g_assert_cmpint(fs->holder, >, 0);
}

static void
fake_server_stop(fake_server *fs)
{
    /* destroy stops the "server" (the pid file's holder) and waits. */
    fixture_stop(&fs->f);
    g_assert_true(kill(fs->holder, 0) < 0 || errno == EPERM ||
                  !g_file_test(fs->dir, G_FILE_TEST_EXISTS));
    g_free(fs->dir);
    simhost_free(fs->f.sh);
}

static char *
peer_path(fake_server *fs)
{
    return g_strdup_printf("%s/qmp.sock", fs->dir);
}

static void
assert_peer_done(qmp_peer *peer)
{
    g_autofree char *failure = qmp_peer_finish(peer);

    g_assert_cmpstr(failure, ==, NULL);
}

/* The abort races the job's own end: the job's terminal events come
 * before the answer to the cancel (which then says "no such job"), or
 * after it, each twice.  Either way: the abort succeeds and exactly one
 * terminal event comes out. */
static void
test_abort_races_end(void)
{
    static const peer_step end_first[] = {
        PEER_HANDSHAKE,
        { PEER_EXPECT, "query-block-jobs", JOB_READY_LIST },
        { PEER_EXPECT, "block-job-cancel", NULL },
        { PEER_SEND, EV("JOB_STATUS_CHANGE", "{\"id\": \"xvda\", \"status\": \"pending\"}") },
        { PEER_SEND, EV("BLOCK_JOB_COMPLETED", JOB_DATA) },
        { PEER_SEND, EV("BLOCK_JOB_COMPLETED", JOB_DATA) },
        { PEER_SEND, EV("JOB_STATUS_CHANGE", "{\"id\": \"xvda\", \"status\": \"concluded\"}") },
        { PEER_SEND, EV("JOB_STATUS_CHANGE", "{\"id\": \"xvda\", \"status\": \"null\"}") },
        { PEER_SEND_LAST_ID, "{\"error\": {\"class\": \"GenericError\", "
                             "\"desc\": \"Job 'xvda' not found\"}, \"id\": @ID@}" },
        { PEER_DRAIN },
        { PEER_END },
    };
    static const peer_step reply_first[] = {
        PEER_HANDSHAKE,
        { PEER_EXPECT, "query-block-jobs", JOB_READY_LIST },
        { PEER_EXPECT, "block-job-cancel", "{\"return\": {}, \"id\": @ID@}" },
        { PEER_SEND, EV("JOB_STATUS_CHANGE", "{\"id\": \"xvda\", \"status\": \"aborting\"}") },
        { PEER_SEND, EV("BLOCK_JOB_CANCELLED", JOB_DATA) },
        { PEER_SEND, EV("BLOCK_JOB_COMPLETED", JOB_DATA) },
        { PEER_SEND, EV("JOB_STATUS_CHANGE", "{\"id\": \"xvda\", \"status\": \"null\"}") },
        { PEER_DRAIN },
        { PEER_END },
    };
    int rounds = test_iterations(1000, 50);
    g_autofree char *path = NULL;
    leak_check lc;
    fake_server fs = { 0 };

    leak_check_begin(&lc);
    fake_server_start(&fs, "race");
    path = peer_path(&fs);
    for (int i = 0; i < 2 * rounds; i++) {
        qmp_peer *peer = qmp_peer_listen(i % 2 ? end_first : reply_first,
                                         path);

        g_assert_cmpint(xlite_block_job_abort(fs.f.ctx, fs.f.domid, "xvda",
                                              false, NULL), ==, 0);
        g_assert_cmpint(wait_job_event(fs.f.ctx, XLITE_BLOCK_JOB_COPY), ==,
                        XLITE_BLOCK_JOB_CANCELED);
        /* The job is over, the connection let go: the peer sees its end
         * (DRAIN), having received nothing more. */
        assert_peer_done(peer);
        assert_no_job_event(fs.f.ctx, 0);
    }
    assert_no_job_event(fs.f.ctx, 50 * 1000);
    unlink(path);
    fake_server_stop(&fs);
    leak_check_end(&lc);
}

static void
async_done(xlite_ctx *ctx, int rc, void *opaque)
{
    *(int *)opaque = rc;
}

/* A second abort while the first one's cancel is unanswered: "ending
 * already", every time, whatever the timing. */
static void
test_second_abort_while_ending(void)
{
    static const peer_step script[] = {
        PEER_HANDSHAKE,
        { PEER_EXPECT, "query-block-jobs", JOB_READY_LIST },
        { PEER_EXPECT, "query-block-jobs", JOB_READY_LIST },
        { PEER_EXPECT, "block-job-cancel", NULL },
        { PEER_SLEEP, NULL, NULL, 100 },
        { PEER_SEND_LAST_ID, "{\"return\": {}, \"id\": @ID@}" },
        { PEER_SEND, EV("BLOCK_JOB_COMPLETED", JOB_DATA) },
        { PEER_DRAIN },
        { PEER_END },
    };
    g_autofree char *path = NULL;
    xlite_block_job_info info;
    leak_check lc;
    fake_server fs = { 0 };
    qmp_peer *peer;
    int first = 1;
    xlite_async_how how = { .callback = async_done, .opaque = &first };

    leak_check_begin(&lc);
    fake_server_start(&fs, "second");
    path = peer_path(&fs);
    peer = qmp_peer_listen(script, path);
    /* Connected first (the job adopted, the connection kept for it), so
     * that the first abort marks the job ending before it returns. */
    g_assert_cmpint(xlite_block_job_get_info(fs.f.ctx, fs.f.domid, "xvda",
                                             &info, NULL), ==, 0);
    g_assert_true(info.ready);
    g_assert_cmpint(xlite_block_job_abort(fs.f.ctx, fs.f.domid, "xvda", false,
                                          &how), ==, 0);
    g_assert_cmpint(xlite_block_job_abort(fs.f.ctx, fs.f.domid, "xvda", true,
                                          NULL), ==, -EALREADY);
    g_assert_cmpint(xlite_block_job_abort(fs.f.ctx, fs.f.domid, "xvda", false,
                                          NULL), ==, -EALREADY);
    g_assert_cmpint(wait_job_event(fs.f.ctx, XLITE_BLOCK_JOB_COPY), ==,
                    XLITE_BLOCK_JOB_CANCELED);
    g_assert_cmpint(first, ==, 0);
    assert_peer_done(peer);
    unlink(path);
    fake_server_stop(&fs);
    leak_check_end(&lc);
}

/* The job's end comes only as its status going to "null" (the BLOCK_JOB_*
 * event was lost): still exactly one terminal event. */
static void
test_missing_end_event(void)
{
    static const peer_step script[] = {
        PEER_HANDSHAKE,
        { PEER_EXPECT, "query-block-jobs", JOB_READY_LIST },
        { PEER_EXPECT, "block-job-cancel", "{\"return\": {}, \"id\": @ID@}" },
        { PEER_SEND, EV("JOB_STATUS_CHANGE", "{\"id\": \"xvda\", \"status\": \"concluded\"}") },
        { PEER_SEND, EV("JOB_STATUS_CHANGE", "{\"id\": \"xvda\", \"status\": \"null\"}") },
        { PEER_SEND, EV("JOB_STATUS_CHANGE", "{\"id\": \"xvda\", \"status\": \"null\"}") },
        { PEER_DRAIN },
        { PEER_END },
    };
    g_autofree char *path = NULL;
    leak_check lc;
    fake_server fs = { 0 };
    qmp_peer *peer;

    leak_check_begin(&lc);
    fake_server_start(&fs, "missing");
    path = peer_path(&fs);
    peer = qmp_peer_listen(script, path);
    g_assert_cmpint(xlite_block_job_abort(fs.f.ctx, fs.f.domid, "xvda", false,
                                          NULL), ==, 0);
    g_assert_cmpint(wait_job_event(fs.f.ctx, XLITE_BLOCK_JOB_COPY), ==,
                    XLITE_BLOCK_JOB_CANCELED);
    assert_peer_done(peer);
    assert_no_job_event(fs.f.ctx, 50 * 1000);
    unlink(path);
    fake_server_stop(&fs);
    leak_check_end(&lc);
}

/* Garbage from the server mid-job: the job fails (once), the call that
 * waited gets a clear error, nothing hangs. */
static void
test_garbage_mid_job(void)
{
    static const peer_step script[] = {
        PEER_HANDSHAKE,
        { PEER_EXPECT, "query-block-jobs", JOB_READY_LIST },
        { PEER_EXPECT, "block-job-set-speed", NULL },
        { PEER_SEND, "{\"return\": {}, \"id\": \"not-ours\"}" },
        { PEER_DRAIN },
        { PEER_END },
    };
    g_autofree char *path = NULL;
    leak_check lc;
    fake_server fs = { 0 };
    qmp_peer *peer;

    leak_check_begin(&lc);
    fake_server_start(&fs, "garbage");
    path = peer_path(&fs);
    peer = qmp_peer_listen(script, path);
    g_assert_cmpint(xlite_block_job_set_speed(fs.f.ctx, fs.f.domid, "xvda",
                                              1024, NULL), ==, -EPROTO);
    g_assert_nonnull(strstr(xlite_errmsg(), "invalid QMP message"));
    g_assert_cmpint(wait_job_event(fs.f.ctx, XLITE_BLOCK_JOB_COPY), ==,
                    XLITE_BLOCK_JOB_FAILED);
    assert_peer_done(peer);
    assert_no_job_event(fs.f.ctx, 50 * 1000);
    unlink(path);
    fake_server_stop(&fs);
    leak_check_end(&lc);
}

/* The start and end of a test against the fake peer: no leak, nothing
 * left unplayed in the script, no stray event. */
static char *
fake_begin(fake_server *fs, leak_check *lc, const char *name)
{
    leak_check_begin(lc);
    fake_server_start(fs, name);
    return peer_path(fs);
}

static void
fake_end(fake_server *fs, leak_check *lc, qmp_peer *peer, const char *path)
{
    assert_peer_done(peer);
    assert_no_job_event(fs->f.ctx, 50 * 1000);
    unlink(path);
    fake_server_stop(fs);
    leak_check_end(lc);
}

/* A copy's granularity and buffer size reach the server's drive-mirror,
 * as the raw format of its destination does. */
static void
test_copy_params_sent(void)
{
    static const peer_step script[] = {
        PEER_HANDSHAKE,
        { PEER_EXPECT, "query-block-jobs", "{\"return\": [], \"id\": @ID@}" },
        { PEER_EXPECT, "query-named-block-nodes",
          "{\"return\": [{\"node-name\": \"xvda\"}], \"id\": @ID@}" },
        { PEER_EXPECT, "query-block-exports",
          "{\"return\": [{\"id\": \"xvda\", \"node-name\": \"xvda\", "
          "\"type\": \"nbd\", \"shutting-down\": false}], \"id\": @ID@}" },
        { PEER_EXPECT, "drive-mirror", "{\"return\": {}, \"id\": @ID@}", 0,
          "{\"granularity\": 65536, \"buf-size\": 4194304, "
          "\"format\": \"raw\", \"sync\": \"full\", \"job-id\": \"xvda\"}" },
        /* Then it fails: its one event, and the connection goes. */
        { PEER_SEND, EV("BLOCK_JOB_COMPLETED",
                        "{\"device\": \"xvda\", \"len\": 100, \"offset\": 5, "
                        "\"speed\": 0, \"type\": \"mirror\", "
                        "\"error\": \"Input/output error\"}") },
        { PEER_DRAIN },
        { PEER_END },
    };
    g_autofree char *path = NULL;
    g_autofree char *dest = NULL;
    leak_check lc;
    fake_server fs = { 0 };
    qmp_peer *peer;
    xlite_block_job_params params = {
        .type = XLITE_BLOCK_JOB_COPY, .vdev = "xvda",
        .dest_format = XLITE_DISK_FORMAT_RAW,
        .granularity = 65536, .buf_size = 4 * MIB,
    };

    path = fake_begin(&fs, &lc, "params");
    dest = g_build_filename(fs.f.sh->dir, "copy.raw", NULL);
    params.dest = dest;
    peer = qmp_peer_listen(script, path);
    g_assert_cmpint(xlite_block_job_start(fs.f.ctx, fs.f.domid, &params,
                                          NULL), ==, 0);
    g_assert_cmpint(wait_job_event(fs.f.ctx, XLITE_BLOCK_JOB_COPY), ==,
                    XLITE_BLOCK_JOB_FAILED);
    fake_end(&fs, &lc, peer, path);
}

#define POLLED_JOB(status, extra) \
    "{\"return\": [{\"device\": \"xvda\", \"type\": \"mirror\", \"len\": 100, " \
    "\"offset\": 100, \"speed\": 0, \"status\": \"" status "\", " \
    "\"busy\": false, \"paused\": false, \"io-status\": \"ok\", " \
    "\"auto-finalize\": true, \"auto-dismiss\": false" extra "}], \"id\": @ID@}"

/* The concluded job dismissed (by its id), then the peer's end: polls
 * that come meanwhile find no job. */
#define POLLED_DISMISSED \
    { PEER_EXPECT, "block-job-dismiss", "{\"return\": {}, \"id\": @ID@}", \
      0, "{\"id\": \"xvda\"}" }, \
    { PEER_POLL_STATE, "{\"return\": [], \"id\": @ID@}", NULL, 0, NULL }, \
    { PEER_DRAIN, NULL, NULL, 0, NULL }, \
    { PEER_END, NULL, NULL, 0, NULL }

/* The peer plays script; the core connects to it and adopts its job,
 * through a query of the job (info_r). */
static qmp_peer *
fake_connect(fake_server *fs, const char *path, const peer_step *script,
             xlite_block_job_info *info_r)
{
    qmp_peer *peer = qmp_peer_listen(script, path);

    g_assert_cmpint(xlite_block_job_get_info(fs->f.ctx, fs->f.domid, "xvda",
                                             info_r, NULL), ==, 0);
    return peer;
}

/* A peer without job events (detected at connect: its schema lists
 * none): the job is polled, and its READY and its end come as the events
 * would have made them, once each; the concluded job is dismissed. */
static void
test_polled_ready_then_cancel(void)
{
    static const peer_step script[] = {
        PEER_HANDSHAKE_NO_JOB_EVENTS,
        { PEER_EXPECT, "query-block-jobs",
          POLLED_JOB("running", ", \"ready\": false") },
        { PEER_POLL_STATE, POLLED_JOB("ready", ", \"ready\": true") },
        { PEER_EXPECT, "block-job-cancel", "{\"return\": {}, \"id\": @ID@}",
          0, "{\"device\": \"xvda\"}" },
        /* QEMU concludes a cancelled job with an error. */
        { PEER_POLL_STATE, POLLED_JOB("concluded", ", \"ready\": false, "
                                      "\"error\": \"Operation canceled\"") },
        POLLED_DISMISSED,
    };
    g_autofree char *path = NULL;
    xlite_block_job_info info;
    leak_check lc;
    fake_server fs = { 0 };
    qmp_peer *peer;

    path = fake_begin(&fs, &lc, "polled");
    /* (The poll may have seen the job ready already.) */
    peer = fake_connect(&fs, path, script, &info);
    g_assert_cmpint(wait_job_event(fs.f.ctx, XLITE_BLOCK_JOB_COPY), ==,
                    XLITE_BLOCK_JOB_READY);
    g_assert_cmpint(xlite_block_job_abort(fs.f.ctx, fs.f.domid, "xvda", false,
                                          NULL), ==, 0);
    g_assert_cmpint(wait_job_event(fs.f.ctx, XLITE_BLOCK_JOB_COPY), ==,
                    XLITE_BLOCK_JOB_CANCELED);
    fake_end(&fs, &lc, peer, path);
}

/* Polled: a job that fails by itself ends FAILED, and one the peer
 * reports concluded without error after a pivot ends COMPLETED. */
static void
test_polled_failure_and_pivot(void)
{
    static const peer_step failing[] = {
        PEER_HANDSHAKE_NO_JOB_EVENTS,
        { PEER_EXPECT, "query-block-jobs",
          POLLED_JOB("running", ", \"ready\": false") },
        { PEER_POLL_STATE, POLLED_JOB("concluded", ", \"ready\": false, "
                                      "\"error\": \"No space left on device\"") },
        POLLED_DISMISSED,
    };
    static const peer_step pivoting[] = {
        PEER_HANDSHAKE_NO_JOB_EVENTS,
        { PEER_EXPECT, "query-block-jobs",
          POLLED_JOB("ready", ", \"ready\": true") },
        { PEER_POLL_STATE, POLLED_JOB("ready", ", \"ready\": true") },
        { PEER_EXPECT, "job-complete", "{\"return\": {}, \"id\": @ID@}" },
        { PEER_POLL_STATE, POLLED_JOB("concluded", ", \"ready\": false") },
        POLLED_DISMISSED,
    };
    g_autofree char *path = NULL;
    xlite_block_job_info info;
    leak_check lc;
    fake_server fs = { 0 };
    qmp_peer *peer;

    path = fake_begin(&fs, &lc, "polled2");
    peer = fake_connect(&fs, path, failing, &info);
    g_assert_cmpint(wait_job_event(fs.f.ctx, XLITE_BLOCK_JOB_COPY), ==,
                    XLITE_BLOCK_JOB_FAILED);
    assert_peer_done(peer);
    assert_no_job_event(fs.f.ctx, 50 * 1000);

    peer = fake_connect(&fs, path, pivoting, &info);
    g_assert_true(info.ready);
    /* Adopted ready: no READY again. */
    g_assert_cmpint(xlite_block_job_abort(fs.f.ctx, fs.f.domid, "xvda", true,
                                          NULL), ==, 0);
    g_assert_cmpint(wait_job_event(fs.f.ctx, XLITE_BLOCK_JOB_COPY), ==,
                    XLITE_BLOCK_JOB_COMPLETED);
    fake_end(&fs, &lc, peer, path);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!have_qsd()) {
        /* meson's "skipped" exit code */
        g_printerr("qemu-storage-daemon or qemu-img is not installed "
                   "(tools/setup-deps installs them): skipped\n");
        return 77;
    }
    g_test_add_func("/xlite/blockjob/copy-pivot", test_copy_pivot);
    g_test_add_func("/xlite/blockjob/copy-cancel-and-checks",
                    test_copy_cancel_and_checks);
    g_test_add_func("/xlite/blockjob/copy-abort-after-ready",
                    test_copy_abort_after_ready);
    g_test_add_func("/xlite/blockjob/pull", test_pull);
    g_test_add_func("/xlite/blockjob/commit-and-active-commit",
                    test_commit_and_active_commit);
    g_test_add_func("/xlite/blockjob/other-context-pivots",
                    test_other_context_pivots);
    g_test_add_func("/xlite/blockjob/server-killed", test_server_killed);
    g_test_add_func("/xlite/blockjob/snapshot-commit-resize",
                    test_snapshot_commit_resize);
    g_test_add_func("/xlite/blockjob/fake/abort-races-end",
                    test_abort_races_end);
    g_test_add_func("/xlite/blockjob/fake/second-abort-while-ending",
                    test_second_abort_while_ending);
    g_test_add_func("/xlite/blockjob/fake/missing-end-event",
                    test_missing_end_event);
    g_test_add_func("/xlite/blockjob/fake/garbage-mid-job",
                    test_garbage_mid_job);
    g_test_add_func("/xlite/blockjob/fake/copy-params-sent",
                    test_copy_params_sent);
    g_test_add_func("/xlite/blockjob/fake/polled-ready-then-cancel",
                    test_polled_ready_then_cancel);
    g_test_add_func("/xlite/blockjob/fake/polled-failure-and-pivot",
                    test_polled_failure_and_pivot);
    return g_test_run();
}
