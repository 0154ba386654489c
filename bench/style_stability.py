"""Is the style verdict stable from one seed to the next? One quick run per layout (the
quick-cpu-demo preset, the embedded model, on the CPU), then the style match after training
(studio/train/final_eval.py's call, studio/write/style.py) repeated with several sampling seeds for
each setting of openings x draft length. Prints per layout, setting and seed the verdict, the
change in mean distance with its interval, the openings won, and the seconds the style match took;
then per setting how many seeds gave the commonest verdict.

    .venv/bin/python bench/style_stability.py [--layouts NAME ...] [--settings 8x64 16x64 ...] [--seeds 5]
    .venv/bin/python bench/style_stability.py --root DATA --runs RUN ...   # reuse finished runs, no training

Target (issue 23): the same verdict for 5 of 5 seeds on each layout, within the quick run's time.
Corpora come from bench/layouts.py (generated from a seed for this project). A quick run takes about
10 minutes on the 2-core machine; each setting x seed a few seconds to a minute more.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from layouts import LAYOUTS  # noqa: E402
from studio import jobs, runs, service  # noqa: E402
from studio.models import EMBEDDED_DEFAULT  # noqa: E402

PRESET = "quick-cpu-demo"
# the style match is measured below, once per setting and seed; the bias probe is not what is measured here
TRAIN_SETTINGS = ["style_openings=0", "bias_probe=false"]
DEFAULT_LAYOUTS = ["long log (blank-line entries)", "Chinese novel (GB18030, one paragraph per line)"]
DEFAULT_SETTINGS = ["8x64", "16x64", "16x96", "24x96"]  # openings x new tokens per draft


def train(root: Path, name: str, settings: list[str]) -> tuple[str, float]:
    """Ingest the layout and train one quick run; (run id, minutes)."""
    folder = Path(tempfile.mkdtemp(prefix="layout-"))
    corpus = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]
    started = time.time()
    service.ingest(root, LAYOUTS[name](folder), corpus, model=EMBEDDED_DEFAULT)
    run_id = service.start_training(root, corpus, PRESET, settings)
    final = jobs.wait(root, run_id, timeout=7200)
    if final.state != "completed":
        raise SystemExit(f"{name}: run {run_id} {final.state}: {final.reason}")
    return run_id, (time.time() - started) / 60


def load(root: Path, run_id: str, checkpoint: str = ""):
    """The run's base with its adapter (a peft model; `checkpoint`, e.g. step-20, for one of its
    checkpoints), its tokenizer, and the run's config and corpus version."""
    from peft import PeftModel

    from studio.models import load_base, load_tokenizer, resolve

    folder = runs.RunFolder.of(root, run_id)
    cfg, status = folder.config(), folder.status()
    source = resolve(cfg.model, root)
    model = load_base(source, status.quantization or "none", "cpu", cfg.compute_dtype, cfg.double_quant)
    adapter = folder.path / "checkpoints" / checkpoint if checkpoint else folder.path / "adapter"
    model = PeftModel.from_pretrained(model, str(adapter), is_trainable=False)
    return model, load_tokenizer(source), cfg, folder.trained_corpus_version(cfg)


def style_match(root: Path, model, tok, cfg, version: str, openings: int, tokens: int, seed: int) -> dict:
    """What final_eval.style_evaluation does, with these openings, draft length and seed; timed."""
    from studio.write import style

    started = time.time()
    found = style.openings(style.prose(root, cfg.corpus, version, "val"), openings)
    base, tuned = style.continuations(model, tok, [o["opening"] for o in found], tokens, "cpu", seed)
    result = style.score_on_corpus(root, cfg.corpus, version, found, base, tuned)
    return {"openings": result.openings, "tokens": tokens, "seed": seed, "verdict": str(result.verdict),
            "base": result.base_mean, "tuned": result.tuned_mean, "writer": result.writer_mean,
            "change": result.difference, "interval": result.interval, "wins": result.tuned_closer,
            "copied": result.tuned_copied, "seconds": round(time.time() - started, 1),
            # per opening, to try other summaries of the same drafts without drafting again
            "base_distances": [r["base_distance"] for r in result.rows],
            "tuned_distances": [r["tuned_distance"] for r in result.rows]}


def summary(layout: str, rows: list[dict]) -> list[str]:
    out = []
    for setting in dict.fromkeys((r["openings"], r["tokens"]) for r in rows):
        mine = [r for r in rows if (r["openings"], r["tokens"]) == setting]
        verdict, same = Counter(r["verdict"] for r in mine).most_common(1)[0]
        seconds = sum(r["seconds"] for r in mine) / len(mine)
        widths = [r["interval"][1] - r["interval"][0] for r in mine]
        out.append(f"| {layout} | {setting[0]} x {setting[1]} | {verdict} in {same} of {len(mine)} seeds | "
                   f"{' '.join(r['verdict'] for r in mine)} | "
                   f"{min(r['change'] for r in mine):+.3f} .. {max(r['change'] for r in mine):+.3f} | "
                   f"{sum(widths) / len(widths):.3f} | {' '.join(str(r['wins']) for r in mine)} | {seconds:.0f} |")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layouts", nargs="*", default=DEFAULT_LAYOUTS, help="which layouts (bench/layouts.py)")
    parser.add_argument("--settings", nargs="*", default=DEFAULT_SETTINGS, help="openings x new tokens, e.g. 16x64")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--set", nargs="*", default=[], help="key=value on top of the preset for training")
    parser.add_argument("--root", type=Path, default=None, help="data root (with --runs: where those runs are)")
    parser.add_argument("--runs", nargs="*", default=[], help="finished runs to measure instead of training")
    parser.add_argument("--checkpoint", default="", help="with --runs: measure this checkpoint (e.g. step-20), not the adapter")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the style matches (on a machine shared "
                        "with other jobs one thread ran 16 tokens in 21 s where two took 388 s)")
    parser.add_argument("--out", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    root = args.root or Path(tempfile.mkdtemp(prefix="bench-style-")) / "data"
    targets = [(run_id, run_id) for run_id in args.runs] or [(name, None) for name in args.layouts]
    lines, rows = [], []
    for label, run_id in targets:
        minutes = None
        if run_id is None:
            run_id, minutes = train(root, label, TRAIN_SETTINGS + args.set)
        print(json.dumps({"layout": label, "run": run_id, "train_minutes": minutes and round(minutes, 1)}), flush=True)
        model, tok, cfg, version = load(root, run_id, args.checkpoint if args.runs else "")
        mine = []
        for setting in args.settings:
            openings, tokens = map(int, setting.split("x"))
            for seed in range(1, args.seeds + 1):
                mine.append({"layout": label, "run": run_id,
                             **style_match(root, model, tok, cfg, version, openings, tokens, seed)})
                print(json.dumps(mine[-1], ensure_ascii=False), flush=True)
        rows += mine
        lines += summary(label, mine)
    print(f"\npreset {PRESET}, embedded model {EMBEDDED_DEFAULT}, on the CPU; verdict per seed 1..{args.seeds}\n")
    print("| layout | openings x tokens | stable | verdicts | change (range over seeds) | interval width (mean) | "
          "wins per seed | seconds per match |\n|---|---|---|---|---|---|---|---|")
    print("\n".join(lines))
    if args.out:
        args.out.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
