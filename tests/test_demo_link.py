"""The demo link as strangers use it (issue 28): keys handed out by the server at a bounded rate,
the visitors' cap counting writers and never evicting today's, each visitor's drafts within the
owner's limits and one at a time, and, over HTTP, a whole visitor session that leaves every file of
the owner's byte for byte as it was; every endpoint answers JSON on the REST route."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import httpx
import pytest

from conftest import free_port
from studio import service
from studio.config import DemoLimits, GenConfig
from studio.write import demo_gate, visitors
from studio.write.visitors import VisitorError
from test_drafter import root, trained, trained_run  # noqa: F401 - fixtures


@pytest.fixture(autouse=True)
def fresh_gate():
    demo_gate.reset()
    yield
    demo_gate.reset()
    demo_gate.set_limits(DemoLimits())


@pytest.fixture
def data(tmp_path) -> Path:
    return tmp_path / "data"


def age(folder: Path, days: float) -> None:
    then = time.time() - days * 86400
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (then, then))


# -- keys -------------------------------------------------------------------------------------
def test_keys_are_signed_so_made_up_or_altered_keys_open_nothing(data):
    token = service.new_visitor_token(data, "10.0.0.1")
    folder = service.visitor_root(data, token)
    assert folder.parent == data / "demo-visitors" and folder.name == token[:32]
    altered = token[:-1] + ("0" if token[-1] != "0" else "1")
    for bad in (altered, "f" * 64, "a" * 32, token + "\n", token[:32] + "\n", "../../x", "a" * 100_000, None, 7):
        with pytest.raises(VisitorError, match="reload the page"):
            service.visitor_root(data, bad)
    # a key made before keys were signed still opens the folder it made, and nothing else
    legacy = "b" * 32
    (data / "demo-visitors" / legacy).mkdir(parents=True)
    assert service.visitor_root(data, legacy).name == legacy


def test_a_script_minting_keys_is_refused_past_the_hourly_limits_and_others_still_get_theirs(data):
    demo_gate.set_limits(DemoLimits(new_visitors_per_address=3, new_visitors_per_hour=5))
    now = time.time()
    made = [demo_gate.issue_key(data, "203.0.113.9", now=now + n) for n in range(3)]
    assert len(set(made)) == 3
    with pytest.raises(VisitorError, match="from your network address") as refused:
        demo_gate.issue_key(data, "203.0.113.9", now=now + 10)
    assert "60 minutes" in str(refused.value)
    demo_gate.issue_key(data, "198.51.100.1", now=now + 11)  # someone else is not locked out by the script
    demo_gate.issue_key(data, "198.51.100.2", now=now + 12)
    with pytest.raises(VisitorError, match="busy"):
        demo_gate.issue_key(data, "198.51.100.3", now=now + 13)  # the hour's keys for everyone are taken
    demo_gate.issue_key(data, "203.0.113.9", now=now + 3601)  # an hour later the window has moved on
    assert not (data / "demo-visitors").exists() or not visitors.shelves(data / "demo-visitors")  # keys make no folders


def test_the_cap_counts_writers_and_reclaims_empty_then_idle_folders_never_todays_writers(data):
    demo_gate.set_limits(DemoLimits(visitors=3))
    key = [service.new_visitor_token(data, "") for _ in range(6)]
    folder = [service.visitor_root(data, k) for k in key]
    gone = service.new_manuscript(folder[0], "Deleted at once")
    service.delete_manuscript(folder[0], gone.id)  # wrote, then deleted everything: an empty folder
    service.new_manuscript(folder[1], "Left two days ago")
    age(folder[1], 2)
    service.new_manuscript(folder[2], "Writing today")
    assert not service.demo_is_full(data)
    service.new_manuscript(folder[3], "A newcomer")  # the empty folder makes room first
    assert not folder[0].exists() and folder[1].exists()
    service.new_manuscript(folder[4], "Another newcomer")  # then the one idle for two days
    assert not folder[1].exists() and folder[2].exists()
    assert service.demo_is_full(data)
    with pytest.raises(VisitorError, match="this demo is full"):
        service.new_manuscript(folder[5], "One too many")  # everyone wrote today: nobody is evicted
    assert all(f.exists() for f in folder[2:5]) and not folder[5].exists()
    service.new_manuscript(folder[2], "A second story")  # a visitor who is in goes on writing


# -- drafting limits ---------------------------------------------------------------------------
def test_a_visitors_draft_stays_within_the_owners_limits_one_at_a_time(data):
    demo_gate.set_limits(DemoLimits(max_new_tokens=64, rows=2, drafts_per_minute=2, prompt_chars=100))
    folder = service.visitor_root(data, service.new_visitor_token(data, ""))
    other = service.visitor_root(data, service.new_visitor_token(data, ""))
    for asked, match in (((65, 1, 0), "at most 64 new tokens"), ((64, 3, 0), "at most 2 rows"),
                         ((8, 1, 101), "at most 100 characters")):
        with pytest.raises(VisitorError, match=match):
            with demo_gate.drafting(folder, *asked):
                pass
    now = time.time()
    with demo_gate.drafting(folder, 64, 2, now=now):
        with pytest.raises(VisitorError, match="still running"):
            with demo_gate.drafting(folder, 8, 1, now=now):
                pass
        with demo_gate.drafting(other, 8, 1, now=now):  # another visitor drafts meanwhile
            pass
    with demo_gate.drafting(folder, 8, 1, now=now + 1):
        pass
    with pytest.raises(VisitorError, match="2 drafts a minute"):
        with demo_gate.drafting(folder, 8, 1, now=now + 2):
            pass
    with demo_gate.drafting(folder, 8, 1, now=now + 61):  # a minute later
        pass
    with demo_gate.drafting(data, 4096, 16, 10**6, now=now):  # the owner is not limited
        pass


def test_a_visitors_comparison_draft_is_kept_in_their_folder_not_the_owners(root, trained_run, tiny_model_dir):
    service.publish_run(root, trained_run)
    folder = service.visitor_root(root, service.new_visitor_token(root, ""))
    owner_log = root / "drafts" / "drafts.jsonl"
    before = owner_log.read_bytes() if owner_log.exists() else None
    gen = GenConfig(max_new_tokens=8, temperature=0, drafts=1)
    *_, done = service.draft_stream(folder, ["base", trained_run], "The lamp", gen, model=str(tiny_model_dir))
    assert done["done"] and len(done["panes"]) == 2
    assert (owner_log.read_bytes() if owner_log.exists() else None) == before
    kept = [json.loads(line) for line in (folder / "drafts" / "drafts.jsonl").read_text().splitlines()]
    assert kept[-1]["prompt"] == "The lamp"
    with pytest.raises(service.DemoRefused):
        list(service.draft_stream(folder, ["base", "not-published"], "The lamp", gen))


# -- over HTTP, as a stranger ------------------------------------------------------------------
def owner_files(root: Path) -> dict[str, str]:
    """Every file of the owner's, hashed: all but the visitors' own folders."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not (rel.parts[0] == visitors.VISITORS_DIR and len(rel.parts) > 2):
            found[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture
def demo(root, trained_run, tiny_model_dir):
    from studio.ui.app import build_app, launch

    service.publish_run(root, trained_run)
    app = build_app(root, str(tiny_model_dir), demo=True)
    launch(app, port=free_port(), block=False, demo=True)
    yield app.local_url.rstrip("/")
    app.close()


SESSION = "visitor-script"  # one session, as one browser page: the choices a page load set are checked against


def rest(url: str, name: str, *data, timeout: float = 120) -> tuple[str, list | str]:
    """('complete', outputs) or ('error', message) of /gradio_api/call/NAME, as a script sees it."""
    started = httpx.post(f"{url}/gradio_api/call/{name}", json={"data": list(data), "session_hash": SESSION},
                         timeout=30)
    assert started.status_code == 200, (name, started.status_code, started.text[:300])
    text = httpx.get(f"{url}/gradio_api/call/{name}/{started.json()['event_id']}", timeout=timeout).text
    events = [block for block in text.split("\n\n") if block.strip()]
    kind, _, payload = events[-1].partition("\ndata: ")
    return kind.removeprefix("event: ").strip(), json.loads(payload)


def test_a_visitor_session_over_http_leaves_every_file_of_the_owners_unchanged(demo, root, trained_run):
    before = owner_files(root)
    assert rest(demo, "refresh_1", None, None, None)[0] == "complete"  # the page load: the published runs
    kind, shown = rest(demo, "open_desk", None, None, None, None, None)  # token, manuscript, the three tuned panes
    assert kind == "complete", shown
    token = shown[-1]
    assert service.visitor_root(root, token)  # the page was handed a signed key
    sampling = [128, 0, 0.95, 50, 1.1, 0, 1]  # max new, temperature, top p, top k, repetition, seed, drafts
    assert rest(demo, "draft", token, "continue", True, "Wind north", trained_run, None, None, *sampling)[0] == "complete"
    kind, made = rest(demo, "new_manuscript", token, "Lamp log")
    assert kind == "complete", made
    ms = made[0]["value"]
    assert rest(demo, "save", token, ms, "The keeper climbed the stair.", None)[0] == "complete"
    assert rest(demo, "set_field", token, ms, "A lighthouse on Gannet Rock.", None)[0] == "complete"
    desk = [True, trained_run, None, None, *sampling, "A lighthouse on Gannet Rock.", "", "candidates", None]
    kind, drafted = rest(demo, "continue_manuscript", token, ms, "The keeper climbed the stair.", None, *desk)
    assert kind == "complete", drafted
    for name, *args in (("context", token, ms, "The keeper climbed the stair.", None, *desk),
                        ("show_tokens", token, ms, None), ("show_alternatives", token, ms, None, 1),
                        ("use", token, ms, "The keeper climbed the stair.", None, None),
                        ("undo", token, ms, "The keeper climbed the stair.", None),
                        ("undo_1", token, ms, "The keeper climbed the stair.", None),
                        ("history", token, ms), ("export", token, ms, "The keeper climbed the stair.", None, "docx", True),
                        ("summarize", token, ms, "The keeper climbed the stair.", None, trained_run, 16, 0, 0.95, 50, 1.1, 0),
                        ("style", token, ms, "The keeper climbed the stair.", None, trained_run, None, None),
                        ("retry", token, ms, "The keeper climbed the stair.", None, *desk),
                        ("refresh_1", trained_run, None, None), ("_welcome",), ("stop_drafting", token)):
        kind, out = rest(demo, name, *args)
        assert kind in ("complete", "error"), (name, out)
        assert "serializ" not in json.dumps(out), (name, out)
    assert owner_files(root) == before  # byte for byte, every file of the owner's
    mine = service.visitor_root(root, token)
    assert (mine / "drafts" / "drafts.jsonl").exists() and (mine / "manuscripts").is_dir()


def test_every_demo_endpoint_answers_json_on_the_rest_route_and_unknown_ones_a_client_error(demo, root):
    config = httpx.get(f"{demo}/config").json()
    kinds = {c["id"]: c["type"] for c in config["components"]}
    token = rest(demo, "open_desk", None, None, None, None, None)[1][-1]
    named = [d for d in config["dependencies"] if d.get("api_name") and d.get("show_api", True) is not False]
    assert {"draft", "continue_manuscript", "open_desk", "export", "summarize"} <= {d["api_name"] for d in named}
    for dep in named:
        data = [token if kinds[i] == "browserstate" else None for i in dep["inputs"] if kinds[i] != "state"]
        kind, out = rest(demo, dep["api_name"], *data)
        assert kind in ("complete", "error"), (dep["api_name"], kind, out)
        assert "serializ" not in json.dumps(out) and "Traceback" not in json.dumps(out), (dep["api_name"], out)
    assert httpx.post(f"{demo}/gradio_api/call/no_such_thing", json={"data": []}).status_code == 404
    unknown = httpx.post(f"{demo}/gradio_api/queue/join", json={"data": [], "fn_index": 9999, "session_hash": "x1"})
    assert 400 <= unknown.status_code < 500, (unknown.status_code, unknown.text[:200])
    empty = httpx.post(f"{demo}/gradio_api/upload", files={"files": ("empty.txt", b"")})
    assert empty.status_code == 403  # the demo takes no files, not even an empty one


def test_exports_download_from_a_data_folder_outside_the_working_and_temp_folders(tiny_model_dir, monkeypatch):
    import tempfile

    from studio.ui.app import build_app, launch

    def far(folder: Path) -> bool:  # neither the working folder nor the temp folder, nor inside them
        return not folder.is_relative_to(Path.cwd()) and not folder.is_relative_to(tempfile.gettempdir()) \
            and not Path.cwd().is_relative_to(folder)

    bases = [b for b in (Path.home(), Path("/var/tmp"), Path("/srv")) if far(b) and os.access(b, os.W_OK)]
    if not bases:
        pytest.skip("no writable folder outside the working and temp folders")
    outside = bases[0] / f".writing-studio-test-{os.getpid()}"
    try:
        ms = service.new_manuscript(outside / "data", "Far away", "A manuscript kept outside every folder gradio serves.")
        app = build_app(outside / "data", str(tiny_model_dir))
        launch(app, port=free_port(), block=False)
        url = app.local_url.rstrip("/")
        try:
            assert rest(url, "open_desk", None, None, None, None)[0] == "complete"  # the page load lists the manuscript
            kind, out = rest(url, "export", ms.id, "A manuscript kept outside every folder gradio serves.", None, "txt",
                             False)
            assert kind == "complete", out
            got = httpx.get(out[1]["url"], timeout=30)
            assert got.status_code == 200 and b"outside every folder" in got.content
        finally:
            app.close()
    finally:
        shutil.rmtree(outside, ignore_errors=True)


def test_a_visitors_desk_tools_offer_the_owners_published_runs(root, trained_run, tiny_model_dir):
    from studio.ui import desk_tools
    from studio.ui.wiring import Call

    service.publish_run(root, trained_run)
    folder = service.visitor_root(root, service.new_visitor_token(root, ""))
    offered = desk_tools.summary_choices(Call(folder, "en", "s", demo=True))["summary_model"]["choices"]
    assert [value for _, value in offered] == ["base", trained_run]  # not the base alone
    ms = service.new_manuscript(folder, "Lamp", "The keeper climbed the stair. " * 4)
    with pytest.raises(ValueError, match="no model-written passage"):  # the run is found published, then judged
        service.manuscript_style(folder, ms.id, trained_run)
    service.publish_run(root, trained_run, False)
    with pytest.raises(service.DemoRefused):
        service.manuscript_style(folder, ms.id, trained_run)


def test_sessions_of_ended_visits_are_forgotten_not_kept_for_good(root, tiny_model_dir):
    from studio.ui.app import DEMO_SESSIONS, build_app, launch, reap_sessions

    app = build_app(root, str(tiny_model_dir), demo=True)
    launch(app, port=free_port(), block=False, demo=True)
    url = app.local_url.rstrip("/")
    try:
        assert app.state_session_capacity == DEMO_SESSIONS
        for n in range(6):  # a script's calls, each its own session, never closed by a heartbeat
            httpx.post(f"{url}/gradio_api/call/_welcome", json={"data": [], "session_hash": f"script-{n}"})
        deadline = time.time() + 30
        while len(app.state_holder.session_data) < 6 and time.time() < deadline:
            time.sleep(0.2)
        held = set(app.state_holder.session_data)
        assert {f"script-{n}" for n in range(6)} <= held
        app.state_holder.session_data["script-0"].is_closed = True  # a tab that was closed
        assert reap_sessions(app, closed_s=600, idle_s=7200) == 0  # in use a moment ago: kept
        assert reap_sessions(app, closed_s=600, idle_s=7200, now=time.time() + 601) == 1  # closed 10 min ago
        assert reap_sessions(app, closed_s=600, idle_s=7200, now=time.time() + 7201) == len(held) - 1
        assert not app.state_holder.session_data
        assert rest(url, "_welcome")[0] == "complete"  # a visitor who comes back gets a new session
    finally:
        app.close()
