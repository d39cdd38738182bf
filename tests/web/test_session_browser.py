"""Renga sessions in a real browser (Playwright driving Debian's chromium, headless): two people
in two browser contexts and one model complete a 半歌仙 in the 座 tab; both screens show every
verse as it arrives (SSE); a rule-breaking verse shows its warning and is refused until the
host accepts it; the export passes `tsukeku renga check`; the server restarts mid-session and
nothing is lost.

- `test_two_people_and_a_model_complete_a_hankasen` (default run): the app in a thread with a
  scripted model (each seat answered with our own clean 半歌仙's verse), restarted in place.
- `test_with_the_real_tiny_model_across_a_restart` (slow): `tsukeku serve` as a user runs it,
  a real tiny model, the process killed and started again on the same database.

Skipped with the reason when chromium or Playwright is missing (`make browser`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.sessions.conftest import clean_chain, store_module
from tests.web.test_browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    _free_port,
    _wait_until_ready,
)
from tests.web.test_session_api import ScriptBackend

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright (Python) not installed: pip install -e '.[dev]'"
)
expect = sync_api.expect
pytestmark = pytest.mark.e2e

TEXTS = [v.text for v in clean_chain()]
HOST, GUEST = "松籟", "杣人"
XSS_NAME = '<img src=x onerror="window.__xss=1">'
BROKEN_HOKKU = "ゆるやかに 坂をのぼりて 家に着く"  # no season word, no 切字: two rules broken


@pytest.fixture(scope="module")
def chromium():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: run `make browser` (apt-get install chromium "
                    "fonts-noto-cjk)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Screen:
    """One visitor's browser context on the page."""

    def __init__(self, browser, url: str, *, phone: bool = False, timeout_ms: int = 30_000):
        size = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
        self.context = browser.new_context(viewport=size, locale="ja-JP")
        self.page = self.context.new_page()
        self.page.set_default_timeout(timeout_ms)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: d.accept())
        self.page.goto(url)
        expect(self.page.locator("body")).to_have_attribute("data-ready", "true")

    def verses(self):
        return self.page.locator("#session-chain li.chain-verse")

    def close(self) -> None:
        self.context.close()


def _start_session(screen: Screen, model: str) -> tuple[str, str]:
    """The host opens a session: two people and a model. Returns (session id, join link)."""
    pg = screen.page
    pg.locator("#tab-session").click()
    pg.locator("#session-title").fill("<b>春</b>の座")
    pg.locator("#session-people").fill(f"{HOST}\n{GUEST}")
    pg.locator(f'#session-models input[data-model="{model}"]').check()
    pg.locator("#session-start").click()
    expect(pg.locator("#session-view")).to_be_visible()
    expect(pg.locator("#session-title-view")).to_have_text("<b>春</b>の座")  # as text
    link = pg.locator("#session-links code").inner_text()
    sid = pg.evaluate("new URLSearchParams(location.search).get('session')")
    return sid, link


MORE_THAN = "n => document.querySelectorAll('#session-chain li.chain-verse').length > n"


def _play(host: Screen, guest: Screen, upto: int, verse_for) -> None:
    """Turns until the chain has `upto` verses; models' seats fill themselves."""
    while (n := host.verses().count()) < upto:
        turn = host.page.locator("#session-people-list li.current")
        expect(turn).to_have_count(1)
        # name and kind read together: a fast model may post between two separate reads
        name, kind = turn.evaluate("el => [el.dataset.name, el.dataset.kind]")
        if host.verses().count() != n:
            continue  # a model posted meanwhile
        if kind == "model":
            host.page.wait_for_function(MORE_THAN, arg=n, timeout=180_000)
            continue
        who = name  # the host posts as the host; everyone else from the guest's screen
        text = verse_for(n + 1)
        screen = host if who == HOST else guest
        pg = screen.page
        pg.locator("#session-me").select_option(label=who)
        pg.locator("#session-input").fill(text)
        pg.locator("#session-post").click()
        grew = screen.verses().nth(n)
        expect(grew.or_(pg.locator("#session-status.error")).first).to_be_visible(
            timeout=30_000)
        if screen.verses().count() == n:  # refused: the host accepts it on the guest's behalf
            hp = host.page
            hp.locator("#session-me").select_option(label=who)
            hp.locator("#session-input").fill(text)
            hp.locator("#session-post").click()
            accept = hp.locator("#session-accept")
            expect(accept).to_be_visible()
            accept.click()
        for s in (host, guest):  # every screen shows the verse as it arrives
            expect(s.verses().nth(n).locator(".text")).to_have_text(
                text.replace(" ", "\u3000"), timeout=30_000)


def _check_export(store, sid: str, tmp_path: Path) -> dict:
    record = store.sessions.get_session(sid)
    from tsukeku.sessions.export import to_jsonl

    path = tmp_path / "session.jsonl"
    path.write_text(to_jsonl(record), encoding="utf-8")
    result = CliRunner().invoke(_cli(), ["renga", "check", "--json", str(path)])
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.output)
    accepted = {v.seat: set(v.accepted) for v in record.verses}
    for v in report["violations"]:  # every error stands only where the host accepted it
        if v["severity"] == "error":
            assert any(v["rule"] in accepted.get(s, ()) for s in v["verses"]), v
    return {"exit_code": result.exit_code, "report": report}


def _cli():
    from tsukeku.cli import app

    return app


def _warning_shows(host: Screen) -> None:
    """The hokku without season word or 切字: warnings while typing, refused when posted."""
    pg = host.page
    pg.locator("#session-input").fill(BROKEN_HOKKU)
    check = pg.locator("#session-check")
    expect(check).to_contain_text("発句の季")
    expect(check.locator("details").first).to_be_attached()
    pg.locator("#session-post").click()
    expect(pg.locator("#session-status")).to_contain_text("決まりに外れています")
    expect(pg.locator("#session-accept")).to_be_visible()
    pg.locator("#session-input").fill("")


def _keyboard_hokku(host: Screen) -> None:
    """The 発句 typed and posted with the keyboard alone; the live check says it is fine."""
    pg = host.page
    pg.focus("#session-input")
    pg.keyboard.type(TEXTS[0])
    expect(pg.locator("#session-check")).to_contain_text("決まりに合っています")
    pg.keyboard.press("Tab")
    assert pg.evaluate("document.activeElement.id") == "session-post"
    pg.keyboard.press("Enter")


# -- the default run: scripted model, in-thread server restarted in place -------------------


@pytest.fixture
def thread_server(tmp_path) -> Iterator[dict]:
    from tsukeku.serving.app import create_app
    from tsukeku.serving.server import start_in_thread
    from tsukeku.serving.settings import ServeSettings

    db = tmp_path / "booth.sqlite3"
    servers = []

    def start(port: int = 0):
        app = create_app({"scribe": ScriptBackend("scribe")},
                         ServeSettings(batch_window_ms=0, log_level="warning",
                                       shutdown_grace_s=5))
        app.state.store = store_module.open_store(db)
        app.state.arena_store = app.state.store.arena
        server = start_in_thread(app, port=port)
        servers.append((server, app))
        return server

    yield {"start": start, "servers": servers, "db": db}
    for server, app in servers:
        server.stop()
        app.state.store.close()


def test_two_people_and_a_model_complete_a_hankasen(chromium, thread_server, tmp_path):
    server = thread_server["start"]()
    host = Screen(chromium, server.url + "/")
    sid, link = _start_session(host, "scribe")
    assert "#token=" in link
    guest = Screen(chromium, link.replace("http://127.0.0.1", "http://localhost"), phone=True)
    try:
        expect(guest.page.locator("#session-view")).to_be_visible()
        expect(guest.page.locator("#session-host")).to_be_hidden()  # the join token is no host's
        # A visitor joining under a name made of markup: shown as text, never run.
        guest.page.locator("#session-join-name").fill(XSS_NAME)
        guest.page.locator("#session-join button").click()
        for s in (host, guest):
            expect(s.page.locator("#session-people-list")).to_contain_text(XSS_NAME)
            assert s.page.locator("#session-people-list img").count() == 0
        expect(host.page.locator("#session-turn")).to_contain_text("発句")
        _warning_shows(host)
        _keyboard_hokku(host)
        for s in (host, guest):
            expect(s.verses().first.locator(".text")).to_have_text(TEXTS[0].replace(" ", "\u3000"))
        _play(host, guest, 8, lambda seat: TEXTS[seat - 1])

        # Restart the server mid-session on the same port and database: nothing is lost, and
        # both screens reconnect by themselves.
        port = server.port
        server.stop()
        thread_server["servers"][0][1].state.store.close()
        server = thread_server["start"](port)
        for s in (host, guest):
            expect(s.verses()).to_have_count(8)
        _play(host, guest, 18, lambda seat: TEXTS[seat - 1])
        for s in (host, guest):
            expect(s.page.locator("#session-turn")).to_contain_text("満尾")
            assert s.page.evaluate("window.__xss") is None
            assert not s.errors, s.errors
        # At phone width the chain scrolls inside its own box, not the page.
        width = guest.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390 + 1, width
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        host.page.screenshot(path=str(ARTIFACTS / "session-host.png"), full_page=True)
        guest.page.screenshot(path=str(ARTIFACTS / "session-guest-phone.png"), full_page=True)
        with store_module.open_store(thread_server["db"]) as store:
            out = _check_export(store, sid, tmp_path)
        assert out["exit_code"] == 0, out["report"]  # the scripted verses are clean
        printable = host.context.new_page()
        printable.goto(f"{server.url}/api/sessions/{sid}/export.html")
        expect(printable.locator("h1")).to_have_text("<b>春</b>の座")
        assert printable.locator("h2").all_inner_texts() == ["表", "裏"]
        mode = printable.locator(".sheet").evaluate("e => getComputedStyle(e).writingMode")
        assert mode == "vertical-rl"
    finally:
        host.close()
        guest.close()


# -- slow: `tsukeku serve` with the real tiny model, the process restarted ------------------


def _serve(models_file: Path, db: Path, port: int, log) -> subprocess.Popen:
    env = {**os.environ, "TSUKEKU_ARENA_DB": str(db), "OMP_NUM_THREADS": "2"}
    env.pop("TSUKEKU_DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "tsukeku", "serve", "--models", str(models_file),
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.mark.slow
def test_with_the_real_tiny_model_across_a_restart(chromium, booth_models_file, tmp_path):
    models_file, names = booth_models_file
    db = tmp_path / "booth.sqlite3"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("w+")
    process = _serve(models_file, db, port, log)
    host = guest = None
    try:
        _wait_until_ready(url, process, log)
        host = Screen(chromium, url + "/", timeout_ms=90_000)
        sid, link = _start_session(host, names[0])
        guest = Screen(chromium, link, timeout_ms=90_000)
        _warning_shows(host)
        _play(host, guest, 7, lambda seat: TEXTS[seat - 1])
        before = host.verses().locator(".text").all_inner_texts()[:7]
        _stop(process)  # the whole server goes away mid-session
        process = _serve(models_file, db, port, log)
        _wait_until_ready(url, process, log)
        for s in (host, guest):  # reconnected; the model whose turn it was may add the 8th
            s.page.wait_for_function(MORE_THAN, arg=6, timeout=60_000)
            assert s.verses().locator(".text").all_inner_texts()[:7] == before
        _play(host, guest, 18, lambda seat: TEXTS[seat - 1])
        for s in (host, guest):
            expect(s.page.locator("#session-turn")).to_contain_text("満尾")
            assert not s.errors, s.errors
        with store_module.open_store(db) as store:
            record = store.sessions.get_session(sid)
            assert {v.author for v in record.verses} == {HOST, GUEST, names[0]}
            _check_export(store, sid, tmp_path)
    finally:
        for s in (host, guest):
            if s is not None:
                s.close()
        _stop(process)
        log.close()
