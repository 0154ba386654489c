"""Fetching a hub model before any run needs it: the size first, then the files with progress.

huggingface_hub does the work: `snapshot_download(dry_run=True)` lists what would come and what
is already in the local cache, and the real download resumes a file left half-way (its
`.incomplete` part stays in the cache). Only the files `from_pretrained` reads are fetched: not
the duplicate PyTorch `.bin` weights, the GGUF or ONNX copies some repositories also hold.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from studio.models import ModelUnavailable, registry

FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]


@dataclass
class Plan:
    repo_id: str
    total_bytes: int  # all the files the model needs
    cached_bytes: int  # of those, already in the local cache
    files: int


def hub_id(model: str) -> str:
    """The hub id of a registry name or of an `org/name` id; the embedded model and local folders
    have nothing to download."""
    entry = registry().get(model)
    if entry and entry.source == "hub":
        return entry.id
    if entry:
        raise ModelUnavailable("download.not_hub", model=model)
    if model.count("/") == 1 and not model.startswith((".", "/")):
        return model
    raise ModelUnavailable("download.unknown", model=model, names=", ".join(n for n, e in registry().items()
                                                                            if e.source == "hub"))


def _hub_call(repo_id: str, call):
    """Run a hub call; its failures become a ModelUnavailable that says what to do. huggingface_hub
    often wraps the cause (a gated repository seen while sizing surfaces as a DryRunError), so the
    whole chain of causes is read."""
    import httpx2  # the HTTP client huggingface_hub 2.x uses
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                        OfflineModeIsEnabled, RepositoryNotFoundError)

    try:
        return call()
    except Exception as error:  # noqa: BLE001 - classified below; anything unknown is raised as it is
        chain, cause = [], error
        while cause is not None and cause not in chain:
            chain.append(cause)
            cause = cause.__cause__ or cause.__context__
        for cause in chain:
            status = getattr(getattr(cause, "response", None), "status_code", None)
            if isinstance(cause, GatedRepoError) or (isinstance(cause, HfHubHTTPError) and status in (401, 403)):
                raise ModelUnavailable("download.gated", repo=repo_id) from None
            if isinstance(cause, RepositoryNotFoundError):
                raise ModelUnavailable("download.not_found", repo=repo_id) from None
        for cause in chain:
            if isinstance(cause, (OfflineModeIsEnabled, LocalEntryNotFoundError, httpx2.ConnectError,
                                  httpx2.TimeoutException)):
                raise ModelUnavailable("download.offline", repo=repo_id) from None
        if isinstance(error, (HfHubHTTPError, OSError)):
            raise ModelUnavailable("download.failed", repo=repo_id, error=str(error).splitlines()[0]) from None
        raise


def plan(model: str) -> Plan:
    """What downloading `model` means: its size, and how much of it is already here."""
    from huggingface_hub import snapshot_download

    repo_id = hub_id(model)
    infos = _hub_call(repo_id, lambda: snapshot_download(repo_id, allow_patterns=FILES, dry_run=True))
    return Plan(repo_id, sum(i.file_size or 0 for i in infos),
                sum(i.file_size or 0 for i in infos if i.is_cached), len(infos))


def download(model: str, report: Callable[[int, int], None] | None = None) -> str:
    """Fetch `model` into the local hub cache; `report(bytes_done, bytes_total)` follows the bytes.
    Returns the snapshot folder."""
    from huggingface_hub import snapshot_download
    from tqdm.auto import tqdm

    repo_id = hub_id(model)

    class Bytes(tqdm):  # huggingface_hub reports the bytes of all files through one bar of this class
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = report is None or kwargs.get("unit") != "B"
            super().__init__(*args, **kwargs)

        def update(self, n=1):
            done = super().update(n)
            if not self.disable and self.desc.startswith("Reconstructing"):
                report(int(self.n), int(self.total or 0))
            return done

    return _hub_call(repo_id, lambda: snapshot_download(repo_id, allow_patterns=FILES, tqdm_class=Bytes))
