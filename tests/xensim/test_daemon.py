"""The daemon: run directory ownership, clean stop, many clients."""
import os
import signal
import stat
import subprocess
import threading

from conftest import XENSIMD, wait_until
from xsclient import XsClient


def test_socket_mode_and_pid_file(xsd):
    st = os.stat(xsd.sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    with open(os.path.join(xsd.rundir, "xensimd.pid")) as f:
        assert int(f.read()) == xsd.pid


def test_second_daemon_refused(xsd):
    r = subprocess.run([XENSIMD, "--rundir", xsd.rundir, "--foreground"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0
    assert "already runs" in r.stderr
    # The first one still owns and serves the directory.
    with xsd.dom0() as c:
        c.write("/x", "1")


def test_sigterm_cleans_up(xsd):
    with xsd.dom0() as c:
        c.introduce(5)
    assert os.path.exists(xsd.domain_sock(5))
    assert xsd.stop() == 0
    assert not os.path.exists(xsd.sock)
    assert not os.path.exists(xsd.domain_sock(5))
    assert not os.path.exists(os.path.join(xsd.rundir, "xensimd.pid"))
    assert "xensimd stopped" in xsd.log()


def test_daemon_mode(tmp_path):
    rundir = str(tmp_path / "d")
    r = subprocess.run([XENSIMD, "--rundir", rundir], timeout=10)
    assert r.returncode == 0
    with open(os.path.join(rundir, "xensimd.pid")) as f:
        pid = int(f.read())
    try:
        # Ready when the parent returns: no waiting needed.
        with XsClient(os.path.join(rundir, "xenstored", "socket")) as c:
            c.write("/d", "1")
    finally:
        os.kill(pid, signal.SIGTERM)
    assert wait_until(lambda: not os.path.exists(os.path.join(rundir, "xensimd.pid")))


def test_many_clients_at_once(xsd):
    errors = []

    def worker(n):
        try:
            with xsd.dom0() as c:
                for i in range(200):
                    c.write("/many/%d/%d" % (n, i % 10), str(i))
                    assert c.read("/many/%d/%d" % (n, i % 10)) == str(i).encode()
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with xsd.dom0() as c:
        assert len(c.directory("/many")) == 32


def test_guest_connections_share_identity(xsd):
    a = xsd.guest(3)
    b = XsClient(xsd.domain_sock(3))
    a.write("x", "1")
    assert b.read("x") == b"1"
    assert b.get_perms("x") == ["n3"]


def test_guest_connection_limit(xsd):
    conns = [xsd.guest(6) for _ in range(16)]
    extra = XsClient(xsd.domain_sock(6))
    import pytest
    with pytest.raises((ConnectionError, OSError)):
        extra.read("x")
    conns[0].close()
    assert wait_until(lambda: "over the limit" in xsd.log())
    # A slot is free again.
    def can_connect():
        try:
            with XsClient(xsd.domain_sock(6)) as c:
                c.write("ok", "1")
            return True
        except (ConnectionError, OSError):
            return False
    assert wait_until(can_connect)
