/*
 * xs_server.c: the privileged socket, the request dispatcher and one
 * handler per message type of Xen 4.17 (xen/io/xs_wire.h).
 *
 * Every handler either queues exactly one reply and returns 0, or returns
 * an errno value that becomes an XS_ERROR reply.  Handlers validate their
 * payload strictly before touching anything: the payload comes from a
 * guest as often as not (DESIGN.md section 8).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xs_internal.h"
#include "xsim_fdsource.h"

bool xsim_debug_enabled;

void
xsim_server_set_debug(bool on)
{
    xsim_debug_enabled = on;
}

void
xsim_quota_init_default(XsimQuota *quota)
{
    *quota = (XsimQuota) {
        .store = {
            .nodes = 1000,
            .node_size = 2048,
            .perms = 5,
            .txn_nodes = 1024,
        },
        .watches = 128,
        .transactions = 10,
        .outstanding = 20,
        .watch_queue = 1024,
    };
}

/* ---- request payloads ---- */

/*
 * Split a payload of nul-terminated strings.  The payload must end with a
 * nul; returns the number of strings (up to @max are stored), or -1.
 */
static int
xsim_req_strings(const char *payload,
                 uint32_t len,
                 const char **argv,
                 int max)
{
    uint32_t i;
    uint32_t start = 0;
    int n = 0;

    if (len == 0 || payload[len - 1] != '\0')
        return -1;
    for (i = 0; i < len; i++) {
        if (payload[i] != '\0')
            continue;
        if (n < max)
            argv[n] = payload + start;
        n++;
        start = i + 1;
    }
    return n;
}

/* Exactly one string: most requests. */
static const char *
xsim_req_onearg(const char *payload,
                uint32_t len)
{
    const char *argv[1];

    if (xsim_req_strings(payload, len, argv, 1) != 1)
        return NULL;
    return argv[0];
}

/* A decimal number with nothing around it. */
static bool
xsim_parse_uint(const char *s,
                uint64_t max,
                uint64_t *val_r)
{
    uint64_t val = 0;

    if (!s || !*s)
        return false;
    for (; *s; s++) {
        unsigned int digit = *s - '0';

        if (!g_ascii_isdigit(*s) || val > (max - digit) / 10)
            return false;
        val = val * 10 + digit;
    }
    *val_r = val;
    return true;
}

static bool
xsim_parse_domid(const char *s,
                 uint32_t *domid_r)
{
    uint64_t val;

    if (!xsim_parse_uint(s, XSIM_DOMID_MAX - 1, &val))
        return false;
    *domid_r = val;
    return true;
}

static bool
xsim_path_chars_valid(const char *path)
{
    for (; *path; path++) {
        if (!g_ascii_isalnum(*path) && !strchr("-/_@", *path))
            return false;
    }
    return true;
}

/*
 * Turn a path from the wire into a canonical absolute path: relative paths
 * are under the connection's /local/domain/<domid>.  Special "@" names are
 * accepted where @allow_special.  Returns NULL for an invalid path.
 */
static char *
xsim_conn_canonical(XsimConn *conn,
                    const char *in,
                    bool allow_special,
                    gsize *strip_r)
{
    g_autofree char *path = NULL;
    gsize strip = 0;
    gsize len;
    const char *p;

    if (!in || !xsim_path_chars_valid(in))
        return NULL;
    if (in[0] == '@')
        return allow_special ? g_strdup(in) : NULL;

    if (in[0] == '/') {
        path = g_strdup(in);
    } else {
        path = g_strdup_printf("/local/domain/%u/%s", conn->caller.domid, in);
        strip = strlen(path) - strlen(in);
    }

    len = strlen(path);
    if (strstr(path, "//") || (len > 1 && path[len - 1] == '/'))
        return NULL;
    if (len > XENSTORE_ABS_PATH_MAX)
        return NULL;
    /* Below a domain's home, the limit is on the part the guest chose. */
    if (g_str_has_prefix(path, "/local/domain/")) {
        p = path + strlen("/local/domain/");
        p += strspn(p, "0123456789");
        if (*p == '/' && strlen(p + 1) > XENSTORE_REL_PATH_MAX)
            return NULL;
    }
    if (strip_r)
        *strip_r = strip;
    return g_steal_pointer(&path);
}

/* ---- handlers ---- */

typedef struct {
    XsimConn *conn;
    const struct xsd_sockmsg *hdr;
    const char *payload;
    XsimTxn *txn;
} XsimReq;

static void
xsim_req_reply(const XsimReq *req,
               const void *payload,
               gsize len)
{
    xsim_conn_reply(req->conn, req->hdr, req->hdr->type, payload, len);
}

static void
xsim_req_ok(const XsimReq *req)
{
    xsim_req_reply(req, "OK", 3);
}

static void
xsim_req_fire(const XsimReq *req,
              GPtrArray *changes)
{
    xsim_watch_fire_changes(req->conn->srv, changes);
}

static GPtrArray *
xsim_changes_new(void)
{
    return g_ptr_array_new_with_free_func((GDestroyNotify)xsim_change_free);
}

static int
xsim_op_read(const XsimReq *req)
{
    XsimConn *conn = req->conn;
    g_autofree char *path = NULL;
    const char *value;
    gsize len;
    int rc;

    path = xsim_conn_canonical(conn, xsim_req_onearg(req->payload, req->hdr->len),
                               false, NULL);
    if (!path)
        return EINVAL;
    if ((rc = xsim_store_read(conn->srv->store, req->txn, &conn->caller, path,
                              &value, &len)) != 0)
        return rc;
    xsim_req_reply(req, value, len);
    return 0;
}

static int
xsim_op_write(const XsimReq *req)
{
    XsimConn *conn = req->conn;
    g_autoptr(GPtrArray) changes = xsim_changes_new();
    g_autofree char *path = NULL;
    const char *nul;
    gsize vlen;
    int rc;

    /* "path\0value": the value is raw bytes, not nul-terminated. */
    nul = memchr(req->payload, '\0', req->hdr->len);
    if (!nul)
        return EINVAL;
    path = xsim_conn_canonical(conn, req->payload, false, NULL);
    if (!path)
        return EINVAL;
    vlen = req->hdr->len - (nul + 1 - req->payload);
    if ((rc = xsim_store_write(conn->srv->store, req->txn, &conn->caller, path,
                               nul + 1, vlen, changes)) != 0)
        return rc;
    xsim_req_ok(req);
    xsim_req_fire(req, changes);
    return 0;
}

static int
xsim_op_mkdir(const XsimReq *req)
{
    XsimConn *conn = req->conn;
    g_autoptr(GPtrArray) changes = xsim_changes_new();
    g_autofree char *path = NULL;
    int rc;

    path = xsim_conn_canonical(conn, xsim_req_onearg(req->payload, req->hdr->len),
                               false, NULL);
    if (!path)
        return EINVAL;
    if ((rc = xsim_store_mkdir(conn->srv->store, req->txn, &conn->caller, path,
                               changes)) != 0)
        return rc;
    xsim_req_ok(req);
    xsim_req_fire(req, changes);
    return 0;
}

static int
xsim_op_rm(const XsimReq *req)
{
    XsimConn *conn = req->conn;
    g_autoptr(GPtrArray) changes = xsim_changes_new();
    g_autofree char *path = NULL;
    int rc;

    path = xsim_conn_canonical(conn, xsim_req_onearg(req->payload, req->hdr->len),
                               false, NULL);
    if (!path)
        return EINVAL;
    if ((rc = xsim_store_rm(conn->srv->store, req->txn, &conn->caller, path,
                            changes)) != 0)
        return rc;
    xsim_req_ok(req);
    xsim_req_fire(req, changes);
    return 0;
}

static int
xsim_op_directory(const XsimReq *req)
{
    XsimConn *conn = req->conn;
    g_autofree char *path = NULL;
    g_autoptr(GString) out = NULL;
    const GPtrArray *children;
    guint64 generation;
    guint i;
    int rc;

    path = xsim_conn_canonical(conn, xsim_req_onearg(req->payload, req->hdr->len),
                               false, NULL);
    if (!path)
        return EINVAL;
    if ((rc = xsim_store_directory(conn->srv->store, req->txn, &conn->caller,
                                   path, &children, &generation)) != 0)
        return rc;
    out = g_string_new(NULL);
    for (i = 0; i < children->len; i++)
        g_string_append_len(out, g_ptr_array_index(children, i),
                            strlen(g_ptr_array_index(children, i)) + 1);
    /* Over XENSTORE_PAYLOAD_MAX becomes E2BIG: use DIRECTORY_PART then. */
    xsim_req_reply(req, out->str, out->len);
    return 0;
}

/*
 * "path\0offset\0" -> "generation\0" and the children from byte @offset of
 * their concatenation, as many whole names as fit; one more nul marks the
 * end of the list.  Clients restart when the generation changes.
 */
static int
xsim_op_directory_part(const XsimReq *req)
{
    XsimConn *conn = req->conn;
    g_autofree char *path = NULL;
    g_autoptr(GString) all = g_string_new(NULL);
    g_autoptr(GString) out = g_string_new(NULL);
    const GPtrArray *children;
    const char *argv[2];
    guint64 generation;
    uint64_t offset;
    gsize pos;
    guint i;
    int rc;

    if (xsim_req_strings(req->payload, req->hdr->len, argv, 2) != 2)
        return EINVAL;
    path = xsim_conn_canonical(conn, argv[0], false, NULL);
    if (!path || !xsim_parse_uint(argv[1], UINT32_MAX, &offset))
        return EINVAL;
    if ((rc = xsim_store_directory(conn->srv->store, req->txn, &conn->caller,
                                   path, &children, &generation)) != 0)
        return rc;
    for (i = 0; i < children->len; i++)
        g_string_append_len(all, g_ptr_array_index(children, i),
                            strlen(g_ptr_array_index(children, i)) + 1);
    if (offset > all->len || (offset > 0 && all->str[offset - 1] != '\0'))
        return EINVAL;

    g_string_append_printf(out, "%" G_GUINT64_FORMAT, generation);
    g_string_append_c(out, '\0');
    pos = offset;
    while (pos < all->len) {
        gsize name_len = strlen(all->str + pos) + 1;

        /* Leave room for the final nul. */
        if (out->len + name_len + 1 > XENSTORE_PAYLOAD_MAX)
            break;
        g_string_append_len(out, all->str + pos, name_len);
        pos += name_len;
    }
    if (pos == all->len)
        g_string_append_c(out, '\0');
    xsim_req_reply(req, out->str, out->len);
    return 0;
}

static int
xsim_op_get_perms(const XsimReq *req)
{
    XsimConn *conn = req->conn;
    g_autofree char *path = NULL;
    g_autoptr(GString) out = g_string_new(NULL);
    const XsimPerm *perms;
    guint nperms;
    int rc;

    path = xsim_conn_canonical(conn, xsim_req_onearg(req->payload, req->hdr->len),
                               true, NULL);
    if (!path)
        return EINVAL;
    if ((rc = xsim_store_get_perms(conn->srv->store, req->txn, &conn->caller,
                                   path, &perms, &nperms)) != 0)
        return rc;
    xsim_perms_format(out, perms, nperms);
    xsim_req_reply(req, out->str, out->len);
    return 0;
}

static int
xsim_op_set_perms(const XsimReq *req)
{
    XsimConn *conn = req->conn;
    g_autoptr(GPtrArray) changes = xsim_changes_new();
    g_autofree const char **argv = NULL;
    g_autofree XsimPerm *perms = NULL;
    g_autofree char *path = NULL;
    int argc;
    int rc;

    argc = xsim_req_strings(req->payload, req->hdr->len, NULL, 0);
    if (argc < 2)
        return EINVAL;
    argv = g_new0(const char *, argc);
    xsim_req_strings(req->payload, req->hdr->len, argv, argc);
    path = xsim_conn_canonical(conn, argv[0], true, NULL);
    if (!path)
        return EINVAL;
    if ((rc = xsim_perms_parse(argv + 1, argc - 1, &perms)) != 0)
        return rc;
    if ((rc = xsim_store_set_perms(conn->srv->store, req->txn, &conn->caller,
                                   path, perms, argc - 1, changes)) != 0)
        return rc;
    xsim_req_ok(req);
    /* Special nodes do not fire on their own permission changes. */
    if (path[0] == '/')
        xsim_req_fire(req, changes);
    return 0;
}

static int
xsim_op_watch(const XsimReq *req)
{
    XsimConn *conn = req->conn;
    g_autofree char *path = NULL;
    const char *argv[2];
    gsize strip = 0;
    int rc;

    if (xsim_req_strings(req->payload, req->hdr->len, argv, 2) != 2)
        return EINVAL;
    path = xsim_conn_canonical(conn, argv[0], true, &strip);
    if (!path)
        return EINVAL;
    if ((rc = xsim_watch_add(conn, path, argv[1], strip)) != 0)
        return rc;
    xsim_req_ok(req);
    /* Fired once up front, whatever the permissions: it says nothing. */
    xsim_conn_watch_event(conn, argv[0], argv[1]);
    return 0;
}

static int
xsim_op_unwatch(const XsimReq *req)
{
    XsimConn *conn = req->conn;
    g_autofree char *path = NULL;
    const char *argv[2];
    int rc;

    if (xsim_req_strings(req->payload, req->hdr->len, argv, 2) != 2)
        return EINVAL;
    path = xsim_conn_canonical(conn, argv[0], true, NULL);
    if (!path)
        return EINVAL;
    if ((rc = xsim_watch_remove(conn, path, argv[1])) != 0)
        return rc;
    xsim_req_ok(req);
    return 0;
}

static int
xsim_op_reset_watches(const XsimReq *req)
{
    xsim_watch_remove_all(req->conn);
    /* As C xenstored: a guest resetting its state drops transactions too. */
    g_hash_table_remove_all(req->conn->txns);
    xsim_req_ok(req);
    return 0;
}

static int
xsim_op_transaction_start(const XsimReq *req)
{
    XsimConn *conn = req->conn;
    char buf[16];
    uint32_t id;

    if (req->hdr->tx_id != 0)
        return EBUSY;
    if (!conn->caller.privileged &&
        g_hash_table_size(conn->txns) >= conn->srv->quota.transactions)
        return ENOSPC;

    /* Ids are not reused soon, so a stale id cannot hit a new transaction. */
    do {
        id = ++conn->next_txid;
    } while (id == 0 || g_hash_table_contains(conn->txns, GUINT_TO_POINTER(id)));
    g_hash_table_insert(conn->txns, GUINT_TO_POINTER(id),
                        xsim_txn_new(conn->srv->store));
    g_snprintf(buf, sizeof(buf), "%u", id);
    xsim_req_reply(req, buf, strlen(buf) + 1);
    return 0;
}

static int
xsim_op_transaction_end(const XsimReq *req)
{
    XsimConn *conn = req->conn;
    g_autoptr(GPtrArray) changes = xsim_changes_new();
    g_autoptr(XsimTxn) txn = NULL;
    const char *arg = xsim_req_onearg(req->payload, req->hdr->len);
    gpointer key = GUINT_TO_POINTER(req->hdr->tx_id);
    bool commit;
    int rc;

    if (!arg || (strcmp(arg, "T") != 0 && strcmp(arg, "F") != 0))
        return EINVAL;
    commit = arg[0] == 'T';
    /* The transaction ends here whatever happens. */
    txn = g_hash_table_lookup(conn->txns, key);
    g_hash_table_steal(conn->txns, key);
    if (commit && (rc = xsim_txn_commit(txn, changes)) != 0)
        return rc;
    xsim_req_ok(req);
    xsim_req_fire(req, changes);
    return 0;
}

static int
xsim_op_introduce(const XsimReq *req)
{
    const char *argv[3];
    uint64_t mfn;
    uint64_t port;
    uint32_t domid;
    int rc;

    if (xsim_req_strings(req->payload, req->hdr->len, argv, 3) < 3)
        return EINVAL;
    if (!xsim_parse_domid(argv[0], &domid) ||
        !xsim_parse_uint(argv[1], UINT64_MAX, &mfn) ||
        !xsim_parse_uint(argv[2], UINT32_MAX, &port))
        return EINVAL;
    if ((rc = xsim_domain_introduce(req->conn->srv, domid, mfn, port)) != 0)
        return rc;
    xsim_req_ok(req);
    return 0;
}

static int
xsim_op_release(const XsimReq *req)
{
    uint32_t domid;
    int rc;

    if (!xsim_parse_domid(xsim_req_onearg(req->payload, req->hdr->len), &domid))
        return EINVAL;
    if ((rc = xsim_domain_release(req->conn->srv, domid)) != 0)
        return rc;
    xsim_req_ok(req);
    return 0;
}

static int
xsim_op_is_domain_introduced(const XsimReq *req)
{
    uint32_t domid;
    bool yes;

    if (!xsim_parse_domid(xsim_req_onearg(req->payload, req->hdr->len), &domid))
        return EINVAL;
    yes = domid == 0 || xsim_domain_lookup(req->conn->srv, domid);
    xsim_req_reply(req, yes ? "T" : "F", 2);
    return 0;
}

static int
xsim_op_get_domain_path(const XsimReq *req)
{
    char buf[32];
    uint32_t domid;

    if (!xsim_parse_domid(xsim_req_onearg(req->payload, req->hdr->len), &domid))
        return EINVAL;
    g_snprintf(buf, sizeof(buf), "/local/domain/%u", domid);
    xsim_req_reply(req, buf, strlen(buf) + 1);
    return 0;
}

static int
xsim_op_set_target(const XsimReq *req)
{
    const char *argv[2];
    uint32_t domid;
    uint32_t target;
    int rc;

    if (xsim_req_strings(req->payload, req->hdr->len, argv, 2) != 2 ||
        !xsim_parse_domid(argv[0], &domid) ||
        !xsim_parse_domid(argv[1], &target))
        return EINVAL;
    if ((rc = xsim_domain_set_target(req->conn->srv, domid, target)) != 0)
        return rc;
    xsim_req_ok(req);
    return 0;
}

static int
xsim_op_resume(const XsimReq *req)
{
    XsimDomain *dom;
    uint32_t domid;

    if (!xsim_parse_domid(xsim_req_onearg(req->payload, req->hdr->len), &domid))
        return EINVAL;
    if (!(dom = xsim_domain_lookup(req->conn->srv, domid)))
        return ENOENT;
    dom->shutdown = false;
    xsim_req_ok(req);
    return 0;
}

/*
 * CONTROL "print" writes to the log (xenstore-control's way to mark a
 * test's steps in it); "quota" reports the limits; "log" is accepted and
 * ignored (logging is chosen on the command line).
 */
static int
xsim_op_control(const XsimReq *req)
{
    XsimServer *srv = req->conn->srv;
    g_autofree const char **argv = NULL;
    int argc;

    argc = xsim_req_strings(req->payload, req->hdr->len, NULL, 0);
    if (argc < 1)
        return EINVAL;
    argv = g_new0(const char *, argc);
    xsim_req_strings(req->payload, req->hdr->len, argv, argc);

    if (strcmp(argv[0], "print") == 0) {
        if (argc < 2)
            return EINVAL;
        g_message("control: %s", argv[1]);
        xsim_req_ok(req);
    } else if (strcmp(argv[0], "log") == 0) {
        xsim_req_ok(req);
    } else if (strcmp(argv[0], "quota") == 0) {
        g_autofree char *text = g_strdup_printf(
            "nodes %u\nnode-size %u\nperms %u\ntransaction-nodes %u\n"
            "watches %u\ntransactions %u\noutstanding %u\nwatch-queue %u\n",
            srv->quota.store.nodes, srv->quota.store.node_size,
            srv->quota.store.perms, srv->quota.store.txn_nodes,
            srv->quota.watches, srv->quota.transactions,
            srv->quota.outstanding, srv->quota.watch_queue);

        xsim_req_reply(req, text, strlen(text) + 1);
    } else if (strcmp(argv[0], "help") == 0) {
        static const char help[] = "print <text>\nlog\nquota\nhelp\n";

        xsim_req_reply(req, help, sizeof(help));
    } else {
        return EINVAL;
    }
    return 0;
}

/* ---- dispatch ---- */

enum {
    XSIM_OP_PRIV = 1 << 0,  /* privileged connections only */
    XSIM_OP_TXN = 1 << 1,   /* runs in the transaction named by tx_id */
};

typedef struct {
    const char *name;
    int (*fn)(const XsimReq *req);
    unsigned int flags;
} XsimOp;

static const XsimOp xsim_ops[XS_TYPE_COUNT] = {
    [XS_CONTROL] = { "CONTROL", xsim_op_control, XSIM_OP_PRIV },
    [XS_DIRECTORY] = { "DIRECTORY", xsim_op_directory, XSIM_OP_TXN },
    [XS_READ] = { "READ", xsim_op_read, XSIM_OP_TXN },
    [XS_GET_PERMS] = { "GET_PERMS", xsim_op_get_perms, XSIM_OP_TXN },
    [XS_WATCH] = { "WATCH", xsim_op_watch, 0 },
    [XS_UNWATCH] = { "UNWATCH", xsim_op_unwatch, 0 },
    [XS_TRANSACTION_START] = { "TRANSACTION_START", xsim_op_transaction_start, 0 },
    [XS_TRANSACTION_END] = { "TRANSACTION_END", xsim_op_transaction_end, XSIM_OP_TXN },
    [XS_INTRODUCE] = { "INTRODUCE", xsim_op_introduce, XSIM_OP_PRIV },
    [XS_RELEASE] = { "RELEASE", xsim_op_release, XSIM_OP_PRIV },
    [XS_GET_DOMAIN_PATH] = { "GET_DOMAIN_PATH", xsim_op_get_domain_path, 0 },
    [XS_WRITE] = { "WRITE", xsim_op_write, XSIM_OP_TXN },
    [XS_MKDIR] = { "MKDIR", xsim_op_mkdir, XSIM_OP_TXN },
    [XS_RM] = { "RM", xsim_op_rm, XSIM_OP_TXN },
    [XS_SET_PERMS] = { "SET_PERMS", xsim_op_set_perms, XSIM_OP_TXN },
    [XS_IS_DOMAIN_INTRODUCED] = { "IS_DOMAIN_INTRODUCED",
                                  xsim_op_is_domain_introduced, XSIM_OP_PRIV },
    [XS_RESUME] = { "RESUME", xsim_op_resume, XSIM_OP_PRIV },
    [XS_SET_TARGET] = { "SET_TARGET", xsim_op_set_target, XSIM_OP_PRIV },
    [XS_RESET_WATCHES] = { "RESET_WATCHES", xsim_op_reset_watches, 0 },
    [XS_DIRECTORY_PART] = { "DIRECTORY_PART", xsim_op_directory_part, XSIM_OP_TXN },
};

void
xsim_server_dispatch(XsimConn *conn,
                     const struct xsd_sockmsg *hdr,
                     const char *payload)
{
    const XsimOp *op = hdr->type < XS_TYPE_COUNT ? &xsim_ops[hdr->type] : NULL;
    XsimReq req = { .conn = conn, .hdr = hdr, .payload = payload };
    int rc;

    if (!op || !op->fn) {
        XSIM_DEBUG("conn %u: unknown request type %u", conn->id, hdr->type);
        xsim_conn_error(conn, hdr, ENOSYS);
        return;
    }
    XSIM_DEBUG("conn %u: %s req %u tx %u len %u", conn->id, op->name,
               hdr->req_id, hdr->tx_id, hdr->len);

    if ((op->flags & XSIM_OP_PRIV) && !conn->caller.privileged) {
        xsim_conn_error(conn, hdr, EACCES);
        return;
    }
    if ((op->flags & XSIM_OP_TXN) &&
        (hdr->tx_id != 0 || hdr->type == XS_TRANSACTION_END)) {
        req.txn = g_hash_table_lookup(conn->txns, GUINT_TO_POINTER(hdr->tx_id));
        if (!req.txn) {
            xsim_conn_error(conn, hdr, ENOENT);
            return;
        }
    }

    if ((rc = op->fn(&req)) != 0)
        xsim_conn_error(conn, hdr, rc);
}

/* ---- the server ---- */

/* ---- the doorbell: rings kicked by their kernels' threads ---- */

void
xsim_server_ring_kick(XsimRing *ring,
                      gpointer opaque)
{
    /* Attached: not freed before it detaches, which takes the ring lock. */
    XsimServer *srv = ((XsimConn *)opaque)->srv;

    g_mutex_lock(&srv->kicked_lock);
    g_ptr_array_add(srv->kicked, xsim_ring_ref(ring));
    g_mutex_unlock(&srv->kicked_lock);
    g_main_context_wakeup(srv->ctx);
}

typedef struct {
    GSource base;
    XsimServer *srv;
} XsimDoorbell;

static gboolean
xsim_doorbell_ready(GSource *source)
{
    XsimServer *srv = ((XsimDoorbell *)source)->srv;
    bool ready;

    g_mutex_lock(&srv->kicked_lock);
    ready = srv->kicked->len > 0;
    g_mutex_unlock(&srv->kicked_lock);
    return ready;
}

static gboolean
xsim_doorbell_prepare(GSource *source,
                      gint *timeout_r)
{
    *timeout_r = -1;
    return xsim_doorbell_ready(source);
}

/*
 * Each kicked ring's connection: what it can send now, and one read.  A
 * ring whose connection went (closed since the kick) has no back any more.
 */
static gboolean
xsim_doorbell_dispatch(GSource *source,
                       GSourceFunc unused,
                       gpointer unused_data)
{
    XsimServer *srv = ((XsimDoorbell *)source)->srv;
    g_autoptr(GPtrArray) kicked = NULL;

    g_mutex_lock(&srv->kicked_lock);
    kicked = srv->kicked;
    srv->kicked = g_ptr_array_new_with_free_func((GDestroyNotify)xsim_ring_unref);
    g_mutex_unlock(&srv->kicked_lock);
    for (guint i = 0; i < kicked->len; i++) {
        XsimConn *conn = xsim_ring_back(g_ptr_array_index(kicked, i));

        if (!conn || conn->dead)
            continue;
        xsim_conn_flush(conn);
        xsim_conn_ring_input(conn);
    }
    xsim_server_idle(srv);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs xsim_doorbell_funcs = {
    .prepare = xsim_doorbell_prepare,
    .check = xsim_doorbell_ready,
    .dispatch = xsim_doorbell_dispatch,
};

XsimServer *
xsim_server_new(const XsimQuota *quota,
                const char *rundir)
{
    XsimServer *srv = g_new0(XsimServer, 1);

    srv->quota = *quota;
    srv->rundir = g_strdup(rundir);
    srv->store = xsim_store_new(&quota->store);
    xsim_store_add_special(srv->store, "@introduceDomain");
    xsim_store_add_special(srv->store, "@releaseDomain");
    /* What xen-init-dom0 writes at a Xen host's boot: dom0's name is the
     * host's, and toolstacks refuse it to guests. */
    {
        static const XsimCaller dom0 = { 0, true, XSIM_DOMID_NONE };

        xsim_store_write(srv->store, NULL, &dom0, "/local/domain/0/name",
                         "Domain-0", strlen("Domain-0"), NULL);
        xsim_store_write(srv->store, NULL, &dom0, "/local/domain/0/domid",
                         "0", 1, NULL);
    }
    srv->listen_fd = -1;
    srv->conns = g_hash_table_new(g_direct_hash, g_direct_equal);
    srv->doomed = g_ptr_array_new();
    srv->to_flush = g_ptr_array_new();
    xsim_watch_index_init(srv);
    srv->domains = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                         (GDestroyNotify)xsim_domain_free);
    srv->built = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                       (GDestroyNotify)xsim_ring_unref);
    g_mutex_init(&srv->kicked_lock);
    srv->kicked = g_ptr_array_new_with_free_func((GDestroyNotify)xsim_ring_unref);
    srv->ctx = g_main_context_ref_thread_default();
    srv->doorbell = g_source_new(&xsim_doorbell_funcs, sizeof(XsimDoorbell));
    ((XsimDoorbell *)srv->doorbell)->srv = srv;
    /* As the fd sources' set (xsim_fdsource.c): no recursion, no blocking. */
    g_source_set_can_recurse(srv->doorbell, TRUE);
    g_source_attach(srv->doorbell, srv->ctx);
    return srv;
}

XsimStore *
xsim_server_get_store(XsimServer *srv)
{
    return srv->store;
}

/* Free the closed connections, memory ones too (the caller is done). */
static void
xsim_server_reap(XsimServer *srv,
                 bool all)
{
    guint i = 0;

    while (i < srv->doomed->len) {
        XsimConn *conn = g_ptr_array_index(srv->doomed, i);

        /* Memory connections stay valid for their owner until the end. */
        if (xsim_conn_is_memory(conn) && !all) {
            i++;
            continue;
        }
        xsim_watch_remove_all(conn);
        g_ptr_array_remove_index_fast(srv->doomed, i);
        xsim_conn_free(conn);
    }
}

void
xsim_server_idle(XsimServer *srv)
{
    while (srv->to_flush->len > 0) {
        XsimConn *conn = g_ptr_array_steal_index_fast(srv->to_flush,
                                                      srv->to_flush->len - 1);

        xsim_conn_flush(conn);
    }
    xsim_server_reap(srv, false);
}

void
xsim_server_free(XsimServer *srv)
{
    if (!srv)
        return;
    g_hash_table_remove_all(srv->domains);
    {
        g_autoptr(GList) conns = g_hash_table_get_keys(srv->conns);

        for (GList *l = conns; l; l = l->next)
            xsim_conn_close(l->data, "server stopping");
    }
    g_ptr_array_set_size(srv->to_flush, 0);
    xsim_server_reap(srv, true);
    if (srv->listen_source) {
        g_source_destroy(srv->listen_source);
        g_source_unref(srv->listen_source);
    }
    if (srv->listen_fd >= 0)
        close(srv->listen_fd);
    if (srv->sock_path)
        unlink(srv->sock_path);
    g_hash_table_unref(srv->domains);
    g_hash_table_unref(srv->built);
    g_source_destroy(srv->doorbell);
    g_source_unref(srv->doorbell);
    g_ptr_array_unref(srv->kicked);
    g_mutex_clear(&srv->kicked_lock);
    g_main_context_unref(srv->ctx);
    xsim_watch_index_free(srv);
    g_hash_table_unref(srv->conns);
    g_ptr_array_unref(srv->doomed);
    g_ptr_array_unref(srv->to_flush);
    xsim_store_free(srv->store);
    g_free(srv->sock_path);
    g_free(srv->rundir);
    g_free(srv);
}

static void
xsim_server_accept(int fd,
                   GIOCondition revents,
                   gpointer opaque)
{
    XsimServer *srv = opaque;
    int cfd;

    cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
        if (errno != EAGAIN && errno != EINTR)
            g_warning("accept: %s", g_strerror(errno));
        return;
    }
    xsim_conn_new(srv, cfd, 0, NULL);
}

bool
xsim_server_listen(XsimServer *srv,
                   GError **error)
{
    g_autofree char *dir = g_build_filename(srv->rundir, "xenstored", NULL);

    if (g_mkdir_with_parents(dir, 0700) < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "cannot create '%s': %s", dir, g_strerror(errno));
        return false;
    }
    srv->sock_path = g_build_filename(dir, "socket", NULL);
    srv->listen_fd = xsim_listen_unix(srv->sock_path, error);
    if (srv->listen_fd < 0) {
        g_clear_pointer(&srv->sock_path, g_free);
        return false;
    }
    srv->listen_source = xsim_fd_source_new(srv->listen_fd, G_IO_IN,
                                            xsim_server_accept, srv);
    g_message("listening on %s", srv->sock_path);
    return true;
}

int
xsim_server_introduce(XsimServer *srv,
                      uint32_t domid,
                      uint64_t mfn,
                      uint32_t port)
{
    int rc = xsim_domain_introduce(srv, domid, mfn, port);

    xsim_server_idle(srv);
    return rc;
}

void
xsim_server_domain_built(XsimServer *srv,
                         uint32_t domid,
                         XsimRing *ring)
{
    g_hash_table_insert(srv->built, GUINT_TO_POINTER(domid),
                        xsim_ring_ref(ring));
}

void
xsim_server_domain_shutdown(XsimServer *srv,
                            uint32_t domid)
{
    XsimDomain *dom = xsim_domain_lookup(srv, domid);

    if (dom)
        dom->shutdown = true;
    xsim_watch_fire_special(srv, "@releaseDomain");
    xsim_server_idle(srv);
}

void
xsim_server_domain_destroyed(XsimServer *srv,
                             uint32_t domid)
{
    g_hash_table_remove(srv->built, GUINT_TO_POINTER(domid));
    /* Release fires @releaseDomain itself when the domain was known. */
    if (xsim_domain_release(srv, domid) != 0)
        xsim_watch_fire_special(srv, "@releaseDomain");
    xsim_server_idle(srv);
}

XsimConn *
xsim_server_connect_memory(XsimServer *srv,
                           uint32_t domid)
{
    XsimDomain *dom = NULL;

    if (domid != 0) {
        if (xsim_domain_introduce(srv, domid, 0, 0) != 0)
            return NULL;
        dom = xsim_domain_lookup(srv, domid);
    }
    return xsim_conn_new(srv, -1, domid, dom);
}
