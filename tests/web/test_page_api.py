"""The page, its static assets and its JSON routes (/api/models, /api/count, /api/compose)."""

import re
from pathlib import Path

import pytest

from tsukeku.errors import TsukekuError
from tsukeku.serving.routes.ui import STATIC_DIR

PREVIOUS = "夕月の 川面に落ちて 砕けけり"


def test_page_and_assets_are_served_from_the_package(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', r.text):
        got = client.get(asset)
        assert got.status_code == 200, asset
    js = client.get("/static/js/main.js")
    assert "javascript" in js.headers["content-type"]
    assert client.get("/static/js/nope.js").status_code == 404
    # StaticFiles keeps requests inside the static folder.
    assert client.get("/static/../routes/ui.py").status_code == 404
    assert client.get("/static/%2e%2e/routes/ui.py").status_code == 404


def test_every_module_the_page_imports_exists():
    for js in STATIC_DIR.glob("js/*.js"):
        for target in re.findall(r'from "\./([^"]+)"', js.read_text()):
            assert (STATIC_DIR / "js" / target).exists(), (js.name, target)


def test_no_markup_sinks_in_the_front_end():
    """Visitor and model text reach the DOM only as text: the page never parses strings as HTML."""
    sinks = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function"
    )
    for path in Path(STATIC_DIR).rglob("*.js"):
        assert not sinks.search(path.read_text()), path
    assert "<script>" not in (STATIC_DIR / "index.html").read_text()  # no inline script


def test_models_lists_the_registry(client):
    assert client.get("/api/models").json() == {
        "models": [
            {"name": "alpha", "supports_constraints": False},
            {"name": "beta", "supports_constraints": False},
        ]
    }


def test_compose_per_model(client, backends):
    for name in ("alpha", "beta"):
        r = client.post("/api/compose", json={"previous": PREVIOUS, "model": name, "n": 2})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["model"] == name and out["form"] == "7-7" and len(out["candidates"]) == 2
        assert {"text", "reading", "ku_morae", "ok", "deviations"} <= set(out["candidates"][0])
    assert backends["alpha"].requests[-1].n == 2


def test_compose_a_chain_with_a_form(client, backends):
    chain = [PREVIOUS, "風にまかせて 舟の行く末"]
    r = client.post("/api/compose", json={"previous": chain, "model": "beta", "form": "5-7-5"})
    assert r.status_code == 200, r.text
    assert r.json()["form"] == "5-7-5"
    assert backends["beta"].requests[-1].previous == chain


def test_compose_errors_say_what_to_do(client):
    unknown = client.post("/api/compose", json={"previous": PREVIOUS, "model": "gamma"})
    assert unknown.status_code == 422 and "alpha" in unknown.json()["error"]["message"]
    assert client.post("/api/compose", json={"previous": ""}).status_code == 422
    assert client.post("/api/compose", json={"previous": PREVIOUS, "n": 99}).status_code == 422
    assert client.post("/api/compose", json={"previous": PREVIOUS, "typo": 1}).status_code == 422
    bad_json = client.post(
        "/api/compose", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400


@pytest.fixture
def prosody():
    module = pytest.importorskip("tsukeku.prosody", reason="tsukeku.prosody not available yet")
    if not hasattr(module, "check_form"):
        pytest.skip("tsukeku.prosody.check_form not available yet")
    return module


def test_count_detects_the_form(client, prosody):
    r = client.post("/api/count", json={"text": PREVIOUS})
    assert r.status_code == 200, r.text
    out = r.json()
    expected = prosody.check_form(PREVIOUS)
    assert out["form"] == expected.form == "5-7-5"
    assert out["ku_morae"] == expected.ku_morae == [5, 7, 5]
    assert out["ok"] is True and out["deviations"] == [] and out["morae"] == 17
    assert out["expected"] == [5, 7, 5]
    assert out["reading"] == " ".join(expected.readings)


def test_count_marks_deviations_against_a_given_form(client, prosody):
    text = "夕月の 川面に落ちて 砕けけり"
    out = client.post("/api/count", json={"text": text, "form": "7-7"}).json()
    assert out["ok"] is False and out["expected"] == [7, 7]
    assert out["deviations"], out
    assert {d["kind"] for d in out["deviations"]} <= {"字余り", "字足らず"}


def test_count_rejects_blank_and_overlong_text(client):
    assert client.post("/api/count", json={"text": "   "}).status_code == 422
    assert client.post("/api/count", json={"text": "あ" * 201}).status_code == 422
    assert client.post("/api/count", json={"text": "あ", "form": "9-9"}).status_code == 422


def test_count_explains_unreadable_text_without_failing(client, prosody):
    out = client.post("/api/count", json={"text": "春の夜の <b>夢</b>"}).json()
    assert out["ok"] is False and out["message"]
    with pytest.raises(TsukekuError) as raised:
        prosody.check_form("春の夜の <b>夢</b>")
    assert out["message"] == str(raised.value)  # prosody's own advice, passed on
    assert out["ku_morae"] == [] and out["form"] is None
