"""A simulated guest's I/O on a qdisk through the disk's NBD export
(docs/xensim-host.md, "Disk I/O through the disk server").

The test plays the toolstack (hvclient.Toolstack) and the core's part:
it runs a real qemu-storage-daemon exporting a raw file over NBD and
writes the export's nodes (nbd-socket, nbd-export) into the disk's
backend directory, as libxlite does.  The guest's writes are then read
from the file itself.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from hvclient import wait_until

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-storage-daemon") is None,
    reason="qemu-storage-daemon missing (tools/setup-deps)")

DEVID = 51712
BLOCK = 4096


def pattern(n):
    """Block n of the writer's pattern (xsim_nbd_pattern in C)."""
    block = bytearray((n * 131 + i) & 0xff for i in range(BLOCK))
    head = b"xensim-nbd seq %d\n" % n
    block[:len(head)] = head
    return bytes(block)


@pytest.fixture
def sockdir():
    """A short directory: unix socket names hold 107 bytes."""
    d = tempfile.mkdtemp(prefix="nbd", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def qsd(sockdir, tmp_path):
    """A qemu-storage-daemon exporting a 16 MiB raw file as 'xvda'."""
    img = tmp_path / "disk.img"
    img.write_bytes(b"\0" * (16 << 20))
    sock = os.path.join(sockdir, "nbd.sock")
    proc = subprocess.Popen(
        ["qemu-storage-daemon",
         "--blockdev", "driver=file,filename=%s,node-name=f" % img,
         "--blockdev", "driver=raw,file=f,node-name=xvda",
         "--nbd-server", "addr.type=unix,addr.path=%s" % sock,
         "--export", "type=nbd,id=xvda,node-name=xvda,name=xvda,writable=on"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert wait_until(lambda: os.path.exists(sock) or proc.poll() is not None)
    assert proc.poll() is None, proc.stderr.read()
    proc.img, proc.sock = img, sock
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    proc.stderr.close()


def add_qdisk(ts, domid, params):
    """A disk served by a QEMU: frontend device/vbd, backend qdisk."""
    xs = ts.xs
    fe = "/local/domain/%d/device/vbd/%d" % (domid, DEVID)
    be = "/local/domain/0/backend/qdisk/%d/%d" % (domid, DEVID)
    xs.mkdir(be)
    xs.set_perms(be, ["n0", "r%d" % domid])
    for k, v in {"params": str(params), "type": "qdisk", "mode": "w",
                 "dev": "xvda", "device-type": "disk", "frontend": fe,
                 "frontend-id": str(domid), "online": "1",
                 "state": "1"}.items():
        xs.write(be + "/" + k, v)
    xs.mkdir(fe)
    xs.set_perms(fe, ["n%d" % domid, "r0"])
    for k, v in {"virtual-device": str(DEVID), "device-type": "disk",
                 "backend": be, "backend-id": "0", "state": "1"}.items():
        xs.write(fe + "/" + k, v)
    return be


def publish(ts, be, sock, name="xvda"):
    ts.xs.write(be + "/nbd-socket", sock)
    ts.xs.write(be + "/nbd-export", name)


def node(ts, domid, name):
    return ts.read("/local/domain/%d/data/nbd/%d/%s" % (domid, DEVID, name))


def boot(ts, script, disk):
    domid = ts.create(script)
    be = add_qdisk(ts, domid, disk)
    ts.hv.call("unpause", domid=domid)
    fe_state = "/local/domain/%d/device/vbd/%d/state" % (domid, DEVID)
    assert wait_until(lambda: ts.read(fe_state) == "4" and
                      ts.read(be + "/state") == "4")
    return domid, be


def destroy(ts, domid):
    ts.destroy(domid)
    try:
        ts.xs.rm("/local/domain/0/backend/qdisk/%d" % domid)
    except Exception:
        pass


def test_writer_through_the_export(ts, kernel_script, qsd):
    """The writer's blocks are in the file, in order, and read back."""
    domid, be = boot(ts, kernel_script("nbd-writer 2"), qsd.img)
    # Nothing is written before the export is published.
    time.sleep(0.3)
    assert node(ts, domid, "written") is None
    publish(ts, be, qsd.sock)
    assert wait_until(lambda: node(ts, domid, "size") == str(16 << 20))
    assert wait_until(lambda: int(node(ts, domid, "written") or 0) >= 128,
                      timeout=60)
    ts.hv.call("fault", domid=domid, kind="disk-verify")
    assert wait_until(lambda: node(ts, domid, "verify"), timeout=60)
    report = dict(kv.split("=") for kv in node(ts, domid, "verify").split())
    n = int(report["writes"])
    assert report == {"writes": str(n), "mismatches": "0", "errors": "0",
                      "first-bad": "-1"}, report
    # Stopped: no more writes.
    time.sleep(0.2)
    assert node(ts, domid, "written") == str(n)
    destroy(ts, domid)
    with open(qsd.img, "rb") as f:
        data = f.read((n + 1) * BLOCK)
    bad = [k for k in range(n) if data[k * BLOCK:(k + 1) * BLOCK] != pattern(k)]
    assert not bad, bad[:10]
    assert data[n * BLOCK:] == bytes(BLOCK)


def test_default_guest_reads_its_disk(ts, kernel, qsd):
    """Any guest connects to a published export and reads its first
    block (the partition table); it writes nothing."""
    with open(qsd.img, "r+b") as f:
        f.write(b"\xaa" * BLOCK)
    domid, be = boot(ts, kernel, qsd.img)
    publish(ts, be, qsd.sock)
    assert wait_until(lambda: node(ts, domid, "size") == str(16 << 20))
    assert node(ts, domid, "written") is None
    destroy(ts, domid)
    with open(qsd.img, "rb") as f:
        assert f.read(BLOCK) == b"\xaa" * BLOCK


@pytest.mark.parametrize("sock, name", [
    ("relative/nbd.sock", "xvda"),
    ("/" + "x" * 200, "xvda"),
    ("/tmp/a\nb", "xvda"),
    (None, "bad name"),
    (None, ""),
])
def test_hostile_export_nodes_are_refused(ts, kernel_script, qsd, sock,
                                          name):
    domid, be = boot(ts, kernel_script("nbd-writer 2"), qsd.img)
    publish(ts, be, sock or qsd.sock, name)
    time.sleep(0.5)
    assert node(ts, domid, "size") is None
    assert node(ts, domid, "written") is None
    destroy(ts, domid)
    with open(qsd.img, "rb") as f:
        assert f.read(BLOCK) == bytes(BLOCK)


def test_server_killed_gives_io_errors(ts, kernel_script, qsd):
    domid, be = boot(ts, kernel_script("nbd-writer 2"), qsd.img)
    publish(ts, be, qsd.sock)
    assert wait_until(lambda: int(node(ts, domid, "written") or 0) >= 64,
                      timeout=60)
    qsd.kill()
    qsd.wait()
    ts.hv.call("fault", domid=domid, kind="disk-verify")
    assert wait_until(lambda: node(ts, domid, "verify"), timeout=60)
    report = dict(kv.split("=") for kv in node(ts, domid, "verify").split())
    assert int(report["errors"]) > 0, report
    assert report["mismatches"] == report["writes"], report
    destroy(ts, domid)


def test_stalled_server_does_not_hang_destroy(ts, kernel_script, qsd,
                                              sockdir):
    """A server that accepts and never answers: the guest's thread
    blocks in the NBD handshake, and destroy still ends it."""
    path = os.path.join(sockdir, "stall.sock")
    stall = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stall.bind(path)
    stall.listen(8)
    try:
        domid, be = boot(ts, kernel_script("nbd-writer 2"), qsd.img)
        publish(ts, be, path)
        # The guest connects (the kernel accepts for the listener).
        assert wait_until(lambda: os.path.exists(path))
        time.sleep(0.5)
        destroy(ts, domid)
        # Gone, and the host still answers.
        assert domid not in ts.hv.domids()
    finally:
        stall.close()
