"""Xen channels (<channel type='pty'|'unix'><target type='xen' name=.../>)
through a private libvirtd, virsh and python-libvirt, against simulated
guests whose channel driver maps dom0's grant, binds dom0's port and
echoes, floods, corrupts or writes garbage as their script says
(docs/channels.md, docs/xensim-host.md).

What is checked: the live XML shows the pty's path and the socket's; a
megabyte sent each way through virDomainOpenChannel comes back equal; the
xenstore nodes have the owners and permissions docs/channels.md gives;
a guest killed mid-transfer gives the reader end of file, its channel's
nodes, dom0's grant and the served fds go, and the domain leaves the host
completely; the same with the debug switch (the toolstack maps the
guest's pages instead) leaves a zombie, so the check above can fail; a
guest that floods, corrupts its ring's indexes and writes garbage into its
nodes leaves libvirtd answering and the other channels working."""

import json
import os
import re
from collections import Counter
import shutil
import signal
import subprocess
import tempfile
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import xvtest

PYTHON = "/usr/bin/python3"


def channel_xml(tmp, name, script_lines, channels):
    """A PV guest NAME (xvtest.pv_guest_xml) with CHANNELS: (type, target
    name, socket path or None)."""
    xml = xvtest.pv_guest_xml(tmp, name, script_lines=script_lines)
    devs = ""
    for kind, target, path in channels:
        source = f"<source mode='bind' path='{path}'/>" if path else ""
        devs += (f"<channel type='{kind}'>{source}"
                 f"<target type='xen' name='{target}'/></channel>\n")
    return xml.replace("</devices>", devs + "</devices>")


def define_start(host, tmp, name, script_lines, channels):
    f = Path(tmp) / f"{name}.xml"
    f.write_text(channel_xml(tmp, name, script_lines, channels))
    res = host.virsh("define", str(f))
    assert res.rc == 0, res
    res = host.virsh("start", name)
    assert res.rc == 0, res
    return int(host.virsh("domid", name).out)


def live_channels(host, name):
    """{target name: (type, source path, alias)} of the live XML."""
    root = ET.fromstring(host.virsh("dumpxml", name).out)
    res = {}
    for c in root.findall("./devices/channel"):
        src = c.find("source")
        alias = c.find("alias")
        res[c.find("target").get("name")] = (
            c.get("type"), src.get("path") if src is not None else None,
            alias.get("name") if alias is not None else None)
    return res


class Xenstore:
    def __init__(self, rundir):
        self.env = dict(os.environ,
                        XENSTORED_PATH=str(rundir / "xenstored" / "socket"))

    def read(self, path):
        r = subprocess.run(["xenstore-read", path], capture_output=True,
                           text=True, env=self.env, timeout=30)
        return r.stdout.strip() if r.returncode == 0 else None

    def perms(self, path):
        r = subprocess.run(["xenstore-ls", "-p", path], capture_output=True,
                           text=True, env=self.env, timeout=30)
        return r.stdout if r.returncode == 0 else None

    def ls_perm(self, path):
        """The permissions of PATH itself, as xenstore-ls shows them."""
        parent, leaf = path.rsplit("/", 1)
        r = subprocess.run(["xenstore-ls", "-p", parent], capture_output=True,
                           text=True, env=self.env, timeout=30)
        for line in r.stdout.splitlines():
            if line.startswith(leaf + " "):
                m = re.search(r"\(([^)]*)\)\s*$", line)
                return m.group(1) if m else None
        return None

    def exists(self, path):
        r = subprocess.run(["xenstore-exists", path], capture_output=True,
                           env=self.env, timeout=30)
        return r.returncode == 0


def dom0_grant_files(rundir):
    """This xensimd's shm files of grants dom0 made (/xensim-PID-0-GREF)."""
    pid = int((rundir / "xensimd.pid").read_text().strip())
    return sorted(f for f in os.listdir("/dev/shm")
                  if f.startswith(f"xensim-{pid}-0-"))


def fd_targets(pid):
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return out


# What every client below starts with: the stream of channel CHAN of
# domain NAME (argv 1 to 3), open.
OPEN = textwrap.dedent("""\
    import json, os, sys, libvirt
    uri, name, chan = sys.argv[1:4]
    c = libvirt.open(uri)
    d = c.lookupByName(name)
    st = c.newStream(0)
    d.openChannel(chan, st, 0)
    """)


# A client of one channel: sends SIZE random bytes in chunks, reading the
# echo after each, and compares; with HALF, prints "half" once half is
# through and goes on reading until end of file or an error.
ECHO = OPEN + textwrap.dedent("""\
    size, half = int(sys.argv[4]), sys.argv[5] == "1"
    data = os.urandom(size)

    def expected(pos, n):
        out = b""
        while n:
            off = pos % size
            k = min(n, size - off)
            out += data[off:off + k]
            pos += k
            n -= k
        return out

    sent = got = 0
    told = False
    try:
        while half or sent < size:
            off = sent % size
            sent += st.send(data[off:min(off + 4096, size)])
            while got < sent:
                b = st.recv(65536)
                if not b:
                    print("eof", got, flush=True)
                    # A client that saw end of file finishes its stream:
                    # libvirtd 9.0 leaks a stream filter of a client that
                    # leaves without (virNetServerClientAddFilter).
                    st.finish()
                    raise SystemExit(0)
                assert b == expected(got, len(b)), "the echo differs"
                got += len(b)
            if half and not told and sent >= size // 2:
                print("half", flush=True)
                told = True
    except libvirt.libvirtError as e:
        print("error", got, e.get_error_message(), flush=True)
        try:
            st.abort()
        except libvirt.libvirtError:
            pass
        raise SystemExit(0)
    print("ok", got, flush=True)
    st.finish()
    """)


def run_echo(host, name, chan, size):
    return subprocess.run([PYTHON, "-c", ECHO, host.uri, name, chan,
                           str(size), "0"], capture_output=True, text=True,
                          env=xvtest.driver_env(leaks=False), timeout=300)


def test_megabyte_each_way_pty_and_unix(daemon, tmp_path):
    sock = tmp_path / "echo.sock"
    domid = define_start(daemon, tmp_path, "ch1",
                         ["channel-echo org.test.pty",
                          "channel-echo org.test.unix"],
                         [("pty", "org.test.pty", None),
                          ("unix", "org.test.unix", str(sock))])
    rundir = daemon.sim_rundir
    xs = Xenstore(rundir)
    try:
        live = live_channels(daemon, "ch1")
        kind, path, alias = live["org.test.pty"]
        assert kind == "pty" and re.fullmatch(r"/dev/pts/\d+", path), live
        assert alias == "channel0"
        assert live["org.test.unix"][:2] == ("unix", str(sock))
        assert sock.is_socket()

        # The nodes: dom0 owns both directories, the guest reads them and
        # may write its frontend's state alone.
        be = f"/local/domain/0/backend/channel/{domid}/0"
        fe = f"/local/domain/{domid}/device/channel/0"
        assert xvtest.wait_for(lambda: xs.read(be + "/state") == "4")
        assert xs.read(fe + "/state") == "4"
        assert xs.read(be + "/name") == "org.test.pty"
        assert xs.ls_perm(be) == f"n0,r{domid}"
        assert xs.ls_perm(fe) == f"n0,r{domid}"
        assert xs.ls_perm(fe + "/state") == f"n{domid},r0"
        assert xs.ls_perm(fe + "/name") is not None
        assert xs.read(be + "/ring-ref") is not None
        assert xs.read(be + "/event-channel") is not None
        assert len(dom0_grant_files(rundir)) == 2

        for chan in ("org.test.pty", "channel1"):
            r = run_echo(daemon, "ch1", chan, 1 << 20)
            assert r.returncode == 0, r
            assert r.stdout.split() == ["ok", str(1 << 20)], r
    finally:
        assert daemon.virsh("destroy", "ch1").rc == 0
    # Destroyed: nothing of the channels is left.
    assert not xs.exists(f"/local/domain/0/backend/channel/{domid}")
    assert dom0_grant_files(rundir) == []
    assert not sock.exists()
    assert "ch1" not in xvtest.sim_domains(rundir)
    assert daemon.virsh("undefine", "ch1").rc == 0


def crash_mid_transfer(host, tmp_path, name):
    """Starts NAME with an echo channel on a socket, sends through it, has
    the guest crash half way: (domid, what the reader saw)."""
    sock = tmp_path / f"{name}.sock"
    domid = define_start(host, tmp_path, name, ["channel-echo org.test.e"],
                         [("unix", "org.test.e", str(sock))])
    p = subprocess.Popen([PYTHON, "-c", ECHO, host.uri, name, "org.test.e",
                          str(1 << 20), "1"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         env=xvtest.driver_env(leaks=False))
    try:
        line = p.stdout.readline().strip()
        assert line == "half", (line, p.stderr.read() if p.poll() else "")
        r = xvtest.simctl(host.sim_rundir, "crash", domid)
        assert r.returncode == 0, r.stderr
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return domid, sock, out.split(), err


def test_guest_killed_mid_transfer_leaves_nothing(daemon, tmp_path):
    rundir = daemon.sim_rundir
    xs = Xenstore(rundir)
    domid, sock, seen, err = crash_mid_transfer(daemon, tmp_path, "ch2")
    # The reader gets end of file (the socket's client is closed).
    assert seen[:1] == ["eof"], (seen, err)
    assert int(seen[1]) >= (1 << 19)
    # The watch fired (the core saw the guest go, before any destroy):
    # the nodes, dom0's grant, the socket are gone...
    assert (f"channel 'org.test.e' of domain {domid} closed: the domain "
            "shut down") in daemon.log()
    assert xvtest.wait_for(lambda: not xs.exists(
        f"/local/domain/0/backend/channel/{domid}"))
    assert xvtest.wait_for(lambda: dom0_grant_files(rundir) == [])
    assert xvtest.wait_for(lambda: not sock.exists())
    assert not any(t == str(sock) or "/dev/pts/" in t
                   for t in fd_targets(daemon.pid))
    # ... and the domain left the host completely (never a zombie).
    assert xvtest.wait_for(lambda: "ch2" not in xvtest.sim_domains(rundir))
    assert xvtest.wait_for(
        lambda: daemon.virsh("domstate", "ch2").out.strip() == "shut off")
    assert daemon.virsh("undefine", "ch2").rc == 0


def host_states(rundir):
    """{domid: xl's state letters} of the simulated host (a dying domain
    whose home the toolstack removed has no name any more)."""
    res = xvtest.simctl(rundir, "list")
    assert res.returncode == 0, res.stderr
    states = {}
    for line in res.stdout.splitlines()[1:]:
        m = re.match(r".*?\s(\d+)\s+\d+\s+\d+\s+([-rbpscd]{6})\s", line)
        if m:
            states[int(m.group(1))] = m.group(2)
    return states


def test_debug_mapping_guest_pages_makes_a_zombie(build_dir, tmp_path):
    """The same with the toolstack mapping the guest's pages (the debug
    switch): the dead guest stays dying while the mapping is held, so the
    check of the test above can fail; it goes once the mapping does."""
    workdir = Path(tempfile.mkdtemp(prefix="xvd-"))
    d = xvtest.PrivateDaemon(workdir)
    subprocess.run([str(d.script), "start", str(d.dir), str(build_dir)],
                   check=True, capture_output=True, text=True, timeout=60,
                   env=xvtest.driver_env(
                       {"XLITE_DEBUG_CHANNEL_MAP_GUEST": "1",
                        "XLITE_DEVICE_TIMEOUT_MS": "6000"}, leaks=False))
    rundir = d.sim_rundir
    try:
        domid, sock, seen, err = crash_mid_transfer(d, tmp_path, "ch3")
        assert seen[:1] == ["eof"], (seen, err)
        # The ring was the guest's (its frontend named it), not dom0's.
        assert dom0_grant_files(rundir) == []
        # The zombie: destroyed, dying, still on the host, for as long as
        # the toolstack maps its pages (the driver's destroy waits 6 s).
        assert xvtest.wait_for(
            lambda: host_states(rundir).get(domid, "")[5:] == "d")
        time.sleep(3)
        assert host_states(rundir).get(domid, "")[5:] == "d", \
            host_states(rundir)
        # The driver's destroy says why it cannot finish.
        assert xvtest.wait_for(lambda: "pages still mapped" in d.log())
        # The driver gone, its mapping with it: the domain goes.
        subprocess.run([str(d.script), "stop", str(d.dir)], check=True,
                       timeout=60)
        assert xvtest.wait_for(lambda: domid not in host_states(rundir))
    finally:
        if (workdir / "libvirtd.pid").exists():
            subprocess.run([str(d.script), "stop", str(d.dir)], timeout=60)
        xvtest.stop_simulated_hosts(workdir)
        shutil.rmtree(workdir, ignore_errors=True)


READ_SOME = OPEN + textwrap.dedent("""\
    got = b""
    while len(got) < 100000:
        b = st.recv(65536)
        if not b:
            break
        got += b
    print(len(got), set(got) == {ord("F")}, flush=True)
    st.abort()
    """)


def test_adversary_guest_toolstack_stays_responsive(daemon, tmp_path):
    rundir = daemon.sim_rundir
    xs = Xenstore(rundir)
    domid = define_start(daemon, tmp_path, "ch4",
                         ["channel-flood org.test.flood",
                          "channel-corrupt org.test.corrupt",
                          "channel-garbage org.test.garbage",
                          "channel-echo org.test.echo"],
                         [("pty", "org.test.flood", None),
                          ("pty", "org.test.corrupt", None),
                          ("pty", "org.test.garbage", None),
                          ("pty", "org.test.echo", None)])
    pid = daemon.pid
    try:
        # The channel whose indexes are impossible is closed by the
        # toolstack: its nodes go (and its number may serve another).
        def names():
            return {xs.read(f"/local/domain/0/backend/channel/{domid}/{n}"
                            "/name") for n in range(4)}
        assert xvtest.wait_for(lambda: "org.test.corrupt" not in names())
        assert "closed: the guest broke the ring" in daemon.log()
        # Meanwhile libvirtd answers, again and again.
        for _ in range(20):
            assert daemon.virsh("list").rc == 0
            assert daemon.virsh("dominfo", "ch4").rc == 0
        # The broken channel's pty went (its number may serve another);
        # the three others each hold their master open.
        fds_before = fd_targets(pid)
        assert Counter(fds_before)["/dev/ptmx"] == 3, fds_before
        # The flood reaches its reader, as flood.
        r = subprocess.run([PYTHON, "-c", READ_SOME, daemon.uri, "ch4",
                            "org.test.flood"], capture_output=True, text=True,
                           env=xvtest.driver_env(leaks=False), timeout=120)
        assert r.returncode == 0, r
        n, only_f = r.stdout.split()
        assert int(n) >= 100000 and only_f == "True", r.stdout
        # The garbage in its nodes changed nothing: the backend's nodes are
        # dom0's and stay as written, and the honest channel still echoes.
        assert "org.test.garbage" in names()
        r = run_echo(daemon, "ch4", "org.test.echo", 1 << 18)
        assert r.returncode == 0 and r.stdout.split()[0] == "ok", r
        # No fd leaked meanwhile, by the streams or the adversary.
        assert xvtest.wait_for(
            lambda: len(fd_targets(pid)) <= len(fds_before)), \
            Counter(fd_targets(pid)) - Counter(fds_before)
    finally:
        assert daemon.virsh("destroy", "ch4").rc == 0
    assert not xs.exists(f"/local/domain/0/backend/channel/{domid}")
    assert xvtest.wait_for(lambda: dom0_grant_files(rundir) == [])
    assert "ch4" not in xvtest.sim_domains(rundir)
    assert daemon.virsh("undefine", "ch4").rc == 0


def test_open_channel_errors(daemon, tmp_path):
    define_start(daemon, tmp_path, "ch5", [], [("pty", "org.test.x", None)])
    try:
        code = textwrap.dedent("""\
            import sys, libvirt
            c = libvirt.open(sys.argv[1])
            d = c.lookupByName("ch5")
            try:
                d.openChannel("nosuch", c.newStream(0), 0)
            except libvirt.libvirtError as e:
                print(e.get_error_code(), e.get_error_message())
            st = c.newStream(0)
            d.openChannel("org.test.x", st, 0)
            try:
                d.openChannel("channel0", c.newStream(0), 0)
            except libvirt.libvirtError as e:
                print(e.get_error_code(), e.get_error_message())
            st.abort()
            """)
        r = subprocess.run([PYTHON, "-c", code, daemon.uri],
                           capture_output=True, text=True,
                           env=xvtest.driver_env(leaks=False), timeout=60)
        lines = r.stdout.splitlines()
        assert lines[0] == "1 internal error: cannot find channel nosuch", r
        assert lines[1] == ("9 operation failed: Active channel stream "
                            "exists for this domain"), r
    finally:
        daemon.virsh("destroy", "ch5")
        daemon.virsh("undefine", "ch5")


def start_pty_echo(host, tmp, name, chan):
    """NAME with an echoing pty channel CHAN, once the guest connected it:
    (domid, the host's run directory, its xenstore, the backend's path)."""
    domid = define_start(host, tmp, name, [f"channel-echo {chan}"],
                         [("pty", chan, None)])
    rundir = host.sim_rundir
    xs = Xenstore(rundir)
    be = f"/local/domain/0/backend/channel/{domid}/0"
    assert xvtest.wait_for(lambda: xs.read(be + "/state") == "4")
    return domid, rundir, xs, be


def test_driver_restart_closes_and_reopens(own_daemon, tmp_path):
    """A live guest's channel closed by the toolstack (libvirtd stops):
    its nodes and dom0's grant go at once and the guest runs on; the next
    libvirtd serves it again (a new pty) at reconnect,
    and it echoes, also as a console (virDomainOpenConsole 'channel0')."""
    d = own_daemon
    domid, rundir, xs, be = start_pty_echo(d, tmp_path, "ch6", "org.test.r")
    subprocess.run([str(d.script), "stop", str(d.dir)], check=True,
                   timeout=60)
    assert not xs.exists(f"/local/domain/0/backend/channel/{domid}")
    assert not xs.exists(f"/local/domain/{domid}/device/channel")
    assert dom0_grant_files(rundir) == []
    assert host_states(rundir)[domid][5:] == "-"
    d.start()
    try:
        assert xvtest.wait_for(lambda: xs.read(be + "/state") == "4")
        kind, pty, alias = live_channels(d, "ch6")["org.test.r"]
        assert kind == "pty" and pty and alias == "channel0"
        r = run_echo(d, "ch6", "org.test.r", 1 << 16)
        assert r.returncode == 0 and r.stdout.split()[0] == "ok", r
        code = textwrap.dedent("""\
            import sys, libvirt
            c = libvirt.open(sys.argv[1])
            d = c.lookupByName("ch6")
            st = c.newStream(0)
            d.openConsole("channel0", st, 0)
            st.send(b"ping over a console\\n")
            got = b""
            while len(got) < 20:
                got += st.recv(64)
            print(got.decode().strip())
            st.abort()
            """)
        r = subprocess.run([PYTHON, "-c", code, d.uri], capture_output=True,
                           text=True, env=xvtest.driver_env(leaks=False),
                           timeout=60)
        assert r.stdout.strip() == "ping over a console", r
    finally:
        assert d.virsh("destroy", "ch6").rc == 0
    assert not xs.exists(f"/local/domain/0/backend/channel/{domid}")
    assert dom0_grant_files(rundir) == []


WRITER = OPEN + textwrap.dedent("""\
    sent = 0
    try:
        while sent < (1 << 24):
            sent += st.send(b"s" * 4096)
            if sent == 4096:
                print("writing", flush=True)
    except libvirt.libvirtError as e:
        print("error", sent, flush=True)
        try:
            st.abort()
        except libvirt.libvirtError:
            pass
        raise SystemExit(0)
    print("all sent", sent, flush=True)
    """)


def test_stalled_guest_blocks_only_its_writer(daemon, tmp_path):
    """A guest that never takes its channel (no driver claims it): the
    ring and the pty fill and the writer waits; libvirtd answers meanwhile
    and the writer is released when the domain goes."""
    domid = define_start(daemon, tmp_path, "ch7", [],
                         [("unix", "org.test.stall",
                           str(tmp_path / "stall.sock"))])
    rundir = daemon.sim_rundir
    xs = Xenstore(rundir)
    p = subprocess.Popen([PYTHON, "-c", WRITER, daemon.uri, "ch7",
                          "org.test.stall"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         env=xvtest.driver_env(leaks=False))
    try:
        assert p.stdout.readline().strip() == "writing"
        # The frontend never went past Initialising: nothing reads.
        fe = f"/local/domain/{domid}/device/channel/0/state"
        assert xs.read(fe) == "1"
        time.sleep(2)
        assert p.poll() is None, p.communicate()
        for _ in range(10):
            assert daemon.virsh("list").rc == 0
            assert daemon.virsh("dominfo", "ch7").rc == 0
        assert daemon.virsh("destroy", "ch7").rc == 0
        out, err = p.communicate(timeout=60)
        assert out.split()[0] == "error", (out, err)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert not xs.exists(f"/local/domain/0/backend/channel/{domid}")
    assert dom0_grant_files(rundir) == []
    assert daemon.virsh("undefine", "ch7").rc == 0


def test_killed_driver_leaves_nothing_behind_at_reconnect(own_daemon,
                                                          tmp_path):
    """libvirtd killed: the channel it served stays in xenstore, with
    dom0's grant; the next libvirtd takes it over at reconnect, ending
    the grant and the port left behind, so nothing accumulates."""
    d = own_daemon
    domid, rundir, xs, be = start_pty_echo(d, tmp_path, "ch8", "org.test.k")
    first = dom0_grant_files(rundir)
    assert len(first) == 1
    for _ in range(2):
        pid = d.pid
        os.kill(pid, signal.SIGKILL)
        assert xvtest.wait_for(lambda: not os.path.exists(f"/proc/{pid}"))
        assert xs.read(be + "/name") == "org.test.k"
        d.start()
        # Reconnected: a new grant, and the one left behind ended.
        assert xvtest.wait_for(lambda: dom0_grant_files(rundir) not in
                               (first, []))
        grants = dom0_grant_files(rundir)
        assert len(grants) == 1, (first, grants)
        assert xvtest.wait_for(lambda: xs.read(be + "/state") == "4")
        first = grants
    r = run_echo(d, "ch8", "org.test.k", 1 << 16)
    assert r.returncode == 0 and r.stdout.split()[0] == "ok", r
    assert d.virsh("destroy", "ch8").rc == 0
    assert dom0_grant_files(rundir) == []


AGENT = OPEN + textwrap.dedent("""\
    buf = b""

    def ask(line):
        global buf
        st.send(line)
        while b"\\n" not in buf:
            buf += st.recv(4096)
        reply, buf = buf.split(b"\\n", 1)
        return reply

    out = []
    out.append(ask(b'{"execute":"guest-sync","arguments":{"id":4711}}\\n'))
    out.append(ask(b'\\xff{"execute":"guest-sync-delimited",'
                   b'"arguments":{"id":12}}\\n'))
    out.append(ask(b'{"execute":"guest-ping"}\\n'))
    out.append(ask(b'{"execute":"guest-get-host-name"}\\n'))
    out.append(ask(b'{"execute":"guest-set-time",'
                   b'"arguments":{"time":1000000000000000000}}\\n'))
    out.append(ask(b'{"execute":"guest-get-time"}\\n'))
    out.append(ask(b'{"execute":"guest-fsfreeze-freeze"}\\n'))
    out.append(ask(b'{"execute":"guest-get-osinfo"}\\n'))
    out.append(ask(b'{"execute":"guest-fsfreeze-thaw"}\\n'))
    out.append(ask(b'{"execute":"no-such-thing"}\\n'))
    out.append(ask(b'not json at all\\n'))
    out.append(ask(b"x" * 70000 + b"\\n"))
    out.append(ask(b'{"execute":"guest-ping"}\\n'))
    st.abort()
    for r in out:
        print(r.decode("utf-8", "replace"))
    """)


def test_simulated_guest_agent_answers_on_its_channel(daemon, tmp_path):
    """The simulated guest's qemu-ga, spoken to raw through
    virDomainOpenChannel: on a channel of another name (channel-agent),
    since the driver owns org.qemu.guest_agent.0 and refuses a stream on
    it (its agent APIs: test_agent.py)."""
    define_start(daemon, tmp_path, "ch9", ["channel-agent qga.raw"],
                 [("unix", "qga.raw", str(tmp_path / "qga.sock"))])
    try:
        r = subprocess.run([PYTHON, "-c", AGENT, daemon.uri, "ch9",
                            "qga.raw"],
                           capture_output=True, text=True,
                           env=xvtest.driver_env(leaks=False), timeout=60)
        assert r.returncode == 0, r
        lines = r.stdout.splitlines()
        assert json.loads(lines[0]) == {"return": 4711}
        assert lines[1] == "\ufffd" + '{"return":12}'
        assert json.loads(lines[2]) == {"return": {}}
        assert json.loads(lines[3]) == {"return": {"host-name": "ch9"}}
        assert json.loads(lines[4]) == {"return": {}}
        # The guest's clock, set a few ms ago to 2001-09-09.
        t = json.loads(lines[5])["return"]
        assert 10**18 <= t < 10**18 + 60 * 10**9
        assert json.loads(lines[6]) == {"return": 1}
        frozen = json.loads(lines[7])["error"]
        assert frozen["class"] == "GenericError" and "frozen" in frozen["desc"]
        assert json.loads(lines[8]) == {"return": 1}
        assert json.loads(lines[9])["error"]["class"] == "CommandNotFound"
        assert json.loads(lines[10])["error"]["class"] == "GenericError"
        assert json.loads(lines[11])["error"]["desc"] == "Command too long"
        assert json.loads(lines[12]) == {"return": {}}
    finally:
        daemon.virsh("destroy", "ch9")
        daemon.virsh("undefine", "ch9")


def test_no_agent_guest_leaves_its_channel_alone(daemon, tmp_path):
    domid = define_start(daemon, tmp_path, "ch10", ["no-agent"],
                         [("pty", "org.qemu.guest_agent.0", None)])
    xs = Xenstore(daemon.sim_rundir)
    try:
        time.sleep(1)
        assert xs.read(f"/local/domain/{domid}/device/channel/0/state") == "1"
    finally:
        daemon.virsh("destroy", "ch10")
        daemon.virsh("undefine", "ch10")
