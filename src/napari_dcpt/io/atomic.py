"""Atomic, non-destructive output: temporary sibling, then rename into place."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from napari_dcpt.errors import WriteError


def check_output(path: str | os.PathLike[str], *, overwrite: bool, inputs: tuple = ()) -> Path:
    """Refuse an output that would overwrite an input, exists, or cannot be written.

    Parameters
    ----------
    path
        The file or folder about to be written.
    overwrite
        Whether an existing output (never an input) may be replaced.
    inputs
        Paths the job reads; writing onto one of them, or into a DICOM input folder,
        is always refused.
    """
    out = Path(path).expanduser().absolute()
    for src in inputs:
        if src is None:
            continue
        s = Path(src).expanduser().absolute()
        if out == s or (s.is_dir() and s in out.parents):
            raise WriteError("refusing to write over or inside an input", out)
    if out.exists() and not overwrite:
        raise WriteError("output exists (use overwrite to replace it)", out)
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"cannot create the output folder ({exc.strerror})", parent) from exc
    if not os.access(parent, os.W_OK):
        raise WriteError("output folder is not writable", parent)
    return out


def _temp_sibling(out: Path) -> Path:
    # Keep the full suffix (.nii.gz) so format-by-extension writers still work.
    suffix = "".join(out.suffixes) if out.suffixes else ""
    stem = out.name[: len(out.name) - len(suffix)] if suffix else out.name
    return out.with_name(f".{stem}.partial-{uuid.uuid4().hex[:8]}{suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place on success.

    On any error the temporary file or folder is removed, so a reader never sees a
    half-written output. An ``OSError`` (disk full, permission) becomes a `WriteError`.
    """
    out = Path(path)
    tmp = _temp_sibling(out)
    try:
        yield tmp
        if out.is_dir() and not out.is_symlink() and tmp.is_dir():
            # os.replace cannot replace a non-empty folder: move the old one aside first.
            old = _temp_sibling(out)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException as exc:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise WriteError(f"could not write ({exc.strerror or exc})", out) from exc
        raise


def remove_stale_partials(path: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary siblings of ``path`` left by an `atomic_path` write that was killed.

    A ``kill -9`` (or power loss) skips `atomic_path`'s clean-up, leaving
    ``.<stem>.partial-<8 hex><suffix>`` beside the output. Only names of exactly that
    form for this output are touched, so a caller that owns ``path`` (a resumed batch)
    may call it safely while other processes write other outputs in the same folder.

    Returns
    -------
    list of Path
        What was removed.
    """
    import re

    out = Path(path)
    suffix = "".join(out.suffixes) if out.suffixes else ""
    stem = out.name[: len(out.name) - len(suffix)] if suffix else out.name
    pattern = re.compile(rf"\.{re.escape(stem)}\.partial-[0-9a-f]{{8}}{re.escape(suffix)}")
    removed: list[Path] = []
    if not out.parent.is_dir():
        return removed
    for p in out.parent.iterdir():
        if pattern.fullmatch(p.name):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
    return removed
