"""The simulator's serial port: the master end of a pseudo-terminal pair.

The slave end is what a receiver opens, exactly like ``/dev/ttyUSB0``. Decisions documented here:

- **Raw mode.** ``tty.setraw`` is applied to the slave when the pair is created, so no byte is
  translated (no CR/LF mapping, no echo) even for a reader that does not configure the port; the
  setting persists after the simulator closes its own slave descriptor.
- **Waiting for the reader.** The simulator holds no slave descriptor, so the master reports
  ``POLLHUP`` while nobody has the port open. pyserial flushes the port's input when it opens it
  (``tcflush(TCIFLUSH)``), which would silently eat the first frames; the master runs in packet
  mode (``TIOCPKT``) so that flush is reported to us (``TIOCPKT_FLUSHREAD``), and the simulator
  starts writing only after it (or after ``settle_s`` for readers that never flush).
- **Back-pressure.** Writes block (via ``poll``, re-checking the stop flag every 100 ms) when the
  pty buffer is full: at ``--speed max`` the reader sets the pace; nothing is dropped or spun on.
- **Draining.** Before an unplug or at the end, the simulator waits until the reader has read
  everything (the slave's input queue stays empty), so closing the master loses nothing that the
  fault log does not record.
- **The link never replaces a user's file.** ``link`` may name nothing yet, or a symlink to a
  pty slave (``/dev/pts/N``; dangling or not: one left by an earlier run that crashed). Anything
  else (a file, a folder, a symlink elsewhere) is refused with :class:`ConfigError`, checked when
  the port is made and again just before each link is made. On close the link is removed only
  if it still points at our pty.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
import select
import struct
import termios
import threading
import time
import tty
from pathlib import Path

from edge_ecg.errors import ConfigError, DeviceError

_POLL_S = 0.1
_HUP_POLL_S = 0.02
# what os.ttyname() gives for a pty slave: Linux (devpts), macOS / BSD
_PTY_SLAVE = re.compile(r"/dev/(pts/\d+|ttys\d+)")


def _is_pty_link(path: Path) -> bool:
    """Is ``path`` a symlink whose target (existing or not) is a pty slave path?"""
    try:
        target = os.readlink(path)
    except OSError:
        return False
    return _PTY_SLAVE.fullmatch(os.path.normpath(os.path.join(path.parent, target))) is not None


def check_link_path(link: str | os.PathLike) -> Path:
    """``link`` as a Path, if the simulator may put its symlink there: nothing there yet (in an
    existing folder), or a symlink to a pty slave (a stale one from an earlier run included).
    Raises :class:`ConfigError` naming the path and what was expected otherwise."""
    path = Path(link)
    expected = "expected a new path or a symlink to a pty (/dev/pts/N) left by an earlier run"
    if path.is_symlink():
        if _is_pty_link(path):
            return path
        raise ConfigError(f"--link {path} is a symlink to {os.readlink(path)}, not to a pty; {expected}; "
                          "refusing to replace it")
    if path.is_dir():
        raise ConfigError(f"--link {path} is a directory; {expected}")
    if path.exists():
        raise ConfigError(f"--link {path} already exists and is not a symlink to a pty; {expected}; "
                          "refusing to replace it")
    if not path.parent.is_dir():
        raise ConfigError(f"--link {path}: folder {path.parent} does not exist")
    return path


class PtyPort:
    """A pseudo-terminal whose slave path (and optional symlink ``link``) is the device's port."""

    def __init__(self, link: str | os.PathLike | None = None) -> None:
        # checked here too so that a bad --link fails before the simulator starts
        self.link = check_link_path(link) if link is not None else None
        self.slave_path: str | None = None
        self.reader_lost = False
        self._master: int | None = None

    @property
    def is_open(self) -> bool:
        return self._master is not None

    def open(self) -> str:
        """Create a new pty pair (and point the symlink at it); return the slave path."""
        if self._master is not None:
            raise DeviceError("pty already open")
        master, slave = os.openpty()
        try:
            tty.setraw(slave)
            path = os.ttyname(slave)
        finally:
            os.close(slave)
        fcntl.ioctl(master, termios.TIOCPKT, struct.pack("i", 1))
        os.set_blocking(master, False)
        self._master = master
        self.slave_path = path
        if self.link is not None:
            try:
                self._make_link(path)
            except BaseException:
                self.slave_path = None
                self._master = None
                os.close(master)
                raise
        return path

    def _make_link(self, target: str) -> None:
        link = check_link_path(self.link)
        try:
            if not link.is_symlink():
                os.symlink(target, link)  # fails, replacing nothing, if something appeared there
                return
            # replace the stale pty link atomically (a reader never sees it missing), through a
            # fresh temporary name: an existing file is never overwritten or removed
            while True:
                tmp = link.with_name(f".{link.name}.{secrets.token_hex(4)}.tmp")
                try:
                    os.symlink(target, tmp)
                    break
                except FileExistsError:
                    continue
            try:
                os.replace(tmp, link)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        except FileExistsError as exc:
            raise ConfigError(f"--link {link}: something was created there meanwhile; refusing to replace it") from exc
        except OSError as exc:
            raise DeviceError(f"cannot make the link {link} -> {target}: {exc.strerror or exc}") from exc

    def close(self) -> None:
        """Remove the symlink (if it is ours), then close the master: the reader sees EIO."""
        if self.link is not None and self.slave_path is not None and self.link.is_symlink():
            try:
                if os.readlink(self.link) == self.slave_path:
                    self.link.unlink()
            except OSError:
                pass
        if self._master is not None:
            os.close(self._master)
            self._master = None

    def has_reader(self) -> bool:
        """Is the slave open by anyone?"""
        if self._master is None:
            return False
        p = select.poll()
        p.register(self._master, select.POLLIN)
        return not any(ev & select.POLLHUP for _fd, ev in p.poll(0))

    def _read_packets(self) -> int:
        """Read (and discard) what the master has: packet-mode status bytes, reader output.
        Returns the OR of the status flags seen."""
        flags = 0
        while True:
            try:
                data = os.read(self._master, 4096)
            except (BlockingIOError, InterruptedError):
                return flags
            except OSError as exc:
                if exc.errno == errno.EIO:  # no reader: nothing to read
                    return flags
                raise
            if not data:
                return flags
            if data[0] != 0:  # a status packet (a data packet starts with 0)
                flags |= data[0]

    def wait_for_reader(self, stop: threading.Event, settle_s: float = 0.5) -> bool:
        """Block until a reader has the port open and has flushed its input (or ``settle_s``
        passed after it opened). Returns False if ``stop`` was set first."""
        while not stop.is_set():
            # phase 1: nobody has the slave open (POLLHUP cannot be masked, so poll on a timer)
            while not self.has_reader():
                self._read_packets()
                if stop.wait(_HUP_POLL_S):
                    return False
            # phase 2: let the reader finish opening; pyserial's flush arrives as a packet
            p = select.poll()
            p.register(self._master, select.POLLIN | select.POLLPRI)
            deadline = time.monotonic() + settle_s
            while not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return True
                events = p.poll(min(left, _POLL_S) * 1000)
                if any(ev & select.POLLHUP for _fd, ev in events):
                    break  # the reader went away again
                if events and self._read_packets() & termios.TIOCPKT_FLUSHREAD:
                    return True
        return False

    def write(self, data: bytes | bytearray, stop: threading.Event) -> bool:
        """Write all of ``data``, blocking while the pty buffer is full. False if stopped.

        Sets :attr:`reader_lost` when the reader closed the port or a new reader flushed it
        since the last write (bytes still queued then are lost to the reader)."""
        view = memoryview(data)
        off = 0
        p = select.poll()
        p.register(self._master, select.POLLOUT | select.POLLIN)
        # a flush reported since the last write means a reader (re)opened the port and threw
        # away what was queued for it
        if self._read_packets() & termios.TIOCPKT_FLUSHREAD:
            self.reader_lost = True
        while off < len(view):
            if stop.is_set():
                return False
            try:
                off += os.write(self._master, view[off:])
                continue
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                # EIO: the slave side is gone for good; wait like a full buffer, re-checking stop
            for _fd, ev in p.poll(_POLL_S * 1000):
                if ev & select.POLLIN and self._read_packets() & termios.TIOCPKT_FLUSHREAD:
                    self.reader_lost = True
                if ev & select.POLLHUP:
                    # no reader: the buffer will not drain until one opens; don't spin
                    self.reader_lost = True
                    stop.wait(_HUP_POLL_S)
        return True

    def queued_bytes(self) -> int:
        """Bytes written but not yet read by the reader (0 if the slave is gone)."""
        if self.slave_path is None:
            return 0
        try:
            fd = os.open(self.slave_path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return 0
        try:
            return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
        finally:
            os.close(fd)

    def drain(self, stop: threading.Event, timeout_s: float) -> int:
        """Wait until the reader has read everything written; return the bytes still queued
        (0 when drained). Gives up after ``timeout_s`` or when the reader is gone."""
        deadline = time.monotonic() + timeout_s
        empty_checks = 0
        while True:
            if not self.has_reader():
                return self.queued_bytes()
            queued = self.queued_bytes()
            # two empty checks 10 ms apart: bytes still in the kernel's flip buffer reach the
            # slave's queue within that time
            empty_checks = empty_checks + 1 if queued == 0 else 0
            if empty_checks >= 2:
                return 0
            if time.monotonic() >= deadline or stop.wait(0.01):
                return queued
