"""The hypervisor control socket: docs/xensim-hypervisor-protocol.md.

Each test has its own xensimd (conftest.host) and drives hypervisor.sock
with hvclient.HvClient, xenstore with xsclient.XsClient.
"""
import json
import os
import subprocess
import time
import uuid as uuidlib

import pytest

from conftest import XENSIMD
from hvclient import HvClient, HvError, wait_until
from xsclient import XsClient

INFO_KEYS = {"domid", "uuid", "type", "running", "blocked", "paused",
             "shutdown", "dying", "shutdown_reason", "cur_memkb",
             "max_memkb", "online_vcpus", "max_vcpus", "cpu_time_ns",
             "weight", "cap"}


def new_uuid():
    return str(uuidlib.uuid4())


def create(hv, memkb=131072, vcpus=2, type="pv", uuid=None):
    return hv.call("create", uuid=uuid or new_uuid(), type=type,
                   max_vcpus=vcpus, max_memkb=memkb)["domid"]


def boot(hv, kernel, **kw):
    domid = create(hv, **kw)
    hv.call("build", domid=domid, kernel=str(kernel))
    hv.call("unpause", domid=domid)
    return domid


def expect_error(name, fn, *args, **kw):
    with pytest.raises(HvError) as e:
        fn(*args, **kw)
    assert e.value.name == name, e.value
    return e.value


def test_socket_mode(host):
    assert os.stat(host.hv_sock).st_mode & 0o777 == 0o600


def test_host_info(host):
    with host.hv() as hv:
        h = hv.call("host_info")
        for key in ("nr_cpus", "sockets", "cores_per_socket",
                    "threads_per_core", "numa_nodes", "cpu_mhz", "total_kib",
                    "free_kib", "xen_major", "xen_minor", "xen_extra",
                    "guest_types", "max_vcpus", "arch"):
            assert key in h, key
        assert h["nr_cpus"] == (h["sockets"] * h["cores_per_socket"] *
                                h["threads_per_core"])
        assert 0 < h["free_kib"] < h["total_kib"]
        # Xen's words: the guest ABIs, the featureset of this machine's
        # cpu (the simulated host has it), in physinfo's hw_cap order.
        assert h["xen_caps"].split() == ["xen-3.0-x86_64", "hvm-3.0-x86_32",
                                         "hvm-3.0-x86_32p", "hvm-3.0-x86_64"]
        assert len(h["hw_cap"]) == 8
        flags = cpu_flags()
        if flags is not None:
            # CPUID 1.EDX bit 6 (pae), 1.ECX bit 20 (sse4.2),
            # 0x80000001.EDX bit 29 (lm), 7:0.EBX bit 5 (avx2).
            for word, bit, flag in ((0, 6, "pae"), (1, 20, "sse4_2"),
                                    (2, 29, "lm"), (5, 5, "avx2")):
                assert bool(h["hw_cap"][word] >> bit & 1) == (flag in flags), flag
            # OSXSAVE is the OS's state, left clear as Xen leaves it.
            assert not h["hw_cap"][1] >> 27 & 1
        create(hv, memkb=524288)
        assert hv.call("host_info")["free_kib"] == h["free_kib"] - 524288


def cpu_flags():
    """The flags Linux reads from this machine's cpu, or None off x86."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return None


def test_topology(host):
    """XEN_SYSCTL_cputopoinfo and numainfo, consistent with host_info."""
    with host.hv() as hv:
        h = hv.call("host_info")
        t = hv.call("topology")
        assert len(t["cpus"]) == h["nr_cpus"]
        assert len(t["nodes"]) == h["numa_nodes"] == 1
        cores = {}
        for n, cpu in enumerate(t["cpus"]):
            assert cpu["node"] == 0
            assert 0 <= cpu["socket"] < h["sockets"]
            assert 0 <= cpu["core"] < h["cores_per_socket"]
            cores.setdefault((cpu["socket"], cpu["core"]), []).append(n)
        assert len(cores) == h["sockets"] * h["cores_per_socket"]
        assert all(len(c) == h["threads_per_core"] for c in cores.values())
        node = t["nodes"][0]
        assert node["size_kib"] == h["total_kib"]
        assert node["free_kib"] == h["free_kib"]
        assert node["distances"] == [10]
        create(hv, memkb=524288)
        assert hv.call("topology")["nodes"][0]["free_kib"] == h["free_kib"] - 524288


def test_list_has_dom0(host):
    with host.hv() as hv:
        doms = hv.call("list")["domains"]
        assert [d["domid"] for d in doms] == [0]
        assert set(doms[0]) == INFO_KEYS
        assert doms[0]["running"]


def test_create_info(host):
    with host.hv() as hv:
        u = new_uuid()
        domid = create(hv, memkb=262144, vcpus=3, type="pvh", uuid=u)
        assert domid == 1
        info = hv.info(domid)
        assert set(info) == INFO_KEYS
        assert info["uuid"] == u and info["type"] == "pvh"
        assert info["paused"] and not info["running"]
        assert not info["shutdown"] and not info["dying"]
        assert info["shutdown_reason"] is None
        assert info["max_memkb"] == info["cur_memkb"] == 262144
        assert info["max_vcpus"] == info["online_vcpus"] == 3
        assert info["cpu_time_ns"] == 0
        assert hv.domids() == [0, 1]


def test_create_errors(host):
    with host.hv() as hv:
        u = new_uuid()
        create(hv, uuid=u)
        expect_error("EEXIST", create, hv, uuid=u)
        expect_error("ENOMEM", create, hv, memkb=1 << 40)
        e = expect_error("EINVAL", create, hv, type="arm")
        assert "type" in e.message
        e = expect_error("EINVAL", create, hv, uuid="not-a-uuid")
        assert "uuid" in e.message
        e = expect_error("EINVAL", hv.call, "create", uuid=new_uuid(),
                         type="pv", max_vcpus="2", max_memkb=131072)
        assert "max_vcpus" in e.message
        e = expect_error("EINVAL", hv.call, "create", uuid=new_uuid(),
                         type="pv", max_vcpus=2)
        assert "max_memkb" in e.message
        e = expect_error("EINVAL", hv.call, "create", uuid=new_uuid(),
                         type="pv", max_vcpus=2, max_memkb=131072, colour=1)
        assert "colour" in e.message
        expect_error("EINVAL", create, hv, vcpus=0)
        expect_error("ENOSYS", hv.call, "frobnicate")
        expect_error("ESRCH", hv.call, "info", domid=42)
        expect_error("ESRCH", hv.call, "unpause", domid=42)


def test_domids_increase_and_are_not_reused(host, kernel):
    with host.hv() as hv:
        seen = []
        for _ in range(5):
            domid = create(hv)
            seen.append(domid)
            hv.call("destroy", domid=domid)
        assert seen == sorted(seen) and len(set(seen)) == 5
        assert hv.domids() == [0]


def test_build(host, kernel, kernel_script, tmp_path):
    with host.hv() as hv:
        domid = create(hv)
        missing = str(tmp_path / "no-such-kernel")
        e = expect_error("ENOENT", hv.call, "build", domid=domid, kernel=missing)
        assert missing in e.message
        expect_error("EINVAL", hv.call, "build", domid=domid)
        bad = tmp_path / "bad-script"
        bad.write_text("#!xensim-guest\nfly-to-the-moon\n")
        e = expect_error("EINVAL", hv.call, "build", domid=domid, kernel=str(bad))
        assert "fly-to-the-moon" in e.message
        expect_error("EINVAL", hv.call, "unpause", domid=domid)
        hv.call("build", domid=domid, kernel=str(kernel_script("crash-after 5",
                                                               "no-balloon")))
        hv.call("build", domid=domid, kernel=str(kernel), cmdline="console=hvc0")
        # HVM needs no kernel.
        hvm = create(hv, type="hvm")
        hv.call("build", domid=hvm)


def test_pause_unpause_cpu_time(host, kernel):
    with host.hv() as hv:
        domid = boot(hv, kernel)
        info = hv.info(domid)
        assert info["running"] and not info["paused"]
        time.sleep(0.3)
        t1 = hv.info(domid)["cpu_time_ns"]
        assert t1 > 0
        hv.call("pause", domid=domid)
        info = hv.info(domid)
        assert info["paused"] and not info["running"]
        t2 = info["cpu_time_ns"]
        time.sleep(0.3)
        assert hv.info(domid)["cpu_time_ns"] == t2
        hv.call("unpause", domid=domid)
        time.sleep(0.2)
        assert hv.info(domid)["cpu_time_ns"] > t2
        expect_error("EINVAL", hv.call, "pause", domid=0)


def test_vcpu_time_per_vcpu(host, kernel_script):
    """Each vcpu has its own counter: a busy one runs flat out, an idle
    one 1% of the time, an offline one not at all; they add up to the
    domain's cpu_time_ns, and vcpu N of domain D is on cpu (D + N) % 8."""
    with host.hv() as hv:
        domid = boot(hv, kernel_script("busy-vcpu 1"), vcpus=3)
        hv.call("set_vcpus", domid=domid, online=2)
        t0 = time.monotonic()
        a = hv.call("vcpus", domid=domid)["vcpus"]
        time.sleep(0.4)
        b = hv.call("vcpus", domid=domid)["vcpus"]
        wall = time.monotonic() - t0
        total = hv.info(domid)["cpu_time_ns"]
        assert [v["vcpu"] for v in b] == [0, 1, 2]
        assert [v["online"] for v in b] == [True, True, False]
        assert [v["running"] for v in b] == [False, True, False]
        assert [v["blocked"] for v in b] == [True, False, False]
        assert [v["cpu"] for v in b] == [(domid + i) % 8 for i in range(3)]
        grown = [y["cpu_time_ns"] - x["cpu_time_ns"] for x, y in zip(a, b)]
        assert 0.4e9 <= grown[1] <= wall * 1e9
        assert 0.4e7 <= grown[0] <= wall * 1e7
        assert grown[2] == 0
        assert sum(v["cpu_time_ns"] for v in b) <= total
        # Without domid: every domain's, dom0's first.
        every = hv.call("vcpus")["vcpus"]
        assert [(v["domid"], v["vcpu"]) for v in every] == \
            [(0, 0), (0, 1), (domid, 0), (domid, 1), (domid, 2)]
        expect_error("ESRCH", hv.call, "vcpus", domid=4242)


def test_vcpu_affinity(host, kernel_script):
    """A vcpu moves to the lowest cpu of an affinity that excludes its
    own; the time it ran stays on its old cpu, what it runs next counts
    on the new one."""
    with host.hv() as hv:
        domid = boot(hv, kernel_script("busy-vcpu 0"), vcpus=2)
        old = domid % 8
        new = (old + 3) % 8
        time.sleep(0.2)
        hv.call("vcpu_affinity", domid=domid, vcpu=0, cpus=[new, 7])
        assert hv.call("vcpus", domid=domid)["vcpus"][0]["cpu"] == min(new, 7)
        # Within its affinity already: it stays.
        hv.call("vcpu_affinity", domid=domid, vcpu=1, cpus=list(range(8)))
        assert hv.call("vcpus", domid=domid)["vcpus"][1]["cpu"] == \
            (domid + 1) % 8
        a = hv.call("pcpus")["cpus"]
        time.sleep(0.3)
        b = hv.call("pcpus")["cpus"]
        assert b[min(new, 7)]["guest_ns"] - a[min(new, 7)]["guest_ns"] >= 0.3e9
        assert b[old]["guest_ns"] - a[old]["guest_ns"] < 0.05e9
        assert a[old]["guest_ns"] >= 0.2e9      # what it ran there stays
        expect_error("EINVAL", hv.call, "vcpu_affinity", domid=domid, vcpu=2,
                     cpus=[0])
        expect_error("EINVAL", hv.call, "vcpu_affinity", domid=domid, vcpu=0,
                     cpus=[])
        expect_error("EINVAL", hv.call, "vcpu_affinity", domid=domid, vcpu=0,
                     cpus=[8])
        expect_error("EINVAL", hv.call, "vcpu_affinity", domid=domid, vcpu=0,
                     cpus="0-3")


def test_pcpu_time(host, kernel_script):
    """Each physical cpu's time since the host started is what vcpus ran
    on it and idle time; the busy vcpu's cpu is not idle."""
    with host.hv() as hv:
        domid = boot(hv, kernel_script("busy-vcpu 0"), vcpus=1)
        a = hv.call("pcpus")["cpus"]
        time.sleep(0.3)
        b = hv.call("pcpus")["cpus"]
        assert [c["cpu"] for c in b] == list(range(8))
        busy = domid % 8
        assert b[busy]["guest_ns"] - a[busy]["guest_ns"] >= 0.3e9
        assert b[busy]["idle_ns"] - a[busy]["idle_ns"] < 0.01e9
        free = (busy + 4) % 8
        assert b[free]["idle_ns"] - a[free]["idle_ns"] >= 0.3e9
        # A domain gone leaves its time on its cpu.
        before = hv.call("pcpus")["cpus"][busy]["guest_ns"]
        hv.call("destroy", domid=domid)
        wait_until(lambda: domid not in hv.domids())
        assert hv.call("pcpus")["cpus"][busy]["guest_ns"] >= before


def test_notifications(host, kernel):
    with host.hv() as hv, host.hv() as sub:
        sub.call("subscribe")
        domid = create(hv)
        assert sub.wait_event() == {"event": "domain_changed", "domid": domid}
        hv.call("build", domid=domid, kernel=str(kernel))
        hv.call("unpause", domid=domid)
        assert sub.wait_event()["domid"] == domid
        hv.call("pause", domid=domid)
        assert sub.wait_event()["domid"] == domid
        hv.call("destroy", domid=domid)
        evs = sub.drain_events(0.5)
        assert evs and all(e == {"event": "domain_changed", "domid": domid}
                           for e in evs)
        assert wait_until(lambda: domid not in sub.domids())
        # Unsubscribed connections get none.
        assert hv.drain_events(0.1) == [] and hv.events == []


def test_shutdown_op_fires_release_domain(host, kernel):
    with host.hv() as hv, host.dom0() as xs:
        domid = boot(hv, kernel)
        xs.watch("@releaseDomain", "rel")
        assert xs.wait_event() == (b"@releaseDomain", b"rel")
        for reason in ("bogus", 7):
            expect_error("EINVAL", hv.call, "shutdown", domid=domid, reason=reason)
        hv.call("shutdown", domid=domid, reason="reboot")
        info = hv.info(domid)
        assert info["shutdown"] and info["shutdown_reason"] == "reboot"
        assert not info["running"]
        assert xs.wait_event() == (b"@releaseDomain", b"rel")
        # The first reason stays.
        hv.call("shutdown", domid=domid, reason="crash")
        assert hv.info(domid)["shutdown_reason"] == "reboot"
        expect_error("EINVAL", hv.call, "unpause", domid=domid)
        hv.call("destroy", domid=domid)
        assert xs.wait_event() == (b"@releaseDomain", b"rel")
        # Gone once its kernel thread has ended: dying until then.
        assert wait_until(lambda: domid not in hv.domids())


def test_destroy_closes_xenstore_connection(host, kernel):
    """A built domain's kernel reaches xenstored through its ring, and
    destroy cuts it: xenstored closes the connection (the kernel's next
    request fails) and the kernel thread ends."""
    from hvclient import Toolstack
    ts = Toolstack(host.rundir)
    try:
        domid = ts.create(kernel)
        ts.hv.call("unpause", domid=domid)
        assert wait_until(lambda: ts.read("/local/domain/%d/control/"
                                          "feature-poweroff" % domid) == "1")
        ts.hv.call("destroy", domid=domid)
        assert wait_until(lambda: domid not in ts.hv.domids())
        assert "(domain %d): closed: domain released" % domid in host.log()
    finally:
        ts.close()


def test_built_domain_has_a_ring_not_an_endpoint(host, kernel):
    """INTRODUCE of a domain the hypervisor built serves the domain's
    xenstore ring (its kernel's, as the page INTRODUCE names on Xen): no
    endpoint socket, no fd.  The kernel's xenbus waits for it.  A domid
    with no domain behind it gets an endpoint, which any number of clients
    (up to the limit) connect to as that domain."""
    with host.hv() as hv, host.dom0() as xs:
        domid = create(hv)
        hv.call("build", domid=domid, kernel=str(kernel))
        home = "/local/domain/%d" % domid
        xs.mkdir(home)
        xs.set_perms(home, ["n0", "r%d" % domid])
        xs.mkdir(home + "/control")
        xs.mkdir(home + "/control/feature-poweroff")
        xs.set_perms(home + "/control/feature-poweroff", ["n%d" % domid])
        hv.call("unpause", domid=domid)
        # Booted, but xenstored does not serve its ring yet.
        time.sleep(0.3)
        assert xs.read(home + "/control/feature-poweroff") == b""
        xs.introduce(domid)
        assert wait_until(lambda: xs.read(home + "/control/feature-poweroff")
                          == b"1")
        assert not os.path.exists(host.domain_sock(domid))
        assert xs.get_perms(home + "/control/feature-poweroff") == \
            ["n%d" % domid]
        hv.call("destroy", domid=domid)
        assert wait_until(lambda: domid not in hv.domids())

        other = domid + 100
        xs.mkdir("/local/domain/%d" % other)
        xs.set_perms("/local/domain/%d" % other, ["n%d" % other])
        xs.introduce(other)
        with XsClient(host.domain_sock(other)) as a, \
                XsClient(host.domain_sock(other)) as b:
            a.write("x", "1")
            assert b.read("x") == b"1"
            assert b.get_perms("x") == ["n%d" % other]


def test_memory_vcpus_sched(host, kernel):
    with host.hv() as hv:
        domid = create(hv, memkb=262144, vcpus=4)
        hv.call("set_max_mem", domid=domid, max_memkb=524288)
        assert hv.info(domid)["max_memkb"] == 524288
        hv.call("set_vcpus", domid=domid, online=2)
        assert hv.info(domid)["online_vcpus"] == 2
        expect_error("EINVAL", hv.call, "set_vcpus", domid=domid, online=5)
        expect_error("EINVAL", hv.call, "set_vcpus", domid=domid, online=0)
        hv.call("sched_set", domid=domid, weight=512, cap=50)
        info = hv.info(domid)
        assert (info["weight"], info["cap"]) == (512, 50)
        hv.call("sched_set", domid=domid, cap=0)
        assert hv.info(domid)["weight"] == 512
        expect_error("EINVAL", hv.call, "sched_set", domid=domid, weight=0)
        expect_error("EINVAL", hv.call, "sched_set", domid=domid, weight=70000)


def test_event_channels(host):
    with host.hv() as hv:
        a = create(hv)
        b = create(hv)
        pa = hv.call("evtchn_alloc_unbound", domid=a, remote=b)["port"]
        # Only the named remote may bind.
        c = create(hv)
        expect_error("EINVAL", hv.call, "evtchn_bind", domid=c, remote=a,
                     remote_port=pa)
        pb = hv.call("evtchn_bind", domid=b, remote=a, remote_port=pa)["port"]
        assert pb >= 1
        hv.call("evtchn_notify", domid=b, port=pb)
        hv.call("evtchn_notify", domid=a, port=pa)
        expect_error("EINVAL", hv.call, "evtchn_notify", domid=a, port=999)
        hv.call("evtchn_close", domid=b, port=pb)
        expect_error("EINVAL", hv.call, "evtchn_close", domid=b, port=pb)
        # a's end is unbound again: b may bind anew.
        hv.call("evtchn_bind", domid=b, remote=a, remote_port=pa)
        expect_error("ESRCH", hv.call, "evtchn_alloc_unbound", domid=a, remote=99)


def shm_files(host):
    """This xensimd's grant files (named /xensim-PID-DOMID-GREF): another
    xensimd may run at the same time."""
    return {f for f in os.listdir("/dev/shm")
            if f.startswith("xensim-%d-" % host.pid)}


def test_grants_and_zombie(host):
    with host.hv() as hv, host.hv() as sub:
        sub.call("subscribe")
        before = shm_files(host)
        g = create(hv)
        other = create(hv)
        r = hv.call("grant_share", domid=g, peer=0, pages=2)
        path = "/dev/shm" + r["shm"]
        assert os.path.getsize(path) == 8192
        assert r["shm"].lstrip("/") in shm_files(host)
        expect_error("EACCES", hv.call, "grant_map", domid=other, granter=g,
                     gref=r["gref"])
        expect_error("ENOENT", hv.call, "grant_map", domid=0, granter=g,
                     gref=r["gref"] + 100)
        m = hv.call("grant_map", domid=0, granter=g, gref=r["gref"])
        assert m["shm"] == r["shm"]
        # Shared memory really is shared.
        with open(path, "r+b") as f:
            f.write(b"ring")
        with open("/dev/shm" + m["shm"], "rb") as f:
            assert f.read(4) == b"ring"
        # Destroyed while dom0 maps its page: a zombie, dying but present.
        hv.call("destroy", domid=g)
        info = hv.info(g)
        assert info["dying"]
        sub.drain_events(0.2)
        hv.call("grant_unmap", domid=0, granter=g, gref=r["gref"])
        assert g not in hv.domids()
        assert sub.wait_event() == {"event": "domain_changed", "domid": g}
        expect_error("ENOENT", hv.call, "grant_unmap", domid=0, granter=g,
                     gref=r["gref"])
        assert shm_files(host) == before


def test_evtchn_watch_unmask_and_grant_end(host):
    """The toolstack's side of a channel: a dom0 port watched by one
    connection gets one evtchn event per unmask however often the peer
    notifies; grant_end takes dom0's grant and its file away even while
    the peer maps it, and the peer's mapping never holds dom0 back."""
    with host.hv() as hv, host.hv() as w, host.hv() as other:
        before = shm_files(host)
        g = create(hv)
        port0 = hv.call("evtchn_alloc_unbound", domid=0, remote=g)["port"]
        assert w.call("evtchn_watch", domid=0, port=port0) == {}
        expect_error("EBUSY", other.call, "evtchn_watch", domid=0, port=port0)
        expect_error("EINVAL", other.call, "evtchn_unmask", domid=0,
                     port=port0)
        expect_error("EINVAL", w.call, "evtchn_watch", domid=0,
                     port=port0 + 1000)
        pg = hv.call("evtchn_bind", domid=g, remote=0,
                     remote_port=port0)["port"]
        for _ in range(50):
            hv.call("evtchn_notify", domid=g, port=pg)
        ev = w.wait_event(5)
        assert ev == {"event": "evtchn", "domid": 0, "port": port0}
        # Masked until unmasked: the 49 others made no line.
        assert w.drain_events(0.3) == []
        assert w.call("evtchn_unmask", domid=0, port=port0) == {}
        hv.call("evtchn_notify", domid=g, port=pg)
        assert w.wait_event(5) == {"event": "evtchn", "domid": 0,
                                   "port": port0}

        r = hv.call("grant_share", domid=0, peer=g, pages=3)
        assert r["shm"].lstrip("/") in shm_files(host)
        hv.call("grant_map", domid=g, granter=0, gref=r["gref"])
        expect_error("ENOENT", hv.call, "grant_end", domid=0,
                     gref=r["gref"] + 100)
        assert hv.call("grant_end", domid=0, gref=r["gref"]) == {}
        assert r["shm"].lstrip("/") not in shm_files(host)
        expect_error("ENOENT", hv.call, "grant_map", domid=g, granter=0,
                     gref=r["gref"])
        # The guest dies with dom0's page mapped: it goes all the same.
        hv.call("destroy", domid=g)
        assert wait_until(lambda: g not in hv.domids())
        # Its port's end is gone; the watch ends with the connection.
        hv.call("evtchn_close", domid=0, port=port0)
        assert shm_files(host) == before


def test_guest_mapping_dropped_on_its_death(host):
    with host.hv() as hv:
        a = create(hv)
        b = create(hv)
        r = hv.call("grant_share", domid=a, peer=b, pages=1)
        hv.call("grant_map", domid=b, granter=a, gref=r["gref"])
        hv.call("destroy", domid=a)
        assert hv.info(a)["dying"]
        # The mapper dies: Xen drops its mappings, the zombie goes.
        hv.call("destroy", domid=b)
        assert hv.domids() == [0]


def test_bad_lines_close_the_connection(host):
    for junk in (b"not json\n", b"[1, 2]\n", b"\"str\"\n",
                 b"{" + b" " * 70000 + b"}\n", b"x" * 70000):
        with host.hv() as hv:
            hv.send_raw(junk)
            with pytest.raises((ConnectionError, OSError)):
                hv.recv_line(5)
    with host.hv() as hv:
        r = hv.call_raw({"op": "list"})
        assert r["error"] == "EINVAL" and r["id"] is None
        r = hv.call_raw({"id": 3, "op": 5})
        assert r == {"id": 3, "error": "EINVAL",
                     "message": "argument 'op' must be a string"}
        # Several requests in one write, answered in order.
        hv.send_raw(b'{"id": 10, "op": "list"}\n{"id": 11, "op": "nope"}\n')
        assert hv.recv_line()["id"] == 10
        assert hv.recv_line()["error"] == "ENOSYS"
    assert host.alive()


def test_stop_tears_guests_down(host, kernel):
    with host.hv() as hv:
        for _ in range(3):
            boot(hv, kernel)
        assert hv.call("stop") == {}
    host.proc.wait(10)
    assert host.proc.returncode == 0
    assert not os.path.exists(host.hv_sock)
    assert not os.path.exists(os.path.join(host.rundir, "xensimd.pid"))


def test_daemonize_returns_when_both_sockets_serve(tmp_path):
    rundir = tmp_path / "run"
    r = subprocess.run([XENSIMD, "--rundir", str(rundir), "--daemonize"],
                       timeout=20)
    assert r.returncode == 0
    pid = int((rundir / "xensimd.pid").read_text())
    try:
        # No waiting: both answer at once.
        with HvClient(str(rundir / "hypervisor.sock")) as hv:
            assert hv.domids() == [0]
        with XsClient(str(rundir / "xenstored" / "socket")) as xs:
            xs.write("/x", "1")
        # A second daemon on the same directory is refused.
        r = subprocess.run([XENSIMD, "--rundir", str(rundir)],
                           stderr=subprocess.PIPE, timeout=20)
        assert r.returncode != 0 and b"already runs" in r.stderr
    finally:
        with HvClient(str(rundir / "hypervisor.sock")) as hv:
            hv.call("stop")
        assert wait_until(lambda: not os.path.exists("/proc/%d" % pid) or
                          open("/proc/%d/stat" % pid).read().split()[2] == "Z")


def test_long_list_reply(host):
    """Requests are bounded at 64 KiB a line; replies are not."""
    with host.hv() as hv:
        for _ in range(300):
            create(hv, memkb=16384, vcpus=1)
        hv.send_raw(b'{"id": 1, "op": "list"}\n')
        while b"\n" not in hv.buf:
            hv.buf += hv.sock.recv(1 << 20)
        assert len(hv.buf) > 65536
        reply = json.loads(hv.buf.split(b"\n", 1)[0])
        assert len(reply["ok"]["domains"]) == 301


def test_random_requests_never_hurt(host, kernel):
    """Every op with arguments of every type and range: errors, never a crash."""
    import random
    rnd = random.Random(int(os.environ.get("XSIM_SEED", "1234")))
    ops = ["host_info", "topology", "create", "build", "unpause", "pause", "destroy",
           "shutdown", "info", "list", "set_max_mem", "set_vcpus", "sched_set",
           "evtchn_alloc_unbound", "evtchn_bind", "evtchn_notify",
           "evtchn_close", "grant_share", "grant_map", "grant_unmap",
           "grant_end", "evtchn_watch", "evtchn_unmask", "fault",
           "nope"]
    names = ["domid", "uuid", "type", "max_vcpus", "max_memkb", "kernel",
             "reason", "online", "weight", "cap", "remote", "remote_port",
             "port", "peer", "pages", "granter", "gref", "kind", "device",
             "seconds", "cmdline"]
    values = [None, True, -1, 0, 1, 2, 3, 2**31, 2**63 - 1, -2**63, 1.5, "",
              "pv", "hvm", str(kernel), "/etc/shadow", "crash", "poweroff",
              "vbd/51712", "kill-backend", "delay-backend", "garbage",
              str(uuidlib.uuid4()), [], {}, [1, "x"], {"a": {"b": []}}]
    with host.hv() as hv:
        # Real domains behind ids 1..3, one of them running.
        create(hv)
        create(hv, type="hvm")
        boot(hv, kernel)
        for i in range(3000):
            req = {"id": i, "op": rnd.choice(ops)}
            for _ in range(rnd.randint(0, 4)):
                req[rnd.choice(names)] = rnd.choice(values)
            r = hv.call_raw(req)
            assert r["id"] == i and ("ok" in r or "error" in r), r
    assert host.alive()
    with host.hv() as hv:
        assert 0 in hv.domids()
