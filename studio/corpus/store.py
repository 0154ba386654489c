"""The corpus store: data/corpora/<name>/<version>/ with manifest.json, train.jsonl, val.jsonl.

A version is immutable: it is written under a temporary name and renamed into place, and
re-ingesting makes the next version; nothing earlier is overwritten.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from studio.corpus.decode import CorpusError
from studio.paths import check_name, corpora_dir

_VERSION = re.compile(r"^v(\d+)$")


def versions(root: Path, name: str) -> list[str]:
    folder = corpora_dir(root) / check_name(name, "corpus name")
    found = [p.name for p in folder.glob("v*") if _VERSION.match(p.name) and (p / "manifest.json").exists()]
    return sorted(found, key=lambda v: int(v[1:]))


def list_corpora(root: Path) -> list[str]:
    base = corpora_dir(root)
    return sorted(p.name for p in base.iterdir() if p.is_dir() and versions(root, p.name)) if base.exists() else []


def version_dir(root: Path, name: str, version: str = "") -> Path:
    found = versions(root, name)
    if not found:
        raise CorpusError(f"no corpus named '{name}': ingest it first (Corpus tab or `python -m studio ingest`)")
    version = version or found[-1]
    if version not in found:
        raise CorpusError(f"corpus '{name}' has no version '{version}'; it has {', '.join(found)}")
    return corpora_dir(root) / name / version


def read_manifest(root: Path, name: str, version: str = "") -> dict:
    return json.loads((version_dir(root, name, version) / "manifest.json").read_text(encoding="utf-8"))


def read_split(root: Path, name: str, version: str, split: str) -> list[str]:
    path = version_dir(root, name, version) / f"{split}.jsonl"
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh if line.strip()]


def write_version(root: Path, name: str, manifest: dict, train: list[str], val: list[str]) -> Path:
    folder = corpora_dir(root) / check_name(name, "corpus name")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
    try:
        for split, docs in (("train", train), ("val", val)):
            with open(tmp / f"{split}.jsonl", "w", encoding="utf-8") as fh:
                for doc in docs:
                    fh.write(json.dumps({"text": doc}, ensure_ascii=False) + "\n")
        while True:  # claim the next version number; a concurrent ingest takes the one after
            existing = versions(root, name)
            version = f"v{int(existing[-1][1:]) + 1 if existing else 1}"
            manifest["version"] = version
            (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
            try:
                os.rename(tmp, folder / version)
                return folder / version
            except OSError:
                if not (folder / version).exists():
                    raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
