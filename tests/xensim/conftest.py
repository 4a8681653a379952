"""Fixtures for the xensim xenstored tests.

Each test gets its own xensimd in a temporary run directory, started in the
foreground and stopped by its pid at the end.  The build directory comes
from XENVIRT_BUILD_DIR (default: <repo>/build).
"""
import os
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from xsclient import XsClient, wait_for_socket  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("XENVIRT_BUILD_DIR", os.path.join(REPO, "build"))
XENSIMD = os.path.join(BUILD, "src", "xensim", "xensimd")


class Xensimd:
    def __init__(self, rundir, args=(), prefix=()):
        """@prefix: a command that execs xensimd in place (nsenter), so
        that the process is still xensimd's."""
        self.rundir = str(rundir)
        self.sock = os.path.join(self.rundir, "xenstored", "socket")
        self.proc = subprocess.Popen(
            [*prefix, XENSIMD, "--rundir", self.rundir, "--foreground",
             "--verbose", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_socket(self.sock, self.proc)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def dom0(self):
        return XsClient(self.sock)

    def domain_sock(self, domid):
        return os.path.join(self.rundir, "xenstored", "domain", "%d.sock" % domid)

    def guest(self, domid):
        """Connect as a guest; introduce it first (with its home) if needed."""
        if not os.path.exists(self.domain_sock(domid)):
            with self.dom0() as c:
                home = "/local/domain/%d" % domid
                c.mkdir(home)
                c.set_perms(home, ["n%d" % domid])
                c.introduce(domid)
        return XsClient(self.domain_sock(domid))

    def log(self):
        with open(os.path.join(self.rundir, "xensimd.log")) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc.stderr.close()
        return self.proc.returncode


@pytest.fixture(autouse=True)
def _own_asan_options(monkeypatch):
    """In the sanitizer stage (tools/run test-asan), the processes these
    tests start are ours (xensimd, xensimctl): they run with leak detection,
    which python (pytest itself) runs without.  Xen's own tools get it
    turned off again (test_conformance.xs_env)."""
    own = os.environ.get("XENVIRT_OWN_ASAN_OPTIONS")
    if own:
        monkeypatch.setenv("ASAN_OPTIONS", own)


@pytest.fixture
def xsd_factory(tmp_path):
    started = []

    def start(args=(), rundir=None):
        d = Xensimd(rundir or tmp_path / ("run%d" % len(started)), args)
        started.append(d)
        return d

    yield start
    for d in started:
        rc = d.stop()
        # A crash is a failure of whichever test caused it.
        assert rc == 0, "xensimd exited with %s" % rc


@pytest.fixture
def xsd(xsd_factory):
    return xsd_factory()


def pytest_configure(config):
    if not os.path.exists(XENSIMD):
        raise pytest.UsageError("xensimd not built: %s (set XENVIRT_BUILD_DIR)"
                                % XENSIMD)


def wait_until(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


# -- the simulated hypervisor (test_hv_*.py, test_xensimctl.py) --

GUEST_MAGIC = "#!xensim-guest\n"


@pytest.fixture
def kernel(tmp_path):
    """A kernel file for the default guest; kernel_script() makes others."""
    path = tmp_path / "vmlinuz"
    path.write_bytes(b"\x7fELF not really a kernel\n")
    return path


@pytest.fixture
def kernel_script(tmp_path):
    def make(*directives):
        path = tmp_path / ("guest-%s" % "-".join(
            d.replace(" ", "") for d in directives) or "plain")
        path.write_text(GUEST_MAGIC + "".join(d + "\n" for d in directives))
        return path
    return make


@pytest.fixture
def host(xsd_factory):
    """A running xensimd; .hv() opens a control connection."""
    from hvclient import HvClient

    d = xsd_factory()
    d.hv_sock = os.path.join(d.rundir, "hypervisor.sock")
    wait_for_socket(d.hv_sock, d.proc)
    d.hv = lambda: HvClient(d.hv_sock)
    return d


@pytest.fixture
def ts(host):
    """A toolstack on the host (hvclient.Toolstack)."""
    from hvclient import Toolstack

    t = Toolstack(host.rundir)
    yield t
    t.close()
