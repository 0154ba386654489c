"""The served app over plain HTTP, as an attacker or a script would use it: demo mode refuses
every write endpoint, uploads over the limit and file routes outside the app are refused,
logins are required when set, and `--share` with no network prints the password and why the
link failed, and keeps serving."""
import os
import queue
import subprocess
import sys
import threading
import time

import httpx
import pytest

from conftest import free_port
from studio.paths import PROJECT_ROOT
from studio.ui.app import build_app, launch
from test_drafter import root, trained, trained_run  # noqa: F401 - fixtures

WRITE_ENDPOINTS = {"ingest", "ingest_sample", "start", "start_sweep", "handler", "delete", "ask_delete", "export_zip",
                   "export_merged", "export_dpo", "train_dpo", "start_duel", "judge"}
SHARE_DEADLINE_S = 240  # app.py --share: start, fail to reach the share server, say so


@pytest.fixture
def served(root):
    apps = []

    def serve(**options):
        app = build_app(root, "smollm2-135m-instruct", demo=options.get("demo", False))
        launch(app, port=free_port(), block=False, **options)
        apps.append(app)
        return app.local_url.rstrip("/")

    yield serve
    for app in apps:
        app.close()


def api_names(url: str, **kw) -> set[str]:
    return {d.get("api_name") for d in httpx.get(f"{url}/config", **kw).json()["dependencies"]}


def test_demo_mode_has_no_write_endpoint_and_queues_no_write_call_over_http(served, root, trained_run):
    url = served(demo=True)
    names = api_names(url)
    assert "draft" in names and not names & WRITE_ENDPOINTS
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    for name in ("start", "ingest", "delete", "export_merged", "train_dpo"):
        reply = httpx.post(f"{url}/gradio_api/call/{name}", json={"data": []})
        assert reply.status_code != 200 and "event_id" not in reply.text, (name, reply.status_code, reply.text[:200])
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # nothing was written
    upload = httpx.post(f"{url}/gradio_api/upload", files={"files": ("story.txt", b"A short story.")})
    assert upload.status_code == 403 and "no uploads" in upload.text  # the demo takes no files at all


def test_demo_mode_refuses_write_calls_with_a_client_error_not_a_server_error(served):
    url = served(demo=True)
    for name in ("start", "ingest", "delete", "export_merged", "train_dpo"):
        reply = httpx.post(f"{url}/gradio_api/call/{name}", json={"data": []})
        assert reply.status_code == 404, (name, reply.status_code, reply.text[:200])


def test_demo_drafts_only_with_published_runs_whatever_is_sent(served, root, trained_run):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from studio.ui.write_tab import check_demo_panes

    url = served(demo=True)
    client = Client(url, verbose=False)
    token = client.predict(None, None, None, None, None, api_name="/open_desk")[-1]  # the page load hands a key
    # (its inputs: the token, the manuscript picked and the three tuned panes)
    args = dict(token=token, mode_value="continue", text="Wind: north", base_on=False, p1=trained_run, p2=None, p3=None, n_tokens=8,
                temp=0, top_p_value=0.9, top_k_value=0, rep=1.0, seed_value=0, n_drafts=1)
    with pytest.raises(AppError, match="not in the list of choices"):  # gradio's own check comes first
        client.predict(*args.values(), api_name="/draft")
    with pytest.raises(ValueError, match="not published"):  # and the handler's, behind it
        check_demo_panes(root, ["base", f"{trained_run}@step-2"])
    drafted = client.predict(*{**args, "base_on": True, "p1": None}.values(), api_name="/draft")
    assert "Error" not in drafted[0] and drafted[2]  # the message, the record, the base pane


def test_uploads_over_the_limit_are_refused_and_file_routes_stay_inside(served, root):
    url = served(max_upload_mb=0.001)  # about 1 KB
    small = httpx.post(f"{url}/gradio_api/upload", files={"files": ("ok.txt", b"x" * 200)})
    assert small.status_code == 200
    big = httpx.post(f"{url}/gradio_api/upload", files={"files": ("big.txt", b"x" * 5000)})
    assert big.status_code == 413
    secret = root / "runs" / "secret.txt"
    secret.write_text("do not serve")
    for path in ("/etc/passwd", "../../../../../etc/passwd", "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                 "..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", str(secret), str(PROJECT_ROOT / "app.py")):
        for route in ("/gradio_api/file=", "/file="):
            reply = httpx.get(f"{url}{route}{path}")
            assert reply.status_code in (403, 404), (route, path, reply.status_code)
            assert "root:" not in reply.text and "do not serve" not in reply.text


def test_a_login_is_required_when_set(served):
    url = served(logins=[("writer", "s3cret-words")])
    assert httpx.get(f"{url}/config").status_code == 401
    with httpx.Client() as c:
        wrong = c.post(f"{url}/login", data={"username": "writer", "password": "wrong"})
        assert wrong.status_code == 400 and "Incorrect credentials" in wrong.text, (wrong.status_code, wrong.text[:200])
        assert c.get(f"{url}/config").status_code == 401  # a wrong password lets nobody in
        assert c.post(f"{url}/login", data={"username": "writer", "password": "s3cret-words"}).status_code == 200
        assert c.get(f"{url}/config").status_code == 200


def test_share_without_network_prints_the_password_and_the_reason_and_keeps_serving(tmp_path):
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",  # no route out, even where one exists
           "NO_PROXY": "127.0.0.1,localhost"}
    proc = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "app.py"), "--share", "--port", str(port),
                             "--data-dir", str(tmp_path / "data")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, cwd=PROJECT_ROOT)
    lines: queue.Queue = queue.Queue()  # read on a thread: a process that goes silent cannot hang the test
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout] + [lines.put(None)], daemon=True).start()
    seen = []
    try:
        deadline = time.time() + SHARE_DEADLINE_S
        while not any("keeps serving" in line for line in seen):
            try:
                line = lines.get(timeout=max(0.0, deadline - time.time()))
            except queue.Empty:
                pytest.fail(f"app.py --share did not say it keeps serving within {SHARE_DEADLINE_S} s; it printed:\n{''.join(seen)}")
            if line is None:
                pytest.fail(f"app.py --share exited ({proc.wait(5)}) before it kept serving:\n{''.join(seen)}")
            seen.append(line)
        output = "".join(seen)
        assert "keeps serving" in output, output
        assert output.count("Password: ") == 1
        password = output.split("Password: ")[1].split()[0]
        assert len(password) >= 20
        assert httpx.get(f"http://127.0.0.1:{port}/config").status_code == 401  # the local URL needs the login too
        with httpx.Client() as c:
            assert c.post(f"http://127.0.0.1:{port}/login", data={"username": "studio", "password": password}).status_code == 200
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def test_logins_come_from_auth_and_auth_file_and_a_bad_line_is_named(tmp_path):
    sys.path.insert(0, str(PROJECT_ROOT))
    from app import parse_logins

    logins = tmp_path / "logins.txt"
    logins.write_text("# team\nana:first-pass\n\nbo:second:pass\n", encoding="utf-8")
    assert parse_logins("me:mine", logins) == [("me", "mine"), ("ana", "first-pass"), ("bo", "second:pass")]
    logins.write_text("ana:first-pass\nbo-without-password\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="logins.txt line 2: expected USER:PASS"):
        parse_logins(None, logins)
    with pytest.raises(SystemExit, match="cannot read it"):
        parse_logins(None, tmp_path / "missing.txt")


def test_every_interface_text_has_english_and_chinese():
    import re

    from studio.messages import MESSAGES
    from studio.ui.i18n import STRINGS

    cjk = re.compile(r"[\u4e00-\u9fff]")
    technical = {"write.top_p", "setting.train.dpo_beta", "setting.train.lora_alpha", "setting.train.lora_dropout",
                 "setting.train.use_rslora", "setting.train.use_dora", "minutes", "seconds", "text",
                 "memory.logits", "estimate.note"}  # the same in both
    for key, (en, zh) in {**STRINGS, **MESSAGES}.items():
        assert en and zh, key
        assert key in technical or cjk.search(zh), f"{key} has no Chinese text"
        assert set(re.findall(r"{(\w+)", en)) == set(re.findall(r"{(\w+)", zh)) or key.startswith("setting."), \
            f"{key}: the Chinese text fills in other fields than the English"
    used = set(re.findall(r'T\(f?"([\w.{}+ -]+)"', "".join(p.read_text() for p in (PROJECT_ROOT / "studio" / "ui").glob("*.py"))))
    assert {k for k in used if "{" not in k} <= set(STRINGS)


def test_text_built_by_a_handler_follows_the_visitors_language():
    from types import SimpleNamespace

    from studio.ui.i18n import request_lang
    from studio.ui.views import eval_markdown, progress_html

    chinese = SimpleNamespace(headers={"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"})
    english = SimpleNamespace(headers={"accept-language": "en-GB,en;q=0.9,zh-CN;q=0.5"})
    assert (request_lang(chinese), request_lang(english), request_lang(None)) == ("zh", "en", "en")
    assert request_lang(english, forced="zh") == "zh"  # --lang zh holds for every visitor
    from studio.records import RunStatus, RunView, evaluation_from_dict

    view = RunView("r1", RunStatus(state="running", step=3, total_steps=10, eta_s=75), config=None)
    assert "训练中" in progress_html(view, "zh") and "第 3/10 步" in progress_html(view, "zh")
    assert "约剩 1 分 15 秒" in progress_html(view, "zh")
    assert "step 3/10" in progress_html(view, "en") and "about 1 min 15 s left" in progress_html(view, "en")
    ev = evaluation_from_dict({"base": {"perplexity": 9.0, "loss": 2.2}, "tuned": {"perplexity": 6.0, "loss": 1.8},
                               "perplexity_change": -0.33, "tokens_seen": 1200, "train_seconds": 42})
    assert "困惑度" in eval_markdown(ev, "zh") and "共训练 1,200 个 token，用时 42 秒" in eval_markdown(ev, "zh")
