"""Writes that never destroy what tinymtp did not create.

Every file or folder tinymtp writes (a checkpoint, an experiment's result) follows one rule:

- a target that does not exist is created;
- a target that exists is replaced only when it is tinymtp's own output of the same kind AND
  the caller asked for it (`overwrite=True`, the CLI's `--overwrite`);
- anything else (a folder of someone's files, a file where a folder should be, a checkpoint
  folder that also holds other files) is refused with a one-line `TinyMTPError` naming it.

The writing itself is atomic: the new content is written under a temporary name beside the
target (`.NAME.XXXX.tmp`), then renamed into place. A folder that already exists is swapped
with the new one in one step (Linux's renameat2 RENAME_EXCHANGE), so a process killed at any
moment leaves either the old folder or the new one, whole. Where that call is missing, the old
folder is first renamed aside to `.NAME.old.tmp`, and `recover_folder` puts it back if the
process died between the two renames. Temporary leftovers of a killed write are removed by the
next write to the same target.

Explained in notebooks/04_training.ipynb (saving a checkpoint).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import shutil
import tempfile
from collections.abc import Callable

from .errors import TinyMTPError

RENAME_EXCHANGE = 2  # linux/fs.h: swap two paths atomically
AT_FDCWD = -100  # fcntl.h: paths relative to the current directory


def usual_permissions(path: str) -> None:
    """Temporary files and folders are private (0600 / 0700); give a finished file, or a folder
    and the files in it, the modes the user's umask gives new files."""
    umask = os.umask(0)
    os.umask(umask)
    if os.path.isdir(path):
        os.chmod(path, 0o777 & ~umask)
        for name in os.listdir(path):
            os.chmod(os.path.join(path, name), 0o666 & ~umask)
    else:
        os.chmod(path, 0o666 & ~umask)


def check_target(path: str, what: str, is_ours: Callable[[str], bool], overwrite: bool,
                 folder: bool) -> None:
    """Raise TinyMTPError unless `what` (e.g. "a checkpoint") may be written at `path`.

    `is_ours(path)` says whether an existing target is tinymtp's own output of this kind; an
    empty folder counts as free (writing there destroys nothing)."""
    parent = os.path.dirname(os.path.abspath(path))
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        raise TinyMTPError(f"cannot write {what} at {path}: {parent} is a file, not a folder")
    try:  # can a new entry be made there at all? (a read-only folder, a full disk...)
        probe_name = f".{os.path.basename(os.path.abspath(path))}."  # a leftover the next write removes
        os.rmdir(tempfile.mkdtemp(prefix=probe_name, suffix=".tmp", dir=parent or "."))
    except OSError as exc:
        raise TinyMTPError(f"could not write {what} at {path}: {exc.strerror or exc}") from None
    if not os.path.lexists(path):
        return
    if os.path.islink(path):
        raise TinyMTPError(f"refusing to write {what} at {path}: it is a symbolic link")
    if folder and os.path.isdir(path) and not os.listdir(path):
        return
    if os.path.isdir(path) != folder or not is_ours(path):
        kind = "folder" if os.path.isdir(path) else "file"
        raise TinyMTPError(f"refusing to write {what} at {path}: that {kind} exists and is not "
                           f"{what} written by tinymtp (choose another name; nothing was changed)")
    if not overwrite:
        raise TinyMTPError(f"{path} already holds {what}: pass --overwrite (overwrite=True in Python) "
                           "to replace it, or choose another name")


def _temporary_names(path: str) -> list:
    folder, name = os.path.split(os.path.abspath(path))
    return glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(name)}.*.tmp"))


def remove_leftovers(path: str) -> None:
    """Delete the temporary files of earlier, interrupted writes to `path` (ours by their name)."""
    for tmp in _temporary_names(path):
        if os.path.isdir(tmp) and not os.path.islink(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.isfile(tmp):
            os.remove(tmp)


def aside_name(path: str) -> str:
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}.old.tmp")


def recover_folder(path: str) -> None:
    """If a replace was killed between its two renames, `path` is missing and the old folder
    waits aside: put it back."""
    aside = aside_name(path)
    if not os.path.lexists(path) and os.path.isdir(aside):
        try:
            os.rename(aside, path)
        except OSError:
            pass  # a read-only folder: the caller then reports the missing path


def _exchange(a: str, b: str) -> bool:
    """Swap two existing paths in one atomic step; False where the system cannot."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    if not hasattr(libc, "renameat2"):
        return False
    done = libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    return done == 0


def _move_into_place(tmp: str, path: str) -> None:
    if not os.path.lexists(path):
        os.rename(tmp, path)
        return
    if os.path.isdir(path) and not os.listdir(path):
        os.rmdir(path)
        os.rename(tmp, path)
        return
    if _exchange(tmp, path):  # tmp now holds the old folder
        shutil.rmtree(tmp, ignore_errors=True)
        return
    aside = aside_name(path)
    os.rename(path, aside)
    os.rename(tmp, path)
    shutil.rmtree(aside, ignore_errors=True)


def write_folder(path: str, fill: Callable[[str], None]) -> str:
    """Create a temporary folder beside `path`, let `fill(folder)` write into it, then move it
    into place (replacing `path` atomically). The caller has checked the target first."""
    path = os.path.abspath(path)
    tmp = None
    try:
        recover_folder(path)
        remove_leftovers(path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=os.path.dirname(path))
        fill(tmp)
        usual_permissions(tmp)
        _move_into_place(tmp, path)
    except OSError as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise TinyMTPError(f"could not write {path}: {exc.strerror or exc}") from None
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def write_text(path: str, text: str) -> str:
    """Write a text file atomically (temporary file beside it, then rename). The caller has
    checked the target first."""
    path = os.path.abspath(path)
    tmp = None
    try:
        remove_leftovers(path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                       dir=os.path.dirname(path))
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            f.write(text)
        usual_permissions(tmp)  # a temporary file is private; the result is not
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
        raise TinyMTPError(f"could not write {path}: {exc.strerror or exc}") from None
    except BaseException:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
