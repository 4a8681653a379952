"""The real-Xen tests' fixture: the harness, skipped with its reason where
it cannot run (tools/xen-testhost check) or cannot prepare its images.
XENVIRT_REALXEN=0 skips them all on purpose."""

import os

import pytest

from realxen import harness


def pytest_collection_modifyitems(config, items):
    if os.environ.get("XENVIRT_REALXEN") == "0":
        skip = pytest.mark.skip(reason="XENVIRT_REALXEN=0: real-Xen tests disabled")
        for item in items:
            if "realxen" in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def testhost():
    r = harness("check", "--install", timeout=900)
    if r.returncode != 0:
        pytest.skip("xen-testhost cannot run here: " + (r.stdout + r.stderr).strip())
    r = harness("prepare", timeout=900)
    if r.returncode != 0:
        pytest.skip("xen-testhost cannot prepare its images (network? apt?): "
                    + r.stderr.strip()[-400:])
    return harness
