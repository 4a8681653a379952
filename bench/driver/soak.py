#!/usr/bin/python3
"""The many-client soak of tests/integration/test_soak.py, for longer (10
minutes by default), printing its figures instead of asserting them: 16
python-libvirt clients doing random operations on 20 simulated domains
through a private libvirtd, the call latency (max, p99, p50), the problems
the watchdog and the final checks found, and libvirtd's resident memory, fds
and threads before (after a warm-up, nothing connected or defined) and after.

Usage: bench/driver/soak.py [--build DIR] [--seconds S] [--seed N]
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(TOP / "build"))
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--seed", type=int, default=1809)
    args = ap.parse_args()

    os.environ["XENVIRT_BUILD_DIR"] = str(Path(args.build).resolve())
    sys.path.insert(0, str(TOP / "tests" / "integration"))
    import test_soak as soak
    import xvtest

    work = Path(tempfile.mkdtemp(prefix="xvs-"))
    daemon = xvtest.PrivateDaemon(work)
    daemon.start()
    try:
        pid = daemon.pid
        warm = soak.run_clients(daemon, work, 5, args.seed + 1)
        before = soak.settled(pid)
        res = soak.run_clients(daemon, work, args.seconds, args.seed)
        after = soak.settled(pid)
        grown = after["rss_kib"] - before["rss_kib"]
        print(f"{soak.CLIENTS} clients, {soak.DOMAINS} domains, "
              f"{res['seconds']} s: {res['calls']} calls "
              f"({res['calls_per_s']}/s), {res['events']} lifecycle events "
              f"seen by each client")
        print(f"latency: max {res['max_s']} s ({res['slowest_op']}), "
              f"p99 {res['p99_s']} s, p50 {res['p50_s']} s "
              f"(bound {soak.CALL_BOUND:.0f} s)")
        print(f"per op [calls, max s]: {res['per_op']}")
        print(f"refused calls by error code: {res['errors']}")
        print(f"libvirtd rss {before['rss_kib']} -> {after['rss_kib']} KiB "
              f"({grown:+d} KiB, {grown * 1024 / max(1, res['calls']):.0f} "
              f"bytes per call), fds {before['fds']} -> {after['fds']}, "
              f"threads {before['threads']} -> {after['threads']}")
        problems = warm["problems"] + res["problems"]
        print(f"problems: {len(problems)}")
        for p in problems:
            print(f"  {p}")
        if problems:
            keep = Path(tempfile.mkdtemp(prefix="xvs-logs-"))
            shutil.copy(work / "libvirtd.log", keep)
            for log in work.rglob("xensimd.log"):
                shutil.copy(log, keep)
            print(f"logs kept in {keep}")
        return 1 if problems else 0
    finally:
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
