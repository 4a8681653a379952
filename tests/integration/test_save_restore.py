"""Save, restore and managed save of simulated guests through Debian's
libvirtd, virsh and python-libvirt: the restored guest is the same one,
going on where it stopped (its boot id, its tick counter and its console
carry on), a managed save survives a libvirtd restart and `virsh start`
resumes it (autostart too), and a corrupt, truncated or foreign image is
refused with nothing started; the flags, an edited XML, the events,
undefine, a guest with a block job, embedded mode
(docs/save-restore.md)."""

import os
import re
import signal
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest

import xvtest
from xvtest import wait_for


def define_ticker(daemon, tmp_path, name):
    xml = tmp_path / f"{name}.xml"
    xml.write_text(xvtest.pv_guest_xml(tmp_path, name, vcpus=1,
                                       script_lines=["ticker"]))
    res = daemon.virsh("define", str(xml))
    assert res.rc == 0, res.err


def xs_read(daemon, domid, node):
    env = {"XENSTORED_PATH": str(daemon.sim_rundir / "xenstored" / "socket")}
    r = subprocess.run(["xenstore-read", f"/local/domain/{domid}/{node}"],
                       capture_output=True, text=True, env=env, timeout=30)
    return r.stdout.strip() if r.returncode == 0 else None


def domid(daemon, name):
    return daemon.virsh("domid", name).out.strip()


def ticks(daemon, name):
    val = xs_read(daemon, domid(daemon, name), "data/ticks")
    return int(val) if val and val.isdigit() else -1


def state(daemon, name):
    return daemon.virsh("domstate", "--reason", name).out.strip()


def console_ticks(daemon, name, seconds=3.5):
    """The [tick N] numbers the guest prints on its console while
    python-libvirt reads it for about @seconds."""
    code = textwrap.dedent("""\
        import sys, time, libvirt
        conn = libvirt.open(sys.argv[1])
        dom = conn.lookupByName(sys.argv[2])
        st = conn.newStream(0)
        dom.openConsole(None, st, 0)
        out = b""
        end = time.monotonic() + float(sys.argv[3])
        while time.monotonic() < end:
            out += st.recv(4096)
        st.abort()
        sys.stdout.write(out.decode(errors="replace"))
        """)
    res = xvtest.python(code, daemon.uri, name, str(seconds))
    assert res.rc == 0, res.err
    return [int(n) for n in re.findall(r"\[tick (\d+)\]", res.out)]


def sim_names(daemon):
    return set(xvtest.sim_domains(daemon.sim_rundir))


def test_save_and_restore_carry_on(own_daemon, tmp_path):
    define_ticker(own_daemon, tmp_path, "sr")
    assert own_daemon.virsh("start", "sr").rc == 0
    assert wait_for(lambda: ticks(own_daemon, "sr") >= 2)
    boot_id = xs_read(own_daemon, domid(own_daemon, "sr"), "data/boot-id")
    assert re.fullmatch(r"[0-9a-f]{16}", boot_id)
    before = console_ticks(own_daemon, "sr")
    assert before and before == sorted(before), before

    image = tmp_path / "sr.save"
    res = own_daemon.virsh("save", "sr", str(image))
    assert res.rc == 0, res.err
    assert state(own_daemon, "sr") == "shut off (saved)"
    assert "sr" not in sim_names(own_daemon)
    assert stat.S_IMODE(image.stat().st_mode) == 0o600
    data = image.read_bytes()
    assert data.startswith(b"XLITESAV")
    # The guest state holds its console output (its kernel log).
    assert b"Suspending" in data and b"[tick " in data
    # The image's XML, as libvirt shows it.
    res = own_daemon.virsh("save-image-dumpxml", str(image))
    assert res.rc == 0 and "<name>sr</name>" in res.out, res.err

    res = own_daemon.virsh("restore", str(image))
    assert res.rc == 0, res.err
    assert state(own_daemon, "sr") == "running (restored)"
    new_id = domid(own_daemon, "sr")
    # The same guest: its marker again in its new home, its counter on.
    assert wait_for(lambda: ticks(own_daemon, "sr") >= 0)
    # The first value it writes is where it was (a new boot writes 0).
    assert ticks(own_daemon, "sr") >= before[-1]
    assert xs_read(own_daemon, new_id, "data/boot-id") == boot_id
    after = console_ticks(own_daemon, "sr")
    assert after and after[0] > before[-1], (before, after)
    # Continuity: the counter did not start over (a fresh boot starts at 1).
    assert min(after) > max(before)
    assert own_daemon.virsh("destroy", "sr").rc == 0


def test_restore_flags_and_edited_xml(own_daemon, tmp_path):
    define_ticker(own_daemon, tmp_path, "fl")
    assert own_daemon.virsh("start", "fl").rc == 0
    assert wait_for(lambda: ticks(own_daemon, "fl") >= 1)
    image = tmp_path / "fl.save"
    assert own_daemon.virsh("save", "fl", str(image), "--paused").rc == 0
    res = own_daemon.virsh("restore", str(image))
    assert res.rc == 0, res.err
    assert state(own_daemon, "fl") == "paused (user)"
    assert own_daemon.virsh("destroy", "fl").rc == 0

    # An edited XML: the description changes, the machine may not.
    xml = own_daemon.virsh("save-image-dumpxml", str(image)).out
    edited = tmp_path / "edited.xml"
    edited.write_text(xml.replace("<name>fl</name>",
                                  "<name>fl</name><description>edited"
                                  "</description>"))
    res = own_daemon.virsh("save-image-define", str(image), str(edited),
                           "--running")
    assert res.rc == 0, res.err
    assert "edited" in own_daemon.virsh("save-image-dumpxml", str(image)).out
    bad = tmp_path / "bad.xml"
    bad.write_text(xml.replace("<vcpu placement='static'>1</vcpu>",
                               "<vcpu placement='static'>2</vcpu>"))
    res = own_daemon.virsh("save-image-define", str(image), str(bad))
    assert res.rc != 0 and "vCPU" in res.err, res.err
    res = own_daemon.virsh("restore", str(image))
    assert res.rc == 0, res.err
    assert state(own_daemon, "fl") == "running (restored)"
    assert own_daemon.virsh("destroy", "fl").rc == 0


def test_managed_save_across_a_restart(own_daemon, tmp_path):
    define_ticker(own_daemon, tmp_path, "ms")
    assert own_daemon.virsh("start", "ms").rc == 0
    assert wait_for(lambda: ticks(own_daemon, "ms") >= 2)
    boot_id = xs_read(own_daemon, domid(own_daemon, "ms"), "data/boot-id")
    saved_ticks = ticks(own_daemon, "ms")

    res = own_daemon.virsh("managedsave", "ms")
    assert res.rc == 0, res.err
    assert state(own_daemon, "ms") == "shut off (saved)"
    listing = own_daemon.virsh("list", "--all", "--managed-save").out
    assert re.search(r"-\s+ms\s+saved", listing), listing
    assert "ms" not in sim_names(own_daemon)

    pid = own_daemon.pid
    os.kill(pid, signal.SIGTERM)
    assert wait_for(lambda: not Path(f"/proc/{pid}").exists(), 20)
    own_daemon.start()

    res = xvtest.python(textwrap.dedent("""\
        import sys, libvirt
        dom = libvirt.open(sys.argv[1]).lookupByName("ms")
        print(dom.hasManagedSaveImage(0))
        """), own_daemon.uri)
    assert res.rc == 0 and res.out.strip() == "1", (res.out, res.err)
    res = own_daemon.virsh("start", "ms")
    assert res.rc == 0, res.err
    assert state(own_daemon, "ms") == "running (restored)"
    new_id = domid(own_daemon, "ms")
    assert wait_for(lambda: ticks(own_daemon, "ms") >= 0)
    assert ticks(own_daemon, "ms") >= saved_ticks
    assert xs_read(own_daemon, new_id, "data/boot-id") == boot_id
    # The image is used up.
    listing = own_daemon.virsh("list", "--all", "--managed-save").out
    assert re.search(r"\d+\s+ms\s+running", listing), listing
    assert not list((own_daemon.dir / "root").rglob("ms.save"))

    # managedsave-remove: the next start boots afresh.
    assert own_daemon.virsh("managedsave", "ms").rc == 0
    assert own_daemon.virsh("managedsave-remove", "ms").rc == 0
    assert own_daemon.virsh("start", "ms").rc == 0
    assert state(own_daemon, "ms") == "running (booted)"
    new_id = domid(own_daemon, "ms")
    assert wait_for(lambda: xs_read(own_daemon, new_id, "data/boot-id")
                    not in (None, boot_id))
    assert own_daemon.virsh("destroy", "ms").rc == 0


def test_bad_images_are_refused_with_nothing_started(own_daemon, tmp_path):
    define_ticker(own_daemon, tmp_path, "bad")
    assert own_daemon.virsh("start", "bad").rc == 0
    assert wait_for(lambda: ticks(own_daemon, "bad") >= 1)
    image = tmp_path / "bad.save"
    assert own_daemon.virsh("save", "bad", str(image)).rc == 0
    good = image.read_bytes()

    cases = {
        "truncated": good[:len(good) // 2],
        "header-only": good[:40],
        "flipped": bytearray(good),
        "foreign": b"LibvirtXMLSave" + good[14:],
        "empty": b"",
    }
    cases["flipped"][len(good) - 100] ^= 0x01
    for case, content in cases.items():
        f = tmp_path / f"{case}.save"
        f.write_bytes(bytes(content))
        res = own_daemon.virsh("restore", str(f))
        assert res.rc != 0, case
        assert "not a valid save image" in res.err, (case, res.err)
        # libvirt's Xen driver's codes: no magic, an invalid argument.
        code = ("invalid argument" if case in ("foreign", "empty")
                else "operation failed")
        assert f"error: {code}: " in res.err, (case, res.err)
        assert state(own_daemon, "bad") == "shut off (saved)", case
        assert "bad" not in sim_names(own_daemon), case
        res = own_daemon.virsh("save-image-dumpxml", str(f))
        assert res.rc != 0, case

    res = own_daemon.virsh("restore", str(tmp_path / "missing.save"))
    assert res.rc != 0
    assert "Failed to open domain image file" in res.err, res.err

    # The image itself was good all along.
    assert own_daemon.virsh("restore", str(image)).rc == 0
    assert state(own_daemon, "bad") == "running (restored)"
    assert own_daemon.virsh("destroy", "bad").rc == 0


def test_save_refuses_a_paused_guest(own_daemon, tmp_path):
    define_ticker(own_daemon, tmp_path, "pz")
    assert own_daemon.virsh("start", "pz", "--paused").rc == 0
    res = own_daemon.virsh("save", "pz", str(tmp_path / "pz.save"))
    assert res.rc != 0 and "has to be running" in res.err, res.err
    assert not (tmp_path / "pz.save").exists()
    assert state(own_daemon, "pz") == "paused (user)"
    assert own_daemon.virsh("destroy", "pz").rc == 0


def test_lifecycle_events(own_daemon, tmp_path):
    """Every client sees STOPPED/SAVED and STARTED/RESTORED, and nothing
    else of the guest's suspend."""
    define_ticker(own_daemon, tmp_path, "ev")
    image = tmp_path / "ev.save"
    code = textwrap.dedent("""\
        import sys, threading, time, libvirt
        libvirt.virEventRegisterDefaultImpl()
        conn = libvirt.open(sys.argv[1])
        seen = []
        conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
            lambda c, d, e, det, o: seen.append((e, det)), None)
        def loop():
            while True:
                libvirt.virEventRunDefaultImpl()
        threading.Thread(target=loop, daemon=True).start()
        dom = conn.lookupByName("ev")
        dom.create()
        time.sleep(1.5)
        dom.save(sys.argv[2])
        conn.restore(sys.argv[2])
        dom = conn.lookupByName("ev")
        dom.managedSave(0)
        assert dom.hasManagedSaveImage(0) == 1
        dom.create()
        assert dom.hasManagedSaveImage(0) == 0
        dom.destroy()
        time.sleep(1)
        print(seen)
        """)
    res = xvtest.python(code, own_daemon.uri, str(image))
    assert res.rc == 0, res.err
    # libvirt's numbers: STARTED 2 (BOOTED 0, RESTORED 2), STOPPED 5
    # (DESTROYED 1, SAVED 4).
    booted, restored = (2, 0), (2, 2)
    saved, destroyed = (5, 4), (5, 1)
    assert eval(res.out) == [booted, saved, restored, saved, restored,
                             destroyed], res.out


def test_undefine_with_a_managed_save_image(own_daemon, tmp_path):
    define_ticker(own_daemon, tmp_path, "un")
    assert own_daemon.virsh("start", "un").rc == 0
    assert own_daemon.virsh("managedsave", "un").rc == 0
    res = own_daemon.virsh("undefine", "un")
    assert res.rc != 0
    assert "Refusing to undefine while domain managed save image exists" \
        in res.err, res.err
    res = own_daemon.virsh("undefine", "un", "--managed-save")
    assert res.rc == 0, res.err
    assert not list((own_daemon.dir / "root").rglob("un.save"))


def test_autostart_resumes_a_managed_save(own_daemon, tmp_path):
    define_ticker(own_daemon, tmp_path, "au")
    assert own_daemon.virsh("autostart", "au").rc == 0
    assert own_daemon.virsh("start", "au").rc == 0
    assert wait_for(lambda: ticks(own_daemon, "au") >= 2)
    boot_id = xs_read(own_daemon, domid(own_daemon, "au"), "data/boot-id")
    assert own_daemon.virsh("managedsave", "au").rc == 0
    # The last tick the guest printed before it suspended, from its log
    # in the image.
    image = next((own_daemon.dir / "root").rglob("au.save")).read_bytes()
    saved = max(int(n) for n in re.findall(rb"\[tick (\d+)\]", image))

    pid = own_daemon.pid
    os.kill(pid, signal.SIGTERM)
    assert wait_for(lambda: not Path(f"/proc/{pid}").exists(), 20)
    own_daemon.start()

    assert wait_for(lambda: state(own_daemon, "au") == "running (restored)")
    new_id = domid(own_daemon, "au")
    assert wait_for(lambda: ticks(own_daemon, "au") >= 0)
    assert ticks(own_daemon, "au") >= saved
    assert xs_read(own_daemon, new_id, "data/boot-id") == boot_id
    assert not list((own_daemon.dir / "root").rglob("au.save"))
    assert own_daemon.virsh("destroy", "au").rc == 0


def test_managed_save_restores_the_saved_machine(own_daemon, tmp_path):
    """The definition changed after the managed save: the start restores
    the machine the image holds, and the next boot takes the new
    definition; a definition the image's machine does not fit is refused
    and the image kept."""
    define_ticker(own_daemon, tmp_path, "md")
    assert own_daemon.virsh("start", "md").rc == 0
    assert own_daemon.virsh("managedsave", "md").rc == 0
    xml = own_daemon.virsh("dumpxml", "--inactive", "md").out
    edited = tmp_path / "md-edited.xml"
    edited.write_text(xml.replace("<name>md</name>",
                                  "<name>md</name><description>later"
                                  "</description>"))
    assert own_daemon.virsh("define", str(edited)).rc == 0

    res = own_daemon.virsh("start", "md")
    assert res.rc == 0, res.err
    assert state(own_daemon, "md") == "running (restored)"
    assert "later" not in own_daemon.virsh("dumpxml", "md").out
    assert "later" in own_daemon.virsh("dumpxml", "--inactive", "md").out
    assert own_daemon.virsh("managedsave", "md").rc == 0

    bigger = tmp_path / "md-bigger.xml"
    bigger.write_text(xml.replace("<vcpu placement='static'>1</vcpu>",
                                  "<vcpu placement='static'>2</vcpu>"))
    assert own_daemon.virsh("define", str(bigger)).rc == 0
    res = own_daemon.virsh("start", "md")
    assert res.rc != 0 and "vCPU" in res.err, res.err
    assert state(own_daemon, "md") == "shut off (saved)"
    assert "<vcpu placement='static'>2</vcpu>" in \
        own_daemon.virsh("dumpxml", "md").out
    assert own_daemon.virsh("domstats", "md").rc == 0
    assert "md" not in sim_names(own_daemon)
    listing = own_daemon.virsh("list", "--all", "--managed-save").out
    assert re.search(r"-\s+md\s+saved", listing), listing


def test_console_input_of_any_bytes_is_saved(own_daemon, tmp_path):
    """Bytes typed on the console that are not UTF-8 end up in the guest's
    log, three times longer once made valid: the state still fits what
    the simulated host takes back."""
    define_ticker(own_daemon, tmp_path, "by")
    assert own_daemon.virsh("start", "by").rc == 0
    assert wait_for(lambda: ticks(own_daemon, "by") >= 1)
    code = textwrap.dedent("""\
        import sys, time, libvirt
        conn = libvirt.open(sys.argv[1])
        dom = conn.lookupByName("by")
        st = conn.newStream(0)
        dom.openConsole(None, st, 0)
        for _ in range(30):
            st.send(b"\\xff" * 200 + b"\\r")
            time.sleep(0.02)
        time.sleep(1)
        st.abort()
        """)
    res = xvtest.python(code, own_daemon.uri)
    assert res.rc == 0, res.err
    image = tmp_path / "by.save"
    res = own_daemon.virsh("save", "by", str(image))
    assert res.rc == 0, res.err
    assert "\ufffd".encode() in image.read_bytes() or b"\\ufffd" in \
        image.read_bytes()
    res = own_daemon.virsh("restore", str(image))
    assert res.rc == 0, res.err
    assert state(own_daemon, "by") == "running (restored)"
    assert own_daemon.virsh("destroy", "by").rc == 0


def test_embedded_save_restore_and_managed_save(embed, tmp_path):
    """Embedded mode: each virsh is a driver of its own, the simulated
    host and the images outlive it."""
    xml = tmp_path / "em.xml"
    xml.write_text(xvtest.pv_guest_xml(tmp_path, "em", vcpus=1,
                                       script_lines=["ticker"]))
    assert embed.virsh("define", str(xml)).rc == 0
    assert embed.virsh("start", "em").rc == 0
    image = tmp_path / "em.save"
    res = embed.virsh("save", "em", str(image))
    assert res.rc == 0, res.err
    res = embed.virsh("restore", str(image))
    assert res.rc == 0, res.err
    assert embed.virsh("domstate", "--reason", "em").out.strip() == \
        "running (restored)"
    assert embed.virsh("managedsave", "em").rc == 0
    assert embed.virsh("dominfo", "em").out.count("Managed save:   yes") == 1
    assert list(embed.root.rglob("save/em.save"))
    res = embed.virsh("start", "em")
    assert res.rc == 0, res.err
    assert embed.virsh("domstate", "--reason", "em").out.strip() == \
        "running (restored)"
    assert not list(embed.root.rglob("save/em.save"))
    assert embed.virsh("destroy", "em").rc == 0


def test_save_refuses_a_guest_with_a_block_job(own_daemon, tmp_path):
    """As libvirt's QEMU driver: the job would go with the domain."""
    if subprocess.run(["sh", "-c", "command -v qemu-storage-daemon && "
                       "command -v qemu-img"],
                      capture_output=True).returncode:
        pytest.skip("qemu-storage-daemon or qemu-img missing "
                    "(tools/setup-deps)")
    src = tmp_path / "src.qcow2"
    res = subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2",
                          str(src), "64M"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    res = subprocess.run(["qemu-io", "-f", "qcow2", "-c",
                          "write -P 0x5a 0 32M", str(src)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    kernel = tmp_path / "kernel"
    kernel.write_text("a simulated kernel\n")
    xml = tmp_path / "bj.xml"
    xml.write_text(textwrap.dedent(f"""\
        <domain type='xen'>
          <name>bj</name>
          <memory unit='MiB'>64</memory>
          <os><type arch='x86_64'>xen</type><kernel>{kernel}</kernel></os>
          <devices>
            <disk type='file' device='disk'>
              <driver name='qemu' type='qcow2'/>
              <source file='{src}'/><target dev='xvda' bus='xen'/>
            </disk>
          </devices>
        </domain>"""))
    assert own_daemon.virsh("create", str(xml)).rc == 0
    res = own_daemon.virsh("blockcopy", "bj", "xvda",
                           str(tmp_path / "copy.qcow2"), "--bandwidth", "1")
    assert res.rc == 0, res.err
    res = own_daemon.virsh("save", "bj", str(tmp_path / "bj.save"))
    assert res.rc != 0 and "domain has active block job" in res.err, res.err
    assert state(own_daemon, "bj") == "running (booted)"
    assert not (tmp_path / "bj.save").exists()
    assert own_daemon.virsh("blockjob", "bj", "xvda", "--abort").rc == 0
    res = own_daemon.virsh("save", "bj", str(tmp_path / "bj.save"))
    assert res.rc == 0, res.err
    assert own_daemon.virsh("restore", str(tmp_path / "bj.save")).rc == 0
    assert own_daemon.virsh("destroy", "bj").rc == 0


def test_transient_domain(own_daemon, tmp_path):
    """A saved transient domain is gone until its restore brings it back,
    transient still; it has no managed save."""
    xml = tmp_path / "tr.xml"
    xml.write_text(xvtest.pv_guest_xml(tmp_path, "tr", vcpus=1,
                                       script_lines=["ticker"]))
    assert own_daemon.virsh("create", str(xml)).rc == 0
    res = own_daemon.virsh("managedsave", "tr")
    assert res.rc != 0
    assert "cannot do managed save for transient domain" in res.err, res.err
    image = tmp_path / "tr.save"
    assert own_daemon.virsh("save", "tr", str(image)).rc == 0
    assert "tr" not in own_daemon.virsh("list", "--all", "--name").out.split()
    assert own_daemon.virsh("restore", str(image)).rc == 0
    assert state(own_daemon, "tr") == "running (restored)"
    assert "Persistent:     no" in own_daemon.virsh("dominfo", "tr").out
    assert own_daemon.virsh("destroy", "tr").rc == 0
    assert "tr" not in own_daemon.virsh("list", "--all", "--name").out.split()
