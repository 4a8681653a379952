"""Attaching and detaching disks and network interfaces, live and in the
persistent definition, through real virsh and python-libvirt: after every
step the live XML names exactly the devices the simulated host's xenstore
has; failures change nothing; Nova's detach pattern (DEVICE_REMOVED by
alias) works; two clients changing one domain lose no update."""

import json
import os
import re
import signal
import subprocess
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import xvtest

XENSIMCTL = xvtest.build_dir() / "tools" / "xensimctl"


def guest_xml(tmp, name="h1"):
    kernel = tmp / "kernel"
    kernel.write_text("a simulated kernel\n")
    disk = tmp / "a.img"
    disk.write_bytes(b"\0" * 65536)
    return textwrap.dedent(f"""\
        <domain type='xen'>
          <name>{name}</name>
          <memory unit='MiB'>64</memory>
          <os><type arch='x86_64'>xen</type><kernel>{kernel}</kernel></os>
          <devices>
            <disk type='file' device='disk'>
              <source file='{disk}'/><target dev='xvda' bus='xen'/>
            </disk>
            <interface type='bridge'><source bridge='xenbr0'/></interface>
          </devices>
        </domain>""")


def image(tmp, name):
    p = tmp / name
    p.write_bytes(b"\0" * 65536)
    return p


def xenstore_devices(rundir, domid):
    """{('vbd'|'vif', key)}: disks by their params, nics by their MAC, as
    the simulated host's backends have them."""
    res = subprocess.run([str(XENSIMCTL), "--rundir", str(rundir), "devices",
                          str(domid)], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 0, res.stderr
    found = set()
    for line in res.stdout.splitlines()[1:]:
        f = line.split()
        # A backend without its params or mac shows as None: a difference
        # the caller's comparison reports.
        detail = ((line.split("=", 1)[1].split() or [""])[0]
                  if "=" in line else None)
        if f[0] in ("vbd", "qdisk", "vbd3"):
            found.add(("disk", detail))
        elif f[0] == "vif":
            found.add(("nic", detail))
    return found


def live_devices(dumpxml):
    root = ET.fromstring(dumpxml)
    found = set()
    for d in root.findall("./devices/disk"):
        found.add(("disk", d.find("source").get("file")))
    for n in root.findall("./devices/interface"):
        found.add(("nic", n.find("mac").get("address")))
    return found


def start_h1(embed, tmp_path):
    """Defines and starts guest h1 on @embed; returns its domid and a check
    that its live XML names exactly the devices xenstore has (returning
    them)."""
    f = tmp_path / "h1.xml"
    f.write_text(guest_xml(tmp_path))
    assert embed.virsh("define", str(f)).rc == 0
    assert embed.virsh("start", "h1").rc == 0
    domid = int(embed.virsh("domid", "h1").out)
    rundir = xvtest.sim_rundir(embed.root)

    def agree():
        live = live_devices(embed.virsh("dumpxml", "h1").out)
        assert live == xenstore_devices(rundir, domid)
        return live
    return domid, agree


def test_attach_and_detach_live_match_xenstore(embed, tmp_path):
    domid, agree = start_h1(embed, tmp_path)
    assert len(agree()) == 2
    b = image(tmp_path, "b.img")
    res = embed.virsh("attach-disk", "h1", str(b), "xvdb")
    assert res.rc == 0, res
    assert ("disk", str(b)) in agree()
    res = embed.virsh("attach-interface", "h1", "bridge", "xenbr0",
                      "--mac", "00:16:3e:12:34:56")
    assert res.rc == 0, res
    assert ("nic", "00:16:3e:12:34:56") in agree()
    dump = embed.virsh("dumpxml", "h1").out
    assert "<alias name='xen-disk-xvdb'/>" in dump
    assert f"<target dev='vif{domid}.1'/>" in dump
    # The persistent definition did not change.
    inactive = embed.virsh("dumpxml", "--inactive", "h1").out
    assert "xvdb" not in inactive and "12:34:56" not in inactive

    assert embed.virsh("detach-disk", "h1", "xvdb").rc == 0
    assert ("disk", str(b)) not in agree()
    assert embed.virsh("detach-interface", "h1", "bridge",
                       "--mac", "00:16:3e:12:34:56").rc == 0
    assert len(agree()) == 2
    # The guest's own disk can go too, and come back.
    assert embed.virsh("detach-disk", "h1", "xvda").rc == 0
    assert len(agree()) == 1
    assert embed.virsh("attach-disk", "h1", str(tmp_path / "a.img"),
                       "xvda").rc == 0
    assert len(agree()) == 2
    assert embed.virsh("destroy", "h1").rc == 0


def test_config_and_live_and_config(embed, tmp_path):
    f = tmp_path / "h1.xml"
    f.write_text(guest_xml(tmp_path))
    assert embed.virsh("define", str(f)).rc == 0
    c = image(tmp_path, "c.img")
    # Shut off: the persistent definition only; live is refused.
    res = embed.virsh("attach-disk", "h1", str(c), "xvdc", "--config")
    assert res.rc == 0, res
    assert "xvdc" in embed.virsh("dumpxml", "--inactive", "h1").out
    res = embed.virsh("attach-disk", "h1", str(c), "xvdd", "--live")
    assert res.rc != 0 and "not running" in res.err
    # Started with it; then detached live and from the config at once.
    assert embed.virsh("start", "h1").rc == 0
    assert "xvdc" in embed.virsh("domblklist", "h1").out
    res = embed.virsh("detach-disk", "h1", "xvdc", "--live", "--config")
    assert res.rc == 0, res
    assert "xvdc" not in embed.virsh("domblklist", "h1").out
    assert "xvdc" not in embed.virsh("dumpxml", "--inactive", "h1").out
    domid = int(embed.virsh("domid", "h1").out)
    assert ("disk", str(c)) not in xenstore_devices(xvtest.sim_rundir(embed.root),
                                                     domid)
    assert embed.virsh("destroy", "h1").rc == 0
    assert "xvdc" not in embed.virsh("dumpxml", "h1").out


ERRORS = textwrap.dedent("""\
    import sys, libvirt
    libvirt.virEventRegisterDefaultImpl()   # embedded mode needs one
    libvirt.registerErrorHandler(lambda *a: None, None)
    c = libvirt.open(sys.argv[1])
    d = c.lookupByName('h1')
    img, missing = sys.argv[2], sys.argv[3]
    def code(xml, detach=False):
        try:
            (d.detachDeviceFlags if detach else d.attachDeviceFlags)(
                xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError as e:
            return e.get_error_code()
        return 0
    disk = "<disk type='file' device='disk'><source file='%s'/>" \\
           "<target dev='%s' bus='xen'/></disk>"
    print('missing-disk', code(disk % (img, 'xvdz'), detach=True))
    print('missing-nic', code("<interface type='bridge'><mac address="
                              "'00:16:3e:00:00:01'/><source bridge='xenbr0'/>"
                              "</interface>", detach=True))
    print('duplicate', code(disk % (img, 'xvda')))
    print('bad-mac', code("<interface type='bridge'><mac address='zz'/>"
                          "<source bridge='xenbr0'/></interface>"))
    print('no-file', code(disk % (missing, 'xvdc')))
    print('bad-target', code(disk % (img, 'vdq1x')))
    print('E', libvirt.VIR_ERR_DEVICE_MISSING, libvirt.VIR_ERR_OPERATION_FAILED)
    """)


def test_bad_requests_are_refused_and_change_nothing(embed, tmp_path):
    f = tmp_path / "h1.xml"
    f.write_text(guest_xml(tmp_path))
    assert embed.virsh("define", str(f)).rc == 0
    assert embed.virsh("start", "h1").rc == 0
    before = embed.virsh("dumpxml", "h1").out
    domid = int(embed.virsh("domid", "h1").out)
    in_xs = xenstore_devices(xvtest.sim_rundir(embed.root), domid)

    res = xvtest.python(ERRORS, embed.uri, str(image(tmp_path, "x.img")),
                        str(tmp_path / "missing.img"))
    assert res.rc == 0, res
    got = dict(line.split(" ", 1) for line in res.out.splitlines())
    missing, failed = got["E"].split()
    assert got["missing-disk"] == missing
    assert got["missing-nic"] == missing
    assert got["duplicate"] == failed
    for case in ("bad-mac", "no-file", "bad-target"):
        assert got[case] != "0", (case, got)
    assert embed.virsh("dumpxml", "h1").out == before
    assert xenstore_devices(xvtest.sim_rundir(embed.root), domid) == in_xs
    assert embed.virsh("destroy", "h1").rc == 0


NOVA = textwrap.dedent("""\
    import sys, threading, time, libvirt
    import xml.etree.ElementTree as ET
    libvirt.virEventRegisterDefaultImpl()
    c = libvirt.open(sys.argv[1])
    events = []
    c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
                             lambda conn, d, alias, o: events.append(('added', alias)),
                             None)
    c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
                             lambda conn, d, alias, o: events.append(('removed', alias)),
                             None)
    threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl()
                                     for _ in iter(int, 1)], daemon=True).start()
    d = c.lookupByName('h1')
    xml = ("<disk type='file' device='disk'><source file='%s'/>"
           "<target dev='xvdb' bus='xen'/></disk>" % sys.argv[2])
    d.attachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    # As Nova does: the device's alias from the live XML, detach, then wait
    # up to 20 s for DEVICE_REMOVED with that alias.
    live = ET.fromstring(d.XMLDesc(0))
    alias = [x.find('alias').get('name') for x in live.findall('./devices/disk')
             if x.find('target').get('dev') == 'xvdb'][0]
    d.detachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    deadline = time.time() + 20
    while ('removed', alias) not in events and time.time() < deadline:
        time.sleep(0.05)
    print(alias, events)
    assert events == [('added', alias), ('removed', alias)], events
    print('ok')
    """)


def test_nova_waits_for_device_removed(daemon, tmp_path):
    f = tmp_path / "h1.xml"
    f.write_text(guest_xml(tmp_path))
    assert daemon.virsh("define", str(f)).rc == 0
    assert daemon.virsh("start", "h1").rc == 0
    try:
        res = xvtest.python(NOVA, daemon.uri, str(image(tmp_path, "n.img")))
        assert res.rc == 0, res
        assert res.out.strip().endswith("ok"), res
    finally:
        daemon.virsh("destroy", "h1")
        daemon.virsh("undefine", "h1")


TWO = textwrap.dedent("""\
    import sys, threading, libvirt
    uri, imgs = sys.argv[1], sys.argv[2:]
    errors = []
    def client(vdevs):
        c = libvirt.open(uri)
        d = c.lookupByName('h1')
        for n in range(ROUNDS):
            for vdev, img in vdevs:
                xml = ("<disk type='file' device='disk'><source file='%s'/>"
                       "<target dev='%s' bus='xen'/></disk>" % (img, vdev))
                try:
                    d.attachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
                    if n < ROUNDS - 1:
                        d.detachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
                except libvirt.libvirtError as e:
                    errors.append(str(e))
    ts = [threading.Thread(target=client, args=([('xvdb', imgs[0])],)),
          threading.Thread(target=client, args=([('xvdc', imgs[1])],))]
    for t in ts: t.start()
    for t in ts: t.join()
    print('errors', errors)
    """)


def test_two_clients_change_one_domain(daemon, tmp_path):
    f = tmp_path / "h1.xml"
    f.write_text(guest_xml(tmp_path))
    assert daemon.virsh("define", str(f)).rc == 0
    assert daemon.virsh("start", "h1").rc == 0
    try:
        imgs = [str(image(tmp_path, n)) for n in ("b.img", "c.img")]
        res = xvtest.python(TWO.replace("ROUNDS", "50"), daemon.uri, *imgs,
                            timeout=300)
        assert res.rc == 0, res
        assert res.out.strip() == "errors []", res.out
        # Each client's last attach stays: both disks, in the live XML and
        # in xenstore, and the stored config agrees (a restart of the
        # domain's devices reads it).
        domid = int(daemon.virsh("domid", "h1").out)
        rundir = daemon.dir / "root" / "run" / "xenvirt" / "xensim"
        live = live_devices(daemon.virsh("dumpxml", "h1").out)
        assert live == xenstore_devices(rundir, domid)
        assert {("disk", i) for i in imgs} <= live
        stored = list((daemon.dir / "root").rglob(f"userdata/{domid}-*.json"))
        assert len(stored) == 1
        text = stored[0].read_text()
        assert all(i in text for i in imgs)
        assert len(re.findall(r'"vdev"', text)) == 3
    finally:
        daemon.virsh("destroy", "h1")
        daemon.virsh("undefine", "h1")


def test_libvirtd_killed_mid_attach_and_mid_detach(own_daemon, tmp_path):
    """libvirtd killed -9 while an interface's hotplug script runs, in an
    attach and then in a detach: after the restart the live XML names
    exactly the devices xenstore has, and attaching or detaching again
    works."""
    d = own_daemon
    script = tmp_path / "slow-vif"
    ran = tmp_path / "slow-vif.log"
    script.write_text(f"#!/bin/sh\necho start >>{ran}\nsleep 2\n"
                      f"echo end >>{ran}\n")
    script.chmod(0o755)
    f = tmp_path / "h1.xml"
    f.write_text(guest_xml(tmp_path))
    assert d.virsh("define", str(f)).rc == 0
    assert d.virsh("start", "h1").rc == 0
    domid = int(d.virsh("domid", "h1").out)
    rundir = d.dir / "root" / "run" / "xenvirt" / "xensim"
    mac = "00:16:3e:aa:bb:cc"

    def script_runs():
        return ran.read_text().split() if ran.exists() else []

    def kill_during(*args):
        """Runs virsh ARGS and kills libvirtd once the slow script has
        started (however long the call took to get there)."""
        before = script_runs().count("start")
        proc = subprocess.Popen(["virsh", "-q", "-c", d.uri, *args],
                                env=xvtest.driver_env(),
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        assert xvtest.wait_for(
            lambda: script_runs().count("start") > before, 60), args
        pid = d.pid
        os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=30)
        while Path(f"/proc/{pid}").exists():
            time.sleep(0.05)
        # The orphaned script finishes.
        assert xvtest.wait_for(
            lambda: script_runs().count("end") > before, 30), script_runs()
        d.start()

    def agree():
        live = live_devices(d.virsh("dumpxml", "h1").out)
        assert live == xenstore_devices(rundir, domid)
        return live

    kill_during("attach-interface", "h1", "bridge", "xenbr0", "--mac",
                mac, "--script", str(script))
    live = agree()
    # Its nodes were written before its script ran: it is there.
    assert ("nic", mac) in live
    assert "from an attach the driver did not see finish" in d.log()
    if ("nic", mac) in live:
        res = d.virsh("detach-interface", "h1", "bridge", "--mac", mac)
        assert res.rc == 0, res
        assert ("nic", mac) not in agree()
    res = d.virsh("attach-interface", "h1", "bridge", "xenbr0", "--mac",
                  mac, "--script", str(script))
    assert res.rc == 0, res
    assert ("nic", mac) in agree()

    kill_during("detach-interface", "h1", "bridge", "--mac", mac)
    live = agree()
    if ("nic", mac) in live:
        assert d.virsh("detach-interface", "h1", "bridge", "--mac",
                       mac).rc == 0
    assert ("nic", mac) not in agree()
    res = d.virsh("attach-interface", "h1", "bridge", "xenbr0", "--mac",
                  mac)
    assert res.rc == 0, res
    assert ("nic", mac) in agree()
    assert d.virsh("destroy", "h1").rc == 0


def sim(host_root, *args):
    return xvtest.simctl(xvtest.sim_rundir(host_root), *args)



def test_faults_in_attach_and_detach_leave_nothing_behind(embed, tmp_path):
    domid, agree = start_h1(embed, tmp_path)
    base = agree()
    b = image(tmp_path, "b.img")
    failing = tmp_path / "failing-vif"
    failing.write_text("#!/bin/sh\nexit 3\n")
    failing.chmod(0o755)
    hanging = tmp_path / "hanging-vif"
    pidfile = tmp_path / "hanging.pid"
    hanging.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 600\n")
    hanging.chmod(0o755)

    # The backend fails (a missing file, as blkback reports it).
    assert sim(embed.root, "fail-next-hotplug", domid).returncode == 0
    res = xvtest.quick_virsh(embed, "attach-disk", "h1", str(b), "xvdb")
    assert res.rc != 0 and "failed" in res.err, res
    assert agree() == base
    # The backend never answers.
    assert sim(embed.root, "delay-backend", domid, "qdisk/51728",
               600).returncode == 0
    res = xvtest.quick_virsh(embed, "attach-disk", "h1", str(b), "xvdb")
    assert res.rc != 0 and "did not connect" in res.err, res
    assert agree() == base
    # The hotplug script fails, then hangs.
    for script, words in ((failing, "failed"), (hanging, "in time")):
        res = xvtest.quick_virsh(embed, "attach-interface", "h1", "bridge",
                          "xenbr0", "--mac", "00:16:3e:00:00:42",
                          "--script", str(script))
        assert res.rc != 0 and words in res.err, res
        assert agree() == base
    # After all that, the same attach works, and a detach whose backend
    # never closes goes on by force at the timeout.
    res = xvtest.quick_virsh(embed, "attach-disk", "h1", str(b), "xvdc")
    assert res.rc == 0, res
    assert ("disk", str(b)) in agree()
    assert sim(embed.root, "delay-backend", domid, "qdisk/51744",
               600).returncode == 0
    res = xvtest.quick_virsh(embed, "detach-disk", "h1", "xvdc")
    assert res.rc == 0, res
    assert agree() == base
    # No child left: the hanging script was killed at the timeout.
    pid = int(pidfile.read_text())
    assert xvtest.wait_for(lambda: not Path(f"/proc/{pid}").exists(), 10), pid
    assert embed.virsh("destroy", "h1").rc == 0


ALIAS = textwrap.dedent("""\
    import sys, libvirt
    libvirt.virEventRegisterDefaultImpl()
    libvirt.registerErrorHandler(lambda *a: None, None)
    c = libvirt.open(sys.argv[1])
    d = c.lookupByName('h1')
    d.attachDeviceFlags("<disk type='file' device='disk'><source file='%s'/>"
                        "<target dev='xvdb' bus='xen'/><alias name='ua-data'/>"
                        "</disk>" % sys.argv[2],
                        libvirt.VIR_DOMAIN_AFFECT_LIVE |
                        libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    assert "<alias name='ua-data'/>" in d.XMLDesc(0)
    assert "<alias name='ua-data'/>" in d.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    d.detachDeviceAlias('ua-data', libvirt.VIR_DOMAIN_AFFECT_LIVE |
                        libvirt.VIR_DOMAIN_AFFECT_CONFIG)
    assert 'xvdb' not in d.XMLDesc(0)
    assert 'xvdb' not in d.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    d.detachDeviceAlias('xen-net-0', libvirt.VIR_DOMAIN_AFFECT_LIVE)
    assert '<interface' not in d.XMLDesc(0)
    try:
        d.detachDeviceAlias('ua-nothing', libvirt.VIR_DOMAIN_AFFECT_LIVE)
    except libvirt.libvirtError as e:
        assert e.get_error_code() == libvirt.VIR_ERR_DEVICE_MISSING, e
    else:
        raise AssertionError('detached a device that is not there')
    print('ok')
    """)


def test_detach_by_alias(embed, tmp_path):
    f = tmp_path / "h1.xml"
    f.write_text(guest_xml(tmp_path))
    assert embed.virsh("define", str(f)).rc == 0
    assert embed.virsh("start", "h1").rc == 0
    res = xvtest.python(ALIAS, embed.uri, str(image(tmp_path, "u.img")))
    assert res.rc == 0, res
    assert res.out.strip() == "ok"
    domid = int(embed.virsh("domid", "h1").out)
    assert xenstore_devices(xvtest.sim_rundir(embed.root), domid) == {
        ("disk", str(tmp_path / "a.img"))}
    assert embed.virsh("destroy", "h1").rc == 0


MEDIA = textwrap.dedent("""\
    import json, subprocess, sys, threading, time, libvirt
    uri, simctl, rundir, userdata = sys.argv[1:5]
    isos = sys.argv[5:]
    libvirt.virEventRegisterDefaultImpl()
    c = libvirt.open(uri)
    trays = []
    c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_TRAY_CHANGE,
                             lambda conn, d, alias, reason, o: trays.append(reason),
                             None)
    threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl()
                                     for _ in iter(int, 1)], daemon=True).start()
    d = c.lookupByName('cd1')
    domid = d.ID()

    def stored():
        import glob
        f = glob.glob('%s/%d-*.json' % (userdata, domid))[0]
        disks = json.load(open(f)).get('disks', [])
        return [x.get('target') for x in disks if x['vdev'] == 'xvdc'][0]

    def in_xenstore():
        out = subprocess.run([simctl, '--rundir', rundir, 'devices', str(domid)],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.split()[:2] == ['qdisk', '51744']:
                return line.split('params=', 1)[1].strip()
        return None

    seen, bad, done = [0], [], [False]
    def reader():
        while not done[0]:
            a, x, b = stored(), in_xenstore(), stored()
            seen[0] += 1
            # Two different media at once: xenstore and a stored entry that
            # did not change around the read (every medium is used once, so
            # the same entry before and after means no change between).
            if a == b and a and x and a != x:
                bad.append((a, x))
    t = threading.Thread(target=reader)
    t.start()
    xml = ("<disk type='file' device='cdrom'><source file='%s'/>"
           "<target dev='xvdc' bus='xen'/><readonly/></disk>")
    for iso in isos[1:]:
        d.updateDeviceFlags(xml % iso, libvirt.VIR_DOMAIN_AFFECT_LIVE)
    done[0] = True
    t.join()
    last = isos[-1]
    assert stored() == last and in_xenstore() == last, (stored(), in_xenstore())
    assert ("<source file='%s'/>" % last) in d.XMLDesc(0)
    # Ejected: empty everywhere.
    d.updateDeviceFlags("<disk type='file' device='cdrom'><target dev='xvdc' "
                        "bus='xen'/><readonly/></disk>",
                        libvirt.VIR_DOMAIN_AFFECT_LIVE)
    assert in_xenstore() == '' and not stored()
    time.sleep(0.5)
    print('samples', seen[0], 'bad', bad, 'trays', len(trays),
          trays[-1] == libvirt.VIR_DOMAIN_EVENT_TRAY_CHANGE_OPEN)
    """)


def start_cd1(daemon, tmp_path, iso):
    """Defines and starts guest cd1, with a CD-ROM drive xvdc holding
    @iso; returns its XML file."""
    xml = guest_xml(tmp_path, "cd1").replace(
        "<interface", f"<disk type='file' device='cdrom'><source file="
        f"'{iso}'/><target dev='xvdc' bus='xen'/><readonly/></disk>"
        "<interface")
    f = tmp_path / "cd1.xml"
    f.write_text(xml)
    assert daemon.virsh("define", str(f)).rc == 0
    assert daemon.virsh("start", "cd1").rc == 0
    return f


def test_cdrom_media_change_never_holds_two_media(daemon, tmp_path):
    isos = [tmp_path / f"disc{i}.iso" for i in range(101)]
    for iso in isos:
        iso.write_bytes(b"\0" * 4096)
    f = start_cd1(daemon, tmp_path, isos[0])
    try:
        root = daemon.dir / "root"
        res = xvtest.python(MEDIA, daemon.uri, str(XENSIMCTL),
                            str(xvtest.sim_rundir(root)),
                            str(root / "var" / "lib" / "xenvirt" / "userdata"),
                            *map(str, isos), timeout=300)
        assert res.rc == 0, res
        samples, bad, trays, last_open = re.fullmatch(
            r"samples (\d+) bad (.*) trays (\d+) (\w+)\n", res.out).groups()
        assert int(samples) > 10 and bad == "[]", res.out
        # Open and closed for each change, open for the last eject.
        assert int(trays) == 201 and last_open == "True", res.out
        # The definition kept its medium; --config changes it there.
        assert str(isos[0]) in daemon.virsh("dumpxml", "--inactive",
                                            "cd1").out
        res = daemon.virsh("change-media", "cd1", "xvdc", str(isos[7]),
                           "--update", "--config")
        assert res.rc == 0, res
        assert str(isos[7]) in daemon.virsh("dumpxml", "--inactive",
                                            "cd1").out
        # Only a CD-ROM's medium changes.
        res = daemon.virsh("update-device", "cd1", str(f), "--live")
        assert res.rc != 0
    finally:
        daemon.virsh("destroy", "cd1")
        daemon.virsh("undefine", "cd1")


GUEST_EJECT = textwrap.dedent("""\
    import subprocess, sys, threading, libvirt
    uri, sock, vbd = sys.argv[1:4]
    libvirt.virEventRegisterDefaultImpl()
    c = libvirt.open(uri)
    trays = []
    c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_TRAY_CHANGE,
                             lambda conn, d, alias, reason, o:
                             trays.append((alias, reason)), None)
    threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl()
                                     for _ in iter(int, 1)], daemon=True).start()
    d = c.lookupByName('cd1')
    # What a guest's PV driver writes into its frontend: here through
    # dom0's connection, to the same node.
    subprocess.run(['xenstore-write', vbd + '/eject', 'eject'], check=True,
                   env={'XENSTORED_PATH': sock})
    import time
    deadline = time.monotonic() + 20
    while not trays and time.monotonic() < deadline:
        time.sleep(0.05)
    print(trays)
    """)


def test_guest_eject_empties_the_tray(daemon, tmp_path):
    """A guest's eject request (its frontend's `eject` node): TRAY_CHANGE
    (open) to clients, the medium gone from xenstore, the stored config and
    the live XML, the request cleared; a request on a disk that is not a
    CD-ROM drive changes nothing."""
    iso = tmp_path / "disc.iso"
    iso.write_bytes(b"\0" * 4096)
    start_cd1(daemon, tmp_path, iso)
    try:
        root = daemon.dir / "root"
        rundir = xvtest.sim_rundir(root)
        sock = str(rundir / "xenstored" / "socket")
        domid = int(daemon.virsh("domid", "cd1").out)
        env = {"XENSTORED_PATH": sock}

        def xs_read(path):
            r = subprocess.run(["xenstore-read", path], capture_output=True,
                               text=True, env=env, timeout=30)
            return r.stdout.strip() if r.returncode == 0 else None

        # A request on the guest's ordinary disk: nothing happens.
        fe_xvda = f"/local/domain/{domid}/device/vbd/51712"
        subprocess.run(["xenstore-write", fe_xvda + "/eject", "eject"],
                       check=True, env=env, timeout=30)
        fe = f"/local/domain/{domid}/device/vbd/51744"
        res = xvtest.python(GUEST_EJECT, daemon.uri, sock, fe)
        assert res.rc == 0, res
        assert res.out.strip() == \
            f"[('xen-disk-xvdc', {libvirt_tray_open()})]", res.out
        devs = xenstore_devices(rundir, domid)
        assert ("disk", "") in devs and ("disk", str(tmp_path / "a.img")) \
            in devs, devs
        assert xs_read(fe + "/eject") == ""
        assert xs_read(fe_xvda + "/eject") == "eject"
        live = ET.fromstring(daemon.virsh("dumpxml", "cd1").out)
        cd = [d for d in live.findall("./devices/disk")
              if d.find("target").get("dev") == "xvdc"][0]
        assert cd.find("source") is None
        userdata = root / "var" / "lib" / "xenvirt" / "userdata"
        stored = json.loads(next(userdata.glob(f"{domid}-*.json"))
                            .read_text())
        assert [d.get("target") for d in stored["disks"]
                if d["vdev"] == "xvdc"] == [None]
        # The definition keeps its medium; a new one goes in as before.
        assert str(iso) in daemon.virsh("dumpxml", "--inactive", "cd1").out
        res = daemon.virsh("change-media", "cd1", "xvdc", str(iso),
                           "--insert", "--live")
        assert res.rc == 0, res
        assert ("disk", str(iso)) in xenstore_devices(rundir, domid)
    finally:
        daemon.virsh("destroy", "cd1")
        daemon.virsh("undefine", "cd1")


def test_a_guest_writing_garbage_cannot_flood_the_log(daemon, tmp_path):
    """A guest that writes an unreadable value (too long) to a node the
    core reads, over and over: libvirtd's log gets a handful of warnings,
    not one per write, and the next warning that goes out says how many
    were held back (xlite__log_guest)."""
    iso = tmp_path / "disc.iso"
    iso.write_bytes(b"\0" * 4096)
    start_cd1(daemon, tmp_path, iso)
    try:
        sock = str(xvtest.sim_rundir(daemon.dir / "root") / "xenstored"
                   / "socket")
        env = {"XENSTORED_PATH": sock}
        domid = int(daemon.virsh("domid", "cd1").out)
        node = f"/local/domain/{domid}/device/vbd/51744/eject"
        marker = f"ignoring the value of {node}"
        before = daemon.log().count(marker)
        t0 = time.monotonic()
        writes = 300
        for n in range(writes):
            subprocess.run(["xenstore-write", node, f"{n:040d}"], check=True,
                           env=env, timeout=60)
        # The daemon answers, and its guest is still served.
        assert daemon.virsh("domstate", "cd1").out.strip() == "running"
        assert xvtest.wait_for(
            lambda: daemon.log().count(marker) > before, 10)
        time.sleep(1.5)
        # A period later, one more goes out and counts the rest.
        subprocess.run(["xenstore-write", node, "x" * 40], check=True,
                       env=env, timeout=30)
        def warnings():
            return [line for line in daemon.log().splitlines()
                    if marker in line]
        assert xvtest.wait_for(lambda: "held back" in warnings()[-1], 10), \
            (len(warnings()) - before, warnings()[-3:])
        logged = daemon.log().count(marker) - before
        # A burst of 10, then one a second: however long the writes took,
        # far fewer lines than writes.
        allowed = 10 + int(time.monotonic() - t0) + 1
        assert 2 <= logged <= allowed < writes, (logged, allowed)
    finally:
        daemon.virsh("destroy", "cd1")
        daemon.virsh("undefine", "cd1")


def libvirt_tray_open():
    import libvirt
    return libvirt.VIR_DOMAIN_EVENT_TRAY_CHANGE_OPEN
