/*
 * hv_control.c: DIR/hypervisor.sock, the simulated hypercall interface.
 *
 * One JSON object a line each way (docs/xensim-hypervisor-protocol.md).
 * Requests are answered in order, at once: no operation waits for
 * anything, so replies never need to be reordered or deferred.
 *
 * A client is trusted like any dom0 process holding the socket (mode
 * 0600), but not its bytes: a line over 64 KiB or one that is not a JSON
 * object closes the connection, and every argument is type and range
 * checked before anything changes.  Output is bounded too: a subscriber
 * that stops reading while notifications pile up is disconnected rather
 * than allowed to grow our memory.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "hv_internal.h"
#include "xs_internal.h"    /* xsim_listen_unix(): one way to make sockets */
#include "xsim_fdsource.h"

#define XSIM_HV_LINE_MAX 65536
/* Output a client may leave unread before we give up on it. */
#define XSIM_HV_OUT_MAX (4 * 1024 * 1024)

struct _XsimHvClient {
    XsimHv *hv;
    int fd;
    GSource *source;
    GString *in;
    GString *out;
    gsize out_off;
    bool subscribed;
    bool dead;              /* too far behind: freed at its next wakeup */
    GSource *hold;          /* output held back until it fires */
    GArray *watched;        /* XsimHvWatched: ports it watches */
};

typedef struct {
    uint32_t domid;
    uint32_t port;
} XsimHvWatched;

/* A client watches few ports (one per channel it serves). */
#define XSIM_HV_CLIENT_MAX_WATCHES 256

static void xsim_hv_client_send(XsimHvClient *client, JsonNode *node);

typedef struct {
    XsimHv *hv;
    XsimHvClient *client;
    JsonObject *args;
    JsonBuilder *result;    /* inside the result object */
    char *message;          /* set with the error */
    bool result_done;       /* the op built the whole result itself */
    bool stop;              /* the op was "stop" */
} XsimHvReq;

typedef int (*XsimHvOpFunc)(XsimHvReq *req);

typedef struct {
    const char *name;
    XsimHvOpFunc fn;
    const char *const args[8];  /* allowed arguments, NULL terminated */
} XsimHvOp;

/* ---- errors ---- */

static const struct {
    int err;
    const char *name;
} xsim_hv_errnames[] = {
    { EINVAL, "EINVAL" }, { ENOENT, "ENOENT" }, { ESRCH, "ESRCH" },
    { EEXIST, "EEXIST" }, { ENOMEM, "ENOMEM" }, { EBUSY, "EBUSY" },
    { EACCES, "EACCES" }, { ENOSYS, "ENOSYS" },
};

static const char *
xsim_hv_errname(int err)
{
    for (guint i = 0; i < G_N_ELEMENTS(xsim_hv_errnames); i++) {
        if (xsim_hv_errnames[i].err == err)
            return xsim_hv_errnames[i].name;
    }
    /* A host failure (shm, sockets): the documented catch-all. */
    return "EIO";
}

static int G_GNUC_PRINTF(3, 4)
xsim_req_fail(XsimHvReq *req,
              int err,
              const char *fmt,
              ...)
{
    va_list ap;

    g_free(req->message);
    va_start(ap, fmt);
    req->message = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return err;
}

/* ---- arguments ---- */

/*
 * An integer argument in [min, max].  Returns 0, ENOENT when absent and
 * optional (value untouched), or EINVAL with the message set.
 */
static int
xsim_req_int(XsimHvReq *req,
             const char *name,
             bool required,
             gint64 min,
             gint64 max,
             gint64 *val_r)
{
    JsonNode *node = json_object_get_member(req->args, name);
    gint64 val;

    if (!node)
        return required ?
            xsim_req_fail(req, EINVAL, "argument '%s' is missing", name) : ENOENT;
    if (!JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_INT64)
        return xsim_req_fail(req, EINVAL, "argument '%s' must be an integer", name);
    val = json_node_get_int(node);
    if (val < min || val > max)
        return xsim_req_fail(req, EINVAL,
                             "argument '%s' is out of range (%" G_GINT64_FORMAT
                             "..%" G_GINT64_FORMAT ")", name, min, max);
    *val_r = val;
    return 0;
}

static int
xsim_req_str(XsimHvReq *req,
             const char *name,
             bool required,
             const char **val_r)
{
    JsonNode *node = json_object_get_member(req->args, name);

    if (!node)
        return required ?
            xsim_req_fail(req, EINVAL, "argument '%s' is missing", name) : ENOENT;
    if (!JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING)
        return xsim_req_fail(req, EINVAL, "argument '%s' must be a string", name);
    *val_r = json_node_get_string(node);
    return 0;
}

/* The "domid" argument, which must name a domain: ESRCH otherwise. */
static int
xsim_req_domain_arg(XsimHvReq *req,
                    const char *name,
                    XsimHvDomain **dom_r)
{
    gint64 domid;
    int rc;

    if ((rc = xsim_req_int(req, name, true, 0, G_MAXUINT32, &domid)) != 0)
        return rc;
    if (!(*dom_r = xsim_hv_lookup(req->hv, domid)))
        return xsim_req_fail(req, ESRCH, "domain %" G_GINT64_FORMAT
                             " does not exist", domid);
    return 0;
}

static int
xsim_req_domain(XsimHvReq *req,
                XsimHvDomain **dom_r)
{
    return xsim_req_domain_arg(req, "domid", dom_r);
}

/* A guest domain, not dom0: most operations make no sense on ourselves. */
static int
xsim_req_guest(XsimHvReq *req,
               XsimHvDomain **dom_r)
{
    int rc = xsim_req_domain(req, dom_r);

    if (rc == 0 && (*dom_r)->domid == 0)
        return xsim_req_fail(req, EINVAL, "not allowed on domain 0");
    return rc;
}

/* ---- results ---- */

static void
xsim_add_int(JsonBuilder *b,
             const char *name,
             gint64 val)
{
    json_builder_set_member_name(b, name);
    json_builder_add_int_value(b, val);
}

static void
xsim_add_bool(JsonBuilder *b,
              const char *name,
              bool val)
{
    json_builder_set_member_name(b, name);
    json_builder_add_boolean_value(b, val);
}

static void
xsim_add_str(JsonBuilder *b,
             const char *name,
             const char *val)
{
    json_builder_set_member_name(b, name);
    if (val)
        json_builder_add_string_value(b, val);
    else
        json_builder_add_null_value(b);
}

static const char *const xsim_dom_types[] = {
    [XSIM_DOM_PV] = "pv",
    [XSIM_DOM_PVH] = "pvh",
    [XSIM_DOM_HVM] = "hvm",
};

static void
xsim_add_info(JsonBuilder *b,
              XsimHvDomain *dom)
{
    bool active = dom->booted && !dom->paused && !dom->shutdown && !dom->dying;
    /* A hung kernel has stopped scheduling: its vcpus are blocked. */
    bool hung = active && dom->guest && dom->script.hang;

    json_builder_begin_object(b);
    xsim_add_int(b, "domid", dom->domid);
    xsim_add_str(b, "uuid", dom->uuid);
    xsim_add_str(b, "type", xsim_dom_types[dom->type]);
    xsim_add_bool(b, "running", active && !hung);
    xsim_add_bool(b, "blocked", hung);
    xsim_add_bool(b, "paused", dom->paused);
    xsim_add_bool(b, "shutdown", dom->shutdown);
    xsim_add_bool(b, "dying", dom->dying);
    xsim_add_str(b, "shutdown_reason",
                 dom->shutdown ? xsim_shutdown_reason_name(dom->reason) : NULL);
    xsim_add_int(b, "cur_memkb", dom->cur_memkb);
    xsim_add_int(b, "max_memkb", dom->max_memkb);
    xsim_add_int(b, "online_vcpus", dom->online_vcpus);
    xsim_add_int(b, "max_vcpus", dom->max_vcpus);
    xsim_add_int(b, "cpu_time_ns", xsim_hv_domain_cpu_ns(dom));
    xsim_add_int(b, "weight", dom->weight);
    xsim_add_int(b, "cap", dom->cap);
    json_builder_end_object(b);
}

/* ---- operations ---- */

static int
xsim_op_host_info(XsimHvReq *req)
{
    JsonBuilder *b = req->result;
    /* Guest types in the protocol's words (docs/xensim-hypervisor-protocol.md),
     * not Xen's xen_caps strings. */
    static const char *const types[] = { "pv", "pvh", "hvm" };
    uint32_t hw_cap[8];

    xsim_add_int(b, "nr_cpus", XSIM_HOST_CPUS);
    xsim_add_int(b, "sockets", XSIM_HOST_SOCKETS);
    xsim_add_int(b, "cores_per_socket", XSIM_HOST_CORES_PER_SOCKET);
    xsim_add_int(b, "threads_per_core", XSIM_HOST_THREADS_PER_CORE);
    xsim_add_int(b, "numa_nodes", 1);
    xsim_add_int(b, "cpu_mhz", 2400);
    xsim_add_int(b, "total_kib", req->hv->total_kib);
    xsim_add_int(b, "free_kib", xsim_hv_free_kib(req->hv));
    xsim_add_int(b, "xen_major", 4);
    xsim_add_int(b, "xen_minor", 17);
    xsim_add_str(b, "xen_extra", ".0-xensim");
    json_builder_set_member_name(b, "guest_types");
    json_builder_begin_array(b);
    for (guint i = 0; i < G_N_ELEMENTS(types); i++)
        json_builder_add_string_value(b, types[i]);
    json_builder_end_array(b);
    xsim_add_int(b, "max_vcpus", XSIM_GUEST_MAX_VCPUS);
    xsim_add_str(b, "arch", "x86_64");
    /* Xen 4.17's default; weight and cap mean what they mean there. */
    xsim_add_str(b, "scheduler", "credit2");
    /* What an x86_64 Xen 4.17 with hardware virtualization lists (no
     * 32-bit PV: Debian builds Xen without it). */
    xsim_add_str(b, "xen_caps",
                 "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64");
    xsim_hv_featureset(hw_cap);
    json_builder_set_member_name(b, "hw_cap");
    json_builder_begin_array(b);
    for (guint i = 0; i < G_N_ELEMENTS(hw_cap); i++)
        json_builder_add_int_value(b, hw_cap[i]);
    json_builder_end_array(b);
    return 0;
}

/* XEN_SYSCTL_cputopoinfo and XEN_SYSCTL_numainfo: the machine of
 * hv_internal.h, all of it on node 0, which holds all the memory. */
static int
xsim_op_topology(XsimHvReq *req)
{
    JsonBuilder *b = req->result;

    json_builder_set_member_name(b, "cpus");
    json_builder_begin_array(b);
    for (guint cpu = 0; cpu < XSIM_HOST_CPUS; cpu++) {
        guint core = cpu / XSIM_HOST_THREADS_PER_CORE;

        json_builder_begin_object(b);
        xsim_add_int(b, "core", core % XSIM_HOST_CORES_PER_SOCKET);
        xsim_add_int(b, "socket", core / XSIM_HOST_CORES_PER_SOCKET);
        xsim_add_int(b, "node", 0);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);

    json_builder_set_member_name(b, "nodes");
    json_builder_begin_array(b);
    json_builder_begin_object(b);
    xsim_add_int(b, "size_kib", req->hv->total_kib);
    xsim_add_int(b, "free_kib", xsim_hv_free_kib(req->hv));
    json_builder_set_member_name(b, "distances");
    json_builder_begin_array(b);
    json_builder_add_int_value(b, XSIM_NODE_LOCAL_DISTANCE);
    json_builder_end_array(b);
    json_builder_end_object(b);
    json_builder_end_array(b);
    return 0;
}

static int
xsim_op_create(XsimHvReq *req)
{
    const char *uuid, *type;
    gint64 vcpus, memkb;
    XsimDomType t;
    uint32_t domid;
    int rc;

    if ((rc = xsim_req_str(req, "uuid", true, &uuid)) ||
        (rc = xsim_req_str(req, "type", true, &type)) ||
        (rc = xsim_req_int(req, "max_vcpus", true, 1, XSIM_GUEST_MAX_VCPUS,
                           &vcpus)) ||
        (rc = xsim_req_int(req, "max_memkb", true, 1024, G_MAXINT64 / 1024,
                           &memkb)))
        return rc;
    if (!g_uuid_string_is_valid(uuid))
        return xsim_req_fail(req, EINVAL, "argument 'uuid' is not a UUID");
    if (g_str_equal(type, "pv"))
        t = XSIM_DOM_PV;
    else if (g_str_equal(type, "pvh"))
        t = XSIM_DOM_PVH;
    else if (g_str_equal(type, "hvm"))
        t = XSIM_DOM_HVM;
    else
        return xsim_req_fail(req, EINVAL, "argument 'type' must be pv, pvh or hvm");

    rc = xsim_hv_domain_create(req->hv, uuid, t, vcpus, memkb, &domid);
    if (rc == EEXIST)
        return xsim_req_fail(req, rc, "a domain with uuid '%s' already runs", uuid);
    if (rc == ENOMEM)
        return xsim_req_fail(req, rc, "the host lacks %" G_GINT64_FORMAT
                             " KiB of free memory", memkb);
    if (rc)
        return xsim_req_fail(req, rc, "cannot create the domain: %s",
                             g_strerror(rc));
    xsim_add_int(req->result, "domid", domid);
    return 0;
}

static bool xsim_hv_client_flush(XsimHvClient *client);

static gboolean
xsim_hv_client_hold_done(gpointer opaque)
{
    XsimHvClient *client = opaque;

    g_clear_pointer(&client->hold, g_source_unref);
    xsim_hv_client_flush(client);
    return G_SOURCE_REMOVE;
}

/*
 * The client's replies (this one and any after it) go out only in @ms: a
 * hypercall that takes that long, as Xen's builder does for a big domain
 * (seconds under emulation), with the caller blocked in it.  The host
 * goes on serving everybody else meanwhile.
 */
static void
xsim_hv_client_hold(XsimHvClient *client,
                    guint ms)
{
    if (client->hold)
        return;
    client->hold = g_timeout_source_new(ms);
    g_source_set_callback(client->hold, xsim_hv_client_hold_done, client, NULL);
    g_source_attach(client->hold, g_main_context_get_thread_default());
}

static int
xsim_op_build(XsimHvReq *req)
{
    g_autoptr(GError) error = NULL;
    XsimGuestScript script = { .crash_after = -1 };
    const char *kernel = NULL, *ramdisk = NULL, *cmdline = NULL;
    gint64 store_port = 0, console_port = 0;
    XsimHvDomain *dom;
    guint64 frame0;
    int rc;

    if ((rc = xsim_req_guest(req, &dom)))
        return rc;
    if ((rc = xsim_req_int(req, "store_port", false, 0, G_MAXUINT32,
                           &store_port)) && rc != ENOENT)
        return rc;
    if ((rc = xsim_req_int(req, "console_port", false, 0, G_MAXUINT32,
                           &console_port)) && rc != ENOENT)
        return rc;
    if ((rc = xsim_req_str(req, "kernel", false, &kernel)) && rc != ENOENT)
        return rc;
    if ((rc = xsim_req_str(req, "ramdisk", false, &ramdisk)) && rc != ENOENT)
        return rc;
    if ((rc = xsim_req_str(req, "cmdline", false, &cmdline)) && rc != ENOENT)
        return rc;
    if (dom->booted || dom->dying)
        return xsim_req_fail(req, EINVAL, "domain %u already runs", dom->domid);
    if (!kernel && dom->type != XSIM_DOM_HVM)
        return xsim_req_fail(req, EINVAL, "argument 'kernel' is missing: "
                             "a PV or PVH domain needs a kernel");
    if (kernel && !xsim_guest_parse_script(kernel, &script, &error)) {
        return xsim_req_fail(req, error->code == G_FILE_ERROR_NOENT ||
                             error->code == G_FILE_ERROR_ACCES ? ENOENT : EINVAL,
                             "%s", error->message);
    }
    if (ramdisk && access(ramdisk, R_OK) < 0)
        return xsim_req_fail(req, ENOENT, "cannot read ramdisk '%s': %s",
                             ramdisk, g_strerror(errno));
    g_free(dom->kernel);
    g_free(dom->ramdisk);
    g_free(dom->cmdline);
    dom->kernel = g_strdup(kernel);
    dom->ramdisk = g_strdup(ramdisk);
    dom->cmdline = g_strdup(cmdline);
    dom->script = script;
    dom->built = true;
    /* Like Xen's builder, say where the xenstore and console rings are:
     * machine frames of a made-up memory map in which domain N's memory
     * starts at frame N << 20. */
    frame0 = (guint64)dom->domid << 20;
    xsim_add_int(req->result, "store_mfn", frame0 + 1);
    xsim_add_int(req->result, "console_mfn", frame0 + 2);
    if (script.build_delay > 0)
        xsim_hv_client_hold(req->client, script.build_delay * 1000);
    return 0;
}

static int
xsim_op_unpause(XsimHvReq *req)
{
    XsimHvDomain *dom;
    int rc;

    if ((rc = xsim_req_guest(req, &dom)))
        return rc;
    if (!dom->built && dom->type != XSIM_DOM_HVM)
        return xsim_req_fail(req, EINVAL, "domain %u has not been built",
                             dom->domid);
    if ((rc = xsim_hv_domain_unpause(dom)))
        return xsim_req_fail(req, rc, "domain %u is %s", dom->domid,
                             dom->dying ? "dying" : "shut down");
    return 0;
}

static int
xsim_op_pause(XsimHvReq *req)
{
    XsimHvDomain *dom;
    int rc;

    if ((rc = xsim_req_guest(req, &dom)))
        return rc;
    if ((rc = xsim_hv_domain_pause(dom)))
        return xsim_req_fail(req, rc, "domain %u is dying", dom->domid);
    return 0;
}

static int
xsim_op_destroy(XsimHvReq *req)
{
    XsimHvDomain *dom;
    int rc;

    if ((rc = xsim_req_guest(req, &dom)))
        return rc;
    return xsim_hv_domain_destroy(dom);
}

static int
xsim_op_shutdown(XsimHvReq *req)
{
    XsimShutdownReason reason;
    XsimHvDomain *dom;
    const char *name;
    int rc;

    if ((rc = xsim_req_guest(req, &dom)) ||
        (rc = xsim_req_str(req, "reason", true, &name)))
        return rc;
    if ((reason = xsim_shutdown_reason_parse(name)) == XSIM_SHUTDOWN_NONE)
        return xsim_req_fail(req, EINVAL, "argument 'reason': unknown reason '%s'",
                             name);
    if (dom->dying)
        return xsim_req_fail(req, EINVAL, "domain %u is dying", dom->domid);
    /* Like a second SCHEDOP_shutdown: the first reason stays. */
    xsim_hv_domain_set_shutdown(dom, reason);
    return 0;
}

static int
xsim_op_info(XsimHvReq *req)
{
    XsimHvDomain *dom;
    int rc;

    if ((rc = xsim_req_domain(req, &dom)))
        return rc;
    /* The reply is the info object itself: replace the empty result. */
    g_clear_object(&req->result);
    req->result = json_builder_new();
    xsim_add_info(req->result, dom);
    req->result_done = true;
    return 0;
}

static gint
xsim_domid_cmp(gconstpointer a,
               gconstpointer b)
{
    guint x = GPOINTER_TO_UINT(a), y = GPOINTER_TO_UINT(b);

    return x < y ? -1 : x > y;
}

static int
xsim_op_list(XsimHvReq *req)
{
    g_autoptr(GList) domids = g_hash_table_get_keys(req->hv->domains);

    domids = g_list_sort(domids, xsim_domid_cmp);
    json_builder_set_member_name(req->result, "domains");
    json_builder_begin_array(req->result);
    for (GList *l = domids; l; l = l->next)
        xsim_add_info(req->result,
                      xsim_hv_lookup(req->hv, GPOINTER_TO_UINT(l->data)));
    json_builder_end_array(req->result);
    return 0;
}

static void
xsim_add_vcpus(JsonBuilder *b,
               XsimHvDomain *dom)
{
    bool active = dom->booted && !dom->paused && !dom->shutdown && !dom->dying;
    gint64 now = g_get_monotonic_time();

    for (guint i = 0; i < dom->max_vcpus; i++) {
        bool online = i < dom->online_vcpus;
        /* An idle vcpu waits for an event most of the time: blocked. */
        bool running = active && online && xsim_hv_vcpu_busy(dom, i);

        json_builder_begin_object(b);
        xsim_add_int(b, "domid", dom->domid);
        xsim_add_int(b, "vcpu", i);
        xsim_add_bool(b, "online", online);
        xsim_add_bool(b, "running", running);
        xsim_add_bool(b, "blocked", active && online && !running);
        xsim_add_int(b, "cpu", xsim_hv_vcpu_cpu(dom, i));
        xsim_add_int(b, "cpu_time_ns", xsim_hv_vcpu_ns_at(dom, i, now));
        json_builder_end_object(b);
    }
}

/* One domain's vcpus, or (without domid) every domain's, by domid. */
static int
xsim_op_vcpus(XsimHvReq *req)
{
    g_autoptr(GList) domids = NULL;
    XsimHvDomain *dom;
    int rc;

    if (json_object_has_member(req->args, "domid")) {
        if ((rc = xsim_req_domain(req, &dom)))
            return rc;
        json_builder_set_member_name(req->result, "vcpus");
        json_builder_begin_array(req->result);
        xsim_add_vcpus(req->result, dom);
        json_builder_end_array(req->result);
        return 0;
    }
    domids = g_list_sort(g_hash_table_get_keys(req->hv->domains),
                         xsim_domid_cmp);
    json_builder_set_member_name(req->result, "vcpus");
    json_builder_begin_array(req->result);
    for (GList *l = domids; l; l = l->next)
        xsim_add_vcpus(req->result,
                       xsim_hv_lookup(req->hv, GPOINTER_TO_UINT(l->data)));
    json_builder_end_array(req->result);
    return 0;
}

/* The physical cpus' time since the host started: what vcpus ran on each
 * (guest_ns) and the rest (idle_ns). */
static int
xsim_op_pcpus(XsimHvReq *req)
{
    gint64 now = g_get_monotonic_time();
    gint64 uptime_ns = (now - req->hv->started) * 1000;

    json_builder_set_member_name(req->result, "cpus");
    json_builder_begin_array(req->result);
    for (guint cpu = 0; cpu < XSIM_HOST_CPUS; cpu++) {
        gint64 guest = xsim_hv_pcpu_guest_ns(req->hv, cpu, now);

        json_builder_begin_object(req->result);
        xsim_add_int(req->result, "cpu", cpu);
        xsim_add_int(req->result, "guest_ns", guest);
        xsim_add_int(req->result, "idle_ns", MAX(0, uptime_ns - guest));
        json_builder_end_object(req->result);
    }
    json_builder_end_array(req->result);
    return 0;
}

/* XEN_DOMCTL_setvcpuaffinity (hard): the cpus a vcpu may run on. */
static int
xsim_op_vcpu_affinity(XsimHvReq *req)
{
    XsimHvDomain *dom;
    JsonArray *cpus;
    guint64 mask = 0;
    gint64 vcpu;
    int rc;

    if ((rc = xsim_req_domain(req, &dom)) ||
        (rc = xsim_req_int(req, "vcpu", true, 0, G_MAXINT32, &vcpu)))
        return rc;
    if (vcpu >= dom->max_vcpus)
        return xsim_req_fail(req, EINVAL, "argument 'vcpu': domain %u has "
                             "no vcpu %" G_GINT64_FORMAT, dom->domid, vcpu);
    if (!json_object_has_member(req->args, "cpus") ||
        !JSON_NODE_HOLDS_ARRAY(json_object_get_member(req->args, "cpus")))
        return xsim_req_fail(req, EINVAL, "argument 'cpus' is not an array");
    cpus = json_object_get_array_member(req->args, "cpus");
    for (guint i = 0; i < json_array_get_length(cpus); i++) {
        JsonNode *n = json_array_get_element(cpus, i);

        if (json_node_get_value_type(n) != G_TYPE_INT64 ||
            json_node_get_int(n) < 0 ||
            json_node_get_int(n) >= XSIM_HOST_CPUS)
            return xsim_req_fail(req, EINVAL, "argument 'cpus': not a list "
                                 "of cpus from 0 to %d", XSIM_HOST_CPUS - 1);
        mask |= G_GUINT64_CONSTANT(1) << json_node_get_int(n);
    }
    if (!mask)
        return xsim_req_fail(req, EINVAL, "argument 'cpus' is empty");
    xsim_hv_vcpu_set_affinity(dom, vcpu, mask);
    return 0;
}

static int
xsim_op_set_max_mem(XsimHvReq *req)
{
    XsimHvDomain *dom;
    gint64 memkb;
    int rc;

    if ((rc = xsim_req_guest(req, &dom)) ||
        (rc = xsim_req_int(req, "max_memkb", true, 1024, G_MAXINT64 / 1024,
                           &memkb)))
        return rc;
    /* Like XEN_DOMCTL_max_mem: a ceiling for later allocations only. */
    dom->max_memkb = memkb;
    return 0;
}

static int
xsim_op_set_vcpus(XsimHvReq *req)
{
    XsimHvDomain *dom;
    gint64 online;
    int rc;

    if ((rc = xsim_req_guest(req, &dom)) ||
        (rc = xsim_req_int(req, "online", true, 1, dom->max_vcpus, &online)))
        return rc;
    /* Keep the cpu time counters exact across the rate change. */
    xsim_hv_domain_fold_cpu(dom);
    dom->online_vcpus = online;
    return 0;
}

static int
xsim_op_sched_set(XsimHvReq *req)
{
    gint64 weight = -1, cap = -1;
    XsimHvDomain *dom;
    int rc;

    if ((rc = xsim_req_domain(req, &dom)))
        return rc;
    if ((rc = xsim_req_int(req, "weight", false, 1, 65535, &weight)) &&
        rc != ENOENT)
        return rc;
    if ((rc = xsim_req_int(req, "cap", false, 0, 65535, &cap)) && rc != ENOENT)
        return rc;
    if (weight >= 0)
        dom->weight = weight;
    if (cap >= 0)
        dom->cap = cap;
    return 0;
}

static int
xsim_op_subscribe(XsimHvReq *req)
{
    req->client->subscribed = true;
    return 0;
}

static int
xsim_op_evtchn_alloc_unbound(XsimHvReq *req)
{
    XsimHvDomain *dom, *remote;
    uint32_t port;
    int rc;

    if ((rc = xsim_req_domain(req, &dom)) ||
        (rc = xsim_req_domain_arg(req, "remote", &remote)))
        return rc;
    if ((rc = xsim_hv_evtchn_alloc_unbound(dom, remote->domid, &port)))
        return xsim_req_fail(req, rc == ENOSPC ? ENOMEM : rc,
                             "cannot allocate a port in domain %u", dom->domid);
    xsim_add_int(req->result, "port", port);
    return 0;
}

static int
xsim_op_evtchn_bind(XsimHvReq *req)
{
    XsimHvDomain *dom, *remote;
    gint64 rport;
    uint32_t port;
    int rc;

    if ((rc = xsim_req_domain(req, &dom)) ||
        (rc = xsim_req_domain_arg(req, "remote", &remote)) ||
        (rc = xsim_req_int(req, "remote_port", true, 1, G_MAXUINT32, &rport)))
        return rc;
    if ((rc = xsim_hv_evtchn_bind(dom, remote, rport, &port)))
        return xsim_req_fail(req, rc == ENOSPC ? ENOMEM : rc,
                             "cannot bind to port %" G_GINT64_FORMAT
                             " of domain %u", rport, remote->domid);
    xsim_add_int(req->result, "port", port);
    return 0;
}


/*
 * An op on one domain and a number of it (a port, a grant): @fn's error
 * is reported as "domain D has no WHAT N".
 */
static int
xsim_op_domain_number(XsimHvReq *req,
                      const char *arg,
                      gint64 min,
                      const char *what,
                      int (*fn)(XsimHvReq *req, XsimHvDomain *dom,
                                uint32_t n))
{
    XsimHvDomain *dom;
    gint64 n;
    int rc;

    if ((rc = xsim_req_domain(req, &dom)) ||
        (rc = xsim_req_int(req, arg, true, min, G_MAXUINT32, &n)))
        return rc;
    if ((rc = fn(req, dom, n)))
        return xsim_req_fail(req, rc, "domain %u has no %s %" G_GINT64_FORMAT,
                             dom->domid, what, n);
    return 0;
}

static int
xsim_do_evtchn_notify(XsimHvReq *req,
                      XsimHvDomain *dom,
                      uint32_t port)
{
    return xsim_hv_evtchn_notify(dom, port);
}

static int
xsim_op_evtchn_notify(XsimHvReq *req)
{
    return xsim_op_domain_number(req, "port", 1, "port",
                                 xsim_do_evtchn_notify);
}

static int
xsim_do_evtchn_close(XsimHvReq *req,
                     XsimHvDomain *dom,
                     uint32_t port)
{
    return xsim_hv_evtchn_close(dom, port);
}

static int
xsim_op_evtchn_close(XsimHvReq *req)
{
    return xsim_op_domain_number(req, "port", 1, "port",
                                 xsim_do_evtchn_close);
}


static int
xsim_op_grant_share(XsimHvReq *req)
{
    XsimHvDomain *dom, *peer;
    const char *shm;
    gint64 pages;
    uint32_t gref;
    int rc;

    if ((rc = xsim_req_domain(req, &dom)) ||
        (rc = xsim_req_domain_arg(req, "peer", &peer)) ||
        (rc = xsim_req_int(req, "pages", true, 1, 256, &pages)))
        return rc;
    if ((rc = xsim_hv_grant_share(dom, peer->domid, pages, &gref, &shm)))
        return xsim_req_fail(req, rc, "cannot share %" G_GINT64_FORMAT
                             " pages of domain %u: %s", pages, dom->domid,
                             g_strerror(rc));
    xsim_add_int(req->result, "gref", gref);
    xsim_add_str(req->result, "shm", shm);
    return 0;
}

static int
xsim_op_grant_map(XsimHvReq *req)
{
    XsimHvDomain *dom, *granter;
    const char *shm;
    gint64 gref;
    int rc;

    if ((rc = xsim_req_domain(req, &dom)) ||
        (rc = xsim_req_domain_arg(req, "granter", &granter)) ||
        (rc = xsim_req_int(req, "gref", true, 0, G_MAXUINT32, &gref)))
        return rc;
    rc = xsim_hv_grant_map(dom, granter, gref, &shm);
    if (rc == EACCES)
        return xsim_req_fail(req, rc, "grant %" G_GINT64_FORMAT " of domain %u "
                             "is not for domain %u", gref, granter->domid,
                             dom->domid);
    if (rc)
        return xsim_req_fail(req, rc, "domain %u has no grant %" G_GINT64_FORMAT,
                             granter->domid, gref);
    xsim_add_str(req->result, "shm", shm);
    return 0;
}


static int
xsim_do_grant_end(XsimHvReq *req,
                  XsimHvDomain *dom,
                  uint32_t gref)
{
    return xsim_hv_grant_end(dom, gref);
}

static int
xsim_op_grant_end(XsimHvReq *req)
{
    return xsim_op_domain_number(req, "gref", 0, "grant", xsim_do_grant_end);
}

static int
xsim_do_evtchn_unmask(XsimHvReq *req,
                      XsimHvDomain *dom,
                      uint32_t port)
{
    return xsim_hv_evtchn_unmask(dom, port, req->client);
}

/* EINVAL too for a port another connection watches. */
static int
xsim_op_evtchn_unmask(XsimHvReq *req)
{
    return xsim_op_domain_number(req, "port", 1, "port watched here",
                                 xsim_do_evtchn_unmask);
}

static int
xsim_op_evtchn_watch(XsimHvReq *req)
{
    XsimHvClient *client = req->client;
    XsimHvWatched w;
    XsimHvDomain *dom;
    gint64 port;
    int rc;

    if ((rc = xsim_req_domain(req, &dom)) ||
        (rc = xsim_req_int(req, "port", true, 1, G_MAXUINT32, &port)))
        return rc;
    if (client->watched->len >= XSIM_HV_CLIENT_MAX_WATCHES)
        return xsim_req_fail(req, ENOMEM, "this connection watches %u ports "
                             "already", client->watched->len);
    if ((rc = xsim_hv_evtchn_watch(dom, port, client)) == EBUSY)
        return xsim_req_fail(req, rc, "port %" G_GINT64_FORMAT " of domain %u "
                             "is watched by another connection", port,
                             dom->domid);
    if (rc)
        return xsim_req_fail(req, rc, "domain %u has no port %" G_GINT64_FORMAT,
                             dom->domid, port);
    w.domid = dom->domid;
    w.port = port;
    g_array_append_val(client->watched, w);
    return 0;
}


void
xsim_hv_client_evtchn_event(XsimHvClient *client,
                            uint32_t domid,
                            uint32_t port)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "event");
    json_builder_add_string_value(b, "evtchn");
    xsim_add_int(b, "domid", domid);
    xsim_add_int(b, "port", port);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    xsim_hv_client_send(client, root);
}

static int
xsim_op_grant_unmap(XsimHvReq *req)
{
    XsimHvDomain *dom;
    gint64 granter, gref;
    int rc;

    /* The granter may be a zombie or gone already: only a number here. */
    if ((rc = xsim_req_domain(req, &dom)) ||
        (rc = xsim_req_int(req, "granter", true, 0, G_MAXUINT32, &granter)) ||
        (rc = xsim_req_int(req, "gref", true, 0, G_MAXUINT32, &gref)))
        return rc;
    if ((rc = xsim_hv_grant_unmap(dom, granter, gref)))
        return xsim_req_fail(req, rc, "domain %u does not map grant %"
                             G_GINT64_FORMAT " of domain %" G_GINT64_FORMAT,
                             dom->domid, gref, granter);
    return 0;
}

static int
xsim_op_fault(XsimHvReq *req)
{
    const char *kind, *device = NULL;
    gint64 seconds = 0;
    XsimHvDomain *dom;
    int rc;

    if ((rc = xsim_req_guest(req, &dom)) ||
        (rc = xsim_req_str(req, "kind", true, &kind)))
        return rc;
    if ((rc = xsim_req_str(req, "device", false, &device)) && rc != ENOENT)
        return rc;
    if ((rc = xsim_req_int(req, "seconds", false, 0, 3600, &seconds)) &&
        rc != ENOENT)
        return rc;
    if (dom->dying)
        return xsim_req_fail(req, EINVAL, "domain %u is dying", dom->domid);

    if (g_str_equal(kind, "crash")) {
        if (!dom->booted || dom->shutdown)
            return xsim_req_fail(req, EINVAL, "domain %u is not running",
                                 dom->domid);
        xsim_hv_domain_set_shutdown(dom, XSIM_SHUTDOWN_CRASH);
    } else if (g_str_equal(kind, "ignore-shutdown") ||
               g_str_equal(kind, "garbage")) {
        /* For a kernel yet to boot, as if its script said so. */
        if (g_str_equal(kind, "garbage"))
            dom->script.garbage = true;
        else
            dom->script.ignore_shutdown = true;
        if (dom->guest)
            xsim_guest_fault(dom->guest, kind);
    } else if (g_str_equal(kind, "kill-backend") ||
               g_str_equal(kind, "delay-backend")) {
        if (!device)
            return xsim_req_fail(req, EINVAL, "argument 'device' is missing");
        if (g_str_equal(kind, "delay-backend") &&
            !json_object_has_member(req->args, "seconds"))
            return xsim_req_fail(req, EINVAL, "argument 'seconds' is missing");
        rc = xsim_backends_fault(req->hv->backends, dom->domid, kind, device,
                                 seconds);
        if (rc)
            return xsim_req_fail(req, rc, "argument 'device': '%s' is not "
                                 "KIND/DEVID of a vbd, vif or console", device);
    } else if (g_str_equal(kind, "disk-verify")) {
        /* The running kernel's NBD writer stops and reads back. */
        if (!dom->guest)
            return xsim_req_fail(req, EINVAL, "domain %u is not running",
                                 dom->domid);
        xsim_guest_fault(dom->guest, kind);
    } else if (g_str_equal(kind, "fail-next-hotplug")) {
        g_mutex_lock(&req->hv->lock);
        dom->fail_next_hotplug = true;
        g_mutex_unlock(&req->hv->lock);
    } else {
        return xsim_req_fail(req, EINVAL, "argument 'kind': unknown fault '%s'",
                             kind);
    }
    g_message("domain %u: fault %s", dom->domid, kind);
    return 0;
}

/*
 * Save: what a suspended guest's memory holds, which the toolstack writes
 * into its image (on Xen, libxenguest reads the pages of a domain shut
 * down with reason suspend).  Nothing changes: the domain stays suspended
 * until the toolstack destroys it.
 */
static int
xsim_op_save_state(XsimHvReq *req)
{
    XsimHvDomain *dom;
    XsimGuestImage *image;
    int rc;

    if ((rc = xsim_req_guest(req, &dom)))
        return rc;
    if (dom->dying || !dom->shutdown || dom->reason != XSIM_SHUTDOWN_SUSPEND ||
        !(image = dom->suspended))
        return xsim_req_fail(req, EINVAL, "domain %u has not suspended",
                             dom->domid);
    json_builder_set_member_name(req->result, "state");
    json_builder_begin_object(req->result);
    xsim_add_int(req->result, "version", XSIM_GUEST_STATE_VERSION);
    xsim_add_int(req->result, "ticks", image->ticks);
    xsim_add_str(req->result, "boot_id", image->boot_id);
    xsim_add_str(req->result, "log", image->log);
    xsim_add_int(req->result, "memkb", image->memkb);
    json_builder_end_object(req->result);
    return 0;
}

/*
 * A state from an image file: anything may be in it.  Every member is
 * required, typed and bounded, and nothing else is allowed.
 */
static int
xsim_req_guest_state(XsimHvReq *req,
                     XsimGuestImage **image_r)
{
    static const char *const members[] = {
        "version", "ticks", "boot_id", "log", "memkb",
    };
    g_autoptr(XsimGuestImage) image = g_new0(XsimGuestImage, 1);
    JsonNode *node = json_object_get_member(req->args, "state");
    JsonObject *o;
    JsonNode *m;
    const char *str;

    if (!node)
        return xsim_req_fail(req, EINVAL, "argument 'state' is missing");
    if (!JSON_NODE_HOLDS_OBJECT(node))
        return xsim_req_fail(req, EINVAL, "argument 'state' must be an object");
    o = json_node_get_object(node);
    if (json_object_get_size(o) != G_N_ELEMENTS(members))
        return xsim_req_fail(req, EINVAL, "argument 'state' must have exactly "
                             "the members version, ticks, boot_id, log, memkb");
    for (guint i = 0; i < G_N_ELEMENTS(members); i++) {
        bool is_str = i == 2 || i == 3;

        m = json_object_get_member(o, members[i]);
        if (!m || !JSON_NODE_HOLDS_VALUE(m) ||
            json_node_get_value_type(m) != (is_str ? G_TYPE_STRING : G_TYPE_INT64) ||
            (!is_str && json_node_get_int(m) < 0))
            return xsim_req_fail(req, EINVAL, "argument 'state': member '%s' "
                                 "is missing or not a %s", members[i],
                                 is_str ? "string" : "non-negative integer");
    }
    if (json_object_get_int_member(o, "version") != XSIM_GUEST_STATE_VERSION)
        return xsim_req_fail(req, EINVAL, "argument 'state': version %"
                             G_GINT64_FORMAT " is not %d",
                             json_object_get_int_member(o, "version"),
                             XSIM_GUEST_STATE_VERSION);
    str = json_object_get_string_member(o, "boot_id");
    if (strlen(str) != XSIM_GUEST_BOOT_ID_LEN ||
        strspn(str, "0123456789abcdef") != XSIM_GUEST_BOOT_ID_LEN)
        return xsim_req_fail(req, EINVAL, "argument 'state': 'boot_id' must be "
                             "%d lower-case hex digits", XSIM_GUEST_BOOT_ID_LEN);
    memcpy(image->boot_id, str, sizeof(image->boot_id));
    str = json_object_get_string_member(o, "log");
    if (strlen(str) > XSIM_GUEST_LOG_MAX)
        return xsim_req_fail(req, EINVAL, "argument 'state': 'log' is longer "
                             "than %d bytes", XSIM_GUEST_LOG_MAX);
    image->log = g_strdup(str);
    image->ticks = json_object_get_int_member(o, "ticks");
    image->memkb = json_object_get_int_member(o, "memkb");
    *image_r = g_steal_pointer(&image);
    return 0;
}

/*
 * Restore: a built domain that has not run yet resumes from @state at its
 * first unpause, holding the memory it held (at most its maximum).
 */
static int
xsim_op_restore_state(XsimHvReq *req)
{
    g_autoptr(XsimGuestImage) image = NULL;
    XsimHvDomain *dom;
    guint64 kb;
    int rc;

    if ((rc = xsim_req_guest(req, &dom)) ||
        (rc = xsim_req_guest_state(req, &image)))
        return rc;
    if (dom->booted || dom->dying || dom->shutdown)
        return xsim_req_fail(req, EINVAL, "domain %u has already run",
                             dom->domid);
    if (!dom->built)
        return xsim_req_fail(req, EINVAL, "domain %u has not been built",
                             dom->domid);
    kb = MAX(MIN(image->memkb, dom->max_memkb), 1024);
    req->hv->held_kib = req->hv->held_kib - dom->cur_memkb + kb;
    dom->cur_memkb = kb;
    g_clear_pointer(&dom->resume, xsim_guest_image_free);
    dom->resume = g_steal_pointer(&image);
    g_message("domain %u: resumes from a saved state at its first unpause",
              dom->domid);
    return 0;
}

static int
xsim_op_stop(XsimHvReq *req)
{
    req->stop = true;
    return 0;
}

static const XsimHvOp xsim_hv_ops[] = {
    { "host_info", xsim_op_host_info, { NULL } },
    { "topology", xsim_op_topology, { NULL } },
    { "create", xsim_op_create, { "uuid", "type", "max_vcpus", "max_memkb" } },
    { "build", xsim_op_build, { "domid", "kernel", "ramdisk", "cmdline",
                                "store_port", "console_port" } },
    { "unpause", xsim_op_unpause, { "domid" } },
    { "pause", xsim_op_pause, { "domid" } },
    { "destroy", xsim_op_destroy, { "domid" } },
    { "shutdown", xsim_op_shutdown, { "domid", "reason" } },
    { "info", xsim_op_info, { "domid" } },
    { "list", xsim_op_list, { NULL } },
    { "vcpus", xsim_op_vcpus, { "domid" } },
    { "pcpus", xsim_op_pcpus, { NULL } },
    { "vcpu_affinity", xsim_op_vcpu_affinity, { "domid", "vcpu", "cpus" } },
    { "set_max_mem", xsim_op_set_max_mem, { "domid", "max_memkb" } },
    { "set_vcpus", xsim_op_set_vcpus, { "domid", "online" } },
    { "sched_set", xsim_op_sched_set, { "domid", "weight", "cap" } },
    { "subscribe", xsim_op_subscribe, { NULL } },
    { "evtchn_alloc_unbound", xsim_op_evtchn_alloc_unbound, { "domid", "remote" } },
    { "evtchn_bind", xsim_op_evtchn_bind, { "domid", "remote", "remote_port" } },
    { "evtchn_notify", xsim_op_evtchn_notify, { "domid", "port" } },
    { "evtchn_close", xsim_op_evtchn_close, { "domid", "port" } },
    { "grant_share", xsim_op_grant_share, { "domid", "peer", "pages" } },
    { "grant_map", xsim_op_grant_map, { "domid", "granter", "gref" } },
    { "grant_unmap", xsim_op_grant_unmap, { "domid", "granter", "gref" } },
    { "grant_end", xsim_op_grant_end, { "domid", "gref" } },
    { "evtchn_watch", xsim_op_evtchn_watch, { "domid", "port" } },
    { "evtchn_unmask", xsim_op_evtchn_unmask, { "domid", "port" } },
    { "fault", xsim_op_fault, { "domid", "kind", "device", "seconds" } },
    { "save_state", xsim_op_save_state, { "domid" } },
    { "restore_state", xsim_op_restore_state, { "domid", "state" } },
    { "stop", xsim_op_stop, { NULL } },
};

/* ---- the connection ---- */

static void xsim_hv_client_io(int fd, GIOCondition revents, gpointer opaque);

static void
xsim_hv_client_free(XsimHvClient *client)
{
    if (!client)
        return;
    client->hv->clients = g_list_remove(client->hv->clients, client);
    for (guint i = 0; i < client->watched->len; i++) {
        XsimHvWatched *w = &g_array_index(client->watched, XsimHvWatched, i);

        xsim_hv_evtchn_unwatch_client(client->hv, client, w->domid, w->port);
    }
    g_array_unref(client->watched);
    if (client->hold) {
        g_source_destroy(client->hold);
        g_source_unref(client->hold);
    }
    g_source_destroy(client->source);
    g_source_unref(client->source);
    close(client->fd);
    g_string_free(client->in, TRUE);
    g_string_free(client->out, TRUE);
    g_free(client);
}

static void
xsim_hv_client_update_events(XsimHvClient *client)
{
    xsim_fd_source_set_events(client->source, G_IO_IN |
                              (client->out->len > client->out_off &&
                               !client->hold ? G_IO_OUT : 0));
}

/*
 * Queue one line.  A client too far behind is only marked dead here, since
 * callers may be iterating over clients or serving this very one; its
 * pending output wakes it up, and xsim_hv_client_io() frees it.
 */
static void
xsim_hv_client_send(XsimHvClient *client,
                    JsonNode *node)
{
    g_autofree char *text = NULL;

    if (client->dead)
        return;
    /* The backlog, not this line: one big reply (a long list) always goes. */
    if (client->out->len - client->out_off > XSIM_HV_OUT_MAX) {
        g_warning("control client not reading its output, disconnected");
        client->dead = true;
        return;
    }
    text = json_to_string(node, FALSE);
    g_string_append(client->out, text);
    g_string_append_c(client->out, '\n');
    xsim_hv_client_update_events(client);
}

static void
xsim_hv_client_reply(XsimHvClient *client,
                     JsonNode *id,
                     int rc,
                     XsimHvReq *req)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "id");
    json_builder_add_value(b, id ? json_node_copy(id) : json_node_new(JSON_NODE_NULL));
    if (rc == 0) {
        json_builder_set_member_name(b, "ok");
        json_builder_add_value(b, json_builder_get_root(req->result));
    } else {
        json_builder_set_member_name(b, "error");
        json_builder_add_string_value(b, xsim_hv_errname(rc));
        json_builder_set_member_name(b, "message");
        json_builder_add_string_value(b, req->message ? req->message :
                                      g_strerror(rc));
    }
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    xsim_hv_client_send(client, root);
}

/* Write what the socket takes.  False if the client went away (freed). */
static bool
xsim_hv_client_flush(XsimHvClient *client)
{
    while (!client->hold && client->out_off < client->out->len) {
        ssize_t n = send(client->fd, client->out->str + client->out_off,
                         client->out->len - client->out_off, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            xsim_hv_client_free(client);
            return false;
        }
        client->out_off += n;
    }
    if (client->out_off == client->out->len) {
        g_string_truncate(client->out, 0);
        client->out_off = 0;
    }
    xsim_hv_client_update_events(client);
    return true;
}

/*
 * One request line.  Returns false when the caller must stop reading from
 * the client: it was freed (bad input), or the host is stopping (then
 * xsim_hv_free() frees it).
 */
static bool
xsim_hv_client_line(XsimHvClient *client,
                    const char *line,
                    gsize len)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(GError) error = NULL;
    XsimHvReq req = { .hv = client->hv, .client = client };
    const XsimHvOp *op = NULL;
    JsonNode *root, *id;
    const char *name;
    int rc = 0;

    if (!json_parser_load_from_data(parser, line, len, &error) ||
        !(root = json_parser_get_root(parser)) || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_warning("control client sent a line that is not a JSON object, "
                  "disconnected");
        xsim_hv_client_free(client);
        return false;
    }
    req.args = json_node_get_object(root);
    req.result = json_builder_new();
    json_builder_begin_object(req.result);

    id = json_object_get_member(req.args, "id");
    if (!id || !JSON_NODE_HOLDS_VALUE(id) ||
        json_node_get_value_type(id) != G_TYPE_INT64 || json_node_get_int(id) < 0) {
        rc = xsim_req_fail(&req, EINVAL, "argument 'id' must be a non-negative "
                           "integer");
        id = NULL;
    } else if ((rc = xsim_req_str(&req, "op", true, &name)) != 0) {
        /* xsim_req_str said what is wrong with it */
    } else {
        for (guint i = 0; i < G_N_ELEMENTS(xsim_hv_ops); i++) {
            if (g_str_equal(xsim_hv_ops[i].name, name))
                op = &xsim_hv_ops[i];
        }
        if (!op)
            rc = xsim_req_fail(&req, ENOSYS, "unknown operation '%s'", name);
    }

    if (op) {
        g_autoptr(GList) members = json_object_get_members(req.args);

        for (GList *l = members; l && rc == 0; l = l->next) {
            const char *arg = l->data;
            bool known = g_str_equal(arg, "id") || g_str_equal(arg, "op");

            for (guint i = 0; !known && op->args[i]; i++)
                known = g_str_equal(arg, op->args[i]);
            if (!known)
                rc = xsim_req_fail(&req, EINVAL, "unknown argument '%s' for '%s'",
                                   arg, op->name);
        }
        if (rc == 0)
            rc = op->fn(&req);
    }

    if (rc == 0 && !req.result_done)
        json_builder_end_object(req.result);
    xsim_hv_client_reply(client, id, rc, &req);
    g_clear_object(&req.result);
    g_free(req.message);

    if (req.stop) {
        /* Let the reply out before the host goes (best effort, small). */
        if (xsim_hv_client_flush(client))
            shutdown(client->fd, SHUT_WR);
        xsim_hv_stop_requested(client->hv);
        return false;
    }
    return true;
}

static void
xsim_hv_client_read(XsimHvClient *client)
{
    char buf[16384];
    gsize start = 0;
    char *nl;
    ssize_t n;

    n = recv(client->fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        xsim_hv_client_free(client);
        return;
    }
    g_string_append_len(client->in, buf, n);

    while ((nl = memchr(client->in->str + start, '\n',
                        client->in->len - start))) {
        gsize len = nl - (client->in->str + start);

        if (len > XSIM_HV_LINE_MAX)
            break;
        if (!xsim_hv_client_line(client, client->in->str + start, len))
            return;
        start += len + 1;
        if (client->dead) {
            xsim_hv_client_free(client);
            return;
        }
    }
    g_string_erase(client->in, 0, start);
    if (client->in->len > XSIM_HV_LINE_MAX) {
        g_warning("control client sent a line over %d bytes, disconnected",
                  XSIM_HV_LINE_MAX);
        xsim_hv_client_free(client);
        return;
    }
    xsim_hv_client_flush(client);
}

static void
xsim_hv_client_io(int fd,
                  GIOCondition revents,
                  gpointer opaque)
{
    XsimHvClient *client = opaque;

    if (client->dead) {
        xsim_hv_client_free(client);
        return;
    }
    if (revents & G_IO_OUT) {
        if (!xsim_hv_client_flush(client))
            return;
    }
    if (revents & (G_IO_IN | G_IO_HUP | G_IO_ERR))
        xsim_hv_client_read(client);
}

static void
xsim_hv_accept(int fd,
               GIOCondition revents,
               gpointer opaque)
{
    XsimHv *hv = opaque;
    XsimHvClient *client;
    int cfd;

    cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
        if (errno != EAGAIN && errno != EINTR)
            g_warning("hypervisor.sock: accept: %s", g_strerror(errno));
        return;
    }
    client = g_new0(XsimHvClient, 1);
    client->hv = hv;
    client->fd = cfd;
    client->in = g_string_new(NULL);
    client->out = g_string_new(NULL);
    client->watched = g_array_new(FALSE, FALSE, sizeof(XsimHvWatched));
    client->source = xsim_fd_source_new(cfd, G_IO_IN, xsim_hv_client_io, client);
    hv->clients = g_list_prepend(hv->clients, client);
}

void
xsim_hv_client_notify_all(XsimHv *hv,
                          uint32_t domid)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    GList *l, *next;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "event");
    json_builder_add_string_value(b, "domain_changed");
    xsim_add_int(b, "domid", domid);
    json_builder_end_object(b);
    root = json_builder_get_root(b);

    /* Sending may free a client that is too far behind: fetch next first. */
    for (l = hv->clients; l; l = next) {
        XsimHvClient *client = l->data;

        next = l->next;
        if (client->subscribed)
            xsim_hv_client_send(client, root);
    }
}

bool
xsim_hv_control_listen(XsimHv *hv,
                       GError **error)
{
    hv->sock_path = g_build_filename(hv->rundir, "hypervisor.sock", NULL);
    hv->listen_fd = xsim_listen_unix(hv->sock_path, error);
    if (hv->listen_fd < 0)
        return false;
    hv->listen_source = xsim_fd_source_new(hv->listen_fd, G_IO_IN,
                                           xsim_hv_accept, hv);
    g_message("hypervisor listening on %s", hv->sock_path);
    return true;
}

void
xsim_hv_clients_free(XsimHv *hv)
{
    while (hv->clients)
        xsim_hv_client_free(hv->clients->data);
    if (hv->listen_source) {
        g_source_destroy(hv->listen_source);
        g_clear_pointer(&hv->listen_source, g_source_unref);
    }
    if (hv->listen_fd >= 0) {
        close(hv->listen_fd);
        hv->listen_fd = -1;
    }
    if (hv->sock_path) {
        unlink(hv->sock_path);
        g_clear_pointer(&hv->sock_path, g_free);
    }
}
