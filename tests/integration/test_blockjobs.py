"""Block jobs (DESIGN.md section 7) through real virsh and python-libvirt,
with a real qemu-storage-daemon serving real qcow2 images.

What each test checks against the images themselves (qemu-img), after the
domain is destroyed (destroy waits for the disk server, so the images are
closed and flushed):
- blockcopy --wait --pivot: the copy is identical to the source and the
  live XML names it;
- blockpull --wait: the top image no longer needs its backing file;
- the error codes of virDomainBlockJobAbort and friends, the live
  <mirror> element, GetBlockJobInfo never showing cur == end before ready;
- a synchronous abort returns with its CANCELED event already queued, and
  two other clients see the same block-job events as the one that acted.
"""

import json
import os
import shutil
import signal
import subprocess
import textwrap
from pathlib import Path

import libvirt
import pytest

import xvtest

pytestmark = pytest.mark.skipif(
    subprocess.run(["sh", "-c", "command -v qemu-storage-daemon && "
                    "command -v qemu-img"], capture_output=True).returncode,
    reason="qemu-storage-daemon or qemu-img missing (tools/setup-deps)")


def qemu_img(*args):
    return subprocess.run(["qemu-img", *args], capture_output=True,
                          text=True, timeout=60)


def make_image(path, size_mib=64, written_mib=8, backing=None):
    if backing:
        res = qemu_img("create", "-q", "-f", "qcow2", "-b", str(backing),
                       "-F", "qcow2", str(path))
    else:
        res = qemu_img("create", "-q", "-f", "qcow2", str(path),
                       f"{size_mib}M")
    assert res.returncode == 0, res.stderr
    if written_mib:
        res = subprocess.run(["qemu-io", "-f", "qcow2", "-c",
                              f"write -P 0x5a 0 {written_mib}M", str(path)],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
    return path


def domain_xml(tmp, disk, name="bj"):
    kernel = tmp / "kernel"
    kernel.write_text("a simulated kernel\n")
    return textwrap.dedent(f"""\
        <domain type='xen'>
          <name>{name}</name>
          <memory unit='MiB'>64</memory>
          <os><type arch='x86_64'>xen</type><kernel>{kernel}</kernel></os>
          <devices>
            <disk type='file' device='disk'>
              <driver name='qemu' type='qcow2'/>
              <source file='{disk}'/><target dev='xvda' bus='xen'/>
            </disk>
          </devices>
        </domain>""")


def create(host, tmp, disk, name="bj"):
    """A transient domain (libvirt copies only transient domains, unless
    asked for a transient job)."""
    f = tmp / f"{name}.xml"
    f.write_text(domain_xml(tmp, disk, name))
    res = host.virsh("create", str(f))
    assert res.rc == 0, res
    return f


def test_blockcopy_wait_pivot(embed, tmp_path):
    src = make_image(tmp_path / "src.qcow2")
    dest = tmp_path / "copy.qcow2"
    create(embed, tmp_path, src)
    res = embed.virsh("blockcopy", "bj", "xvda", str(dest), "--wait",
                      "--pivot", "--verbose", timeout=120)
    assert res.rc == 0, res
    assert "Block Copy: [100 %]" in res.err
    xml = embed.virsh("dumpxml", "bj").out
    assert f"<source file='{dest}'/>" in xml
    assert "<mirror" not in xml
    # No job any more, in this process or the next.
    res = embed.virsh("blockjob", "bj", "xvda", "--info")
    assert res.rc == 0 and res.out.strip() == "", res
    assert embed.virsh("destroy", "bj").rc == 0
    res = qemu_img("compare", str(src), str(dest))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "identical" in res.stdout


def test_blockpull_wait(embed, tmp_path):
    base = make_image(tmp_path / "base.qcow2", 32, 4)
    top = make_image(tmp_path / "top.qcow2", written_mib=0, backing=base)
    create(embed, tmp_path, top)
    res = embed.virsh("blockpull", "bj", "xvda", "--wait", "--verbose",
                      timeout=120)
    assert res.rc == 0, res
    assert "Block Pull: [100 %]" in res.err
    assert embed.virsh("destroy", "bj").rc == 0
    info = qemu_img("info", "--output=json", str(top))
    assert info.returncode == 0, info.stderr
    assert "backing-filename" not in json.loads(info.stdout)
    # Its data came in: it reads as the base did, on its own.
    res = qemu_img("compare", str(base), str(top))
    assert res.returncode == 0, res.stdout + res.stderr


ABORTS = textwrap.dedent("""\
    import sys, threading, libvirt
    uri, dest, dest2 = sys.argv[1:4]
    libvirt.virEventRegisterDefaultImpl()
    def loop():
        while True:
            libvirt.virEventRunDefaultImpl()
    threading.Thread(target=loop, daemon=True).start()
    c = libvirt.open(uri)
    d = c.lookupByName('bj')
    def code(f):
        try:
            f()
            return 'ok'
        except libvirt.libvirtError as e:
            return str(e.get_error_code())
    out = {}
    # No job: abort(0) is an error (Nova tolerates it), info says none.
    out['abort-none'] = code(lambda: d.blockJobAbort('xvda', 0))
    out['info-none'] = repr(d.blockJobInfo('xvda', 0))
    out['bad-flags'] = code(lambda: d.blockJobAbort('xvda', 1 << 20))
    out['no-disk'] = code(lambda: d.blockJobAbort('xvdz', 0))
    # A slow copy (64 KiB/s): never ready during this test (QEMU copies
    # its first buffer, 16 MiB, at once, then keeps to the speed).
    out['copy'] = code(lambda: d.blockRebase(
        'xvda', dest, 64 * 1024,
        libvirt.VIR_DOMAIN_BLOCK_REBASE_COPY |
        libvirt.VIR_DOMAIN_BLOCK_REBASE_BANDWIDTH_BYTES))
    out['second-job'] = code(lambda: d.blockPull('xvda', 0, 0))
    out['mirror'] = str("<mirror type='file' file='%s'" % dest in d.XMLDesc(0))
    out['ready-attr'] = str("ready=" in d.XMLDesc(0))
    info = d.blockJobInfo('xvda', libvirt.VIR_DOMAIN_BLOCK_JOB_INFO_BANDWIDTH_BYTES)
    out['info-type'] = str(info['type'])
    out['info-bw'] = str(info['bandwidth'])
    out['info-not-done'] = str(info['cur'] < info['end'])
    out['pivot-early'] = code(lambda: d.blockJobAbort(
        'xvda', libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT))
    out['speed'] = code(lambda: d.blockJobSetSpeed('xvda', 1, 0))
    out['info-mib'] = str(d.blockJobInfo('xvda', 0)['bandwidth'])
    out['abort-async'] = code(lambda: d.blockJobAbort(
        'xvda', libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_ASYNC))
    # The cancel is under way or done: never a second success.
    out['abort-again'] = code(lambda: d.blockJobAbort('xvda', 0))
    for k, v in out.items():
        print(k, v)
    """)


def test_abort_semantics(embed, tmp_path):
    src = make_image(tmp_path / "src.qcow2", 128, 64)
    create(embed, tmp_path, src)
    dest = tmp_path / "copy.qcow2"
    res = xvtest.python(ABORTS, embed.uri, str(dest),
                        str(tmp_path / "copy2.qcow2"), timeout=120)
    assert res.rc == 0, res
    got = dict(line.split(" ", 1) for line in res.out.splitlines())
    assert got["abort-none"] == str(libvirt.VIR_ERR_INVALID_ARG)
    assert got["info-none"] == "{}"
    assert got["bad-flags"] == str(libvirt.VIR_ERR_INVALID_ARG)
    assert got["no-disk"] == str(libvirt.VIR_ERR_INVALID_ARG)
    assert got["copy"] == "ok"
    assert got["second-job"] == str(libvirt.VIR_ERR_BLOCK_COPY_ACTIVE)
    assert got["mirror"] == "True"
    assert got["ready-attr"] == "False"
    assert got["info-type"] == str(libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_COPY)
    assert got["info-bw"] == str(64 * 1024)
    assert got["info-not-done"] == "True"
    assert got["pivot-early"] == str(libvirt.VIR_ERR_BLOCK_COPY_ACTIVE)
    assert got["speed"] == "ok"
    assert got["info-mib"] == "1"
    assert got["abort-async"] == "ok"
    # Still ending (the usual case), or ended already if the cancel beat
    # the call: never accepted twice.
    assert got["abort-again"] in (str(libvirt.VIR_ERR_OPERATION_INVALID),
                                  str(libvirt.VIR_ERR_INVALID_ARG)), got
    # The next process finds no job and no stale <mirror>.
    assert xvtest.wait_for(
        lambda: embed.virsh("blockjob", "bj", "xvda", "--info").out == "")
    assert "<mirror" not in embed.virsh("dumpxml", "bj").out
    assert embed.virsh("destroy", "bj").rc == 0


def test_persistent_domain_needs_transient_job(embed, tmp_path):
    src = make_image(tmp_path / "src.qcow2")
    f = tmp_path / "p.xml"
    f.write_text(domain_xml(tmp_path, src, "pers"))
    assert embed.virsh("define", str(f)).rc == 0
    assert embed.virsh("start", "pers").rc == 0
    res = embed.virsh("blockcopy", "pers", "xvda",
                      str(tmp_path / "copy.qcow2"))
    assert res.rc != 0 and "domain is not transient" in res.err, res
    res = embed.virsh("blockcopy", "pers", "xvda",
                      str(tmp_path / "copy.qcow2"), "--transient-job",
                      "--wait", "--pivot", timeout=120)
    assert res.rc == 0, res
    assert embed.virsh("destroy", "pers").rc == 0
    assert embed.virsh("undefine", "pers").rc == 0


WATCHER = textwrap.dedent("""\
    import sys, threading, time, libvirt
    libvirt.virEventRegisterDefaultImpl()
    c = libvirt.open(sys.argv[1])
    lock = threading.Lock()
    seen = []
    def one(conn, dom, disk, typ, status, opaque):
        with lock:
            seen.append((opaque, disk, typ, status))
    c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_JOB,
                             one, 'BLOCK_JOB')
    c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2,
                             one, 'BLOCK_JOB_2')
    def loop():
        while True:
            libvirt.virEventRunDefaultImpl()
    threading.Thread(target=loop, daemon=True).start()
    print('ready', flush=True)
    end = time.monotonic() + 60
    while time.monotonic() < end:
        with lock:
            if sum(1 for s in seen if s[3] != libvirt.VIR_DOMAIN_BLOCK_JOB_READY) >= 2:
                break
        time.sleep(0.05)
    time.sleep(0.3)
    with lock:
        for s in seen:
            print('%s %s %d %d' % s)
    """)

ACTOR = textwrap.dedent("""\
    import sys, threading, time, libvirt
    libvirt.virEventRegisterDefaultImpl()
    c = libvirt.open(sys.argv[1])
    dest = sys.argv[2]
    lock = threading.Lock()
    seen = []
    def one(conn, dom, disk, typ, status, opaque):
        with lock:
            seen.append((opaque, disk, typ, status))
    c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_JOB,
                             one, 'BLOCK_JOB')
    c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2,
                             one, 'BLOCK_JOB_2')
    def loop():
        while True:
            libvirt.virEventRunDefaultImpl()
    threading.Thread(target=loop, daemon=True).start()
    d = c.lookupByName('bj')
    d.blockCopy('xvda', "<disk type='file'><source file='%s'/>"
                "<driver type='qcow2'/></disk>" % dest, None, 0)
    # As Nova does: poll every 0.5 s until cur == end and the XML says ready.
    end = time.monotonic() + 60
    while time.monotonic() < end:
        info = d.blockJobInfo('xvda', 0)
        if info and info['cur'] == info['end'] and "ready='yes'" in d.XMLDesc(0):
            break
        time.sleep(0.5)
    else:
        print('never ready', info)
        sys.exit(1)
    d.blockJobAbort('xvda', 0)
    # Synchronous: the CANCELED event was queued before the call returned.
    t0 = time.monotonic()
    while time.monotonic() - t0 < 5:
        with lock:
            if any(s[3] == libvirt.VIR_DOMAIN_BLOCK_JOB_CANCELED for s in seen):
                break
        time.sleep(0.01)
    print('info-after', repr(d.blockJobInfo('xvda', 0)))
    print('mirror-after', "<mirror" in d.XMLDesc(0))
    time.sleep(0.3)
    with lock:
        for s in seen:
            print('%s %s %d %d' % s)
    """)


def test_sync_abort_events_to_every_client(daemon, tmp_path):
    src = make_image(tmp_path / "src.qcow2", 64, 8)
    create(daemon, tmp_path, src)
    env = xvtest.driver_env(leaks=False)
    watchers = [subprocess.Popen([xvtest.PYTHON, "-c", WATCHER, daemon.uri],
                                 stdout=subprocess.PIPE, text=True, env=env)
                for _ in range(2)]
    try:
        for w in watchers:
            assert w.stdout.readline().strip() == "ready"
        res = xvtest.python(ACTOR, daemon.uri, str(tmp_path / "copy.qcow2"),
                            timeout=120)
        assert res.rc == 0, res
        lines = res.out.splitlines()
        assert lines[0] == "info-after {}", res.out
        assert lines[1] == "mirror-after False", res.out
        actor = lines[2:]
        src_path = str(src)
        expected = [
            f"BLOCK_JOB {src_path} {libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_COPY} "
            f"{libvirt.VIR_DOMAIN_BLOCK_JOB_READY}",
            f"BLOCK_JOB_2 xvda {libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_COPY} "
            f"{libvirt.VIR_DOMAIN_BLOCK_JOB_READY}",
            f"BLOCK_JOB {src_path} {libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_COPY} "
            f"{libvirt.VIR_DOMAIN_BLOCK_JOB_CANCELED}",
            f"BLOCK_JOB_2 xvda {libvirt.VIR_DOMAIN_BLOCK_JOB_TYPE_COPY} "
            f"{libvirt.VIR_DOMAIN_BLOCK_JOB_CANCELED}",
        ]
        assert actor == expected, res.out
        for w in watchers:
            out, _ = w.communicate(timeout=90)
            assert w.returncode == 0
            assert out.splitlines() == expected, out
    finally:
        for w in watchers:
            if w.poll() is None:
                w.kill()
                w.wait()
        daemon.virsh("destroy", "bj")
    # The source is intact after an aborted copy.
    res = qemu_img("check", str(src))
    assert res.returncode == 0, res.stdout + res.stderr


def test_read_only_connection_is_refused(daemon, tmp_path):
    src = make_image(tmp_path / "src.qcow2", 64, 1)
    create(daemon, tmp_path, src, "ro")
    try:
        for args in (["blockjob", "ro", "xvda", "--abort"],
                     ["blockpull", "ro", "xvda"],
                     ["blockcopy", "ro", "xvda", str(tmp_path / "c.qcow2")],
                     ["blockjob", "ro", "xvda", "--bandwidth", "1"]):
            res = daemon.virsh(*args, readonly=True)
            assert res.rc != 0 and "read only" in res.err.lower(), (args, res)
        # A query is allowed.
        assert daemon.virsh("blockjob", "ro", "xvda", "--info",
                            readonly=True).rc == 0
    finally:
        daemon.virsh("destroy", "ro")


WATCH_TWO = textwrap.dedent("""\
    import sys, threading, time, libvirt
    libvirt.virEventRegisterDefaultImpl()
    c = libvirt.open(sys.argv[1])
    seen = []
    c.domainEventRegisterAny(
        None, libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2,
        lambda conn, dom, disk, typ, status, o: seen.append(status), None)
    def loop():
        while True:
            libvirt.virEventRunDefaultImpl()
    threading.Thread(target=loop, daemon=True).start()
    print('ready', flush=True)
    end = time.monotonic() + 60
    while time.monotonic() < end and libvirt.VIR_DOMAIN_BLOCK_JOB_COMPLETED not in seen:
        time.sleep(0.05)
    print(' '.join(str(s) for s in seen))
    """)


def test_job_tracked_after_libvirtd_kill(own_daemon, tmp_path):
    src = make_image(tmp_path / "src.qcow2", 128, 64)
    dest = tmp_path / "copy.qcow2"
    create(own_daemon, tmp_path, src)
    # 8 MiB/s: ready some 8 s later, long after libvirtd died and came
    # back, and with no call on the disk in between.
    res = own_daemon.virsh("blockcopy", "bj", "xvda", str(dest),
                           "--bandwidth", "8")
    assert res.rc == 0, res
    os.kill(own_daemon.pid, signal.SIGKILL)
    assert xvtest.wait_for(
        lambda: not Path(f"/proc/{own_daemon.pid}").exists(), 10)
    own_daemon.start()
    assert "<mirror type='file' file='%s'" % dest in \
        own_daemon.virsh("dumpxml", "bj").out
    watcher = subprocess.Popen([xvtest.PYTHON, "-c", WATCH_TWO,
                                own_daemon.uri], stdout=subprocess.PIPE,
                               text=True, env=xvtest.driver_env(leaks=False))
    try:
        assert watcher.stdout.readline().strip() == "ready"
        # The restarted daemon follows the job by itself: its READY comes.
        assert xvtest.wait_for(lambda: "ready='yes'" in own_daemon.virsh(
            "dumpxml", "bj").out, 60)
        res = own_daemon.virsh("blockjob", "bj", "xvda", "--pivot")
        assert res.rc == 0, res
        out, _ = watcher.communicate(timeout=90)
        assert out.split() == [str(libvirt.VIR_DOMAIN_BLOCK_JOB_READY),
                               str(libvirt.VIR_DOMAIN_BLOCK_JOB_COMPLETED)]
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    xml = own_daemon.virsh("dumpxml", "bj").out
    assert f"<source file='{dest}'/>" in xml and "<mirror" not in xml
    assert own_daemon.virsh("destroy", "bj").rc == 0
    res = qemu_img("compare", str(src), str(dest))
    assert res.returncode == 0, res.stdout + res.stderr


NOVA_SWAP = textwrap.dedent("""\
    import sys, threading, time, libvirt
    libvirt.virEventRegisterDefaultImpl()
    def loop():
        while True:
            libvirt.virEventRunDefaultImpl()
    threading.Thread(target=loop, daemon=True).start()
    c = libvirt.open(sys.argv[1])
    new = sys.argv[2]
    dom = c.lookupByName('nova')
    # nova.virt.libvirt.guest.BlockDevice.abort_job: no job is fine.
    try:
        dom.blockJobAbort('xvda', 0)
    except libvirt.libvirtError as e:
        assert e.get_error_code() == libvirt.VIR_ERR_INVALID_ARG, e
    xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE |
                      libvirt.VIR_DOMAIN_XML_SECURE)
    dom.undefine()                      # a transient domain for the copy
    dom.blockCopy('xvda', "<disk type='file'><driver name='qemu' type='qcow2'/>"
                  "<source file='%s'/></disk>" % new, None,
                  libvirt.VIR_DOMAIN_BLOCK_COPY_REUSE_EXT)
    polls = 0
    while True:
        info = dom.blockJobInfo('xvda', 0)
        assert info, 'the job vanished'
        # Never "done" before it is: cur == end only with ready='yes'.
        live = dom.XMLDesc(0)
        if info['cur'] == info['end']:
            assert "ready='yes'" in live, (info, live)
            break
        polls += 1
        assert polls < 120
        time.sleep(0.5)
    dom.blockJobAbort('xvda', libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
    # Synchronous: no job left, the live XML names the new volume.
    assert dom.blockJobInfo('xvda', 0) == {}
    live = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE)
    assert "<source file='%s'/>" % new in live, live
    assert '<mirror' not in live, live
    c.defineXML(live)                   # persistent again, on the new volume
    print('ok')
    """)


def test_nova_volume_swap(daemon, tmp_path):
    src = make_image(tmp_path / "src.qcow2", 64, 8)
    new = make_image(tmp_path / "new.qcow2", 64, 0)
    f = tmp_path / "nova.xml"
    f.write_text(domain_xml(tmp_path, src, "nova"))
    assert daemon.virsh("define", str(f)).rc == 0
    assert daemon.virsh("start", "nova").rc == 0
    try:
        res = xvtest.python(NOVA_SWAP, daemon.uri, str(new), timeout=120)
        assert res.rc == 0, res
        assert res.out.strip() == "ok", res
        inactive = daemon.virsh("dumpxml", "--inactive", "nova").out
        assert f"<source file='{new}'/>" in inactive
    finally:
        daemon.virsh("destroy", "nova")
        daemon.virsh("undefine", "nova")
    res = qemu_img("compare", str(src), str(new))
    assert res.returncode == 0, res.stdout + res.stderr


def test_async_pivot_seen_by_the_next_process(embed, tmp_path):
    """In embedded mode the process that asked for an asynchronous pivot
    may end before the pivot does: the next call on the disk finds the
    job gone and the disk server's export on the copy, and follows."""
    src = make_image(tmp_path / "src.qcow2", 64, 8)
    dest = tmp_path / "copy.qcow2"
    create(embed, tmp_path, src)
    res = embed.virsh("blockcopy", "bj", "xvda", str(dest), "--wait",
                      "--async", "--pivot", "--timeout", "60", timeout=120)
    assert res.rc == 0, res
    assert xvtest.wait_for(lambda: embed.virsh(
        "blockjob", "bj", "xvda", "--info").out == "")
    xml = embed.virsh("dumpxml", "bj").out
    assert f"<source file='{dest}'/>" in xml and "<mirror" not in xml, xml
    assert embed.virsh("destroy", "bj").rc == 0
    res = qemu_img("compare", str(src), str(dest))
    assert res.returncode == 0, res.stdout + res.stderr


def test_blockcopy_below_a_deep_root(build_dir, short_dir, tmp_path):
    """The disk server's sockets move to a short directory when the
    embedded root is too deep for their names (as the simulated host's
    do); the copy works the same."""
    root = short_dir / "deep"
    root = root / ("r" * (200 - len(str(root)) - 1))
    root.mkdir(parents=True)
    host = xvtest.EmbeddedHost(root)
    sim_link = root / "run" / "xenvirt" / "xensim"
    try:
        src = make_image(tmp_path / "src.qcow2", 64, 4)
        dest = tmp_path / "copy.qcow2"
        create(host, tmp_path, src)
        res = host.virsh("blockcopy", "bj", "xvda", str(dest), "--wait",
                         "--pivot", timeout=120)
        assert res.rc == 0, res
        assert f"<source file='{dest}'/>" in host.virsh("dumpxml", "bj").out
        assert not any(root.rglob("*.sock"))
        assert host.virsh("destroy", "bj").rc == 0
        assert qemu_img("compare", str(src), str(dest)).returncode == 0
    finally:
        target = sim_link.resolve() if sim_link.is_symlink() else None
        xvtest.stop_simulated_hosts(short_dir)
        if target is not None:
            shutil.rmtree(target, ignore_errors=True)


def test_blockcommit_and_active_commit(embed, tmp_path):
    base = make_image(tmp_path / "base.qcow2", 32, 4)
    mid = make_image(tmp_path / "mid.qcow2", written_mib=0, backing=base)
    top = make_image(tmp_path / "top.qcow2", written_mib=0, backing=mid)
    for img, pattern, offset in ((mid, "0x22", "4M"), (top, "0x33", "8M")):
        res = subprocess.run(["qemu-io", "-f", "qcow2", "-c",
                              f"write -P {pattern} {offset} 1M", str(img)],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
    create(embed, tmp_path, top)
    # mid into base: one phase; the disk keeps its image.
    res = embed.virsh("blockcommit", "bj", "xvda", "--top", str(mid),
                      "--base", str(base), "--wait", "--verbose", timeout=120)
    assert res.rc == 0, res
    assert f"<source file='{top}'/>" in embed.virsh("dumpxml", "bj").out
    # The active layer needs --active, as with libvirt's QEMU driver.
    res = embed.virsh("blockcommit", "bj", "xvda")
    assert res.rc != 0 and "requires active flag" in res.err, res
    # Active commit into the bottom of the chain, then pivot: the disk is
    # the base.
    res = embed.virsh("blockcommit", "bj", "xvda", "--active", "--wait",
                      "--pivot", "--verbose", timeout=120)
    assert res.rc == 0, res
    xml = embed.virsh("dumpxml", "bj").out
    assert f"<source file='{base}'/>" in xml and "<mirror" not in xml, xml
    assert embed.virsh("destroy", "bj").rc == 0
    res = subprocess.run(["qemu-io", "-f", "qcow2",
                          "-c", "read -P 0x5a 0 4M", "-c", "read -P 0x22 4M 1M",
                          "-c", "read -P 0x33 8M 1M", str(base)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "verification failed" not in res.stdout, \
        res.stdout + res.stderr


# ---- the guest's own I/O through its disk's NBD export ----
#
# A guest whose script says "nbd-writer MS" writes block N of its disk
# (4 KiB at N * 4096) with pattern N every MS milliseconds through the
# disk server's export, in order, and publishes how many it wrote in
# data/nbd/<devid>/written (every 64); `xensimctl disk-verify` stops it,
# flushes and reads every block back (data/nbd/<devid>/verify).  See
# docs/xensim-host.md, "Disk I/O through the disk server".

BLOCK = 4096
XVDA = 51712            # xvda's devid


def pattern(n):
    """Block n of the writer's pattern (xsim_nbd_pattern in C)."""
    block = bytearray((n * 131 + i) & 0xff for i in range(BLOCK))
    head = b"xensim-nbd seq %d\n" % n
    block[:len(head)] = head
    return bytes(block)


def writer_xml(tmp, disk, name="bj", ms=5):
    kernel = tmp / "writer.kernel"
    kernel.write_text(f"#!xensim-guest\nnbd-writer {ms}\n")
    return domain_xml(tmp, disk, name).replace(
        f"<kernel>{tmp / 'kernel'}</kernel>", f"<kernel>{kernel}</kernel>")


def host_rundir(host):
    """The simulated host's run directory of an embedded root or a
    private libvirtd."""
    if isinstance(host, xvtest.PrivateDaemon):
        return host.sim_rundir
    return xvtest.sim_rundir(host.root)


def create_writer(host, tmp, disk, name="bj"):
    f = tmp / f"{name}.xml"
    f.write_text(writer_xml(tmp, disk, name))
    res = host.virsh("create", str(f))
    assert res.rc == 0, res
    rundir = host_rundir(host)
    return rundir, xvtest.sim_domains(rundir)[name][0]


def guest_node(rundir, domid, node):
    """The guest's data/nbd/<xvda>/NODE, or None."""
    res = xvtest.simctl(rundir, "tree", f"/local/domain/{domid}/data/nbd/{XVDA}")
    if res.returncode != 0:
        return None
    for line in res.stdout.splitlines():
        key, _, value = line.strip().partition(" = ")
        if key == node:
            return value.strip('"')
    return None


def written(rundir, domid):
    val = guest_node(rundir, domid, "written")
    return int(val) if val else 0


def verify(rundir, domid):
    """Asks the writer to stop and read back; its report as a dict."""
    res = xvtest.simctl(rundir, "disk-verify", domid)
    assert res.returncode == 0, res.stderr
    assert xvtest.wait_for(lambda: guest_node(rundir, domid, "verify"),
                           timeout=120)
    report = guest_node(rundir, domid, "verify")
    return {k: int(v) for k, v in
            (item.split("=") for item in report.split())}


def write_more_and_verify(rundir, domid):
    """Lets the guest write 128 blocks more, then has it read back: every
    write must read back right.  How many it wrote."""
    after = written(rundir, domid) + 128
    assert xvtest.wait_for(lambda: written(rundir, domid) >= after,
                           timeout=120), written(rundir, domid)
    report = verify(rundir, domid)
    assert report["mismatches"] == 0 and report["errors"] == 0, report
    return report["writes"]


def prefill(img, offset, length, byte="0x33"):
    res = subprocess.run(["qemu-io", "-f", "qcow2", "-c",
                          f"write -P {byte} {offset} {length}", str(img)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def raw_blocks(tmp, img, count):
    """The first COUNT blocks of IMG as qemu-img reads them."""
    raw = tmp / (img.name + ".raw")
    res = qemu_img("convert", "-f", "qcow2", "-O", "raw", str(img), str(raw))
    assert res.returncode == 0, res.stderr
    with open(raw, "rb") as f:
        data = f.read(count * BLOCK)
    raw.unlink()
    return [data[i * BLOCK:(i + 1) * BLOCK] for i in range(count)]


def assert_holds_writes(tmp, img, n):
    """IMG holds the writer's blocks 0 to n-1."""
    blocks = raw_blocks(tmp, img, n)
    bad = [k for k in range(n) if blocks[k] != pattern(k)]
    assert not bad, f"{len(bad)} of {n} writes missing in {img.name} from {bad[0]}"


@pytest.mark.parametrize("mode", ["embed", "daemon"])
def test_guest_writes_through_copy_and_pivot(mode, request, tmp_path):
    """The guest writes during `blockcopy --wait --pivot` (embedded, and
    through libvirtd): every write reads back, the copy holds every
    write, and the source holds exactly those made before the pivot (a
    prefix: the writes are in order), the rest of it as the copy."""
    host = request.getfixturevalue(mode)
    src = make_image(tmp_path / "src.qcow2", 256, 0)
    # 32 MiB to copy at 4 MiB/s (after QEMU's first 16 MiB at once): the
    # copy is under way for seconds while the guest writes.
    prefill(src, "192M", "32M")
    dest = tmp_path / "copy.qcow2"
    rundir, domid = create_writer(host, tmp_path, src)
    res = host.virsh("blockcopy", "bj", "xvda", str(dest), "--wait",
                      "--pivot", "--bandwidth", "4", "--verbose",
                      timeout=180)
    assert res.rc == 0, res
    assert f"<source file='{dest}'/>" in host.virsh("dumpxml", "bj").out
    # Writes after the pivot, on the copy only.
    n = write_more_and_verify(rundir, domid)
    assert host.virsh("destroy", "bj").rc == 0

    assert_holds_writes(tmp_path, dest, n)
    source = raw_blocks(tmp_path, src, n)
    p = 0
    while p < n and source[p] == pattern(p):
        p += 1
    # Some writes were made before the pivot, some after.
    assert 0 < p < n, (p, n)
    assert all(b == bytes(BLOCK) for b in source[p:]), \
        "the source has writes made after the pivot"
    # The copy without the writes made after the pivot is the source.
    masked = tmp_path / "copy-before-pivot.qcow2"
    res = qemu_img("create", "-q", "-f", "qcow2", "-b", str(dest), "-F",
                   "qcow2", str(masked))
    assert res.returncode == 0, res.stderr
    res = subprocess.run(["qemu-io", "-f", "qcow2", "-c",
                          f"write -z {p * BLOCK} {(n - p) * BLOCK}",
                          str(masked)], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    res = qemu_img("compare", str(src), str(masked))
    assert res.returncode == 0 and "identical" in res.stdout, \
        res.stdout + res.stderr


def test_guest_writes_through_aborted_copy(embed, tmp_path):
    """After `blockjob --abort` the guest goes on on the source, which
    holds every write, and the guest reads them all back."""
    src = make_image(tmp_path / "src.qcow2", 256, 0)
    # 64 MiB at 1 MiB/s: far from ready when it is aborted.
    prefill(src, "128M", "64M")
    dest = tmp_path / "copy.qcow2"
    rundir, domid = create_writer(embed, tmp_path, src)
    res = embed.virsh("blockcopy", "bj", "xvda", str(dest), "--bandwidth",
                      "1")
    assert res.rc == 0, res
    assert xvtest.wait_for(lambda: written(rundir, domid) >= 128,
                           timeout=120), written(rundir, domid)
    res = embed.virsh("blockjob", "bj", "xvda", "--abort")
    assert res.rc == 0, res
    assert "<mirror" not in embed.virsh("dumpxml", "bj").out
    n = write_more_and_verify(rundir, domid)
    assert embed.virsh("destroy", "bj").rc == 0

    assert_holds_writes(tmp_path, src, n)
    res = subprocess.run(["qemu-io", "-f", "qcow2", "-c",
                          "read -P 0x33 128M 64M", str(src)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "verification failed" not in res.stdout, \
        res.stdout + res.stderr
    res = qemu_img("check", str(src))
    assert res.returncode == 0, res.stdout + res.stderr


def test_guest_writes_through_snapshot_and_active_commit(embed, tmp_path):
    """Nova's volume snapshot and its deletion under a writing guest: a
    disk-only snapshot puts an overlay under the guest's writes, an
    active commit with pivot takes them down into the base, where the
    guest goes on writing: the base holds every write."""
    base = make_image(tmp_path / "base.qcow2", 256, 0)
    overlay = tmp_path / "ov1.qcow2"
    rundir, domid = create_writer(embed, tmp_path, base)
    res = embed.virsh("snapshot-create-as", "bj", "s1", "--disk-only",
                      "--diskspec", f"xvda,file={overlay}")
    assert res.rc == 0, res
    assert xvtest.wait_for(lambda: written(rundir, domid) >= 128,
                           timeout=120), written(rundir, domid)
    res = embed.virsh("blockcommit", "bj", "xvda", "--active", "--wait",
                      "--pivot", timeout=180)
    assert res.rc == 0, res
    assert f"<source file='{base}'/>" in embed.virsh("dumpxml", "bj").out
    n = write_more_and_verify(rundir, domid)
    assert embed.virsh("destroy", "bj").rc == 0

    assert_holds_writes(tmp_path, base, n)
    # Writes went through the overlay before the commit.
    res = qemu_img("map", "--output=json", str(overlay))
    assert res.returncode == 0, res.stderr
    assert any(e["depth"] == 0 and e["data"] and e["start"] < n * BLOCK
               for e in json.loads(res.stdout)), res.stdout


def test_guest_sees_blockresize_through_export(embed, tmp_path):
    """`virsh blockresize` grows the disk under a running guest: the
    export comes back with the new size, and the guest, connected again,
    sees it."""
    src = make_image(tmp_path / "src.qcow2", 64, 1)
    create(embed, tmp_path, src)
    rundir = xvtest.sim_rundir(embed.root)
    domid = xvtest.sim_domains(rundir)["bj"][0]
    res = embed.virsh("blockresize", "bj", "xvda", "96M")
    assert res.rc == 0, res
    assert xvtest.wait_for(
        lambda: guest_node(rundir, domid, "size") == str(96 << 20)), \
        guest_node(rundir, domid, "size")
    res = embed.virsh("blockresize", "bj", "xvda", "128M")
    assert res.rc == 0, res
    assert xvtest.wait_for(
        lambda: guest_node(rundir, domid, "size") == str(128 << 20)), \
        guest_node(rundir, domid, "size")
    assert embed.virsh("destroy", "bj").rc == 0


def test_guest_io_error_when_disk_server_dies(embed, tmp_path):
    """The disk server killed under a writing guest: the guest's requests
    fail (its read-back reports errors), the simulated host answers and
    the domain is destroyed as usual."""
    src = make_image(tmp_path / "src.qcow2", 256, 0)
    prefill(src, "128M", "64M")
    rundir, domid = create_writer(embed, tmp_path, src)
    res = embed.virsh("blockcopy", "bj", "xvda", str(tmp_path / "c.qcow2"),
                      "--bandwidth", "1")
    assert res.rc == 0, res
    assert xvtest.wait_for(lambda: written(rundir, domid) >= 64,
                           timeout=120), written(rundir, domid)
    pidfiles = list(embed.root.rglob("qsd/*/pid"))
    assert len(pidfiles) == 1, pidfiles
    os.kill(int(pidfiles[0].read_text().split()[0]), signal.SIGKILL)
    report = verify(rundir, domid)
    assert report["errors"] > 0, report
    assert report["mismatches"] == report["writes"], report
    assert xvtest.simctl(rundir, "list").returncode == 0
    assert embed.virsh("destroy", "bj").rc == 0
    assert "bj" not in xvtest.sim_domains(rundir)
