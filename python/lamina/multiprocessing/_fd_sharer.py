"""Hands file descriptors to whichever process unpickles a tensor first (Linux).

offer(fd) keeps a duplicate under a random 128-bit key and returns a handle naming this process's
socket and the key; handle.detach() in the receiver connects, sends the key and gets the
descriptor back over SCM_RIGHTS. The socket lives in the abstract namespace, so no socket file
can be left behind, and the server only answers processes of the same user (SO_PEERCRED) that
know the key. This is multiprocessing.resource_sharer's job, without its per-connection HMAC
handshake (about 0.5 ms a tensor) and without its socket file, which the standard library
removes early in a child's exit, before queued tensors could be fetched. A child process waits
at exit (up to EXIT_WAIT seconds, while its parent lives) until its offers have been fetched.
"""

import multiprocessing
import multiprocessing.util
import os
import secrets
import socket
import struct
import threading
import time

EXIT_WAIT = 10.0  # seconds

_KEY_BYTES = 16
_lock = threading.Lock()
_pending = {}  # key -> duplicated descriptor waiting for its receiver
_server = None  # (listening socket, address, pid) of this process


class SharedFd:
    """A picklable handle to a descriptor offered by another process; detach() once."""

    __slots__ = ("address", "key")

    def __init__(self, address, key):
        self.address = address
        self.key = key

    def __getstate__(self):
        return self.address, self.key

    def __setstate__(self, state):
        self.address, self.key = state

    def detach(self):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(self.address)
            s.sendall(self.key)
            _, fds, _, _ = socket.recv_fds(s, 1, 1)
        if not fds:
            raise OSError(f"no descriptor for this tensor at {self.address[1:]!r} (already taken, "
                          "or its sender exited)")
        return fds[0]


def _after_fork_in_child():
    global _lock, _server
    _lock = threading.Lock()
    _server = None  # the thread serving the parent's offers does not exist here
    for fd in _pending.values():
        os.close(fd)
    _pending.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _serve(sock):
    uid = os.getuid()
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        with conn:
            try:
                _, peer_uid, _ = struct.unpack("3i", conn.getsockopt(
                    socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
                key = b""
                while len(key) < _KEY_BYTES:
                    chunk = conn.recv(_KEY_BYTES - len(key))
                    if not chunk:
                        break
                    key += chunk
                with _lock:
                    fd = _pending.get(key) if peer_uid == uid else None
                if fd is None:
                    continue  # closing the connection tells the receiver "no descriptor"
                # The offer stays pending until it is sent: an exiting process waits for _pending
                # to empty, and must not end this thread between the lookup and the send.
                try:
                    socket.send_fds(conn, [b"\0"], [fd])
                finally:
                    with _lock:
                        _pending.pop(key, None)
                    os.close(fd)
            except OSError:
                continue  # the receiver went away mid-request: its problem, not ours


def _address():
    global _server
    if _server is None or _server[2] != os.getpid():
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        address = f"\0lamina-fd-{os.getpid()}-{secrets.token_hex(8)}"
        sock.bind(address)
        sock.listen(64)
        threading.Thread(target=_serve, args=(sock,), daemon=True, name="lamina-fd-sharer").start()
        _server = (sock, address, os.getpid())
    return _server[1]


def _wait_for_receivers():
    parent = multiprocessing.parent_process()
    deadline = time.monotonic() + EXIT_WAIT
    while _pending and parent is not None and parent.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)


def _install_exit_wait(_=None):
    # Runs after the queues' feeder threads have flushed (their finalizers run at priority -5),
    # which is when the last offers are made. It must be registered before the exit starts.
    multiprocessing.util.Finalize(None, _wait_for_receivers, exitpriority=-50)


class _Anchor:
    pass


# A fork or forkserver child clears the finalizers it inherited and then runs the after-fork
# callbacks: register there. A spawn child runs neither (SpawnProcess._after_fork does nothing)
# and imports lamina while unpickling its Process object, before parent_process() is set, so
# register now if this import happens inside any child (or while a spawn child is inheriting).
_anchor = _Anchor()
multiprocessing.util.register_after_fork(_anchor, _install_exit_wait)
if (multiprocessing.parent_process() is not None
        or getattr(multiprocessing.current_process(), "_inheriting", False)):
    _install_exit_wait()


def offer(fd):
    """A handle through which one other process can take a duplicate of fd."""
    key = secrets.token_bytes(_KEY_BYTES)
    dup = os.dup(fd)
    with _lock:
        address = _address()
        _pending[key] = dup
    return SharedFd(address, key)
