"""The drafter owns the loaded base model and the adapters attached to it.

The base is loaded once per (model, weights, device); adapters (a run's final adapter or any of
its saved checkpoints) are attached by name when first asked for and kept, least recently used
first out, so a click never reloads a model. Every draft's rows (a pane's candidates, the panes of
a comparison, the drafts of other visitors) join one running batch that a loop thread advances a
token at a time (studio/write/batching.py): rows of different adapters share a forward pass (PEFT
mixed-adapter batches, "__base__" for the plain base), a draft that arrives mid-way joins at the
next step instead of waiting for the others to end. Tokens stream to the caller row by row; a
stop flag ends a draft at the next step.

On the CPU the base is drafted in bf16 rather than the 4-bit weights it was trained on: bitsandbytes
de-quantizes every 4-bit matrix on every token there, and bf16 halves the bytes each token reads
compared with fp32 (bench/generate.py measures both). On a GPU the run's own quantization is kept,
leaving memory to training, and a draft that would not fit next to a training run is queued until
the memory it needs (KV cache, logits, weights not yet loaded) is free.
"""
from __future__ import annotations

import contextlib
import queue
import secrets
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Iterator

from studio import runs
from studio.adapters import (ADAPTER_WEIGHTS, BASE, COMPLETE_MARK, AdapterRefused, Source, adapter_folder,  # noqa: F401
                             parse_source)
from studio.write.calibrate import drafting_path, weights_of
from studio.config import GenConfig
from studio.jsonio import append_jsonl, read_jsonl
from studio.messages import Keyed, message
from studio.textclean import remove_debris
from studio.write.attention import use_decode_attention
from studio.write.banned import BanList
from studio.write.batching import MAX_ROWS, Request, Scheduler
from studio.write.prefix_cache import CacheKey, PrefixStore

MODES = ("continue", "instruct", "summarize")
EMPTY_PROMPT = {"continue": "draft.empty_continue", "instruct": "draft.empty_instruct", "summarize": "draft.empty_summarize"}
MAX_TUNED_PANES = 3
CACHED_ADAPTERS = 6  # adapters kept attached; the least recently used beyond this are unloaded
SUMMARIZE_TEMPLATE = "Summarize the following text.\n\n{prompt}"
GPU_POLL_S = 2.0  # how often a queued draft looks at the GPU's free memory again
GPU_WAIT_LIMIT_S = 900.0  # a queued draft gives up after this, with a message
GPU_HEADROOM_BYTES = 256 << 20  # CUDA context, allocator slack and the sampling buffers


class DraftRefused(Keyed, ValueError):
    """A draft that cannot start as asked (no panes, a mode that does not exist, an empty prompt)."""


class DraftFailed(Keyed, RuntimeError):
    """A draft that started but could not finish: the GPU has no room for it."""


def checkpoints_of(root: Path, run_id: str) -> list[dict]:
    """The drafts a run offers: its final adapter and each complete checkpoint, with the
    validation loss measured at that step when there was one (to scrub along the loss curve)."""
    run = runs.run_dir(root, run_id)
    val = {e["step"]: e["val_loss"] for e in runs.read_events(run) if e.get("kind") == "eval" and "val_loss" in e}
    found = []
    for folder in sorted((run / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1])):
        if (folder / COMPLETE_MARK).exists() and (folder / ADAPTER_WEIGHTS).exists():
            step = int(folder.name.split("-")[1])
            found.append({"source": f"{run_id}@{folder.name}", "step": step, "val_loss": val.get(step)})
    if runs.has_adapter(run):
        found.append({"source": run_id, "step": runs.read_status(run).step, "val_loss": None, "final": True})
    return found


class RowStreamer:
    """The tokens of a draft's rows as they come: `add` takes one step's token of every row (the
    batch loop), `put` is the transformers streamer interface (its first call is the prompt).
    Each step puts a ("tokens", None) tick on the queue the caller reads; the caller decodes when
    it looks (`texts`), so the loop that drafts for everyone spends no time decoding one draft and
    a slow reader decodes only the newest tokens.

    With a ban list (`banned`), a row that went back drops its tokens from there (`drop`), and a
    text shown while drafting holds back its tail while that may still become a banned phrase
    (`prompt_tail`: the end of the prompt, where a phrase may have begun); the final text is whole."""

    def __init__(self, tokenizer, rows: int, out: queue.Queue, banned: BanList | None = None):
        self.tokenizer, self.out, self.banned = tokenizer, out, banned
        self.tokens: list[list[int]] = [[] for _ in range(rows)]
        self.finished = [False] * rows
        self.prompt_tail = ""
        self._prompt_seen = False

    def put(self, value) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.add(value.reshape(-1).tolist())

    def add(self, tokens: list[int | None]) -> None:
        """One token per row; None for a row that left the batch (it ended)."""
        eos = self.tokenizer.eos_token_id
        for row, token in enumerate(tokens):
            if token is None or self.finished[row]:
                continue
            if token == eos:
                self.finished[row] = True
                continue
            self.tokens[row].append(token)
        self.out.put(("tokens", None))

    def drop(self, row: int, keep: int) -> None:
        """Forget row `row`'s tokens after the first `keep` (it went back: a banned phrase began there)."""
        del self.tokens[row][keep:]

    def texts(self, final: bool = False) -> list[str]:
        # what the writer sees: no escape codes or control characters, even from an adapter trained on them
        # (list(t): a copy, as the loop may append to it meanwhile)
        texts = [remove_debris(self.tokenizer.decode(list(t), skip_special_tokens=True)).text for t in self.tokens]
        if final:
            return texts
        # a character split over two byte-level tokens decodes as U+FFFD until its second half comes
        texts = [t.rstrip("\ufffd") for t in texts]
        if self.banned is not None:
            texts = [t[:len(t) - self.banned.held(self.prompt_tail, t)] for t in texts]
        return texts

    def end(self) -> None:
        pass


def drafting_bytes(model_config: dict, rows: int, tokens: int, weights: int = 0) -> int:
    """GPU memory a draft needs beyond what is loaded: the KV cache of every row (keys and values of
    every layer, 16-bit), the last position's logits in fp32, the weights still to load, headroom."""
    layers = model_config.get("num_hidden_layers", 32)
    heads = model_config.get("num_attention_heads", 32)
    kv_heads = model_config.get("num_key_value_heads") or heads
    head_dim = model_config.get("head_dim") or model_config.get("hidden_size", 4096) // heads
    kv_cache = 2 * layers * kv_heads * head_dim * 2 * rows * tokens
    logits = rows * model_config.get("vocab_size", 32000) * 4 * 2
    return int(1.2 * (kv_cache + logits) + weights + GPU_HEADROOM_BYTES)


def free_gpu_bytes(device: str) -> int:
    """Free memory on `device` as the driver sees it (other processes, a training run included),
    plus what this process's allocator holds in reserve and can hand out again."""
    import torch

    free, _ = torch.cuda.mem_get_info(device)
    return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)


def wait_for_gpu_memory(device: str, need: int, stop: threading.Event, free=free_gpu_bytes,
                        poll_s: float = GPU_POLL_S, limit_s: float = GPU_WAIT_LIMIT_S) -> Iterator[dict]:
    """Queue a draft until `need` bytes are free on `device`, yielding a message each time it looks.
    A training run sharing the GPU releases memory when it ends; Stop ends the wait. The messages
    are `message()` dicts (studio/messages.py), rendered in the reader's language."""
    waited = 0.0
    while (available := free(device)) < need:
        if stop.is_set():
            return
        if waited >= limit_s:
            raise DraftFailed("draft.gpu_gave_up", need=need / 2**30, free=available / 2**30, minutes=limit_s / 60)
        yield message("draft.gpu_queued", need=need / 2**30, free=available / 2**30)
        stop.wait(poll_s)
        waited += poll_s


def drafting_weights(device: str, trained_quantization: str, root: Path, model: str) -> tuple[str, str]:
    """(quantization, dtype) to draft with: on a GPU the run's own; on the CPU what the calibration
    measured fastest on this machine for this base (studio/write/calibrate.py; the first draft of a
    base on a machine waits for it, about 10 s for the embedded model)."""
    if device == "cpu":
        return weights_of(drafting_path(root, model)[0])
    return trained_quantization, "auto"


def check_prompt(mode: str, text: str) -> None:
    """Refuse a mode that does not exist or an empty prompt (before anything loads)."""
    if mode not in MODES:
        raise DraftRefused("draft.mode", mode=mode, modes=", ".join(MODES))
    if not text.strip():
        raise DraftRefused(EMPTY_PROMPT[mode])


class Drafter:
    def __init__(self, root: Path, max_rows: int = MAX_ROWS):
        self.root = root
        self.model = None  # the base, later wrapped as a PeftModel once an adapter is attached
        self.tokenizer = None
        self.device = "cpu"
        self.weights = ""
        self._key = None
        self._loaded: tuple[str, str, str] | None = None  # (model, trained quantization, device) of the base in memory
        self._adapters: OrderedDict[str, Path] = OrderedDict()
        self._lock = threading.Lock()  # the batch loop holds it for a step, `holding` for a measurement
        self._batch = Scheduler(self, self._lock, max_rows)  # its loop thread starts with the first draft
        self.prefixes = PrefixStore()  # what the model read of each manuscript's last context, per pane

    # -- models -------------------------------------------------------------------------
    def _base_key(self, model_name: str, quantization: str, device_preference: str) -> tuple[str, str, str, str]:
        """(model, quantization, dtype, device) of the base a draft needs: drafts of one key share a batch."""
        from studio.models import pick_device

        device = pick_device(device_preference)
        return (model_name, *drafting_weights(device, quantization, self.root, model_name), device)

    def _ensure_base(self, model_name: str, quantization: str, device_preference: str) -> None:
        from studio.models import load_base, load_tokenizer, resolve

        key = self._base_key(model_name, quantization, device_preference)
        model_name, quant, dtype, device = key
        self._loaded = (model_name, quantization, device_preference)
        if self._key == key:
            return
        self.model = None  # free the old base before loading the next
        self.prefixes.clear()  # keys and values of another model
        source = resolve(model_name, self.root)
        self.tokenizer = load_tokenizer(source)
        self.model = load_base(source, quant, device, dtype)
        self.model.config.use_cache = True
        if device == "cpu":  # one query against the cache: plain products beat the fused kernel there
            use_decode_attention(self.model)
        self.model.eval()
        self.device, self.weights = device, f"{quant if quant != 'none' else ''} {dtype}".strip()
        self._key, self._adapters = key, OrderedDict()

    def _wait_for_memory(self, model_name: str, quantization: str, device_preference: str, rows: int,
                         tokens: int, stop: threading.Event) -> Iterator[dict]:
        """On a GPU, queue until the draft fits next to whatever else holds memory (a training run)."""
        from studio.estimate import WEIGHT_BYTES
        from studio.models import model_facts, pick_device

        device = pick_device(device_preference)
        if not device.startswith("cuda"):
            return
        quant, dtype = drafting_weights(device, quantization, self.root, model_name)
        params_m, config = model_facts(self.root, model_name)
        loaded = self._key == (model_name, quant, dtype, device)
        weights = 0 if loaded or not params_m else int(params_m * 1e6 * WEIGHT_BYTES.get(quant, 2))
        yield from wait_for_gpu_memory(device, drafting_bytes(config or {}, rows, tokens, weights), stop)

    def _ensure_adapter(self, source: Source, keep: set[str]) -> None:
        from peft import PeftModel

        if source.key in self._adapters:
            self._adapters.move_to_end(source.key)
            return
        folder = adapter_folder(self.root, source)
        if not self._adapters:
            self.model = PeftModel.from_pretrained(self.model, str(folder), adapter_name=source.key, is_trainable=False)
        else:
            self.model.load_adapter(str(folder), adapter_name=source.key, is_trainable=False)
        self._adapters[source.key] = folder
        while len(self._adapters) > CACHED_ADAPTERS:
            oldest = next((k for k in self._adapters if k not in keep), None)
            if oldest is None:  # every cached adapter drafts a row now: keep more until rows end
                break
            self.model.delete_adapter(oldest)
            del self._adapters[oldest]
            self.prefixes.drop_adapter(oldest)  # read through weights no longer loaded
        self.model.eval()

    @contextlib.contextmanager
    def holding(self, source_text: str, model: str | None = None, tuned_only: bool = True):
        """The loaded model with `source_text`'s adapter active, the tokenizer and the device, held
        (no draft runs meanwhile) for a measurement such as the bias probe or token alternatives.
        With tuned_only=False the base is accepted too (`model`: which base; its adapters, if
        any are loaded, stay attached: switch them off with `without_adapters`)."""
        source = parse_source(source_text)
        if tuned_only and not source.run_id:
            raise AdapterRefused("draft.pick_tuned")
        model_name, quantization, device, _ = self._base_for([source], model)
        with self._lock:  # between two steps of the batch loop; a batch on another base drains first
            self._batch.wait_for_base(self._base_key(model_name, quantization, device))
            self._ensure_base(model_name, quantization, device)
            if source.run_id:
                self._ensure_adapter(source, self._batch.active_adapters() | {source.key})
                self.model.set_adapter(source.key)
            yield self.model, self.tokenizer, self.device

    def without_adapters(self):
        """A context in which the held model computes as its base (no adapter active)."""
        return self.model.disable_adapter() if self._adapters else contextlib.nullcontext()

    def _base_for(self, sources: list[Source], model: str | None) -> tuple[str, str, str, dict]:
        """The base model every pane shares, and the first tuned run's config (for templates)."""
        tuned = [s for s in sources if s.run_id]
        if not tuned:  # the base alone: the one named, else the one loaded now, else the default
            from studio.models import EMBEDDED_DEFAULT

            if not model and self._loaded:
                return (*self._loaded, {})
            return model or EMBEDDED_DEFAULT, "nf4", "auto", {}
        configs = [runs.read_config(runs.run_dir(self.root, s.run_id)) for s in tuned]
        models = {c.model for c in configs}
        if len(models) > 1:
            raise DraftRefused("draft.mixed_bases", models=", ".join(sorted(models)))
        first = configs[0]
        return first.model, first.quantization, first.device, {
            "chat_template": first.chat_template, "prompt_template": first.prompt_template}

    # -- prompts ------------------------------------------------------------------------
    def prompt_for(self, mode: str, text: str, templates: dict) -> str:
        from studio.formatting import prompt_text

        check_prompt(mode, text)
        if mode == "continue":
            return text
        template = templates.get("prompt_template", "{prompt}")
        if mode == "summarize" and "{prompt}" == template.strip():
            template = SUMMARIZE_TEMPLATE
        if mode == "instruct":
            template = "{prompt}"
        record = {"prompt": text, "response": ""}
        return prompt_text(record, self.tokenizer, templates.get("chat_template", "tokenizer"), template)

    # -- drafting -----------------------------------------------------------------------
    def _check_panes(self, panes: list[str]) -> list[Source]:
        """The panes as sources, refused before anything loads."""
        sources = [parse_source(p) for p in panes]
        if not sources:
            raise DraftRefused("draft.no_panes")
        if len({s.key for s in sources}) != len(sources):
            raise DraftRefused("draft.twice")
        if sum(1 for s in sources if s.run_id) > MAX_TUNED_PANES:
            raise DraftRefused("draft.too_many", n=MAX_TUNED_PANES)
        for s in sources:
            if s.run_id:
                adapter_folder(self.root, s)
        return sources

    def stream(self, panes: list[str], prompt: str, gen: GenConfig, mode: str = "continue",
               stop: threading.Event | None = None, model: str | None = None, save: bool = True,
               banned: list[str] | None = None, cache_key: CacheKey | None = None) -> Iterator[dict]:
        """Draft `prompt` in every pane, yielding the texts so far as they grow (and `waiting` items
        while queued); the rows join the batch every draft shares. The last item has `done` set,
        `notices` (message dicts: a draft the ban list left no way on) and, with `save`, is kept in
        drafts/drafts.jsonl. No draft contains a phrase of `banned` (studio/write/banned.py). With a
        `cache_key` (a desk's manuscript) each pane reads only what changed since that key's last
        prompt (studio/write/prefix_cache.py); the last item says how many tokens it reused."""
        sources = self._check_panes(panes)
        check_prompt(mode, prompt)
        ban_list = BanList.of(banned)
        stop = stop or threading.Event()
        model_name, quantization, device, templates = self._base_for(sources, model)
        rows = [s for s in sources for _ in range(gen.drafts)]
        for waiting in self._wait_for_memory(model_name, quantization, device, len(rows),
                                             len(prompt) + 512 + gen.max_new_tokens, stop):
            yield {"waiting": True, "message": waiting}
        if stop.is_set():
            yield {"waiting": True, "message": message("draft.stopped_queued")}
            return
        out: queue.Queue = queue.Queue()
        request = Request(adapters=[s.key if s.run_id else BASE for s in rows], gen=gen, stop=stop, out=out,
                          base=self._base_key(model_name, quantization, device), banned=ban_list, cache_key=cache_key,
                          # the tokenizer comes with the base, in `admit`
                          streamer=RowStreamer(None, len(rows), out, ban_list),
                          payload={"sources": sources, "mode": mode, "prompt": prompt, "templates": templates,
                                   "base": (model_name, quantization, device)})
        self._batch.submit(request)
        if not (yield from self._follow(request, rows)):
            return
        seconds = time.time() - request.started
        result = self._result(rows, request.streamer, seconds, request.first_token)
        result.update(mode=mode, prompt=prompt, prompt_text=request.payload["text"], settings=gen.__dict__,
                      stopped=stop.is_set(), queued_s=round(request.started - request.queued, 2),
                      notices=stuck_notices(rows, gen.drafts, request.stuck))
        if cache_key is not None:
            result["prompt_tokens"], result["reused_tokens"] = len(request.ids or []), dict(request.reused)
        if ban_list is not None:
            result["banned"] = ban_list.phrases
        if save:
            self._save(result)
        yield result

    def admit(self, request: Request, keep: set[str]) -> list[int]:
        """Load what `request` needs and return its prompt's token ids. The batch loop calls this
        with the lock held, when the request joins; adapters named in `keep` stay loaded."""
        payload = request.payload
        self._ensure_base(*payload["base"])
        for s in payload["sources"]:
            if s.run_id:
                self._ensure_adapter(s, keep)
        payload["text"] = text = self.prompt_for(payload["mode"], payload["prompt"], payload["templates"])
        request.streamer.tokenizer = self.tokenizer
        ids = self.tokenizer(text, add_special_tokens=payload["mode"] == "continue")["input_ids"]
        if request.banned is not None:  # a banned phrase may begin in the prompt and end in the draft
            request.streamer.prompt_tail = self.tokenizer.decode(ids[-request.banned.window:], skip_special_tokens=True)
        return ids

    def _follow(self, request: Request, rows: list[Source]) -> Iterator[dict]:
        """Yield the request's queue positions and growing texts until it is done; returns False
        when it was stopped before it started."""
        kind = ""
        try:
            while kind not in ("done", "stopped"):
                kind, value = request.out.get()
                while kind == "tokens" and not request.out.empty():  # a slow reader gets the newest texts only
                    kind, value = request.out.get()
                if kind == "waiting":
                    yield {"waiting": True, "message": message("draft.queued_at", position=value)}
                elif kind == "tokens":
                    yield self._snapshot(rows, request.streamer.texts(), False)
                elif kind == "stopped":
                    yield {"waiting": True, "message": message("draft.stopped_queued")}
                elif kind == "error":
                    if "out of memory" in str(value).lower():
                        raise DraftFailed("draft.gpu_oom") from value
                    raise value
        finally:
            if kind not in ("done", "stopped"):
                request.stop.set()  # the reader left early (an error, a closed page): its rows leave at the next step
        return kind == "done"

    def busy(self) -> dict:
        """Rows drafting now and drafts waiting to join them."""
        return self._batch.busy()

    def _result(self, rows: list[Source], streamer: RowStreamer, seconds: float, first_token: float | None) -> dict:
        result = self._snapshot(rows, streamer.texts(final=True), True)
        new_tokens = sum(len(t) for t in streamer.tokens)
        result.update(
            id=time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2), time=time.time(), seconds=round(seconds, 2),
            first_token_s=round(first_token or seconds, 3), tokens=new_tokens,
            tokens_per_s=round(new_tokens / seconds, 1) if seconds else 0.0, device=self.device, weights=self.weights)
        return result

    @staticmethod
    def _snapshot(rows: list[Source], texts: list[str], done: bool) -> dict:
        panes: OrderedDict[str, dict] = OrderedDict()
        for source, text in zip(rows, texts):
            pane = panes.setdefault(source.key, {"source": source.key, "label": source.label, "run_id": source.run_id,
                                                 "checkpoint": source.checkpoint, "drafts": []})
            pane["drafts"].append(text)
        return {"panes": list(panes.values()), "done": done}

    def _save(self, result: dict) -> None:
        folder = self.root / "drafts"
        folder.mkdir(parents=True, exist_ok=True)
        append_jsonl(folder / "drafts.jsonl", result)

    def draft(self, panes: list[str], prompt: str, gen: GenConfig, mode: str = "continue",
              stop: threading.Event | None = None, model: str | None = None, save: bool = True,
              banned: list[str] | None = None) -> dict:
        """The finished drafts (the stream consumed to its end)."""
        result = {}
        for result in self.stream(panes, prompt, gen, mode, stop, model, save, banned):
            pass
        return result

    def compare(self, run_id: str, prompt: str, gen: GenConfig, mode: str = "continue") -> dict:
        """Base and tuned drafts of one prompt from one batched generate call."""
        result = self.draft(["base", run_id], prompt, gen, mode)
        base, tuned = (p["drafts"][0] for p in result["panes"])
        return {**result, "run_id": run_id, "base": base, "tuned": tuned}


def stuck_notices(rows: list[Source], per_pane: int, stuck: list[tuple[int, str]]) -> list[dict]:
    """A notice for each draft that ended early because every way on led to a banned phrase."""
    return [message("banned.stuck", phrase=phrase, pane=rows[index].label, draft=index % per_pane + 1)
            for index, phrase in sorted(stuck)]


def read_drafts(root: Path, draft_id: str | None = None) -> list[dict]:
    found = read_jsonl(root / "drafts" / "drafts.jsonl")
    return [d for d in found if d["id"] == draft_id] if draft_id else found
