"""Reranking: the score formula, content-word copying, known 付句, and the candidate checks."""

from __future__ import annotations

import json

import pytest

from tsukeku.generation.candidates import make_candidate, rank
from tsukeku.generation.rerank import Reranker, RerankWeights, content_words, copy_overlap

PREVIOUS = "夕立の 過ぎて涼しき 軒の風"


def test_content_words_are_lemmas_of_content_parts_of_speech():
    words = content_words("流れる川に 月の影ゆれ")
    assert {"流れる", "川", "月", "影"} <= words
    assert "に" not in words and "の" not in words
    assert "流れる" in content_words("川は流れて")  # inflected: the same lemma


def test_copy_overlap():
    assert copy_overlap("軒の風に 涼しさ残る", PREVIOUS) >= 0.5  # 軒, 風 of 軒 風 涼しい 残る
    assert copy_overlap("川の流れに 月の影ゆれ", PREVIOUS) == 0.0
    assert copy_overlap("", PREVIOUS) == 0.0


def test_score_formula():
    rr = Reranker(known=["川の流れに 月の影ゆれ"], weights=RerankWeights(form=1, copy=2, known=5))
    parts = rr.score(text="川の流れに 月の影ゆれ", reading="", previous=PREVIOUS,
                     logprob=-20.0, n_tokens=10, deviation=0)
    assert parts.loglik == -2.0 and parts.known == 1.0 and parts.score == pytest.approx(-7.0)
    parts = rr.score(text="軒の風 吹く", reading="", previous=PREVIOUS, logprob=None,
                     n_tokens=0, deviation=3)
    assert parts.loglik == 0.0
    assert parts.score == pytest.approx(-3 - 2 * parts.copy)


def test_length_normalisation_lets_long_and_short_spellings_compete():
    rr = Reranker()
    short = rr.score(text="あ", reading="", previous=PREVIOUS, logprob=-4.0, n_tokens=4,
                     deviation=0)
    long = rr.score(text="い", reading="", previous=PREVIOUS, logprob=-6.0, n_tokens=12,
                    deviation=0)
    assert long.score > short.score  # more total surprise, less per token


def test_known_from_a_dataset_catches_text_and_reading(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps({"previous": PREVIOUS, "next": "川の流れに 月の影ゆれ",
                                "next_reading": "かわのながれに つきのかげゆれ"},
                               ensure_ascii=False) + "\n", encoding="utf-8")
    rr = Reranker.from_dataset(tmp_path)
    assert rr.is_known("川の流れに月の影ゆれ")
    assert rr.is_known("かわのながれに つきのかげゆれ")  # respelt in kana
    assert not rr.is_known("軒端に揺るる 露の白玉")


def test_candidates_rank_form_first_then_score_and_dedupe():
    rr = Reranker()
    good = make_candidate("川の流れに 月の影ゆれ", "7-7", previous=PREVIOUS, reranker=rr,
                          logprob=-30.0, n_tokens=10)
    copy = make_candidate("軒の風ふく 涼しき夕べ", "7-7", previous=PREVIOUS, reranker=rr,
                          logprob=-10.0, n_tokens=10)
    broken = make_candidate("こわれた かたち", "7-7", previous=PREVIOUS, reranker=rr,
                            logprob=-1.0, n_tokens=10)
    dup = make_candidate("川の流れに月の影ゆれ", "7-7", previous=PREVIOUS, reranker=rr,
                         logprob=-40.0, n_tokens=10)  # unspaced: split by prosody
    assert good.acceptable and not broken.acceptable and dup.candidate.text == good.candidate.text
    assert broken.deviation == 7  # 4+3 morae of 7+7
    ordered = rank([broken, copy, good, dup], 5, only_acceptable=False)
    assert ordered[-1].text == "こわれた かたち"  # broken last despite the best likelihood
    assert [c.text for c in ordered].count("川の流れに 月の影ゆれ") == 1
    assert rank([broken, good], 5, only_acceptable=True) == [good.candidate]


def test_unreadable_text_is_a_broken_candidate():
    checked = make_candidate("「」", "7-7", previous=PREVIOUS, reranker=Reranker())
    assert not checked.acceptable and not checked.candidate.ok
    assert checked.candidate.deviations[0]["kind"] == "unreadable"
