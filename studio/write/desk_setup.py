"""The writer's setup for one manuscript: which panes draft it and with which sampling settings,
and how drafts arrive (into the text, or as side-by-side candidates).

It belongs to the manuscript, not to the page: a reload, a restart or another tab opens the
manuscript with the panes and settings its last continue used (a writer who picked an older run in
Tuned pane 1 and 2 drafts a pane finds them again, and the restored candidates match the panes
shown). Kept in <manuscript>/setup.json, replaced atomically; not in the history, so Undo takes back
text and never a slider. A file damaged outside the app is read as no setup, and says so.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from studio import jsonio
from studio.config import ConfigError, GenConfig
from studio.messages import message
from studio.write import manuscript_store as store

SETUP = "setup.json"
MODES = ("inline", "candidates")  # inline: one pane's draft streams into the text; candidates: side by side


@dataclasses.dataclass
class Setup:
    with_base: bool = True
    picks: list = dataclasses.field(default_factory=list)  # the tuned panes' sources, in pane order
    gen: GenConfig = dataclasses.field(default_factory=GenConfig)
    mode: str = "inline"
    saved: float = 0.0  # when; 0: never saved (the page's defaults)

    @property
    def panes(self) -> list[str]:
        return (["base"] if self.with_base else []) + [p for p in self.picks if p]

    def to_dict(self) -> dict:
        return {"with_base": self.with_base, "picks": list(self.picks), "gen": vars(self.gen), "mode": self.mode,
                "saved": self.saved}


def read(root: Path, ms_id: str) -> tuple[Setup, list[dict]]:
    """(the manuscript's setup, notices): the defaults when none was kept or the file is damaged."""
    path = store.folder_of(root, ms_id) / SETUP
    try:
        data = jsonio.read_json(path, default=None)
    except (ValueError, OSError):
        return Setup(), [message("desk_setup.damaged", file=path.name)]
    if data is None:
        return Setup(), []
    try:
        fields = {k: v for k, v in (data.get("gen") or {}).items() if k in GenConfig.__dataclass_fields__}
        picks = [p if isinstance(p, str) and p else None for p in data.get("picks", [])]
        mode = data.get("mode") if data.get("mode") in MODES else "inline"
        return Setup(bool(data.get("with_base", True)), picks, GenConfig(**fields), mode,
                     float(data.get("saved", 0.0))), []
    except (ConfigError, TypeError, AttributeError, ValueError):
        return Setup(), [message("desk_setup.damaged", file=path.name)]


def keep(root: Path, ms_id: str, panes: list[str] | None = None, gen: GenConfig | None = None,
         mode: str | None = None, picks: list | None = None, with_base: bool | None = None) -> Setup:
    """Keep what is given, the rest as it was. `panes` (as a continue drafts them) sets both the base
    box and the picks; `picks` keeps empty pane slots in place (the page's dropdowns)."""
    folder = store.folder_of(root, ms_id)
    if not folder.is_dir():
        from studio.write.manuscript import ManuscriptError

        raise ManuscriptError("manuscript.no_such", id=ms_id)
    setup, _ = read(root, ms_id)
    if panes is not None:
        setup.with_base = "base" in panes
        setup.picks = [p for p in panes if p != "base"]
    if picks is not None:
        setup.picks = list(picks)
    if with_base is not None:
        setup.with_base = bool(with_base)
    if gen is not None:
        setup.gen = gen
    if mode is not None:
        if mode not in MODES:
            raise ConfigError("mode", "config.choice", value=mode, choices=", ".join(MODES))
        setup.mode = mode
    setup.saved = time.time()
    jsonio.write_json_atomic(folder / SETUP, setup.to_dict())
    return setup
