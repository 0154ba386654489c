"""Which path to train a LoRA adapter on with this CPU, measured here once per (machine, base
model) and remembered with the model cache.

The Train tab used to follow a rule measured on the CPU the studio was first written on
("unquantized LoRA in fp32 on the CPU: 4-bit is no faster and learns less"). A CPU that
multiplies bf16 natively (AVX-512 BF16, AMX) runs bf16 products about twice as fast as float32
ones, and the rule left that on the table. So the studio times the candidates here and keeps the
fastest one that learns as the full-precision path does:

    fp32   the base and the adapter in float32: the reference, always allowed
    bf16   the base in bf16, the decoder under bf16 autocast (float32 LoRA weights and optimizer,
           float32 norms and loss: studio/models.py compute_end_to_end); only on a CPU with bf16
           instructions (elsewhere bf16 is emulated, tens of times slower)
    nf4    the base in 4-bit NF4 (bitsandbytes), bf16 compute where the CPU has it, else float32

Each path loads the base, attaches the same LoRA adapter (rank 16 on every linear layer, the same
seed) and takes STEPS optimizer steps of one ROWS x SEQ_LEN block from the sample text that ships
with the studio (assets/samples), the same blocks for every path; speed is the median step after
the first. Quality: the loss on two held-out blocks after those steps, which must be within
LOSS_TOLERANCE (relative) of the fp32 path's. The whole calibration stops trying paths after
BUDGET_S; about 30 s on the embedded 135M model on a 2-core CPU.

The result is kept beside the model cache (studio/calibration.py), keyed by the machine and the
library versions; a change of either, or a file written by another version, is measured again.
A run's `quantization` or `compute_dtype` set to other than `auto` forces that part of the path,
STUDIO_TRAIN_PATH (fp32, bf16 or nf4) the path of every `auto` setting (a path this machine
cannot run is refused, with what it can run); `python -m studio calibrate`
reruns it and prints the table. A calibration that fails leaves training on fp32 and says why.
On a GPU the rule stays: 4-bit NF4 in bf16 (QLoRA), chosen for memory, which is what a GPU lacks.
"""
from __future__ import annotations

import logging
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from studio import calibration
from studio.calibration import bitsandbytes_runs, hardware, hardware_key
from studio.messages import Keyed, message

log = logging.getLogger(__name__)

VERSION = 1
KIND = "train"
TRAIN_PATHS = ("fp32", "bf16", "nf4")
FORCE_ENV = "STUDIO_TRAIN_PATH"
BUDGET_S = 60.0
STEPS = 5  # the first warms up; the median of the other four is the speed
ROWS, SEQ_LEN = 1, 256
LORA_R, LEARNING_RATE = 16, 1e-3  # a rate high enough that a few steps move the loss measurably
LOSS_TOLERANCE = 0.02  # relative: a path's held-out loss after the steps at most 2% above fp32's
SAMPLE = Path(__file__).resolve().parents[2] / "assets" / "samples" / "gannet-rock-lamp-log.txt"
BYTES_PER_WEIGHT = {"fp32": 4, "bf16": 2, "nf4": 0.52}
MEMORY_SHARE = 0.25  # a path whose base weights take more of the machine's memory is not tried


class PathRefused(Keyed, ValueError):
    """A forced path this machine cannot run."""


@dataclass(frozen=True)
class TrainPath:
    """What a run trains with: the base's quantization, the compute dtype, and why."""
    quantization: str  # none, nf4, fp4, int8
    compute_dtype: str  # fp32, bf16, fp16, or auto on a GPU
    note: dict | str = ""  # a message (studio/messages.py) saying why, "" when the run set both
    path: str = ""  # fp32, bf16 or nf4 when it is one of the calibrated paths
    measures_first: bool = False  # the run measures this machine before it loads the base


def weights_of(path: str, facts: dict) -> tuple[str, str]:
    """(quantization, compute dtype) of a calibrated path."""
    if path == "nf4":
        return "nf4", "bf16" if calibration.has_bf16(facts) else "fp32"
    return "none", path


def path_of(quantization: str, dtype: str, facts: dict) -> str:
    """The calibrated path a (quantization, compute dtype) pair is, or ""."""
    return next((p for p in TRAIN_PATHS if weights_of(p, facts) == (quantization, dtype)), "")


def fits(path: str, params_m: float | None, memory_bytes: int) -> bool:
    """Whether the path's base weights take under MEMORY_SHARE of the memory (unknown size: no)."""
    return params_m is not None and params_m * 1e6 * BYTES_PER_WEIGHT[path] < memory_bytes * MEMORY_SHARE


def forced_path() -> str | None:
    """The path STUDIO_TRAIN_PATH forces for a run's `auto` settings, or None; refused when this
    machine cannot run it."""
    value = os.environ.get(FORCE_ENV, "").strip().lower()
    if not value:
        return None
    if value not in TRAIN_PATHS:
        raise PathRefused("train_path.unknown", path=value, paths=", ".join(TRAIN_PATHS), env=FORCE_ENV)
    if value == "nf4" and not bitsandbytes_runs():
        raise PathRefused("train_path.cannot_run", setting=f"{FORCE_ENV}={value}", paths="fp32, bf16")
    return value


def remembered(root: Path, model: str, facts: dict | None = None) -> dict | None:
    data = calibration.read(root, model, KIND, VERSION, facts or hardware())
    return data if data and data.get("chosen") in TRAIN_PATHS else None


def choose(rows: list[dict], allowed=lambda row: True) -> dict | None:
    """The fastest measured path whose loss holds (among `allowed`); None when none was measured."""
    good = [r for r in rows if r.get("tok_s") and r.get("holds") and allowed(r)]
    return max(good, key=lambda r: r["tok_s"]) if good else None


def sample_blocks(tok, count: int, rows: int = ROWS, width: int = SEQ_LEN) -> list[dict]:
    """`count` batches of rows x width tokens cut from the sample text, in order (labels = ids)."""
    import torch

    ids = tok(SAMPLE.read_text(encoding="utf-8"))["input_ids"]
    if len(ids) < count * rows * width:
        ids = ids * (count * rows * width // max(1, len(ids)) + 1)  # a short sample read again
    batches = []
    for i in range(count):
        block = torch.tensor(ids[i * rows * width:(i + 1) * rows * width]).view(rows, width)
        batches.append({"input_ids": block, "labels": block.clone(), "position_ids": torch.arange(width).repeat(rows, 1)})
    return batches


def prepared(source: str, path: str, facts: dict):
    """(model with a fresh LoRA adapter on `path`, tokenizer, optimizer): the same start on every path."""
    import torch
    from peft import LoraConfig, get_peft_model

    from studio.models import compute_dtype, load_base, load_tokenizer, lora_in_compute_dtype, prepare_for_training

    quant, dtype_name = weights_of(path, facts)
    tok = load_tokenizer(source)
    dtype = compute_dtype("cpu", dtype_name)
    model = prepare_for_training(load_base(source, quant, "cpu", dtype_name, training=True), quant, dtype)
    torch.manual_seed(0)  # the same adapter to start from on every path
    model = get_peft_model(model, LoraConfig(r=LORA_R, lora_alpha=2 * LORA_R, lora_dropout=0.0,
                                             target_modules="all-linear", task_type="CAUSAL_LM"))
    lora_in_compute_dtype(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LEARNING_RATE)
    model.train()
    return model, tok, optimizer


def train_step(model, optimizer, batch: dict) -> float:
    """One optimizer step on one batch (every token a target); its mean loss."""
    from studio.train.loss import loss_sum

    optimizer.zero_grad(set_to_none=True)
    rows, width = batch["input_ids"].shape
    loss = loss_sum(model, batch) / (rows * (width - 1))
    loss.backward()
    optimizer.step()
    return loss.item()


def measure(source: str, path: str, facts: dict) -> dict:
    """One path: load, attach the adapter, STEPS timed optimizer steps, the held-out loss after."""
    import torch

    from studio.train.loss import loss_sum

    quant, dtype_name = weights_of(path, facts)
    started = time.perf_counter()
    model, tok, optimizer = prepared(source, path, facts)
    batches = sample_blocks(tok, STEPS + 2)
    loaded, steps, losses = time.perf_counter() - started, [], []
    for batch in batches[:STEPS]:
        step = time.perf_counter()
        losses.append(train_step(model, optimizer, batch))
        steps.append(time.perf_counter() - step)
    model.eval()
    with torch.no_grad():
        held_out = statistics.fmean(float(loss_sum(model, b)) / (ROWS * (SEQ_LEN - 1)) for b in batches[STEPS:])
    step_s = statistics.median(steps[1:])
    return {"path": path, "weights": f"{quant if quant != 'none' else ''} {dtype_name}".strip(),
            "tok_s": round(ROWS * SEQ_LEN / step_s, 1), "step_s": round(step_s, 3),
            "first_loss": round(losses[0], 4), "loss": round(held_out, 4), "load_s": round(loaded, 2),
            "seconds": round(time.perf_counter() - started, 2)}


def skip_reason(path: str, facts: dict, params_m: float | None, memory_bytes: int) -> str:
    """Why a path is not tried on this machine ("" when it is)."""
    if path == "bf16" and not calibration.has_bf16(facts):
        return "no bf16 instructions on this CPU: bf16 would be emulated, many times slower"
    if path == "nf4" and not bitsandbytes_runs():
        return "bitsandbytes is not installed"
    if params_m and not fits(path, params_m, memory_bytes):
        return f"the base weights would take over {MEMORY_SHARE:.0%} of the memory"
    return ""


def calibrate(root: Path, model: str, params_m: float | None = None, budget_s: float = BUDGET_S,
              measure_path=None) -> dict:
    """Time every training path this machine can run (fp32 first: the reference), choose, keep."""
    from studio.models import memory_bytes, resolve

    facts, started, rows = hardware(), time.perf_counter(), []
    measure_path = measure_path or measure
    source = resolve(model, root)
    reference = None
    for path in TRAIN_PATHS:
        why = skip_reason(path, facts, params_m, memory_bytes())
        if not why and path != "fp32" and reference is None:
            why = "no fp32 reference to compare its loss with"
        if not why and time.perf_counter() - started > budget_s:
            why = f"past the {budget_s:g} s budget"
        if why:
            rows.append({"path": path, "skipped": why})
            continue
        row = measure_path(source, path, facts)
        if path == "fp32":
            reference = row["loss"]
        row["loss_gap"] = round(row["loss"] / reference - 1, 4)
        row["holds"] = path == "fp32" or row["loss_gap"] <= LOSS_TOLERANCE
        rows.append(row)
    chosen = choose(rows)
    if chosen is None:
        raise RuntimeError("no training path could be measured: " + "; ".join(f"{r['path']}: {r['skipped']}" for r in rows))
    data = {"version": VERSION, "key": hardware_key(facts), "hardware": facts, "model": model,
            "when": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": round(time.perf_counter() - started, 1),
            "rows": rows, "chosen": chosen["path"]}
    calibration.keep(root, model, KIND, data)
    return data


def table(data: dict) -> str:
    """The calibration as a text table (python -m studio calibrate)."""
    lines = [f"training {data['model']}, {data['hardware']['cpu']} ({data['hardware']['capability']}, "
             f"{data['hardware']['threads']} threads), {data['when']}, {data['seconds']} s; "
             f"{STEPS} steps of {ROWS} x {SEQ_LEN} tokens, LoRA r {LORA_R} all-linear",
             f"{'path':<6} {'weights':<10} {'tok/s':>7} {'loss before':>11} {'loss after':>10} {'vs fp32':>8}  verdict"]
    for r in data["rows"]:
        if "skipped" in r:
            lines.append(f"{r['path']:<6} skipped: {r['skipped']}")
            continue
        verdict = ("chosen" if r["path"] == data["chosen"] else "holds") if r["holds"] \
            else f"refused: loss over {LOSS_TOLERANCE:.0%} above fp32's"
        lines.append(f"{r['path']:<6} {r['weights']:<10} {r['tok_s']:>7.1f} {r['first_loss']:>11.3f} "
                     f"{r['loss']:>10.3f} {r['loss_gap']:>+8.1%}  {verdict}")
    return "\n".join(lines)


def _rates(data: dict) -> str:
    return ", ".join(f"{r['path']} {r['tok_s']:.0f}" + ("" if r["holds"] else f" ({r['loss_gap']:+.1%} loss, refused)")
                     for r in data["rows"] if "skipped" not in r)


def training_path(root: Path, model: str, device: str, quantization: str = "auto", compute_dtype: str = "auto",
                  params_m: float | None = None, measure_now: bool = False, facts: dict | None = None) -> TrainPath:
    """What a run of `model` with these settings trains with on `device`, and why. On the CPU an
    `auto` setting takes the calibration's choice among the paths that agree with the settings
    the run fixed; with measure_now (the training worker) a machine not yet measured is measured
    first, otherwise (the estimate) the safe fp32 path stands in and the note says the first run
    measures. Raises PathRefused for a setting this machine cannot run."""
    from studio.models import memory_bytes

    k_bit = quantization in ("nf4", "fp4", "int8")
    if k_bit and not bitsandbytes_runs():
        raise PathRefused("train_path.cannot_run", setting=f"quantization={quantization}", paths="quantization=none")
    if not device.startswith("cpu"):  # a GPU: QLoRA for memory, in its bf16 (or fp16)
        q = quantization if quantization != "auto" else "nf4"
        return TrainPath(q, compute_dtype, message("quant.gpu") if quantization == "auto" else "")
    if quantization != "auto" and compute_dtype != "auto":
        return TrainPath(quantization, compute_dtype, "", path_of(quantization, compute_dtype, facts or hardware()))
    facts = facts or hardware()
    forced = forced_path()
    if forced:
        q, d = weights_of(forced, facts)
        q, d = (quantization if quantization != "auto" else q), (compute_dtype if compute_dtype != "auto" else d)
        return TrainPath(q, d, message("train_path.forced", env=FORCE_ENV, path=forced), path_of(q, d, facts))

    def agrees(row) -> bool:  # with what the run fixed
        q, d = weights_of(row["path"], facts)
        return quantization in ("auto", q) and compute_dtype in ("auto", d)

    data, note = remembered(root, model, facts), None
    if data is None and measure_now:
        try:
            data = calibrate(root, model, params_m)
        except Exception as exc:  # noqa: BLE001 - training goes on, on the safe path, and says why
            log.warning("training calibration for %s failed (%s); training in fp32", model, exc)
            note = message("train_path.failed", error=f"{type(exc).__name__}: {str(exc)[:200]}")
    row = choose(data["rows"], agrees) if data else None
    if row:
        q, d = weights_of(row["path"], facts)
        note = message("train_path.calibrated", path=row["path"], weights=row["weights"], tok_s=row["tok_s"],
                       rates=_rates(data), when=data["when"], tolerance=f"{LOSS_TOLERANCE:.0%}")
        return TrainPath(q, d, note, row["path"])
    # not measured (or nothing measured agrees with the settings): the safe path, fp32 where it fits
    q = quantization if quantization != "auto" else "none" if fits("fp32", params_m, memory_bytes()) else "nf4"
    d = compute_dtype if compute_dtype != "auto" else weights_of("nf4", facts)[1] if q != "none" else "fp32"
    first = note is None and data is None and not measure_now and q == "none"  # the estimate, before the first run
    if note is None:
        note = message("train_path.first_run" if measure_now or data is None else "train_path.unmeasured",
                       seconds=round(BUDGET_S / 2)) if q == "none" else message("quant.cpu_nf4")
    return TrainPath(q, d, note, path_of(q, d, facts), measures_first=first)
