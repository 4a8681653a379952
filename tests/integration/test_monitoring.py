"""Monitoring figures through real python-libvirt and virsh against a
private libvirtd on the simulated host: cpu time of domains and vcpus,
the host's cpus and memory, bulk stats, and the small host queries.

The simulated hypervisor accounts time per vcpu, as Xen does, at known
rates (docs/xensim-hypervisor-protocol.md): an idle vcpu runs 1% of the
time, one its guest script keeps busy (`busy-vcpu N`) 100%, and vcpu N of
domain D runs on physical cpu (D + N) mod 8.  So the tests can say what
each figure must be, not only that it is there."""

import json
import subprocess
import textwrap
import time

import pytest

import xvtest

IDLE_RATE = 0.01    # an idle vcpu's share of a cpu
BUSY_RATE = 1.0     # a busy vcpu's
HOST_CPUS = 8


def guest_xml(tmp_path, name, busy=None, disk_io=None, script_lines=(),
              **kw):
    """xvtest.pv_guest_xml, with a busy vcpu or disk requests scripted."""
    lines = list(script_lines)
    if busy is not None:
        lines.append(f"busy-vcpu {busy}")
    if disk_io is not None:
        lines.append("disk-io %d %d" % disk_io)
    return xvtest.pv_guest_xml(tmp_path, name, script_lines=lines, **kw)


def probe(daemon, body):
    """Run @body in a python-libvirt client of @daemon (conn is open); it
    sets `out`, which comes back decoded from JSON."""
    code = ("import json, sys, time, libvirt\n"
            "conn = libvirt.open(sys.argv[1])\n"
            "out = None\n" + textwrap.dedent(body) +
            "\nprint(json.dumps(out))\n")
    res = xvtest.python(code, daemon.uri)
    assert res.rc == 0, res
    return json.loads(res.out)


@pytest.fixture(scope="module")
def guests(daemon, tmp_path_factory):
    """Two running guests: "busy" (2 vcpus, vcpu 1 flat out) and "idle"
    (2 idle vcpus), and one defined and shut off: "off"."""
    tmp = tmp_path_factory.mktemp("mon")
    for name, busy in (("busy", 1), ("idle", None), ("off", None)):
        f = tmp / f"{name}.xml"
        f.write_text(guest_xml(tmp, name, busy=busy))
        res = daemon.virsh("define", str(f))
        assert res.rc == 0, res
        if name != "off":
            res = daemon.virsh("start", name)
            assert res.rc == 0, res
    yield daemon
    for name in ("busy", "idle", "off"):
        daemon.virsh("destroy", name)
        daemon.virsh("undefine", name)


# ---------------------------------------------------------------------------
# Cpu time of a domain


def test_cpu_time_grows_at_the_hypervisors_rate(guests):
    """getInfo's cpuTime grows between two reads of a running guest, by
    the busy vcpu's rate plus the idle one's over the time between the
    reads (at least the time between the calls, at most the time around
    them)."""
    out = probe(guests, """
        d = conn.lookupByName("busy")
        t0 = time.monotonic(); a = d.info()[4]; t1 = time.monotonic()
        time.sleep(0.5)
        t2 = time.monotonic(); b = d.info()[4]; t3 = time.monotonic()
        out = [a, b, t2 - t1, t3 - t0]
    """)
    a, b, inner, outer = out
    rate = BUSY_RATE + IDLE_RATE
    assert a > 0
    assert inner * rate * 1e9 <= b - a <= outer * rate * 1e9 + 1e6


def test_vcpu_times_follow_the_loaded_vcpu(guests):
    """getVcpus (python's dom.vcpus()) gives each vcpu its own time: the
    busy one's is about a hundred times the idle one's, each on its own
    physical cpu, the busy one running and the idle one blocked."""
    out = probe(guests, """
        d = conn.lookupByName("busy")
        out = [d.ID(), d.vcpus()]
    """)
    domid, (info, maps) = out
    assert [v[0] for v in info] == [0, 1]
    (n0, state0, time0, cpu0), (n1, state1, time1, cpu1) = info
    assert (state0, state1) == (2, 1)   # VIR_VCPU_BLOCKED, VIR_VCPU_RUNNING
    assert (cpu0, cpu1) == (domid % HOST_CPUS, (domid + 1) % HOST_CPUS)
    assert time0 > 0
    assert 80 < time1 / time0 < 120
    assert maps == [[True] * HOST_CPUS] * 2


def test_idle_guest_vcpus_grow_alike(guests):
    out = probe(guests, """
        d = conn.lookupByName("idle")
        out = d.vcpus()[0]
    """)
    t0, t1 = out[0][2], out[1][2]
    assert t0 > 0 and abs(t0 - t1) < 0.05 * t0


def test_info_cpu_stats_and_vcpus_agree(guests):
    """Read one after the other, getInfo, getCPUStats' total, the sum of
    the vcpus and getInfo again come from the same counters, so each is
    at least the one before it and the last exceeds the first by no more
    than the time the reads took."""
    out = probe(guests, """
        d = conn.lookupByName("busy")
        t0 = time.monotonic()
        a = d.info()[4]
        b = d.getCPUStats(True)[0]["cpu_time"]
        c = sum(v[2] for v in d.vcpus()[0])
        e = d.info()[4]
        out = [a, b, c, e, time.monotonic() - t0]
    """)
    a, b, c, e, took = out
    assert a <= b <= c <= e
    assert e - a <= took * (BUSY_RATE + IDLE_RATE) * 1e9 + 1e6


def test_cpu_stats_per_physical_cpu(guests):
    """Per physical cpu, the domain's time is where its vcpus run: all of
    it on the busy and the idle vcpu's cpus, none elsewhere, and the
    cpus add up to the total."""
    out = probe(guests, """
        d = conn.lookupByName("busy")
        percpu = d.getCPUStats(False)
        total = d.getCPUStats(True)[0]["cpu_time"]
        out = [d.ID(), [p["cpu_time"] for p in percpu], total]
    """)
    domid, percpu, total = out
    assert len(percpu) == HOST_CPUS
    busy_cpu, idle_cpu = (domid + 1) % HOST_CPUS, domid % HOST_CPUS
    assert percpu[busy_cpu] > 50 * percpu[idle_cpu] > 0
    assert all(t == 0 for i, t in enumerate(percpu)
               if i not in (busy_cpu, idle_cpu))
    assert sum(percpu) <= total


def test_pinned_vcpu_moves_and_its_time_with_it(guests, tmp_path):
    """A vcpu pinned to another cpu runs there: getVcpus says so, and the
    host's cpu time follows (the new cpu busy, the old one idle again);
    a vcpu pinned in the definition runs there from the start."""
    f = tmp_path / "p.xml"
    f.write_text(guest_xml(tmp_path, "pin1", busy=1).replace(
        "<vcpu>2</vcpu>",
        "<vcpu>2</vcpu><cputune><vcpupin vcpu='0' cpuset='6'/></cputune>"))
    assert guests.virsh("create", str(f)).rc == 0
    try:
        out = probe(guests, """
            d = conn.lookupByName("pin1")
            before = [v[3] for v in d.vcpus()[0]]
            old = before[1]
            new = 7 if old != 7 else 5
            d.pinVcpu(1, tuple(i == new for i in range(8)))
            after = [v[3] for v in d.vcpus()[0]]
            a = [conn.getCPUStats(c) for c in (old, new)]
            time.sleep(0.5)
            b = [conn.getCPUStats(c) for c in (old, new)]
            percpu = [p["cpu_time"] for p in d.getCPUStats(False)]
            out = [d.ID(), before, after, new, a, b, percpu]
        """)
        domid, before, after, new, a, b, percpu = out
        assert before == [6, (domid + 1) % 8]
        assert after == [6, new]
        # The busy vcpu's old cpu is idle again (but for others' vcpus),
        # its new cpu busy.
        assert b[1]["user"] - a[1]["user"] >= 0.45e9
        assert b[0]["user"] - a[0]["user"] <= 0.1e9
        assert percpu[new] > 50 * percpu[6] > 0
        res = guests.virsh("vcpupin", "pin1", "1", "9", "--live")
        assert res.rc != 0, res
    finally:
        guests.virsh("destroy", "pin1")


def test_paused_guest_cpu_time_stands_still(guests):
    assert guests.virsh("suspend", "idle").rc == 0
    try:
        out = probe(guests, """
            d = conn.lookupByName("idle")
            a = d.info()[4]; va = [v[2] for v in d.vcpus()[0]]
            time.sleep(0.3)
            b = d.info()[4]; vb = [v[2] for v in d.vcpus()[0]]
            out = [a, b, va, vb, d.vcpus()[0][0][1]]
        """)
        a, b, va, vb, state = out
        assert a == b > 0 and va == vb
        assert state == 0   # VIR_VCPU_OFFLINE: not scheduled while paused
    finally:
        assert guests.virsh("resume", "idle").rc == 0


def test_cpu_stats_of_a_domain_not_running(guests):
    out = probe(guests, """
        d = conn.lookupByName("off")
        errs = []
        for call in (lambda: d.getCPUStats(True), lambda: d.vcpus()):
            try:
                call()
                errs.append(None)
            except libvirt.libvirtError as e:
                errs.append(e.get_error_code())
        out = [d.info()[4], errs]
    """)
    assert out == [0, [55, 55]]     # VIR_ERR_OPERATION_INVALID


def test_cpu_stats_start_cpu_out_of_range(guests):
    # virsh asks the driver for the number of cpus first, and checks.
    res = guests.virsh("cpu-stats", "busy", "--start", str(HOST_CPUS),
                       "--count", "1")
    assert res.rc != 0 and "out of range (min: 0, max: 7)" in res.err, res


def test_virsh_vcpuinfo_and_cpu_stats(guests):
    res = guests.virsh("vcpuinfo", "busy")
    assert res.rc == 0, res
    assert res.out.count("State:          running") == 1
    assert res.out.count("State:          blocked") == 1
    res = guests.virsh("cpu-stats", "busy", "--total")
    assert res.rc == 0 and "cpu_time" in res.out, res


# ---------------------------------------------------------------------------
# The host


def test_node_cpu_map(guests):
    out = probe(guests, """
        out = [conn.getCPUMap(), conn.getInfo()[2]]
    """)
    (n, cpus, online), ncpus = out
    assert n == ncpus == HOST_CPUS and online == HOST_CPUS
    assert cpus == [True] * HOST_CPUS


def test_node_cpu_stats_account_every_vcpu(guests):
    """The host's cpu time: on the busy vcpu's cpu, user time grows at
    least at its rate and idle time stops; on every cpu, user and idle
    together grow as fast as the clock."""
    out = probe(guests, """
        domid = conn.lookupByName("busy").ID()
        busy = (domid + 1) % 8
        a = conn.getCPUStats(busy); aa = conn.getCPUStats(-1)
        t0 = time.monotonic()
        time.sleep(0.5)
        b = conn.getCPUStats(busy); bb = conn.getCPUStats(-1)
        out = [a, b, aa, bb, time.monotonic() - t0]
    """)
    a, b, aa, bb, wall = out
    assert set(a) == {"user", "idle"}
    assert b["user"] - a["user"] >= 0.45e9
    assert b["idle"] - a["idle"] <= 0.02 * (b["user"] - a["user"])
    grown = (bb["user"] + bb["idle"]) - (aa["user"] + aa["idle"])
    assert 0.9 * HOST_CPUS * 0.5e9 <= grown <= HOST_CPUS * (wall + 0.05) * 1e9


def test_node_cpu_stats_bad_cpu(guests):
    res = guests.virsh("nodecpustats", str(HOST_CPUS))
    assert res.rc != 0 and "Invalid cpuNum 8" in res.err, res


def test_node_memory_stats(guests, tmp_path):
    """total is the host's memory; free is what no domain holds, and a
    guest that starts takes exactly its memory from it."""
    f = tmp_path / "m.xml"
    f.write_text(guest_xml(tmp_path, "mem1", memory_mib=64))
    assert guests.virsh("define", str(f)).rc == 0
    try:
        before = probe(guests, """
            out = [conn.getMemoryStats(-1), conn.getInfo()[1],
                   conn.getFreeMemory()]
        """)
        assert guests.virsh("start", "mem1").rc == 0
        after = probe(guests, "out = conn.getMemoryStats(-1)")
    finally:
        guests.virsh("destroy", "mem1")
        guests.virsh("undefine", "mem1")
    stats, total_mib, free_bytes = before
    assert stats["total"] == total_mib * 1024
    assert stats["free"] == free_bytes // 1024
    assert after["total"] == stats["total"]
    assert stats["free"] - after["free"] == 64 * 1024


# ---------------------------------------------------------------------------
# Bulk stats: virsh domstats, getAllDomainStats, domainListGetStats

def domstats(daemon, *args):
    """virsh domstats, as {domain: {field: value}}."""
    res = daemon.virsh("domstats", *args)
    assert res.rc == 0, res
    out, cur = {}, None
    for line in res.out.splitlines():
        line = line.strip()
        if line.startswith("Domain: "):
            cur = out.setdefault(line.split("'")[1], {})
        elif "=" in line:
            k, v = line.split("=", 1)
            cur[k] = int(v) if v.lstrip("-").isdigit() else v
    return out


def sim_sysfs(daemon):
    return daemon.sim_rundir / "sys"


def test_domstats_every_group(guests):
    """One record per domain with every group, figures as the single
    queries give them."""
    out = probe(guests, """
        d = conn.lookupByName("busy")
        a = d.info()
        recs = conn.getAllDomainStats()
        b = d.info()
        out = [a, b, d.ID(), {r[0].name(): r[1] for r in recs}]
    """)
    a, b, domid, recs = out
    assert {"busy", "idle", "off"} <= set(recs)
    s = recs["busy"]
    assert (s["state.state"], s["state.reason"]) == (1, 1)
    assert a[4] <= s["cpu.time"] <= b[4]
    assert s["balloon.current"] == a[2] == 128 * 1024
    assert s["balloon.maximum"] == a[1]
    assert (s["vcpu.current"], s["vcpu.maximum"]) == (2, 2)
    assert (s["vcpu.0.state"], s["vcpu.1.state"]) == (2, 1)
    assert s["vcpu.1.time"] > 80 * s["vcpu.0.time"] > 0
    assert s["vcpu.0.time"] + s["vcpu.1.time"] <= b[4]
    assert s["net.count"] == 1 and s["net.0.name"] == f"vif{domid}.0"
    # The guest's frames (test_interface_stats_count_a_ping says which).
    assert all(isinstance(s[f"net.0.{k}"], int) for k in
               ("rx.bytes", "rx.pkts", "tx.bytes", "tx.pkts"))
    assert s["block.count"] == 1 and s["block.0.name"] == "xvda"
    assert s["block.0.path"].endswith("/busy.img")
    assert s["block.0.capacity"] == s["block.0.physical"] == 1024 * 1024
    assert s["block.0.rd.reqs"] == s["block.0.wr.reqs"] == 0
    # A domain shut off: its state and definition only.
    off = recs["off"]
    assert off["state.state"] == 5
    assert off["balloon.current"] == off["balloon.maximum"] == 128 * 1024
    assert "cpu.time" not in off and "vcpu.0.time" not in off
    assert off["vcpu.0.state"] == 0 and "net.count" not in off
    assert off["block.count"] == 1 and "block.0.rd.reqs" not in off


def test_domstats_filters(guests, tmp_path):
    """The state and persistence filters, with a paused and a transient
    guest beside the running and the shut off ones."""
    f = tmp_path / "t.xml"
    f.write_text(guest_xml(tmp_path, "trans1"))
    assert guests.virsh("create", str(f)).rc == 0
    assert guests.virsh("suspend", "idle").rc == 0
    try:
        def names(*flags):
            return set(domstats(guests, "--state", *flags)) & \
                {"busy", "idle", "off", "trans1"}
        assert names() == {"busy", "idle", "off", "trans1"}
        assert names("--list-active") == {"busy", "idle", "trans1"}
        assert names("--list-inactive") == {"off"}
        assert names("--list-running") == {"busy", "trans1"}
        assert names("--list-paused") == {"idle"}
        assert names("--list-shutoff") == {"off"}
        assert names("--list-other") == set()
        assert names("--list-persistent") == {"busy", "idle", "off"}
        assert names("--list-transient") == {"trans1"}
        assert names("--list-active", "--list-persistent") == {"busy", "idle"}
        assert domstats(guests, "--state", "idle")["idle"]["state.state"] == 3
    finally:
        guests.virsh("resume", "idle")
        guests.virsh("destroy", "trans1")


def test_domstats_of_listed_domains_and_groups(guests):
    """virDomainListGetStats: only the domains named, only the groups
    asked for."""
    out = domstats(guests, "--vcpu", "--balloon", "busy", "off")
    assert set(out) == {"busy", "off"}
    assert {k.split(".")[0] for k in out["busy"]} == {"vcpu", "balloon"}


def test_domstats_enforce(guests):
    """A group the driver does not give: left out, or refused with
    --enforce, as libvirt's QEMU driver does."""
    out = domstats(guests, "--perf", "busy")
    assert out == {"busy": {}} or out == {}
    res = guests.virsh("domstats", "--perf", "--enforce", "busy")
    assert res.rc != 0 and "not supported" in res.err, res
    assert domstats(guests, "--state", "--enforce", "busy")["busy"][
        "state.state"] == 1


def netif_counters(daemon, ifname):
    """The simulated host's vif counters where Linux keeps them, in its
    network namespace's sysfs (DIR/sys/class/net links to it)."""
    stats = sim_sysfs(daemon) / "class" / "net" / ifname / "statistics"
    return {name: int((stats / name).read_text())
            for name in ("rx_bytes", "rx_packets", "tx_bytes", "tx_packets")}


def test_domstats_follow_the_kernels_counters(guests):
    """Block and interface figures are read where Linux keeps them (the
    simulated host keeps the same files): blkback's sectors are 512 bytes,
    and the host's vif receives what the guest sends."""
    domid = int(guests.virsh("domid", "idle").out)
    vbd = sim_sysfs(guests) / "bus" / "xen-backend" / "devices" / \
        f"vbd-{domid}-51712" / "statistics"
    assert sorted(p.name for p in vbd.iterdir()) == \
        ["ds_req", "f_req", "oo_req", "rd_req", "rd_sect", "wr_req", "wr_sect"]
    for name, val in (("rd_req", 7), ("rd_sect", 24), ("wr_req", 3),
                      ("wr_sect", 8), ("f_req", 2), ("oo_req", 1)):
        (vbd / name).write_text(f"{val}\n")
    # The vif is a real interface: its counters are the kernel's, and
    # move while the guest talks; the figures lie between two readings.
    ifname = f"vif{domid}.0"
    before = netif_counters(guests, ifname)
    s = domstats(guests, "--block", "--interface", "idle")["idle"]
    after = netif_counters(guests, ifname)
    assert (s["block.0.rd.reqs"], s["block.0.rd.bytes"]) == (7, 24 * 512)
    assert (s["block.0.wr.reqs"], s["block.0.wr.bytes"]) == (3, 8 * 512)
    assert (s["block.0.fl.reqs"], s["block.0.errs"]) == (2, 1)
    for guest_side, host_side in (("tx.bytes", "rx_bytes"),
                                  ("tx.pkts", "rx_packets"),
                                  ("rx.bytes", "tx_bytes"),
                                  ("rx.pkts", "tx_packets")):
        assert before[host_side] <= s[f"net.0.{guest_side}"] <= \
            after[host_side], (guest_side, before, s, after)
    # What the guest sent at connection: DHCPDISCOVER and ARP requests.
    assert s["net.0.tx.pkts"] >= 3 and s["net.0.tx.bytes"] >= 342 + 2 * 42
    res = guests.virsh("domblkstat", "idle", "xvda")
    assert res.rc == 0, res
    assert "xvda rd_req 7" in res.out and "xvda wr_bytes 4096" in res.out
    assert "xvda flush_operations 2" in res.out and "xvda errs 1" in res.out
    # A counter that is not a number is an error, not a zero.
    (vbd / "rd_req").write_text("lots\n")
    res = guests.virsh("domblkstat", "idle", "xvda")
    assert res.rc != 0 and "holds no counter" in res.err, res
    (vbd / "rd_req").write_text("0\n")


def test_block_stats_count_the_guests_requests(guests, tmp_path):
    """A guest that makes 3 reads and 5 writes of 4 KiB through its
    blkfront: blkback counts exactly those, and the writes are in the
    disk's file."""
    f = tmp_path / "io.xml"
    f.write_text(guest_xml(tmp_path, "io1", disk_io=(3, 5)))
    assert guests.virsh("create", str(f)).rc == 0
    try:
        def blkstat():
            res = guests.virsh("domblkstat", "io1", "xvda")
            assert res.rc == 0, res
            return {line.split()[1]: int(line.split()[2])
                    for line in res.out.splitlines() if line.strip()}
        assert xvtest.wait_for(lambda: blkstat()["rd_req"] == 3), blkstat()
        st = blkstat()
        assert st == {"rd_req": 3, "rd_bytes": 3 * 4096, "wr_req": 5,
                      "wr_bytes": 5 * 4096, "errs": 0,
                      "flush_operations": 0}, st
        s = domstats(guests, "--block", "io1")["io1"]
        assert (s["block.0.rd.reqs"], s["block.0.wr.bytes"]) == (3, 5 * 4096)
        data = (tmp_path / "io1.img").read_bytes()
        for i in range(5):
            assert data[i * 4096:].startswith(b"xensim write %d\n" % i)
        assert data[5 * 4096:6 * 4096] == bytes(4096)
    finally:
        guests.virsh("destroy", "io1")


def test_qdisk_keeps_no_blkback_counters(guests, tmp_path):
    """A disk a QEMU serves (qdisk) has no blkback: its statistics are not
    supported, as with libvirt's Xen driver; bulk stats leave them out."""
    f = tmp_path / "q.xml"
    f.write_text(guest_xml(tmp_path, "qd1", disk_driver="qemu"))
    assert guests.virsh("create", str(f)).rc == 0
    try:
        res = guests.virsh("domblkstat", "qd1", "xvda")
        assert res.rc != 0 and "keeps no statistics" in res.err, res
        s = domstats(guests, "--block", "qd1")["qd1"]
        assert s["block.0.name"] == "xvda" and "block.0.rd.reqs" not in s
    finally:
        guests.virsh("destroy", "qd1")


def qcow2_chain(tmp_path, *names):
    """qcow2 images NAMES[0] (the bottom, 1 MiB) to NAMES[-1] (the top),
    each backed by the one before with its format recorded, made by
    qemu-img as a user makes them; their paths, top last."""
    paths = []
    for name in names:
        path = tmp_path / f"{name}.qcow2"
        cmd = ["qemu-img", "create", "-q", "-f", "qcow2"]
        if paths:
            cmd += ["-b", str(paths[-1]), "-F", "qcow2"]
        subprocess.run(cmd + [str(path), "1M"], check=True, timeout=30)
        paths.append(path)
    return paths


def test_domstats_backing_chain(guests, tmp_path):
    """With --backing (VIR_CONNECT_GET_ALL_DOMAINS_STATS_BACKING), each
    image below a qcow2 disk's own is a record of its own after the
    disk's, as libvirt's QEMU driver lists them: the disk's target as
    name, the image's path, its backingIndex (1 just below the top, as
    <backingStore index='1'>), its size; block.count counts records.
    Without it, the disks alone."""
    base, mid, top = qcow2_chain(tmp_path, "base", "mid", "top")
    xml = guest_xml(tmp_path, "chain1", disk_driver="qemu")
    xml = xml.replace("<driver name='qemu'/>",
                      "<driver name='qemu' type='qcow2'/>")
    xml = xml.replace(f"<source file='{tmp_path / 'chain1.img'}'/>",
                      f"<source file='{top}'/>")
    assert f"<source file='{top}'/>" in xml
    f = tmp_path / "chain1.xml"
    f.write_text(xml)
    assert guests.virsh("create", str(f)).rc == 0
    try:
        def records(*args):
            return domstats(guests, "--block", *args, "chain1")["chain1"]
        s = records("--backing")
        assert s["block.count"] == 3, s
        assert [(s[f"block.{i}.name"], s[f"block.{i}.path"],
                 s.get(f"block.{i}.backingIndex")) for i in range(3)] == \
            [("xvda", str(top), None), ("xvda", str(mid), 1),
             ("xvda", str(base), 2)], s
        for i, path in enumerate((top, mid, base)):
            assert s[f"block.{i}.capacity"] == 1024 * 1024, s
            assert s[f"block.{i}.physical"] == path.stat().st_size, s
            assert s[f"block.{i}.allocation"] == \
                path.stat().st_blocks * 512, s
        # The same through python-libvirt, for this domain alone.
        out = probe(guests, """
            dom = conn.lookupByName("chain1")
            recs = conn.domainListGetStats(
                [dom], libvirt.VIR_DOMAIN_STATS_BLOCK,
                libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_BACKING)
            out = {k: v for k, v in recs[0][1].items()
                   if k == "block.count" or "backingIndex" in k}
        """)
        assert out == {"block.count": 3, "block.1.backingIndex": 1,
                       "block.2.backingIndex": 2}, out
        s = records()
        assert s["block.count"] == 1 and "block.1.name" not in s, s
        assert "block.0.backingIndex" not in s, s
    finally:
        guests.virsh("destroy", "chain1")


def test_domstats_backing_of_a_chain_that_breaks(guests, tmp_path):
    """A layer that cannot be read (its file gone) ends the chain there;
    an image whose format is not given (probed) shows no chain, as
    libvirt never follows a probed image's backing file."""
    base, mid, top = qcow2_chain(tmp_path, "base", "mid", "top")
    base.unlink()
    for name, driver in (("chain2", "<driver name='qemu' type='qcow2'/>"),
                         ("chain3", "<driver name='qemu'/>")):
        xml = xvtest.pv_guest_xml(tmp_path, name, disk_driver="qemu")
        xml = xml.replace("<driver name='qemu'/>", driver)
        xml = xml.replace(f"<source file='{tmp_path / (name + '.img')}'/>",
                          f"<source file='{top}'/>")
        f = tmp_path / f"{name}.xml"
        f.write_text(xml)
        assert guests.virsh("define", str(f)).rc == 0
    try:
        s = domstats(guests, "--block", "--backing", "chain2")["chain2"]
        assert s["block.count"] == 2, s
        assert (s["block.1.path"], s["block.1.backingIndex"]) == \
            (str(mid), 1), s
        s = domstats(guests, "--block", "--backing", "chain3")["chain3"]
        assert s["block.count"] == 1, s
    finally:
        for name in ("chain2", "chain3"):
            guests.virsh("undefine", name)


def test_block_and_interface_stats_errors(guests):
    res = guests.virsh("domblkstat", "idle", "xvdz")
    assert res.rc != 0 and "invalid path: xvdz" in res.err, res
    res = guests.virsh("domifstat", "idle", "vif999.0")
    assert res.rc != 0, res
    res = guests.virsh("domblkstat", "off", "xvda")
    assert res.rc != 0 and "not running" in res.err, res


def test_interface_target_in_live_xml(guests):
    """virt-manager asks interfaceStats only of interfaces whose live XML
    names a target: vifD.N, as libvirt's Xen driver writes it."""
    domid = int(guests.virsh("domid", "busy").out)
    xml = guests.virsh("dumpxml", "busy").out
    assert f"<target dev='vif{domid}.0'/>" in xml


# ---------------------------------------------------------------------------
# Memory of a domain

def xs_write(daemon, path, value):
    """Write a node as the guest could have (xenstore-write as dom0 on the
    simulated host's xenstored)."""
    sock = daemon.sim_rundir / "xenstored" / "socket"
    subprocess.run(["xenstore-write", "--", path, value], check=True,
                   env={"XENSTORED_PATH": str(sock)}, timeout=10)


def memstats(daemon, name):
    out = probe(daemon, f"""
        out = conn.lookupByName({name!r}).memoryStats()
    """)
    return out


def test_memory_stats_follow_the_balloon_and_the_guest(guests, tmp_path):
    """actual is what the domain holds; available, unused and usable are
    what the simulated guest reports of its memory in xenstore (all of
    it, three quarters free, seven eighths available), and follow the
    balloon; bulk stats say the same."""
    f = tmp_path / "b.xml"
    f.write_text(guest_xml(tmp_path, "bal1"))
    assert guests.virsh("create", str(f)).rc == 0
    try:
        m = memstats(guests, "bal1")
        assert m == {"actual": 131072, "available": 131072,
                     "unused": 98304, "usable": 114688}, m
        assert guests.virsh("setmem", "bal1", "65536", "--live").rc == 0
        assert xvtest.wait_for(
            lambda: memstats(guests, "bal1")["actual"] == 65536)
        assert xvtest.wait_for(
            lambda: memstats(guests, "bal1")["unused"] == 49152)
        m = memstats(guests, "bal1")
        assert m == {"actual": 65536, "available": 65536, "unused": 49152,
                     "usable": 57344}, m
        s = domstats(guests, "--balloon", "bal1")["bal1"]
        assert s == {"balloon.current": 65536, "balloon.maximum": 131072,
                     "balloon.unused": 49152, "balloon.available": 65536,
                     "balloon.usable": 57344}, s
    finally:
        guests.virsh("destroy", "bal1")


BALLOON_EVENTS = """
    import threading
    libvirt.virEventRegisterDefaultImpl()
    conn = libvirt.open(sys.argv[1])
    seen = []
    def on_balloon(c, dom, actual, opaque):
        seen.append([dom.name(), actual])
    conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_BALLOON_CHANGE,
                                on_balloon, None)
    def loop():
        while True:
            libvirt.virEventRunDefaultImpl()
    threading.Thread(target=loop, daemon=True).start()
    def wait(n, timeout):
        end = time.time() + timeout
        while len(seen) < n and time.time() < end:
            time.sleep(0.05)
"""


def test_balloon_change_events(guests, tmp_path):
    """BALLOON_CHANGE tells what the domain holds, in KiB, each time it
    moves: after a new target (virsh setmem), and when the guest balloons
    on its own (its script: to 96 MiB, 6 s after boot), which no target
    announces.  The live XML's currentMemory follows."""
    f = tmp_path / "bal2.xml"
    f.write_text(guest_xml(tmp_path, "bal2",
                           script_lines=["balloon-after 6 98304"]))
    assert guests.virsh("create", str(f)).rc == 0
    try:
        out = probe(guests, textwrap.dedent(BALLOON_EVENTS) + textwrap.dedent("""
            dom = conn.lookupByName("bal2")
            dom.setMemoryFlags(65536, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            wait(1, 5)
            after_setmem = list(seen)
            wait(2, 15)
            out = {"after_setmem": after_setmem, "seen": seen,
                   "info": dom.info()[2],
                   "xml": dom.XMLDesc(0)}
        """))
        assert out["after_setmem"] == [["bal2", 65536]], out["seen"]
        assert out["seen"] == [["bal2", 65536], ["bal2", 98304]], out["seen"]
        assert out["info"] == 98304
        assert "<currentMemory unit='KiB'>98304</currentMemory>" in out["xml"]
        assert memstats(guests, "bal2")["actual"] == 98304
    finally:
        guests.virsh("destroy", "bal2")


def test_no_balloon_change_event_when_the_guest_does_not_balloon(guests,
                                                                 tmp_path):
    """A guest that ignores its new target holds what it held: no event,
    while another domain's balloon, moved meanwhile, is reported; a guest
    rewriting its memory figures without ballooning makes none either."""
    for name, lines in (("stuck", ["no-balloon"]), ("mover", [])):
        f = tmp_path / f"{name}.xml"
        f.write_text(guest_xml(tmp_path, name, script_lines=lines))
        assert guests.virsh("create", str(f)).rc == 0
    domid = int(guests.virsh("domid", "stuck").out)
    try:
        out = probe(guests, textwrap.dedent(BALLOON_EVENTS) + textwrap.dedent(f"""
            conn.lookupByName("stuck").setMemoryFlags(
                65536, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            sock = {str(guests.sim_rundir / "xenstored" / "socket")!r}
            import subprocess
            subprocess.run(["xenstore-write",
                            "/local/domain/{domid}/data/meminfo_total",
                            "65536"], env={{"XENSTORED_PATH": sock}},
                           check=True)
            conn.lookupByName("mover").setMemoryFlags(
                98304, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            wait(1, 5)
            # Time for the target's follow-up checks of "stuck" to run.
            time.sleep(3)
            out = seen
        """))
        assert out == [["mover", 98304]], out
        assert memstats(guests, "stuck")["actual"] == 131072
    finally:
        guests.virsh("destroy", "stuck")
        guests.virsh("destroy", "mover")


@pytest.mark.parametrize("bad", ["12abc", "-5", "1e9", "", " 100",
                                 "9" * 30, str(2 ** 64), "1048577",
                                 "\u0661\u0662"])
def test_memory_stats_refuse_what_a_guest_should_not_say(guests, bad):
    """The guest's figures are untrusted: anything but a plain number no
    larger than the domain's maximum (128 MiB here) is left out."""
    domid = int(guests.virsh("domid", "idle").out)
    home = f"/local/domain/{domid}/data"
    try:
        xs_write(guests, f"{home}/meminfo_free", bad)
        xs_write(guests, f"{home}/meminfo_available", bad)
        m = memstats(guests, "idle")
        assert "unused" not in m and "usable" not in m, m
        assert m["actual"] == m["available"] == 131072
        # More free than the total it reports: left out too.
        xs_write(guests, f"{home}/meminfo_free", "131072")
        xs_write(guests, f"{home}/meminfo_total", "65536")
        m = memstats(guests, "idle")
        assert "unused" not in m and m["available"] == 65536, m
    finally:
        xs_write(guests, f"{home}/meminfo_total", "131072")
        xs_write(guests, f"{home}/meminfo_free", "98304")
        xs_write(guests, f"{home}/meminfo_available", "114688")


def test_memory_stats_without_guest_figures(guests):
    """A guest that reports nothing: the balloon, and the maximum as what
    is available, as libvirt's Xen driver gives them."""
    domid = int(guests.virsh("domid", "idle").out)
    home = f"/local/domain/{domid}/data"
    sock = guests.sim_rundir / "xenstored" / "socket"
    env = {"XENSTORED_PATH": str(sock)}
    for node in ("meminfo_total", "meminfo_free", "meminfo_available"):
        subprocess.run(["xenstore-rm", f"{home}/{node}"], env=env, check=True)
    try:
        assert memstats(guests, "idle") == {"available": 131072,
                                            "actual": 131072}
    finally:
        xs_write(guests, f"{home}/meminfo_total", "131072")
        xs_write(guests, f"{home}/meminfo_free", "98304")
        xs_write(guests, f"{home}/meminfo_available", "114688")


# ---------------------------------------------------------------------------
# Addresses of a domain's interfaces

def test_interface_addresses_from_leases(guests):
    """The default source, leases of libvirt's network driver, as libvirt's
    Xen driver has it: the guests' interfaces are on no libvirt network
    (an ethernet vif), so there is no lease to give, and no network
    driver is needed to say so."""
    out = probe(guests, """
        import xml.etree.ElementTree as ET
        dom = conn.lookupByName("idle")
        live = ET.fromstring(dom.XMLDesc(0))
        out = [dom.interfaceAddresses(
                   libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE),
               [t.get("dev") for t in live.findall("devices/interface/target")]]
    """)
    assert out[0] == {}
    assert len(out[1]) == 1 and out[1][0].startswith("vif"), out
    res = guests.virsh("domifaddr", "idle")
    assert res.rc == 0 and res.out.strip() == "", res


def test_interface_addresses_agent_needs_its_channel(guests):
    """The guest agent (test_agent.py has the answers): a guest without
    its channel gets libvirt's QEMU driver's error, with the code
    libvirt's Xen driver refused the source with."""
    res = guests.virsh("domifaddr", "idle", "--source", "agent")
    assert res.rc != 0, res
    assert "argument unsupported: QEMU guest agent is not configured" \
        in res.err, res
    out = probe(guests, """
        try:
            conn.lookupByName("idle").interfaceAddresses(1)
            out = "accepted"
        except libvirt.libvirtError as e:
            out = [e.get_error_code() == libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED,
                   e.get_error_message()]
    """)
    assert out == [True, "argument unsupported: QEMU guest agent is not "
                         "configured"], out


# ---------------------------------------------------------------------------
# A vif is a real interface: ping, counters, the host's ARP table

NET_MAC = "00:16:3e:17:00:01"


def bridged_guest_xml(tmp_path, name, mac=NET_MAC):
    """A simulated guest whose vif is on bridge xenbr0 (made in the
    simulated host's network namespace, with dom0 at 10.200.255.254)."""
    xml = guest_xml(tmp_path, name)
    start = xml.index("<interface")
    end = xml.index("</interface>") + len("</interface>")
    return xml[:start] + (f"<interface type='bridge'>"
                          f"<source bridge='xenbr0'/>"
                          f"<mac address='{mac}'/></interface>") + xml[end:]


def in_netns(daemon, *cmd):
    """@cmd in the simulated host's network namespace (dom0's network)."""
    return subprocess.run(["nsenter", f"--net={daemon.sim_rundir / 'netns'}",
                           *cmd], capture_output=True, text=True, timeout=60)


def guest_ip(domid):
    """The simulated guest's static address (docs/xensim-host.md)."""
    return f"10.200.{domid // 256}.{domid % 256}"


def arp_addresses(daemon, name):
    out = probe(daemon, f"""
        out = conn.lookupByName({name!r}).interfaceAddresses(
            libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP)
    """)
    return out


@pytest.fixture
def bridged(guests, tmp_path):
    """A running guest "net1" on xenbr0, known in dom0's ARP table."""
    f = tmp_path / "net1.xml"
    f.write_text(bridged_guest_xml(tmp_path, "net1"))
    res = guests.virsh("create", str(f))
    assert res.rc == 0, res
    domid = int(guests.virsh("domid", "net1").out)
    try:
        assert xvtest.wait_for(lambda: arp_addresses(guests, "net1")), \
            "the guest never reached dom0's ARP table"
        yield domid
    finally:
        guests.virsh("destroy", "net1")


def domifstat(daemon, name, ifname):
    res = daemon.virsh("domifstat", name, ifname)
    assert res.rc == 0, res
    return {line.split()[1]: int(line.split()[2])
            for line in res.out.splitlines() if line.strip()}


def test_interface_stats_count_a_ping(guests, bridged):
    """Five pings from dom0's side: the guest's interface received five
    requests and sent five replies (242 bytes each with 200 of data), in
    domifstat and in domstats."""
    ifname = f"vif{bridged}.0"
    before = domifstat(guests, "net1", ifname)
    bulk_before = domstats(guests, "--interface", "net1")["net1"]
    res = in_netns(guests, "ping", "-c", "5", "-i", "0.2", "-W", "2",
                   "-s", "200", guest_ip(bridged))
    assert res.returncode == 0 and " 5 received" in res.stdout, res
    after = domifstat(guests, "net1", ifname)
    bulk_after = domstats(guests, "--interface", "net1")["net1"]
    for key in ("rx_packets", "tx_packets"):
        assert after[key] - before[key] >= 5, (key, before, after)
    for key in ("rx_bytes", "tx_bytes"):
        assert after[key] - before[key] >= 5 * 242, (key, before, after)
    for key in ("rx.pkts", "tx.pkts"):
        assert bulk_after[f"net.0.{key}"] - bulk_before[f"net.0.{key}"] >= 5
    assert after["rx_errs"] == after["tx_errs"] == 0


def test_domifaddr_arp_gives_the_guests_address(guests, bridged):
    """--source arp: the host's ARP table's entry for the interface's MAC
    (the simulated host's network namespace's table), as libvirt's QEMU
    driver lists it: the host's interface name, the MAC, the address with
    prefix 0."""
    ifname = f"vif{bridged}.0"
    out = arp_addresses(guests, "net1")
    assert out == {ifname: {"hwaddr": NET_MAC, "addrs": [
        {"type": 0, "addr": guest_ip(bridged), "prefix": 0}]}}, out
    res = guests.virsh("domifaddr", "net1", "--source", "arp")
    assert res.rc == 0, res
    rows = [line.split() for line in res.out.splitlines() if line.strip()]
    assert rows == [[ifname, NET_MAC, "ipv4", f"{guest_ip(bridged)}/0"]], res


def netns_links(daemon):
    res = in_netns(daemon, "ip", "-o", "link", "show")
    assert res.returncode == 0, res
    return {line.split(":")[1].strip() for line in res.stdout.splitlines()}


def test_guest_without_interface_makes_none(guests, tmp_path):
    xml = guest_xml(tmp_path, "nonic")
    start = xml.index("<interface")
    xml = xml[:start] + xml[xml.index("</interface>") + len("</interface>"):]
    f = tmp_path / "nonic.xml"
    f.write_text(xml)
    assert guests.virsh("create", str(f)).rc == 0
    try:
        domid = int(guests.virsh("domid", "nonic").out)
        assert not any(name.startswith(f"vif{domid}.")
                       for name in netns_links(guests))
        assert arp_addresses(guests, "nonic") == {}
    finally:
        guests.virsh("destroy", "nonic")


def test_destroy_removes_the_interface(guests, tmp_path):
    f = tmp_path / "net2.xml"
    f.write_text(bridged_guest_xml(tmp_path, "net2", mac="00:16:3e:17:00:02"))
    assert guests.virsh("create", str(f)).rc == 0
    domid = int(guests.virsh("domid", "net2").out)
    ifname = f"vif{domid}.0"

    def links():
        return netns_links(guests)
    assert ifname in links()
    assert guests.virsh("destroy", "net2").rc == 0
    assert xvtest.wait_for(lambda: ifname not in links()), links()
    res = guests.virsh("domifstat", "net2", ifname)
    assert res.rc != 0, res


def test_interface_addresses_of_a_domain_not_running(guests):
    out = probe(guests, """
        try:
            conn.lookupByName("off").interfaceAddresses(0)
            out = "accepted"
        except libvirt.libvirtError as e:
            out = [e.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID,
                   e.get_error_message()]
    """)
    assert out == [True, "Requested operation is not valid: "
                         "domain is not running"], out


# ---------------------------------------------------------------------------
# The small host and domain queries libvirt's Xen driver has

def test_security_model_is_empty_not_unsupported(guests):
    out = probe(guests, "out = conn.getSecurityModel()")
    assert out == ["", ""]


def test_sysinfo_is_what_dmidecode_reads(guests):
    """SMBIOS as dom0 reads it: where dmidecode can read this machine's,
    the driver gives it; where it cannot, libvirt's Xen driver's error."""
    try:
        dmi = subprocess.run(["dmidecode", "-q", "-t", "1"],
                             capture_output=True, text=True, timeout=30)
        readable = dmi.returncode == 0 and "System Information" in dmi.stdout
    except FileNotFoundError:
        readable = False
    res = guests.virsh("sysinfo")
    if readable:
        assert res.rc == 0 and "<sysinfo type='smbios'>" in res.out, res
    else:
        assert res.rc != 0, res
        assert "Host SMBIOS information is not available" in res.err, res


def test_host_cpu_compare_and_baseline(guests):
    """The capabilities name the host cpu; compareCPU finds it identical
    to itself and a cpu needing a feature it lacks incompatible;
    baselineCPU of it alone is its model."""
    out = probe(guests, """
        import xml.etree.ElementTree as ET
        host = ET.fromstring(conn.getCapabilities()).find("host/cpu")
        have = {f.get("name") for f in host.findall("feature")}
        model = host.find("model").text
        cpu = ET.tostring(host).decode()
        lack = next(f for f in ("amx-tile", "avx512-fp16", "sgx", "svm",
                                "avx512f", "pku") if f not in have)
        bad = ("<cpu><arch>x86_64</arch><model>%s</model>"
               "<feature policy='require' name='%s'/></cpu>" % (model, lack))
        base = ET.fromstring(conn.baselineCPU([cpu]))
        try:
            conn.compareCPU(bad, libvirt.VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE)
            failed = None
        except libvirt.libvirtError as e:
            failed = e.get_error_code()
        out = [conn.compareCPU(cpu), conn.compareCPU(bad), failed,
               base.find("model").text, model,
               host.find("topology").attrib, conn.getInfo()[4:8]]
    """)
    same, bad, failed, base_model, model, topo, info = out
    assert same == 1            # VIR_CPU_COMPARE_IDENTICAL
    assert bad == 0             # VIR_CPU_COMPARE_INCOMPATIBLE
    assert failed == 91         # VIR_ERR_CPU_INCOMPATIBLE
    assert base_model == model
    # The topology is the hypervisor's, as nodeinfo gives it.
    nodes, sockets, cores, threads = info
    assert topo == {"sockets": str(sockets), "dies": "1",
                    "cores": str(cores), "threads": str(threads)}


def test_numa_parameters(guests):
    out = probe(guests, """
        d = conn.lookupByName("busy")
        out = [d.numaParameters(), conn.getInfo()[4]]
    """)
    params, nodes = out
    assert params["numa_mode"] == 2     # VIR_DOMAIN_NUMATUNE_MEM_INTERLEAVE
    assert params["numa_nodeset"] == ("0" if nodes == 1 else f"0-{nodes - 1}")
    res = guests.virsh("numatune", "off")
    assert res.rc != 0 and "not running" in res.err, res


def test_messages_of_an_untainted_domain(guests):
    assert probe(guests, "out = conn.lookupByName('busy').messages()") == []


def test_job_stats_during_a_start(guests, tmp_path):
    """A start (its builder made slow by the guest script) is the domain's
    job: job stats show it unbounded with its elapsed time, and none once
    it is done."""
    kernel = tmp_path / "slow.kernel"
    kernel.write_text("#!xensim-guest\nbuild-delay 3\n")
    xml = guest_xml(tmp_path, "slow1").replace(
        str(tmp_path / "slow1.kernel"), str(kernel))
    f = tmp_path / "slow.xml"
    f.write_text(xml)
    assert guests.virsh("define", str(f)).rc == 0
    try:
        start = subprocess.Popen(
            ["virsh", "-q", "-c", guests.uri, "start", "slow1"],
            env=xvtest.driver_env(), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        time.sleep(1.5)
        during = probe(guests, """
            d = conn.lookupByName("slow1")
            out = [d.jobStats(), d.jobInfo()]
        """)
        assert start.wait(timeout=60) == 0
        after = probe(guests, "out = conn.lookupByName('slow1').jobStats()")
    finally:
        guests.virsh("destroy", "slow1")
        guests.virsh("undefine", "slow1")
    stats, info = during
    assert stats["type"] == 2 and 500 <= stats["time_elapsed"] <= 60000, stats
    assert info[0] == 2 and info[1] >= 500, info  # VIR_DOMAIN_JOB_UNBOUNDED
    assert after == {"type": 0}
