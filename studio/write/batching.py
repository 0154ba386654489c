"""Continuous batching: the drafts of every visitor share one running batch.

One loop thread, owned by the Drafter, runs steps. A step first admits the requests waiting (their
prefill, together in one left-padded forward pass, up to PREFILL_TOKENS of padded prompt: each
prompt once per distinct adapter of its rows, the KV cache then repeated to its rows, so the
candidates of a pane share one prefill) and then advances every active row by one token in one
forward pass. A request that arrives mid-draft joins at the next step instead of waiting for the
others to end: no draft waits more than one prefill between two of its tokens. Prompts arriving
together are read together: in the served demo a 44-token prompt alone took 200-400 ms, mostly
the fixed cost of a forward pass shared with the web server's threads on two cores.

Rows of different requests have different prompt lengths, adapters and sampling settings. The
batch is left-padded: every row's keys and values end at the last column of the cache, a 2D mask
has 0 on the padding, and each row's position is its own count of real tokens, so a row computes
what it would alone. When a request joins, the shorter side is padded on the left to the longer;
when rows leave, the rest are selected and the leading columns that are padding in every row
dropped. Each request samples with its own generator seeded with its seed: its drafts do not
depend on what else is in the batch.

A request with a ban list (studio/write/banned.py) never emits a banned phrase: when a row's token
completes one, the row goes back to the token where it began and bans that token there. Going back
in a left-padded cache: the row's columns from the last kept token on are masked out (its position,
the count of its real columns, goes back with them) and the last kept token is fed again at the
next step, so its column is computed once more, exactly; the other rows see nothing of it.

A desk's continue (a request with a `cache_key`) is read apart from the others, one CHUNK-token
piece at a fixed position a step, pane (adapter) after pane, reusing what the model read of the
manuscript's last context for that pane (studio/write/prefix_cache.py); its rows join the batch
together once every pane is read. The rows already drafting (other visitors' too) advance a token
between two pieces instead of waiting while a whole window is read.

The loop takes the Drafter's lock for each step; `Drafter.holding` takes the same lock, so a
measurement has the model alone between two steps. Loading a model happens only inside a step, in
`owner.admit`, and a request for another base waits until the batch has drained.
"""
from __future__ import annotations

import atexit
import contextlib
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from studio.adapters import BASE
from studio.textclean import remove_debris
from studio.write.banned import MAX_BANS_AT, MAX_REWINDS

MAX_ROWS = 32  # rows in one forward pass; a request that would pass it waits for rows to end
PREFILL_TOKENS = 2048  # padded prompt tokens prefilled in one step (the first waiting request always goes)
IDLE_EXIT_S = 30.0  # a loop with nothing to draft for this long ends (the next draft starts another)
_loops: weakref.WeakSet = weakref.WeakSet()  # schedulers whose loop may be running, closed at exit


@dataclass(eq=False)
class Request:
    """One draft: `adapters` names each row's adapter (BASE for the plain base), `base` the base
    model it needs (any hashable key), `streamer` takes each step's tokens (RowStreamer), `out`
    the events the caller reads: ("waiting", position), ("tokens", None), ("done", None),
    ("stopped", None) when stopped before it started, ("error", exception)."""
    adapters: list[str]
    base: Any
    gen: Any  # GenConfig
    stop: threading.Event
    streamer: Any
    out: Any  # queue.Queue
    payload: Any = None  # what the owner needs to build the prompt (mode, text, templates)
    queued: float = field(default_factory=time.time)
    started: float | None = None  # when its prefill began
    first_token: float | None = None  # seconds from `started` to its first token
    position: int = 0  # last queue position told to the caller
    ids: list[int] | None = None  # its prompt's token ids, once admitted
    sampling: Any = None  # its seeded torch.Generator (None when greedy), set when it joins
    banned: Any = None  # its BanList (studio/write/banned.py), None when it bans nothing
    stuck: list = field(default_factory=list)  # (row index, phrase) of rows the ban list left no way on
    cache_key: Any = None  # a desk continue's CacheKey (studio/write/prefix_cache.py): read with the cache
    unread: list = field(default_factory=list)  # adapters (panes) of a keyed request still to read, in order
    reused: dict = field(default_factory=dict)  # adapter -> prompt tokens taken from the cache (a keyed request)
    partial: Any = None  # (DynamicCache, tokens read) of the pane being read, between two steps
    read: dict = field(default_factory=dict)  # adapter -> (layers, last logits) of the panes read so far


@dataclass(eq=False)
class Row:
    request: Request
    index: int  # which row of its request
    adapter: str
    ids: list[int]  # the prompt and the tokens drafted so far; the last is not in the cache yet
    drafted: int = 0
    ended: bool = False
    seen: Any = None  # (vocabulary,) bool: the tokens in `ids`, for the repetition penalty
    bans: dict = field(default_factory=dict)  # drafted position -> token ids banned there (a phrase began with them)
    rewinds: int = 0  # times a banned phrase sent it back
    forget: int | None = None  # after going back: the real cache columns to keep (the rest get masked out)

    def seen_tokens(self, vocabulary: int, device):
        import torch

        if self.seen is None:
            self.seen = torch.zeros(vocabulary, dtype=torch.bool, device=device)
            self.seen[torch.tensor(self.ids, dtype=torch.long, device=device)] = True
        return self.seen

    def rewind(self, to: int) -> None:
        """Go back to `to` drafted tokens and ban, at that position, the token that was drafted there.
        Bans further on were made after a prefix that is gone, and go with it."""
        first = len(self.ids) - self.drafted + to  # the index in ids of the token to ban
        token = self.ids[first]
        del self.ids[first:]
        self.drafted, self.seen, self.rewinds = to, None, self.rewinds + 1  # `seen`: rebuilt from ids when needed
        self.bans = {p: ids for p, ids in self.bans.items() if p <= to}
        self.bans.setdefault(to, set()).add(token)
        self.forget = len(self.ids) - 1  # the last kept token is fed again, its column computed once more

    def no_way_on(self) -> bool:
        """Whether the ban list leaves this row no way on (too many returns, or to one position)."""
        return self.rewinds > MAX_REWINDS or len(self.bans.get(self.drafted, ())) > MAX_BANS_AT


def sampler(gen, device):
    """The seeded generator of `gen` (None when greedy): the same request draws the same tokens
    whatever shares its batch."""
    import torch

    return None if gen.temperature == 0 else torch.Generator(device=device).manual_seed(gen.seed)


def choose_tokens(logits, rows: list[Row]) -> list[int]:
    """Every row's next token from its last logits (fp32, one row each), with its request's
    settings, in one pass over the batch: the repetition penalty on the tokens the row has seen,
    then greedy, or temperature, top-k and top-p (generate's order and rules) and a draw with the
    request's own generator. Top-p looks only at the top-k tokens, so a step sorts k scores a row,
    not the whole vocabulary (at 20 rows the per-request processors over 49,152 scores were a
    fifth of the draft loop's time)."""
    import torch

    gens = [r.request.gen for r in rows]
    penalty = torch.tensor([g.repetition_penalty for g in gens], device=logits.device).unsqueeze(1)
    if (penalty != 1.0).any():
        seen = torch.stack([r.seen_tokens(logits.shape[1], logits.device) for r in rows]) & (penalty != 1.0)
        logits = torch.where(seen, torch.where(logits < 0, logits * penalty, logits / penalty), logits)
    chosen = logits.argmax(dim=-1)
    drawn = [i for i, g in enumerate(gens) if g.temperature > 0]
    if drawn:
        where = torch.tensor(drawn, device=logits.device)
        probs, ids = top_probabilities(logits[where], [gens[i] for i in drawn])
        for request in dict.fromkeys(rows[i].request for i in drawn):
            mine = [j for j, i in enumerate(drawn) if rows[i].request is request]
            k = min(request.gen.top_k or probs.shape[1], probs.shape[1])  # its own width: a draw's random
            picks = torch.multinomial(probs[mine, :k], 1, generator=request.sampling).squeeze(1)  # numbers depend on it
            chosen[where[mine]] = ids[mine].gather(1, picks.unsqueeze(1)).squeeze(1)
    return chosen.tolist()


def without_bans(logits, rows: list[Row]):
    """`logits` with every token a row has banned at its next position set to -inf (a new tensor:
    the model's logits are inference tensors)."""
    import torch

    where = [(i, token) for i, row in enumerate(rows) if row.bans for token in row.bans.get(row.drafted, ())]
    if not where:
        return logits
    index = torch.tensor(where, device=logits.device).T
    return logits.index_put((index[0], index[1]), torch.tensor(float("-inf"), device=logits.device))


def top_probabilities(logits, gens: list) -> tuple[Any, Any]:
    """(probabilities, token ids), most likely first, of the tokens each row may draw after
    temperature, top-k and top-p (each row with its own GenConfig); zero past its cut."""
    import torch

    device = logits.device
    temperature = torch.tensor([g.temperature for g in gens], device=device).unsqueeze(1)
    k = [min(g.top_k or logits.shape[1], logits.shape[1]) for g in gens]
    scores, ids = (logits / temperature).topk(max(k), dim=-1)
    beyond_k = torch.arange(max(k), device=device) >= torch.tensor(k, device=device).unsqueeze(1)
    scores = scores.masked_fill(beyond_k, float("-inf"))
    top_p = torch.tensor([g.top_p for g in gens], device=device).unsqueeze(1)
    probs = scores.softmax(dim=-1)
    before = probs.cumsum(dim=-1) - probs  # the probability of the tokens more likely than each
    scores = scores.masked_fill((before >= top_p) & (top_p < 1.0), float("-inf"))  # the first always stays
    return scores.softmax(dim=-1), ids


def left_pad(tensor, width: int, dim: int):
    """`tensor` with zero columns in front along `dim` up to `width`."""
    import torch.nn.functional as F

    missing = width - tensor.shape[dim]
    if not missing:
        return tensor
    return F.pad(tensor, (0, 0) * (tensor.dim() - 1 - dim % tensor.dim()) + (missing, 0))


class Scheduler:
    """The model loop. `owner` (the Drafter) has `model`, `tokenizer`, `device`, and
    `admit(request, keep) -> prompt token ids`, which loads what the request needs without
    unloading an adapter named in `keep`."""

    def __init__(self, owner, lock: threading.Lock, max_rows: int = MAX_ROWS):
        self.owner, self.lock, self.max_rows = owner, lock, max_rows
        self.waiting: deque[Request] = deque()
        self.changed = threading.Condition()  # guards `waiting`; notified when it grows or the batch drains
        self.rows: list[Row] = []
        self.base = None  # the base key of the rows in the batch
        self.cache = None  # a DynamicCache whose layers hold every row's keys and values, left-padded
        self.mask = None  # (rows, columns): 1 on real tokens
        self._thread: threading.Thread | None = None
        self._closing = False
        self._joining: list[Request] = []  # the requests admitted for this step's prefill
        self._reading: list[Request] = []  # keyed requests whose panes are read one a step (_read_pane)

    # -- the caller's side ----------------------------------------------------------------
    def submit(self, request: Request) -> None:
        with self.changed:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="draft-loop", daemon=True)
                self._thread.start()
                _loops.add(self)
            self.waiting.append(request)
            self.changed.notify_all()

    def busy(self) -> dict:
        with self.changed:
            return {"rows": len(self.rows), "waiting": len(self.waiting) + len(self._reading)}

    def active_adapters(self) -> set[str]:
        return {a for r in list(self.rows) for a in r.request.adapters}

    def wait_for_base(self, base) -> None:
        """Block until the batch is empty or drafting on `base` (call with `lock` held: it is
        released while waiting)."""
        while (self.rows or self._reading) and self.base != base:
            self.lock.release()
            with self.changed:
                self.changed.wait(0.05)
            self.lock.acquire()

    def close(self) -> None:
        """End the loop after its current step. At exit: a daemon thread stopped by the interpreter
        inside a torch call aborts the process ("terminate called without an active exception")."""
        with self.changed:
            self._closing, thread = True, self._thread
            self.changed.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)

    # -- the loop -------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self.changed:
                if not self.waiting and not self.rows and not self._reading:
                    self.changed.wait(IDLE_EXIT_S)
                if self._closing or not (self.waiting or self.rows or self._reading):  # idle: end, so an unused drafter can go
                    self._thread = None
                    return
            try:
                with self.lock:
                    self._step()
            except BaseException as exc:  # noqa: BLE001 - a failed step fails its requests, not the loop
                self._fail({r.request for r in self.rows} | set(self._reading), exc)
                self.rows, self.cache, self.mask, self._reading = [], None, None, []
            self._tell_positions()

    def _step(self) -> None:
        joining = self._admit_waiting()
        if joining:
            try:
                self._prefill(joining)
            except BaseException as exc:  # noqa: BLE001 - the joining requests fail; the batch goes on
                self._fail(set(joining), exc)
        if self._reading:
            request = self._reading[0]
            try:
                self._read_pane(request)
            except BaseException as exc:  # noqa: BLE001 - this request fails (none of its rows joined yet)
                if request in self._reading:
                    self._reading.remove(request)
                request.unread, request.partial = [], None
                self._fail({request}, exc)
        self._drop_ended()
        if self.rows:
            self._decode()
            self._drop_ended()

    def _next(self) -> Request | None:
        """The first waiting request if it can join now (FIFO: one that waits holds the others back)."""
        with self.changed:
            for request in [r for r in self.waiting if r.stop.is_set()]:
                self.waiting.remove(request)
                request.out.put(("stopped", None))
            if not self.waiting:
                return None
            head = self.waiting[0]
            rows = len(self.rows) + sum(len(r.adapters) for r in self._joining) + sum(
                len(r.adapters) for r in self._reading)
            busy = self.rows or self._reading
            base = self.base if busy else self._joining[0].base if self._joining else head.base
            if head.base != base or rows + len(head.adapters) > self.max_rows:
                return None
            return self.waiting.popleft()

    def _tell_positions(self) -> None:
        with self.changed:
            for position, request in enumerate(self.waiting, 1):
                if request.position != position:
                    request.position = position
                    request.out.put(("waiting", position))

    def _admit_waiting(self) -> list[Request]:
        """The waiting requests that join at this step, in order, each loaded and tokenized
        (`owner.admit`; one that fails there fails alone): as many as fit in the rows and in
        PREFILL_TOKENS of padded prompt, and always the first."""
        self._joining: list[Request] = []
        while (request := self._next()) is not None:
            try:
                if request.ids is None:
                    keep = self.active_adapters() | {a for r in self._joining + [request] for a in r.adapters}
                    request.ids = self.owner.admit(request, keep)
            except BaseException as exc:  # noqa: BLE001 - this request fails; the others go on
                self._fail({request}, exc)
                continue
            if request.cache_key is not None:  # read apart, a pane a step (_read_pane)
                request.unread = list(dict.fromkeys(request.adapters))
                request.sampling = sampler(request.gen, self.owner.device)
                self.base = request.base if not (self.rows or self._reading) else self.base
                self._reading.append(request)
                continue
            joining = self._joining + [request]
            width = max(len(r.ids) for r in joining) * sum(len(set(r.adapters)) for r in joining)
            if self._joining and width > PREFILL_TOKENS:
                with self.changed:
                    self.waiting.appendleft(request)  # first at the next step, already tokenized
                break
            self._joining = joining
        return self._joining

    def _prefill(self, requests: list[Request]) -> None:
        """The prompts of `requests` in one forward pass, left-padded to the longest: each prompt
        once per distinct adapter of its request, the cache then repeated to its rows."""
        import torch
        from transformers import DynamicCache

        device, started = self.owner.device, time.time()
        prompts, adapters, to_rows, rows = [], [], [], []
        for request in requests:
            request.started = started
            names = list(dict.fromkeys(request.adapters))
            to_rows += [len(prompts) + names.index(a) for a in request.adapters]
            prompts += [request.ids] * len(names)
            adapters += names
            rows += [Row(request, i, a, list(request.ids)) for i, a in enumerate(request.adapters)]
            request.sampling = sampler(request.gen, device)
        width = max(len(p) for p in prompts)
        prompt = torch.tensor([[0] * (width - len(p)) + p for p in prompts], device=device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        cache = DynamicCache()
        logits = self._forward(adapters, prompt, mask, positions, cache)
        index = torch.tensor(to_rows, device=device)
        for layer in cache.layers:
            layer.keys, layer.values = layer.keys[index], layer.values[index]
        self._choose(rows, logits[index])
        for request in requests:
            request.first_token = time.time() - request.started
        mask = mask[index]
        self._forget(rows, mask)
        self._join(rows, cache, mask)

    def _join(self, rows: list[Row], cache, mask) -> None:
        """Add rows to the batch: both sides left-padded to the longer one."""
        import torch

        if not self.rows:
            self.rows, self.cache, self.mask, self.base = rows, cache, mask, rows[0].request.base
            return
        width = max(self.mask.shape[1], mask.shape[1])

        def joined(mine, theirs):
            return torch.cat([left_pad(mine, width, 2), left_pad(theirs, width, 2)])

        layers = [(joined(m.keys, t.keys), joined(m.values, t.values)) for m, t in zip(self.cache.layers, cache.layers)]
        for layer, (keys, values) in zip(self.cache.layers, layers):  # set once all are built: an error (out of
            layer.keys, layer.values = keys, values                   # memory) leaves the batch as it was
        self.mask = torch.cat([left_pad(self.mask, width, 1), left_pad(mask, width, 1)])
        self.rows = self.rows + rows

    def _decode(self) -> None:
        import torch

        step = torch.tensor([[r.ids[-1]] for r in self.rows], device=self.mask.device)
        positions = self.mask.sum(dim=1, keepdim=True)  # each row's count of real tokens
        # (no cache_position: transformers 5 takes the query's column from the cache's length)
        self.mask = torch.cat([self.mask, torch.ones_like(step)], dim=1)
        logits = self._forward([r.adapter for r in self.rows], step, self.mask, positions, self.cache)
        self._choose(self.rows, logits)
        self._forget(self.rows, self.mask)

    def _forward(self, adapters: list[str], input_ids, mask, positions, cache):
        """The last position's logits (fp32) of every row, each through its own adapter."""
        import torch

        model, route, context = self.owner.model, {}, contextlib.nullcontext()
        if hasattr(model, "peft_config"):  # adapters are attached
            if len(set(adapters)) > 1:
                route["adapter_names"] = adapters  # a mixed batch: PEFT routes each row to its adapter
            elif adapters[0] == BASE:
                context = model.disable_adapter()
            elif model.active_adapter != adapters[0]:
                model.set_adapter(adapters[0])  # one adapter for every row: no per-row routing cost
        with torch.inference_mode(), context:
            # the last position by index, not logits_to_keep=1: a slice is not contiguous, and the LM head
            # then copies its weight once per row (with PEFT a 44-token prefill took 150 ms, not 95)
            last = torch.tensor([input_ids.shape[1] - 1], device=input_ids.device)
            out = model(input_ids=input_ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                        use_cache=True, logits_to_keep=last, **route)
        return out.logits[:, -1, :].float()

    def _choose(self, rows: list[Row], logits) -> None:
        """Pick each row's next token with its request's sampling, and hand them to the streamers.
        A token that completes a banned phrase sends its row back first: the streamer never gets it."""
        eos = self._eos_ids()
        chosen: dict[Request, list[int | None]] = {}
        for row, token in zip(rows, choose_tokens(without_bans(logits, rows), rows)):
            row.ids.append(token)
            if row.seen is not None:
                row.seen[token] = True
            row.drafted += 1
            row.ended = token in eos or row.drafted >= row.request.gen.max_new_tokens
            tokens = chosen.setdefault(row.request, [None] * len(row.request.adapters))
            if row.request.banned is not None and self._went_back(row):
                continue  # None for this row: nothing new to show
            tokens[row.index] = token
        for request, tokens in chosen.items():
            request.streamer.add(tokens)

    def _went_back(self, row: Row) -> bool:
        """If the row's text now holds a banned phrase, send the row back to where the phrase began
        (and tell its streamer to drop what follows); a row with no way on ends there."""
        found = row.request.banned.find(self._decode_ids, row.ids, row.drafted)
        if found is None:
            return False
        to, phrase = found
        row.rewind(to)
        row.request.streamer.drop(row.index, to)
        row.ended = row.no_way_on()
        if row.ended:
            row.request.stuck.append((row.index, phrase))
        return True

    def _decode_ids(self, ids: list[int]) -> str:
        """Token ids as the writer would see them (no escape codes or control characters)."""
        return remove_debris(self.owner.tokenizer.decode(ids, skip_special_tokens=True)).text

    @staticmethod
    def _forget(rows: list[Row], mask) -> None:
        """Mask out, in each row that went back, its cache columns beyond the real ones it keeps (`mask`
        has one line per row in `rows`). Its position, the count of its real columns, goes back too."""
        for i, row in enumerate(rows):
            if row.forget is not None:
                mask[i] *= mask[i].cumsum(0) <= row.forget
                row.forget = None

    def _eos_ids(self) -> set[int]:
        ids = {self.owner.tokenizer.eos_token_id}
        configured = getattr(getattr(self.owner.model, "generation_config", None), "eos_token_id", None)
        ids.update(configured if isinstance(configured, list) else [configured])
        return ids - {None}

    def _drop_ended(self) -> None:
        """Rows that ended (eos, max_new_tokens, their request stopped) leave the batch; a request
        whose rows have all left is done."""
        import torch

        stopped = {r.request for r in self.rows if r.request.stop.is_set()}
        keep = [i for i, r in enumerate(self.rows) if not r.ended and r.request not in stopped]
        if len(keep) == len(self.rows):
            return
        staying = {self.rows[i].request for i in keep}
        for request in dict.fromkeys(r.request for r in self.rows):
            if request not in staying:
                request.out.put(("done", None))
        if not keep:
            self.rows, self.cache, self.mask = [], None, None
            with self.changed:
                self.changed.notify_all()  # a request for another base (or `holding` one) may go now
            return
        index = torch.tensor(keep, device=self.mask.device)
        mask = self.mask[index]
        first = int(mask.any(dim=0).nonzero()[0])  # columns before it are padding in every row left
        self.mask = mask[:, first:]
        for layer in self.cache.layers:
            layer.keys, layer.values = layer.keys[index, :, first:], layer.values[index, :, first:]
        self.rows = [self.rows[i] for i in keep]

    def _read_pane(self, request: Request) -> None:
        """One step of reading a keyed request's prompt: one CHUNK-token piece for its next pane
        (adapter), from where that pane's cached read of the manuscript's last context stops
        agreeing with it. A pane read to its end keeps its read for next time and its rows join the
        batch with their first tokens. One piece a step: rows drafting meanwhile (another pane, other
        visitors) advance a token between two pieces instead of waiting for a whole window to be
        read. A request stopped meanwhile reads no more."""
        import torch
        from transformers import DynamicCache

        from studio.write.prefix_cache import CHUNK, Prefix, reusable

        if request.stop.is_set():  # (its rows join only once every pane is read: none is in the batch)
            self._reading.remove(request)
            request.unread, request.partial = [], None
            request.out.put(("done", None))
            return
        adapter = request.unread[0]
        store, ids, device = self.owner.prefixes, request.ids, self.owner.device
        if request.started is None:
            request.started = time.time()
        if request.partial is None:  # this pane's first step: what the cache holds of it
            stored = store.get(request.cache_key, adapter)
            if stored is not None and stored.ids == ids:  # the same prompt again (Retry): nothing to read
                request.reused[adapter] = len(ids)
                self._pane_read(request, adapter, stored.layers, stored.logits)
                return
            at = reusable(stored.ids, ids) if stored is not None else 0
            cache = DynamicCache()
            for i, (keys, values) in enumerate(stored.layers if at else []):
                cache.update(keys[:, :, :at], values[:, :, :at], i)
            request.reused[adapter], request.partial = at, (cache, at)
        cache, at = request.partial
        end = min(at + CHUNK, len(ids))
        piece = torch.tensor([ids[at:end]], device=device)
        logits = self._forward([adapter], piece, torch.ones(1, end, dtype=torch.long, device=device),
                               torch.arange(at, end, device=device).unsqueeze(0), cache)[0]
        if end < len(ids):
            request.partial = (cache, end)
            return
        request.partial = None
        layers = [(layer.keys, layer.values) for layer in cache.layers]
        store.put(request.cache_key, adapter, Prefix(list(ids), layers, logits))
        self._pane_read(request, adapter, layers, logits)

    def _pane_read(self, request: Request, adapter: str, layers: list, logits) -> None:
        """A pane is read; once every pane is, all the request's rows join the batch together, each
        pane's read repeated to its rows, with their first tokens drawn from its last logits. Together:
        a row's numbers depend (in the last bits) on the rows it is computed beside, so rows that
        joined at other steps with a cache than without would not draft the same tokens."""
        import torch
        from transformers import DynamicCache

        request.read[adapter] = (layers, logits)
        request.unread.pop(0)
        if request.unread:
            return
        self._reading.remove(request)
        names = list(request.read)
        read, request.read = request.read, {}
        index = torch.tensor([names.index(a) for a in request.adapters], device=self.owner.device)
        cache = DynamicCache()
        for i in range(len(layers)):
            keys = torch.cat([read[a][0][i][0] for a in names])
            values = torch.cat([read[a][0][i][1] for a in names])
            cache.update(keys[index], values[index], i)
        rows = [Row(request, i, a, list(request.ids)) for i, a in enumerate(request.adapters)]
        self._choose(rows, torch.stack([read[a][1] for a in names])[index])
        request.first_token = time.time() - request.started
        mask = torch.ones(len(rows), len(request.ids), dtype=torch.long, device=self.owner.device)
        self._forget(rows, mask)
        self._join(rows, cache, mask)

    @staticmethod
    def _fail(requests, exc: BaseException) -> None:
        for request in requests:
            request.out.put(("error", exc))


@atexit.register
def _close_loops() -> None:
    for scheduler in list(_loops):
        scheduler.close()
