"""Where a draft's time goes on the embedded model, and N drafts at once through the Drafter's shared
batch (studio/write/batching.py) against the same N drafted one after another (what the drafter did
before: one generate at a time under a lock), measured side by side in one run.

    .venv/bin/python bench/batching.py                 # 20 drafts of 48 tokens, prompts of 200-400 tokens
    .venv/bin/python bench/batching.py --drafts 8 --tokens 32

Prints the prefill and decode-step cost by batch size (the model alone), then for both schedules the
p50/p95 wait from submit to the last token, the wall time and the aggregate tokens/s, and ends with
`N drafts: batched p95 X s vs one at a time Y s (Rx); aggregate A vs B tok/s (Kx)`.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio.config import GenConfig
from studio.models import EMBEDDED_DEFAULT, load_base, load_tokenizer, resolve
from studio.paths import PROJECT_ROOT
from studio.write.drafter import Drafter, drafting_weights

SAMPLE = (PROJECT_ROOT / "assets" / "samples" / "gannet-rock-lamp-log.txt").read_text(encoding="utf-8")


def prompt_of(tok, n: int, offset: int = 0) -> str:
    return tok.decode(tok(SAMPLE)["input_ids"][offset:offset + n])


def step_costs(root: Path, sizes=(1, 4, 8, 16, 20)) -> None:
    """The model alone: a 300-token prefill, and one decode step at each batch size (best of 10),
    with the drafter's CPU attention (studio/write/attention.py) and with transformers' sdpa, rows
    of one length (no mask: sdpa's enable_gqa path) and left-padded ones (a mask), side by side."""
    from transformers import DynamicCache

    from studio.write.attention import use_decode_attention

    source = resolve(EMBEDDED_DEFAULT, root)
    quant, dtype = drafting_weights("cpu", "nf4", root, EMBEDDED_DEFAULT)
    tok, model = load_tokenizer(source), load_base(source, quant, "cpu", dtype).eval()
    ids = tok(prompt_of(tok, 300), return_tensors="pt")["input_ids"]

    def step(b: int, padded: bool) -> float:
        cache, mask = DynamicCache(), torch.ones(b, ids.shape[1], dtype=torch.long)
        if padded:
            mask[1:, :30] = 0
        model(ids.repeat(b, 1), attention_mask=mask, past_key_values=cache, use_cache=True, logits_to_keep=1)
        token, best = torch.full((b, 1), 42), float("inf")
        for _ in range(10):
            mask = torch.cat([mask, torch.ones(b, 1, dtype=torch.long)], dim=1)
            best = min(best, _timed(lambda: model(token, attention_mask=mask, past_key_values=cache, use_cache=True,
                                                  position_ids=mask.sum(dim=1, keepdim=True) - 1)))
        return best

    with torch.inference_mode():
        model(ids[:, :20])  # the first call of a process pays for warming up
        prefill = min(_timed(lambda: model(ids, past_key_values=DynamicCache(), use_cache=True, logits_to_keep=1))
                      for _ in range(3))
        print(f"prefill of 300 tokens: {prefill * 1000:.0f} ms ({dtype} weights)")
        sdpa = {(b, p): step(b, p) for b in sizes for p in (False, True)}
        use_decode_attention(model)
        for b in sizes:
            for padded in (False, True):
                mine = step(b, padded)
                print(f"decode step at batch {b:2d} ({'padded' if padded else 'one length'}): {mine * 1000:6.1f} ms "
                      f"({mine * 1000 / b:5.1f} ms a row); sdpa {sdpa[b, padded] * 1000:6.1f} ms")


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def drafts_at_once(drafter: Drafter, prompts: list[str], gen: GenConfig, together: bool) -> dict:
    """Every prompt submitted at once: drafted together (threads into the shared batch), or one
    after another (each waits for every earlier one, as under the old lock)."""
    waits, produced = [0.0] * len(prompts), [0] * len(prompts)
    started = time.time()

    def draft(i: int) -> None:
        result = drafter.draft(["base"], prompts[i], gen, model=EMBEDDED_DEFAULT, save=False)
        waits[i], produced[i] = time.time() - started, result["tokens"]

    if together:
        threads = [threading.Thread(target=draft, args=(i,)) for i in range(len(prompts))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        for i in range(len(prompts)):
            draft(i)
    wall = time.time() - started
    ordered = sorted(waits)
    return {"p50": statistics.median(ordered), "p95": ordered[max(0, round(0.95 * len(ordered)) - 1)], "wall": wall,
            "tok_s": sum(produced) / wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--drafts", type=int, default=20, help="drafts submitted at once")
    p.add_argument("--tokens", type=int, default=48, help="new tokens each (greedy)")
    p.add_argument("--data-dir", type=Path, help="data root holding the model cache (default: a temp folder)")
    args = p.parse_args()
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-batching-"))
    step_costs(root)
    drafter = Drafter(root)
    tok = load_tokenizer(resolve(EMBEDDED_DEFAULT, root))
    gen = GenConfig(max_new_tokens=args.tokens, temperature=0, repetition_penalty=1.0)
    prompts = [prompt_of(tok, 200 + (i * 200) // args.drafts, offset=i * 37) for i in range(args.drafts)]
    drafter.draft(["base"], prompts[0], gen, model=EMBEDDED_DEFAULT, save=False)  # warm up
    alone = drafts_at_once(drafter, prompts[:1], gen, together=True)
    serial = drafts_at_once(drafter, prompts, gen, together=False)
    batched = drafts_at_once(drafter, prompts, gen, together=True)
    print(f"one draft alone: {alone['wall']:.2f} s, {alone['tok_s']:.1f} tok/s")
    for name, r in (("one at a time", serial), ("batched", batched)):
        print(f"{args.drafts} drafts {name:>13}: p50 {r['p50']:6.1f} s  p95 {r['p95']:6.1f} s  wall {r['wall']:6.1f} s  "
              f"{r['tok_s']:6.1f} tok/s")
    print(f"{args.drafts} drafts: batched p95 {batched['p95']:.1f} s vs one at a time {serial['p95']:.1f} s "
          f"({serial['p95'] / batched['p95']:.1f}x); aggregate {batched['tok_s']:.1f} vs {serial['tok_s']:.1f} tok/s "
          f"({batched['tok_s'] / serial['tok_s']:.1f}x)")


if __name__ == "__main__":
    main()
