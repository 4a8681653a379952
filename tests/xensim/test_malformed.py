"""Malformed input: an error or a closed connection, never a crash, and
the daemon keeps serving everyone else."""
import socket

import pytest

from xsclient import (HDR, XsError, READ, WRITE, WATCH, DIRECTORY,
                      DIRECTORY_PART, GET_PERMS, SET_PERMS, INTRODUCE,
                      TRANSACTION_END, CONTROL, ERROR, WATCH_EVENT, MKDIR, RM,
                      UNWATCH, GET_DOMAIN_PATH, RELEASE, SET_TARGET, RESUME,
                      IS_DOMAIN_INTRODUCED, RESET_WATCHES, TRANSACTION_START)

ALL_TYPES = [READ, WRITE, WATCH, DIRECTORY, DIRECTORY_PART, GET_PERMS,
             SET_PERMS, INTRODUCE, TRANSACTION_END, CONTROL, MKDIR, RM,
             UNWATCH, GET_DOMAIN_PATH, RELEASE, SET_TARGET, RESUME,
             IS_DOMAIN_INTRODUCED, RESET_WATCHES, TRANSACTION_START]


def err(c, mtype, payload, tx=0):
    with pytest.raises(XsError) as e:
        c.request(mtype, payload, tx)
    return e.value.name


def still_serving(xsd):
    with xsd.dom0() as c:
        c.write("/alive", "yes")
        assert c.read("/alive") == b"yes"
    assert xsd.alive()


def test_unknown_types(xsd):
    c = xsd.dom0()
    for t in (20, 23, 24, 100, 0xffff, 0xffffffff, WATCH_EVENT, ERROR):
        assert err(c, t, b"x\0") == "ENOSYS"
    g = xsd.guest(1)
    assert err(g, 0xdead, b"") == "ENOSYS"
    still_serving(xsd)


@pytest.mark.parametrize("payload", [b"", b"\0", b"no-terminator", b"a\0b\0",
                                     b"\0\0\0", b"/\xff\xfe\0", b"//\0",
                                     b"/trailing/\0", b"bad path\0",
                                     b"/" + b"x" * 3100 + b"\0"])
def test_bad_payloads_every_type(xsd, payload):
    c = xsd.dom0()
    g = xsd.guest(1)
    for conn in (c, g):
        for t in ALL_TYPES:
            try:
                conn.request(t, payload)
            except XsError:
                pass
    still_serving(xsd)


def test_specific_errors(xsd):
    c = xsd.dom0()
    assert err(c, READ, b"") == "EINVAL"
    assert err(c, READ, b"/local") == "EINVAL"          # unterminated
    assert err(c, READ, b"/local\0/tool\0") == "EINVAL"  # two strings
    assert err(c, WRITE, b"/no-nul-at-all") == "EINVAL"
    assert err(c, READ, b"/a//b\0") == "EINVAL"
    assert err(c, READ, b"/a/\0") == "EINVAL"
    assert err(c, READ, b"@introduceDomain\0") == "EINVAL"
    assert err(c, RM, b"/\0") == "EINVAL"
    assert err(c, WATCH, b"/only-path\0") == "EINVAL"
    assert err(c, INTRODUCE, b"1\0") == "EINVAL"
    assert err(c, INTRODUCE, b"-1\0" b"1\0" b"1\0") == "EINVAL"
    assert err(c, INTRODUCE, b"99999\0" b"1\0" b"1\0") == "EINVAL"
    assert err(c, INTRODUCE, b"0\0" b"1\0" b"1\0") == "EINVAL"
    assert err(c, INTRODUCE, b"7\0" b"18446744073709551616\0" b"1\0") == "EINVAL"
    assert err(c, INTRODUCE, b"7\0" b"1\0" b"4294967296\0") == "EINVAL"
    assert err(c, INTRODUCE, b"7\0" b"+1\0" b"1\0") == "EINVAL"
    assert c.request(INTRODUCE, b"7\0" b"18446744073709551615\0" b"1\0") == b"OK\0"
    assert err(c, SET_PERMS, b"/local\0x1\0") == "EINVAL"
    assert err(c, SET_PERMS, b"/local\0r 1\0") == "EINVAL"
    assert err(c, SET_PERMS, b"/local\0") == "EINVAL"
    assert err(c, DIRECTORY_PART, b"/local\0" b"abc\0") == "EINVAL"
    assert err(c, DIRECTORY_PART, b"/local\0" b"99\0") == "EINVAL"
    assert err(c, CONTROL, b"no-such-command\0") == "EINVAL"
    assert c.request(CONTROL, b"print\0hello from the test\0") == b"OK\0"
    still_serving(xsd)
    assert "hello from the test" in xsd.log()


def test_value_with_nuls_and_binary(xsd):
    c = xsd.dom0()
    value = bytes(range(256)) * 4
    c.write("/bin", value)
    assert c.read("/bin") == value
    c.write("/empty", b"")
    assert c.read("/empty") == b""


def test_oversized_header_closes_connection(xsd):
    c = xsd.dom0()
    c.send_raw(HDR.pack(READ, 1, 0, 4097))
    with pytest.raises((ConnectionError, OSError)):
        c.recv_msg()
    g = xsd.guest(1)
    g.send_raw(HDR.pack(WRITE, 1, 0, 0xffffffff) + b"x" * 100)
    with pytest.raises((ConnectionError, OSError)):
        g.recv_msg()
    still_serving(xsd)


def test_max_payload_is_accepted(xsd):
    c = xsd.dom0()
    path = b"/max"
    value = b"v" * (4096 - len(path) - 1)
    c.write(path, value)
    assert c.read(path) == value


def test_oversized_reply_is_e2big(xsd):
    c = xsd.dom0()
    for i in range(200):
        c.write("/wide/name-of-some-length-%04d" % i, "")
    assert err(c, DIRECTORY, b"/wide\0") == "E2BIG"
    # DIRECTORY_PART pages through it.
    names, off = [], 0
    while True:
        out = c.request(DIRECTORY_PART, b"/wide\0%d\0" % off)
        parts = out.split(b"\0")
        body = out[len(parts[0]) + 1:]
        done = body.endswith(b"\0\0") or body == b"\0"
        chunk = [x for x in body.split(b"\0") if x]
        names += chunk
        off += sum(len(x) + 1 for x in chunk)
        if done:
            break
        assert chunk
    assert len(names) == 200


def test_split_and_coalesced_messages(xsd):
    c = xsd.dom0()
    c.write("/s", "v")
    msgs = b"".join(HDR.pack(READ, i, 0, 3) + b"/s\0" for i in range(50))
    # Byte by byte...
    for b in msgs[:len(msgs) // 2]:
        c.send_raw(bytes([b]))
    # ... then the rest in one go.
    c.send_raw(msgs[len(msgs) // 2:])
    for i in range(50):
        mtype, rid, _, payload = c.recv_msg()
        assert (rid, payload) == (i, b"v")


def test_truncated_message_then_close(xsd):
    c = xsd.dom0()
    c.send_raw(HDR.pack(WRITE, 1, 0, 100) + b"/x\0partial")
    c.close()
    g = xsd.guest(1)
    g.send_raw(b"\x01\x02\x03")
    g.close()
    still_serving(xsd)


def test_garbage_streams(xsd):
    import random
    rnd = random.Random(1234)
    for domid in (1, 2, 3):
        xsd.guest(domid).close()
    for i in range(40):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(xsd.sock if i % 2 else xsd.domain_sock(1 + i % 3))
        try:
            for _ in range(20):
                n = rnd.randrange(1, 200)
                hdr = HDR.pack(rnd.randrange(0, 30), rnd.getrandbits(32),
                               rnd.choice([0, 1, rnd.getrandbits(32)]),
                               rnd.randrange(0, n + 1))
                s.sendall(hdr + bytes(rnd.getrandbits(8) for _ in range(n)))
        except OSError:
            pass
        s.close()
    still_serving(xsd)
