"""A client of xensimd's hypervisor control socket, and a tiny toolstack.

HvClient speaks docs/xensim-hypervisor-protocol.md directly (one JSON
object a line), so the tests check the protocol, not libxlite's reading of
it.  Notifications that arrive while a reply is awaited are kept in order
in `events`.

Toolstack does what libxl does around the hypervisor calls: the domain's
xenstore home, its device front and back nodes, INTRODUCE, and the cleanup
after destroy.
"""
import json
import os
import socket
import time
import uuid as uuidlib

from xsclient import XsClient


class HvError(Exception):
    def __init__(self, name, message):
        super().__init__("%s: %s" % (name, message))
        self.name = name
        self.message = message


class HvClient:
    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 0
        self.events = []

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv_line(self, timeout=None):
        old = self.sock.gettimeout()
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed by xensimd")
                self.buf += chunk
        finally:
            self.sock.settimeout(old)
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def call_raw(self, msg):
        """Send one request object; return the whole reply object."""
        self.send_raw(json.dumps(msg).encode() + b"\n")
        while True:
            obj = self.recv_line()
            if "event" in obj:
                self.events.append(obj)
                continue
            return obj

    def call(self, op, **args):
        self.next_id += 1
        reply = self.call_raw(dict(id=self.next_id, op=op, **args))
        assert reply["id"] == self.next_id, reply
        if "error" in reply:
            raise HvError(reply["error"], reply["message"])
        return reply["ok"]

    def wait_event(self, timeout=5.0):
        if self.events:
            return self.events.pop(0)
        try:
            return self.recv_line(timeout)
        except socket.timeout:
            return None

    def drain_events(self, quiet=0.2):
        got = []
        while True:
            ev = self.wait_event(quiet)
            if ev is None:
                return got
            got.append(ev)

    # -- convenience --
    def info(self, domid):
        return self.call("info", domid=domid)

    def domids(self):
        return [d["domid"] for d in self.call("list")["domains"]]


def wait_until(cond, timeout=10.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


XenbusStateInitialising = 1
XenbusStateInitWait = 2
XenbusStateInitialised = 3
XenbusStateConnected = 4
XenbusStateClosing = 5
XenbusStateClosed = 6

DEVICE_KINDS = ("vbd", "vif", "console", "vkb")


class Toolstack:
    """Just enough of libxl's domain creation for the tests."""

    def __init__(self, rundir):
        self.rundir = str(rundir)
        self.hv = HvClient(os.path.join(self.rundir, "hypervisor.sock"))
        self.xs = XsClient(os.path.join(self.rundir, "xenstored", "socket"))

    def close(self):
        self.hv.close()
        self.xs.close()

    def create(self, kernel, memkb=262144, vcpus=2, type="pv", uuid=None,
               disks=(), nics=0, console=True, vkb=False, name=None):
        """create + build + xenstore nodes + INTRODUCE; the domain stays paused."""
        uuid = uuid or str(uuidlib.uuid4())
        domid = self.hv.call("create", uuid=uuid, type=type,
                             max_vcpus=vcpus, max_memkb=memkb)["domid"]
        args = {"domid": domid}
        if kernel is not None:
            args["kernel"] = str(kernel)
        self.hv.call("build", **args)
        xs = self.xs
        home = "/local/domain/%d" % domid
        # libxl__domain_make's permissions: the home is dom0's and readable
        # by the guest; the nodes the guest writes are pre-created as its own.
        ro = ["n0", "r%d" % domid]
        rw = ["n%d" % domid]
        xs.mkdir(home)
        xs.set_perms(home, ro)
        xs.write("/vm/%s/uuid" % uuid, uuid)
        xs.write(home + "/vm", "/vm/" + uuid)
        xs.write(home + "/name", name or "guest%d" % domid)
        xs.write(home + "/domid", str(domid))
        for d in ("device", "control"):
            xs.mkdir(home + "/" + d)
        for d in ("control/shutdown", "control/feature-poweroff",
                  "control/feature-reboot", "control/feature-suspend",
                  "control/sysrq", "data", "drivers", "feature", "attr",
                  "error"):
            xs.mkdir(home + "/" + d)
            xs.set_perms(home + "/" + d, rw)
        xs.write(home + "/memory/static-max", str(memkb))
        xs.write(home + "/memory/target", str(memkb))
        for i, params in enumerate(disks):
            self.add_device(domid, "vbd", 51712 + 16 * i,
                            {"params": str(params), "type": "file",
                             "mode": "w", "dev": "xvd" + chr(ord("a") + i),
                             "device-type": "disk"},
                            {"virtual-device": str(51712 + 16 * i),
                             "device-type": "disk"})
        for i in range(nics):
            self.add_device(domid, "vif", i,
                            {"mac": "00:16:3e:00:%02x:%02x" % (domid % 256, i),
                             "bridge": "xenbr0", "script": "vif-bridge",
                             "handle": str(i)},
                            {"mac": "00:16:3e:00:%02x:%02x" % (domid % 256, i),
                             "handle": str(i)})
        if vkb:
            self.add_device(domid, "vkb", 0, {}, {})
        if console:
            self.add_console(domid)
        xs.introduce(domid, mfn=domid * 1000, port=1)
        return domid

    def add_device(self, domid, kind, devid, back, front):
        xs = self.xs
        fe = "/local/domain/%d/device/%s/%d" % (domid, kind, devid)
        be = "/local/domain/0/backend/%s/%d/%d" % (kind, domid, devid)
        xs.mkdir(be)
        xs.set_perms(be, ["n0", "r%d" % domid])
        for k, v in dict(back, **{"frontend": fe, "frontend-id": str(domid),
                                  "online": "1", "state": "1"}).items():
            xs.write(be + "/" + k, v)
        xs.mkdir(fe)
        xs.set_perms(fe, ["n%d" % domid, "r0"])
        for k, v in dict(front, **{"backend": be, "backend-id": "0",
                                   "state": "1"}).items():
            xs.write(fe + "/" + k, v)
        return fe, be

    def add_console(self, domid):
        """The PV primary console: frontend at console/, backend console/N/0."""
        xs = self.xs
        fe = "/local/domain/%d/console" % domid
        be = "/local/domain/0/backend/console/%d/0" % domid
        xs.mkdir(be)
        xs.set_perms(be, ["n0", "r%d" % domid])
        for k, v in {"frontend": fe, "frontend-id": str(domid), "online": "1",
                     "state": "1", "protocol": "vt100"}.items():
            xs.write(be + "/" + k, v)
        xs.mkdir(fe)
        xs.set_perms(fe, ["n%d" % domid, "r0"])
        for k, v in {"backend": be, "backend-id": "0", "limit": "1048576",
                     "type": "xenconsoled", "output": "pty",
                     "ring-ref": "1", "port": "2"}.items():
            xs.write(fe + "/" + k, v)

    def read(self, path, default=None):
        try:
            return self.xs.read(path).decode()
        except Exception:
            return default

    def cleanup(self, domid, uuid=None):
        """What libxl does after the domain is gone: remove its nodes."""
        xs = self.xs
        for path in ("/local/domain/%d" % domid,
                     "/local/domain/0/backend/vbd/%d" % domid,
                     "/local/domain/0/backend/vif/%d" % domid,
                     "/local/domain/0/backend/vkb/%d" % domid,
                     "/local/domain/0/backend/console/%d" % domid,
                     "/local/domain/0/error/backend/vbd/%d" % domid):
            try:
                xs.rm(path)
            except Exception:
                pass
        if uuid:
            try:
                xs.rm("/vm/" + uuid)
            except Exception:
                pass

    def destroy(self, domid):
        info = self.hv.info(domid)
        self.hv.call("destroy", domid=domid)
        wait_until(lambda: domid not in self.hv.domids())
        self.cleanup(domid, info["uuid"])
