"""A small xenstore wire-protocol client for the tests.

It speaks xen/io/xs_wire.h directly, so the tests check the protocol, not
libxenstore's interpretation of it.  Watch events that arrive while a reply
is awaited are kept in order in `events`.
"""
import socket
import struct
import time

HDR = struct.Struct("<IIII")

CONTROL = 0
DIRECTORY = 1
READ = 2
GET_PERMS = 3
WATCH = 4
UNWATCH = 5
TRANSACTION_START = 6
TRANSACTION_END = 7
INTRODUCE = 8
RELEASE = 9
GET_DOMAIN_PATH = 10
WRITE = 11
MKDIR = 12
RM = 13
SET_PERMS = 14
WATCH_EVENT = 15
ERROR = 16
IS_DOMAIN_INTRODUCED = 17
RESUME = 18
SET_TARGET = 19
RESET_WATCHES = 21
DIRECTORY_PART = 22

PAYLOAD_MAX = 4096


class XsError(Exception):
    def __init__(self, name):
        super().__init__(name)
        self.name = name


class XsClient:
    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.req_id = 0
        self.events = []

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- raw framing --
    def send_raw(self, data):
        self.sock.sendall(data)

    def send_msg(self, mtype, payload=b"", tx=0, req_id=None):
        if req_id is None:
            self.req_id += 1
            req_id = self.req_id
        self.send_raw(HDR.pack(mtype, req_id, tx, len(payload)) + payload)
        return req_id

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by xenstored")
            self.buf += chunk

    def recv_msg(self):
        self._fill(HDR.size)
        mtype, req_id, tx, length = HDR.unpack(self.buf[:HDR.size])
        self._fill(HDR.size + length)
        payload = self.buf[HDR.size:HDR.size + length]
        self.buf = self.buf[HDR.size + length:]
        return mtype, req_id, tx, payload

    def reply(self, req_id):
        while True:
            mtype, rid, tx, payload = self.recv_msg()
            if mtype == WATCH_EVENT:
                self.events.append(tuple(payload.split(b"\0")[:2]))
                continue
            assert rid == req_id, (rid, req_id)
            if mtype == ERROR:
                raise XsError(payload.rstrip(b"\0").decode())
            return mtype, payload

    def request(self, mtype, payload=b"", tx=0):
        rid = self.send_msg(mtype, payload, tx)
        return self.reply(rid)[1]

    def wait_event(self, timeout=5.0):
        """The next watch event, or None after timeout."""
        if self.events:
            return self.events.pop(0)
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            mtype, _, _, payload = self.recv_msg()
        except socket.timeout:
            return None
        finally:
            self.sock.settimeout(old)
        assert mtype == WATCH_EVENT, mtype
        return tuple(payload.split(b"\0")[:2])

    def drain_events(self, quiet=0.2):
        got = []
        while True:
            ev = self.wait_event(quiet)
            if ev is None:
                return got
            got.append(ev)

    # -- operations --
    @staticmethod
    def _b(s):
        return s if isinstance(s, bytes) else s.encode()

    def read(self, path, tx=0):
        return self.request(READ, self._b(path) + b"\0", tx)

    def write(self, path, value, tx=0):
        return self.request(WRITE, self._b(path) + b"\0" + self._b(value), tx)

    def mkdir(self, path, tx=0):
        return self.request(MKDIR, self._b(path) + b"\0", tx)

    def rm(self, path, tx=0):
        return self.request(RM, self._b(path) + b"\0", tx)

    def directory(self, path, tx=0):
        out = self.request(DIRECTORY, self._b(path) + b"\0", tx)
        return sorted(x.decode() for x in out.split(b"\0") if x)

    def get_perms(self, path, tx=0):
        out = self.request(GET_PERMS, self._b(path) + b"\0", tx)
        return [x.decode() for x in out.split(b"\0") if x]

    def set_perms(self, path, perms, tx=0):
        payload = self._b(path) + b"\0" + b"".join(self._b(p) + b"\0" for p in perms)
        return self.request(SET_PERMS, payload, tx)

    def watch(self, path, token):
        return self.request(WATCH, self._b(path) + b"\0" + self._b(token) + b"\0")

    def unwatch(self, path, token):
        return self.request(UNWATCH, self._b(path) + b"\0" + self._b(token) + b"\0")

    def txn_start(self):
        return int(self.request(TRANSACTION_START, b"\0").rstrip(b"\0"))

    def txn_end(self, tx, commit=True):
        return self.request(TRANSACTION_END, b"T\0" if commit else b"F\0", tx)

    def introduce(self, domid, mfn=1, port=1):
        return self.request(INTRODUCE, b"%d\0%d\0%d\0" % (domid, mfn, port))

    def release(self, domid):
        return self.request(RELEASE, b"%d\0" % domid)


def wait_for_socket(path, proc=None, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("xensimd exited with %d" % proc.returncode)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(path)
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(path)
