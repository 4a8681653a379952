"""Layering (DESIGN.md section 1, STYLE.md): xensim shares no code with
libxlite and knows nothing of libvirt; it defines no xs_/xc_/vir/libxl_
symbols of its own."""
import os
import re
import subprocess

from conftest import REPO, BUILD

SRC = os.path.join(REPO, "src", "xensim")


def test_includes():
    bad = []
    for name in sorted(os.listdir(SRC)):
        if not name.endswith((".c", ".h")):
            continue
        with open(os.path.join(SRC, name)) as f:
            for line in f:
                m = re.match(r'\s*#\s*include\s*[<"]([^>"]+)[>"]', line)
                if m and re.search(r"(^|/)(xlite|libvirt|libxl|vir)", m.group(1)):
                    bad.append("%s: %s" % (name, line.strip()))
    assert bad == []


def test_symbol_prefixes():
    lib = os.path.join(BUILD, "src", "xensim", "libxensim.a")
    out = subprocess.run(["nm", "-g", "--defined-only", lib], capture_output=True,
                         text=True, check=True).stdout
    syms = [l.split()[-1] for l in out.splitlines() if len(l.split()) == 3]
    # AddressSanitizer's ODR indicators (__odr_asan.NAME), in a sanitizer
    # build, are the compiler's, not ours.
    syms = [s for s in syms if not s.startswith("__odr_asan")]
    assert syms
    assert [s for s in syms if not s.startswith("xsim_")] == []
