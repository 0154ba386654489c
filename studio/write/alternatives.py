"""Token alternatives: click a word of a drafted candidate and see what else could have come there.

For candidate n of a manuscript's last continue (pending.json) and a token position in it, the
likeliest next tokens under the model that drafted it (its run's adapter, or the base) and under the
base at the very same position: one forward pass each over the context the candidate was drafted
from plus the candidate's tokens before that position, on the drafter's loaded model (PEFT's
`disable_adapter` gives the base). The probabilities are the models' own (softmax of the logits at
temperature 1), before the sampling settings reshape them. Picking a token redrafts the candidate
from there: its tokens before the position, the chosen token, then the drafting model continues
(the same settings and seed; as many tokens as the candidate had left), and the new text takes the
old one's place among the pending candidates.
"""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from studio.adapters import parse_source
from studio.config import GenConfig
from studio.textclean import remove_debris
from studio.write import manuscript_store as store
from studio.write.manuscript import ManuscriptError

TOP = 10  # the likeliest tokens shown under each model (their union, ordered by the drafting model)


@dataclass
class Choice:
    token_id: int
    text: str  # the token as text ('' for a piece of a character split over two tokens)
    tuned: float | None  # probability under the run that drafted the candidate (None: the base drafted it)
    base: float  # probability under the base model


@dataclass
class Alternatives:
    n: int  # the candidate (from 1, across panes, as `manuscript use N`)
    source: str  # who drafted it: "base" or RUN[@step-N]
    position: int  # the token position (0 = the candidate's first token)
    tokens: list[str]  # the candidate's tokens as text
    current: str  # the token the candidate has at `position` ('' at its end)
    rows: list[Choice]


def _pending(root: Path, ms_id: str, n: int) -> tuple[dict, int, int]:
    """The pending candidates, and (pane index, draft index) of candidate n."""
    pending = store.read_pending(store.folder_of(root, ms_id))
    if not pending:
        raise ManuscriptError("manuscript.no_pending")
    if "prompt" not in pending:  # drafted before the context was kept with the candidates
        raise ManuscriptError("manuscript.alternatives_old")
    count = 0
    for p, pane in enumerate(pending["panes"]):
        for k in range(len(pane["drafts"])):
            count += 1
            if count == n:
                return pending, p, k
    raise ManuscriptError("manuscript.no_candidate", n=n, count=count)


def pieces(tokenizer, ids: list[int]) -> list[str]:
    """Each token's text: the growth of the decoded prefix, so a character split over byte-level
    tokens shows whole on the token that finishes it."""
    out, before = [], ""
    for k in range(len(ids)):
        now = tokenizer.decode(ids[:k + 1], skip_special_tokens=True)
        if now.endswith("\ufffd"):
            out.append("")
            continue
        out.append(now[len(before):] if now.startswith(before) else now)
        before = now
    return out


def _tokenizer(root: Path, model: str):
    from studio.write.context import counter_for

    return counter_for(root, model)[0].tokenizer


def candidate_tokens(root: Path, ms_id: str, n: int, data: Path | None = None) -> list[str]:
    """The tokens of candidate n as text (what the writer clicks on); `data`: the data root whose
    models drafted it when the manuscript lives elsewhere (a demo visitor's folder)."""
    pending, p, k = _pending(root, ms_id, n)
    tok = _tokenizer(data or root, pending["model"])
    return pieces(tok, tok(pending["panes"][p]["drafts"][k], add_special_tokens=False)["input_ids"])


def _probabilities(drafter, ids: list[int], adapter: str | None):
    """Next-token probabilities after `ids` under the held model, with `adapter` active (None: the base)."""
    import torch

    model = drafter.model
    if adapter is not None:
        model.set_adapter(adapter)
    with torch.inference_mode(), drafter.without_adapters() if adapter is None else contextlib.nullcontext():
        logits = model(input_ids=torch.tensor([ids], device=drafter.device)).logits[0, -1].float()
    return torch.softmax(logits, dim=-1)


def alternatives(drafter, root: Path, ms_id: str, n: int, position: int, top: int = TOP,
                 data: Path | None = None) -> Alternatives:
    """The likeliest tokens at `position` of candidate n under its drafting model and the base."""
    pending, p, k = _pending(root, ms_id, n)
    source = parse_source(pending["panes"][p]["source"])
    tok = _tokenizer(data or root, pending["model"])
    prompt = tok(pending["prompt"], add_special_tokens=True)["input_ids"]
    ids = tok(pending["panes"][p]["drafts"][k], add_special_tokens=False)["input_ids"]
    if not 0 <= position <= len(ids):
        raise ManuscriptError("manuscript.token_position", position=position, last=len(ids))
    with drafter.holding(pending["panes"][p]["source"], pending["model"], tuned_only=False):
        base = _probabilities(drafter, prompt + ids[:position], None)
        tuned = _probabilities(drafter, prompt + ids[:position], source.key) if source.run_id else None
    drafting = tuned if tuned is not None else base
    found = list(dict.fromkeys(drafting.topk(top).indices.tolist() + base.topk(top).indices.tolist()))
    found.sort(key=lambda t: -float(drafting[t]))
    rows = [Choice(t, tok.decode([t]), float(tuned[t]) if tuned is not None else None, float(base[t])) for t in found]
    texts = pieces(tok, ids)
    return Alternatives(n, source.key, position, texts, texts[position] if position < len(ids) else "", rows)


def redraft(drafter, root: Path, ms_id: str, n: int, position: int, token_id: int, stop=None, data: Path | None = None):
    """Candidate n cut before `position`, the chosen token, then drafted on by the same model with
    the same settings; yields {"text": the candidate so far, "done": bool}; the finished text takes
    candidate n's place among the pending candidates (Use puts it in the manuscript)."""
    pending, p, k = _pending(root, ms_id, n)
    source = pending["panes"][p]["source"]
    tok = _tokenizer(data or root, pending["model"])
    ids = tok(pending["panes"][p]["drafts"][k], add_special_tokens=False)["input_ids"]
    if not 0 <= position <= len(ids):
        raise ManuscriptError("manuscript.token_position", position=position, last=len(ids))
    if not 0 <= token_id < len(tok):
        raise ManuscriptError("manuscript.token_id", token=token_id)
    start = tok.decode(ids[:position] + [token_id], skip_special_tokens=True)
    settings = {f.name: pending["settings"][f.name] for f in dataclasses.fields(GenConfig) if f.name in pending["settings"]}
    gen = GenConfig(**{**settings, "drafts": 1})
    gen.max_new_tokens = max(1, gen.max_new_tokens - position - 1)
    from studio.write.desk_bible import banned_for

    # the writer's phrases to avoid hold for a redraft too (a phrase the picked token itself begins is
    # not undone: the drafted part goes back no further than the picked token)
    banned = banned_for(root, store.load(root, ms_id).ms, data) or None
    for item in drafter.stream([source], pending["prompt"] + start, gen, "continue", stop, pending["model"], save=False,
                               banned=banned):
        if "panes" not in item:
            yield item
            continue
        # the picked token may decode to a control character: cleaned as every draft is (drafter.RowStreamer)
        text = remove_debris(start + item["panes"][0]["drafts"][0]).text
        if item.get("done"):
            latest = store.read_pending(store.folder_of(root, ms_id)) or pending
            if latest.get("time") == pending.get("time"):  # not replaced by a newer continue meanwhile
                latest["panes"][p]["drafts"][k] = text
                store.write_pending(store.folder_of(root, ms_id), latest)
        yield {"text": text, "done": bool(item.get("done")), "source": source, "n": n}
