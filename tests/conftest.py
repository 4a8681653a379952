"""What every pytest suite shares: which tests run alone.

`tools/run test` runs the suites in two passes: first the tests not marked
`serial`, two at a time (pytest-xdist, `-n 2 --dist loadfile`: a module's
tests stay in one worker, in order, with its module fixtures), then the
`serial` ones one after another.  Most tests spend their time waiting for a
daemon, a guest or a timeout, so two at a time halves their wall time on
this project's 2-core machines.  A test is serial when what it asserts
depends on the machine not being shared: a latency or a ratio measured
beside another guest, a soak's bound on each call, a deliberate race whose
window a busy machine widens, CPU time counted against wall time, or the
real Xen host, which runs under QEMU's TCG and takes both cores.
"""

import pytest

SERIAL_MODULES = {
    "test_adversary",            # a good guest's latency beside a hostile one
    "test_queries_during_start", # query latency during a slow start: a ratio
    "test_soak",                 # 16 clients, a bound on every call
    "test_kill_soak",            # kills at random moments, bounded recoveries
    "test_races",                # races with timed windows
    "test_monitoring",           # CPU time against wall time
    "test_hv_scale",             # hundreds of simulated domains
}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "serial: runs alone, after the tests that run two at a "
        "time (tests/conftest.py)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.path.stem
        if module in SERIAL_MODULES or item.path.parent.name == "realxen":
            item.add_marker(pytest.mark.serial)
