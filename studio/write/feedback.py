"""Blind A/B judging of drafts, the preferences it records, win rates, and DPO pairs.

A duel takes two panes of one finished comparison, shuffles their sides and shows the writer only
the texts; which side is which stays on the server, in `feedback/pending/` (so a restarted UI can
still settle it), until the pick. Each pick appends one line to
`<data>/feedback/preferences.jsonl`; ties are kept (they count in win rates) but give no DPO pair.
"""
from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

from studio import runs
from studio.write.drafter import read_drafts

PICKS = ("A", "B", "tie")


class JudgingError(ValueError):
    pass


def feedback_dir(root: Path) -> Path:
    return root / "feedback"


def preferences_path(root: Path) -> Path:
    return feedback_dir(root) / "preferences.jsonl"


def start_duel(root: Path, draft_id: str, pair: tuple[str, str] | None = None) -> dict:
    """Two drafts of comparison `draft_id`, sides shuffled, labels withheld. `pair` names the two
    panes' sources; by default the base against the first tuned pane."""
    found = read_drafts(root, draft_id)
    if not found:
        raise JudgingError(f"no finished drafts with id {draft_id}: draft first, then judge")
    record = found[-1]
    panes = {p["source"]: p for p in record["panes"]}
    if len(panes) < 2:
        raise JudgingError("a blind comparison needs two panes: draft with the base and a tuned run")
    names = list(pair) if pair else list(panes)[:2]
    if len(set(names)) != 2 or any(n not in panes for n in names):
        raise JudgingError(f"pick two different panes of this comparison ({', '.join(panes)})")
    secrets.SystemRandom().shuffle(names)
    # the pending duel keeps what the judgement needs, so judging never re-reads the drafts log
    duel = {"duel": secrets.token_hex(8), "created": time.time(), "sides": {"A": panes[names[0]], "B": panes[names[1]]},
            **{k: record[k] for k in ("id", "prompt", "prompt_text", "mode", "settings")}}
    pending = feedback_dir(root) / "pending"
    pending.mkdir(parents=True, exist_ok=True)
    runs.write_json_atomic(pending / f"{duel['duel']}.json", duel)
    # what the writer sees: texts only; the first draft of each pane
    return {"duel": duel["duel"], "A": panes[names[0]]["drafts"][0], "B": panes[names[1]]["drafts"][0]}


def judge(root: Path, duel_id: str, pick: str) -> dict:
    """Record the writer's pick ("A", "B" or "tie") and reveal which model wrote which side."""
    if pick not in PICKS:
        raise JudgingError(f"pick '{pick}': choose A, B or tie")
    if not duel_id.isalnum():
        raise JudgingError("unknown comparison: start a blind comparison first")
    path = feedback_dir(root) / "pending" / f"{duel_id}.json"
    if not path.exists():
        raise JudgingError("this blind comparison was already judged or never started: start a new one")
    record = json.loads(path.read_text(encoding="utf-8"))
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
    with open(preferences_path(root), "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    path.unlink()
    return {"pick": pick, "A": a["label"], "B": b["label"], "line": line}


def read_preferences(root: Path) -> list[dict]:
    path = preferences_path(root)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


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
        raise JudgingError("no preference pairs yet (ties give none): judge a few blind comparisons first")
    path = path or feedback_dir(root) / "dpo-pairs.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
    tmp.replace(path)
    return path
