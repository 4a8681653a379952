"""Debian's real virt-manager (4.1) against a private libvirtd with our
plugin, under Xvfb: what a user sees in its performance graphs.

virt-manager runs as a user would start it, with the options its own UI
test suite uses: `--debug` (its log on stdout), `--trace-libvirt=all`
(every libvirt call it makes, in that log), `--test-options` for a fresh
preference file in which every statistic is polled each second, and
`--show-domain-performance` to open a running guest's performance page.
Two guests run: one keeps a vcpu busy, one makes disk requests.

What is asserted is what can be asserted without reading pixels: the log
shows virt-manager polling the bulk stats call (not per-domain calls,
which it falls back to when the bulk call fails) and no libvirt call
refused as unsupported or failing; python-libvirt's view of the same
figures shows the cpu time the graphs plot growing; the screenshot of the
performance page, taken into the test's directory (and, with
XENVIRT_SCREENSHOT=PATH, copied there: docs/virt-manager-performance.png
is one), is a real picture of the window, not a blank screen.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import textwrap
import time

import pytest

import xvtest

VIRT_MANAGER = "/usr/bin/virt-manager"
XVFB = "/usr/bin/Xvfb"

# virt-manager's preferences (its gsettings schema, in a key file): every
# statistic polled, each second.
PREFERENCES = """\
[org/virt-manager/virt-manager/stats]
update-interval=1
enable-cpu-poll=true
enable-disk-poll=true
enable-net-poll=true
enable-memory-poll=true

[org/virt-manager/virt-manager/vmlist-fields]
cpu-usage=true
host-cpu-usage=true
memory-usage=true
disk-usage=true
network-traffic=true

[org/virt-manager/virt-manager/confirm]
forcepoweroff=false
"""

# Takes a picture of the whole screen, as GTK sees it.
SCREENSHOT = """\
import sys
import gi
gi.require_version("Gdk", "3.0")
from gi.repository import Gdk
root = Gdk.get_default_root_window()
shot = Gdk.pixbuf_get_from_window(root, 0, 0, root.get_width(),
                                  root.get_height())
shot.savev(sys.argv[1], "png", [], [])
print(shot.get_width(), shot.get_height())
"""

# Reads a PNG back and says how many distinct colours it has.
COLOURS = """\
import sys
import gi
gi.require_version("GdkPixbuf", "2.0")
from gi.repository import GdkPixbuf
p = GdkPixbuf.Pixbuf.new_from_file(sys.argv[1])
data = p.get_pixels()
step = p.get_n_channels()
print(len({bytes(data[i:i + 3]) for i in range(0, len(data), step * 7)}))
"""


def third_party_env(**extra):
    """The environment of the X server, virt-manager and the picture
    helpers: programs none of our code runs in (virt-manager reaches the
    plugin through libvirtd's socket), so without the sanitizer runtime
    the sanitizer stage (tools/run test-asan) preloads into the tests'
    processes."""
    env = dict(os.environ, **extra)
    for name in ("LD_PRELOAD", "ASAN_OPTIONS", "LSAN_OPTIONS",
                 "XENVIRT_OWN_ASAN_OPTIONS", "DBUS_SESSION_BUS_ADDRESS"):
        env.pop(name, None)
    return env


def free_display():
    for n in range(91, 140):
        if not os.path.exists(f"/tmp/.X11-unix/X{n}") and \
                not os.path.exists(f"/tmp/.X{n}-lock"):
            return n
    pytest.fail("no free X display number")


class Xvfb:
    def __init__(self, size="1024x836x24"):
        self.display = f":{free_display()}"
        self.proc = subprocess.Popen(
            [XVFB, self.display, "-screen", "0", size, "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=third_party_env())
        n = self.display[1:]
        assert xvtest.wait_for(
            lambda: os.path.exists(f"/tmp/.X11-unix/X{n}"), timeout=20), \
            "Xvfb did not start"

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def cpu_times(daemon):
    out = xvtest.python(textwrap.dedent("""\
        import json, sys, libvirt
        conn = libvirt.open(sys.argv[1])
        print(json.dumps({d.name(): s.get("cpu.time", 0) for d, s in
                          conn.getAllDomainStats(
                              libvirt.VIR_DOMAIN_STATS_CPU_TOTAL)}))
        """), daemon.uri)
    assert out.rc == 0, out
    return json.loads(out.out)


@pytest.fixture
def two_guests(daemon, tmp_path):
    names = {"vm-busy": "busy-vcpu 0", "vm-disk": "disk-io 200 200"}
    for name, script in names.items():
        f = tmp_path / f"{name}.xml"
        f.write_text(xvtest.pv_guest_xml(tmp_path, name, memory_mib=256,
                                         script_lines=[script], disk_mib=4))
        res = daemon.virsh("create", str(f))
        assert res.rc == 0, res
    yield list(names)
    for name in names:
        daemon.virsh("destroy", name)


def test_virt_manager_performance_page(daemon, two_guests, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    prefs = tmp_path / "virt-manager.keyfile"
    prefs.write_text(PREFERENCES)
    log_path = tmp_path / "virt-manager.log"
    shot = tmp_path / "virt-manager-performance.png"
    before = cpu_times(daemon)

    xvfb = Xvfb()
    env = third_party_env(DISPLAY=xvfb.display, HOME=str(home),
                          XDG_CONFIG_HOME=str(home / ".config"),
                          XDG_CACHE_HOME=str(home / ".cache"),
                          XDG_RUNTIME_DIR=str(tmp_path), NO_AT_BRIDGE="1",
                          GSETTINGS_BACKEND="memory", LANG="C.UTF-8")
    vm = None
    try:
        with open(log_path, "w") as log:
            vm = subprocess.Popen(
                [VIRT_MANAGER, "--debug", "--no-fork", "--trace-libvirt=all",
                 f"--test-options=first-run,gsettings-keyfile={prefs}",
                 "--connect", daemon.uri,
                 "--show-domain-performance", "vm-busy"],
                stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True)
            # Its graphs plot what changed between polls, one a second:
            # time for a dozen of them (a minute of history for a picture
            # to keep).
            connected = xvtest.wait_for(
                lambda: "getAllDomainStats" in log_path.read_text(
                    errors="replace") or vm.poll() is not None, timeout=60)
            assert connected and vm.poll() is None, \
                log_path.read_text(errors="replace")[-4000:]
            time.sleep(60 if os.environ.get("XENVIRT_SCREENSHOT") else 12)
            res = subprocess.run(["/usr/bin/python3", "-c", SCREENSHOT,
                                  str(shot)], env=env, capture_output=True,
                                 text=True, timeout=60)
            assert res.returncode == 0, res
    finally:
        if vm is not None and vm.poll() is None:
            os.killpg(vm.pid, signal.SIGTERM)
            try:
                vm.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(vm.pid, signal.SIGKILL)
                vm.wait()
        xvfb.stop()

    after = cpu_times(daemon)
    text = log_path.read_text(errors="replace")
    if os.environ.get("XENVIRT_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["XENVIRT_SCREENSHOT"])

    # Its polling thread: the bulk call once a second, with every group
    # the graphs use (state, cpu-total, balloon, vcpu, interface, block:
    # 63), and never the per-domain calls it falls back to when that
    # fails.
    polls = [line for line in text.splitlines()
             if "TRACE" in line and "thread=Tick thread" in line]
    bulk = [line for line in polls if "virConnect.getAllDomainStats" in line]
    assert len(bulk) >= 8, text[-4000:]
    assert all(", 63, 0)" in line for line in bulk), bulk[:3]
    for fallback in ("virDomain.info ", "virDomain.blockStats",
                     "virDomain.interfaceStats", "virDomain.memoryStats"):
        assert not [line for line in polls if fallback in line], fallback
    # No call was refused as unsupported: not of a domain or of the host,
    # nor of the network, storage and node device drivers, which the
    # private daemon loads beside our plugin (tools/libvirtd-private).
    # And no stats call failed.
    refused = set(re.findall(r"not supported by the connection driver: (\w+)",
                             text))
    assert not refused, refused
    for bad in ("does not support", "Error call getAllDomainStats",
                "Error in interfaceStats", "Error in blockStats",
                "Error reading mem stats"):
        assert bad not in text, [line for line in text.splitlines()
                                 if bad in line][:5]
    # The figures the cpu graph plots moved while it watched.
    for name in two_guests:
        assert after[name] > before[name], (before, after)
    assert after["vm-busy"] - before["vm-busy"] >= 10 * 10 ** 9
    # A picture of the window: the screen's size and many colours.
    assert shot.stat().st_size > 10000
    res = subprocess.run(["/usr/bin/python3", "-c", COLOURS, str(shot)],
                         capture_output=True, text=True, timeout=60,
                         env=third_party_env())
    assert res.returncode == 0 and int(res.stdout) > 20, res
