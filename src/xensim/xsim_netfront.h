/*
 * xsim_netfront.h: a simulated guest's network stack on one vif.
 *
 * The guest's end of netback's tap (xsim_net.c) stands for the vif's
 * rings: each frame the guest writes is one netback receives from it,
 * and it reads what dom0 sends it.  The stack is a minimal IPv4 host: it
 * answers ARP for its address and ICMP echo; at connection it sends a
 * gratuitous ARP and an ARP request for dom0's address (which puts it in
 * dom0's ARP table), and runs a DHCP client as Linux's dhclient does: a
 * lease, when a server on the bridge gives one, replaces its static
 * address (and is announced the same way, asking for the network's
 * router).  Frames are hostile input: every field is bounds checked
 * before it is read.
 */
#pragma once

#include <stdint.h>

#include <glib.h>

#include "xsim_net.h"

typedef struct _XsimNetfront XsimNetfront;

/*
 * Attaches to @ifname and serves it from the thread-default main
 * context, with @mac and the static address @addr (IPv4, network order)
 * until a DHCP lease gives another.  @hostname (or NULL) is the guest's
 * host name, sent in its DHCP requests as one DNS label made of it.
 * NULL with an errno in *err_r if the interface cannot be opened.
 */
XsimNetfront *
xsim_netfront_connect(XsimNet *net,
                      const char *ifname,
                      const guint8 mac[6],
                      uint32_t addr,
                      const char *hostname,
                      int *err_r);

/* Detaches (closes the guest's end); NULL is fine. */
void
xsim_netfront_free(XsimNetfront *nf);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XsimNetfront, xsim_netfront_free);

/* "aa:bb:cc:dd:ee:ff" as xenstore holds it, strictly. */
bool
xsim_netfront_parse_mac(const char *text,
                        guint8 mac[6]);

/* The interface's MAC, and its address now (network order: the lease's,
 * else the static one) with its prefix; for the guest's agent. */
void
xsim_netfront_get_addr(const XsimNetfront *nf,
                       guint8 mac[6],
                       uint32_t *addr,
                       guint *prefix);
