"""The export folder (``$BILLING_EXPORT_DIR``, default ``var/exports/``): files the jobs write
for the bank and the accountant, each written once and never changed.

A file is written under a temporary name and linked to its own (atomic: a reader never sees
half a file, and of two writers one wins). A file that exists with the same bytes is the same
export again (a retried run); one with other bytes is never overwritten: the run fails and
says so, since the bank or the accountant may have taken the first one already (GoBD).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from engine.ledger.store import PROJECT_ROOT

EXPORT_DIR_ENV = "BILLING_EXPORT_DIR"
# beside the default database, var/billing.sqlite of the project (engine.ledger.store)
DEFAULT_EXPORT_DIR = PROJECT_ROOT / "var" / "exports"
# The names the jobs write (pain.008-2026-12-09-CORE.xml, EXTF_Buchungsstapel_2026-11.csv):
# nothing else is served from the folder, no path at all.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")


class ExportConflict(RuntimeError):
    """A file of that name exists with other bytes: it is never overwritten."""


def export_dir(folder: str | os.PathLike | None = None) -> Path:
    """The export folder: ``folder``, else ``$BILLING_EXPORT_DIR``, else ``var/exports/``."""
    if folder:
        return Path(folder)
    return Path(os.environ.get(EXPORT_DIR_ENV) or DEFAULT_EXPORT_DIR)


def write_export(folder: Path, name: str, content: bytes) -> str:
    """Write ``content`` as ``folder/name`` once: ``"written"`` or ``"unchanged"`` (the same
    bytes were there); :class:`ExportConflict` if other bytes are."""
    if not _NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"{name!r} is not a name for an export file")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if path.exists():
        return _same_or_conflict(path, content)
    temporary = folder / f".{name}.{secrets.token_hex(8)}.tmp"
    try:
        with open(temporary, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # fails if the name exists: no overwrite, even racing
        except FileExistsError:
            return _same_or_conflict(path, content)
        except OSError:  # a file system without hard links: replace, after the check above
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return "written"


def _same_or_conflict(path: Path, content: bytes) -> str:
    if path.read_bytes() == content:
        return "unchanged"
    raise ExportConflict(
        f"{path} exists with other content and is never overwritten (the bank or the "
        "accountant may have it already); move it away to write this one"
    )


def find_export(folder: Path, name: str) -> Path | None:
    """The export file called ``name`` directly in ``folder``; None for any other name (a path,
    ``..``, a hidden or temporary file) or a missing file."""
    if not _NAME.fullmatch(name) or ".." in name:
        return None
    root = folder.resolve()
    path = (root / name).resolve()
    if path.parent != root or not path.is_file():
        return None
    return path
