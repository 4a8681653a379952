"""Many clients at once through Debian's libvirtd: 16 python-libvirt
connections doing random operations on 20 simulated domains for a bounded
time (XENVIRT_SOAK_SECONDS, 60 by default; bench/driver/soak.py runs it for
10 minutes).  A watchdog bounds every call; afterwards every client has seen
the same lifecycle events per domain, libvirt's running domains are the
host's, and libvirtd's memory and fds are back near where they stood."""

import json
import os
import re
import textwrap
import time
from pathlib import Path

import xvtest

XENSIMCTL = xvtest.build_dir() / "tools" / "xensimctl"
SECONDS = float(os.environ.get("XENVIRT_SOAK_SECONDS", "60"))
CLIENTS = 16
DOMAINS = 20
# No call may take longer than this: libvirt waits 30 s for a domain's job
# before it gives up, and no job here takes more than a few seconds.
CALL_BOUND = 30.0


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def settled(pid, seconds=2.0, timeout=20):
    """libvirtd's fd count once it has stayed the same for @seconds (a
    client's socket is closed by the daemon's event loop a little after the
    client goes), and its resident memory then."""
    deadline = time.monotonic() + timeout
    last, since = fd_count(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        n = fd_count(pid)
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= seconds:
            break
    return {"rss_kib": rss_kib(pid), "fds": last, "threads": threads(pid)}


def guest_xml(workdir, name, n):
    kernel = workdir / "soak.kernel"
    if not kernel.exists():
        kernel.write_text("a simulated kernel\n")
    disk = workdir / f"{name}.img"
    if not disk.exists():
        disk.write_bytes(b"\0" * 65536)
    return textwrap.dedent(f"""\
        <domain type='xen'>
          <name>{name}</name>
          <uuid>6b1d0f3e-2c4a-4e8b-9a7d-5f00000000{n:02d}</uuid>
          <memory unit='MiB'>64</memory>
          <os><type arch='x86_64'>xen</type><kernel>{kernel}</kernel></os>
          <devices>
            <disk type='file' device='disk'>
              <source file='{disk}'/><target dev='xvda' bus='xen'/>
            </disk>
          </devices>
        </domain>""")


# The clients, in a process of their own.  Each has its own connection and
# registers for lifecycle events before any of them starts; a watchdog
# thread looks at every call in flight.  Calls may fail (a start of a
# running domain is refused); a broken connection, a job that could not be
# had in 30 s or an internal error may not.  After the time is up the
# clients stop, the domains settle, the views are compared, every domain is
# destroyed and undefined and the connections are closed.  The result is
# one JSON line.
SOAK = textwrap.dedent("""\
    import json, random, subprocess, sys, threading, time, libvirt

    uri, xmlfile, simctl, rundir = sys.argv[1:5]
    seconds, nclients, bound, seed = (float(sys.argv[5]), int(sys.argv[6]),
                                      float(sys.argv[7]), int(sys.argv[8]))
    XML = json.load(open(xmlfile))
    NAMES = sorted(XML)
    libvirt.registerErrorHandler(lambda *a: None, None)
    libvirt.virEventRegisterDefaultImpl()

    def loop():
        while True:
            libvirt.virEventRunDefaultImpl()
    threading.Thread(target=loop, daemon=True).start()

    conns = [libvirt.open(uri) for _ in range(nclients)]
    seen = [dict() for _ in range(nclients)]
    for i, c in enumerate(conns):
        c.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
            lambda conn, d, e, det, who: seen[who].setdefault(
                d.name(), []).append((e, det)), i)

    def host_names():
        out = subprocess.run([simctl, '--rundir', rundir, 'list'],
                             capture_output=True, text=True, check=True).stdout
        return {l.split()[0] for l in out.splitlines()[1:]} - {'Domain-0'}

    def libvirt_names(c):
        return {d.name() for d in c.listAllDomains(
            libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)}

    def lookup(c, name):
        return c.lookupByName(name)

    OPS = [
        ('define', 2, lambda c, n: c.defineXML(XML[n])),
        ('start', 3, lambda c, n: lookup(c, n).create()),
        ('shutdown', 1, lambda c, n: lookup(c, n).shutdown()),
        ('destroy', 2, lambda c, n: lookup(c, n).destroy()),
        ('suspend', 1, lambda c, n: lookup(c, n).suspend()),
        ('resume', 1, lambda c, n: lookup(c, n).resume()),
        ('setmem', 1, lambda c, n: lookup(c, n).setMemoryFlags(
            random.randrange(32768, 65537, 1024),
            libvirt.VIR_DOMAIN_AFFECT_CURRENT)),
        ('dominfo', 3, lambda c, n: lookup(c, n).info()),
        ('list', 2, lambda c, n: c.listAllDomains()),
        ('undefine', 1, lambda c, n: lookup(c, n).undefine()),
    ]
    CHOICES = [op for op in OPS for _ in range(op[1])]
    FATAL = (libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_ERR_RPC,
             libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_ERR_OPERATION_TIMEOUT)

    lock = threading.Lock()
    inflight = {}           # client -> (op, name, start)
    latencies = {}          # op -> [seconds]
    errors = {}             # (op, code) -> count
    problems = []
    stop = threading.Event()

    def client(i):
        rng = random.Random(seed * 1000 + i)
        c = conns[i]
        while not stop.is_set():
            op, _, fn = rng.choice(CHOICES)
            name = rng.choice(NAMES)
            t = time.monotonic()
            with lock:
                inflight[i] = (op, name, t)
            err = None
            try:
                fn(c, name)
            except libvirt.libvirtError as e:
                err = e
            took = time.monotonic() - t
            with lock:
                del inflight[i]
                latencies.setdefault(op, []).append(took)
                if err is not None:
                    key = '%s %d' % (op, err.get_error_code())
                    errors[key] = errors.get(key, 0) + 1
                    if err.get_error_code() in FATAL:
                        problems.append(('error', op, name,
                                         err.get_error_code(), str(err)))
                if took > bound:
                    problems.append(('slow call', op, name, round(took, 1)))
            if err is not None and not c.isAlive():
                problems.append(('connection lost', i))
                return

    stuck = set()
    def watchdog():
        while not stop.wait(0.5) or inflight:
            now = time.monotonic()
            with lock:
                for i, (op, name, t) in inflight.items():
                    if now - t > bound and (i, t) not in stuck:
                        stuck.add((i, t))
                        problems.append(('call in flight past the bound',
                                         op, name, round(now - t, 1)))
            if stop.is_set() and not any(th.is_alive() for th in clients):
                return

    clients = [threading.Thread(target=client, args=(i,), daemon=True)
               for i in range(nclients)]
    dog = threading.Thread(target=watchdog, daemon=True)
    t0 = time.monotonic()
    for th in clients:
        th.start()
    dog.start()
    time.sleep(seconds)
    stop.set()
    for th in clients:
        th.join(bound + 10)
    elapsed = time.monotonic() - t0
    if any(th.is_alive() for th in clients):
        problems.append(('deadlock: clients still in calls',
                         sorted(map(str, inflight.values()))))

    # Quiesce: shutdowns asked of running guests complete, paused ones stay
    # paused; the two views must meet.
    c = conns[0]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if host_names() == libvirt_names(c):
            break
        time.sleep(0.2)
    host, virt = sorted(host_names()), sorted(libvirt_names(c))
    if host != virt:
        # What libvirt says of each domain the views disagree on: its
        # state and reason, its id (the test prints the daemon's log of it).
        said = {}
        for name in sorted(set(host) ^ set(virt)):
            try:
                d = lookup(c, name)
                said[name] = [d.ID(), d.state()]
            except libvirt.libvirtError as e:
                said[name] = str(e)
        problems.append(('views differ', host, virt, said))

    # Every event sent is delivered before the counts stand still.
    def counts():
        return [sum(len(v) for v in s.values()) for s in seen]
    last, since = counts(), time.monotonic()
    while time.monotonic() - since < 2:
        time.sleep(0.2)
        if counts() != last:
            last, since = counts(), time.monotonic()
    events = sum(len(v) for v in seen[0].values())
    for i in range(1, nclients):
        for name in sorted(set(seen[0]) | set(seen[i])):
            a, b = seen[0].get(name, []), seen[i].get(name, [])
            if a != b:
                problems.append(('events differ', name, 0, i, len(a), len(b),
                                 next((k for k, (x, y) in
                                       enumerate(zip(a, b)) if x != y),
                                      min(len(a), len(b)))))

    # Leave nothing: every domain destroyed and undefined.
    for d in c.listAllDomains():
        try:
            persistent = d.isPersistent()
            if d.isActive():
                d.destroy()
            if persistent:
                d.undefine()
        except libvirt.libvirtError as e:
            problems.append(('cleanup', d.name(), str(e)))
    if c.listAllDomains() or host_names():
        problems.append(('left after cleanup', host_names(),
                         [d.name() for d in c.listAllDomains()]))
    for x in conns:
        x.close()

    every = sorted(t for v in latencies.values() for t in v)
    def p(q):
        return every[min(len(every) - 1, int(q * len(every)))] if every else 0
    print(json.dumps({
        'seconds': round(elapsed, 1),
        'calls': len(every),
        'calls_per_s': round(len(every) / elapsed, 1),
        'max_s': round(every[-1], 3) if every else 0,
        'p99_s': round(p(0.99), 3),
        'p50_s': round(p(0.5), 4),
        'slowest_op': max(latencies, key=lambda k: max(latencies[k]))
                      if latencies else None,
        'per_op': {k: [len(v), round(max(v), 3)] for k, v in
                   sorted(latencies.items())},
        'errors': errors,
        'events': events,
        'problems': problems[:40],
    }))
    """)


def run_clients(daemon, workdir, seconds, seed):
    xml = {f"s{i:02d}": guest_xml(workdir, f"s{i:02d}", i)
           for i in range(DOMAINS)}
    xmlfile = workdir / "soak-xml.json"
    xmlfile.write_text(json.dumps(xml))
    res = xvtest.python(SOAK, daemon.uri, str(xmlfile), str(XENSIMCTL),
                        str(daemon.sim_rundir), str(seconds), str(CLIENTS),
                        str(CALL_BOUND), str(seed),
                        timeout=seconds + CALL_BOUND + 240)
    assert res.rc == 0, res
    return json.loads(res.out.strip().splitlines()[-1])


def disagreement_log(daemon, result):
    """The daemon's log lines of the domains whose views differed."""
    said = {n: v for p in result["problems"] if p[0] == "views differ"
            for n, v in p[3].items()}
    if not said:
        return ""
    keys = [re.escape(f"'{n}'") for n in said] + [
        rf"\b(domain|domid) {v[0]}\b" for v in said.values()
        if isinstance(v, list) and v[0] > 0]
    match = re.compile("|".join(keys)).search
    lines = [line for line in daemon.log().splitlines() if match(line)]
    return "\n".join(lines)[-8000:]


def test_many_clients(own_daemon, tmp_path):
    pid = own_daemon.pid
    seed = int(os.environ.get("XENVIRT_TEST_SEED", "1809"))
    # A short warm-up with the same clients first: libvirtd's worker pool
    # grows to its size and glibc gives its threads their malloc arenas,
    # memory that stays with the process and is not a leak.  The baseline
    # is taken after it, with no client connected and no domain defined.
    warm = run_clients(own_daemon, tmp_path, 5, seed + 1)
    assert warm["problems"] == [], (warm, disagreement_log(own_daemon, warm))
    before = settled(pid)
    soak = run_clients(own_daemon, tmp_path, SECONDS, seed)
    after = settled(pid)
    print(f"\nsoak: {CLIENTS} clients, {DOMAINS} domains, "
          f"{soak['seconds']} s, {soak['calls']} calls "
          f"({soak['calls_per_s']}/s), {soak['events']} events per client")
    print(f"soak: latency max {soak['max_s']} s ({soak['slowest_op']}), "
          f"p99 {soak['p99_s']} s, p50 {soak['p50_s']} s")
    print(f"soak: per op [calls, max s]: {soak['per_op']}")
    print(f"soak: refused calls by error code: {soak['errors']}")
    grown = after["rss_kib"] - before["rss_kib"]
    print(f"soak: libvirtd rss {before['rss_kib']} -> {after['rss_kib']} KiB "
          f"({grown * 1024 / max(1, soak['calls']):.0f} bytes per call), "
          f"fds {before['fds']} -> {after['fds']}, "
          f"threads {before['threads']} -> {after['threads']}")
    assert soak["problems"] == [], (soak["problems"],
                                    disagreement_log(own_daemon, soak))
    assert soak["calls"] > 0
    assert Path(f"/proc/{pid}").exists(), own_daemon.log()[-3000:]
    # Every fd a client or a domain had is closed again.
    assert after["fds"] <= before["fds"], (before, after)
    # Threads come from pools with fixed bounds (libvirtd's max_workers 20,
    # prio_workers 5, admin 5; GLib's shared pool behind the driver's event
    # queues, at most 16): the pools may still grow a little after the
    # warm-up, but never past these, whatever the number of calls.
    assert after["threads"] <= 1 + 20 + 5 + 5 + 2 + 16, (before, after)
    # Memory: the pools' threads and malloc arenas exist after the warm-up;
    # what still grows is the heap settling under this mix, which tapers
    # off (measured: about 1.6 MiB after one minute, 3.3 MiB after ten,
    # 300,000 calls; listAllDomains through libvirt's own test driver in
    # the same daemon grows the same way, then stops).  4 MiB is above
    # that and far below a leak per call: the one this soak found (a
    # libxenstore message body per domain start, about 300 bytes) showed
    # as 44 bytes per call, 8 MiB in ten minutes.  Under the sanitizer
    # stage there is no such bound: AddressSanitizer's quarantine keeps
    # freed memory on purpose, and LeakSanitizer checks leaks at exit.
    if not os.environ.get("XENVIRT_OWN_ASAN_OPTIONS"):
        assert after["rss_kib"] - before["rss_kib"] < 4096, (before, after)
    host = xvtest.sim_domains(own_daemon.sim_rundir)
    assert host == {}, host
