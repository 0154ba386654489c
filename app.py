"""Launch Writing Studio: parse flags, build the UI, serve it. Nothing else."""
from __future__ import annotations

import argparse
import dataclasses
import logging
import secrets
import sys
import threading
from pathlib import Path

from studio.config import ConfigError, DemoLimits
from studio.models import EMBEDDED_DEFAULT, ModelUnavailable, registry, resolve
from studio.paths import data_root

SHARE_USER = "studio"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Writing Studio: fine-tune a writing model and compare drafts.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--data-dir", help="where corpora, runs and model caches live (default $STUDIO_DATA_DIR or ./studio-data)")
    p.add_argument("--model", default=EMBEDDED_DEFAULT, help="default base model: registry name, hub id or local folder")
    p.add_argument("--share", action="store_true",
                   help="also serve a public gradio.live link; always behind a password (generated when no --auth)")
    p.add_argument("--auth", metavar="USER:PASS", help="require this user name and password")
    p.add_argument("--auth-file", type=Path, metavar="FILE", help="require a login; one USER:PASS per line")
    p.add_argument("--demo", action="store_true",
                   help="read-only: only the Write tab, over published runs; no uploads, training, deletes or files")
    p.add_argument("--lang", choices=["en", "zh"], help="interface language for every visitor (default: the browser's)")
    p.add_argument("--max-upload-mb", type=float, default=200, help="largest file accepted by an upload (default 200)")
    limits = p.add_argument_group("demo limits", "what one visitor of a --demo link may ask (docs/sharing.md)")
    for f in dataclasses.fields(DemoLimits):
        limits.add_argument(demo_flag(f.name), type=f.type if callable(f.type) else int, default=f.default,
                            metavar="N", help=f"{f.metadata['help']} (default {f.default})")
    return p.parse_args(argv)


def demo_flag(name: str) -> str:
    return "--demo-" + name.replace("_", "-")


def demo_limits(args: argparse.Namespace) -> DemoLimits:
    """The DemoLimits of the --demo-* flags; a bad value stops the launch and names its flag."""
    values = {f.name: getattr(args, "demo_" + f.name) for f in dataclasses.fields(DemoLimits)}
    try:
        return DemoLimits(**values)
    except ConfigError as e:
        raise SystemExit(f"{demo_flag(e.field)}: {e}") from None


def parse_logins(auth: str | None, auth_file: Path | None) -> list[tuple[str, str]]:
    """USER:PASS pairs from --auth and --auth-file; a malformed entry stops the launch with its line."""
    entries = [("--auth", auth)] if auth else []
    if auth_file:
        try:
            lines = auth_file.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise SystemExit(f"--auth-file {auth_file}: cannot read it ({e.strerror})")
        entries += [(f"{auth_file} line {n}", line.strip()) for n, line in enumerate(lines, 1)
                    if line.strip() and not line.lstrip().startswith("#")]
        if not any(where != "--auth" for where, _ in entries):
            raise SystemExit(f"--auth-file {auth_file}: no USER:PASS lines in it")
    logins = []
    for where, entry in entries:
        user, sep, password = entry.partition(":")
        if not sep or not user or not password:
            raise SystemExit(f"{where}: expected USER:PASS with neither part empty")
        logins.append((user, password))
    return logins


def warm_model_cache(root, model: str) -> None:
    # Builds the embedded model's safetensors cache (~30 s, first launch only) while the user
    # looks around, so the first ingest or training run does not wait for it.
    try:
        if model in registry():
            resolve(model, root)
    except ModelUnavailable as e:
        logging.warning("%s", e)


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logins = parse_logins(args.auth, args.auth_file)
    limits = demo_limits(args)
    if args.share and not logins:
        # A public link is never open: without --auth, a strong password made now, shown once.
        password = secrets.token_urlsafe(16)
        logins = [(SHARE_USER, password)]
        print(f"Sharing needs a login. User: {SHARE_USER}  Password: {password}  (shown once; pass --auth to choose)",
              flush=True)
    root = data_root(args.data_dir)
    threading.Thread(target=warm_model_cache, args=(root, args.model), daemon=True).start()
    from studio import service
    from studio.ui.app import build_app, launch

    service.set_demo_limits(limits)  # before the page is built: a visitor's sliders stop at them

    print(f"Writing Studio: data in {root}{' (demo mode: Write tab over published runs only)' if args.demo else ''}",
          flush=True)
    app = build_app(root, args.model, demo=args.demo, lang=args.lang)
    launch(app, host=args.host, port=args.port, share=args.share, logins=logins, demo=args.demo,
           max_upload_mb=args.max_upload_mb)


if __name__ == "__main__":
    sys.exit(main())
