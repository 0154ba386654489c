"""The one shape of every setting: dataclasses that the UI, the CLI and the presets all produce.

Each field carries its help text in `metadata["help"]`; `__post_init__` checks values and raises
ConfigError naming the field, so a bad preset key, CLI flag or form value reads the same everywhere.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from studio.messages import Keyed, message


class ConfigError(Keyed, ValueError):
    """A setting with a bad value. `field` names the setting so the message can point at it; `key`
    and the values say what is wrong (studio/messages.py words it in English and Chinese)."""

    def __init__(self, field_name: str, key: str, **fields):
        super().__init__("config.setting", field=field_name, problem=message(key, **fields))
        self.field = field_name


def _f(default: Any, help: str, choices: tuple | None = None):
    return field(default=default, metadata={"help": help, "choices": choices})


QUANTIZATIONS = ("auto", "nf4", "fp4", "int8", "none")
COMPUTE_DTYPES = ("auto", "bf16", "fp16", "fp32")
CHAT_TEMPLATES = ("tokenizer", "chatml", "plain")
SCHEDULERS = ("cosine", "linear", "constant")
DEVICES = ("auto", "cpu", "cuda")
CORPUS_MODES = ("text", "pairs", "chat")
OBJECTIVES = ("sft", "dpo", "blend")
# PEFT's add_weighted_adapter methods that suit LoRA; the first five need equal ranks (PEFT's rule).
BLEND_METHODS = ("linear", "ties", "dare_linear", "dare_ties", "magnitude_prune", "cat", "svd", "ties_svd",
                 "dare_linear_svd", "dare_ties_svd", "magnitude_prune_svd")


@dataclass
class TrainConfig:
    model: str = _f("smollm2-135m-instruct", "Base model: a name from presets/models.yaml, a hub id, or a local folder.")
    objective: str = _f("sft", "sft = learn the corpus (next-token loss); dpo = learn from the writer's blind picks (preference pairs), starting from init_adapter; blend = combine the adapters of blend_of into one (no training).", OBJECTIVES)
    init_adapter: str = _f("", "The run (or run@step-N checkpoint) whose adapter training starts from. sft: keep training it on this corpus (continual learning; the adapter's rank and layers are the parent's); dpo: a frozen copy is the reference.")
    blend_of: str = _f("", "blend: the runs to combine and their weights, as 'run-a:0.5, run-b:0.5' (2 or 3 runs of the same base model).")
    blend_method: str = _f("linear", "blend: PEFT's combination method. linear, ties, dare_* and magnitude_prune need equal ranks; cat joins the ranks; *_svd re-factorises the weighted sum.", BLEND_METHODS)
    blend_density: float = _f(0.5, "blend (ties, dare_*, magnitude_prune): the share of each adapter's weights kept.")
    dpo_beta: float = _f(0.1, "dpo: how far the tuned model may move from the reference (higher = stay closer).")
    corpus: str = _f("", "Corpus name (data/corpora/<name>).")
    corpus_version: str = _f("", "Corpus version such as v2; empty means the newest.")
    # data
    seq_len: int = _f(256, "Tokens per training block (packed) or the cut-off per example (not packed).")
    packing: bool = _f(True, "Join documents into full blocks (no compute on padding; each document attends only to itself); off: one example per block, padded.")
    completion_only: bool = _f(True, "Pairs and chat: take the loss on the responses only (prompts masked). Text mode always trains on all tokens.")
    chat_template: str = _f("tokenizer", "How pairs and chat are laid out: the tokenizer's own chat template, chatml, or plain 'User:/Assistant:' text.", CHAT_TEMPLATES)
    prompt_template: str = _f("{prompt}", "Pairs mode: the user turn, with {prompt} standing for the prompt field (e.g. 'Summarize:\n\n{prompt}').")
    # adapter
    lora_r: int = _f(16, "LoRA rank: capacity of the adapter.")
    lora_alpha: int = _f(32, "LoRA alpha: scale of the adapter's update (alpha / rank).")
    lora_dropout: float = _f(0.05, "Dropout on the LoRA path.")
    target_modules: str = _f("all-linear", "Layers that get adapters: all-linear, or comma-separated module names.")
    use_rslora: bool = _f(False, "Rank-stabilised LoRA: scale by alpha / sqrt(rank), which keeps high ranks learning.")
    use_dora: bool = _f(False, "DoRA: learn each weight's magnitude apart from its direction (slower steps, sometimes better).")
    # base weights
    quantization: str = _f("auto", "Base weights: nf4 or fp4 = 4-bit QLoRA (bitsandbytes); int8 = 8-bit; none = 16/32-bit LoRA; auto = nf4 on a GPU; on the CPU the path measured fastest on this machine whose loss holds (python -m studio calibrate; before the first measurement none where the fp32 weights fit in a quarter of the memory, else nf4).", QUANTIZATIONS)
    double_quant: bool = _f(True, "4-bit: quantize the quantization constants too (saves ~0.4 bit per weight).")
    compute_dtype: str = _f("auto", "Dtype of the matmuls: auto = bf16 on GPUs that have it (else fp16); on the CPU bf16 where this machine measured it faster with the loss holding, else fp32.", COMPUTE_DTYPES)
    fused_loss: bool = _f(True, "Cross-entropy straight from the hidden states, a chunk of target tokens at a time: the full logits are never made (less memory, faster); off: the model's own loss.")
    gradient_checkpointing: bool = _f(False, "Recompute activations in the backward pass: much less memory, about 30% slower.")
    shard: bool = _f(False, "With several processes (--nproc N, or several machines): split the base, the adapter and its optimizer state over them (FSDP2) instead of a whole copy in each, for a model one GPU cannot hold; 4-bit weights are then stored in the compute dtype so they can be split. sft only.")
    # optimisation
    learning_rate: float = _f(2e-4, "Peak learning rate.")
    lr_scheduler: str = _f("cosine", "Learning-rate schedule after warmup.", SCHEDULERS)
    warmup_ratio: float = _f(0.1, "Share of steps spent warming the learning rate up from zero.")
    epochs: float = _f(1.0, "Passes over the training split (ignored when max_steps > 0; a time budget may stop the run sooner).")
    max_steps: int = _f(0, "Optimizer steps to run; 0 means derive from epochs.")
    time_budget_min: float = _f(0.0, "Minutes the run may take on this machine, evaluation included; 0 or empty = no budget. "
                                     "The studio turns them into optimizer steps from the training speed it measured here for "
                                     "this model and settings, and the schedule (warmup, decay to zero) spans those steps. The "
                                     "count is a ceiling: epochs or max_steps, when they give fewer steps, win (epochs 0: the "
                                     "budget alone). Unknown speed (no run of this model on this device yet): epochs decide.")
    batch_size: int = _f(4, "Blocks per micro-batch (halved automatically if the GPU runs out of memory).")
    grad_accum: int = _f(1, "Micro-batches per optimizer step.")
    weight_decay: float = _f(0.0, "AdamW weight decay on the adapter weights.")
    max_grad_norm: float = _f(1.0, "Gradient clipping norm; 0 turns clipping off.")
    seed: int = _f(42, "Seed for shuffling, LoRA initialisation and dropout.")
    # evaluation, early stopping, checkpoints
    eval_every: int = _f(0, "Validation loss every N steps; 0 means only before and after training.")
    early_stopping_patience: int = _f(0, "Stop after this many validations without improvement (needs eval_every); 0 = off. The best adapter is kept.")
    early_stopping_min_delta: float = _f(0.0, "An improvement smaller than this (in validation loss) does not count.")
    save_every: int = _f(0, "Save a resumable checkpoint every N steps; 0 = only when cancelled.")
    keep_last: int = _f(2, "Keep this many of the newest checkpoints; older ones are deleted.")
    eval_examples: int = _f(16, "Pairs mode: ROUGE and BLEU on up to this many held-out examples, base and tuned; 0 = off.")
    eval_max_new_tokens: int = _f(96, "Tokens generated per example for ROUGE and BLEU, and per opening for the style match.")
    style_openings: int = _f(24, "Text corpora: after training, base and tuned continue this many held-out openings (same seed) and each draft's style is scored against the writer's held-out text (Burrows' Delta); the verdict needs the interval over the openings to clear zero (24 gave one verdict for 5 of 5 seeds, 16 for 4 of 5); 0 = off.")
    bias_probe: bool = _f(True, "After training, score the counterfactual sentence pairs of assets/bias (English and Chinese) under base and tuned: the share of pairs where each prefers the stereotyped variant.")
    device: str = _f("auto", "auto picks CUDA when present, else the CPU.", DEVICES)

    def __post_init__(self):
        _check_choices(self)
        _positive(self, "seq_len", "lora_r", "lora_alpha", "batch_size", "grad_accum", "keep_last", "eval_max_new_tokens")
        _non_negative(self, "max_steps", "eval_every", "weight_decay", "max_grad_norm", "seed", "early_stopping_patience",
                      "early_stopping_min_delta", "save_every", "eval_examples", "style_openings", "time_budget_min")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError("lora_dropout", "config.from_0_below_1", value=self.lora_dropout)
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError("warmup_ratio", "config.from_0_below_1", value=self.warmup_ratio)
        if not 0 < self.learning_rate < 1:
            raise ConfigError("learning_rate", "config.learning_rate", value=self.learning_rate)
        if self.max_steps == 0 and not self.time_budget_min and self.epochs <= 0:
            raise ConfigError("epochs", "config.epochs")
        if not self.model.strip():
            raise ConfigError("model", "config.model")
        if self.early_stopping_patience and not self.eval_every:
            raise ConfigError("early_stopping_patience", "config.early_stopping")
        if self.objective == "dpo" and not self.init_adapter.strip():
            raise ConfigError("init_adapter", "config.init_adapter")
        if self.objective == "blend" and len(blend_parts(self.blend_of)) < 2:
            raise ConfigError("blend_of", "config.blend_of", value=self.blend_of)
        if not 0 < self.blend_density <= 1:
            raise ConfigError("blend_density", "config.above_0_to_1", value=self.blend_density)
        if self.dpo_beta <= 0:
            raise ConfigError("dpo_beta", "config.dpo_beta", value=self.dpo_beta)
        if self.shard and self.objective != "sft":
            raise ConfigError("shard", "config.shard_sft", objective=self.objective)
        if "{prompt}" not in self.prompt_template:
            raise ConfigError("prompt_template", "config.prompt_template")


@dataclass
class CorpusConfig:
    name: str = _f("", "Corpus name: letters, digits, '-', '_' and '.'.")
    mode: str = _f("text", "text: prose for style; pairs: prompt -> response (e.g. document -> summary); chat: a messages list.", CORPUS_MODES)
    text_field: str = _f("", "Column/field holding the text (text mode); empty: recognise text, content, body ...")
    prompt_field: str = _f("", "Field holding the prompt (pairs mode); empty: recognise prompt, instruction, document ...")
    response_field: str = _f("", "Field holding the response (pairs mode); empty: recognise response, output, summary ...")
    messages_field: str = _f("", "Field holding the messages list (chat mode); empty: recognise messages, conversations.")
    min_valid_share: float = _f(0.5, "Refuse the corpus when fewer than this share of rows have the fields their mode needs.")
    nfc: bool = _f(True, "Unicode NFC normalisation (one code point per accented letter).")
    join_lines: bool = _f(True, "Join hard-wrapped lines inside paragraphs (no spaces added between CJK characters).")
    strip_markup: bool = _f(True, "Strip HTML tags found inside text.")
    strip_page_furniture: bool = _f(True, "Drop running headers, footers and page numbers from PDFs.")
    mask_pii: bool = _f(False, "Replace e-mail addresses and phone numbers with [email] and [phone].")
    min_chars: int = _f(20, "Drop items shorter than this (after cleaning).")
    max_chars: int = _f(200_000, "Drop items longer than this (after long texts are cut into pieces).")
    chunk_chars: int = _f(8000, "Text mode: cut longer documents at paragraph breaks into pieces of about this size; 0 = never.")
    dedupe_exact: bool = _f(True, "Drop exact duplicates (same text up to case and white space).")
    near_dup_threshold: float = _f(0.85, "Drop near duplicates at or above this similarity (MinHash Jaccard); 0 = off.")
    val_share: float = _f(0.1, "Share of the corpus's tokens held out for validation (at most 0.2): whole documents when there are enough, else the end of each document.")
    seed: int = _f(0, "Seed of the train/validation split.")
    exact_tokens: bool = _f(False, "Count every text's tokens even in corpora over 16 MB (about 2x slower there); "
                                   "off: count a 16 MB sample and estimate the rest from characters.")

    def __post_init__(self):
        _check_choices(self)
        if not 0 < self.val_share <= 0.2:
            raise ConfigError("val_share", "config.val_share", value=self.val_share)
        if not 0 <= self.near_dup_threshold < 1:
            raise ConfigError("near_dup_threshold", "config.near_dup", value=self.near_dup_threshold)
        if not 0 <= self.min_valid_share <= 1:
            raise ConfigError("min_valid_share", "config.from_0_to_1", value=self.min_valid_share)
        if self.max_chars <= self.min_chars:
            raise ConfigError("max_chars", "config.max_chars", value=self.max_chars, min_chars=self.min_chars)
        _non_negative(self, "min_chars", "seed", "chunk_chars")


@dataclass
class GenConfig:
    max_new_tokens: int = _f(120, "Tokens to draft after the prompt.")
    temperature: float = _f(0.8, "Sampling temperature; 0 means greedy (deterministic).")
    top_p: float = _f(0.95, "Nucleus sampling: keep the smallest set of tokens with this much probability.")
    top_k: int = _f(50, "Keep only the k most likely tokens; 0 turns it off.")
    repetition_penalty: float = _f(1.1, "Above 1 discourages repeating earlier tokens.")
    seed: int = _f(0, "Sampling seed, the same for every draft in a comparison.")
    drafts: int = _f(1, "Drafts per pane, all from the same batch.")

    def __post_init__(self):
        if not 1 <= self.max_new_tokens <= 4096:
            raise ConfigError("max_new_tokens", "config.between", value=self.max_new_tokens, low=1, high=4096)
        if self.temperature < 0:
            raise ConfigError("temperature", "config.non_negative", value=self.temperature)
        if not 0 < self.top_p <= 1:
            raise ConfigError("top_p", "config.above_0_to_1", value=self.top_p)
        if self.repetition_penalty <= 0:
            raise ConfigError("repetition_penalty", "config.positive", value=self.repetition_penalty)
        _non_negative(self, "top_k", "seed")
        if not 1 <= self.drafts <= 4:
            raise ConfigError("drafts", "config.between", value=self.drafts, low=1, high=4)


@dataclass
class DemoLimits:
    """What one stranger on a `--demo` link may ask of the owner's machine (docs/sharing.md). The
    owner sets each with an app flag (--demo-max-tokens ...); the checks are in studio/write/demo_gate.py."""
    max_new_tokens: int = _f(128, "Most tokens one draft of a visitor may ask for.")
    rows: int = _f(4, "Most rows one draft of a visitor may ask for: panes x drafts per pane.")
    drafts_per_minute: int = _f(6, "Drafts (comparisons, continues, summaries, redrafts) one visitor may start in a minute.")
    prompt_chars: int = _f(4000, "Longest prompt of the comparison panel a visitor may send.")
    new_visitors_per_address: int = _f(12, "New visitor keys handed to one network address in an hour.")
    new_visitors_per_hour: int = _f(300, "New visitor keys handed out in an hour, all addresses together.")
    visitors: int = _f(500, "Visitors who have written something, kept at once (8 MB each at most).")
    closed_session_s: int = _f(600, "Seconds the server keeps a closed page's session (its widgets' state, about 0.5 MB).")
    idle_session_s: int = _f(7200, "Seconds the server keeps a session that made no call (a script's one-off call, a tab left open).")

    def __post_init__(self):
        _positive(self, *(f.name for f in dataclasses.fields(self)))
        if self.max_new_tokens > 4096:
            raise ConfigError("max_new_tokens", "config.between", value=self.max_new_tokens, low=1, high=4096)


def blend_parts(text: str) -> list[tuple[str, float]]:
    """'run-a:0.5, run-b:0.5' as [(run, weight)]; a run without a weight gets 1. Malformed parts
    raise ConfigError naming blend_of."""
    parts = []
    for item in filter(None, (p.strip() for p in (text or "").split(","))):
        name, _, weight = item.rpartition(":") if ":" in item else (item, "", "1")
        try:
            parts.append((name.strip(), float(weight)))
        except ValueError:
            raise ConfigError("blend_of", "config.blend_weight", value=item) from None
    return parts


def _check_choices(cfg) -> None:
    for f in dataclasses.fields(cfg):
        choices = f.metadata.get("choices")
        if choices and getattr(cfg, f.name) not in choices:
            raise ConfigError(f.name, "config.choice", value=getattr(cfg, f.name), choices=", ".join(choices))


def _positive(cfg, *names: str) -> None:
    for n in names:
        if getattr(cfg, n) <= 0:
            raise ConfigError(n, "config.positive", value=getattr(cfg, n))


def _non_negative(cfg, *names: str) -> None:
    for n in names:
        if getattr(cfg, n) < 0:
            raise ConfigError(n, "config.non_negative", value=getattr(cfg, n))


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(cls, data: dict, source: str = "settings"):
    """Build `cls` from a mapping; unknown keys and wrong types are errors naming `source`."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(unknown[0], "config.unknown", source=source, known=", ".join(names))
    values = {k: _coerce(names[k], v, source) for k, v in data.items()}
    return cls(**values)


def apply_overrides(cfg, pairs: list[str]):
    """Return a copy of `cfg` with `key=value` strings applied (the CLI's --set)."""
    changes = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(pair, "config.key_value")
        changes[key.strip()] = value.strip()
    merged = {**to_dict(cfg), **changes}
    return from_dict(type(cfg), merged, source="--set")


def _coerce(f: dataclasses.Field, value: Any, source: str) -> Any:
    kind = type(f.default)
    if f.name == "time_budget_min" and value in (None, ""):  # an empty budget is no budget
        return 0.0
    if value is None:
        raise ConfigError(f.name, "config.empty", source=source)
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("true", "1", "yes")
            return bool(value)
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if kind is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f.name, "config.type", value=value, source=source, kind=kind.__name__) from None
