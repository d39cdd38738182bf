"""Fixtures of the session tests: the real store (a SQLite file in a temp folder) and a scripted
model that answers each seat with the verse of one of our bundled 半歌仙 (hankasen-02, written by
us, two verses rewritten), so that whole sessions can be played through the service's real model-turn path and come
out rule-clean."""

from __future__ import annotations

import pytest

from tsukeku.corpus.bundled import bundled_chains
from tsukeku.generation.types import Candidate, ComposeRequest, CompositionResult

store_module = pytest.importorskip("tsukeku.store", reason="tsukeku.store (issue 19) not installed")


# Two verses of hankasen-02 rewritten (by us) so that the chain is clean by the classifier's own
# reading alone, as a session stores it (the bundled labels are not typed in at the booth).
REWRITTEN = {10: "別れの朝の 涙かくして", 16: "谷の雪解の 水ぬるむ朝"}


def clean_chain() -> list:
    """Eighteen verses of ours that break no rule as a 半歌仙."""
    verses = next(c for c in bundled_chains() if c.id == "hankasen-02").verses
    return [v.model_copy(update={"text": REWRITTEN.get(i, v.text), "reading": None})
            for i, v in enumerate(verses, 1)]


class ScriptedModel:
    """Answers seat k with verse k of the clean chain (plus a broken candidate first, so the
    service's choice among candidates is exercised)."""

    def __init__(self, verses: list | None = None) -> None:
        self.verses = verses or clean_chain()
        self.requests: list[tuple[str, ComposeRequest]] = []

    async def __call__(self, model: str, request: ComposeRequest) -> CompositionResult:
        self.requests.append((model, request))
        seat = 1 if isinstance(request.previous, str) else None
        if seat is None:
            texts = [v.text for v in self.verses]
            last = request.previous[-1]
            seat = texts.index(last) + 2 if last in texts else len(request.previous) + 1
        good = self.verses[seat - 1].text
        wrong = "あ い う" if request.form == "5-7-5" else "あ い"
        cands = [Candidate(text=t, reading="", ku_morae=[], ok=True, score=s)
                 for t, s in ((wrong, 0.0), (good, -1.0))]
        return CompositionResult(previous=request.previous, form=request.form,
                                 candidates=cands, model=model, constrained=False)


@pytest.fixture
def store(tmp_path):
    s = store_module.open_store(tmp_path / "sessions.sqlite3")
    yield s
    s.close()


@pytest.fixture
def scripted() -> ScriptedModel:
    return ScriptedModel()
