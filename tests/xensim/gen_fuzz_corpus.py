#!/usr/bin/python3
"""Write the fuzz regression seeds into fuzz-corpus/.

Input format (see xs_fuzz_target.c): records of [selector][len 2 bytes LE]
[bytes]; selector & 3: 0, 1 = dom0 connections, 2 = guest 1, 3 = guest 2;
selector & 0x80: report guest 1 shut down first.

    /usr/bin/python3 tests/xensim/gen_fuzz_corpus.py
"""
import os
import struct

from xsclient import (HDR, READ, WRITE, MKDIR, RM, DIRECTORY, DIRECTORY_PART,
                      GET_PERMS, SET_PERMS, WATCH, UNWATCH, TRANSACTION_START,
                      TRANSACTION_END, INTRODUCE, RELEASE, GET_DOMAIN_PATH,
                      IS_DOMAIN_INTRODUCED, SET_TARGET, RESUME, CONTROL,
                      RESET_WATCHES)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz-corpus")


def msg(t, payload, tx=0, rid=1):
    return HDR.pack(t, rid, tx, len(payload)) + payload


def rec(conn, data, shutdown=False):
    sel = conn | (0x80 if shutdown else 0)
    return struct.pack("<BH", sel, len(data)) + data


SEEDS = {
    "dom0-basic": [
        rec(0, msg(WRITE, b"/a/b/c\0value") + msg(READ, b"/a/b/c\0") +
            msg(DIRECTORY, b"/a\0") + msg(MKDIR, b"/m\0") +
            msg(GET_PERMS, b"/a\0") + msg(RM, b"/a\0") + msg(RM, b"/a\0")),
    ],
    "guest-perms": [
        rec(0, msg(MKDIR, b"/local/domain/1\0") +
            msg(SET_PERMS, b"/local/domain/1\0n1\0r2\0")),
        rec(2, msg(WRITE, b"data/x\0v") + msg(SET_PERMS, b"data/x\0n1\0b2\0") +
            msg(SET_PERMS, b"data/x\0n2\0") + msg(READ, b"/local/domain/0\0")),
        rec(3, msg(READ, b"/local/domain/1/data/x\0") +
            msg(WRITE, b"/local/domain/1/data/x\0w") +
            msg(WRITE, b"/local/domain/1/new\0w")),
    ],
    "transactions": [
        rec(0, msg(WRITE, b"/t\0a") + msg(TRANSACTION_START, b"\0")),
        rec(0, msg(READ, b"/t\0", tx=1) + msg(WRITE, b"/t/x\0b", tx=1)),
        rec(1, msg(WRITE, b"/t\0changed")),
        rec(0, msg(RM, b"/t\0", tx=1) + msg(TRANSACTION_END, b"T\0", tx=1) +
            msg(TRANSACTION_START, b"\0") + msg(MKDIR, b"/u\0", tx=2) +
            msg(TRANSACTION_END, b"T\0", tx=2) + msg(TRANSACTION_END, b"F\0", tx=7)),
    ],
    "watches": [
        rec(1, msg(WATCH, b"/w\0tok\0") + msg(WATCH, b"@introduceDomain\0i\0") +
            msg(WATCH, b"@releaseDomain\0r\0") + msg(WATCH, b"/w\0tok\0")),
        rec(0, msg(WRITE, b"/w/x\01") + msg(RM, b"/w\0") +
            msg(INTRODUCE, b"5\0" b"1\0" b"2\0") + msg(RELEASE, b"5\0")),
        rec(2, msg(WATCH, b"device\0d\0") + msg(RESET_WATCHES, b"")),
        rec(0, msg(WRITE, b"/local/domain/1/device/vbd\0x"), shutdown=True),
        rec(1, msg(UNWATCH, b"/w\0tok\0") + msg(UNWATCH, b"/w\0tok\0")),
    ],
    "domains": [
        rec(0, msg(GET_DOMAIN_PATH, b"3\0") + msg(IS_DOMAIN_INTRODUCED, b"1\0") +
            msg(SET_TARGET, b"2\0" b"1\0") + msg(RESUME, b"1\0") +
            msg(CONTROL, b"print\0hello\0") + msg(CONTROL, b"quota\0") +
            msg(RELEASE, b"2\0")),
        rec(3, msg(READ, b"x\0")),
        rec(2, msg(INTRODUCE, b"9\0" b"1\0" b"1\0")),
    ],
    "malformed": [
        rec(0, msg(READ, b"") + msg(READ, b"/no-nul") + msg(WRITE, b"nonul") +
            msg(READ, b"/a//b\0") + msg(99, b"x") + msg(DIRECTORY_PART, b"/\0zz\0") +
            msg(SET_PERMS, b"/\0q9\0")),
        rec(2, HDR.pack(READ, 1, 0, 5000)),
        rec(1, HDR.pack(WRITE, 1, 0, 10)[:7]),
        rec(1, HDR.pack(WRITE, 1, 0, 10)[7:] + b"/split\0abc"),
    ],
    "directory-part": [
        rec(0, b"".join(msg(WRITE, b"/d/child-%03d\0" % i) for i in range(150))),
        rec(0, msg(DIRECTORY, b"/d\0") + msg(DIRECTORY_PART, b"/d\0" b"0\0") +
            msg(DIRECTORY_PART, b"/d\0" b"14\0")),
    ],
    "guest-quota": [
        rec(0, msg(MKDIR, b"/local/domain/1\0") +
            msg(SET_PERMS, b"/local/domain/1\0n1\0")),
        rec(2, b"".join(msg(WRITE, b"n%d\0" % i) for i in range(50)) +
            msg(WRITE, b"big\0" + b"x" * 300) +
            b"".join(msg(TRANSACTION_START, b"\0") for _ in range(5)) +
            b"".join(msg(WATCH, b"w%d\0t\0" % i) for i in range(10))),
    ],
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, records in SEEDS.items():
        with open(os.path.join(OUT, "seed-" + name), "wb") as f:
            f.write(b"".join(records))


if __name__ == "__main__":
    main()
