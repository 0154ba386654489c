"""The CLI: the same service calls as the UI.

    python -m studio ingest FILE... --name NAME [--mode text]
    python -m studio train --corpus NAME --preset PRESET [--lora-r 8 --epochs 2 ... any TrainConfig field]
                           [--set key=value ...] [--detach] [--nproc N] [--shard]
                           [--nnodes M --node-rank 0 --rdzv HOST:PORT]  (node 0 of M machines; prints the others' command)
    python -m studio resume RUN_ID [--detach]
    python -m studio sweep --corpus NAME --trials 6 --sampler tpe|random|grid [--trial-steps N]
    python -m studio dpo RUN_ID [--set key=value ...] [--detach]
    python -m studio draft --run RUN_ID [--run RUN_ID@step-N ...] --prompt TEXT [--mode continue|instruct|summarize] [--seed S]
    python -m studio runs
    python -m studio calibrate [--model MODEL] [--only drafting|training]
    python -m studio download MODEL [--size]
    python -m studio export RUN_ID[@step-N] [--merged | --gguf [--quant f16|bf16|q8_0]]
    python -m studio publish RUN_ID [--off]
    python -m studio delete RUN_ID
    python -m studio manuscript new|list|show|write|continue|use|undo|redo|history|restore|export|rename|delete ...

Every subcommand takes --data-dir (or STUDIO_DATA_DIR) and --json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from studio import cli_bible, service
from studio.config import BLEND_METHODS, ConfigError, CorpusConfig, GenConfig, TrainConfig
from studio.corpus.clean import RULE_LABELS, drop_reason
from studio.corpus.decode import CorpusError
from studio.jobs import JobError, Nodes, torchrun
from studio.messages import render, say
from studio.models import EMBEDDED_DEFAULT, ModelUnavailable
from studio.records import RunState, RunStatus, style_from
from studio.runs import run_dir
from studio.paths import BadName, data_root
from studio.write.drafter import MODES, AdapterRefused

USER_ERRORS = (CorpusError, ConfigError, BadName, ModelUnavailable, JobError, AdapterRefused, FileNotFoundError, ValueError)


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="data root (default: $STUDIO_DATA_DIR or ./studio-data)")
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p = argparse.ArgumentParser(prog="python -m studio", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("ingest", parents=[common], help="make a corpus from files")
    s.add_argument("files", nargs="+")
    s.add_argument("--name", required=True)
    s.add_argument("--model", default=EMBEDDED_DEFAULT, help="model whose tokenizer counts the tokens")
    add_config_flags(s, CorpusConfig, skip={"name"})

    s = sub.add_parser("train", parents=[common], help="fine-tune on a corpus")
    s.add_argument("--corpus", required=True, help=_help(TrainConfig, "corpus"))
    s.add_argument("--preset", default="quick-cpu-demo", help="a name in presets/ or a .yaml path; the flags below "
                                                                "override its settings")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any TrainConfig field as text (applied after the flags)")
    s.add_argument("--detach", action="store_true", help="return as soon as the run has started")
    s.add_argument("--nproc", type=int, default=1,
                   help="processes under torchrun (DDP): one per GPU, or a few on the CPU; 1 = a plain worker")
    s.add_argument("--nnodes", type=int, default=1, help="machines in the run (this one is node 0; it prints the "
                                                         "command for the others; the run folder must be on a shared disk)")
    s.add_argument("--node-rank", type=int, default=0, help="this machine's rank: train starts node 0 only")
    s.add_argument("--rdzv", default="", metavar="HOST:PORT", help="several machines: node 0's address and a free port")
    add_config_flags(s, TrainConfig, skip={"corpus"}, unset=True, aliases={"init_adapter": ["--from"]})

    s = sub.add_parser("sweep", parents=[common], help="hyperparameter search: short trials, best by validation loss")
    s.add_argument("--corpus", required=True)
    s.add_argument("--preset", default="quick-cpu-demo")
    s.add_argument("--trials", type=int, default=6)
    s.add_argument("--sampler", default="tpe", choices=["tpe", "random", "grid"])
    s.add_argument("--trial-steps", type=int, default=0, help="steps per trial (0: the preset's full schedule)")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any TrainConfig field, for every trial")
    s.add_argument("--detach", action="store_true", help="run the sweep in the background and return its id")

    s = sub.add_parser("sweep-drive", parents=[common], help="(started by a detached sweep) run its trials here")
    s.add_argument("sweep_id")

    s = sub.add_parser("resume", parents=[common], help="continue a stopped run from its last checkpoint")
    s.add_argument("run")
    s.add_argument("--detach", action="store_true", help="return as soon as the run has started")

    s = sub.add_parser("dpo", parents=[common], help="train a run's adapter on the blind picks so far (DPO)")
    s.add_argument("run", help="the run, or RUN@step-N, to start from")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any TrainConfig field")
    s.add_argument("--detach", action="store_true", help="return as soon as the run has started")

    s = sub.add_parser("blend", parents=[common], help="combine 2-3 finished runs' adapters into a new run (PEFT)")
    s.add_argument("sources", nargs="+", metavar="RUN:WEIGHT", help="e.g. RUN_A:0.5 RUN_B:0.5")
    s.add_argument("--method", default="linear", choices=BLEND_METHODS)
    s.add_argument("--density", type=float, default=0.5, help="ties, dare_*, magnitude_prune: share of weights kept")
    s.add_argument("--detach", action="store_true", help="return as soon as the run has started")

    _add_writing_commands(sub, common)
    return p


def _add_writing_commands(sub, common: argparse.ArgumentParser) -> None:
    """requests, bias, draft, style, runs, download, export, publish, delete."""
    s = sub.add_parser("requests", parents=[common],
                       help="grow a corpus: a model writes the request each passage answers; --save makes a pairs version")
    s.add_argument("corpus", help="a text corpus")
    s.add_argument("--source", default="base", help="base (the model in --model) or a tuned RUN")
    s.add_argument("--model", default=None, help="with --source base: the model that writes (default: the embedded one)")
    s.add_argument("--limit", type=int, default=0, help="passages to ask this time (0: every one without a request)")
    s.add_argument("--save", action="store_true", help="save the staged requests as the corpus's next (pairs) version")
    s.add_argument("--drop", default="", help="with --save: item numbers to leave out, e.g. '3, 7, 10-12'")

    s = sub.add_parser("bias", parents=[common], help="bias probe: counterfactual pairs scored under base and tuned")
    s.add_argument("run", help="RUN_ID, or RUN_ID@step-N for a checkpoint")

    s = sub.add_parser("draft", parents=[common], help="base and tuned drafts side by side, one batch")
    s.add_argument("--run", action="append", required=True,
                   help="a run id, or RUN@step-N for a checkpoint; repeat for up to 3 tuned panes")
    s.add_argument("--prompt", required=True)
    s.add_argument("--mode", choices=MODES, default="continue")
    s.add_argument("--no-base", action="store_true", help="leave out the base model pane")
    for name, default in GenConfig().__dict__.items():
        s.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)

    s = sub.add_parser("style", parents=[common], help="style match: base and tuned continue held-out openings, "
                                                       "each scored against the writer's held-out text")
    s.add_argument("run")
    s.add_argument("--openings", type=int, default=24, help="how many held-out openings (default 24: one verdict across seeds)")
    sub.add_parser("runs", parents=[common], help="list runs with state and metrics")
    s = sub.add_parser("calibrate", parents=[common], help="time the drafting and the LoRA training paths (4-bit, bf16, "
                                                           "fp32) on this CPU again, keep the fastest of each whose "
                                                           "output holds against fp32, print the tables")
    s.add_argument("--model", default=EMBEDDED_DEFAULT, help="base model (registry name, hub id or folder)")
    s.add_argument("--only", choices=["drafting", "training"], help="measure one of the two (default: both)")
    s = sub.add_parser("download", parents=[common], help="fetch a hub model into the local cache (resumes a stopped one)")
    s.add_argument("model", help="a registry name (presets/models.yaml) or a hub id org/name")
    s.add_argument("--size", action="store_true", help="only say how big it is and how much is already here")
    s = sub.add_parser("export", parents=[common], help="a run's adapter as a zip, --merged into its base, or --gguf")
    s.add_argument("run", help="RUN_ID, or RUN_ID@step-N for a checkpoint")
    s.add_argument("--merged", action="store_true",
                   help="a safetensors model folder with the adapter folded in, and an Ollama Modelfile")
    s.add_argument("--gguf", action="store_true",
                   help="the merged model as one GGUF file (llama.cpp, Ollama, LM Studio) and a Modelfile naming it")
    s.add_argument("--quant", default="f16", choices=["f16", "bf16", "q8_0"],
                   help="GGUF weight type: f16 (default), bf16, or q8_0 (8-bit, about half the size)")
    s = sub.add_parser("publish", parents=[common], help="show a run in demo mode (app.py --demo)")
    s.add_argument("run")
    s.add_argument("--off", action="store_true", help="hide it again")
    s = sub.add_parser("delete", parents=[common], help="delete one run's folder (not while it trains)")
    s.add_argument("run")

    _add_manuscript_command(sub, common)


def _add_manuscript_command(sub, common) -> None:
    """manuscript new|list|show|write|continue|use|undo|redo|history|restore|export|rename|delete, and
    alternatives|summarize|memory|note|style."""
    s = sub.add_parser("manuscript", parents=[common], help="the writing desk: manuscripts drafted with the models",
                       description="new TITLE [--text T] | list | show ID [--sources] | write ID TEXT | "
                                   "continue ID [--pane base --pane RUN@step-N] [--candidates N] [--cursor C] | "
                                   "use ID N | undo ID | redo ID | history ID | restore ID REV | "
                                   "export ID --format md|txt|docx [--sources] | rename ID TITLE | delete ID | "
                                   "alternatives ID N POSITION [--pick TOKEN_ID] | summarize ID [--pane P] | "
                                   "memory ID TEXT | note ID TEXT | style ID [--run RUN] | "
                                   "bible ID list|add|edit NAME|remove NAME|import FILE|export FILE|share ID|settings | "
                                   "banned ID list|set|add|remove PHRASE...|suggest RUN | setup ID")
    s.add_argument("action", choices=["new", "list", "show", "write", "continue", "use", "undo", "redo", "history",
                                      "restore", "export", "rename", "delete", *MANUSCRIPT_TOOLS, "bible", "banned",
                                      "setup"])
    s.add_argument("args", nargs="*", help="the manuscript id (or the title for new), then the action's value")
    s.add_argument("--text", default="", help="new: the opening text; bible add/edit: the entry's text")
    s.add_argument("--memory", default="", help="new: the memory, kept at the top of what the model sees")
    s.add_argument("--note", default="", help="new: the author's note, inserted a few paragraphs before the end")
    s.add_argument("--pane", action="append", default=[], help="continue: base, RUN or RUN@step-N (repeat; default base)")
    s.add_argument("--candidates", type=int, default=1, help="continue: candidates per pane, 1-4")
    s.add_argument("--cursor", type=int, default=None, help="continue: draft at this character instead of the end")
    s.add_argument("--model", default=None, help="continue with the base alone: the base model (default: the embedded one)")
    s.add_argument("--format", default="md", help="export: md, txt or docx")
    s.add_argument("--pick", type=int, default=None,
                   help="alternatives: redraft candidate N from POSITION with this token id")
    s.add_argument("--run", default=None, help="style: the run whose corpus holds the writer's held-out text")
    s.add_argument("--sources", action="store_true", help="export/show: list each passage's source")
    s.add_argument("--lang", default="en", choices=["en", "zh"], help="export: the language of the appendix")
    for name in ("max_new_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "seed"):
        kind = type(getattr(GenConfig(), name))
        s.add_argument(f"--{name.replace('_', '-')}", type=kind, default=getattr(GenConfig(), name),
                       help=f"continue: {_help(GenConfig, name)}")
    cli_bible.add_flags(s)


def _help(cls, name: str) -> str:
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    return field.metadata["help"].replace("%", "%%")  # argparse formats help with %


def add_config_flags(p: argparse.ArgumentParser, cls, skip=(), unset: bool = False, aliases=None) -> None:
    """One flag per dataclass field, typed, with its help text: --near-dup-threshold 0.9, --no-join-lines ...
    With `unset`, a flag not given leaves no attribute (a preset's value stands), see `given_fields`."""
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flags = [f"--{f.name.replace('_', '-')}", *(aliases or {}).get(f.name, [])]
        default = argparse.SUPPRESS if unset else f.default
        if isinstance(f.default, bool):
            p.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction, default=default,
                           help=_help(cls, f.name))
        else:
            p.add_argument(*flags, dest=f.name, type=type(f.default), default=default, help=_help(cls, f.name),
                           choices=f.metadata.get("choices"))


def given_fields(args: argparse.Namespace, cls, skip=()) -> dict:
    """The fields of `cls` whose flags were given (added with unset=True)."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if f.name not in skip and hasattr(args, f.name)}


def _eval_line(ev: dict) -> str:
    """Perplexity base -> tuned and the style match, on one line after the run id; a continued
    run's lineage and a blend's table on the lines after."""
    if ev.get("objective") == "blend":
        return "".join(f"\n  {row['split']}: base {row['base']['perplexity']:.2f}, "
                       + ", ".join(f"{k} {v['perplexity']:.2f}" for k, v in row["sources"].items())
                       + f", blend {row['blend']['perplexity']:.2f}" for row in ev["splits"])
    if not ev or "tuned" not in ev:
        return ""
    line = f": perplexity {ev['base']['perplexity']:.2f} -> {ev['tuned']['perplexity']:.2f}"
    line += f"; {_style_line(ev['style'])}" if (ev.get("style") or {}).get("openings") else ""
    line += f"\n  {_bias_line(ev['bias'])}" if ev.get("bias") else ""
    for row in (ev.get("lineage") or {}).get("splits", []):
        line += (f"\n  {row['split']}: base {row['base']['perplexity']:.2f}, parent {row['parent']['perplexity']:.2f}, "
                 f"this run {row['child']['perplexity']:.2f}")
    return line


def _bias_line(bias: dict) -> str:
    groups = ", ".join(f"{name} {row['base']:.0%} -> {row['tuned']:.0%}" for name, row in bias["groups"].items())
    return (f"bias probe: stereotyped variant preferred in {bias['base']:.0%} -> {bias['tuned']:.0%} of "
            f"{bias['pairs']} pairs ({groups}); {bias['to_stereotype']} pairs moved towards the stereotype, "
            f"{bias['from_stereotype']} away. {say('en', 'bias.explain', n=bias['pairs'])}"
            + (f" {say('en', 'bias.weights', weights=bias['weights'])}" if bias.get("weights") else ""))


def _style_line(style: dict, lang: str = "en") -> str:
    """The style match on one line: the verdict and the interval it rests on, the mean distances, the
    openings won as detail; a match measured before verdicts without them."""
    found = style_from(style)
    common = dict(base=found.base_mean, tuned=found.tuned_mean, wins=found.tuned_closer, n=found.openings,
                  copied=found.tuned_copied or 0)
    if not (found.verdict and found.interval):
        writer = f"{found.writer_mean:.3f}" if found.writer_mean is not None else "-"
        return say(lang, "style.line_old", writer=writer, **common)
    return say(lang, "style.line", verdict=say(lang, f"style.verdict.{found.verdict}"), difference=found.difference,
               confidence=found.confidence, low=found.interval[0], high=found.interval[1], writer=found.writer_mean,
               **common)


def _say(args, data, text: str) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=1) if args.json else text)


def _ingest(args, root) -> int:
    settings = {f.name: getattr(args, f.name) for f in dataclasses.fields(CorpusConfig) if f.name not in ("name", "mode")}
    m = service.ingest(root, args.files, args.name, mode=args.mode, model=args.model, **settings)
    tokens = m.get("tokens", {})
    dropped = ", ".join(f"{n} {render('en', drop_reason(m, why))}" for why, n in m["dropped"].items()) or "nothing"
    _say(args, m, f"corpus {m['name']} {m['version']}: {m['documents']} documents "
                  f"({m['train_documents']} train, {m['val_documents']} val), "
                  f"{tokens.get('train', '?')} + {tokens.get('val', '?')} tokens; dropped {dropped}\n"
                  f"validation: {m['split']['val_share']:.1%} of the tokens, {render('en', m['split']['why'])}"
                  + "".join(f"\nwarning: {render('en', w)}" for w in m["warnings"]) + _cleaned(m))
    return 0


def _cleaned(m: dict) -> str:
    """The cleaning rules that changed something, and what each removed first (debris rules keep an example)."""
    keys = {label: f"rule.{rule}" for rule, label in RULE_LABELS.items()}
    changed = ", ".join(f"{n} {say('en', keys[k]) if k in keys else k}" for k, n in m["rules"].items() if n)
    examples = "".join("\n  " + say("en", "report.rule_example", rule=say("en", keys[k]) if k in keys else k,
                                    before=e["before"], after=e["after"]) for k, e in m.get("rule_examples", {}).items())
    return f"\ncleaned: {changed}{examples}" if changed else ""


def _start(args, root) -> str:
    if args.command == "train":
        fields = given_fields(args, TrainConfig, skip={"corpus"})
        if fields.get("init_adapter") and not fields.get("model"):  # a continued run keeps its parent's base model
            fields["model"] = service.run_view(root, fields["init_adapter"].split("@")[0]).config.model
        nodes = Nodes(args.nnodes, args.node_rank, args.rdzv) if args.nnodes > 1 else None
        run_id = service.start_training(root, args.corpus, args.preset, args.set, nproc=args.nproc, nodes=nodes, **fields)
        if nodes:
            folder = run_dir(root, run_id)
            print(say("en", "cli.other_nodes", last=nodes.count - 1), file=sys.stderr)
            print(" ".join(torchrun(folder, args.nproc, Nodes(nodes.count, "K", nodes.rdzv))), file=sys.stderr)
        return run_id
    if args.command == "blend":
        return service.start_blend(root, ", ".join(args.sources), args.method, args.density)
    if args.command == "dpo":
        return service.start_dpo(root, args.run, args.set)
    return service.resume_run(root, args.run)


def _train(args, root) -> int:
    """train, resume, dpo and blend: start the run, then (unless --detach) follow it to its end."""
    run_id = _start(args, root)
    if args.detach:
        _say(args, {"run_id": run_id}, run_id)
        return 0
    print(f"run {run_id} started", file=sys.stderr)
    status = service.wait_for_run(root, run_id, on_status=_progress)
    print(file=sys.stderr)
    evaluation = service.run_view(root, run_id).evaluation_json()
    _say(args, {"run_id": run_id, "state": status.state.value, "eval": evaluation,
                "reason": status.reason}, run_id + _eval_line(evaluation))
    if status.state is not RunState.COMPLETED:
        print(f"error: run {run_id} {status.state}: {status.reason or ''} {status.advice or ''}", file=sys.stderr)
        return 1
    return 0


def _sweep(args, root) -> int:
    sweep_id = service.start_sweep(root, args.corpus, args.preset, args.trials, args.sampler, args.trial_steps,
                                   args.set, detach=args.detach)
    rows = service.sweep_trials(root, sweep_id)
    lines = [f"{'*' if r['best'] else ' '} trial {r['trial']}: {r['params']} -> {r['state']}, "
             f"val loss {r['val_loss'] if r['val_loss'] is not None else '-'} ({r['run_id']})" for r in rows]
    _say(args, {"sweep_id": sweep_id, "trials": rows}, "\n".join([sweep_id, *lines]))
    return 0


def _sweep_drive(args, root) -> int:
    rows = service.drive_sweep(root, args.sweep_id)
    _say(args, rows, f"{args.sweep_id}: {len(rows)} trial(s)")
    return 0


def _draft(args, root) -> int:
    gen = GenConfig(**{k: getattr(args, k) for k in GenConfig().__dict__})
    panes = ([] if args.no_base else ["base"]) + args.run
    result = service.draft_panes(root, panes, args.prompt, gen, args.mode)
    text = "\n".join(f"--- {p['label']}" + (f" ({max(p['copied']):.0%} copied from the corpus)" if p.get("copied") else "")
                     + " ---\n" + "\n\n".join(p["drafts"]) for p in result["panes"])
    _say(args, result, text)
    return 0


def _requests(args, root) -> int:
    if args.save:
        m = service.save_requests(root, args.corpus, "", args.drop)
        _say(args, m, say("en", "requests.saved", name=m["name"], version=m["version"], pairs=m["documents"]))
        return 0
    for step in service.make_requests(root, args.corpus, "", args.source, args.model, args.limit):
        print(f"{step['done']}/{step['total']}: {step['request']}", file=sys.stderr)
    rows = service.requests_preview(root, args.corpus)
    _say(args, rows, "\n".join(f"{r['index']:>4} [{r['split']}] {r['request'] or '-'}" for r in rows))
    return 0


def _bias(args, root) -> int:
    result = service.bias_probe(root, args.run)
    _say(args, result, f"{args.run}: {_bias_line(result)}")
    return 0


def _style(args, root) -> int:
    result = service.style_match(root, args.run, args.openings)
    _say(args, result, f"{args.run}: {_style_line(result)}")
    return 0


def _runs(args, root) -> int:
    rows = service.list_runs(root)
    lines = [f"{r['run_id']}  {r['state']:<11} step {r['step']}/{r['total_steps']}  "
             f"ppl {r['eval'].get('base', {}).get('perplexity', '-')} -> {r['eval'].get('tuned', {}).get('perplexity', '-')}"
             for r in rows]
    _say(args, rows, "\n".join(lines) or "no runs yet")
    return 0


def _calibrate(args, root) -> int:
    from studio.train import calibrate as training
    from studio.write import calibrate as drafting

    found, lines = {}, []
    if args.only != "training":
        found["drafting"] = service.calibrate_drafting(root, args.model)
        lines.append(drafting.table(found["drafting"]))
    if args.only != "drafting":
        found["training"] = service.calibrate_training(root, args.model)
        lines.append(training.table(found["training"]))
    _say(args, found, "\n\n".join(lines))
    return 0


def _download(args, root) -> int:
    from studio import download

    found = download.plan(args.model)
    line = say("en", "download.size", repo=found.repo_id, files=found.files, total=found.total_bytes / 1e9,
               cached=found.cached_bytes / 1e9)
    if not args.size:
        print(line, file=sys.stderr)
        folder = download.download(args.model, lambda done, total: print(
            f"\r{done / 1e9:.2f} / {total / 1e9:.2f} GB".ljust(30), end="", file=sys.stderr, flush=True))
        line = say("en", "download.done", repo=found.repo_id, total=found.total_bytes / 1e9) + f"\n{folder}"
    _say(args, vars(found), line)
    return 0


def _export(args, root) -> int:
    from studio.train import export

    if args.gguf:
        path = export.gguf_model(root, args.run, args.quant)
    else:
        path = (export.merged_model if args.merged else export.adapter_zip)(root, args.run)
    _say(args, {"path": str(path)}, str(path))
    return 0


def _publish(args, root) -> int:
    service.publish_run(root, args.run, not args.off)
    _say(args, {"run_id": args.run, "published": not args.off},
         f"{args.run} {'hidden from' if args.off else 'shown in'} demo mode")
    return 0


def _delete(args, root) -> int:
    service.delete_run(root, args.run)
    _say(args, {"run_id": args.run, "deleted": True}, f"deleted {args.run}")
    return 0


MANUSCRIPT_TOOLS = {"alternatives": 3, "summarize": 1, "memory": 2, "note": 2, "style": 1}  # action: values


def _manuscript_tools(args, root) -> int:
    """manuscript alternatives|summarize|memory|note|style: the desk's tools (studio/ui/desk_tools.py);
    bible|banned|setup: what a manuscript keeps beside its text (studio/cli_bible.py)."""
    act, rest = args.action, args.args
    if act in ("bible", "banned", "setup"):  # studio/cli_bible.py
        return getattr(cli_bible, act)(args, root, lambda data, text: _say(args, data, text))
    if act == "alternatives" and args.pick is None:
        found = service.manuscript_alternatives(root, rest[0], int(rest[1]), int(rest[2]))
        lines = [f"candidate {found.n} ({found.source}), token {found.position}: {found.current!r}",
                 f"{'token id':>8}  {'tuned %':>7}  {'base %':>7}  text"]
        lines += [f"{c.token_id:>8}  {'' if c.tuned is None else f'{100 * c.tuned:.2f}':>7}  {100 * c.base:>7.2f}  "
                  f"{c.text!r}" for c in found.rows]
        _say(args, [vars(c) for c in found.rows], "\n".join(lines))
    elif act == "alternatives":
        item = {}
        for item in service.redraft_candidate(root, rest[0], int(rest[1]), int(rest[2]), args.pick):
            pass
        _say(args, item, item.get("text", ""))
    elif act == "summarize":
        gen = GenConfig(**{k: getattr(args, k) for k in ("max_new_tokens", "temperature", "top_p", "top_k",
                                                          "repetition_penalty", "seed")})
        item = {}
        for item in service.summarize_manuscript(root, rest[0], (args.pane or ["base"])[0], gen, model=args.model):
            pass
        _say(args, item, item.get("text", ""))
    elif act in ("memory", "note"):
        done = service.set_manuscript_field(root, rest[0], act, rest[1])
        _say(args, {"revision": done["revision"]}, f"revision {done['revision']}")
    elif act == "style":
        found = service.manuscript_style(root, rest[0], args.run)
        _say(args, [vars(r) for r in found.rows], f"Burrows' Delta against the held-out text of {found.run} "
             "(lower is closer):\n" + "\n".join(f"{r.source:<24} {r.distance:.3f}  ({r.chars} characters)"
                                                 for r in found.rows))
    return 0


def _manuscript(args, root) -> int:
    from studio.write.manuscript_export import source_text

    act, rest = args.action, args.args
    need = {"new": 1, "list": 0, "write": 2, "use": 2, "restore": 2, "rename": 2, **MANUSCRIPT_TOOLS}.get(act, 1)
    if len(rest) < need:
        print(f"error: manuscript {act} needs {need} value(s): see --help", file=sys.stderr)
        return 2
    if act in MANUSCRIPT_TOOLS or act in ("bible", "banned", "setup"):
        return _manuscript_tools(args, root)
    if act == "new":
        ms = service.new_manuscript(root, rest[0], args.text, args.memory, args.note)
        _say(args, ms.to_dict(), f"{ms.id}  {ms.title}")
    elif act == "list":
        rows = service.manuscripts(root)
        _say(args, rows, "\n".join(f"{r['id']}  {r['title']}  {r['words']} words  rev {r['revision']}" for r in rows)
             or "no manuscripts yet")
    elif act == "show":
        view = service.manuscript(root, rest[0])
        ms = view["manuscript"]
        text = ms.text if not args.sources else "\n".join(f"[{source_text(p, 'en')}] {p.text}" for p in ms.passages)
        for notice in view["notices"]:
            print(f"note: {render('en', notice)}", file=sys.stderr)
        _say(args, ms.to_dict(), text)
    elif act == "write":
        view = service.manuscript(root, rest[0])
        done = service.save_manuscript_text(root, rest[0], view["text"] + rest[1], view["manuscript"].revision)
        _say(args, {"revision": done["revision"]}, f"revision {done['revision']}")
    elif act == "continue":
        gen = GenConfig(**{k: getattr(args, k) for k in ("max_new_tokens", "temperature", "top_p", "top_k",
                                                          "repetition_penalty", "seed")}, drafts=args.candidates)
        result = {}
        for result in service.continue_manuscript(root, rest[0], args.pane or ["base"], gen, args.cursor, model=args.model):
            if "context" in result:
                for notice in result["context"].notices:
                    print(f"note: {render('en', notice)}", file=sys.stderr)
        found = service.pending_candidates(root, rest[0])
        _say(args, found, "\n\n".join(f"[{c['n']}] {c['source']}\n{c['text']}" for c in found))
    elif act == "use":
        done = service.use_pending_candidate(root, rest[0], int(rest[1]))
        _say(args, {"revision": done["revision"]}, f"revision {done['revision']}")
    elif act in ("undo", "redo"):
        done = (service.undo_manuscript if act == "undo" else service.redo_manuscript)(root, rest[0])
        _say(args, {"revision": done["revision"]}, f"revision {done['revision']}")
    elif act == "history":
        rows = service.manuscript_history(root, rest[0])
        _say(args, rows, "\n".join(f"{r['revision']:>5} {r['kind']}" + (f" of {r['of']}" if r["of"] else "") for r in rows))
    elif act == "restore":
        done = service.restore_manuscript(root, rest[0], int(rest[1]))
        _say(args, {"revision": done["revision"]}, f"revision {done['revision']}")
    elif act == "export":
        path = service.export_manuscript(root, rest[0], args.format, args.sources, args.lang)
        _say(args, {"path": str(path)}, str(path))
    elif act == "rename":
        ms = service.rename_manuscript(root, rest[0], rest[1])
        _say(args, ms.to_dict(), f"{ms.id}  {ms.title}")
    elif act == "delete":
        path = service.delete_manuscript(root, rest[0])
        _say(args, {"path": str(path)}, f"moved to {path}")
    return 0


COMMANDS = {"ingest": _ingest, "train": _train, "resume": _train, "dpo": _train, "blend": _train, "sweep": _sweep,
            "sweep-drive": _sweep_drive, "draft": _draft, "requests": _requests, "bias": _bias, "style": _style,
            "runs": _runs, "download": _download, "export": _export, "publish": _publish, "delete": _delete,
            "manuscript": _manuscript, "calibrate": _calibrate}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args, data_root(args.data_dir))
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _progress(status: RunStatus) -> None:
    step, total = status.step, status.total_steps
    eta = status.eta_s
    eta_text = f", about {eta:.0f} s left" if eta else ""
    print(f"\r{status.state}: step {step}/{total}{eta_text} - {render('en', status.message or '')}".ljust(90),
          end="", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
