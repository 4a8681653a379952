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
import re
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


def kill_daemon(daemon):
    pid = daemon.pid
    os.kill(pid, signal.SIGKILL)
    assert xvtest.wait_for(lambda: not Path(f"/proc/{pid}").exists(), 10)


def kill_and_restart(daemon):
    kill_daemon(daemon)
    daemon.start()


def assert_only_completed(daemon, meanwhile=None):
    """A client watching from now on sees one block-job event, COMPLETED
    (after @meanwhile, if given, ran)."""
    watcher = subprocess.Popen([xvtest.PYTHON, "-c", WATCH_TWO, daemon.uri],
                               stdout=subprocess.PIPE, text=True,
                               env=xvtest.driver_env(leaks=False))
    try:
        assert watcher.stdout.readline().strip() == "ready"
        if meanwhile:
            meanwhile()
        out, _ = watcher.communicate(timeout=90)
        assert out.split() == [str(libvirt.VIR_DOMAIN_BLOCK_JOB_COMPLETED)]
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()


def test_pull_tracked_after_libvirtd_kill(own_daemon, tmp_path):
    """A pull (throttled: 64 MiB at 8 MiB/s) survives libvirtd killed -9:
    the restarted daemon follows it by itself, from its saved status,
    with no call on the disk: its COMPLETED comes and the live chain
    follows."""
    base = make_image(tmp_path / "base.qcow2", 128, 64)
    top = make_image(tmp_path / "top.qcow2", written_mib=0, backing=base)
    create(own_daemon, tmp_path, top)
    res = own_daemon.virsh("blockpull", "bj", "xvda", "--bandwidth", "8")
    assert res.rc == 0, res
    kill_and_restart(own_daemon)
    assert live_chain(own_daemon.virsh("dumpxml", "bj").out) == \
        [(str(top), None), (str(base), "1")]
    assert_only_completed(own_daemon)
    assert live_chain(own_daemon.virsh("dumpxml", "bj").out) == \
        [(str(top), None)]
    assert own_daemon.virsh("destroy", "bj").rc == 0
    assert "backing-filename" not in image_info(top)
    res = qemu_img("compare", str(base), str(top))
    assert res.returncode == 0, res.stdout + res.stderr


def test_commit_tracked_after_libvirtd_kill(own_daemon, tmp_path):
    """A commit below the active image, killed -9 under it: right after
    the restart blockjob --info shows it, and its end comes as with a
    pull."""
    base = make_image(tmp_path / "base.qcow2", 128, 4)
    mid = make_image(tmp_path / "mid.qcow2", written_mib=0, backing=base)
    top = make_image(tmp_path / "top.qcow2", written_mib=0, backing=mid)
    ref = write_layers(tmp_path, [(mid, "0x6d", "8M"), (mid, "0x6e", "9M"),
                                  (mid, "0x6f", "10M"), (top, "0x74", "80M")])
    res = subprocess.run(["qemu-io", "-f", "qcow2", "-c",
                          "write -P 0x6d 16M 48M", str(mid)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    res = qemu_img("convert", "-O", "raw", str(top), str(ref))
    assert res.returncode == 0, res.stderr
    create(own_daemon, tmp_path, top)
    res = own_daemon.virsh("blockcommit", "bj", "xvda", "--top", "xvda[1]",
                           "--base", "xvda[2]", "--bandwidth", "8")
    assert res.rc == 0, res
    kill_and_restart(own_daemon)

    def info():
        res = own_daemon.virsh("blockjob", "bj", "xvda", "--info")
        assert res.rc == 0 and "Block Commit: [" in res.err, res
        assert "Bandwidth limit: 8388608 bytes/s" in res.out, res

    assert_only_completed(own_daemon, info)
    assert live_chain(own_daemon.virsh("dumpxml", "bj").out) == \
        [(str(top), None), (str(base), "1")]
    assert own_daemon.virsh("destroy", "bj").rc == 0
    assert image_info(top)["backing-filename"] == str(base)
    assert same_data(top, ref)


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


# ---------------------------------------------------------------------------
# Relative backing names, shallow commit, DELETE, raw copies, granularity

def image_info(path):
    res = qemu_img("info", "--output=json", str(path))
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def relative_chain(tmp):
    """tmp/b/base.qcow2 <- tmp/m/mid.qcow2 <- tmp/top.qcow2, each naming
    its backing file relatively ("../b/base.qcow2", "m/mid.qcow2"), as
    Cinder's remotefs volume drivers make them; each layer holds data of
    its own.  Returns (base, mid, top, a raw image of what the chain
    reads as)."""
    (tmp / "b").mkdir()
    (tmp / "m").mkdir()
    base = make_image(tmp / "b" / "base.qcow2", 32, 4)
    mid = tmp / "m" / "mid.qcow2"
    res = qemu_img("create", "-q", "-f", "qcow2", "-b", "../b/base.qcow2",
                   "-F", "qcow2", str(mid))
    assert res.returncode == 0, res.stderr
    top = tmp / "top.qcow2"
    res = qemu_img("create", "-q", "-f", "qcow2", "-b", "m/mid.qcow2",
                   "-F", "qcow2", str(top))
    assert res.returncode == 0, res.stderr
    ref = write_layers(tmp, [(mid, "0x6d", "8M"), (top, "0x74", "12M")])
    assert image_info(top)["backing-filename"] == "m/mid.qcow2"
    return base, mid, top, ref


def write_layers(tmp, layers):
    """Writes 1 MiB of each (image, pattern, offset) with qemu-io, then
    returns a raw image of what the last one, the top, reads as."""
    for img, pattern, at in layers:
        res = subprocess.run(["qemu-io", "-f", "qcow2", "-c",
                              f"write -P {pattern} {at} 1M", str(img)],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
    ref = tmp / "ref.raw"
    res = qemu_img("convert", "-O", "raw", str(layers[-1][0]), str(ref))
    assert res.returncode == 0, res.stderr
    return ref


def same_data(image, ref):
    res = qemu_img("compare", "-F", "raw", str(image), str(ref))
    return res.returncode == 0


def test_blockpull_keeps_relative_backing(embed, tmp_path):
    base, mid, top, ref = relative_chain(tmp_path)
    create(embed, tmp_path, top)
    # RELATIVE needs a base (libvirt's check, before anything).
    res = embed.virsh("blockpull", "bj", "xvda", "--keep-relative")
    assert res.rc != 0 and "valid only with non-null base" in res.err, res
    res = embed.virsh("blockpull", "bj", "xvda", "--base", str(base),
                      "--keep-relative", "--wait", "--verbose", timeout=120)
    assert res.rc == 0, res
    assert "Block Pull: [100 %]" in res.err
    assert embed.virsh("destroy", "bj").rc == 0
    # The name top gave mid, then the one mid gave base, taken from mid's
    # directory: what libvirt's QEMU driver writes.
    info = image_info(top)
    assert info["backing-filename"] == "m/../b/base.qcow2", info
    assert info["full-backing-filename"].endswith("/m/../b/base.qcow2")
    assert same_data(top, ref)


def test_blockrebase_relative_refused_for_absolute_names(embed, tmp_path):
    base = make_image(tmp_path / "base.qcow2", 32, 4)
    mid = make_image(tmp_path / "mid.qcow2", written_mib=0, backing=base)
    top = make_image(tmp_path / "top.qcow2", written_mib=0, backing=mid)
    create(embed, tmp_path, top)
    code = textwrap.dedent("""\
        import sys, libvirt
        libvirt.virEventRegisterDefaultImpl()
        c = libvirt.open(sys.argv[1])
        d = c.lookupByName('bj')
        try:
            d.blockRebase('xvda', sys.argv[2], 0,
                          libvirt.VIR_DOMAIN_BLOCK_REBASE_RELATIVE)
            print('ok')
        except libvirt.libvirtError as e:
            print(e.get_error_code(), e.get_error_message())
        try:
            d.blockCommit('xvda', sys.argv[2], sys.argv[3], 0,
                          libvirt.VIR_DOMAIN_BLOCK_COMMIT_RELATIVE)
            print('ok')
        except libvirt.libvirtError as e:
            print(e.get_error_code(), e.get_error_message())
        print('job', d.blockJobInfo('xvda', 0))
        """)
    res = xvtest.python(code, embed.uri, str(base), str(mid), timeout=120)
    assert res.rc == 0, res
    lines = res.out.splitlines()
    # top names mid (and mid names base) by absolute path: libvirt's
    # "can't keep relative backing relationship", and no job.
    for line in lines[:2]:
        assert line.startswith(f"{libvirt.VIR_ERR_OPERATION_INVALID} "), res
        assert "can't keep relative backing relationship" in line, res
    assert lines[2] == "job {}", res
    assert embed.virsh("destroy", "bj").rc == 0
    assert image_info(top)["backing-filename"] == str(mid)


def test_blockcommit_keeps_relative_backing(embed, tmp_path):
    base, mid, top, ref = relative_chain(tmp_path)
    create(embed, tmp_path, top)
    res = embed.virsh("blockcommit", "bj", "xvda", "--top", str(mid),
                      "--base", str(base), "--keep-relative", "--wait",
                      "--verbose", timeout=120)
    assert res.rc == 0, res
    assert embed.virsh("destroy", "bj").rc == 0
    info = image_info(top)
    assert info["backing-filename"] == "m/../b/base.qcow2", info
    assert same_data(top, ref)
    # mid's data went down into base; mid itself is left (no --delete).
    assert mid.exists()


def four_chain(tmp):
    """base <- mid1 <- mid2 <- top, absolute names, data in each."""
    base = make_image(tmp / "base.qcow2", 32, 4)
    mid1 = make_image(tmp / "mid1.qcow2", written_mib=0, backing=base)
    mid2 = make_image(tmp / "mid2.qcow2", written_mib=0, backing=mid1)
    top = make_image(tmp / "top.qcow2", written_mib=0, backing=mid2)
    ref = write_layers(tmp, [(mid1, "0x31", "5M"), (mid2, "0x32", "6M"),
                             (top, "0x74", "7M")])
    return base, mid1, mid2, top, ref


def test_blockcommit_shallow_and_delete(embed, tmp_path):
    base, mid1, mid2, top, ref = four_chain(tmp_path)
    create(embed, tmp_path, top)
    # SHALLOW with a base that is not right below top: libvirt's error,
    # and nothing started or deleted.
    res = embed.virsh("blockcommit", "bj", "xvda", "--top", str(mid2),
                      "--base", str(base), "--shallow", "--delete")
    assert res.rc != 0, res
    assert (f"base '{base}' is not immediately below '{mid2}' in chain "
            f"for '{top}'") in res.err, res
    assert embed.virsh("blockjob", "bj", "xvda", "--info").out.strip() == ""
    # A top without backing.
    res = embed.virsh("blockcommit", "bj", "xvda", "--top", str(base),
                      "--shallow")
    assert res.rc != 0 and "has no backing file" in res.err, res
    # Shallow: mid2 into its own backing file, mid1; then mid2 is deleted.
    res = embed.virsh("blockcommit", "bj", "xvda", "--top", str(mid2),
                      "--shallow", "--delete", "--wait", timeout=120)
    assert res.rc == 0, res
    assert not mid2.exists()
    assert mid1.exists() and base.exists() and top.exists()
    # An active commit with DELETE: top into base, through mid1; after the
    # pivot top and mid1 go, base stays, with everything.
    res = embed.virsh("blockcommit", "bj", "xvda", "--active", "--pivot",
                      "--delete", "--wait", timeout=120)
    assert res.rc == 0, res
    xml = embed.virsh("dumpxml", "bj").out
    assert f"<source file='{base}'" in xml, xml
    assert embed.virsh("destroy", "bj").rc == 0
    assert not top.exists() and not mid1.exists()
    assert base.exists()
    assert same_data(base, ref)


def test_blockcommit_delete_leaves_files_outside_the_chain(embed, tmp_path):
    base, mid1, mid2, top, ref = four_chain(tmp_path)
    other = make_image(tmp_path / "other.qcow2", 8, 1)
    create(embed, tmp_path, top)
    # A non-active commit of mid2 down to base: mid2 and mid1 go; base,
    # top (the active image) and a file the chain never held stay.
    res = embed.virsh("blockcommit", "bj", "xvda", "--top", str(mid2),
                      "--base", str(base), "--delete", "--wait",
                      timeout=120)
    assert res.rc == 0, res
    assert not mid2.exists() and not mid1.exists()
    assert base.exists() and top.exists() and other.exists()
    assert embed.virsh("destroy", "bj").rc == 0
    assert image_info(top)["backing-filename"] == str(base)
    assert same_data(top, ref)


def live_chain(xml, target="xvda"):
    """[(file, index), ...] of disk TARGET's live chain, its own image
    first: the <backingStore index='N'> libvirt's "xvda[N]" names."""
    import xml.etree.ElementTree as ET
    for disk in ET.fromstring(xml).findall("./devices/disk"):
        if disk.find("target").get("dev") != target:
            continue
        out = [(disk.find("source").get("file"), None)]
        node = disk.find("backingStore")
        while node is not None and node.find("source") is not None:
            out.append((node.find("source").get("file"), node.get("index")))
            node = node.find("backingStore")
        return out
    return None


def destroy_on_chain(host, image, base, ref):
    """The live chain of xvda is IMAGE over BASE; once the domain is
    destroyed, IMAGE names BASE and reads as REF."""
    assert live_chain(host.virsh("dumpxml", "bj").out) == \
        [(str(image), None), (str(base), "1")]
    assert host.virsh("destroy", "bj").rc == 0
    assert image_info(image)["backing-filename"] == str(base)
    assert same_data(image, ref)


def test_index_notation_for_base_and_top(embed, tmp_path):
    """libvirt's "xvda[N]" for --base and --top: the image with
    <backingStore index='N'> in the live XML (virStorageSourceChainLookup),
    through virsh; the live chain and its indices follow each job and a
    snapshot."""
    base, mid1, mid2, top, ref = four_chain(tmp_path)
    create(embed, tmp_path, top)
    # The chain is read at start, numbered from the top down.
    assert live_chain(embed.virsh("dumpxml", "bj").out) == \
        [(str(top), None), (str(mid2), "1"), (str(mid1), "2"),
         (str(base), "3")]
    # libvirt's errors: another disk's name, an index the chain does not
    # hold, a base not below top; no job starts.
    res = embed.virsh("blockpull", "bj", "xvda", "--base", "xvdb[1]")
    assert res.rc != 0, res
    assert ("invalid argument: requested target 'xvdb' does not match "
            "target 'xvda'") in res.err, res
    res = embed.virsh("blockcommit", "bj", "xvda", "--top", "xvda[1]",
                      "--base", "xvda[9]")
    assert res.rc != 0, res
    assert ("invalid argument: could not find backing store index '9' in "
            "chain for 'xvda'") in res.err, res
    res = embed.virsh("blockcommit", "bj", "xvda", "--top", "xvda[2]",
                      "--base", "xvda[1]")
    assert res.rc != 0 and "could not find backing store index '1'" in \
        res.err, res
    res = embed.virsh("blockcommit", "bj", "xvda", "--top", "xvda[7]")
    assert res.rc != 0 and "could not find backing store index '7'" in \
        res.err, res
    assert embed.virsh("blockjob", "bj", "xvda", "--info").out.strip() == ""
    # mid1 (index 2) into base (3): the chain closes up and is numbered
    # again.
    res = embed.virsh("blockcommit", "bj", "xvda", "--top", "xvda[2]",
                      "--base", "xvda[3]", "--wait", timeout=120)
    assert res.rc == 0, res
    assert live_chain(embed.virsh("dumpxml", "bj").out) == \
        [(str(top), None), (str(mid2), "1"), (str(base), "2")]
    # A pull down to base (now index 2): mid2 comes into top.
    res = embed.virsh("blockpull", "bj", "xvda", "--base", "xvda[2]",
                      "--wait", timeout=120)
    assert res.rc == 0, res
    assert live_chain(embed.virsh("dumpxml", "bj").out) == \
        [(str(top), None), (str(base), "1")]
    # A snapshot puts an overlay on top: the others go one down.
    snap = tmp_path / "snap.qcow2"
    res = embed.virsh("snapshot-create-as", "bj", "--disk-only",
                      "--no-metadata", "--diskspec", f"xvda,file={snap}")
    assert res.rc == 0, res
    assert live_chain(embed.virsh("dumpxml", "bj").out) == \
        [(str(snap), None), (str(top), "1"), (str(base), "2")]
    # top (now index 1) into base (2), under the overlay.
    res = embed.virsh("blockcommit", "bj", "xvda", "--top", "xvda[1]",
                      "--base", "xvda[2]", "--wait", timeout=120)
    assert res.rc == 0, res
    destroy_on_chain(embed, snap, base, ref)


def test_chain_read_at_reconnect_when_status_has_none(own_daemon, tmp_path):
    """A running domain whose saved status shows no chain (an older
    driver wrote it): the restarted daemon reads it, and an index works."""
    base = make_image(tmp_path / "base.qcow2", 32, 4)
    top = make_image(tmp_path / "top.qcow2", written_mib=0, backing=base)
    create(own_daemon, tmp_path, top)
    kill_daemon(own_daemon)
    (status,) = [f for f in own_daemon.dir.rglob("bj.xml")
                 if "<domstatus" in f.read_text()]
    text, n = re.subn(r"\n *<backingStore.*?</backingStore>|"
                      r"\n *<backingStore/>", "", status.read_text(),
                      count=1, flags=re.S)
    assert n == 1
    status.write_text(text)
    own_daemon.start()
    assert live_chain(own_daemon.virsh("dumpxml", "bj").out) == \
        [(str(top), None), (str(base), "1")]
    res = own_daemon.virsh("blockpull", "bj", "xvda", "--base", "xvda[1]",
                           "--wait", timeout=120)
    assert res.rc == 0, res
    assert own_daemon.virsh("destroy", "bj").rc == 0
    assert image_info(top)["backing-filename"] == str(base)


def test_pull_ended_unseen_chain_read_again(embed, tmp_path):
    """Embedded mode: a pull without --wait ends after its process
    exited; the next call on the disk finds it gone, and the live chain
    is read again from the images (no backing left)."""
    base = make_image(tmp_path / "base.qcow2", 32, 8)
    top = make_image(tmp_path / "top.qcow2", written_mib=0, backing=base)
    create(embed, tmp_path, top)
    res = embed.virsh("blockpull", "bj", "xvda")
    assert res.rc == 0, res
    assert xvtest.wait_for(lambda: embed.virsh(
        "blockjob", "bj", "xvda", "--info").out.strip() == "", 60)
    assert live_chain(embed.virsh("dumpxml", "bj").out) == [(str(top), None)]
    assert embed.virsh("destroy", "bj").rc == 0
    assert "backing-filename" not in image_info(top)


def test_blockcopy_shallow_keeps_the_backing_chain(embed, tmp_path):
    """--shallow on a disk whose image has a backing file (known from the
    chain read at start): only the top is copied, the copy names the same
    backing file, and after the pivot the live chain shows it below."""
    base = make_image(tmp_path / "base.qcow2", 32, 8)
    top = make_image(tmp_path / "top.qcow2", written_mib=0, backing=base)
    ref = write_layers(tmp_path, [(top, "0x74", "12M")])
    dest = tmp_path / "copy.qcow2"
    create(embed, tmp_path, top)
    res = embed.virsh("blockcopy", "bj", "xvda", str(dest), "--shallow",
                      "--wait", "--pivot", timeout=120)
    assert res.rc == 0, res
    destroy_on_chain(embed, dest, base, ref)


def test_blockcopy_raw(embed, tmp_path):
    src = make_image(tmp_path / "src.qcow2", 32, 8)
    dest = tmp_path / "copy.raw"
    create(embed, tmp_path, src)
    # virsh's --raw: virDomainBlockRebase with COPY | COPY_RAW.
    res = embed.virsh("blockcopy", "bj", "xvda", str(dest), "--raw",
                      "--wait", "--pivot", timeout=120)
    assert res.rc == 0, res
    xml = embed.virsh("dumpxml", "bj").out
    assert f"<source file='{dest}'/>" in xml
    assert "<driver name='qemu' type='raw'/>" in xml, xml
    assert embed.virsh("destroy", "bj").rc == 0
    assert image_info(dest)["format"] == "raw"
    res = qemu_img("compare", "-f", "qcow2", "-F", "raw", str(src),
                   str(dest))
    assert res.returncode == 0, res.stdout + res.stderr


def test_blockcopy_granularity_and_buf_size(embed, tmp_path):
    src = make_image(tmp_path / "src.qcow2", 32, 8)
    create(embed, tmp_path, src)
    # A granularity the server refuses (a power of 2, so libvirt's own
    # check passes): its refusal shows the value reached it.
    res = embed.virsh("blockcopy", "bj", "xvda",
                      str(tmp_path / "small.qcow2"), "--granularity", "256")
    assert res.rc != 0 and "granularity" in res.err, res
    assert embed.virsh("blockjob", "bj", "xvda", "--info").out.strip() == ""
    res = embed.virsh("blockcopy", "bj", "xvda",
                      str(tmp_path / "odd.qcow2"), "--granularity", "3000")
    assert res.rc != 0 and "granularity must be power of 2" in res.err, res
    dest = tmp_path / "copy.qcow2"
    res = embed.virsh("blockcopy", "bj", "xvda", str(dest), "--granularity",
                      "131072", "--buf-size", "2097152", "--wait", "--pivot",
                      timeout=120)
    assert res.rc == 0, res
    assert embed.virsh("destroy", "bj").rc == 0
    res = qemu_img("compare", str(src), str(dest))
    assert res.returncode == 0, res.stdout + res.stderr


# ---------------------------------------------------------------------------
# The polling fallback: the same events with and without the server's

SEQUENCE = xvtest.EVENT_LOOP + textwrap.dedent("""\
    import os, sys, threading, time, libvirt
    uri, copy1, copy2 = sys.argv[1:4]
    c = libvirt.open(uri)
    d = c.lookupByName('bj')
    lock = threading.Lock()
    seen = []
    def one(conn, dom, disk, typ, status, opaque):
        with lock:
            seen.append((opaque, os.path.basename(disk), typ, status))
    c.domainEventRegisterAny(d, libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_JOB, one,
                             'BLOCK_JOB')
    c.domainEventRegisterAny(d, libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2, one,
                             'BLOCK_JOB_2')
    def wait(status, n):
        end = time.monotonic() + 60
        while time.monotonic() < end:
            with lock:
                if sum(1 for s in seen if s[3] == status) >= n:
                    return
            time.sleep(0.01)
        raise SystemExit('no event %d: %r' % (status, seen))
    E = libvirt
    # A pull: COMPLETED.
    d.blockPull('xvda', 0, 0)
    wait(E.VIR_DOMAIN_BLOCK_JOB_COMPLETED, 2)
    # A copy: READY, then a synchronous pivot: COMPLETED.
    d.blockCopy('xvda', "<disk type='file'><source file='%s'/>"
                "<driver type='qcow2'/></disk>" % copy1, None, 0)
    wait(E.VIR_DOMAIN_BLOCK_JOB_READY, 2)
    d.blockJobAbort('xvda', E.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
    wait(E.VIR_DOMAIN_BLOCK_JOB_COMPLETED, 4)
    # A copy aborted once ready (synchronously): CANCELED.
    d.blockCopy('xvda', "<disk type='file'><source file='%s'/>"
                "<driver type='qcow2'/></disk>" % copy2, None, 0)
    wait(E.VIR_DOMAIN_BLOCK_JOB_READY, 4)
    d.blockJobAbort('xvda', 0)
    wait(E.VIR_DOMAIN_BLOCK_JOB_CANCELED, 2)
    time.sleep(0.5)
    with lock:
        for s in seen:
            print('%s %s %d %d' % s)
    """)


def run_sequence(build_dir, root, tmp, poll):
    """The sequence above on a fresh domain of a fresh embedded root, its
    jobs polled if POLL says how ("conf": xenvirt.conf's blockjob_events,
    "env": XLITE_BLOCKJOB_POLL): the events it printed and the driver's
    log."""
    (tmp / "imgs").mkdir(parents=True)
    base = make_image(tmp / "imgs" / "base.qcow2", 32, 4)
    top = make_image(tmp / "imgs" / "top.qcow2", written_mib=0,
                     backing=base)
    host = xvtest.EmbeddedHost(root)
    (root / "etc").mkdir(parents=True)
    if poll == "conf":
        (root / "etc" / "xenvirt.conf").write_text(
            'blockjob_events = "poll"\n')
    create(host, tmp, top)
    log = tmp / "driver.log"
    extra = {"LIBVIRT_LOG_OUTPUTS": f"1:file:{log}",
             "LIBVIRT_LOG_FILTERS": "1:xenvirt"}
    if poll == "env":
        extra["XLITE_BLOCKJOB_POLL"] = "1"
    proc = subprocess.run([xvtest.PYTHON, "-c", SEQUENCE, host.uri,
                           str(tmp / "imgs" / "copy1.qcow2"),
                           str(tmp / "imgs" / "copy2.qcow2")],
                          capture_output=True, text=True, timeout=180,
                          env=xvtest.driver_env(extra, leaks=False))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert host.virsh("destroy", "bj").rc == 0
    res = qemu_img("compare", str(top), str(tmp / "imgs" / "copy1.qcow2"))
    assert res.returncode == 0, res.stdout + res.stderr
    return proc.stdout.splitlines(), log.read_text()


def test_polled_jobs_give_the_same_events(build_dir, short_dir, tmp_path):
    evented, elog = run_sequence(build_dir, short_dir / "r1",
                                 tmp_path / "ev", poll=None)
    polled, plog = run_sequence(build_dir, short_dir / "r2",
                                tmp_path / "conf", poll="conf")
    polled_env, penvlog = run_sequence(build_dir, short_dir / "r3",
                                       tmp_path / "env", poll="env")
    # Each path is the one it claims: the forced ones polled, the other
    # not.
    assert "polled its block jobs" in plog
    assert "polled its block jobs" in penvlog
    assert "polled its block jobs" not in elog
    E = libvirt
    pull = E.VIR_DOMAIN_BLOCK_JOB_TYPE_PULL
    copy = E.VIR_DOMAIN_BLOCK_JOB_TYPE_COPY
    expected = []
    for disk, typ, status in (
            ("top.qcow2", pull, E.VIR_DOMAIN_BLOCK_JOB_COMPLETED),
            ("top.qcow2", copy, E.VIR_DOMAIN_BLOCK_JOB_READY),
            # After the pivot the disk's source is the copy (libvirt's
            # QEMU driver also emits after switching).
            ("copy1.qcow2", copy, E.VIR_DOMAIN_BLOCK_JOB_COMPLETED),
            ("copy1.qcow2", copy, E.VIR_DOMAIN_BLOCK_JOB_READY),
            ("copy1.qcow2", copy, E.VIR_DOMAIN_BLOCK_JOB_CANCELED)):
        expected += [f"BLOCK_JOB {disk} {typ} {status}",
                     f"BLOCK_JOB_2 xvda {typ} {status}"]
    assert evented == expected, evented
    assert polled == evented
    assert polled_env == evented


ACTIVE_RAW = xvtest.EVENT_LOOP + textwrap.dedent("""\
    import re, sys, time, libvirt
    c = libvirt.open(sys.argv[1])
    d = c.lookupByName('bj')
    ready = []
    c.domainEventRegisterAny(d, libvirt.VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2,
                             lambda c, d, disk, t, s, o: ready.append(s),
                             None)
    d.blockCommit('xvda', None, None, 0,
                  libvirt.VIR_DOMAIN_BLOCK_COMMIT_ACTIVE)
    print('mirror', ' '.join(re.search('<mirror.*?</mirror>', d.XMLDesc(0),
                                       re.S).group(0).split()))
    end = time.monotonic() + 60
    while libvirt.VIR_DOMAIN_BLOCK_JOB_READY not in ready:
        if time.monotonic() > end:
            raise SystemExit('never ready')
        time.sleep(0.01)
    d.blockJobAbort('xvda', libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
    print('driver', re.search("<driver name='qemu' type='[a-z0-9]*'",
                              d.XMLDesc(0)).group(0))
    """)


def test_active_commit_into_a_raw_base(embed, tmp_path):
    base = tmp_path / "base.raw"
    assert qemu_img("create", "-q", "-f", "raw", str(base),
                    "32M").returncode == 0
    top = tmp_path / "top.qcow2"
    assert qemu_img("create", "-q", "-f", "qcow2", "-b", str(base), "-F",
                    "raw", str(top)).returncode == 0
    ref = write_layers(tmp_path, [(top, "0x74", "2M")])
    create(embed, tmp_path, top)
    res = xvtest.python(ACTIVE_RAW, embed.uri, timeout=120)
    assert res.rc == 0, res
    lines = dict(line.split(" ", 1) for line in res.out.splitlines())
    # The <mirror> names the base with its own format, and the disk is the
    # raw base after the pivot.
    # (ready='yes' is there or not yet, as the job goes.)
    mirror = lines["mirror"].replace(" ready='yes'", "")
    assert mirror == (
        "<mirror type='file' job='active-commit'> <format type='raw'/> "
        f"<source file='{base}'/> </mirror>"), res.out
    assert lines["driver"] == "<driver name='qemu' type='raw'", res.out
    assert embed.virsh("destroy", "bj").rc == 0
    res = qemu_img("compare", "-f", "raw", "-F", "raw", str(base), str(ref))
    assert res.returncode == 0, res.stdout + res.stderr


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
