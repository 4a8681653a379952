"""Transactions: isolation, conflicts, watch events on commit only."""
import pytest

from xsclient import XsError, TRANSACTION_START


def err(fn, *args, **kw):
    with pytest.raises(XsError) as e:
        fn(*args, **kw)
    return e.value.name


def test_isolation(xsd):
    a = xsd.dom0()
    b = xsd.dom0()
    a.write("/t/x", "0")
    tx = a.txn_start()
    a.write("/t/x", "1", tx)
    a.write("/t/new", "n", tx)
    a.rm("/t/x", tx)
    a.write("/t/x", "2", tx)
    # Invisible outside the transaction, to everyone.
    assert a.read("/t/x") == b"0"
    assert b.read("/t/x") == b"0"
    assert err(b.read, "/t/new") == "ENOENT"
    assert a.read("/t/x", tx) == b"2"
    assert a.directory("/t", tx) == ["new", "x"]
    a.txn_end(tx)
    assert b.read("/t/x") == b"2"
    assert b.read("/t/new") == b"n"


def test_snapshot_and_conflict(xsd):
    a = xsd.dom0()
    b = xsd.dom0()
    a.write("/c", "a")
    tx = a.txn_start()
    assert a.read("/c", tx) == b"a"
    b.write("/c", "b")
    # Reads in the transaction still see what it first saw.
    assert a.read("/c", tx) == b"a"
    a.write("/c", "mine", tx)
    assert err(a.txn_end, tx) == "EAGAIN"
    assert b.read("/c") == b"b"
    # The transaction is gone either way.
    assert err(a.read, "/c", tx) == "ENOENT"


def test_conflict_on_created_child(xsd):
    a = xsd.dom0()
    b = xsd.dom0()
    a.mkdir("/d")
    tx = a.txn_start()
    assert a.directory("/d", tx) == []
    b.write("/d/new", "")
    a.write("/d/other", "", tx)
    assert err(a.txn_end, tx) == "EAGAIN"


def test_no_conflict_on_unrelated_nodes(xsd):
    a = xsd.dom0()
    b = xsd.dom0()
    a.write("/u/1", "")
    a.write("/u/2", "")
    tx = a.txn_start()
    a.write("/u/1", "x", tx)
    b.write("/u/2", "y")
    a.txn_end(tx)
    assert b.read("/u/1") == b"x"


def test_abort_discards(xsd):
    a = xsd.dom0()
    tx = a.txn_start()
    a.write("/ab", "1", tx)
    a.txn_end(tx, commit=False)
    assert err(a.read, "/ab") == "ENOENT"


def test_several_transactions_per_connection(xsd):
    a = xsd.dom0()
    a.write("/m/1", "")
    a.write("/m/2", "")
    t1 = a.txn_start()
    t2 = a.txn_start()
    assert t1 != t2
    a.write("/m/1", "1", t1)
    a.write("/m/2", "2", t2)
    assert a.read("/m/1", t2) == b""
    a.txn_end(t2)
    a.txn_end(t1)
    assert (a.read("/m/1"), a.read("/m/2")) == (b"1", b"2")


def test_protocol_errors(xsd):
    a = xsd.dom0()
    assert err(a.read, "/", 12345) == "ENOENT"
    assert err(a.txn_end, 0) == "ENOENT"
    tx = a.txn_start()
    assert err(a.request, TRANSACTION_START, b"\0", tx) == "EBUSY"
    from xsclient import TRANSACTION_END
    assert err(a.request, TRANSACTION_END, b"X\0", tx) == "EINVAL"
    a.txn_end(tx)


def test_guest_transactions_in_own_home(xsd):
    g = xsd.guest(1)
    tx = g.txn_start()
    g.write("a", "1", tx)
    g.write("b/c", "2", tx)
    g.txn_end(tx)
    assert g.read("b/c") == b"2"
    assert g.get_perms("b/c") == ["n1"]


def test_commit_fires_watches_once(xsd):
    a = xsd.dom0()
    w = xsd.dom0()
    a.write("/wt", "")
    w.watch("/wt", "tok")
    assert w.wait_event() == (b"/wt", b"tok")
    tx = a.txn_start()
    a.write("/wt/x", "1", tx)
    a.write("/wt/x", "2", tx)
    a.write("/wt/x", "3", tx)
    assert w.wait_event(0.3) is None
    a.txn_end(tx)
    # One event per changed node, however often the transaction changed it.
    assert w.drain_events() == [(b"/wt/x", b"tok")]
    tx = a.txn_start()
    a.write("/wt/y", "1", tx)
    a.rm("/wt/x", tx)
    a.write("/wt/y", "2", tx)
    a.txn_end(tx)
    assert sorted(w.drain_events()) == [(b"/wt/x", b"tok"), (b"/wt/y", b"tok")]
    # An aborted or failed transaction fires nothing.
    tx = a.txn_start()
    a.write("/wt/y", "1", tx)
    a.txn_end(tx, commit=False)
    tx = a.txn_start()
    a.read("/wt", tx)
    a.write("/wt", "changed")
    w.drain_events()
    a.write("/wt/z", "1", tx)
    assert err(a.txn_end, tx) == "EAGAIN"
    assert w.drain_events() == []
