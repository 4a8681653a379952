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
4. Synchronous abort against libvirt's QEMU driver, side by side: the
   same image (one 64 MiB qcow2, all of it written, copied to each side)
   and the same job, a virDomainBlockCopy to a new file throttled to
   1 MiB/s (typed param bandwidth), still running 100 ms later (no READY,
   virDomainGetBlockJobInfo shows it), then virDomainBlockJobAbort(0)
   timed from the call to its return; and, as a third side, QEMU's
   cancel alone: the same drive-mirror asked of a qemu-storage-daemon
   over QMP, block-job-cancel timed until BLOCK_JOB_CANCELLED.  R rounds
   after one of warm-up, the three alternating in one run (who goes first
   turns), median and max, ratio ours over libvirt's QEMU driver (goal:
   at most 1.0).  All three report 16 of 64 MiB copied when aborted (the
   figures printed say so): the same work in QEMU.  (With only part of
   the image written, libvirt's QEMU driver, which makes the copy's file
   itself and adds it with blockdev-add, mirrors all 64 MiB where a
   drive-mirror to a file QEMU makes skips what is unallocated: not the
   same job in QEMU.)  Every side's files are in the work directory
   (TMPDIR, /tmp by default): QEMU's cancel and both drivers' status
   saves flush to its file system, which sets most of the figure.

All ours in embedded mode (xen:///embed), the disk server a real
qemu-storage-daemon.  The QEMU side is libvirt's QEMU driver (Debian's
libvirt-daemon-driver-qemu) in embedded mode too (qemu:///embed, loaded
in a second python-libvirt process), driving a real qemu-system-x86_64
under TCG with no guest OS (it sits in SeaBIOS) and the disk on virtio:
both drivers in-process, so neither figure has an RPC round trip in it.
Run as root, libvirt's QEMU driver is privileged and refuses to start
without the libvirt-qemu user (Debian's libvirt-daemon-system creates
it; not installed here), so its process runs as `nobody` (unprivileged:
no cgroups, no relabelling, a QEMU of nobody's) with HOME and XDG_*
directories of its own in the work directory; its qemu.conf (ROOT/etc)
says stdio_handler "file", so no virtlogd is spawned.

--daemons runs (4) with both drivers in daemons instead, each client
over the daemon's socket: ours in a private libvirtd
(tools/libvirtd-private), libvirt's QEMU driver in a libvirtd of
nobody's in session mode whose module directory holds only Debian's
QEMU driver, its sockets, HOME and XDG_* in the work directory.

--abort-only runs (4) alone; --log FILE writes our driver's debug log of
(4) (log filter 1:xenvirt) to FILE and prints the median time between
the steps of our abort it shows, to see where its time goes.

Usage: bench/driver/blockjob-bench.py [--build DIR] [--mib N] [--rounds R]
                                      [--abort-only] [--daemons] [--log FILE]
"""

import argparse
import json
import os
import pwd
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]

# The runners' start: an event loop, a connection to URI whose
# block-job events (their statuses) go to seen, under lock.
RUNNER_EVENTS = r"""
import sys, threading, time, libvirt
libvirt.virEventRegisterDefaultImpl()
threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl()
                                 for _ in iter(int, 1)], daemon=True).start()
lock = threading.Condition()
seen = []
def cb(conn, dom, disk, typ, status, opaque):
    with lock:
        seen.append(status)
        lock.notify_all()
def connect(uri):
    c = libvirt.open(uri)
    c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2,
                             cb, None)
    return c
"""

RUNNER = RUNNER_EVENTS + r"""
uri, xml, mode, arg, rounds = sys.argv[1:6]
c = connect(uri)
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


# (4): one process per driver, a round each time a line "round" comes on
# stdin (anything else ends it): a throttled copy, 100 ms, the job checked
# to be running, then the synchronous abort, timed; the CANCELED event
# awaited before the figure is printed, so a round is over on both sides
# before the other one's starts.
STEP_RUNNER = RUNNER_EVENTS + r"""
uri, xml, disk, dest = sys.argv[1:5]
c = connect(uri)
d = c.createXML(open(xml).read(), 0)
print('started', flush=True)
i = 0
for line in sys.stdin:
    if line.strip() != 'round':
        break
    i += 1
    with lock:
        seen.clear()
    d.blockCopy(disk, "<disk type='file'><source file='%s.%d'/>"
                "<driver type='qcow2'/></disk>" % (dest, i),
                {libvirt.VIR_DOMAIN_BLOCK_COPY_BANDWIDTH: 1 << 20}, 0)
    time.sleep(0.1)
    info = d.blockJobInfo(disk, 0)
    with lock:
        if not info or libvirt.VIR_DOMAIN_BLOCK_JOB_READY in seen:
            sys.exit('the copy is not running 100 ms after its start: '
                     '%r, events %r' % (info, seen))
    t = time.monotonic()
    d.blockJobAbort(disk, 0)
    lat = time.monotonic() - t
    with lock:
        end = time.monotonic() + 60
        while libvirt.VIR_DOMAIN_BLOCK_JOB_CANCELED not in seen:
            if time.monotonic() > end:
                sys.exit('no CANCELED event 60 s after the abort: %r' % seen)
            lock.wait(1)
    print('%.6f %d %d' % (lat, info['cur'], info['end']), flush=True)
d.destroy()
"""


def qemu_domain_xml(work, disk):
    """A TCG guest with no OS (SeaBIOS finds nothing to boot and waits)
    and the disk on virtio."""
    f = work / "bench-qemu.xml"
    f.write_text(f"""<domain type='qemu'><name>bench</name>
  <memory unit='MiB'>64</memory>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/><target dev='vda' bus='virtio'/>
    </disk>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>""")
    return f


class Side:
    """One driver's STEP_RUNNER process."""

    def __init__(self, name, argv, env, errfile, user=None):
        self.name = name
        self.errfile = errfile
        ids = {}
        if user is not None:
            ids = dict(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
        with open(errfile, "w") as err:
            self.proc = subprocess.Popen(argv, env=env, text=True,
                                         stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=err,
                                         **ids)
        self.expect("started")

    def line(self):
        out = self.proc.stdout.readline()
        if not out:
            self.proc.wait()
            raise SystemExit(f"{self.name}: the runner ended "
                             f"({self.proc.returncode}):\n"
                             f"{Path(self.errfile).read_text()[-3000:]}")
        return out.strip()

    def expect(self, what):
        out = self.line()
        if out != what:
            raise SystemExit(f"{self.name}: {out!r}, not {what!r}")

    def round(self):
        """The latency, and the job's progress when it was aborted."""
        self.proc.stdin.write("round\n")
        self.proc.stdin.flush()
        lat, cur, end = self.line().split()
        return float(lat), int(cur), int(end)

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
                self.proc.wait(60)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()



class BareSide:
    """(4) asked of a qemu-storage-daemon directly: the same throttled
    drive-mirror, 100 ms, block-job-cancel, timed from the command until
    BLOCK_JOB_CANCELLED; what QEMU's cancel costs without a driver."""

    name = "QEMU's cancel alone"

    def __init__(self, work, src):
        self.dest = work / "copy.qcow2"
        self.i = 0
        self.server = BareServer(work, src, "cancel")

    def round(self):
        self.i += 1
        self.server.mirror(f"{self.dest}.{self.i}", speed=1 << 20)
        time.sleep(0.1)
        (job,) = self.server.command("query-block-jobs")
        if job["status"] != "running" or job["ready"]:
            raise SystemExit(f"{self.name}: the copy is not running 100 ms "
                             f"after its start: {job}")
        t = time.monotonic()
        self.server.command("block-job-cancel", device="xvda")
        self.server.wait_event("BLOCK_JOB_CANCELLED")
        return time.monotonic() - t, job["offset"], job["len"]

    def stop(self):
        self.server.stop()

def stop_qemus(d):
    """QEMUs a runner that died left behind (their pid files under @d)."""
    for pidfile in Path(d).rglob("*.pid"):
        try:
            pid = int(pidfile.read_text().strip())
            if b"qemu-system" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, 15)
        except (OSError, ValueError):
            pass


# Our abort's steps in the debug log (--log), in order.
ABORT_STEPS = (("job begun", "begun"),
               ("the disk server has the job", "job found"),
               ("asking the disk server to cancel", "cancel sent"),
               ("the disk server took the request", "cancel taken"),
               ("the abort is under way", "status saved"),
               ("block job event 2", "CANCELLED"),
               ("block job copy, status 2", "event in the driver"),
               ("abort returns", "returned"))


def abort_phases(log):
    """The median time between consecutive steps of our synchronous
    aborts in @log (the warm-up round left out), and of the whole."""
    rounds = []
    for line in Path(log).read_text().splitlines():
        step = next((i for i, (m, _) in enumerate(ABORT_STEPS) if m in line),
                    None)
        if step is None:
            continue
        t = time.mktime(time.strptime(line[:19], "%Y-%m-%d %H:%M:%S"))
        t += float(line[19:23])
        if step == 0:
            rounds.append({})
        if rounds:
            rounds[-1].setdefault(step, t)
    rounds = [r for r in rounds[1:] if len(r) == len(ABORT_STEPS)]
    if not rounds:
        return "no complete abort in the log"
    out = []
    for i in range(1, len(ABORT_STEPS)):
        d = statistics.median(r[i] - r[i - 1] for r in rounds)
        out.append(f"{ABORT_STEPS[i - 1][1]} -> {ABORT_STEPS[i][1]} "
                   f"{d * 1000:.1f}")
    whole = statistics.median(r[len(ABORT_STEPS) - 1] - r[0] for r in rounds)
    return (f"our abort's steps in the log, medians of {len(rounds)} (ms): "
            + ", ".join(out) + f"; in the log {whole * 1000:.1f}")

DEBIAN_QEMU_DRIVER = Path("/usr/lib/x86_64-linux-gnu/libvirt/"
                          "connection-driver/libvirt_driver_qemu.so")


def qemu_session_daemon(qd, env, user):
    """--daemons: a libvirtd of @user's in session mode whose module
    directory holds only Debian's QEMU driver, its socket in @qd/sock;
    returns (its process, the URI)."""
    (qd / "modules").mkdir()
    (qd / "modules" / DEBIAN_QEMU_DRIVER.name).symlink_to(DEBIAN_QEMU_DRIVER)
    (qd / "sock").mkdir()
    (qd / "libvirtd.conf").write_text(
        "# written by bench/driver/blockjob-bench.py\n"
        f'unix_sock_dir = "{qd}/sock"\n'
        'unix_sock_rw_perms = "0700"\nunix_sock_ro_perms = "0700"\n'
        'auth_unix_rw = "none"\nauth_unix_ro = "none"\n')
    ids = {}
    if user is not None:
        for n in ("modules", "sock", "libvirtd.conf"):
            os.lchown(qd / n, user.pw_uid, user.pw_gid)
        ids = dict(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
    sock = qd / "sock" / "libvirt-sock"
    with open(qd / "libvirtd.out", "w") as out:
        proc = subprocess.Popen(
            ["/usr/sbin/libvirtd", "--config", str(qd / "libvirtd.conf")],
            env=dict(env, LIBVIRT_DRIVER_DIR=str(qd / "modules")),
            stdout=out, stderr=out, **ids)
    end = time.monotonic() + 30
    while not sock.exists():
        if time.monotonic() > end or proc.poll() is not None:
            proc.kill()
            proc.wait()
            raise SystemExit("libvirt's QEMU driver's libvirtd did not "
                             "start:\n" + (qd / "libvirtd.out").read_text())
        time.sleep(0.05)
    return proc, f"qemu:///session?socket={sock}"


def ours_daemon(build, d):
    """--daemons: our plugin in a private libvirtd (tools/libvirtd-private
    start @d); returns its URI."""
    res = subprocess.run([str(TOP / "tools" / "libvirtd-private"), "start",
                          str(d), str(build)], capture_output=True,
                         text=True, timeout=120)
    if res.returncode != 0:
        raise SystemExit("our libvirtd did not start:\n" + res.stderr)
    return res.stdout.strip()

def side_by_side(a, build, work):
    image = work / "abort-image.qcow2"
    sh("qemu-img", "create", "-q", "-f", "qcow2", str(image), "64M")
    sh("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 64M", str(image))
    od, qd, bd = work / "ours", work / "qemu", work / "cancel"
    for d in (od, bd, qd / "root" / "etc", qd / "home" / "run",
              qd / "home" / "config", qd / "home" / "cache"):
        d.mkdir(parents=True)
    # The same image on every side: one file copied (the jobs run at once
    # and each side's QEMU locks its image).
    shutil.copyfile(image, od / "disk.qcow2")
    shutil.copyfile(image, qd / "disk.qcow2")
    shutil.copyfile(image, bd / "disk.qcow2")
    # No virtlogd: QEMU's output to a file (embedded: ROOT/etc/qemu.conf;
    # session: XDG_CONFIG_HOME/libvirt/qemu.conf).
    for d in (qd / "root" / "etc", qd / "home" / "config" / "libvirt"):
        d.mkdir(parents=True, exist_ok=True)
        (d / "qemu.conf").write_text(
            "# written by bench/driver/blockjob-bench.py\n"
            "stdio_handler = \"file\"\n")
    user = None
    if os.geteuid() == 0:
        user = pwd.getpwnam("nobody")
        os.chmod(work, 0o711)
        for d, dirs, files in os.walk(qd):
            for n in [d] + [os.path.join(d, x) for x in dirs + files]:
                os.chown(n, user.pw_uid, user.pw_gid)
    qenv = dict(os.environ, HOME=str(qd / "home"),
                XDG_RUNTIME_DIR=str(qd / "home" / "run"),
                XDG_CONFIG_HOME=str(qd / "home" / "config"),
                XDG_CACHE_HOME=str(qd / "home" / "cache"))
    for k in ("LIBVIRT_DRIVER_DIR", "LIBVIRT_LOG_FILTERS",
              "LIBVIRT_LOG_OUTPUTS"):
        qenv.pop(k, None)
    oenv = dict(os.environ, LIBVIRT_DRIVER_DIR=str(build / "src" / "libxl"))
    oenv.pop("XLITE_BLOCKJOB_POLL", None)
    if a.log:
        Path(a.log).unlink(missing_ok=True)    # libvirt appends
        oenv.update(LIBVIRT_LOG_FILTERS="1:xenvirt",
                    LIBVIRT_LOG_OUTPUTS=f"1:file:{Path(a.log).resolve()}")
    sides = []
    qdaemon = None
    ouri = f"xen:///embed?root={od}/root"
    quri = f"qemu:///embed?root={qd}/root"
    try:
        if a.daemons:
            ouri = ours_daemon(build, work / "lvd")
            qdaemon, quri = qemu_session_daemon(qd, qenv, user)
        sides.append(Side("ours", [
            "/usr/bin/python3", "-c", STEP_RUNNER, ouri,
            str(domain_xml(od, od / "disk.qcow2")), "xvda",
            str(od / "copy.qcow2")], oenv, work / "ours.err"))
        sides.append(Side("libvirt's QEMU driver", [
            "/usr/bin/python3", "-c", STEP_RUNNER, quri,
            str(qemu_domain_xml(qd, qd / "disk.qcow2")), "vda",
            str(qd / "copy.qcow2")], qenv, work / "qemu.err", user))
        sides.append(BareSide(bd, bd / "disk.qcow2"))
        lat = {s.name: [] for s in sides}
        progress = {s.name: [] for s in sides}
        # Round 0 on each side is a warm-up, not counted (ours starts its
        # disk server there); who goes first turns with each round.
        for i in range(a.rounds + 1):
            for s in sides[i % 3:] + sides[:i % 3]:
                x, cur, end = s.round()
                if i:
                    lat[s.name].append(x)
                    progress[s.name].append(f"{cur >> 20}/{end >> 20}")
    finally:
        for s in sides:
            s.stop()
        if qdaemon is not None:
            qdaemon.terminate()
            qdaemon.wait()
        if a.daemons:
            subprocess.run([str(TOP / "tools" / "libvirtd-private"), "stop",
                            str(work / "lvd")], capture_output=True,
                           timeout=120)
            if a.log and (work / "lvd" / "libvirtd.log").exists():
                shutil.copyfile(work / "lvd" / "libvirtd.log", a.log)
        stop_qemus(qd)
    ours_lat, qemu_lat, bare_lat = lat.values()
    om, qm = statistics.median(ours_lat), statistics.median(qemu_lat)
    bm = statistics.median(bare_lat)
    how = "through private libvirtds" if a.daemons else "embedded"
    print(f"synchronous abort of a running copy (a 64 MiB image, all "
          f"written, 1 MiB/s), {how}, {a.rounds} rounds alternating: "
          f"ours median "
          f"{om * 1000:.1f} ms, max {max(ours_lat) * 1000:.1f} ms; libvirt's "
          f"QEMU driver (qemu-system-x86_64, TCG) median {qm * 1000:.1f} ms, "
          f"max {max(qemu_lat) * 1000:.1f} ms; ratio ours/QEMU's "
          f"{om / qm:.2f} (goal: at most 1.0)")
    print(f"  QEMU's cancel alone (qemu-storage-daemon, block-job-cancel "
          f"until BLOCK_JOB_CANCELLED): median {bm * 1000:.1f} ms, max "
          f"{max(bare_lat) * 1000:.1f} ms; above it: ours "
          f"{(om - bm) * 1000:.1f} ms, libvirt's QEMU driver "
          f"{(qm - bm) * 1000:.1f} ms")
    for name, xs in lat.items():
        print(f"  {name}: " + " ".join(f"{x * 1000:.1f}" for x in xs) +
              " ms; MiB copied when aborted: " + " ".join(progress[name]))
    if a.log:
        print("  " + abort_phases(a.log))

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
    """A QMP client on @sock: returns (command, read one message); the
    events that come before a command's reply are read after it."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(sock))
    f = s.makefile("rw")
    early = []

    def read():
        return early.pop(0) if early else json.loads(f.readline())

    def command(name, **args):
        f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        f.flush()
        while True:
            m = json.loads(f.readline())
            if "return" in m:
                return m["return"]
            if "error" in m:
                raise SystemExit(f"{name}: {m['error']}")
            early.append(m)

    read()
    command("qmp_capabilities")
    return command, read


class BareServer:
    """A qemu-storage-daemon serving @src as the core's disk server
    serves a disk (the disk's node over its file, its NBD export), asked
    over QMP directly: what QEMU costs without us."""

    def __init__(self, work, src, name):
        qmp = work / f"{name}-qmp.sock"
        self.proc = subprocess.Popen(
            ["qemu-storage-daemon", "--chardev",
             f"socket,id=qmp,path={qmp},server=on,wait=off",
             "--monitor", "chardev=qmp", "--nbd-server",
             f"addr.type=unix,addr.path={work}/{name}-nbd.sock"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # The socket is there before the server listens on it.
            end = time.monotonic() + 30
            while True:
                try:
                    self.command, self.read = qmp_session(qmp)
                    break
                except (FileNotFoundError, ConnectionRefusedError):
                    if time.monotonic() > end or self.proc.poll() is not None:
                        raise
                    time.sleep(0.005)
            self.command("blockdev-add", **{
                "driver": "qcow2", "node-name": "xvda",
                "file": {"driver": "file", "filename": str(src),
                         "node-name": "xvda-file"}})
            self.command("block-export-add", type="nbd", id="xvda",
                         **{"node-name": "xvda"}, writable=True)
        except BaseException:
            self.stop()
            raise

    def mirror(self, dest, **args):
        self.command("drive-mirror", **{
            "job-id": "xvda", "device": "xvda", "target": str(dest),
            "format": "qcow2", "sync": "full", "mode": "absolute-paths"},
            **args)

    def wait_event(self, name):
        while self.read().get("event") != name:
            pass

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def bare_mirror(work, src, dest):
    """The same copy asked of a qemu-storage-daemon directly, as the core
    asks it (drive-mirror with QEMU's defaults, job-complete once READY):
    what QEMU's mirror costs without us.  Returns (to READY, the whole
    until COMPLETED)."""
    bare = BareServer(work, src, "bare")
    try:
        t = time.monotonic()
        bare.mirror(dest)
        bare.wait_event("BLOCK_JOB_READY")
        ready = time.monotonic() - t
        bare.command("job-complete", id="xvda")
        bare.wait_event("BLOCK_JOB_COMPLETED")
        return ready, time.monotonic() - t
    finally:
        bare.stop()


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


def throughput(a, build, work):
    """(1) to (3)."""
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
          f"{max(lat) * 1000:.1f} ms over {len(lat)}")
    polled = ours(build, work, small, "abort", work / "p.qcow2",
                  a.rounds, {"XLITE_BLOCKJOB_POLL": "1"})
    print(f"synchronous abort, jobs polled: median "
          f"{statistics.median(polled) * 1000:.1f} ms, max "
          f"{max(polled) * 1000:.1f} ms over {len(polled)}, ratio "
          f"{statistics.median(polled) / statistics.median(lat):.2f} "
          f"of the events' median")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(TOP / "build"))
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--abort-only", action="store_true")
    ap.add_argument("--log")
    ap.add_argument("--daemons", action="store_true")
    a = ap.parse_args()
    build = Path(a.build).resolve()
    work = Path(tempfile.mkdtemp(prefix="xvbj-"))
    try:
        if not a.abort_only:
            throughput(a, build, work)
        side_by_side(a, build, work)
    finally:
        stop_hosts(work)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
