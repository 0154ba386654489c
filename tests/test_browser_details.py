"""Details a novelist met at the desk: every token of a candidate its own chip, with its spaces and
line breaks shown and no category tag, and a click on chip k picks token k; gradio's own accessible
names ("number input for …", "Copy") in Chinese on a Chinese page; 字 as the unit of a Chinese
count of a manuscript's words; and a language picked in gradio's Settings panel holding after a
reload, for the labels and for the text the server writes. One page load per language (the English
one reloaded once); screenshots in tests/artifacts/browser/. The browser tests skip without
chromium, as test_browser.py; the first tests need no browser."""
import re
import time
from types import SimpleNamespace

import pytest

from test_browser import CHROMIUM, SHOTS, browser, open_desk, studio_root, studio_url  # noqa: F401 - fixtures

WAIT = 60_000  # ms: a loaded 2-core machine answers slowly
# a candidate with what the chips used to lose: a space token, a line break, a paragraph, a tab
DRAFT = " She lit the lamp.\nThe gulls  cried.\n\n\tDawn came."
needs_chromium = pytest.mark.skipif(not CHROMIUM, reason="no chromium here (apt-get install chromium); CI installs it")


# -- without a browser ----------------------------------------------------------------------------
def chips_of(shown: list[tuple[str, str]]) -> list[str]:
    """The chips gradio 6.31's HighlightedText draws for `shown`: each token's text split at line
    breaks, one chip per part that is not empty (show_whitespaces=True), a line break between."""
    return [part for text, _ in shown for part in text.split("\n") if part]


def test_every_token_is_one_chip_with_its_whitespace_shown():
    from studio.ui.desk_tools import token_view

    pieces = ["The", " keeper", " ", "\n", "\n\n", "\t", "", "a\nb", "\u3000", " \r\n"]
    shown = token_view(pieces)
    assert len(shown) == len(pieces) and len(chips_of(shown)) == len(pieces)  # chip k is token k
    assert [text.split("\n")[0] for text, _ in shown] == ["The", "·keeper", "·", "⏎", "⏎⏎", "⇥", "…", "a⏎b", "·",
                                                         "·␍⏎"]
    assert all(text.strip() == text.split("\n")[0] for text, _ in shown)  # no space left to collapse
    assert [text.count("\n") for text, _ in shown] == [p.count("\n") for p in pieces]  # lines still break
    assert len({category for _, category in shown[:2]}) == 2  # neighbours in two colours


def test_the_token_chips_show_no_category_text():
    import gradio as gr

    from studio.ui import desk_tools

    with gr.Blocks():
        tokens = desk_tools.layout()["tokens"]
    assert tokens.show_inline_category is False and tokens.show_legend is False
    assert tokens.show_whitespaces is True  # a chip of a zero-width character is still drawn


def test_a_click_on_a_chip_is_its_token_position():
    from studio.ui.desk_tools import clicked_token

    assert clicked_token(SimpleNamespace(index=7)) == 7
    assert clicked_token(SimpleNamespace(index=[3, 0])) == 3


def test_a_chinese_count_of_a_manuscripts_words_says_zi():
    from studio.messages import MESSAGES, say

    assert say("zh", "desk.choice", title="灯塔日志", words=87) == "灯塔日志（87 字）"
    assert say("en", "desk.choice", title="The Keeper", words=1200) == "The Keeper (1,200 words)"
    # a Chinese count of words (each Chinese character one word, as manuscript.words counts) is 字
    counted = {key: zh for key, (en, zh) in MESSAGES.items() if re.search(r"\bwords\b", en) and re.search(r"\d|\{", zh)}
    assert "banned.suggestion" in counted and "每万字" in counted["banned.suggestion"]
    assert not [key for key, zh in counted.items() if re.search(r"(?<!关键)(?<!单)词(?!元|表|语)", zh)], counted


def request(headers: dict) -> SimpleNamespace:
    cookies = dict(c.strip().split("=", 1) for c in headers.get("cookie", "").split(";") if "=" in c)
    return SimpleNamespace(headers=headers, cookies=cookies)


def test_a_language_picked_in_the_settings_panel_is_the_language_the_server_writes_in():
    from studio.ui.i18n import LANG_COOKIE, request_lang

    english_browser = {"accept-language": "en-US,en;q=0.9"}
    assert request_lang(request(english_browser)) == "en"
    assert request_lang(request({**english_browser, "cookie": f"theme=dark; {LANG_COOKIE}=zh-CN"})) == "zh"
    chinese_browser = {"accept-language": "zh-CN,zh;q=0.9", "cookie": f"{LANG_COOKIE}=en"}
    assert request_lang(request(chinese_browser)) == "en"
    assert request_lang(request(chinese_browser), forced="zh") == "zh"  # --lang zh holds for every visitor


# -- in a browser ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def candidate(studio_root, tiny_model_dir):  # noqa: F811 - the fixture's value
    """A manuscript whose last continue left DRAFT as the base pane's candidate (written as the
    desk writes it: no model has to draft), and the candidate's tokens."""
    from studio import service
    from studio.config import GenConfig
    from studio.write import manuscript_store as store

    ms = service.new_manuscript(studio_root, "Chips", "The keeper climbed the stair.")
    store.write_pending(store.folder_of(studio_root, ms.id), {
        "at": len(ms.text), "anchor": ms.text, "revision": ms.revision, "mode": "continue",
        "settings": vars(GenConfig()), "time": time.time(), "prompt": ms.text, "model": str(tiny_model_dir),
        "panes": [{"source": "base", "drafts": [DRAFT]}]})
    return ms.id, service.candidate_tokens(studio_root, ms.id, 1)


def english_names(page) -> list[str]:
    """Accessible names and titles on the page, shown or not, that gradio writes in English."""
    from studio.ui.i18n import GRADIO_FIXED_ZH, GRADIO_PREFIXED_ZH

    names = page.evaluate("""() => Array.from(document.querySelectorAll('[aria-label], [title]'),
        el => [el.getAttribute('aria-label'), el.getAttribute('title')]).flat().filter(Boolean)""")
    return sorted({n for n in names if n in GRADIO_FIXED_ZH or n.startswith(tuple(GRADIO_PREFIXED_ZH))})


def sampling_shown(page) -> None:
    """The Write tab's sampling settings on the page (gradio draws a closed accordion's contents
    only once it is opened; the desk may show it open or closed)."""
    if not page.locator("input[aria-label$='最多生成 token 数']").count():
        page.get_by_text("采样设置（所有窗格相同）").click()


@needs_chromium
def test_each_token_is_a_chip_and_a_language_picked_in_settings_holds_after_a_reload(browser, studio_url,  # noqa: F811
                                                                                      candidate):
    from playwright.sync_api import expect

    from studio.ui.desk_tools import token_view

    _, tokens = candidate
    page = open_desk(browser, studio_url)
    expect(page.locator("#manuscript-pick input")).to_have_value("Chips (5 words)", timeout=WAIT)
    page.get_by_text("Token alternatives: this run beside the base").click()
    page.locator("#alt-1").click()
    chips = page.locator("#manuscript-tokens .token-container")
    expect(chips).to_have_count(len(tokens), timeout=WAIT)  # every token, the line breaks' too
    expect(page.locator("#manuscript-tokens .label")).to_have_count(0)  # no "A"/"B" tag on a chip
    assert chips.all_inner_texts() == [text.split("\n")[0] for text, _ in token_view(tokens)]
    k = next(n for n, t in enumerate(tokens) if "\n" in t)  # a line break's chip: after it, chips used to slip
    chips.nth(k).click()
    expect(page.locator("#manuscript-alt-position input")).to_have_value(str(k), timeout=WAIT)
    expect(page.locator("#manuscript-alt-table")).to_contain_text(f"At token {k} the candidate has", timeout=WAIT)
    page.screenshot(path=SHOTS / "15-token-chips.png", full_page=True)
    page.locator("#manuscript-tokens").screenshot(path=SHOTS / "15-token-chips-close.png")

    # gradio's Settings panel (the footer's link): pick Chinese, reload
    page.locator("footer").get_by_text("Settings").click()
    page.get_by_label("Language").click()
    page.get_by_role("option", name="简体中文").click()
    expect(page.get_by_role("tab", name="写作", exact=True)).to_be_visible(timeout=WAIT)
    page.reload()
    # every tab's label (gradio re-labels only the open tab when its language changes on a drawn page)
    expect(page.get_by_role("tab", name="训练", exact=True)).to_be_visible(timeout=WAIT)
    page.get_by_role("tab", name="写作", exact=True).click()
    expect(page.locator("#manuscript-pick input")).to_have_value("Chips（5 字）", timeout=WAIT)  # the server's text
    sampling_shown(page)
    expect(page.locator("input[aria-label='数字输入框：最多生成 token 数']").first).to_be_attached()
    assert not english_names(page), english_names(page)
    page.screenshot(path=SHOTS / "15-settings-zh-after-reload.png", full_page=True)
    page.close()


@needs_chromium
def test_gradios_own_accessible_names_read_in_chinese_on_a_chinese_page(browser, studio_url, candidate):  # noqa: F811
    from playwright.sync_api import expect

    page = open_desk(browser, studio_url, "zh-CN", "写作")
    expect(page.locator("#manuscript-pick input")).to_have_value("Chips（5 字）", timeout=WAIT)
    sampling_shown(page)
    expect(page.locator("input[aria-label='数字输入框：最多生成 token 数']").first).to_be_attached()
    expect(page.locator("input[aria-label='滑块：最多生成 token 数']").first).to_be_attached()
    expect(page.locator("button[aria-label='恢复默认值']").first).to_be_attached()
    for tab in ("语料", "训练", "训练记录", "模型", "写作"):  # each tab's own components (tables, files, plots)
        page.get_by_role("tab", name=tab, exact=True).click()
        page.wait_for_timeout(300)
        assert not english_names(page), (tab, english_names(page))
    page.screenshot(path=SHOTS / "15-gradio-names-zh.png", full_page=True)
    page.close()
