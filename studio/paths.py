"""Where things live under the data root, and the check every user-given name passes first."""
from __future__ import annotations

import os
import re
from pathlib import Path

from studio.messages import MESSAGES, Keyed, message

DEFAULT_DATA_DIR = "studio-data"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Letters (any script, so Chinese names work), digits, '-', '_', '.'; no separators, no '..'.
_NAME = re.compile(r"^[^\W][\w.\-]{0,79}$")


class BadName(Keyed, ValueError):
    """A name that could leave its folder (the message names it and the rule)."""


def check_name(name: str, what: str = "name") -> str:
    """Refuse names that could leave their folder: '..', separators, absolute paths, odd characters."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise BadName("name.bad", what=message(f"what.{what}") if f"what.{what}" in MESSAGES else what, name=name)
    return name


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    root = Path(data_dir or os.environ.get("STUDIO_DATA_DIR") or DEFAULT_DATA_DIR).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def corpora_dir(root: Path) -> Path:
    return root / "corpora"


def runs_dir(root: Path) -> Path:
    return root / "runs"


def models_dir(root: Path) -> Path:
    return root / "models"


def exports_dir(root: Path) -> Path:
    """Drafts, adapter zips and merged models written for the user; made on first use."""
    folder = root / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
