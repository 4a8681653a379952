#!/usr/bin/python3
"""Scale benchmark: does a start cost the same on a full host? (never a test)

Starts N domains, one after the other, through a private libvirtd
(tools/libvirtd-private) on one simulated host, and prints the start rate
of every hundred.  The reference is measured in the same run: the first
hundred, started on an almost empty host.  The ratio of each hundred's
rate to the first's says whether the cost of a start grows with the
number of domains the host runs (1.00: it does not).  Then, with all N
running: listAllDomains + info() for all, libvirtd's and xensimd's
resident memory per domain, and the destroy rate of the first and the
last hundred destroyed (the host emptying).  Everything it started is
torn down at the end.

The guests are PV with a console (a guest kernel thread in xensimd, the
console's backend and pty): three of xensimd's fds each (the inventory
is in docs/xensim-host.md), measured over the first hundred, and one of
the machine's ptys, as xenconsoled takes one per console.  Where the
open-files limit or the kernel's pty limit (kernel.pty.max, 4096 by
default, shared by the whole machine: PTY_SPARE are left to others)
cannot hold N of those, fewer are started and the benchmark says so.
--paused-hvm starts device-less HVM domains paused instead (no kernel
runs, no console: no pty, no fd): the toolstack does the same work for
the domain itself (name, hypervisor domain, xenstore home, stored
config, events), so its cost per domain is still what is measured.

Usage: bench/driver/scale-bench.py [--build DIR] [--domains N] [--step S]
                                   [--memory-mib M] [--paused-hvm]
"""

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
# Room kept in xensimd's open-files limit beyond its domains' fds.
FDS_SPARE = 200
# The machine's ptys left to everybody else (terminals, other tests).
PTY_SPARE = 512


def guest_xml(kernel, name, mib, hvm=False):
    if hvm:
        os_xml = "<os><type arch='x86_64'>hvm</type></os>"
    else:
        os_xml = (f"<os><type arch='x86_64'>xen</type><kernel>{kernel}"
                  f"</kernel></os>")
    return f"""<domain type='xen'><name>{name}</name>
  <memory unit='MiB'>{mib}</memory>
  {os_xml}
</domain>"""


def rss_kib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pid_of(pidfile):
    try:
        return int(Path(pidfile).read_text())
    except (OSError, ValueError):
        return 0


def cpu_ms(pid):
    """The process's user + system CPU time so far, in ms."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def open_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def pty_room():
    """How many more ptys this machine may open, PTY_SPARE kept back."""
    try:
        top = int(Path("/proc/sys/kernel/pty/max").read_text())
        used = int(Path("/proc/sys/kernel/pty/nr").read_text())
    except (OSError, ValueError):
        return None
    return max(0, top - used - PTY_SPARE)


def open_files_limit(pid):
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return int(line.split()[3])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def log_tail(path, n=15):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return
    print(f"--- the last lines of {path}:")
    for line in lines[-n:]:
        print("   ", line)


def report(label, rates, cpus, step):
    """One line per step, then the last step's rate over the first's.

    The CPU time libvirtd and xensimd spent per start says the same as
    the rate, without the noise of a shared machine (waiting for a core
    is not in it)."""
    first = rates[0]
    for i, (r, c) in enumerate(zip(rates, cpus)):
        print(f"  {label} {i * step + 1:5d}-{(i + 1) * step:5d}: "
              f"{r:7.1f}/s  ({r / first:4.2f} of the first {step})   "
              f"cpu per {label}: libvirtd {c[0]:5.1f} ms, "
              f"xensimd {c[1]:5.1f} ms")
    ratios = [r / first for r in rates]
    print(f"  {label}: last {step} / first {step} = {ratios[-1]:.2f} "
          f"(min {min(ratios):.2f}, median {statistics.median(ratios):.2f})")
    for j, who in enumerate(("libvirtd", "xensimd")):
        if cpus[0][j] > 0:
            print(f"  cpu per {label}, {who}: last {step} / first {step} = "
                  f"{cpus[-1][j] / cpus[0][j]:.2f}")


def run(libvirt, build, work, args):
    daemon = work / "d"
    kernel = work / "vmlinuz"
    kernel.write_text("simulated kernel\n")
    subprocess.run([str(TOP / "tools" / "libvirtd-private"), "start",
                    str(daemon), str(build)], check=True,
                   capture_output=True)
    conn = libvirt.open(f"xen:///system?socket={daemon}/sock/libvirt-sock")
    lpid = pid_of(daemon / "libvirtd.pid")
    spids = list(daemon.rglob("xensimd.pid"))
    spid = pid_of(spids[0]) if spids else 0
    hvm = args.paused_hvm
    flags = libvirt.VIR_DOMAIN_START_PAUSED if hvm else 0
    conn.createXML(guest_xml(kernel, "warmup", args.memory_mib, hvm),
                   flags).destroy()
    lbefore, sbefore = rss_kib(lpid), rss_kib(spid)

    n, step = args.domains, args.step
    ptys = None if hvm else pty_room()
    if ptys is not None and ptys // step * step < n:
        print(f"== the machine may open {ptys + PTY_SPARE} more ptys "
              f"(kernel.pty.max), one per console: this host holds "
              f"{ptys // step * step} PV guests, not {n}")
        n = ptys // step * step
    if n < step:
        raise SystemExit("no room for a hundred guests")
    print(f"== starting {n} "
          f"{'device-less HVM domains, paused' if hvm else 'PV guests with a console'}"
          f" of {args.memory_mib} MiB, rate per {step}")
    rates, cpus = [], []
    fds0, nofile = open_fds(spid), open_files_limit(spid)
    lfds0 = open_fds(lpid)
    paused = 0.0
    t0 = t = time.perf_counter()
    c = (cpu_ms(lpid), cpu_ms(spid))
    i = 0
    while i < n:
        conn.createXML(guest_xml(kernel, f"s{i}", args.memory_mib, hvm),
                       flags)
        i += 1
        if i % step:
            continue
        now = time.perf_counter()
        cnow = (cpu_ms(lpid), cpu_ms(spid))
        rates.append(step / (now - t))
        cpus.append(((cnow[0] - c[0]) / step, (cnow[1] - c[1]) / step))
        print(f"  started {i:5d} ({rates[-1]:.1f}/s)",
              file=sys.stderr, flush=True)
        if i == step:
            # What a domain costs xensimd in fds (docs/xensim-host.md),
            # once its kernel and console are up: where root cannot
            # raise the hard limit, that bounds the host.
            time.sleep(1)
            paused = time.perf_counter() - now
            per = (open_fds(spid) - fds0) / step
            room = (nofile - fds0 - FDS_SPARE) / per if nofile and per else n
            room = int(room) // step * step
            print(f"== xensimd: {per:.2f} fds per domain, {nofile} at most:"
                  f" room for {room} domains")
            if room < n:
                print(f"== this host holds {room} domains, not {n}")
                n = room
        t, c = time.perf_counter(), (cpu_ms(lpid), cpu_ms(spid))
    total = time.perf_counter() - t0 - paused
    report("start", rates, cpus, step)
    print(f"  {n} started in {total:.1f} s ({n / total:.1f}/s)")

    lafter, safter = rss_kib(lpid), rss_kib(spid)
    lfds, sfds = open_fds(lpid), open_fds(spid)
    t = time.perf_counter()
    doms = conn.listAllDomains()
    for d in doms:
        d.info()
    listing = time.perf_counter() - t
    print(f"== with {len(doms)} running")
    print(f"  listAllDomains + info() for all: {listing * 1000:.0f} ms "
          f"({listing / max(1, len(doms)) * 1e6:.0f} us per domain)")
    print(f"  libvirtd resident memory: {lbefore} KiB -> {lafter} KiB, "
          f"{(lafter - lbefore) / max(1, n):.1f} KiB per domain")
    print(f"  xensimd resident memory: {sbefore} KiB -> {safter} KiB, "
          f"{(safter - sbefore) / max(1, n):.1f} KiB per domain")
    print(f"  open fds: libvirtd {lfds0} -> {lfds} "
          f"({(lfds - lfds0) / max(1, n):.2f} per domain), xensimd {fds0} -> "
          f"{sfds} ({(sfds - fds0) / max(1, n):.2f} per domain, limit "
          f"{nofile})")

    drates, dcpus = [], []
    t = time.perf_counter()
    c = (cpu_ms(lpid), cpu_ms(spid))
    for i, d in enumerate(doms):
        d.destroy()
        if (i + 1) % step == 0:
            now = time.perf_counter()
            cnow = (cpu_ms(lpid), cpu_ms(spid))
            drates.append(step / (now - t))
            dcpus.append(((cnow[0] - c[0]) / step, (cnow[1] - c[1]) / step))
            t, c = now, cnow
    print(f"== destroying them (the first {step} on the full host, the last "
          f"on an almost empty one), rate per {step}")
    if drates:
        print(f"  destroy first {step}: {drates[0]:.1f}/s (cpu libvirtd "
              f"{dcpus[0][0]:.1f} ms, xensimd {dcpus[0][1]:.1f} ms), last "
              f"{step}: {drates[-1]:.1f}/s (cpu libvirtd {dcpus[-1][0]:.1f} "
              f"ms, xensimd {dcpus[-1][1]:.1f} ms); rate last / first = "
              f"{drates[-1] / drates[0]:.2f}")
    left = conn.listAllDomains()
    print(f"  domains left: {len(left)}")
    conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(TOP / "build"))
    ap.add_argument("--domains", type=int, default=1000)
    ap.add_argument("--step", type=int, default=100)
    ap.add_argument("--paused-hvm", action="store_true",
                    help="device-less HVM domains started paused (no "
                    "kernel, no console: no pty and no fd in xensimd)")
    ap.add_argument("--memory-mib", type=int, default=2,
                    help="each guest's memory (5,000 of 2 MiB fit the "
                    "simulated host's default 16 GiB)")
    args = ap.parse_args()
    if args.domains < args.step or args.step < 1:
        ap.error("--domains must be at least --step")

    build = Path(args.build).resolve()
    os.environ["LIBVIRT_DRIVER_DIR"] = str(build / "src" / "libxl")
    # The simulated host of the same build (libvirtd inherits this).
    os.environ["XLITE_XENSIMD"] = str(build / "src" / "xensim" / "xensimd")
    import libvirt
    libvirt.registerErrorHandler(lambda *a: None, None)

    # Short: the simulated host's sockets live below it.
    work = Path(tempfile.mkdtemp(prefix="xvs-", dir="/tmp"))
    try:
        run(libvirt, build, work, args)
    except libvirt.libvirtError as e:
        print(f"== failed: {e}")
        for log in work.rglob("xensimd.log"):
            log_tail(log)
        log_tail(work / "d" / "libvirtd.log")
        return 1
    finally:
        subprocess.run([str(TOP / "tools" / "libvirtd-private"), "stop",
                        str(work / "d")], capture_output=True)
        for pidfile in work.rglob("xensimd.pid"):
            pid = pid_of(pidfile)
            if pid:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                for _ in range(100):
                    if not Path(f"/proc/{pid}").exists():
                        break
                    time.sleep(0.1)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
