"""Fixtures for the integration suites: real virsh, real python-libvirt and
Debian's real libvirtd, loading the plugin from the build directory."""

import os
import subprocess
import sys
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
def embed(build_dir, tmp_path):
    """A fresh embedded root: returns its URI."""
    root = tmp_path / "root"
    root.mkdir()
    return xvtest.EmbeddedHost(root)


@pytest.fixture(scope="module")
def daemon(build_dir, tmp_path_factory):
    """A private libvirtd with the plugin, on private sockets."""
    d = xvtest.PrivateDaemon(tmp_path_factory.mktemp("libvirtd"))
    d.start()
    yield d
    d.stop()


@pytest.fixture(autouse=True)
def _stop_simulated_hosts(tmp_path):
    """Every simulated host a test caused to start under its tmp_path is
    stopped when the test ends."""
    yield
    xvtest.stop_simulated_hosts(tmp_path)
