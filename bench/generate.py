"""Drafting speed: the studio's drafter against a plain `model.generate` baseline, in one run, on
this machine with the embedded model and a rank-16 LoRA adapter.

    .venv/bin/python bench/generate.py [--tokens 64] [--repeats 5]

Baselines, loaded the way the transformers and peft docs teach:
- QLoRA as trained: the base in 4-bit NF4 (bitsandbytes, fp32 compute on the CPU) + PeftModel;
- the default dtype: the base as stored (fp32) + PeftModel.
The studio: Drafter.draft with one tuned pane (on the CPU the weights the calibration chose for
this machine, studio/write/calibrate.py, printed with its table; streamed).
Reported: tokens/s (median of --repeats full-length greedy drafts) and time to the first token
(median); target: at least 2x the QLoRA baseline's tokens/s and a first token within 1 s.
"""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from drafting_setup import PROMPT, ROOT, arguments, median_time, prepare  # noqa: E402


def plain(source: str, adapter: Path, quantized: bool):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=torch.float32) if quantized else None
    base = AutoModelForCausalLM.from_pretrained(source, quantization_config=quant, device_map={"": "cpu"})
    return PeftModel.from_pretrained(base, str(adapter)).eval()


def main() -> None:
    args = arguments(__doc__)
    from transformers import AutoTokenizer

    from studio import runs
    from studio.config import GenConfig
    from studio.models import EMBEDDED_DEFAULT, resolve
    from studio.write.drafter import Drafter

    data, run_id = prepare(ROOT / "bench" / "out" / "drafting")
    source = resolve(EMBEDDED_DEFAULT, data)
    tok = AutoTokenizer.from_pretrained(source)
    enc = tok([PROMPT], return_tensors="pt")
    rows = []
    for name, quantized in (("baseline: 4-bit NF4 + PEFT, model.generate", True), ("baseline: fp32 + PEFT, model.generate", False)):
        model = plain(source, runs.run_dir(data, run_id) / "adapter", quantized)

        def generate(n):
            return model.generate(**enc, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=tok.eos_token_id)

        generate(4)  # warm-up
        whole, _ = median_time(lambda: generate(args.tokens), args.repeats)
        first, _ = median_time(lambda: generate(1), args.repeats)
        rows.append((name, args.tokens / whole, first))
        del model
    drafter = Drafter(data)
    gen = GenConfig(max_new_tokens=args.tokens, temperature=0, repetition_penalty=1.0)
    drafter.draft([run_id], PROMPT, gen)  # load once, as the app does at the first click
    drafter.model.get_base_model().generation_config.eos_token_id = None  # full length every time
    results = [drafter.draft([run_id], PROMPT, gen) for _ in range(args.repeats)]
    speed = sorted(r["tokens"] / r["seconds"] for r in results)[len(results) // 2]
    first = sorted(r["first_token_s"] for r in results)[len(results) // 2]
    rows.append((f"studio drafter ({drafter.weights}, streamed)", speed, first))

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; {args.tokens} tokens, "
          f"greedy, median of {args.repeats}")
    print("| path | tokens/s | first token (s) |\n|---|---|---|")
    for name, rate, first_s in rows:
        print(f"| {name} | {rate:.1f} | {first_s:.3f} |")
    from studio.write import calibrate

    path, why, detail = calibrate.drafting_path(data, EMBEDDED_DEFAULT)
    print(f"\nthe drafter's path on this machine: {path} ({why}, {detail})")
    kept = calibrate.remembered(data, EMBEDDED_DEFAULT)
    if kept:
        print(calibrate.table(kept))
    studio, qlora, fp32 = rows[2][1], rows[0][1], rows[1][1]
    print(f"studio / 4-bit baseline = {studio / qlora:.2f}x (target >= 2); studio / fp32 baseline = {studio / fp32:.2f}x; "
          f"first token {rows[2][2]:.3f} s (target < 1 s)")


if __name__ == "__main__":
    main()
