"""Duplicates: exact (a hash of the text up to case and white space) and near (MinHash LSH from
datasketch over character 5-gram shingles, so it works the same for Chinese and English)."""
from __future__ import annotations

import hashlib
import re

import numpy as np

SHINGLE = 5
NUM_PERM = 128
MAX_SHINGLES = 4000  # long documents are sampled by shingle hash, the same way for every document


def exact_key(text: str) -> str:
    return hashlib.blake2b(" ".join(text.casefold().split()).encode("utf-8"), digest_size=16).hexdigest()


class NearDuplicates:
    """Remembers the documents seen so far; `seen_similar(text)` says whether one is near it."""

    def __init__(self, threshold: float):
        from datasketch import MinHashLSH

        self.threshold = threshold
        self.lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self.signatures: list = []  # LSH candidates are confirmed against the estimated Jaccard

    def seen_similar(self, text: str) -> bool:
        from datasketch import MinHash

        normal = re.sub(r"\s+", " ", text.casefold())
        grams = {normal[i:i + SHINGLE] for i in range(max(1, len(normal) - SHINGLE + 1))}
        hashes = np.fromiter((int.from_bytes(hashlib.blake2b(g.encode("utf-8"), digest_size=4).digest(), "little")
                              for g in grams), dtype=np.uint64, count=len(grams))
        if len(hashes) > MAX_SHINGLES:
            # keep the shingles with the smallest hashes: a consistent sample across documents
            hashes = np.partition(hashes, MAX_SHINGLES)[:MAX_SHINGLES]
        # The shingles are hashed once above (blake2b, 32 bits); datasketch permutes those values.
        signature = MinHash(num_perm=NUM_PERM, hashfunc=int)
        signature.update_batch(hashes.tolist())
        if any(signature.jaccard(self.signatures[int(k)]) >= self.threshold for k in self.lsh.query(signature)):
            return True
        self.lsh.insert(str(len(self.signatures)), signature)
        self.signatures.append(signature)
        return False
