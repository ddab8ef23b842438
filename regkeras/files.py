"""Files that are whole or absent: write-then-rename, fsync, checksums, folder locks.

What the backups and the command line build on so that a process killed at any instant
(``SIGKILL``, a preempted machine) leaves either the old complete file or folder or the new
complete one, never a mix:

* :func:`write_file` writes bytes under a temporary name, syncs them to disk and renames
  them into place; :func:`sync_folder` makes a rename itself durable.
* :func:`sha256_file` and :func:`describe_files` give the sizes and checksums a manifest
  records, so a reader can tell a complete file from a truncated or damaged one.
* :class:`FolderLock` holds an exclusive, non-blocking ``flock`` on a lock file: a second
  process asking for the same folder fails at once with :class:`FolderInUseError`, and the
  lock goes away with its process however it dies (no stale lock to clean up by hand).
* :func:`crash_point` is the fault-injection hook the tests use to kill a process at every
  file operation of a save (``REGKERAS_CRASH_AT``; see docs/reliability.md).

Standard library only.
"""

from __future__ import annotations

import hashlib
import os
import signal

__all__ = [
    "write_file",
    "sync_folder",
    "sha256_file",
    "describe_files",
    "FolderLock",
    "FolderInUseError",
    "crash_point",
]

CRASH_AT_ENV = "REGKERAS_CRASH_AT"
CRASH_TRACE_ENV = "REGKERAS_CRASH_TRACE"
_seen = {}


def crash_point(label, *, tear=None):
    """A named point between two file operations, where a test can kill the process.

    Does nothing unless the environment asks for it, so it costs one dictionary lookup:

    * ``REGKERAS_CRASH_TRACE=FILE`` appends ``label`` to ``FILE`` (one line per point
      reached), so a test can list every point one save goes through;
    * ``REGKERAS_CRASH_AT=LABEL`` (or ``LABEL#N`` for its ``N``-th occurrence) sends
      ``SIGKILL`` to this process when the point is reached, as a preempted machine would.
      With ``tear=PATH`` the file at ``PATH`` is first cut to half its size: the state a
      kill in the middle of writing that file leaves.
    """
    trace = os.environ.get(CRASH_TRACE_ENV)
    target = os.environ.get(CRASH_AT_ENV)
    if not trace and not target:
        return
    count = _seen[label] = _seen.get(label, 0) + 1
    if trace:
        with open(trace, "a", encoding="utf-8") as f:
            f.write(f"{label}\n")
    if target and target in (label, f"{label}#{count}"):
        if tear is not None and os.path.exists(tear):
            with open(tear, "r+b") as f:
                f.truncate(os.path.getsize(tear) // 2)
        os.kill(os.getpid(), signal.SIGKILL)


def sync_folder(path):
    """Makes the entries of folder ``path`` (a rename, a new file) durable; a no-op where the
    platform cannot open folders (Windows)."""
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sync_file(path):
    """Flushes a file someone else wrote (e.g. Keras' weights file) to disk."""
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def write_file(path, data, *, label=None, replace=True):
    """Writes ``data`` (bytes or str) to ``path`` whole or not at all.

    The bytes go to ``PATH.PID.tmp``, are synced to disk, then renamed over ``path`` in one
    step and the folder synced. With ``replace=False`` the caller is writing into a folder
    that is itself temporary, so the file is written in place (still synced). ``label``
    names the write for :func:`crash_point` (``"LABEL half-written"``, ``"LABEL written"``).
    """
    path = os.fspath(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    target = f"{path}.{os.getpid()}.tmp" if replace else path
    try:
        with open(target, "wb") as f:
            half = len(data) // 2
            f.write(data[:half])
            if label:
                f.flush()
                crash_point(f"{label} half-written")
            f.write(data[half:])
            f.flush()
            os.fsync(f.fileno())
        if label:
            crash_point(f"{label} written")
        if replace:
            os.replace(target, path)
            sync_folder(os.path.dirname(path) or ".")
    except BaseException:
        if replace and os.path.exists(target):
            os.remove(target)
        raise


def sha256_file(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_files(folder, names):
    """``{name: {"size": bytes, "sha256": hex}}`` for the files ``names`` in ``folder``."""
    out = {}
    for name in names:
        path = os.path.join(folder, name)
        out[name] = {"size": os.path.getsize(path), "sha256": sha256_file(path)}
    return out


def check_files(folder, described):
    """The first problem with the files a manifest describes, as a sentence, or ``None``."""
    for name, want in described.items():
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            return f"{name} is missing"
        size = os.path.getsize(path)
        if size != want["size"]:
            return f"{name} has {size} bytes, the manifest says {want['size']}"
        if sha256_file(path) != want["sha256"]:
            return f"{name} does not match its checksum"
    return None


class FolderInUseError(OSError):
    """Another live process holds the lock on a folder."""


class FolderLock:
    """An exclusive lock on ``lock_path``, taken at once or not at all.

    ``acquire()`` raises :class:`FolderInUseError` (naming ``what`` and the holder's process
    id) when another process holds it. The lock is an ``fcntl.flock``: the operating system
    drops it when its process ends, however it ends, so a lock file left by a killed run is
    simply taken over. ``release()`` removes the lock file. Usable as a context manager.
    Where ``fcntl`` does not exist (Windows) the lock is a no-op.
    """

    def __init__(self, lock_path, what):
        self.lock_path = os.fspath(lock_path)
        self.what = what
        self._fd = None

    def acquire(self):
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                try:
                    holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
                finally:
                    os.close(fd)
                raise FolderInUseError(
                    f"{self.what} is in use by another run (process {holder}); wait for it to "
                    "finish or choose another folder.") from None
            # The holder may have removed the file between our open and our lock: then we
            # locked a file nobody else will see; start again on the one at the path.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.lock_path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd
        return self

    def release(self):
        if self._fd is None:
            return
        try:
            os.remove(self.lock_path)
        except OSError:
            pass
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False
