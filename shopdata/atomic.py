"""Atomic files and folders: whatever is written appears whole or not at all.

The one home of the write-to-a-temporary-then-rename idiom: every file the engine keeps (run
folders, forecasts, saved models, the store, reports) is written through here."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def swap_into_place(staging: Path, target: Path) -> Path:
    """Rename the complete folder `staging` to `target`; an existing `target` is moved aside
    first and deleted after, so a reader sees the old folder or the new one, never a mix."""
    if target.exists():
        retired = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.old")
        shutil.rmtree(retired, ignore_errors=True)
        os.replace(target, retired)
        os.replace(staging, target)
        shutil.rmtree(retired)
    else:
        os.replace(staging, target)
    return target


def write_atomically(target: Path, write: Callable[[Path], object]) -> Path:
    """`write(temporary)` writes the whole file to a temporary path beside `target`, which is
    then renamed to `target`: a reader sees the old file or the new one, never a part of it.
    The temporary name is unique to the process and the call, so concurrent writers do not
    trip over each other's files; it is removed if `write` fails."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def write_text_atomically(target: Path, text: str) -> Path:
    """`text` written to `target` whole or not at all (`write_atomically`)."""
    return write_atomically(target, lambda path: path.write_text(text))


@contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """A fresh staging folder beside `target`, unique to the process and the call; when the
    block completes it replaces `target` (`swap_into_place`); whatever happens it is gone
    after, so a failed write leaves `target` as it was."""
    staging = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging.mkdir()
    try:
        yield staging
        swap_into_place(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
