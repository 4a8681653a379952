/*
 * xsim_netfront.c: the simulated guest's frames on its vif.
 *
 * Frames are parsed by offset, every length checked against what was
 * read before a field is touched: what arrives is whatever dom0's bridge
 * forwards, from anyone on it.  Only frames for our MAC (or broadcast)
 * are looked at; anything not understood is dropped, as a quiet host
 * does.
 *
 * The DHCP client (RFC 2131) behaves as Debian's dhclient does on a
 * Linux guest: DISCOVER, the first OFFER taken, REQUEST, ACK; the
 * guest's host name in both requests; retransmissions a second apart,
 * doubling to 8 s; no lease after 60 s and the guest keeps its static
 * address, asking again 5 minutes later; at T1 the lease is renewed from
 * its server (a unicast REQUEST), and an expired lease gives the static
 * address back.  There is no REBINDING to other servers (one server per
 * bridge is what a toolstack runs).
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

#define UDP_HLEN 8
#define IP_PROTO_ICMP 1
#define IP_PROTO_UDP 17

/* BOOTP (RFC 951) with DHCP's magic cookie and options (RFC 2131). */
#define BOOTP_LEN 236
#define DHCP_COOKIE 0x63825363u
#define DHCP_LEN 300            /* BOOTP's minimum message (RFC 1542) */
#define DHCP_SERVER_PORT 67
#define DHCP_CLIENT_PORT 68
#define HOSTNAME_MAX 63         /* one DNS label */

/* DHCP message types (option 53) and the options read or sent. */
enum {
    DHCPDISCOVER = 1,
    DHCPOFFER = 2,
    DHCPREQUEST = 3,
    DHCPACK = 5,
    DHCPNAK = 6,
};
enum {
    OPT_PAD = 0,
    OPT_SUBNET_MASK = 1,
    OPT_ROUTER = 3,
    OPT_DNS = 6,
    OPT_HOSTNAME = 12,
    OPT_DOMAIN_NAME = 15,
    OPT_REQUESTED_ADDR = 50,
    OPT_LEASE_TIME = 51,
    OPT_MSG_TYPE = 53,
    OPT_SERVER_ID = 54,
    OPT_PARAMS = 55,
    OPT_MAX_SIZE = 57,
    OPT_RENEWAL_TIME = 58,
    OPT_CLIENT_ID = 61,
    OPT_END = 255,
};

/* Retransmissions back off exponentially (RFC 2131, 4.1) from a second
 * (dhclient's first interval is random) to 8 s; the timeout and the
 * retry are dhclient.conf(5)'s defaults. */
#define DHCP_RETRY_FIRST_S 1
#define DHCP_RETRY_MAX_S 8
#define DHCP_TIMEOUT_S 60       /* no lease: keep the static address */
#define DHCP_RETRY_S 300        /* and ask again after that */
#define DHCP_REQUEST_TRIES 4    /* REQUESTs for one offer before DISCOVER */

/*
 * What the guest sends at connection is repeated, as real stacks
 * repeat it: the first frames may go while dom0's bridge does not
 * forward from the port yet (Linux turns a port on when it sees the
 * carrier, which it learns up to a second after the guest attached).
 * The ARP request for dom0, and the gratuitous ARP with it, until dom0
 * answers (the DHCP client retransmits on its own timer).
 */
#define ANNOUNCE_PERIOD_MS 1000
#define ANNOUNCE_MAX 10

typedef enum {
    DHCP_SELECTING,         /* DISCOVER sent, waiting for an OFFER */
    DHCP_REQUESTING,        /* REQUEST for an offer, waiting for its ACK */
    DHCP_BOUND,             /* the leased address is ours until T1 */
    DHCP_RENEWING,          /* REQUEST to the lease's server, until expiry */
    DHCP_WAITING,           /* no server answered: asking again later */
} XsimDhcpState;

/* What an OFFER or an ACK says; addresses in network order. */
typedef struct {
    guint8 type;
    uint32_t yiaddr;
    uint32_t server;        /* option 54 */
    uint32_t router;        /* the first of option 3, 0 if absent */
    guint32 lease_s;        /* option 51, 0 if absent */
    guint32 renew_s;        /* option 58, 0 if absent */
    guint prefix;           /* option 1 as a prefix, 0 if absent or odd */
} XsimDhcpReply;

struct _XsimNetfront {
    char *ifname;
    int fd;
    GSource *source;
    GSource *announce;      /* the repeats, until done */
    guint announced;        /* how many times */
    bool dom0_answered;     /* dom0 replied to our ARP request */
    guint8 mac[6];
    uint32_t addr;          /* network order: the lease's, else static */
    guint prefix;           /* the lease's, else XSIM_NET_PREFIX */
    uint32_t static_addr;   /* network order */
    uint32_t dom0_addr;     /* whom we ask for: dom0's, or the router */
    char *hostname;         /* a DNS label, or NULL */

    /* The DHCP client. */
    XsimDhcpState dhcp;
    GSource *dhcp_timer;    /* the next retransmission or lease event */
    guint32 xid;
    guint tries;            /* messages sent in this state */
    gint64 since;           /* monotonic µs when the state began */
    gint64 expiry;          /* BOUND, RENEWING: when the lease ends */
    uint32_t offered;       /* REQUESTING: the offer's yiaddr */
    uint32_t server;        /* REQUESTING on: the server's identifier */
    guint8 server_mac[6];   /* BOUND on: where a renewal goes */
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

static guint32
get32(const guint8 *p)
{
    return (guint32)p[0] << 24 | (guint32)p[1] << 16 | (guint32)p[2] << 8 | p[3];
}

/* The one's complement sum of @len bytes, added to @sum (RFC 1071). */
static guint32
csum_add(guint32 sum,
         const guint8 *p,
         size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += get16(p + i);
    if (len & 1)
        sum += (guint32)p[len - 1] << 8;
    return sum;
}

static guint16
csum_fold(guint32 sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (guint16)~sum;
}

/* The Internet checksum of @len bytes. */
static guint16
inet_csum(const guint8 *p,
          size_t len)
{
    return csum_fold(csum_add(0, p, len));
}

/* A UDP datagram's checksum over the IPv4 pseudo header (RFC 768);
 * @ip is the header, its addresses set. */
static guint16
udp_csum(const guint8 *ip,
         const guint8 *udp,
         size_t len)
{
    guint32 sum = csum_add(0, ip + 12, 8);

    sum += IP_PROTO_UDP + (guint32)len;
    return csum_fold(csum_add(sum, udp, len));
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

/* An ICMP echo request to us, whole: the same datagram back, addresses
 * swapped.  @ip is the frame's IPv4 header of @hlen bytes, @total the
 * datagram's length, both checked. */
static void
xsim_netfront_icmp_in(XsimNetfront *nf,
                      const guint8 *frame,
                      size_t hlen,
                      size_t total)
{
    const guint8 *ip = frame + ETH_HLEN_;
    guint8 reply[FRAME_MAX];
    guint8 *rip, *icmp;

    if (total - hlen < ICMP_HLEN || ip[hlen] != 8 || ip[hlen + 1] != 0 ||
        inet_csum(ip + hlen, total - hlen) != 0)
        return;
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

static void xsim_netfront_dhcp_in(XsimNetfront *nf, const guint8 *frame,
                                  const guint8 *msg, size_t len);

/* A UDP datagram: only a DHCP server's answer to our client port
 * interests us.  Its checksum, when it has one, must hold. */
static void
xsim_netfront_udp_in(XsimNetfront *nf,
                     const guint8 *frame,
                     size_t hlen,
                     size_t total)
{
    const guint8 *ip = frame + ETH_HLEN_;
    const guint8 *udp = ip + hlen;
    size_t ulen;

    if (total - hlen < UDP_HLEN)
        return;
    ulen = get16(udp + 4);
    if (ulen < UDP_HLEN || ulen > total - hlen ||
        get16(udp) != DHCP_SERVER_PORT || get16(udp + 2) != DHCP_CLIENT_PORT ||
        (get16(udp + 6) != 0 && udp_csum(ip, udp, ulen) != 0))
        return;
    xsim_netfront_dhcp_in(nf, frame, udp + UDP_HLEN, ulen - UDP_HLEN);
}

static void
xsim_netfront_ip_in(XsimNetfront *nf,
                    const guint8 *frame,
                    size_t len)
{
    const guint8 *ip = frame + ETH_HLEN_;
    size_t iplen = len - ETH_HLEN_;
    size_t hlen, total;
    uint32_t dst;

    if (iplen < IP_HLEN_MIN || ip[0] >> 4 != 4)
        return;
    hlen = (size_t)(ip[0] & 0x0f) * 4;
    total = get16(ip + 2);
    if (hlen < IP_HLEN_MIN || total < hlen || total > iplen ||
        inet_csum(ip, hlen) != 0)
        return;
    /* Whole datagrams only: no fragment is reassembled. */
    if ((get16(ip + 6) & 0x3fff) != 0)
        return;
    memcpy(&dst, ip + 16, 4);
    switch (ip[9]) {
    case IP_PROTO_ICMP:
        if (dst == nf->addr)
            xsim_netfront_icmp_in(nf, frame, hlen, total);
        break;
    case IP_PROTO_UDP:
        /* A server answers to the broadcast address or to the address
         * it leases (the frame was for our MAC or broadcast). */
        xsim_netfront_udp_in(nf, frame, hlen, total);
        break;
    default:
        break;
    }
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

/* ---------------------------------------------------------------------
 * The DHCP client
 */

static void xsim_netfront_dhcp_schedule(XsimNetfront *nf, guint seconds);
static void xsim_netfront_announce_start(XsimNetfront *nf);

/* DHCPDISCOVER or DHCPREQUEST: broadcast from 0.0.0.0 while the client
 * has no lease (the answer broadcast too), unicast to the lease's server
 * from its address when renewing it. */
static void
xsim_netfront_send_dhcp(XsimNetfront *nf,
                        guint8 type)
{
    bool renewing = nf->dhcp == DHCP_RENEWING;
    guint8 frame[ETH_HLEN_ + IP_HLEN_MIN + UDP_HLEN + BOOTP_LEN + 4 + 128] = { 0 };
    guint8 *ip = frame + ETH_HLEN_;
    guint8 *udp = ip + IP_HLEN_MIN;
    guint8 *bootp = udp + UDP_HLEN;
    guint8 *opt = bootp + BOOTP_LEN;
    guint8 *o = opt + 4;
    guint32 cookie = htonl(DHCP_COOKIE);
    gint64 secs = (g_get_monotonic_time() - nf->since) / G_USEC_PER_SEC;
    size_t dhcp_len, udp_len, ip_len;

    eth_header(frame, renewing ? nf->server_mac : broadcast_mac, nf->mac,
               ETH_P_IP_);
    bootp[0] = 1;                       /* BOOTREQUEST */
    bootp[1] = 1;                       /* Ethernet */
    bootp[2] = 6;
    memcpy(bootp + 4, &nf->xid, 4);
    put16(bootp + 8, (guint16)MIN(secs, G_MAXUINT16));
    if (renewing)
        memcpy(bootp + 12, &nf->addr, 4);       /* ciaddr */
    else
        put16(bootp + 10, 0x8000);              /* answer by broadcast */
    memcpy(bootp + 28, nf->mac, 6);
    memcpy(opt, &cookie, 4);

    /* Message type; client identifier: type 1 (Ethernet) and the MAC. */
    *o++ = OPT_MSG_TYPE; *o++ = 1; *o++ = type;
    *o++ = OPT_CLIENT_ID; *o++ = 7; *o++ = 1;
    memcpy(o, nf->mac, 6);
    o += 6;
    if (type == DHCPREQUEST && !renewing) {
        *o++ = OPT_REQUESTED_ADDR; *o++ = 4;
        memcpy(o, &nf->offered, 4);
        o += 4;
        *o++ = OPT_SERVER_ID; *o++ = 4;
        memcpy(o, &nf->server, 4);
        o += 4;
    }
    if (nf->hostname) {
        size_t n = strlen(nf->hostname);

        *o++ = OPT_HOSTNAME; *o++ = (guint8)n;
        memcpy(o, nf->hostname, n);
        o += n;
    }
    /* The largest message taken; the parameters asked for; end. */
    *o++ = OPT_MAX_SIZE; *o++ = 2;
    put16(o, 1500);
    o += 2;
    *o++ = OPT_PARAMS; *o++ = 4;
    *o++ = OPT_SUBNET_MASK; *o++ = OPT_ROUTER; *o++ = OPT_DNS;
    *o++ = OPT_DOMAIN_NAME;
    *o++ = OPT_END;
    G_STATIC_ASSERT(3 + 9 + 12 + 2 + HOSTNAME_MAX + 4 + 6 + 1 <= 128);

    /* Padded with zeros to BOOTP's minimum message. */
    dhcp_len = MAX((size_t)(o - bootp), (size_t)DHCP_LEN);
    G_STATIC_ASSERT(DHCP_LEN <= BOOTP_LEN + 4 + 128);
    udp_len = UDP_HLEN + dhcp_len;
    ip_len = IP_HLEN_MIN + udp_len;
    ip[0] = 0x45;
    put16(ip + 2, (guint16)ip_len);
    ip[8] = 64;
    ip[9] = IP_PROTO_UDP;
    if (renewing) {
        memcpy(ip + 12, &nf->addr, 4);
        memcpy(ip + 16, &nf->server, 4);
    } else {
        memset(ip + 16, 0xff, 4);       /* from 0.0.0.0 to broadcast */
    }
    put16(ip + 10, inet_csum(ip, IP_HLEN_MIN));
    put16(udp, DHCP_CLIENT_PORT);
    put16(udp + 2, DHCP_SERVER_PORT);
    put16(udp + 4, (guint16)udp_len);
    /* 0 is "no checksum": one that comes out 0 is sent as its
     * complement (RFC 768). */
    put16(udp + 6, udp_csum(ip, udp, udp_len) ?: 0xffff);
    xsim_netfront_send(nf, frame, ETH_HLEN_ + ip_len);
}

static void
xsim_netfront_dhcp_enter(XsimNetfront *nf,
                         XsimDhcpState state)
{
    nf->dhcp = state;
    nf->tries = 0;
    nf->since = g_get_monotonic_time();
}

/* Sends the state's message again: 1, 2, 4, 8, 8... s apart. */
static void
xsim_netfront_dhcp_transmit(XsimNetfront *nf,
                            guint8 type,
                            guint max_s)
{
    guint wait = DHCP_RETRY_FIRST_S << MIN(nf->tries, 3);

    xsim_netfront_send_dhcp(nf, type);
    nf->tries++;
    xsim_netfront_dhcp_schedule(nf, MAX(1, MIN(MIN(wait, DHCP_RETRY_MAX_S),
                                               max_s)));
}

/* A new transaction: DHCPDISCOVER. */
static void
xsim_netfront_dhcp_select(XsimNetfront *nf)
{
    nf->xid = g_random_int();
    xsim_netfront_dhcp_enter(nf, DHCP_SELECTING);
    xsim_netfront_dhcp_transmit(nf, DHCPDISCOVER, DHCP_RETRY_MAX_S);
}

/* @addr is the guest's now; dom0 (or the network's router) is asked
 * for, which also tells dom0 where the guest is. */
static void
xsim_netfront_set_addr(XsimNetfront *nf,
                       uint32_t addr,
                       uint32_t router)
{
    bool moved = addr != nf->addr || router != nf->dom0_addr;

    nf->addr = addr;
    nf->dom0_addr = router;
    if (moved)
        xsim_netfront_announce_start(nf);
}

/* The lease is gone (expired, or refused on renewal): the static
 * address again, and a new DISCOVER. */
static void
xsim_netfront_dhcp_lost(XsimNetfront *nf)
{
    uint32_t dom0;

    g_message("%s: lease lost: static address again", nf->ifname);
    inet_pton(AF_INET, XSIM_NET_HOST_ADDR, &dom0);
    xsim_netfront_set_addr(nf, nf->static_addr, dom0);
    nf->prefix = XSIM_NET_PREFIX;
    xsim_netfront_dhcp_select(nf);
}

static gboolean
xsim_netfront_dhcp_timeout(gpointer opaque)
{
    XsimNetfront *nf = opaque;
    gint64 now = g_get_monotonic_time();

    /* Unref here (GLib holds its own while dispatching): what follows
     * may schedule the next one. */
    g_clear_pointer(&nf->dhcp_timer, g_source_unref);
    switch (nf->dhcp) {
    case DHCP_SELECTING:
        if (now - nf->since >= DHCP_TIMEOUT_S * G_USEC_PER_SEC) {
            g_message("%s: no DHCPOFFER in %d s: static address kept",
                      nf->ifname, DHCP_TIMEOUT_S);
            xsim_netfront_dhcp_enter(nf, DHCP_WAITING);
            xsim_netfront_dhcp_schedule(nf, DHCP_RETRY_S);
            break;
        }
        xsim_netfront_dhcp_transmit(nf, DHCPDISCOVER, DHCP_RETRY_MAX_S);
        break;
    case DHCP_REQUESTING:
        if (nf->tries >= DHCP_REQUEST_TRIES)
            xsim_netfront_dhcp_select(nf);
        else
            xsim_netfront_dhcp_transmit(nf, DHCPREQUEST, DHCP_RETRY_MAX_S);
        break;
    case DHCP_BOUND:
        /* T1: renew from the server that leased. */
        nf->xid = g_random_int();
        xsim_netfront_dhcp_enter(nf, DHCP_RENEWING);
        G_GNUC_FALLTHROUGH;
    case DHCP_RENEWING:
        if (now >= nf->expiry)
            xsim_netfront_dhcp_lost(nf);
        else
            xsim_netfront_dhcp_transmit(nf, DHCPREQUEST,
                                        (guint)((nf->expiry - now + G_USEC_PER_SEC - 1) /
                                                G_USEC_PER_SEC));
        break;
    case DHCP_WAITING:
        xsim_netfront_dhcp_select(nf);
        break;
    }
    return G_SOURCE_REMOVE;
}

static void
xsim_netfront_dhcp_schedule(XsimNetfront *nf,
                            guint seconds)
{
    if (nf->dhcp_timer) {
        g_source_destroy(nf->dhcp_timer);
        g_source_unref(nf->dhcp_timer);
    }
    nf->dhcp_timer = g_timeout_source_new_seconds(seconds);
    g_source_set_callback(nf->dhcp_timer, xsim_netfront_dhcp_timeout, nf,
                          NULL);
    g_source_attach(nf->dhcp_timer, g_main_context_get_thread_default());
}

/* Whether @addr (network order) can be a host's address: not 0/8,
 * loopback, multicast, reserved or broadcast. */
static bool
xsim_netfront_addr_unicast(uint32_t addr)
{
    guint32 a = ntohl(addr);

    return a >> 24 != 0 && a >> 24 != 127 && a < 0xe0000000u;
}

/* A server's BOOTREPLY to our transaction, its options read.  False if
 * it is not one, or lies about its own lengths. */
static bool
xsim_netfront_dhcp_parse(const XsimNetfront *nf,
                         const guint8 *msg,
                         size_t len,
                         XsimDhcpReply *reply)
{
    size_t i = BOOTP_LEN + 4;

    if (len < i || msg[0] != 2 || msg[1] != 1 || msg[2] != 6 ||
        memcmp(msg + 4, &nf->xid, 4) != 0 || memcmp(msg + 28, nf->mac, 6) != 0 ||
        get32(msg + BOOTP_LEN) != DHCP_COOKIE)
        return false;
    memset(reply, 0, sizeof(*reply));
    memcpy(&reply->yiaddr, msg + 16, 4);
    while (i < len && msg[i] != OPT_END) {
        const guint8 *v = msg + i + 2;
        guint8 olen;

        if (msg[i] == OPT_PAD) {
            i++;
            continue;
        }
        if (i + 2 > len || i + 2 + msg[i + 1] > len)
            return false;
        olen = msg[i + 1];
        switch (msg[i]) {
        case OPT_MSG_TYPE:
            if (olen == 1)
                reply->type = v[0];
            break;
        case OPT_SERVER_ID:
            if (olen == 4)
                memcpy(&reply->server, v, 4);
            break;
        case OPT_ROUTER:
            if (olen >= 4 && olen % 4 == 0)
                memcpy(&reply->router, v, 4);
            break;
        case OPT_LEASE_TIME:
            if (olen == 4)
                reply->lease_s = get32(v);
            break;
        case OPT_RENEWAL_TIME:
            if (olen == 4)
                reply->renew_s = get32(v);
            break;
        case OPT_SUBNET_MASK:
            if (olen == 4) {
                guint32 mask = get32(v);
                guint bits = __builtin_popcount(mask);

                /* Contiguous ones from the top only. */
                if (bits > 0 && (guint64)mask == ((G_GUINT64_CONSTANT(1) << 32) -
                                                  (G_GUINT64_CONSTANT(1) << (32 - bits))))
                    reply->prefix = bits;
            }
            break;
        default:
            break;
        }
        i += 2 + (size_t)olen;
    }
    return reply->type != 0;
}

/* DHCPACK: the address is ours until the lease ends, renewed at T1 (half
 * the lease unless the server says). */
static void
xsim_netfront_dhcp_bind(XsimNetfront *nf,
                        const guint8 *frame,
                        const XsimDhcpReply *reply)
{
    char text[INET_ADDRSTRLEN];
    guint32 t1;

    memcpy(nf->server_mac, frame + 6, 6);
    nf->server = reply->server;
    xsim_netfront_dhcp_enter(nf, DHCP_BOUND);
    xsim_netfront_set_addr(nf, reply->yiaddr,
                           reply->router && xsim_netfront_addr_unicast(reply->router) ?
                           reply->router : reply->server);
    nf->prefix = reply->prefix ? reply->prefix : XSIM_NET_PREFIX;
    inet_ntop(AF_INET, &nf->addr, text, sizeof(text));
    if (reply->lease_s == G_MAXUINT32) {
        g_message("%s: DHCPACK: bound to %s for ever", nf->ifname, text);
        if (nf->dhcp_timer) {
            g_source_destroy(nf->dhcp_timer);
            g_clear_pointer(&nf->dhcp_timer, g_source_unref);
        }
        return;
    }
    t1 = reply->renew_s && reply->renew_s < reply->lease_s ?
        reply->renew_s : reply->lease_s / 2;
    nf->expiry = nf->since + (gint64)reply->lease_s * G_USEC_PER_SEC;
    g_message("%s: DHCPACK: bound to %s, renewal in %u s", nf->ifname, text,
              t1);
    xsim_netfront_dhcp_schedule(nf, MAX(t1, 1));
}

static void
xsim_netfront_dhcp_in(XsimNetfront *nf,
                      const guint8 *frame,
                      const guint8 *msg,
                      size_t len)
{
    XsimDhcpReply reply;

    if (!xsim_netfront_dhcp_parse(nf, msg, len, &reply))
        return;
    switch (nf->dhcp) {
    case DHCP_SELECTING:
        /* The first offer of a usable address is taken, as dhclient
         * does. */
        if (reply.type != DHCPOFFER || !reply.server ||
            !xsim_netfront_addr_unicast(reply.yiaddr))
            return;
        nf->offered = reply.yiaddr;
        nf->server = reply.server;
        xsim_netfront_dhcp_enter(nf, DHCP_REQUESTING);
        xsim_netfront_dhcp_transmit(nf, DHCPREQUEST, DHCP_RETRY_MAX_S);
        break;
    case DHCP_REQUESTING:
    case DHCP_RENEWING:
        /* From the server we asked; an ACK gives an address and a lease
         * time, a NAK takes the lease back. */
        if (reply.server != nf->server)
            return;
        if (reply.type == DHCPNAK) {
            g_message("%s: DHCPNAK", nf->ifname);
            if (nf->dhcp == DHCP_RENEWING)
                xsim_netfront_dhcp_lost(nf);
            else
                xsim_netfront_dhcp_select(nf);
            return;
        }
        if (reply.type != DHCPACK || reply.lease_s == 0 ||
            !xsim_netfront_addr_unicast(reply.yiaddr) ||
            (nf->dhcp == DHCP_REQUESTING ? reply.yiaddr != nf->offered :
             reply.yiaddr != nf->addr))
            return;
        xsim_netfront_dhcp_bind(nf, frame, &reply);
        break;
    case DHCP_BOUND:
    case DHCP_WAITING:
        break;
    }
}

/* ---------------------------------------------------------------------
 * Announcing the address
 */

/* One round: a gratuitous ARP for our address and a request for dom0's,
 * until dom0 answers; TRUE while there is more to say. */
static gboolean
xsim_netfront_announce(gpointer opaque)
{
    static const guint8 zero_mac[6] = { 0 };
    XsimNetfront *nf = opaque;

    if (!nf->dom0_answered) {
        /* Announce the address, then look for dom0's: its kernel makes
         * an entry for the asker (us) as it answers. */
        xsim_netfront_send_arp(nf, 1, broadcast_mac, zero_mac, nf->addr);
        xsim_netfront_send_arp(nf, 1, broadcast_mac, zero_mac, nf->dom0_addr);
    }
    nf->announced++;
    if (!nf->dom0_answered && nf->announced < ANNOUNCE_MAX)
        return G_SOURCE_CONTINUE;
    /* Unref here: GLib holds its own while dispatching. */
    g_clear_pointer(&nf->announce, g_source_unref);
    return G_SOURCE_REMOVE;
}

/* The first round at once, the next ones a second apart. */
static void
xsim_netfront_announce_start(XsimNetfront *nf)
{
    if (nf->announce) {
        g_source_destroy(nf->announce);
        g_clear_pointer(&nf->announce, g_source_unref);
    }
    nf->announced = 0;
    nf->dom0_answered = false;
    nf->announce = g_timeout_source_new(ANNOUNCE_PERIOD_MS);
    g_source_set_callback(nf->announce, xsim_netfront_announce, nf, NULL);
    g_source_attach(nf->announce, g_main_context_get_thread_default());
    /* Not dispatched: the source stays (there is more to say, since
     * dom0 cannot have answered yet). */
    G_STATIC_ASSERT(ANNOUNCE_MAX > 1);
    xsim_netfront_announce(nf);
}

/* The host name a Linux guest would send: one DNS label (letters,
 * digits, '-'), from the first label of @name; NULL if none is left. */
static char *
xsim_netfront_hostname(const char *name)
{
    g_autofree char *label = NULL;

    if (!name)
        return NULL;
    label = g_strndup(name, strcspn(name, "."));
    if (strlen(label) > HOSTNAME_MAX)
        label[HOSTNAME_MAX] = '\0';
    g_strcanon(label, G_CSET_a_2_z G_CSET_A_2_Z "0123456789-", '-');
    g_strstrip(g_strdelimit(label, "-", ' '));
    g_strdelimit(label, " ", '-');
    return *label ? g_steal_pointer(&label) : NULL;
}

XsimNetfront *
xsim_netfront_connect(XsimNet *net,
                      const char *ifname,
                      const guint8 mac[6],
                      uint32_t addr,
                      const char *hostname,
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
    nf->hostname = xsim_netfront_hostname(hostname);
    memcpy(nf->mac, mac, 6);
    nf->addr = nf->static_addr = addr;
    nf->prefix = XSIM_NET_PREFIX;
    inet_pton(AF_INET, XSIM_NET_HOST_ADDR, &nf->dom0_addr);
    nf->source = xsim_fd_source_new(fd, G_IO_IN, xsim_netfront_ready, nf);
    xsim_netfront_dhcp_select(nf);
    xsim_netfront_announce_start(nf);
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
    if (nf->dhcp_timer) {
        g_source_destroy(nf->dhcp_timer);
        g_source_unref(nf->dhcp_timer);
    }
    close(nf->fd);
    g_free(nf->hostname);
    g_free(nf->ifname);
    g_free(nf);
}

void
xsim_netfront_get_addr(const XsimNetfront *nf,
                       guint8 mac[6],
                       uint32_t *addr,
                       guint *prefix)
{
    memcpy(mac, nf->mac, 6);
    *addr = nf->addr;
    *prefix = nf->prefix;
}
