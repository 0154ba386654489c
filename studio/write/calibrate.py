"""Which weights to draft with on this CPU, measured here once per (machine, base model) and
remembered with the model cache.

The drafter used to follow a rule measured on the CPU the studio was first written on ("bf16 on
the CPU"). CPUs differ (AVX2 only, AVX-512 BF16, AMX, Apple silicon through PyTorch's CPU build)
and the fastest way to hold the weights differs with them, so the studio times the candidates
here and keeps the fastest one whose drafts stay those of the full-precision model:

    nf4    the base in 4-bit NF4 (bitsandbytes), bf16 compute where the CPU has it, else fp32
    bf16   the base in bf16
    fp32   the base as stored in full precision: the reference, always allowed

Each path loads the base, reads a fixed prompt (English and Chinese) and drafts PROBE_TOKENS
greedy tokens: the median decode step at one row (the desk) and the cost a row of an 8-row step
(the demo's shared batch). Quality: the fp32 path's greedy tokens are the reference; a path is
kept only if, fed those same tokens, it puts its own first choice on at least AGREEMENT of them
and their log-probabilities differ from fp32's by at most LOGPROB_TOLERANCE nats on average. The
whole calibration stops trying paths after BUDGET_S (about 10 s in all on the embedded 135M model
on a 2-core CPU); paths not tried are listed as such.

The first draft of a base on a machine measures in a process of its own (calibrate_apart). The
result is a JSON file under `<data>/models/calibration/` (studio/calibration.py), keyed by what
identifies the machine and the libraries (CPU model and flags, PyTorch's CPU capability, threads,
versions of torch, transformers, peft and bitsandbytes; this module's VERSION): a change of any
of them, or a file written by another version, is ignored and the calibration runs again.
STUDIO_DRAFT_PATH forces a path (nf4, bf16 or fp32); `python -m studio calibrate` reruns it and
prints the table. A calibration that fails leaves the drafter on fp32, the safe path, and says why.
"""
from __future__ import annotations

import logging
import os
import statistics
import threading
import time
from pathlib import Path

from studio import calibration
from studio.calibration import bitsandbytes_runs, hardware, hardware_key
from studio.messages import Keyed

log = logging.getLogger(__name__)

VERSION = 3
KIND = "draft"
DRAFT_PATHS = ("nf4", "bf16", "fp32")
FORCE_ENV = "STUDIO_DRAFT_PATH"
BUDGET_S = 30.0
PROBE_TOKENS = 16
AGREEMENT = 0.9  # share of the reference tokens a path must also pick first
LOGPROB_TOLERANCE = 0.1  # nats, mean |log p(path) - log p(fp32)| over the reference tokens
DEMO_ROWS = 8
PROMPT = ("The keeper climbed the stairs of the lighthouse at dusk and lit the lamp, as he had every "
          "evening for thirty years. 灯塔看守人在黄昏时登上台阶，点亮了灯。Below him the sea")


APART = True  # calibrate in a process of its own (calibrate_apart); tests measure in theirs
_calibrating = threading.Lock()
_failed: dict[tuple[Path, str], str] = {}  # (root, model) whose calibration failed in this process: why


class CalibrationRefused(Keyed, ValueError):
    """A forced path this machine cannot run."""


def calibration_file(root: Path, model: str) -> Path:
    return calibration.calibration_file(root, model, KIND)


def remembered(root: Path, model: str, facts: dict | None = None) -> dict | None:
    """The calibration kept for `model` on this machine, or None (none yet, another machine or
    library version, a file another version of the studio wrote, or one that cannot be read)."""
    data = calibration.read(root, model, KIND, VERSION, facts or hardware())
    return data if data and data.get("chosen") in DRAFT_PATHS else None


def forced_path() -> str | None:
    value = os.environ.get(FORCE_ENV, "").strip().lower()
    if not value:
        return None
    if value not in DRAFT_PATHS:
        raise CalibrationRefused("calibrate.unknown_path", path=value, paths=", ".join(DRAFT_PATHS), env=FORCE_ENV)
    if value == "nf4" and not bitsandbytes_runs():
        raise CalibrationRefused("calibrate.cannot_run", path=value, paths="bf16, fp32", env=FORCE_ENV)
    return value


def weights_of(path: str, facts: dict | None = None) -> tuple[str, str]:
    """(quantization, dtype) that load_base takes for a drafting path."""
    if path == "nf4":
        return "nf4", "bf16" if calibration.has_bf16(facts or hardware()) else "fp32"
    return "none", path


def choose(rows: list[dict]) -> dict:
    """The fastest measured path (by the desk's rate, one row) whose drafts hold; fp32 when none
    was measured or none holds."""
    good = [r for r in rows if r.get("tok_s") and r.get("holds")]
    if not good:
        return {"path": "fp32", "tok_s": None, "holds": True}
    return max(good, key=lambda r: r["tok_s"])


def holds(agreement: float, logprob_gap: float) -> bool:
    return agreement >= AGREEMENT and logprob_gap <= LOGPROB_TOLERANCE


def measure(source: str, path: str, reference: list[int] | None, facts: dict) -> dict:
    """One path: its greedy tokens, the median one-row decode step, the per-row cost of an 8-row
    step, and (against `reference`, fp32's tokens) how closely it follows fp32."""
    import torch
    from transformers import DynamicCache

    from studio.models import load_base, load_tokenizer
    from studio.write.attention import use_decode_attention

    quant, dtype = weights_of(path, facts)
    started = time.perf_counter()
    tok = load_tokenizer(source)
    model = load_base(source, quant, "cpu", dtype).eval()
    use_decode_attention(model)
    loaded = time.perf_counter() - started
    ids = tok(PROMPT, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        cache = DynamicCache()
        out = model(ids, past_key_values=cache, use_cache=True)
        tokens, steps = [], []
        for _ in range(PROBE_TOKENS):
            token = out.logits[:, -1].argmax(-1, keepdim=True)
            tokens.append(int(token))
            step = time.perf_counter()
            out = model(token, past_key_values=cache, use_cache=True)
            steps.append(time.perf_counter() - step)
        for layer in cache.layers:  # the demo's shape: the same cache in DEMO_ROWS rows
            layer.keys, layer.values = layer.keys.repeat(DEMO_ROWS, 1, 1, 1), layer.values.repeat(DEMO_ROWS, 1, 1, 1)
        token, batch = torch.full((DEMO_ROWS, 1), tokens[-1]), []
        for _ in range(3):
            step = time.perf_counter()
            model(token, past_key_values=cache, use_cache=True)
            batch.append(time.perf_counter() - step)
        follow = reference or tokens
        forced = model(torch.cat([ids, torch.tensor([follow])], dim=1)).logits[0, ids.shape[1] - 1:-1].float()
        logprobs = forced.log_softmax(-1).gather(1, torch.tensor(follow).unsqueeze(1)).squeeze(1)
        agreement = float((forced.argmax(-1) == torch.tensor(follow)).float().mean())
    step_s = statistics.median(steps[1:])  # the first step of a path pays for warming up
    return {"path": path, "weights": f"{quant if quant != 'none' else ''} {dtype}".strip(), "tokens": tokens,
            "logprobs": [round(float(x), 4) for x in logprobs], "agreement": round(agreement, 3),
            "tok_s": round(1 / step_s, 2), "demo_row_ms": round(min(batch) * 1000 / DEMO_ROWS, 2),
            "load_s": round(loaded, 2), "seconds": round(time.perf_counter() - started, 2)}


def calibrate(root: Path, model: str, budget_s: float = BUDGET_S, measure_path=None) -> dict:
    """Time every drafting path this machine can run (fp32 first: the reference), choose, keep."""
    from studio.models import resolve

    facts, started, rows = hardware(), time.perf_counter(), []
    measure_path = measure_path or measure
    source = resolve(model, root)
    reference = None
    for path in ("fp32", "bf16", "nf4"):
        if path == "nf4" and not bitsandbytes_runs():
            rows.append({"path": path, "skipped": "bitsandbytes is not installed"})
            continue
        if time.perf_counter() - started > budget_s:
            rows.append({"path": path, "skipped": f"past the {budget_s:g} s budget"})
            continue
        row = measure_path(source, path, reference, facts)
        if path == "fp32":
            reference, row["logprob_gap"] = row["tokens"], 0.0
            fp32_logprobs = row["logprobs"]
        else:
            row["logprob_gap"] = round(statistics.fmean(abs(a - b) for a, b in zip(row["logprobs"], fp32_logprobs)), 4)
        row["holds"] = path == "fp32" or holds(row["agreement"], row["logprob_gap"])
        rows.append(row)
    chosen = choose([r for r in rows if "skipped" not in r])
    data = {"version": VERSION, "key": hardware_key(facts), "hardware": facts, "model": model,
            "when": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": round(time.perf_counter() - started, 1),
            "rows": rows, "chosen": chosen["path"]}
    calibration.keep(root, model, KIND, data)
    return data


def calibrate_apart(root: Path, model: str) -> dict:
    """calibrate() in a process of its own (`python -m studio calibrate --only drafting`). In the
    app's process it would run on the thread that asked for the first draft, and PyTorch's OpenMP
    gives every thread that computes a team of worker threads of its own: with two teams on a
    2-core machine (the calibration's and the draft loop's) libgomp stops spinning between parallel
    regions and every decode step waits on the kernel instead: the drafter drafted 11 tokens/s
    instead of 19 while the other thread lived (in the app a request's worker thread, which the
    server ends after 10 s idle; in a script its main thread, for good). The three models it loads
    leave the app's memory with the process, too."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "studio", "calibrate", "--only", "drafting", "--model", model,
                           "--data-dir", str(root)], capture_output=True, text=True, timeout=BUDGET_S * 20)
    found = remembered(root, model)
    if done.returncode or found is None:
        raise RuntimeError(f"python -m studio calibrate exited {done.returncode}: "
                           + (done.stderr.strip().splitlines() or ["no output"])[-1][:300])
    return found


def drafting_path(root: Path, model: str) -> tuple[str, str, str]:
    """(path, why, how) the drafter uses for `model` on this CPU: forced, remembered, or measured
    now (the first draft of a model on a machine waits for it). A failed calibration: fp32."""
    path = forced_path()
    if path:
        return path, "forced", f"{FORCE_ENV}={path}"
    with _calibrating:  # two first drafts at once: the second waits for the first one's result
        found = remembered(root, model)
        if found:
            return found["chosen"], "calibrated", found["when"]
        if (root, model) in _failed:  # tried again by the next process, not at every draft
            return "fp32", "calibration failed", _failed[root, model]
        try:
            found = calibrate_apart(root, model) if APART else calibrate(root, model)
        except Exception as exc:  # noqa: BLE001 - drafting goes on, on the safe path, and says why
            log.warning("drafting calibration for %s failed (%s); drafting in fp32", model, exc)
            _failed[root, model] = f"{type(exc).__name__}: {str(exc)[:200]}"
            return "fp32", "calibration failed", _failed[root, model]
    return found["chosen"], "calibrated", found["when"]


def table(data: dict) -> str:
    """The calibration as a text table (python -m studio calibrate)."""
    lines = [f"model {data['model']}, {data['hardware']['cpu']} ({data['hardware']['capability']}, "
             f"{data['hardware']['threads']} threads), {data['when']}, {data['seconds']} s",
             f"{'path':<6} {'weights':<10} {'tok/s (1 row)':>13} {'ms a row (8 rows)':>17} {'agree':>6} "
             f"{'logprob gap':>11}  verdict"]
    for r in data["rows"]:
        if "skipped" in r:
            lines.append(f"{r['path']:<6} skipped: {r['skipped']}")
            continue
        verdict = ("chosen" if r["path"] == data["chosen"] else "holds") if r["holds"] else "refused: drifts from fp32"
        lines.append(f"{r['path']:<6} {r['weights']:<10} {r['tok_s']:>13.1f} {r['demo_row_ms']:>17.1f} "
                     f"{r['agreement']:>6.2f} {r['logprob_gap']:>11.3f}  {verdict}")
    return "\n".join(lines)
