"""Run folders (DESIGN §7), written atomically: files go into a hidden staging folder that is
renamed into place only when complete, so a killed run never leaves a folder that looks
finished. A `.stages/` folder inside the staging area lets a rerun skip finished stages."""

from __future__ import annotations

import functools
import hashlib
import re
import shutil
from pathlib import Path

from engine.run_reader import STAGING_SUFFIX
from shopdata.atomic import swap_into_place

#: The code that makes a run's figures: the packages, and the parts of engine/ that only show
#: or parse (the web page, the command line) left out.
CODE_PACKAGES = ("shopdata", "forecasting", "optimization", "engine")
CODE_LEFT_OUT = ("engine/web", "engine/cli", "engine/templates")


@functools.cache
def code_fingerprint() -> str:
    """SHA-256 of the source that makes a run (every .py file of CODE_PACKAGES but
    CODE_LEFT_OUT, by its path from the repository root, in order), part of every run id: a
    run made by other code is not returned for the same scenario, data and week (the version
    number bumped by hand for changes of the figures was forgotten once, and a rerun of the
    bench got its old runs back). Read once a process (about 150 files)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for package in CODE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            if name.startswith(CODE_LEFT_OUT):
                continue
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def staging_folder(runs_dir: Path, run_id: str) -> Path:
    return runs_dir / f".{run_id}{STAGING_SUFFIX}"


def lock_file(runs_dir: Path, run_id: str) -> Path:
    """The lock one process holds while it makes (or looks up) the run `run_id`."""
    return runs_dir / f".{run_id}.lock"


#: Longest scenario part of a run id (the week and fingerprint follow it).
MAX_NAME_CHARACTERS = 60


def run_id_for(name: str, week: str, fingerprint: str) -> str:
    """A run id that is a safe folder name whatever the scenario's name holds: the name's
    letters, digits, '.', '_' and '-' (others become '_', at most MAX_NAME_CHARACTERS, never
    starting with '.'), then the week and the first 10 characters of the fingerprint."""
    slug = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:MAX_NAME_CHARACTERS].lstrip(".") or "run"
    return f"{slug}-{week}-{fingerprint[:10]}"


class OutsideRunsFolder(ValueError):
    """A run id that names no folder directly inside the runs folder (a link that leads out
    of it, `..`): refused, said in one line."""


def finished_folder(runs_dir: Path, run_id: str) -> Path:
    """The finished run's folder, which must lie directly inside `runs_dir` (OutsideRunsFolder
    otherwise: a link there that leads elsewhere is never followed)."""
    folder = runs_dir / run_id
    if run_id in ("", ".", "..") or folder.resolve().parent != runs_dir.resolve():
        where = f" (a link to {folder.resolve()})" if folder.is_symlink() else ""
        raise OutsideRunsFolder(
            f"{folder}: not a folder inside {runs_dir}{where}: refused; remove it, or plan into "
            "another --runs-dir"
        )
    return folder


def begin(runs_dir: Path, run_id: str) -> Path:
    """The staging folder for `run_id` (kept from an interrupted attempt, so stages resume)."""
    staging = staging_folder(runs_dir, run_id)
    (staging / ".stages").mkdir(parents=True, exist_ok=True)
    return staging


def stage_done(staging: Path, stage: str) -> bool:
    return (staging / ".stages" / stage).exists()


def mark_stage(staging: Path, stage: str) -> None:
    (staging / ".stages" / stage).touch()


def commit(runs_dir: Path, run_id: str, *, replace: bool = False) -> Path:
    """Rename the staging folder into place; with `replace`, an earlier finished run goes."""
    staging = staging_folder(runs_dir, run_id)
    target = finished_folder(runs_dir, run_id)
    shutil.rmtree(staging / ".stages", ignore_errors=True)
    if target.exists() and not replace:
        raise FileExistsError(f"{target} is a finished run; use --force to redo it")
    return swap_into_place(staging, target)
