/*
 * xs_fuzz_target.c: fuzz the xenstore server's framing, parsing and
 * dispatch, with no sockets: in-memory connections as dom0 and as two
 * guests, driven by one input.
 *
 * Input: records of [selector][length, 2 bytes LE][bytes].  The selector's
 * low two bits pick the connection (dom0, dom0 again, guest 1, guest 2);
 * bit 7 first reports guest 1 shut down (@releaseDomain).  The bytes are
 * fed as if read from that connection's socket, so they may split or join
 * messages anywhere.  After each input the tree must pass its consistency
 * check; any crash, leak (under ASan) or inconsistency is a finding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xs_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static void
xsim_fuzz_quiet(const char *domain,
                GLogLevelFlags level,
                const char *message,
                gpointer opaque)
{
}

int
LLVMFuzzerInitialize(int *argc,
                     char ***argv)
{
    g_log_set_default_handler(xsim_fuzz_quiet, NULL);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data,
                       size_t size)
{
    g_autoptr(XsimServer) srv = NULL;
    XsimConn *conns[4];
    XsimQuota quota;
    size_t off = 0;

    xsim_quota_init_default(&quota);
    /* Small limits, so inputs reach them. */
    quota.store.nodes = 40;
    quota.store.node_size = 256;
    quota.store.txn_nodes = 32;
    quota.watches = 8;
    quota.transactions = 3;
    quota.watch_queue = 16;

    srv = xsim_server_new(&quota, NULL);
    conns[0] = xsim_server_connect_memory(srv, 0);
    conns[1] = xsim_server_connect_memory(srv, 0);
    conns[2] = xsim_server_connect_memory(srv, 1);
    conns[3] = xsim_server_connect_memory(srv, 2);

    while (off + 3 <= size) {
        uint8_t sel = data[off];
        size_t len = data[off + 1] | (data[off + 2] << 8);
        XsimConn *conn = conns[sel & 3];

        off += 3;
        len = MIN(len, size - off);
        if (sel & 0x80)
            xsim_server_domain_shutdown(srv, 1);
        if (!xsim_conn_is_closed(conn))
            xsim_conn_feed(conn, data + off, len);
        off += len;
    }

    if (!xsim_store_check(xsim_server_get_store(srv)))
        abort();
    return 0;
}
