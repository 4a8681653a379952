#!/usr/bin/python3
"""Save and restore benchmark (never a test)

Through a private libvirtd on a simulated host, a running PV guest of
--mib MiB (256) is saved (virDomainSave) and restored (virDomainRestore)
--rounds times (5); alternating with each round, in the same run, the
reference writes the same number of bytes to a file in the same directory
(fsync'ed) and reads them back, which is what a save and restore of that
guest's memory costs at the least on this disk.

Printed: the median save, restore and save+restore times, the image's
size, the reference's write+read time, and the ratio (save+restore over
the reference).  The simulated host keeps no guest memory pages: its
guest state is a few KiB (docs/xensim-hypervisor-protocol.md, "Save and
restore"), so the figure is what the toolstack's path (the guest's
suspend, the image, the destroy, then a create handed the state and its
devices' handshakes) costs beside the memory copy a real save would add
to it, not a real save of 256 MiB.  Everything it started is torn down
at the end.

Usage: bench/driver/save-bench.py [--build DIR] [--mib N] [--rounds R]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from benchdaemon import private_daemon

TOP = Path(__file__).resolve().parents[2]


def guest_xml(kernel, disk, mib):
    return f"""<domain type='xen'><name>saved</name>
  <memory unit='MiB'>{mib}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>xen</type><kernel>{kernel}</kernel></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='phy'/><source file='{disk}'/><target dev='xvda' bus='xen'/>
    </disk>
  </devices>
</domain>"""


def copy_reference(path, nbytes):
    """Seconds to write @nbytes to @path (fsync'ed) and read them back."""
    chunk = bytes(4 << 20)
    t0 = time.monotonic()
    with open(path, "wb") as f:
        left = nbytes
        while left > 0:
            left -= f.write(chunk[:min(left, len(chunk))])
        f.flush()
        os.fsync(f.fileno())
    with open(path, "rb") as f:
        while f.read(4 << 20):
            pass
    elapsed = time.monotonic() - t0
    os.unlink(path)
    return elapsed


def run(libvirt, work, daemon, uri, args):
    kernel = work / "vmlinuz"
    kernel.write_text("#!xensim-guest\nticker\n")
    disk = work / "disk.img"
    disk.write_bytes(bytes(1 << 20))
    conn = libvirt.open(uri)
    dom = conn.defineXML(guest_xml(kernel, disk, args.mib))
    dom.create()
    time.sleep(1)

    image = work / "saved.img"
    saves, restores, refs = [], [], []
    for _ in range(args.rounds):
        t0 = time.monotonic()
        dom.save(str(image))
        t1 = time.monotonic()
        conn.restore(str(image))
        t2 = time.monotonic()
        saves.append(t1 - t0)
        restores.append(t2 - t1)
        refs.append(copy_reference(work / "reference.bin", args.mib << 20))
    size = image.stat().st_size
    dom = conn.lookupByName("saved")
    dom.destroy()

    save, restore = statistics.median(saves), statistics.median(restores)
    ref = statistics.median(refs)
    both = statistics.median(s + r for s, r in zip(saves, restores))
    print(f"guest: {args.mib} MiB, {args.rounds} rounds (medians)")
    print(f"  save            {save * 1000:8.1f} ms")
    print(f"  restore         {restore * 1000:8.1f} ms")
    print(f"  save+restore    {both * 1000:8.1f} ms   image {size} bytes")
    print(f"  reference: write+read {args.mib} MiB  {ref * 1000:8.1f} ms")
    print(f"  ratio save+restore / reference: {both / ref:.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(TOP / "build"))
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    build = Path(args.build).resolve()
    os.environ["LIBVIRT_DRIVER_DIR"] = str(build / "src" / "libxl")
    os.environ["XLITE_XENSIMD"] = str(build / "src" / "xensim" / "xensimd")
    import libvirt
    libvirt.registerErrorHandler(lambda *a: None, None)

    with private_daemon(build, tmp="/var/tmp") as (work, daemon, uri):
        run(libvirt, work, daemon, uri, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
