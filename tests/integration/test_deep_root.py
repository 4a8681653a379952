"""An embedded root of any depth works (issue 22).

A unix socket's name holds at most 107 bytes, and the simulated host keeps
its sockets below its directory, by default below the root.  Below a deep
root the driver moves that directory to a short one of its own under the
runtime directory, named by a hash of the root, and links the usual place
to it."""

import os
import shutil
import subprocess

import pytest

import xvtest
from test_lifecycle import guest_xml


@pytest.fixture
def deep_embed(build_dir, short_dir):
    root = short_dir / "deep"
    root = root / ("r" * (200 - len(str(root)) - 1))
    assert len(str(root)) == 200
    root.mkdir(parents=True)
    host = xvtest.EmbeddedHost(root)
    yield host
    link = root / "run" / "xenvirt" / "xensim"
    target = link.resolve() if link.is_symlink() else None
    xvtest.stop_simulated_hosts(short_dir)
    if target is not None:
        shutil.rmtree(target, ignore_errors=True)


def test_root_of_200_characters(deep_embed, tmp_path):
    host = deep_embed
    f = tmp_path / "g1.xml"
    f.write_text(guest_xml(tmp_path))
    res = host.virsh("define", str(f))
    assert res.rc == 0, res
    # A running guest: its xenstore endpoint is the host's deepest socket.
    res = host.virsh("start", "g1")
    assert res.rc == 0, res
    res = host.virsh("list", "--name")
    assert res.rc == 0 and res.out.split() == ["g1"], res

    # The host runs in a short directory, named by a hash of the root, and
    # the usual place links to it.
    link = host.root / "run" / "xenvirt" / "xensim"
    assert link.is_symlink()
    target = link.resolve()
    assert target.parent.name == "xenvirt-sim"
    assert len(str(target / "xenstored/domain/32767.sock")) < 108
    assert (target / "hypervisor.sock").exists()
    assert not any(host.root.rglob("*.sock"))

    # xensimctl finds it by the usual place.
    ctl = subprocess.run(
        [str(xvtest.build_dir() / "tools" / "xensimctl"), "--rundir",
         str(link), "list"], capture_output=True, text=True, timeout=30,
        env=xvtest.driver_env())
    assert ctl.returncode == 0, ctl.stderr
    assert "g1" in ctl.stdout

    # The next client, a new process, finds the same host and guest.
    res = host.virsh("domstate", "g1")
    assert res.rc == 0 and res.out.strip() == "running", res
    assert host.virsh("destroy", "g1").rc == 0


def test_two_deep_roots_have_two_hosts(build_dir, short_dir):
    roots = []
    for tag in ("a", "b"):
        root = short_dir / tag
        root = root / ("r" * (200 - len(str(root)) - 1))
        root.mkdir(parents=True)
        roots.append(xvtest.EmbeddedHost(root))
    try:
        for host in roots:
            assert host.virsh("list", "--all").rc == 0
        targets = [(h.root / "run/xenvirt/xensim").resolve() for h in roots]
        assert targets[0] != targets[1]
        pids = {(t / "xensimd.pid").read_text().strip() for t in targets}
        assert len(pids) == 2
    finally:
        targets = [(h.root / "run/xenvirt/xensim") for h in roots]
        targets = [os.path.realpath(t) for t in targets if t.is_symlink()]
        xvtest.stop_simulated_hosts(short_dir)
        for t in targets:
            shutil.rmtree(t, ignore_errors=True)
