"""The demo's load (issue 28): simulated visitors on `app.py --demo`, each in a browser session of its
own, writing a manuscript and continuing it; latency, throughput, errors, crossed texts, server memory.

    .venv/bin/python bench/demo_load.py --visitors 1 8 20 [--continues 3] [--tokens 48] [--hog]
                                        [--data-dir DIR] [--keep] [--page-loads 40] [--crowds K]

Setup: a data root (a fresh temp folder unless --data-dir; --keep leaves the temp one for reuse)
with the sample corpus ingested and a tiny run on the embedded model (smollm2-135m-instruct,
quick-cpu-demo with max_steps=2, seq_len=64, no style or bias evaluation: ~1 min, plus ~30 s the
first time the embedded GGUF is converted), published. A root that already has a published run (or
a finished one, which is published) is reused as it is. Then the app is launched as a subprocess
(`app.py --demo --data-dir ROOT --port P`, its own process group, killed at the end).

Each visitor is a gradio_client.Client (its own session hash and heartbeat, as a browser tab has):
it runs the page's load events as a browser does, and keeps the visitor token the desk's loader
(`open_desk`) hands back (none is made up here); makes a manuscript whose title and opening carry a
marker word of its own; then continues it `--continues` times with one pane (the published run),
1 draft, `--tokens` new tokens, its own seed and the Write tab's default sampling, using the first
candidate after each (untimed). Latency: from the continue's submit to its final result (the queue's
"complete"). Tokens: the candidates' tokens under the embedded model's tokenizer. Throughput: all
tokens drafted over the phase's wall clock (from the moment every visitor has its manuscript open to
the last continue's end). "Crossed": another visitor's marker word in a visitor's candidates,
manuscript or list, or another's title in its list. Errors: a refused call (gradio error event) or
a continue that brought back no candidate (the desk shows its errors as a notice).

Every run measures one visitor alone first (the baseline; its median continue is "one-visitor"),
then each --visitors N at once. --hog adds, to the largest N, one more visitor drafting at the limits
(the most new tokens, panes and drafts the page offers, capped by the app's demo limits when it has
them) for as long as the others draft, and compares their p95 with the run without it.

Memory: the app process's RSS (psutil) at start, after a warm-up draft (the model loaded: "before"),
after each phase, after --page-loads bare page loads (a Client running the load events, then closed),
and after every session has ended (each Client closed: its heartbeat stream drops, gradio marks the
session closed) and the expiry has passed. Gradio 6.31 keeps a SessionState per session hash
(gradio/state_holder.py StateHolder.session_data, about 0.5 MB: a copy of every block's config) and
on its own drops it only past 10,000 sessions; the demo forgets a session closed for
--demo-closed-session-s or idle for --demo-idle-session-s (studio/ui/app.py reap_sessions, checked
every minute). This bench starts the app with 5 s and 60 s (the defaults are 600 s and 7200 s;
--real-expiry keeps them) and waits for them and the next check. With --crowds K the largest N
comes again K times, each after the one before expired, and the memory after its own expiry tells what the visitors kept
(growth per visitor) from the first crowd's high-water mark of a full batch, which is kept once.

Targets (issue 28, this 2-core CPU): at 20 visitors p95 <= 5x one visitor alone, aggregate tokens/s
>= 3x one visitor's, 0 errors, 0 crossed, memory per visitor released after the sessions end, and
a visitor at the limits raising the others' p95 by at most 2x. Ends with one line per N:
`visitors N p50 X s p95 Y s one-visitor Z s ratio R aggregate A tok/s (Kx one) errors E crossed C`.
"""
from __future__ import annotations

import argparse
import concurrent.futures as futures
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = "demo-load"
PRESET = "quick-cpu-demo"
TINY_RUN = ["max_steps=2", "seq_len=64", "time_budget_min=0", "style_openings=0", "bias_probe=false",
            "eval_examples=2", "eval_max_new_tokens=8"]
STATE_TTL_WHEN_CLOSED = 7200  # the demo's default --demo-idle-session-s
CLOSED_S, IDLE_S = 5, 60  # what this bench starts the app with, so the expiry can be waited for
REAP_EVERY_S = 60  # studio/ui/app.py: how often ended sessions are looked for
TARGET_RATIO, TARGET_MULTIPLE, TARGET_HOG = 5.0, 3.0, 2.0
RELEASED_KB = 50  # RSS still held per session after the expiry, over the RSS before any visitor, that counts as released
SESSIONS = [0]  # sessions (Clients) opened so far, page loads included


# -- setup --------------------------------------------------------------------------------------
def prepare_root(root: Path) -> str:
    """The published run in `root`, made (ingest + a tiny run + publish) when there is none."""
    from studio import jobs, runs, service

    if (root / "runs").exists():
        rows = [r for r in service.list_runs(root) if runs.has_adapter(runs.run_dir(root, r["run_id"]))]
        for row in rows:
            if row.get("published"):
                return row["run_id"]
        if rows:
            service.publish_run(root, rows[0]["run_id"])
            return rows[0]["run_id"]
    started = time.time()
    samples = sorted((REPO / "assets" / "samples").glob("*.txt"))
    service.ingest(root, samples, CORPUS)
    run_id = service.start_training(root, CORPUS, PRESET, TINY_RUN)
    status = jobs.wait(root, run_id, timeout=1800)
    if status.state != "completed":
        raise SystemExit(f"setup: run {run_id} ended {status.state}: {status.reason} "
                         f"(see {runs.run_dir(root, run_id) / 'worker.log'})")
    service.publish_run(root, run_id)
    print(f"setup: ingested {len(samples)} sample file(s), trained and published {run_id} "
          f"in {time.time() - started:.0f} s", flush=True)
    return run_id


def tokenizer_for(root: Path):
    from transformers import AutoTokenizer

    from studio.models import EMBEDDED_DEFAULT, resolve

    return AutoTokenizer.from_pretrained(resolve(EMBEDDED_DEFAULT, root))


def demo_limits(app_args: list[str]):
    """The app's demo limits (studio.config.DemoLimits, the defaults or the --demo-* flags passed with
    --app-arg) when this version has them, else None."""
    try:
        from studio.config import DemoLimits
    except ImportError:
        return None
    given = dict(a.split("=", 1) for a in app_args if a.startswith("--demo-") and "=" in a)
    limits = DemoLimits()
    for name in ("max_new_tokens", "rows"):
        flag = "--demo-" + name.replace("_", "-")
        if flag in given:
            setattr(limits, name, int(given[flag]))
    return limits


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`app.py --demo` in its own process group; its RSS; killed at the end."""

    def __init__(self, app_dir: Path, root: Path, port: int, extra: list[str], real_expiry: bool):
        self.url = f"http://127.0.0.1:{port}"
        self.log = Path(tempfile.gettempdir()) / f"demo_load-server-{port}.log"
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
        expiry = [] if real_expiry else ["--demo-closed-session-s", str(CLOSED_S), "--demo-idle-session-s", str(IDLE_S)]
        cmd = [sys.executable, str(app_dir / "app.py"), "--demo", "--data-dir", str(root), "--port", str(port),
               *expiry, *extra]
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(cmd, cwd=app_dir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.ttl = STATE_TTL_WHEN_CLOSED if real_expiry else IDLE_S + REAP_EVERY_S

    def wait_up(self, timeout: float = 180) -> None:
        import httpx

        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the app exited ({self.proc.returncode}); its log: {self.log}\n"
                                 + self.log.read_text(errors="replace")[-3000:])
            try:
                if httpx.get(self.url + "/config", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise SystemExit(f"the app did not answer in {timeout:.0f} s; its log: {self.log}")

    def rss_mb(self) -> float:
        try:
            import psutil

            return psutil.Process(self.proc.pid).memory_info().rss / 2**20
        except ImportError:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=15)


# -- the page as a browser sees it ----------------------------------------------------------
def _key(component: dict) -> str:
    """A component's name: its elem_id, else its label's translation key, else its type."""
    props = component.get("props", {})
    if props.get("elem_id"):
        return props["elem_id"]
    found = re.search(r'"key": "([^"]+)"', str(props.get("label") or ""))
    return found.group(1) if found else component["type"]


@dataclass
class Endpoint:
    api_name: str
    inputs: list[tuple[str, dict]]  # (name, component) per input the client sends (no gr.State)
    outputs: list[tuple[str, dict]]  # (name, component) per output the client gets back


class Page:
    """The app's /config: its endpoints by api name, inputs and outputs named (gr.State left out,
    as gradio_client leaves it out: the session holds it)."""

    def __init__(self, url: str):
        import httpx

        config = httpx.get(url + "/config", timeout=30).json()
        self.components = {c["id"]: c for c in config["components"]}
        self.endpoints: dict[str, Endpoint] = {}
        self.loads: list[str] = []
        for dep in config["dependencies"]:
            name = dep.get("api_name")
            if not name:
                continue
            named = lambda ids: [(_key(self.components[i]), self.components[i]) for i in ids  # noqa: E731
                                 if self.components[i]["type"] != "state"]
            self.endpoints[name] = Endpoint(name, named(dep["inputs"]), named(dep["outputs"]))
            if any(t[1] == "load" for t in dep["targets"]):
                self.loads.append(name)
        self.desk_load = next((n for n in self.loads
                               if any(c["type"] == "browserstate" for _, c in self.endpoints[n].inputs)), None)
        if not self.desk_load:
            raise SystemExit(f"no page-load endpoint takes the visitor token; loads: {self.loads}")

    def args(self, api_name: str, given: dict) -> list:
        """The endpoint's inputs: the given ones by name, the rest at the page's default values."""
        out = []
        for name, comp in self.endpoints[api_name].inputs:
            if comp["type"] == "browserstate":
                out.append(given.get("token"))
            else:
                out.append(given[name] if name in given else comp.get("props", {}).get("value"))
        return out

    def named(self, api_name: str, result) -> list[tuple[str, object]]:
        values = list(result) if isinstance(result, (list, tuple)) else [result]
        return [(name, v) for (name, _), v in zip(self.endpoints[api_name].outputs, values)]

    def prop(self, name: str, prop: str):
        for comp in self.components.values():
            if _key(comp) == name:
                return comp.get("props", {}).get(prop)
        return None


def _value(v):
    return v.get("value") if isinstance(v, dict) and v.get("__type__") == "update" else v


def _visible_candidates(named: list[tuple[str, object]]) -> list[str]:
    return [str(_value(v) or "") for name, v in named
            if name.startswith("cand-") and isinstance(v, dict) and v.get("visible") and _value(v)]


def _notice(named) -> str:
    return next((str(_value(v) or "") for name, v in named if name == "manuscript-notice"), "")


def _choices(named) -> list:
    for name, v in named:
        if name == "manuscript-pick" and isinstance(v, dict):
            return v.get("choices") or []
    return []


# -- a visitor ------------------------------------------------------------------------------
@dataclass
class Visitor:
    n: int
    page: Page
    url: str
    run_id: str
    seed: int
    marker: str = field(default_factory=lambda: "Quorvel" + secrets.token_hex(3))
    client: object = None
    token: str | None = None
    ms_id: str | None = None
    text: str = ""
    latencies: list = field(default_factory=list)
    tokens: int = 0
    errors: list = field(default_factory=list)
    ended_at_once: int = 0  # continues whose candidate was empty because the model's first token was its end
    seen: list = field(default_factory=list)  # every text the server sent this visitor
    spans: list = field(default_factory=list)  # (start, end) of each continue

    @property
    def title(self) -> str:
        return f"Visitor {self.n} {self.marker}"

    def call(self, api_name: str, given: dict, timeout: float = 600):
        job = self.client.submit(*self.page.args(api_name, given), api_name="/" + api_name)
        return self.page.named(api_name, job.result(timeout=timeout))

    def open_page(self) -> None:
        """A browser tab: a session of its own; the page's load events, the token from the desk's."""
        from gradio_client import Client

        # each visitor from an address of its own, as the app sees a visitor behind a local proxy (the
        # app believes X-Forwarded-For from a loopback peer only); the per-address key limit then counts each apart
        address = f"10.{self.n // 65536 % 256}.{self.n // 256 % 256}.{self.n % 256}"
        self.client = Client(self.url, verbose=False, download_files=False, headers={"X-Forwarded-For": address})
        for api_name in self.page.loads:
            named = self.call(api_name, {"token": self.token})
            self.seen.append(json.dumps(named, default=str))
            if api_name == self.page.desk_load:
                self.token = named[-1][1]
        if not self.token:
            raise RuntimeError("the desk's page load gave no visitor token")

    def new_manuscript(self) -> None:
        named = self.call("new_manuscript", {"token": self.token, "manuscript-title": self.title})
        self.seen.append(json.dumps(named, default=str))
        self.ms_id = next((_value(v) for name, v in named if name == "manuscript-pick"), None)
        if isinstance(self.ms_id, dict) or not self.ms_id:
            self.ms_id = (_choices(named) or [[None, None]])[0][1]
        opening = (f"{self.marker} kept the lamp on the rock that winter. The gannets came back in March, "
                   f"and {self.marker} wrote down each day what the sea did.")
        saved = self.call("save", {"token": self.token, "manuscript-pick": self.ms_id, "manuscript-text": opening})
        self.seen.append(json.dumps(saved, default=str))
        self.text = opening

    def settings(self, tokens: int, panes: list[str], drafts: int, seed: int) -> dict:
        given = {"token": self.token, "manuscript-pick": self.ms_id, "manuscript-text": self.text,
                 "write.base_pane": "base" in panes, "write.max_new": tokens, "write.seed": seed,
                 "write.drafts": drafts, "manuscript-memory": "", "manuscript-note": "", "manuscript-cursor": None}
        for k in range(1, 4):
            given[f"write-run-{k}"] = None
        for k, run in enumerate([p for p in panes if p != "base"], 1):
            given[f"write-run-{k}"] = run
        return given

    def continue_once(self, tokenizer, tokens: int, panes: list[str], drafts: int, seed: int,
                      use: bool = True, stop: threading.Event | None = None) -> list[str]:
        started = time.perf_counter()
        job = self.client.submit(*self.page.args("continue_manuscript", self.settings(tokens, panes, drafts, seed)),
                                 api_name="/continue_manuscript")
        while stop is not None and not job.done():
            if stop.is_set():  # the desk's Stop (the draft ends at the next token), then the job is dropped
                desk_stop = next((name for name, e in self.page.endpoints.items() if name.startswith("stop_drafting")
                                  and any(c["type"] == "browserstate" for _, c in e.inputs)), None)
                if desk_stop:
                    _guard(self, "stop", self.call, desk_stop, {"token": self.token}, 60)
                    self.errors = [e for e in self.errors if not e.startswith("stop:")]
                job.cancel()
                return []
            time.sleep(0.2)
        named = self.page.named("continue_manuscript", job.result(timeout=1200))
        ended = time.perf_counter()
        cands = _visible_candidates(named)
        self.seen.append(json.dumps(named, default=str))
        empty = any(name.startswith("cand-") and isinstance(v, dict) and v.get("visible") for name, v in named)
        if not cands and empty and "candidate(s)" in _notice(named):
            # a finished continue whose draft is empty: the model ended its text at once (an end-of-text
            # token first, as after "...with extra words removed."); timed, not an error, counted apart
            self.ended_at_once += 1
        elif not cands:
            self.errors.append(f"continue: {'only empty candidates' if empty else 'no candidate'} "
                               f"(notice: {_notice(named)[:160]})")
            return []
        self.latencies.append(ended - started)
        self.spans.append((started, ended))
        self.tokens += sum(len(tokenizer(c, add_special_tokens=False)["input_ids"]) for c in cands)
        if use and cands:
            used = self.call("use", {"token": self.token, "manuscript-pick": self.ms_id, "manuscript-text": self.text})
            self.seen.append(json.dumps(used, default=str))
            text = next((_value(v) for name, v in used if name == "manuscript-text"), None)
            if isinstance(text, str):
                self.text = text
        return cands

    def final_look(self) -> None:
        """What the page shows this visitor at the end: the list, the manuscript, its candidates."""
        named = self.call("open_manuscript", {"token": self.token, "manuscript-pick": self.ms_id})
        self.seen.append(json.dumps(named, default=str))
        self.listed = [c[0] if isinstance(c, (list, tuple)) else c for c in _choices(named)]

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.close()
            except Exception:  # noqa: BLE001 (a client already gone)
                pass

    def crossed(self, others: list[Visitor]) -> int:
        """Texts of other visitors this visitor was shown: their markers anywhere, their titles in the list."""
        shown = "\n".join(self.seen)
        count = sum(o.marker in shown for o in others if o is not self)
        listed = getattr(self, "listed", [])
        count += sum(any(o.title in str(entry) for entry in listed) for o in others if o is not self)
        return count


def _guard(v: Visitor, step: str, fn, *a, **kw):
    try:
        return fn(*a, **kw)
    except Exception as e:  # noqa: BLE001 (a refused or failed call is counted, not fatal)
        v.errors.append(f"{step}: {type(e).__name__}: {str(e)[:200]}")
        return None


# -- a phase --------------------------------------------------------------------------------
@dataclass
class Phase:
    label: str
    visitors: list
    wall: float
    mem_before: float
    mem_after: float
    hog: dict | None = None
    load: tuple = (float("nan"), float("nan"))  # the machine's 1-minute load average at the start and the end

    @property
    def latencies(self) -> list[float]:
        return [t for v in self.visitors for t in v.latencies]

    @property
    def tokens(self) -> int:
        return sum(v.tokens for v in self.visitors)

    @property
    def errors(self) -> int:
        return sum(len(v.errors) for v in self.visitors)

    @property
    def crossed(self) -> int:
        return sum(v.crossed(self.visitors) for v in self.visitors)

    @property
    def ended_at_once(self) -> int:
        return sum(v.ended_at_once for v in self.visitors)

    def pct(self, q: float) -> float:
        xs = sorted(self.latencies)
        if not xs:
            return float("nan")
        if len(xs) == 1:
            return xs[0]
        return statistics.quantiles(xs, n=100, method="inclusive")[int(q) - 1]

    @property
    def tok_s(self) -> float:
        return self.tokens / self.wall if self.wall > 0 else float("nan")


def run_phase(label: str, server: Server, page: Page, run_id: str, tokenizer, n: int, continues: int,
              tokens: int, hog: dict | None = None, seed0: int = 1000) -> Phase:
    visitors = [Visitor(k + 1, page, server.url, run_id, seed=seed0 + k) for k in range(n)]
    hogger = Visitor(0, page, server.url, run_id, seed=seed0 + 999) if hog else None
    everyone = visitors + ([hogger] if hogger else [])
    mem_before, load_before = server.rss_mb(), os.getloadavg()[0]
    def enter(v: Visitor) -> None:
        _guard(v, "page load", v.open_page)
        if v.token:
            _guard(v, "new manuscript", v.new_manuscript)
            if not v.ms_id and not v.errors:  # refused on the page (the demo is full, say): counted, not skipped
                v.errors.append("new manuscript: none made (the page refused it; a demo whose visitor folders "
                                "are all in use says it is full: use a fresh --data-dir)")

    with futures.ThreadPoolExecutor(max_workers=len(everyone)) as pool:
        list(pool.map(enter, everyone))
    stop, hog_log = threading.Event(), {"continues": 0, "latencies": [], "refused": [], "crossed": 0}

    def hog_loop() -> None:
        seed = hogger.seed
        while not stop.is_set():
            before = len(hogger.errors)
            cands = _guard(hogger, "hog continue", hogger.continue_once, tokenizer, hog["tokens"], hog["panes"],
                           hog["drafts"], seed, use=False, stop=stop)
            seed += 1
            if cands:
                hog_log["continues"] += 1
            elif len(hogger.errors) > before and not stop.is_set():
                hog_log["refused"].append(hogger.errors[-1])
                stop.wait(5)  # a refused hog (over a rate, say) asks again a little later

    def visit(v: Visitor) -> None:
        if not v.ms_id:
            return
        for k in range(continues):
            _guard(v, f"continue {k + 1}", v.continue_once, tokenizer, tokens, [run_id], 1, v.seed * 10 + k)
        _guard(v, "final look", v.final_look)

    started = time.perf_counter()
    hog_thread = threading.Thread(target=hog_loop, daemon=True) if hogger and hogger.ms_id else None
    if hog_thread:
        hog_thread.start()
    with futures.ThreadPoolExecutor(max_workers=max(1, n)) as pool:
        list(pool.map(visit, visitors))
    spans = [s for v in visitors for s in v.spans]
    wall = (max(e for _, e in spans) - started) if spans else float("nan")
    stop.set()
    if hog_thread:
        hog_thread.join(timeout=120)
    mem_after = server.rss_mb()
    if hogger:
        hog_log["latencies"] = list(hogger.latencies)
        hog_log["crossed"] = hogger.crossed(visitors) + sum(v.marker in "\n".join(hogger.seen) for v in visitors)
        hog_log["setup_errors"] = [e for e in hogger.errors if not e.startswith("hog continue")]
        hog_log.update(hog)
    for v in everyone:
        v.close()  # the tab is closed: its heartbeat drops, gradio marks the session closed
    SESSIONS[0] += len(everyone)
    return Phase(label, visitors, wall, mem_before, mem_after, hog_log if hog else None,
                 (load_before, os.getloadavg()[0]))


def page_loads(server: Server, page: Page, run_id: str, count: int) -> tuple[float, float, int]:
    """`count` bare page loads, one after another, each closed: (RSS before, after, errors)."""
    before, errors = server.rss_mb(), 0
    for k in range(count):
        v = Visitor(10_000 + k, page, server.url, run_id, seed=0)
        _guard(v, "page load", v.open_page)
        errors += bool(v.errors)
        v.close()
    SESSIONS[0] += count
    return before, server.rss_mb(), errors


def hog_settings(page: Page, run_id: str, app_args: list[str]) -> dict:
    """The most a visitor may ask: the page's slider tops, capped by the app's demo limits."""
    most_tokens = int(page.prop("write.max_new", "maximum") or 512)
    most_drafts = int(page.prop("write.drafts", "maximum") or 4)
    panes = ["base", run_id, run_id, run_id]
    limits = demo_limits(app_args)
    if limits is not None:
        most_tokens = min(most_tokens, limits.max_new_tokens)
        rows = limits.rows
        n_panes = 2 if rows >= 2 else 1
        panes = panes[:n_panes]
        most_drafts = max(1, min(most_drafts, rows // n_panes))
    return {"tokens": most_tokens, "panes": panes, "drafts": most_drafts}


# -- report ---------------------------------------------------------------------------------
def fmt(x: float, d: int = 2) -> str:
    return "-" if x != x else f"{x:.{d}f}"


def summary_line(p: Phase, one: float, one_tok_s: float) -> str:
    return (f"visitors {len(p.visitors)} p50 {fmt(p.pct(50))} s p95 {fmt(p.pct(95))} s one-visitor {fmt(one)} s "
            f"ratio {fmt(p.pct(95) / one)} aggregate {fmt(p.tok_s, 1)} tok/s ({fmt(p.tok_s / one_tok_s)}x one) "
            f"errors {p.errors} crossed {p.crossed}")


def report(phases: list[Phase], baseline: Phase, hogged: Phase | None, mem: dict, server: Server,
           loads: tuple | None, args) -> None:
    one = statistics.median(baseline.latencies) if baseline.latencies else float("nan")
    one_tok_s = baseline.tok_s
    print()
    print(f"continues of {args.tokens} tokens, 1 pane (the published run), 1 draft, {args.continues} per visitor; "
          f"tokens counted with the embedded model's tokenizer; one-visitor = median continue of 1 visitor alone")
    head = (f"{'visitors':>8} {'p50 s':>7} {'p95 s':>7} {'one s':>6} {'ratio':>6} {'tok/s':>7} {'x one':>6} "
            f"{'errors':>6} {'crossed':>7} {'RSS before':>10} {'after MB':>8} {'MB/visitor':>10} {'load avg':>9}")
    print(head)
    print("-" * len(head))
    for p in phases + ([hogged] if hogged else []):
        n = len(p.visitors)
        label = f"{n}+hog" if p is hogged else str(n)
        print(f"{label:>8} {fmt(p.pct(50)):>7} {fmt(p.pct(95)):>7} {fmt(one):>6} {fmt(p.pct(95) / one):>6} "
              f"{fmt(p.tok_s, 1):>7} {fmt(p.tok_s / one_tok_s):>6} {p.errors:>6} {p.crossed:>7} "
              f"{fmt(p.mem_before, 0):>10} {fmt(p.mem_after, 0):>8} {fmt((p.mem_after - p.mem_before) / n):>10} "
              f"{fmt(p.load[0], 1):>4}-{fmt(p.load[1], 1):<4}")
    for p in phases + ([hogged] if hogged else []):
        for v in p.visitors:
            for e in v.errors:
                print(f"  error ({p.label}, visitor {v.n}): {e}")
    if hogged:
        h = hogged.hog
        base_p95 = next((p.pct(95) for p in phases if len(p.visitors) == len(hogged.visitors)), float("nan"))
        print(f"\nhog: {len(h['panes'])} pane(s) x {h['drafts']} draft(s) x {h['tokens']} tokens; "
              f"{h['continues']} continue(s) finished while the others drafted "
              f"(latency {', '.join(fmt(t, 1) for t in h['latencies']) or '-'} s); refused {len(h['refused'])}; "
              f"setup errors {len(h.get('setup_errors', []))}; crossed {h['crossed']}")
        for e in h["refused"][:3] + h.get("setup_errors", [])[:3]:
            print(f"  hog: {e}")
        print(f"others' p95 with the hog {fmt(hogged.pct(95))} s, without {fmt(base_p95)} s: "
              f"{fmt(hogged.pct(95) / base_p95)}x (target <= {TARGET_HOG:g}x)")
    print("\nserver memory (RSS of the app process, MB):")
    for name, value in mem.items():
        print(f"  {name:<48} {fmt(value, 1)}")
    if loads:
        before, after, errors = loads
        print(f"  {args.page_loads} bare page loads (Client + load events + close): {fmt(after - before, 1)} MB, "
              f"{fmt((after - before) / max(1, args.page_loads) * 1024, 0)} kB per page load ({errors} errors)")
    expiry = (f"--demo-closed-session-s {CLOSED_S} --demo-idle-session-s {IDLE_S} (defaults 600 and 7200)"
              if not args.real_expiry else "the defaults, 600 s closed and 7200 s idle")
    print(f"  expiry relied on: the demo forgets a page session (gradio's SessionState, its copy of every block's "
          f"config) closed or idle past {expiry}, checked every {REAP_EVERY_S} s (studio/ui/app.py reap_sessions)")
    largest = max(phases, key=lambda p: len(p.visitors))
    checks = [
        (f"p95 at {len(largest.visitors)} visitors <= {TARGET_RATIO:g}x one visitor",
         largest.pct(95) <= TARGET_RATIO * one),
        (f"aggregate tok/s at {len(largest.visitors)} visitors >= {TARGET_MULTIPLE:g}x one visitor's",
         largest.tok_s >= TARGET_MULTIPLE * one_tok_s),
        ("0 errors", all(p.errors == 0 for p in phases + [baseline] + ([hogged] if hogged else []))),
        ("0 crossed", all(p.crossed == 0 for p in phases + [baseline] + ([hogged] if hogged else []))),
    ]
    later = sorted(int(k.split()[2]) for k in mem if k.startswith("after crowd "))
    if later:
        # the first crowd leaves the allocator's high-water mark of a full batch (the 20 rows' keys and
        # values, oneDNN's kernels for the shapes it met); memory kept per visitor shows as growth that
        # every later crowd adds again, whose sessions expire the same way. A cache that fills once
        # (more shapes met by the second crowd) grows less with each crowd; a visitor's leftovers do not.
        n = max(len(p.visitors) for p in phases)
        keys = ["after the sessions ended and expired"] + [f"after crowd {c} ended and expired" for c in later]
        grown = [mem[b] - mem[a] for a, b in zip(keys, keys[1:])]
        high = mem[keys[0]] - mem["before (model loaded, after a warm-up draft)"]
        each = ", ".join(f"crowd {c} {fmt(g, 1)} MB" for c, g in zip(later, grown))
        checks.append((f"memory released after the sessions ended: the last crowd of {n} left {fmt(grown[-1], 1)} "
                       f"MB ({fmt(grown[-1] * 1024 / n, 0)} kB a visitor; <= {RELEASED_KB} kB counts as released); "
                       f"each crowd after the first: {each}; the first left {fmt(high, 1)} MB over 'before', "
                       f"held once, not per visitor", grown[-1] * 1024 / n <= RELEASED_KB))
    elif "after the sessions ended and expired" in mem:
        held = mem["after the sessions ended and expired"] - mem["before (model loaded, after a warm-up draft)"]
        per = held * 1024 / max(1, SESSIONS[0] - 1)  # the warm-up's session was open at 'before'
        checks.append((f"memory released after the sessions ended (still held {fmt(held, 1)} MB over 'before', "
                       f"{fmt(per, 0)} kB per session of {SESSIONS[0] - 1}; <= {RELEASED_KB} kB counts as released)",
                       per <= RELEASED_KB))
    if hogged:
        base_p95 = next((p.pct(95) for p in phases if len(p.visitors) == len(hogged.visitors)), float("nan"))
        checks.append((f"a visitor at the limits raises the others' p95 <= {TARGET_HOG:g}x",
                       hogged.pct(95) <= TARGET_HOG * base_p95))
    print("\ntargets (issue 28):")
    for name, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    print()
    for p in phases:
        if not p.label.endswith("again"):  # one line per N, the first crowd's
            print(summary_line(p, one, one_tok_s))


# -- main -----------------------------------------------------------------------------------
def arguments(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    p.add_argument("--visitors", type=int, nargs="+", default=[20], help="simulated visitors at once (several allowed)")
    p.add_argument("--continues", type=int, default=3, help="continues per visitor")
    p.add_argument("--tokens", type=int, default=48, help="new tokens per continue")
    p.add_argument("--hog", action="store_true", help="one more visitor drafting at the limits, beside the largest N")
    p.add_argument("--data-dir", type=Path, help="data root to use (default: a fresh temp folder)")
    p.add_argument("--keep", action="store_true", help="keep the temp data root (reuse it with --data-dir)")
    p.add_argument("--port", type=int, help="the app's port (default: a free one)")
    p.add_argument("--page-loads", type=int, default=40, help="bare page loads for the per-page-load memory (0: none)")
    p.add_argument("--crowds", type=int, default=0,
                   help="after the expiry, the largest N again K times, each followed by its expiry: what memory "
                        "grows per visitor apart from the first crowd's high-water mark")
    p.add_argument("--second-crowd", dest="crowds", action="store_const", const=1, help="the same as --crowds 1")
    p.add_argument("--real-expiry", action="store_true",
                   help="leave gradio's closed-session TTL at 3600 s (no after-expiry figure unless --expiry-wait)")
    p.add_argument("--expiry-wait", type=float, help="seconds to wait for the expiry (default: the TTL + 10)")
    p.add_argument("--app-dir", type=Path, default=REPO, help="the tree whose app.py is served (default: this one)")
    p.add_argument("--app-arg", action="append", default=[],
                   help="one more flag for app.py, as --app-arg=--demo-rows=8 (repeatable)")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = arguments(argv)
    sys.path.insert(0, str(args.app_dir.resolve()))
    temp = args.data_dir is None
    root = (args.data_dir or Path(tempfile.mkdtemp(prefix="demo-load-"))).resolve()
    root.mkdir(parents=True, exist_ok=True)
    server = None
    try:
        run_id = prepare_root(root)
        tokenizer = tokenizer_for(root)
        server = Server(args.app_dir.resolve(), root, args.port or free_port(), args.app_arg, args.real_expiry)
        server.wait_up()
        page = Page(server.url)
        print(f"app {server.url} (pid {server.proc.pid}, log {server.log}), data {root}, published run {run_id}; "
              f"page loads: {', '.join(page.loads)}", flush=True)
        mem = {"at start (no visitor yet)": server.rss_mb()}
        warm = run_phase("warm-up", server, page, run_id, tokenizer, 1, 1, args.tokens, seed0=1)
        if warm.errors:
            print(f"warm-up errors: {[e for v in warm.visitors for e in v.errors]}", flush=True)
        mem["before (model loaded, after a warm-up draft)"] = server.rss_mb()
        baseline = run_phase("1 alone", server, page, run_id, tokenizer, 1, args.continues, args.tokens, seed0=10)
        print(f"one visitor alone: {', '.join(fmt(t) for t in baseline.latencies)} s, "
              f"{fmt(baseline.tok_s, 1)} tok/s, errors {baseline.errors}", flush=True)
        phases = []
        for n in args.visitors:
            phase = baseline if n == 1 else run_phase(f"{n} visitors", server, page, run_id, tokenizer, n,
                                                      args.continues, args.tokens, seed0=100 * n)
            phases.append(phase)
            mem[f"after {n} visitor(s) (their sessions still open)"] = phase.mem_after
            one = statistics.median(baseline.latencies) if baseline.latencies else float("nan")
            print(f"  {summary_line(phase, one, baseline.tok_s)} (load avg {fmt(phase.load[0], 1)}-"
                  f"{fmt(phase.load[1], 1)}; {phase.ended_at_once} continue(s) the model ended at once)", flush=True)
        hogged = None
        if args.hog:
            n = max(args.visitors)
            hog = hog_settings(page, run_id, args.app_arg)
            print(f"with a hog beside {n} visitor(s): {hog}", flush=True)
            hogged = run_phase(f"{n} visitors + hog", server, page, run_id, tokenizer, n, args.continues,
                               args.tokens, hog=hog, seed0=100 * n + 50)
            mem[f"after {n} visitor(s) + hog"] = hogged.mem_after
        loads = None
        if args.page_loads:
            loads = page_loads(server, page, run_id, args.page_loads)
            mem[f"after {args.page_loads} bare page loads"] = loads[1]
        wait = args.expiry_wait if args.expiry_wait is not None else (server.ttl + 10 if not args.real_expiry else 0)
        if wait:
            print(f"every session closed; waiting {wait:.0f} s for the expiry", flush=True)
            time.sleep(wait)
            mem["after the sessions ended and expired"] = server.rss_mb()
            n = max(args.visitors)
            for crowd in range(2, 2 + args.crowds):
                again = run_phase(f"{n} visitors, crowd {crowd}", server, page, run_id, tokenizer, n, args.continues,
                                  args.tokens, seed0=100 * n + 70 + crowd)
                phases.append(again)
                one = statistics.median(baseline.latencies) if baseline.latencies else float("nan")
                print(f"  {summary_line(again, one, baseline.tok_s)} (crowd {crowd}, after the one before expired)",
                      flush=True)
                print(f"every session closed; waiting {wait:.0f} s for the expiry", flush=True)
                time.sleep(wait)
                mem[f"after crowd {crowd} ended and expired"] = server.rss_mb()
                print(f"  RSS {fmt(mem[f'after crowd {crowd} ended and expired'], 1)} MB", flush=True)
        report(phases, baseline, hogged, mem, server, loads, args)
    finally:
        if server is not None:
            server.stop()
        if temp and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        elif temp:
            print(f"data root kept: {root} (reuse with --data-dir)")


if __name__ == "__main__":
    main()
