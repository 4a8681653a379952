"""Helpers of the real-Xen tests: the harness and running a command in
dom0 (tools/xen-testhost)."""

import os
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HARNESS = os.path.join(TOP, "tools", "xen-testhost")


def harness(*args, timeout=600):
    return subprocess.run([sys.executable, HARNESS] + list(args), capture_output=True,
                          text=True, timeout=timeout)


def run_in_dom0(testhost, script, timeout=300):
    t0 = time.time()
    r = testhost("run", "--timeout", str(timeout), "--", script, timeout=timeout + 60)
    took = time.time() - t0
    print("xen-testhost run took %.1fs; harness says: %s" % (took, r.stderr.strip()))
    return r, took
