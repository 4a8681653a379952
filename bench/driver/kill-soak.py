#!/usr/bin/python3
"""The kill soak of tests/integration/test_kill_soak.py at full length,
printing its figures: 100 rounds (by default) of a random mix of define,
start, shutdown and destroy on 10 domains through a private libvirtd,
libvirtd killed -9 at a random moment of each round and started again,
with every invariant checked after each restart (the host's domains are
libvirt's running ones, no definition lost, no start mark, status file,
stored config, xenstore home, backend or vm path of a gone domain, no child
of the dead daemon alive).  Then the same with xensimd killed and started
again instead (--host-rounds, 20 by default).

Usage: bench/driver/kill-soak.py [--build DIR] [--rounds N]
                                 [--host-rounds N] [--seed N]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(TOP / "build"))
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--host-rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1218)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    os.environ["XENVIRT_BUILD_DIR"] = str(Path(args.build).resolve())
    sys.path.insert(0, str(TOP / "tests" / "integration"))
    import test_kill_soak as soak
    import xvtest

    log = print if args.verbose else (lambda s: None)
    failed = False
    for name, fn, rounds in (("libvirtd", soak.kill_soak, args.rounds),
                             ("xensimd", soak.host_kill_soak,
                              args.host_rounds)):
        if rounds <= 0:
            continue
        work = Path(tempfile.mkdtemp(prefix="xvk-"))
        daemon = xvtest.PrivateDaemon(work)
        daemon.start()
        t = time.monotonic()
        try:
            res = fn(daemon, work, rounds, args.seed, log=log)
        finally:
            took = time.monotonic() - t
            daemon.stop()
            xvtest.stop_simulated_hosts(work)
        print(f"== {name} killed -9: {rounds} rounds in {took:.0f} s")
        if "calls" in res:
            running = res["running"]
            print(f"client calls returned before the kills: {res['calls']}; "
                  f"domains running after a restart: min {min(running)}, "
                  f"mean {sum(running) / len(running):.1f}, "
                  f"max {max(running)}")
            print(f"children of dead daemons left alive: {res['orphans']}")
            print(f"longest restart until every invariant held: "
                  f"{res['settle_max']:.1f} s")
        else:
            print(f"longest wait until libvirt saw the new, empty host: "
                  f"{res['settle_max']:.1f} s")
            print("what calls said while the host was away:")
            for msg, n in sorted(res["errors"].items()):
                print(f"  {n:4d}  {msg}")
        print(f"rounds with a problem: "
              f"{len({p[0] for p in res['problems']})}")
        for p in res["problems"]:
            print(f"  {p}")
        if res["problems"]:
            failed = True
            keep = Path(tempfile.mkdtemp(prefix="xvk-logs-"))
            shutil.copy(work / "libvirtd.log", keep)
            print(f"libvirtd's log kept in {keep}")
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
