"""Quotas: a guest exhausts only its own."""
import pytest

from xsclient import XsError


def err(fn, *args):
    with pytest.raises(XsError) as e:
        fn(*args)
    return e.value.name


def test_node_quota(xsd_factory):
    xsd = xsd_factory(["--quota-nodes", "50"])
    d0 = xsd.dom0()
    g1 = xsd.guest(1)
    g2 = xsd.guest(2)
    n = 0
    with pytest.raises(XsError) as e:
        for n in range(100):
            g1.write("n%d" % n, "")
    assert e.value.name == "ENOSPC"
    assert 40 <= n <= 50
    # Writing existing nodes still works, creating does not.
    g1.write("n0", "changed")
    assert err(g1.mkdir, "another") == "ENOSPC"
    # Freeing gives room back.
    g1.rm("n1")
    g1.write("again", "")
    # Others are unaffected, dom0 even where it creates nodes the guest
    # owns (they inherit the owner, as in C xenstored).
    for i in range(60):
        d0.write("/local/domain/1/dom0-%d" % i, "")
    for i in range(40):
        g2.write("n%d" % i, "")
    assert err(g1.write, "n999", "") == "ENOSPC"


def test_node_size_quota(xsd):
    g1 = xsd.guest(1)
    d0 = xsd.dom0()
    g1.write("ok", "x" * 2000)
    assert err(g1.write, "big", "x" * 2049) == "ENOSPC"
    assert err(g1.write, "ok", "x" * 3000) == "ENOSPC"
    d0.write("/local/domain/1/dom0big", "x" * 4000)
    assert d0.read("/local/domain/1/dom0big") == b"x" * 4000


def test_watch_quota(xsd):
    g1 = xsd.guest(1)
    for i in range(128):
        g1.watch("w%d" % i, "t")
    assert err(g1.watch, "w-over", "t") == "E2BIG"
    g1.unwatch("w0", "t")
    g1.watch("w-over", "t")
    d0 = xsd.dom0()
    for i in range(200):
        d0.watch("/w%d" % i, "t")


def test_transaction_quota(xsd):
    g1 = xsd.guest(1)
    txs = [g1.txn_start() for _ in range(10)]
    assert err(g1.txn_start) == "ENOSPC"
    g1.txn_end(txs[0], False)
    g1.txn_start()
    d0 = xsd.dom0()
    for _ in range(20):
        d0.txn_start()


def test_transaction_nodes_quota(xsd_factory):
    xsd = xsd_factory(["--quota-transaction-nodes", "20"])
    g1 = xsd.guest(1)
    tx = g1.txn_start()
    with pytest.raises(XsError) as e:
        for i in range(40):
            g1.write("t%d" % i, "", tx)
    assert e.value.name == "ENOSPC"
    g1.txn_end(tx, False)


def test_perms_quota(xsd):
    g1 = xsd.guest(1)
    g1.write("x", "")
    g1.set_perms("x", ["n1", "r2", "r3", "r4", "r5"])
    assert err(g1.set_perms, "x", ["n1", "r2", "r3", "r4", "r5", "r6"]) == "ENOSPC"
    xsd.dom0().set_perms("/local/domain/1/x", ["n1"] + ["r%d" % i for i in range(2, 20)])


def test_outstanding_requests_pause_input(xsd):
    """A guest that sends without reading is paused, not buffered for."""
    from xsclient import HDR, READ
    g1 = xsd.guest(1)
    g1.write("v", "x" * 2000)
    payload = b"v\0"
    burst = b"".join(HDR.pack(READ, i, 0, len(payload)) + payload
                     for i in range(3000))
    g1.sock.setblocking(False)
    sent = 0
    try:
        while sent < len(burst):
            sent += g1.sock.send(burst[sent:])
    except BlockingIOError:
        pass
    g1.sock.settimeout(10)
    # The daemon serves others meanwhile.
    d0 = xsd.dom0()
    assert d0.read("/local/domain/1/v") == b"x" * 2000
    # Everything sent is still answered, in order, once the guest reads.
    if sent == len(burst):
        for i in range(3000):
            mtype, rid, _, data = g1.recv_msg()
            assert rid == i and len(data) == 2000
