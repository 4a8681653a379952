#!/usr/bin/python3
"""Bulk stats benchmark: what a monitoring poll costs per domain (never a
test)

Starts N running PV guests (a blkback disk, a vif and a console each)
through a private libvirtd on one simulated host, then polls all of them
the two ways a monitoring client can, alternating, in the same run:

  bulk:       one getAllDomainStats (virsh domstats: state, cpu-total,
              balloon, vcpu, interface and block groups) for every domain;
  per domain: getInfo + blockStats + interfaceStats for each domain (the
              reference: what a client without bulk stats does, and what
              virt-manager falls back to).

For each: the wall time of a whole poll (median of the rounds) and per
domain, and the CPU time libvirtd and xensimd spent per domain; then the
ratio per domain / bulk.  The bulk figures come from more sources (every
vcpu, the guest's memory report in xenstore) than the per-domain ones.
Also times one `virsh domstats` of all the domains, as a user runs it.
Everything it started is torn down at the end.

Usage: bench/driver/stats-bench.py [--build DIR] [--domains N] [--rounds R]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchdaemon import pid_of, private_daemon

TOP = Path(__file__).resolve().parents[2]
# xensimd's fds per running guest with a disk, a vif and a console
# (docs/xensim-host.md, "Guests"; tests/xensim/test_hv_scale.py): its
# kernel thread's eventfd, the console's pty master and slave, the
# guest's end of its tap.  Its rings and its disk hold none.
FDS_PER_GUEST = 4


def guest_xml(kernel, disk, name, i):
    return f"""<domain type='xen'><name>{name}</name>
  <memory unit='MiB'>2</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64'>xen</type><kernel>{kernel}</kernel></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='phy'/><source file='{disk}'/><target dev='xvda' bus='xen'/>
    </disk>
    <interface type='ethernet'>
      <mac address='00:16:3e:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}'/>
    </interface>
  </devices>
</domain>"""


def cpu_ms(pid):
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def open_files_limit(pid):
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return int(line.split()[3])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def measure(fn, pids):
    c0 = [cpu_ms(p) for p in pids]
    t0 = time.perf_counter()
    n = fn()
    wall = time.perf_counter() - t0
    return wall, [cpu_ms(p) - c for p, c in zip(pids, c0)], n


def run(libvirt, work, daemon, uri, args):
    kernel = work / "vmlinuz"
    kernel.write_text("simulated kernel\n")
    conn = libvirt.open(uri)
    lpid = pid_of(daemon / "libvirtd.pid")
    (work / "warm.img").write_bytes(bytes(4096))
    conn.createXML(guest_xml(kernel, work / "warm.img", "warmup", 0),
                   0).destroy()
    spid = pid_of(next(daemon.rglob("xensimd.pid")))
    pids = (lpid, spid)

    n = args.domains
    nofile = open_files_limit(spid)
    room = (nofile - 200) // FDS_PER_GUEST if nofile else n
    if room < n:
        print(f"== xensimd may open {nofile} files, about {FDS_PER_GUEST} "
              f"per guest: this host holds {room} guests, not {n}")
        n = room
    print(f"== starting {n} PV guests (2 vcpus, a blkback disk, a vif, a "
          f"console)")
    t0 = time.perf_counter()
    doms = []
    for i in range(n):
        disk = work / f"d{i}.img"
        with open(disk, "wb") as f:
            f.truncate(1 << 20)
        doms.append(conn.createXML(guest_xml(kernel, disk, f"m{i}", i + 1), 0))
        if (i + 1) % 100 == 0:
            print(f"  started {i + 1}", file=sys.stderr, flush=True)
    print(f"  {n} started in {time.perf_counter() - t0:.1f} s")
    ifnames = {d.name(): f"vif{d.ID()}.0" for d in doms}

    groups = (libvirt.VIR_DOMAIN_STATS_STATE |
              libvirt.VIR_DOMAIN_STATS_CPU_TOTAL |
              libvirt.VIR_DOMAIN_STATS_BALLOON |
              libvirt.VIR_DOMAIN_STATS_VCPU |
              libvirt.VIR_DOMAIN_STATS_INTERFACE |
              libvirt.VIR_DOMAIN_STATS_BLOCK)

    def bulk():
        recs = conn.getAllDomainStats(
            groups, libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE)
        assert len(recs) == n and all("block.0.rd.reqs" in r[1] and
                                      "net.0.rx.bytes" in r[1] for r in recs)
        return len(recs)

    def per_domain():
        for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
            d.info()
            d.blockStats("xvda")
            d.interfaceStats(ifnames[d.name()])
        return n

    results = {"bulk": [], "per domain": []}
    for r in range(args.rounds):
        for name, fn in (("bulk", bulk), ("per domain", per_domain)):
            results[name].append(measure(fn, pids))

    print(f"== polling all {n}, {args.rounds} rounds each, alternating "
          f"(median)")
    med = {}
    for name, rows in results.items():
        wall = statistics.median(w for w, _, _ in rows)
        lcpu = statistics.median(c[0] for _, c, _ in rows)
        scpu = statistics.median(c[1] for _, c, _ in rows)
        med[name] = (wall, lcpu, scpu)
        print(f"  {name:10s}: {wall * 1000:8.1f} ms a poll, "
              f"{wall / n * 1e6:7.1f} us per domain; cpu per domain: "
              f"libvirtd {lcpu / n * 1000:6.1f} us, xensimd "
              f"{scpu / n * 1000:6.1f} us")
    b, p = med["bulk"], med["per domain"]
    print(f"  per domain / bulk: wall {p[0] / b[0]:.2f}x, libvirtd cpu "
          f"{p[1] / max(b[1], 1e-9):.2f}x, xensimd cpu "
          f"{p[2] / max(b[2], 1e-9):.2f}x")

    print("  bulk, one group at a time (median):")
    for gname in ("STATE", "CPU_TOTAL", "BALLOON", "VCPU", "INTERFACE",
                  "BLOCK"):
        g = getattr(libvirt, "VIR_DOMAIN_STATS_" + gname)
        walls = [measure(lambda: len(conn.getAllDomainStats(g)), pids)[0]
                 for _ in range(args.rounds)]
        print(f"    {gname.lower():10s} {statistics.median(walls) * 1000:7.1f}"
              f" ms")

    env = dict(os.environ)
    t0 = time.perf_counter()
    res = subprocess.run(["virsh", "-c", uri, "domstats"], env=env,
                         capture_output=True, text=True)
    took = time.perf_counter() - t0
    print(f"  virsh domstats of all {n}: {took * 1000:.0f} ms, "
          f"{res.stdout.count('Domain:')} records (rc {res.returncode})")

    for d in doms:
        d.destroy()
    conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(TOP / "build"))
    ap.add_argument("--domains", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    build = Path(args.build).resolve()
    os.environ["LIBVIRT_DRIVER_DIR"] = str(build / "src" / "libxl")
    os.environ["XLITE_XENSIMD"] = str(build / "src" / "xensim" / "xensimd")
    import libvirt
    libvirt.registerErrorHandler(lambda *a: None, None)

    with private_daemon(build, tmp="/tmp") as (work, daemon, uri):
        run(libvirt, work, daemon, uri, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
