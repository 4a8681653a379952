"""Real Xen: libxlite's xen backend and the Xenvirt driver, on Xen 4.17
booted under QEMU by tools/xen-testhost, with a real Linux PV guest.

Each test runs one scenario script in dom0 (tools/xen-testhost.d/
scenario-*.sh, which say what they do), in a boot of its own or, for
those of SHARED_BOOT, in one boot they share; the script prints one
"CHECK <name> ok|FAIL" line per check.  The test fails on any FAIL, on a
missing check (a scenario that stopped early), or on a non-zero exit.  A
scenario takes 2 to 5 minutes on 2 cores (everything is emulated).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import types

import pytest

from realxen import TOP, run_in_dom0

sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import xstree  # noqa: E402

BUILD = os.path.realpath(os.environ.get("XENVIRT_BUILD_DIR", os.path.join(TOP, "build")))


def checks_of(out):
    return dict(re.findall(r"^CHECK (\S+) (ok|FAIL)$", out, re.M))


def run_scenario(testhost, name, timeout=900, args=(), build=True):
    if build and not os.path.exists(os.path.join(BUILD, "tools", "xlite")):
        pytest.fail("no build in %s (tools/run build)" % BUILD)
    if name in SHARED_BOOT:
        r = shared_boot(testhost)[name]
    else:
        script = "BUILD_DIR='%s' sh tools/xen-testhost.d/%s" % (BUILD, name)
        script += "".join(" '%s'" % a for a in args)
        r, took = run_in_dom0(testhost, script, timeout=timeout)
    print(r.stdout[-6000:])
    return r, checks_of(r.stdout)


# These scenarios share one boot (scenario-set.sh): a boot of the test
# host costs about a minute.  The package comes last (it installs the
# package and libvirt's daemon setup into dom0, which nothing after it
# should see).  Hotplug has a boot of its own (it is the one that corrupts
# dom0: docs/xen-testhost.md).
SHARED_BOOT = ("scenario-xlite.sh", "scenario-xstree.sh", "scenario-virsh.sh",
               "scenario-package.sh")
_shared = {}


def build_deb(out):
    """The Debian package, built here by tools/build-deb into @out (under
    /tmp, which dom0 reads through the 9p share); its path."""
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck")
    proc = subprocess.run([os.path.join(TOP, "tools", "build-deb"), out],
                          capture_output=True, text=True, timeout=900,
                          env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    os.chmod(out, 0o755)
    return proc.stdout.strip().splitlines()[-1].removeprefix("deb: ")


def shared_boot(testhost):
    """Each scenario of SHARED_BOOT's part of the one boot that runs them
    all (made by the first test that asks), as a result of its own."""
    if not _shared:
        names = [n.removeprefix("scenario-").removesuffix(".sh")
                 for n in SHARED_BOOT]
        out = tempfile.mkdtemp(prefix="xv-deb-", dir="/tmp")
        try:
            try:
                deb = build_deb(out)
            except AssertionError as e:
                # The package's test fails with the build's output; the
                # other scenarios run without it.
                _shared["scenario-package.sh"] = types.SimpleNamespace(
                    stdout="tools/build-deb failed:\n%s" % e, stderr="",
                    returncode=1)
                deb = ""
                names.remove("package")
            script = ("BUILD_DIR='%s' PACKAGE_DEB='%s' "
                      "sh tools/xen-testhost.d/scenario-set.sh %s" % (
                          BUILD, deb, " ".join(names)))
            r, took = run_in_dom0(testhost, script, timeout=2100)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        for name in names:
            file = "scenario-%s.sh" % name
            m = re.search(r"^=== SCENARIO-BEGIN %s$(.*?)"
                          r"^=== SCENARIO-END %s rc=(\d+)$" % (name, name),
                          r.stdout, re.M | re.S)
            # A scenario that never ended (the boot's timeout, a crash of
            # the harness) has what it printed, and the boot's status.
            part = (m.group(1) if m else
                    r.stdout[r.stdout.find("=== SCENARIO-BEGIN %s" % name):]
                    if "=== SCENARIO-BEGIN %s" % name in r.stdout else "")
            rc = int(m.group(2)) if m else (r.returncode or 1)
            _shared[file] = types.SimpleNamespace(
                stdout=part, stderr=r.stderr, returncode=rc)
    return _shared


def assert_all(r, checks, expected):
    # The test host's own failure (docs/xen-testhost.md, "Hotplug corrupts
    # dom0"): processes of dom0 crash that are not under test, the same
    # with xl alone.  Such a run says nothing of the driver: it is skipped,
    # with what the scenario saw, never passed.
    faults = re.findall(r"^ENVIRONMENT FAULT: (.*)$", r.stdout, re.M)
    if faults:
        pytest.skip("the test host failed under the scenario: %s"
                    % "; ".join(sorted(set(faults))))
    failed = sorted(k for k, v in checks.items() if v != "ok")
    missing = sorted(set(expected) - set(checks))
    assert not failed, ("failed checks", failed, r.stdout[-4000:])
    assert not missing, ("checks that never ran", missing, r.stdout[-4000:])
    assert "SCENARIO OK" in r.stdout
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])


GONE = ["gone-hypervisor", "gone-home", "gone-vm", "gone-backend-vbd",
        "gone-backend-vif", "gone-backend-console", "gone-stored-config"]
NOTHING_LEFT = ["no-loop-device", "no-vif", "no-bridge-port", "no-backend"]


def test_xlite_cli_on_real_xen(testhost):
    r, checks = run_scenario(testhost, "scenario-xlite.sh")
    assert_all(r, checks, [
        "create", "xth-one-marker", "xth-one-xenstore-write", "xth-one-ticks",
        "console-pty-read", "disk-connected", "disk-physical-device",
        "nic-connected", "nic-on-bridge", "config-name", "config-disk",
        "config-nic", "info-sched", "shutdown", "shutdown-event", "death-event",
        "guest-powered-off", "create-second", "destroy",
        "destroy-death-event",
    ] + ["xth-one-" + g for g in GONE] + ["xth-two-" + g for g in GONE]
      + ["xth-two-" + g for g in NOTHING_LEFT])
    # The death events name the guests' domids.
    assert re.search(r"^event death 1$", r.stdout, re.M), r.stdout[-3000:]
    assert re.search(r"^event death 2$", r.stdout, re.M), r.stdout[-3000:]


def test_virsh_on_real_xen(testhost):
    r, checks = run_scenario(testhost, "scenario-virsh.sh")
    assert_all(r, checks, [
        "xen-backend", "define", "start", "xth-virsh-marker",
        "xth-virsh-xenstore-write", "disk-connected", "nic-connected",
        "nic-on-bridge", "dumpxml-id", "dumpxml-console-pty", "dumpxml-disk",
        "dumpxml-nic-bridge", "dumpxml-nic-mac", "schedinfo-weight",
        "schedinfo-set", "schedinfo-read-back", "schedinfo-credit2", "console-stream", "shutdown",
        "shut-off", "guest-powered-off", "restart", "list-during-start",
        "xth-virsh-2-marker", "destroy", "xth-xl-marker",
        "destroy-within-2x-xl", "undefine",
        "event-defined", "event-started", "event-stopped-shutdown",
        "event-stopped-destroyed", "event-undefined",
    ] + ["xth-virsh-shutdown-" + g for g in GONE]
      + ["xth-virsh-destroy-" + g for g in GONE]
      + ["xth-virsh-destroy-" + g for g in NOTHING_LEFT])


@pytest.mark.xfail(strict=False, reason=(
    "the test host corrupts dom0's memory under hotplug, whatever the "
    "toolstack (docs/xen-testhost.md, 'Hotplug corrupts dom0'); a crash "
    "of libvirtd alone there cannot be told from a bug of ours, although "
    "the sanitizer build found none; the run's output keeps the "
    "backtraces"))
def test_hotplug_on_real_xen(testhost):
    """A disk and a NIC attached to the running Linux guest and detached
    again through virsh: the guest sees them come and go, DEVICE_ADDED and
    DEVICE_REMOVED arrive, nothing is left (scenario-hotplug.sh)."""
    r, checks = run_scenario(testhost, "scenario-hotplug.sh")
    assert_all(r, checks, [
        "define", "start", "xth-hp-marker", "xth-hp-xenstore-write",
        "hotplug-rounds", "daemon-alive", "events-one-per-change", "destroy",
        "undefine",
    ] + ["xth-hp-" + g for g in GONE] + ["xth-hp-" + g for g in NOTHING_LEFT])


def test_package_on_real_xen(testhost):
    """The Debian package, built here by tools/build-deb, installed into
    dom0 with dpkg -i and loaded by Debian's libvirtd with its defaults,
    serving plain xen:///system (docs/packaging.md, "On a real dom0")."""
    # Built and run in the shared boot (shared_boot), last.
    r, checks = run_scenario(testhost, "scenario-package.sh", build=False)
    assert_all(r, checks, [
        "dpkg-install", "module-installed", "libvirtd-start", "module-mapped",
        "no-build-tree", "storage-driver-mapped", "network-driver-mapped",
        "version-api", "version-hypervisor", "pool-list", "net-list",
        "define", "defined-system-path", "start", "running",
        "xth-pkg-marker", "xth-pkg-xenstore-write", "xth-pkg-ticks",
        "disk-connected", "disk-physical-device", "nic-connected",
        "nic-on-bridge", "destroy", "shut-off", "undefine", "undefined",
    ] + ["xth-pkg-" + g for g in GONE] + ["xth-pkg-" + g for g in NOTHING_LEFT])


def test_xstree_on_real_xen(testhost):
    """The PV test guest's xenstore tree on real Xen is still the golden
    file the simulated host's is compared with (tests/integration/
    test_xstree.py): a change of Xen, of dom0's or the guest's kernel, or
    of what the core writes shows here, and the golden file is made again
    from this output (`tests/integration/xstree.py golden`)."""
    r, checks = run_scenario(testhost, "scenario-xstree.sh")
    assert_all(r, checks, [
        "define", "start", "xth-xstree-marker", "xth-xstree-xenstore-write",
        "xth-xstree-ticks", "disk-connected", "disk-physical-device",
        "nic-connected", "nic-on-bridge", "destroy", "undefine",
    ])
    tree, _info, other = xstree.capture_tree(r.stdout)
    golden = xstree.read_golden(os.path.join(
        TOP, "tests", "integration", "data", "xstree-realxen-pv.txt"))
    assert tree == golden
    assert other == []
