"""Evaluation around training: the base before it (once, kept in base_eval.json), and after it
what eval.json reports beside the losses (ROUGE/BLEU on held-out pairs, style match on held-out
openings, the bias probe, peak memory)."""
from __future__ import annotations

from studio.messages import message
from studio.records import LossEval, StyleEvaluation


def generation_metrics(run, model, tok, val_records) -> dict | None:
    """ROUGE/BLEU of generated responses on held-out pairs (pairs mode only)."""
    from studio.formatting import prompt_text
    from studio.train.metrics import generate_responses, rouge_bleu

    cfg = run.cfg
    pairs = [r for r in val_records if "prompt" in r][:cfg.eval_examples]
    if not pairs:
        return None
    prompts = [prompt_text(r, tok, cfg.chat_template, cfg.prompt_template) for r in pairs]
    outputs = generate_responses(model, tok, prompts, cfg.eval_max_new_tokens, run.device)
    return rouge_bleu(outputs, [r["response"] for r in pairs])


def style_evaluation(run, model, tok, val_records) -> StyleEvaluation | None:
    """Style match (text corpora): base and tuned continue held-out openings with the same seed,
    each continuation scored against the writer's held-out text (studio/write/style.py): the mean
    distances, the interval on the change and the verdict it supports, the openings won, and the
    share of the tuned drafts copied from the corpus."""
    from studio.write import style

    cfg = run.cfg
    val_texts = [r["text"] for r in val_records if "text" in r]
    found = style.openings(val_texts, cfg.style_openings) if cfg.style_openings else []
    if not found:
        return None
    run.report.update(message=message("status.style", n=len(found)))
    base, tuned = style.continuations(model, tok, [o["opening"] for o in found], cfg.eval_max_new_tokens, run.device,
                                      cfg.seed)
    return style.score_on_corpus(run.root, cfg.corpus, run.corpus_version, found, base, tuned)


def base_evaluation(run, model, tok, val_blocks, val_records, mode) -> dict:
    """Validation loss (and ROUGE/BLEU for pairs) of the untouched base, computed once and
    kept in base_eval.json so a resumed run does not redo it."""
    from studio.train.evaluate import mean_loss

    def evaluate() -> dict:
        run.report.update(message=message("status.eval_base"))
        result = {"val_loss": mean_loss(model, val_blocks, tok.pad_token_id, run.device)}
        if mode == "pairs" and run.cfg.eval_examples:
            run.report.update(message=message("status.generation_base"))
            result["generation"] = generation_metrics(run, model, tok, val_records)
        return result

    return run.computed_once("base_eval.json", evaluate, lambda result: run.report.record(
        LossEval(step=0, val_loss=round(result["val_loss"], 5))))


def bias_probe(run, model, tok) -> dict | None:
    """The bias probe's scores when the run asks for it, else None."""
    if not run.cfg.bias_probe:
        return None
    from studio.train import bias

    run.report.update(message=message("status.bias"))
    return bias.probe(model, tok, run.device)


def peak_memory_gb(device: str) -> float:
    """The most memory this run held, in GB (10^9 bytes, as the estimate says it): GPU memory
    allocated by torch on CUDA, else the process's peak resident size (model, activations,
    optimizer and all)."""
    import resource

    import torch

    if device.startswith("cuda"):
        return round(torch.cuda.max_memory_allocated(device) / 1e9, 3)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, 3)  # KiB on Linux
