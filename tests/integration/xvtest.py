"""Helpers shared by the integration suites."""

import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
PYTHON = "/usr/bin/python3"


def build_dir():
    return Path(os.environ.get("XENVIRT_BUILD_DIR", TOP / "build")).resolve()


def libvirt_tree():
    """The libvirt source tree the build was configured with, else the one
    tools/setup-deps unpacks, else None."""
    import json
    intro = build_dir() / "meson-info" / "intro-buildoptions.json"
    if intro.exists():
        for opt in json.loads(intro.read_text()):
            if opt["name"] == "libvirt_src" and opt["value"]:
                if Path(opt["value"], "tests").is_dir():
                    return Path(opt["value"])
    for cand in sorted((TOP / ".cache" / "libvirt").glob("*/src")):
        if (cand / "tests").is_dir():
            return cand
    return None


def driver_env(extra=None, leaks=True):
    env = dict(os.environ)
    env["LIBVIRT_DRIVER_DIR"] = str(build_dir() / "src" / "libxl")
    # Keep the client quiet and independent of the user's libvirt config.
    env.pop("LIBVIRT_DEFAULT_URI", None)
    # The sanitizer stage (tools/run test-asan) runs python without leak
    # detection (it leaves memory to the exit by design) and virsh and
    # libvirtd, with our plugin in them, with it.
    own = os.environ.get("XENVIRT_OWN_ASAN_OPTIONS")
    if own and leaks:
        env["ASAN_OPTIONS"] = own
    if extra:
        env.update(extra)
    return env


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def __repr__(self):
        return f"<rc={self.rc} out={self.out!r} err={self.err!r}>"


def virsh(uri, *args, readonly=False, timeout=60):
    """Run real virsh; returns a Result (never raises on failure)."""
    cmd = ["virsh", "-q"]
    if readonly:
        cmd.append("-r")
    cmd += ["-c", uri, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env=driver_env(), timeout=timeout)
    return Result(proc)


def quick_virsh(host, *args):
    """virsh on HOST (anything with a .uri) with the device timeout lowered
    to 2 s, so that a backend that never answers fails the call quickly
    (the failure path is what is tested, not the timeout's length)."""
    proc = subprocess.run(["virsh", "-q", "-c", host.uri, *args],
                          capture_output=True, text=True, timeout=120,
                          env=driver_env({"XLITE_DEVICE_TIMEOUT_MS": "2000"}))
    return Result(proc)


# The start of a python-libvirt snippet that receives events: libvirt's
# default event loop, run by a daemon thread (registered before any open).
EVENT_LOOP = """\
import threading, libvirt
libvirt.virEventRegisterDefaultImpl()
def _event_loop():
    while True:
        libvirt.virEventRunDefaultImpl()
threading.Thread(target=_event_loop, daemon=True).start()
"""


def python(code, *args, timeout=60):
    """Run a python-libvirt snippet in its own process (embedded mode allows
    one root per process, and the driver directory is read at load time)."""
    proc = subprocess.run([PYTHON, "-c", code, *args], capture_output=True,
                          text=True, env=driver_env(leaks=False),
                          timeout=timeout)
    return Result(proc)


class EmbeddedHost:
    def __init__(self, root):
        self.root = Path(root)
        self.uri = f"xen:///embed?root={self.root}"

    def virsh(self, *args, **kw):
        return virsh(self.uri, *args, **kw)


class PrivateDaemon:
    """Debian's libvirtd with our plugin, started by tools/libvirtd-private."""

    def __init__(self, workdir):
        self.dir = Path(workdir)
        self.script = TOP / "tools" / "libvirtd-private"
        self.uri = f"xen:///system?socket={self.dir}/sock/libvirt-sock"
        self.ro_uri = f"xen:///system?socket={self.dir}/sock/libvirt-sock-ro"

    def start(self):
        # Leak checks for libvirtd alone: the script gives it
        # XENVIRT_OWN_ASAN_OPTIONS (the sanitizer stage).
        subprocess.run([str(self.script), "start", str(self.dir),
                        str(build_dir())], check=True, capture_output=True,
                       text=True, timeout=60, env=driver_env(leaks=False))

    def stop(self):
        subprocess.run([str(self.script), "stop", str(self.dir)],
                       check=True, timeout=60)
        stop_simulated_hosts(self.dir)

    @property
    def pid(self):
        return int((self.dir / "libvirtd.pid").read_text())

    def log(self):
        return (self.dir / "libvirtd.log").read_text(errors="replace")

    def virsh(self, *args, readonly=False, **kw):
        return virsh(self.ro_uri if readonly else self.uri, *args,
                     readonly=readonly, **kw)

    @property
    def sim_rundir(self):
        """The run directory of the simulated host this daemon started."""
        return sim_rundir(self.dir / "root")


def sim_rundir(root):
    """The run directory of the simulated host of a driver root (an
    embedded root, or a private daemon's root/)."""
    return Path(root) / "run" / "xenvirt" / "xensim"


def simctl(rundir, *args, timeout=30):
    """xensimctl of this build on the simulated host of @rundir."""
    return subprocess.run([str(build_dir() / "tools" / "xensimctl"),
                           "--rundir", str(rundir), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def sim_domains(rundir):
    """The simulated host's domains but dom0, as `xensimctl list` shows
    them: {name: (domid, state flags)}."""
    res = simctl(rundir, "list")
    assert res.returncode == 0, res.stderr
    doms = {}
    for line in res.stdout.splitlines()[1:]:
        f = line.split()
        if f and f[0] != "Domain-0":
            doms[f[0]] = (int(f[1]), f[4] if len(f) > 4 else "")
    return doms


def pv_guest_xml(tmp, name, vcpus=2, memory_mib=128, disk_driver="phy",
                 script_lines=(), disk_mib=1):
    """The XML of a simulated PV guest NAME with a disk (a DISK_MIB MiB
    file, xvda) and an ethernet NIC; its kernel is a guest script of
    SCRIPT_LINES (docs/xensim-host.md), written under TMP."""
    kernel = Path(tmp) / f"{name}.kernel"
    kernel.write_text("#!xensim-guest\n" +
                      "".join(f"{line}\n" for line in script_lines))
    disk = Path(tmp) / f"{name}.img"
    disk.write_bytes(b"\0" * disk_mib * 1024 * 1024)
    return textwrap.dedent(f"""\
        <domain type='xen'>
          <name>{name}</name>
          <memory unit='MiB'>{memory_mib}</memory>
          <vcpu>{vcpus}</vcpu>
          <os>
            <type arch='x86_64'>xen</type>
            <kernel>{kernel}</kernel>
          </os>
          <devices>
            <disk type='file' device='disk'>
              <driver name='{disk_driver}'/>
              <source file='{disk}'/>
              <target dev='xvda' bus='xen'/>
            </disk>
            <interface type='ethernet'>
              <mac address='00:16:3e:00:00:{len(name):02x}'/>
            </interface>
          </devices>
        </domain>""")


def wait_for(cond, timeout=20):
    """Polls cond() until it is true or timeout seconds pass; its last
    answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def stop_simulated_hosts(under):
    """Stop every xensimd whose run directory is below @under, and the
    disk servers of its domains.

    The driver starts a simulated host for each root on demand, and the
    host outlives the client, like a real host outlives its toolstack: a
    test that made a root stops its host, by the pid file xensimd keeps."""
    stopped = []
    pidfiles = list(Path(under).rglob("xensimd.pid"))
    # Below a deep root the host's directory is a link to a short one
    # (its sockets could not be named below the root); rglob does not
    # follow links.
    pidfiles += [link / "xensimd.pid" for link in Path(under).rglob("xensim")
                 if link.is_symlink()]
    # The disk servers the driver started for the host's domains go with
    # the host (as its domains do).
    pidfiles += list(Path(under).rglob("qsd/*/pid"))
    for pidfile in pidfiles:
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        stopped.append(pid)
    deadline = time.monotonic() + 10
    for pid in stopped:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)
        else:
            os.kill(pid, signal.SIGKILL)
    return stopped
