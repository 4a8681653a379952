#!/usr/bin/python3
"""Block-job benchmarks, measured side by side in one run (never a test).

1. Copy: virDomainBlockCopy of a qcow2 disk with N MiB of data, from the
   call until the copy is ready (the READY event), then the synchronous
   pivot; against `qemu-img convert -O qcow2` of the same image.  The
   ratio is the throughput of ours over qemu-img's (goal: at least 0.9).
2. Pull: virDomainBlockPull of an empty top image over a base with N MiB
   of data, until COMPLETED; against `qemu-img convert` of the base.
3. Synchronous abort: the time of virDomainBlockJobAbort(0) on a ready
   copy, until it returns (its CANCELED event queued), median of R; then
   the same with the jobs polled (XLITE_BLOCKJOB_POLL=1, the fallback for
   a server without job events, docs/blockjobs.md), and the ratio.

All in embedded mode (xen:///embed), the disk server a real
qemu-storage-daemon.  libvirt's QEMU driver on a real QEMU is the
reference DESIGN.md names for (3); it does not start on this machine as
root without the libvirt-qemu user (Debian's libvirt-daemon-system
creates it), so (3) prints our figure alone.

Usage: bench/driver/blockjob-bench.py [--build DIR] [--mib N] [--rounds R]
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]

RUNNER = r"""
import sys, threading, time, libvirt
uri, xml, mode, arg, rounds = sys.argv[1:6]
libvirt.virEventRegisterDefaultImpl()
threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl()
                                 for _ in iter(int, 1)], daemon=True).start()
c = libvirt.open(uri)
lock = threading.Condition()
seen = []
def cb(conn, dom, disk, typ, status, opaque):
    with lock:
        seen.append(status)
        lock.notify_all()
c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2, cb, None)
def wait_for(status):
    with lock:
        while status not in seen:
            lock.wait(60)
        seen.clear()
d = c.createXML(open(xml).read(), 0)
out = []
if mode == 'copy':
    # Twice on the same domain: the first copy starts the disk server,
    # the second finds it running.  Each: the whole (call to pivoted),
    # then its phases (the call, until READY, the pivot).
    for i in range(2):
        t = time.monotonic()
        d.blockCopy('xvda', "<disk type='file'><source file='%s.%d'/>"
                    "<driver type='qcow2'/></disk>" % (arg, i), None, 0)
        t1 = time.monotonic()
        wait_for(libvirt.VIR_DOMAIN_BLOCK_JOB_READY)
        t2 = time.monotonic()
        d.blockJobAbort('xvda', libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
        t3 = time.monotonic()
        out += [t3 - t, t1 - t, t2 - t1, t3 - t2]
elif mode == 'pull':
    t = time.monotonic()
    d.blockPull('xvda', 0, 0)
    wait_for(libvirt.VIR_DOMAIN_BLOCK_JOB_COMPLETED)
    out.append(time.monotonic() - t)
else:
    for i in range(int(rounds)):
        d.blockCopy('xvda', "<disk type='file'><source file='%s.%d'/>"
                    "<driver type='qcow2'/></disk>" % (arg, i), None, 0)
        wait_for(libvirt.VIR_DOMAIN_BLOCK_JOB_READY)
        t = time.monotonic()
        d.blockJobAbort('xvda', 0)
        out.append(time.monotonic() - t)
        wait_for(libvirt.VIR_DOMAIN_BLOCK_JOB_CANCELED)
d.destroy()
print(' '.join('%.6f' % x for x in out))
"""


def sh(*args):
    subprocess.run(args, check=True, capture_output=True, timeout=600)


def domain_xml(work, disk):
    kernel = work / "vmlinuz"
    kernel.write_text("simulated kernel\n")
    f = work / "bench.xml"
    f.write_text(f"""<domain type='xen'><name>bench</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64'>xen</type><kernel>{kernel}</kernel></os>
  <devices><disk type='file' device='disk'>
    <driver name='qemu' type='qcow2'/>
    <source file='{disk}'/><target dev='xvda' bus='xen'/>
  </disk></devices>
</domain>""")
    return f


def ours(build, work, disk, mode, arg, rounds=1, extra_env=None):
    env = dict(os.environ, LIBVIRT_DRIVER_DIR=str(build / "src" / "libxl"))
    env.pop("XLITE_BLOCKJOB_POLL", None)
    env.update(extra_env or {})
    uri = f"xen:///embed?root={work}/root"
    xml = domain_xml(work, disk)
    res = subprocess.run(["/usr/bin/python3", "-c", RUNNER, uri, str(xml),
                          mode, str(arg), str(rounds)], capture_output=True,
                         text=True, env=env, timeout=900)
    if res.returncode != 0:
        raise SystemExit(res.stderr)
    return [float(x) for x in res.stdout.split()]


def qmp_session(sock):
    """A QMP client on @sock: returns (command, read one message)."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(sock))
    f = s.makefile("rw")

    def read():
        return json.loads(f.readline())

    def command(name, **args):
        f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        f.flush()
        while True:
            m = read()
            if "return" in m:
                return m["return"]
            if "error" in m:
                raise SystemExit(f"{name}: {m['error']}")

    read()
    command("qmp_capabilities")
    return command, read


def bare_mirror(work, src, dest):
    """The same copy asked of a qemu-storage-daemon directly, as the core
    asks it (the disk's node over its file, its NBD export, drive-mirror
    with QEMU's defaults, job-complete once READY): what QEMU's mirror
    costs without us.  Returns (to READY, the whole until COMPLETED)."""
    qmp = work / "bare-qmp.sock"
    p = subprocess.Popen(["qemu-storage-daemon", "--chardev",
                          f"socket,id=qmp,path={qmp},server=on,wait=off",
                          "--monitor", "chardev=qmp", "--nbd-server",
                          f"addr.type=unix,addr.path={work}/bare-nbd.sock"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not qmp.exists():
            time.sleep(0.005)
        command, read = qmp_session(qmp)
        command("blockdev-add", **{
            "driver": "qcow2", "node-name": "xvda",
            "file": {"driver": "file", "filename": str(src),
                     "node-name": "xvda-file"}})
        command("block-export-add", type="nbd", id="xvda",
                **{"node-name": "xvda"}, writable=True)
        t = time.monotonic()
        command("drive-mirror", **{"job-id": "xvda", "device": "xvda",
                                   "target": str(dest), "format": "qcow2",
                                   "sync": "full", "mode": "absolute-paths"})
        while read().get("event") != "BLOCK_JOB_READY":
            pass
        ready = time.monotonic() - t
        command("job-complete", id="xvda")
        while read().get("event") != "BLOCK_JOB_COMPLETED":
            pass
        return ready, time.monotonic() - t
    finally:
        p.terminate()
        p.wait()


def timed(*args):
    t = time.monotonic()
    sh(*args)
    return time.monotonic() - t


def stop_hosts(work):
    for pidfile in Path(work).rglob("xensimd.pid"):
        try:
            os.kill(int(pidfile.read_text().strip()), 15)
        except (OSError, ValueError):
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(TOP / "build"))
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=9)
    a = ap.parse_args()
    build = Path(a.build).resolve()
    work = Path(tempfile.mkdtemp(prefix="xvbj-"))
    try:
        src = work / "src.qcow2"
        sh("qemu-img", "create", "-q", "-f", "qcow2", str(src),
           f"{a.mib * 2}M")
        sh("qemu-io", "-f", "qcow2", "-c", f"write -P 0x5a 0 {a.mib}M",
           str(src))

        ref = timed("qemu-img", "convert", "-O", "qcow2", str(src),
                    str(work / "ref.qcow2"))
        bare_ready, bare = bare_mirror(work, src, work / "bare.qcow2")
        phases = ours(build, work, src, "copy", work / "copy.qcow2")
        print(f"qemu-img convert {a.mib / ref:.0f} MiB/s ({ref:.2f} s); "
              f"QEMU's mirror alone (qemu-storage-daemon, drive-mirror, "
              f"job-complete) {a.mib / bare:.0f} MiB/s ({bare:.2f} s, "
              f"READY at {bare_ready:.2f} s), ratio {ref / bare:.2f}")
        for i, what in enumerate(("first copy (starts the disk server)",
                                  "second copy (server running)")):
            copy, call, ready, pivot = phases[4 * i:4 * i + 4]
            print(f"{what}, {a.mib} MiB: ours {a.mib / copy:.0f} MiB/s "
                  f"({copy:.2f} s: call {call * 1000:.0f} ms, to READY "
                  f"{ready:.2f} s, pivot {pivot * 1000:.0f} ms), ratio "
                  f"{ref / copy:.2f} of qemu-img convert, "
                  f"{bare / copy:.2f} of QEMU's mirror alone")

        top = work / "top.qcow2"
        sh("qemu-img", "create", "-q", "-f", "qcow2", "-b", str(src), "-F",
           "qcow2", str(top))
        ref = timed("qemu-img", "convert", "-O", "qcow2", str(src),
                    str(work / "ref2.qcow2"))
        (pull,) = ours(build, work, top, "pull", "")
        print(f"pull {a.mib} MiB: ours {a.mib / pull:.0f} MiB/s "
              f"({pull:.2f} s), qemu-img convert {a.mib / ref:.0f} MiB/s "
              f"({ref:.2f} s), ratio {ref / pull:.2f}")

        small = work / "small.qcow2"
        sh("qemu-img", "create", "-q", "-f", "qcow2", str(small), "64M")
        sh("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 4M", str(small))
        lat = ours(build, work, small, "abort", work / "a.qcow2", a.rounds)
        print(f"synchronous abort of a ready copy: median "
              f"{statistics.median(lat) * 1000:.1f} ms, max "
              f"{max(lat) * 1000:.1f} ms over {len(lat)} "
              f"(libvirt's QEMU driver: not measured here, see the header)")
        polled = ours(build, work, small, "abort", work / "p.qcow2",
                      a.rounds, {"XLITE_BLOCKJOB_POLL": "1"})
        print(f"synchronous abort, jobs polled: median "
              f"{statistics.median(polled) * 1000:.1f} ms, max "
              f"{max(polled) * 1000:.1f} ms over {len(polled)}, ratio "
              f"{statistics.median(polled) / statistics.median(lat):.2f} "
              f"of the events' median")
    finally:
        stop_hosts(work)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
