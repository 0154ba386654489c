"""The whole loop on a writer's own material, one layout at a time: ingest, a quick CPU run of the
embedded model (the quick-cpu-demo preset), evaluation. Prints per layout the held-out share of
tokens, validation perplexity base -> tuned, style-match wins (tuned closer to the writer than base,
Burrows' Delta, bench/layouts.py and studio/write/style.py) and the style verdict with its interval
on the change in mean distance, the copied share of the tuned drafts,
and the minutes from ingest to evaluation, with the issue's targets checked.

    .venv/bin/python bench/writer.py [--layouts "Markdown manuscript" ...] [--set key=value ...]

Corpora come from bench/layouts.py (generated from a seed for this project). Takes about 25
minutes on the 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from layouts import LAYOUTS  # noqa: E402
from studio import jobs, runs, service  # noqa: E402
from studio.models import EMBEDDED_DEFAULT  # noqa: E402

PRESET = "quick-cpu-demo"
SETTINGS: list[str] = []  # the preset as it is (style_openings 16 since bench/style_stability.py)
TARGETS = {"held-out share": (0.05, 0.20), "perplexity change": -0.20, "style wins": 0.70, "minutes": 10.0}


def one_layout(root: Path, name: str, make, settings: list[str], repeat: int = 1) -> dict:
    files = []
    for seed in range(repeat):  # `repeat` texts of the same layout from other seeds: a writer's bigger folder
        folder = Path(tempfile.mkdtemp(prefix="layout-"))
        files += make(folder, seed=seed)
    corpus = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]
    started = time.time()
    manifest = service.ingest(root, files, corpus, model=EMBEDDED_DEFAULT)
    run_id = service.start_training(root, corpus, PRESET, settings)
    final = jobs.wait(root, run_id, timeout=3600)
    minutes = (time.time() - started) / 60
    if final.state != "completed":
        raise SystemExit(f"{name}: run {run_id} {final.state}: {final.reason}")
    ev = runs.read_eval(runs.run_dir(root, run_id))
    style = ev.get("style") or {}
    return {"layout": name, "files": len(files), "tokens": manifest["tokens"]["train"] + manifest["tokens"]["val"],
            "split": manifest["split"]["method"], "held_out": manifest["split"]["val_share"],
            "ppl_base": ev["base"]["perplexity"], "ppl_tuned": ev["tuned"]["perplexity"],
            "ppl_change": ev["perplexity_change"], "wins": style.get("tuned_closer", 0), "openings": style.get("openings", 0),
            "delta_base": style.get("base_mean"), "delta_tuned": style.get("tuned_mean"),
            "delta_writer": style.get("writer_mean"), "copied": style.get("tuned_copied"),
            "verdict": style.get("verdict", "-"), "interval": style.get("interval"),
            "minutes": round(minutes, 1), "run": run_id, "train_seconds": ev["train_seconds"]}


def verdicts(row: dict) -> list[str]:
    low, high = TARGETS["held-out share"]
    missed = []
    if not low <= row["held_out"] <= high:
        missed.append("held-out share")
    if row["ppl_change"] > TARGETS["perplexity change"]:
        missed.append("perplexity")
    if not row["openings"] or row["wins"] / row["openings"] < TARGETS["style wins"]:
        missed.append("style")
    if row["minutes"] > TARGETS["minutes"]:
        missed.append("time")
    return missed


def table(rows: list[dict]) -> str:
    lines = ["| layout | files | tokens | held out (how) | perplexity base → tuned | style: tuned closer | "
             "Delta base → tuned (writer's own) | verdict (95% interval) | copied | minutes | targets |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        missed = verdicts(r)
        lines.append(
            f"| {r['layout']} | {r['files']} | {r['tokens']:,} | {r['held_out']:.1%} ({r['split']}) | "
            f"{r['ppl_base']:.2f} → {r['ppl_tuned']:.2f} ({r['ppl_change']:+.0%}) | {r['wins']} of {r['openings']} | "
            f"{r['delta_base']:.3f} → {r['delta_tuned']:.3f} ({r['delta_writer']:.3f}) | {r['verdict']} "
            f"({' to '.join(f'{x:+.3f}' for x in r['interval'] or [])}) | {r['copied']:.0%} | "
            f"{r['minutes']} | {'met' if not missed else 'missed: ' + ', '.join(missed)} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layouts", nargs="*", default=list(LAYOUTS), help="which layouts (default: all)")
    parser.add_argument("--set", nargs="*", default=SETTINGS, help="key=value on top of the preset")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here")
    parser.add_argument("--repeat", type=int, default=1, help="files per layout, each from another seed (5: about 50k tokens)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-writer-")) / "data"
    rows = []
    for name in args.layouts:
        rows.append(one_layout(root, name, LAYOUTS[name], args.set, args.repeat))
        print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    print(f"\npreset {PRESET} + {' '.join(args.set)}, embedded model {EMBEDDED_DEFAULT}, on the CPU\n")
    print(table(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0 if not any(verdicts(r) for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
