"""The records a run leaves on disk, as types: its state, its status, its events and its evaluation.

One owner for each shape: the worker writes these and every reader (views, CLI, drafter) reads them
back through `from_dict`, so a field is named in one place. `from_dict` accepts what older run
folders hold: missing fields take their defaults and unknown ones are kept aside in `extra`, so
a run written by an earlier version still opens, and is written back with nothing lost.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")


class RunState(str, Enum):
    """Where a run is. `interrupted` is never written: it is read off a worker that is gone."""
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    def __str__(self) -> str:  # f-strings and message values show "running", not "RunState.RUNNING"
        return self.value

    @property
    def active(self) -> bool:
        return self in (RunState.QUEUED, RunState.RUNNING)

    @property
    def resumable(self) -> bool:
        return self in (RunState.INTERRUPTED, RunState.CANCELLED, RunState.FAILED)


def from_dict(cls: type[T], data: dict | None) -> T:
    """A record from its JSON form: known fields by name, the rest kept in `extra`."""
    data = dict(data or {})
    names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
    known = {k: data.pop(k) for k in list(data) if k in names}
    record = cls(**known)
    if "extra" in {f.name for f in dataclasses.fields(cls)}:
        record.extra.update(data)
    return record


def to_dict(record) -> dict:
    """The JSON form: fields by name (None left out), `extra` merged back in."""
    out = dict(getattr(record, "extra", {}) or {})
    for f in dataclasses.fields(record):
        if f.name == "extra":
            continue
        value = getattr(record, f.name)
        if value is None:
            continue
        out[f.name] = value.value if isinstance(value, Enum) else to_dict(value) if dataclasses.is_dataclass(value) else value
    return out


@dataclass
class RunStatus:
    """status.json: replaced atomically by whoever owns the run at the moment (jobs.py before the
    worker starts, the worker's reporter after), read by everyone."""
    state: RunState = RunState.QUEUED
    message: dict | str | None = None  # a message() dict rendered in the reader's language
    run_id: str = ""
    preset: str = ""
    nproc: int = 1
    created: float | None = None
    started: float | None = None
    finished: float | None = None
    heartbeat: float = 0.0
    pid: int | None = None
    pgid: int | None = None
    step: int = 0
    total_steps: int = 0
    eta_s: float | None = None
    tokens_seen: int = 0
    device: str = ""
    processes: int = 1
    quantization: str = ""
    quantization_note: Any = ""
    compute_dtype: str = ""
    reason: str | None = None  # why a run failed or was found interrupted
    advice: str | None = None  # what to do about it
    reason_message: dict | None = None  # the same two as message() dicts, shown in the reader's language
    advice_message: dict | None = None
    budget: dict | None = None  # a TimeBudget's JSON form: the steps a time budget bought at the start
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.state = RunState(self.state)


@dataclass
class TimeBudget:
    """A time budget turned into optimizer steps when the run was created (studio/estimate.py), kept
    in status.json: the worker takes its step count from here, so a resumed run keeps it even when
    the measured speed has changed since."""
    minutes: float
    steps: int  # what the budget buys; max_steps > 0 caps the run below it
    tokens_per_s: float  # the measured speed the count came from
    speed_source: Any = ""  # a message() dict: where that speed was measured
    eval_s: float = 0.0  # the evaluation's estimated seconds, taken out of the budget
    startup_s: float = 0.0
    extra: dict = field(default_factory=dict)


# Events: one line each in events.jsonl. `kind` tells the shape; readers take the kinds they draw.
@dataclass
class TrainStep:
    step: int
    loss: float
    lr: float | None = None
    grad_norm: float | None = None
    epoch: float | None = None
    tokens_per_s: float | None = None
    elapsed_s: float | None = None
    eta_s: float | None = None
    reward_accuracy: float | None = None  # DPO only
    reward_margin: float | None = None  # DPO only
    time: float | None = None
    extra: dict = field(default_factory=dict)
    kind = "train"


@dataclass
class LossEval:
    """Validation loss at a step (step 0: the base)."""
    step: int
    val_loss: float
    time: float | None = None
    extra: dict = field(default_factory=dict)
    kind = "eval"


@dataclass
class PreferenceEval:
    """A DPO run's preference accuracy on its pairs at a step; it has no validation loss."""
    step: int
    preference_accuracy: float
    margin: float | None = None
    time: float | None = None
    extra: dict = field(default_factory=dict)
    kind = "preference_eval"


@dataclass
class Marker:
    """A point in the run's life: checkpoint, resumed, early_stop, oom_retry, parent_eval."""
    kind: str
    step: int = 0
    time: float | None = None
    extra: dict = field(default_factory=dict)


Event = TrainStep | LossEval | PreferenceEval | Marker


def event_from_dict(data: dict) -> Event:
    """An events.jsonl line as its record. Older DPO runs wrote their preference evaluations as
    kind `eval` without a val_loss; they read as PreferenceEval."""
    kind = data.get("kind")
    fields = {k: v for k, v in data.items() if k != "kind"}
    if kind == "train" and "loss" in data:
        return from_dict(TrainStep, fields)
    if kind == "eval" and "val_loss" in data:
        return from_dict(LossEval, fields)
    if kind in ("eval", "preference_eval") and "preference_accuracy" in data:
        return from_dict(PreferenceEval, fields)
    return from_dict(Marker, {**fields, "kind": kind or "unknown"})


def event_to_dict(event: Event) -> dict:
    out = to_dict(event)
    out.pop("kind", None)
    return {"kind": event.kind, **out}


# eval.json: one shape per recipe, told apart by `objective`.
class StyleVerdict(str, Enum):
    """What the style match may say: only what the interval on the change supports."""
    CLOSER = "closer"  # the whole interval below zero: the tuned drafts are nearer the writer
    UNCLEAR = "unclear"  # the interval holds zero: no clear change
    FURTHER = "further"  # the whole interval above zero
    TOO_FEW = "too_few"  # too few openings for an interval to mean anything

    def __str__(self) -> str:
        return self.value


@dataclass
class StyleEvaluation:
    """The style match (studio/write/style.py): base and tuned continue held-out openings, each draft's
    Burrows' Delta from the writer's held-out text. Written into eval.json (after training) and
    style.json (on demand). Files written before the verdict have no difference, interval,
    confidence, resamples or verdict: those stay None."""
    openings: int = 0
    base_mean: float | None = None
    tuned_mean: float | None = None
    writer_mean: float | None = None  # the writer's own continuations, scored the same way
    difference: float | None = None  # tuned_mean - base_mean; below zero is closer
    interval: list | None = None  # [low, high] of the difference: paired bootstrap over openings
    confidence: float | None = None  # of the interval, e.g. 0.95
    resamples: int | None = None
    verdict: StyleVerdict | None = None
    tuned_closer: int = 0  # openings where the tuned draft was closer than the base (detail)
    tuned_copied: float | None = None  # share of the tuned drafts found in the training corpus
    base_copied: float | None = None
    measure: str = ""
    rows: list = field(default_factory=list)  # [{"opening", "base", "tuned", "base_distance", "tuned_distance"}]
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.verdict is not None:
            self.verdict = StyleVerdict(self.verdict)


def style_from(data: StyleEvaluation | dict | None) -> StyleEvaluation | None:
    """The style match as its record, from eval.json's or style.json's form (or as it is)."""
    return from_dict(StyleEvaluation, data) if isinstance(data, dict) else data


@dataclass
class SftEvaluation:
    """A LoRA run on a corpus: base and tuned on the held-out split, and what else was measured."""
    base: dict  # {"loss", "perplexity", "generation"?}
    tuned: dict
    split: str = "val"
    val_blocks: int = 0
    perplexity_change: float = 0.0
    train_seconds: float = 0.0
    tokens_seen: int = 0
    steps: int = 0
    passes: float | None = None  # blocks drawn over the training split's blocks (runs before the budget have none)
    train_blocks: int = 0
    eval_seconds: float | None = None  # the tuned evaluation's own time, measured
    stopped_early: Any = ""
    peak_memory_gb: float = 0.0
    quantization: str = ""
    style: StyleEvaluation | None = None
    bias: dict | None = None
    lineage: dict | None = None
    objective: str = "sft"
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.style = style_from(self.style)


@dataclass
class DpoEvaluation:
    """A preference run: how often the adapter prefers the chosen draft, before and after."""
    pairs: int
    before: dict  # {"accuracy", "mean_margin"}
    after: dict
    init_adapter: str = ""
    steps: int = 0
    train_seconds: float = 0.0
    bias: dict | None = None
    objective: str = "dpo"
    extra: dict = field(default_factory=dict)


@dataclass
class BlendEvaluation:
    """A blend of finished adapters: base, each source and the blend on each source's split."""
    method: str
    sources: list  # [{"run", "weight"}]
    splits: list  # [{"split", "base", "sources", "blend"}]
    density: float | None = None
    bias: dict | None = None
    objective: str = "blend"
    extra: dict = field(default_factory=dict)


Evaluation = SftEvaluation | DpoEvaluation | BlendEvaluation
_EVALUATIONS = {"sft": SftEvaluation, "dpo": DpoEvaluation, "blend": BlendEvaluation}


@dataclass
class RunView:
    """Everything a view of one run shows, read from its folder (survives reloads and restarts)."""
    run_id: str
    status: RunStatus
    config: Any  # studio.config.TrainConfig (records stay below config)
    events: list = field(default_factory=list)  # list[Event], in the order written
    evaluation: Any = None  # Evaluation | None

    def evaluation_json(self) -> dict:
        """eval.json's form of the evaluation ({} before there is one), for the CLI's JSON output."""
        return to_dict(self.evaluation) if self.evaluation else {}


def evaluation_from_dict(data: dict | None) -> Evaluation | None:
    """eval.json as its record; None when the run has none yet. Runs written before `objective`
    was stored for LoRA runs have none: they are sft."""
    if not data:
        return None
    return from_dict(_EVALUATIONS.get(data.get("objective") or "sft", SftEvaluation), data)
