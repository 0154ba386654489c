"""Duplicates: exact (a hash of the text up to case and white space) and near (MinHash over
character 5-gram shingles, so it works the same for Chinese and English, indexed with
datasketch's MinHashLSH).

The signature is computed in numpy, not with datasketch's `MinHash.update`, because that path
calls a Python function per shingle and was 80% of ingest time. `signature` is a pure function
of the text, so worker processes compute it; only the index lives in the ingest process.
"""
from __future__ import annotations

import hashlib

import numpy as np

SHINGLE = 5
NUM_PERM = 128
# Long documents are sampled: the SAMPLE_SHINGLES smallest shingle hashes (a bottom-k sample,
# the same rule for every document, so near-identical texts keep near-identical samples).
SAMPLE_SHINGLES = 256
_BLOCK = 128  # columns per step: a 128 x 128 uint64 block stays in the CPU cache (3x faster than one big block)
SCHEME = "affine32"  # datasketch's name for 32-bit hash values, which is what `signature` returns

_POWERS = [np.uint64(pow(1_000_003, k, 1 << 64)) for k in range(SHINGLE)]  # polynomial hash mod 2**64
# Multiply-shift hashing, (a * x + b) >> 32 with odd a, is universal and needs no modulo.
_rng = np.random.default_rng(20241)
_A = (_rng.integers(0, 1 << 63, NUM_PERM, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)
_B = _rng.integers(0, 1 << 63, NUM_PERM, dtype=np.uint64)[:, None]


def exact_key(text: str) -> str:
    return hashlib.blake2b(" ".join(text.casefold().split()).encode("utf-8"), digest_size=16).hexdigest()


def shingle_hashes(text: str) -> np.ndarray:
    """64-bit hashes of the character 5-grams of `text`, case and white space folded.
    uint64 arithmetic wraps silently: the hash is modulo 2**64 by design."""
    codes = np.frombuffer(" ".join(text.casefold().split()).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) < SHINGLE:
        codes = np.pad(codes, (0, SHINGLE - len(codes)))
    n = len(codes) - SHINGLE + 1
    mixed = codes[:n] * _POWERS[0]
    for k in range(1, SHINGLE):
        mixed += codes[k:k + n] * _POWERS[k]
    mixed ^= mixed >> np.uint64(29)  # splitmix64 finaliser: spreads the bits before sampling by size
    mixed *= np.uint64(0xBF58476D1CE4E5B9)
    mixed ^= mixed >> np.uint64(32)
    return mixed


def signature(text: str) -> np.ndarray:
    """The MinHash signature of `text`: NUM_PERM 32-bit minima."""
    hashes = shingle_hashes(text)
    if len(hashes) > SAMPLE_SHINGLES:
        hashes = np.partition(hashes, SAMPLE_SHINGLES)[:SAMPLE_SHINGLES]
    out = np.full(NUM_PERM, np.iinfo(np.uint64).max, dtype=np.uint64)
    for start in range(0, len(hashes), _BLOCK):
        block = np.multiply.outer(_A, hashes[start:start + _BLOCK])
        block += _B
        block >>= np.uint64(32)
        np.minimum(out, block.min(axis=1), out=out)
    return out.astype(np.uint32)


class NearDuplicates:
    """Remembers the signatures seen so far; `seen_similar(sig)` says whether one is near it,
    and remembers `sig` when none is."""

    def __init__(self, threshold: float):
        from datasketch import MinHashLSH

        self.threshold = threshold
        self.lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        # LSH candidates are confirmed against the estimated Jaccard; signatures are kept in one
        # growing uint32 array (512 bytes each) rather than as Python objects.
        self.signatures = np.empty((1024, NUM_PERM), dtype=np.uint32)
        self.count = 0

    def seen_similar(self, sig: np.ndarray) -> bool:
        from datasketch import LeanMinHash

        minhash = LeanMinHash(seed=0, hashvalues=sig, scheme=SCHEME)
        candidates = self.lsh.query(minhash)
        if candidates and (self.signatures[candidates] == sig).mean(axis=1).max() >= self.threshold:
            return True
        if self.count == len(self.signatures):
            self.signatures = np.concatenate([self.signatures, np.empty_like(self.signatures)])
        self.signatures[self.count] = sig
        self.lsh.insert(self.count, minhash, check_duplication=False)
        self.count += 1
        return False
