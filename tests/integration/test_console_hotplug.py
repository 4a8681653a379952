"""Extra Xen PV consoles attached and detached, live and in the persistent
definition, through a private libvirtd, virsh and python-libvirt: the live
XML shows the new console with the pty xenconsoled (the simulated host's
console backend) published, virDomainOpenConsole reaches it by its alias,
DEVICE_ADDED and DEVICE_REMOVED name it, and a detach leaves nothing in
xenstore or in the stored config.

The simulated guest writes only to its primary console (src/xensim/guest.c
prints its boot messages and login prompt on hvc0), so what is checked of an
extra console is that the stream opens on it (a second session is refused,
as for any console) and that its backend and the guest's frontend are
Connected."""

import json
import os
import signal
import subprocess
import textwrap
import time
import xml.etree.ElementTree as ET

import xvtest

CONSOLE1 = ("<console type='pty'><target type='xen' port='1'/>"
            "</console>")


def guest_xml(tmp, name):
    kernel = tmp / "kernel"
    kernel.write_text("a simulated kernel\n")
    return textwrap.dedent(f"""\
        <domain type='xen'>
          <name>{name}</name>
          <memory unit='MiB'>64</memory>
          <os><type arch='x86_64'>xen</type><kernel>{kernel}</kernel></os>
          <devices/>
        </domain>""")


class Host:
    """The simulated host under a driver root: its xenstore and the core's
    stored configs."""

    def __init__(self, root):
        self.root = root
        self.env = {"XENSTORED_PATH": str(xvtest.sim_rundir(root) /
                                          "xenstored" / "socket")}

    def read(self, path):
        r = subprocess.run(["xenstore-read", path], capture_output=True,
                           text=True, env=self.env, timeout=30)
        return r.stdout.strip() if r.returncode == 0 else None

    def stored_consoles(self, domid):
        userdata = self.root / "var" / "lib" / "xenvirt" / "userdata"
        stored = json.loads(next(userdata.glob(f"{domid}-*.json"))
                            .read_text())
        return len(stored.get("consoles", []))


def consoles(dumpxml):
    """[(port, alias, pty)] of the <console> elements (the pty from
    <source path>; libvirt adds the legacy tty= for port 0 only)."""
    root = ET.fromstring(dumpxml)
    res = []
    for c in root.findall("./devices/console"):
        alias = c.find("alias")
        source = c.find("source")
        res.append((int(c.find("target").get("port")),
                    alias.get("name") if alias is not None else None,
                    source.get("path") if source is not None else None))
    return res


def start(host, tmp_path, name):
    f = tmp_path / f"{name}.xml"
    f.write_text(guest_xml(tmp_path, name))
    assert host.virsh("define", str(f)).rc == 0
    res = host.virsh("start", name)
    assert res.rc == 0, res
    return int(host.virsh("domid", name).out)


LIVE = textwrap.dedent("""\
    import sys, threading, time, libvirt
    uri, name, xml = sys.argv[1:4]
    libvirt.virEventRegisterDefaultImpl()
    def loop():
        while True:
            libvirt.virEventRunDefaultImpl()
    threading.Thread(target=loop, daemon=True).start()
    c = libvirt.open(uri)
    d = c.lookupByName(name)
    events = []
    c.domainEventRegisterAny(d, libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
                             lambda c, d, a, o: events.append(('added', a)),
                             None)
    c.domainEventRegisterAny(d, libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
                             lambda c, d, a, o: events.append(('removed', a)),
                             None)
    def wait(ev):
        deadline = time.time() + 20
        while ev not in events and time.time() < deadline:
            time.sleep(0.05)
        assert ev in events, events
    d.attachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    wait(('added', 'console1'))
    st = c.newStream(0)
    d.openConsole('console1', st, 0)
    try:
        d.openConsole('console1', c.newStream(0), 0)
        raise SystemExit('a second session on console1 was allowed')
    except libvirt.libvirtError as e:
        assert 'active console session' in e.get_error_message(), e
    st.send(b'\\n')
    print('opened')
    sys.stdout.flush()
    sys.stdin.readline()
    st.abort()
    d.detachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    wait(('removed', 'console1'))
    print('events', events)
    """)


def test_console_attach_open_detach_live(daemon, tmp_path):
    """python-libvirt: attach, DEVICE_ADDED, the live XML with its pty,
    open it by alias, detach, DEVICE_REMOVED, nothing left."""
    host = Host(daemon.dir / "root")
    domid = start(daemon, tmp_path, "c1")
    be = f"/local/domain/0/backend/console/{domid}/1"
    fe = f"/local/domain/{domid}/device/console/1"
    try:
        p = subprocess.Popen(["/usr/bin/python3", "-c", LIVE, daemon.uri,
                              "c1", CONSOLE1], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        line = p.stdout.readline()
        if line.strip() != "opened":
            p.kill()
            out, err = p.communicate()
            raise AssertionError(line + out + err)
        # Attached and open: the live XML, xenstore and the stored config
        # agree.
        live = consoles(daemon.virsh("dumpxml", "c1").out)
        assert [(port, alias) for port, alias, _ in live] == \
            [(0, "console0"), (1, "console1")], live
        tty = live[1][2]
        assert tty and tty.startswith("/dev/pts/"), live
        assert tty != live[0][2]
        assert host.read(fe + "/tty") == tty
        assert host.read(be + "/state") == "4"
        assert host.read(fe + "/state") == "4"
        assert host.stored_consoles(domid) == 2
        # The definition did not change.
        assert len(consoles(daemon.virsh("dumpxml", "--inactive",
                                         "c1").out)) == 1
        out, err = p.communicate("\n", timeout=60)
        assert p.returncode == 0, (out, err)
        assert "('removed', 'console1')" in out, out

        assert [port for port, _, _ in
                consoles(daemon.virsh("dumpxml", "c1").out)] == [0]
        assert host.read(be) is None and host.read(fe) is None
        assert host.read(f"/local/domain/0/error/backend/console/{domid}/1") \
            is None
        assert host.stored_consoles(domid) == 1
        # The primary console is untouched.
        assert host.read(f"/local/domain/{domid}/console/tty") == live[0][2]
    finally:
        daemon.virsh("destroy", "c1")
        daemon.virsh("undefine", "c1")


def test_console_through_virsh(daemon, tmp_path):
    """virsh attach-device and detach-device (and detach-device-alias)
    with a console's XML; attached again after a detach."""
    host = Host(daemon.dir / "root")
    domid = start(daemon, tmp_path, "c2")
    f = tmp_path / "console.xml"
    f.write_text(CONSOLE1)
    be = f"/local/domain/0/backend/console/{domid}/1"
    try:
        for detach in (("detach-device", "c2", str(f)),
                       ("detach-device-alias", "c2", "console1")):
            res = daemon.virsh("attach-device", "c2", str(f), "--live")
            assert res.rc == 0, res
            live = consoles(daemon.virsh("dumpxml", "c2").out)
            assert live[1][:2] == (1, "console1") and \
                live[1][2].startswith("/dev/pts/"), live
            assert host.read(be + "/state") == "4"
            res = daemon.virsh(*detach, "--live")
            assert res.rc == 0, res
            assert len(consoles(daemon.virsh("dumpxml", "c2").out)) == 1
            assert host.read(be) is None
            assert host.stored_consoles(domid) == 1
    finally:
        daemon.virsh("destroy", "c2")
        daemon.virsh("undefine", "c2")


ERRORS = textwrap.dedent("""\
    import sys, libvirt
    uri, name = sys.argv[1:3]
    c = libvirt.open(uri)
    d = c.lookupByName(name)
    L, C = libvirt.VIR_DOMAIN_AFFECT_LIVE, libvirt.VIR_DOMAIN_AFFECT_CONFIG
    def code(f):
        try:
            f()
        except libvirt.libvirtError as e:
            return e.get_error_code()
        return 0
    xen = "<console type='pty'><target type='xen' port='%d'/></console>"
    print('missing', code(lambda: d.detachDeviceFlags(xen % 3, L)),
          code(lambda: d.detachDeviceFlags(xen % 3, C)))
    print('primary', code(lambda: d.detachDeviceFlags(xen % 0, L)),
          code(lambda: d.detachDeviceFlags(xen % 0, C)))
    print('serialconsole', code(lambda: d.attachDeviceFlags(
        "<console type='pty'><target type='serial'/></console>", L)))
    print('serial', code(lambda: d.attachDeviceFlags(
        "<serial type='pty'><target port='0'/></serial>", L)))
    print('taken', code(lambda: d.attachDeviceFlags(xen % 0, L)))
    print('gap', code(lambda: d.attachDeviceFlags(xen % 2, L)))
    print('file', code(lambda: d.attachDeviceFlags(
        "<console type='file'><source path='/tmp/x'/>"
        "<target type='xen' port='1'/></console>", L)))
    """)


def test_console_errors(daemon, tmp_path):
    """libvirt's codes: a missing console, the primary one, serial ports
    and serial consoles, a port taken or out of order; nothing changes."""
    import libvirt
    host = Host(daemon.dir / "root")
    domid = start(daemon, tmp_path, "c3")
    try:
        res = xvtest.python(ERRORS, daemon.uri, "c3")
        assert res.rc == 0, res
        got = dict((f[0], [int(x) for x in f[1:]])
                   for f in (line.split() for line in res.out.splitlines()))
        assert got == {
            "missing": [libvirt.VIR_ERR_DEVICE_MISSING] * 2,
            "primary": [libvirt.VIR_ERR_OPERATION_INVALID] * 2,
            "serialconsole": [libvirt.VIR_ERR_OPERATION_UNSUPPORTED],
            "serial": [libvirt.VIR_ERR_OPERATION_UNSUPPORTED],
            "taken": [libvirt.VIR_ERR_OPERATION_INVALID],
            "gap": [libvirt.VIR_ERR_CONFIG_UNSUPPORTED],
            "file": [libvirt.VIR_ERR_CONFIG_UNSUPPORTED],
        }, res.out
        assert len(consoles(daemon.virsh("dumpxml", "c3").out)) == 1
        assert host.read(f"/local/domain/0/backend/console/{domid}/1") is None
        assert host.stored_consoles(domid) == 1
        assert host.read(f"/local/domain/{domid}/console/tty") \
            .startswith("/dev/pts/")
    finally:
        daemon.virsh("destroy", "c3")
        daemon.virsh("undefine", "c3")


def test_console_in_config_then_start(embed, tmp_path):
    """A console attached to the definition only: the running domain does
    not change; a start gives it, served, under its alias; detached from
    the definition, the next start has none."""
    f = tmp_path / "c4.xml"
    f.write_text(guest_xml(tmp_path, "c4"))
    assert embed.virsh("define", str(f)).rc == 0
    cf = tmp_path / "console.xml"
    cf.write_text(CONSOLE1)
    res = embed.virsh("attach-device", "c4", str(cf), "--config")
    assert res.rc == 0, res
    assert [c[0] for c in consoles(embed.virsh("dumpxml", "--inactive",
                                               "c4").out)] == [0, 1]
    res = embed.virsh("start", "c4")
    assert res.rc == 0, res
    try:
        host = Host(embed.root)
        domid = int(embed.virsh("domid", "c4").out)
        live = consoles(embed.virsh("dumpxml", "c4").out)
        assert [(p, a) for p, a, _ in live] == \
            [(0, "console0"), (1, "console1")], live
        assert live[1][2].startswith("/dev/pts/")
        assert host.read(f"/local/domain/{domid}/device/console/1/tty") == \
            live[1][2]
        assert host.stored_consoles(domid) == 2

        # Live detach of the console the domain started with.
        res = embed.virsh("detach-device", "c4", str(cf), "--live")
        assert res.rc == 0, res
        assert host.read(f"/local/domain/0/backend/console/{domid}/1") is None
        assert host.stored_consoles(domid) == 1
        res = embed.virsh("detach-device", "c4", str(cf), "--config")
        assert res.rc == 0, res
        assert len(consoles(embed.virsh("dumpxml", "--inactive",
                                        "c4").out)) == 1
    finally:
        embed.virsh("destroy", "c4")
    res = embed.virsh("start", "c4")
    assert res.rc == 0, res
    assert len(consoles(embed.virsh("dumpxml", "c4").out)) == 1
    embed.virsh("destroy", "c4")



def test_console_backend_faults_leave_nothing_behind(embed, tmp_path):
    """xenconsoled never publishing a pty fails the attach and takes it
    back; a backend that never closes is removed by force at the timeout;
    the same attach works afterwards."""
    host = Host(embed.root)
    domid = start(embed, tmp_path, "c5")
    rundir = xvtest.sim_rundir(embed.root)
    cf = tmp_path / "console.xml"
    cf.write_text(CONSOLE1)
    be = f"/local/domain/0/backend/console/{domid}/1"
    fe = f"/local/domain/{domid}/device/console/1"

    def nothing_left():
        assert len(consoles(embed.virsh("dumpxml", "c5").out)) == 1
        assert host.read(be) is None and host.read(fe) is None
        assert host.stored_consoles(domid) == 1

    # Longer than the 2 s timeout; the simulated backend then wakes up to
    # find its directory gone.
    assert xvtest.simctl(rundir, "delay-backend", str(domid), "console/1",
                         "4").returncode == 0
    res = xvtest.quick_virsh(embed, "attach-device", "c5", str(cf), "--live")
    assert res.rc != 0 and "no pty for console 1" in res.err, res
    nothing_left()
    time.sleep(3)

    res = xvtest.quick_virsh(embed, "attach-device", "c5", str(cf), "--live")
    assert res.rc == 0, res
    assert host.read(be + "/state") == "4"
    assert xvtest.simctl(rundir, "delay-backend", str(domid), "console/1",
                         "600").returncode == 0
    res = xvtest.quick_virsh(embed, "detach-device", "c5", str(cf), "--live")
    assert res.rc == 0, res
    nothing_left()
    assert embed.virsh("destroy", "c5").rc == 0


def test_libvirtd_killed_mid_console_attach_and_detach(own_daemon, tmp_path):
    """libvirtd killed -9 while xenconsoled is slow, in an attach and then in
    a detach: after the restart the live XML has the consoles xenstore
    has, and detaching or attaching again works."""
    d = own_daemon
    host = Host(d.dir / "root")
    domid = start(d, tmp_path, "c6")
    rundir = d.sim_rundir
    cf = tmp_path / "console.xml"
    cf.write_text(CONSOLE1)
    be = f"/local/domain/0/backend/console/{domid}/1"

    def kill_during(*args, reached=None, settled=None):
        """Runs virsh ARGS with the console backend 3 s slow; kills
        libvirtd once @reached holds (else after a second), restarts it
        once @settled holds (else 3 s later)."""
        assert xvtest.simctl(rundir, "delay-backend", str(domid),
                             "console/1", "3").returncode == 0
        proc = subprocess.Popen(["virsh", "-q", "-c", d.uri, *args],
                                env=xvtest.driver_env(),
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        if reached:
            assert xvtest.wait_for(reached, 60), args
        else:
            time.sleep(1)
        pid = d.pid
        os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)
        while os.path.exists(f"/proc/{pid}"):
            time.sleep(0.05)
        if settled:
            assert xvtest.wait_for(settled, 30), args
        else:
            time.sleep(3)    # the delayed backend answers
        d.start()

    def live_ports():
        return [p for p, _, _ in consoles(d.virsh("dumpxml", "c6").out)]

    # Killed once the attach wrote the console's nodes (the backend is
    # slow to answer), restarted once the backend has.
    kill_during("attach-device", "c6", str(cf), "--live",
                reached=lambda: host.read(be) is not None,
                settled=lambda: host.read(be + "/state") == "4")
    # Its nodes were written before the driver died: it is there, served.
    assert host.read(be + "/state") == "4"
    live = consoles(d.virsh("dumpxml", "c6").out)
    assert [(p, a) for p, a, _ in live] == [(0, "console0"),
                                           (1, "console1")], live
    assert live[1][2] == host.read(f"/local/domain/{domid}/device/console/1/tty")
    assert "console 1 is there, from an attach the driver did not see " \
        "finish" in d.log()
    assert host.stored_consoles(domid) == 2

    kill_during("detach-device", "c6", str(cf), "--live")
    # Told to close before the driver died: the console is either still
    # there in both views or gone from both.
    assert live_ports() == ([0, 1] if host.read(be) is not None else [0])
    if host.read(be) is not None:
        res = d.virsh("detach-device", "c6", str(cf), "--live")
        assert res.rc == 0, res
    assert live_ports() == [0]
    assert host.read(be) is None and host.stored_consoles(domid) == 1
    res = d.virsh("attach-device", "c6", str(cf), "--live")
    assert res.rc == 0, res
    assert live_ports() == [0, 1] and host.read(be + "/state") == "4"
    assert d.virsh("destroy", "c6").rc == 0
