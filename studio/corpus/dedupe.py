"""Duplicates: exact (a hash of the text up to case and white space) and near (MinHash LSH from
datasketch over character 5-gram shingles, so it works the same for Chinese and English)."""
from __future__ import annotations

import hashlib
import re

import numpy as np

SHINGLE = 5
NUM_PERM = 128
MAX_SHINGLES = 1000  # long documents are sampled by shingle hash, the same way for every document


def exact_key(text: str) -> str:
    return hashlib.blake2b(" ".join(text.casefold().split()).encode("utf-8"), digest_size=16).hexdigest()


_POWERS = np.array([pow(1_000_003, k, 1 << 64) for k in range(SHINGLE)], dtype=np.uint64)  # a polynomial hash mod 2**64


def shingle_hashes(text: str) -> np.ndarray:
    """Distinct 32-bit hashes of the character 5-grams of `text` (case and white space folded),
    computed in numpy rather than one Python call per shingle; long documents keep the smallest
    MAX_SHINGLES hashes, a sample that is the same for every document."""
    normal = re.sub(r"\s+", " ", text.casefold())
    codes = np.frombuffer(normal.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) < SHINGLE:
        codes = np.pad(codes, (0, SHINGLE - len(codes)))
    windows = np.lib.stride_tricks.sliding_window_view(codes, SHINGLE)
    # uint64 array arithmetic wraps silently: the hash is modulo 2**64 by design
    mixed = (windows * _POWERS).sum(axis=1, dtype=np.uint64)
    mixed ^= mixed >> np.uint64(29)
    mixed *= np.uint64(0xBF58476D1CE4E5B9)
    mixed ^= mixed >> np.uint64(32)
    hashes = np.unique(mixed & np.uint64(0xFFFFFFFF))
    return hashes[:MAX_SHINGLES]  # np.unique sorts: these are the smallest


class NearDuplicates:
    """Remembers the documents seen so far; `seen_similar(text)` says whether one is near it."""

    def __init__(self, threshold: float):
        from datasketch import MinHash, MinHashLSH

        self.threshold = threshold
        self.lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self.signatures: list = []  # LSH candidates are confirmed against the estimated Jaccard
        template = MinHash(num_perm=NUM_PERM)
        self.permutations, self.scheme = template.permutations, template.scheme  # made once, shared by every signature

    def seen_similar(self, text: str) -> bool:
        from datasketch import MinHash

        hashes = shingle_hashes(text)
        # datasketch applies its permutations to these precomputed shingle hashes.
        signature = MinHash(num_perm=NUM_PERM, hashfunc=int, permutations=self.permutations, scheme=self.scheme)
        signature.update_batch(hashes.tolist())
        if any(signature.jaccard(self.signatures[int(k)]) >= self.threshold for k in self.lsh.query(signature)):
            return True
        self.lsh.insert(str(len(self.signatures)), signature)
        self.signatures.append(signature)
        return False
