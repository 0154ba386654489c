"""Launch Writing Studio: parse flags, build the UI, serve it. Nothing else."""
from __future__ import annotations

import argparse
import logging
import threading

from studio.models import EMBEDDED_DEFAULT, ModelUnavailable, registry, resolve
from studio.paths import data_root


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Writing Studio: fine-tune a writing model and compare drafts.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--data-dir", help="where corpora, runs and model caches live (default $STUDIO_DATA_DIR or ./studio-data)")
    p.add_argument("--model", default=EMBEDDED_DEFAULT, help="default base model: registry name, hub id or local folder")
    return p.parse_args(argv)


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
    root = data_root(args.data_dir)
    threading.Thread(target=warm_model_cache, args=(root, args.model), daemon=True).start()
    from studio.ui.app import build_app

    print(f"Writing Studio: data in {root}")
    build_app(root, args.model).queue(default_concurrency_limit=2).launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
