/*
 * xsim_netfront.c: the simulated guest's frames on its vif.
 *
 * Frames are parsed by offset, every length checked against what was
 * read before a field is touched: what arrives is whatever dom0's bridge
 * forwards, from anyone on it.  Only frames for our MAC (or broadcast)
 * are looked at; anything not understood is dropped, as a quiet host
 * does.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "xsim_fdsource.h"
#include "xsim_netfront.h"

#define ETH_HLEN_ 14
#define ETH_P_IP_ 0x0800
#define ETH_P_ARP_ 0x0806
#define ARP_LEN 28              /* Ethernet/IPv4 ARP */
#define IP_HLEN_MIN 20
#define ICMP_HLEN 8
#define FRAME_MAX 2048          /* more than the vif's MTU of 1500 */

/* BOOTP (RFC 951) with DHCP's magic cookie and options (RFC 2131). */
#define BOOTP_LEN 236
#define DHCP_COOKIE 0x63825363u

/*
 * What the guest sends at connection is repeated, as real stacks
 * repeat it: the first frames may go while dom0's bridge does not
 * forward from the port yet (Linux turns a port on when it sees the
 * carrier, which it learns up to a second after the guest attached).
 * The ARP request for dom0, and the gratuitous ARP with it, until dom0
 * answers; DHCPDISCOVER a few times, as a client without an answer.
 */
#define ANNOUNCE_PERIOD_MS 1000
#define ANNOUNCE_MAX 10
#define DISCOVER_MAX 3
/* The first round is sent at once, outside the timer's dispatch. */
G_STATIC_ASSERT(DISCOVER_MAX > 1);

struct _XsimNetfront {
    char *ifname;
    int fd;
    GSource *source;
    GSource *announce;      /* the repeats, until done */
    guint announced;        /* how many times */
    bool dom0_answered;     /* dom0 replied to our ARP request */
    guint8 mac[6];
    uint32_t addr;          /* network order */
    uint32_t dom0_addr;     /* XSIM_NET_HOST_ADDR, network order */
};

static const guint8 broadcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

bool
xsim_netfront_parse_mac(const char *text,
                        guint8 mac[6])
{
    if (strlen(text) != 17)
        return false;
    for (int i = 0; i < 6; i++) {
        const char *p = text + 3 * i;

        if (!g_ascii_isxdigit(p[0]) || !g_ascii_isxdigit(p[1]) ||
            (i < 5 && p[2] != ':'))
            return false;
        mac[i] = (guint8)(g_ascii_xdigit_value(p[0]) << 4 |
                          g_ascii_xdigit_value(p[1]));
    }
    return true;
}

static guint16
get16(const guint8 *p)
{
    return (guint16)(p[0] << 8 | p[1]);
}

static void
put16(guint8 *p,
      guint16 v)
{
    p[0] = v >> 8;
    p[1] = v & 0xff;
}

/* The Internet checksum (RFC 1071) of @len bytes. */
static guint16
inet_csum(const guint8 *p,
          size_t len)
{
    guint32 sum = 0;

    for (size_t i = 0; i + 1 < len; i += 2)
        sum += get16(p + i);
    if (len & 1)
        sum += (guint32)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (guint16)~sum;
}

static void
xsim_netfront_send(XsimNetfront *nf,
                   const guint8 *frame,
                   size_t len)
{
    /* A full queue drops the frame, as a ring with no room would. */
    if (write(nf->fd, frame, len) < 0 && errno != EAGAIN)
        g_debug("%s: send: %s", nf->ifname, g_strerror(errno));
}

static void
eth_header(guint8 *frame,
           const guint8 dst[6],
           const guint8 src[6],
           guint16 type)
{
    memcpy(frame, dst, 6);
    memcpy(frame + 6, src, 6);
    put16(frame + 12, type);
}

/* An ARP packet from us: @op 1 request, 2 reply. */
static void
xsim_netfront_send_arp(XsimNetfront *nf,
                       guint16 op,
                       const guint8 eth_dst[6],
                       const guint8 tha[6],
                       uint32_t tpa)
{
    guint8 frame[ETH_HLEN_ + ARP_LEN] = { 0 };
    guint8 *arp = frame + ETH_HLEN_;

    eth_header(frame, eth_dst, nf->mac, ETH_P_ARP_);
    put16(arp, 1);              /* Ethernet */
    put16(arp + 2, ETH_P_IP_);
    arp[4] = 6;
    arp[5] = 4;
    put16(arp + 6, op);
    memcpy(arp + 8, nf->mac, 6);
    memcpy(arp + 14, &nf->addr, 4);
    memcpy(arp + 18, tha, 6);
    memcpy(arp + 24, &tpa, 4);
    xsim_netfront_send(nf, frame, sizeof(frame));
}

static void
xsim_netfront_arp_in(XsimNetfront *nf,
                     const guint8 *arp,
                     size_t len)
{
    uint32_t tpa;

    uint32_t spa;

    if (len < ARP_LEN || get16(arp) != 1 || get16(arp + 2) != ETH_P_IP_ ||
        arp[4] != 6 || arp[5] != 4)
        return;
    memcpy(&spa, arp + 14, 4);
    memcpy(&tpa, arp + 24, 4);
    if (tpa != nf->addr)
        return;
    if (get16(arp + 6) == 2) {
        /* dom0's answer: it knows us now. */
        if (spa == nf->dom0_addr)
            nf->dom0_answered = true;
        return;
    }
    if (get16(arp + 6) != 1)
        return;
    /* Reply to the sender's hardware address, about its protocol one. */
    {
        guint8 sha[6];

        memcpy(sha, arp + 8, 6);
        xsim_netfront_send_arp(nf, 2, sha, sha, spa);
    }
}

static void
xsim_netfront_ip_in(XsimNetfront *nf,
                    const guint8 *frame,
                    size_t len)
{
    const guint8 *ip = frame + ETH_HLEN_;
    size_t iplen = len - ETH_HLEN_;
    size_t hlen, total;
    guint8 reply[FRAME_MAX];
    guint8 *rip, *icmp;
    uint32_t dst;

    if (iplen < IP_HLEN_MIN || ip[0] >> 4 != 4)
        return;
    hlen = (size_t)(ip[0] & 0x0f) * 4;
    total = get16(ip + 2);
    if (hlen < IP_HLEN_MIN || total < hlen || total > iplen ||
        inet_csum(ip, hlen) != 0)
        return;
    memcpy(&dst, ip + 16, 4);
    /* Ours, whole (no fragment), ICMP, an echo request of a sane size. */
    if (dst != nf->addr || (get16(ip + 6) & 0x3fff) != 0 || ip[9] != 1 ||
        total - hlen < ICMP_HLEN || ip[hlen] != 8 || ip[hlen + 1] != 0 ||
        inet_csum(ip + hlen, total - hlen) != 0)
        return;

    /* The echo reply: the same datagram back, addresses swapped. */
    memcpy(reply, frame, ETH_HLEN_ + total);
    eth_header(reply, frame + 6, nf->mac, ETH_P_IP_);
    rip = reply + ETH_HLEN_;
    memcpy(rip + 12, ip + 16, 4);
    memcpy(rip + 16, ip + 12, 4);
    rip[8] = 64;                /* ttl */
    put16(rip + 10, 0);
    put16(rip + 10, inet_csum(rip, hlen));
    icmp = rip + hlen;
    icmp[0] = 0;
    put16(icmp + 2, 0);
    put16(icmp + 2, inet_csum(icmp, total - hlen));
    xsim_netfront_send(nf, reply, ETH_HLEN_ + total);
}

static void
xsim_netfront_frame_in(XsimNetfront *nf,
                       const guint8 *frame,
                       size_t len)
{
    if (len < ETH_HLEN_ || (memcmp(frame, nf->mac, 6) != 0 &&
                            memcmp(frame, broadcast_mac, 6) != 0))
        return;
    switch (get16(frame + 12)) {
    case ETH_P_ARP_:
        xsim_netfront_arp_in(nf, frame + ETH_HLEN_, len - ETH_HLEN_);
        break;
    case ETH_P_IP_:
        xsim_netfront_ip_in(nf, frame, len);
        break;
    default:
        break;
    }
}

static void
xsim_netfront_ready(int fd,
                    GIOCondition revents,
                    gpointer opaque)
{
    XsimNetfront *nf = opaque;
    guint8 frame[FRAME_MAX];
    ssize_t n;

    /* A bounded batch: other work of the guest's loop gets its turn. */
    for (int i = 0; i < 64; i++) {
        if ((n = read(fd, frame, sizeof(frame))) < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            /* netback removed the interface under us (EBADFD): the ring
             * is gone, until the frontend closes. */
            g_message("%s: %s: no more frames", nf->ifname, g_strerror(errno));
            xsim_fd_source_set_events(nf->source, 0);
            return;
        }
        xsim_netfront_frame_in(nf, frame, (size_t)n);
    }
}

/* DHCPDISCOVER, broadcast: nobody may answer, and the guest then keeps
 * its static address (it takes no lease in any case). */
static void
xsim_netfront_send_dhcp_discover(XsimNetfront *nf)
{
    /* BOOTP's minimum message (RFC 1542), options padded with zeros. */
    enum { UDP_HLEN = 8, DHCP_LEN = 300 };
    size_t udp_len = UDP_HLEN + DHCP_LEN;
    size_t ip_len = IP_HLEN_MIN + udp_len;
    guint8 frame[ETH_HLEN_ + IP_HLEN_MIN + UDP_HLEN + DHCP_LEN] = { 0 };
    guint8 *ip = frame + ETH_HLEN_;
    guint8 *udp = ip + IP_HLEN_MIN;
    guint8 *bootp = udp + UDP_HLEN;
    guint8 *opt = bootp + BOOTP_LEN;
    guint32 cookie = htonl(DHCP_COOKIE);
    guint32 xid;

    eth_header(frame, broadcast_mac, nf->mac, ETH_P_IP_);
    ip[0] = 0x45;
    put16(ip + 2, (guint16)ip_len);
    ip[8] = 64;
    ip[9] = 17;                         /* UDP */
    memset(ip + 16, 0xff, 4);           /* from 0.0.0.0 to broadcast */
    put16(ip + 10, inet_csum(ip, IP_HLEN_MIN));
    put16(udp, 68);
    put16(udp + 2, 67);
    put16(udp + 4, (guint16)udp_len);   /* checksum 0: none, as IPv4 allows */
    bootp[0] = 1;                       /* BOOTREQUEST */
    bootp[1] = 1;                       /* Ethernet */
    bootp[2] = 6;
    memcpy(&xid, nf->mac + 2, 4);
    memcpy(bootp + 4, &xid, 4);
    put16(bootp + 10, 0x8000);          /* answer by broadcast */
    memcpy(bootp + 28, nf->mac, 6);
    memcpy(opt, &cookie, 4);
    opt += 4;
    /* Message type DISCOVER; client identifier: type 1 (Ethernet) and
     * the MAC; the largest message taken; the parameters asked for
     * (mask, router, DNS, domain); end. */
    {
        const guint8 options[] = {
            53, 1, 1,
            61, 7, 1, nf->mac[0], nf->mac[1], nf->mac[2], nf->mac[3],
            nf->mac[4], nf->mac[5],
            57, 2, 1500 >> 8, 1500 & 0xff,
            55, 4, 1, 3, 6, 15,
            255,
        };

        G_STATIC_ASSERT(BOOTP_LEN + 4 + 23 <= DHCP_LEN);
        G_STATIC_ASSERT(sizeof(options) == 23);
        memcpy(opt, options, sizeof(options));
    }
    xsim_netfront_send(nf, frame, ETH_HLEN_ + ip_len);
}

/* One round of what the guest says at connection; TRUE while there is
 * more to say. */
static gboolean
xsim_netfront_announce(gpointer opaque)
{
    static const guint8 zero_mac[6] = { 0 };
    XsimNetfront *nf = opaque;

    if (nf->announced < DISCOVER_MAX)
        xsim_netfront_send_dhcp_discover(nf);
    if (!nf->dom0_answered) {
        /* Announce the address, then look for dom0's: its kernel makes
         * an entry for the asker (us) as it answers. */
        xsim_netfront_send_arp(nf, 1, broadcast_mac, zero_mac, nf->addr);
        xsim_netfront_send_arp(nf, 1, broadcast_mac, zero_mac, nf->dom0_addr);
    }
    nf->announced++;
    if (nf->announced < DISCOVER_MAX ||
        (!nf->dom0_answered && nf->announced < ANNOUNCE_MAX))
        return G_SOURCE_CONTINUE;
    /* Unref here: GLib holds its own while dispatching. */
    g_clear_pointer(&nf->announce, g_source_unref);
    return G_SOURCE_REMOVE;
}

XsimNetfront *
xsim_netfront_connect(XsimNet *net,
                      const char *ifname,
                      const guint8 mac[6],
                      uint32_t addr,
                      int *err_r)
{
    g_autoptr(XsimNetfront) nf = NULL;
    int fd;

    if ((fd = xsim_net_vif_open(net, ifname)) < 0) {
        *err_r = -fd;
        return NULL;
    }
    nf = g_new0(XsimNetfront, 1);
    nf->fd = fd;
    nf->ifname = g_strdup(ifname);
    memcpy(nf->mac, mac, 6);
    nf->addr = addr;
    inet_pton(AF_INET, XSIM_NET_HOST_ADDR, &nf->dom0_addr);
    nf->source = xsim_fd_source_new(fd, G_IO_IN, xsim_netfront_ready, nf);
    nf->announce = g_timeout_source_new(ANNOUNCE_PERIOD_MS);
    g_source_set_callback(nf->announce, xsim_netfront_announce, nf, NULL);
    g_source_attach(nf->announce, g_main_context_get_thread_default());
    xsim_netfront_announce(nf);
    return g_steal_pointer(&nf);
}

void
xsim_netfront_free(XsimNetfront *nf)
{
    if (!nf)
        return;
    if (nf->source) {
        g_source_destroy(nf->source);
        g_source_unref(nf->source);
    }
    if (nf->announce) {
        g_source_destroy(nf->announce);
        g_source_unref(nf->announce);
    }
    close(nf->fd);
    g_free(nf->ifname);
    g_free(nf);
}
