"""The Debian package, installed on this machine (issue 22).

Built by dpkg-buildpackage from a clean copy of the tree
(tools/build-deb), installed with `dpkg -i`, loaded by Debian's libvirtd
with its defaults (no LIBVIRT_DRIVER_DIR: the module from libvirt's
connection-driver directory, beside the storage, network and other
drivers) serving plain xen:///system over the simulated host the
installed xensimd runs; then `dpkg -r` and `dpkg -P` remove every file the
package installed.  The daemon runs in a mount namespace of its own
(tools/libvirtd-installed), so nothing it writes under /etc, /run or /var
reaches the machine, and a system libvirtd, if one runs, is not touched.

It installs a package, so it runs as root, only where no xenvirt package
and no libvirt-daemon-driver-xen are installed (it would replace an
administrator's), one run at a time on a machine (a lock), and not in the
sanitizer stage (the package is a release build; that stage checks the
build tree).  XENVIRT_PACKAGE_TEST=0 leaves it out.  About 50 s, most of
it the package build.

The maintainer scripts' restarts are checked against stub init systems
(no daemon here is managed by one)."""

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import xvtest

PACKAGE = "xenvirt"
LOCK = "/run/lock/xenvirt-package-test.lock"


def run(*cmd, check=True, timeout=120, env=None):
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          timeout=timeout, env=env)
    if check:
        assert proc.returncode == 0, f"{cmd}: {proc.stdout}{proc.stderr}"
    return proc


def installed(package):
    proc = run("dpkg-query", "-W", "-f=${db:Status-Status}", package,
               check=False)
    return proc.returncode == 0 and proc.stdout.strip() not in ("", "not-installed")


def installed_version(package):
    return run("dpkg-query", "-W", "-f=${Version}", package).stdout.strip()


def driver_dir():
    """Where Debian's libvirt loads connection drivers, asked as the build
    asks it."""
    libdir = run("pkg-config", "--variable=libdir", "libvirt").stdout.strip()
    return Path(libdir) / "libvirt" / "connection-driver"


def plain_env():
    """The environment of a host's administrator: nothing that points
    libvirt or the driver at the build tree."""
    env = dict(os.environ)
    for var in ("LIBVIRT_DRIVER_DIR", "XENVIRT_ROOT", "XLITE_XENSIMD",
                "XENSTORED_PATH", "LIBVIRT_DEFAULT_URI", "LD_PRELOAD",
                "ASAN_OPTIONS"):
        env.pop(var, None)
    return env


def virsh(uri, *args):
    return xvtest.Result(run("virsh", "-q", "-c", uri, *args, check=False,
                             timeout=60, env=plain_env()))


@pytest.fixture(scope="module")
def machine():
    if os.environ.get("XENVIRT_PACKAGE_TEST") == "0":
        pytest.skip("XENVIRT_PACKAGE_TEST=0")
    if os.environ.get("XENVIRT_OWN_ASAN_OPTIONS"):
        pytest.skip("the package is a release build: the sanitizer stage "
                    "checks the build tree")
    if os.geteuid() != 0:
        pytest.skip("installing a package needs root")
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for other in (PACKAGE, "libvirt-daemon-driver-xen"):
            if installed(other):
                pytest.skip(f"{other} is installed on this machine: the test "
                            "would replace an administrator's installation")
        yield


@pytest.fixture(scope="module")
def built(machine):
    out = Path(tempfile.mkdtemp(prefix="xv-deb-"))
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck")
    proc = run(str(xvtest.TOP / "tools" / "build-deb"), str(out),
               timeout=600, env=env)
    deb = Path(proc.stdout.strip().splitlines()[-1].removeprefix("deb: "))
    yield deb
    shutil.rmtree(out, ignore_errors=True)


def test_package_relations(built):
    """Replaces libvirt's Xen driver package (the same module name), and
    depends on exactly the libvirt it was built against."""
    libvirt = installed_version("libvirt0")
    fields = {f: run("dpkg-deb", "-f", str(built), f).stdout.strip()
              for f in ("Package", "Depends", "Conflicts", "Replaces",
                        "Provides")}
    assert fields["Package"] == PACKAGE
    depends = [d.strip() for d in fields["Depends"].split(",")]
    assert f"libvirt0 (= {libvirt})" in depends, depends
    assert f"libvirt-daemon (= {libvirt})" in depends, depends
    # xensimd's guests do their qdisk I/O with libnbd (shlibs).
    assert any(d.startswith("libnbd0") for d in depends), depends
    assert fields["Conflicts"] == "libvirt-daemon-driver-xen"
    assert fields["Replaces"] == "libvirt-daemon-driver-xen"
    assert fields["Provides"] == f"libvirt-daemon-driver-xen (= {libvirt})"


# Runs the package's maintainer script SCRIPT with ARGS in a mount
# namespace whose /etc and /run are overlays (writes in TMP), with stubs
# on PATH for deb-systemd-invoke and invoke-rc.d that log their
# arguments; with SYSTEMD, /run/systemd/system exists there, else
# /etc/init.d/libvirtd does.  Returns the logged calls.
RESTART_HARNESS = r"""
set -e
tmp=$1 script=$2 systemd=$3; shift 3
for d in etc run; do
    mkdir -p "$tmp/$d" "$tmp/work-$d"
    mount -t overlay "xv-$d" -o "lowerdir=/$d,upperdir=$tmp/$d,workdir=$tmp/work-$d" "/$d"
done
rm -rf /run/systemd/system /etc/init.d/libvirtd /etc/init.d/virtxend
if [ "$systemd" = yes ]; then
    mkdir -p /run/systemd/system
else
    mkdir -p /etc/init.d
    printf '#!/bin/sh\nexit 0\n' >/etc/init.d/libvirtd
    chmod +x /etc/init.d/libvirtd
fi
mkdir -p "$tmp/bin"
for stub in deb-systemd-invoke invoke-rc.d; do
    printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$stub" "$tmp/calls" >"$tmp/bin/$stub"
    chmod +x "$tmp/bin/$stub"
done
PATH="$tmp/bin:$PATH" "$script" "$@"
"""


def restart_calls(built, tmp_path, script, systemd, *args):
    tmp_path.mkdir()
    control = tmp_path / "control"
    run("dpkg-deb", "-e", str(built), str(control))
    tmp = tmp_path / ("systemd" if systemd else "sysv")
    tmp.mkdir()
    run("unshare", "--mount", "--propagation", "private", "sh", "-c",
        RESTART_HARNESS, "sh", str(tmp), str(control / script),
        "yes" if systemd else "no", *args)
    calls = tmp / "calls"
    return calls.read_text().splitlines() if calls.exists() else []


def test_maintainer_scripts_restart_the_daemons(built, tmp_path):
    """The shipped postinst and postrm try-restart libvirtd and virtxend:
    through systemd where it runs, through the init script that exists
    otherwise (invoke-rc.d honours policy-rc.d), and only at configure
    and remove."""
    both = ["deb-systemd-invoke try-restart libvirtd.service",
            "deb-systemd-invoke try-restart virtxend.service"]
    assert restart_calls(built, tmp_path / "a", "postinst", True,
                         "configure", "0.1.0") == both
    assert restart_calls(built, tmp_path / "b", "postinst", False,
                         "configure", "") == ["invoke-rc.d libvirtd try-restart"]
    assert restart_calls(built, tmp_path / "c", "postrm", True,
                         "remove") == both
    assert restart_calls(built, tmp_path / "d", "postrm", True,
                         "upgrade", "0.1.0") == []
    assert restart_calls(built, tmp_path / "e", "postinst", True,
                         "abort-upgrade", "0.1.0") == []


def guest_xml(tmp_path):
    kernel = tmp_path / "vmlinuz"
    kernel.write_text("a kernel the simulated host boots\n")
    return f"""<domain type='xen'>
  <name>pkg1</name>
  <memory unit='MiB'>128</memory>
  <os><type arch='x86_64'>xen</type><kernel>{kernel}</kernel></os>
</domain>"""


def test_install_serve_remove(built, tmp_path):
    ours = ["/etc/libvirt/xenvirt", "/var/lib/libvirt/xenvirt",
            "/run/libvirt/xenvirt", "/var/log/libvirt/xenvirt"]
    before = {p for p in ours if os.path.lexists(p)}
    daemon = Path(tempfile.mkdtemp(prefix="xv-pkgd-"))
    script = str(xvtest.TOP / "tools" / "libvirtd-installed")
    run("dpkg", "-i", str(built), timeout=120)
    try:
        files = [Path(f) for f in
                 run("dpkg", "-L", PACKAGE).stdout.splitlines()]
        files = [f for f in files if not f.is_dir()]
        conffiles = [Path(line.split()[0]) for line in
                     run("dpkg-query", "-W", "-f=${Conffiles}",
                         PACKAGE).stdout.splitlines() if line.strip()]
        expected = [driver_dir() / "libvirt_driver_libxl.so",
                    driver_dir() / "libvirt_driver_xen.so",
                    Path("/usr/sbin/xensimd"), Path("/usr/bin/xensimctl"),
                    Path("/usr/bin/xlite"), Path("/etc/libvirt/xenvirt.conf"),
                    Path("/usr/share/man/man8/xensimd.8.gz"),
                    Path("/usr/share/man/man1/xensimctl.1.gz"),
                    Path("/usr/share/man/man5/xenvirt.conf.5.gz")]
        for f in expected:
            assert f in files and f.exists(), f
        assert conffiles == [Path("/etc/libvirt/xenvirt.conf")]

        # Debian's libvirtd, its defaults, every driver the machine has.
        uri = run(script, "start", str(daemon)).stdout.strip()
        assert uri == f"xen:///system?socket={daemon}/sock/libvirt-sock"
        pid = int((daemon / "libvirtd.pid").read_text())
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert str(driver_dir() / "libvirt_driver_libxl.so") in maps
        for other in ("storage", "network", "nodedev", "secret"):
            assert f"libvirt_driver_{other}.so" in maps, other
        assert str(xvtest.build_dir()) not in maps

        res = virsh(uri, "version")
        assert res.rc == 0 and "Using API: Xen " in res.out, res
        f = tmp_path / "pkg1.xml"
        f.write_text(guest_xml(tmp_path))
        assert virsh(uri, "define", str(f)).rc == 0
        res = virsh(uri, "start", "pkg1")
        assert res.rc == 0, res
        res = virsh(uri, "list", "--name")
        assert res.rc == 0 and res.out.split() == ["pkg1"], res
        # The storage and network drivers answer beside ours.
        assert virsh(uri, "pool-list", "--all").rc == 0
        assert virsh(uri, "net-list", "--all").rc == 0

        # The installed xensimd runs the simulated host, in the system
        # daemon's directory, and the installed xensimctl sees the guest.
        sim = daemon / "run" / "libvirt" / "xenvirt" / "xensim"
        simpid = int((sim / "xensimd.pid").read_text())
        assert os.readlink(f"/proc/{simpid}/exe") == "/usr/sbin/xensimd"
        ctl = run("nsenter", "-t", str(pid), "-m", "/usr/bin/xensimctl",
                  "--rundir", "/run/libvirt/xenvirt/xensim", "list")
        assert "pkg1" in ctl.stdout, ctl.stdout
        # The domain's definition went to the system path, in the
        # daemon's namespace only.
        assert (daemon / "etc" / "libvirt" / "xenvirt" / "pkg1.xml").exists()

        assert virsh(uri, "destroy", "pkg1").rc == 0
        run(script, "stop", str(daemon))

        # dpkg -r removes every file but the conffile; dpkg -P that too.
        run("dpkg", "-r", PACKAGE)
        left = [f for f in files if os.path.lexists(f)]
        assert left == conffiles, left
        run("dpkg", "-P", PACKAGE)
        assert not installed(PACKAGE)
        left = [f for f in files if os.path.lexists(f)]
        assert left == [], left
        assert not Path("/usr/share/doc/xenvirt").exists()
        # Nothing the daemon wrote reached the machine.
        assert {p for p in ours if os.path.lexists(p)} == before
    finally:
        run(script, "stop", str(daemon), check=False)
        if installed(PACKAGE):
            run("dpkg", "-P", PACKAGE, check=False)
        shutil.rmtree(daemon, ignore_errors=True)
