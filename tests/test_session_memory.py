"""What a demo page session leaves in the server after it ended and was forgotten (studio/ui/app.py
reap_sessions): nothing filed under its session hash, gradio's queue included, and some KB of Python
objects at most where it held about 0.5 MB before (its copy of the page's config)."""
from __future__ import annotations

import gc
import time
import tracemalloc

import pytest

from conftest import free_port
from studio.write import demo_gate

SESSIONS = 6
KEPT_BYTES = 100_000  # Python objects still allocated per forgotten session: 10-20 KB measured (gradio's bounded
# event analytics, the key limit's per-address times, this process's clients); an unreaped one holds ~494 KB


@pytest.fixture(autouse=True)
def fresh_gate():
    demo_gate.reset()
    yield
    demo_gate.reset()


def held_under(app, hashes: set[str]) -> dict[str, set[str]]:
    """The session hashes still filed in each per-session structure of gradio's that a page fills."""
    queue = app._queue
    places = {"state_holder.session_data": app.state_holder.session_data,
              "state_holder.time_last_used": app.state_holder.time_last_used,
              "queue.pending_messages_per_session": queue.pending_messages_per_session,
              "queue.pending_event_ids_session": queue.pending_event_ids_session,
              "pending_streams": app.pending_streams, "pending_diff_streams": app.pending_diff_streams}
    return {name: found for name, place in places.items() if (found := hashes & set(place))}


def test_forgotten_page_sessions_leave_nothing_filed_under_their_session_hash(root, tiny_model_dir, monkeypatch):
    from demo_load import Page  # bench/demo_load.py: the page's load events, called as a browser tab does
    from gradio_client import Client

    from studio.ui.app import build_app, launch, reap_sessions

    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "1")  # a closed tab is seen closed in a second, not 15
    app = build_app(root, str(tiny_model_dir), demo=True)
    launch(app, port=free_port(), block=False, demo=True)
    url = app.local_url.rstrip("/")
    try:
        page = Page(url)

        def visit(n: int) -> str:
            """A tab opened (each from an address of its own, as behind a proxy), its page loads run, closed."""
            client = Client(url, verbose=False, download_files=False, headers={"X-Forwarded-For": f"10.0.0.{n + 1}"})
            token = None
            for name in page.loads:
                named = page.named(name, client.submit(*page.args(name, {"token": token}), api_name="/" + name)
                                   .result(timeout=120))
                if name == page.desk_load:
                    token = named[-1][1]
            assert token, "the desk's page load hands the tab a visitor key"
            client.close()  # the heartbeat ends: gradio marks the session closed
            return client.session_hash

        def end(hashes: list[str]) -> None:
            deadline = time.time() + 60
            while time.time() < deadline and not all(
                    (s := app.state_holder.session_data.get(h)) is None or s.is_closed for h in hashes):
                time.sleep(0.2)
            assert reap_sessions(app, closed_s=600, idle_s=7200, now=time.time() + 601) >= len(hashes)
            deadline = time.time() + 10  # the queue's records go on the server's event loop
            while time.time() < deadline and held_under(app, set(hashes)):
                time.sleep(0.1)
            gc.collect()

        end([visit(n) for n in range(2)])  # first calls fill caches and import lazily: not per session
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            hashes = [visit(n) for n in range(2, 2 + SESSIONS)]
            end(hashes)
            kept = (tracemalloc.get_traced_memory()[0] - before) / SESSIONS
        finally:
            tracemalloc.stop()
        assert held_under(app, set(hashes)) == {}
        assert kept < KEPT_BYTES, f"{kept:.0f} bytes of Python objects kept per forgotten session"
        assert visit(2 + SESSIONS) not in hashes  # a tab opened after the reaping: a session and a page of its own
    finally:
        app.close()
