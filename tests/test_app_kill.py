"""The served app killed with SIGKILL in the middle of a draft (issue 22, "never lost"): app.py runs
as a writer's browser would reach it, over HTTP through the desk's own endpoints (gradio_client,
one session: the desk's gr.State values live on the server, as in a browser tab). A manuscript is
made, edited, given a memory, continued, a candidate used, edited again; a long continue streams,
and the app's whole process group is killed mid-stream. Started again on the same data folder,
the app shows every edit and accepted passage made before the kill, each passage keeps its
source, and undo walks back through every step."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import free_port
from studio import service
from studio.paths import PROJECT_ROOT
from studio.write.manuscript import words

START_S = 90  # app.py: imports, build, serve (about 10 s on an idle 2-core machine)
STREAM_S = 60  # the long continue's first streamed candidate text
FIRST = "The keeper wrote in the log.\n"
DRAFT = dict(with_base=True, p1=None, p2=None, p3=None, temperature=0.8, top_p=0.9, top_k=0, repetition=1.0)


class App:
    """app.py in its own process group (as a service manager starts it), on a free port."""

    def __init__(self, data: Path, model: Path, log: Path):
        self.port, self.log = free_port(), log
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
               "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        with open(log, "w") as out:
            self.proc = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "app.py"), "--port", str(self.port),
                                          "--data-dir", str(data), "--model", str(model), "--lang", "en"],
                                         stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env=env,
                                         start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + START_S
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"app.py exited ({self.proc.returncode}) before serving:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/config", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                self.kill()
                pytest.fail(f"app.py did not serve within {START_S} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)

    def client(self):
        from gradio_client import Client

        return Client(self.url, verbose=False)

    def kill(self):
        """SIGKILL to the whole process group: the server and any worker it started; nothing runs a cleanup."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)


def value(output):
    """A component's value in an endpoint's output (a gr.update comes as a dict)."""
    return output.get("value") if isinstance(output, dict) and output.get("__type__") == "update" else output


def drafted_text(outputs) -> list[str]:
    """The candidate texts in a continue's (streamed) outputs: notice, context view, 16 boxes, ..."""
    return [value(o) for o in outputs[2:2 + 16] if value(o)]


MEMORY = "A lighthouse on a rock."


def draft_args(ms_id, text, max_new, seed, drafts):
    d = DRAFT
    return (ms_id, text, d["with_base"], d["p1"], d["p2"], d["p3"], max_new, d["temperature"], d["top_p"], d["top_k"],
            d["repetition"], seed, drafts, MEMORY, "", "candidates", None)  # the memory and the note as the page
    # shows them, the drafts side by side, no cursor


def test_a_sigkill_of_the_served_app_mid_draft_loses_no_accepted_passage_and_no_edit(tmp_path, tiny_model_dir):
    data = tmp_path / "data"
    app = App(data, tiny_model_dir, tmp_path / "app-1.log")
    try:
        client = app.client()
        made = client.predict("The Keeper", api_name="/new_manuscript")  # pick, text, title, memory, ...
        ms_id = value(made[0])
        assert ms_id and value(made[2]) == "The Keeper"
        texts = [""]  # the editor's text after each change, oldest first
        for n in range(3):  # the writer types; each blur saves
            text = FIRST + "".join(f" Edit {k}." for k in range(n + 1))
            notice, _sources, pick, *_saved_text_file = client.predict(ms_id, text, api_name="/save")
            assert notice == "" and value(pick) == ms_id
            texts.append(text)
        assert client.predict(ms_id, MEMORY, api_name="/set_field") == ""  # the memory's blur
        short = client.predict(*draft_args(ms_id, texts[-1], 8, 3, 1), api_name="/continue_manuscript")
        [candidate] = drafted_text(short)
        used_text, used_sources, used_notice, _pick = client.predict(ms_id, texts[-1], api_name="/use")  # slot 1
        assert used_text == texts[-1] + candidate and "Candidate 1" in used_notice, used_notice
        assert 'data-source="base"' in used_sources
        texts.append(used_text)
        last = used_text + " Last edit."
        assert client.predict(ms_id, last, api_name="/save")[0] == ""
        texts.append(last)

        job = client.submit(*draft_args(ms_id, last, 384, 7, 4), api_name="/continue_manuscript")
        deadline, streamed = time.time() + STREAM_S, None
        while streamed is None and time.time() < deadline and not job.done():
            outputs = job.outputs()
            if outputs and drafted_text(outputs[-1]):
                streamed = outputs[-1]
            else:
                time.sleep(0.02)
        assert streamed is not None, f"no candidate text streamed:\n{app.log.read_text()[-3000:]}"
        app.kill()  # in the middle of the draft
        assert "candidate(s)" not in value(streamed[0]), f"the draft had ended before the kill: {streamed[0]}"
    finally:
        app.kill()

    again = App(data, tiny_model_dir, tmp_path / "app-2.log")
    try:
        client = again.client()
        shown = client.predict(None, None, None, None, api_name="/open_desk")  # the page load: the newest manuscript
        pick, text, title, memory = (value(o) for o in shown[:4])
        assert (pick, text, title, memory) == (ms_id, last, "The Keeper", "A lighthouse on a rock.")
        assert shown[0]["choices"] == [[f"The Keeper ({words(last)} words)", ms_id]]  # the count of the saved text
        ms = service.manuscript(data, ms_id)["manuscript"]  # and on the disk, read by this process
        assert [p.source for p in ms.passages] == ["writer", "base", "writer"]
        assert [p.text for p in ms.passages] == [texts[3], candidate, " Last edit."]
        assert ms.passages[1].settings["seed"] == 3
        undone = [client.predict(ms_id, last, api_name="/undo")[0]]  # undo, over HTTP: every step is there
        undone += [client.predict(ms_id, undone[-1], api_name="/undo")[0]]
        after_memory = client.predict(ms_id, undone[-1], api_name="/undo")[0]  # takes back the memory
        assert service.manuscript(data, ms_id)["manuscript"].memory == ""
        for _ in range(3):
            undone.append(client.predict(ms_id, undone[-1], api_name="/undo")[0])
        assert [texts[4], texts[3]] == undone[:2] and after_memory == texts[3]
        assert undone[2:] == [texts[2], texts[1], texts[0]]
    finally:
        again.kill()
