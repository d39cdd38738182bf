"""Content-word F1 against the reference 付句, on hand-checked examples."""

import pytest

from tsukeku.evaluation.metrics import content_f1, content_lemmas


def test_content_lemmas_keep_content_words_as_lemmas():
    # 寺 · 鐘 · 帰ら → 返る (UniDic's lemma); の, に, も (particles), ざり, けり (auxiliaries) out
    assert content_lemmas("寺の鐘にも 帰らざりけり") == {"寺": 1, "鐘": 1, "返る": 1}
    # 追ひ → 追う; かけ, ゆく are dependent verbs here (〜かけてゆく), て a particle, ら a suffix
    assert content_lemmas("散る花を 追ひかけてゆく 子らの声") == \
        {"散る": 1, "花": 1, "追う": 1, "子": 1, "声": 1}


@pytest.mark.parametrize(("generated", "reference", "f1"), [
    # {寺, 鐘, 返る} vs {牛, 引き, 返る, 道, 細い}: 1 shared; P 1/3, R 1/5 → 2·(1/15)/(8/15)
    ("寺の鐘にも 帰らざりけり", "牛曳き帰る 道の細さよ", 0.25),
    # {山寺, 鐘, 解ける, 霞} vs {寺, 鐘, 返る}: 鐘 only (山寺 is not 寺); P 1/4, R 1/3 → 2/7
    ("山寺の 鐘にほどける 霞かな", "寺の鐘にも 帰らざりけり", 2 / 7),
    # the same words in other inflections and spacing: a perfect match
    ("寺の鐘にも 帰らざりけり", "鐘も寺にぞ 帰りけり", 1.0),
    ("寺の鐘にも 帰らざりけり", "牛の道かな", 0.0),
    ("の に", "を", 1.0),  # no content word on either side
    ("の に", "寺の鐘", 0.0),
])
def test_content_f1(generated, reference, f1):
    assert content_f1(generated, reference) == pytest.approx(f1)


def test_content_f1_is_symmetric():
    a, b = "山寺の 鐘にほどける 霞かな", "寺の鐘にも 帰らざりけり"
    assert content_f1(a, b) == pytest.approx(content_f1(b, a))


@pytest.mark.parametrize("verse", [
    "寺の鐘にも 帰らざりけり", "散る花を 追ひかけてゆく 子らの声", "花散りて 花の香残る 春の暮",
    "過ぎて涼しき 軒の風", "の に", "",
])
def test_the_reranker_counts_the_same_content_words(verse):
    """One definition of a content word: the F1's multiset is the reranker's set, counted."""
    from tsukeku.generation.rerank import content_words

    assert set(content_lemmas(verse)) == content_words(verse)
