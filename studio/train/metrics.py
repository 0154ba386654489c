"""ROUGE-1/2/L (rouge-score) and BLEU (sacrebleu) of generated responses against the held-out
references, for pairs corpora such as document -> summary.

Both libraries drop or glue Chinese by default (rouge-score keeps only [a-z0-9] tokens; BLEU's
13a tokenizer leaves a Chinese sentence as one word), so Chinese is scored by characters: ROUGE
gets a tokenizer that splits each CJK character apart and lowercases Latin words, and BLEU
uses sacrebleu's "zh" tokenizer, which does the same for CJK and 13a for the rest.
"""
from __future__ import annotations

import re

from studio.textclean import remove_debris

_TOKEN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]|[^\W_]+", re.UNICODE)


class CharAwareTokenizer:
    """rouge-score tokenizer: one token per CJK character, one per Latin/digit word."""

    def tokenize(self, text: str) -> list[str]:
        return _TOKEN.findall(text.lower())


def rouge_bleu(predictions: list[str], references: list[str]) -> dict:
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=CharAwareTokenizer())
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for pred, ref in zip(predictions, references):
        for name, score in scorer.score(ref, pred).items():
            totals[name] += score.fmeasure
    n = max(len(predictions), 1)
    bleu = BLEU(tokenize="zh").corpus_score(predictions, [references])
    return {**{k: round(100 * v / n, 2) for k, v in totals.items()}, "bleu": round(bleu.score, 2), "examples": len(predictions)}


def generate_responses(model, tokenizer, prompts: list[str], max_new_tokens: int, device: str, batch_size: int = 8) -> list[str]:
    """Greedy responses to `prompts` (already laid out with the chat template), left-padded batches."""
    import torch

    was_training, side = model.training, tokenizer.padding_side
    model.eval()
    tokenizer.padding_side = "left"
    out = []
    try:
        for i in range(0, len(prompts), batch_size):
            batch = tokenizer(prompts[i:i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            with torch.no_grad():
                generated = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False,
                                           pad_token_id=tokenizer.pad_token_id, use_cache=True)
            out += tokenizer.batch_decode(generated[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return [remove_debris(text).text.strip() for text in out]  # scored as the writer would see them
