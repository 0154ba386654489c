"""The writing desk's speed, against the issue's targets (medians, on the machine it runs on):

    context build of a 200,000-word manuscript for a continue, cold and warm     target warm <= 50 ms
    saving an edit to a 1 MB manuscript (typing; and with the snapshot rewritten)  target <= 20 ms
        (each history line fsynced, and the folder after the snapshot's rename; the same saves
        with fsync turned off are shown beside them, for what the flushes cost)
    time to first token of a continue vs the same prompt through Drafter.stream   (the embedded model)

    .venv/bin/python bench/manuscript.py [--data-dir DIR] [--skip-model] [--save-only]

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
    return [(f"first token, continue ({tokens}-token context, {EMBEDDED_DEFAULT}; model loaded in {load_s:.0f} s)",
             statistics.median(continues), None),
            ("first token, the same prompt through Drafter.stream", statistics.median(direct), None)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=None, help="a data root (the embedded model is converted into it once)")
    p.add_argument("--skip-model", action="store_true", help="leave out the time-to-first-token rows")
    p.add_argument("--save-only", action="store_true", help="only the save rows (no tokenizer, no model)")
    args = p.parse_args()
    root = Path(args.data_dir or tempfile.mkdtemp(prefix="bench-manuscript-"))
    if args.save_only:
        rows = bench_save(root)
    else:
        rows = bench_context(root) + bench_save(root)
        rows += [] if args.skip_model else bench_first_token(root)
    print(f"machine: {platform.node()}, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}")
    print(f"| {'measurement':<96} | median ms | target ms |")
    print(f"|{'-' * 98}|-----------|-----------|")
    for name, value, target in rows:
        shown = f"{value:9.1f}" if value is not None else "        -"
        goal = f"{target:9.0f}" if target else "        -"
        flag = "" if not target or value is None else (" ok" if value <= target else " MISSED")
        print(f"| {name:<96} | {shown} | {goal} |{flag}")


if __name__ == "__main__":
    main()
