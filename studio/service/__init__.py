"""The one API the UI and the CLI call: plain values in, plain values out."""
from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

from studio import jobs, runs
from studio.config import CorpusConfig, GenConfig, TrainConfig, apply_overrides, from_dict, to_dict
from studio.corpus.build import ingest as build_corpus
from studio.corpus.decode import CorpusError
from studio.jsonio import write_json_atomic, write_jsonl_atomic
from studio.messages import Keyed, message
from studio.corpus.store import list_corpora, read_dropped, read_manifest
from studio.corpus.tokens import counter_for
from studio.models import EMBEDDED_DEFAULT, model_facts
from studio.presets import list_presets, load_preset, read_preset
from studio.records import RunState, RunView, style_from  # style_from: for the views
from studio.records import to_dict as to_record
from studio.write import demo_gate, visitors
from studio.write.drafter import Drafter



class Refused(Keyed, ValueError):
    """A request the service turns down (a run that is training, a missing run, too few picks); the
    message names what to do, in English and Chinese (studio/messages.py)."""


_drafters: dict[Path, Drafter] = {}
_drafters_lock = threading.Lock()


def ingest(root: Path, files: list[str | Path], name: str, mode: str = "text",
           display_names: list[str] | None = None, model: str = EMBEDDED_DEFAULT, **settings) -> dict:
    """Ingest files into a new version of corpus `name`; returns the manifest."""
    cfg = from_dict(CorpusConfig, {"name": name, "mode": mode, **settings}, source="corpus settings")
    if not files:
        raise CorpusError("corpus.no_files")
    paths = [Path(f) for f in files]
    names = display_names or [p.name for p in paths]
    count, tokenizer_name = counter_for(root, model)
    return build_corpus(list(zip(paths, names)), cfg, root, count_tokens=count, tokenizer_name=tokenizer_name)


def corpora(root: Path) -> list[dict]:
    return [read_manifest(root, name) for name in list_corpora(root)]


def dropped_items(root: Path, name: str, version: str = "", reason: str = "", offset: int = 0, limit: int = 50) -> list[dict]:
    return read_dropped(root, name, version, reason, offset, limit)


# Reference speed when no run has been measured here yet: the quick preset on the 2-core
# development machine, embedded 135M model on the CPU: 123 tokens/s in 4-bit NF4 (docs/benchmarks.md,
# first run), 184 unquantized (what `auto` picks there; issue 23: 276 steps of 512 tokens in 12.8 min).
REFERENCE_TOKENS_PER_S = {(EMBEDDED_DEFAULT, "cpu", "nf4"): 123.0, (EMBEDDED_DEFAULT, "cpu", "none"): 184.0}


SPEED_SETTINGS = ("seq_len", "batch_size", "gradient_checkpointing", "use_dora")  # beside the quantization, what moves tokens/s


def _same_settings(folder: Path, status, like: TrainConfig) -> bool:
    """Whether a finished run trained as `like` would (its path resolved): weights, compute dtype
    (runs from before the dtype was kept count by their weights), and the settings that move speed."""
    cfg = runs.read_config(folder)
    dtype = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}.get(like.compute_dtype)
    return (status.quantization == like.quantization and (not status.compute_dtype or not dtype
                                                           or status.compute_dtype == dtype)
            and all(getattr(cfg, k) == getattr(like, k) for k in SPEED_SETTINGS))


def _wall_clock_speed(folder: Path, tokens_seen: int | None) -> float | None:
    """A finished run's training tokens per second of wall clock: the tokens it saw over the seconds
    its steps took, validation during training and reporting included. Not the median of the steps'
    own tokens/s, which leave out the time between steps: on a small model that time is most of it,
    and a budget planned from the steps' figure ran ten times over (12,006 steps planned for 5
    minutes at 22,000 tokens/s, trained at 2,300)."""
    steps = [e for e in runs.read_events(folder) if e.get("kind") == "train" and "elapsed_s" in e]
    if len(steps) < 2 or not tokens_seen or not steps[-1]["elapsed_s"]:
        return None  # a DPO run has no train steps; one step is all warm-up
    return tokens_seen / steps[-1]["elapsed_s"]


def measured_speed(root: Path, model: str, device: str, like: TrainConfig | None = None) -> tuple[float | None, dict]:
    """Median training tokens/s (wall clock, _wall_clock_speed) of this model on this device in completed runs here; given `like`
    (with its quantization resolved), of the runs trained with its settings when there are any."""
    import statistics

    same, other = [], []
    for row in runs.list_runs(root):
        if row["state"] != RunState.COMPLETED or row["model"] != model:
            continue
        folder = runs.run_dir(root, row["run_id"])
        status = runs.read_status(folder)
        if status.device != device:
            continue
        speed = _wall_clock_speed(folder, status.tokens_seen)
        if speed:
            (same if like is None or _same_settings(folder, status, like) else other).append(speed)
    if same or other:
        key = "speed.measured_settings" if like is not None and same else "speed.measured"
        return statistics.median(same or other), message(key, model=model)
    reference = REFERENCE_TOKENS_PER_S.get((model, device, like.quantization if like else "none"))
    if reference:
        return reference, message("speed.reference")
    return None, message("speed.none")


def epoch_estimate(root: Path, manifest: dict, model: str = EMBEDDED_DEFAULT) -> dict | str:
    """Time per epoch, as a message (studio/messages.py) for the reader's language; "" without tokens."""
    from studio.models import pick_device

    tokens = manifest.get("tokens", {}).get("train")
    if not tokens:
        return ""
    device = pick_device("auto")
    speed, source = measured_speed(root, model, device)
    if not speed:
        return message("epoch.unknown", device=device, source=source)
    minutes = tokens / speed / 60
    return message("epoch.minutes", minutes=minutes, device=device, speed=speed, source=source)


def training_estimate(root: Path, corpus: str, preset: str, overrides: list[str] | None = None, **fields) -> dict:
    """Tokens, steps, time and memory of a run before it starts."""
    return training_estimate_config(root, training_config(corpus, preset, overrides, **fields))


def presets() -> list[dict]:
    return [vars(read_preset(name)) for name in list_presets()]


def training_config(corpus: str, preset: str, overrides: list[str] | None = None, **fields) -> TrainConfig:
    cfg = load_preset(preset, corpus=corpus, **{k: v for k, v in fields.items() if v not in (None, "")})
    return apply_overrides(cfg, overrides or [])


def _check_gpus_for(nproc: int, device: str) -> None:
    """One process per GPU: more processes than GPUs would share a card and fail in NCCL."""
    import torch

    from studio.models import pick_device

    if pick_device(device) == "cuda" and nproc > torch.cuda.device_count():
        raise Refused("service.nproc_gpus", nproc=nproc, gpus=torch.cuda.device_count())


def start_training(root: Path, corpus: str, preset: str, overrides: list[str] | None = None, nproc: int = 1,
                   nodes: jobs.Nodes | None = None, **fields) -> str:
    """Create a run and start its worker (under torchrun when nproc > 1, or as node 0 of `nodes`:
    the other machines start `jobs.torchrun(folder, nproc, their Nodes)`); returns the run id at once."""
    return start_training_config(root, training_config(corpus, preset, overrides, **fields), preset, nproc, nodes)


def start_sweep(root: Path, corpus: str, preset: str, trials: int = 6, sampler: str = "tpe", trial_steps: int = 0,
                overrides: list[str] | None = None, detach: bool = True) -> str:
    """A hyperparameter sweep: each trial a run; detached (its own process) unless detach=False."""
    from studio import sweep

    training_config(corpus, preset, overrides)  # a bad corpus, preset or setting fails here, not in trial 1
    sweep_id = sweep.create(root, corpus, preset, trials, sampler, trial_steps, overrides)
    if detach:
        import sys

        sweep.start_detached(root, sweep_id, [sys.executable, "-m", "studio", "sweep-drive", sweep_id,
                                              "--data-dir", str(root)])
    else:
        drive_sweep(root, sweep_id)
    return sweep_id


def drive_sweep(root: Path, sweep_id: str) -> list[dict]:
    """Run a created sweep's trials here, one after another, each started as any run is."""
    from studio import sweep

    return sweep.run(root, sweep_id, lambda corpus, preset, overrides: start_training(root, corpus, preset, overrides))


def sweep_trials(root: Path, sweep_id: str) -> list[dict]:
    from studio import sweep

    return sweep.read_trials(root, sweep_id)


def list_sweeps(root: Path) -> list[dict]:
    from studio import sweep

    return sweep.list_sweeps(root)


def resume_run(root: Path, run_id: str) -> str:
    jobs.resume(root, run_id)
    return run_id


def cancel_run(root: Path, run_id: str) -> dict:
    return jobs.cancel(root, run_id)


def wait_for_run(root: Path, run_id: str, on_status=None) -> dict:
    return jobs.wait(root, run_id, on_status=on_status)


def list_runs(root: Path) -> list[dict]:
    jobs.reap()
    return runs.list_runs(root)


def run_view(root: Path, run_id: str) -> RunView:
    """Everything a view of one run needs, read from disk: survives page reloads and restarts."""
    jobs.reap()
    folder = runs.RunFolder.of(root, run_id)
    return RunView(run_id=run_id, status=folder.status(), config=folder.config(), events=folder.events(),
                   evaluation=folder.evaluation())


def drafter(root: Path) -> Drafter:
    with _drafters_lock:
        return _drafters.setdefault(root, Drafter(root))


def style_match(root: Path, run_id: str, openings: int = 8, gen: GenConfig | None = None) -> dict:
    """On demand (the Write tab, `python -m studio style RUN`): base and tuned continue held-out
    openings of the run's own corpus version with one seed, scored as after training
    (studio/write/style.py); kept in the run folder as style.json."""
    from studio.write import style

    folder = runs.RunFolder.of(root, run_id)
    cfg = folder.config()
    version = folder.trained_corpus_version(cfg)
    found = style.openings(style.prose(root, cfg.corpus, version, "val"), openings)
    if not found:
        raise Refused("service.no_prose", run=run_id, corpus=cfg.corpus)
    gen = gen or GenConfig(max_new_tokens=cfg.eval_max_new_tokens, seed=cfg.seed)
    drafts = [drafter(root).compare(run_id, item["opening"], gen) for item in found]
    result = to_record(style.score_on_corpus(root, cfg.corpus, version, found, [d["base"] for d in drafts],
                                               [d["tuned"] for d in drafts]))
    write_json_atomic(folder.file(folder.STYLE), {**result, "settings": to_dict(gen)})
    return result


def start_blend(root: Path, blend_of: str, method: str = "linear", density: float = 0.5) -> str:
    """A blend run: 'run-a:0.5, run-b:0.5' combined by PEFT's `method` into a new run's adapter
    (studio/train/blend.py); returns the run id at once."""
    from studio.train.blend import blend_config

    cfg = blend_config(root, TrainConfig(objective="blend", blend_of=blend_of, blend_method=method, blend_density=density))
    run_id = jobs.create_run(root, cfg, preset="blend")
    jobs.start(root, run_id)
    return run_id


def bias_probe(root: Path, run_id: str) -> dict:
    """On demand (runs trained before the probe existed, any checkpoint): the bias probe of
    studio/train/bias.py with the drafting model, kept as bias.json in the run folder (the final
    adapter's) or in the checkpoint's folder (RunFolder.bias_file)."""
    from studio.adapters import parse_source
    from studio.train import bias

    with drafter(root).holding(run_id) as (model, tok, device):
        result = {**bias.probe(model, tok, device), "weights": drafter(root).weights}
    source = parse_source(run_id)
    write_json_atomic(runs.RunFolder.of(root, source.run_id).bias_file(source.checkpoint), result)
    return result


def make_requests(root: Path, corpus: str, version: str = "", source: str = "base", model: str | None = None,
                  limit: int = 0, stop: threading.Event | None = None):
    """Requests for a text corpus's passages, made and staged one by one (studio/write/requests.py);
    yields progress after each."""
    from studio.write import requests

    yield from requests.generate(drafter(root), root, corpus, version, source or "base", model or None, limit, stop)


def requests_preview(root: Path, corpus: str, version: str = "") -> list[dict]:
    from studio.write import requests

    return requests.preview(root, corpus, version)


def save_requests(root: Path, corpus: str, version: str = "", drop: str = "") -> dict:
    """The staged requests and their passages as the corpus's next version (pairs), without the
    items in `drop` ('3, 7, 10-12')."""
    from studio.write import requests

    rows = requests.preview(root, corpus, version)
    tokenizer = read_manifest(root, corpus, version).get("tokens", {}).get("tokenizer") or EMBEDDED_DEFAULT
    count, name = counter_for(root, tokenizer)
    return requests.save(root, corpus, version, requests.parse_drop(drop, len(rows)), count, name)


def run_lineage(root: Path, run_id: str) -> dict:
    """Where a run's adapter came from: its chain of parents (oldest first), or a blend's sources."""
    from studio.config import blend_parts
    from studio.train.continual import chain

    cfg = runs.read_config(runs.run_dir(root, run_id))
    blended = [key for key, _ in blend_parts(cfg.blend_of)] if cfg.objective == "blend" else []
    return {"run_id": run_id, "chain": chain(root, run_id), "blend_of": blended}


# no time budget: its minutes turn into steps at the speed of sft runs, and a DPO run over the judged
# pairs (a few dozen) is short anyway; epochs or max_steps decide
DPO_DEFAULTS = {"learning_rate": 5e-5, "epochs": 2.0, "max_steps": 0, "batch_size": 2, "grad_accum": 1,
                "warmup_ratio": 0.1, "eval_every": 0, "early_stopping_patience": 0, "save_every": 0,
                "time_budget_min": 0.0}


def start_dpo(root: Path, init_source: str, overrides: list[str] | None = None) -> str:
    """A DPO run from the preferences judged so far, starting from a tuned run's adapter (or one of
    its checkpoints), on that run's base and settings."""
    from studio.train.dpo import PAIRS_FILE
    from studio.adapters import adapter_folder, parse_source
    from studio.write.feedback import JudgingError, dpo_pairs

    source = parse_source(init_source)
    if not source.run_id:
        raise Refused("service.dpo_pick")
    adapter_folder(root, source)
    pairs = dpo_pairs(root)
    if len(pairs) < 2:
        raise JudgingError("service.dpo_few", n=len(pairs))
    start = runs.read_config(runs.run_dir(root, source.run_id))
    cfg = replace(start, objective="dpo", init_adapter=source.key, **DPO_DEFAULTS)
    cfg = apply_overrides(cfg, overrides or [])
    if cfg.time_budget_min:
        raise Refused("service.dpo_budget", minutes=cfg.time_budget_min)
    run_id = jobs.create_run(root, cfg, preset="dpo")
    folder = runs.run_dir(root, run_id)
    write_jsonl_atomic(folder / PAIRS_FILE, pairs)
    jobs.start(root, run_id)
    return run_id


def draft_stream(root: Path, panes: list[str], prompt: str, gen: GenConfig, mode: str = "continue",
                 stop=None, model: str | None = None):
    """The drafts of every pane as they grow (see Drafter.stream), never writing the studio's phrases
    to avoid; the last item is complete and carries, per draft, the share copied from each tuned run's corpus. `root` may be a demo
    visitor's folder: the owner's published runs draft, within the visitor's limits, and the draft
    is kept in the visitor's own drafts/drafts.jsonl (within their caps), never in the owner's."""
    from studio.write.desk_bible import studio_banned

    data = _owner_for(root, panes)
    visitor = data != Path(root)
    banned = studio_banned(data) or None  # the studio's phrases to avoid hold for the comparison too
    with demo_gate.drafting(root, gen.max_new_tokens, len(panes) * gen.drafts, len(prompt)):
        for item in drafter(data).stream(panes, prompt, gen, mode, stop, model, save=not visitor, banned=banned):
            if item.get("done"):
                annotate_overlap(data, item)
                if visitor:
                    _keep_visitor_draft(root, item)
            yield item


SCREEN_UPDATE_S = 0.25  # a streaming draft's screen updates, with the batch to itself


def screen_update_s(root: Path) -> float:
    """Seconds between two screen updates of a streaming draft: a few a second, fewer while many drafts
    share the batch. Each update costs the server a new copy of every component it touches (gradio),
    and at 20 visitors those copies took a third of the demo server's time (docs/benchmarks.md)."""
    rows = drafter(visitors.owner_root(root)).busy()["rows"]
    return SCREEN_UPDATE_S * max(1.0, rows / 4)


def _keep_visitor_draft(folder: Path, item: dict) -> None:
    """A visitor's comparison draft, in their own folder, when it fits under their disk cap."""
    from studio.jsonio import append_jsonl

    try:
        visitors.check_room(folder, 0)
    except visitors.VisitorError:
        return  # the draft is shown; only keeping it is past the cap
    (folder / "drafts").mkdir(parents=True, exist_ok=True)
    append_jsonl(folder / "drafts" / "drafts.jsonl", item)


def draft_panes(root: Path, panes: list[str], prompt: str, gen: GenConfig, mode: str = "continue") -> dict:
    """The finished drafts of every pane, with their copied shares (draft_stream to its end)."""
    result = {}
    for result in draft_stream(root, panes, prompt, gen, mode):
        pass
    return result


def annotate_overlap(root: Path, result: dict) -> dict:
    """Add `copied` (share per draft) and `copied_spans` to each pane, checked against the corpus
    of that pane's run; the base pane is checked against the first tuned run's corpus."""
    from studio.write.overlap import copied_spans, corpus_index

    corpora = {}
    for pane in result["panes"]:
        if pane["run_id"]:
            folder = runs.run_dir(root, pane["run_id"])
            cfg = runs.read_config(folder)
            corpora[pane["source"]] = (cfg.corpus, runs.trained_corpus_version(folder, cfg))
    fallback = next(iter(corpora.values()), None)
    for pane in result["panes"]:
        corpus = corpora.get(pane["source"], fallback)
        if not corpus or not corpus[0]:
            continue
        index = corpus_index(root, *corpus)
        found = [copied_spans(text, index) for text in pane["drafts"]]
        pane["copied"] = [f["share"] for f in found]
        pane["copied_spans"] = [f["spans"] for f in found]
    return result


# -- run management ------------------------------------------------------------------------
def delete_run(root: Path, run_id: str) -> None:
    """Remove one run's folder and nothing else; a run that is training is refused."""
    import shutil

    folder = runs.run_dir(root, run_id)
    if not folder.is_dir():
        raise Refused("service.no_run", run=run_id)
    state = runs.read_status(folder).state
    if state in runs.ACTIVE:
        raise Refused("service.delete_active", run=run_id, state=message(f"state.{state.value}"))
    shutil.rmtree(folder)


def publish_run(root: Path, run_id: str, published: bool = True) -> None:
    """Show (or hide) a run's adapter in demo mode."""
    folder = runs.run_dir(root, run_id)
    if published and not runs.has_adapter(folder):
        raise Refused("service.publish_unfinished", run=run_id)
    runs.set_published(folder, published)


def is_published(root: Path, run_id: str) -> bool:
    return runs.is_published(runs.run_dir(root, run_id))


def compare_runs(root: Path, first: str, second: str) -> dict:
    """Two runs side by side: the config fields that differ, both loss curves, both evaluations."""
    a, b = run_view(root, first), run_view(root, second)
    settings_a, settings_b = to_dict(a.config), to_dict(b.config)
    differences = [{"setting": k, first: settings_a.get(k), second: settings_b.get(k)}
                   for k in settings_a if settings_a.get(k) != settings_b.get(k)]
    return {"runs": [first, second], "differences": differences, "views": [a, b]}


def models_overview(root: Path) -> list[dict]:
    """The registry: what is cached here, its size on disk, and the memory its weights need."""
    from studio.models import overview

    return overview(root)


# -- manuscripts: the writing desk (studio/write/desk.py) -------------------------------------
# `root` is the data root, or a demo visitor's own folder (visitor_root): there the visitor's caps
# apply, runs and models are read from the owner's data root, and only published runs draft.
def manuscripts(root: Path) -> list[dict]:
    """Every manuscript: id, title, words, revision, updated (newest first)."""
    from studio.write import desk

    return desk.listing(root)


def new_manuscript(root: Path, title: str, text: str = "", memory: str = "", note: str = "", ms_id: str | None = None):
    from studio.write import desk

    if visitors.is_shelf(root):
        visitors.check_new(root, most=demo_gate.LIMITS.visitors)
        visitors.check_room(root, len(title) + len(text) + len(memory) + len(note))
    return desk.new(root, title, text, memory, note, ms_id)


def manuscript(root: Path, ms_id: str) -> dict:
    """The manuscript, the notices from opening it (a damaged file read around), can_undo/can_redo."""
    from studio.write import desk

    return desk.view(root, ms_id)


def rename_manuscript(root: Path, ms_id: str, title: str):
    from studio.write import desk

    _visitor_room(root, ms_id, added=len(title))
    return desk.rename(root, ms_id, title)


def delete_manuscript(root: Path, ms_id: str) -> Path:
    """Moved into manuscripts/.trash, not destroyed; returns where it went."""
    from studio.write import desk

    where = desk.delete(root, ms_id)
    return where.relative_to(root) if visitors.is_shelf(root) else where  # a visitor is not shown the server's paths


def save_manuscript_text(root: Path, ms_id: str, text: str, base: int | None = None) -> dict:
    """The editor's whole text; `base` is the revision it loaded. Returns revision, notice (a
    conflict: another tab saved since; this save still wins), manuscript."""
    from studio.write import desk

    _visitor_room(root, ms_id, text=len(text))
    return desk.save_text(root, ms_id, text, base)


def keep_refused_text(root: Path, ms_id: str, text: str) -> Path:
    """A text too big to save kept in the manuscript's refused/ folder, so the editor can go back to
    the saved text without losing it; returns the file (the desk offers it for download)."""
    from studio.write import desk

    return desk.keep_refused(root, ms_id, text)


def set_manuscript_field(root: Path, ms_id: str, name: str, value: str, base: int | None = None) -> dict:
    """The memory or the author's note ('memory' | 'note')."""
    from studio.write import desk

    _visitor_room(root, ms_id, **{name: len(value)})
    return desk.set_field(root, ms_id, name, value, base)


def manuscript_context(root: Path, ms_id: str, panes: list[str], gen: GenConfig, cursor: int | None = None,
                       model: str | None = None):
    """What the model sees: the assembled text and each part's tokens (studio/write/context.py)."""
    from studio.write import desk

    return desk.context(root, ms_id, panes, gen, cursor, model, _owner_for(root, panes))


def continue_manuscript(root: Path, ms_id: str, panes: list[str], gen: GenConfig, cursor: int | None = None,
                        stop=None, model: str | None = None):
    """Candidates (gen.drafts, 1-4, per pane) from the end or the cursor, streamed: first
    {"context": Context}, then the drafter's items; the last (done) carries `at` and is kept as
    the manuscript's pending candidates."""
    from studio.write import desk

    data = _owner_for(root, panes)
    _visitor_room(root, ms_id)  # the candidates are kept in the visitor's folder
    with demo_gate.drafting(root, gen.max_new_tokens, len(panes) * gen.drafts):
        yield from desk.continue_stream(root, drafter(data), ms_id, panes, gen, cursor, stop, model, data)


def use_candidate(root: Path, ms_id: str, text: str, at: int, source: str, settings: dict | None = None,
                  anchor: str | None = None, revision: int | None = None, guard: list[str] | None = None) -> dict:
    """Insert a candidate at the point it was drafted for, with its source and the copied-text guard."""
    from studio.write import desk

    _visitor_room(root, ms_id, added=len(text))
    return desk.use(root, ms_id, text, at, source, settings, anchor, revision, guard, visitors.owner_root(root))


def pending_candidates(root: Path, ms_id: str) -> list[dict]:
    from studio.write import desk

    return desk.candidates(root, ms_id)


def use_pending_candidate(root: Path, ms_id: str, n: int, inline: bool = False) -> dict:
    """Candidate n (from 1, across panes) of the last continue; `inline`: the desk's inline draft,
    which Retry may replace (take_back_inline_draft)."""
    from studio.write import desk

    if visitors.is_shelf(root):
        found = desk.candidates(root, ms_id)
        _visitor_room(root, ms_id, added=len(found[n - 1]["text"]) if 1 <= n <= len(found) else 0)
    return desk.use_pending(root, ms_id, n, visitors.owner_root(root), inline)


def take_back_inline_draft(root: Path, ms_id: str, editor_text: str | None = None) -> dict | None:
    """Undo the last inline draft if nothing was written after it (Retry replaces it); else None."""
    from studio.write import desk

    _visitor_room(root, ms_id)
    return desk.take_back_inline(root, ms_id, editor_text)


def undo_manuscript(root: Path, ms_id: str) -> dict:
    from studio.write import desk

    _visitor_room(root, ms_id)
    return desk.undo(root, ms_id)


def redo_manuscript(root: Path, ms_id: str) -> dict:
    from studio.write import desk

    _visitor_room(root, ms_id)
    return desk.undo(root, ms_id, redo=True)


def manuscript_history(root: Path, ms_id: str) -> list[dict]:
    from studio.write import desk

    return desk.history(root, ms_id)


def manuscript_version(root: Path, ms_id: str, revision: int):
    from studio.write import desk

    return desk.version(root, ms_id, revision)


def restore_manuscript(root: Path, ms_id: str, revision: int) -> dict:
    from studio.write import desk

    if visitors.is_shelf(root):
        old = desk.version(root, ms_id, revision)
        visitors.check_room(root, old.size())
    return desk.restore(root, ms_id, revision)


def export_manuscript(root: Path, ms_id: str, fmt: str, sources: bool = False, lang: str = "en") -> Path:
    from studio.write import desk
    from studio.write.manuscript_export import export

    _visitor_room(root, ms_id)  # a visitor's exports are written into their own folder
    return export(root, desk.view(root, ms_id)["manuscript"], fmt, sources, lang)


# -- a demo visitor's own manuscripts (studio/write/visitors.py) ------------------------------
def visitor_root(root: Path, token: str) -> Path:
    """The folder a demo visitor's desk works in (pass it as `root` to the manuscript functions);
    a token the studio did not make is refused."""
    return visitors.shelf(root, token)


def new_visitor_token(root: Path, address: str = "") -> str:
    """A key for a new visitor from `address`, refused past the hourly limits (demo_gate)."""
    return demo_gate.issue_key(root, address)


def set_demo_limits(limits) -> None:
    """The owner's DemoLimits (app flags), for every visitor of this process."""
    demo_gate.set_limits(limits)


def demo_limits():
    """What one demo visitor may ask (studio/config.py DemoLimits), as the owner set it."""
    return demo_gate.LIMITS


def demo_is_full(root: Path) -> bool:
    return visitors.is_full(root, demo_gate.LIMITS.visitors)


def clean_visitors(root: Path, now: float | None = None, due_only: bool = False) -> list[str]:
    """Remove visitors' folders untouched for visitors.KEEP_DAYS (`due_only`: only when the last
    cleaning is a day old); returns the tokens removed."""
    return (visitors.clean_if_due if due_only else visitors.clean)(root, now=now)


def visitor_caps() -> dict:
    """What the welcome line states: manuscripts, characters each, days kept."""
    return {"most": visitors.MAX_MANUSCRIPTS, "chars": visitors.MAX_CHARS, "days": visitors.KEEP_DAYS,
            "visitors": demo_gate.LIMITS.visitors, "hours": visitors.PROTECT_S // 3600}


def _owner_for(root: Path, panes: list[str]) -> Path:
    """The data root whose runs draft for these manuscripts; a visitor drafts with published runs only."""
    data = visitors.owner_root(root)
    if data != Path(root):
        check_demo_sources(data, panes)
    return data


def _visitor_room(root: Path, ms_id: str, added: int = 0, **replaced: int) -> None:
    """In a visitor's folder: refuse a change that would pass the caps (the manuscript's characters
    after it: its size plus `added`, with the text, memory or note lengths `replaced`)."""
    if not visitors.is_shelf(root):
        return
    from studio.write import manuscript_store

    ms = manuscript_store.load(root, ms_id).ms
    parts = {"text": len(ms.text), "memory": len(ms.memory), "note": len(ms.note), **replaced}
    visitors.check_room(root, sum(parts.values()) + added)


def manuscript_alternatives(root: Path, ms_id: str, n: int, position: int):
    """The likeliest tokens at `position` of pending candidate n, under the model that drafted it
    and under the base (studio/write/alternatives.py: an Alternatives)."""
    from studio.write import alternatives

    data = _owner_for(root, [c["source"] for c in pending_candidates(root, ms_id) if c["n"] == n])
    return alternatives.alternatives(drafter(data), root, ms_id, n, position, data=data)


def candidate_tokens(root: Path, ms_id: str, n: int) -> list[str]:
    """Pending candidate n as its tokens' texts (what a writer clicks to see alternatives)."""
    from studio.write import alternatives

    return alternatives.candidate_tokens(root, ms_id, n, visitors.owner_root(root))


def redraft_candidate(root: Path, ms_id: str, n: int, position: int, token_id: int, stop=None):
    """Candidate n cut at `position`, the chosen token, drafted on; streamed as {"text", "done"}."""
    from studio.write import alternatives

    data = _owner_for(root, [c["source"] for c in pending_candidates(root, ms_id) if c["n"] == n])
    with demo_gate.drafting(root, 0, 1):  # the redraft's length is the candidate's, drafted within the limits
        yield from alternatives.redraft(drafter(data), root, ms_id, n, position, token_id, stop, data)


def summarize_manuscript(root: Path, ms_id: str, source: str, gen: GenConfig, stop=None, model: str | None = None):
    """A summary of the manuscript so far (memory, then the newest text that fits) by `source`
    (base or RUN), streamed as {"text", "done"}; the writer puts it into memory with
    set_manuscript_field."""
    from studio.write.summarize import summarize_stream

    data = _owner_for(root, [source])
    with demo_gate.drafting(root, gen.max_new_tokens, 1):
        yield from summarize_stream(root, drafter(data), ms_id, source, gen, stop, model, data)


def manuscript_style(root: Path, ms_id: str, run_id: str | None = None):
    """Burrows' Delta of the model-written passages (by source) and the writer's own against the
    held-out text of a run's corpus (studio/write/manuscript_style.py: a ManuscriptStyle)."""
    from studio.write.manuscript_style import style_match

    data = _owner_for(root, [run_id] if run_id else [])
    return style_match(root, ms_id, run_id, data)


# --- What the UI tabs need (one door: tabs import nothing else of the core) ---
# Thin names over the core for studio/ui: constants the tabs lay out with, the demo rules, and
# the config-taking starts the Train form calls (the form becomes a TrainConfig, no key=value).
from studio.corpus.build import HISTOGRAM_EDGES  # noqa: E402  (the corpus report's length bins)
from studio.corpus.clean import RULE_LABELS, drop_reason, dropped_item_reason  # noqa: E402  (report labels, reasons)
from studio.corpus.tabular import skip_reason  # noqa: E402  (a skipped row's reason as a message)
from studio.corpus.readers import SUPPORTED as CORPUS_FORMATS  # noqa: E402
from studio.messages import Keyed  # noqa: E402
from studio.write.drafter import MAX_TUNED_PANES, MODES as DRAFT_MODES  # noqa: E402


class DemoRefused(Keyed, ValueError):
    """What a demo visitor may not do, in the visitor's language (check_demo_sources)."""


def visible_runs(root: Path, demo: bool = False) -> list[dict]:
    """The runs a visitor sees: every run, or in demo mode the published ones only (of the owner's
    data root, when `root` is a visitor's folder)."""
    return [row for row in list_runs(visitors.owner_root(root)) if row["published"] or not demo]


def check_demo_sources(root: Path, sources: list[str]) -> None:
    """Demo mode drafts with published runs only, whatever a caller sends over HTTP."""
    from studio.adapters import parse_source

    root = visitors.owner_root(root)  # a visitor's folder: the owner's runs
    for source in map(parse_source, sources):
        if source.run_id and not is_published(root, source.run_id):
            raise DemoRefused("demo.not_published", run=source.run_id)


# a demo visitor drafts with published runs, and writes manuscripts of their own (visitor_root): nothing of the
# owner's is written, trained or deleted
DEMO_ALLOWS = frozenset({"draft", "manuscript"})


def demo_allows(demo: bool, action: str) -> bool:
    """Whether a visitor may `action` ('draft', 'judge', 'export', 'train', 'ingest', 'delete'...):
    everything outside demo mode; in demo mode, drafting and a visitor's own manuscripts only."""
    return not demo or action in DEMO_ALLOWS


def upload_limit_bytes(demo: bool, max_upload_mb: float) -> int:
    """The largest upload the server takes: none in demo mode."""
    return int(max_upload_mb * 2**20) if demo_allows(demo, "upload") else 0


def checkpoints(root: Path, run_id: str) -> list[dict]:
    """A run's final adapter and its checkpoints (source, step, val_loss, final), oldest first."""
    from studio.write.drafter import checkpoints_of

    return checkpoints_of(visitors.owner_root(root), run_id)


def run_of_source(source: str) -> str:
    """The run a pane's source names ('' for the base): a checkpoint counts as its run."""
    from studio.adapters import parse_source

    return parse_source(source or "").run_id or ""


def export_drafts(root: Path, record: dict, fmt: str) -> Path:
    from studio.write.export import write_export

    return write_export(root, record, fmt)


def start_duel(root: Path, draft_id: str) -> dict:
    from studio.write import feedback

    return feedback.start_duel(root, draft_id)


def judge_duel(root: Path, duel_id: str, pick: str) -> dict:
    from studio.write import feedback

    return feedback.judge(root, duel_id, pick)


def win_rates(root: Path) -> list[dict]:
    from studio.write import feedback

    return feedback.win_rates(root)


def export_preferences(root: Path) -> tuple[Path, int]:
    """The judged pairs as a DPO file; returns its path and the number of pairs."""
    from studio.write import feedback

    return feedback.export_dpo(root), len(feedback.dpo_pairs(root))


def copied_pieces(pane: dict) -> list[tuple[str, str | None]]:
    """A pane's first draft cut into copied and fresh pieces, for a highlighted view."""
    from studio.write.overlap import highlighted

    if "copied" not in pane:
        return []
    return highlighted(pane["drafts"][0], pane["copied_spans"][0])


def export_adapter_zip(root: Path, run_id: str) -> Path:
    from studio.train import export

    return export.adapter_zip(root, run_id)


def export_merged(root: Path, run_id: str) -> Path:
    from studio.train import export

    return export.merged_model(root, run_id)


def export_gguf(root: Path, run_id: str, quant: str) -> Path:
    """The GGUF file written for a run (its folder holds the Modelfile too)."""
    from studio.train import export

    return next(export.gguf_model(root, run_id, quant).glob("*.gguf"))


def hub_models() -> list[str]:
    """The registry's models fetched from the hub (the Models tab's download list)."""
    from studio.models import registry

    return [name for name, entry in registry().items() if entry.source == "hub"]


def download_plan(model: str):
    """What downloading `model` fetches: repo_id, files, total_bytes, cached_bytes."""
    from studio import download

    return download.plan(model)


def download_model(model: str, report=None) -> str:
    from studio import download

    return download.download(model, report)


def start_training_config(root: Path, cfg: TrainConfig, preset: str = "", nproc: int = 1,
                          nodes: jobs.Nodes | None = None) -> str:
    """Start a run of a config already built (the Train form: the preset's values, then the form's
    over them, through config.from_dict; the CLI: its flags); returns the run id at once."""
    if nproc < 1:
        raise Refused("service.nproc_min", nproc=nproc)
    if nodes and nodes.count > 1 and (nodes.rank != 0 or ":" not in nodes.rdzv):
        raise Refused("service.nodes", rank=nodes.rank, rdzv=nodes.rdzv)
    if cfg.objective == "dpo":
        raise Refused("service.dpo_elsewhere")
    if cfg.objective == "blend":
        raise Refused("service.blend_elsewhere")
    if cfg.init_adapter:  # keep training a finished run's adapter
        from studio.train.continual import continuing

        cfg = continuing(root, cfg)
    if nproc > 1:
        _check_gpus_for(nproc, cfg.device)
    _check_training_path(root, cfg)
    budget = _time_budget(root, cfg) if cfg.time_budget_min else None
    run_id = jobs.create_run(root, cfg, preset=preset, nproc=nproc)
    if budget:  # kept in the run: the worker and every resume take the count from here
        folder = runs.RunFolder.of(root, run_id)
        folder.write_status(replace(runs.read_status(folder.path), budget=to_record(budget)))
    jobs.start(root, run_id, nodes)
    return run_id


def _check_training_path(root: Path, cfg: TrainConfig) -> None:
    """A path this machine cannot run (4-bit without bitsandbytes, an unknown STUDIO_TRAIN_PATH) is
    refused before the run is made, with what the machine can run (train/calibrate.PathRefused)."""
    from studio.models import pick_device
    from studio.train.calibrate import training_path

    device = pick_device("auto") if cfg.device == "auto" else cfg.device
    training_path(root, cfg.model, device, cfg.quantization, cfg.compute_dtype, model_facts(root, cfg.model)[0])


def training_estimate_config(root: Path, cfg: TrainConfig, nproc: int = 1) -> dict:
    """Tokens, steps, time (training, evaluation, start-up) and memory of a run of this config
    before it starts (memory per GPU when `shard` splits it over `nproc` processes); with a time
    budget, the steps it buys on this machine."""
    from studio.estimate import memory_gb, plan
    from studio.models import pick_device
    from studio.train.calibrate import training_path

    manifest = read_manifest(root, cfg.corpus, cfg.corpus_version)
    device = pick_device("auto") if cfg.device == "auto" else cfg.device
    params_m, config = model_facts(root, cfg.model)
    path = training_path(root, cfg.model, device, cfg.quantization, cfg.compute_dtype, params_m)
    cfg = replace(cfg, quantization=path.quantization, compute_dtype=path.compute_dtype)
    speed, source, calibrating_s = _estimated_speed(root, cfg, device, path)
    tokens = manifest.get("tokens", {})
    train_tokens = tokens.get("train") or manifest["characters"] // 4
    val_tokens = tokens.get("val") or train_tokens // 9
    return {"device": device, "speed": speed, "speed_source": source, "params_m": params_m,
            "plan": plan(cfg, train_tokens, speed, val_tokens, manifest.get("mode", "text"), calibrating_s),
            "memory": memory_gb(cfg, params_m, config, device, nproc), "quantization": path.quantization,
            "compute_dtype": path.compute_dtype, "quantization_note": path.note}


def _estimated_speed(root: Path, cfg: TrainConfig, device: str, path) -> tuple[float | None, dict, float]:
    """(tokens/s, where the figure comes from, seconds the run spends measuring the machine first):
    finished runs here with these settings first, then the calibration's rate for the chosen path,
    then other runs or the reference figure."""
    from studio.train import calibrate

    speed, source = measured_speed(root, cfg.model, device, like=cfg)
    if source.get("key") == "speed.measured_settings" or not device.startswith("cpu"):
        return speed, source, 0.0
    data = calibrate.remembered(root, cfg.model)
    row = next((r for r in data["rows"] if r["path"] == path.path and r.get("tok_s")), None) if data else None
    if row:
        return row["tok_s"], message("speed.calibrated", when=data["when"]), 0.0
    return speed, source, calibrate.BUDGET_S / 2 if path.measures_first else 0.0


def _time_budget(root: Path, cfg: TrainConfig):
    """The steps cfg's time budget buys here, as the TimeBudget the run keeps; None when no speed
    of this model on this device is known (epochs decide), refused when there are no epochs either."""
    from studio.records import TimeBudget

    est = training_estimate_config(root, cfg)
    if not est["speed"]:  # nothing to turn minutes into steps: epochs decide, and this run measures the speed
        if not cfg.max_steps and cfg.epochs <= 0:
            raise Refused("service.budget_no_speed", model=cfg.model, device=est["device"])
        return None
    return TimeBudget(minutes=cfg.time_budget_min, steps=est["plan"]["budget"]["steps"], tokens_per_s=est["speed"],
                      speed_source=est["speed_source"], eval_s=est["plan"]["eval"]["total"],
                      startup_s=est["plan"]["startup_s"])


def start_sweep_config(root: Path, cfg: TrainConfig, preset: str, trials: int = 6, sampler: str = "tpe",
                       trial_steps: int = 0) -> str:
    """start_sweep for a config already built: the sweep keeps, as its overrides, the settings where
    the config differs from its preset (the sweep's own storage format)."""
    base = to_dict(load_preset(preset, corpus=cfg.corpus))
    overrides = [f"{k}={v}" for k, v in to_dict(cfg).items() if k != "corpus" and v != base.get(k)]
    return start_sweep(root, cfg.corpus, preset, trials, sampler, trial_steps, overrides)


def assets_dir() -> Path:
    """The project's assets: the sample corpus, the CSS."""
    from studio.paths import PROJECT_ROOT

    return PROJECT_ROOT / "assets"


def sample_files() -> list[Path]:
    """The sample corpus written for this project (a lighthouse keeper's log)."""
    return sorted((assets_dir() / "samples").glob("*.txt"))


def calibrate_drafting(root: Path, model: str) -> dict:
    """Time the drafting paths for `model` on this machine again and keep the choice (studio/write/calibrate.py)."""
    from studio.write import calibrate

    return calibrate.calibrate(root, model)


def calibrate_training(root: Path, model: str) -> dict:
    """Time the LoRA training paths for `model` on this machine's CPU again and keep the choice
    (studio/train/calibrate.py)."""
    from studio.train import calibrate

    return calibrate.calibrate(root, model, model_facts(root, model)[0])

# what a manuscript keeps beside its text: the story bible, phrases to avoid, the writer's setup
from studio.service.story import (add_bible_entry, draft_bible, edit_bible_entry, export_bible, import_bible,  # noqa
                                  keep_manuscript_setup, manuscript_banned, manuscript_bible, manuscript_setup,
                                  remove_bible_entry, replace_bible_entries, set_bible_settings,
                                  set_manuscript_banned, set_studio_banned, share_bible, suggest_banned)
