"""The private libvirtd the driver benchmarks run against.

`private_daemon(build)` starts Debian's libvirtd with the plugin of
@build (tools/libvirtd-private) in a fresh directory and yields
(work, daemon directory, URI); at the end it stops the daemon and every
simulated host under the directory, then removes it.
"""

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
SCRIPT = TOP / "tools" / "libvirtd-private"


def pid_of(pidfile):
    try:
        return int(Path(pidfile).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def stop_simulated_hosts(under):
    """SIGTERM to every xensimd whose pid file is under @under, and wait
    (at most 10 s each) for it to go."""
    for pidfile in Path(under).rglob("xensimd.pid"):
        pid = pid_of(pidfile)
        if not pid:
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.1)


def uri_of(daemon):
    return f"xen:///system?socket={daemon}/sock/libvirt-sock"


@contextlib.contextmanager
def private_daemon(build, prefix="xvb-", tmp=None):
    build = Path(build).resolve()
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=tmp))
    daemon = work / "d"
    env = dict(os.environ, LIBVIRT_DRIVER_DIR=str(build / "src" / "libxl"))
    try:
        subprocess.run([str(SCRIPT), "start", str(daemon), str(build)],
                       check=True, capture_output=True, env=env, timeout=60)
        yield work, daemon, uri_of(daemon)
    finally:
        subprocess.run([str(SCRIPT), "stop", str(daemon)],
                       capture_output=True, timeout=60)
        stop_simulated_hosts(work)
        shutil.rmtree(work, ignore_errors=True)
