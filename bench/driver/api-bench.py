#!/usr/bin/python3
"""Driver benchmarks, measured side by side in one run (never a test).

1. API calls per second (getInfo, XMLDesc, listAllDomains) on one running
   domain, Xenvirt in embedded mode against libvirt's test:///default
   driver doing the same calls, in alternating rounds; the ratio is
   Xenvirt's rate over test's.
2. define + start + destroy + undefine cycles per second, the same way.
3. With N running domains on one simulated host behind a private libvirtd:
   the time of listAllDomains + info() for all, and libvirtd's resident
   memory per domain.

Usage: bench/driver/api-bench.py [--build DIR] [--rounds R] [--calls C]
                                 [--cycles K] [--domains N]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]


def guest_xml(workdir, name):
    kernel = workdir / "vmlinuz"
    if not kernel.exists():
        kernel.write_text("simulated kernel\n")
    # Small guests: a thousand of them fit the simulated host's memory.
    return f"""<domain type='xen'><name>{name}</name>
  <memory unit='MiB'>8</memory>
  <os><type arch='x86_64'>xen</type><kernel>{kernel}</kernel></os>
</domain>"""


TEST_XML = """<domain type='test'><name>{name}</name>
  <memory unit='MiB'>32</memory><os><type>hvm</type></os></domain>"""


def rate(fn, n):
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t)


def paired(label, a, b, rounds, n):
    ra, rb = [], []
    for _ in range(rounds):
        ra.append(rate(a, n))
        rb.append(rate(b, n))
    ratios = [x / y for x, y in zip(ra, rb)]
    print(f"{label:28s} xenvirt {statistics.median(ra):10.0f}/s   "
          f"test {statistics.median(rb):10.0f}/s   "
          f"ratio {statistics.median(ratios):5.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f})")


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def stop_sims(under):
    for pidfile in Path(under).rglob("xensimd.pid"):
        try:
            os.kill(int(pidfile.read_text()), 15)
        except (ProcessLookupError, ValueError):
            pass


def scale(libvirt, build, work, ndomains):
    print(f"\n== 3. {ndomains} running domains behind a private libvirtd")
    daemon = work / "d"
    subprocess.run([str(TOP / "tools" / "libvirtd-private"), "start",
                    str(daemon), str(build)], check=True, capture_output=True)
    try:
        conn = libvirt.open(f"xen:///system?socket={daemon}/sock/libvirt-sock")
        pid = int((daemon / "libvirtd.pid").read_text())
        conn.createXML(guest_xml(work, "warmup"), 0).destroy()
        before = rss_kib(pid)
        t = time.perf_counter()
        for i in range(ndomains):
            conn.createXML(guest_xml(work, f"s{i}"), 0)
        started = time.perf_counter() - t
        after = rss_kib(pid)
        t = time.perf_counter()
        doms = conn.listAllDomains()
        for d in doms:
            d.info()
        listing = time.perf_counter() - t
        print(f"started {len(doms)} domains in {started:.1f} s "
              f"({len(doms) / started:.0f}/s)")
        print(f"listAllDomains + info() for all: {listing * 1000:.0f} ms "
              f"({listing / len(doms) * 1e6:.0f} us per domain)")
        print(f"libvirtd resident memory: {before} KiB -> {after} KiB, "
              f"{(after - before) / max(1, len(doms)):.1f} KiB per domain")
        for d in doms:
            d.destroy()
        conn.close()
    finally:
        subprocess.run([str(TOP / "tools" / "libvirtd-private"), "stop",
                        str(daemon)], capture_output=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(TOP / "build"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--domains", type=int, default=1000)
    ap.add_argument("--scale-only", action="store_true",
                    help=argparse.SUPPRESS)
    args = ap.parse_args()

    build = Path(args.build).resolve()
    os.environ["LIBVIRT_DRIVER_DIR"] = str(build / "src" / "libxl")
    import libvirt
    libvirt.registerErrorHandler(lambda *a: None, None)
    libvirt.virEventRegisterDefaultImpl()

    work = Path(tempfile.mkdtemp(prefix="xvb-"))
    if args.scale_only:
        try:
            return scale(libvirt, build, work, args.domains)
        finally:
            stop_sims(work)
            time.sleep(0.5)
            shutil.rmtree(work, ignore_errors=True)
    try:
        xv = libvirt.open(f"xen:///embed?root={work}/root")
        tst = libvirt.open("test:///default")
        d_xv = xv.createXML(guest_xml(work, "bench"), 0)
        d_t = tst.lookupByName("test")

        print(f"== 1. API calls per second ({args.rounds} rounds of "
              f"{args.calls} calls each, median)")
        paired("getInfo", d_xv.info, d_t.info, args.rounds, args.calls)
        paired("XMLDesc", lambda: d_xv.XMLDesc(0), lambda: d_t.XMLDesc(0),
               args.rounds, args.calls)
        paired("listAllDomains", xv.listAllDomains, tst.listAllDomains,
               args.rounds, args.calls)
        d_xv.destroy()

        print(f"\n== 2. define+start+destroy+undefine cycles per second "
              f"({args.rounds} rounds of {args.cycles})")
        counter = [0]

        def cycle(conn, xml):
            counter[0] += 1
            d = conn.defineXML(xml.format(name=f"c{counter[0]}"))
            d.create()
            d.destroy()
            d.undefine()

        xv_xml = guest_xml(work, "{name}")
        paired("define/start/destroy/undef", lambda: cycle(xv, xv_xml),
               lambda: cycle(tst, TEST_XML), args.rounds, args.cycles)
        xv.close()
        tst.close()

        # In a process of its own: this one has loaded the embedded driver,
        # which would claim the xen:///system URI for itself.
        sys.stdout.flush()
        subprocess.run([sys.executable, __file__, "--build", str(build),
                        "--domains", str(args.domains), "--scale-only"])
    finally:
        stop_sims(work)
        time.sleep(0.5)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
