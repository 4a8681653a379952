"""Checks on the tree and the built plugin: layering, exported symbols, ACL
checks in every entry point, and the gettext catalogue."""

import re
import subprocess

import pytest

import xvtest

SRC = xvtest.TOP / "src"

LIBVIRT_HEADER = re.compile(
    r'#\s*include\s*[<"](libvirt/|internal\.h|driver[-a-z]*\.h|domain_conf\.h|'
    r'vir[a-z_]*\.h|datatypes\.h|capabilities\.h|object_event\.h)')
INCLUDE = re.compile(r'#\s*include\s*[<"]([^>"]+)[>"]')


def c_files(*dirs):
    for d in dirs:
        yield from sorted((SRC / d).rglob("*.[ch]"))


@pytest.mark.parametrize("layer", ["xlite", "xensim"])
def test_lower_layers_include_no_libvirt_header(layer):
    bad = [f"{f.relative_to(xvtest.TOP)}: {m.group(0)}"
           for f in c_files(layer)
           for m in LIBVIRT_HEADER.finditer(f.read_text())]
    assert bad == []


# DESIGN.md, "Names": the libraries' own namespaces are never ours, not
# even for a static function (a reader takes xs_exists for libxenstore's).
FOREIGN_DEFINITION = re.compile(r"^(xs|xc|libxl|vir)_\w*\(", re.M)


@pytest.mark.parametrize("layer", ["libxl", "xlite", "xensim"])
def test_no_function_in_a_foreign_namespace(layer):
    bad = [f"{f.relative_to(xvtest.TOP)}: {m.group(0)}"
           for f in c_files(layer)
           for m in FOREIGN_DEFINITION.finditer(f.read_text())]
    assert bad == []


def test_only_the_core_includes_its_internals():
    bad = [str(f.relative_to(xvtest.TOP))
           for f in c_files("libxl", "xensim")
           if any(m.group(1).endswith("xlite_internal.h")
                  for m in INCLUDE.finditer(f.read_text()))]
    assert bad == []


def test_simulator_shares_no_code_with_the_core():
    bad = [f"{f.relative_to(xvtest.TOP)}: {m.group(0)}"
           for f in c_files("xensim")
           for m in INCLUDE.finditer(f.read_text())
           if m.group(1).startswith("xlite")]
    assert bad == []


@pytest.mark.parametrize("name", ["libxl", "xen"])
def test_module_exports_only_its_register_function(name, build_dir):
    module = build_dir / "src" / "libxl" / f"libvirt_driver_{name}.so"
    out = subprocess.run(["nm", "-D", "--defined-only", str(module)],
                         capture_output=True, text=True, check=True).stdout
    symbols = [line.split()[-1] for line in out.splitlines() if line.strip()]
    assert symbols == [f"{name}Register"]


# Entry points that libvirt's own ACL rule check exempts: they expose
# nothing about the host or its domains.
ACL_EXEMPT = {"connectClose", "connectIsEncrypted", "connectIsSecure",
              "connectIsAlive", "connectURIProbe"}


def driver_table_entries():
    text = "".join(f.read_text() for f in c_files("libxl"))
    table = re.search(r"static virHypervisorDriver \w+ = \{(.*?)\n\};", text,
                      re.S)
    assert table, "no virHypervisorDriver table found"
    return re.findall(r"\.(\w+)\s*=\s*(\w+)", table.group(1))


def function_body(name):
    for f in c_files("libxl"):
        m = re.search(r"^%s\(.*?\n\{\n(.*?)\n\}\n" % re.escape(name),
                      f.read_text(), re.S | re.M)
        if m:
            return m.group(1)
    return None


def test_every_entry_point_checks_acl():
    missing = []
    entry_functions = {func for _, func in driver_table_entries()}
    for api, func in driver_table_entries():
        if api in ACL_EXEMPT or api == "name":
            continue
        body = function_body(func)
        assert body is not None, f"{func} not found"
        check = "vir" + api[0].upper() + api[1:]
        # A wrapper that only delegates to another entry point (defineXML
        # -> defineXMLFlags, setMaxMemory -> setMemoryFlags) is covered by
        # that entry point's own check, as libvirt's check-aclrules has it.
        delegate = re.fullmatch(r"\s*return (xv\w+)\(.*\);", body, re.S)
        if delegate:
            if delegate.group(1) in entry_functions and \
               re.search(r"\bvir\w+(Ensure|Check)ACL\b",
                         function_body(delegate.group(1)) or ""):
                continue
        if f"{check}EnsureACL" not in body and f"{check}CheckACL" not in body:
            missing.append(f"{api} ({func}) does not call {check}EnsureACL")
    assert missing == []


def test_potfiles_lists_every_translated_file():
    listed = set((xvtest.TOP / "po" / "POTFILES.in").read_text().split())
    translated = {str(f.relative_to(xvtest.TOP)) for f in c_files("libxl")
                  if '_("' in f.read_text()}
    assert translated - listed == set()


def msgids(path):
    text = path.read_text()
    ids = set(re.findall(r'^msgid "(.*)"\n((?:".*"\n)*)', text, re.M))
    return {a + "".join(re.findall(r'"(.*)"', b)) for a, b in ids} - {""}


def test_committed_catalogue_template_is_current(build_dir):
    fresh = msgids(build_dir / "po" / "xenvirt.pot")
    committed = msgids(xvtest.TOP / "po" / "xenvirt.pot")
    assert fresh, "the build wrote an empty template"
    assert fresh == committed, \
        "po/xenvirt.pot is stale: run ninja -C build xenvirt-pot"
