"""Xen's own tools against xensimd: test-xenstore and xenstore-utils."""
import os
import signal
import subprocess

import pytest

TEST_XENSTORE = "/usr/lib/xen-4.17/bin/test-xenstore"


def xs_env(xsd):
    env = dict(os.environ)
    env["XENSTORED_PATH"] = xsd.sock
    # In the sanitizer stage, Xen's own tools are not ours to check for
    # leaks (xenstore-ls -p leaves xs_get_permissions' result to the exit).
    if "ASAN_OPTIONS" in env:
        env["ASAN_OPTIONS"] = env["ASAN_OPTIONS"].replace("detect_leaks=1",
                                                          "detect_leaks=0")
    return env


def run(xsd, *cmd, check=True):
    return subprocess.run(list(cmd), env=xs_env(xsd), capture_output=True,
                          text=True, timeout=60, check=check)


@pytest.mark.skipif(not os.path.exists(TEST_XENSTORE), reason="xen-utils-4.17 missing")
def test_test_xenstore_all(xsd):
    # What a booted host has there (xen-init-dom0's name and domid).
    before = run(xsd, "xenstore-ls", "/local/domain/0").stdout.strip()
    assert before == 'name = "Domain-0"\ndomid = "0"'
    out = run(xsd, TEST_XENSTORE)
    listed = run(xsd, TEST_XENSTORE, "-l").stdout.strip().splitlines()
    ran = [l for l in out.stdout.splitlines() if " ns" in l]
    assert "failed" not in out.stdout
    assert len(ran) == len(listed) >= 12
    # It cleans up after itself.
    assert run(xsd, "xenstore-ls", "/local/domain/0").stdout.strip() == before


@pytest.mark.skipif(not os.path.exists(TEST_XENSTORE), reason="xen-utils-4.17 missing")
def test_test_xenstore_iterations(xsd):
    out = run(xsd, TEST_XENSTORE, "-i", "50")
    assert "failed" not in out.stdout
    assert "avg:" in out.stdout


@pytest.mark.skipif(not os.path.exists(TEST_XENSTORE), reason="xen-utils-4.17 missing")
def test_test_xenstore_random_and_concurrent(xsd):
    # Four at once: their transactions conflict on the shared parent and
    # must retry, not fail.
    procs = [subprocess.Popen([TEST_XENSTORE, "-r", "3", "-i", "5"],
                              env=xs_env(xsd), stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0, out


def test_utils_write_read_ls_rm(xsd):
    run(xsd, "xenstore-write", "/vm/a", "1", "/vm/b/c", "two words")
    assert run(xsd, "xenstore-read", "/vm/a").stdout == "1\n"
    assert run(xsd, "xenstore-read", "/vm/b/c").stdout == "two words\n"
    ls = run(xsd, "xenstore-ls", "/vm").stdout
    assert 'a = "1"' in ls and 'c = "two words"' in ls
    assert run(xsd, "xenstore-exists", "/vm/b").returncode == 0
    run(xsd, "xenstore-rm", "/vm/b")
    assert run(xsd, "xenstore-exists", "/vm/b", check=False).returncode != 0
    r = run(xsd, "xenstore-read", "/vm/b/c", check=False)
    assert r.returncode != 0


def test_utils_list_large_directory(xsd):
    # Over 4096 bytes of names: DIRECTORY says E2BIG, libxenstore falls
    # back to DIRECTORY_PART.
    with xsd.dom0() as c:
        for i in range(300):
            c.write("/big/child-with-a-longish-name-%03d" % i, "")
    out = run(xsd, "xenstore-list", "/big").stdout.split()
    assert len(out) == 300


def test_utils_chmod(xsd):
    run(xsd, "xenstore-write", "/p/x", "v")
    run(xsd, "xenstore-chmod", "/p/x", "n0", "r5", "w7")
    ls = run(xsd, "xenstore-ls", "-p", "/p").stdout
    assert "(n0,r5,w7)" in ls
    run(xsd, "xenstore-chmod", "-r", "/p", "b3")
    assert "(b3)" in run(xsd, "xenstore-ls", "-p", "/p").stdout


def test_utils_watch(xsd):
    run(xsd, "xenstore-write", "/w", "")
    proc = subprocess.Popen(["xenstore-watch", "-n", "3", "/w"], env=xs_env(xsd),
                            stdout=subprocess.PIPE, text=True)
    try:
        # The initial event says the watch is in place.
        first = proc.stdout.readline()
        run(xsd, "xenstore-write", "/w/a", "1")
        run(xsd, "xenstore-rm", "/w/a")
        out, _ = proc.communicate(timeout=10)
        out = first + out
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert out.split() == ["/w", "/w/a", "/w/a"]


def test_utils_as_guest(xsd):
    # A guest's endpoint works with the stock tools too, as that domain.
    xsd.guest(4).close()
    env = dict(xs_env(xsd), XENSTORED_PATH=xsd.domain_sock(4))
    subprocess.run(["xenstore-write", "data/x", "1"], env=env, check=True,
                   timeout=30)
    r = subprocess.run(["xenstore-read", "/local/domain/4/data/x"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.stdout == "1\n"
    r = subprocess.run(["xenstore-ls", "/local/domain/0"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert run(xsd, "xenstore-read", "/local/domain/4/data/x").stdout == "1\n"
