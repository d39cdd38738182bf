"""The booth page in a real browser: Playwright driving Debian's chromium (headless) against the
real server (`tsukeku serve`: uvicorn on 127.0.0.1, a free port) serving two real tiny models and
a temp arena database. Screenshots go to test-artifacts/web/.

Skipped with the reason when chromium or Playwright is missing (`make browser` installs
chromium and a Japanese font with apt; never `playwright install`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright (Python) not installed: pip install -e '.[dev]'"
)
expect = sync_api.expect
pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
HOKKU = "夕月の 川面に落ちて 砕けけり"
XSS_PAYLOADS = [
    '<img src=x onerror="window.__xss=1;alert(1)">',
    "<script>window.__xss=2;alert(2)</script>",
    '"><svg onload="window.__xss=3">',
]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} not found: run `make browser` (apt-get install chromium fonts-noto-cjk)"
        )
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def booth(browser, booth_models_file, tmp_path_factory) -> Iterator[dict]:
    """`tsukeku serve` in its own process, as a user runs it: uvicorn on 127.0.0.1 and a free
    port, the two real tiny models of the models file, the vote database from
    TSUKEKU_ARENA_DB. The test reads the same database file from this process (WAL)."""
    try:
        from tsukeku.prosody import check_form  # noqa: F401 - the page's counter needs it
    except ImportError:
        pytest.skip("tsukeku.prosody.check_form not available yet (the mora counter needs it)")
    from tsukeku.arena.store import ArenaStore

    models_file, names = booth_models_file
    db = tmp_path_factory.mktemp("arena") / "votes.sqlite3"
    port = _free_port()
    env = {**os.environ, "TSUKEKU_ARENA_DB": str(db), "OMP_NUM_THREADS": "2"}
    log = (tmp_path_factory.mktemp("serve") / "serve.log").open("w+")
    command = [
        sys.executable, "-m", "tsukeku", "serve", "--models", str(models_file),
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(url, process, log)
        yield {"url": url, "store": ArenaStore(db), "models": names}
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_ready(url: str, process: subprocess.Popen, log, timeout_s: float = 240.0):
    """/ping answers 200 once the models are loaded and warmed up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            pytest.fail(f"tsukeku serve exited with {process.returncode}:\n{log.read()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    log.seek(0)
    pytest.fail(f"tsukeku serve was not ready within {timeout_s:.0f} s:\n{log.read()[-3000:]}")


@pytest.fixture(scope="module")
def echo_booth(browser, echo_registry, tmp_path_factory) -> Iterator[dict]:
    """The same app, in a thread, serving backends that answer with the visitor's own ku, so
    that markup a visitor types also comes back inside the models' answers."""
    from tsukeku.arena.store import ArenaStore
    from tsukeku.serving.app import create_app
    from tsukeku.serving.server import start_in_thread
    from tsukeku.serving.settings import ServeSettings

    registry, names = echo_registry
    app = create_app(registry, ServeSettings(batch_window_ms=5, log_level="warning"))
    store = ArenaStore(tmp_path_factory.mktemp("arena-echo") / "votes.sqlite3")
    app.state.arena_store = store
    server = start_in_thread(app)
    try:
        yield {"url": server.url, "store": store, "models": names}
    finally:
        server.stop()


def _open(browser, booth, **context_options):
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="ja-JP", **context_options
    )
    pg = context.new_page()
    pg.dialogs = []  # every alert/confirm the page opens
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.set_default_timeout(90_000)  # tiny models on a shared 2-core CPU: seconds per answer
    pg.goto(booth["url"] + "/")
    pg.wait_for_selector("body[data-ready=true]")
    return context, pg


@pytest.fixture
def page(browser, booth):
    context, pg = _open(browser, booth)
    yield pg
    context.close()


@pytest.fixture
def page_without_csp(browser, echo_booth):
    """The page with its Content-Security-Policy ignored, so that what keeps visitor markup
    from running is the page's own escaping alone."""
    context, pg = _open(browser, echo_booth, bypass_csp=True)
    yield pg
    context.close()


def _shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000
    return path


def test_side_by_side_renga_arena_leaderboard(page, booth):
    models = booth["models"]

    # -- 付け比べ: the live counter, then one card per model.
    page.fill("#side-input", HOKKU)
    page.wait_for_selector("#side-counter .form-badge")
    page.click("#side-submit")
    for name in models:
        page.wait_for_selector(f'#side-results .card[data-model="{name}"] ol.candidates li')
    cards = page.locator("#side-results .card")
    assert cards.count() == len(models)
    for k in range(cards.count()):
        card = cards.nth(k)
        assert card.locator(".verse .text").first.inner_text().strip()
        assert card.locator(".ku-morae li").count() >= 2
        assert "ms" in card.locator(".latency").inner_text()
    _shot(page, "side-by-side")

    # -- 連歌: the visitor's hokku, the model's answer, vertical writing, JSON export.
    page.click("#tab-renga")
    page.fill("#renga-input", HOKKU)
    page.click("#renga-add")
    expect(page.locator("#renga-chain > li")).to_have_count(2)
    page.check("#renga-vertical")
    assert page.eval_on_selector("#renga-chain", "e => getComputedStyle(e).writingMode") == (
        "vertical-rl"
    )
    _shot(page, "renga-vertical")
    with page.expect_download() as download:
        page.click("#renga-export-json")
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert [v["kind"] for v in exported["verses"]] == ["長句", "短句"]
    assert exported["verses"][0]["text"] == HOKKU and exported["verses"][0]["author"] == "human"
    assert exported["verses"][1]["author"] in models

    # -- 順位表 before any vote.
    page.click("#tab-board")
    page.wait_for_selector("#board-table tbody tr")
    assert _board_votes(page) == {name: 0 for name in models}

    # -- アリーナ: anonymous answers, a vote, the names.
    page.click("#tab-arena")
    page.fill("#arena-input", HOKKU)
    page.click("#arena-start")
    page.wait_for_selector("#arena-vote:not([hidden])")
    arena_text = page.inner_text("#panel-arena")
    for name in models:
        assert name not in arena_text  # anonymous until the vote
    assert page.locator("#arena-battle .card").count() == 2
    _shot(page, "arena-before-vote")
    page.click('#arena-vote button[data-winner="a"]')
    page.wait_for_selector("#arena-reveal strong")
    revealed = page.inner_text("#arena-reveal")
    assert all(name in revealed for name in models)
    _shot(page, "arena-revealed")
    [vote] = booth["store"].votes()
    assert vote.winner == "a"

    # -- 順位表 after the vote: both models have one vote, A's model leads.
    page.click("#tab-board")
    expect(page.locator("#board-table td.votes").first).to_have_text("1")
    assert _board_votes(page) == {name: 1 for name in models}
    leader = page.locator("#board-table tbody tr").first.get_attribute("data-model")
    assert leader == vote.model_a
    _shot(page, "leaderboard")
    assert page.dialogs == [] and page.errors == []


def _board_votes(page) -> dict[str, int]:
    rows = page.locator("#board-table tbody tr")
    return {
        rows.nth(k).get_attribute("data-model"): int(rows.nth(k).locator("td.votes").inner_text())
        for k in range(rows.count())
    }


def test_visitor_markup_is_shown_as_text_and_never_runs(page_without_csp):
    page = page_without_csp
    payload = "春の夜の " + XSS_PAYLOADS[0] + " " + XSS_PAYLOADS[1] + XSS_PAYLOADS[2]

    page.fill("#side-input", payload)
    page.wait_for_selector("#side-counter :is(.form-badge, .error)")
    page.click("#side-submit")
    expect(page.locator("#side-results .card.pending")).to_have_count(0)

    page.click("#tab-renga")
    page.fill("#renga-input", payload)
    page.click("#renga-add")
    page.wait_for_selector("#renga-add-anyway:not([hidden]), #renga-chain > li")
    if page.is_visible("#renga-add-anyway"):
        page.click("#renga-add-anyway")
    page.wait_for_selector("#renga-chain > li")

    page.click("#tab-arena")
    page.fill("#arena-input", payload)
    page.click("#arena-start")
    page.wait_for_selector("#arena-vote:not([hidden]), #arena-status.error")
    page.wait_for_timeout(300)  # let any injected handler (onerror, onload) fire

    assert page.evaluate("window.__xss") is None
    assert page.dialogs == []
    # Nothing was parsed as markup: no element from the payloads exists …
    for selector in ("main img", "main svg", "main script"):
        assert page.locator(selector).count() == 0, selector
    # … and the payload is on the page as the visitor typed it.
    assert XSS_PAYLOADS[1] in page.inner_text("#renga-chain")
    assert "<img src=x" in page.inner_text("#side-status")
    _shot(page, "escaping")
    assert page.errors == []


def test_keyboard_and_phone_width(browser, booth):
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="ja-JP")
    page = context.new_page()
    page.set_default_timeout(90_000)
    try:
        page.goto(booth["url"] + "/")
        page.wait_for_selector("body[data-ready=true]")
        # Tabs: focus the first, arrow right three times (連歌, 座) → アリーナ, End → 順位表.
        page.focus("#tab-side")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        assert page.get_attribute("#tab-arena", "aria-selected") == "true"
        assert page.is_visible("#panel-arena") and not page.is_visible("#panel-side")
        page.keyboard.press("End")
        assert page.evaluate("document.activeElement.id") == "tab-board"
        page.keyboard.press("Home")
        # Tab into the panel's form and submit with the keyboard alone.
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "side-input"
        page.keyboard.type(HOKKU)
        page.wait_for_selector("#side-counter .form-badge")
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "side-submit"
        page.keyboard.press("Enter")
        page.wait_for_selector("#side-results .card ol.candidates li")
        # Nothing is wider than the phone's screen.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, width
        _shot(page, "phone")
    finally:
        context.close()
