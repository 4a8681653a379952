"""Simulated PV guests and dom0's backends, driven like a toolstack would.

conftest.ts is a hvclient.Toolstack: create + build + the xenstore nodes
libxl writes + INTRODUCE; the tests then unpause and watch what the guest
kernel and the backends do, through xenstore, the control socket and the
console pty.
"""
import os
import select
import time
import uuid

import pytest

from hvclient import HvError, wait_until
from xsclient import IS_DOMAIN_INTRODUCED


def home(domid):
    return "/local/domain/%d" % domid


def fe_state(ts, domid, kind, devid):
    return ts.read("%s/device/%s/%d/state" % (home(domid), kind, devid))


def be_state(ts, domid, kind, devid):
    return ts.read("/local/domain/0/backend/%s/%d/%d/state" % (kind, domid, devid))


def connected(ts, domid, kind, devid):
    return (fe_state(ts, domid, kind, devid) == "4" and
            be_state(ts, domid, kind, devid) == "4")


class Console:
    """The guest's console, read on its pty as `xl console` would."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.data = b""

    def read(self, timeout=0.2):
        got = b""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                break
            try:
                got += os.read(self.fd, 65536)
            except BlockingIOError:
                pass
        self.data += got
        return got

    def wait_for(self, text, timeout=10):
        end = time.monotonic() + timeout
        while text not in self.data and time.monotonic() < end:
            self.read(0.1)
        return text in self.data

    def drain(self, quiet=0.3, limit=30):
        """Read until nothing comes for `quiet` seconds."""
        end = time.monotonic() + limit
        while self.read(quiet) and time.monotonic() < end:
            pass

    def write(self, data):
        os.write(self.fd, data)

    def close(self):
        os.close(self.fd)


def console_of(ts, domid):
    tty = wait_until(lambda: ts.read(home(domid) + "/console/tty"))
    assert tty and tty.startswith("/dev/pts/"), tty
    return Console(tty)


def start(ts, kernel, **kw):
    domid = ts.create(kernel, **kw)
    ts.hv.call("unpause", domid=domid)
    return domid


def test_boot_handshakes_and_poweroff(host, ts, kernel, tmp_path):
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * (4 << 20))
    domid = ts.create(kernel, disks=[disk], nics=2, vkb=True)
    # Paused: nothing happens in the guest yet, the backends wait for it.
    time.sleep(0.3)
    assert fe_state(ts, domid, "vbd", 51712) == "1"
    assert be_state(ts, domid, "vbd", 51712) == "2"
    assert ts.read(home(domid) + "/control/feature-poweroff") == ""

    ts.hv.call("unpause", domid=domid)
    assert wait_until(lambda: connected(ts, domid, "vbd", 51712) and
                      connected(ts, domid, "vif", 0) and
                      connected(ts, domid, "vif", 1))
    be = "/local/domain/0/backend/vbd/%d/51712" % domid
    assert ts.read(be + "/sectors") == str((4 << 20) // 512)
    assert ts.read(be + "/sector-size") == "512"
    assert ts.read(be + "/info") == "0"
    assert ts.read(be + "/hotplug-status") == "connected"
    # What Xen's block script leaves: the file on a loop device of the
    # simulated host's /dev, a link to the file.
    node = ts.read(be + "/node")
    assert node == ts.read(be + "/physical-device-path")
    assert node.endswith("/dev/loop%s" % ts.read(be + "/physical-device")
                         .split(":")[1])
    assert ts.read(be + "/physical-device").startswith("7:")
    assert os.path.realpath(node) == str(disk)
    assert ts.read(be + "/feature-discard") == "1"
    fe = home(domid) + "/device/vbd/51712"
    assert ts.read(fe + "/ring-ref") and ts.read(fe + "/event-channel")
    vif = "/local/domain/0/backend/vif/%d/1" % domid
    assert ts.read(vif + "/handle") == "1"
    # netback never names the interface; the frontend, offered split
    # event channels, takes them.
    assert ts.read(vif + "/vifname") is None
    assert ts.read(vif + "/feature-split-event-channels") == "1"
    fe_vif = home(domid) + "/device/vif/1"
    assert ts.read(fe_vif + "/event-channel-tx") and \
        ts.read(fe_vif + "/event-channel-rx")
    assert ts.read(fe_vif + "/event-channel") is None
    # vkb has no backend here: the frontend waits, as it would on Xen.
    assert fe_state(ts, domid, "vkb", 0) == "1"
    for f in ("poweroff", "reboot", "suspend"):
        assert ts.read(home(domid) + "/control/feature-" + f) == "1"
    # As xenconsoled: the pty only in the frontend, no handshake.
    assert ts.read(home(domid) + "/console/tty").startswith("/dev/pts/")
    assert ts.read("/local/domain/0/backend/console/%d/0/tty" % domid) is None
    assert ts.read("/local/domain/0/backend/console/%d/0/state" % domid) == "1"
    # xenconsoled runs no hotplug script.
    assert ts.read("/local/domain/0/backend/console/%d/0/hotplug-status"
                   % domid) is None

    ts.xs.watch("@releaseDomain", "rel")
    assert ts.xs.wait_event() == (b"@releaseDomain", b"rel")
    ts.xs.write(home(domid) + "/control/shutdown", "poweroff")
    assert wait_until(lambda: ts.hv.info(domid)["shutdown"])
    info = ts.hv.info(domid)
    assert info["shutdown_reason"] == "poweroff" and not info["running"]
    assert ts.xs.wait_event() == (b"@releaseDomain", b"rel")
    # The guest acknowledged by clearing the request, as Linux does.
    assert ts.read(home(domid) + "/control/shutdown") == ""

    ts.hv.call("destroy", domid=domid)
    assert wait_until(lambda: domid not in ts.hv.domids())
    assert ts.xs.wait_event() == (b"@releaseDomain", b"rel")
    # The guest's xenstore connection is gone, and xenstored forgot it.
    assert not os.path.exists(host.domain_sock(domid))
    r = ts.xs.request(IS_DOMAIN_INTRODUCED, b"%d\0" % domid)
    assert r.rstrip(b"\0") == b"F"
    assert "conn" in host.log() and "(domain %d): closed" % domid in host.log()
    ts.cleanup(domid, info["uuid"])
    # The loop device goes with its backend, as the script's remove
    # detaches it.
    assert wait_until(lambda: not os.path.lexists(node))


def fds_by_kind(pid):
    kinds = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("/dev/pts/"):
            kind = "pty slave"
        elif target == "/dev/ptmx":
            kind = "pty master"
        elif target.startswith("socket:"):
            kind = "socket"
        else:
            kind = target.split("[")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def test_fds_per_running_guest(host, ts, kernel):
    """What a running guest with its console costs xensimd in fds (the
    inventory of docs/xensim-host.md): the console's pty, master and slave
    (the slave held open, as xenconsoled does), and its kernel thread's
    main context wakeup (an eventfd).  Its xenstore and console rings are
    memory, not sockets."""
    n = 4
    warm = start(ts, kernel)
    console_of(ts, warm).close()
    before = fds_by_kind(host.pid)
    domids = [start(ts, kernel) for _ in range(n)]
    for domid in domids:
        console_of(ts, domid).close()
        assert wait_until(lambda: ts.read(home(domid) +
                                          "/control/feature-poweroff") == "1")
        assert wait_until(lambda: not os.path.exists(host.domain_sock(domid)))
    after = fds_by_kind(host.pid)
    per = {k: (after.get(k, 0) - before.get(k, 0)) / n
           for k in set(before) | set(after)}
    per = {k: v for k, v in per.items() if v}
    assert per == {"pty master": 1, "pty slave": 1,
                   "anon_inode:": 1}, per
    # And all of them go with the domain.
    for domid in domids:
        ts.hv.call("destroy", domid=domid)
    assert wait_until(lambda: fds_by_kind(host.pid) == before), \
        (before, fds_by_kind(host.pid))


@pytest.mark.parametrize("request_, reason", [("reboot", "reboot"),
                                              ("crash", "crash"),
                                              ("halt", "poweroff"),
                                              ("suspend", "suspend")])
def test_shutdown_reasons(ts, kernel, request_, reason):
    domid = start(ts, kernel)
    assert wait_until(lambda: ts.read(home(domid) + "/control/feature-reboot") == "1")
    ts.xs.write(home(domid) + "/control/shutdown", request_)
    assert wait_until(lambda: ts.hv.info(domid)["shutdown"])
    assert ts.hv.info(domid)["shutdown_reason"] == reason
    ts.destroy(domid)


def test_unknown_shutdown_request_is_ignored(ts, kernel):
    domid = start(ts, kernel)
    con = console_of(ts, domid)
    ts.xs.write(home(domid) + "/control/shutdown", "dance")
    assert con.wait_for(b"Ignoring shutdown request: dance")
    assert not ts.hv.info(domid)["shutdown"]
    con.close()


def test_ignore_shutdown_stays_up(ts, kernel_script):
    domid = start(ts, kernel_script("ignore-shutdown"))
    assert wait_until(lambda: ts.read(home(domid) + "/control/feature-poweroff") == "1")
    ts.xs.write(home(domid) + "/control/shutdown", "poweroff")
    time.sleep(1.0)
    info = ts.hv.info(domid)
    assert info["running"] and not info["shutdown"]
    # The toolstack's way out: destroy works regardless.
    ts.destroy(domid)


def test_crash_after(ts, kernel_script):
    domid = start(ts, kernel_script("crash-after 1"))
    assert not ts.hv.info(domid)["shutdown"]
    assert wait_until(lambda: ts.hv.info(domid)["shutdown"], timeout=10)
    assert ts.hv.info(domid)["shutdown_reason"] == "crash"


def test_console_output_and_input(ts, kernel):
    domid = start(ts, kernel, name="web-1;rm -rf\x1b")
    con = console_of(ts, domid)
    # Its name from its home, printable only.
    assert con.wait_for(b"web-1-rm--rf- login: ")
    assert b"Linux version" in con.data
    con.write(b"root\r")
    assert con.wait_for(b"Login incorrect")
    con.close()


def test_pause_stops_console_output(ts, kernel_script):
    domid = start(ts, kernel_script("console-flood"))
    con = console_of(ts, domid)
    assert con.wait_for(b"flood ")
    ts.hv.call("pause", domid=domid)
    con.drain()
    # Paused: not one more byte.
    assert con.read(1.0) == b""
    ts.hv.call("unpause", domid=domid)
    assert con.read(1.0) != b""
    con.close()


def test_pause_stops_the_guest_answering(ts, kernel):
    domid = start(ts, kernel)
    con = console_of(ts, domid)
    assert con.wait_for(b"login: ")
    ts.hv.call("pause", domid=domid)
    con.drain()
    con.write(b"x\r")
    ts.xs.write(home(domid) + "/control/shutdown", "poweroff")
    assert con.read(0.8) == b""
    assert not ts.hv.info(domid)["shutdown"]
    ts.hv.call("unpause", domid=domid)
    assert con.wait_for(b"Login incorrect")
    assert wait_until(lambda: ts.hv.info(domid)["shutdown"])
    con.close()


def test_balloon_follows_target(ts, kernel, kernel_script):
    domid = start(ts, kernel, memkb=524288)
    assert wait_until(lambda: ts.read(home(domid) + "/control/feature-poweroff") == "1")
    free = ts.hv.call("host_info")["free_kib"]
    ts.xs.write(home(domid) + "/memory/target", "262144")
    assert wait_until(lambda: ts.hv.info(domid)["cur_memkb"] == 262144)
    assert ts.hv.call("host_info")["free_kib"] == free + 262144
    # Never above the ceiling.
    ts.xs.write(home(domid) + "/memory/target", "9999999")
    assert wait_until(lambda: ts.hv.info(domid)["cur_memkb"] == 524288)

    stubborn = start(ts, kernel_script("no-balloon"), memkb=262144)
    assert wait_until(lambda: ts.read(home(stubborn) + "/control/feature-poweroff") == "1")
    ts.xs.write(home(stubborn) + "/memory/target", "131072")
    time.sleep(0.5)
    assert ts.hv.info(stubborn)["cur_memkb"] == 262144



def test_balloon_on_its_own(ts, kernel_script):
    """balloon-after: the guest moves its balloon itself (Linux's
    self-ballooning) and says so in data/, while memory/target, the
    toolstack's, stays as it was."""
    domid = start(ts, kernel_script("balloon-after 1 196608"), memkb=262144)
    assert wait_until(lambda: ts.read(home(domid) + "/control/feature-poweroff") == "1")
    target = ts.read(home(domid) + "/memory/target")
    assert wait_until(lambda: ts.hv.info(domid)["cur_memkb"] == 196608)
    assert ts.read(home(domid) + "/data/meminfo_total") == "196608"
    assert ts.read(home(domid) + "/memory/target") == target


@pytest.mark.parametrize("line", ["balloon-after 1", "balloon-after x 65536",
                                  "balloon-after 1 1024",
                                  "balloon-after 1 65536 7"])
def test_balloon_after_refuses_bad_forms(ts, kernel_script, line):
    domid = ts.hv.call("create", uuid=str(uuid.uuid4()), type="pv",
                       max_vcpus=1, max_memkb=65536)["domid"]
    with pytest.raises(HvError) as e:
        ts.hv.call("build", domid=domid, kernel=str(kernel_script(line)))
    assert e.value.name == "EINVAL" and line in e.value.message, e.value
    ts.hv.call("destroy", domid=domid)

def test_garbage_guest_is_contained(host, ts, kernel, kernel_script):
    good = start(ts, kernel)
    bad = start(ts, kernel_script("garbage"))
    assert wait_until(lambda: ts.read(home(bad) + "/data/garbage-0") is not None or
                      len(ts.xs.directory(home(bad) + "/data")) > 0)
    time.sleep(2.0)
    xs = ts.xs
    # Nothing outside its home, nor in the toolstack's nodes within it.
    for path in ("/local/domain/0", "/tool", "/local/domain/%d" % good):
        names = xs.directory(path)
        assert not any(n.startswith("garbage") for n in names), (path, names)
    assert ts.read(home(bad) + "/memory/target") == "262144"
    # Its own quota is all it can fill (C xenstored's default 1000 nodes).
    def owned(path):
        n = 1
        for c in xs.directory(path):
            n += owned(path + "/" + c)
        return n
    assert owned(home(bad) + "/data") <= 1000
    # The other guest and the toolstack are unaffected.
    xs.write(home(good) + "/control/shutdown", "poweroff")
    assert wait_until(lambda: ts.hv.info(good)["shutdown"])
    assert host.alive()
    ts.destroy(bad)
    assert host.alive()


def test_empty_cdrom_drive(ts, kernel):
    """A CD-ROM drive without a medium (empty params: an empty tray)
    connects with no sectors and no loop device; an empty disk fails."""
    domid = ts.create(kernel)
    for devid, devtype in ((51744, "cdrom"), (51760, "disk")):
        ts.add_device(domid, "vbd", devid,
                      {"params": "", "mode": "r", "device-type": devtype},
                      {"virtual-device": str(devid), "device-type": devtype})
    assert wait_until(lambda: be_state(ts, domid, "vbd", 51744) == "2" and
                      be_state(ts, domid, "vbd", 51760) == "5")
    ts.hv.call("unpause", domid=domid)
    assert wait_until(lambda: connected(ts, domid, "vbd", 51744))
    be = "/local/domain/0/backend/vbd/%d/51744" % domid
    assert ts.read(be + "/sectors") == "0"
    assert ts.read(be + "/info") == "5"   # VDISK_CDROM | VDISK_READONLY
    assert ts.read(be + "/node") is None
    assert ts.read("/local/domain/0/backend/vbd/%d/51760/hotplug-error"
                   % domid) == "no params"
    ts.destroy(domid)


def test_missing_backing_file(ts, kernel, tmp_path):
    missing = str(tmp_path / "gone.img")
    domid = ts.create(kernel, disks=[missing])
    be = "/local/domain/0/backend/vbd/%d/51712" % domid
    assert wait_until(lambda: be_state(ts, domid, "vbd", 51712) == "5")
    err = ts.read("/local/domain/0/error/backend/vbd/%d/51712/error" % domid)
    assert err.startswith("2 ") and missing in err
    assert ts.read(be + "/hotplug-status") == "error"
    assert missing in ts.read(be + "/hotplug-error")
    # The frontend sees Closing and closes; so does the backend.
    ts.hv.call("unpause", domid=domid)
    assert wait_until(lambda: fe_state(ts, domid, "vbd", 51712) == "6" and
                      be_state(ts, domid, "vbd", 51712) == "6")


def test_detach_device(ts, kernel, tmp_path):
    disk = tmp_path / "d.img"
    disk.write_bytes(b"\0" * 4096)
    domid = start(ts, kernel, disks=[disk])
    assert wait_until(lambda: connected(ts, domid, "vbd", 51712))
    # libxl's removal: online 0, state Closing, wait for Closed.
    be = "/local/domain/0/backend/vbd/%d/51712" % domid
    ts.xs.write(be + "/online", "0")
    ts.xs.write(be + "/state", "5")
    assert wait_until(lambda: be_state(ts, domid, "vbd", 51712) == "6")
    assert fe_state(ts, domid, "vbd", 51712) == "6"
    ts.xs.rm(be)
    ts.xs.rm(home(domid) + "/device/vbd/51712")
    # Hotplug a new one: the guest picks it up.
    ts.add_device(domid, "vbd", 51728, {"params": str(disk), "type": "file",
                                        "mode": "r", "device-type": "disk"},
                  {"virtual-device": "51728", "device-type": "disk"})
    assert wait_until(lambda: connected(ts, domid, "vbd", 51728))
    assert ts.read("/local/domain/0/backend/vbd/%d/51728/info" % domid) == "4"


def test_forced_removal_of_a_paused_guests_devices(ts, kernel, tmp_path):
    """Linux's backends, which a toolstack's destroy must reckon with (seen
    on real Xen): the toolstack's Closing alone reaches nobody while the
    guest is paused; its frontend removed in the same transaction makes
    the driver unbind, and xenbus then writes Closed (libxl's forced
    removal)."""
    disk = tmp_path / "d.img"
    disk.write_bytes(b"\0" * 4096)
    domid = start(ts, kernel, disks=[disk], nics=1)
    assert wait_until(lambda: connected(ts, domid, "vbd", 51712) and
                      connected(ts, domid, "vif", 0))
    ts.hv.call("pause", domid=domid)
    be = "/local/domain/0/backend/vbd/%d/51712" % domid
    ts.xs.write(be + "/online", "0")
    ts.xs.write(be + "/state", "5")
    time.sleep(0.5)
    assert be_state(ts, domid, "vbd", 51712) == "5"
    assert fe_state(ts, domid, "vbd", 51712) == "4"
    for kind, devid in (("vbd", 51712), ("vif", 0)):
        be = "/local/domain/0/backend/%s/%d/%d" % (kind, domid, devid)
        tx = ts.xs.txn_start()
        ts.xs.rm("%s/device/%s/%d" % (home(domid), kind, devid), tx)
        ts.xs.write(be + "/online", "0", tx)
        ts.xs.write(be + "/state", "5", tx)
        ts.xs.txn_end(tx)
        assert wait_until(lambda: be_state(ts, domid, kind, devid) == "6")
    ts.destroy(domid)


def test_frontend_removed_before_closing_strands_blkback(ts, kernel, tmp_path):
    """The wrong order: a frontend that goes while its backend is still
    Connected makes the driver unbind there.  blkback stays Connected, and
    a Closing written afterwards reaches no driver: it never becomes
    Closed."""
    disk = tmp_path / "d.img"
    disk.write_bytes(b"\0" * 4096)
    domid = start(ts, kernel, disks=[disk])
    assert wait_until(lambda: connected(ts, domid, "vbd", 51712))
    ts.hv.call("pause", domid=domid)
    ts.xs.rm(home(domid) + "/device")
    time.sleep(0.5)
    assert be_state(ts, domid, "vbd", 51712) == "4"
    be = "/local/domain/0/backend/vbd/%d/51712" % domid
    ts.xs.write(be + "/online", "0")
    ts.xs.write(be + "/state", "5")
    time.sleep(0.5)
    assert be_state(ts, domid, "vbd", 51712) == "5"
    ts.destroy(domid)


def test_hang(ts, kernel_script):
    domid = start(ts, kernel_script("hang"))
    assert wait_until(lambda: ts.read(home(domid) + "/control/feature-poweroff") == "1")
    info = ts.hv.info(domid)
    assert info["blocked"] and not info["running"]
    ts.xs.write(home(domid) + "/control/shutdown", "poweroff")
    time.sleep(0.5)
    assert not ts.hv.info(domid)["shutdown"]
    ts.destroy(domid)


def test_boot_delay(ts, kernel_script):
    domid = start(ts, kernel_script("boot-delay 1"), nics=1)
    time.sleep(0.5)
    assert fe_state(ts, domid, "vif", 0) == "1"
    assert wait_until(lambda: connected(ts, domid, "vif", 0), timeout=10)


def test_hvm_boots_without_kernel(ts):
    domid = ts.create(None, type="hvm", nics=1)
    ts.hv.call("unpause", domid=domid)
    assert wait_until(lambda: connected(ts, domid, "vif", 0))


# -- faults (the same ones xensimctl injects) --

def test_fault_crash(ts, kernel):
    domid = start(ts, kernel)
    ts.hv.call("fault", domid=domid, kind="crash")
    info = ts.hv.info(domid)
    assert info["shutdown"] and info["shutdown_reason"] == "crash"
    with pytest.raises(HvError):
        ts.hv.call("fault", domid=domid, kind="crash")


def test_fault_ignore_shutdown(ts, kernel):
    domid = start(ts, kernel)
    assert wait_until(lambda: ts.read(home(domid) + "/control/feature-poweroff") == "1")
    ts.hv.call("fault", domid=domid, kind="ignore-shutdown")
    ts.xs.write(home(domid) + "/control/shutdown", "poweroff")
    time.sleep(0.8)
    assert not ts.hv.info(domid)["shutdown"]


def test_fault_kill_backend(ts, kernel, tmp_path):
    disk = tmp_path / "d.img"
    disk.write_bytes(b"\0" * 4096)
    domid = start(ts, kernel, disks=[disk], nics=1)
    assert wait_until(lambda: connected(ts, domid, "vbd", 51712))
    ts.hv.call("fault", domid=domid, kind="kill-backend", device="vbd/51712")
    assert wait_until(lambda: be_state(ts, domid, "vbd", 51712) == "6")
    # The frontend notices its backend is gone.
    assert wait_until(lambda: fe_state(ts, domid, "vbd", 51712) == "6")
    assert connected(ts, domid, "vif", 0)
    for bad in ("vbd", "vbd/x", "tpm/0", "vbd/1/2"):
        with pytest.raises(HvError) as e:
            ts.hv.call("fault", domid=domid, kind="kill-backend", device=bad)
        assert e.value.name == "EINVAL"


def test_fault_delay_backend(ts, kernel):
    domid = ts.create(kernel, nics=1)
    ts.hv.call("fault", domid=domid, kind="delay-backend", device="vif/1",
               seconds=2)
    ts.add_device(domid, "vif", 1, {"mac": "00:16:3e:11:22:33"},
                  {"mac": "00:16:3e:11:22:33", "handle": "1"})
    ts.hv.call("unpause", domid=domid)
    assert wait_until(lambda: connected(ts, domid, "vif", 0))
    t0 = time.monotonic()
    assert be_state(ts, domid, "vif", 1) == "1"
    assert wait_until(lambda: connected(ts, domid, "vif", 1), timeout=10)
    assert time.monotonic() - t0 > 0.5


def test_fault_fail_next_hotplug(ts, kernel, tmp_path):
    disk = tmp_path / "d.img"
    disk.write_bytes(b"\0" * 4096)
    domid = start(ts, kernel, disks=[disk])
    assert wait_until(lambda: connected(ts, domid, "vbd", 51712) and
                      (ts.read(home(domid) + "/console/tty") or "")
                      .startswith("/dev/pts/"))
    ts.hv.call("fault", domid=domid, kind="fail-next-hotplug")
    ts.add_device(domid, "vbd", 51728, {"params": str(disk), "type": "file",
                                        "mode": "w"}, {"virtual-device": "51728"})
    assert wait_until(lambda: be_state(ts, domid, "vbd", 51728) in ("5", "6"))
    assert ts.read("/local/domain/0/backend/vbd/%d/51728/hotplug-status"
                   % domid) == "error"
    # Only the next one.
    ts.add_device(domid, "vbd", 51744, {"params": str(disk), "type": "file",
                                        "mode": "w"}, {"virtual-device": "51744"})
    assert wait_until(lambda: connected(ts, domid, "vbd", 51744))


def test_fault_garbage(ts, kernel):
    domid = start(ts, kernel)
    assert wait_until(lambda: ts.read(home(domid) + "/control/feature-poweroff") == "1")
    ts.hv.call("fault", domid=domid, kind="garbage")
    assert wait_until(lambda: len(ts.xs.directory(home(domid) + "/data")) > 0)
    with pytest.raises(HvError):
        ts.hv.call("fault", domid=domid, kind="explode")


def test_backend_forgets_a_removed_subtree(ts, kernel):
    """rm of backend/vif/<domid> (as libxl's cleanup does) is an event above
    device level: the backend must still forget the device, so that the same
    path written again is a new device."""
    domid = ts.create(kernel, nics=1)
    assert wait_until(lambda: be_state(ts, domid, "vif", 0) == "2")
    ts.xs.rm("/local/domain/0/backend/vif/%d" % domid)
    ts.xs.rm(home(domid) + "/device/vif")
    time.sleep(0.3)
    ts.add_device(domid, "vif", 0, {"mac": "00:16:3e:00:00:09"},
                  {"mac": "00:16:3e:00:00:09", "handle": "0"})
    assert wait_until(lambda: be_state(ts, domid, "vif", 0) == "2")
    ts.hv.call("unpause", domid=domid)
    assert wait_until(lambda: connected(ts, domid, "vif", 0))


# ---- save and restore (docs/xensim-hypervisor-protocol.md) ----

def test_suspend_save_state_restore_state(ts, kernel_script):
    """A ticker guest suspends, its state is read, and a new domain given
    that state resumes: same boot id, its counter going on, its log."""
    script = kernel_script("ticker")
    domid = start(ts, script)
    assert wait_until(lambda: int(ts.read(home(domid) + "/data/ticks", "0")) >= 2)
    boot_id = ts.read(home(domid) + "/data/boot-id")
    with pytest.raises(HvError) as e:
        ts.hv.call("save_state", domid=domid)
    assert e.value.name == "EINVAL" and "has not suspended" in e.value.message

    ts.xs.write(home(domid) + "/control/shutdown", "suspend")
    assert wait_until(lambda: ts.hv.info(domid)["shutdown"])
    assert ts.hv.info(domid)["shutdown_reason"] == "suspend"
    state = ts.hv.call("save_state", domid=domid)["state"]
    assert sorted(state) == ["boot_id", "log", "memkb", "ticks", "version"]
    assert state["version"] == 1 and state["boot_id"] == boot_id
    assert state["ticks"] >= 2
    assert "reboot: Suspending" in state["log"] and "[tick 2]" in state["log"]
    assert state["memkb"] == ts.hv.info(domid)["cur_memkb"]
    ts.destroy(domid)

    new = ts.create(script)
    ts.hv.call("restore_state", domid=new, state=state)
    con = console_of(ts, new)
    ts.hv.call("unpause", domid=new)
    assert con.wait_for(("PM: resumed from a saved image: boot %s, tick %d"
                         % (boot_id, state["ticks"])).encode())
    assert con.wait_for(("[tick %d]" % (state["ticks"] + 1)).encode())
    assert b"Linux version" not in con.data
    assert ts.read(home(new) + "/data/boot-id") == boot_id
    # Once run, a domain takes no state.
    with pytest.raises(HvError) as e:
        ts.hv.call("restore_state", domid=new, state=state)
    assert e.value.name == "EINVAL" and "already run" in e.value.message
    con.close()
    ts.destroy(new)


@pytest.mark.parametrize("change, what", [
    (lambda s: s.pop("log"), "exactly the members"),
    (lambda s: s.update(extra=1), "exactly the members"),
    (lambda s: s.update(version=2), "version 2"),
    (lambda s: s.update(ticks=-1), "'ticks'"),
    (lambda s: s.update(ticks="3"), "'ticks'"),
    (lambda s: s.update(boot_id="../../etc"), "'boot_id'"),
    (lambda s: s.update(boot_id="ABCDEF0123456789"), "'boot_id'"),
    (lambda s: s.update(log="x" * 4097), "'log'"),
    (lambda s: s.update(memkb=[1]), "'memkb'"),
])
def test_restore_state_checks_every_member(ts, kernel, change, what):
    state = {"version": 1, "ticks": 5, "boot_id": "0123456789abcdef",
             "log": "hello\r\n", "memkb": 65536}
    change(state)
    domid = ts.create(kernel)
    with pytest.raises(HvError) as e:
        ts.hv.call("restore_state", domid=domid, state=state)
    assert e.value.name == "EINVAL" and what in e.value.message, e.value
    with pytest.raises(HvError) as e:
        ts.hv.call("restore_state", domid=domid, state="not an object")
    assert e.value.name == "EINVAL"
    ts.destroy(domid)
