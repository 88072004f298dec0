"""Atomic files and folders: whatever is written appears whole or not at all."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def swap_into_place(staging: Path, target: Path) -> Path:
    """Rename the complete folder `staging` to `target`; an existing `target` is moved aside
    first and deleted after, so a reader sees the old folder or the new one, never a mix."""
    if target.exists():
        retired = target.with_name(f".{target.name}.old")
        shutil.rmtree(retired, ignore_errors=True)
        os.replace(target, retired)
        os.replace(staging, target)
        shutil.rmtree(retired)
    else:
        os.replace(staging, target)
    return target
