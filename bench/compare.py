"""Side-by-side drafting cost: base + tuned drafted together in one batch, against one draft
alone and against the two drafted one after the other, on this machine with the embedded model.

    .venv/bin/python bench/compare.py [--tokens 64] [--repeats 5]

Every draft is greedy and runs the full --tokens (EOS ignored), so all do the same work.
Reported: medians of --repeats runs and the ratios (target for the batch: at most 1.25 x a single
draft).
"""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from drafting_setup import PROMPT, ROOT, arguments, median_time, prepare  # noqa: E402


def main() -> None:
    args = arguments(__doc__)
    from studio.config import GenConfig
    from studio.write.drafter import Drafter

    data, run_id = prepare(ROOT / "bench" / "out" / "drafting")
    drafter = Drafter(data)
    gen = GenConfig(max_new_tokens=args.tokens, temperature=0, repetition_penalty=1.0)
    drafter.draft(["base", run_id], PROMPT, gen)  # load the base and attach the adapter once
    drafter.model.get_base_model().generation_config.eos_token_id = None  # every draft runs the full length
    one, single = median_time(lambda: drafter.draft([run_id], PROMPT, gen), args.repeats)
    both, batch = median_time(lambda: drafter.draft(["base", run_id], PROMPT, gen), args.repeats)
    apart, _ = median_time(lambda: (drafter.draft(["base"], PROMPT, gen), drafter.draft([run_id], PROMPT, gen)), args.repeats)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; device {drafter.device}, "
          f"weights {drafter.weights}; {args.tokens} tokens per draft, median of {args.repeats}")
    print(f"| what | seconds |\n|---|---|\n| one draft (tuned) | {one:.2f} |\n| base + tuned, one batch | {both:.2f} |\n"
          f"| base, then tuned | {apart:.2f} |")
    print(f"batch / single = {both / one:.2f} (target <= 1.25); batch / one after the other = {both / apart:.2f}")


if __name__ == "__main__":
    main()
