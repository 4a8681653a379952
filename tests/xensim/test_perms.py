"""Permissions: dom0 vs the guest vs another guest."""
import pytest

from xsclient import XsError, GET_DOMAIN_PATH, INTRODUCE, RELEASE, \
    IS_DOMAIN_INTRODUCED, SET_TARGET, RESUME, CONTROL


def err(fn, *args):
    with pytest.raises(XsError) as e:
        fn(*args)
    return e.value.name


@pytest.fixture
def world(xsd):
    """dom0, guest 1 and guest 2, each with a home it owns."""
    d0 = xsd.dom0()
    g1 = xsd.guest(1)
    g2 = xsd.guest(2)
    yield d0, g1, g2
    for c in (d0, g1, g2):
        c.close()


def test_relative_paths_and_ownership(world):
    d0, g1, g2 = world
    g1.write("data/x", "1")
    assert d0.read("/local/domain/1/data/x") == b"1"
    assert g1.read("/local/domain/1/data/x") == b"1"
    # The guest owns what it creates; the rest inherits from the parent.
    assert g1.get_perms("data/x") == ["n1"]
    assert d0.read("/local/domain/1/data") == b""
    assert g1.request(GET_DOMAIN_PATH, b"1\0") == b"/local/domain/1\0"


def test_matrix(world):
    d0, g1, g2 = world
    d0.write("/local/domain/1/tool-node", "t")      # owned by dom0
    g1.write("mine", "m")                            # owned by 1, "n1"

    # Guest 1 on its own node: everything.
    assert g1.read("mine") == b"m"
    g1.write("mine", "m2")
    g1.set_perms("mine", ["n1", "r2"])
    # dom0 on anything: everything.
    assert d0.read("/local/domain/1/mine") == b"m2"
    d0.write("/local/domain/1/mine", "m3")
    # Guest 2, read-only by the entry above: can read, cannot write.
    assert g2.read("/local/domain/1/mine") == b"m3"
    assert err(g2.write, "/local/domain/1/mine", "x") == "EACCES"
    assert err(g2.rm, "/local/domain/1/mine") == "EACCES"
    assert err(g2.set_perms, "/local/domain/1/mine", ["b2"]) == "EACCES"
    # Guest 2 elsewhere in guest 1's home: nothing, and no existence probe.
    assert err(g2.read, "/local/domain/1/tool-node") == "EACCES"
    assert err(g2.read, "/local/domain/1/no-such-node") == "EACCES"
    assert err(g2.directory, "/local/domain/1") == "EACCES"
    assert err(g2.get_perms, "/local/domain/1") == "EACCES"
    assert err(g2.write, "/local/domain/1/new", "x") == "EACCES"
    assert err(g2.mkdir, "/local/domain/1/new") == "EACCES"
    # Guest 1 on a dom0-owned node inheriting "n1": owner is dom0 now.
    d0.set_perms("/local/domain/1/tool-node", ["n0"])
    assert err(g1.read, "tool-node") == "EACCES"
    assert err(g1.write, "tool-node", "x") == "EACCES"
    # Outside any home, the root is "n0": guests see nothing.
    assert err(g1.read, "/local/domain/0") == "EACCES"
    assert err(g1.write, "/vm/x", "1") == "EACCES"
    assert err(g1.read, "/vm/nothing/here") == "EACCES"
    # A genuinely missing node where the guest can look is ENOENT.
    assert err(g1.read, "nothing") == "ENOENT"


def test_guest_cannot_give_nodes_away(world):
    d0, g1, g2 = world
    g1.write("x", "1")
    assert err(g1.set_perms, "x", ["n2"]) == "EPERM"
    g1.set_perms("x", ["r1", "b2"])
    assert g2.read("/local/domain/1/x") == b"1"
    g2.write("/local/domain/1/x", "2")
    # Nodes guest 2 creates under a node it may write are its own.
    d0.set_perms("/local/domain/1", ["n1", "w2"])
    g2.write("/local/domain/1/from2", "z")
    assert d0.get_perms("/local/domain/1/from2") == ["n2", "w2"]


def test_privileged_requests_refused(world):
    d0, g1, g2 = world
    for mtype, payload in [(INTRODUCE, b"5\0" b"1\0" b"1\0"), (RELEASE, b"2\0"),
                           (IS_DOMAIN_INTRODUCED, b"2\0"),
                           (SET_TARGET, b"1\0" b"2\0"), (RESUME, b"2\0"),
                           (CONTROL, b"print\0hi\0")]:
        assert err(g1.request, mtype, payload) == "EACCES"
    assert d0.request(IS_DOMAIN_INTRODUCED, b"2\0") == b"T\0"
    assert d0.request(IS_DOMAIN_INTRODUCED, b"7\0") == b"F\0"


def test_special_watches_need_permission(world):
    d0, g1, g2 = world
    g1.watch("@introduceDomain", "intro")
    d0.watch("@introduceDomain", "intro")
    assert g1.wait_event() == (b"@introduceDomain", b"intro")
    assert d0.wait_event() == (b"@introduceDomain", b"intro")
    d0.introduce(3)
    assert d0.wait_event() == (b"@introduceDomain", b"intro")
    assert g1.wait_event(0.3) is None
    # Unless dom0 lets it.
    d0.set_perms("@introduceDomain", ["n0", "r1"])
    assert g1.get_perms("@introduceDomain") == ["n0", "r1"]
    d0.introduce(4)
    assert g1.wait_event() == (b"@introduceDomain", b"intro")
    assert err(g2.get_perms, "@introduceDomain") == "EACCES"
    assert err(d0.read, "@introduceDomain") == "EINVAL"


def test_set_target(xsd, world):
    d0, g1, g2 = world
    g1.write("secret", "s")
    assert err(g2.read, "/local/domain/1/secret") == "EACCES"
    d0.request(SET_TARGET, b"2\0" b"1\0")
    # Connections of domain 2 now act for domain 1 too.
    assert g2.read("/local/domain/1/secret") == b"s"
    with xsd.guest(2) as g2b:
        g2b.write("/local/domain/1/secret", "t")
    assert g1.read("secret") == b"t"
    assert err(d0.request, SET_TARGET, b"2\0" b"9\0") == "ENOENT"


def test_release_closes_guest(xsd, world):
    import os
    d0, g1, g2 = world
    d0.watch("@releaseDomain", "rel")
    assert d0.wait_event() == (b"@releaseDomain", b"rel")
    d0.release(2)
    assert d0.wait_event() == (b"@releaseDomain", b"rel")
    assert not os.path.exists(xsd.domain_sock(2))
    with pytest.raises((ConnectionError, OSError)):
        g2.read("x")
    assert err(d0.release, 2) == "ENOENT"
    # The other guest is unaffected.
    g1.write("still", "here")
