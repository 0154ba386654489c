"""Training speed of this tree against another commit's, side by side on this machine.

    .venv/bin/python bench/commits.py REV [--rounds 3] [--steps 12] [--model MODEL]
    .venv/bin/python bench/commits.py --against-self [--rounds 3] [--steps 12]

A refactor of the training loop must not cost speed. This checks out REV into a temporary git
worktree and runs the same short studio run (the quick-cpu-demo preset, `--steps` optimizer
steps, no evaluation extras) with each tree's own code, in its own process, in the order
A B, B A, A B ... so that a machine whose speed drifts weighs on both alike. Each run's speed is the
median of its steps' tokens/s as the worker logged them (the first step, warm-up, left out);
the table gives every round and the median ratio this tree / REV. `--against-self` runs this tree
against itself the same way: its ratios are the machine's noise, the yardstick for a ratio
against REV (a ratio inside that spread says nothing). For what one step does, counted rather
than timed (operators, shapes, Python calls, the model as trained), see bench/step_profile.py.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "samples" / "gannet-rock-lamp-log.txt"

# Runs inside the tree being measured (cwd and PYTHONPATH point at it), so it uses that tree's code.
RUN = """
import json, sys
from pathlib import Path
from studio import jobs, runs, service
root, sample, steps, model = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
if not (root / "corpora" / "lamp").exists():
    service.ingest(root, [sample], "lamp", model=model)
overrides = [f"max_steps={steps}", "eval_every=0", "save_every=0", "style_openings=0", "bias_probe=false",
             "eval_examples=0", f"model={model}"]
run_id = service.start_training(root, "lamp", "quick-cpu-demo", overrides)
final = jobs.wait(root, run_id, timeout=3600)
state = getattr(final, "state", None) or final["state"]
speeds = [e["tokens_per_s"] for e in runs.read_events(runs.run_dir(root, run_id)) if e.get("kind") == "train"][1:]
print(json.dumps({"state": str(state), "speeds": speeds}))
"""


def one_run(tree: Path, data: Path, steps: int, model: str) -> float:
    done = subprocess.run([sys.executable, "-c", RUN, str(data), str(SAMPLE), str(steps), model], cwd=tree,
                          env={**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"},
                          capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["state"] != "completed" or not result["speeds"]:
        raise SystemExit(f"{tree}: the run ended {result['state']}: {done.stderr[-2000:]}")
    return statistics.median(result["speeds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rev", nargs="?", help="the commit to compare with (e.g. a tag, main~5, a hash)")
    parser.add_argument("--against-self", action="store_true",
                        help="compare this tree with itself (A/A): the ratios show the machine's noise")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--model", default="smollm2-135m-instruct", help="a model name both trees know")
    args = parser.parse_args()
    if bool(args.rev) == args.against_self:
        parser.error("give a commit to compare with, or --against-self")
    args.rev = args.rev or "this tree again"
    with tempfile.TemporaryDirectory(prefix="bench-commits-") as tmp:
        other = ROOT if args.against_self else Path(tmp) / "tree"
        if not args.against_self:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(other), args.rev], check=True,
                           capture_output=True)
        try:
            rows = []
            for n in range(args.rounds):
                # A B, then B A: a machine that speeds up or slows down over the minutes weighs on both
                order = [("this", ROOT), ("other", other)][::1 if n % 2 == 0 else -1]
                speed = {name: one_run(tree, Path(tmp) / f"data-{name}", args.steps, args.model) for name, tree in order}
                this, that = speed["this"], speed["other"]
                rows.append((this, that))
                print(f"round {n + 1}: this tree {this:.1f} tokens/s, {args.rev} {that:.1f} tokens/s, "
                      f"ratio {this / that:.3f}", flush=True)
        finally:
            if not args.against_self:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)], capture_output=True)
    ratios = [a / b for a, b in rows]
    print(f"\nmedian tokens/s: this tree {statistics.median(a for a, _ in rows):.1f}, {args.rev} "
          f"{statistics.median(b for _, b in rows):.1f}; median ratio {statistics.median(ratios):.3f} "
          f"(rounds ranged {min(ratios):.3f}-{max(ratios):.3f}); {args.rounds} rounds of {args.steps} steps")


if __name__ == "__main__":
    main()
