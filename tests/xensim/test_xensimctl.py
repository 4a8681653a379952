"""xensimctl: every command, against a real xensimd."""
import os
import subprocess
import time

from conftest import BUILD
from hvclient import wait_until

XENSIMCTL = os.path.join(BUILD, "tools", "xensimctl")


def ctl(host, *args, ok=True):
    r = subprocess.run([XENSIMCTL, "--rundir", host.rundir, *map(str, args)],
                       capture_output=True, text=True, timeout=30)
    if ok is True:
        assert r.returncode == 0, r.stderr
    elif ok is not None:
        assert r.returncode == ok, (r.returncode, r.stdout, r.stderr)
    return r


def home(domid):
    return "/local/domain/%d" % domid


def test_usage(host):
    r = ctl(host, ok=2)
    assert "usage" in r.stderr
    assert ctl(host, "frobnicate", ok=2).returncode == 2
    assert ctl(host, "crash", "x", ok=2).returncode == 2
    r = subprocess.run([XENSIMCTL, "--rundir", "/nonexistent", "list"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "cannot connect" in r.stderr


def test_list(host, ts, kernel):
    a = ts.create(kernel, name="alpha")
    b = ts.create(kernel, name="beta")
    ts.hv.call("unpause", domid=b)
    ts.hv.call("shutdown", domid=a, reason="crash")
    out = ctl(host, "list").stdout.splitlines()
    assert out[0].split()[:6] == ["Name", "ID", "Mem", "VCPUs", "State", "Time(s)"]
    rows = {line.split()[0]: line.split() for line in out[1:]}
    assert rows["Domain-0"][1] == "0" and rows["Domain-0"][4] == "r-----"
    assert rows["alpha"][1] == str(a) and rows["alpha"][4] == "--psc-"
    assert rows["alpha"][6] == "crash"
    assert rows["beta"][4] == "r-----" and rows["beta"][2] == "256"


def test_tree(host, ts, kernel):
    domid = ts.create(kernel, name="treetop")
    out = ctl(host, "tree").stdout
    assert "local = \"\"" in out and "name = \"treetop\"" in out
    out = ctl(host, "tree", home(domid)).stdout.splitlines()
    assert "name = \"treetop\"" in out
    assert " static-max = \"262144\"" in out
    # Bytes a guest wrote come out escaped, never raw.
    ts.xs.write(home(domid) + "/data/evil", b"\x1b[2J\x07\n")
    out = ctl(host, "tree", home(domid) + "/data").stdout
    assert "\\x1b[2J\\x07\\x0a" in out and "\x1b" not in out
    r = ctl(host, "tree", "/no/such", ok=1)
    assert "No such file" in r.stderr
    ctl(host, "tree", "relative", ok=2)


def test_devices(host, ts, kernel, tmp_path):
    disk = tmp_path / "d.img"
    disk.write_bytes(b"\0" * 4096)
    domid = ts.create(kernel, disks=[disk, tmp_path / "missing.img"], nics=1)
    ts.hv.call("unpause", domid=domid)
    assert wait_until(lambda: ts.read(
        "/local/domain/0/backend/vif/%d/0/state" % domid) == "4")
    out = ctl(host, "devices", domid).stdout
    lines = out.splitlines()
    vbd = [l for l in lines if l.startswith("vbd") and "51712" in l][0]
    assert "Connected" in vbd and str(disk) in vbd
    assert [l for l in lines if l.startswith("vif")][0].split()[2:4] == \
        ["Connected", "Connected"]
    assert "tty=/dev/pts/" in out and "(primary)" in out
    assert "missing.img: No such file" in out
    assert "(no devices)" in ctl(host, "devices", 999).stdout


def test_crash(host, ts, kernel):
    domid = ts.create(kernel)
    ts.hv.call("unpause", domid=domid)
    ctl(host, "crash", domid)
    info = ts.hv.info(domid)
    assert info["shutdown"] and info["shutdown_reason"] == "crash"
    r = ctl(host, "crash", domid, ok=1)
    assert "EINVAL" in r.stderr
    r = ctl(host, "crash", 4242, ok=1)
    assert "ESRCH" in r.stderr


def test_ignore_shutdown(host, ts, kernel):
    domid = ts.create(kernel)
    ts.hv.call("unpause", domid=domid)
    assert wait_until(lambda: ts.read(home(domid) + "/control/feature-poweroff") == "1")
    ctl(host, "ignore-shutdown", domid)
    ts.xs.write(home(domid) + "/control/shutdown", "poweroff")
    time.sleep(0.8)
    assert not ts.hv.info(domid)["shutdown"]


def test_garbage(host, ts, kernel):
    domid = ts.create(kernel)
    ts.hv.call("unpause", domid=domid)
    ctl(host, "garbage", domid)
    assert wait_until(lambda: len(ts.xs.directory(home(domid) + "/data")) > 0)
    assert host.alive()


def test_kill_backend(host, ts, kernel):
    domid = ts.create(kernel, nics=2)
    ts.hv.call("unpause", domid=domid)
    be = "/local/domain/0/backend/vif/%d/%d/state"
    assert wait_until(lambda: ts.read(be % (domid, 1)) == "4")
    ctl(host, "kill-backend", domid, "vif/1")
    assert wait_until(lambda: ts.read(be % (domid, 1)) == "6")
    assert ts.read(be % (domid, 0)) == "4"
    r = ctl(host, "kill-backend", domid, "floppy/0", ok=1)
    assert "EINVAL" in r.stderr


def test_delay_backend(host, ts, kernel):
    domid = ts.create(kernel)
    ctl(host, "delay-backend", domid, "vif/0", 2)
    ts.add_device(domid, "vif", 0, {"mac": "00:16:3e:00:00:01"},
                  {"mac": "00:16:3e:00:00:01", "handle": "0"})
    ts.hv.call("unpause", domid=domid)
    state = "/local/domain/0/backend/vif/%d/0/state" % domid
    time.sleep(1.0)
    assert ts.read(state) == "1"
    assert wait_until(lambda: ts.read(state) == "4", timeout=10)
    ctl(host, "delay-backend", domid, "vif/0", "soon", ok=2)


def test_fail_next_hotplug(host, ts, kernel, tmp_path):
    disk = tmp_path / "d.img"
    disk.write_bytes(b"\0" * 4096)
    domid = ts.create(kernel)
    # "Next" is in time: let the console come up first (served once its
    # pty is in the frontend's tty, as with xenconsoled).
    assert wait_until(lambda: (ts.read(
        "/local/domain/%d/console/tty" % domid) or "").startswith("/dev/pts/"))
    ctl(host, "fail-next-hotplug", domid)
    ts.add_device(domid, "vbd", 51712, {"params": str(disk), "mode": "w"},
                  {"virtual-device": "51712"})
    be = "/local/domain/0/backend/vbd/%d/51712" % domid
    assert wait_until(lambda: ts.read(be + "/hotplug-status") == "error")
    assert "injected" in ts.read(be + "/hotplug-error")


def test_stop(host, ts, kernel):
    for _ in range(3):
        ts.hv.call("unpause", domid=ts.create(kernel))
    ctl(host, "stop")
    host.proc.wait(10)
    assert host.proc.returncode == 0
    assert "xensimd stopped" in host.log()


def test_destroy(host, ts, kernel):
    domid = ts.create(kernel)
    ts.hv.call("unpause", domid=domid)
    ctl(host, "destroy", domid)
    assert wait_until(lambda: all(d["domid"] != domid
                                  for d in ts.hv.call("list")["domains"]))
    r = ctl(host, "destroy", domid, ok=1)
    assert "ESRCH" in r.stderr
