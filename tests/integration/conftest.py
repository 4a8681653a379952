"""Fixtures for the integration suites: real virsh, real python-libvirt and
Debian's real libvirtd, loading the plugin from the build directory."""

import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import xvtest  # noqa: E402


@pytest.fixture(scope="session")
def build_dir():
    build = xvtest.build_dir()
    if not (build / "src" / "libxl" / "libvirt_driver_xen.so").exists():
        pytest.fail(f"the driver plugin is not built in {build}")
    return build


@pytest.fixture
def short_dir():
    """A fresh directory with a short path.  The simulated host keeps its
    unix sockets under the embedded root; below a root too deep for a
    socket's 108 bytes the driver moves them to a short directory of the
    runtime directory (test_deep_root.py), which most tests leave alone by
    using a short root."""
    d = Path(tempfile.mkdtemp(prefix="xv-"))
    yield d
    xvtest.stop_simulated_hosts(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def embed(build_dir, short_dir):
    """A fresh embedded root: returns its URI."""
    root = short_dir / "root"
    root.mkdir()
    return xvtest.EmbeddedHost(root)


@pytest.fixture(scope="module")
def daemon(build_dir, tmp_path_factory):
    """A private libvirtd with the plugin, on private sockets."""
    workdir = Path(tempfile.mkdtemp(prefix="xvd-"))
    d = xvtest.PrivateDaemon(workdir)
    d.start()
    yield d
    d.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(autouse=True)
def _stop_simulated_hosts(tmp_path):
    """Every simulated host a test caused to start under its tmp_path is
    stopped when the test ends."""
    yield
    xvtest.stop_simulated_hosts(tmp_path)


@pytest.fixture
def own_daemon(build_dir):
    """A private libvirtd of this test's own, which it may kill (and
    restart with its start())."""
    workdir = Path(tempfile.mkdtemp(prefix="xvd-"))
    d = xvtest.PrivateDaemon(workdir)
    d.start()
    yield d
    try:
        d.stop()
    finally:
        xvtest.stop_simulated_hosts(workdir)
        shutil.rmtree(workdir, ignore_errors=True)
