"""Persistent definitions: define, undefine, queries on inactive domains,
autostart marks, metadata, and their events, through real virsh and
python-libvirt."""

import textwrap

import pytest

import xvtest

DATA = xvtest.TOP / "tests" / "domconfigdata"


def guest_xml(name="g1", extra_devices="", uuid=None):
    uuid_elt = f"<uuid>{uuid}</uuid>" if uuid else ""
    return textwrap.dedent(f"""\
        <domain type='xen'>
          <name>{name}</name>{uuid_elt}
          <memory unit='MiB'>256</memory>
          <vcpu>2</vcpu>
          <os>
            <type arch='x86_64'>xen</type>
            <kernel>/boot/vmlinuz</kernel>
          </os>
          <devices>
            <disk type='file' device='disk'>
              <source file='/srv/{name}.img'/>
              <target dev='xvda' bus='xen'/>
            </disk>
            {extra_devices}
          </devices>
        </domain>""")


@pytest.fixture
def xmlfile(tmp_path):
    def write(text, name="d.xml"):
        f = tmp_path / name
        f.write_text(text)
        return str(f)
    return write


def test_define_list_dumpxml_undefine(embed, xmlfile):
    res = embed.virsh("define", xmlfile(guest_xml()))
    assert res.rc == 0, res
    res = embed.virsh("list", "--all", "--name")
    assert res.out.split() == ["g1"]
    res = embed.virsh("domstate", "g1")
    assert res.out.strip() == "shut off"
    res = embed.virsh("dumpxml", "g1")
    assert "<source file='/srv/g1.img'/>" in res.out
    # Xen defaults from the post-parse callbacks.
    assert "<console type='pty'>" in res.out
    assert "<target type='xen' port='0'/>" in res.out
    assert "<memballoon model='xen'/>" in res.out
    assert (embed.root / "etc/xenvirt/g1.xml").exists()

    res = embed.virsh("undefine", "g1")
    assert res.rc == 0, res
    assert embed.virsh("list", "--all", "--name").out.strip() == ""
    assert not (embed.root / "etc/xenvirt/g1.xml").exists()


def test_definitions_survive_a_new_process(embed, xmlfile):
    assert embed.virsh("define", xmlfile(guest_xml("keep"))).rc == 0
    assert embed.virsh("autostart", "keep").rc == 0
    res = embed.virsh("list", "--all", "--autostart", "--name")
    assert res.out.split() == ["keep"]
    res = embed.virsh("dominfo", "keep")
    assert "Autostart:      enable" in res.out
    assert embed.virsh("autostart", "--disable", "keep").rc == 0
    assert not (embed.root / "etc/xenvirt/autostart/keep.xml").exists()


def test_redefine_updates(embed, xmlfile):
    assert embed.virsh("define", xmlfile(guest_xml())).rc == 0
    res = embed.virsh("dumpxml", "g1")
    uuid = res.out.split("<uuid>")[1].split("</uuid>")[0]
    new = guest_xml().replace("<vcpu>2</vcpu>", f"<uuid>{uuid}</uuid><vcpu>3</vcpu>")
    assert embed.virsh("define", xmlfile(new)).rc == 0
    res = embed.virsh("vcpucount", "g1", "--config", "--maximum")
    assert res.out.strip() == "3", res


def test_duplicate_name_with_other_uuid_is_refused(embed, xmlfile):
    assert embed.virsh("define", xmlfile(guest_xml())).rc == 0
    other = guest_xml().replace(
        "<vcpu>", "<uuid>11111111-2222-4333-8444-555555555555</uuid><vcpu>")
    res = embed.virsh("define", xmlfile(other))
    assert res.rc != 0
    assert "already exists with uuid" in res.err


@pytest.mark.parametrize("name", ["err-memory", "err-disk-newline",
                                  "err-disk-relative"])
def test_unsupported_xml_is_refused_and_nothing_is_left(embed, name):
    expected = (DATA / f"{name}.err").read_text().strip()
    res = embed.virsh("define", str(DATA / f"{name}.xml"))
    assert res.rc != 0
    assert expected in res.err
    assert embed.virsh("list", "--all", "--name").out.strip() == ""
    assert list((embed.root / "etc/xenvirt").glob("*.xml")) == []


@pytest.mark.parametrize("name", ["err-net-network", "err-disk-format",
                                  "err-disk-driver", "err-disk-floppy"])
def test_what_libvirt_defines_is_defined_and_refused_at_start(embed, name):
    """libvirt's Xen driver defines these and refuses them when it starts
    the domain (issue 16): so do we, with its error."""
    expected = (DATA / f"{name}.err").read_text().strip()
    res = embed.virsh("define", str(DATA / f"{name}.xml"))
    assert res.rc == 0, res
    names = embed.virsh("list", "--all", "--name").out.split()
    assert len(names) == 1
    dom = names[0]
    res = embed.virsh("start", dom)
    assert res.rc != 0
    assert expected in res.err
    assert embed.virsh("domstate", dom).out.strip() == "shut off"


def test_graphics_are_defined_and_not_run_yet(embed, xmlfile):
    xml = guest_xml("gfx", "<graphics type='vnc' port='-1' autoport='yes'/>")
    assert embed.virsh("define", xmlfile(xml)).rc == 0
    assert "<graphics type='vnc'" in embed.virsh("dumpxml", "gfx").out
    res = embed.virsh("start", "gfx")
    assert res.rc != 0
    assert "<graphics type='vnc'> is not run by this driver yet" in res.err
    assert embed.virsh("domstate", "gfx").out.strip() == "shut off"


def test_the_name_of_dom0_is_refused(embed, xmlfile):
    """As libvirt's Xen driver, whose domain list holds Domain-0."""
    res = embed.virsh("define", xmlfile(guest_xml("Domain-0")))
    assert res.rc != 0
    assert ("domain 'Domain-0' already exists with uuid "
            "00000000-0000-0000-0000-000000000000") in res.err
    res = embed.virsh("create", xmlfile(guest_xml("Domain-0")))
    assert res.rc != 0
    assert "already exists" in res.err
    assert embed.virsh("list", "--all", "--name").out.strip() == ""


@pytest.mark.parametrize("count", ["-2147483648", "4294967295", "100000", "0"])
def test_vcpu_count_is_bounded_before_libvirt_allocates(embed, xmlfile, count):
    """libvirt's parser makes every vcpu before a driver check runs (and
    wraps a negative count): the driver bounds the count first."""
    xml = guest_xml().replace("<vcpu>2</vcpu>", f"<vcpu>{count}</vcpu>")
    res = embed.virsh("define", xmlfile(xml))
    assert res.rc != 0
    assert "is outside 1..512" in res.err
    assert embed.virsh("list", "--all", "--name").out.strip() == ""


def test_malformed_xml(embed, xmlfile):
    res = embed.virsh("define", xmlfile("<domain type='xen'><name>x</name>"))
    assert res.rc != 0
    assert "XML error" in res.err or "xml" in res.err.lower()


def test_validate_flag_checks_schema(embed, xmlfile):
    bad = guest_xml().replace("<vcpu>2</vcpu>", "<vcpu>2</vcpu><bogus/>")
    res = embed.virsh("define", "--validate", xmlfile(bad))
    assert res.rc != 0
    assert "schema" in res.err.lower() or "relax-ng" in res.err.lower()
    assert embed.virsh("define", xmlfile(bad)).rc == 0


def test_unknown_domain(embed):
    for cmd in (["dominfo", "nope"], ["dumpxml", "nope"], ["undefine", "nope"],
                ["domstate", "nope"]):
        res = embed.virsh(*cmd)
        assert res.rc != 0
        assert "Domain not found" in res.err or "failed to get domain" in res.err


def test_metadata(embed, xmlfile):
    assert embed.virsh("define", xmlfile(guest_xml())).rc == 0
    assert embed.virsh("desc", "g1", "--config", "a guest").rc == 0
    assert embed.virsh("desc", "g1", "--config").out.strip() == "a guest"
    res = embed.virsh("metadata", "g1", "--config", "http://example.org/x",
                      "--key", "x", "--set", "<v>1</v>")
    assert res.rc == 0, res
    res = embed.virsh("metadata", "g1", "--config", "http://example.org/x")
    assert "<v>1</v>" in res.out
    # A live change needs a running domain.
    res = embed.virsh("desc", "g1", "--live", "x")
    assert res.rc != 0


def test_python_queries_and_errors(build_dir, short_dir):
    res = xvtest.python(textwrap.dedent("""\
        import sys, libvirt
        libvirt.virEventRegisterDefaultImpl()
        c = libvirt.open('xen:///embed?root=' + sys.argv[1])
        d = c.defineXML(sys.argv[2])
        assert d.isActive() == 0 and d.isPersistent() == 1
        assert d.isUpdated() == 0
        assert d.OSType() == 'xen'
        state, reason = d.state()
        assert state == libvirt.VIR_DOMAIN_SHUTOFF, state
        info = d.info()
        assert info[1] == 262144 and info[3] == 2, info
        assert d.maxMemory() == 262144
        assert c.lookupByUUIDString(d.UUIDString()).name() == 'g1'
        assert [x.name() for x in c.listAllDomains()] == ['g1']
        assert c.listDefinedDomains() == ['g1']
        for call in (lambda: c.lookupByName('nope'),
                     lambda: c.lookupByID(42),
                     lambda: c.lookupByUUIDString('11111111-2222-4333-8444-555555555555')):
            try:
                call()
                raise SystemExit('lookup of a missing domain succeeded')
            except libvirt.libvirtError as e:
                assert e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN, e
        try:
            c.defineXMLFlags(sys.argv[2], 1 << 5)
            raise SystemExit('unknown flag accepted')
        except libvirt.libvirtError as e:
            assert e.get_error_code() == libvirt.VIR_ERR_INVALID_ARG, e
        try:
            c.defineXML('<domain type="xen"><name>x</name>')
            raise SystemExit('malformed XML accepted')
        except libvirt.libvirtError as e:
            assert e.get_error_code() == libvirt.VIR_ERR_XML_DETAIL, e
        d.undefine()
        try:
            d.undefine()
            raise SystemExit('second undefine succeeded')
        except libvirt.libvirtError as e:
            assert e.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN, e
        print('ok')
        """), str(short_dir / "root"), guest_xml())
    assert res.rc == 0, res
    assert res.out.strip() == "ok"


FIXED_UUID = "5e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"

EVENTS_SCRIPT = textwrap.dedent("""\
    import sys, threading, time, libvirt
    libvirt.virEventRegisterDefaultImpl()
    # Three clients: three connections, each with its own callback.
    conns = [libvirt.open(sys.argv[1]) for _ in range(3)]
    c = conns[0]
    seen = {0: [], 1: [], 2: []}
    def cb(conn, dom, event, detail, who):
        seen[who].append((dom.name(), event, detail))
    ids = [conns[who].domainEventRegisterAny(
               None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, cb, who)
           for who in range(3)]
    def loop():
        while True:
            libvirt.virEventRunDefaultImpl()
    threading.Thread(target=loop, daemon=True).start()
    d = c.defineXML(sys.argv[2])
    d = c.defineXML(sys.argv[2])
    d.undefine()
    deadline = time.time() + 10
    while time.time() < deadline and any(len(v) < 3 for v in seen.values()):
        time.sleep(0.05)
    time.sleep(0.3)
    for conn, i in zip(conns, ids):
        conn.domainEventDeregisterAny(i)
    for who, events in seen.items():
        print(who, events)
    E = libvirt
    want = [('g1', E.VIR_DOMAIN_EVENT_DEFINED, E.VIR_DOMAIN_EVENT_DEFINED_ADDED),
            ('g1', E.VIR_DOMAIN_EVENT_DEFINED, E.VIR_DOMAIN_EVENT_DEFINED_UPDATED),
            ('g1', E.VIR_DOMAIN_EVENT_UNDEFINED, E.VIR_DOMAIN_EVENT_UNDEFINED_REMOVED)]
    assert all(v == want for v in seen.values()), seen
    print('ok')
    """)


def test_define_events_embedded(build_dir, short_dir):
    res = xvtest.python(EVENTS_SCRIPT, f"xen:///embed?root={short_dir}/r",
                        guest_xml(uuid=FIXED_UUID))
    assert res.rc == 0, res
    assert res.out.strip().endswith("ok")


def test_define_events_daemon(daemon):
    res = xvtest.python(EVENTS_SCRIPT, daemon.uri, guest_xml(uuid=FIXED_UUID))
    assert res.rc == 0, res
    assert res.out.strip().endswith("ok")


def test_daemon_define_and_readonly(daemon, xmlfile):
    res = daemon.virsh("define", xmlfile(guest_xml("dm")))
    assert res.rc == 0, res
    ro = daemon.virsh("dumpxml", "dm", readonly=True)
    assert ro.rc == 0 and "<name>dm</name>" in ro.out
    for cmd in (["undefine", "dm"], ["autostart", "dm"],
                ["desc", "dm", "--config", "x"]):
        res = daemon.virsh(*cmd, readonly=True)
        assert res.rc != 0, cmd
        assert "read only" in res.err or "read-only" in res.err
    assert daemon.virsh("undefine", "dm").rc == 0
