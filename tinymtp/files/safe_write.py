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
import errno
import glob
import os
import shutil
import tempfile
from collections.abc import Callable

from ..core.errors import TinyMTPError

RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2  # linux/fs.h: rename unless the target exists; swap two paths
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


def _renameat2(a: str, b: str, flags: int) -> int | None:
    """Linux's renameat2: 0 on success, the errno on failure, None where the system has no such call."""
    libc_name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(libc_name, use_errno=True) if libc_name else None
    if libc is None or not hasattr(libc, "renameat2"):
        return None
    done = libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), flags)
    return 0 if done == 0 else ctypes.get_errno()


def _exchange(a: str, b: str) -> bool:
    """Swap two existing paths in one atomic step; False where the system cannot."""
    return _renameat2(a, b, RENAME_EXCHANGE) == 0


def _rename_new(tmp: str, path: str) -> None:
    """Rename `tmp` to `path` only if `path` still does not exist: another process may have
    created it since the target was checked (two app servers saving under one name)."""
    failed = _renameat2(tmp, path, RENAME_NOREPLACE)
    if failed is None or failed in (errno.EINVAL, errno.ENOSYS):  # no such call, or a file system without it
        if os.path.lexists(path):
            failed = errno.EEXIST
        else:
            os.rename(tmp, path)
            return
    if failed == errno.EEXIST:
        raise TinyMTPError(f"{path} was created by someone else while this was being saved; nothing was "
                           "replaced (choose another name)")
    if failed:
        raise OSError(failed, os.strerror(failed), path)


def _move_into_place(tmp: str, path: str, overwrite: bool) -> None:
    if not os.path.lexists(path) or not overwrite:
        _rename_new(tmp, path)
        return
    if _exchange(tmp, path):  # tmp now holds the old folder
        shutil.rmtree(tmp, ignore_errors=True)
        return
    aside = aside_name(path)
    os.rename(path, aside)
    os.rename(tmp, path)
    shutil.rmtree(aside, ignore_errors=True)


def write_folder(path: str, fill: Callable[[str], None], overwrite: bool = False) -> str:
    """Create a temporary folder beside `path`, let `fill(folder)` write into it, then move it
    into place: as a new name, or (overwrite) replacing `path` atomically. The caller has
    checked the target first; without overwrite an empty folder there is replaced too."""
    path = os.path.abspath(path)
    tmp = None
    try:
        recover_folder(path)
        remove_leftovers(path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=os.path.dirname(path))
        fill(tmp)
        usual_permissions(tmp)
        if not overwrite and os.path.isdir(path) and not os.listdir(path):
            os.rmdir(path)  # an empty folder was free to use (check_target)
        _move_into_place(tmp, path, overwrite)
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
