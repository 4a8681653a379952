"""The driver's guest agent client (docs/channels.md, "The guest agent"):
real libvirtd (tools/libvirtd-private), real virsh and python-libvirt,
against simulated guests whose qemu-ga answers on the Xen channel
org.qemu.guest_agent.0 (src/xensim/xsim_agent.c), or that have no agent,
an agent that never answers, one that answers every sync with another
id, or a flood or an echo where the agent should be.

What is checked: virsh domtime (read, set, --sync), domhostname --source
agent, domifaddr --source agent, guestinfo (all groups and one), domfsfreeze/domfsthaw and what a
frozen agent refuses, reboot --mode agent and shutdown --mode agent (the
guest does it), virDomainOpenChannel and virDomainOpenConsole refused on
the agent's channel; libvirt's errors, each with its code, for a domain
without an agent channel, a guest whose agent is not connected, and
agents that never answer, flood or answer the wrong sync; after all of
them libvirtd is the same process and still answers, and an honest
agent on the same host still does."""

import json
import textwrap
import time
from pathlib import Path

import libvirt

import xvtest
from test_channels import define_start

AGENT = "org.qemu.guest_agent.0"

# Runs the calls named in argv 3 (a JSON list of [method, args...]) on
# domain argv 2, each as {"ok": result} or {"code": n, "msg": s}.
CALLS = textwrap.dedent("""\
    import json, sys, libvirt
    c = libvirt.open(sys.argv[1])
    d = c.lookupByName(sys.argv[2])
    for call in json.loads(sys.argv[3]):
        name, args = call[0], call[1:]
        try:
            if name == "openChannel":
                st = c.newStream(0)
                res = d.openChannel(args[0], st, 0)
            elif name == "openConsole":
                st = c.newStream(0)
                res = d.openConsole(args[0], st, 0)
            else:
                res = getattr(d, name)(*args)
            print(json.dumps({"ok": res}), flush=True)
        except libvirt.libvirtError as e:
            print(json.dumps({"code": e.get_error_code(),
                              "msg": e.get_error_message()}), flush=True)
    """)


def calls(host, name, *cs, timeout=120):
    r = xvtest.python(CALLS, host.uri, name, json.dumps(list(cs)),
                      timeout=timeout)
    assert r.rc == 0, r
    return [json.loads(line) for line in r.out.splitlines()]


def start(host, tmp, name, script=(), kind="pty", channel=True):
    sock = str(Path(tmp) / f"{name}.sock") if kind == "unix" else None
    chans = [(kind, AGENT, sock)] if channel else []
    return define_start(host, tmp, name, list(script), chans)


def gone(host, name):
    host.virsh("destroy", name)
    host.virsh("undefine", name)


def connected(host, name):
    """The guest's side of the agent channel connected (it takes the
    channel a moment after the start)."""
    return xvtest.wait_for(
        lambda: calls(host, name, ["hostname", libvirt.VIR_DOMAIN_GET_HOSTNAME_AGENT])[0]
        .get("ok") == name)


def test_agent_commands_pty_and_unix(daemon, tmp_path):
    for name, kind in (("ag1", "pty"), ("ag2", "unix")):
        domid = start(daemon, tmp_path, name, kind=kind)
        try:
            assert connected(daemon, name)
            # The guest's interfaces as its agent sees them: its loopback
            # and its vif, with the MAC of the definition and the address
            # the simulated guest has on it (docs/xensim-host.md).
            mac = f"00:16:3e:00:00:{len(name):02x}"
            addr = f"10.200.{domid // 256}.{domid % 256}/16"
            r = daemon.virsh("domifaddr", name, "--source", "agent")
            assert r.rc == 0, r
            assert [line.split() for line in r.out.splitlines()] == [
                ["lo", "00:00:00:00:00:00", "ipv4", "127.0.0.1/8"],
                ["eth0", mac, "ipv4", addr]], r
            r = daemon.virsh("domhostname", name, "--source", "agent")
            assert r.rc == 0 and r.out.strip() == name, r

            # The guest's clock is the host's until set.
            r = daemon.virsh("domtime", name)
            assert r.rc == 0, r
            guest = int(r.out.split(":")[1])
            assert abs(guest - time.time()) < 60
            r = daemon.virsh("domtime", name, "--time", "1000000000")
            assert r.rc == 0, r
            r = daemon.virsh("domtime", name)
            assert r.rc == 0, r
            assert 1000000000 <= int(r.out.split(":")[1]) < 1000000060
            r = daemon.virsh("domtime", name, "--sync")
            assert r.rc == 0, r
            assert abs(int(daemon.virsh("domtime", name).out.split(":")[1])
                       - time.time()) < 60

            r = daemon.virsh("guestinfo", name)
            assert r.rc == 0, r
            info = dict(tuple(p.strip() for p in line.split(":", 1))
                        for line in r.out.splitlines() if ":" in line)
            assert info["hostname"] == name
            assert info["os.id"] == "debian"
            assert info["os.version-id"] == "12"
            assert info["timezone.name"] == "UTC"
            assert info["timezone.offset"] == "0"
            assert info["user.count"] == "0"
            r = daemon.virsh("guestinfo", name, "--os")
            assert r.rc == 0 and "os.id" in r.out and "hostname" not in r.out, r
            # Groups the driver does not gather: libvirt's error.
            r = daemon.virsh("guestinfo", name, "--filesystem")
            assert r.rc != 0 and "unsupported guest information types" in r.err, r

            r = daemon.virsh("domfsfreeze", name)
            assert r.rc == 0, r
            # A frozen agent refuses what would write: the agent's error,
            # as libvirt words it.
            r = daemon.virsh("domtime", name, "--now")
            assert r.rc != 0, r
            assert ("unable to execute QEMU agent command 'guest-set-time'"
                    in r.err and "frozen" in r.err), r
            r = daemon.virsh("domfsthaw", name)
            assert r.rc == 0, r
            r = daemon.virsh("domtime", name, "--now")
            assert r.rc == 0, r

            res = calls(daemon, name, ["fsFreeze"], ["fsThaw"], ["fsThaw"],
                        ["openChannel", AGENT], ["openChannel", "channel0"],
                        ["openConsole", "channel0"],
                        ["agentSetResponseTimeout", -3, 0],
                        ["agentSetResponseTimeout", 2, 0],
                        ["getTime"])
            assert res[0] == {"ok": 1} and res[1] == {"ok": 1}
            assert res[2] == {"ok": 0}
            # A unix channel is no console at all ("has no pty").
            for r in res[3:6] if kind == "pty" else res[3:5]:
                assert r["code"] == libvirt.VIR_ERR_OPERATION_INVALID, res
                assert "used by the guest agent" in r["msg"], res
            assert res[6]["code"] == libvirt.VIR_ERR_INVALID_ARG, res
            assert res[7] == {"ok": 0}
            assert abs(res[8]["ok"]["seconds"] - time.time()) < 60
        finally:
            gone(daemon, name)


def test_shutdown_and_reboot_mode_agent(daemon, tmp_path):
    start(daemon, tmp_path, "ag3")
    try:
        assert connected(daemon, "ag3")
        first = daemon.virsh("domid", "ag3").out.strip()
        r = daemon.virsh("reboot", "ag3", "--mode", "agent")
        assert r.rc == 0, r
        # The guest reboots: a new domain, the agent on it again.
        assert xvtest.wait_for(
            lambda: daemon.virsh("domid", "ag3").out.strip() not in ("", "-", first))
        assert daemon.virsh("domstate", "ag3").out.strip() == "running"
        assert connected(daemon, "ag3")
        r = daemon.virsh("shutdown", "ag3", "--mode", "agent")
        assert r.rc == 0, r
        assert xvtest.wait_for(
            lambda: daemon.virsh("domstate", "ag3").out.strip() == "shut off")
        r = daemon.virsh("shutdown", "ag3", "--mode", "agent")
        assert r.rc != 0 and "not running" in r.err, r
    finally:
        gone(daemon, "ag3")


def test_guests_without_a_working_agent_fail_in_bounded_time(daemon, tmp_path):
    """Each call below returns libvirt's error (the test's own timeout,
    120 s for all of them, is what fails if one hangs); libvirtd is the
    same process after, and an honest agent still answers."""
    pid = daemon.pid
    start(daemon, tmp_path, "ok1")
    start(daemon, tmp_path, "none", channel=False)
    start(daemon, tmp_path, "noag", script=["no-agent"])
    start(daemon, tmp_path, "sink", script=[f"channel-sink {AGENT}"])
    start(daemon, tmp_path, "echo", script=[f"channel-echo {AGENT}"],
          kind="unix")
    start(daemon, tmp_path, "flood", script=[f"channel-flood {AGENT}"])
    start(daemon, tmp_path, "wsync", script=["agent-wrong-sync"])
    start(daemon, tmp_path, "long", script=["agent-long-reply"])
    names = ["ok1", "none", "noag", "sink", "echo", "flood", "wsync", "long"]
    try:
        assert connected(daemon, "ok1")
        r = calls(daemon, "none", ["getTime"], ["shutdownFlags",
                  libvirt.VIR_DOMAIN_SHUTDOWN_GUEST_AGENT])
        for e in r:
            assert e["code"] == libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED, r
            assert "QEMU guest agent is not configured" in e["msg"], r
        r = calls(daemon, "noag", ["getTime"], ["fsFreeze"])
        for e in r:
            assert e["code"] == libvirt.VIR_ERR_AGENT_UNRESPONSIVE, r
            assert "QEMU guest agent is not connected" in e["msg"], r
        # The agent that never answers, the echo (its "reply" to the sync
        # is the sync itself) and the wrong id: the sync runs out.
        for name in ("sink", "echo", "wsync"):
            r = calls(daemon, name, ["getTime"], ["guestInfo", 0, 0])
            for e in r:
                assert e["code"] == libvirt.VIR_ERR_AGENT_UNRESPONSIVE, (name, r)
                assert "Guest agent not available for now" in e["msg"], (name, r)
        # A flood with no delimiter: dropped up to its bound, then an error
        # (or the sync's time runs out first, on a slow host).
        r = calls(daemon, "flood", ["getTime"])
        assert r[0].get("code") in (libvirt.VIR_ERR_AGENT_UNSYNCED,
                                    libvirt.VIR_ERR_AGENT_UNRESPONSIVE), r
        # A reply past the bound (the sync went well): an error, and the
        # next command syncs again past the rest of it.
        r = calls(daemon, "long", ["getTime"], ["hostname", 0])
        for e in r:
            assert e["code"] == libvirt.VIR_ERR_INTERNAL_ERROR, r
            assert "exceeds 1048576 bytes" in e["msg"], r
        # The shutdown with the PV fallback takes the PV path when the
        # agent does not answer; the agent alone fails.
        r = calls(daemon, "sink", ["shutdownFlags",
                  libvirt.VIR_DOMAIN_SHUTDOWN_GUEST_AGENT])
        assert r[0]["code"] == libvirt.VIR_ERR_AGENT_UNRESPONSIVE, r
        assert daemon.virsh("domstate", "sink").out.strip() == "running"
        r = daemon.virsh("shutdown", "sink", "--mode", "agent,paravirt")
        assert r.rc == 0, r
        assert xvtest.wait_for(
            lambda: daemon.virsh("domstate", "sink").out.strip() == "shut off")

        assert daemon.pid == pid
        r = daemon.virsh("list", "--all")
        assert r.rc == 0 and all(n in r.out for n in names), r
        r = daemon.virsh("domhostname", "ok1", "--source", "agent")
        assert r.rc == 0 and r.out.strip() == "ok1", r
    finally:
        for n in names:
            gone(daemon, n)


# Starts domain argv 2 with AGENT_LIFECYCLE events registered, waits for
# the agent to connect, prints the live XML's agent target, then reboots
# the guest through the agent (argv 3 "reboot") or asks its agent the
# time ("time": the guest's side then breaks the ring, channel-corrupt),
# and prints the events it saw as JSON lines ([state, reason] each), then
# the target again.
EVENTS = xvtest.EVENT_LOOP + textwrap.dedent("""\
    import json, sys, time
    import xml.etree.ElementTree as ET
    c = libvirt.open(sys.argv[1])
    seen = []
    def cb(conn, dom, state, reason, opaque):
        if dom.name() == sys.argv[2]:
            seen.append([state, reason])
    c.domainEventRegisterAny(None,
                             libvirt.VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE,
                             cb, None)
    def wait(n):
        end = time.monotonic() + 30
        while len(seen) < n and time.monotonic() < end:
            time.sleep(0.05)
    def target(d):
        root = ET.fromstring(d.XMLDesc(0))
        for ch in root.findall("./devices/channel/target"):
            if ch.get("name") == "org.qemu.guest_agent.0":
                return ch.attrib
    d = c.lookupByName(sys.argv[2])
    d.create()
    wait(1)
    print(json.dumps(target(d)), flush=True)
    if sys.argv[3] == "reboot":
        d.reboot(libvirt.VIR_DOMAIN_REBOOT_GUEST_AGENT)
        wait(3)
    else:
        try:
            d.getTime()
        except libvirt.libvirtError:
            pass
        wait(2)
    print(json.dumps(seen), flush=True)
    print(json.dumps(target(d)), flush=True)
    """)


def test_agent_lifecycle_events_and_live_state(daemon, tmp_path):
    start(daemon, tmp_path, "ag4", script=["no-agent"])
    start(daemon, tmp_path, "ag5")
    try:
        # A guest that never takes the channel: disconnected, no event.
        root = daemon.virsh("dumpxml", "ag4").out
        assert ("<target type='xen' name='org.qemu.guest_agent.0' "
                "state='disconnected'/>") in root
        # Not in the inactive XML (libvirt's rule for a virtio target).
        r = daemon.virsh("dumpxml", "ag4", "--inactive")
        assert "state=" not in r.out, r

        assert daemon.virsh("destroy", "ag5").rc == 0
        r = xvtest.python(EVENTS, daemon.uri, "ag5", "reboot", timeout=120)
        assert r.rc == 0, r
        first, seen, last = (json.loads(x) for x in r.out.splitlines())
        assert first["state"] == "connected", r
        C = libvirt.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_CONNECTED
        D = libvirt.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_STATE_DISCONNECTED
        CH = libvirt.VIR_CONNECT_DOMAIN_EVENT_AGENT_LIFECYCLE_REASON_CHANNEL
        # Connected at the start; at the reboot the old domain's channel
        # goes and the new one's connects.
        assert seen == [[C, CH], [D, CH], [C, CH]], r
        assert last["state"] == "connected", r

        # The guest's side breaks the ring: the core closes the channel
        # and reports it, the agent is disconnected.
        start(daemon, tmp_path, "ag6",
              script=[f"channel-corrupt {AGENT}"])
        assert daemon.virsh("destroy", "ag6").rc == 0
        r = xvtest.python(EVENTS, daemon.uri, "ag6", "time", timeout=120)
        assert r.rc == 0, r
        first, seen, last = (json.loads(x) for x in r.out.splitlines())
        assert seen == [[C, CH], [D, CH]], r
        assert last["state"] == "disconnected", r
        r = calls(daemon, "ag6", ["getTime"])
        assert r[0]["code"] == libvirt.VIR_ERR_AGENT_UNRESPONSIVE, r
        assert "QEMU guest agent is not connected" in r[0]["msg"], r
    finally:
        gone(daemon, "ag4")
        gone(daemon, "ag5")
        gone(daemon, "ag6")


# Opens domain argv 2's console, sets root's password (argv 3, plain)
# and then an encrypted one, each through the agent, and prints what the
# console showed after each until the guest's chpasswd line.
PASSWORD = textwrap.dedent("""\
    import sys, libvirt
    c = libvirt.open(sys.argv[1])
    d = c.lookupByName(sys.argv[2])
    st = c.newStream(0)
    d.openConsole(None, st, 0)
    def until(marker):
        got = b""
        while marker not in got:
            b = st.recv(4096)
            if not b:
                break
            got += b
        line = [l for l in got.split(b"\\n") if marker in l]
        print(line[0].decode().strip() if line else "none", flush=True)
    d.setUserPassword("root", sys.argv[3], 0)
    until(b"chpasswd")
    d.setUserPassword("root", "$6$salt$abc",
                      libvirt.VIR_DOMAIN_PASSWORD_ENCRYPTED)
    until(b"chpasswd")
    st.abort()
    """)


def test_set_user_password(daemon, tmp_path):
    start(daemon, tmp_path, "ag7")
    try:
        assert connected(daemon, "ag7")
        r = xvtest.python(PASSWORD, daemon.uri, "ag7", "s3cret pass",
                          timeout=60)
        assert r.rc == 0, r
        assert r.out.splitlines() == [
            "chpasswd: password of 'root' changed (plain, 11 bytes)",
            "chpasswd: password of 'root' changed (crypted, 11 bytes)"], r
        # virsh's own path, and the guest's refusal of an unknown user,
        # with libvirt's wording of an agent's error.
        r = daemon.virsh("set-user-password", "ag7", "root", "another")
        assert r.rc == 0, r
        r = daemon.virsh("set-user-password", "ag7", "nobody", "x")
        assert r.rc != 0, r
        assert ("unable to execute QEMU agent command "
                "'guest-set-user-password'") in r.err, r
        # A frozen agent refuses it.
        assert daemon.virsh("domfsfreeze", "ag7").rc == 0
        r = daemon.virsh("set-user-password", "ag7", "root", "again")
        assert r.rc != 0 and "frozen" in r.err, r
        assert daemon.virsh("domfsthaw", "ag7").rc == 0
    finally:
        gone(daemon, "ag7")
