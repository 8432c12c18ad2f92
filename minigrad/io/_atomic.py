"""Atomic file replacement: a reader sees the old file or the new one, never half of one.

The new content goes to a temporary file in the target's own folder (so that
the final rename never crosses file systems), is flushed and fsynced, and
then ``os.replace`` swaps it in; fsyncing the folder makes the rename itself
durable. Any error before the swap removes the temporary file and leaves the
old file as it was.

A process killed while saving (SIGKILL, power loss) cannot remove its
temporary file. Each save therefore holds an exclusive lock (``flock``) on
its temporary file until the rename, and the next save to the same path
removes the temporaries ``.<name>.<hex>.tmp`` whose lock nobody holds: those
of dead processes, never one that another save is still writing. (Where
``fcntl`` is missing, as on Windows, no such cleaning is done.)

Saving to a symbolic link writes through it: the file the link points to is
replaced, and the link stays a link. Errors name the path the caller gave,
never the temporary file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Callable
from typing import BinaryIO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(f)`` on a temporary file, then atomically move it to ``path``."""
    shown = os.fspath(path)
    target = os.path.realpath(shown)  # through symbolic links: the link itself stays
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, f"cannot save to {shown!r}: it is a folder")
    folder, name = os.path.split(target)
    if not os.path.isdir(folder):
        where = os.path.dirname(shown) or "."
        raise FileNotFoundError(
            errno.ENOENT, f"cannot save to {shown!r}: the folder {where!r} does not exist"
        )
    try:
        remove_stale_temporaries(folder, name)
        fd, temp = _create_locked_temp(folder, name)
    except OSError as err:
        raise _naming(err, shown) from err
    f = os.fdopen(fd, "wb")
    try:
        write(f)
        f.flush()
        os.fsync(f.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temp, stat.S_IMODE(os.stat(target).st_mode))  # keep an old file's mode
        if fcntl is None:  # pragma: no cover - Windows cannot rename an open file
            f.close()
        os.replace(temp, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(err, OSError):
            raise _naming(err, shown) from err
        raise
    finally:
        f.close()  # releases the lock only now: a cleaner never sees an unlocked temporary
    _fsync_folder(folder)


def remove_stale_temporaries(folder: str, name: str) -> list[str]:
    """Remove the temporary files of saves to ``folder/name`` that died; returns their paths."""
    if fcntl is None:  # pragma: no cover - Windows
        return []
    pattern = re.compile(rf"\.{re.escape(name)}\.[0-9a-f]{{12}}\.tmp")
    removed = []
    with os.scandir(folder) as entries:
        stale = [e.path for e in entries if pattern.fullmatch(e.name) and e.is_file(
            follow_symlinks=False)]
    for path in stale:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by a live save: skip it
            os.unlink(path)
            removed.append(path)
        except OSError:
            continue
        finally:
            os.close(fd)
    return removed


def _create_locked_temp(folder: str, name: str) -> tuple[int, str]:
    """A new temporary file next to ``name``, created and locked by this process."""
    while True:
        temp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
        # O_EXCL: never write through someone else's file; 0o666 lets the umask decide the mode
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(temp, flags | getattr(os, "O_CLOEXEC", 0), 0o666)
        if fcntl is None:  # pragma: no cover - Windows
            return fd, temp
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink > 0:
            return fd, temp
        os.close(fd)  # a cleaner took it between the open and the lock: make another


def _naming(err: OSError, shown: str) -> OSError:
    """``err`` again, naming the user's path instead of the temporary file."""
    reason = err.strerror or str(err)
    message = f"cannot save to {shown!r}: {reason}"
    return OSError(err.errno, message) if err.errno is not None else OSError(message)


def _fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
