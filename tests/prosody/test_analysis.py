"""prosody.analysis: MeCab's analysis as named records, and the content words of a verse (the
one definition the reranker and the evaluation share). Verses are our own."""

from tsukeku.prosody.analysis import CONTENT_POS, analyse, content_lemmas


def test_content_lemmas_keep_order_and_repeats():
    # 散り → 散る, 香 → 香り, 暮 → 暮れ (lemmas); て, の (particles) out; 花 twice
    assert content_lemmas("花散りて 花の香残る 春の暮") == \
        ["花", "散る", "花", "香り", "残る", "春", "暮れ"]


def test_dependent_words_and_function_words_are_out():
    # かけ, ゆく are dependent verbs here (〜かけてゆく, pos2 非自立可能); ら is a suffix
    assert content_lemmas("散る花を 追ひかけてゆく 子らの声") == ["散る", "花", "追う", "子", "声"]
    words = analyse("追ひかけてゆく")
    assert {m.pos1 for m in words if m.lemma in ("掛ける", "行く")} == {"動詞"} <= CONTENT_POS
    assert "行く" not in content_lemmas("追ひかけてゆく")  # yet not content: dependent


def test_each_ku_is_analysed_on_its_own():
    assert content_lemmas("過ぎて涼しき 軒の風") != content_lemmas("過ぎて涼しき軒の風")
    assert "軒" in content_lemmas("過ぎて涼しき 軒の風")
