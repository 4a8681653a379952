"""The simulated host's xenstore tree against real Xen's.

The PV test guest of the real-Xen scenarios (one disk, one NIC, one
console: scenario-lib.sh's pv_guest_xml) is started through real libvirtd
and virsh on the simulated host; its tree, captured and normalised as on
real Xen (xstree.py: keys, values and permissions; domid, uuid and the
values that vary from run to run masked), is compared with the golden
file captured on real Xen (data/xstree-realxen-pv.txt, made from the
output of tools/xen-testhost.d/scenario-xstree.sh by xstree.py).  Every
difference must be one that docs/xensim-host.md's table "The tree
against real Xen's" lists, with the same value and permissions on each
side, and every row of that table must still be a difference: the
documentation is the allow-list."""

import re
import subprocess
import textwrap
import time

import pytest

import xstree
import xvtest

DATA = xvtest.TOP / "tests" / "integration" / "data"
GOLDEN = DATA / "xstree-realxen-pv.txt"
DOC = xvtest.TOP / "docs" / "xensim-host.md"
DOC_SECTION = "## The tree against real Xen's"
NAME = "xth-xstree"
# scenario-xstree.sh's MAC.
MAC = "00:16:3e:00:00:13"


def guest_xml(tmp):
    """pv_guest_xml of tools/xen-testhost.d/scenario-lib.sh, with files
    of this test's (the simulated host boots any readable kernel)."""
    kernel = tmp / "vmlinuz"
    kernel.write_text("a kernel the simulated host boots\n")
    initrd = tmp / "domu.cpio"
    initrd.write_text("an initrd\n")
    disk = tmp / "disk1.img"
    with open(disk, "wb") as f:
        f.truncate(64 << 20)
    return textwrap.dedent(f"""\
        <domain type='xen'>
          <name>{NAME}</name>
          <memory unit='MiB'>128</memory>
          <vcpu>1</vcpu>
          <os>
            <type arch='x86_64'>linux</type>
            <kernel>{kernel}</kernel>
            <initrd>{initrd}</initrd>
            <cmdline>console=hvc0 loglevel=3</cmdline>
          </os>
          <on_poweroff>destroy</on_poweroff>
          <on_reboot>restart</on_reboot>
          <on_crash>destroy</on_crash>
          <devices>
            <disk type='file' device='disk'>
              <driver name='phy'/>
              <source file='{disk}'/>
              <target dev='xvda' bus='xen'/>
            </disk>
            <interface type='bridge'>
              <mac address='{MAC}'/>
              <source bridge='xenbr0'/>
            </interface>
            <console type='pty'>
              <target type='xen' port='0'/>
            </console>
          </devices>
        </domain>""")


def documented_differences():
    """{path: (real Xen's `VALUE (PERMS)` or None, the simulated host's or
    None)} from the table in docs/xensim-host.md."""
    text = DOC.read_text()
    assert DOC_SECTION in text, f"{DOC} has no section {DOC_SECTION!r}"
    section = text.split(DOC_SECTION, 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`/"):
            continue

        def node(cell):
            if cell == "absent":
                return None
            m = re.fullmatch(r"`(.+ \([a-zD0-9,]+\))`", cell)
            assert m, f"{cell!r} in {line!r}: neither absent nor a node"
            return m.group(1)
        path = cells[0].strip("`")
        assert path not in rows, f"{path} twice in the table"
        rows[path] = (node(cells[1]), node(cells[2]))
        assert rows[path][0] != rows[path][1], line
    return rows


def differences(real, sim):
    """{path: (real `VALUE (PERMS)` or None, simulated one or None)} where
    the two trees differ."""
    real = dict(xstree.split_line(line) for line in real)
    sim = dict(xstree.split_line(line) for line in sim)
    return {p: (real.get(p), sim.get(p))
            for p in sorted(set(real) | set(sim))
            if real.get(p) != sim.get(p)}


def table_rows(diffs):
    """@diffs as rows of the documentation's table, to paste or compare."""
    def cell(node):
        return f"`{node}`" if node else "absent"
    return "\n".join(f"| `{p}` | {cell(r)} | {cell(s)} | |"
                      for p, (r, s) in diffs.items())


def sim_tree(sock, domid, uuid):
    env = {"XENSTORED_PATH": str(sock), "PATH": "/usr/bin:/bin"}
    nodes = []
    for path in xstree.dumped_paths(domid, uuid):
        res = subprocess.run(["xenstore-ls", "-fp", path], capture_output=True,
                             text=True, env=env, timeout=30)
        nodes += xstree.parse(res.stdout)
    return xstree.normalise(nodes, domid, uuid)


def test_documented_differences_are_well_formed():
    """The table parses, and the golden file is there with its
    provenance."""
    assert documented_differences()
    head = GOLDEN.read_text().splitlines()[:8]
    assert any("Xen 4.17" in line for line in head), head
    assert len(xstree.read_golden(GOLDEN)) > 100


def test_tree_matches_real_xen(daemon, tmp_path):
    f = tmp_path / "g.xml"
    f.write_text(guest_xml(tmp_path))
    assert daemon.virsh("define", str(f)).rc == 0
    try:
        res = daemon.virsh("start", NAME)
        assert res.rc == 0, res
        domid = int(daemon.virsh("domid", NAME).out)
        uuid = daemon.virsh("domuuid", NAME).out.strip()
        sock = daemon.sim_rundir / "xenstored" / "socket"

        def state(path):
            res = subprocess.run(["xenstore-read", path], capture_output=True,
                                 text=True, timeout=30,
                                 env={"XENSTORED_PATH": str(sock)})
            return res.stdout.strip()

        # As scenario-xstree.sh waits: both devices connected, both ends.
        ends = [f"/local/domain/{domid}/device/vbd/51712",
                f"/local/domain/0/backend/vbd/{domid}/51712",
                f"/local/domain/{domid}/device/vif/0",
                f"/local/domain/0/backend/vif/{domid}/0"]
        assert xvtest.wait_for(
            lambda: all(state(e + "/state") == "4" for e in ends)), \
            [state(e + "/state") for e in ends]
        # Then a tree that no longer changes (the guest's last writes).
        tree, deadline = None, time.monotonic() + 10
        while time.monotonic() < deadline:
            now = sim_tree(sock, domid, uuid)
            if now == tree:
                break
            tree = now
            time.sleep(0.5)

        real = xstree.read_golden(GOLDEN)
        found = differences(real, tree)
        documented = documented_differences()
        print(f"real Xen {len(real)} keys, simulated host {len(tree)}")
        undocumented = {p: d for p, d in found.items()
                        if documented.get(p) != d}
        stale = {p: d for p, d in documented.items() if found.get(p) != d}
        assert not undocumented, \
            "differences docs/xensim-host.md does not explain:\n" + \
            table_rows(undocumented)
        assert not stale, \
            "rows of docs/xensim-host.md's table that are no difference " \
            "(as documented):\n" + table_rows(stale)
    finally:
        daemon.virsh("destroy", NAME)
        daemon.virsh("undefine", NAME)


@pytest.mark.parametrize("real,sim,expected", [
    (['/a = "1" (n0)', '/b = * (nD)'], ['/a = "1" (n0)', '/b = * (nD)'], {}),
    (['/a = "1" (n0)'], ['/a = "1" (n0,rD)'],
     {"/a": ('"1" (n0)', '"1" (n0,rD)')}),
    (['/a = "1" (n0)'], ['/a = "0" (n0)'], {"/a": ('"1" (n0)', '"0" (n0)')}),
    (['/a = "1" (n0)'], [], {"/a": ('"1" (n0)', None)}),
    ([], ['/a = * (n0)'], {"/a": (None, "* (n0)")}),
])
def test_differences(real, sim, expected):
    """The comparison itself finds each kind of difference."""
    assert differences(real, sim) == expected


def test_normalise():
    nodes = [("/local/domain/7/device/vbd/51712/state", "4", "n7,r0"),
             ("/local/domain/7/device/vbd/51712/ring-ref", "8", "n7,r0"),
             ("/local/domain/0/backend/vbd/7/51712/frontend-id", "7",
              "n0,r7"),
             ("/local/domain/0/backend/vbd/7/51712/frontend",
              "/local/domain/7/device/vbd/51712", "n0,r7"),
             ("/local/domain/17/name", "x", "n17"),
             ("/local/domain/7/vm", "/vm/abc", "n0,r7"),
             ("/vm/abc/name", "x", "n0,r7"), ("/libxl/7/type", "pv", "n0")]
    assert xstree.normalise(nodes, 7, "abc") == [
        '/libxl/D/type = "pv" (n0)',
        '/local/domain/0/backend/vbd/D/51712/frontend = '
        '"/local/domain/D/device/vbd/51712" (n0,rD)',
        '/local/domain/0/backend/vbd/D/51712/frontend-id = "D" (n0,rD)',
        '/local/domain/17/name = "x" (n17)',
        '/local/domain/D/device/vbd/51712/ring-ref = * (nD,r0)',
        '/local/domain/D/device/vbd/51712/state = "4" (nD,r0)',
        '/local/domain/D/vm = "/vm/UUID" (n0,rD)',
        '/vm/UUID/name = "x" (n0,rD)',
    ]
