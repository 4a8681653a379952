"""dom0's network on the simulated host: each vif is a real tap device in
xensimd's own network namespace, on its bridge, and the simulated guest
sends and answers real frames on it (docs/xensim-host.md, "dom0's
network").  Everything is looked at from inside that namespace, through
the links xensimd makes in its run directory (DIR/netns, DIR/net), with
the kernel's own tools: ip, ping, /proc/net.
"""
import os
import signal
import subprocess
import textwrap

import pytest

from conftest import Xensimd
from hvclient import wait_until
from xsclient import wait_for_socket

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="a network namespace needs root")


def netns(host):
    return os.path.join(host.rundir, "netns")


def tool_env():
    """The environment of the tools run here (ip, ping, python): in the
    sanitizer stage, not ours to check for leaks."""
    env = dict(os.environ)
    if "ASAN_OPTIONS" in env:
        env["ASAN_OPTIONS"] = env["ASAN_OPTIONS"].replace("detect_leaks=1",
                                                          "detect_leaks=0")
    return env


def in_ns(host, *cmd, timeout=30):
    return subprocess.run(["nsenter", "--net=" + netns(host), *cmd],
                          capture_output=True, text=True, timeout=timeout,
                          env=tool_env())


def links(host):
    """The namespace's interfaces: {name: `ip -d -o link` line}."""
    res = in_ns(host, "ip", "-d", "-o", "link", "show")
    assert res.returncode == 0, res
    out = {}
    for line in res.stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        out[name] = line
    return out


def netdev(host, ifname):
    """The interface's counters as the namespace's /proc/net/dev has them
    (the host's side: rx is what the guest sent)."""
    with open(os.path.join(host.rundir, "net", "dev")) as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name.strip() == ifname:
                v = [int(x) for x in rest.split()]
                return {"rx_bytes": v[0], "rx_packets": v[1],
                        "tx_bytes": v[8], "tx_packets": v[9],
                        "tx_dropped": v[11]}
    return None


def arp_table(host):
    """DIR/net/arp: [(ip, flags, mac, device)]."""
    with open(os.path.join(host.rundir, "net", "arp")) as f:
        rows = f.read().splitlines()[1:]
    return [(r.split()[0], r.split()[2], r.split()[3], r.split()[5])
            for r in rows]


def guest_ip(domid):
    return "10.200.%d.%d" % (domid // 256, domid % 256)


def guest_mac(domid, devid=0):
    # hvclient.Toolstack's MACs.
    return "00:16:3e:00:%02x:%02x" % (domid % 256, devid)


def fe_connected(ts, domid, kind, devid):
    fe = "/local/domain/%d/device/%s/%d/state" % (domid, kind, devid)
    be = "/local/domain/0/backend/%s/%d/%d/state" % (kind, domid, devid)
    return ts.read(fe) == "4" and ts.read(be) == "4"


def start_with_vif(host, ts, kernel, nics=1):
    domid = ts.create(kernel, nics=nics)
    ts.hv.call("unpause", domid=domid)
    assert wait_until(lambda: all(fe_connected(ts, domid, "vif", i)
                                  for i in range(nics)))
    # The guest is in dom0's ARP table once it asked for dom0's address.
    assert wait_until(lambda: any(row[0] == guest_ip(domid)
                                  for row in arp_table(host)))
    return domid


def test_the_namespace_is_xensimds_own(host):
    """DIR/netns is xensimd's namespace, not the host's; it starts with a
    loopback only, and DIR/net is its /proc/net."""
    assert os.readlink(netns(host)) == "/proc/%d/ns/net" % host.pid
    assert os.readlink(os.path.join(host.rundir, "net")) == \
        "/proc/%d/net" % host.pid
    assert os.stat(netns(host)).st_ino != os.stat("/proc/self/ns/net").st_ino
    assert set(links(host)) == {"lo"}
    assert "UP" in links(host)["lo"].split(">")[0]


def test_vif_is_a_tap_on_its_bridge(host, ts, kernel):
    domid = start_with_vif(host, ts, kernel, nics=2)
    ls = links(host)
    assert set(ls) == {"lo", "xenbr0", "vif%d.0" % domid, "vif%d.1" % domid}
    for i in (0, 1):
        vif = ls["vif%d.%d" % (domid, i)]
        assert "tun type tap" in vif and "master xenbr0" in vif, vif
        # As netback's vifs: dom0's side has fe:ff:ff:ff:ff:ff; up, with a
        # carrier now that the guest is attached.
        assert "link/ether fe:ff:ff:ff:ff:ff" in vif, vif
        assert "LOWER_UP" in vif, vif
    res = in_ns(host, "ip", "-o", "-4", "addr", "show", "dev", "xenbr0")
    assert "inet 10.200.255.254/16" in res.stdout, res
    # IPv4 only: no IPv6 chatter on the vifs.
    res = in_ns(host, "ip", "-o", "-6", "addr", "show")
    assert res.returncode == 0 and res.stdout == "", res
    # Never in the host's namespace.
    assert not os.path.exists("/sys/class/net/vif%d.0" % domid)
    res = subprocess.run(["ip", "-o", "link", "show"], capture_output=True,
                         text=True, env=tool_env())
    assert "vif%d.0" % domid not in res.stdout


def test_guest_answers_ping_and_the_counters_count_it(host, ts, kernel):
    domid = start_with_vif(host, ts, kernel)
    ifname = "vif%d.0" % domid
    before = netdev(host, ifname)
    res = in_ns(host, "ping", "-c", "5", "-i", "0.2", "-W", "2", "-s", "200",
                guest_ip(domid))
    assert res.returncode == 0 and " 5 received" in res.stdout, res
    after = netdev(host, ifname)
    # 5 requests to the guest (the vif transmits them), 5 replies from it
    # (the vif receives them), 200 bytes of data + 28 of headers + 14 of
    # Ethernet each.
    assert after["tx_packets"] - before["tx_packets"] >= 5
    assert after["rx_packets"] - before["rx_packets"] >= 5
    assert after["tx_bytes"] - before["tx_bytes"] >= 5 * 242
    assert after["rx_bytes"] - before["rx_bytes"] >= 5 * 242
    # The same counters where Linux keeps them per interface, as a
    # toolstack reads them on a real dom0: DIR/sys/class/net is the
    # namespace's.
    stats = os.path.join(host.rundir, "sys", "class", "net", ifname,
                         "statistics")
    for name in ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes"):
        with open(os.path.join(stats, name)) as f:
            assert int(f.read()) >= after[name]


def test_guest_is_in_dom0s_arp_table(host, ts, kernel):
    domid = start_with_vif(host, ts, kernel)
    rows = [r for r in arp_table(host) if r[0] == guest_ip(domid)]
    assert rows == [(guest_ip(domid), "0x2", guest_mac(domid), "xenbr0")]


def test_guest_sends_a_dhcp_discover_at_connection(host, ts, kernel):
    """Captured on the vif from inside the namespace: a BOOTREQUEST from
    0.0.0.0:68 to 255.255.255.255:67 with DHCP message type DISCOVER and
    the guest's MAC."""
    domid = ts.create(kernel, nics=1)
    ifname = "vif%d.0" % domid
    capture = textwrap.dedent("""
        import socket, struct, sys, time
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        s.bind((sys.argv[1], 0))
        s.settimeout(1)
        print("ready", flush=True)
        end = time.time() + 15
        while time.time() < end:
            try:
                f = s.recv(2048)
            except socket.timeout:
                continue
            if len(f) < 14 + 20 + 8 + 240 or f[12:14] != b"\\x08\\x00":
                continue
            ip = f[14:]
            hl = (ip[0] & 15) * 4
            udp = ip[hl:]
            sport, dport = struct.unpack("!HH", udp[:4])
            if ip[9] != 17 or (sport, dport) != (68, 67):
                continue
            bootp = udp[8:]
            opts = bootp[240:]
            print(ip[12:16].hex(), ip[16:20].hex(), bootp[0],
                  bootp[28:34].hex(), bootp[236:240].hex(),
                  opts[:3].hex(), flush=True)
            break
    """)
    proc = subprocess.Popen(["nsenter", "--net=" + netns(host),
                             "/usr/bin/python3", "-c", capture, ifname],
                            stdout=subprocess.PIPE, text=True, env=tool_env())
    try:
        assert proc.stdout.readline().strip() == "ready"
        ts.hv.call("unpause", domid=domid)
        line = proc.stdout.readline().split()
    finally:
        proc.kill()
        proc.wait()
    assert line == ["00000000", "ffffffff", "1",
                    guest_mac(domid).replace(":", ""), "63825363", "350101"]


# A DHCP server scripted on dom0's bridge, with the bridge's MAC (so that
# the guest's unicast renewals reach it): it answers the guest's DISCOVER
# with offers a client must refuse, then with a good one, and
# acknowledges the guest's REQUEST for LEASE seconds; a short lease is
# renewed once and refused (NAK) at the second renewal.  It prints what
# the guest sent.
DHCP_SERVER = r"""
import socket, struct, sys, time
mac = bytes.fromhex(sys.argv[1])
offered = socket.inet_aton(sys.argv[2])
src = bytes.fromhex(sys.argv[3])
lease_s = int(sys.argv[4])
server = socket.inet_aton("10.200.255.254")
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(("xenbr0", 0))
s.settimeout(0.2)

def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff

def options(data):
    out, i = {}, 0
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        out[data[i]] = data[i + 2:i + 2 + data[i + 1]]
        i += 2 + data[i + 1]
    return out

def recv(types, timeout):
    # The guest's next BOOTREQUEST of one of @types: (bootp, options);
    # the frame's Ethernet and IPv4 destinations and IPv4 source in
    # last["to"].
    end = time.time() + timeout
    while time.time() < end:
        try:
            f = s.recv(2048)
        except socket.timeout:
            continue
        if f[6:12] != mac or f[12:14] != b"\x08\x00" or f[23] != 17:
            continue
        ip = f[14:]
        udp = ip[(ip[0] & 15) * 4:]
        bootp = udp[8:]
        if udp[:4] != b"\x00\x44\x00\x43" or bootp[236:240] != \
                b"\x63\x82\x53\x63":
            continue
        opts = options(bootp[240:])
        if opts.get(53, b"\0")[0] in types:
            last["to"] = (f[:6].hex(), socket.inet_ntoa(ip[16:20]),
                          socket.inet_ntoa(ip[12:16]))
            return bootp, opts
    return None, None

last = {}

def reply(xid, opts, yiaddr=offered, udp_csum=True, cut=None):
    bootp = (bytes([2, 1, 6, 0]) + xid + bytes(8) + yiaddr + server +
             bytes(4) + mac + bytes(10 + 192) + b"\x63\x82\x53\x63" +
             opts + b"\xff")
    bootp += bytes(max(0, 300 - len(bootp)))
    udp = struct.pack("!HHHH", 67, 68, 8 + len(bootp), 0) + bootp
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17,
                     0, server, b"\xff" * 4)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    if udp_csum:
        c = csum(ip[12:20] + struct.pack("!HH", 17, len(udp)) + udp) or 0xffff
        if udp_csum == "bad":
            c ^= 0x5555
        udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    frame = b"\xff" * 6 + src + b"\x08\x00" + ip + udp
    s.send(frame[:cut] if cut else frame)

def lease(mtype, extra=b""):
    return (bytes([53, 1, mtype, 54, 4]) + server +
            bytes([51, 4]) + struct.pack("!I", lease_s) +
            bytes([1, 4, 255, 255, 0, 0, 3, 4]) + server + extra)

print("ready", flush=True)
bootp, opts = recv({1}, 20)
assert bootp, "no DISCOVER"
xid = bootp[4:8]
print("discover", opts.get(12, b"").decode(), opts.get(61, b"").hex(),
      flush=True)
bad_xid = bytes([xid[0] ^ 0xff]) + xid[1:]
reply(xid, lease(2), udp_csum="bad")            # a wrong UDP checksum
reply(bad_xid, lease(2))                        # another transaction
reply(xid, lease(2), yiaddr=socket.inet_aton("127.0.0.1"))  # loopback
reply(xid, lease(2), yiaddr=bytes(4))           # no address
reply(xid, bytes([53, 1, 2]))                   # no server identifier
reply(xid, lease(5))                            # an ACK while selecting
reply(xid, bytes([53, 1, 2, 54, 200]) + server)  # an option too long
reply(xid, lease(2), cut=14 + 20 + 8 + 100)     # BOOTP cut short
bootp, opts = recv({3}, 3)
print("hostile", "request" if bootp else "none", flush=True)
reply(xid, lease(2))                            # the offer to take
bootp, opts = recv({3}, 10)
assert bootp, "no REQUEST"
print("request", bootp[4:8] == xid, socket.inet_ntoa(opts[50]),
      socket.inet_ntoa(opts[54]), opts.get(12, b"").decode(),
      bootp[12:16].hex(), flush=True)
reply(xid, lease(5), udp_csum=False)            # acknowledged, no checksum
if lease_s >= 10:
    sys.exit(0)
# Renewed at T1 (half the lease), from the leased address to us alone;
# then refused.
for answer in (5, 6):
    bootp, opts = recv({3}, lease_s)
    assert bootp, "no renewal"
    print("renew", bootp[4:8] != xid, socket.inet_ntoa(bootp[12:16]),
          50 in opts, 54 in opts, *last["to"], flush=True)
    xid = bootp[4:8]
    reply(xid, lease(answer) if answer == 5 else
          bytes([53, 1, 6, 54, 4]) + server)
bootp, opts = recv({1}, 5)
print("rediscover", bool(bootp) and bootp[4:8] != xid, flush=True)
"""


def bridge_mac(host, bridge="xenbr0"):
    """Read in the namespace's sysfs (DIR/sys/class/net)."""
    with open(os.path.join(host.rundir, "sys", "class", "net", bridge,
                           "address")) as f:
        return f.read().strip()


def run_dhcp_server(host, ts, domid, leased, lease_s):
    """DHCP_SERVER on the bridge of guest @domid's vif (made before the
    guest runs), which it unpauses; the server's lines once it ends."""
    assert wait_until(lambda: "xenbr0" in links(host))
    proc = subprocess.Popen(["nsenter", "--net=" + netns(host),
                             "/usr/bin/python3", "-c", DHCP_SERVER,
                             guest_mac(domid).replace(":", ""), leased,
                             bridge_mac(host).replace(":", ""),
                             str(lease_s)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=tool_env())
    try:
        assert proc.stdout.readline().strip() == "ready"
        ts.hv.call("unpause", domid=domid)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, (out, err)
    return [line.split() for line in out.splitlines()]


def test_guest_takes_a_dhcp_lease(host, ts, kernel):
    """The guest's DHCP client against a server scripted on its bridge:
    offers a client must refuse (wrong checksum or transaction, unusable
    address, no server identifier, an ACK while selecting, lying option
    lengths, a cut message) make no REQUEST; the good offer gets a
    REQUEST for its address from its server, with the guest's host name;
    once acknowledged, the guest answers ping and ARP at the leased
    address, and dom0's ARP table has it there."""
    domid = ts.create(kernel, nics=1)
    mac = guest_mac(domid)
    leased = "10.200.128.7"
    lines = run_dhcp_server(host, ts, domid, leased, 3600)
    hostname = ts.read("/local/domain/%d/name" % domid)
    assert lines[0] == ["discover", hostname, "01" + mac.replace(":", "")]
    assert lines[1] == ["hostile", "none"], lines
    assert lines[2] == ["request", "True", leased, "10.200.255.254",
                        hostname, "00000000"], lines
    res = in_ns(host, "ping", "-c", "2", "-i", "0.2", "-W", "2", leased)
    assert res.returncode == 0 and " 2 received" in res.stdout, res
    assert wait_until(lambda: (leased, "0x2", mac, "xenbr0")
                      in arp_table(host))
    # The static address is the guest's no more.
    res = in_ns(host, "ping", "-c", "1", "-W", "1", guest_ip(domid))
    assert res.returncode != 0, res


def test_guest_renews_its_lease_and_loses_it_to_a_nak(host, ts, kernel):
    """A lease of 4 s: the guest renews it at T1 (2 s) with a new
    transaction, unicast from the leased address to the server (no
    requested address or server identifier, as RFC 2131 has a renewal),
    and again once renewed; refused (NAK), it goes back to its static
    address and asks again from the start."""
    domid = ts.create(kernel, nics=1)
    leased = "10.200.128.9"
    lines = run_dhcp_server(host, ts, domid, leased, 4)
    to_us = [bridge_mac(host).replace(":", ""), "10.200.255.254", leased]
    assert lines[1] == ["hostile", "none"], lines
    assert lines[3] == ["renew", "True", leased, "False", "False"] + to_us
    assert lines[4] == ["renew", "True", leased, "False", "False"] + to_us
    assert lines[5] == ["rediscover", "True"], lines
    res = in_ns(host, "ping", "-c", "1", "-W", "2", guest_ip(domid))
    assert res.returncode == 0, res
    res = in_ns(host, "ping", "-c", "1", "-W", "1", leased)
    assert res.returncode != 0, res


def test_hostile_frames_are_dropped(host, ts, kernel):
    """Truncated and lying frames sent to the guest's MAC: dropped; the
    guest still answers pings and xensimd still runs."""
    domid = start_with_vif(host, ts, kernel)
    mac = bytes.fromhex(guest_mac(domid).replace(":", ""))
    ip = bytes(int(x) for x in guest_ip(domid).split("."))
    sender = textwrap.dedent("""
        import socket, sys
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind(("xenbr0", 0))
        mac, ip = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2])
        src = bytes.fromhex("02aabbccddee")
        def eth(t): return mac + src + t
        hdr = bytes([0x45, 0, 0xff, 0xff, 0, 0, 0, 0, 64, 1, 0, 0,
                     10, 200, 255, 254]) + ip
        frames = [
            eth(b"\\x08\\x00"),                         # IPv4 without a body
            eth(b"\\x08\\x06"),                         # ARP without a body
            eth(b"\\x08\\x06" + b"\\x00\\x01\\x08\\x00\\x06\\x04\\x00\\x01"),
            eth(b"\\x08\\x00" + hdr),                   # total length 65535
            eth(b"\\x08\\x00" + bytes([0x4f]) + hdr[1:]),  # header of 60
            eth(b"\\x08\\x00" + bytes([0x41]) + hdr[1:]),  # header of 4
            eth(b"\\x08\\x00" + hdr[:2] + b"\\x00\\x1c" + hdr[4:] + b"\\x08" +
                bytes(7)),                           # bad checksums
            eth(b"\\x08\\x00" + hdr[:2] + b"\\x00\\x15" + hdr[4:] + b"\\x08"),
            eth(b"\\x88\\xcc" + bytes(100)),            # not ours to know
        ]
        for i in range(50):
            for f in frames:
                s.send(f)
    """)
    res = subprocess.run(["nsenter", "--net=" + netns(host),
                          "/usr/bin/python3", "-c", sender, mac.hex(),
                          ip.hex()], capture_output=True, text=True,
                         env=tool_env())
    assert res.returncode == 0, res
    res = in_ns(host, "ping", "-c", "2", "-i", "0.2", "-W", "2",
                guest_ip(domid))
    assert res.returncode == 0, res
    assert host.alive()


def test_paused_guest_answers_nothing(host, ts, kernel):
    domid = start_with_vif(host, ts, kernel)
    ts.hv.call("pause", domid=domid)
    res = in_ns(host, "ping", "-c", "1", "-W", "1", guest_ip(domid))
    assert res.returncode != 0, res
    ts.hv.call("unpause", domid=domid)
    res = in_ns(host, "ping", "-c", "1", "-W", "2", guest_ip(domid))
    assert res.returncode == 0, res


def test_guest_without_vif_makes_nothing(host, ts, kernel):
    domid = ts.create(kernel)
    ts.hv.call("unpause", domid=domid)
    assert wait_until(lambda: ts.read(
        "/local/domain/%d/control/feature-poweroff" % domid) == "1")
    assert set(links(host)) == {"lo"}


def test_destroy_removes_the_tap_and_its_bridge(host, ts, kernel):
    a = start_with_vif(host, ts, kernel)
    b = start_with_vif(host, ts, kernel)
    assert {"vif%d.0" % a, "vif%d.0" % b, "xenbr0"} <= set(links(host))
    ts.destroy(a)
    assert wait_until(lambda: set(links(host)) ==
                      {"lo", "xenbr0", "vif%d.0" % b})
    ts.destroy(b)
    # The bridge goes with its last port: nothing is left.
    assert wait_until(lambda: set(links(host)) == {"lo"})
    res = in_ns(host, "ping", "-c", "1", "-W", "1", guest_ip(b))
    assert res.returncode != 0


def sysfs_holder(rundir):
    """The pid of the process whose /sys DIR/sys/class/net links to."""
    target = os.readlink(os.path.join(rundir, "sys", "class", "net"))
    assert target.startswith("/proc/") and \
        target.endswith("/root/sys/class/net"), target
    return int(target.split("/")[2])


def test_stop_leaves_nothing(host):
    """A clean stop removes the links and ends the process holding the
    namespace's sysfs."""
    d = host
    holder = sysfs_holder(d.rundir)
    with open("/proc/%d/status" % holder) as f:
        assert "PPid:\t%d\n" % d.pid in f.read()
    assert d.stop() == 0
    for link in ("netns", "net", "sys/class/net"):
        assert not os.path.lexists(os.path.join(d.rundir, link)), link
    assert not os.path.exists("/proc/%d" % holder)


def test_killed_xensimd_takes_its_sysfs_holder_along(xsd_factory, tmp_path):
    # Not the factory's: its teardown calls any death a crash.
    d = Xensimd(tmp_path / "killed")
    try:
        # The links exist once the hypervisor serves.
        wait_for_socket(os.path.join(d.rundir, "hypervisor.sock"), d.proc)
        holder = sysfs_holder(d.rundir)
        os.kill(d.pid, signal.SIGKILL)
        d.proc.wait()
    finally:
        # Nothing once killed; a daemon a failed check left, stopped.
        d.stop()
    assert wait_until(lambda: not os.path.exists("/proc/%d" % holder))
    # A new daemon in the same directory replaces the stale links.
    d2 = xsd_factory(rundir=d.rundir)
    wait_for_socket(os.path.join(d2.rundir, "hypervisor.sock"), d2.proc)
    assert sysfs_holder(d2.rundir) != holder
    assert os.readlink(netns(d2)) == "/proc/%d/ns/net" % d2.pid


def test_vifname_names_the_interface_and_a_taken_name_fails(host, ts,
                                                            kernel):
    """The toolstack's vifname names the interface (the guest finds it
    there); a second device of that name fails as a failed vif-bridge
    does, and the first still works."""
    def create(mac):
        domid = ts.create(kernel)
        ts.add_device(domid, "vif", 0,
                      {"mac": mac, "bridge": "xenbr0", "vifname": "web0",
                       "handle": "0"},
                      {"mac": mac, "handle": "0"})
        ts.hv.call("unpause", domid=domid)
        return domid
    a = create("00:16:3e:aa:00:01")
    assert wait_until(lambda: fe_connected(ts, a, "vif", 0))
    assert wait_until(lambda: any(r[0] == guest_ip(a)
                                  for r in arp_table(host)))
    assert "web0" in links(host) and "vif%d.0" % a not in links(host)
    b = create("00:16:3e:aa:00:02")
    be = "/local/domain/0/backend/vif/%d/0" % b
    assert wait_until(lambda: ts.read(be + "/hotplug-status") == "error")
    assert ts.read(be + "/hotplug-error") == \
        "interface web0 on bridge xenbr0: File exists"
    res = in_ns(host, "ping", "-c", "1", "-W", "2", guest_ip(a))
    assert res.returncode == 0, res


@pytest.fixture
def toolstack_netns(tmp_path):
    """A network namespace standing for a toolstack's (a private
    libvirtd's), persistent as `ip netns add` makes one, with a bridge
    someone else made: xenbr0, with a MAC and an address of its own."""
    path = tmp_path / "toolstack-netns"
    path.touch()
    subprocess.run(["unshare", "--net=%s" % path, "ip", "link", "set", "lo",
                    "up"], check=True, timeout=30)
    for cmd in (("link", "add", "xenbr0", "type", "bridge"),
                ("link", "set", "xenbr0", "address", "52:54:00:aa:bb:cc"),
                ("addr", "add", "10.231.9.1/24", "dev", "xenbr0"),
                ("link", "set", "xenbr0", "up")):
        subprocess.run(["nsenter", "--net=%s" % path, "ip", *cmd],
                       check=True, timeout=30, env=tool_env())
    yield str(path)
    subprocess.run(["umount", "--lazy", str(path)], timeout=30)


def shared_xensimd(rundir, ns):
    """xensimd started in @ns and told to take it as dom0's."""
    d = Xensimd(rundir, args=("--shared-netns",),
                prefix=("nsenter", "--net=" + ns))
    wait_for_socket(os.path.join(d.rundir, "hypervisor.sock"), d.proc)
    return d


def test_shared_namespace_is_joined_as_it_is(toolstack_netns, tmp_path,
                                             kernel):
    """--shared-netns: dom0's network is the namespace xensimd starts in.
    A vif goes on the bridge that is there, which keeps its MAC and
    address and stays when the vif goes; the vif has IPv6 off.  The tap a
    killed xensimd leaves behind (persistent) is removed by the next one,
    which can then make a vif of the same name again; a clean stop
    removes its vifs."""
    ns = toolstack_netns

    def ns_links():
        res = subprocess.run(["nsenter", "--net=" + ns, "ip", "-d", "-o",
                              "link", "show"], capture_output=True,
                             text=True, timeout=30, env=tool_env())
        assert res.returncode == 0, res
        return {line.split(":")[1].strip().split("@")[0]: line
                for line in res.stdout.splitlines()}

    def start_guest(d):
        from hvclient import Toolstack

        ts = Toolstack(d.rundir)
        domid = ts.create(kernel, nics=1)
        ts.hv.call("unpause", domid=domid)
        assert wait_until(lambda: fe_connected(ts, domid, "vif", 0))
        ts.close()
        return "vif%d.0" % domid

    d = shared_xensimd(tmp_path / "shared", ns)
    try:
        assert os.stat(os.path.join(d.rundir, "netns")).st_ino == \
            os.stat(ns).st_ino
        vif = start_guest(d)
        ls = ns_links()
        assert "master xenbr0" in ls[vif], ls
        assert "link/ether 52:54:00:aa:bb:cc" in ls["xenbr0"], ls
        res = subprocess.run(["nsenter", "--net=" + ns, "ip", "-o", "-4",
                              "addr", "show", "dev", "xenbr0"],
                             capture_output=True, text=True, timeout=30,
                             env=tool_env())
        assert [line.split()[3] for line in res.stdout.splitlines()] == \
            ["10.231.9.1/24"], res
        res = subprocess.run(["nsenter", "--net=" + ns, "cat",
                              "/proc/sys/net/ipv6/conf/%s/disable_ipv6" % vif],
                             capture_output=True, text=True, timeout=30,
                             env=tool_env())
        assert res.stdout.strip() == "1", res
        # Killed, it leaves its tap; the next one sweeps it.
        os.kill(d.pid, signal.SIGKILL)
        d.proc.wait()
        assert vif in ns_links()
    finally:
        d.stop()
    d = shared_xensimd(tmp_path / "shared", ns)
    try:
        assert set(ns_links()) == {"lo", "xenbr0"}
        assert start_guest(d) == vif
        assert vif in ns_links()
    finally:
        assert d.stop() == 0
    ls = ns_links()
    assert set(ls) == {"lo", "xenbr0"}, ls
    assert "link/ether 52:54:00:aa:bb:cc" in ls["xenbr0"], ls

