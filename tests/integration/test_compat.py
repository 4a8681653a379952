"""Parity with libvirt 9.0's own Xen driver (issue 16): every domain XML of
libvirt's own test data for its Xen driver is defined through real
python-libvirt, read back, and compared with the input by meaning.

The data is read from the libvirt source tree the build uses (never copied
into this repository): tests/libxlxml2domconfigdata/*.xml and the XML files
of tests/xlconfigdata.  Where the tree is absent the tests say so and are
skipped.

"By meaning" is: every element, attribute and text of the input is in the
XML read back (libvirt adds its defaults: controllers, input devices,
addresses, a console for a serial port...), after the normalisations
libvirt's own parser makes on any driver (listed in NORMALISED below).
Nothing the user wrote may be silently dropped.
"""

import json
import shutil
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import xvtest


def libvirt_tree():
    """The libvirt source tree the build was configured with, else the one
    tools/setup-deps unpacks, else None."""
    intro = xvtest.build_dir() / "meson-info" / "intro-buildoptions.json"
    if intro.exists():
        for opt in json.loads(intro.read_text()):
            if opt["name"] == "libvirt_src" and opt["value"]:
                if Path(opt["value"], "tests").is_dir():
                    return Path(opt["value"])
    for cand in sorted((xvtest.TOP / ".cache" / "libvirt").glob("*/src")):
        if (cand / "tests").is_dir():
            return cand
    return None


TREE = libvirt_tree()


def data_files():
    if TREE is None:
        return []
    files = sorted((TREE / "tests" / "libxlxml2domconfigdata").glob("*.xml"))
    files += sorted((TREE / "tests" / "xlconfigdata").glob("*.xml"))
    return files


def file_id(path):
    return f"{path.parent.name}/{path.name}"


# Run in one python-libvirt process: define, read back the inactive XML,
# undefine; the answers as JSON lines.
DEFINE_ALL = r"""
import json, sys
import libvirt
libvirt.virEventRegisterDefaultImpl()
libvirt.registerErrorHandler(lambda *a: None, None)
conn = libvirt.open(sys.argv[1])
for path in sys.argv[2:]:
    res = {"file": path}
    try:
        dom = conn.defineXML(open(path).read())
        res["xml"] = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE |
                                 libvirt.VIR_DOMAIN_XML_SECURE)
        dom.undefine()
    except libvirt.libvirtError as e:
        res["error"] = e.get_error_message()
        res["code"] = e.get_error_code()
    print(json.dumps(res), flush=True)
"""


@pytest.fixture(scope="module")
def defined(build_dir):
    """Every data file defined in one embedded root: {path: result}."""
    if TREE is None:
        pytest.skip("libvirt's source tree is absent (tools/setup-deps "
                    "unpacks it into .cache/libvirt): no libvirt test data")
    d = Path(tempfile.mkdtemp(prefix="xv-"))
    try:
        root = d / "root"
        root.mkdir()
        res = xvtest.python(DEFINE_ALL, f"xen:///embed?root={root}",
                            *[str(f) for f in data_files()], timeout=300)
        assert res.rc == 0, res
        out = {}
        for line in res.out.splitlines():
            r = json.loads(line)
            out[r["file"]] = r
        return out
    finally:
        xvtest.stop_simulated_hosts(d)
        shutil.rmtree(d, ignore_errors=True)


# --- comparison by meaning ---------------------------------------------

# libvirt's parser (any driver's) rewrites a few spellings of the same
# meaning; each rewrite is undone on the input before comparing.

def normalise_input(root):
    # <clock offset='localtime' adjustment='N'> is read as an adjustment
    # on a local time basis.
    clock = root.find("clock")
    if clock is not None and clock.get("offset") == "localtime" \
            and clock.get("adjustment"):
        clock.set("offset", "variable")
        clock.set("basis", "localtime")
    # A value that names libvirt's default is not written back.
    for elem in root.iter():
        for attr, value in list(elem.attrib.items()):
            if value == "default" and attr in ("cache", "io", "discard"):
                del elem.attrib[attr]
    return root


def norm_value(tag, attr, value):
    v = value.strip()
    if attr == "address" and tag == "mac":
        return v.lower()
    # PCI addresses are written as 0x%04x / 0x%02x / 0x%x.
    if attr in ("domain", "bus", "slot", "function") and v.startswith("0x"):
        return str(int(v, 16))
    if v in ("on", "yes"):
        return "yes"
    if v in ("off", "no"):
        return "no"
    return v


# Sizes are compared in KiB, whatever unit the input uses.
KIB = {"b": 1 / 1024, "bytes": 1 / 1024, "k": 1, "kib": 1, "kb": 1000 / 1024,
       "m": 1024, "mib": 1024, "mb": 1e6 / 1024, "g": 1024 ** 2,
       "gib": 1024 ** 2, "gb": 1e9 / 1024}


def norm_text(elem):
    text = (elem.text or "").strip()
    unit = elem.get("unit")
    if unit and text.isdigit():
        return str(int(int(text) * KIB[unit.lower()]))
    return text


def norm_attrs(elem):
    return {k: norm_value(elem.tag, k, v) for k, v in elem.attrib.items()
            if k != "unit"}


def matches(want, have):
    """True when @have carries all of @want (tag, attributes, text, and,
    recursively, each child matched by a distinct child)."""
    if want.tag != have.tag:
        return False
    hattrs = norm_attrs(have)
    for k, v in norm_attrs(want).items():
        if hattrs.get(k) != v:
            return False
    if norm_text(want) and norm_text(want) != norm_text(have):
        return False
    used = set()
    for wc in want:
        for i, hc in enumerate(have):
            if i not in used and matches(wc, hc):
                used.add(i)
                break
        else:
            return False
    return True


def missing(want, have, path=""):
    """The paths of the parts of @want that @have lacks (for the report)."""
    here = f"{path}/{want.tag}"
    out = []
    hattrs = norm_attrs(have)
    for k, v in norm_attrs(want).items():
        if hattrs.get(k) != v:
            out.append(f"{here}/@{k}={v!r} (read back: {hattrs.get(k)!r})")
    if norm_text(want) and norm_text(want) != norm_text(have):
        out.append(f"{here} text {norm_text(want)!r} (read back: {norm_text(have)!r})")
    used = set()
    for wc in want:
        cands = [(i, hc) for i, hc in enumerate(have)
                 if i not in used and hc.tag == wc.tag]
        exact = [(i, hc) for i, hc in cands if matches(wc, hc)]
        if exact:
            used.add(exact[0][0])
        elif cands:
            used.add(cands[0][0])
            out += missing(wc, cands[0][1], here)
        else:
            out.append(f"{here}/{wc.tag} dropped")
    return out


@pytest.mark.parametrize("path", data_files() or [None],
                         ids=lambda p: file_id(p) if p else "no-libvirt-tree")
def test_define_reads_back(defined, path):
    res = defined[str(path)]
    assert "error" not in res, \
        f"{file_id(path)} refused: {res['error']} (code {res['code']})"
    want = normalise_input(ET.parse(path).getroot())
    have = ET.fromstring(res["xml"])
    lost = missing(want, have)
    assert not lost, f"{file_id(path)} lost:\n  " + "\n  ".join(lost)
