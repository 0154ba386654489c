"""How a tab's module-level handlers meet its components.

A tab's layout returns its components in a dataclass; its handlers are plain module-level
functions `handler(call, *values)` (or `handler(call, form)`) that return either one value (one
output) or a dict of named updates keyed by the layout's field names; `on` ties the two together:

    on(layout.draft_btn.click, draft, tab, layout, form=DraftForm, outputs=["message", "last", "boxes"])

`inputs` and `outputs` name layout fields; a field holding a list of components stands for all of
them (its value is a list). A form dataclass names its inputs by its fields. An output a handler
leaves out of its dict is left as it is. The event's api name is the handler's name.

A demo visitor's desk (`visitor_tab`): every event also sends the visitor's token, kept in the
browser's localStorage by a gr.BrowserState, and its handlers' `Call.root` is that visitor's own
folder (studio/write/visitors.py); the page's loader makes a token for a browser that has none.
"""
from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import gradio as gr

from studio import service
from studio.messages import render, say
from studio.ui.i18n import request_lang

VISITOR_KEY = "writing-studio-visitor"  # the localStorage key (and BrowserState's secret: the browser holds both)


@dataclass(frozen=True)
class Tab:
    """What every handler of one built tab shares: the data root and how the app was started."""
    root: Path
    forced_lang: str | None = None
    demo: bool = False
    default_model: str = ""
    visitor: gr.BrowserState | None = None  # a demo visitor's desk: where their token is kept (visitor_tab)


@dataclass(frozen=True)
class Call:
    """One event as a handler sees it: the tab's settings, the visitor's language and session.
    `root` is the data root; for a demo visitor's desk, the visitor's own folder, which the service's
    manuscript functions take as the root of that visitor's manuscripts."""
    root: Path
    lang: str
    session: str = ""
    demo: bool = False
    default_model: str = ""


def call_of(tab: Tab, request: gr.Request | None, token: str | None = None) -> Call:
    lang = request_lang(request, tab.forced_lang)
    root = tab.root
    if tab.visitor is not None:
        try:
            root = service.visitor_root(tab.root, token)
        except ValueError as e:  # a token the studio did not make: nothing is read or written
            raise gr.Error(render(lang, e)) from None
    return Call(root, lang, getattr(request, "session_hash", "") or "", tab.demo, tab.default_model)


def visitor_tab(tab: Tab) -> Tab:
    """The tab as a demo visitor's desk sees it: each browser's manuscripts in a folder of its own."""
    if not tab.demo:
        return tab
    return dataclasses.replace(tab, visitor=gr.BrowserState(None, storage_key=VISITOR_KEY, secret=VISITOR_KEY))


def _parts(layout, names) -> list[tuple[str, int | None]]:
    """(name, n) per named field: n components for a list field, None for a single one."""
    parts = []
    for name in names:
        value = getattr(layout, name)
        parts.append((name, len(value) if isinstance(value, (list, tuple)) else None))
    return parts


def _flat(layout, names) -> list:
    found = []
    for name in names:
        value = getattr(layout, name)
        found += list(value) if isinstance(value, (list, tuple)) else [value]
    return found


def _grouped(parts, values) -> dict:
    named, at = {}, 0
    for name, n in parts:
        named[name] = list(values[at:at + n]) if n is not None else values[at]
        at += n if n is not None else 1
    return named


def _positional(parts, result):
    """A handler's dict of named updates as gradio's list; a plain value for a single output."""
    if not isinstance(result, dict) or (len(parts) == 1 and parts[0][0] not in result):
        return result
    flat = []
    for name, n in parts:
        if n is None:
            flat.append(result.get(name, gr.update()))
        else:
            flat += list(result.get(name, [gr.update()] * n))
    return flat


def endpoint(handler, tab: Tab, in_parts, out_parts, form=None):
    """The function gradio calls: the request first (gradio fills it), then the input values."""
    def shape(request, values):
        token, values = (values[0], values[1:]) if tab.visitor is not None else (None, values)
        named = _grouped(in_parts, values)
        call = call_of(tab, request, token)
        return (call, form(**named)) if form else (call, *named.values())

    if "progress" in inspect.signature(handler).parameters:  # gradio hands a bar to a `progress=gr.Progress()`
        def event(request: gr.Request, progress=gr.Progress(), *values):
            return _positional(out_parts, handler(*shape(request, values), progress=progress))
    elif inspect.isgeneratorfunction(handler.func if isinstance(handler, partial) else handler):
        def event(request: gr.Request, *values):
            for result in handler(*shape(request, values)):
                yield _positional(out_parts, result)
    else:
        def event(request: gr.Request, *values):
            return _positional(out_parts, handler(*shape(request, values)))
    event.__name__ = (handler.func if isinstance(handler, partial) else handler).__name__
    return event


def on(event, handler, tab: Tab, layout, inputs=(), outputs=(), form=None, **options):
    """Attach `handler` to `event` (e.g. `layout.button.click`); returns gradio's dependency."""
    inputs = [f.name for f in dataclasses.fields(form)] if form else list(inputs)
    outputs = [outputs] if isinstance(outputs, str) else list(outputs)
    fn = endpoint(handler, tab, _parts(layout, inputs), _parts(layout, outputs), form)
    return event(fn, _token(tab) + _flat(layout, inputs) or None, _flat(layout, outputs) or None, **options)


def _token(tab: Tab) -> list:
    return [tab.visitor] if tab.visitor is not None else []


def loader(handler, tab: Tab, layout, inputs=(), outputs=()) -> tuple:
    """(fn, inputs, outputs) for app.load and a tab's select: what the app runs when a page opens.
    A demo visitor's desk: a browser with no token (or one the studio did not make) is given one."""
    inputs, outputs = list(inputs), [outputs] if isinstance(outputs, str) else list(outputs)
    fn = endpoint(handler, tab, _parts(layout, inputs), _parts(layout, outputs))
    if tab.visitor is None:
        return fn, _flat(layout, inputs) or None, _flat(layout, outputs) or None

    def visit(request: gr.Request, token, *values):
        service.clean_visitors(tab.root, due_only=True)  # at most once a day
        try:
            service.visitor_root(tab.root, token)
        except ValueError:
            try:  # handed out at a bounded rate per address and overall: a script cannot mint keys
                token = service.new_visitor_token(tab.root, client_address(request))
            except ValueError as e:
                raise gr.Error(render(request_lang(request, tab.forced_lang), e), duration=None) from None
        shown = fn(request, token, *values)
        return [*shown, token] if isinstance(shown, list) else [shown, token]
    visit.__name__ = fn.__name__
    return visit, [tab.visitor, *_flat(layout, inputs)], [*_flat(layout, outputs), tab.visitor]


LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def client_address(request: gr.Request | None) -> str:
    """The visitor's network address: the peer's, or, behind a proxy on this machine (gradio's
    share tunnel, a local reverse proxy), the first X-Forwarded-For entry. A remote peer's
    X-Forwarded-For is not believed: a script could send a new one with every request. A local
    proxy that names nobody (no header) gives '': the visitors behind it share no per-address limit."""
    host = getattr(getattr(request, "client", None), "host", "") or ""
    forwarded = (request.headers.get("x-forwarded-for") or "") if request is not None else ""
    if host in LOOPBACK:  # '' when a local proxy names nobody: only the limit on everyone applies
        return forwarded.split(",")[0].strip()
    return host


def stop_drafting_in(stops: dict, call: Call) -> str:
    """A Stop button: ends the visitor's draft registered in `stops` (the comparison's or the
    desk's) at the next token; what was drafted so far stays."""
    event = stops.get(call.session)
    if event:
        event.set()
    return say(call.lang, "write.stopping") if event else say(call.lang, "write.nothing_drafting")
