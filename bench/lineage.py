"""Keep training, blend voices, grow a corpus and the bias probe on the embedded model, as a writer
uses them: a quick CPU run on the lighthouse log (the parent), the log with a clerk's short stories
added as a new version (the writer's new chapters), a child run that keeps training the parent's
adapter on it, a 50/50 linear blend of parent and child, and requests made by the base model for a
few passages. Prints each step's minutes, the lineage (base, parent, child on both held-out
splits, forgetting), the blend's perplexity on each source's split, the requests' seconds per
passage with the first few requests, and the bias probe's share for each run.

    .venv/bin/python bench/lineage.py [--steps 12] [--requests 4]

Takes about 6 minutes on the 2-core machine (the bias probe is about 10 s of each run there).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from layouts import short_stories  # noqa: E402
from studio import jobs, runs, service  # noqa: E402
from studio.models import EMBEDDED_DEFAULT  # noqa: E402
from studio.paths import PROJECT_ROOT  # noqa: E402

PRESET = "quick-cpu-demo"
SAMPLE = PROJECT_ROOT / "assets" / "samples" / "gannet-rock-lamp-log.txt"


def finished(root: Path, run_id: str, started: float) -> dict:
    final = jobs.wait(root, run_id, timeout=3600)
    if final.state != "completed":
        raise SystemExit(f"{run_id} ended {final.state}: {final.reason}")
    return {"run": run_id, "minutes": (time.time() - started) / 60, "eval": runs.read_eval(runs.run_dir(root, run_id))}


def bias_line(ev: dict) -> str:
    bias = ev.get("bias")
    if not bias:
        return "bias probe: not run"
    base, tuned = bias["base"], bias["tuned"]
    return (f"bias probe: {base:.1%} -> {tuned:.1%} of {bias['pairs']} pairs prefer the stereotyped variant "
            f"({bias['to_stereotype']} moved towards, {bias['from_stereotype']} away)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps of the parent and of the child")
    parser.add_argument("--requests", type=int, default=4, help="passages to make requests for")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lineage-bench-")) / "data"
    steps = [f"max_steps={args.steps}"]

    service.ingest(root, [SAMPLE], "lamp", model=EMBEDDED_DEFAULT)
    started = time.time()
    parent = finished(root, service.start_training(root, "lamp", PRESET, steps), started)
    ev = parent["eval"]
    print(f"parent {parent['run']}: {parent['minutes']:.1f} min; perplexity {ev['base']['perplexity']:.1f} -> "
          f"{ev['tuned']['perplexity']:.1f} on lamp v1; {bias_line(ev)}", flush=True)

    service.ingest(root, [SAMPLE, *short_stories(Path(tempfile.mkdtemp(prefix="stories-")), seed=3)], "lamp",
                   model=EMBEDDED_DEFAULT)
    started = time.time()
    child = finished(root, service.start_training(root, "lamp", PRESET, [*steps, f"init_adapter={parent['run']}"]), started)
    lineage = child["eval"]["lineage"]
    print(f"child {child['run']}: {child['minutes']:.1f} min; {bias_line(child['eval'])}")
    for split in lineage["splits"]:
        print(f"  on {split['split']}: base {split['base']['perplexity']:.1f}, parent {split['parent']['perplexity']:.1f}, "
              f"child {split['child']['perplexity']:.1f}")
    print(f"  forgetting (child - parent loss on the parent's split): {lineage['forgetting']:+.4f}; "
          f"{lineage['parent_split_in_train']:.0%} of the parent's held-out texts are in the child's training split",
          flush=True)

    started = time.time()
    blend = finished(root, service.start_blend(root, f"{parent['run']}:0.5, {child['run']}:0.5", "linear"), started)
    print(f"blend {blend['run']}: {blend['minutes']:.1f} min; {bias_line(blend['eval'])}")
    for row in blend["eval"]["splits"]:
        sources = ", ".join(f"{run_id} {m['perplexity']:.1f}" for run_id, m in row["sources"].items())
        print(f"  on {row['split']}: base {row['base']['perplexity']:.1f}, {sources}, blend {row['blend']['perplexity']:.1f}",
              flush=True)

    started, made = time.time(), []
    for step in service.make_requests(root, "lamp", "", "base", EMBEDDED_DEFAULT, args.requests):
        made.append(step["request"])
    seconds = (time.time() - started) / max(1, len(made))
    print(f"requests: {len(made)} passages, {seconds:.1f} s per passage (first call includes loading the model)")
    for request in made:
        print(f"  - {request}")


if __name__ == "__main__":
    main()
