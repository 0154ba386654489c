"""The demo link in a real browser: two visitors (two browser contexts, each its own localStorage)
write manuscripts of their own; neither sees the other's text, and a reload brings back each
one's own. Screenshots in tests/artifacts/browser/. Skips without chromium, as test_browser.py."""
import re

import pytest

from conftest import free_port
from test_browser import CHROMIUM, SHOTS, browser, textbox  # noqa: F401 - the browser fixture

WAIT = 30_000  # ms: expect's default 5 s is short on a busy 2-core machine
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="no chromium here (apt-get install chromium); CI installs it")


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    return tmp_path_factory.mktemp("browser-demo") / "data"


@pytest.fixture(scope="module")
def demo_url(demo_root, tiny_model_dir):
    from studio.ui.app import build_app, launch

    app = build_app(demo_root, str(tiny_model_dir), demo=True)
    launch(app, port=free_port(), block=False)
    yield app.local_url.rstrip("/")
    app.close()


def visit(browser, url: str):  # noqa: F811 - the fixture's value
    """A new visitor: a browser context of its own (its own localStorage), on the demo page."""
    from playwright.sync_api import expect

    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    expect(page.locator("#visitor-welcome")).to_contain_text("at most 3 of 200,000 characters", timeout=WAIT)
    return context, page


def write(page, title: str, text: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#manuscript-notice")).to_contain_text("No manuscript yet", timeout=WAIT)  # the desk has read the disk
    textbox(page, "manuscript-title").fill(title)
    page.locator("#manuscript-new").click()
    expect(page.locator("#manuscript-notice")).to_contain_text(f"Made manuscript {title}", timeout=WAIT)
    textbox(page, "manuscript-text").fill(text)
    textbox(page, "manuscript-title").click()  # leaving the editor saves it
    expect(page.locator("#manuscript-sources")).to_contain_text(text, timeout=WAIT)


def test_two_demo_visitors_write_apart_and_a_reload_keeps_each_ones_own(browser, demo_url, demo_root):  # noqa: F811
    from playwright.sync_api import expect

    first, a = visit(browser, demo_url)
    second, b = visit(browser, demo_url)
    write(a, "Lamp", "The keeper climbed the stair at dusk.")
    write(b, "Storm", "Rain hammered the lantern glass.")  # B's page opened with nothing of A's
    a.get_by_text("Sampling (the same for every pane)").click()
    a.get_by_label("Max new tokens").first.fill("8")  # a short draft: the point is whose manuscript it lands in
    a.get_by_label("Max new tokens").first.press("Enter")
    a.locator("#manuscript-continue").click()  # drafting works for a visitor: the base pane continues A's text,
    expect(a.locator("#manuscript-sources [data-source=base]")).to_have_count(1, timeout=60_000)  # into it (inline)
    kept = {page: textbox(page, "manuscript-text").input_value() for page in (a, b)}
    for page in (a, b):
        page.reload()
        expect(textbox(page, "manuscript-text")).to_have_value(kept[page], timeout=WAIT)
    expect(a.locator("#manuscript-pick input")).to_have_value(re.compile(r"^Lamp \("), timeout=WAIT)
    expect(b.locator("#manuscript-pick input")).to_have_value("Storm (5 words)", timeout=WAIT)
    for page, other in ((a, "Rain hammered"), (b, "keeper climbed")):
        page.locator("#manuscript-pick input").click()  # the list holds one's own manuscripts only
        assert len(page.get_by_role("option").all()) == 1
        page.keyboard.press("Escape")
        assert other not in page.content() and other not in textbox(page, "manuscript-text").input_value()
    b.get_by_text("History and export").click()
    b.locator("#manuscript-export").click()  # a visitor takes their own text away
    expect(b.locator("#manuscript-file")).to_contain_text("manuscript-storm", timeout=WAIT)
    a.screenshot(path=SHOTS / "demo-visitor-a.png", full_page=True)
    b.screenshot(path=SHOTS / "demo-visitor-b.png", full_page=True)
    first.close()
    second.close()
    assert not (demo_root / "manuscripts").exists()  # the owner's manuscripts were never written
    assert len(list((demo_root / "demo-visitors").glob("?" * 32))) == 2  # one folder per visitor
