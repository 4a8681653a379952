/*
 * xsim_net.c: dom0's network namespace, netback's interfaces and the
 * bridges they are on.
 *
 * The namespace is the process's: the main thread unshares it before it
 * starts dom0's backends and the guests, whose threads inherit it, so a
 * tap opened or a socket made by any of them is in it, and the host's
 * namespace is never touched.  Nothing else xensimd does needs the
 * host's network: its sockets are unix sockets named by paths, which the
 * namespace does not hide.  The namespace goes with the process.
 *
 * Shared (xensimd --shared-netns), dom0's network is the namespace
 * xensimd was started in, as a real dom0's is its toolstack's: there
 * libvirt's virtual networks (their bridge, their dnsmasq) and the vifs
 * meet.  Nothing of the namespace's own settings is changed then, a
 * bridge someone else made is only joined, never configured nor
 * removed, and the taps that outlive xensimd there (persistent devices)
 * are removed at its next start and at its stop.
 *
 * Interfaces are configured with the classic ioctls on one socket made in
 * the namespace (SIOCBRADDBR, SIOCBRADDIF, SIOCSIFFLAGS, SIOCSIFADDR...),
 * and removed with rtnetlink's RTM_DELLINK, the one operation the ioctls
 * lack.  Interface names come from xenstore (the toolstack's vifname and
 * bridge nodes): they are checked as Linux would before any use.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>

#include "xsim_net.h"

static const guint8 netback_mac[6] = { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff };

/* A bridge with vifs on it. */
typedef struct {
    guint ports;
    bool made;              /* by us, configured and removed by us */
} XsimBridge;

struct _XsimNet {
    char *netns_link;       /* DIR/netns */
    char *procnet_link;     /* DIR/net */
    char *sysfs_link;       /* DIR/sys/class/net */
    bool shared;            /* the namespace we were started in */
    int ctl;                /* an AF_INET socket in the namespace, or -1 */
    pid_t sysfs_holder;     /* the process whose /sys is the namespace's */

    GMutex lock;
    GHashTable *bridges;    /* name -> XsimBridge; under lock */
    char *addr_bridge;      /* the bridge with XSIM_NET_HOST_ADDR; under lock */
};

bool
xsim_net_ifname_valid(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len >= IFNAMSIZ || g_str_equal(name, ".") ||
        g_str_equal(name, ".."))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '/' || name[i] == ':' || g_ascii_isspace(name[i]) ||
            !g_ascii_isprint(name[i]))
            return false;
    }
    return true;
}

uint32_t
xsim_net_guest_addr(uint32_t domid)
{
    return htonl((10u << 24) | (200u << 16) | (domid & 0xffff));
}

/* @link -> @target, replacing what a crashed daemon left. */
static void
xsim_net_link(const char *link,
              const char *target)
{
    unlink(link);
    if (target && symlink(target, link) < 0)
        g_warning("cannot link %s to %s: %s", link, target, g_strerror(errno));
}

/* A sysctl of the namespace (/proc/sys/net is the caller's namespace's):
 * written in place, as /proc takes it. */
static bool
xsim_net_sysctl(const char *path,
                const char *value)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    bool ok;

    if (fd < 0)
        return false;
    ok = write(fd, value, strlen(value)) == (ssize_t)strlen(value);
    close(fd);
    return ok;
}

/* IPv6 off on an interface of ours, where the namespace's default did
 * not do it (a shared namespace keeps its own settings).  The file is
 * missing without IPv6: nothing to turn off then. */
static void
xsim_net_ipv6_off(XsimNet *net,
                  const char *ifname)
{
    g_autofree char *path = NULL;

    if (!net->shared)
        return;
    path = g_strdup_printf("/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
    xsim_net_sysctl(path, "1");
}

static int
xsim_net_ifreq(XsimNet *net,
               unsigned long req,
               struct ifreq *ifr)
{
    return ioctl(net->ctl, req, ifr) < 0 ? errno : 0;
}

static int
xsim_net_set_up(XsimNet *net,
                const char *ifname)
{
    struct ifreq ifr = { 0 };
    int err;

    g_strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
    if ((err = xsim_net_ifreq(net, SIOCGIFFLAGS, &ifr)) != 0)
        return err;
    ifr.ifr_flags |= IFF_UP;
    return xsim_net_ifreq(net, SIOCSIFFLAGS, &ifr);
}

static int
xsim_net_set_mac(XsimNet *net,
                 const char *ifname,
                 const guint8 mac[6])
{
    struct ifreq ifr = { 0 };

    g_strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
    return xsim_net_ifreq(net, SIOCSIFHWADDR, &ifr);
}

static int
xsim_net_set_addr(XsimNet *net,
                  const char *ifname,
                  const char *addr,
                  unsigned int prefix)
{
    struct ifreq ifr = { 0 };
    struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ifr.ifr_addr;
    int err;

    g_strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
    sin->sin_family = AF_INET;
    inet_pton(AF_INET, addr, &sin->sin_addr);
    if ((err = xsim_net_ifreq(net, SIOCSIFADDR, &ifr)) != 0)
        return err;
    sin = (struct sockaddr_in *)(void *)&ifr.ifr_netmask;
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(~0u << (32 - prefix));
    return xsim_net_ifreq(net, SIOCSIFNETMASK, &ifr);
}

/* RTM_DELLINK of @ifname, and its acknowledgement. */
static int
xsim_net_del_link(const char *ifname)
{
    struct {
        struct nlmsghdr nh;
        struct ifinfomsg ifi;
    } req = { 0 };
    struct {
        struct nlmsghdr nh;
        struct nlmsgerr err;
    } ack = { 0 };
    unsigned int index = if_nametoindex(ifname);
    ssize_t r;
    int fd, err = 0;

    if (index == 0)
        return errno;
    if ((fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) < 0)
        return errno;
    req.nh.nlmsg_len = sizeof(req);
    req.nh.nlmsg_type = RTM_DELLINK;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.nh.nlmsg_seq = 1;
    req.ifi.ifi_family = AF_UNSPEC;
    req.ifi.ifi_index = (int)index;
    if (send(fd, &req, sizeof(req), 0) < 0)
        err = errno;
    else if ((r = recv(fd, &ack, sizeof(ack), 0)) < 0)
        err = errno;
    else if ((size_t)r < sizeof(ack) || ack.nh.nlmsg_type != NLMSG_ERROR)
        err = EPROTO;
    else
        err = -ack.err.error;
    close(fd);
    return err;
}

/*
 * sysfs shows the network namespace of whoever mounted it, and our
 * process has the host's /sys.  A child (forked here, so in the
 * namespace) takes a mount namespace of its own, mounts sysfs on its
 * /sys, and waits: the namespace's /sys/class/net, where Linux keeps
 * each interface's counters, is its /proc/PID/root/sys/class/net, which
 * DIR/sys/class/net links to, so that a toolstack reads a vif's counters
 * under DIR/sys exactly as under /sys on a real dom0.  It dies with us
 * (PR_SET_PDEATHSIG), and does nothing else: in the child of a threaded
 * process, only system calls.  Its mounts are private first: nothing
 * reaches the host's mount table.
 */
static pid_t
xsim_net_sysfs_holder(void)
{
    pid_t parent = getpid();
    int ready[2];
    char c = 0;
    pid_t pid;

    if (pipe2(ready, O_CLOEXEC) < 0)
        return -1;
    if ((pid = fork()) < 0) {
        close(ready[0]);
        close(ready[1]);
        return -1;
    }
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent ||
            unshare(CLONE_NEWNS) < 0 ||
            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  NULL) < 0 ||
            write(ready[1], "1", 1) != 1)
            _exit(1);
        /* Not the parent's sockets and locks: their peers must see them
         * close when the parent closes them. */
        close_range(3, ~0U, 0);
        for (;;)
            pause();
    }
    close(ready[1]);
    /* One byte once it is mounted, end of file if it failed. */
    while (read(ready[0], &c, 1) < 0 && errno == EINTR)
        ;
    close(ready[0]);
    if (c != '1') {
        waitpid(pid, NULL, 0);
        errno = EPERM;
        return -1;
    }
    return pid;
}

/*
 * Removes netback's taps from the namespace: the interfaces with its MAC
 * (fe:ff:ff:ff:ff:ff, which no other device has: Linux's netback gives it
 * to its vifs alone).  In a shared namespace they outlive us (a tap is
 * persistent), and a vif of the same name would be refused next time.
 * A namespace has one simulated host at most, as a dom0 one netback:
 * every such tap is ours.
 */
static void
xsim_net_sweep_vifs(XsimNet *net)
{
    struct if_nameindex *names = if_nameindex();

    if (!names)
        return;
    for (struct if_nameindex *n = names; n->if_index != 0; n++) {
        struct ifreq ifr = { 0 };
        int err;

        g_strlcpy(ifr.ifr_name, n->if_name, sizeof(ifr.ifr_name));
        if (xsim_net_ifreq(net, SIOCGIFHWADDR, &ifr) != 0 ||
            ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER ||
            memcmp(ifr.ifr_hwaddr.sa_data, netback_mac, 6) != 0)
            continue;
        if ((err = xsim_net_del_link(n->if_name)) != 0)
            g_warning("cannot remove interface %s: %s", n->if_name,
                      g_strerror(err));
        else
            g_message("interface %s removed (a vif of an earlier run)",
                      n->if_name);
    }
    if_freenameindex(names);
}

XsimNet *
xsim_net_new(const char *rundir,
             bool shared)
{
    g_autoptr(XsimNet) net = g_new0(XsimNet, 1);
    g_autofree char *ns = NULL;
    g_autofree char *procnet = NULL;
    int err;

    net->ctl = -1;
    net->netns_link = g_build_filename(rundir, "netns", NULL);
    net->procnet_link = g_build_filename(rundir, "net", NULL);
    net->sysfs_link = g_build_filename(rundir, "sys", "class", "net", NULL);
    net->sysfs_holder = -1;
    net->shared = shared;
    net->bridges = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                         g_free);
    g_mutex_init(&net->lock);

    if (!shared && unshare(CLONE_NEWNET) < 0) {
        g_warning("no network namespace (%s): vifs get no interface",
                  g_strerror(errno));
        xsim_net_link(net->netns_link, NULL);
        xsim_net_link(net->procnet_link, NULL);
        xsim_net_link(net->sysfs_link, NULL);
        return g_steal_pointer(&net);
    }
    /* The guests speak IPv4 only: no IPv6 chatter (addresses, router
     * solicitations) on the vifs, whose counters then count the guests'
     * frames and dom0's answers.  A shared namespace keeps its settings:
     * each vif has IPv6 off instead (xsim_net_vif_add). */
    if (!shared &&
        (!xsim_net_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1") ||
         !xsim_net_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1")))
        g_message("network namespace: IPv6 stays on: %s", g_strerror(errno));
    if ((net->ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
        g_warning("network namespace: no socket: %s", g_strerror(errno));
    } else if (shared) {
        xsim_net_sweep_vifs(net);
    } else if ((err = xsim_net_set_up(net, "lo")) != 0) {
        g_warning("network namespace: cannot bring lo up: %s",
                  g_strerror(err));
    }
    ns = g_strdup_printf("/proc/%d/ns/net", (int)getpid());
    procnet = g_strdup_printf("/proc/%d/net", (int)getpid());
    xsim_net_link(net->netns_link, ns);
    xsim_net_link(net->procnet_link, procnet);
    if ((net->sysfs_holder = xsim_net_sysfs_holder()) < 0) {
        g_warning("network namespace: no sysfs: %s", g_strerror(errno));
        xsim_net_link(net->sysfs_link, NULL);
    } else {
        g_autofree char *dir = g_path_get_dirname(net->sysfs_link);
        g_autofree char *sysfs = g_strdup_printf("/proc/%d/root/sys/class/net",
                                                 (int)net->sysfs_holder);

        g_mkdir_with_parents(dir, 0755);
        xsim_net_link(net->sysfs_link, sysfs);
    }
    g_message("dom0's network: namespace %s (%s)", ns,
              shared ? "the one xensimd was started in" : "its own");
    return g_steal_pointer(&net);
}

void
xsim_net_free(XsimNet *net)
{
    if (!net)
        return;
    if (net->ctl >= 0) {
        GHashTableIter iter;
        gpointer name, value;

        if (net->shared) {
            /* Ours go: the vifs, and the bridges we made for them. */
            xsim_net_sweep_vifs(net);
            g_hash_table_iter_init(&iter, net->bridges);
            while (g_hash_table_iter_next(&iter, &name, &value)) {
                if (((XsimBridge *)value)->made)
                    xsim_net_del_link(name);
            }
        }
        unlink(net->netns_link);
        unlink(net->procnet_link);
        close(net->ctl);
    }
    if (net->sysfs_holder > 0) {
        unlink(net->sysfs_link);
        kill(net->sysfs_holder, SIGKILL);
        waitpid(net->sysfs_holder, NULL, 0);
    }
    g_hash_table_unref(net->bridges);
    g_mutex_clear(&net->lock);
    g_free(net->addr_bridge);
    g_free(net->netns_link);
    g_free(net->procnet_link);
    g_free(net->sysfs_link);
    g_free(net);
}

bool
xsim_net_available(XsimNet *net)
{
    return net && net->ctl >= 0;
}

/* A port more on @bridge.  For its first one, a bridge that does not
 * exist is made (up, with its own MAC, and dom0's address if no bridge
 * has it), and one that exists (libvirt's network driver's, an
 * administrator's) is taken as it is, as Xen's vif-bridge script takes
 * it.  net->lock held. */
static int
xsim_net_bridge_get(XsimNet *net,
                    const char *bridge)
{
    XsimBridge *br = g_hash_table_lookup(net->bridges, bridge);
    /* Locally administered, from the name: stable across runs. */
    guint h = g_str_hash(bridge);
    const guint8 mac[6] = { 0x02, 0x58, 0x53, h >> 16, h >> 8, h };
    int err;

    if (br) {
        br->ports++;
        return 0;
    }
    br = g_new0(XsimBridge, 1);
    if (ioctl(net->ctl, SIOCBRADDBR, bridge) == 0) {
        br->made = true;
    } else if (errno != EEXIST) {
        err = errno;
        g_free(br);
        return err;
    }
    if (br->made) {
        xsim_net_ipv6_off(net, bridge);
        if ((err = xsim_net_set_mac(net, bridge, mac)) != 0 ||
            (err = xsim_net_set_up(net, bridge)) != 0 ||
            (!net->addr_bridge &&
             (err = xsim_net_set_addr(net, bridge, XSIM_NET_HOST_ADDR,
                                      XSIM_NET_PREFIX)) != 0)) {
            xsim_net_del_link(bridge);
            g_free(br);
            return err;
        }
        if (!net->addr_bridge)
            net->addr_bridge = g_strdup(bridge);
        g_message("bridge %s up", bridge);
    } else {
        g_message("bridge %s: joined as it is", bridge);
    }
    br->ports = 1;
    g_hash_table_replace(net->bridges, g_strdup(bridge), br);
    return 0;
}

/* One port less on @bridge; one we made goes with its last.  net->lock
 * held. */
static void
xsim_net_bridge_put(XsimNet *net,
                    const char *bridge)
{
    XsimBridge *br = g_hash_table_lookup(net->bridges, bridge);
    int err;

    if (!br)
        return;
    if (--br->ports > 0)
        return;
    if (br->made && (err = xsim_net_del_link(bridge)) != 0)
        g_warning("cannot remove bridge %s: %s", bridge, g_strerror(err));
    g_hash_table_remove(net->bridges, bridge);
    if (g_strcmp0(net->addr_bridge, bridge) == 0)
        g_clear_pointer(&net->addr_bridge, g_free);
}

/* A persistent tap, as netback's vif: it stays without a queue attached
 * (no carrier then), until removed.  A name taken is refused, as Linux
 * refuses a second netdev of a name (two toolstack vifnames alike). */
static int
xsim_net_tap_create(const char *ifname)
{
    struct ifreq ifr = { 0 };
    int fd, err = 0;

    if (if_nametoindex(ifname) != 0)
        return EEXIST;
    if ((fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)) < 0)
        return errno;
    g_strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0)
        err = errno;
    close(fd);
    return err;
}

int
xsim_net_vif_add(XsimNet *net,
                 const char *ifname,
                 const char *bridge)
{
    struct ifreq ifr = { 0 };
    int err;

    if (!xsim_net_available(net))
        return ENETDOWN;
    if (!xsim_net_ifname_valid(ifname) ||
        (bridge && !xsim_net_ifname_valid(bridge)))
        return EINVAL;
    if ((err = xsim_net_tap_create(ifname)) != 0)
        return err;
    xsim_net_ipv6_off(net, ifname);
    if ((err = xsim_net_set_mac(net, ifname, netback_mac)) != 0 ||
        (err = xsim_net_set_up(net, ifname)) != 0)
        goto fail;
    if (!bridge)
        return 0;

    g_mutex_lock(&net->lock);
    if ((err = xsim_net_bridge_get(net, bridge)) == 0) {
        g_strlcpy(ifr.ifr_name, bridge, sizeof(ifr.ifr_name));
        ifr.ifr_ifindex = (int)if_nametoindex(ifname);
        if ((err = xsim_net_ifreq(net, SIOCBRADDIF, &ifr)) != 0)
            xsim_net_bridge_put(net, bridge);
    }
    g_mutex_unlock(&net->lock);
    if (err == 0)
        return 0;
 fail:
    xsim_net_del_link(ifname);
    return err;
}

void
xsim_net_vif_remove(XsimNet *net,
                    const char *ifname,
                    const char *bridge)
{
    int err;

    if (!xsim_net_available(net))
        return;
    if ((err = xsim_net_del_link(ifname)) != 0)
        g_warning("cannot remove interface %s: %s", ifname, g_strerror(err));
    if (bridge) {
        g_mutex_lock(&net->lock);
        xsim_net_bridge_put(net, bridge);
        g_mutex_unlock(&net->lock);
    }
}

int
xsim_net_vif_open(XsimNet *net,
                  const char *ifname)
{
    struct ifreq ifr = { 0 };
    int fd;

    if (!xsim_net_available(net))
        return -ENETDOWN;
    if (!xsim_net_ifname_valid(ifname))
        return -EINVAL;
    if ((fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK)) < 0)
        return -errno;
    g_strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
    /* Attach only: TUNSETIFF would make a tap of that name if netback's
     * were gone, and the guest must not create dom0's interfaces (one
     * made in the instant netback removed its own would go with our fd:
     * not persistent). */
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (if_nametoindex(ifname) == 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int err = errno;

        close(fd);
        return -err;
    }
    return fd;
}
