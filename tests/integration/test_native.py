"""Native formats through real virsh: domxml-from-native and
domxml-to-native with xen-xl and xen-xm, in embedded mode and through a
private libvirtd (issue: xl.cfg native format conversion)."""

import xml.etree.ElementTree as ET

import xvtest

DATA = xvtest.TOP / "tests" / "xlconfigdata"

XL_CFG = """\
# a realistic xl.cfg
name = "native-web"
uuid = "5b0f2a5e-8d3c-4c7e-9a61-0e2f3b4c5d6e"
type = "pvh"
kernel = "/boot/vmlinuz-6.1.0-13-amd64"
cmdline = "root=/dev/xvda1 ro console=hvc0"
memory = 1024
maxmem = 2048
vcpus = 2
disk = [ '/var/lib/xen/images/web.img,raw,xvda,rw',
         'format=qcow2, vdev=xvdb, access=ro, target=/var/lib/xen/images/data.qcow2' ]
vif = [ 'mac=00:16:3e:12:34:56,bridge=xenbr0,rate=1000KB/s' ]
on_crash = "restart"
"""

XM_CFG = """\
name = "native-old"
uuid = "6c1f3b6f-9e4d-4d8f-8b72-1f3a4c5d6e7f"
builder = "hvm"
memory = 512
disk = [ 'phy:/dev/vg0/old,hda,w', ',hdc:cdrom,r' ]
vif = [ 'type=ioemu,bridge=xenbr0,mac=00:16:3e:65:43:21' ]
vnc = 1
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def check_from_native_xl(host, tmp_path):
    res = host.virsh("domxml-from-native", "xen-xl", write(tmp_path, "web.cfg", XL_CFG))
    assert res.rc == 0, res
    dom = ET.fromstring(res.out)
    assert dom.get("type") == "xen"
    assert dom.findtext("name") == "native-web"
    assert dom.findtext("uuid") == "5b0f2a5e-8d3c-4c7e-9a61-0e2f3b4c5d6e"
    assert dom.findtext("os/type") == "xenpvh"
    assert dom.findtext("memory") == str(2048 * 1024)
    assert dom.findtext("currentMemory") == str(1024 * 1024)
    assert dom.findtext("vcpu") == "2"
    assert dom.findtext("on_crash") == "restart"
    disks = dom.findall("devices/disk")
    assert [d.find("target").get("dev") for d in disks] == ["xvda", "xvdb"]
    assert disks[1].find("driver").get("type") == "qcow2"
    assert disks[1].find("readonly") is not None
    nic = dom.find("devices/interface")
    assert nic.get("type") == "bridge"
    assert nic.find("mac").get("address") == "00:16:3e:12:34:56"
    assert nic.find("bandwidth/outbound").get("average") == "1000"
    return res.out


def check_round_trip(host, tmp_path, fmt, xml):
    """XML -> native -> XML gives the same XML."""
    res = host.virsh("domxml-to-native", fmt, write(tmp_path, "in.xml", xml))
    assert res.rc == 0, res
    back = host.virsh("domxml-from-native", fmt, write(tmp_path, "out.cfg", res.out))
    assert back.rc == 0, back
    assert back.out == xml
    return res.out


def check_to_native_golden(host, name, fmt):
    res = host.virsh("domxml-to-native", fmt, str(DATA / f"{name}.xml"))
    assert res.rc == 0, res
    assert res.out.rstrip("\n") == (DATA / f"{name}.cfg").read_text().rstrip("\n")


def check_errors(host, tmp_path):
    cfg = write(tmp_path, "x.cfg", 'name = "x"\n')
    res = host.virsh("domxml-from-native", "vmware-vmx", cfg)
    assert res.rc != 0
    assert "unsupported config type vmware-vmx" in res.err
    res = host.virsh("domxml-to-native", "qemu-argv",
                     str(DATA / "pv-basic.xml"))
    assert res.rc != 0
    assert "unsupported config type qemu-argv" in res.err

    bad = write(tmp_path, "bad.cfg", 'name = "bad"\nmemory = 512\nkernel = "/boot/vmlinuz\n')
    res = host.virsh("domxml-from-native", "xen-xl", bad)
    assert res.rc != 0
    assert ":3: unterminated string" in res.err

    bad = write(tmp_path, "bad2.cfg",
                'name = "bad"\n\ndisk = [ "vdev=xvda,colour=blue,target=/x.img" ]\n')
    res = host.virsh("domxml-from-native", "xen-xl", bad)
    assert res.rc != 0
    assert "line 3" in res.err and "unknown key 'colour'" in res.err

    bad = write(tmp_path, "bad3.cfg", 'name = "bad"\nmax_maptrack_frames = 64\n')
    res = host.virsh("domxml-from-native", "xen-xl", bad)
    assert res.rc != 0
    assert "unsupported configuration" in res.err
    assert "'max_maptrack_frames = 64'" in res.err


class TestEmbedded:
    def test_from_native_xl(self, embed, tmp_path):
        check_from_native_xl(embed, tmp_path)

    def test_round_trip_xl(self, embed, tmp_path):
        xml = check_from_native_xl(embed, tmp_path)
        cfg = check_round_trip(embed, tmp_path, "xen-xl", xml)
        assert 'type = "pvh"' in cfg
        assert "rate=1000KB/s" in cfg

    def test_to_native_golden(self, embed):
        for name in ("pv-basic", "hvm-windows", "pvh-full"):
            check_to_native_golden(embed, name, "xen-xl")
        check_to_native_golden(embed, "xm-hvm", "xen-xm")

    def test_xm(self, embed, tmp_path):
        res = embed.virsh("domxml-from-native", "xen-xm", write(tmp_path, "old.cfg", XM_CFG))
        assert res.rc == 0, res
        dom = ET.fromstring(res.out)
        assert dom.findtext("os/type") == "hvm"
        cdrom = [d for d in dom.findall("devices/disk") if d.get("device") == "cdrom"]
        assert len(cdrom) == 1 and cdrom[0].find("source") is None
        cfg = check_round_trip(embed, tmp_path, "xen-xm", res.out)
        assert 'builder = "hvm"' in cfg

    def test_errors(self, embed, tmp_path):
        check_errors(embed, tmp_path)

    def test_unsupported_xml(self, embed):
        res = embed.virsh("domxml-to-native", "xen-xl",
                          str(DATA / "interface-network-unsupported.xml"))
        assert res.rc != 0
        assert "interface type 'network' cannot be expressed" in res.err


class TestDaemon:
    def test_from_native_xl(self, daemon, tmp_path):
        check_from_native_xl(daemon, tmp_path)

    def test_round_trip(self, daemon, tmp_path):
        xml = check_from_native_xl(daemon, tmp_path)
        check_round_trip(daemon, tmp_path, "xen-xl", xml)
        check_to_native_golden(daemon, "hvm-usb", "xen-xl")

    def test_errors(self, daemon, tmp_path):
        check_errors(daemon, tmp_path)

    def test_daemon_survives_malformed_input(self, daemon, tmp_path):
        for text in ('name = [ [ [ "x" ] ] ]\n', "\x01\x02 = = =\n",
                     'name = "x"\ndisk = [ "target=' + "," * 5000 + '" ]\n'):
            res = daemon.virsh("domxml-from-native", "xen-xl",
                               write(tmp_path, "m.cfg", text))
            assert res.rc != 0
        assert daemon.virsh("version").rc == 0
