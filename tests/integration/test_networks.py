"""Virtual networks and storage pools through the private libvirtd, which
runs Debian's own network, storage, node device and secret drivers beside
our plugin (tools/libvirtd-private): a guest's <interface type='network'>
gets a port on the network and its vif is on the network's bridge in the
simulated host's xenstore, at start and when attached live; destroy and
detach give the port back, a restarted daemon claims again the ports a
recreated network lost; a <disk
type='volume'> of a dir pool starts on the volume's file; stopping the
daemon destroys its networks; embedded mode, which has no network or
storage driver, refuses both with a clear error."""

import os
import signal
import subprocess
import textwrap
import xml.etree.ElementTree as ET

import libvirt
import pytest

import xvtest

XENSIMCTL = xvtest.build_dir() / "tools" / "xensimctl"


def network_xml(name):
    """An isolated network with a bridge of its own (never the machine's
    virbr0) and an address but no DHCP or DNS: libvirt's network driver
    creates and owns its bridge, and needs neither dnsmasq nor iptables
    (forward mode 'open' adds no firewall rules).  The bridge and subnet
    are this process's, so parallel runs do not clash."""
    pid = os.getpid()
    bridge = f"xvt{pid % 1000000}n"
    subnet = f"10.{216 + pid % 32}.{pid % 251}"
    return bridge, textwrap.dedent(f"""\
        <network>
          <name>{name}</name>
          <forward mode='open'/>
          <bridge name='{bridge}'/>
          <dns enable='no'/>
          <ip address='{subnet}.1' prefix='24'/>
        </network>""")


def guest_xml(tmp, name, devices):
    kernel = tmp / "kernel"
    kernel.write_text("a simulated kernel\n")
    return textwrap.dedent(f"""\
        <domain type='xen'>
          <name>{name}</name>
          <memory unit='MiB'>64</memory>
          <os><type arch='x86_64'>xen</type><kernel>{kernel}</kernel></os>
          <devices>
            {devices}
          </devices>
        </domain>""")


def xenstore_tree(rundir, path):
    """The simulated host's xenstore below @path as {relative path: value}."""
    res = subprocess.run([str(XENSIMCTL), "--rundir", str(rundir), "tree",
                          path], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    nodes, stack = {}, []
    for line in res.stdout.splitlines():
        depth = len(line) - len(line.lstrip(" "))
        key, _, value = line.strip().partition(" = ")
        del stack[depth:]
        stack.append(key)
        nodes["/".join(stack)] = value.strip('"')
    return nodes


def bridge_exists(bridge):
    return subprocess.run(["ip", "link", "show", bridge],
                          capture_output=True).returncode == 0


def test_guest_on_network_is_on_its_bridge(own_daemon, tmp_path):
    d = own_daemon
    bridge, xml = network_xml("xvnet")
    assert not bridge_exists(bridge), f"{bridge} is left from another run"
    (tmp_path / "net.xml").write_text(xml)
    assert d.virsh("net-define", tmp_path / "net.xml").rc == 0
    res = d.virsh("net-start", "xvnet")
    assert res.rc == 0, res.err
    try:
        assert bridge_exists(bridge)
        # The network's state is the private daemon's: its definition and
        # status are under its directory.
        assert (d.dir / "host/etc/qemu/networks/xvnet.xml").exists()
        assert (d.dir / "host/run/network/xvnet.xml").exists()

        (tmp_path / "g.xml").write_text(guest_xml(
            tmp_path, "n1",
            "<interface type='network'><source network='xvnet'/>"
            "</interface>"))
        assert d.virsh("define", tmp_path / "g.xml").rc == 0
        res = d.virsh("start", "n1")
        assert res.rc == 0, res.err

        # The live XML: the interface's port and actual bridge.
        live = ET.fromstring(d.virsh("dumpxml", "n1").out)
        source = live.find("./devices/interface/source")
        assert live.find("./devices/interface").get("type") == "network"
        assert source.get("network") == "xvnet"
        assert source.get("bridge") == bridge
        portid = source.get("portid")
        mac = live.find("./devices/interface/mac").get("address")
        # The persistent definition names the network only.
        inactive = ET.fromstring(
            d.virsh("dumpxml", "--inactive", "n1").out)
        assert inactive.find("./devices/interface/source").get("bridge") is None

        # The network knows the port, for this guest's MAC.
        conn = libvirt.open(d.uri)
        try:
            net = conn.networkLookupByName("xvnet")
            ports = net.listAllPorts()
            assert [p.UUIDString() for p in ports] == [portid]
            port = ET.fromstring(ports[0].XMLDesc())
            assert port.find("./owner/name").text == "n1"
            assert port.find("./mac").get("address") == mac
            assert port.find("./plug").get("bridge") == bridge
        finally:
            conn.close()

        # The simulated host's vif backend is on the network's bridge.
        domid = int(d.virsh("domid", "n1").out)
        backend = xenstore_tree(d.sim_rundir,
                                f"/local/domain/0/backend/vif/{domid}")
        assert backend["0/mac"] == mac
        assert backend["0/bridge"] == bridge

        # Destroy gives the port back.
        assert d.virsh("destroy", "n1").rc == 0
        conn = libvirt.open(d.uri)
        try:
            assert conn.networkLookupByName("xvnet").listAllPorts() == []
        finally:
            conn.close()
        # And a second start gets a new one.
        assert d.virsh("start", "n1").rc == 0
        assert d.virsh("net-port-list", "xvnet", "--uuid").out.split() \
            not in ([], [portid])
        assert d.virsh("destroy", "n1").rc == 0
    finally:
        # Stopping the daemon destroys its networks: the bridge is gone.
        d.stop()
    assert not bridge_exists(bridge)
    assert not (d.dir / "host/run/network/xvnet.xml").exists()


def test_attach_interface_on_network_gets_a_port(own_daemon, tmp_path):
    """An interface attached live to a running guest gets its port and its
    vif is on the network's bridge; detaching it gives the port back."""
    d = own_daemon
    bridge, xml = network_xml("xvnet")
    (tmp_path / "net.xml").write_text(xml)
    assert d.virsh("net-create", tmp_path / "net.xml").rc == 0
    try:
        (tmp_path / "g.xml").write_text(guest_xml(tmp_path, "h1", ""))
        assert d.virsh("define", tmp_path / "g.xml").rc == 0
        assert d.virsh("start", "h1").rc == 0
        res = d.virsh("attach-interface", "h1", "network", "xvnet", "--live",
                      "--mac", "00:16:3e:16:00:01")
        assert res.rc == 0, res.err
        live = ET.fromstring(d.virsh("dumpxml", "h1").out)
        source = live.find("./devices/interface/source")
        assert source.get("bridge") == bridge
        assert d.virsh("net-port-list", "xvnet", "--uuid").out.split() == \
            [source.get("portid")]
        domid = int(d.virsh("domid", "h1").out)
        backend = xenstore_tree(d.sim_rundir,
                                f"/local/domain/0/backend/vif/{domid}")
        assert backend["0/mac"] == "00:16:3e:16:00:01"
        assert backend["0/bridge"] == bridge

        res = d.virsh("detach-interface", "h1", "network", "--live",
                      "--mac", "00:16:3e:16:00:01")
        assert res.rc == 0, res.err
        assert xvtest.wait_for(lambda: d.virsh(
            "net-port-list", "xvnet", "--uuid").out.split() == [])
        assert ET.fromstring(d.virsh("dumpxml", "h1").out).find(
            "./devices/interface") is None
        assert d.virsh("destroy", "h1").rc == 0
    finally:
        d.stop()
    assert not bridge_exists(bridge)


def test_restarted_daemon_reclaims_lost_ports(own_daemon, tmp_path):
    """A network recreated under a running guest has lost its port; the
    next daemon that reconnects to the guest claims it again, with the
    same identity."""
    d = own_daemon
    bridge, xml = network_xml("xvnet")
    (tmp_path / "net.xml").write_text(xml)
    assert d.virsh("net-create", tmp_path / "net.xml").rc == 0
    try:
        (tmp_path / "g.xml").write_text(guest_xml(
            tmp_path, "n1",
            "<interface type='network'><source network='xvnet'/>"
            "</interface>"))
        assert d.virsh("define", tmp_path / "g.xml").rc == 0
        assert d.virsh("start", "n1").rc == 0
        ports = d.virsh("net-port-list", "xvnet", "--uuid").out.split()
        assert len(ports) == 1
        assert d.virsh("net-destroy", "xvnet").rc == 0
        assert d.virsh("net-create", tmp_path / "net.xml").rc == 0
        assert d.virsh("net-port-list", "xvnet", "--uuid").out.split() == []

        # The daemon ends (its networks stay: not libvirtd-private stop),
        # and the next one reconnects to the running guest.
        pid = d.pid
        os.kill(pid, signal.SIGTERM)
        assert xvtest.wait_for(lambda: not os.path.exists(f"/proc/{pid}"))
        d.start()
        assert d.virsh("domstate", "n1").out.strip() == "running"
        assert d.virsh("net-port-list", "xvnet", "--uuid").out.split() == \
            ports
        port = ET.fromstring(d.virsh("net-port-dumpxml", "xvnet",
                                     ports[0]).out)
        assert port.find("./owner/name").text == "n1"
        assert port.find("./plug").get("bridge") == bridge
        assert d.virsh("destroy", "n1").rc == 0
        assert d.virsh("net-port-list", "xvnet", "--uuid").out.split() == []
    finally:
        d.stop()
    assert not bridge_exists(bridge)


def test_unknown_network_refuses_start(own_daemon, tmp_path):
    d = own_daemon
    (tmp_path / "g.xml").write_text(guest_xml(
        tmp_path, "n2",
        "<interface type='network'><source network='nosuch'/></interface>"))
    assert d.virsh("define", tmp_path / "g.xml").rc == 0
    res = d.virsh("start", "n2")
    assert res.rc != 0
    assert "Network not found: no network with matching name 'nosuch'" \
        in res.err
    assert d.virsh("domstate", "n2").out.strip() == "shut off"
    assert xvtest.sim_domains(d.sim_rundir) == {}


def test_volume_disk_starts_on_the_volume_file(own_daemon, tmp_path):
    d = own_daemon
    pool = tmp_path / "pool"
    pool.mkdir()
    assert d.virsh("pool-define-as", "xvpool", "dir", "--target", pool).rc == 0
    assert d.virsh("pool-start", "xvpool").rc == 0
    res = d.virsh("vol-create-as", "xvpool", "v1.img", "1M", "--format", "raw")
    assert res.rc == 0, res.err
    path = d.virsh("vol-path", "--pool", "xvpool", "v1.img").out.strip()
    assert path == str(pool / "v1.img")

    (tmp_path / "g.xml").write_text(guest_xml(
        tmp_path, "v1",
        "<disk type='volume' device='disk'><driver name='qemu' type='raw'/>"
        "<source pool='xvpool' volume='v1.img'/>"
        "<target dev='xvda' bus='xen'/></disk>"))
    assert d.virsh("define", tmp_path / "g.xml").rc == 0
    res = d.virsh("start", "v1")
    assert res.rc == 0, res.err
    domid = int(d.virsh("domid", "v1").out)
    backends = xenstore_tree(d.sim_rundir, "/local/domain/0/backend")
    params = {k: v for k, v in backends.items()
              if k.endswith(f"/{domid}/51712/params")}
    assert list(params.values()) == [path], backends
    # The live XML keeps the volume as defined, as libvirt's drivers do.
    live = ET.fromstring(d.virsh("dumpxml", "v1").out)
    assert live.find("./devices/disk").get("type") == "volume"
    assert live.find("./devices/disk/source").get("volume") == "v1.img"
    assert d.virsh("destroy", "v1").rc == 0


def test_host_sees_pools_and_node_devices(own_daemon):
    """A client sees the storage, network and node device drivers as on a
    normal host: listing works (nothing is refused as unsupported)."""
    conn = libvirt.open(own_daemon.uri)
    try:
        assert conn.listAllNetworks() == []
        assert conn.listAllStoragePools() == []
        assert conn.listAllSecrets() == []
        assert conn.listAllDevices()
    finally:
        conn.close()


@pytest.mark.parametrize("device, message", [
    ("<interface type='network'><source network='default'/></interface>",
     "interface type 'network' (network 'default') needs libvirt's network "
     "driver, which this connection has not got (embedded mode): use a "
     "bridge"),
    ("<disk type='volume' device='disk'><source pool='p' volume='v'/>"
     "<target dev='xvda' bus='xen'/></disk>",
     "disk 'xvda' of type 'volume' (pool 'p') needs libvirt's storage "
     "driver, which this connection has not got (embedded mode): use a "
     "file or block disk"),
])
def test_embedded_refuses_networks_and_volumes(embed, tmp_path, device,
                                               message):
    (tmp_path / "g.xml").write_text(guest_xml(tmp_path, "e1", device))
    assert embed.virsh("define", tmp_path / "g.xml").rc == 0
    res = embed.virsh("start", "e1")
    assert res.rc != 0
    assert "unsupported configuration: " + message in res.err
    assert embed.virsh("domstate", "e1").out.strip() == "shut off"
    assert xvtest.sim_domains(xvtest.sim_rundir(embed.root)) == {}
