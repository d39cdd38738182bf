"""Fixtures of the corpus tests: small files of original verse in each supported layout."""

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


def make_tanka_jsonl(path: Path, n: int) -> Path:
    """n (≤ 64) tanka of our own with readings, built from stock phrases so that no verse is
    shared between two poems (every poem is its own split unit)."""
    import json

    assert n <= 64
    fives = [("春の野に", "はるののに"), ("夏の夜の", "なつのよの"), ("秋の田に", "あきのたに"),
             ("冬の日の", "ふゆのひの"), ("山寺の", "やまでらの"), ("川岸に", "かわぎしに"),
             ("朝まだき", "あさまだき"), ("夕暮れの", "ゆうぐれの")]  # fmt: skip
    sevens = [("風の便りを", "かぜのたよりを"), ("霞たなびく", "かすみたなびく"),
              ("鐘の音遠く", "かねのねとおく"), ("露を払ひて", "つゆをはらいて"),
              ("灯のともる道", "ひのともるみち"), ("人を待つなり", "ひとをまつなり"),
              ("舟をうかべて", "ふねをうかべて"), ("鳥の声する", "とりのこえする")]  # fmt: skip
    lines = []
    for i in range(n):
        lo, hi = i % 8, i // 8
        ku = [fives[lo], sevens[hi], fives[(lo + 3) % 8], sevens[lo], sevens[(hi + 1) % 8]]
        rec = {
            "id": f"s{i:02d}",
            "text": " ".join(k for k, _ in ku),
            "reading": " ".join(r for _, r in ku),
        }
        lines.append(json.dumps(rec, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
