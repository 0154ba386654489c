"""Plain formatting of service results for the tabs: HTML, Markdown and tables. No gradio here."""
from __future__ import annotations

import html

import pandas as pd

STATE_COLOURS = {"queued": "#8a8a8a", "running": "#2f6fde", "completed": "#2e9d57",
                 "failed": "#c8372d", "cancelled": "#b5832a", "interrupted": "#b5832a"}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def progress_html(view: dict | None) -> str:
    if not view:
        return "<div class='ws-progress'><em>No run selected. Start one above.</em></div>"
    status = view["status"]
    state = status.get("state", "?")
    step, total = status.get("step", 0), status.get("total_steps", 0) or 0
    share = 100.0 if state == "completed" else (100.0 * step / total if total else 0.0)
    eta = f" · about {duration(status.get('eta_s'))} left" if state == "running" and status.get("eta_s") else ""
    detail = html.escape(status.get("reason") or status.get("message") or "")
    advice = html.escape(status.get("advice") or "")
    colour = STATE_COLOURS.get(state, "#8a8a8a")
    return (
        f"<div class='ws-progress' data-state='{state}'>"
        f"<div><b>{html.escape(view['run_id'])}</b> · <span style='color:{colour}'>{state}</span> · "
        f"step {step}/{total}{eta}</div>"
        f"<div style='background:#e5e7eb;border-radius:6px;height:14px;margin:6px 0'>"
        f"<div class='ws-bar' style='width:{share:.1f}%;background:{colour};height:14px;border-radius:6px'></div></div>"
        f"<div>{detail}</div>" + (f"<div><b>What to do:</b> {advice}</div>" if advice else "") + "</div>"
    )


def loss_frame(events: list[dict]) -> pd.DataFrame:
    rows = [{"step": e["step"], "loss": e["loss"], "series": "train"} for e in events if e.get("kind") == "train"]
    rows += [{"step": e["step"], "loss": e["val_loss"], "series": "validation"} for e in events if e.get("kind") == "eval"]
    return pd.DataFrame(rows, columns=["step", "loss", "series"])


def eval_markdown(ev: dict) -> str:
    if not ev:
        return ""
    base, tuned = ev["base"], ev["tuned"]
    change = ev.get("perplexity_change", 0) * 100
    return (
        "| | base | tuned |\n|---|---|---|\n"
        f"| validation perplexity | {base['perplexity']:.2f} | {tuned['perplexity']:.2f} ({change:+.0f}%) |\n"
        f"| validation loss | {base['loss']:.3f} | {tuned['loss']:.3f} |\n\n"
        f"Trained on {ev.get('tokens_seen', 0):,} tokens in {duration(ev.get('train_seconds'))}."
    )


def corpus_report(m: dict) -> str:
    tokens = m.get("tokens", {})
    files = "\n".join(f"| {html.escape(s['file'])} | {s['encoding']} | {s['documents']} | {s['bytes']:,} |" for s in m["sources"])
    dropped = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in m["dropped"].items())
    return (
        f"### Corpus `{m['name']}` {m['version']}\n"
        f"Kept **{m['documents']}** documents ({m['train_documents']} train, {m['val_documents']} validation), "
        f"{m['characters']:,} characters"
        + (f", {tokens['train']:,} + {tokens['val']:,} tokens ({tokens['tokenizer']})" if tokens else "")
        + f".\n\nDropped: {dropped}.\n\n| file | encoding | documents | bytes |\n|---|---|---|---|\n{files}"
    )


def runs_choices(rows: list[dict], only_with_adapter: bool = False) -> list[tuple[str, str]]:
    # The label holds only what never changes: the state is shown live beside the progress bar.
    return [(r["run_id"], r["run_id"]) for r in rows if r["has_adapter"] or not only_with_adapter]
