"""Ingest throughput and memory: MB/s end to end and peak resident memory, at two corpus sizes
in one run, so the figures compare like with like on the same machine.

    .venv/bin/python bench/ingest.py [--mb 100] [--small-mb 25]

The corpus is generated with a fixed seed: English and Chinese documents of mixed length in
.txt, .md, .jsonl and .csv, with about 5% exact and 5% near duplicates. Each ingest runs in
its own child process (`python -m studio ingest`, the whole pipeline: decode, clean, dedupe,
split, token count with the embedded model's tokenizer), whose peak RSS the OS reports.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from studio.models import EMBEDDED_DEFAULT  # noqa: E402

SAMPLE = ROOT / "assets" / "samples" / "gannet-rock-lamp-log.txt"
HANZI = ("灯塔日志第一天风从东北来海面灰暗我把灯点亮了一切平安这座岛屿很小但是海鸥很多猫睡在最暖和的台阶上补给船没有来"
         "面包吃完给读潮汐表雾早到下午每两分钟鸣号天气晴朗像镜子一样平静修好雨水桶数礁石豹写信妹妹问寂寞")


def english_doc(rng: random.Random, words: list[str]) -> str:
    sentences = []
    for _ in range(rng.randint(3, 60)):
        s = " ".join(rng.choice(words) for _ in range(rng.randint(6, 18)))
        sentences.append(s[0].upper() + s[1:] + ".")
    paragraphs = [" ".join(sentences[i:i + 4]) for i in range(0, len(sentences), 4)]
    return "\n\n".join(paragraphs)


def chinese_doc(rng: random.Random) -> str:
    sentences = ["".join(rng.choice(HANZI) for _ in range(rng.randint(8, 24))) + "。" for _ in range(rng.randint(3, 80))]
    return "\n\n".join("".join(sentences[i:i + 5]) for i in range(0, len(sentences), 5))


def near_copy(rng: random.Random, doc: str) -> str:
    cut = rng.randint(0, max(0, len(doc) - 20))
    return doc[:cut] + doc[cut:cut + 10][::-1] + doc[cut + 10:]


def make_corpus(folder: Path, megabytes: float, seed: int = 0) -> int:
    """Write about `megabytes` of files into `folder`; returns the bytes written."""
    rng = random.Random(seed)
    words = SAMPLE.read_text(encoding="utf-8").lower().replace(".", " ").replace(",", " ").split()
    folder.mkdir(parents=True, exist_ok=True)
    target, written, index, recent = megabytes * 1e6, 0, 0, []
    while written < target:
        index += 1
        kind = ("txt", "md", "jsonl", "csv")[index % 4]
        docs = []
        for _ in range(200):
            roll = rng.random()
            if recent and roll < 0.05:
                doc = rng.choice(recent)  # exact duplicate
            elif recent and roll < 0.10:
                doc = near_copy(rng, rng.choice(recent))  # near duplicate
            else:
                doc = chinese_doc(rng) if rng.random() < 0.4 else english_doc(rng, words)
                recent = (recent + [doc])[-500:]
            docs.append(doc)
        path = folder / f"part-{index:05d}.{kind}"
        if kind in ("txt", "md"):
            path.write_text("\n\n---\n\n".join(docs), encoding="utf-8")
        elif kind == "jsonl":
            path.write_text("\n".join(json.dumps({"text": d}, ensure_ascii=False) for d in docs), encoding="utf-8")
        else:
            with open(path, "w", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["title", "text"])
                w.writerows([[f"doc {i}", d] for i, d in enumerate(docs)])
        written += path.stat().st_size
    return written


def run_ingest(files: list[Path], data_dir: Path, name: str) -> dict:
    """One ingest in a child process; wait4 gives that child's own peak resident memory."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.time()
        proc = subprocess.Popen([sys.executable, "-m", "studio", "ingest", *map(str, files), "--name", name,
                                 "--data-dir", str(data_dir), "--json"], cwd=ROOT, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.time() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise SystemExit(err.read())
        manifest = json.loads(out.read())
    return {"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024, "manifest": manifest}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mb", type=float, default=100)
    p.add_argument("--small-mb", type=float, default=25)
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "ingest"))
    args = p.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    data_dir = out / "data"
    # The one-off model conversion is not timed, and runs in its own process: a child's peak RSS
    # starts at its parent's size when forked, so this process must stay small.
    subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; from studio.models import registry, "
                    f"ensure_embedded_cache; ensure_embedded_cache(registry()['{EMBEDDED_DEFAULT}'], Path(sys.argv[1]))",
                    str(data_dir)], cwd=ROOT, check=True, capture_output=True)
    rows = []
    for label, mb in (("small", args.small_mb), ("large", args.mb)):
        size = make_corpus(out / label, mb)
        files = sorted((out / label).iterdir())
        result = run_ingest(files, data_dir, f"bench-{label}")
        m = result["manifest"]
        rows.append((label, size / 1e6, result["seconds"], size / 1e6 / result["seconds"], result["peak_mb"],
                     m["documents"], sum(m["dropped"].values()), m["tokens"]["train"] + m["tokens"]["val"]))
    print(f"\nmachine: {os.cpu_count()} CPUs; ingest = decode, clean, dedupe (exact + MinHash), split, token count")
    print(f"{'corpus':<7}{'MB':>8}{'seconds':>10}{'MB/s':>8}{'peak RSS MB':>13}{'kept':>9}{'dropped':>9}{'tokens':>12}")
    for r in rows:
        print(f"{r[0]:<7}{r[1]:>8.1f}{r[2]:>10.1f}{r[3]:>8.2f}{r[4]:>13.0f}{r[5]:>9}{r[6]:>9}{r[7]:>12,}")
    print(f"\nlarge/small: size x{rows[1][1] / rows[0][1]:.1f}, peak memory x{rows[1][4] / rows[0][4]:.2f}, "
          f"throughput x{rows[1][3] / rows[0][3]:.2f}")
    print("targets: >= 5 MB/s end to end; peak memory < 1500 MB and not growing with corpus size")


if __name__ == "__main__":
    main()
