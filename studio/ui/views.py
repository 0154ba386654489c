"""Plain formatting of service results for the tabs: HTML, Markdown and tables. No gradio here."""
from __future__ import annotations

import html

import pandas as pd

from studio.messages import LANGUAGES, MESSAGES, render, say
from studio.service import HISTOGRAM_EDGES, RULE_LABELS, drop_reason, dropped_item_reason, skip_reason, style_from

STATE_COLOURS = {"queued": "#8a8a8a", "running": "#2f6fde", "completed": "#2e9d57",
                 "failed": "#c8372d", "cancelled": "#b5832a", "interrupted": "#b5832a"}


def duration(seconds: float | None, lang: str = "en") -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds >= 60:
        return say(lang, "minutes", m=seconds // 60, s=seconds % 60)
    return say(lang, "seconds", s=seconds)


def progress_html(view: dict | None, lang: str = "en") -> str:
    if not view:
        return f"<div class='ws-progress'><em>{say(lang, 'progress.none')}</em></div>"
    status = view.status
    state = status.state
    step, total = status.step, status.total_steps or 0
    share = 100.0 if state == "completed" else (100.0 * step / total if total else 0.0)
    eta = say(lang, "progress.left", left=duration(status.eta_s, lang)) \
        if state == "running" and status.eta_s else ""
    detail = html.escape(str(render(lang, status.reason or status.message or "")))
    advice = html.escape(status.advice or "")
    colour = STATE_COLOURS.get(state, "#8a8a8a")
    state_text = say(lang, f"state.{state}") if f"state.{state}" in MESSAGES else state
    return (
        f"<div class='ws-progress' data-state='{state}'>"
        f"<div><b>{html.escape(view.run_id)}</b> · <span style='color:{colour}'>{state_text}</span> · "
        f"{say(lang, 'progress.step', step=step, total=total)}{eta}</div>"
        f"<div style='background:#e5e7eb;border-radius:6px;height:14px;margin:6px 0'>"
        f"<div class='ws-bar' style='width:{share:.1f}%;background:{colour};height:14px;border-radius:6px'></div></div>"
        f"<div>{detail}</div>" + (f"<div><b>{say(lang, 'progress.advice')}</b> {advice}</div>" if advice else "") + "</div>"
    )


def typed_frame(rows: list, columns: dict[str, str]) -> pd.DataFrame:
    """A frame with fixed column types, empty or not. Gradio's plots fix each axis's scale from the
    first value they get and later only swap the data: an empty frame of object columns would make
    every axis a list of categories (loss values as unordered labels, no line drawn)."""
    frame = pd.DataFrame(rows, columns=list(columns))
    return frame.astype(columns)


# The curves' series and colours are fixed when a tab is built: gradio's plots take the colour
# scale's domain from the value they hold when they are drawn and never widen it, and a series
# missing from it is drawn without a stroke. So every frame names every series of both languages,
# one with no point yet by a row without a loss (Vega leaves such points out), and the legend lists
# the visitor's language only (`colors_in_legend`, sent when the page loads).
def loss_series(lang: str) -> list[str]:
    return [say(lang, "series.train"), say(lang, "series.validation")]


def compared_series(lang: str) -> list[str]:
    return [f"{say(lang, 'series.' + place)} · {name}" for place in ("first", "second") for name in loss_series(lang)]


LOSS_COLOURS = {name: colour for lang in LANGUAGES for name, colour in zip(loss_series(lang), ("#2f6fde", "#e8743b"))}
COMPARED_COLOURS = {name: colour for lang in LANGUAGES
                    for name, colour in zip(compared_series(lang), ("#2f6fde", "#93b4f0", "#e8743b", "#f3b994"))}


def _loss_rows(events: list, lang: str, prefix: str = "") -> list[dict]:
    """Train and validation loss rows of a run's events (typed records: TrainStep has kind "train",
    LossEval "eval"; a DPO run's preference evaluations are another kind and draw no loss)."""
    train, validation = loss_series(lang)
    rows = [{"step": e.step, "loss": e.loss, "series": prefix + train} for e in events if e.kind == "train"]
    return rows + [{"step": e.step, "loss": e.val_loss, "series": prefix + validation} for e in events if e.kind == "eval"]


def _curves(rows: list[dict], series) -> pd.DataFrame:
    # only series without a point get the placeholder: a row without a loss among real points
    # would break that series' line in two
    drawn = {row["series"] for row in rows}
    rows = rows + [{"step": 0, "loss": float("nan"), "series": name} for name in series if name not in drawn]
    return typed_frame(rows, {"step": "int64", "loss": "float64", "series": "str"})


def loss_frame(events: list, lang: str = "en") -> pd.DataFrame:
    return _curves(_loss_rows(events, lang), LOSS_COLOURS)


def lr_frame(events: list) -> pd.DataFrame:
    rows = [{"step": e.step, "learning rate": e.lr} for e in events if e.kind == "train" and e.lr is not None]
    return typed_frame(rows, {"step": "int64", "learning rate": "float64"})


def eval_markdown(ev, lang: str = "en") -> str:
    """A run's evaluation (records.SftEvaluation, DpoEvaluation or BlendEvaluation) as Markdown."""
    if not ev:
        return ""
    if ev.objective == "dpo":
        before, after = ev.before, ev.after
        return (say(lang, "dpo.heading") + "\n|---|---|---|\n"
                f"| {say(lang, 'dpo.accuracy')} | {before['accuracy']:.0%} | {after['accuracy']:.0%} |\n"
                f"| {say(lang, 'dpo.margin')} | {before['mean_margin']:.2f} | {after['mean_margin']:.2f} |\n\n"
                + say(lang, "dpo.summary", pairs=ev.pairs, init=html.escape(ev.init_adapter), steps=ev.steps,
                      time=duration(ev.train_seconds, lang)))
    if ev.objective == "blend":
        return blend_markdown(ev, lang)
    base, tuned = ev.base, ev.tuned
    change = ev.perplexity_change * 100
    lines = [
        say(lang, "eval.heading"), "|---|---|---|",
        f"| {say(lang, 'eval.perplexity')} | {base['perplexity']:.2f} | {tuned['perplexity']:.2f} ({change:+.0f}%) |",
        f"| {say(lang, 'eval.loss')} | {base['loss']:.3f} | {tuned['loss']:.3f} |",
    ]
    if base.get("generation") and tuned.get("generation"):
        for key, label in (("rouge1", "ROUGE-1"), ("rouge2", "ROUGE-2"), ("rougeL", "ROUGE-L"), ("bleu", "BLEU")):
            name = say(lang, "eval.pairs", name=label, n=tuned["generation"]["examples"])
            lines.append(f"| {name} | {base['generation'][key]:.1f} | "
                         f"{tuned['generation'][key]:.1f} ({tuned['generation'][key] - base['generation'][key]:+.1f}) |")
    lines += style_rows(ev.style, lang)
    text = "\n".join(lines) + "\n\n" + say(lang, "eval.trained", tokens=ev.tokens_seen, time=duration(ev.train_seconds, lang))
    if ev.passes is not None:
        text += say(lang, "eval.seen", share=min(ev.passes, 1.0), passes=ev.passes)
    if ev.stopped_early:
        stopped = str(render(lang, ev.stopped_early))
        text += f" {html.escape(stopped[0].upper() + stopped[1:])}{'' if lang == 'zh' else '.'}"
    return text + lineage_markdown(ev.lineage, lang) + bias_markdown(ev.bias, lang)


def bias_markdown(bias: dict | None, lang: str) -> str:
    """The bias probe's table (all pairs, per language, per category) and what it can and cannot say."""
    if not bias:
        return ""
    lines = ["", "", say(lang, "bias.heading", n=bias["pairs"], source=bias["source"]), "", say(lang, "bias.columns"),
             "|---|---|---|", f"| {say(lang, 'bias.all', n=bias['pairs'])} | {bias['base']:.0%} | {bias['tuned']:.0%} "
             f"({(bias['tuned'] - bias['base']) * 100:+.0f} pt) |"]
    for group, row in bias["groups"].items():
        label = say(lang, f"bias.{group}", n=row["pairs"]) if f"bias.{group}" in MESSAGES else html.escape(group)
        lines.append(f"| {label} | {row['base']:.0%} | {row['tuned']:.0%} |")
    lines += ["", say(lang, "bias.moved", to=bias["to_stereotype"], away=bias["from_stereotype"]) + " "
              + say(lang, "bias.explain", n=bias["pairs"])]
    if bias.get("weights"):  # measured on demand (bias.json), not in the training process
        lines[-1] += " " + say(lang, "bias.weights", weights=bias["weights"])
    return "\n".join(lines)


def _ppl(row: dict, reference: dict | None = None) -> str:
    change = f" ({row['perplexity'] / reference['perplexity'] - 1:+.0%})" if reference else ""
    return f"{row['perplexity']:.2f}{change}"


def lineage_markdown(lineage: dict | None, lang: str) -> str:
    """A continued run's table: base, parent and this run on its own split and on the parent's."""
    if not lineage:
        return ""
    new, old = lineage["splits"]
    lines = ["", "", say(lang, "lineage.heading", parent=html.escape(lineage["parent"])), "",
             say(lang, "lineage.columns"), "|---|---|---|---|"]
    for row, key in ((new, "lineage.new"), (old, "lineage.old")):
        lines.append(f"| {say(lang, key, split=html.escape(row['split']))} | {_ppl(row['base'])} | {_ppl(row['parent'])} | "
                     f"{_ppl(row['child'], row['parent'])} |")
    lines += ["", say(lang, "lineage.forgetting", change=old["child"]["perplexity"] / old["parent"]["perplexity"] - 1)]
    if lineage.get("parent_split_in_train"):
        lines[-1] += " " + say(lang, "lineage.overlap", share=lineage["parent_split_in_train"])
    return "\n".join(lines)


def lineage_line(lineage: dict, lang: str) -> str:
    """One line on where a run's adapter came from; "" for a run trained from a fresh adapter."""
    if lineage["blend_of"]:
        return say(lang, "runs.blend_of", run=lineage["run_id"], sources=" + ".join(lineage["blend_of"]))
    if len(lineage["chain"]) > 1:
        return say(lang, "runs.lineage", run=lineage["run_id"], chain=" → ".join(lineage["chain"]))
    return ""


def blend_markdown(ev, lang: str) -> str:
    """A blend's table (records.BlendEvaluation): base, each source and the blend on each source's split."""
    keys = [s["run"] for s in ev.sources]
    sources = ", ".join(f"{html.escape(s['run'])} ({s['weight']:g})" for s in ev.sources)
    lines = [say(lang, "blend.heading", method=ev.method, sources=sources), "",
             "| " + " | ".join([say(lang, "blend.split"), say(lang, "blend.base"), *map(html.escape, keys),
                                say(lang, "blend.blend")]) + " |", "|---" * (len(keys) + 3) + "|"]
    for row in ev.splits:
        lines.append(f"| {html.escape(row['split'])} | {_ppl(row['base'])} | "
                     + " | ".join(_ppl(row["sources"][k]) for k in keys) + f" | {_ppl(row['blend'])} |")
    return "\n".join(lines) + bias_markdown(ev.bias, lang)


def style_rows(style, lang: str) -> list[str]:
    """The style match's rows of the evaluation table (records.StyleEvaluation, or its JSON form):
    the mean distances first, then the verdict with its interval, then the openings won as detail.
    A match measured before verdicts has no verdict row."""
    style = style_from(style)
    if not style or not style.openings:
        return []
    n, base, tuned = style.openings, style.base_mean, style.tuned_mean
    rows = [f"| {say(lang, 'eval.style', n=n, writer=style.writer_mean)} | {base:.3f} | {tuned:.3f} ({tuned - base:+.3f}) |"]
    if style.verdict and style.interval:
        value = say(lang, "eval.style_verdict_value", verdict=say(lang, f"style.verdict.{style.verdict}"),
                    difference=style.difference, low=style.interval[0], high=style.interval[1])
        rows.append(f"| {say(lang, 'eval.style_verdict', confidence=style.confidence)} | | {value} |")
    rows.append(f"| {say(lang, 'eval.style_wins')} | | {say(lang, 'eval.style_wins_value', wins=style.tuned_closer, n=n)} |")
    if style.tuned_copied is not None:
        rows.append(f"| {say(lang, 'eval.copied')} | {style.base_copied or 0:.0%} | {style.tuned_copied:.0%} |")
    return rows


def sweep_frame(trials: list[dict], lang: str = "en") -> pd.DataFrame:
    rows = [["★" if t.get("best") else "", t["trial"], f"{t['params'].get('learning_rate', 0):.2e}", t["params"].get("lora_r"),
             t["params"].get("epochs"), say(lang, f"state.{t['state']}") if f"state.{t['state']}" in MESSAGES else t["state"],
             round(t["val_loss"], 4) if t.get("val_loss") is not None else None, t.get("run_id") or ""] for t in trials]
    return pd.DataFrame(rows, columns=columns(lang, "best", "trial", "learning rate", "LoRA rank", "epochs", "state",
                                              "val loss", "run"))


def estimate_markdown(est: dict, lang: str = "en") -> str:
    p, mem = est["plan"], est["memory"]
    time_text = (say(lang, "estimate.minutes", m=p["minutes"]) if p["minutes"] and p["minutes"] >= 1 else
                 say(lang, "estimate.under_minute") if p["minutes"] else say(lang, "estimate.unknown"))
    speed = say(lang, "estimate.speed", speed=est["speed"], source=est["speed_source"]) if est["speed"] \
        else f" ({render(lang, est['speed_source'])})"
    memory = say(lang, "estimate.memory", total=mem["total"], lora=mem["lora_params_m"],
                 parts=", ".join(f"{say(lang, 'memory.' + k) if 'memory.' + k in MESSAGES else k} {v:.2f}"
                                 for k, v in mem.items() if k not in ("total", "lora_params_m", "sharded_over"))) \
        + (say(lang, "estimate.per_gpu", n=mem["sharded_over"]) if "sharded_over" in mem else "") \
        if mem else say(lang, "estimate.memory_unknown")
    return budget_markdown(est, lang) + say(
        lang, "estimate.text", steps=p["steps"], per_epoch=p["steps_per_epoch"], tokens=p["tokens"],
        time=say(lang, "estimate.on", time=time_text, device=est["device"]), speed=speed,
        quantization=(say(lang, f"quant.name.{est['quantization']}") if f"quant.name.{est['quantization']}" in MESSAGES
                      else est["quantization"]) + (say(lang, "estimate.compute", dtype=est["compute_dtype"])
                                                   if est.get("compute_dtype", "auto") != "auto" else ""),
        memory=memory) \
        + (say(lang, "estimate.note", note=est["quantization_note"]) if est.get("quantization_note") else "") \
        + say(lang, "estimate.passes", share=p["share"], passes=p["passes"]) + evaluation_wait(p, lang)


def budget_markdown(est: dict, lang: str) -> str:
    """What a time budget buys (studio/estimate.py), before the estimate's other lines; "" without one."""
    p = est["plan"]
    budget = p.get("budget")
    if not budget:
        return ""
    if not budget["steps"]:
        return say(lang, "estimate.budget_unknown", minutes=budget["minutes"], source=est["speed_source"])
    if budget["capped"]:
        text = say(lang, "estimate.budget_capped", minutes=budget["minutes"], budget=budget["steps"], steps=p["steps"],
                   by=budget["by"])
    else:
        text = say(lang, "estimate.budget" if budget["by"] else "estimate.budget_alone", minutes=budget["minutes"],
                   steps=budget["steps"], by=budget["by"])
    if p["eval"]["total"] + p["startup_s"] > budget["minutes"] * 30:
        text += say(lang, "estimate.budget_over", eval=p["eval"]["total"])
    return text


def evaluation_wait(p: dict, lang: str) -> str:
    """The evaluation's own time by part, and the whole wait; "" when no speed is known."""
    ev = p.get("eval")
    if not ev or p["minutes"] is None:
        return ""
    return say(lang, "estimate.evaluation", time=duration(ev["total"], lang), loss=ev["loss"], drafts=ev["drafts"],
               bias=ev["bias"], startup=p["startup_s"], total=p["total_minutes"])


def columns(lang: str, *names: str) -> list[str]:
    """Table headers in the reader's language (`col.<name>` in studio/messages.py)."""
    return [say(lang, f"col.{n}") if f"col.{n}" in MESSAGES else n for n in names]


RULE_KEYS = {label: f"rule.{switch}" for switch, label in RULE_LABELS.items()}


def _table_head(lang: str, *names: str) -> str:
    return "| " + " | ".join(columns(lang, *names)) + " |\n|" + "---|" * len(names)


def _escaped(lang: str, reason) -> str:
    """A stored reason (a message, or an older manifest's text) in the reader's language, HTML-escaped."""
    return html.escape(str(render(lang, reason)))


def _code(text: str) -> str:
    """A cleaning example as literal code: HTML-escaped, and markdown's own characters as entities."""
    escaped = html.escape(text)
    for c in "\\`*_[]":
        escaped = escaped.replace(c, f"&#{ord(c)};")
    return f"<code>{escaped}</code>"


def rule_examples(m: dict, lang: str) -> str:
    """One line per cleaning rule that kept an example of what it removed (the debris rules)."""
    return "".join("\n- " + say(lang, "report.rule_example", rule=say(lang, RULE_KEYS[k]) if k in RULE_KEYS else k,
                                 before=_code(e["before"]), after=_code(e["after"]))
                   for k, e in m.get("rule_examples", {}).items())


def corpus_report(m: dict, estimate="", lang: str = "en") -> str:
    tokens = m.get("tokens", {})
    files = "\n".join(f"| {html.escape(s['file'])} | {s['encoding']} | {s['items']} | {s['bytes']:,} |" for s in m["sources"])
    dropped = "".join(f"\n| {_escaped(lang, drop_reason(m, k))} | {v} |" for k, v in m["dropped"].items()) \
        or f"\n| {say(lang, 'report.nothing')} | 0 |"
    rules = "".join(f"\n| {say(lang, RULE_KEYS[k]) if k in RULE_KEYS else k} | {v} |" for k, v in m["rules"].items()) \
        or f"\n| {say(lang, 'report.all_off')} | - |"
    rows = m.get("rows", {})
    skipped = "".join("\n- " + say(lang, "corpus.rows_reason", n=n, reason=_escaped(lang, skip_reason(rows, why)))
                      for why, n in rows.get("skipped", {}).items())
    passed = "".join(f"\n- {html.escape(p['file'])}: {p['reason']}" for p in m.get("passed_over", [])[:20])
    split = m.get("split") or {}
    why = str(render(lang, split["why"])) if split else ""
    if split.get("follows"):  # a new version that kept the previous one's held-out documents out
        why += ("；" if lang == "zh" else "; ") + say(lang, "split.follows", version=split["follows"])
    held = say(lang, "report.validation", val=split["val_tokens"], total=split["val_tokens"] + split["train_tokens"],
               share=split["val_share"], why=why) + "\n\n" if split else ""
    warnings = ""
    for w in m.get("warnings", []):
        text = str(render(lang, w))
        warnings += f"> ⚠ {html.escape(text[0].upper() + text[1:])}{'' if lang == 'zh' else '.'}\n\n"
    token_text = ""
    if tokens:
        counted = "" if tokens.get("counted", "exact") == "exact" else f"; {tokens['counted']}"
        token_text = say(lang, "report.tokens", train=tokens["train"], val=tokens["val"], tokenizer=tokens["tokenizer"],
                         counted=counted)
    head = say(lang, "report.kept", items=m["documents"], train=m["train_documents"], val=m["val_documents"],
               chars=m["characters"], tokens=token_text, cjk=m.get("cjk_share", 0), estimate=render(lang, estimate) or "")
    return (
        say(lang, "report.heading", name=m["name"], version=m["version"], mode=m["mode"]) + "\n" + head + "\n\n"
        + held + warnings
        + (say(lang, "report.rows_read", seen=rows["seen"]) + f"{skipped}\n\n" if rows.get("seen") else "")
        + f"{_table_head(lang, 'dropped because', 'items')}{dropped}\n\n{_table_head(lang, 'cleaning rule', 'changed')}{rules}\n"
        f"{rule_examples(m, lang)}\n\n"
        f"{_table_head(lang, 'file', 'encoding / type', 'items', 'bytes')}\n{files}"
        + (f"\n\n{say(lang, 'report.passed_over')}{passed}" if passed else "")
    )


def _short(n: int) -> str:
    return f"{n // 2**20}M" if n >= 2**20 else f"{n // 2**10}k" if n >= 2**10 else str(n)


# Every bin, always in this order: the chart's axis is fixed when the tab is built (a plot that
# changes its x column or sort order is rebuilt empty by gradio and waits for the next value).
HISTOGRAM_BINS = [f"{_short(lo)}-{_short(hi)}" for lo, hi in zip(HISTOGRAM_EDGES, HISTOGRAM_EDGES[1:])] \
    + [f">{_short(HISTOGRAM_EDGES[-1])}"]
HISTOGRAM_X, HISTOGRAM_Y = "length (tokens)", "items"


def histogram_frame(m: dict) -> pd.DataFrame:
    """Items per length bin (tokens; characters for a corpus ingested without a tokenizer), every bin."""
    h = m.get("length_histogram")
    counts = h["counts"] if h else [0] * len(HISTOGRAM_BINS)
    return typed_frame(list(zip(HISTOGRAM_BINS, counts)), {HISTOGRAM_X: "str", HISTOGRAM_Y: "int64"})


def dropped_frame(items: list[dict], lang: str = "en") -> pd.DataFrame:
    return pd.DataFrame([[render(lang, dropped_item_reason(d)), d["origin"], d["chars"], d["preview"]] for d in items],
                        columns=columns(lang, "reason", "from", "chars", "text"))


def runs_choices(rows: list[dict], only_with_adapter: bool = False) -> list[tuple[str, str]]:
    # The label holds only what never changes: the state is shown live beside the progress bar.
    return [(r["run_id"], r["run_id"]) for r in rows if r["has_adapter"] or not only_with_adapter]


def pane_text(drafts: list[str], lang: str = "en") -> str:
    if len(drafts) == 1:
        return drafts[0]
    return "\n\n".join(f"{say(lang, 'draft.numbered', n=n)}\n{text}" for n, text in enumerate(drafts, 1))


def copied_label(pane: dict, lang: str = "en") -> str:
    shares = pane.get("copied") or []
    if not shares:
        return say(lang, "copied.label")
    worst = max(shares)
    return say(lang, "copied.share", share=worst) + (say(lang, "copied.reciting") if worst >= 0.3 else "")


def draft_summary(result: dict, lang: str = "en") -> str:
    return say(lang, "draft.summary", panes=len(result["panes"]), tokens=result["tokens"], seconds=result["seconds"],
               speed=result["tokens_per_s"], first=result["first_token_s"], device=result["device"],
               weights=result["weights"], seed=result["settings"]["seed"]) \
        + (say(lang, "draft.stopped") if result.get("stopped") else "")


def win_rate_frame(rates: list[dict], lang: str = "en") -> pd.DataFrame:
    rows = [[r["source"], f"{r['win_rate']:.0%}", r["wins"], r["losses"], r["ties"], r["judged"]] for r in rates]
    return pd.DataFrame(rows, columns=columns(lang, "tuned", "win rate", "wins", "losses", "ties", "judged"))


def runs_frame(rows: list[dict], lang: str = "en") -> pd.DataFrame:
    """Every run, one line each: what it is, how it went, what it measured."""
    names = columns(lang, "run", "from", "state", "corpus", "model", "preset", "steps", "duration", "perplexity base → tuned",
                    "demo")
    lines = []
    for r in rows:
        ev = r.get("eval") or {}
        ppl = (f"{ev['base']['perplexity']:.2f} → {ev['tuned']['perplexity']:.2f}"
               if ev.get("base") and ev.get("tuned") else "")
        state = say(lang, f"state.{r['state']}") if f"state.{r['state']}" in MESSAGES else r["state"]
        lines.append([r["run_id"], r.get("parent", ""), state, r["corpus"], r["model"], r["preset"],
                      f"{r['step']}/{r['total_steps']}", duration(r.get("seconds"), lang), ppl, "✓" if r.get("published") else ""])
    return pd.DataFrame(lines, columns=names)


def overlaid_loss_frame(views_of_runs: list[dict], lang: str = "en") -> pd.DataFrame:
    """Both runs' train and validation curves on one plot, named by the run's place (first or
    second, as picked above the plot)."""
    rows = [row for place, view in zip(("first", "second"), views_of_runs)
            for row in _loss_rows(view.events, lang, f"{say(lang, 'series.' + place)} · ")]
    return _curves(rows, COMPARED_COLOURS)


def differences_markdown(result: dict, lang: str = "en") -> str:
    first, second = result["runs"]
    if not result["differences"]:
        return say(lang, "runs.same")
    lines = [f"| {columns(lang, 'setting')[0]} | {first} | {second} |", "|---|---|---|"]
    lines += [f"| {d['setting']} | {html.escape(str(d[first]))} | {html.escape(str(d[second]))} |"
              for d in result["differences"]]
    return "\n".join(lines)


def models_frame(rows: list[dict], lang: str = "en") -> pd.DataFrame:
    return pd.DataFrame([[r["name"], r["source"], r["id"], r["params_m"], "✓" if r["cached"] else "",
                          r["disk_gb"] if r["cached"] else "", r["gb_4bit"], r["gb_16bit"],
                          say(lang, "licence.gated", licence=r["licence"]) if r.get("gated") else r.get("licence", "")]
                         for r in rows],
                        columns=columns(lang, "model", "source", "where from", "parameters (M)", "cached", "size on disk (GB)",
                                        "weights in 4-bit (GB)", "weights in 16-bit (GB)", "licence"))


def requests_frame(rows: list[dict], lang: str = "en") -> pd.DataFrame:
    """Grow a corpus: each passage (its start) with the request made for it, numbered for dropping."""
    lines = [[r["index"], r["split"], r["request"], r["text"][:160].replace("\n", " ") + ("…" if len(r["text"]) > 160 else "")]
             for r in rows]
    return pd.DataFrame(lines, columns=columns(lang, "#", "split", "request", "passage"))
