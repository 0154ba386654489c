"""Blind A/B judging of drafts, the preferences it records, win rates, and DPO pairs.

A duel takes two panes of one finished comparison, shuffles their sides and shows the writer only
the texts; which side is which stays on the server, in `feedback/pending/` (so a restarted UI can
still settle it), until the pick. Each pick appends one line to
`<data>/feedback/preferences.jsonl`; ties are kept (they count in win rates) but give no DPO pair.
"""
from __future__ import annotations

import secrets
import time
from pathlib import Path

from studio.jsonio import append_jsonl, read_json, read_jsonl, write_json_atomic, write_jsonl_atomic
from studio.messages import Keyed
from studio.write.drafter import read_drafts

PICKS = ("A", "B", "tie")


class JudgingError(Keyed, ValueError):
    """A pick that cannot be judged or recorded; keyed in studio/messages.py (English and Chinese)."""


def feedback_dir(root: Path) -> Path:
    return root / "feedback"


def preferences_path(root: Path) -> Path:
    return feedback_dir(root) / "preferences.jsonl"


def start_duel(root: Path, draft_id: str, pair: tuple[str, str] | None = None) -> dict:
    """Two drafts of comparison `draft_id`, sides shuffled, labels withheld. `pair` names the two
    panes' sources; by default the base against the first tuned pane."""
    found = read_drafts(root, draft_id)
    if not found:
        raise JudgingError("judge.no_drafts", id=draft_id)
    record = found[-1]
    panes = {p["source"]: p for p in record["panes"]}
    if len(panes) < 2:
        raise JudgingError("judge.two_panes")
    names = list(pair) if pair else list(panes)[:2]
    if len(set(names)) != 2 or any(n not in panes for n in names):
        raise JudgingError("judge.pick_panes", panes=", ".join(panes))
    secrets.SystemRandom().shuffle(names)
    # the pending duel keeps what the judgement needs, so judging never re-reads the drafts log
    duel = {"duel": secrets.token_hex(8), "created": time.time(), "sides": {"A": panes[names[0]], "B": panes[names[1]]},
            **{k: record[k] for k in ("id", "prompt", "prompt_text", "mode", "settings")}}
    pending = feedback_dir(root) / "pending"
    pending.mkdir(parents=True, exist_ok=True)
    write_json_atomic(pending / f"{duel['duel']}.json", duel)
    # what the writer sees: texts only; the first draft of each pane
    return {"duel": duel["duel"], "A": panes[names[0]]["drafts"][0], "B": panes[names[1]]["drafts"][0]}


def judge(root: Path, duel_id: str, pick: str) -> dict:
    """Record the writer's pick ("A", "B" or "tie") and reveal which model wrote which side."""
    if pick not in PICKS:
        raise JudgingError("judge.pick", pick=pick)
    if not duel_id.isalnum():
        raise JudgingError("judge.unknown")
    path = feedback_dir(root) / "pending" / f"{duel_id}.json"
    if not path.exists():
        raise JudgingError("judge.settled")
    record = read_json(path)
    a, b = record["sides"]["A"], record["sides"]["B"]
    chosen, rejected = (a, b) if pick in ("A", "tie") else (b, a)
    line = {
        "time": time.time(), "prompt": record["prompt"], "prompt_text": record["prompt_text"], "mode": record["mode"],
        "chosen": chosen["drafts"][0], "rejected": rejected["drafts"][0], "tie": pick == "tie",
        "chosen_source": chosen["source"], "rejected_source": rejected["source"],
        "chosen_run": chosen["run_id"], "rejected_run": rejected["run_id"],
        "chosen_checkpoint": chosen["checkpoint"], "rejected_checkpoint": rejected["checkpoint"],
        "settings": record["settings"], "draft_id": record["id"],
    }
    preferences_path(root).parent.mkdir(parents=True, exist_ok=True)
    append_jsonl(preferences_path(root), line)
    path.unlink()
    return {"pick": pick, "A": a["label"], "B": b["label"], "line": line}


def read_preferences(root: Path) -> list[dict]:
    return read_jsonl(preferences_path(root))


def win_rates(root: Path) -> list[dict]:
    """Each tuned source's record against the base: wins, losses, ties, and the win rate
    (ties count half)."""
    table: dict[str, dict] = {}
    for p in read_preferences(root):
        sources = {p["chosen_source"], p["rejected_source"]}
        if "base" not in sources:
            continue
        tuned = (sources - {"base"}).pop()
        row = table.setdefault(tuned, {"source": tuned, "wins": 0, "losses": 0, "ties": 0})
        if p["tie"]:
            row["ties"] += 1
        elif p["chosen_source"] == tuned:
            row["wins"] += 1
        else:
            row["losses"] += 1
    for row in table.values():
        row["judged"] = row["wins"] + row["losses"] + row["ties"]
        row["win_rate"] = round((row["wins"] + 0.5 * row["ties"]) / row["judged"], 3)
    return sorted(table.values(), key=lambda r: -r["judged"])


def dpo_pairs(root: Path) -> list[dict]:
    """Preferences as DPO pairs: the prompt as the model saw it, the chosen and rejected drafts."""
    return [{"prompt": p["prompt_text"], "chosen": p["chosen"], "rejected": p["rejected"]}
            for p in read_preferences(root) if not p["tie"] and p["chosen"].strip() and p["chosen"] != p["rejected"]]


def export_dpo(root: Path, path: Path | None = None) -> Path:
    pairs = dpo_pairs(root)
    if not pairs:
        raise JudgingError("judge.no_pairs")
    path = path or feedback_dir(root) / "dpo-pairs.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(path, pairs)
    return path
