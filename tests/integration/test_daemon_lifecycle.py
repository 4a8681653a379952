"""Guests on the simulated host through Debian's libvirtd: several clients
seeing the same events, a guest that ignores shutdown, a crash with
on_crash=restart, and a libvirtd killed and restarted while guests run."""

import os
import signal
import textwrap
import time
from pathlib import Path

import xvtest
from xvtest import wait_for



def guest_xml(workdir, name, script=None, on_crash="destroy", uuid=None):
    kernel = workdir / f"{name}.kernel"
    if script:
        kernel.write_text("#!xensim-guest\n" + script + "\n")
    else:
        kernel.write_text("a simulated kernel\n")
    disk = workdir / f"{name}.img"
    disk.write_bytes(b"\0" * 65536)
    uuid_elt = f"<uuid>{uuid}</uuid>" if uuid else ""
    return textwrap.dedent(f"""\
        <domain type='xen'>
          <name>{name}</name>{uuid_elt}
          <memory unit='MiB'>64</memory>
          <os><type arch='x86_64'>xen</type><kernel>{kernel}</kernel></os>
          <on_crash>{on_crash}</on_crash>
          <devices>
            <disk type='file' device='disk'>
              <source file='{disk}'/><target dev='xvda' bus='xen'/>
            </disk>
          </devices>
        </domain>""")


def simctl(daemon, *args):
    return xvtest.simctl(daemon.sim_rundir, *args)


def state(daemon, name):
    return daemon.virsh("domstate", name).out.strip()


def test_three_clients_see_the_same_story(own_daemon, tmp_path):
    script = textwrap.dedent("""\
        import sys, threading, time, libvirt
        libvirt.virEventRegisterDefaultImpl()
        conns = [libvirt.open(sys.argv[1]) for _ in range(3)]
        seen = [[], [], []]
        for i, c in enumerate(conns):
            c.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                lambda conn, d, e, det, who: seen[who].append((d.name(), e, det)), i)
        def loop():
            while True:
                libvirt.virEventRunDefaultImpl()
        threading.Thread(target=loop, daemon=True).start()
        c = conns[0]
        d = c.defineXML(sys.argv[2])
        d.create()
        d.suspend()
        d.resume()
        d.shutdown()
        deadline = time.time() + 20
        while d.isActive() and time.time() < deadline:
            time.sleep(0.1)
        d.create()
        d.destroy()
        d.undefine()
        E = libvirt
        want = [(E.VIR_DOMAIN_EVENT_DEFINED, E.VIR_DOMAIN_EVENT_DEFINED_ADDED),
                (E.VIR_DOMAIN_EVENT_STARTED, E.VIR_DOMAIN_EVENT_STARTED_BOOTED),
                (E.VIR_DOMAIN_EVENT_SUSPENDED, E.VIR_DOMAIN_EVENT_SUSPENDED_PAUSED),
                (E.VIR_DOMAIN_EVENT_RESUMED, E.VIR_DOMAIN_EVENT_RESUMED_UNPAUSED),
                (E.VIR_DOMAIN_EVENT_SHUTDOWN, E.VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED),
                (E.VIR_DOMAIN_EVENT_STOPPED, E.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN),
                (E.VIR_DOMAIN_EVENT_STARTED, E.VIR_DOMAIN_EVENT_STARTED_BOOTED),
                (E.VIR_DOMAIN_EVENT_STOPPED, E.VIR_DOMAIN_EVENT_STOPPED_DESTROYED),
                (E.VIR_DOMAIN_EVENT_UNDEFINED, E.VIR_DOMAIN_EVENT_UNDEFINED_REMOVED)]
        deadline = time.time() + 10
        while time.time() < deadline and any(len(s) < len(want) for s in seen):
            time.sleep(0.1)
        time.sleep(0.5)
        for s in seen:
            assert [x[1:] for x in s] == want, s
            assert all(x[0] == 'story' for x in s), s
        print('ok')
        """)
    res = xvtest.python(script, own_daemon.uri, guest_xml(tmp_path, "story"),
                        timeout=90)
    assert res.rc == 0, res
    assert res.out.strip() == "ok"


def test_guest_ignoring_shutdown(own_daemon, tmp_path):
    f = tmp_path / "stubborn.xml"
    f.write_text(guest_xml(tmp_path, "stubborn", script="ignore-shutdown"))
    assert own_daemon.virsh("define", str(f)).rc == 0
    assert own_daemon.virsh("start", "stubborn").rc == 0
    res = own_daemon.virsh("shutdown", "stubborn")
    assert res.rc == 0, res
    # The request is pending in the daemon; queries answer meanwhile.
    for _ in range(5):
        assert own_daemon.virsh("list", "--name").out.split() == ["stubborn"]
        assert "State:          running" in own_daemon.virsh("dominfo", "stubborn").out
        time.sleep(0.3)
    res = own_daemon.virsh("destroy", "stubborn")
    assert res.rc == 0, res
    assert state(own_daemon, "stubborn") == "shut off"


def test_crash_with_on_crash_restart(own_daemon, tmp_path):
    script = textwrap.dedent("""\
        import sys, threading, time, libvirt
        libvirt.virEventRegisterDefaultImpl()
        c = libvirt.open(sys.argv[1])
        seen = []
        c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                 lambda conn, d, e, det, o: seen.append((e, det, d.ID())), None)
        def loop():
            while True:
                libvirt.virEventRunDefaultImpl()
        threading.Thread(target=loop, daemon=True).start()
        d = c.defineXML(sys.argv[2])
        d.create()
        first = d.ID()
        E = libvirt
        crashed = (E.VIR_DOMAIN_EVENT_STOPPED, E.VIR_DOMAIN_EVENT_STOPPED_CRASHED)
        deadline = time.time() + 30
        while time.time() < deadline and not any(s[:2] == crashed for s in seen[1:]):
            time.sleep(0.1)
        time.sleep(0.5)
        kinds = [s[:2] for s in seen]
        i = kinds.index(crashed)
        assert kinds[i + 1] == (E.VIR_DOMAIN_EVENT_STARTED, E.VIR_DOMAIN_EVENT_STARTED_BOOTED), kinds
        again = c.lookupByName('crashy')
        assert again.isActive() and again.ID() != first, (again.ID(), first)
        again.destroy()
        print('ok')
        """)
    res = xvtest.python(script, own_daemon.uri,
                        guest_xml(tmp_path, "crashy", script="crash-after 1",
                                  on_crash="restart"), timeout=90)
    assert res.rc == 0, res
    assert res.out.strip() == "ok"


def test_libvirtd_killed_and_restarted(own_daemon, tmp_path):
    for name in ("a", "b", "c"):
        f = tmp_path / f"{name}.xml"
        f.write_text(guest_xml(tmp_path, name))
        assert own_daemon.virsh("define", str(f)).rc == 0
        assert own_daemon.virsh("start", name).rc == 0
    victim = own_daemon.virsh("domid", "b").out.strip()

    os.kill(own_daemon.pid, signal.SIGKILL)
    assert wait_for(lambda: not Path(f"/proc/{own_daemon.pid}").exists(), 10)
    res = simctl(own_daemon, "destroy", victim)
    assert res.returncode == 0, res.stderr
    own_daemon.start()

    assert state(own_daemon, "a") == "running"
    assert state(own_daemon, "c") == "running"
    assert wait_for(lambda: state(own_daemon, "b") == "shut off")
    # Reconnected for real: the console and a guest shutdown work.
    dump = own_daemon.virsh("dumpxml", "a").out
    assert "<console type='pty' tty='/dev/pts/" in dump
    assert own_daemon.virsh("shutdown", "c").rc == 0
    assert wait_for(lambda: state(own_daemon, "c") == "shut off")
    # Nothing leaked or duplicated: one simulated host, one status file per
    # running domain, the domains once each.
    sims = [p for p in (own_daemon.dir / "root").rglob("xensimd.pid")]
    assert len(sims) == 1
    status = sorted(p.name for p in (own_daemon.dir / "root/run/xenvirt").glob("*.xml"))
    assert status == ["a.xml"]
    names = own_daemon.virsh("list", "--all", "--name").out.split()
    assert sorted(names) == ["a", "b", "c"]
    hosted = [line.split()[0] for line in
              simctl(own_daemon, "list").stdout.splitlines()[1:]]
    assert sorted(hosted) == ["Domain-0", "a"]


def test_autostart_across_a_restart(own_daemon, tmp_path):
    f = tmp_path / "auto.xml"
    f.write_text(guest_xml(tmp_path, "auto"))
    assert own_daemon.virsh("define", str(f)).rc == 0
    assert own_daemon.virsh("autostart", "auto").rc == 0
    own_daemon.stop()
    own_daemon.start()
    assert wait_for(lambda: state(own_daemon, "auto") == "running")
    assert own_daemon.virsh("destroy", "auto").rc == 0
