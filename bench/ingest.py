"""Ingest throughput and memory: MB/s end to end and peak resident memory, at two corpus sizes
in one run, so the figures compare like with like on the same machine.

    .venv/bin/python bench/ingest.py [--mb 100] [--small-mb 25]

The corpus is generated with a fixed seed: English and Chinese documents of mixed length in
.txt, .md, .jsonl and .csv, with about 5% exact and 5% near duplicates. Each ingest runs in
its own child process (`python -m studio ingest`, the whole pipeline: decode, clean, dedupe,
split, token count with the embedded model's tokenizer); the peak memory is that process's and
its worker processes' resident memory summed, sampled every 50 ms.
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


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (the ingest's worker processes), MB."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += int((Path("/proc") / str(p) / "statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
        todo += children.get(p, [])
    return total / 1e6


def run_ingest(files: list[Path], data_dir: Path, name: str, *flags: str) -> dict:
    """One ingest in a child process; its memory, workers included, is sampled every 50 ms."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.time()
        proc = subprocess.Popen([sys.executable, "-m", "studio", "ingest", *map(str, files), "--name", name,
                                 "--data-dir", str(data_dir), "--json", *flags], cwd=ROOT, stdout=out, stderr=err, text=True)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, tree_rss_mb(proc.pid))
            time.sleep(0.05)
        seconds = time.time() - started
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise SystemExit(err.read())
        manifest = json.loads(out.read())
    return {"seconds": seconds, "peak_mb": peak, "manifest": manifest}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mb", type=float, default=100)
    p.add_argument("--small-mb", type=float, default=25)
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "ingest"))
    args = p.parse_args()
    out = Path(args.out)
    data_dir = out / "data"
    for old in (out / "small", out / "large", data_dir / "corpora"):
        shutil.rmtree(old, ignore_errors=True)
    # The one-off model conversion (kept between runs) is not timed: it runs first, in its own process.
    subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; from studio.models import registry, "
                    f"ensure_embedded_cache; ensure_embedded_cache(registry()['{EMBEDDED_DEFAULT}'], Path(sys.argv[1]))",
                    str(data_dir)], cwd=ROOT, check=True, capture_output=True)
    rows = []
    for label, mb, flags in (("small", args.small_mb, ()), ("large", args.mb, ()), ("large, exact tokens", args.mb, ("--exact-tokens",))):
        folder = out / label.split(",")[0]
        size = sum(f.stat().st_size for f in folder.iterdir()) if folder.exists() else make_corpus(folder, mb)
        files = sorted(folder.iterdir())
        result = run_ingest(files, data_dir, f"bench-{len(rows)}", *flags)
        m = result["manifest"]
        rows.append((label, size / 1e6, result["seconds"], size / 1e6 / result["seconds"], result["peak_mb"],
                     m["documents"], sum(m["dropped"].values()), m["tokens"]["train"] + m["tokens"]["val"]))
    print(f"\nmachine: {os.cpu_count()} CPUs; ingest = decode, clean, dedupe (exact + MinHash), split, token count")
    print("tokens: exact up to 16 MB, above that a 16 MB sample counted and the rest estimated (--exact-tokens: all counted)")
    print(f"{'corpus':<21}{'MB':>7}{'seconds':>9}{'MB/s':>7}{'peak RSS MB':>13}{'kept':>8}{'dropped':>9}{'tokens':>12}")
    for r in rows:
        print(f"{r[0]:<21}{r[1]:>7.1f}{r[2]:>9.1f}{r[3]:>7.2f}{r[4]:>13.0f}{r[5]:>8}{r[6]:>9}{r[7]:>12,}")
    print(f"token estimate vs exact count on the large corpus: {rows[1][7] / rows[2][7] - 1:+.2%}")
    print(f"\nlarge/small: size x{rows[1][1] / rows[0][1]:.1f}, peak memory x{rows[1][4] / rows[0][4]:.2f}, "
          f"throughput x{rows[1][3] / rows[0][3]:.2f}")
    print("targets: >= 5 MB/s end to end; peak memory < 1500 MB and not growing with corpus size")


if __name__ == "__main__":
    main()
