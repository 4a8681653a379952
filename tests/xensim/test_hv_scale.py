"""200 domains through one host: nothing may leak.

Each domain gets a disk, a nic and a console, boots, completes its
handshakes, shares a grant page and an event channel with dom0, powers
off through control/shutdown, and is destroyed and cleaned up like libxl
would.  Twenty run at a time.  Threads, fds, /dev/shm files and xenstore
nodes of xensimd are printed before and after, and must be back where
they started.  "Before" is taken after one warm-up batch, which creates the
shared parents every later domain reuses (/vm, backend/<kind>, ...).
"""
import os
import time

from hvclient import wait_until

TOTAL = 200
BATCH = 20


def count_nodes(xs, path="/"):
    n = 1
    for child in xs.directory(path):
        n += count_nodes(xs, (path.rstrip("/") + "/" + child))
    return n


def resources(host, ts):
    pid = host.pid
    shm = [f for f in os.listdir("/dev/shm") if f.startswith("xensim-%d-" % pid)]
    return {
        "threads": len(os.listdir("/proc/%d/task" % pid)),
        "fds": len(os.listdir("/proc/%d/fd" % pid)),
        "shm": len(shm),
        "nodes": count_nodes(ts.xs),
        "domains": len(ts.hv.domids()),
    }


def test_200_domains_leak_nothing(host, ts, kernel, tmp_path):
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * (1 << 20))
    peak = {}

    def batch_lifecycle(n):
        batch = []
        grefs = {}
        for _ in range(n):
            domid = ts.create(kernel, memkb=65536, vcpus=1, disks=[disk], nics=1)
            ts.hv.call("unpause", domid=domid)
            batch.append(domid)
        for domid in batch:
            assert wait_until(lambda: all(
                ts.read("/local/domain/0/backend/%s/%d/%d/state" % (k, domid, d)) == "4"
                for k, d in (("vbd", 51712), ("vif", 0))) and (ts.read(
                    "/local/domain/%d/console/tty" % domid) or "").startswith("/dev/pts/")), domid
            r = ts.hv.call("grant_share", domid=domid, peer=0, pages=1)
            ts.hv.call("grant_map", domid=0, granter=domid, gref=r["gref"])
            grefs[domid] = r["gref"]
            port = ts.hv.call("evtchn_alloc_unbound", domid=domid, remote=0)["port"]
            ts.hv.call("evtchn_bind", domid=0, remote=domid, remote_port=port)
        for k, v in resources(host, ts).items():
            peak[k] = max(peak.get(k, 0), v)
        for domid in batch:
            ts.xs.write("/local/domain/%d/control/shutdown" % domid, "poweroff")
        for domid in batch:
            assert wait_until(lambda: ts.hv.info(domid)["shutdown"]), domid
            assert ts.hv.info(domid)["shutdown_reason"] == "poweroff"
            uuid = ts.hv.info(domid)["uuid"]
            ts.hv.call("destroy", domid=domid)
            # dom0 still maps its page: a zombie until the backend lets go.
            assert ts.hv.info(domid)["dying"]
            ts.hv.call("grant_unmap", domid=0, granter=domid, gref=grefs[domid])
            assert wait_until(lambda: domid not in ts.hv.domids())
            ts.cleanup(domid, uuid)

    batch_lifecycle(1)
    time.sleep(0.2)
    before = resources(host, ts)
    print("\nbefore:", before)
    started = time.monotonic()
    for _ in range(TOTAL // BATCH):
        batch_lifecycle(BATCH)

    elapsed = time.monotonic() - started
    assert wait_until(lambda: resources(host, ts) == before, timeout=10), \
        (resources(host, ts), before)
    after = resources(host, ts)
    print("peak (%d running):" % BATCH, peak)
    print("after:", after)
    print("%d domains created, booted, shut down and destroyed in %.1f s"
          % (TOTAL, elapsed))
    assert after == before
    assert peak["threads"] >= before["threads"] + BATCH
    assert host.alive()
