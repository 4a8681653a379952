"""A guest's xenstore tree as keys, values and permissions, the same on
any host.

`xenstore-ls -fp` of the paths a guest's start writes (its home, its
backends, its /vm, the core's own) is turned into lines
`PATH = "VALUE" (PERMS)`: the domid and uuid in paths, values and
permissions become `D` and `UUID`, and values that vary from run to run
(grant and event-channel numbers, ptys, times, file paths) are masked as
`*`, so that a tree from real Xen and one from the simulated host compare
line by line.

Run as a program, it makes the golden file from the output of
tools/xen-testhost.d/scenario-xstree.sh on real Xen:

    /usr/bin/python3 tests/integration/xstree.py golden CAPTURE.log \\
        > tests/integration/data/xstree-realxen-pv.txt
"""

import re
import sys

# `xenstore-ls -fp`: PATH = "VALUE"   (PERMS)
LS_LINE = re.compile(r'^(/\S*) = "(.*)"\s+\(([a-z0-9,]+)\)$')


def parse(text):
    """[(path, value, perms)] of `xenstore-ls -fp` output (lines may end
    in CR LF, as a serial console's do)."""
    nodes = []
    for line in text.splitlines():
        m = LS_LINE.match(line.rstrip("\r"))
        if m:
            nodes.append(m.groups())
    return nodes


def dumped_paths(domid, uuid):
    """The paths scenario-xstree.sh dumps, and test_xstree.py too."""
    paths = [f"/local/domain/{domid}"]
    paths += [f"/local/domain/0/backend/{k}/{domid}"
              for k in ("vbd", "vif", "console", "qdisk", "vkbd", "vfb")]
    paths += [f"/vm/{uuid}", f"/libxl/{domid}", "/libxlite"]
    return paths


# Values that differ from run to run or host to host: grant references,
# event channels, ptys, times, file paths, the host's loop devices and its
# file system's block.  Every other value is compared.
MASKED = re.compile(r"/(ring-ref|tx-ring-ref|rx-ring-ref|event-channel"
                    r"|event-channel-tx|event-channel-rx|port|tty|start_time"
                    r"|kernel|params|node|physical-device|physical-device-path"
                    r"|discard-granularity)$")


def normalise(nodes, domid, uuid):
    """The sorted lines `PATH = "VALUE" (PERMS)` of @nodes, with @domid and
    @uuid replaced by D and UUID in paths, path-like values and
    permissions, the domid's own values (domid, frontend-id, the core's
    name index) as D, and the
    values MASKED matches as *."""
    domid = str(domid)
    path_subs = [
        (re.compile(rf"^/local/domain/{domid}(?=/|$)"), "/local/domain/D"),
        (re.compile(rf"^(/local/domain/0/backend/[a-z0-9]+)/{domid}(?=/|$)"),
         r"\1/D"),
        (re.compile(rf"^/vm/{re.escape(uuid)}(?=/|$)"), "/vm/UUID"),
        (re.compile(rf"^/libxl/{domid}(?=/|$)"), "/libxl/D"),
    ]

    def subs(path):
        for rx, repl in path_subs:
            path = rx.sub(repl, path)
        return path
    lines = set()
    for path, value, perms in nodes:
        path = subs(path)
        if MASKED.search(path):
            value = "*"
        else:
            if value == domid and (path.endswith(("/domid", "/frontend-id"))
                                   or path.startswith("/libxlite/names/")):
                value = "D"
            value = subs(value).replace(uuid, "UUID")
            value = f'"{value}"'
        perms = ",".join(p[0] + ("D" if p[1:] == domid else p[1:])
                         for p in perms.split(","))
        lines.add(f"{path} = {value} ({perms})")
    return sorted(lines)


def split_line(line):
    """(path, 'VALUE (PERMS)') of a normalised line."""
    path, rest = line.split(" = ", 1)
    return path, rest


def capture_sections(log):
    """{path: text} of the XSTREE-BEGIN/END sections of a scenario's
    output, and its XSTREE-INFO fields."""
    sections, info, cur = {}, {}, None
    for line in log.splitlines():
        line = line.rstrip("\r")
        if line.startswith("XSTREE-INFO "):
            info = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
        elif line.startswith("XSTREE-BEGIN "):
            cur = line.split(" ", 1)[1]
            sections[cur] = []
        elif line.startswith("XSTREE-END "):
            cur = None
        elif cur is not None:
            sections[cur].append(line)
    return {k: "\n".join(v) for k, v in sections.items()}, info


def read_golden(path):
    """The lines of a golden file, without its comments."""
    with open(path) as f:
        return [line.rstrip("\n") for line in f
                if line.strip() and not line.startswith("#")]


def capture_tree(log):
    """(normalised lines, XSTREE-INFO fields, the "other" lines) of a
    scenario-xstree.sh output."""
    sections, info = capture_sections(log)
    nodes = []
    for name, text in sections.items():
        if name != "other":
            nodes += parse(text)
    other = [line for line in sections.get("other", "").splitlines()
             if line.strip()]
    return normalise(nodes, info["domid"], info["uuid"]), info, other


def golden(log_path):
    with open(log_path, errors="replace") as f:
        tree, info, other = capture_tree(f.read())
    print("# The xenstore tree of the PV test guest (pv_guest_xml: one disk,")
    print("# one NIC, one console) started through the plugin on real Xen,")
    print("# as tests/integration/xstree.py normalises it (keys, values and")
    print("# permissions; domid D, uuid UUID, varying values *).  Captured with")
    print("# tools/xen-testhost.d/scenario-xstree.sh under tools/xen-testhost:")
    print(f"# Xen {info.get('xen', '?')}, Debian 12 dom0 kernel "
          f"{info.get('dom0-kernel', '?')}, {info.get('date', '?')}"
          f" (domid {info['domid']}).")
    if other:
        print("# Other nodes naming the domain (not compared):")
        for line in other:
            print(f"#   {line}")
    for line in tree:
        print(line)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "golden":
        sys.exit(__doc__)
    golden(sys.argv[2])
