/*
 * xsim_net.h: dom0's network on the simulated host.
 *
 * xensimd runs in a network namespace of its own (made at start), which
 * stands for dom0's network: netback's vifD.N interfaces are real tap
 * devices there, on bridges made there, and the simulated guests send and
 * answer real frames on them (netfront.c).  The host's own namespace is
 * never touched.  docs/xensim-host.md, "dom0's network".
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

/* The address dom0 has on the first bridge, and the subnet the guests'
 * default addresses are in (xsim_net_guest_addr). */
#define XSIM_NET_HOST_ADDR "10.200.255.254"
#define XSIM_NET_PREFIX 16

typedef struct _XsimNet XsimNet;

/*
 * Moves the calling thread (the main thread, before it starts any other
 * thread that should follow) into a new network namespace, brings its
 * loopback up and makes DIR/netns (the namespace, for nsenter --net) and
 * DIR/net (its /proc/net) links to the process's own.  Where the
 * namespace cannot be made (no CAP_SYS_ADMIN), the object says so
 * (xsim_net_available) and vifs get no interface; the host's namespace is
 * never used instead.  With @shared, no namespace is made: dom0's is the
 * one the process runs in (its settings left alone), as a real dom0's is
 * its toolstack's, where libvirt's networks are; the links lead to it.
 */
XsimNet *
xsim_net_new(const char *rundir,
             bool shared);

void
xsim_net_free(XsimNet *net);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(XsimNet, xsim_net_free);

bool
xsim_net_available(XsimNet *net);

/*
 * netback's probe and the vif-bridge hotplug script: a persistent tap
 * @ifname (up, dom0's MAC fe:ff:ff:ff:ff:ff as netback gives its vifs),
 * attached to @bridge (made if absent, up, with XSIM_NET_HOST_ADDR if no
 * other bridge has it; joined as it is if someone else made it) unless
 * @bridge is NULL.  Returns 0 or an errno.
 * Any thread.
 */
int
xsim_net_vif_add(XsimNet *net,
                 const char *ifname,
                 const char *bridge);

/* The interface goes (even with a guest attached to it), and its bridge
 * with it when it was the bridge's last port and we made it. */
void
xsim_net_vif_remove(XsimNet *net,
                    const char *ifname,
                    const char *bridge);

/* The guest's end of the interface (its "ring"): an fd (non-blocking,
 * close-on-exec) on which each read or write is one Ethernet frame, or
 * -errno. */
int
xsim_net_vif_open(XsimNet *net,
                  const char *ifname);

/* Whether @name can be an interface name (IFNAMSIZ, no '/', blanks or
 * ':', not "." nor ".."). */
bool
xsim_net_ifname_valid(const char *name);

/* The static IPv4 address (network order) a guest without a DHCP answer
 * uses on every vif: 10.200.(domid / 256).(domid % 256). */
uint32_t
xsim_net_guest_addr(uint32_t domid);
