#!/usr/bin/python3
"""Channel benchmark (never a test): docs/channels.md.

Through a private libvirtd (tools/libvirtd-private) on a simulated host,
measured side by side in one run:

1. throughput: MIB mebibytes sent through virDomainOpenChannel to a
   simulated guest that echoes (a unix channel: python-libvirt's stream,
   libvirtd's fd stream, the core's pump, the vchan ring, the guest's
   thread, and back), in 4 KiB chunks each waited for, against the same
   client pattern on a raw unix-socket echo in this process: the ratio is
   what the channel's path costs over a socket's;
2. responsiveness: CALLS rounds of listAllDomains + info() of one domain,
   on the host with one quiet guest (the reference), then with an
   adversary guest beside it (one channel flooding, one writing
   impossible ring indexes, one writing garbage into its nodes): the
   ratio of the mean latencies says what the adversary costs the
   toolstack (issue 23 asks for at most 2x).

Usage: bench/driver/channel-bench.py [--build DIR] [--mib N] [--calls N]
"""

import argparse
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import libvirt

from benchdaemon import private_daemon

TOP = Path(__file__).resolve().parents[2]


def guest_xml(tmp, name, script, channels):
    kernel = Path(tmp) / f"{name}.kernel"
    kernel.write_text("#!xensim-guest\n" + "".join(f"{l}\n" for l in script))
    devs = ""
    for kind, target, path in channels:
        src = f"<source mode='bind' path='{path}'/>" if path else ""
        devs += (f"<channel type='{kind}'>{src}<target type='xen' "
                 f"name='{target}'/></channel>")
    return (f"<domain type='xen'><name>{name}</name>"
            f"<memory unit='MiB'>64</memory><os><type arch='x86_64'>xen"
            f"</type><kernel>{kernel}</kernel></os><devices>{devs}"
            f"</devices></domain>")


def echo_through(send, recv, total):
    """Sends total bytes in 4 KiB chunks, reading each echo back."""
    chunk = os.urandom(4096)
    sent = got = 0
    t0 = time.monotonic()
    while sent < total:
        sent += send(chunk)
        while got < sent:
            b = recv(65536)
            if not b:
                raise RuntimeError("end of file")
            got += len(b)
    return time.monotonic() - t0


def raw_socket_echo(path, total):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)

    def serve():
        c, _ = srv.accept()
        while True:
            b = c.recv(65536)
            if not b:
                break
            c.sendall(b)
        c.close()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    cl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    cl.connect(path)
    secs = echo_through(lambda d: cl.send(d), cl.recv, total)
    cl.close()
    th.join()
    srv.close()
    return secs


def latency(conn, name, calls):
    times = []
    for _ in range(calls):
        t0 = time.monotonic()
        conn.listAllDomains()
        conn.lookupByName(name).info()
        times.append(time.monotonic() - t0)
    return statistics.mean(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(TOP / "build"))
    ap.add_argument("--mib", type=int, default=8)
    ap.add_argument("--calls", type=int, default=300)
    args = ap.parse_args()

    with private_daemon(args.build, prefix="xvchb-") as (work, _, uri):
        conn = libvirt.open(uri)
        sock = work / "echo.sock"
        quiet = conn.defineXML(guest_xml(work, "quiet", ["channel-echo e"],
                                         [("unix", "e", str(sock))]))
        quiet.create()
        total = args.mib << 20

        st = conn.newStream(0)
        quiet.openChannel("e", st, 0)
        chan_s = echo_through(st.send, st.recv, total)
        st.finish()
        raw_s = raw_socket_echo(str(work / "raw.sock"), total)
        print(f"throughput, {args.mib} MiB echoed in 4 KiB chunks:")
        print(f"  channel (libvirt stream, vchan, guest)  "
              f"{args.mib / chan_s:8.2f} MiB/s")
        print(f"  raw unix-socket echo                    "
              f"{args.mib / raw_s:8.2f} MiB/s")
        print(f"  ratio raw/channel                       "
              f"{chan_s / raw_s:8.2f}")

        idle = latency(conn, "quiet", args.calls)
        adv = conn.defineXML(guest_xml(
            work, "adversary",
            ["channel-flood f", "channel-corrupt c", "channel-garbage g"],
            [("pty", "f", None), ("pty", "c", None), ("pty", "g", None)]))
        adv.create()
        time.sleep(1)
        loaded = latency(conn, "quiet", args.calls)
        print(f"listAllDomains + info(), mean of {args.calls}:")
        print(f"  one quiet guest            {idle * 1000:8.3f} ms")
        print(f"  with an adversary guest    {loaded * 1000:8.3f} ms")
        print(f"  ratio                      {loaded / idle:8.2f}")
        adv.destroy()
        quiet.destroy()
        adv.undefine()
        quiet.undefine()
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
