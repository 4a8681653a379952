/*
 * xlite_blockjob.c: the disk server (qemu-storage-daemon) and block jobs
 *
 * The public contract is in xlite.h, "Block jobs"; the decisions (who
 * owns the QMP connection, where the server's files live) are in
 * docs/blockjobs.md.  This file follows an operation through its life:
 * finding or starting the domain's server under the domain's lock,
 * connecting and re-reading its jobs, running the operation's commands,
 * then the job state machine the server's events drive, and the stop at
 * destroy.
 *
 * A domain's server lives in STATE_DIR/qsd/<domid>/: "uuid" (whose domain
 * it serves), "pid" (written and locked by the server itself), "qmp.sock"
 * (its one QMP monitor) and "nbd.sock" (the NBD exports of its disks),
 * both elsewhere if too deep (server_sock_dir),
 * "log" (its stderr), and "job-<vdev>.json" per copy in flight (what a
 * pivot needs and query-block-jobs does not say: the destination).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "xlite_dom_internal.h"
#include "xlite_qmp.h"

#define QSD_PROGRAM "qemu-storage-daemon"
/* From exec to the daemonizing parent's exit (the server is up). */
#define QSD_START_TIMEOUT (20 * G_USEC_PER_SEC)
/* Block node and job names are the disk's guest name; QEMU ids are at
 * most 31 characters of [A-Za-z0-9_.-] starting with a letter. */
#define VDEV_MAX 31

typedef struct xlite__dserver dserver;

typedef struct {
    char *vdev;
    xlite_block_job_type type;
    xlite_block_job_state state;
    char *dest;                 /* COPY */
    xlite_disk_format dest_format;
    char *node;                 /* COPY: the node it started from (its
                                 * job file's; NULL: the disk's own) */
    char **delete;              /* COMMIT: the images deleted once it
                                 * completed (NULL: none) */
    bool started;               /* the server has it (its start answered,
                                 * or found listed): a poll must list it */
    bool cancel_asked;          /* an abort (not a pivot) was accepted */
    JsonObject *conclusion;     /* polled: its "concluded" entry, until
                                 * its dismissal is answered */
} bjob;

struct xlite__dserver {
    xlite_ctx *ctx;
    uint32_t domid;
    uint8_t uuid[16];
    char *dir;
    xlite__qmp *qmp;
    bool ready;                 /* connected and its jobs read */
    GQueue waiting;             /* bj_op, until ready */
    unsigned int nops;          /* operations using it */
    GHashTable *jobs;           /* vdev -> bjob */
    struct bj_op *export_wait;  /* a resize waiting for its export to go */
    /* The polling fallback (see "polling" below): the server's job events
     * are not used; a timer asks for the jobs with backoff. */
    bool polling;
    xlite__ev_time poll_timer;
    int64_t poll_interval;      /* us, until the next poll */
    bool poll_inflight;         /* a query-block-jobs of the timer's */
    GPtrArray *dismissals;      /* block-job-dismiss unanswered
                                 * (dismissal, freed with the server's
                                 * connection if it goes first) */
};

struct xlite__blockjobs {
    GHashTable *servers;        /* domid -> dserver */
    xlite__evgen_producer producer;
};

typedef enum {
    OP_START,
    OP_ABORT,
    OP_INFO,
    OP_SPEED,
    OP_RESIZE,
    OP_SNAPSHOT,
} op_kind;

/* SNAPSHOT: one disk's part. */
typedef struct {
    char *vdev;
    char *overlay;
    char *source;               /* the disk's image, the overlay's backing */
    xlite_disk_format format;
    char *node;                 /* the disk's top node before */
    char *ovnode;               /* the overlay's node, once opened */
    bool created;               /* by this call: removed on failure */
} snap_disk;

typedef struct bj_op {
    /* caller */
    xlite__ao *ao;
    op_kind kind;
    uint32_t domid;
    char *vdev;
    xlite_block_job_params params;  /* START; strings owned */
    bool pivot;                     /* ABORT */
    uint64_t bandwidth;             /* SPEED */
    xlite_block_job_info *info_r;   /* INFO */
    uint64_t size;                  /* RESIZE: bytes */
    GPtrArray *snaps;               /* SNAPSHOT: snap_disk */
    bool reuse_ext;                 /* SNAPSHOT */
    /* private */
    uint8_t uuid[16];
    char *source;                   /* START: the disk's file */
    xlite_disk_format source_format;
    dserver *ds;
    xlite__udlock lock;
    xlite__spawn_state spawn;
    char **argv;
    int logfd;
    xlite_block_job_state prev;     /* ABORT: to go back to on refusal */
    char *node;                     /* the node the disk's export serves */
    char *backend;                  /* RESIZE: the disk's backend in xenstore */
    guint cur;                      /* SNAPSHOT: the disk worked on */
    bool export_del_replied;        /* RESIZE: block-export-del answered */
    bool export_gone;               /* RESIZE: BLOCK_EXPORT_DELETED came */
    char *refusal;                  /* RESIZE: why the server refused */
    char *backing_file;             /* START: the new backing name given */
    char *top_node;                 /* START: top and base as the server */
    char *base_node;                /* names their nodes (NULL: by file) */
    char **delete;                  /* START: the images to delete after */
    GList link;                     /* in ds->waiting */
} bj_op;

static void op_locked(xlite__egc *egc, xlite__udlock *ul, int rc);
static void op_spawned(xlite__egc *egc, xlite__spawn_state *ss, int rc,
                       int status);
static void op_connect(xlite__egc *egc, bj_op *op);
static void op_run(xlite__egc *egc, bj_op *op);
static void node_resolve(xlite__egc *egc, bj_op *op);
static void node_ready(xlite__egc *egc, bj_op *op);
static void snap_next_disk(xlite__egc *egc, bj_op *op);
static void snap_create_next(xlite__egc *egc, bj_op *op);
static void snap_add_next(xlite__egc *egc, bj_op *op);
static void op_ensure_node(xlite__egc *egc, bj_op *op);
static void resize_export_gone(xlite__egc *egc, bj_op *op, bool gone,
                               bool replied);
static bool node_is_string(JsonObject *o, const char *m);
static void op_done(xlite__egc *egc, bj_op *op, int rc);
static void ds_release_if_idle(xlite__egc *egc, dserver *ds);
static void poll_kick(xlite__egc *egc, dserver *ds);
static int job_dismiss(xlite__egc *egc, dserver *ds, const char *vdev);

/* ---------- names and files ---------- */

static bool
vdev_valid(const char *vdev)
{
    size_t len = vdev ? strlen(vdev) : 0;

    if (len == 0 || len > VDEV_MAX || !g_ascii_isalpha(vdev[0]))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!g_ascii_isalnum(vdev[i]))
            return false;
    }
    return true;
}

static char *
server_dir(xlite_ctx *ctx, uint32_t domid)
{
    return g_strdup_printf("%s/qsd/%u", ctx->state_dir, domid);
}

static char *
job_file(const char *dir, const char *vdev)
{
    return g_strdup_printf("%s/job-%s.json", dir, vdev);
}

/*
 * Where the server's sockets are: in its directory, unless that is too
 * deep for a unix socket's name (107 bytes; an embedded root may be
 * anywhere), then in a short directory of the runtime directory named by
 * a hash of the server's: every process finds the same one, and two
 * servers never share one.
 */
#define SOCK_LONGEST "/nbd.sock"

static char *
server_sock_dir(const char *dir)
{
    g_autofree char *hash = NULL;

    if (strlen(dir) + strlen(SOCK_LONGEST) <
        sizeof(((struct sockaddr_un *)NULL)->sun_path))
        return g_strdup(dir);
    hash = g_compute_checksum_for_string(G_CHECKSUM_SHA256, dir, -1);
    hash[16] = '\0';
    return g_strdup_printf("%s/xenvirt-qsd/%s", g_get_user_runtime_dir(),
                           hash);
}

static void
remove_dir_files(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);

        unlink(path);
    }
    rmdir(dir);
}

/* The server's pid if it runs: its pid file exists and is locked by it
 * (QEMU holds a write lock on it for its lifetime), so a stale file or a
 * reused pid never counts.  0 if not. */
static pid_t
server_pid(const char *dir)
{
    g_autofree char *path = g_strdup_printf("%s/pid", dir);
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    int fd;
    pid_t pid = 0;

    xlite__nofork_lock();
    fd = open(path, O_RDONLY | O_CLOEXEC);
    xlite__nofork_unlock();
    if (fd < 0)
        return 0;
    if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK && fl.l_pid > 0)
        pid = fl.l_pid;
    close(fd);
    return pid;
}

/* Whether dir belongs to the domain with uuid (written at server start). */
static bool
server_dir_is(const char *dir, const uint8_t uuid[16])
{
    g_autofree char *path = g_strdup_printf("%s/uuid", dir);
    g_autofree char *text = NULL;
    size_t len = 0;

    return g_file_get_contents(path, &text, &len, NULL) && len == 16 &&
           memcmp(text, uuid, 16) == 0;
}

static void
server_kill_and_remove(xlite_ctx *ctx, const char *dir)
{
    g_autofree char *sockdir = NULL;
    pid_t pid;

    if (!*dir)
        return;
    if ((pid = server_pid(dir)) > 0) {
        XLITE_LOG(ctx, XLITE_LOG_DEBUG, "stopping the disk server %d (%s)",
                  (int)pid, dir);
        kill(pid, SIGTERM);
    }
    sockdir = server_sock_dir(dir);
    if (!g_str_equal(sockdir, dir))
        remove_dir_files(sockdir);
    remove_dir_files(dir);
}

/* ---------- the job table and its events ---------- */

static void
bjob_free(void *p)
{
    bjob *job = p;

    g_free(job->vdev);
    g_free(job->dest);
    g_free(job->node);
    g_strfreev(job->delete);
    if (job->conclusion)
        json_object_unref(job->conclusion);
    g_free(job);
}

static void
emit(xlite__egc *egc, dserver *ds, const char *vdev,
     xlite_block_job_type type, xlite_block_job_status status)
{
    xlite_event tmpl = { .type = XLITE_EVENT_BLOCK_JOB,
                         .domid = ds->domid };

    memcpy(tmpl.uuid, ds->uuid, 16);
    g_strlcpy(tmpl.u.block_job.disk, vdev, sizeof(tmpl.u.block_job.disk));
    tmpl.u.block_job.job = type;
    tmpl.u.block_job.status = status;
    XLITE_LOG(egc->ctx, XLITE_LOG_DEBUG, "domain %u disk %s: block job "
              "event %d", ds->domid, vdev, (int)status);
    xlite__evgen_emit(egc, &tmpl);
}

/* After a pivot the domain's stored config names the new file. */
static void
follow_pivot(xlite_ctx *ctx, dserver *ds, const bjob *job)
{
    xlite_domain_config cfg;

    if (!job->dest)
        return;
    xlite_domain_config_init(&cfg);
    if (xlite__userdata_load(ctx, ds->domid, ds->uuid, &cfg) < 0) {
        XLITE_LOG(ctx, XLITE_LOG_WARN, "domain %u: the stored config could "
                  "not be updated after the pivot of %s", ds->domid,
                  job->vdev);
        return;
    }
    for (size_t i = 0; i < cfg.num_disks; i++) {
        xlite_disk_config *d = &cfg.disks[i];

        if (g_strcmp0(d->vdev, job->vdev) != 0)
            continue;
        g_free(d->target);
        d->target = g_strdup(job->dest);
        if (job->dest_format != XLITE_DISK_FORMAT_DEFAULT)
            d->format = job->dest_format;
    }
    if (xlite__userdata_store(ctx, ds->domid, ds->uuid, &cfg) < 0)
        XLITE_LOG(ctx, XLITE_LOG_WARN, "domain %u: the stored config could "
                  "not be updated after the pivot of %s", ds->domid,
                  job->vdev);
    xlite_domain_config_dispose(&cfg);
}

/* The jobs that reach READY and end by a pivot: the disk's image changes
 * (to the copy, or to the base an active commit went into). */
static bool
two_phase(xlite_block_job_type type)
{
    return type == XLITE_BLOCK_JOB_COPY ||
           type == XLITE_BLOCK_JOB_ACTIVE_COMMIT;
}

/* A commit with DELETE completed: the images whose data went down go
 * (listed at its start from the disk's chain, base excluded).  The server
 * closed them as the job ended. */
static void
delete_committed(xlite_ctx *ctx, dserver *ds, const bjob *job)
{
    for (char **f = job->delete; f && *f; f++) {
        if (unlink(*f) < 0)
            XLITE_LOG(ctx, XLITE_LOG_WARN, "domain %u disk %s: cannot "
                      "delete the committed image %s: %s", ds->domid,
                      job->vdev, *f, g_strerror(errno));
        else
            XLITE_LOG(ctx, XLITE_LOG_INFO, "domain %u disk %s: deleted the "
                      "committed image %s", ds->domid, job->vdev, *f);
    }
}

/* The one terminal event of a job; the job is gone afterwards. */
static void
job_end(xlite__egc *egc, dserver *ds, bjob *job,
        xlite_block_job_status status)
{
    g_autofree char *vdev = g_strdup(job->vdev);
    g_autofree char *path = job_file(ds->dir, job->vdev);
    xlite_block_job_type type = job->type;

    if (status == XLITE_BLOCK_JOB_COMPLETED && two_phase(type))
        follow_pivot(egc->ctx, ds, job);
    if (status == XLITE_BLOCK_JOB_COMPLETED)
        delete_committed(egc->ctx, ds, job);
    unlink(path);
    g_hash_table_remove(ds->jobs, vdev);
    emit(egc, ds, vdev, type, status);
}

static bjob *
event_job(dserver *ds, JsonObject *data, const char *member)
{
    JsonNode *n = data ? json_object_get_member(data, member) : NULL;

    if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_STRING)
        return NULL;
    return g_hash_table_lookup(ds->jobs, json_node_get_string(n));
}

static void
on_job_status(xlite__egc *egc, dserver *ds, bjob *job, const char *status)
{
    if (g_str_equal(status, "running")) {
        if (job->state == XLITE_BLOCK_JOB_STATE_CREATED)
            job->state = XLITE_BLOCK_JOB_STATE_RUNNING;
    } else if (g_str_equal(status, "aborting")) {
        /* Ours (ABORTING already) or the server's own (an I/O error):
         * either way BLOCK_JOB_* says how it ended. */
        if (job->state != XLITE_BLOCK_JOB_STATE_PIVOTING)
            job->state = XLITE_BLOCK_JOB_STATE_ABORTING;
    } else if (g_str_equal(status, "null")) {
        /* Dismissed, and no BLOCK_JOB_COMPLETED or _CANCELLED came for it
         * (which always come before): a missing event.  The job still
         * ends exactly once; how, only an abort we asked for tells. */
        XLITE_LOG(egc->ctx, XLITE_LOG_WARN, "domain %u disk %s: the block "
                  "job ended without its completion event", ds->domid,
                  job->vdev);
        job_end(egc, ds, job, job->state == XLITE_BLOCK_JOB_STATE_ABORTING
                              ? XLITE_BLOCK_JOB_CANCELED
                              : XLITE_BLOCK_JOB_FAILED);
    }
}

/* A job's end, from its BLOCK_JOB_COMPLETED or _CANCELLED event (or a
 * poll's "concluded" entry: cancelled says whether an abort of ours was
 * accepted, which QEMU reports as an error, "Operation canceled"). */
static void
on_job_end_event(xlite__egc *egc, dserver *ds, bjob *job, bool cancelled,
                 JsonObject *data)
{
    bool error = json_object_has_member(data, "error");
    xlite_block_job_status status;

    if (cancelled) {
        status = XLITE_BLOCK_JOB_CANCELED;
    } else if (error) {
        JsonNode *n = json_object_get_member(data, "error");

        XLITE_LOG(egc->ctx, XLITE_LOG_ERROR, "domain %u disk %s: the block "
                  "job failed: %.200s", ds->domid, job->vdev,
                  JSON_NODE_HOLDS_VALUE(n) &&
                  json_node_get_value_type(n) == G_TYPE_STRING
                  ? json_node_get_string(n) : "(no reason given)");
        status = XLITE_BLOCK_JOB_FAILED;
    } else if (job->state == XLITE_BLOCK_JOB_STATE_ABORTING) {
        /* A cancelled copy that had reached sync ends as "completed" in
         * QEMU without switching: for the user it was aborted. */
        status = XLITE_BLOCK_JOB_CANCELED;
    } else {
        status = XLITE_BLOCK_JOB_COMPLETED;
    }
    job_end(egc, ds, job, status);
}

/* A copy (or an active commit) reached sync: READY, once; a duplicate, or
 * a report for a job that is ending already, changes nothing.  Whether
 * the state changed. */
static bool
job_ready(xlite__egc *egc, dserver *ds, bjob *job)
{
    if (job->state != XLITE_BLOCK_JOB_STATE_CREATED &&
        job->state != XLITE_BLOCK_JOB_STATE_RUNNING)
        return false;
    job->state = XLITE_BLOCK_JOB_STATE_READY;
    emit(egc, ds, job->vdev, job->type, XLITE_BLOCK_JOB_READY);
    return true;
}

static void
ds_event(xlite__egc *egc, xlite__qmp *qmp, const char *name,
         JsonObject *data, int64_t ts, void *opaque)
{
    dserver *ds = opaque;
    bjob *job;

    /* Polled: the job events (a peer that sends some anyway, when the
     * polling is forced) are not what drives the jobs. */
    if (ds->polling && (g_str_equal(name, "JOB_STATUS_CHANGE") ||
                        g_str_has_prefix(name, "BLOCK_JOB_")))
        return;
    if (g_str_equal(name, "JOB_STATUS_CHANGE")) {
        JsonNode *st = data ? json_object_get_member(data, "status") : NULL;

        if (!(job = event_job(ds, data, "id")) || !st ||
            !JSON_NODE_HOLDS_VALUE(st) ||
            json_node_get_value_type(st) != G_TYPE_STRING)
            return;
        on_job_status(egc, ds, job, json_node_get_string(st));
    } else if (g_str_equal(name, "BLOCK_JOB_READY")) {
        if (!(job = event_job(ds, data, "device")))
            return;
        job_ready(egc, ds, job);
    } else if (g_str_equal(name, "BLOCK_EXPORT_DELETED")) {
        bj_op *op = ds->export_wait;

        if (op && data && node_is_string(data, "id") &&
            g_str_equal(json_object_get_string_member(data, "id"), op->vdev))
            resize_export_gone(egc, op, true, false);
        return;
    } else if (g_str_equal(name, "BLOCK_JOB_COMPLETED") ||
               g_str_equal(name, "BLOCK_JOB_CANCELLED")) {
        /* A second terminal event finds no job: dropped. */
        if (!(job = event_job(ds, data, "device")))
            return;
        on_job_end_event(egc, ds, job,
                         g_str_equal(name, "BLOCK_JOB_CANCELLED"), data);
    } else {
        return;
    }
    ds_release_if_idle(egc, ds);
}

/* ---------- the connection ---------- */

static void
ds_free(xlite_ctx *ctx, dserver *ds)
{
    xlite__ev_time_deregister(ctx, &ds->poll_timer);
    xlite__qmp_free(ctx, ds->qmp);
    g_ptr_array_unref(ds->dismissals);
    g_hash_table_unref(ds->jobs);
    g_free(ds->dir);
    g_free(ds);
}

static void
ds_forget(xlite_ctx *ctx, dserver *ds)
{
    g_hash_table_steal(ctx->blockjobs->servers, GUINT_TO_POINTER(ds->domid));
    ds_free(ctx, ds);
}

/* The connection goes once nothing needs it: another context (the next
 * virsh in embedded mode) may then take the server's one monitor. */
static void
ds_release_if_idle(xlite__egc *egc, dserver *ds)
{
    if (ds->nops == 0 && ds->waiting.length == 0 &&
        ds->dismissals->len == 0 &&
        g_hash_table_size(ds->jobs) == 0)
        ds_forget(egc->ctx, ds);
}

static bool
node_is_string(JsonObject *o, const char *m)
{
    JsonNode *n = json_object_get_member(o, m);

    return n && JSON_NODE_HOLDS_VALUE(n) &&
           json_node_get_value_type(n) == G_TYPE_STRING;
}

static bool
node_is_int(JsonObject *o, const char *m)
{
    JsonNode *n = json_object_get_member(o, m);

    return n && JSON_NODE_HOLDS_VALUE(n) &&
           json_node_get_value_type(n) == G_TYPE_INT64 &&
           json_node_get_int(n) >= 0;
}

/* Checks one entry of query-block-jobs strictly. */
static bool
job_entry_valid(JsonNode *n)
{
    JsonObject *o;

    if (JSON_NODE_TYPE(n) != JSON_NODE_OBJECT)
        return false;
    o = json_node_get_object(n);
    return node_is_string(o, "device") && node_is_string(o, "type") &&
           node_is_int(o, "len") && node_is_int(o, "offset") &&
           node_is_int(o, "speed");
}

static int
check_job_list(xlite__egc *egc, JsonNode *ret, JsonArray **arr_r)
{
    JsonArray *arr;

    if (!ret || JSON_NODE_TYPE(ret) != JSON_NODE_ARRAY)
        return XLITE_ERROR(egc->ctx, -EPROTO, "the disk server's job list "
                           "is not a list");
    arr = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        if (!job_entry_valid(json_array_get_element(arr, i)))
            return XLITE_ERROR(egc->ctx, -EPROTO, "the disk server's job "
                               "list has a malformed entry");
    }
    *arr_r = arr;
    return 0;
}

static xlite_block_job_type
job_type_of(const char *qtype)
{
    if (g_str_equal(qtype, "mirror"))
        return XLITE_BLOCK_JOB_COPY;
    if (g_str_equal(qtype, "commit"))
        return XLITE_BLOCK_JOB_COMMIT;
    return XLITE_BLOCK_JOB_PULL;
}

/* A copy's destination and format, from its job file (job->vdev set). */
static bool
read_job_file(dserver *ds, bjob *job)
{
    g_autofree char *path = job_file(ds->dir, job->vdev);
    g_autofree char *text = NULL;
    g_autoptr(JsonParser) p = json_parser_new();
    JsonObject *f;

    if (!g_file_get_contents(path, &text, NULL, NULL) ||
        !json_parser_load_from_data(p, text, -1, NULL) ||
        JSON_NODE_TYPE(json_parser_get_root(p)) != JSON_NODE_OBJECT)
        return false;
    f = json_node_get_object(json_parser_get_root(p));
    if (!node_is_string(f, "dest"))
        return false;
    g_free(job->dest);
    job->dest = g_strdup(json_object_get_string_member(f, "dest"));
    if (node_is_int(f, "format") &&
        json_object_get_int_member(f, "format") <= XLITE_DISK_FORMAT_QCOW2)
        job->dest_format = json_object_get_int_member(f, "format");
    if (node_is_string(f, "node")) {
        g_free(job->node);
        job->node = g_strdup(json_object_get_string_member(f, "node"));
    }
    return true;
}

/* A job found on the server that this context did not start (another
 * process did, or this one before a reconnect). */
static void
adopt_job(xlite__egc *egc, dserver *ds, JsonObject *o)
{
    const char *vdev = json_object_get_string_member(o, "device");
    const char *status = json_object_has_member(o, "status") &&
                         node_is_string(o, "status")
                         ? json_object_get_string_member(o, "status") : "";
    bjob *job;

    if (!vdev_valid(vdev) || g_hash_table_contains(ds->jobs, vdev))
        return;
    /* Concluded and left for its owner to dismiss (a polled job whose
     * dismissal did not arrive before its context let the connection
     * go): it would hold the disk's job id for ever. */
    if (g_str_equal(status, "concluded") &&
        json_object_has_member(o, "auto-dismiss") &&
        JSON_NODE_HOLDS_VALUE(json_object_get_member(o, "auto-dismiss")) &&
        !json_object_get_boolean_member(o, "auto-dismiss"))
        job_dismiss(egc, ds, vdev);
    /* Ending already: its end is not ours to report. */
    if (g_str_equal(status, "waiting") || g_str_equal(status, "pending") ||
        g_str_equal(status, "concluded") || g_str_equal(status, "null"))
        return;
    job = g_new0(bjob, 1);
    job->vdev = g_strdup(vdev);
    job->type = job_type_of(json_object_get_string_member(o, "type"));
    if (g_str_equal(status, "ready") || g_str_equal(status, "standby"))
        job->state = XLITE_BLOCK_JOB_STATE_READY;
    else if (g_str_equal(status, "aborting"))
        job->state = XLITE_BLOCK_JOB_STATE_ABORTING;
    else
        job->state = XLITE_BLOCK_JOB_STATE_RUNNING;
    job->started = true;
    /* A job file says where the pivot goes: a copy's, or an active
     * commit's (QEMU calls both kinds of commit "commit"). */
    if (read_job_file(ds, job) && job->type == XLITE_BLOCK_JOB_COMMIT)
        job->type = XLITE_BLOCK_JOB_ACTIVE_COMMIT;
    g_hash_table_insert(ds->jobs, job->vdev, job);
}

static void
ds_set_ready(xlite__egc *egc, dserver *ds)
{
    GQueue waiting;
    GList *l;

    ds->ready = true;
    waiting = ds->waiting;
    g_queue_init(&ds->waiting);
    while ((l = g_queue_pop_head_link(&waiting)))
        op_run(egc, l->data);
}

/* The targets of copies whose job file is there but whose job is not: they
 * ended while no context watched (in embedded mode, the process that asked
 * for an asynchronous pivot or abort exited first). */
static GPtrArray *
ds_orphans(dserver *ds)
{
    GPtrArray *orphans = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GDir) d = g_dir_open(ds->dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *vdev = NULL;

        if (!g_str_has_prefix(name, "job-") || !g_str_has_suffix(name, ".json"))
            continue;
        vdev = g_strndup(name + 4, strlen(name) - 4 - 5);
        if (vdev_valid(vdev) && !g_hash_table_contains(ds->jobs, vdev))
            g_ptr_array_add(orphans, g_steal_pointer(&vdev));
    }
    return orphans;
}

static bool
ds_has_orphans(dserver *ds)
{
    g_autoptr(GPtrArray) orphans = ds_orphans(ds);

    return orphans->len > 0;
}

/* The disk's export names the node the guest's I/O goes to: after a
 * pivot it is the copy's (a node the server named), no longer the disk's
 * own, and the stored config must name the copy. */
static void
ds_exports_listed(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
                  const char *errclass, const char *errdesc, void *opaque)
{
    dserver *ds = opaque;
    g_autoptr(GPtrArray) orphans = ds_orphans(ds);
    JsonArray *arr = NULL;

    if (rc == 0 && ret && JSON_NODE_TYPE(ret) == JSON_NODE_ARRAY)
        arr = json_node_get_array(ret);
    else if (rc == 0 || rc == -EIO)
        XLITE_LOG(egc->ctx, XLITE_LOG_WARN, "domain %u: the disk server's "
                  "exports could not be listed", ds->domid);
    for (guint i = 0; i < orphans->len; i++) {
        const char *vdev = orphans->pdata[i];
        g_autofree char *path = job_file(ds->dir, vdev);
        bool pivoted = false;
        bjob job = { .vdev = (char *)vdev };
        bool known = read_job_file(ds, &job);
        /* The node the copy started from (a snapshot may have put it on
         * top of the disk's own). */
        const char *from = job.node ? job.node : vdev;

        for (guint j = 0; arr && j < json_array_get_length(arr); j++) {
            JsonNode *n = json_array_get_element(arr, j);
            JsonObject *o;

            if (JSON_NODE_TYPE(n) != JSON_NODE_OBJECT)
                continue;
            o = json_node_get_object(n);
            if (node_is_string(o, "id") && node_is_string(o, "node-name") &&
                g_str_equal(json_object_get_string_member(o, "id"), vdev))
                pivoted = !g_str_equal(json_object_get_string_member(
                                           o, "node-name"), from);
        }
        if (!arr) {
            /* Cannot tell: leave the file for a later connection. */
            g_free(job.dest);
            g_free(job.node);
            continue;
        }
        if (pivoted && known) {
            XLITE_LOG(egc->ctx, XLITE_LOG_INFO, "domain %u disk %s: its copy "
                      "was pivoted while no one watched", ds->domid, vdev);
            follow_pivot(egc->ctx, ds, &job);
        }
        g_free(job.dest);
        g_free(job.node);
        unlink(path);
    }
    if (rc < 0 && rc != -EIO) {
        /* The connection failed: ds_state tells the waiting operations. */
        return;
    }
    ds_set_ready(egc, ds);
}

static void
ds_queried(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
           const char *errclass, const char *errdesc, void *opaque)
{
    dserver *ds = opaque;
    JsonArray *arr = NULL;
    GQueue waiting = G_QUEUE_INIT;
    GList *l;

    if (rc == -EIO)
        rc = XLITE_ERROR(egc->ctx, -EIO, "the disk server refused to list "
                         "its jobs: %s", errdesc);
    if (rc == 0)
        rc = check_job_list(egc, ret, &arr);
    if (rc < 0) {
        /* The connection is of no use: every waiting operation fails. */
        waiting = ds->waiting;
        g_queue_init(&ds->waiting);
        ds->nops++;
        while ((l = g_queue_pop_head_link(&waiting)))
            op_done(egc, l->data, rc);
        ds->nops--;
        ds_release_if_idle(egc, ds);
        return;
    }
    for (guint i = 0; i < json_array_get_length(arr); i++)
        adopt_job(egc, ds, json_array_get_object_element(arr, i));
    poll_kick(egc, ds);
    if (ds_has_orphans(ds)) {
        /* Copies that ended while no context watched: how? */
        if (xlite__qmp_command(egc, qmp, "query-block-exports", NULL, -1,
                               ds_exports_listed, ds) == 0)
            return;
    }
    ds_set_ready(egc, ds);
}

/* ---------- polling: a server without job events ----------
 *
 * Where the server sends no job events, the jobs are polled.  That is
 * decided at connect: a QEMU from 2.12 on (JOB_STATUS_CHANGE's) sends
 * them; any other peer is asked its schema (query-qmp-schema), and one
 * that lists no BLOCK_JOB_COMPLETED, _CANCELLED and _READY events is
 * polled.  The context's blockjob_poll option (xenvirt.conf's
 * blockjob_events = "poll", or XLITE_BLOCKJOB_POLL=1 in the environment)
 * forces the polling: the tests run both paths on the same server.
 *
 * Polled jobs are started with auto-dismiss off, so that their end stays
 * listed until seen; a timer asks query-block-jobs, first POLL_MIN after
 * anything changed or was asked (a start, an abort, a state seen), then
 * twice as late each time nothing changed, up to POLL_MAX.  What a poll
 * shows makes the transitions the events make, with the same events:
 *  - "running", "aborting": the state;
 *  - "ready" (or ready: true): READY, once;
 *  - "concluded": the one terminal event: CANCELED after an abort of
 *    ours (QEMU concludes a cancelled job with an error, "Operation
 *    cancelled"), else FAILED with an error, CANCELED if the server
 *    aborted it by itself, else COMPLETED; then block-job-dismiss;
 *  - a started job no longer listed (dismissed by someone else): as a
 *    lost end event (on_job_status "null").
 * While a poll runs, job events the server sends anyway are dropped.
 */
#define POLL_MIN (5 * 1000)
#define POLL_MAX (1000 * 1000)

typedef struct {
    dserver *ds;
    char *vdev;
} dismissal;

static void
dismissal_free(void *p)
{
    dismissal *d = p;

    g_free(d->vdev);
    g_free(d);
}

/* The dismissal of a concluded job was answered (or the connection
 * failed): the job's one terminal event, if it was ours; the disk's job
 * id is free again by then, so that a job started at that event is not
 * refused. */
static void
dismiss_reply(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
              const char *errclass, const char *errdesc, void *opaque)
{
    dismissal *d = opaque;
    dserver *ds = d->ds;
    bjob *job = g_hash_table_lookup(ds->jobs, d->vdev);

    if (rc < 0)
        XLITE_LOG(egc->ctx, XLITE_LOG_WARN, "domain %u: the disk server did "
                  "not dismiss the concluded block job of %s: %s", ds->domid,
                  d->vdev, rc == -EIO ? errdesc : xlite_errmsg());
    if (job && job->state == XLITE_BLOCK_JOB_STATE_CONCLUDED &&
        job->conclusion)
        on_job_end_event(egc, ds, job, job->cancel_asked, job->conclusion);
    g_ptr_array_remove_fast(ds->dismissals, d);
    ds_release_if_idle(egc, ds);
}

/* A concluded job goes from the server's list; the connection is kept
 * until it is answered (the job would hold the disk's job id). */
static int
job_dismiss(xlite__egc *egc, dserver *ds, const char *vdev)
{
    JsonObject *args = json_object_new();
    dismissal *d = g_new0(dismissal, 1);
    int rc;

    d->ds = ds;
    d->vdev = g_strdup(vdev);
    json_object_set_string_member(args, "id", vdev);
    if ((rc = xlite__qmp_command(egc, ds->qmp, "block-job-dismiss", args, -1,
                                 dismiss_reply, d)) < 0) {
        dismissal_free(d);
        return rc;
    }
    g_ptr_array_add(ds->dismissals, d);
    return 0;
}

static JsonObject *
job_list_find(JsonArray *arr, const char *vdev)
{
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *o = json_array_get_object_element(arr, i);

        if (g_str_equal(json_object_get_string_member(o, "device"), vdev))
            return o;
    }
    return NULL;
}

static bool
member_is_true(JsonObject *o, const char *m)
{
    JsonNode *n = json_object_get_member(o, m);

    return n && JSON_NODE_HOLDS_VALUE(n) &&
           json_node_get_value_type(n) == G_TYPE_BOOLEAN &&
           json_node_get_boolean(n);
}

/* A concluded job: dismissed, then its one terminal event (see
 * above), as dismiss_reply says. */
static void
poll_concluded(xlite__egc *egc, dserver *ds, bjob *job, JsonObject *o)
{
    job->state = XLITE_BLOCK_JOB_STATE_CONCLUDED;
    job->conclusion = json_object_ref(o);
    if (job_dismiss(egc, ds, job->vdev) < 0)
        on_job_end_event(egc, ds, job, job->cancel_asked, o);
}

/* What one query-block-jobs shows, for each job of ours that the server
 * has; whether anything changed. */
static bool
poll_process(xlite__egc *egc, dserver *ds, JsonArray *arr)
{
    g_autoptr(GPtrArray) vdevs = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter it;
    gpointer key;
    bool changed = false;

    /* Ending a job changes the table: walk a copy of its keys. */
    g_hash_table_iter_init(&it, ds->jobs);
    while (g_hash_table_iter_next(&it, &key, NULL))
        g_ptr_array_add(vdevs, g_strdup(key));
    for (guint i = 0; i < vdevs->len; i++) {
        bjob *job = g_hash_table_lookup(ds->jobs, vdevs->pdata[i]);
        xlite_block_job_state before;
        const char *status;
        JsonObject *o;

        if (!job || !job->started ||
            job->state == XLITE_BLOCK_JOB_STATE_CONCLUDED)
            continue;
        if (!(o = job_list_find(arr, job->vdev))) {
            on_job_status(egc, ds, job, "null");
            changed = true;
            continue;
        }
        status = node_is_string(o, "status")
                 ? json_object_get_string_member(o, "status") : "";
        before = job->state;
        if (g_str_equal(status, "concluded")) {
            poll_concluded(egc, ds, job, o);
            changed = true;
        } else if (g_str_equal(status, "ready") ||
                   g_str_equal(status, "standby") ||
                   member_is_true(o, "ready")) {
            if (job->state == XLITE_BLOCK_JOB_STATE_CREATED)
                job->state = XLITE_BLOCK_JOB_STATE_RUNNING;
            changed |= job_ready(egc, ds, job) || job->state != before;
        } else if (g_str_equal(status, "running") ||
                   g_str_equal(status, "aborting")) {
            on_job_status(egc, ds, job, status);
            changed |= job->state != before;
        }
    }
    return changed;
}

static void poll_fire(xlite__egc *egc, xlite__ev_time *ev);

static void
poll_arm(xlite__egc *egc, dserver *ds)
{
    if (!ds->polling || ds->poll_inflight ||
        g_hash_table_size(ds->jobs) == 0 ||
        xlite__ev_time_isregistered(&ds->poll_timer))
        return;
    if (xlite__ev_time_register_rel(egc->ctx, &ds->poll_timer, poll_fire,
                                    ds->poll_interval) < 0)
        XLITE_LOG(egc->ctx, XLITE_LOG_ERROR, "domain %u: its block jobs "
                  "cannot be polled", ds->domid);
}

/* Something changed or was asked: the next poll comes soon. */
static void
poll_kick(xlite__egc *egc, dserver *ds)
{
    if (!ds->polling)
        return;
    ds->poll_interval = POLL_MIN;
    xlite__ev_time_deregister(egc->ctx, &ds->poll_timer);
    poll_arm(egc, ds);
}

static void
poll_reply(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
           const char *errclass, const char *errdesc, void *opaque)
{
    dserver *ds = opaque;
    JsonArray *arr;

    ds->poll_inflight = false;
    XLITE_LOG(egc->ctx, XLITE_LOG_DEBUG, "domain %u: polled its block jobs "
              "(rc %d)", ds->domid, rc);
    if (rc < 0 && rc != -EIO && rc != -ETIMEDOUT) {
        /* The connection failed: ds_state ends the jobs. */
        return;
    }
    if (rc == 0 && (rc = check_job_list(egc, ret, &arr)) == 0) {
        if (poll_process(egc, ds, arr))
            ds->poll_interval = POLL_MIN;
        else
            ds->poll_interval = MIN(ds->poll_interval * 2, POLL_MAX);
    } else {
        XLITE_LOG(egc->ctx, XLITE_LOG_WARN, "domain %u: its block jobs "
                  "could not be polled: %s", ds->domid,
                  rc == -EIO ? errdesc : xlite_errmsg());
        ds->poll_interval = POLL_MAX;
    }
    poll_arm(egc, ds);
    ds_release_if_idle(egc, ds);
}

static void
poll_fire(xlite__egc *egc, xlite__ev_time *ev)
{
    dserver *ds = XLITE__CONTAINER_OF(ev, dserver, poll_timer);

    if (g_hash_table_size(ds->jobs) == 0)
        return;
    if (xlite__qmp_command(egc, ds->qmp, "query-block-jobs", NULL, -1,
                           poll_reply, ds) == 0)
        ds->poll_inflight = true;
}

/* The jobs are read on every connection, once it is known whether they
 * are polled. */
static int
ds_read_jobs(xlite__egc *egc, dserver *ds)
{
    return xlite__qmp_command(egc, ds->qmp, "query-block-jobs", NULL, -1,
                              ds_queried, ds);
}

static void
ds_schema_read(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
               const char *errclass, const char *errdesc, void *opaque)
{
    dserver *ds = opaque;
    unsigned int found = 0;

    if (rc < 0 && rc != -EIO) {
        /* The connection failed: ds_state tells the waiting operations. */
        return;
    }
    if (rc == 0 && ret && JSON_NODE_TYPE(ret) == JSON_NODE_ARRAY) {
        JsonArray *arr = json_node_get_array(ret);

        for (guint i = 0; i < json_array_get_length(arr); i++) {
            JsonNode *n = json_array_get_element(arr, i);
            JsonObject *o;
            const char *name;

            if (JSON_NODE_TYPE(n) != JSON_NODE_OBJECT)
                continue;
            o = json_node_get_object(n);
            if (!node_is_string(o, "meta-type") || !node_is_string(o, "name") ||
                !g_str_equal(json_object_get_string_member(o, "meta-type"),
                             "event"))
                continue;
            name = json_object_get_string_member(o, "name");
            if (g_str_equal(name, "BLOCK_JOB_COMPLETED"))
                found |= 1;
            else if (g_str_equal(name, "BLOCK_JOB_CANCELLED"))
                found |= 2;
            else if (g_str_equal(name, "BLOCK_JOB_READY"))
                found |= 4;
        }
        ds->polling = found != 7;
    }
    /* A peer without the schema command predates it (QEMU 2.5), not the
     * block-job events: they are used. */
    if (ds->polling)
        XLITE_LOG(egc->ctx, XLITE_LOG_INFO, "domain %u: its disk server "
                  "sends no block-job events: they are polled", ds->domid);
    if ((rc = ds_read_jobs(egc, ds)) < 0)
        XLITE_LOG(egc->ctx, XLITE_LOG_DEBUG, "domain %u: the disk server's "
                  "jobs cannot be asked for", ds->domid);
}

/* Whether the peer is a QEMU known to send the job events (2.12 on). */
static bool
peer_sends_job_events(xlite__qmp *qmp)
{
    unsigned int major = 0;
    unsigned int minor = 0;

    if (sscanf(xlite__qmp_peer_version(qmp), "%u.%u", &major, &minor) != 2)
        return false;
    return major > 2 || (major == 2 && minor >= 12);
}

static void
ds_state(xlite__egc *egc, xlite__qmp *qmp, int rc, void *opaque)
{
    dserver *ds = opaque;
    GQueue waiting;
    GList *l;
    GHashTableIter it;
    gpointer value;

    if (rc == 0) {
        /* Job state is the server's: read it again on every connection,
         * once it is known whether its events or a poll say it. */
        ds->polling = egc->ctx->blockjob_poll;
        if (ds->polling || peer_sends_job_events(qmp))
            rc = ds_read_jobs(egc, ds);
        else
            rc = xlite__qmp_command(egc, qmp, "query-qmp-schema", NULL, -1,
                                    ds_schema_read, ds);
        if (rc == 0)
            return;
    }
    /* The connection failed: waiting operations fail with it, and jobs in
     * flight end (the server died, or cannot be talked to). */
    waiting = ds->waiting;
    g_queue_init(&ds->waiting);
    ds->nops++;
    while ((l = g_queue_pop_head_link(&waiting)))
        op_done(egc, l->data, rc);
    if (ds->export_wait) {
        bj_op *op = g_steal_pointer(&ds->export_wait);

        op_done(egc, op, rc);
    }
    g_hash_table_iter_init(&it, ds->jobs);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        bjob *job = value;

        XLITE_LOG(egc->ctx, XLITE_LOG_ERROR, "domain %u disk %s: the block "
                  "job failed: the disk server connection was lost",
                  ds->domid, job->vdev);
        job_end(egc, ds, job, XLITE_BLOCK_JOB_FAILED);
        g_hash_table_iter_init(&it, ds->jobs);
    }
    ds->nops--;
    ds_release_if_idle(egc, ds);
}

static const xlite__qmp_callbacks ds_callbacks = { ds_state, ds_event };

/* ---------- operations: finding or starting the server ---------- */

static void
snap_disk_free(void *p)
{
    snap_disk *sd = p;

    g_free(sd->vdev);
    g_free(sd->overlay);
    g_free(sd->source);
    g_free(sd->node);
    g_free(sd->ovnode);
    g_free(sd);
}

static void
op_free(bj_op *op)
{
    g_free(op->vdev);
    g_free(op->node);
    g_free(op->backend);
    g_free(op->refusal);
    g_free(op->backing_file);
    g_free(op->top_node);
    g_free(op->base_node);
    g_strfreev(op->delete);
    if (op->snaps)
        g_ptr_array_unref(op->snaps);
    g_free((char *)op->params.vdev);
    g_free((char *)op->params.dest);
    g_free((char *)op->params.base);
    g_free((char *)op->params.top);
    g_free(op->source);
    g_strfreev(op->argv);
    xlite__close(&op->logfd);
    g_free(op);
}

static void
op_done(xlite__egc *egc, bj_op *op, int rc)
{
    xlite__ao *ao = op->ao;
    dserver *ds = op->ds;

    xlite__udlock_release(egc->ctx, &op->lock, false);
    op_free(op);
    if (ds) {
        ds->nops--;
        ds_release_if_idle(egc, ds);
    }
    xlite__ao_complete(egc, ao, rc);
}

static void
op_begin(xlite__egc *egc, bj_op *op)
{
    xlite_ctx *ctx = egc->ctx;
    dserver *ds = g_hash_table_lookup(ctx->blockjobs->servers,
                                      GUINT_TO_POINTER(op->domid));
    int rc;

    if (ds && memcmp(ds->uuid, op->uuid, 16) != 0) {
        /* An older domain's: drop it quietly. */
        ds_forget(ctx, ds);
        ds = NULL;
    }
    if (ds) {
        op->ds = ds;
        ds->nops++;
        if (ds->ready)
            op_run(egc, op);
        else
            g_queue_push_tail_link(&ds->waiting, &op->link);
        return;
    }
    /* Find it, or start it, under the domain's lock. */
    op->lock.ao = op->ao;
    op->lock.domid = op->domid;
    memcpy(op->lock.uuid, op->uuid, 16);
    op->lock.callback = op_locked;
    if ((rc = xlite__udlock_acquire(egc, &op->lock)) < 0)
        op_done(egc, op, rc);
}

static int
prepare_dir(xlite_ctx *ctx, const char *dir, const uint8_t uuid[16])
{
    g_autofree char *uuidpath = g_strdup_printf("%s/uuid", dir);
    g_autoptr(GError) err = NULL;

    /* Whatever a server of an older domain with this domid left. */
    g_autofree char *sockdir = server_sock_dir(dir);

    server_kill_and_remove(ctx, dir);
    if (g_mkdir_with_parents(dir, 0700) < 0)
        return XLITE_ERROR(ctx, -errno, "cannot create %s: %s", dir,
                           g_strerror(errno));
    if (g_mkdir_with_parents(sockdir, 0700) < 0)
        return XLITE_ERROR(ctx, -errno, "cannot create %s: %s", sockdir,
                           g_strerror(errno));
    if (!g_file_set_contents(uuidpath, (const char *)uuid, 16, &err))
        return XLITE_ERROR(ctx, -EIO, "cannot write %s: %s", uuidpath,
                           err->message);
    return 0;
}

static void
op_locked(xlite__egc *egc, xlite__udlock *ul, int rc)
{
    bj_op *op = XLITE__CONTAINER_OF(ul, bj_op, lock);
    xlite_ctx *ctx = egc->ctx;
    g_autofree char *dir = server_dir(ctx, op->domid);
    g_autofree char *sockdir = server_sock_dir(dir);
    g_autofree char *logpath = NULL;

    if (rc < 0) {
        op_done(egc, op, rc);
        return;
    }
    if (server_pid(dir) > 0 && server_dir_is(dir, op->uuid)) {
        xlite__udlock_release(ctx, &op->lock, false);
        op_connect(egc, op);
        return;
    }
    if (op->kind != OP_START && op->kind != OP_RESIZE &&
        op->kind != OP_SNAPSHOT) {
        /* No server: no job. */
        op_done(egc, op, -ENOENT);
        return;
    }
    if ((rc = prepare_dir(ctx, dir, op->uuid)) < 0) {
        op_done(egc, op, rc);
        return;
    }
    logpath = g_strdup_printf("%s/log", dir);
    if ((op->logfd = xlite__open(ctx, logpath, O_WRONLY | O_CREAT | O_APPEND,
                                 0600)) < 0) {
        op_done(egc, op, op->logfd);
        return;
    }
    {
        GPtrArray *a = g_ptr_array_new();

        g_ptr_array_add(a, g_strdup(QSD_PROGRAM));
        g_ptr_array_add(a, g_strdup("--daemonize"));
        g_ptr_array_add(a, g_strdup_printf("--pidfile=%s/pid", dir));
        g_ptr_array_add(a, g_strdup("--chardev"));
        g_ptr_array_add(a, g_strdup_printf("socket,id=qmp,path=%s/qmp.sock,"
                                           "server=on,wait=off", sockdir));
        g_ptr_array_add(a, g_strdup("--monitor"));
        g_ptr_array_add(a, g_strdup("chardev=qmp"));
        g_ptr_array_add(a, g_strdup("--nbd-server"));
        g_ptr_array_add(a, g_strdup_printf("addr.type=unix,"
                                           "addr.path=%s/nbd.sock", sockdir));
        g_ptr_array_add(a, NULL);
        op->argv = (char **)g_ptr_array_free(a, FALSE);
    }
    xlite__spawn_init(&op->spawn);
    op->spawn.ao = op->ao;
    op->spawn.what = "the disk server";
    op->spawn.argv = (const char *const *)op->argv;
    op->spawn.stdfds[0] = -1;
    op->spawn.stdfds[1] = op->logfd;
    op->spawn.stdfds[2] = op->logfd;
    op->spawn.timeout_usec = QSD_START_TIMEOUT;
    op->spawn.unabortable = true;
    op->spawn.death_cb = op_spawned;
    XLITE_LOG(ctx, XLITE_LOG_DEBUG, "domain %u: starting its disk server in "
              "%s", op->domid, dir);
    if ((rc = xlite__spawn(egc, &op->spawn)) < 0)
        op_done(egc, op, rc);
}

static void
op_spawned(xlite__egc *egc, xlite__spawn_state *ss, int rc, int status)
{
    bj_op *op = XLITE__CONTAINER_OF(ss, bj_op, spawn);
    xlite_ctx *ctx = egc->ctx;
    g_autofree char *dir = server_dir(ctx, op->domid);

    xlite__close(&op->logfd);
    if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        rc = XLITE_ERROR(ctx, -EIO, "the disk server of domain %u did not "
                         "start (see %s/log)", op->domid, dir);
    else if (rc == 0 && server_pid(dir) <= 0)
        rc = XLITE_ERROR(ctx, -EIO, "the disk server of domain %u started "
                         "but holds no pid file (see %s/log)", op->domid,
                         dir);
    if (rc < 0) {
        server_kill_and_remove(ctx, dir);
        op_done(egc, op, rc);
        return;
    }
    xlite__udlock_release(ctx, &op->lock, false);
    op_connect(egc, op);
}

static void
op_connect(xlite__egc *egc, bj_op *op)
{
    xlite_ctx *ctx = egc->ctx;
    g_autofree char *sockdir = NULL;
    g_autofree char *path = NULL;
    dserver *ds;
    int rc;

    /* Another operation of this context connected while this one waited
     * for the domain's lock: one connection per context and server (the
     * server's monitor takes one client at a time). */
    ds = g_hash_table_lookup(ctx->blockjobs->servers,
                             GUINT_TO_POINTER(op->domid));
    if (ds && memcmp(ds->uuid, op->uuid, 16) == 0) {
        op->ds = ds;
        ds->nops++;
        if (ds->ready)
            op_run(egc, op);
        else
            g_queue_push_tail_link(&ds->waiting, &op->link);
        return;
    }
    if (ds)
        ds_forget(ctx, ds);
    ds = g_new0(dserver, 1);
    ds->ctx = ctx;
    ds->domid = op->domid;
    memcpy(ds->uuid, op->uuid, 16);
    ds->dir = server_dir(ctx, op->domid);
    g_queue_init(&ds->waiting);
    xlite__ev_time_init(&ds->poll_timer);
    ds->poll_interval = POLL_MIN;
    ds->dismissals = g_ptr_array_new_with_free_func(dismissal_free);
    ds->jobs = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                     bjob_free);
    sockdir = server_sock_dir(ds->dir);
    path = g_strdup_printf("%s/qmp.sock", sockdir);
    if ((rc = xlite__qmp_connect(egc, path, &ds_callbacks, ds,
                                 &ds->qmp)) < 0) {
        ds_free(ctx, ds);
        op_done(egc, op, rc);
        return;
    }
    g_hash_table_insert(ctx->blockjobs->servers, GUINT_TO_POINTER(op->domid),
                        ds);
    op->ds = ds;
    ds->nops++;
    g_queue_push_tail_link(&ds->waiting, &op->link);
}

/* ---------- operations: their commands ---------- */

static int
refused(xlite__egc *egc, bj_op *op, int rc, const char *what,
        const char *errdesc)
{
    if (rc != -EIO)
        return rc;
    return XLITE_ERROR(egc->ctx, -EIO, "the disk server refused to %s disk "
                       "'%s' of domain %u: %s", what, op->vdev, op->domid,
                       errdesc);
}

static void
start_reply(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
            const char *errclass, const char *errdesc, void *opaque)
{
    bj_op *op = opaque;
    dserver *ds = op->ds;
    bjob *job;

    if (rc < 0) {
        g_autofree char *path = job_file(ds->dir, op->vdev);

        job = g_hash_table_lookup(ds->jobs, op->vdev);

        /* Refused: no job was made, so no event either. */
        if (job && job->state == XLITE_BLOCK_JOB_STATE_CREATED) {
            g_hash_table_remove(ds->jobs, op->vdev);
            unlink(path);
        }
        op_done(egc, op, refused(egc, op, rc, "start a block job on",
                                 errdesc));
        return;
    }
    if ((job = g_hash_table_lookup(ds->jobs, op->vdev)))
        job->started = true;
    poll_kick(egc, ds);
    op_done(egc, op, 0);
}

static int
write_job_file(xlite__egc *egc, bj_op *op)
{
    g_autofree char *path = job_file(op->ds->dir, op->vdev);
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "dest");
    json_builder_add_string_value(b, op->params.dest);
    json_builder_set_member_name(b, "format");
    json_builder_add_int_value(b, op->params.dest_format);
    json_builder_set_member_name(b, "node");
    json_builder_add_string_value(b, op->node);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    text = json_generator_to_data(gen, NULL);
    if (!g_file_set_contents(path, text, -1, &err))
        return XLITE_ERROR(egc->ctx, -EIO, "cannot write %s: %s", path,
                           err->message);
    return 0;
}

static void
start_job(xlite__egc *egc, bj_op *op)
{
    dserver *ds = op->ds;
    JsonObject *args = json_object_new();
    const char *cmd;
    bjob *job;
    int rc;

    json_object_set_string_member(args, "job-id", op->vdev);
    json_object_set_string_member(args, "device", op->node);
    if (op->params.bandwidth)
        json_object_set_int_member(args, "speed",
                                   (gint64)MIN(op->params.bandwidth,
                                               (uint64_t)G_MAXINT64));
    if (op->params.type == XLITE_BLOCK_JOB_COPY) {
        cmd = "drive-mirror";
        json_object_set_string_member(args, "target", op->params.dest);
        json_object_set_string_member(args, "format",
            xlite_disk_format_to_string(op->params.dest_format));
        json_object_set_string_member(args, "sync",
                                      op->params.shallow ? "top" : "full");
        json_object_set_string_member(args, "mode",
                                      op->params.reuse_ext ? "existing"
                                                           : "absolute-paths");
        if (op->params.granularity)
            json_object_set_int_member(args, "granularity",
                                       op->params.granularity);
        if (op->params.buf_size)
            json_object_set_int_member(args, "buf-size",
                                       (gint64)MIN(op->params.buf_size,
                                                   (uint64_t)G_MAXINT64));
        if ((rc = write_job_file(egc, op)) < 0) {
            json_object_unref(args);
            op_done(egc, op, rc);
            return;
        }
    } else if (op->params.type == XLITE_BLOCK_JOB_PULL) {
        cmd = "block-stream";
        if (op->base_node)
            json_object_set_string_member(args, "base-node", op->base_node);
        else if (op->params.base)
            json_object_set_string_member(args, "base", op->params.base);
        if (op->backing_file)
            json_object_set_string_member(args, "backing-file",
                                          op->backing_file);
    } else {
        cmd = "block-commit";
        if (op->base_node)
            json_object_set_string_member(args, "base-node", op->base_node);
        else if (op->params.base)
            json_object_set_string_member(args, "base", op->params.base);
        if (op->top_node)
            json_object_set_string_member(args, "top-node", op->top_node);
        else if (op->params.top)
            json_object_set_string_member(args, "top", op->params.top);
        if (op->backing_file)
            json_object_set_string_member(args, "backing-file",
                                          op->backing_file);
        if (op->params.type == XLITE_BLOCK_JOB_ACTIVE_COMMIT &&
            op->params.dest && (rc = write_job_file(egc, op)) < 0) {
            json_object_unref(args);
            op_done(egc, op, rc);
            return;
        }
    }
    if (ds->polling)
        json_object_set_boolean_member(args, "auto-dismiss", false);
    /* The job exists before the command is answered: its first events
     * (created, running) come before the reply. */
    job = g_new0(bjob, 1);
    job->vdev = g_strdup(op->vdev);
    job->type = op->params.type;
    job->state = XLITE_BLOCK_JOB_STATE_CREATED;
    job->dest = g_strdup(op->params.dest);
    job->dest_format = op->params.dest_format;
    job->delete = g_steal_pointer(&op->delete);
    g_hash_table_insert(ds->jobs, job->vdev, job);
    if ((rc = xlite__qmp_command(egc, ds->qmp, cmd, args, -1, start_reply,
                                 op)) < 0) {
        g_hash_table_remove(ds->jobs, op->vdev);
        op_done(egc, op, rc);
    }
}


/* ---------- the chain a pull or a commit works on ----------
 *
 * What only the disk's chain, as the server opened it, tells: the base of
 * an active commit given none (the bottom) or of a shallow commit (top's
 * backing image), the relative name of the new backing file (RELATIVE),
 * and the images a commit deletes once done (DELETE).  The chain is read
 * once, from the server's view of the node the disk's export serves.
 */

/* Whether a backing file name, as an image records it, is relative: not
 * absolute, and not a protocol ("nbd:...", "json:{...}"; QEMU's
 * path_has_protocol). */
static bool
backing_name_is_relative(const char *name)
{
    const char *colon;

    if (!name || !*name || name[0] == '/')
        return false;
    colon = strchr(name, ':');
    return !colon || memchr(name, '/', colon - name);
}

/* rel taken relative to the directory of path (libvirt's and QEMU's
 * rule: what follows the last '/' of path is replaced). */
static char *
relative_join(const char *path, const char *rel)
{
    const char *slash = path ? strrchr(path, '/') : NULL;

    return g_strdup_printf("%.*s%s", slash ? (int)(slash - path + 1) : 0,
                           path ? path : "", rel);
}

static bool
same_file(const char *a, const char *b)
{
    g_autofree char *ca = g_canonicalize_filename(a, "/");
    g_autofree char *cb = g_canonicalize_filename(b, "/");

    return g_str_equal(ca, cb);
}

/* An image's file.  QEMU names an image whose backing it did not open
 * itself (a snapshot's overlay, put on top with blockdev-snapshot) by its
 * options, "json:{... "file": {"driver": "file", "filename": F}}": F is
 * the file. */
static char *
image_file_of(JsonObject *img)
{
    const char *name = json_object_get_string_member(img, "filename");
    g_autoptr(JsonParser) p = NULL;
    JsonObject *o;
    JsonObject *file;

    if (!g_str_has_prefix(name, "json:"))
        return g_strdup(name);
    p = json_parser_new();
    if (!json_parser_load_from_data(p, name + 5, -1, NULL) ||
        JSON_NODE_TYPE(json_parser_get_root(p)) != JSON_NODE_OBJECT)
        return g_strdup(name);
    o = json_node_get_object(json_parser_get_root(p));
    if (!json_object_has_member(o, "file") ||
        JSON_NODE_TYPE(json_object_get_member(o, "file")) != JSON_NODE_OBJECT)
        return g_strdup(name);
    file = json_object_get_object_member(o, "file");
    if (!node_is_string(file, "filename"))
        return g_strdup(name);
    return g_strdup(json_object_get_string_member(file, "filename"));
}

/* One image of a chain: what the server says of it (borrowed from its
 * reply), and its file. */
typedef struct {
    JsonObject *info;
    char *file;
} chain_img;

static void
chain_img_free(void *p)
{
    chain_img *ci = p;

    g_free(ci->file);
    g_free(ci);
}

static JsonObject *
image_info(GPtrArray *imgs, guint i)
{
    return ((chain_img *)imgs->pdata[i])->info;
}

static const char *
image_file(GPtrArray *imgs, guint i)
{
    return ((chain_img *)imgs->pdata[i])->file;
}

/* The images of node's chain, top first (ImageInfo objects, borrowed
 * from ret); NULL if the server does not list node. */
static GPtrArray *
chain_images(JsonNode *ret, const char *node)
{
    JsonArray *arr = json_node_get_array(ret);

    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonNode *n = json_array_get_element(arr, i);
        GPtrArray *imgs;
        JsonObject *o;
        JsonObject *img;

        if (JSON_NODE_TYPE(n) != JSON_NODE_OBJECT)
            continue;
        o = json_node_get_object(n);
        if (!node_is_string(o, "node-name") ||
            !g_str_equal(json_object_get_string_member(o, "node-name"),
                         node) ||
            !json_object_has_member(o, "image") ||
            JSON_NODE_TYPE(json_object_get_member(o, "image")) !=
                JSON_NODE_OBJECT)
            continue;
        imgs = g_ptr_array_new_with_free_func(chain_img_free);
        img = json_object_get_object_member(o, "image");
        for (;;) {
            chain_img *ci;

            if (!node_is_string(img, "filename") || imgs->len > 256) {
                g_ptr_array_set_size(imgs, 0);
                break;
            }
            ci = g_new0(chain_img, 1);
            ci->info = img;
            ci->file = image_file_of(img);
            g_ptr_array_add(imgs, ci);
            if (!json_object_has_member(img, "backing-image") ||
                JSON_NODE_TYPE(json_object_get_member(img, "backing-image"))
                    != JSON_NODE_OBJECT)
                break;
            img = json_object_get_object_member(img, "backing-image");
        }
        return imgs;
    }
    return NULL;
}

/* The node that opens file as an image (not its protocol node), from the
 * server's node list; NULL if none.  QEMU finds a commit's top and base
 * by their file names only if it opened them itself: a snapshot's
 * overlays are known by their nodes. */
static char *
node_of_file(JsonNode *ret, const char *file)
{
    JsonArray *arr = json_node_get_array(ret);

    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonNode *n = json_array_get_element(arr, i);
        g_autofree char *f = NULL;
        JsonObject *o;

        if (JSON_NODE_TYPE(n) != JSON_NODE_OBJECT)
            continue;
        o = json_node_get_object(n);
        if (!node_is_string(o, "node-name") || !node_is_string(o, "drv") ||
            g_str_equal(json_object_get_string_member(o, "drv"), "file") ||
            !json_object_has_member(o, "image") ||
            JSON_NODE_TYPE(json_object_get_member(o, "image")) !=
                JSON_NODE_OBJECT ||
            !node_is_string(json_object_get_object_member(o, "image"),
                            "filename"))
            continue;
        f = image_file_of(json_object_get_object_member(o, "image"));
        if (same_file(f, file))
            return g_strdup(json_object_get_string_member(o, "node-name"));
    }
    return NULL;
}

/* The index of the image name names in imgs, at from or below; -1 if
 * none.  An absolute name is the image's file; a relative one (as
 * libvirt's virStorageSourceChainLookup takes it: what Nova passes, the
 * names Cinder gave the files) is the name the image above records for
 * it, or names it from that image's directory. */
static int
image_find(GPtrArray *imgs, guint from, const char *name)
{
    for (guint i = from; i < imgs->len; i++) {
        JsonObject *above = i > 0 ? image_info(imgs, i - 1) : NULL;
        g_autofree char *dir = NULL;
        g_autofree char *full = NULL;

        if (name[0] == '/') {
            if (same_file(image_file(imgs, i), name))
                return (int)i;
            continue;
        }
        if (!above)
            continue;
        if (node_is_string(above, "backing-filename") &&
            g_str_equal(json_object_get_string_member(above,
                                                      "backing-filename"),
                        name))
            return (int)i;
        dir = g_path_get_dirname(image_file(imgs, i - 1));
        full = g_build_filename(dir, name, NULL);
        if (same_file(full, image_file(imgs, i)))
            return (int)i;
    }
    return -1;
}

/* The name the image above top gets for base (index b) with RELATIVE:
 * the names the images from top down to base give each other, each
 * relative to the one before (libvirt's
 * virStorageSourceGetRelativeBackingPath).  top is the first image below
 * the one rewritten. */
static int
relative_backing(xlite__egc *egc, bj_op *op, GPtrArray *imgs, guint top,
                 guint b, char **name_r)
{
    g_autofree char *path = NULL;

    for (guint k = top; k <= b; k++) {
        JsonObject *above = image_info(imgs, k - 1);
        const char *rel = node_is_string(above, "backing-filename")
                          ? json_object_get_string_member(above,
                                                          "backing-filename")
                          : NULL;
        char *next;

        if (!backing_name_is_relative(rel))
            return XLITE_ERROR(egc->ctx, -EXDEV, "%s names its backing "
                               "file %s by an absolute path: disk '%s' of "
                               "domain %u cannot keep a relative backing "
                               "name", image_file(imgs, k - 1),
                               rel ? rel : "(none)", op->vdev, op->domid);
        next = relative_join(path, rel);
        g_free(path);
        path = next;
    }
    *name_r = g_steal_pointer(&path);
    return 0;
}

/* From the chain: the base (and with it an active commit's pivot
 * target), the relative backing name, the images to delete. */
static int
chain_resolve(xlite__egc *egc, bj_op *op, GPtrArray *imgs)
{
    xlite_ctx *ctx = egc->ctx;
    bool pull = op->params.type == XLITE_BLOCK_JOB_PULL;
    bool shallow = op->params.shallow && !pull;
    int top = 0;
    int b;

    if (imgs->len == 0)
        return XLITE_ERROR(ctx, -EPROTO, "the disk server does not say the "
                           "chain of disk '%s'", op->vdev);
    for (guint i = 0; i < imgs->len; i++)
        XLITE_LOG(ctx, XLITE_LOG_DEBUG, "domain %u disk %s: chain image %u: "
                  "%s", op->domid, op->vdev, i, image_file(imgs, i));
    if (op->params.type == XLITE_BLOCK_JOB_COMMIT) {
        if ((top = image_find(imgs, 1, op->params.top)) < 0)
            return XLITE_ERROR(ctx, -EINVAL, "%s is not below the active "
                               "image of disk '%s' of domain %u",
                               op->params.top, op->vdev, op->domid);
        g_free((char *)op->params.top);
        op->params.top = g_strdup(image_file(imgs, top));
    }
    if (!pull && (guint)top + 1 >= imgs->len)
        return XLITE_ERROR(ctx, -ENODATA, "%s, top of the commit of disk "
                           "'%s' of domain %u, has no backing file",
                           image_file(imgs, top), op->vdev, op->domid);
    if (op->params.base) {
        if ((b = image_find(imgs, top + 1, op->params.base)) < 0)
            return XLITE_ERROR(ctx, -EINVAL, "%s is not below %s in the "
                               "chain of disk '%s' of domain %u",
                               op->params.base, image_file(imgs, top),
                               op->vdev, op->domid);
        if (shallow && b != top + 1)
            return XLITE_ERROR(ctx, -ENXIO, "%s is not immediately below "
                               "%s in the chain of disk '%s' of domain %u",
                               op->params.base, image_file(imgs, top),
                               op->vdev, op->domid);
        g_free((char *)op->params.base);
        op->params.base = g_strdup(image_file(imgs, b));
    } else if (pull) {
        b = (int)imgs->len;
    } else {
        b = shallow ? top + 1 : (int)imgs->len - 1;
        op->params.base = g_strdup(image_file(imgs, b));
    }
    if (op->params.type == XLITE_BLOCK_JOB_ACTIVE_COMMIT) {
        JsonObject *img = image_info(imgs, b);
        const char *fmt = node_is_string(img, "format")
                          ? json_object_get_string_member(img, "format") : "";

        g_free((char *)op->params.dest);
        op->params.dest = g_strdup(image_file(imgs, b));
        op->params.dest_format = g_str_equal(fmt, "qcow2")
                                 ? XLITE_DISK_FORMAT_QCOW2
                                 : g_str_equal(fmt, "raw")
                                 ? XLITE_DISK_FORMAT_RAW
                                 : XLITE_DISK_FORMAT_DEFAULT;
    }
    if (op->params.relative && op->params.base &&
        op->params.type != XLITE_BLOCK_JOB_ACTIVE_COMMIT) {
        int rc = relative_backing(egc, op, imgs, pull ? 1 : top, b,
                                  &op->backing_file);

        if (rc < 0)
            return rc;
    }
    if (op->params.delete_committed && !pull) {
        GPtrArray *del = g_ptr_array_new();

        for (int k = top; k < b; k++) {
            if (!same_file(image_file(imgs, k), image_file(imgs, b)))
                g_ptr_array_add(del, g_strdup(image_file(imgs, k)));
        }
        g_ptr_array_add(del, NULL);
        g_strfreev(op->delete);
        op->delete = (char **)g_ptr_array_free(del, FALSE);
    }
    return 0;
}

static void
chain_listed(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
             const char *errclass, const char *errdesc, void *opaque)
{
    bj_op *op = opaque;
    g_autoptr(GPtrArray) imgs = NULL;

    if (rc < 0) {
        op_done(egc, op, refused(egc, op, rc, "list the chain of", errdesc));
        return;
    }
    if (!ret || JSON_NODE_TYPE(ret) != JSON_NODE_ARRAY) {
        op_done(egc, op, XLITE_ERROR(egc->ctx, -EPROTO, "the disk server's "
                                     "node list is not a list"));
        return;
    }
    if (!(imgs = chain_images(ret, op->node))) {
        op_done(egc, op, XLITE_ERROR(egc->ctx, -EPROTO, "the disk server "
                                     "does not list disk '%s'", op->vdev));
        return;
    }
    if ((rc = chain_resolve(egc, op, imgs)) < 0) {
        op_done(egc, op, rc);
        return;
    }
    if (op->params.type == XLITE_BLOCK_JOB_COMMIT)
        op->top_node = node_of_file(ret, op->params.top);
    if (op->params.base)
        op->base_node = node_of_file(ret, op->params.base);
    start_job(egc, op);
}

static void
start_resolved(xlite__egc *egc, bj_op *op)
{
    const xlite_block_job_params *p = &op->params;
    int rc;

    /* A copy, or a pull of the whole chain, names no image of it. */
    if (p->type == XLITE_BLOCK_JOB_COPY ||
        (p->type == XLITE_BLOCK_JOB_PULL && !p->base)) {
        start_job(egc, op);
        return;
    }
    if ((rc = xlite__qmp_command(egc, op->ds->qmp, "query-named-block-nodes",
                                 NULL, -1, chain_listed, op)) < 0)
        op_done(egc, op, rc);
}

/*
 * Where a guest finds the disk's export: "nbd-socket" (the server's NBD
 * socket) and "nbd-export" (the export's name) in the disk's backend
 * directory, written together each time the export is added, as a qdisk
 * backend publishes what its frontend needs (docs/blockjobs.md, "The
 * guest's I/O").  The frontend watches "nbd-export" and connects again
 * when it changes.  Nothing here depends on it: a failure is logged.
 */
typedef struct {
    const char *backend;
    const char *sock;
    const char *export;
} publish;

static int
publish_body(xlite_ctx *ctx, struct xs_handle *xsh, xs_transaction_t t,
             void *opaque)
{
    publish *p = opaque;
    g_autofree char *spath = g_strdup_printf("%s/nbd-socket", p->backend);
    g_autofree char *epath = g_strdup_printf("%s/nbd-export", p->backend);
    g_autofree char *state = g_strdup_printf("%s/state", p->backend);
    unsigned int len = 0;
    char *v;

    /* A device being removed keeps what it had. */
    if (!(v = xs_read(xsh, t, state, &len)))
        return -ENOENT;
    free(v);
    if (!xs_write(xsh, t, spath, p->sock, strlen(p->sock)) ||
        !xs_write(xsh, t, epath, p->export, strlen(p->export)))
        return -errno;
    return 0;
}

static void
publish_export(xlite_ctx *ctx, uint32_t domid, const uint8_t uuid[16],
               const char *vdev)
{
    g_autofree char *dir = server_dir(ctx, domid);
    g_autofree char *sockdir = server_sock_dir(dir);
    g_autofree char *sock = g_strdup_printf("%s/nbd.sock", sockdir);
    g_autofree char *backend = NULL;
    xlite_domain_config cfg;
    int devid;
    int rc;

    xlite_domain_config_init(&cfg);
    if (xlite__userdata_load(ctx, domid, uuid, &cfg) == 0) {
        for (size_t i = 0; i < cfg.num_disks; i++) {
            if (g_strcmp0(cfg.disks[i].vdev, vdev) == 0 &&
                xlite__disk_devid(ctx, vdev, &devid) == 0)
                backend = xlite__disk_backend_path(domid, &cfg.disks[i],
                                                   devid);
        }
    }
    xlite_domain_config_dispose(&cfg);
    if (!backend) {
        XLITE_LOG(ctx, XLITE_LOG_WARN, "domain %u: the export of disk %s "
                  "could not be published: no such disk", domid, vdev);
        return;
    }
    {
        publish p = { backend, sock, vdev };

        if ((rc = xlite__xs_transact(ctx, NULL, publish_body, &p)) < 0)
            XLITE_LOG(ctx, XLITE_LOG_WARN, "domain %u: the export of disk "
                      "%s could not be published in %s: %s", domid, vdev,
                      backend, g_strerror(-rc));
    }
}

static void
export_reply(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
             const char *errclass, const char *errdesc, void *opaque)
{
    bj_op *op = opaque;

    if (rc < 0) {
        op_done(egc, op, refused(egc, op, rc, "export", errdesc));
        return;
    }
    publish_export(egc->ctx, op->domid, op->uuid, op->vdev);
    node_resolve(egc, op);
}

static void
node_added(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
           const char *errclass, const char *errdesc, void *opaque)
{
    bj_op *op = opaque;
    JsonObject *args;

    if (rc < 0) {
        op_done(egc, op, refused(egc, op, rc, "open", errdesc));
        return;
    }
    /* The disk's NBD export, through which a guest does its I/O. */
    args = json_object_new();
    json_object_set_string_member(args, "type", "nbd");
    json_object_set_string_member(args, "id", op->vdev);
    json_object_set_string_member(args, "node-name", op->vdev);
    json_object_set_string_member(args, "name", op->vdev);
    json_object_set_boolean_member(args, "writable", true);
    if ((rc = xlite__qmp_command(egc, qmp, "block-export-add", args, -1,
                                 export_reply, op)) < 0)
        op_done(egc, op, rc);
}

static void
nodes_listed(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
             const char *errclass, const char *errdesc, void *opaque)
{
    bj_op *op = opaque;
    JsonObject *args;
    JsonObject *file;
    JsonArray *arr;

    if (rc < 0) {
        op_done(egc, op, refused(egc, op, rc, "list the nodes of", errdesc));
        return;
    }
    if (!ret || JSON_NODE_TYPE(ret) != JSON_NODE_ARRAY) {
        op_done(egc, op, XLITE_ERROR(egc->ctx, -EPROTO, "the disk server's "
                                     "node list is not a list"));
        return;
    }
    arr = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonNode *n = json_array_get_element(arr, i);
        JsonObject *o;

        if (JSON_NODE_TYPE(n) != JSON_NODE_OBJECT)
            continue;
        o = json_node_get_object(n);
        if (node_is_string(o, "node-name") &&
            g_str_equal(json_object_get_string_member(o, "node-name"),
                        op->vdev)) {
            /* Served already (an earlier operation on this disk). */
            node_resolve(egc, op);
            return;
        }
    }
    /* One block node per disk, named after it, over its file. */
    file = json_object_new();
    json_object_set_string_member(file, "driver", "file");
    json_object_set_string_member(file, "filename", op->source);
    {
        g_autofree char *fname = g_strdup_printf("%s-file", op->vdev);

        json_object_set_string_member(file, "node-name", fname);
    }
    args = json_object_new();
    json_object_set_string_member(args, "driver",
                                  xlite_disk_format_to_string(op->source_format));
    json_object_set_string_member(args, "node-name", op->vdev);
    json_object_set_object_member(args, "file", file);
    if ((rc = xlite__qmp_command(egc, qmp, "blockdev-add", args, -1,
                                 node_added, op)) < 0)
        op_done(egc, op, rc);
}

/* The disk (op->vdev, op->source) is opened in the server, with its
 * export, unless it is already; then node_resolve. */
static void
op_ensure_node(xlite__egc *egc, bj_op *op)
{
    JsonObject *args = json_object_new();
    int rc;

    json_object_set_boolean_member(args, "flat", true);
    if ((rc = xlite__qmp_command(egc, op->ds->qmp, "query-named-block-nodes",
                                 args, -1, nodes_listed, op)) < 0)
        op_done(egc, op, rc);
}

/* Which node the disk's export serves: the disk's own node until
 * something was put on top of it (a snapshot's overlay) or in its place
 * (a pivot).  Jobs and resizes act on that node, the guest's. */
static void
exports_listed(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
               const char *errclass, const char *errdesc, void *opaque)
{
    bj_op *op = opaque;
    JsonArray *arr;

    if (rc < 0) {
        op_done(egc, op, refused(egc, op, rc, "list the exports of",
                                 errdesc));
        return;
    }
    if (!ret || JSON_NODE_TYPE(ret) != JSON_NODE_ARRAY) {
        op_done(egc, op, XLITE_ERROR(egc->ctx, -EPROTO, "the disk server's "
                                     "export list is not a list"));
        return;
    }
    arr = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonNode *n = json_array_get_element(arr, i);
        JsonObject *o;

        if (JSON_NODE_TYPE(n) != JSON_NODE_OBJECT)
            continue;
        o = json_node_get_object(n);
        if (!node_is_string(o, "id") || !node_is_string(o, "node-name") ||
            !g_str_equal(json_object_get_string_member(o, "id"), op->vdev))
            continue;
        g_free(op->node);
        op->node = g_strdup(json_object_get_string_member(o, "node-name"));
        node_ready(egc, op);
        return;
    }
    op_done(egc, op, XLITE_ERROR(egc->ctx, -EPROTO, "the disk server does "
                                 "not export disk '%s'", op->vdev));
}

static void
node_resolve(xlite__egc *egc, bj_op *op)
{
    int rc;

    if ((rc = xlite__qmp_command(egc, op->ds->qmp, "query-block-exports",
                                 NULL, -1, exports_listed, op)) < 0)
        op_done(egc, op, rc);
}

/* ---------- resize ---------- */

/*
 * The backend tells its frontend of the new size as Linux's xen-blkback
 * does (xen_vbd_resize) and QEMU's xen-block after it: "sectors", and
 * "state" written again with its value, in one transaction; a connected
 * blkfront then reads the capacity again (blkback_changed, Connected).
 */
typedef struct {
    const char *backend;
    uint64_t sectors;
} announce;

static int
announce_body(xlite_ctx *ctx, struct xs_handle *xsh, xs_transaction_t t,
              void *opaque)
{
    announce *a = opaque;
    g_autofree char *spath = g_strdup_printf("%s/sectors", a->backend);
    g_autofree char *stpath = g_strdup_printf("%s/state", a->backend);
    g_autofree char *sectors = g_strdup_printf("%" G_GUINT64_FORMAT,
                                               a->sectors);
    g_autofree char *state = NULL;
    unsigned int len = 0;
    char *v;

    if (!(v = xs_read(xsh, t, stpath, &len)))
        return XLITE_ERROR(ctx, -ENOENT, "%s has no state", a->backend);
    state = g_strndup(v, len);
    free(v);
    /* A XenbusState: one digit. */
    if (strlen(state) != 1 || !g_ascii_isdigit(state[0]))
        return XLITE_ERROR(ctx, -EPROTO, "%s has no valid state",
                           a->backend);
    if (!xs_write(xsh, t, spath, sectors, strlen(sectors)) ||
        !xs_write(xsh, t, stpath, state, strlen(state)))
        return XLITE_ERROR(ctx, -errno, "cannot write %s: %s", spath,
                           g_strerror(errno));
    return 0;
}

static int
resize_announce(xlite_ctx *ctx, const char *backend, uint64_t size)
{
    announce a = { backend, size / 512 };
    int rc;

    rc = xlite__xs_transact(ctx, "tell the frontend the disk's new size",
                            announce_body, &a);
    return rc < 0 ? rc : 0;
}

static void
resize_exported(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
                const char *errclass, const char *errdesc, void *opaque)
{
    bj_op *op = opaque;

    if (rc < 0) {
        op_done(egc, op, refused(egc, op, rc, "export", errdesc));
        return;
    }
    /* Its clients connect again (the export went): the size is new. */
    publish_export(egc->ctx, op->domid, op->uuid, op->vdev);
    if (op->refusal) {
        op_done(egc, op, refused(egc, op, -EIO, "resize", op->refusal));
        return;
    }
    op_done(egc, op, resize_announce(egc->ctx, op->backend, op->size));
}

/* Resized or refused (op->refusal says why), the export comes back. */
static void
resize_reply(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
             const char *errclass, const char *errdesc, void *opaque)
{
    bj_op *op = opaque;
    JsonObject *args;

    if (rc < 0 && rc != -EIO) {
        op_done(egc, op, rc);
        return;
    }
    if (rc < 0)
        op->refusal = g_strdup(errdesc);
    args = json_object_new();
    json_object_set_string_member(args, "type", "nbd");
    json_object_set_string_member(args, "id", op->vdev);
    json_object_set_string_member(args, "node-name", op->node);
    json_object_set_string_member(args, "name", op->vdev);
    json_object_set_boolean_member(args, "writable", true);
    if ((rc = xlite__qmp_command(egc, qmp, "block-export-add", args, -1,
                                 resize_exported, op)) < 0)
        op_done(egc, op, rc);
}

/* The export is gone once block-export-del was answered and its
 * BLOCK_EXPORT_DELETED came, in either order: then the resize. */
static void
resize_export_gone(xlite__egc *egc, bj_op *op, bool gone, bool replied)
{
    JsonObject *args;
    int rc;

    op->export_gone |= gone;
    op->export_del_replied |= replied;
    if (!op->export_gone || !op->export_del_replied)
        return;
    op->ds->export_wait = NULL;
    args = json_object_new();
    json_object_set_string_member(args, "node-name", op->node);
    json_object_set_int_member(args, "size", (gint64)op->size);
    if ((rc = xlite__qmp_command(egc, op->ds->qmp, "block_resize", args, -1,
                                 resize_reply, op)) < 0)
        op_done(egc, op, rc);
}

static void
resize_export_deleted(xlite__egc *egc, xlite__qmp *qmp, int rc,
                      JsonNode *ret, const char *errclass,
                      const char *errdesc, void *opaque)
{
    bj_op *op = opaque;

    if (rc < 0) {
        op->ds->export_wait = NULL;
        op_done(egc, op, refused(egc, op, rc, "stop the export of",
                                 errdesc));
        return;
    }
    resize_export_gone(egc, op, false, true);
}

/* The node's virtual size: never shrink it. */
static void
resize_sized(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
             const char *errclass, const char *errdesc, void *opaque)
{
    bj_op *op = opaque;
    JsonObject *args;
    JsonArray *arr;

    if (rc < 0) {
        op_done(egc, op, refused(egc, op, rc, "list the nodes of", errdesc));
        return;
    }
    if (!ret || JSON_NODE_TYPE(ret) != JSON_NODE_ARRAY) {
        op_done(egc, op, XLITE_ERROR(egc->ctx, -EPROTO, "the disk server's "
                                     "node list is not a list"));
        return;
    }
    arr = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonNode *n = json_array_get_element(arr, i);
        JsonObject *o;
        JsonObject *img;
        uint64_t cur;

        if (JSON_NODE_TYPE(n) != JSON_NODE_OBJECT)
            continue;
        o = json_node_get_object(n);
        if (!node_is_string(o, "node-name") ||
            !g_str_equal(json_object_get_string_member(o, "node-name"),
                         op->node))
            continue;
        if (!json_object_has_member(o, "image") ||
            JSON_NODE_TYPE(json_object_get_member(o, "image")) !=
                JSON_NODE_OBJECT ||
            !node_is_int((img = json_object_get_object_member(o, "image")),
                         "virtual-size")) {
            op_done(egc, op, XLITE_ERROR(egc->ctx, -EPROTO, "the disk "
                                         "server does not say the size of "
                                         "disk '%s'", op->vdev));
            return;
        }
        cur = json_object_get_int_member(img, "virtual-size");
        if (op->size < cur) {
            op_done(egc, op, XLITE_ERROR(egc->ctx, -ERANGE, "disk '%s' of "
                                         "domain %u has %" G_GUINT64_FORMAT
                                         " bytes: it cannot shrink to %"
                                         G_GUINT64_FORMAT, op->vdev,
                                         op->domid, cur, op->size));
            return;
        }
        /* An NBD export fixes its size for its clients (QEMU's NBD
         * server refuses a resize under it): it goes, and comes back
         * after, with the new size.  Its end is an event, which may come
         * before the command's reply. */
        if (op->ds->export_wait) {
            op_done(egc, op, XLITE_ERROR(egc->ctx, -EBUSY, "domain %u has "
                                         "a resize under way", op->domid));
            return;
        }
        args = json_object_new();
        json_object_set_string_member(args, "id", op->vdev);
        json_object_set_string_member(args, "mode", "hard");
        op->ds->export_wait = op;
        if ((rc = xlite__qmp_command(egc, qmp, "block-export-del", args, -1,
                                     resize_export_deleted, op)) < 0) {
            op->ds->export_wait = NULL;
            op_done(egc, op, rc);
        }
        return;
    }
    op_done(egc, op, XLITE_ERROR(egc->ctx, -EPROTO, "the disk server does "
                                 "not list disk '%s'", op->vdev));
}

/* A raw file served by blkback: the file grows, and blkback says so. */
static int
resize_file(xlite_ctx *ctx, bj_op *op)
{
    struct stat st;
    int fd;
    int rc = 0;

    if ((fd = xlite__open(ctx, op->source, O_WRONLY | O_NOCTTY, 0)) < 0)
        return fd;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = XLITE_ERROR(ctx, -EOPNOTSUPP, "disk '%s' of domain %u is not a "
                         "file", op->vdev, op->domid);
    } else if (op->size < (uint64_t)st.st_size) {
        rc = XLITE_ERROR(ctx, -ERANGE, "disk '%s' of domain %u has %lld "
                         "bytes: it cannot shrink to %" G_GUINT64_FORMAT,
                         op->vdev, op->domid, (long long)st.st_size,
                         op->size);
    } else if (ftruncate(fd, (off_t)op->size) < 0) {
        rc = XLITE_ERROR(ctx, -errno, "cannot grow %s: %s", op->source,
                         g_strerror(errno));
    }
    xlite__close(&fd);
    if (rc < 0)
        return rc;
    return resize_announce(ctx, op->backend, op->size);
}

/* ---------- snapshot ---------- */

static void
snap_select(bj_op *op, guint i)
{
    snap_disk *sd = op->snaps->pdata[i];

    op->cur = i;
    g_free(op->vdev);
    op->vdev = g_strdup(sd->vdev);
    g_free(op->source);
    op->source = g_strdup(sd->source);
    op->source_format = sd->format;
}

static void
snap_closed(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
            const char *errclass, const char *errdesc, void *opaque)
{
    if (rc < 0)
        XLITE_LOG(egc->ctx, XLITE_LOG_WARN, "the disk server did not close "
                  "an overlay after a failed snapshot: %s",
                  errdesc ? errdesc : xlite_errmsg());
}

/* The overlays this call made go again: closed in the server (the
 * replies are not waited for: the node is of no use either way), and
 * removed if created. */
static void
snap_undo(xlite__egc *egc, bj_op *op)
{
    for (guint i = 0; i < op->snaps->len; i++) {
        snap_disk *sd = op->snaps->pdata[i];

        if (sd->ovnode && op->ds && op->ds->qmp &&
            !xlite__qmp_is_dead(op->ds->qmp)) {
            JsonObject *args = json_object_new();

            json_object_set_string_member(args, "node-name", sd->ovnode);
            xlite__qmp_command(egc, op->ds->qmp, "blockdev-del", args, -1,
                               snap_closed, NULL);
        }
        if (sd->created && unlink(sd->overlay) < 0)
            XLITE_LOG(egc->ctx, XLITE_LOG_WARN, "cannot remove %s: %s",
                      sd->overlay, g_strerror(errno));
    }
}

static void
snap_fail(xlite__egc *egc, bj_op *op, int rc)
{
    snap_undo(egc, op);
    op_done(egc, op, rc);
}

static void
snap_created(xlite__egc *egc, xlite__spawn_state *ss, int rc, int status)
{
    bj_op *op = XLITE__CONTAINER_OF(ss, bj_op, spawn);
    snap_disk *sd = op->snaps->pdata[op->cur];
    g_autofree char *logpath = g_strdup_printf("%s/log", op->ds->dir);

    xlite__close(&op->logfd);
    if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        rc = XLITE_ERROR(egc->ctx, -EIO, "qemu-img could not create the "
                         "overlay %s of disk '%s' (see %s)", sd->overlay,
                         sd->vdev, logpath);
    if (rc < 0) {
        unlink(sd->overlay);
        snap_fail(egc, op, rc);
        return;
    }
    sd->created = true;
    op->cur++;
    snap_create_next(egc, op);
}

/* Without REUSE_EXT: the overlays, one after the other, with qemu-img
 * (its output in the server's log); then they are opened. */
static void
snap_create_next(xlite__egc *egc, bj_op *op)
{
    xlite_ctx *ctx = egc->ctx;
    g_autofree char *logpath = g_strdup_printf("%s/log", op->ds->dir);
    snap_disk *sd;
    int rc;

    if (op->cur == op->snaps->len) {
        op->cur = 0;
        snap_add_next(egc, op);
        return;
    }
    sd = op->snaps->pdata[op->cur];
    if (g_file_test(sd->overlay, G_FILE_TEST_EXISTS)) {
        snap_fail(egc, op, XLITE_ERROR(ctx, -EEXIST, "the overlay %s of "
                                       "disk '%s' exists already",
                                       sd->overlay, sd->vdev));
        return;
    }
    if ((op->logfd = xlite__open(ctx, logpath, O_WRONLY | O_CREAT | O_APPEND,
                                 0600)) < 0) {
        snap_fail(egc, op, op->logfd);
        return;
    }
    g_strfreev(op->argv);
    op->argv = g_new0(char *, 12);
    op->argv[0] = g_strdup("qemu-img");
    op->argv[1] = g_strdup("create");
    op->argv[2] = g_strdup("-q");
    op->argv[3] = g_strdup("-f");
    op->argv[4] = g_strdup("qcow2");
    op->argv[5] = g_strdup("-b");
    op->argv[6] = g_strdup(sd->source);
    op->argv[7] = g_strdup("-F");
    op->argv[8] = g_strdup(xlite_disk_format_to_string(sd->format));
    op->argv[9] = g_strdup(sd->overlay);
    xlite__spawn_init(&op->spawn);
    op->spawn.ao = op->ao;
    op->spawn.what = "qemu-img";
    op->spawn.argv = (const char *const *)op->argv;
    op->spawn.stdfds[0] = -1;
    op->spawn.stdfds[1] = op->logfd;
    op->spawn.stdfds[2] = op->logfd;
    op->spawn.timeout_usec = QSD_START_TIMEOUT;
    op->spawn.death_cb = snap_created;
    if ((rc = xlite__spawn(egc, &op->spawn)) < 0) {
        xlite__close(&op->logfd);
        snap_fail(egc, op, rc);
    }
}

/* Each disk opened in the server, its top node known (node_ready comes
 * back here); then the overlays created (unless they exist) and opened. */
static void
snap_next_disk(xlite__egc *egc, bj_op *op)
{
    if (op->cur < op->snaps->len) {
        snap_select(op, op->cur);
        op_ensure_node(egc, op);
        return;
    }
    op->cur = 0;
    if (op->reuse_ext)
        snap_add_next(egc, op);
    else
        snap_create_next(egc, op);
}

static void
snap_taken(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
           const char *errclass, const char *errdesc, void *opaque)
{
    bj_op *op = opaque;
    xlite_domain_config cfg;

    if (rc < 0) {
        if (rc == -EIO)
            rc = XLITE_ERROR(egc->ctx, -EIO, "the disk server refused the "
                             "snapshot of domain %u: %s", op->domid,
                             errdesc);
        snap_fail(egc, op, rc);
        return;
    }
    /* Taken: from here on the overlays are the disks' images. */
    xlite_domain_config_init(&cfg);
    if ((rc = xlite__userdata_load(egc->ctx, op->domid, op->uuid,
                                   &cfg)) == 0) {
        for (size_t i = 0; i < cfg.num_disks; i++) {
            for (guint j = 0; j < op->snaps->len; j++) {
                snap_disk *sd = op->snaps->pdata[j];

                if (g_strcmp0(cfg.disks[i].vdev, sd->vdev) != 0)
                    continue;
                g_free(cfg.disks[i].target);
                cfg.disks[i].target = g_strdup(sd->overlay);
                cfg.disks[i].format = XLITE_DISK_FORMAT_QCOW2;
            }
        }
        rc = xlite__userdata_store(egc->ctx, op->domid, op->uuid, &cfg);
    }
    xlite_domain_config_dispose(&cfg);
    if (rc < 0)
        XLITE_LOG(egc->ctx, XLITE_LOG_WARN, "domain %u: the stored config "
                  "could not be updated after a snapshot", op->domid);
    op_done(egc, op, 0);
}

/* All overlays open: one transaction puts each on top of its disk. */
static void
snap_take(xlite__egc *egc, bj_op *op)
{
    JsonObject *args = json_object_new();
    JsonArray *actions = json_array_new();
    int rc;

    for (guint i = 0; i < op->snaps->len; i++) {
        snap_disk *sd = op->snaps->pdata[i];
        JsonObject *action = json_object_new();
        JsonObject *data = json_object_new();

        json_object_set_string_member(data, "node", sd->node);
        json_object_set_string_member(data, "overlay", sd->ovnode);
        json_object_set_string_member(action, "type", "blockdev-snapshot");
        json_object_set_object_member(action, "data", data);
        json_array_add_object_element(actions, action);
    }
    json_object_set_array_member(args, "actions", actions);
    if ((rc = xlite__qmp_command(egc, op->ds->qmp, "transaction", args, -1,
                                 snap_taken, op)) < 0)
        snap_fail(egc, op, rc);
}

static void
snap_added(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
           const char *errclass, const char *errdesc, void *opaque)
{
    bj_op *op = opaque;
    snap_disk *sd = op->snaps->pdata[op->cur];

    if (rc < 0) {
        g_clear_pointer(&sd->ovnode, g_free);
        if (rc == -EIO)
            rc = XLITE_ERROR(egc->ctx, -EIO, "the disk server cannot open "
                             "the overlay %s of disk '%s': %s", sd->overlay,
                             sd->vdev, errdesc);
        snap_fail(egc, op, rc);
        return;
    }
    op->cur++;
    snap_add_next(egc, op);
}

/* An overlay's node: the disk's name, and a number no other node of the
 * server has (QEMU ids: at most 31 characters). */
static void
snap_add_next(xlite__egc *egc, bj_op *op)
{
    JsonObject *args;
    JsonObject *file;
    snap_disk *sd;
    int rc;

    if (op->cur == op->snaps->len) {
        snap_take(egc, op);
        return;
    }
    sd = op->snaps->pdata[op->cur];
    sd->ovnode = g_strdup_printf("%.16s-ov%08x", sd->vdev, g_random_int());
    file = json_object_new();
    json_object_set_string_member(file, "driver", "file");
    json_object_set_string_member(file, "filename", sd->overlay);
    args = json_object_new();
    json_object_set_string_member(args, "driver", "qcow2");
    json_object_set_string_member(args, "node-name", sd->ovnode);
    json_object_set_object_member(args, "file", file);
    /* Its backing is the disk's node, which blockdev-snapshot sets. */
    json_object_set_null_member(args, "backing");
    if ((rc = xlite__qmp_command(egc, op->ds->qmp, "blockdev-add", args, -1,
                                 snap_added, op)) < 0)
        snap_fail(egc, op, rc);
}

/* The disk's top node is known (op->node): what the operation does. */
static void
node_ready(xlite__egc *egc, bj_op *op)
{
    JsonObject *args;
    int rc;

    switch (op->kind) {
    case OP_START:
        start_resolved(egc, op);
        return;
    case OP_RESIZE:
        args = json_object_new();
        json_object_set_boolean_member(args, "flat", true);
        if ((rc = xlite__qmp_command(egc, op->ds->qmp,
                                     "query-named-block-nodes", args, -1,
                                     resize_sized, op)) < 0)
            op_done(egc, op, rc);
        return;
    case OP_SNAPSHOT: {
        snap_disk *sd = op->snaps->pdata[op->cur];

        sd->node = g_strdup(op->node);
        op->cur++;
        snap_next_disk(egc, op);
        return;
    }
    case OP_ABORT:
    case OP_INFO:
    case OP_SPEED:
    default:
        g_assert_not_reached();
    }
}

/* The server refused the abort, and the job is still ours: it goes back
 * to where it was. */
static void
abort_refused(xlite__egc *egc, bj_op *op, bjob *job, int rc,
              const char *errdesc)
{
    if (job->state == XLITE_BLOCK_JOB_STATE_ABORTING ||
        job->state == XLITE_BLOCK_JOB_STATE_PIVOTING)
        job->state = op->prev;
    job->cancel_asked = false;
    op_done(egc, op, refused(egc, op, rc, op->pivot ? "pivot" : "abort "
                             "the block job of", errdesc));
}

/* Polled: a refusal may be the job's own end, not yet seen; a poll says
 * (as the events would have come before the reply). */
static void
abort_polled(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
             const char *errclass, const char *errdesc, void *opaque)
{
    bj_op *op = opaque;
    dserver *ds = op->ds;
    JsonArray *arr;
    bjob *job;

    if (rc == 0 && check_job_list(egc, ret, &arr) == 0)
        poll_process(egc, ds, arr);
    if (!(job = g_hash_table_lookup(ds->jobs, op->vdev))) {
        op_done(egc, op, 0);
        return;
    }
    abort_refused(egc, op, job, -EIO, op->refusal);
}

static void
abort_reply(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
            const char *errclass, const char *errdesc, void *opaque)
{
    bj_op *op = opaque;
    bjob *job = g_hash_table_lookup(op->ds->jobs, op->vdev);

    if (rc < 0 && !job) {
        /* The job ended on its own meanwhile (its one terminal event is
         * out): the request raced with the end, which is no failure. */
        op_done(egc, op, 0);
        return;
    }
    if (rc == -EIO && op->ds->polling) {
        op->refusal = g_strdup(errdesc);
        if (xlite__qmp_command(egc, qmp, "query-block-jobs", NULL, -1,
                               abort_polled, op) == 0)
            return;
    }
    if (rc < 0) {
        abort_refused(egc, op, job, rc, errdesc);
        return;
    }
    XLITE_LOG(egc->ctx, XLITE_LOG_DEBUG, "domain %u disk %s: the disk "
              "server took the request", op->domid, op->vdev);
    poll_kick(egc, op->ds);
    op_done(egc, op, 0);
}

static void
info_reply(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
           const char *errclass, const char *errdesc, void *opaque)
{
    bj_op *op = opaque;
    bjob *job = g_hash_table_lookup(op->ds->jobs, op->vdev);
    JsonArray *arr;

    if (rc < 0 || (rc = check_job_list(egc, ret, &arr)) < 0) {
        op_done(egc, op, refused(egc, op, rc, "report on", errdesc));
        return;
    }
    for (guint i = 0; job && i < json_array_get_length(arr); i++) {
        JsonObject *o = json_array_get_object_element(arr, i);

        if (!g_str_equal(json_object_get_string_member(o, "device"),
                         op->vdev))
            continue;
        op->info_r->type = job->type;
        op->info_r->state = job->state;
        op->info_r->cur = json_object_get_int_member(o, "offset");
        op->info_r->end = json_object_get_int_member(o, "len");
        op->info_r->bandwidth = json_object_get_int_member(o, "speed");
        op->info_r->ready = json_object_has_member(o, "ready") &&
                            json_object_get_boolean_member(o, "ready");
        op->info_r->dest_format = job->dest_format;
        g_strlcpy(op->info_r->dest, job->dest ? job->dest : "",
                  sizeof(op->info_r->dest));
        op_done(egc, op, 0);
        return;
    }
    /* Ours but not listed: concluded, its event on the way. */
    op_done(egc, op, -ENOENT);
}

static void
speed_reply(xlite__egc *egc, xlite__qmp *qmp, int rc, JsonNode *ret,
            const char *errclass, const char *errdesc, void *opaque)
{
    bj_op *op = opaque;

    op_done(egc, op, refused(egc, op, rc, "set the speed of the job of",
                             errdesc));
}

/* OP_ABORT: refuses a job that is ending already, or a pivot of a job
 * that cannot pivot or is not ready; else marks the job ending and sends
 * the cancel (or, to pivot, the completion). */
static int
op_abort_send(xlite__egc *egc, bj_op *op, bjob *job)
{
    xlite_ctx *ctx = egc->ctx;
    JsonObject *args = json_object_new();
    int rc;

    if (job->state == XLITE_BLOCK_JOB_STATE_ABORTING ||
        job->state == XLITE_BLOCK_JOB_STATE_PIVOTING ||
        job->state == XLITE_BLOCK_JOB_STATE_CONCLUDED ||
        job->state == XLITE_BLOCK_JOB_STATE_FAILED)
        rc = XLITE_ERROR(ctx, -EALREADY, "the block job of disk '%s' is "
                         "ending already", op->vdev);
    else if (op->pivot && !two_phase(job->type))
        rc = XLITE_ERROR(ctx, -EOPNOTSUPP, "the block job of disk '%s' "
                         "cannot pivot: it is not a copy or an active "
                         "commit", op->vdev);
    else if (op->pivot && job->state != XLITE_BLOCK_JOB_STATE_READY)
        rc = XLITE_ERROR(ctx, -EBUSY, "the copy of disk '%s' is not ready "
                         "to pivot yet", op->vdev);
    else
        rc = 0;
    if (rc < 0) {
        json_object_unref(args);
        return rc;
    }
    op->prev = job->state;
    job->state = op->pivot ? XLITE_BLOCK_JOB_STATE_PIVOTING
                           : XLITE_BLOCK_JOB_STATE_ABORTING;
    job->cancel_asked = !op->pivot;
    XLITE_LOG(ctx, XLITE_LOG_DEBUG, "domain %u disk %s: asking the disk "
              "server to %s the job", op->domid, op->vdev,
              op->pivot ? "complete" : "cancel");
    if (op->pivot) {
        json_object_set_string_member(args, "id", op->vdev);
        rc = xlite__qmp_command(egc, op->ds->qmp, "job-complete", args, -1,
                                abort_reply, op);
    } else {
        json_object_set_string_member(args, "device", op->vdev);
        rc = xlite__qmp_command(egc, op->ds->qmp, "block-job-cancel", args,
                                -1, abort_reply, op);
    }
    if (rc < 0) {
        job->state = op->prev;
        job->cancel_asked = false;
    }
    return rc;
}

static void
op_run(xlite__egc *egc, bj_op *op)
{
    xlite_ctx *ctx = egc->ctx;
    dserver *ds = op->ds;
    bjob *job = g_hash_table_lookup(ds->jobs, op->vdev);
    JsonObject *args;
    int rc;

    if (op->kind == OP_START && job) {
        op_done(egc, op, XLITE_ERROR(ctx, -EBUSY, "disk '%s' of domain %u "
                                     "has a block job already", op->vdev,
                                     op->domid));
        return;
    }
    if (op->kind == OP_START || op->kind == OP_RESIZE) {
        op_ensure_node(egc, op);
        return;
    }
    if (op->kind == OP_SNAPSHOT) {
        for (guint i = 0; i < op->snaps->len; i++) {
            snap_disk *sd = op->snaps->pdata[i];

            if (g_hash_table_contains(ds->jobs, sd->vdev)) {
                op_done(egc, op, XLITE_ERROR(ctx, -EBUSY, "disk '%s' of "
                                             "domain %u has a block job",
                                             sd->vdev, op->domid));
                return;
            }
        }
        op->cur = 0;
        snap_next_disk(egc, op);
        return;
    }
    if (!job) {
        op_done(egc, op, -ENOENT);
        return;
    }
    switch (op->kind) {
    case OP_ABORT:
        rc = op_abort_send(egc, op, job);
        break;
    case OP_INFO:
        rc = xlite__qmp_command(egc, ds->qmp, "query-block-jobs", NULL, -1,
                                info_reply, op);
        break;
    case OP_SPEED:
        args = json_object_new();
        json_object_set_string_member(args, "device", op->vdev);
        json_object_set_int_member(args, "speed",
                                   (gint64)MIN(op->bandwidth,
                                               (uint64_t)G_MAXINT64));
        rc = xlite__qmp_command(egc, ds->qmp, "block-job-set-speed", args,
                                -1, speed_reply, op);
        break;
    case OP_START:
    case OP_RESIZE:
    case OP_SNAPSHOT:
    default:
        g_assert_not_reached();
    }
    if (rc < 0)
        op_done(egc, op, rc);
}

/* ---------- the public initiators ---------- */

/* The disk's source, from the domain's stored config (START). */
static int
find_disk(xlite_ctx *ctx, bj_op *op)
{
    xlite_domain_config cfg;
    bool found = false;
    int rc;

    xlite_domain_config_init(&cfg);
    if ((rc = xlite__userdata_load(ctx, op->domid, op->uuid, &cfg)) < 0)
        return rc;
    for (size_t i = 0; i < cfg.num_disks; i++) {
        const xlite_disk_config *d = &cfg.disks[i];

        if (g_strcmp0(d->vdev, op->vdev) != 0)
            continue;
        found = true;
        if (d->backend != XLITE_DISK_BACKEND_QDISK || d->cdrom ||
            !d->target ||
            (d->format != XLITE_DISK_FORMAT_RAW &&
             d->format != XLITE_DISK_FORMAT_QCOW2)) {
            rc = XLITE_ERROR(ctx, -EOPNOTSUPP, "disk '%s' of domain %u is "
                             "not served by a QEMU backend (a raw or qcow2 "
                             "file with backend qdisk)", op->vdev, op->domid);
            break;
        }
        op->source = g_strdup(d->target);
        op->source_format = d->format;
        rc = 0;
        break;
    }
    if (!found)
        rc = XLITE_ERROR(ctx, -ENOENT, "domain %u has no disk '%s'",
                         op->domid, op->vdev);
    xlite_domain_config_dispose(&cfg);
    return rc;
}

/* RESIZE: the disk, and whether it is a file blkback serves (*direct_r:
 * grown here) or a disk of the server. */
static int
resize_find(xlite_ctx *ctx, bj_op *op, bool *direct_r)
{
    xlite_domain_config cfg;
    bool found = false;
    int devid;
    int rc;

    xlite_domain_config_init(&cfg);
    if ((rc = xlite__userdata_load(ctx, op->domid, op->uuid, &cfg)) < 0)
        return rc;
    for (size_t i = 0; i < cfg.num_disks; i++) {
        const xlite_disk_config *d = &cfg.disks[i];
        bool file = d->target && !d->network && !d->cdrom &&
                    g_file_test(d->target, G_FILE_TEST_IS_REGULAR);

        if (g_strcmp0(d->vdev, op->vdev) != 0)
            continue;
        found = true;
        if (file && d->readonly) {
            rc = XLITE_ERROR(ctx, -EROFS, "disk '%s' of domain %u is "
                             "read-only", op->vdev, op->domid);
        } else if (file && d->backend == XLITE_DISK_BACKEND_QDISK &&
                   (d->format == XLITE_DISK_FORMAT_RAW ||
                    d->format == XLITE_DISK_FORMAT_QCOW2)) {
            *direct_r = false;
            rc = 0;
        } else if (file && (d->backend == XLITE_DISK_BACKEND_PHY ||
                            d->backend == XLITE_DISK_BACKEND_DEFAULT) &&
                   (d->format == XLITE_DISK_FORMAT_RAW ||
                    d->format == XLITE_DISK_FORMAT_DEFAULT)) {
            *direct_r = true;
            rc = 0;
        } else {
            rc = XLITE_ERROR(ctx, -EOPNOTSUPP, "disk '%s' of domain %u "
                             "cannot be resized: only a raw file, or a raw "
                             "or qcow2 file with backend qdisk can",
                             op->vdev, op->domid);
        }
        if (rc == 0 && (rc = xlite__disk_devid(ctx, d->vdev, &devid)) == 0) {
            op->source = g_strdup(d->target);
            op->source_format = d->format;
            op->backend = xlite__disk_backend_path(op->domid, d, devid);
        }
        break;
    }
    if (!found)
        rc = XLITE_ERROR(ctx, -ENOENT, "domain %u has no disk '%s'",
                         op->domid, op->vdev);
    xlite_domain_config_dispose(&cfg);
    return rc;
}

/* SNAPSHOT: each disk's image and format. */
static int
snap_find(xlite_ctx *ctx, bj_op *op)
{
    for (guint i = 0; i < op->snaps->len; i++) {
        snap_disk *sd = op->snaps->pdata[i];
        int rc;

        g_free(op->vdev);
        op->vdev = g_strdup(sd->vdev);
        g_clear_pointer(&op->source, g_free);
        if ((rc = find_disk(ctx, op)) < 0)
            return rc;
        sd->source = g_steal_pointer(&op->source);
        sd->format = op->source_format;
    }
    return 0;
}

static int
initiate(xlite_ctx *ctx, bj_op *op, const xlite_async_how *how)
{
    bool direct = false;
    xlite_dominfo info;
    xlite__ao *ao;
    int rc;
    EGC_INIT(ctx);

    CTX_LOCK(ctx);
    if (!ctx->hv->dom_info) {
        rc = XLITE_ERROR(ctx, -EOPNOTSUPP, "this host runs no domains");
        goto fail;
    }
    if ((rc = ctx->hv->dom_info(ctx, ctx->hv_state, op->domid, &info)) < 0) {
        if (rc == -ESRCH)
            rc = XLITE_ERROR(ctx, -ESRCH, "domain %u does not exist",
                             op->domid);
        goto fail;
    }
    memcpy(op->uuid, info.uuid, 16);
    if (op->kind == OP_START && (rc = find_disk(ctx, op)) < 0)
        goto fail;
    if (op->kind == OP_RESIZE && (rc = resize_find(ctx, op, &direct)) < 0)
        goto fail;
    if (op->kind == OP_SNAPSHOT && (rc = snap_find(ctx, op)) < 0)
        goto fail;
    if (op->kind == OP_START && op->params.type == XLITE_BLOCK_JOB_COPY &&
        op->params.dest_format == XLITE_DISK_FORMAT_DEFAULT)
        op->params.dest_format = op->source_format;
    /* op may be gone once op_begin returns (it failed at once). */
    ao = op->ao = xlite__ao_create(ctx, how);
    if (direct) {
        /* A file blkback serves: no server, nothing to wait for. */
        rc = resize_file(ctx, op);
        op_free(op);
        xlite__ao_complete(egc, ao, rc);
    } else {
        op_begin(egc, op);
    }
    rc = xlite__ao_inprogress(egc, ao);
    CTX_UNLOCK(ctx);
    EGC_FREE;
    return rc;

 fail:
    op_free(op);
    CTX_UNLOCK(ctx);
    EGC_FREE;
    return rc;
}

static bj_op *
op_new(op_kind kind, uint32_t domid, const char *vdev)
{
    bj_op *op = g_new0(bj_op, 1);

    op->kind = kind;
    op->domid = domid;
    op->vdev = g_strdup(vdev);
    op->logfd = -1;
    op->link.data = op;
    xlite__udlock_init(&op->lock);
    xlite__spawn_init(&op->spawn);
    return op;
}

XLITE_EXPORT int
xlite_block_job_start(xlite_ctx *ctx, uint32_t domid,
                      const xlite_block_job_params *params,
                      const xlite_async_how *how)
{
    bj_op *op;

    if (!params || !vdev_valid(params->vdev))
        return XLITE_ERROR(ctx, -EINVAL, "invalid disk name");
    if (params->type == XLITE_BLOCK_JOB_COMMIT &&
        (!params->top || !params->top[0]))
        return XLITE_ERROR(ctx, -EINVAL, "a commit needs its top image");
    if (params->type == XLITE_BLOCK_JOB_ACTIVE_COMMIT && params->top)
        return XLITE_ERROR(ctx, -EINVAL, "an active commit's top is the "
                           "disk's image");
    if (params->base && !params->base[0])
        return XLITE_ERROR(ctx, -EINVAL, "an empty base");
    if (params->type == XLITE_BLOCK_JOB_COPY &&
        (!params->dest || params->dest[0] != '/'))
        return XLITE_ERROR(ctx, -EINVAL, "a copy needs an absolute "
                           "destination path");
    if (params->type == XLITE_BLOCK_JOB_COPY &&
        params->dest_format != XLITE_DISK_FORMAT_DEFAULT &&
        params->dest_format != XLITE_DISK_FORMAT_RAW &&
        params->dest_format != XLITE_DISK_FORMAT_QCOW2)
        return XLITE_ERROR(ctx, -EOPNOTSUPP, "a copy's destination must be "
                           "raw or qcow2");
    op = op_new(OP_START, domid, params->vdev);
    op->params = *params;
    op->params.vdev = g_strdup(params->vdev);
    op->params.dest = g_strdup(params->dest);
    op->params.base = g_strdup(params->base);
    op->params.top = g_strdup(params->top);
    if (params->type == XLITE_BLOCK_JOB_ACTIVE_COMMIT) {
        /* The pivot goes to the base (found in the chain if not given). */
        g_free((char *)op->params.dest);
        op->params.dest = g_strdup(params->base);
        op->params.dest_format = XLITE_DISK_FORMAT_DEFAULT;
    }
    return initiate(ctx, op, how);
}

XLITE_EXPORT int
xlite_block_job_abort(xlite_ctx *ctx, uint32_t domid, const char *vdev,
                      bool pivot, const xlite_async_how *how)
{
    bj_op *op;

    if (!vdev_valid(vdev))
        return XLITE_ERROR(ctx, -EINVAL, "invalid disk name");
    op = op_new(OP_ABORT, domid, vdev);
    op->pivot = pivot;
    return initiate(ctx, op, how);
}

XLITE_EXPORT int
xlite_block_job_get_info(xlite_ctx *ctx, uint32_t domid, const char *vdev,
                         xlite_block_job_info *info_r,
                         const xlite_async_how *how)
{
    bj_op *op;

    if (!vdev_valid(vdev) || !info_r)
        return XLITE_ERROR(ctx, -EINVAL, "invalid disk name");
    op = op_new(OP_INFO, domid, vdev);
    op->info_r = info_r;
    return initiate(ctx, op, how);
}

XLITE_EXPORT int
xlite_block_job_set_speed(xlite_ctx *ctx, uint32_t domid, const char *vdev,
                          uint64_t bandwidth, const xlite_async_how *how)
{
    bj_op *op;

    if (!vdev_valid(vdev))
        return XLITE_ERROR(ctx, -EINVAL, "invalid disk name");
    op = op_new(OP_SPEED, domid, vdev);
    op->bandwidth = bandwidth;
    return initiate(ctx, op, how);
}

XLITE_EXPORT int
xlite_disk_resize(xlite_ctx *ctx, uint32_t domid, const char *vdev,
                  uint64_t size, const xlite_async_how *how)
{
    bj_op *op;

    if (!vdev_valid(vdev))
        return XLITE_ERROR(ctx, -EINVAL, "invalid disk name");
    if (size > (uint64_t)G_MAXINT64)
        return XLITE_ERROR(ctx, -EINVAL, "a disk of %" G_GUINT64_FORMAT
                           " bytes is too large", size);
    op = op_new(OP_RESIZE, domid, vdev);
    op->size = size;
    return initiate(ctx, op, how);
}

XLITE_EXPORT int
xlite_disk_snapshot_create(xlite_ctx *ctx, uint32_t domid,
                           const xlite_disk_snapshot *disks,
                           size_t num_disks, bool reuse_ext,
                           const xlite_async_how *how)
{
    bj_op *op;

    if (!disks || num_disks == 0)
        return XLITE_ERROR(ctx, -EINVAL, "a snapshot needs a disk");
    for (size_t i = 0; i < num_disks; i++) {
        if (!vdev_valid(disks[i].vdev))
            return XLITE_ERROR(ctx, -EINVAL, "invalid disk name");
        if (!disks[i].overlay || disks[i].overlay[0] != '/')
            return XLITE_ERROR(ctx, -EINVAL, "the overlay of disk '%s' must "
                               "be an absolute path", disks[i].vdev);
        for (size_t j = 0; j < i; j++) {
            if (g_str_equal(disks[i].vdev, disks[j].vdev) ||
                g_str_equal(disks[i].overlay, disks[j].overlay))
                return XLITE_ERROR(ctx, -EINVAL, "disk '%s' or its overlay "
                                   "is named twice", disks[i].vdev);
        }
    }
    op = op_new(OP_SNAPSHOT, domid, disks[0].vdev);
    op->reuse_ext = reuse_ext;
    op->snaps = g_ptr_array_new_with_free_func(snap_disk_free);
    for (size_t i = 0; i < num_disks; i++) {
        snap_disk *sd = g_new0(snap_disk, 1);

        sd->vdev = g_strdup(disks[i].vdev);
        sd->overlay = g_strdup(disks[i].overlay);
        g_ptr_array_add(op->snaps, sd);
    }
    return initiate(ctx, op, how);
}

/* ---------- stop at destroy; the context ---------- */

/* Drops this context's connection to the domain's server: operations
 * under way fail as the connection goes (their callbacks see it dead);
 * the domain's jobs end with it, without events. */
static void
ds_drop(xlite_ctx *ctx, uint32_t domid)
{
    dserver *ds = g_hash_table_lookup(ctx->blockjobs->servers,
                                      GUINT_TO_POINTER(domid));

    if (ds && ds->nops == 0 && ds->waiting.length == 0)
        ds_forget(ctx, ds);
    else if (ds)
        g_hash_table_remove_all(ds->jobs);
}

void
xlite__diskserver_stop(xlite_ctx *ctx, uint32_t domid,
                       const uint8_t uuid[16])
{
    g_autofree char *dir = server_dir(ctx, domid);

    CTX_LOCK(ctx);
    ds_drop(ctx, domid);
    if (server_dir_is(dir, uuid) || server_pid(dir) <= 0)
        server_kill_and_remove(ctx, dir);
    CTX_UNLOCK(ctx);
}

void
xlite__dsstop_init(xlite__dsstop *st)
{
    st->pid = 0;
    st->dir = NULL;
    st->killed = false;
    xlite__ev_time_init(&st->timer);
}

/* Gone: no such process, or a zombie its new parent has not reaped yet
 * (a daemon is not our child). */
static bool
process_gone(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *stat = NULL;
    const char *paren;

    if (kill(pid, 0) < 0 && errno == ESRCH)
        return true;
    if (!g_file_get_contents(path, &stat, NULL, NULL))
        return true;
    paren = strrchr(stat, ')');
    return paren && paren[1] == ' ' && paren[2] == 'Z';
}

static void
dsstop_poll(xlite__egc *egc, xlite__ev_time *ev)
{
    xlite__dsstop *st = XLITE__CONTAINER_OF(ev, xlite__dsstop, timer);
    xlite_ctx *ctx = egc->ctx;

    if (st->pid > 0 && !process_gone(st->pid)) {
        if (g_get_monotonic_time() >= st->deadline && !st->killed) {
            XLITE_LOG(ctx, XLITE_LOG_WARN, "the disk server %d of domain %u "
                      "did not stop in time: killed", (int)st->pid,
                      st->domid);
            kill(st->pid, SIGKILL);
            st->killed = true;
            st->deadline = g_get_monotonic_time() + XLITE__DSSTOP_TIMEOUT;
        }
        if (g_get_monotonic_time() < st->deadline &&
            xlite__ev_time_register_rel(ctx, &st->timer, dsstop_poll,
                                        10 * 1000) == 0)
            return;
        XLITE_LOG(ctx, XLITE_LOG_ERROR, "the disk server %d of domain %u "
                  "does not go away", (int)st->pid, st->domid);
    }
    server_kill_and_remove(ctx, st->dir);
    g_clear_pointer(&st->dir, g_free);
    st->callback(egc, st);
}

void
xlite__dsstop_start(xlite__egc *egc, xlite__dsstop *st)
{
    xlite_ctx *ctx = egc->ctx;
    int rc;

    ds_drop(ctx, st->domid);
    st->dir = server_dir(ctx, st->domid);
    st->pid = 0;
    if (server_dir_is(st->dir, st->uuid) &&
        (st->pid = server_pid(st->dir)) > 0) {
        XLITE_LOG(ctx, XLITE_LOG_DEBUG, "stopping the disk server %d of "
                  "domain %u", (int)st->pid, st->domid);
        kill(st->pid, SIGTERM);
    } else if (!server_dir_is(st->dir, st->uuid)) {
        /* Another domain's (an older one with this domid): left alone
         * here; the next job on this domid replaces it. */
        g_clear_pointer(&st->dir, g_free);
        st->dir = g_strdup("");
    }
    st->deadline = g_get_monotonic_time() + XLITE__DSSTOP_TIMEOUT;
    if ((rc = xlite__ev_time_register_rel(ctx, &st->timer, dsstop_poll,
                                          0)) < 0) {
        /* Cannot wait: stop without waiting, and go on. */
        st->pid = 0;
        dsstop_poll(egc, &st->timer);
    }
}

static int
producer_start(xlite_ctx *ctx, xlite__evgen_producer *p, uint32_t domid)
{
    /* Block-job events come from the connections this context holds for
     * its jobs: nothing to start per domain. */
    return 0;
}

static void
producer_stop(xlite_ctx *ctx, xlite__evgen_producer *p, uint32_t domid)
{
}

int
xlite__blockjobs_ctx_init(xlite_ctx *ctx)
{
    struct xlite__blockjobs *b = g_new0(struct xlite__blockjobs, 1);

    b->servers = g_hash_table_new(g_direct_hash, g_direct_equal);
    /* Jobs need domains: a backend without (the stub) produces none. */
    if (ctx->hv->dom_info) {
        b->producer.mask = XLITE_EVENTMASK(XLITE_EVENT_BLOCK_JOB);
        b->producer.start = producer_start;
        b->producer.stop = producer_stop;
        xlite__evgen_producer_add(ctx, &b->producer);
    }
    ctx->blockjobs = b;
    return 0;
}

void
xlite__blockjobs_ctx_free(xlite_ctx *ctx)
{
    struct xlite__blockjobs *b = ctx->blockjobs;
    GHashTableIter it;
    gpointer value;

    if (!b)
        return;
    /* Connections held for jobs in flight go; the jobs go on in their
     * servers, for the next context to find. */
    g_hash_table_iter_init(&it, b->servers);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        dserver *ds = value;

        assert(ds->nops == 0 && ds->waiting.length == 0);
        g_hash_table_iter_steal(&it);
        ds_free(ctx, ds);
    }
    g_hash_table_unref(b->servers);
    if (ctx->hv->dom_info)
        xlite__evgen_producer_remove(ctx, &b->producer);
    g_free(b);
    ctx->blockjobs = NULL;
}
