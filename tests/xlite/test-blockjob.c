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

#include "domtest.h"

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
    src = make_image(f.sh, "src.qcow2", 64, 16, NULL);
    dest = g_build_filename(f.sh->dir, "copy.qcow2", NULL);
    fixture_start(&f, "cancel", src);

    /* Slow enough never to be ready during the test. */
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
    src = make_image(f.sh, "src.qcow2", 64, 16, NULL);
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

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!have_qsd()) {
        g_test_skip("qemu-storage-daemon or qemu-img is not installed "
                    "(tools/setup-deps installs them)");
        return g_test_run();
    }
    g_test_add_func("/xlite/blockjob/copy-pivot", test_copy_pivot);
    g_test_add_func("/xlite/blockjob/copy-cancel-and-checks",
                    test_copy_cancel_and_checks);
    g_test_add_func("/xlite/blockjob/copy-abort-after-ready",
                    test_copy_abort_after_ready);
    g_test_add_func("/xlite/blockjob/pull", test_pull);
    g_test_add_func("/xlite/blockjob/other-context-pivots",
                    test_other_context_pivots);
    g_test_add_func("/xlite/blockjob/server-killed", test_server_killed);
    return g_test_run();
}
