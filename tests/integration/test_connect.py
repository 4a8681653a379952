"""The plugin loads, in embedded mode and in Debian's libvirtd, and answers
the connection- and host-level APIs (issue: the plugin loads)."""

import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

import xvtest


def check_version(res):
    assert res.rc == 0, res
    assert "Using API: Xen " in res.out
    assert "Running hypervisor: Xen 4.17." in res.out


# The guest table of libvirt's Xen driver for Xen 4.17 on x86_64 with
# hardware virtualization (libxlCapsInitGuests: one guest per ABI of
# Xen's capabilities string, a PVH one after each HVM one), in its order:
# (os type, arch, machine, features as {name: (default, toggle)}).
ON = ("on", "yes")
GUESTS = [
    ("xen", "x86_64", "xenpv", {}),
    ("hvm", "i686", "xenfv", {"pae": None, "nonpae": None, "acpi": ON,
                              "apic": ("on", "no"), "hap": ON}),
    ("xenpvh", "i686", "xenpvh", {"hap": ON}),
    ("hvm", "x86_64", "xenfv", {"acpi": ON, "apic": ("on", "no"), "hap": ON}),
    ("xenpvh", "x86_64", "xenpvh", {"hap": ON}),
]
DEVICE_MODEL = "/usr/lib/xen-4.17/bin/qemu-system-i386"
HVMLOADER = "/usr/lib/xen-4.17/boot/hvmloader"


def cpu_flags():
    """The flags Linux reads from this machine's cpu (the simulated host's:
    its featureset is this cpu's)."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def nodeinfo_fields(res):
    assert res.rc == 0, res
    fields = dict(line.split(":", 1) for line in res.out.splitlines() if ":" in line)
    return {k.strip(): v.strip() for k, v in fields.items()}


def check_guests(caps):
    table = []
    for g in caps.findall("guest"):
        arch = g.find("arch")
        feats = {}
        for f in (g.find("features") if g.find("features") is not None else []):
            feats[f.tag] = ((f.get("default"), f.get("toggle"))
                            if f.get("default") else None)
        table.append((g.findtext("os_type"), arch.get("name"),
                      arch.findtext("machine"), feats))
        assert arch.findtext("wordsize") == ("32" if arch.get("name") == "i686"
                                             else "64")
        assert arch.findtext("emulator") == DEVICE_MODEL
        assert arch.findtext("loader") == (HVMLOADER
                                           if g.findtext("os_type") == "hvm"
                                           else None)
        assert [d.get("type") for d in arch.findall("domain")] == ["xen"]
    assert table == GUESTS


def check_host(caps, nodeinfo):
    """The host as libvirt's driver shows it: the cpu decoded from the
    featureset, without what the words do not hold; the NUMA cells from
    the topology, consistent with nodeinfo."""
    host = caps.find("host")
    cpu = host.find("cpu")
    assert cpu.findtext("arch") == "x86_64"
    assert (cpu.find("features/pae") is not None) == ("pae" in cpu_flags())
    for absent in ("vendor", "signature", "microcode", "maxphysaddr"):
        assert cpu.find(absent) is None, absent
    assert "osxsave" not in {f.get("name") for f in cpu.findall("feature")}
    topo = cpu.find("topology")
    assert topo.attrib == {"sockets": nodeinfo["CPU socket(s)"], "dies": "1",
                           "cores": nodeinfo["Core(s) per socket"],
                           "threads": nodeinfo["Thread(s) per core"]}
    assert host.findtext("netprefix") == "vif"
    # No migration yet (docs/libvirt-compat.md): no migration features.
    assert host.find("migration_features") is None

    # The simulated host's nodes hold all its memory (on Xen, numainfo's
    # node sizes count a little more than physinfo's total pages).
    cells = host.findall("topology/cells/cell")
    assert host.find("topology/cells").get("num") == str(len(cells))
    assert len(cells) == int(nodeinfo["NUMA cell(s)"])
    assert sum(int(c.findtext("memory")) for c in cells) == \
        int(nodeinfo["Memory size"].split()[0])
    cpus = [c for cell in cells for c in cell.findall("cpus/cpu")]
    assert sorted(int(c.get("id")) for c in cpus) == \
        list(range(int(nodeinfo["CPU(s)"])))
    for cell in cells:
        assert [(d.get("id"), d.get("value"))
                for d in cell.findall("distances/sibling")] == \
            [(str(i), "10" if str(i) == cell.get("id") else "20")
             for i in range(len(cells))]
        assert cell.find("cpus").get("num") == str(len(cell.findall("cpus/cpu")))
    cores = {}
    for c in cpus:
        assert c.get("die_id") == "0"
        cores.setdefault((c.get("socket_id"), c.get("core_id")), []).append(
            int(c.get("id")))
    for c in cpus:
        ids = cores[(c.get("socket_id"), c.get("core_id"))]
        assert c.get("siblings") == (f"{min(ids)}-{max(ids)}" if len(ids) > 1
                                     else str(ids[0]))
    assert {len(ids) for ids in cores.values()} == \
        {int(nodeinfo["Thread(s) per core"])}


def check_capabilities(res, tmp_path, nodeinfo):
    assert res.rc == 0, res
    caps = ET.fromstring(res.out)
    check_guests(caps)
    check_host(caps, nodeinfo_fields(nodeinfo))
    # libvirt's own schema accepts it.  libvirt 9.0.0's capability.rng does
    # not list the os_type "xenpvh" that libvirt's own Xen driver emits for
    # PVH guests, so that one <guest> is checked above and left out here.
    for g in caps.findall("guest"):
        if g.findtext("os_type") == "xenpvh":
            caps.remove(g)
    # Likewise <netprefix>, which libvirt's Xen and LXC drivers emit.
    caps.find("host").remove(caps.find("host/netprefix"))
    # Nor does its host cpu feature name pattern allow the '.' of names
    # libvirt's cpu map has and its own drivers emit ("sse4.1"): those
    # features are checked here and left out of the validation.
    cpu = caps.find("host/cpu")
    if cpu is not None and cpu.find("model") is not None:
        assert cpu.find("topology") is not None
        for feature in cpu.findall("feature"):
            assert re.fullmatch(r"[a-zA-Z0-9._-]+", feature.get("name"))
            if "." in feature.get("name"):
                cpu.remove(feature)
    f = tmp_path / "caps.xml"
    f.write_bytes(ET.tostring(caps))
    v = subprocess.run(["virt-xml-validate", str(f), "capability"],
                       capture_output=True, text=True)
    assert v.returncode == 0, v.stderr + v.stdout


# Linux's names of cpu flags the featureset words hold, and libvirt's.
FLAG_NAMES = {"pae": "pae", "sse2": "sse2", "ssse3": "ssse3",
              "sse4_1": "sse4.1", "sse4_2": "sse4.2", "popcnt": "popcnt",
              "aes": "aes", "avx": "avx", "fma": "fma", "lm": "lm", "nx": "nx",
              "avx2": "avx2", "bmi1": "bmi1", "bmi2": "bmi2", "abm": "abm",
              "sse4a": "sse4a"}


def check_host_cpu_decoded(host, tmp_path):
    """The host cpu's model and features, expanded by libvirt (the
    driver's baseline with --features), have exactly the flags of this
    machine's cpu that the featureset words hold."""
    res = host.virsh("capabilities")
    assert res.rc == 0, res
    cpu = ET.fromstring(res.out).find("host/cpu")
    assert cpu.findtext("model"), "no cpu model decoded"
    cpu.remove(cpu.find("features"))
    f = tmp_path / "cpu.xml"
    f.write_bytes(ET.tostring(cpu))
    res = host.virsh("cpu-baseline", str(f), "--features")
    assert res.rc == 0, res
    base = ET.fromstring(res.out)
    assert base.findtext("model") == cpu.findtext("model")
    features = {e.get("name") for e in base.findall("feature")
                if e.get("policy") == "require"}
    flags = cpu_flags()
    for linux, ours in FLAG_NAMES.items():
        assert (ours in features) == (linux in flags), (linux, ours)


def check_nodeinfo(res):
    assert res.rc == 0, res
    fields = dict(line.split(":", 1) for line in res.out.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    assert fields["CPU model"] == "x86_64"
    assert int(fields["CPU(s)"]) >= 1
    assert int(fields["Memory size"].split()[0]) > 0


class TestEmbedded:
    def test_version(self, embed):
        check_version(embed.virsh("version"))

    def test_capabilities_are_valid(self, embed, tmp_path):
        check_capabilities(embed.virsh("capabilities"), tmp_path,
                           embed.virsh("nodeinfo"))

    def test_host_cpu_is_decoded_from_the_featureset(self, embed, tmp_path):
        check_host_cpu_decoded(embed, tmp_path)

    def test_nodeinfo(self, embed):
        check_nodeinfo(embed.virsh("nodeinfo"))

    def test_empty_lists(self, embed):
        res = embed.virsh("list", "--all", "--name")
        assert res.rc == 0 and res.out.strip() == "", res
        res = embed.virsh("list", "--inactive", "--name")
        assert res.rc == 0 and res.out.strip() == "", res

    def test_one_session_answers_many_calls(self, embed):
        res = embed.virsh("version; capabilities; list --all; nodeinfo; "
                          "maxvcpus; hostname; uri")
        assert res.rc == 0, res
        assert embed.uri in res.out

    def test_state_lives_under_root(self, embed):
        assert embed.virsh("uri").rc == 0
        for sub in ("etc", "etc/xenvirt", "var/lib/xenvirt", "run/xenvirt",
                    "log/xenvirt"):
            assert (embed.root / sub).is_dir(), sub

    def test_maxvcpus(self, embed):
        res = embed.virsh("maxvcpus")
        assert res.rc == 0 and int(res.out.strip()) >= 1, res
        res = embed.virsh("maxvcpus", "--type", "kvm")
        assert res.rc != 0
        assert "unknown hypervisor type 'kvm'" in res.err

    def test_relative_root_is_refused(self, build_dir):
        res = xvtest.virsh("xen:///embed?root=relative/dir", "version")
        assert res.rc != 0
        assert "root path must be absolute" in res.err

    def test_missing_root_is_refused(self, build_dir):
        res = xvtest.virsh("xen:///embed", "version")
        assert res.rc != 0

    def test_readonly_refuses_writes(self, embed, tmp_path):
        assert embed.virsh("version", readonly=True).rc == 0
        xml = tmp_path / "d.xml"
        xml.write_text("<domain type='xen'><name>d</name></domain>")
        res = embed.virsh("define", str(xml), readonly=True)
        assert res.rc != 0
        assert "read only access prevents" in res.err

    def test_two_roots_are_independent(self, build_dir, short_dir):
        a, b = short_dir / "a", short_dir / "b"
        ra = xvtest.virsh(f"xen:///embed?root={a}", "uri")
        rb = xvtest.virsh(f"xen:///embed?root={b}", "uri")
        assert ra.rc == 0 and rb.rc == 0
        assert (a / "var/lib/xenvirt").is_dir()
        assert (b / "var/lib/xenvirt").is_dir()
        assert {p.relative_to(a) for p in a.rglob("*")} == \
               {p.relative_to(b) for p in b.rglob("*")}

    def test_one_process_runs_one_root(self, build_dir, short_dir):
        res = xvtest.python(
            "import sys, libvirt\n"
            "libvirt.virEventRegisterDefaultImpl()\n"
            "c = libvirt.open('xen:///embed?root=' + sys.argv[1])\n"
            "try:\n"
            "    libvirt.open('xen:///embed?root=' + sys.argv[2])\n"
            "except libvirt.libvirtError as e:\n"
            "    print('refused:', e.get_error_message())\n",
            str(short_dir / "one"), str(short_dir / "two"))
        assert res.rc == 0, res
        assert "refused:" in res.out
        assert "already runs it at" in res.out


class TestPythonLibvirt:
    def test_embedded_open(self, build_dir, short_dir):
        res = xvtest.python(
            "import sys, libvirt\n"
            "import xml.etree.ElementTree as ET\n"
            "libvirt.virEventRegisterDefaultImpl()\n"
            "c = libvirt.open('xen:///embed?root=' + sys.argv[1])\n"
            "assert c.getType() == 'Xen', c.getType()\n"
            "assert c.getVersion() // 1000 == 4017, c.getVersion()\n"
            "assert c.getLibVersion() >= 9000000\n"
            "assert c.listAllDomains() == []\n"
            "assert c.numOfDomains() == 0 and c.numOfDefinedDomains() == 0\n"
            "assert c.isAlive() == 1 and c.isSecure() == 1 and c.isEncrypted() == 0\n"
            "info = c.getInfo()\n"
            "assert info[0] == 'x86_64' and info[1] > 0 and info[2] >= 1, info\n"
            "assert c.getFreeMemory() > 0\n"
            "ET.fromstring(c.getCapabilities())\n"
            "c.close()\n"
            "print('ok')\n", str(short_dir / "root"))
        assert res.rc == 0, res
        assert res.out.strip() == "ok"

    def test_embedded_needs_an_event_loop(self, build_dir, short_dir):
        res = xvtest.python(
            "import sys, libvirt\n"
            "try:\n"
            "    libvirt.open('xen:///embed?root=' + sys.argv[1])\n"
            "except libvirt.libvirtError as e:\n"
            "    print('refused:', e.get_error_message())\n",
            str(short_dir / "root"))
        assert res.rc == 0, res
        assert "refused:" in res.out


class TestDaemon:
    def test_version(self, daemon):
        check_version(daemon.virsh("version"))

    def test_capabilities_are_valid(self, daemon, tmp_path):
        check_capabilities(daemon.virsh("capabilities"), tmp_path,
                           daemon.virsh("nodeinfo"))

    def test_nodeinfo(self, daemon):
        check_nodeinfo(daemon.virsh("nodeinfo"))

    def test_list(self, daemon):
        res = daemon.virsh("list", "--all", "--name")
        assert res.rc == 0 and res.out.strip() == "", res

    def test_uri(self, daemon):
        res = daemon.virsh("uri")
        assert res.rc == 0 and res.out.strip() == daemon.uri

    def test_readonly_socket(self, daemon, tmp_path):
        check_version(daemon.virsh("version", readonly=True))
        xml = tmp_path / "d.xml"
        xml.write_text("<domain type='xen'><name>d</name></domain>")
        res = daemon.virsh("define", str(xml), readonly=True)
        assert res.rc != 0
        assert "read only access prevents" in res.err

    def test_wrong_uri_path_is_refused(self, daemon):
        res = xvtest.virsh(
            f"xen:///foo?socket={daemon.dir}/sock/libvirt-sock", "version")
        assert res.rc != 0
        assert "unexpected Xen URI path '/foo', try xen:///system" in res.err

    def test_state_lives_under_private_root(self, daemon):
        assert daemon.virsh("uri").rc == 0
        assert (daemon.dir / "root" / "var/lib/xenvirt").is_dir()

    def test_python_libvirt(self, daemon):
        res = xvtest.python(
            "import sys, libvirt\n"
            "c = libvirt.open(sys.argv[1])\n"
            "assert c.getType() == 'Xen'\n"
            "assert c.listAllDomains() == []\n"
            "print(c.getHostname())\n", daemon.uri)
        assert res.rc == 0, res
        assert res.out.strip()

    def test_daemon_still_serves(self, daemon):
        # After every call above, including refused ones, it still runs.
        assert subprocess.run(["kill", "-0", str(daemon.pid)]).returncode == 0
        assert daemon.virsh("version").rc == 0


def domcaps_meaning(text):
    """A domainCapabilities document as {path: (attributes, text, [enum
    values])} per element, for a comparison by meaning."""
    out = {}

    def walk(e, path):
        key = path + "/" + e.tag + "".join(
            f"[{e.get(a)}]" for a in ("name",) if e.get(a))
        out[key] = (dict(e.attrib), (e.text or "").strip(),
                    sorted(v.text for v in e.findall("value")))
        for c in e:
            if c.tag != "value":
                walk(c, key)
    walk(ET.fromstring(text), "")
    return out


class TestDomainCapabilities:
    # machine -> (vcpu max, loader supported), as libvirt's driver.
    EXPECTED = {"xenpv": ("512", "no"), "xenpvh": ("512", "no"),
                "xenfv": ("128", "yes")}

    @pytest.mark.parametrize("machine", ["xenpv", "xenpvh", "xenfv"])
    @pytest.mark.parametrize("arch", ["x86_64", "i686"])
    def test_valid_and_honest(self, embed, tmp_path, machine, arch):
        # i686 xenpv too, although Debian's Xen 4.17 runs no 32-bit PV
        # guest: libvirt's driver describes any arch it knows.
        res = embed.virsh("domcapabilities", "--machine", machine,
                          "--arch", arch)
        assert res.rc == 0, res
        f = tmp_path / "dc.xml"
        f.write_text(res.out)
        v = subprocess.run(["virt-xml-validate", str(f), "domaincaps"],
                           capture_output=True, text=True)
        assert v.returncode == 0, v.stderr + v.stdout
        caps = ET.fromstring(res.out)
        vcpus, loader = self.EXPECTED[machine]
        assert caps.findtext("path") == "/usr/bin/qemu-system-x86_64"
        assert caps.findtext("machine") == machine
        assert caps.findtext("arch") == arch
        assert caps.findtext("domain") == "xen"
        assert caps.find("vcpu").get("max") == vcpus
        assert caps.find("os").get("supported") == "yes"
        assert caps.find("os/loader").get("supported") == loader
        if loader == "yes":
            assert [v.text for v in caps.findall("os/loader/value")] == [
                "/usr/lib/xen-4.17/boot/ovmf.bin", HVMLOADER]
        disk = caps.find("devices/disk")
        assert disk.get("supported") == "yes"
        values = {e.get("name"): [v.text for v in e.findall("value")]
                  for e in disk.findall("enum")}
        assert values == {"diskDevice": ["disk", "cdrom"],
                          "bus": ["ide", "scsi", "xen"], "model": []}
        # Not run by this driver yet (graphics: issue 20; passthrough).
        for dev in ("graphics", "video", "hostdev"):
            assert caps.find("devices/" + dev).get("supported") == "no", dev

    def test_emulator_named_by_the_caller(self, embed):
        res = embed.virsh("domcapabilities", "--emulatorbin", "/opt/qemu")
        assert res.rc == 0, res
        assert ET.fromstring(res.out).findtext("path") == "/opt/qemu"

    @pytest.mark.parametrize("machine", ["xenpv", "xenfv"])
    def test_same_as_libvirts_own_test_data(self, embed, machine):
        """libvirt's expected domain capabilities of its Xen driver
        (tests/domaincapsdata/libxl-*.xml), by meaning, but for what this
        driver does not run yet (graphics, video, host devices: said to be
        unsupported) and the firmware directory (Debian's Xen's)."""
        tree = xvtest.libvirt_tree()
        if tree is None:
            pytest.skip("libvirt's source tree is absent (tools/setup-deps "
                        "unpacks it into .cache/libvirt): no libvirt test data")
        theirs = domcaps_meaning(
            (tree / "tests" / "domaincapsdata" / f"libxl-{machine}.xml").read_text())
        res = embed.virsh("domcapabilities", "--machine", machine)
        assert res.rc == 0, res
        ours = domcaps_meaning(res.out)
        unrun = ("/domainCapabilities/devices/graphics",
                 "/domainCapabilities/devices/video",
                 "/domainCapabilities/devices/hostdev")
        for key in list(theirs):
            if key.startswith(unrun):
                del theirs[key]
        for dev in unrun:
            assert ours.pop(dev) == ({"supported": "no"}, "", [])
            theirs[dev] = "unrun"
            ours[dev] = "unrun"
        loader = "/domainCapabilities/os/loader"
        if machine == "xenfv":
            assert sorted(p.rsplit("/", 1)[1] for p in ours[loader][2]) == \
                sorted(p.rsplit("/", 1)[1] for p in theirs[loader][2])
            theirs[loader] = ours[loader] = "firmware"
        assert ours == theirs

    def test_unknown_machine_arch_and_virttype(self, embed):
        res = embed.virsh("domcapabilities", "--machine", "pc")
        assert res.rc != 0
        assert "Xen only supports 'xenpv', 'xenpvh' and 'xenfv' machines" in res.err
        res = embed.virsh("domcapabilities", "--virttype", "kvm")
        assert res.rc != 0 and "unknown virttype: kvm" in res.err
        res = embed.virsh("domcapabilities", "--arch", "pdp11")
        assert res.rc != 0 and "unknown architecture: pdp11" in res.err

    def test_an_arch_the_host_runs_no_guest_of_is_described(self, embed):
        """libvirt's driver describes any arch libvirt knows: an x86 host
        asked about aarch64, or about i686 PV (Debian's Xen runs no 32-bit
        PV guest), answers with that arch, as there."""
        for arch, machine in (("aarch64", "xenpv"), ("i686", "xenpv")):
            res = embed.virsh("domcapabilities", "--arch", arch,
                              "--machine", machine)
            assert res.rc == 0, res.err
            caps = ET.fromstring(res.out)
            assert caps.findtext("arch") == arch
            assert caps.findtext("machine") == machine
            assert caps.findtext("domain") == "xen"


def test_too_long_configured_sim_rundir_is_refused_clearly(build_dir, short_dir):
    """A deep root's host moves to a short directory (test_deep_root.py);
    one xenvirt.conf names is the administrator's and is never moved."""
    root = short_dir / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "xenvirt.conf").write_text(
        'hypervisor = "sim"\n'
        f'sim_rundir = "{short_dir / ("r" * 80)}"\n')
    res = xvtest.virsh(f"xen:///embed?root={root}", "version")
    assert res.rc != 0
    assert "too long for its unix sockets" in res.err
