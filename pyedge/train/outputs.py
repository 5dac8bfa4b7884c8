"""Where the training commands write: checked before any work starts, and written whole or
not at all.

A run writes its files into a staging folder beside the output folder; only when every file is
written do they replace their namesakes in the output folder (os.replace: each one atomic, on
the same file system). A run that fails or is interrupted leaves the output folder as it was,
and the staging folder is removed. Files that the previous run into the folder listed in its
report.json, and this run did not write, are removed, so a folder never mixes two runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .data import DataError


def _writable_ancestor(path: Path) -> Path:
    for parent in [path, *path.parents]:
        if parent.exists():
            return parent
    return Path(".")


def check_output_folder(out: str | os.PathLike, option: str = "--out") -> Path:
    """The folder a run will write into, refused now (not after training) if it cannot be."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DataError(f"{option} {str(out)!r} is a file; give a folder to write the run's files into")
    ancestor = _writable_ancestor(out)
    if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
        raise DataError(f"{option} {str(out)!r}: cannot create or write into {str(ancestor)!r}")
    return out


def check_output_file(path: str | os.PathLike, option: str = "--out") -> Path:
    """A file a run will write, refused now if it is a folder or its folder is not writable."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{option} {str(path)!r} is a folder; give the file to write "
                        f"(e.g. {str(path / 'model.tflite')!r})")
    check_output_folder(path.parent if str(path.parent) else Path("."), option)
    return path


@contextlib.contextmanager
def staged_folder(out: Path, report_name: str | None = None) -> Iterator[Path]:
    """Yields an empty staging folder; when the block ends without an error, its files move
    into `out` (created if needed). `report_name`: the JSON report whose "files" lists what the
    previous run wrote (those this run did not write again are removed)."""
    check_output_folder(out)
    parent = out.parent if str(out.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=parent))
    try:
        yield staging
        stale = _previous_files(out, report_name) if report_name else set()
        out.mkdir(parents=True, exist_ok=True)
        written = set()
        for item in sorted(staging.iterdir()):
            target = out / item.name
            if target.is_dir():
                raise DataError(f"{str(target)!r} is a folder; cannot write the file {item.name} there")
            os.replace(item, target)
            written.add(item.name)
        for name in stale - written:
            (out / name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _previous_files(out: Path, report_name: str) -> set[str]:
    try:
        files = json.loads((out / report_name).read_text()).get("files", {})
    except (OSError, ValueError, AttributeError):
        return set()
    # Only plain names (a report is data, not instructions: no paths out of the folder).
    return {name for name in files.values() if isinstance(name, str) and name == Path(name).name}


def write_file_atomically(path: Path, content: bytes) -> None:
    """Writes `content` to `path` through a temporary file beside it: `path` is either the old
    file or the whole new one, never a part."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(content)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
