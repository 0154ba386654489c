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

from studio import jsonio
from studio.corpus.decode import CorpusError
from studio.corpus.manifest import CorpusManifest
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
        raise CorpusError("corpus.no_corpus", name=name)
    version = version or found[-1]
    if version not in found:
        raise CorpusError("corpus.no_version", name=name, version=version, versions=", ".join(found))
    return corpora_dir(root) / name / version


def read_manifest(root: Path, name: str, version: str = "") -> dict:
    return jsonio.read_json(version_dir(root, name, version) / "manifest.json")


def read_split(root: Path, name: str, version: str, split: str) -> list[dict]:
    """The records of one split: {"text"}, {"prompt", "response"} or {"messages"}, each with its origin."""
    return jsonio.read_jsonl(version_dir(root, name, version) / f"{split}.jsonl")


def scratch_dir(root: Path, name: str) -> Path:
    """A private temporary folder beside the versions; it becomes a version only by commit_version."""
    folder = corpora_dir(root) / check_name(name, "corpus name")
    folder.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))


def commit_version(root: Path, name: str, tmp: Path, manifest: CorpusManifest) -> dict:
    """Rename `tmp` into the next free version number, with its manifest; never overwrites.
    Returns the manifest as written (with its version)."""
    folder = corpora_dir(root) / name
    while True:  # a concurrent ingest may take a number first: take the one after
        existing = versions(root, name)
        manifest.version = f"v{int(existing[-1][1:]) + 1 if existing else 1}"
        jsonio.write_json_atomic(tmp / "manifest.json", manifest.to_json())
        try:
            os.rename(tmp, folder / manifest.version)
            return manifest.to_json()
        except OSError:
            if not (folder / version).exists():
                raise


def discard(tmp: Path) -> None:
    shutil.rmtree(tmp, ignore_errors=True)


def read_dropped(root: Path, name: str, version: str = "", reason: str = "", offset: int = 0, limit: int = 50) -> list[dict]:
    """A page of the dropped items (with their reason), optionally of one reason only."""
    path = version_dir(root, name, version) / "dropped.jsonl"
    if not path.exists():
        return []
    page, index = [], 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            item = json.loads(line)
            if reason and item["reason"] != reason:
                continue
            if index >= offset:
                page.append(item)
                if len(page) >= limit:
                    break
            index += 1
    return page
