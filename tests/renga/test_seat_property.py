"""The seat agrees with the checker: over every prefix of the bundled chains, every verse of
the bundled corpus that meets the next seat's requirement (kind, one of its seasons, its
topics, none of its avoided topics) breaks no error-level rule at that seat."""

import pytest

from tsukeku.corpus.bundled import bundled_chains, bundled_links
from tsukeku.renga.check import check_candidate, view_verse
from tsukeku.renga.profiles import load_profile
from tsukeku.renga.saijiki import default_path
from tsukeku.renga.seat import next_seat

pytestmark = pytest.mark.skipif(
    not default_path().exists(), reason="the bundled saijiki is not written yet"
)


def _pool():
    seen, out = set(), []
    verses = [v for c in bundled_chains() for v in c.verses]
    for link in bundled_links():
        verses += [*link.context, link.previous, link.next]
    for v in verses:
        if v.text not in seen:
            seen.add(v.text)
            out.append(v.model_dump())
    return out


def test_a_verse_meeting_the_seat_breaks_no_error_rule():
    pool = _pool()
    tried = seats_with_match = 0
    for chain in bundled_chains():
        prof = load_profile(chain.form)
        views = [(v, view_verse(v, prof)) for v in pool]
        verses = [v.model_dump() for v in chain.verses]
        for k in range(len(verses)):
            prefix = verses[:k]
            seat = next_seat(prefix, prof)
            fits = [v for v, view in views if not seat.problems(view)]
            seats_with_match += bool(fits)
            # every fitting verse at a few seats, a sample elsewhere, to keep it quick
            for cand in fits if k % 6 == 0 else fits[:: max(1, len(fits) // 4)]:
                errors = [
                    x.to_dict()
                    for x in check_candidate(prefix, cand, profile=prof)
                    if x.severity == "error"
                ]
                tried += 1
                assert not errors, (chain.id, k + 1, seat.to_dict(), cand["text"], errors)
    assert seats_with_match > 100 and tried > 500
