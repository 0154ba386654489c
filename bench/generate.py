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

What bounds a token (on the CPU, the drafter's weights): one decode step at one row must read
every weight of the linear layers once. Measured side by side: the memory copy rate (a 256 MB
tensor copied), every linear layer's product with one row in turn (the weights read, nothing
else: the floor a step cannot go under), the plain model's decode step without and with the
adapter (its aten operator count from the profiler: each costs the framework's dispatch time
whatever its size), and the drafter's own time per token.
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


def token_floor(source: str, adapter: Path, dtype_name: str) -> dict:
    """Milliseconds of one-row decoding by part (see the module's doc), median of 20."""
    import statistics
    import time

    import torch
    from peft import PeftModel
    from transformers import DynamicCache

    from studio.models import compute_dtype, load_base
    from studio.write.attention import use_decode_attention

    def median_ms(fn, n=20):
        fn()
        times = []
        for _ in range(n):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1000

    dtype = compute_dtype("cpu", dtype_name)
    big = torch.empty(2**28 // 4, dtype=torch.float32)
    copy_ms = median_ms(lambda: big.clone(), 5)
    model = load_base(source, "none", "cpu", dtype_name).eval()
    model.config.use_cache = True
    use_decode_attention(model)
    linears = [m.weight for m in model.modules() if isinstance(m, torch.nn.Linear)]
    rows = {w.shape[1]: torch.randn(1, w.shape[1], dtype=dtype) for w in linears}
    weight_bytes = sum(w.numel() * w.element_size() for w in linears)
    with torch.inference_mode():
        weights_ms = median_ms(lambda: [rows[w.shape[1]] @ w.T for w in linears])
        ids = torch.tensor([[1] * 44])

        def step_ms(m):
            cache = DynamicCache()
            m(input_ids=ids, past_key_values=cache, use_cache=True)
            token = torch.tensor([[2]])
            return median_ms(lambda: m(input_ids=token, past_key_values=cache, use_cache=True,
                                       logits_to_keep=torch.tensor([0])))

        plain_ms = step_ms(model)
        cache = DynamicCache()
        model(input_ids=ids, past_key_values=cache, use_cache=True)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            model(input_ids=torch.tensor([[2]]), past_key_values=cache, use_cache=True, logits_to_keep=torch.tensor([0]))
        ops = sum(e.count for e in prof.key_averages() if e.key.startswith("aten::"))
        tuned = PeftModel.from_pretrained(model, str(adapter)).eval()
        lora_ms = step_ms(tuned)
    return {"copy_gb_s": 2**28 * 2 / copy_ms / 1e6, "weights_mb": weight_bytes / 2**20, "weights_ms": weights_ms,
            "read_gb_s": weight_bytes / weights_ms / 1e6, "plain_ms": plain_ms, "ops": ops, "lora_ms": lora_ms}


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
    # The drafter first, its loop thread ended before the baselines run on this one: every thread that
    # computes gets an OpenMP team of its own, and with two teams on a 2-core machine libgomp stops
    # spinning between parallel regions, which slowed whichever ran second by about 1.6x
    # (studio/write/calibrate.py calibrate_apart).
    drafter = Drafter(data)
    gen = GenConfig(max_new_tokens=args.tokens, temperature=0, repetition_penalty=1.0)
    drafter.draft([run_id], PROMPT, gen)  # load once, as the app does at the first click
    drafter.model.get_base_model().generation_config.eos_token_id = None  # full length every time
    results = [drafter.draft([run_id], PROMPT, gen) for _ in range(args.repeats)]
    speed = sorted(r["tokens"] / r["seconds"] for r in results)[len(results) // 2]
    first = sorted(r["first_token_s"] for r in results)[len(results) // 2]
    studio_row = (f"studio drafter ({drafter.weights}, streamed)", speed, first)
    drafter._batch.close()
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
    rows.append(studio_row)

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
    if drafter.device == "cpu" and "nf4" not in drafter.weights:
        f = token_floor(source, runs.run_dir(data, run_id) / "adapter", drafter.weights)
        print(f"\nwhat bounds a token here ({drafter.weights}, one row, median of 20): memory copy {f['copy_gb_s']:.1f} GB/s; "
              f"reading the linear layers' {f['weights_mb']:.0f} MB once {f['weights_ms']:.1f} ms "
              f"({f['read_gb_s']:.1f} GB/s); the plain model's step {f['plain_ms']:.1f} ms ({f['ops']} aten operators); "
              f"with the adapter {f['lora_ms']:.1f} ms; the drafter {1000 / studio:.1f} ms a token. A draft at 2x the "
              f"4-bit baseline needs {1000 / (2 * qlora):.1f} ms a token.")


if __name__ == "__main__":
    main()
