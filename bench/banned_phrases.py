"""What a ban list costs a draft (studio/write/banned.py): drafts with a 100-phrase ban list against the
same drafts without one, measured side by side in one run on the embedded model.

    .venv/bin/python bench/banned_phrases.py                  # 200 drafts of 40 tokens a side
    .venv/bin/python bench/banned_phrases.py --drafts 32      # a quicker look

Each round drafts a group of requests at once (as many as the batch's rows allow: 4 drafts a pane,
8 requests, 32 rows), once with the ban list and once without, the same prompts and seeds, the order
of the two swapped every round so neither always runs on a warmer machine. The ban list is stock
phrases (English and Chinese) and the word pairs the model itself drafted most in a first pass, so
it has something to catch. Reported: the median time to the first token with and without (target:
within 10%), the time per drafted token, how many drafts without the list held a banned phrase and
how many with it did (must be 0), and the drafts the list left no way on.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio.config import GenConfig  # noqa: E402
from studio.write.banned import BanList, normalize  # noqa: E402
from studio.write.batching import MAX_ROWS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "assets" / "samples" / "gannet-rock-lamp-log.txt"
STOCK = [  # the phrases writers most often ban in model prose
    "shivers down her spine", "shivers down his spine", "a testament to", "testament to the", "tapestry of",
    "rich tapestry", "delve into", "delved into", "in the realm of", "a dance of", "barely above a whisper",
    "voice barely above a whisper", "eyes sparkling with", "sparkling with mischief", "maybe, just maybe",
    "a mix of", "a mixture of", "couldn't help but", "can't help but", "little did she know", "little did he know",
    "the air was thick with", "palpable tension", "the weight of", "sent a shiver", "a shiver ran",
    "her heart pounded", "his heart pounded", "time seemed to stand still", "in a world where",
    "it's important to note", "it is important to note", "ministrations", "unbeknownst to",
    "with newfound determination",
    "a sense of foreboding", "the calm before the storm", "like a moth to a flame", "the pregnant pause",
    "hung heavy in the air", "the scent of", "a flicker of", "a glimmer of hope", "steeled herself", "steeled himself",
    "jaw clenched", "let out a breath she didn't know", "a breath he didn't know", "a wave of", "sending shivers",
    "eyes widened", "a smirk played on", "her lips curled", "orbs", "the world seemed to", "as if on cue",
    "in the grand scheme", "at the end of the day", "all in all", "needless to say", "a stark reminder",
    "an unspoken understanding", "a symphony of", "whispering secrets", "bustling with", "nestled in",
    "不由得", "嘴角勾起一抹", "心中一动", "眼中闪过一丝", "一丝不易察觉", "深吸一口气", "嘴角微微上扬", "不禁",
    "仿佛", "一抹笑意", "心头一紧", "沉默了片刻", "空气仿佛凝固",
]


def _draft_group(drafter, panes, group, gen_for, banned) -> tuple[list[dict], float]:
    """The requests of `group` ((prompt, seed) each) drafted at once, submitted while the batch loop is
    held so that they join in one step (one prefill); their results and the wall time."""
    results: list = [None] * len(group)

    def one(i, text, seed):
        results[i] = drafter.draft(panes, text, gen_for(seed), save=False, banned=banned)

    threads = [threading.Thread(target=one, args=(i, text, seed), daemon=True) for i, (text, seed) in enumerate(group)]
    with drafter.holding("base", tuned_only=False):
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        while drafter.busy()["waiting"] < sum(t.is_alive() for t in threads):
            time.sleep(0.002)
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - started


def _holding(results: list[dict], ban_list: BanList) -> int:
    """Drafts that hold a banned phrase (in the draft itself)."""
    return sum(bool(ban_list.occurrences(normalize(text))) for r in results for p in r["panes"] for text in p["drafts"])


class _Checks:
    """Times the batch loop's ban checks (Scheduler._went_back) while installed: the loop's own share
    of its time spent checking, which other work on the machine does not blur as it blurs wall times."""

    def __init__(self, scheduler):
        self.scheduler, self.seconds, self.count, self.rewinds = scheduler, 0.0, 0, 0

    def __enter__(self):
        went_back = self.scheduler._went_back

        def timed(row):
            started = time.perf_counter()
            back = went_back(row)
            self.seconds += time.perf_counter() - started
            self.count, self.rewinds = self.count + 1, self.rewinds + back
            return back

        self.scheduler._went_back = timed
        return self

    def __exit__(self, *exc):
        del self.scheduler._went_back  # the class's method again


def measure(drafter, panes: list[str], prompts: list[str], gen: GenConfig, banned: list[str], drafts: int) -> dict:
    """`drafts` drafts (rows) with the ban list `banned` and as many without, side by side (see the
    module's doc): {"first_token_s": {"with", "without"} medians, "ratio" (with / without),
    "token_ms": {"with", "without"} (wall time per drafted token), "token_ratio", "drafts" (a side),
    "found_without" and "found_with" (drafts holding a banned phrase), "stuck" (notices), "phrases",
    "check_us" (one row's check, mean), "check_share" (of the wall time with the list), "rewinds"}."""
    ban_list = BanList.of(banned)
    rows = len(panes) * gen.drafts
    per_group = max(1, MAX_ROWS // rows)
    requests = [(prompts[i % len(prompts)], gen.seed + i) for i in range(-(-drafts // rows))]

    def gen_for(seed):
        return GenConfig(**{**gen.__dict__, "seed": seed})

    checks = _Checks(drafter._batch)
    first = {"with": [], "without": []}
    spent = {"with": [0.0, 0], "without": [0.0, 0]}  # seconds, tokens
    found = {"with": 0, "without": 0}
    stuck = 0
    for n, start in enumerate(range(0, len(requests), per_group)):
        group = requests[start:start + per_group]
        for side in (("with", "without") if n % 2 else ("without", "with")):
            with checks:
                results, seconds = _draft_group(drafter, panes, group, gen_for, banned if side == "with" else None)
            first[side] += [r["first_token_s"] for r in results]
            spent[side][0] += seconds
            spent[side][1] += sum(r["tokens"] for r in results)
            found[side] += _holding(results, ban_list)
            stuck += sum(len(r["notices"]) for r in results)
    median = {side: statistics.median(times) for side, times in first.items()}
    token_ms = {side: 1000 * s / max(t, 1) for side, (s, t) in spent.items()}
    return {"first_token_s": median, "ratio": median["with"] / median["without"], "token_ms": token_ms,
            "token_ratio": token_ms["with"] / token_ms["without"], "drafts": len(requests) * rows,
            "found_without": found["without"], "found_with": found["with"], "stuck": stuck,
            "phrases": len(ban_list.phrases) if ban_list else 0, "rewinds": checks.rewinds,
            "check_us": 1e6 * checks.seconds / max(checks.count, 1), "check_share": checks.seconds / spent["with"][0]}


def sample_prompts(n: int = 8) -> list[str]:
    """The openings of the sample log's days: a date line and the weather."""
    days = SAMPLE.read_text(encoding="utf-8").split("LAMP LOG, GANNET ROCK.")[1:n + 1]
    return ["LAMP LOG, GANNET ROCK." + "\n".join(day.strip().splitlines()[:2]) + "\n" for day in days]


def own_phrases(drafter, panes, prompts, gen, n: int) -> list[str]:
    """The three-word phrases the model drafts most often from these prompts (a first pass, no ban list)."""
    results, _ = _draft_group(drafter, panes, [(p, 1000 + i) for i, p in enumerate(prompts)],
                              lambda seed: GenConfig(**{**gen.__dict__, "seed": seed}), None)
    found: Counter = Counter()
    for r in results:
        for text in (t for p in r["panes"] for t in p["drafts"]):
            words = [w for w in normalize(text).split() if w.isalpha()]
            found.update(" ".join(words[i:i + 3]) for i in range(len(words) - 2))
    return [phrase for phrase, _ in found.most_common(n)]


def run(root: Path, drafts: int = 200, tokens: int = 40, phrases: int = 100) -> dict:
    """The whole measurement on the embedded model in data root `root`: {"table": the printed lines,
    "found": banned phrases in the drafts made with the list, "drafts", "ratio", "result"}."""
    import os
    import platform

    from studio.write.drafter import Drafter

    drafter = Drafter(root)
    gen = GenConfig(max_new_tokens=tokens, temperature=0.8, top_p=0.95, top_k=50, repetition_penalty=1.1, drafts=4)
    prompts = sample_prompts()
    drafter.draft(["base"], prompts[0], GenConfig(max_new_tokens=4), save=False)  # load once, as the app's first click
    own = own_phrases(drafter, ["base"], prompts, gen, max(0, phrases - len(STOCK)))
    banned = (own + STOCK)[:phrases]
    found = measure(drafter, ["base"], prompts, gen, banned, drafts)
    lines = [f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; {drafter.weights}; "
             f"{found['drafts']} drafts of {tokens} tokens a side, {gen.drafts} a request, up to {MAX_ROWS} rows at once",
             f"ban list: {found['phrases']} phrases ({len(own)} the model's own most drafted three-word phrases, "
             f"the rest stock), e.g. {', '.join(own[:5])}",
             "| | first token (median s) | ms per drafted token (wall) | drafts holding a banned phrase |",
             "|---|---|---|---|"]
    for side in ("without", "with"):
        lines.append(f"| {side} the ban list | {found['first_token_s'][side]:.3f} | {found['token_ms'][side]:.1f} | "
                     f"{found['found_' + side]} |")
    lines += [f"first token with / without = {found['ratio']:.3f} (target <= 1.10); per token "
              f"{found['token_ratio']:.3f}; drafts the ban list left no way on: {found['stuck']}",
              f"the loop's checks: {found['check_us']:.0f} us a row a step, {found['check_share']:.1%} of the wall time "
              f"with the list; {found['rewinds']} returns to where a banned phrase began"]
    return {"table": "\n".join(lines), "found": found["found_with"], "drafts": found["drafts"], "ratio": found["ratio"],
            "result": found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drafts", type=int, default=200, help="drafts a side (rows: 4 a request)")
    parser.add_argument("--tokens", type=int, default=40, help="tokens per draft")
    parser.add_argument("--phrases", type=int, default=100, help="phrases in the ban list")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "bench" / "out" / "drafting",
                        help="data root holding the embedded model's cache")
    args = parser.parse_args()
    print(run(args.data_dir, args.drafts, args.tokens, args.phrases)["table"])


if __name__ == "__main__":
    main()
