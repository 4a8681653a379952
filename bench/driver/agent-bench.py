#!/usr/bin/python3
"""Guest agent benchmark (never a test): docs/channels.md, "The guest
agent".

Through a private libvirtd (tools/libvirtd-private) on a simulated host,
measured side by side in one run:

1. the agent's cost: CALLS virDomainGetTime (the driver opens the agent's
   channel, syncs, asks, reads, closes: libvirt's RPC, the core's pump,
   the ring and the guest's qemu-ga, twice) against CALLS
   virDomainGetInfo of the same domain (RPC and the hypervisor's answer);
2. responsiveness: CALLS rounds of listAllDomains + info() of a quiet
   guest, alone; while three client threads ask three honest agents in
   a loop; and while three client threads ask, in a loop, agents that
   never answer (channel-sink), flood (channel-flood) and answer with a
   line past the bound (agent-long-reply).  The ratios to the first say
   what agent traffic costs the toolstack's other callers on this
   machine (CPU shared with the clients, the guests and xensimd), the
   hostile against the honest what hostility adds.

Usage: bench/driver/agent-bench.py [--build DIR] [--calls N]
"""

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import libvirt

from benchdaemon import private_daemon

TOP = Path(__file__).resolve().parents[2]
AGENT = "org.qemu.guest_agent.0"


def guest_xml(tmp, name, script):
    kernel = Path(tmp) / f"{name}.kernel"
    kernel.write_text("#!xensim-guest\n" + "".join(f"{l}\n" for l in script))
    return (f"<domain type='xen'><name>{name}</name>"
            f"<memory unit='MiB'>64</memory><os><type arch='x86_64'>xen"
            f"</type><kernel>{kernel}</kernel></os><devices>"
            f"<channel type='pty'><target type='xen' name='{AGENT}'/>"
            f"</channel></devices></domain>")


def mean_time(fn, calls):
    times = []
    for _ in range(calls):
        t0 = time.monotonic()
        fn()
        times.append(time.monotonic() - t0)
    return statistics.mean(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(TOP / "build"))
    ap.add_argument("--calls", type=int, default=300)
    args = ap.parse_args()

    threads = []
    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    with private_daemon(args.build, prefix="xvagb-") as (work, _, uri):
        conn = libvirt.open(uri)
        quiet = conn.defineXML(guest_xml(work, "quiet", []))
        quiet.create()
        deadline = time.monotonic() + 30
        while True:
            try:
                quiet.getTime()
                break
            except libvirt.libvirtError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

        agent = mean_time(quiet.getTime, args.calls)
        info = mean_time(quiet.info, args.calls)
        print(f"one call, mean of {args.calls}:")
        print(f"  virDomainGetTime (the agent)   {agent * 1000:8.3f} ms")
        print(f"  virDomainGetInfo               {info * 1000:8.3f} ms")
        print(f"  ratio                          {agent / info:8.2f}")

        def rounds():
            conn.listAllDomains()
            quiet.info()

        idle = mean_time(rounds, args.calls)
        honest, hostile = [], []
        for i in range(3):
            d = conn.defineXML(guest_xml(work, f"honest{i}", []))
            d.create()
            honest.append(d)
        for name, line in (("sink", f"channel-sink {AGENT}"),
                           ("flood", f"channel-flood {AGENT}"),
                           ("long", "agent-long-reply")):
            d = conn.defineXML(guest_xml(work, name, [line]))
            d.create()
            hostile.append(d)
        time.sleep(2)

        def ask(name, until):
            c = libvirt.open(uri)
            d = c.lookupByName(name)
            while not until.is_set():
                try:
                    d.getTime()
                except libvirt.libvirtError:
                    pass
            c.close()

        def under_load(doms):
            until = threading.Event()
            ths = [threading.Thread(target=ask, args=(d.name(), until),
                                    daemon=True) for d in doms]
            for th in ths:
                th.start()
            threads.extend(ths)
            time.sleep(1)
            res = mean_time(rounds, args.calls)
            until.set()
            for th in ths:
                th.join(timeout=30)
            return res

        busy = under_load(honest)
        loaded = under_load(hostile)
        print(f"listAllDomains + info(), mean of {args.calls}:")
        print(f"  no agent asked                 {idle * 1000:8.3f} ms")
        print(f"  three honest agents asked      {busy * 1000:8.3f} ms")
        print(f"  three hostile agents asked     {loaded * 1000:8.3f} ms")
        print(f"  ratio honest/none              {busy / idle:8.2f}")
        print(f"  ratio hostile/none             {loaded / idle:8.2f}")
        print(f"  ratio hostile/honest           {loaded / busy:8.2f}")
        hostile += honest
        for d in hostile + [quiet]:
            d.destroy()
        for th in threads:
            th.join(timeout=30)
        for d in hostile + [quiet]:
            d.undefine()
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
