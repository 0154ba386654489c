"""Downloading a hub model from the Models tab or the CLI, against a small stand-in for the hub
served on this machine (HF_ENDPOINT): the size comes first, progress follows the bytes, a download
cut half-way resumes where it stopped, and a gated model or no network gets a message saying what
to do, in English and Chinese."""
from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from studio import download
from studio.messages import render
from studio.models import ModelUnavailable

COMMIT = "c" * 40
WEIGHTS = bytes(range(256)) * 4000  # about 1 MB
FILES = {"config.json": b'{"model_type": "llama"}', "tokenizer.json": b"{}", "model.safetensors": WEIGHTS,
         "pytorch_model.bin": b"duplicate weights the studio does not fetch" * 100}


class Hub(BaseHTTPRequestHandler):
    """The few hub routes huggingface_hub's snapshot_download uses (huggingface_hub 2.4)."""
    requests: list = []
    cut_once = False  # the first download of the weights stops half-way

    def log_message(self, *args):
        pass

    def _answer(self, status: int, body: bytes = b"", headers: dict | None = None, send_body: bool = True):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)) if "Content-Length" not in (headers or {}) else headers["Content-Length"])
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _route(self, head: bool):
        path = self.path.split("?")[0]
        Hub.requests.append((self.command, path, self.headers.get("Range")))
        if "/gated/" in path:
            return self._answer(403, b'{"error": "gated"}', {"X-Error-Code": "GatedRepo", "X-Error-Message": "gated"})
        if path.startswith("/api/models/") and "/tree/" in path:
            listing = [{"type": "file", "path": n, "size": len(d), "oid": "b" * 40} for n, d in FILES.items()]
            return self._answer(200, json.dumps(listing).encode(), {"Content-Type": "application/json"})
        if path.startswith("/api/models/"):
            info = {"id": "org/tiny", "sha": COMMIT, "siblings": [{"rfilename": n} for n in FILES]}
            return self._answer(200, json.dumps(info).encode(), {"Content-Type": "application/json"})
        found = re.match(r"^/[^/]+/[^/]+/resolve/[^/]+/(.+)$", path)
        if not found:
            return self._answer(404)
        data = FILES[found.group(1)]
        start = int(re.match(r"bytes=(\d+)-", self.headers["Range"]).group(1)) if self.headers.get("Range") else 0
        headers = {"X-Repo-Commit": COMMIT, "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
                   "Content-Length": str(len(data) - start)}
        if head:
            return self._answer(200, b"", headers, send_body=False)
        if found.group(1) == "model.safetensors" and Hub.cut_once:
            Hub.cut_once = False
            self._answer(200, data[: len(data) // 2], headers)  # promised all, sent half: the line drops
            self.close_connection = True
            return
        self._answer(206 if start else 200, data[start:], headers)

    def do_HEAD(self):
        self._route(head=True)

    def do_GET(self):
        self._route(head=False)


@pytest.fixture
def hub(monkeypatch, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Hub.requests, Hub.cut_once = [], False
    import huggingface_hub.constants as constants

    endpoint = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)  # 10 MB in use: the test file is 1 MB
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    yield server
    server.shutdown()


def test_the_size_comes_first_then_progress_follows_the_bytes(hub, tmp_path):
    before = download.plan("org/tiny")
    wanted = sum(len(FILES[n]) for n in ("config.json", "tokenizer.json", "model.safetensors"))
    assert (before.total_bytes, before.cached_bytes, before.files) == (wanted, 0, 3)  # no .bin duplicate
    assert not [r for r in Hub.requests if r[0] == "GET" and "/resolve/" in r[1]]  # sizing fetched no file
    seen = []
    folder = download.download("org/tiny", lambda done, total: seen.append((done, total)))
    assert (tmp_path / "hub").exists() and str(tmp_path / "hub") in folder
    assert seen and seen[-1] == (wanted, wanted) and all(a <= b for (a, _), (b, _) in zip(seen, seen[1:]))
    after = download.plan("org/tiny")
    assert after.cached_bytes == after.total_bytes == wanted


def test_a_download_cut_half_way_resumes_where_it_stopped(hub):
    Hub.cut_once = True
    try:
        download.download("org/tiny")
    except ModelUnavailable:
        download.download("org/tiny")  # the writer clicks Download again
    resumed = [r for r in Hub.requests if r[1].endswith("model.safetensors") and r[0] == "GET" and r[2]]
    start = int(re.match(r"bytes=(\d+)-", resumed[-1][2]).group(1)) if resumed else 0
    assert len(WEIGHTS) // 4 <= start <= len(WEIGHTS) // 2  # from the last whole chunk it kept, not from zero
    assert download.plan("org/tiny").cached_bytes == download.plan("org/tiny").total_bytes


def test_a_gated_model_says_how_to_get_access(hub):
    with pytest.raises(ModelUnavailable) as caught:
        download.plan("org/gated")
    assert "accept its licence" in str(caught.value) and "HF_TOKEN" in str(caught.value)
    assert "接受许可" in render("zh", caught.value)


def test_without_a_network_the_message_says_so_and_what_to_do(monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelUnavailable) as caught:
        download.plan("qwen3-0.6b")
    assert "Qwen/Qwen3-0.6B" in str(caught.value) and "no network" in str(caught.value)
    assert "没有网络" in render("zh", caught.value)
    with pytest.raises(ModelUnavailable, match="already on this machine"):
        download.hub_id("smollm2-135m-instruct")
