"""Atomic file writes: a crash never leaves a half-written report, baseline or series.

A write goes to a temporary file beside its target and is renamed over it.
A target that is a symlink is followed (the link stays a link and its target
gets the new content); a target that is a directory, FIFO, device or socket
is refused, never replaced; the temporary file is removed on any failure.
The new text is flushed to disk before the rename, so neither a killed
process nor a power cut leaves the target empty or half-written (the
SIGKILL-inside-the-write tests in tests/test_robustness.py show the old file
surviving byte-identical).
``check_output_path`` runs the same checks without writing, so options can be
validated when pytest starts instead of failing after the tests ran.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from .errors import OutputError


def check_output_path(path: str | os.PathLike, what: str = "output file") -> Path:
    """The real file a write to ``path`` would replace; OutputError when it cannot be written.

    Follows symlinks; refuses directories and special files; requires the
    nearest existing folder to be writable when the file does not exist yet.
    """
    real = Path(os.path.realpath(os.fspath(path)))
    try:
        st = real.stat()
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as exc:
        raise OutputError(f"{what}: {path}: cannot inspect it ({exc})") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"{what}: {path} is a directory; give a file path")
        if not stat.S_ISREG(st.st_mode):
            raise OutputError(f"{what}: {path} is a special file (FIFO, device or socket); "
                              "refusing to replace it: give a regular file path")
        if not os.access(real, os.W_OK) or not os.access(real.parent, os.W_OK | os.X_OK):
            raise OutputError(f"{what}: {path} is not writable (permission denied)")
        return real
    ancestor = real.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{what}: {path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"{what}: {path}: folder {ancestor} is not writable "
                          "(permission denied)")
    return real


def _mode_for(real: Path) -> int:
    try:
        return stat.S_IMODE(real.stat().st_mode)
    except OSError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write_text(path: str | os.PathLike, text: str, what: str = "output file") -> Path:
    """Write ``text`` to a temporary file beside the real target, then rename it into place.

    Returns ``path`` as given (a symlink stays the path reported). Raises
    OutputError naming the path; no temporary file is left behind.
    """
    real = check_output_path(path, what)
    tmp = None
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.tmp-", dir=real.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())  # the bytes are on disk before the name points at them
        os.chmod(tmp, _mode_for(real))
        os.replace(tmp, real)
        tmp = None
    except (OSError, ValueError) as exc:
        raise OutputError(f"cannot write {what} {path}: {exc}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return Path(path)
