"""Property tests: on kana-only text the count is the number of counted kana, the same for
katakana and hiragana, whatever the spaces and punctuation."""

import jaconv
from hypothesis import given, settings
from hypothesis import strategies as st

from tsukeku.prosody import FORMS, count_morae, kana_morae, reading, split_ku
from tsukeku.prosody.form import BY_KU_COUNT
from tsukeku.prosody.kana import SMALL_KANA
from tsukeku.prosody.morae import ku_morae

COUNTED = "あいうえおかきくけこがぎぐげごさしすせそざじずぜぞたちつてとだぢづでどなにぬねのはひふへほばびぶべぼぱぴぷぺぽまみむめもやゆよらりるれろわをんっー"
SMALL = "ゃゅょぁぃぅぇぉゎ"
SEPARATORS = " 、。！？「」"

kana_text = st.text(alphabet=COUNTED + SMALL, min_size=1, max_size=40).filter(
    lambda s: any(c in COUNTED for c in s)
)


def counted(s: str) -> int:
    return sum(1 for c in s if c in COUNTED)


@settings(max_examples=200, deadline=None)
@given(kana_text)
def test_count_is_the_number_of_counted_kana(s):
    assert count_morae(s) == counted(s) == kana_morae(s)
    assert all(c in SMALL_KANA for c in s if c not in COUNTED)


@settings(max_examples=200, deadline=None)
@given(kana_text)
def test_katakana_counts_like_hiragana(s):
    kata = jaconv.hira2kata(s)
    assert count_morae(kata) == count_morae(s)
    assert kana_morae(kata) == kana_morae(s)
    assert reading(kata) == reading(s)


@settings(max_examples=100, deadline=None)
@given(st.lists(kana_text, min_size=1, max_size=5), st.sampled_from(SEPARATORS))
def test_separators_count_nothing(parts, sep):
    text = sep.join(parts)
    assert count_morae(text) == sum(counted(p) for p in parts)
    if sep == " ":
        # a spaced verse of 2, 3 or 5 ku is counted with its form's meter as a prior
        meter = FORMS.get(BY_KU_COUNT.get(len(parts), ""), (None,) * len(parts))
        assert ku_morae(text) == [count_morae(p, due) for p, due in zip(parts, meter, strict=True)]


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet=COUNTED, min_size=12, max_size=30))
def test_split_is_a_partition(s):
    ku = split_ku(s, "5-7-5")
    assert len(ku) == 3 and all(ku) and "".join(ku) == s
