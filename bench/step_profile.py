"""What one training step does, counted rather than timed: run it in two trees and compare.

    .venv/bin/python bench/step_profile.py TREE [TREE2] [--steps 2] [--warm 2] [--model MODEL]

Timings on a shared machine drift by more than a refactor's cost; counts do not. In each tree's
own code (a fresh process, cwd and PYTHONPATH at the tree) this runs a short studio run in-process
(the quick-cpu-demo preset, no evaluation extras) and, after `--warm` optimizer steps, records
`--steps` whole loop iterations (draw, collate, forward, backward, clip, optimizer, schedule,
reports, TensorBoard) with torch.profiler (operators by name and input shapes, with their counts)
and cProfile (Python calls), plus the model as trained (module types, parameter dtypes and
requires_grad, training and dropout flags, gradient checkpointing, use_cache, attention kernel,
torch threads) and the batches fed (shapes, targets, padding, a digest of the token ids).
With two trees it prints what differs, side by side; with one it prints the record as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "assets" / "samples" / "gannet-rock-lamp-log.txt"

# Runs inside the tree being measured (cwd and PYTHONPATH point at it), so it uses that tree's code.
PROBE = r'''
import cProfile, collections, hashlib, json, pstats, sys, torch
from pathlib import Path
from studio import jobs, service
import studio.train.loss as loss_module

root, sample, model_name, warm, steps = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
service.ingest(root, [sample], "lamp", model=model_name)
overrides = [f"max_steps={warm + steps + 1}", "eval_every=0", "save_every=0", "style_openings=0", "bias_probe=false",
             "eval_examples=0", f"model={model_name}"]
cfg = service.training_config("lamp", "quick-cpu-demo", overrides)
run_id = jobs.create_run(root, cfg, preset="quick-cpu-demo")
out = {"batches": [], "model": None}
state = {"optimizer_steps": 0, "recording": False}
prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True)
calls = cProfile.Profile()

def model_facts(model):
    mods = collections.Counter(type(m).__name__ for m in model.modules())
    dtypes = collections.Counter(f"{p.dtype}/{'grad' if p.requires_grad else 'frozen'}" for p in model.parameters())
    dropout = collections.Counter(f"p={m.p}/{'train' if m.training else 'eval'}" for m in model.modules()
                                  if isinstance(m, torch.nn.Dropout))
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return {"modules": dict(mods), "params": dict(dtypes), "dropout": dict(dropout),
            "training": collections.Counter(m.training for m in model.modules()).most_common(),
            "trainable_numel": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "gradient_checkpointing": bool(getattr(base, "is_gradient_checkpointing", False)),
            "use_cache": getattr(base.config, "use_cache", None),
            "attn_implementation": getattr(base.config, "_attn_implementation", None),
            "torch_dtype": str(getattr(base.config, "torch_dtype", None)),
            "input_requires_grad_hook": bool(getattr(base, "_require_grads_hook", None)),
            "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
            "grad_enabled": torch.is_grad_enabled(), "matmul_precision": torch.get_float32_matmul_precision(),
            "mkldnn": torch.backends.mkldnn.enabled}

real_loss_sum = loss_module.loss_sum
def loss_sum(model, batch, fused=True):
    if out["model"] is None and torch.is_grad_enabled():  # the first training forward (not the base's evaluation)
        out["model"] = model_facts(model)
    labels = batch["labels"]
    out["batches"].append({"shape": list(batch["input_ids"].shape), "keys": sorted(batch),
                           "targets": int((labels[:, 1:] != -100).sum()),
                           "ids": hashlib.sha1(batch["input_ids"].numpy().tobytes()).hexdigest()[:12],
                           "fused": fused, "recorded": state["recording"]})
    return real_loss_sum(model, batch, fused)
loss_module.loss_sum = loss_sum

def after_step(optimizer, args, kwargs):
    state["optimizer_steps"] += 1
    n = state["optimizer_steps"]
    if n == warm:
        state["recording"] = True
        prof.__enter__(); calls.enable()
    elif n == warm + steps:
        calls.disable(); prof.__exit__(None, None, None)
        state["recording"] = False
from torch.optim.optimizer import register_optimizer_step_post_hook
register_optimizer_step_post_hook(after_step)

from studio.train import worker
from studio.runs import run_dir
try:
    import studio.train.recipes  # noqa: F401 (a tree with recipes imports loss_sum by name: patch those too)
except ImportError:
    pass
for module in list(sys.modules.values()):
    if getattr(module, "loss_sum", None) is real_loss_sum:
        module.loss_sum = loss_sum
code = worker.main(str(run_dir(root, run_id)))
ops = collections.Counter()
for e in prof.key_averages(group_by_input_shape=True):
    ops[f"{e.key} {e.input_shapes}"] += e.count
stats = pstats.Stats(calls).stats
py = collections.Counter()
for (file, line, name), (cc, nc, tt, ct, callers) in stats.items():
    where = file.split("/site-packages/")[-1] if "site-packages" in file else (
        "studio/" + file.split("/studio/", 1)[1] if "/studio/" in file else file)
    py[f"{where}:{name}"] += nc
print("PROBE " + json.dumps({"exit": code, "steps": steps, "ops": ops, "python": py, **out}))
'''


def probe(tree: Path, warm: int, steps: int, model: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="step-profile-") as data:
        done = subprocess.run([sys.executable, "-c", PROBE, data, str(SAMPLE), model, str(warm), str(steps)], cwd=tree,
                              env={**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"},
                              capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("PROBE ")]
    if done.returncode or not lines:
        raise SystemExit(f"{tree}: the probe failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][6:])


def differ(name: str, a: dict, b: dict, scale: float, limit: int) -> None:
    keys = sorted(set(a) | set(b), key=lambda k: -abs(a.get(k, 0) - b.get(k, 0)))
    rows = [(k, a.get(k, 0) / scale, b.get(k, 0) / scale) for k in keys if a.get(k, 0) != b.get(k, 0)]
    print(f"\n{name}: {len(a)} and {len(b)} distinct, totals per step {sum(a.values()) / scale:.0f} and "
          f"{sum(b.values()) / scale:.0f}; {len(rows)} differ" + (f" (the {limit} largest shown)" if len(rows) > limit else ""))
    for key, x, y in rows[:limit]:
        print(f"  {x:9.1f} {y:9.1f}  {key[:150]}")


def compare(a: dict, b: dict, names: tuple[str, str], limit: int) -> None:
    print(f"per step, {names[0]} then {names[1]}")
    for key in sorted(set(a["model"]) | set(b["model"])):
        x, y = a["model"].get(key), b["model"].get(key)
        print(f"  {'same' if x == y else 'DIFF'} model.{key}: {json.dumps(x)}" + ("" if x == y else f" | {json.dumps(y)}"))
    fed = [[{k: v for k, v in batch.items() if k != "recorded"} for batch in run["batches"]] for run in (a, b)]
    print(f"  {'same' if fed[0] == fed[1] else 'DIFF'} batches fed ({len(fed[0])} and {len(fed[1])}): "
          + "; ".join(f"{x['shape']} {x['targets']} targets {x['ids']}" for x in fed[0][:6]))
    if fed[0] != fed[1]:
        print("     " + "; ".join(f"{x['shape']} {x['targets']} targets {x['ids']}" for x in fed[1][:6]))
    differ("torch operators (name, input shapes)", a["ops"], b["ops"], a["steps"], limit)
    differ("Python calls (file:function)", a["python"], b["python"], a["steps"], limit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trees", nargs="+", type=Path, help="one or two source trees (e.g. this one and a git worktree)")
    parser.add_argument("--warm", type=int, default=2, help="optimizer steps before recording")
    parser.add_argument("--steps", type=int, default=2, help="optimizer steps recorded")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--limit", type=int, default=40, help="rows of differences shown per table")
    args = parser.parse_args()
    found = [probe(tree.resolve(), args.warm, args.steps, args.model) for tree in args.trees]
    if len(found) == 1:
        print(json.dumps(found[0], indent=1))
    else:
        compare(found[0], found[1], tuple(str(t) for t in args.trees), args.limit)


if __name__ == "__main__":
    main()
