"""Watch firing rules."""
import pytest

from xsclient import XsError, RESET_WATCHES


def err(fn, *args):
    with pytest.raises(XsError) as e:
        fn(*args)
    return e.value.name


def test_initial_event_and_duplicates(xsd):
    c = xsd.dom0()
    c.watch("/nonexistent/path", "t1")
    assert c.wait_event() == (b"/nonexistent/path", b"t1")
    assert err(c.watch, "/nonexistent/path", "t1") == "EEXIST"
    # Same path, another token: a second watch.
    c.watch("/nonexistent/path", "t2")
    assert c.wait_event() == (b"/nonexistent/path", b"t2")
    c.unwatch("/nonexistent/path", "t1")
    assert err(c.unwatch, "/nonexistent/path", "t1") == "ENOENT"


def test_subtree(xsd):
    c = xsd.dom0()
    w = xsd.dom0()
    w.watch("/a", "tok")
    w.wait_event()
    c.write("/a/b/c", "1")
    assert w.wait_event() == (b"/a/b/c", b"tok")
    c.write("/a", "v")
    assert w.wait_event() == (b"/a", b"tok")
    # Not a prefix match on names: /ab is not under /a.
    c.write("/ab", "x")
    c.write("/", "")
    assert w.drain_events() == []


def test_removal_fires_above_and_below(xsd):
    c = xsd.dom0()
    w = xsd.dom0()
    c.write("/r/x/y/z", "")
    w.watch("/r", "up")
    w.watch("/r/x/y/z", "down")
    w.drain_events()
    c.rm("/r/x")
    assert sorted(w.drain_events()) == [(b"/r/x", b"up"), (b"/r/x/y/z", b"down")]
    # Removing a missing node changes nothing and fires nothing.
    c.rm("/r/x")
    assert w.drain_events() == []


def test_mkdir_fires_only_when_created(xsd):
    c = xsd.dom0()
    w = xsd.dom0()
    w.watch("/m", "t")
    w.wait_event()
    c.mkdir("/m")
    assert w.wait_event() == (b"/m", b"t")
    c.mkdir("/m")
    assert w.drain_events() == []


def test_set_perms_fires(xsd):
    c = xsd.dom0()
    c.write("/sp", "")
    c.watch("/sp", "t")
    c.wait_event()
    c.set_perms("/sp", ["n0", "r1"])
    assert c.wait_event() == (b"/sp", b"t")


def test_relative_watch_for_guest(xsd):
    g = xsd.guest(1)
    d0 = xsd.dom0()
    g.watch("device", "dev")
    assert g.wait_event() == (b"device", b"dev")
    d0.write("/local/domain/1/device/vbd/0", "")
    assert g.wait_event() == (b"device/vbd/0", b"dev")


def test_events_respect_permissions(xsd):
    g1 = xsd.guest(1)
    g2 = xsd.guest(2)
    d0 = xsd.dom0()
    # Guest 2 watches guest 1's home: it may register, but learns nothing.
    g2.watch("/local/domain/1", "spy")
    assert g2.wait_event() == (b"/local/domain/1", b"spy")
    g1.write("secret", "s")
    d0.write("/local/domain/1/other", "o")
    assert g2.drain_events() == []
    # Once guest 2 may read a node, its changes reach it.
    g1.set_perms("secret", ["n1", "r2"])
    assert g2.wait_event() == (b"/local/domain/1/secret", b"spy")
    g1.write("secret", "s2")
    assert g2.wait_event() == (b"/local/domain/1/secret", b"spy")


def test_reset_watches(xsd):
    c = xsd.dom0()
    w = xsd.dom0()
    w.watch("/rw", "t")
    w.wait_event()
    w.request(RESET_WATCHES)
    c.write("/rw", "")
    assert w.drain_events() == []
    # Watches can be set again afterwards.
    w.watch("/rw", "t")
    assert w.wait_event() == (b"/rw", b"t")


def test_introduce_release_events(xsd):
    d0 = xsd.dom0()
    d0.watch("@introduceDomain", "i")
    d0.watch("@releaseDomain", "r")
    d0.drain_events()
    d0.introduce(9)
    assert d0.wait_event() == (b"@introduceDomain", b"i")
    d0.release(9)
    assert d0.wait_event() == (b"@releaseDomain", b"r")
    assert d0.drain_events() == []


def test_oversized_event_dropped(xsd):
    # A path plus token over 4096 bytes cannot be delivered: dropped.
    c = xsd.dom0()
    token = "t" * 3000
    c.watch("/o", token)
    c.wait_event()
    c.write("/o/" + "p" * 1500, "")
    assert c.drain_events() == []
    c.write("/o/short", "")
    assert c.wait_event() == (b"/o/short", token.encode())


def test_slow_reader_is_disconnected(xsd_factory):
    xsd = xsd_factory(["--watch-queue", "100"])
    slow = xsd.dom0()
    slow.sock.setsockopt(__import__("socket").SOL_SOCKET,
                         __import__("socket").SO_RCVBUF, 4096)
    slow.watch("/flood", "t" * 1000)
    c = xsd.dom0()
    for i in range(2000):
        c.write("/flood", str(i))
    assert "watch event queue overflow" in xsd.log()
    # The writer and the daemon are fine.
    assert c.read("/flood") == b"1999"
