"""Safe output files: the package's one writer.

Whole files are written to a temporary file in the target folder and renamed over the target, so
a reader sees the old or the new content, never a mix. Line logs (append_line) add one complete
line per call and fsync it, so a crash loses at most the line being written.
"""

from __future__ import annotations

import os
import tempfile

from .errors import OutputError


def check_writable(path: str) -> None:
    """Raise OutputError unless `path` can be created or replaced (folder exists and is writable)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OutputError(f"cannot write {path}: it is a folder")
    if not os.path.isdir(folder):
        raise OutputError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: folder {folder} is not writable")


def make_parent(path: str) -> None:
    """Create the folder that will hold `path` (and its parents) if missing; OutputError if impossible."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {folder}: {exc.strerror or exc}") from None


def write_atomic(path: str, write, *, parents: bool = False, durable: bool = False) -> None:
    """Call write(binary file object) on a temp file in the target folder, then os.replace it.

    parents=True creates a missing folder first (a long run may outlive its output folder).
    durable=True fsyncs the data before the rename and the folder after it, so the new content
    survives a power loss (without it a crash right after the rename can leave an empty file).
    """
    path = os.fspath(path)
    if parents:
        make_parent(path)
    check_writable(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        _remove(tmp)
        raise
    if durable:
        _sync_folder(folder)


def write_text(path: str, text: str, *, parents: bool = False, durable: bool = False) -> None:
    """Write UTF-8 text atomically (keywords as in write_atomic)."""
    write_atomic(path, lambda fh: fh.write(text.encode("utf-8")), parents=parents, durable=durable)


def append_line(path: str, line: str, *, parents: bool = False) -> None:
    """Append one line (UTF-8, newline added) to a line log and fsync it before returning.

    If the file does not end with a newline (its last line was written by something that stopped
    early, or by hand), a newline is written first, so the new line never joins the old one.
    Writes go through an O_APPEND descriptor, so they land at the end whatever else appended.
    """
    path = os.fspath(path)
    if "\n" in line.rstrip("\n"):
        raise OutputError(f"append_line writes one line; got text with inner newlines for {path}, e.g. '{{\"a\": 1}}'")
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    if parents:
        make_parent(path)
    existed = os.path.exists(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        size = os.fstat(fd).st_size
        if size:
            os.lseek(fd, size - 1, os.SEEK_SET)  # reads only; O_APPEND writes still go to the end
            if os.read(fd, 1) != b"\n":
                data = b"\n" + data
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if not existed:
        _sync_folder(os.path.dirname(os.path.abspath(path)))


def _sync_folder(folder: str) -> None:
    """fsync a folder so a new or renamed entry in it is durable (POSIX; a no-op where unsupported)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
