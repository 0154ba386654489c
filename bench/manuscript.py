"""The writing desk's speed, against the issue's targets (medians, on the machine it runs on):

    context build of a 200,000-word manuscript for a continue, cold and warm     target warm <= 50 ms
    saving an edit to a 1 MB manuscript (typing; and with the snapshot rewritten)  target <= 20 ms
        (each history line fsynced, and the folder after the snapshot's rename; the same saves
        with fsync turned off are shown beside them, for what the flushes cost)
    time to first token of a continue vs the same prompt through Drafter.stream   (the embedded model)
    a continue on a full context window, with the model's last read reused (studio/write/prefix_cache.py)
        and without: after a sentence added at the end (target <= 2 s and >= 10x), after an edit in the
        middle (target: no slower than uncached), two panes of two candidates against one of one
        (target <= 1.5x), and the cache's size per manuscript and pane

    .venv/bin/python bench/manuscript.py [--data-dir DIR] [--skip-model] [--save-only] [--cache-only]

The warm context build is the one after a writer's edit near the end (only the changed paragraph
is tokenized again); the cold one starts with no token counts cached.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio import service  # noqa: E402
from studio.config import GenConfig  # noqa: E402
from studio.models import EMBEDDED_DEFAULT  # noqa: E402
from studio.paths import PROJECT_ROOT  # noqa: E402
from studio.write import manuscript_store as store  # noqa: E402
from studio.write.context import counter_for  # noqa: E402

SAMPLE = PROJECT_ROOT / "assets" / "samples" / "gannet-rock-lamp-log.txt"


def story(words: int) -> str:
    """Paragraphs of the sample corpus's sentences, reshuffled per paragraph, `words` long."""
    import random

    rng = random.Random(0)
    sentences = [s.strip() + "." for s in SAMPLE.read_text(encoding="utf-8").replace("\n", " ").split(".") if s.strip()]
    out, n = [], 0
    while n < words:
        paragraph = " ".join(rng.choice(sentences) for _ in range(rng.randint(2, 6)))
        out.append(paragraph + "\n")
        n += len(paragraph.split())
    return "".join(out)


def ms_median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def bench_context(root: Path) -> list[tuple]:
    text = story(200_000)
    ms = service.new_manuscript(root, "bench context", text, memory="A lighthouse on Gannet Rock.", note="Storm coming.")
    gen = GenConfig(max_new_tokens=120)
    count, length = counter_for(root, EMBEDDED_DEFAULT)

    def cold():
        count.cache.clear()
        service.manuscript_context(root, ms.id, ["base"], gen)

    cold_ms = ms_median(cold, 5)
    service.manuscript_context(root, ms.id, ["base"], gen)
    edits = iter(range(10**6))

    def warm():  # the writer typed a sentence at the end, then asks for a continue
        current = service.manuscript(root, ms.id)["text"]
        service.save_manuscript_text(root, ms.id, current + f" Edit {next(edits)}.")
        started = time.perf_counter()
        service.manuscript_context(root, ms.id, ["base"], gen)
        return (time.perf_counter() - started) * 1000

    warm_ms = statistics.median(warm() for _ in range(20))
    ctx = service.manuscript_context(root, ms.id, ["base"], gen)
    words = len(text.split())
    return [(f"context build, {words:,}-word manuscript, cold ({ctx.tokens} of {length - 120} tokens)", cold_ms, None),
            (f"context build, {words:,}-word manuscript, warm (after an edit at the end)", warm_ms, 50.0)]


@contextlib.contextmanager
def fsync_off():
    """os.fsync as a no-op (the store and studio/jsonio.py look it up at each call)."""
    real, os.fsync = os.fsync, lambda fd: None
    try:
        yield
    finally:
        os.fsync = real


def bench_save(root: Path) -> list[tuple]:
    rows = _bench_save(root, "bench save")
    with fsync_off():
        rows += [(name.replace("save an edit", "without fsync: save an edit"), value, None)
                 for name, value, _ in _bench_save(root, "bench save nosync")]
    return rows


def _bench_save(root: Path, title: str) -> list[tuple]:
    text = story(190_000)[:1_000_000]
    ms = service.new_manuscript(root, title, text)
    current = service.manuscript(root, ms.id)["text"]
    state = {"text": current, "n": 0}

    def save():
        state["n"] += 1
        middle = len(state["text"]) // 2  # an edit in the middle of the book
        state["text"] = state["text"][:middle] + f" w{state['n']}" + state["text"][middle:]
        service.save_manuscript_text(root, ms.id, state["text"])

    typing = ms_median(save, 50)
    gap, store.SNAPSHOT_GAP_S = store.SNAPSHOT_GAP_S, 0.0
    try:
        with_snapshot = ms_median(save, 20)
    finally:
        store.SNAPSHOT_GAP_S = gap
    size = len(state["text"].encode("utf-8")) / 1e6
    return [(f"save an edit, {size:.1f} MB manuscript (history line; snapshot at most every {gap:.0f} s)", typing, 20.0),
            (f"save an edit, {size:.1f} MB manuscript, manuscript.json rewritten too", with_snapshot, 20.0)]


def bench_first_token(root: Path) -> list[tuple]:
    ms = service.new_manuscript(root, "bench draft", story(800), memory="A lighthouse on Gannet Rock.")
    gen = GenConfig(max_new_tokens=16, temperature=0)
    started = time.time()
    try:
        service.manuscript_context(root, ms.id, ["base"], gen)
        list(service.draft_stream(root, ["base"], "Warm up.", GenConfig(max_new_tokens=2)))
    except Exception as exc:  # noqa: BLE001 - the row is skipped, with why
        return [(f"time to first token: skipped, the embedded model did not load ({exc})", None, None)]
    load_s = time.time() - started
    continues, direct = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        first = None
        for item in service.continue_manuscript(root, ms.id, ["base"], gen):
            if item.get("panes") and first is None:
                first = (time.perf_counter() - t0) * 1000
        continues.append(first)
        prompt = service.manuscript_context(root, ms.id, ["base"], gen).text
        t0 = time.perf_counter()
        first = None
        for item in service.drafter(root).stream(["base"], prompt, gen, save=False):
            if item.get("panes") and first is None:
                first = (time.perf_counter() - t0) * 1000
        direct.append(first)
    tokens = service.manuscript_context(root, ms.id, ["base"], gen).tokens
    return [(f"first token, the same continue again ({tokens}-token context, read from the cache; "
             f"model loaded in {load_s:.0f} s)", statistics.median(continues), None),
            ("first token, the same prompt through Drafter.stream", statistics.median(direct), None)]


def first_token_s(items) -> tuple[float, dict]:
    """Seconds from the call to the first drafted text, and the last item."""
    started, first, item = time.perf_counter(), None, {}
    for item in items:
        if item.get("panes") and first is None:
            first = time.perf_counter() - started
    return first, item


def tuned_pane(root: Path) -> str:
    """A run of the embedded model with a LoRA adapter as training makes it (its weights do not
    matter here, only what reading through it costs)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from studio import jobs, runs
    from studio.models import resolve

    service.ingest(root, [SAMPLE], "bench-cache")
    cfg = service.training_config("bench-cache", "quick-cpu-demo", [])
    run_id = jobs.create_run(root, cfg, preset="quick-cpu-demo")
    folder = runs.RunFolder.of(root, run_id)
    status = folder.status()
    status.state = runs.COMPLETED
    folder.write_status(status)
    model = AutoModelForCausalLM.from_pretrained(resolve(EMBEDDED_DEFAULT, root))
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, target_modules="all-linear" if cfg.target_modules == "all-linear" else cfg.target_modules.split(","))
    get_peft_model(model, lora).save_pretrained(str(runs.run_dir(root, run_id) / "adapter"))
    return run_id


def bench_cache(root: Path, repeat: int = 5) -> tuple[list[tuple], str]:
    """A full window (a manuscript longer than the model's context, memory and note set)."""
    from studio.write import desk
    from studio.write.drafter import Drafter
    from studio.write.prefix_cache import PrefixStore

    ms = service.new_manuscript(root, "bench cache", story(9_000), memory="A lighthouse on Gannet Rock.",
                                note="Storm coming.")
    gen = GenConfig(max_new_tokens=8, temperature=0)
    bare = Drafter(root)
    bare.prefixes = PrefixStore(0, 0)
    kept = service.drafter(root)
    sentences = iter(f" The keeper wrote line {n} in the log." for n in range(10**6))

    def add_sentence():
        service.save_manuscript_text(root, ms.id, service.manuscript(root, ms.id)["text"] + next(sentences))

    def cached(panes, drafts=1):
        return first_token_s(service.continue_manuscript(root, ms.id, panes, GenConfig(**{**vars(gen), "drafts": drafts})))

    def uncached(panes):
        return first_token_s(desk.continue_stream(root, bare, ms.id, panes, gen))

    cold, item = cached(["base"])  # the first read (the model loads first in another call: warm here)
    tokens = item["prompt_tokens"]
    uncached(["base"])  # bare's model loaded
    plain = statistics.median(uncached(["base"])[0] for _ in range(2))
    at_end, reused = [], []
    for _ in range(repeat):
        add_sentence()
        seconds, item = cached(["base"])
        at_end.append(seconds)
        reused.append(item["reused_tokens"]["__base__"])
    middle = []
    for _ in range(2):
        text = service.manuscript(root, ms.id)["text"]
        half = len(text) - len(text) // 4  # inside the window (its newer half)
        service.save_manuscript_text(root, ms.id, text[:half] + " A gull. " + text[half:])
        middle.append(cached(["base"])[0])
    run_id = tuned_pane(root)
    cached(["base", run_id], 2)  # the tuned pane's first read
    one, four = [], []
    for _ in range(repeat):
        add_sentence()
        one.append(cached(["base"])[0])
        add_sentence()
        four.append(cached(["base", run_id], 2)[0])
    size = max(p.nbytes for _, p in [(k, kept.prefixes.get(*k)) for k in kept.prefixes.keys()])
    end_s, one_s, four_s = statistics.median(at_end), statistics.median(one), statistics.median(four)
    rows = [(f"first token, {tokens}-token context, no cache (the whole window read)", plain * 1000, None),
            ("first token, the first read with the cache (256-token pieces)", cold * 1000, None),
            (f"first token after a sentence added at the end (reused {statistics.median(reused):.0f} tokens)",
             end_s * 1000, 2000.0),
            ("first token after an edit in the window's newer half", statistics.median(middle) * 1000, plain * 1000),
            ("first token, one pane x one candidate, after a sentence", one_s * 1000, None),
            ("first token, base + tuned pane x two candidates each, after a sentence", four_s * 1000, one_s * 1500),
            (f"cache size per manuscript and pane: {size / 2**20:.0f} MB ({size / tokens / 1024:.1f} KB a token)",
             None, None)]
    line = (f"full-context first token: after an edit at the end {end_s:.2f} s, uncached {plain:.2f} s "
            f"({plain / end_s:.1f}x); 2 panes x 2 candidates {four_s / one_s:.2f}x one")
    return rows, line


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=None, help="a data root (the embedded model is converted into it once)")
    p.add_argument("--skip-model", action="store_true", help="leave out the time-to-first-token rows")
    p.add_argument("--save-only", action="store_true", help="only the save rows (no tokenizer, no model)")
    p.add_argument("--cache-only", action="store_true", help="only the full-window rows (the model's cache)")
    args = p.parse_args()
    root = Path(args.data_dir or tempfile.mkdtemp(prefix="bench-manuscript-"))
    line = ""
    if args.save_only:
        rows = bench_save(root)
    elif args.cache_only:
        rows = bench_first_token(root)
        cache_rows, line = bench_cache(root)
        rows += cache_rows
    else:
        rows = bench_context(root) + bench_save(root)
        if not args.skip_model:
            rows += bench_first_token(root)
            cache_rows, line = bench_cache(root)
            rows += cache_rows
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}")
    print(f"| {'measurement':<96} | median ms | target ms |")
    print(f"|{'-' * 98}|-----------|-----------|")
    for name, value, target in rows:
        shown = f"{value:9.1f}" if value is not None else "        -"
        goal = f"{target:9.0f}" if target else "        -"
        flag = "" if not target or value is None else (" ok" if value <= target else " MISSED")
        print(f"| {name:<96} | {shown} | {goal} |{flag}")
    if line:
        print(line)


if __name__ == "__main__":
    main()
