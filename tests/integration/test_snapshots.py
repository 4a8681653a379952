"""What builds the chains block jobs collapse (docs/snapshots.md), through
real virsh and python-libvirt, with a real qemu-storage-daemon serving real
qcow2 images:

- virsh blockresize grows a running guest's disk (a raw file blkback
  serves, a qcow2 file the disk server serves), and the simulated guest's
  blkfront prints the new capacity on its console, as Linux's does;
- external disk-only snapshots: the overlay goes on top of the disk (the
  live XML names it, the old image its backingStore), several disks at
  once or none, the metadata calls virsh and Nova use, kept across a
  libvirtd restart;
- Nova's volume snapshot replayed: a REUSE_EXT overlay made with qemu-img,
  the guest writing through its disk's NBD export, then the snapshot's
  deletion by an active blockcommit with pivot, by a blockrebase (a pull
  with a base) and by a blockcommit below the active image, both with
  the RELATIVE flags Nova passes, on overlays that name their backing
  files relatively as Cinder's remotefs drivers make them; the images are
  checked with qemu-img afterwards.
"""

import json
import os
import signal
import subprocess
import textwrap
from pathlib import Path

import libvirt
import pytest

import xvtest

pytestmark = pytest.mark.skipif(
    subprocess.run(["sh", "-c", "command -v qemu-storage-daemon && "
                    "command -v qemu-img && command -v qemu-io"],
                   capture_output=True).returncode,
    reason="qemu-storage-daemon, qemu-img or qemu-io missing "
           "(tools/setup-deps)")

MIB = 1024 * 1024


def qemu_img(*args):
    res = subprocess.run(["qemu-img", *args], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


def image_info(path):
    # -U: the disk server may hold the image open (and locked).
    return json.loads(qemu_img("info", "-U", "--output=json", str(path)))


def qemu_io(target, command, fmt="qcow2"):
    res = subprocess.run(["qemu-io", "-f", fmt, "-c", command, str(target)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "failed" not in res.stdout, \
        res.stdout + res.stderr
    return res.stdout


def make_qcow2(path, size_mib=16, pattern=None):
    qemu_img("create", "-q", "-f", "qcow2", str(path), f"{size_mib}M")
    if pattern is not None:
        qemu_io(path, f"write -P {pattern:#x} 0 1M")
    return path


def disk_xml(path, target, driver="qemu", fmt="qcow2"):
    kind = f" type='{fmt}'" if fmt else ""
    return (f"<disk type='file' device='disk'><driver name='{driver}'{kind}/>"
            f"<source file='{path}'/><target dev='{target}' bus='xen'/>"
            "</disk>")


def domain_xml(tmp, name, disks):
    kernel = Path(tmp) / "kernel"
    kernel.write_text("a simulated kernel\n")
    return textwrap.dedent(f"""\
        <domain type='xen'>
          <name>{name}</name>
          <memory unit='MiB'>64</memory>
          <os><type arch='x86_64'>xen</type><kernel>{kernel}</kernel></os>
          <devices>{''.join(disks)}</devices>
        </domain>""")


def create(host, tmp, name, disks):
    f = Path(tmp) / f"{name}.xml"
    f.write_text(domain_xml(tmp, name, disks))
    res = host.virsh("create", str(f))
    assert res.rc == 0, res
    return f


def nbd_socket(host, name):
    """The disk server's NBD socket for domain NAME: the guest's I/O path
    (docs/blockjobs.md, "The disk server")."""
    domid = host.virsh("domid", name).out.strip()
    return host.root / "var/lib/xenvirt/qsd" / domid / "nbd.sock"


def guest_write(host, name, disk, pattern, offset_mib):
    """The guest writes 1 MiB of PATTERN through its disk's export."""
    sock = nbd_socket(host, name)
    qemu_io(f"nbd+unix:///{disk}?socket={sock}",
            f"write -P {pattern:#x} {offset_mib}M 1M", fmt="raw")


def reads_as(path, pattern, offset_mib):
    out = qemu_io(path, f"read -P {pattern:#x} {offset_mib}M 1M")
    return "read 1048576/1048576" in out


def chain(xml, target):
    """[source, backing, ...] of disk TARGET in a domain XML."""
    import xml.etree.ElementTree as ET
    root = ET.fromstring(xml)
    for disk in root.findall("./devices/disk"):
        if disk.find("target").get("dev") != target:
            continue
        files = []
        node = disk
        while node is not None:
            src = node.find("source")
            if src is None:
                break
            files.append(src.get("file"))
            node = node.find("backingStore")
        return files
    return None


# ---------------------------------------------------------------------------
# blockresize

CONSOLE_RESIZE = textwrap.dedent("""\
    import sys, threading, time, libvirt
    uri, name = sys.argv[1:3]
    steps = [(sys.argv[i], int(sys.argv[i + 1]))
             for i in range(3, len(sys.argv), 2)]
    libvirt.virEventRegisterDefaultImpl()
    def loop():
        while True:
            libvirt.virEventRunDefaultImpl()
    threading.Thread(target=loop, daemon=True).start()
    c = libvirt.open(uri)
    d = c.lookupByName(name)
    st = c.newStream(0)
    d.openConsole(None, st, 0)
    out = []
    def reader():
        while True:
            try:
                data = st.recv(4096)
            except libvirt.libvirtError:
                return
            if not isinstance(data, bytes) or not data:
                return
            out.append(data)
    threading.Thread(target=reader, daemon=True).start()
    for disk, size in steps:
        d.blockResize(disk, size, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)
        want = b'changing capacity to %d sectors' % (size // 512)
        deadline = time.time() + 20
        while want not in b''.join(out) and time.time() < deadline:
            time.sleep(0.05)
        print(disk, want in b''.join(out))
    """)


def test_blockresize_grows_and_the_guest_sees_it(embed, tmp_path):
    raw = tmp_path / "raw.img"
    raw.write_bytes(b"\0" * 8 * MIB)
    qcow = make_qcow2(tmp_path / "q.qcow2", 16, pattern=0x5a)
    create(embed, tmp_path, "rz", [disk_xml(raw, "xvda", "phy", None),
                                   disk_xml(qcow, "xvdb")])
    # Each resize announced on the guest's console by its blkfront.
    res = xvtest.python(CONSOLE_RESIZE, embed.uri, "rz",
                        "xvda", str(16 * MIB), "xvdb", str(32 * MIB),
                        timeout=120)
    assert res.rc == 0, res
    assert res.out.split("\n")[:2] == ["xvda True", "xvdb True"], res
    assert raw.stat().st_size == 16 * MIB
    assert image_info(qcow)["virtual-size"] == 32 * MIB
    # virsh's size is in KiB unless a suffix says otherwise.
    res = embed.virsh("blockresize", "rz", "xvdb", "40000")
    assert res.rc == 0, res
    assert image_info(qcow)["virtual-size"] == 40000 * 1024
    res = embed.virsh("blockresize", "rz", "xvda", "20M")
    assert res.rc == 0, res
    assert raw.stat().st_size == 20 * MIB
    # The guest's own data is still there.
    assert embed.virsh("destroy", "rz").rc == 0
    assert reads_as(qcow, 0x5a, 0)


ERRORS = textwrap.dedent("""\
    import sys, libvirt
    libvirt.virEventRegisterDefaultImpl()
    c = libvirt.open(sys.argv[1])
    def code(f):
        try:
            f()
            return 'ok'
        except libvirt.libvirtError as e:
            return str(e.get_error_code())
    d = c.lookupByName('rz')
    B = libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES
    print('shrink', code(lambda: d.blockResize('xvda', 4 << 20, B)))
    print('shrink-qcow2', code(lambda: d.blockResize('xvdb', 4 << 20, B)))
    print('no-disk', code(lambda: d.blockResize('xvdz', 32 << 20, B)))
    print('bad-flags', code(lambda: d.blockResize('xvda', 32 << 20, 1 << 9)))
    print('cdrom', code(lambda: d.blockResize('xvdc', 32 << 20, B)))
    off = c.lookupByName('off')
    print('inactive', code(lambda: off.blockResize('xvda', 32 << 20, B)))
    """)


def test_blockresize_errors(embed, tmp_path):
    raw = tmp_path / "raw.img"
    raw.write_bytes(b"\0" * 8 * MIB)
    qcow = make_qcow2(tmp_path / "q.qcow2", 16)
    cdrom = ("<disk type='file' device='cdrom'><driver name='qemu'/>"
             f"<source file='{raw}'/><target dev='xvdc' bus='xen'/>"
             "<readonly/></disk>")
    create(embed, tmp_path, "rz", [disk_xml(raw, "xvda", "phy", None),
                                   disk_xml(qcow, "xvdb"), cdrom])
    off = tmp_path / "off.xml"
    off.write_text(domain_xml(tmp_path, "off", [disk_xml(raw, "xvda", "phy",
                                                         None)]))
    assert embed.virsh("define", str(off)).rc == 0
    res = xvtest.python(ERRORS, embed.uri, timeout=120)
    assert res.rc == 0, res
    got = dict(line.split(" ", 1) for line in res.out.splitlines())
    assert got == {
        "shrink": str(libvirt.VIR_ERR_INVALID_ARG),
        "shrink-qcow2": str(libvirt.VIR_ERR_INVALID_ARG),
        "no-disk": str(libvirt.VIR_ERR_INVALID_ARG),
        "bad-flags": str(libvirt.VIR_ERR_INVALID_ARG),
        "cdrom": str(libvirt.VIR_ERR_OPERATION_UNSUPPORTED),
        "inactive": str(libvirt.VIR_ERR_OPERATION_INVALID),
    }, got
    res = embed.virsh("blockresize", "rz", "xvdz", "1G")
    assert res.rc != 0
    assert "disk 'xvdz' was not found in the domain config" in res.err
    # Nothing shrank.
    assert raw.stat().st_size == 8 * MIB
    assert image_info(qcow)["virtual-size"] == 16 * MIB
    assert embed.virsh("destroy", "rz").rc == 0


def test_read_only_connections_are_refused(daemon, tmp_path):
    qcow = make_qcow2(tmp_path / "q.qcow2", 16)
    create(daemon, tmp_path, "snapro", [disk_xml(qcow, "xvda")])
    try:
        res = daemon.virsh("blockresize", "snapro", "xvda", "32M",
                           readonly=True)
        assert res.rc != 0 and "read only access" in res.err, res
        res = daemon.virsh("snapshot-create-as", "snapro", "s1",
                           "--disk-only", "--diskspec",
                           f"xvda,file={tmp_path / 'ov.qcow2'}",
                           readonly=True)
        assert res.rc != 0 and "read only access" in res.err, res
        assert not (tmp_path / "ov.qcow2").exists()
        # Listing is a query.
        res = daemon.virsh("snapshot-list", "snapro", "--name",
                           readonly=True)
        assert res.rc == 0 and res.out.strip() == "", res
    finally:
        daemon.virsh("destroy", "snapro")


# ---------------------------------------------------------------------------
# External disk-only snapshots

def test_snapshot_puts_an_overlay_on_top(embed, tmp_path):
    base = make_qcow2(tmp_path / "base.qcow2", 16, pattern=0x11)
    ov1 = tmp_path / "ov1.qcow2"
    create(embed, tmp_path, "sn", [disk_xml(base, "xvda")])
    res = embed.virsh("snapshot-create-as", "sn", "s1", "--disk-only",
                      "--diskspec", f"xvda,file={ov1}")
    assert res.rc == 0, res
    assert chain(embed.virsh("dumpxml", "sn").out, "xvda") == \
        [str(ov1), str(base)]
    info = image_info(ov1)
    assert (info["format"], info["backing-filename"]) == ("qcow2", str(base))
    # The guest writes go to the overlay; the old image is left as it was.
    guest_write(embed, "sn", "xvda", 0x22, 2)
    assert embed.virsh("destroy", "sn").rc == 0
    assert reads_as(ov1, 0x22, 2) and reads_as(ov1, 0x11, 0)
    assert reads_as(base, 0, 2)
    # The next domain of that name starts with no snapshot (a transient
    # domain's metadata went with it).
    create(embed, tmp_path, "sn", [disk_xml(base, "xvda")])
    res = embed.virsh("snapshot-list", "sn", "--name")
    assert res.rc == 0 and res.out.strip() == "", res
    assert embed.virsh("destroy", "sn").rc == 0


CALLS = textwrap.dedent("""\
    import sys, libvirt
    uri, tmp = sys.argv[1:3]
    libvirt.virEventRegisterDefaultImpl()
    c = libvirt.open(uri)
    d = c.lookupByName('sn')
    def code(f):
        try:
            r = f()
            return 'ok' if r is None or not isinstance(r, (int, str))\
                else 'ok:%s' % r
        except libvirt.libvirtError as e:
            return str(e.get_error_code())
    DO = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
    def snap(name, flags=DO, disk='xvda'):
        return d.snapshotCreateXML(
            "<domainsnapshot><name>%s</name><disks><disk name='%s' "
            "snapshot='external'><source file='%s/%s.qcow2'/></disk>"
            "</disks></domainsnapshot>" % (name, disk, tmp, name), flags)
    out = {}
    out['memory'] = code(lambda: snap('m', 0))
    out['bad-flags'] = code(lambda: snap('b', DO | (1 << 20)))
    out['quiesce'] = code(lambda: snap('q', DO |
        libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE))
    out['no-disk'] = code(lambda: snap('z', DO, 'xvdz'))
    out['has-current-none'] = code(lambda: d.hasCurrentSnapshot(0))
    out['current-none'] = code(lambda: d.snapshotCurrent(0))
    out['s1'] = code(lambda: snap('s1'))
    out['exists'] = code(lambda: snap('s1'))
    out['s2'] = code(lambda: snap('s2'))
    out['nometa'] = code(lambda: snap('n3', DO |
        libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA))
    out['num'] = code(lambda: d.snapshotNum(0))
    out['names'] = ','.join(sorted(d.snapshotListNames(0)))
    out['all'] = ','.join(sorted(s.getName() for s in d.listAllSnapshots(0)))
    out['roots'] = ','.join(d.snapshotListNames(
        libvirt.VIR_DOMAIN_SNAPSHOT_LIST_ROOTS))
    s1 = d.snapshotLookupByName('s1', 0)
    s2 = d.snapshotLookupByName('s2', 0)
    out['lookup-none'] = code(lambda: d.snapshotLookupByName('n3', 0))
    out['current'] = d.snapshotCurrent(0).getName()
    out['is-current'] = '%d%d' % (s1.isCurrent(0), s2.isCurrent(0))
    out['parent'] = s2.getParent(0).getName()
    out['parent-none'] = code(lambda: s1.getParent(0))
    out['children'] = ','.join(s1.listChildrenNames(0))
    out['num-children'] = str(s1.numChildren(0))
    out['metadata'] = str(s2.hasMetadata(0))
    x = s2.getXMLDesc(0)
    out['xml'] = str("<state>disk-snapshot</state>" in x and
                     "snapshot='external'" in x and "s2.qcow2" in x)
    out['delete-images'] = code(lambda: s2.delete(0))
    out['delete-children'] = code(lambda: s1.delete(
        libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN))
    out['delete-s1'] = code(lambda: s1.delete(
        libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY))
    out['after'] = ','.join(d.snapshotListNames(0))
    out['s2-parent-gone'] = code(lambda: s2.getParent(0))
    for k, v in out.items():
        print(k, v)
    """)


def test_snapshot_calls(embed, tmp_path):
    """The calls virsh snapshot-* and Nova make, with libvirt's QEMU
    driver's error codes; metadata kept across processes (each embedded
    process is a driver start)."""
    base = make_qcow2(tmp_path / "base.qcow2", 16)
    create(embed, tmp_path, "sn", [disk_xml(base, "xvda")])
    res = xvtest.python(CALLS, embed.uri, str(tmp_path), timeout=120)
    assert res.rc == 0, res
    got = dict(line.split(" ", 1) for line in res.out.splitlines())
    E = {k: str(getattr(libvirt, k)) for k in dir(libvirt)
         if k.startswith("VIR_ERR_")}
    assert got == {
        "memory": E["VIR_ERR_OPERATION_UNSUPPORTED"],
        "bad-flags": E["VIR_ERR_INVALID_ARG"],
        "quiesce": E["VIR_ERR_ARGUMENT_UNSUPPORTED"],
        "no-disk": E["VIR_ERR_CONFIG_UNSUPPORTED"],   # libvirt's own check
        "has-current-none": "ok:0",
        "current-none": E["VIR_ERR_NO_DOMAIN_SNAPSHOT"],
        "s1": "ok",
        "exists": E["VIR_ERR_OPERATION_INVALID"],
        "s2": "ok",
        "nometa": "ok",
        "num": "ok:2",
        "names": "s1,s2",
        "all": "s1,s2",
        "roots": "s1",
        "lookup-none": E["VIR_ERR_NO_DOMAIN_SNAPSHOT"],
        "current": "s2",
        "is-current": "01",
        "parent": "s1",
        "parent-none": E["VIR_ERR_NO_DOMAIN_SNAPSHOT"],
        "children": "s2",
        "num-children": "1",
        "metadata": "1",
        "xml": "True",
        "delete-images": E["VIR_ERR_OPERATION_UNSUPPORTED"],
        "delete-children": E["VIR_ERR_CONFIG_UNSUPPORTED"],
        "delete-s1": "ok:0",
        "after": "s2",
        "s2-parent-gone": E["VIR_ERR_NO_DOMAIN_SNAPSHOT"],
    }, got
    # The refused attempts made no file; the three snapshots made theirs,
    # each on top of the last.
    for name in ("m", "b", "q", "z"):
        assert not (tmp_path / f"{name}.qcow2").exists(), name
    assert chain(embed.virsh("dumpxml", "sn").out, "xvda") == [
        str(tmp_path / "n3.qcow2"), str(tmp_path / "s2.qcow2"),
        str(tmp_path / "s1.qcow2"), str(base)]
    # Another process (a driver start) reads the metadata again.
    res = embed.virsh("snapshot-list", "sn", "--name")
    assert res.rc == 0 and res.out.split() == ["s2"], res
    res = embed.virsh("snapshot-current", "sn", "--name")
    assert res.rc == 0 and res.out.strip() == "s2", res
    res = embed.virsh("snapshot-delete", "sn", "s2", "--metadata")
    assert res.rc == 0, res
    res = embed.virsh("snapshot-list", "sn", "--name")
    assert res.rc == 0 and res.out.strip() == "", res
    # A snapshot and its children, metadata only: the images stay.
    for name in ("t1", "t2"):
        res = embed.virsh("snapshot-create-as", "sn", name, "--disk-only",
                          "--diskspec", f"xvda,file={tmp_path / name}.qcow2")
        assert res.rc == 0, res
    res = embed.virsh("snapshot-list", "sn", "--tree")
    assert res.rc == 0 and res.out.split()[:4] == ["t1", "|", "+-", "t2"], res
    res = embed.virsh("snapshot-delete", "sn", "t1", "--children",
                      "--metadata")
    assert res.rc == 0, res
    res = embed.virsh("snapshot-list", "sn", "--name")
    assert res.rc == 0 and res.out.strip() == "", res
    assert chain(embed.virsh("dumpxml", "sn").out, "xvda")[:2] == [
        str(tmp_path / "t2.qcow2"), str(tmp_path / "t1.qcow2")]
    assert embed.virsh("destroy", "sn").rc == 0


def test_snapshot_of_two_disks_is_all_or_nothing(embed, tmp_path):
    a = make_qcow2(tmp_path / "a.qcow2", 16)
    b = make_qcow2(tmp_path / "b.qcow2", 16)
    create(embed, tmp_path, "two", [disk_xml(a, "xvda"), disk_xml(b, "xvdb")])
    before = embed.virsh("dumpxml", "two").out
    # The second overlay cannot be made: the first one goes again.
    oa = tmp_path / "oa.qcow2"
    res = embed.virsh("snapshot-create-as", "two", "bad", "--disk-only",
                      "--diskspec", f"xvda,file={oa}", "--diskspec",
                      f"xvdb,file={tmp_path / 'missing' / 'ob.qcow2'}")
    assert res.rc != 0, res
    assert not oa.exists()
    assert embed.virsh("dumpxml", "two").out == before
    res = embed.virsh("snapshot-list", "two", "--name")
    assert res.rc == 0 and res.out.strip() == "", res
    # Both, in one transaction.
    ob = tmp_path / "ob.qcow2"
    res = embed.virsh("snapshot-create-as", "two", "both", "--disk-only",
                      "--atomic", "--diskspec", f"xvda,file={oa}",
                      "--diskspec", f"xvdb,file={ob}")
    assert res.rc == 0, res
    xml = embed.virsh("dumpxml", "two").out
    assert chain(xml, "xvda") == [str(oa), str(a)]
    assert chain(xml, "xvdb") == [str(ob), str(b)]
    guest_write(embed, "two", "xvda", 0x0a, 1)
    guest_write(embed, "two", "xvdb", 0x0b, 1)
    assert embed.virsh("destroy", "two").rc == 0
    assert image_info(oa)["backing-filename"] == str(a)
    assert image_info(ob)["backing-filename"] == str(b)
    assert reads_as(oa, 0x0a, 1) and reads_as(ob, 0x0b, 1)
    assert reads_as(a, 0, 1) and reads_as(b, 0, 1)


def test_snapshot_metadata_survives_libvirtd_restart(own_daemon, tmp_path):
    base = make_qcow2(tmp_path / "base.qcow2", 16)
    f = tmp_path / "keep.xml"
    f.write_text(domain_xml(tmp_path, "keep", [disk_xml(base, "xvda")]))
    assert own_daemon.virsh("define", str(f)).rc == 0
    assert own_daemon.virsh("start", "keep").rc == 0
    ov = tmp_path / "ov.qcow2"
    res = own_daemon.virsh("snapshot-create-as", "keep", "s1", "--disk-only",
                           "--diskspec", f"xvda,file={ov}")
    assert res.rc == 0, res
    # The persistent definition follows the overlay, as the live one does.
    assert chain(own_daemon.virsh("dumpxml", "keep", "--inactive").out,
                 "xvda")[0] == str(ov)
    os.kill(own_daemon.pid, signal.SIGKILL)
    assert xvtest.wait_for(
        lambda: not Path(f"/proc/{own_daemon.pid}").exists(), 10)
    own_daemon.start()
    res = own_daemon.virsh("snapshot-list", "keep", "--name")
    assert res.rc == 0 and res.out.split() == ["s1"], res
    res = own_daemon.virsh("snapshot-current", "keep", "--name")
    assert res.rc == 0 and res.out.strip() == "s1", res
    assert chain(own_daemon.virsh("dumpxml", "keep").out, "xvda") == \
        [str(ov), str(base)]
    assert own_daemon.virsh("destroy", "keep").rc == 0
    # An inactive domain with snapshots is undefined only with them.
    res = own_daemon.virsh("undefine", "keep")
    assert res.rc != 0 and "with 1 snapshots" in res.err, res
    res = own_daemon.virsh("undefine", "keep", "--snapshots-metadata")
    assert res.rc == 0, res


# ---------------------------------------------------------------------------
# Nova's volume snapshot, created and deleted

# nova.virt.libvirt.driver: _volume_snapshot_create (the overlay made by
# the volume driver with qemu-img, then a disk-only snapshot with
# REUSE_EXT and NO_METADATA, quiesced first and, failing that, not) and
# _volume_snapshot_delete: without a merge target, blockRebase of the
# snapshot's file with VIR_DOMAIN_BLOCK_REBASE_RELATIVE ("relative =
# rebase_base is not None"); with one, blockCommit(merge_target_file,
# file_to_merge) with VIR_DOMAIN_BLOCK_COMMIT_RELATIVE ("relative=True");
# either polled through blockJobInfo every 0.5 s (wait_for_job).  The
# files come from Cinder's delete_info, which names them as its remotefs
# drivers keep them: by their bare names, relative to the share, which
# libvirt looks up in the disk's chain.  The active-layer commit with a
# pivot is the path of newer Novas.
NOVA = textwrap.dedent("""\
    import os, sys, threading, time, libvirt
    uri, how, disk = sys.argv[1:4]
    overlays, base = sys.argv[4:-1], sys.argv[-1]
    libvirt.virEventRegisterDefaultImpl()
    def loop():
        while True:
            libvirt.virEventRunDefaultImpl()
    threading.Thread(target=loop, daemon=True).start()
    c = libvirt.open(uri)
    dom = c.lookupByName('nova')
    ended = []
    c.domainEventRegisterAny(dom, libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2,
                             lambda c, d, disk, t, s, o: ended.append(s),
                             None)
    def snapshot(overlay):
        xml = ("<domainsnapshot><disks><disk name='%s' snapshot='external'"
               " type='file'><source file='%s'/></disk></disks>"
               "</domainsnapshot>" % (disk, overlay))
        flags = (libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY |
                 libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA |
                 libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT)
        try:
            dom.snapshotCreateXML(xml, flags |
                                  libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE)
            raise SystemExit('a quiesced snapshot was taken')
        except libvirt.libvirtError:
            dom.snapshotCreateXML(xml, flags)
    def wait_job(ready=False):
        deadline = time.time() + 60
        while time.time() < deadline:
            info = dom.blockJobInfo(disk, 0)
            if not info and not ready:
                return
            if info and info['cur'] == info['end'] and ready and \\
                    "ready='yes'" in dom.XMLDesc(0):
                return
            time.sleep(0.5)
        raise SystemExit('the job did not end')
    if sys.stdin.readline().strip() != 'go':
        raise SystemExit('no go')
    for ov in overlays:
        snapshot(ov)
    print('snapshotted')
    sys.stdout.flush()
    sys.stdin.readline()        # the guest wrote meanwhile
    if how == 'commit':
        # The active layer (Nova's commit_top, the disk's file) into its
        # backing file (commit_base, from qemu-img info), with Nova's
        # flags, then the pivot.
        dom.blockCommit(disk, base, overlays[-1], 0,
                        libvirt.VIR_DOMAIN_BLOCK_COMMIT_ACTIVE |
                        libvirt.VIR_DOMAIN_BLOCK_COMMIT_RELATIVE)
        wait_job(ready=True)
        dom.blockJobAbort(disk, libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
    elif how == 'commit-below':
        # The snapshot in the middle (file_to_merge, the first overlay)
        # into the volume below it (merge_target_file), relative.
        dom.blockCommit(disk, os.path.basename(base),
                        os.path.basename(overlays[0]), 0,
                        libvirt.VIR_DOMAIN_BLOCK_COMMIT_RELATIVE)
        wait_job()
    else:
        # The middle image into the active one: the active one's backing
        # becomes the base, named relatively.
        dom.blockRebase(disk, os.path.basename(base), 0,
                        libvirt.VIR_DOMAIN_BLOCK_REBASE_RELATIVE)
        wait_job()
    deadline = time.time() + 10
    while libvirt.VIR_DOMAIN_BLOCK_JOB_COMPLETED not in ended and \\
            time.time() < deadline:
        time.sleep(0.05)
    print('events', ended)
    print('blockjob', dom.blockJobInfo(disk, 0))
    print('snapshots', dom.snapshotNum(0))
    """)


def nova_replay(host, how, args, snapshotted_chain, pattern, offset_mib):
    """Runs NOVA: the snapshots, a check of the live chain they made
    (SNAPSHOTTED_CHAIN), the guest's write of PATTERN at OFFSET_MIB
    through its disk, then the deletion HOW.  Returns what NOVA printed,
    by key."""
    nova = subprocess.Popen([xvtest.PYTHON, "-c", NOVA, host.uri, how,
                             "xvda", *map(str, args)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=xvtest.driver_env(leaks=False))
    try:
        nova.stdin.write("go\n")
        nova.stdin.flush()
        assert nova.stdout.readline().strip() == "snapshotted", \
            nova.stderr.read()
        assert chain(host.virsh("dumpxml", "nova").out, "xvda") == \
            [str(f) for f in snapshotted_chain]
        guest_write(host, "nova", "xvda", pattern, offset_mib)
        nova.stdin.write("\n")
        nova.stdin.flush()
        out, err = nova.communicate(timeout=120)
    finally:
        if nova.poll() is None:
            nova.kill()
            nova.wait()
    assert nova.returncode == 0, err
    return dict(line.split(" ", 1) for line in out.splitlines())


def test_nova_volume_snapshot_deleted_by_active_commit(embed, tmp_path):
    base = make_qcow2(tmp_path / "volume.qcow2", 16, pattern=0x11)
    create(embed, tmp_path, "nova", [disk_xml(base, "xvda")])
    # The volume driver makes the overlay (Cinder's remotefs drivers do it
    # with qemu-img) before asking Nova.
    ov = tmp_path / "volume.snap1"
    qemu_img("create", "-q", "-f", "qcow2", "-b", str(base), "-F", "qcow2",
             str(ov))
    lines = nova_replay(embed, "commit", [ov, base], [ov, base], 0x33, 3)
    assert lines["events"] == str([libvirt.VIR_DOMAIN_BLOCK_JOB_READY,
                                   libvirt.VIR_DOMAIN_BLOCK_JOB_COMPLETED])
    assert lines["blockjob"] == "{}"
    assert lines["snapshots"] == "0"        # NO_METADATA
    # The disk is the volume again, with what the guest wrote.
    assert chain(embed.virsh("dumpxml", "nova").out, "xvda") == [str(base)]
    assert embed.virsh("destroy", "nova").rc == 0
    assert reads_as(base, 0x33, 3) and reads_as(base, 0x11, 0)
    # The overlay holds nothing the volume lacks.
    qemu_img("compare", str(base), str(ov))


def cinder_overlays(tmp_path, base):
    """Two snapshot overlays as Cinder's remotefs drivers make them: each
    names its backing file by its bare name (the share is mounted
    elsewhere on each host)."""
    snap1 = tmp_path / "volume.snap1"
    snap2 = tmp_path / "volume.snap2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", base.name, "-F", "qcow2",
             str(snap1))
    qemu_img("create", "-q", "-f", "qcow2", "-b", snap1.name, "-F", "qcow2",
             str(snap2))
    assert image_info(snap2)["backing-filename"] == "volume.snap1"
    # What the first snapshot holds (Nova's REUSE_EXT: the caller's).
    qemu_io(snap1, "write -P 0x55 5M 1M")
    return snap1, snap2


def nova_snapshot_deleted(host, tmp_path, how):
    """Two Cinder snapshots of a volume (which holds 0x11 at 0), the
    guest's 0x44 at 4 MiB meanwhile, then the first snapshot (snap1, in
    the middle of the chain once the second is taken) deleted HOW: one
    COMPLETED event, no job left, snap1 gone from the live chain, and the
    active image still naming the volume relatively.  Returns (volume,
    snap1, snap2), the domain destroyed."""
    base = make_qcow2(tmp_path / "volume.qcow2", 16, pattern=0x11)
    create(host, tmp_path, "nova", [disk_xml(base, "xvda")])
    snap1, snap2 = cinder_overlays(tmp_path, base)
    lines = nova_replay(host, how, [snap1, snap2, base],
                        [snap2, snap1, base], 0x44, 4)
    assert lines["events"] == str([libvirt.VIR_DOMAIN_BLOCK_JOB_COMPLETED])
    assert lines["blockjob"] == "{}"
    assert chain(host.virsh("dumpxml", "nova").out, "xvda") == \
        [str(snap2), str(base)]
    assert host.virsh("destroy", "nova").rc == 0
    # RELATIVE: the volume keeps being named as Cinder named it.
    assert image_info(snap2)["backing-filename"] == "volume.qcow2"
    return base, snap1, snap2


def test_nova_volume_snapshot_deleted_by_rebase(embed, tmp_path):
    base, snap1, snap2 = nova_snapshot_deleted(embed, tmp_path, "rebase")
    # It was pulled up: the active image reads as the whole chain did.
    assert reads_as(snap2, 0x44, 4) and reads_as(snap2, 0x55, 5)
    assert reads_as(snap2, 0x11, 0)
    assert reads_as(base, 0, 4)


def test_nova_volume_snapshot_deleted_by_commit_below(embed, tmp_path):
    base, snap1, snap2 = nova_snapshot_deleted(embed, tmp_path,
                                               "commit-below")
    # The first snapshot's data went down into the volume; the guest's
    # writes stayed in the active image.
    assert reads_as(base, 0x55, 5) and reads_as(base, 0x11, 0)
    assert reads_as(snap2, 0x44, 4) and reads_as(base, 0, 4)
