"""The composer with mora-constrained decoding, on every kind of tokenizer."""

from __future__ import annotations

import functools

import pytest

from tsukeku.errors import InputError
from tsukeku.generation.composer import Composer
from tsukeku.generation.token_bytes import token_bytes
from tsukeku.generation.token_table import table_for
from tsukeku.generation.types import ComposeRequest
from tsukeku.prosody import FORMS, check_form

from .conftest import KINDS

LONG = "山寺の 鐘にほどける 霞かな"  # a 長句: the 付句 is a 短句 (7-7)
SHORT = "畦をつたひて 雪解けの水"  # a 短句: the 付句 is a 長句 (5-7-5)


@pytest.mark.parametrize("kind", KINDS)
def test_token_bytes_spell_the_text(kind, tokenizers_by_kind, verses):
    tok = tokenizers_by_kind[kind]
    raw = token_bytes(tok)
    for verse in verses[:200]:
        ids = tok(verse, add_special_tokens=False)["input_ids"]
        spelt = b"".join(raw[i] for i in ids).decode("utf-8")
        assert spelt.strip() == verse, (kind, verse, tok.convert_ids_to_tokens(ids))


@pytest.mark.parametrize("kind", KINDS)
def test_every_constrained_candidate_passes_the_independent_check(kind, composers):
    composer = composers[kind]
    total = 0
    for seed in range(6):
        for previous, form in ((LONG, "7-7"), (SHORT, "5-7-5")):
            result = composer.compose(previous, n=3, seed=seed, temperature=1.0)
            assert result.form == form and result.constrained
            assert result.candidates, result.notes
            for cand in result.candidates:
                report = check_form(cand.text, form)
                assert report.ok, (kind, cand.text, report)
                assert cand.ok and cand.ku_morae == list(FORMS[form])
                assert cand.text.count(" ") == len(FORMS[form]) - 1
                assert cand.reading.count(" ") == len(FORMS[form]) - 1
                assert cand.logprob is not None and cand.logprob < 0
            assert [c.score for c in result.candidates] == sorted(
                (c.score for c in result.candidates), reverse=True)
            total += len(result.candidates)
    assert total >= 30  # resampling fills most requests even with a random model


def test_unconstrained_candidates_are_reported_as_they_are(composers):
    result = composers["byte_bpe"].compose(LONG, n=4, seed=1, constrained=False)
    assert not result.constrained
    assert any("unconstrained" in n for n in result.notes)
    for cand in result.candidates:
        report = check_form(cand.text, "7-7") if cand.reading else None
        assert cand.ok == bool(report and report.ok)


def test_jiamari_allows_one_extra_mora_per_ku(composers):
    seen_extra = False
    for seed in range(8):
        result = composers["char"].compose(SHORT, n=3, seed=seed, jiamari=True)
        assert result.candidates
        for cand in result.candidates:
            for got, want in zip(cand.ku_morae, FORMS["5-7-5"], strict=True):
                assert want <= got <= want + 1, cand
            seen_extra |= cand.ku_morae != [5, 7, 5]
            assert all(d["kind"] == "字余り" for d in cand.deviations)
    assert seen_extra  # a random model takes the extra mora now and then


def test_seed_makes_results_reproducible(composers):
    a = composers["unigram"].compose(LONG, n=3, seed=7)
    b = composers["unigram"].compose(LONG, n=3, seed=7)
    assert [c.text for c in a.candidates] == [c.text for c in b.candidates]


def test_compose_many_serves_every_request_with_one_generate_call(composers, monkeypatch):
    composer = composers["sp_byte_fallback"]
    batches: list[int] = []
    original = composer.model.generate

    def spy(*args, **kwargs):
        batches.append(kwargs["input_ids"].shape[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(composer.model, "generate", spy)
    requests = [
        ComposeRequest(previous=LONG, n=2, seed=3),
        ComposeRequest(previous=SHORT, n=3, temperature=0.7, top_k=20),
        ComposeRequest(previous=LONG, n=2, constrained=False, top_p=0.8, max_new_tokens=20),
    ]
    results = composer.compose_many(requests)
    first = sum(composer.plan(r).rows_wanted(0, composer.oversample) for r in requests)
    assert batches[0] == first  # the first round: every request in one call
    assert [r.form for r in results] == ["7-7", "5-7-5", "7-7"]
    assert [r.constrained for r in results] == [True, True, False]
    assert len(results[1].candidates) <= 3 and len(results[2].candidates) <= 2
    for res in results[:2]:
        assert all(check_form(c.text, res.form).ok for c in res.candidates)


def test_shared_prefill_gives_what_a_prefill_per_row_gives(composers, monkeypatch):
    """The candidates of a request share one prefill of its prompt; with the same seed the
    result must be what each row prefilled on its own (`shared_prefill=False`) gives."""
    composer = composers["sp_byte_fallback"]
    requests = [ComposeRequest(previous=LONG, n=3, seed=11), ComposeRequest(previous=SHORT, n=2, seed=12)]
    rows = sum(composer.plan(r).rows_wanted(0, composer.oversample) for r in requests)
    assert rows > 2
    calls: list[int] = []  # the rows of each forward pass of the model
    original = composer.model.forward

    @functools.wraps(original)
    def counting(*args, **kwargs):
        calls.append(kwargs["input_ids"].shape[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(composer.model, "forward", counting)
    assert composer.shared_prefill
    shared = composer.compose_many(requests)
    assert calls and calls[0] == 2  # two distinct prompts for all the rows of the first round
    calls.clear()
    monkeypatch.setattr(composer, "shared_prefill", False)
    alone = composer.compose_many(requests)
    assert calls and calls[0] == rows  # the first forward pass prefills every row
    for a, b in zip(shared, alone, strict=True):
        assert [c.text for c in a.candidates] == [c.text for c in b.candidates]
        assert [c.logprob for c in a.candidates] == pytest.approx([c.logprob for c in b.candidates], abs=1e-3)


def test_chain_prompt_has_the_last_verse_and_two_before(composers):
    composer = composers["char"]
    chain = ["一の句 あいう えお", "二の句 かきく", "三の句 さしす せそ", "四の句 たちつ"]
    plan = composer.plan(ComposeRequest(previous=chain, n=1))
    assert "一の句" not in plan.prompt
    assert plan.prompt.index("二の句") < plan.prompt.index("三の句") < plan.prompt.index("四の句")
    assert plan.form == "5-7-5"  # after a 短句


def test_unspaced_previous_is_spaced_in_the_prompt(composers):
    plan = composers["char"].plan(ComposeRequest(previous="山寺の鐘にほどける霞かな", n=1))
    assert plan.form == "7-7"
    assert "山寺の 鐘にほどける 霞かな" in plan.prompt


@pytest.mark.parametrize("bad", [
    {"previous": ""},
    {"previous": "  "},
    {"previous": LONG, "n": 0},
    {"previous": LONG, "form": "8-8"},
    {"previous": LONG, "temperature": 0},
    {"previous": LONG, "top_p": 1.5},
    {"previous": [LONG, 3]},
    {"previous": LONG, "adapter": "nope"},
])
def test_bad_requests_are_input_errors(composers, bad):
    with pytest.raises(InputError):
        composers["char"].compose_many([ComposeRequest(**bad)])


def test_unknown_option_is_an_input_error(composers):
    with pytest.raises(InputError, match="unknown option"):
        composers["char"].compose(LONG, temprature=0.5)


def test_token_table_is_cached_on_disk(tokenizers_by_kind, tmp_path):
    from tsukeku.generation import token_table

    tok = tokenizers_by_kind["byte_bpe"]
    token_table.clear_memory()
    first = table_for(tok, cache_dir=tmp_path)
    assert not first.from_cache and first.build_seconds > 0
    assert list(tmp_path.glob(f"{first.key}.json"))
    token_table.clear_memory()
    second = table_for(tok, cache_dir=tmp_path)
    assert second.from_cache and second.key == first.key
    assert (second.m0 == first.m0).all() and (second.usable == first.usable).all()
    assert second.raw == first.raw


def test_composer_from_a_model_without_template_uses_completion(tokenizers_by_kind):
    from .conftest import random_model

    tok = tokenizers_by_kind["char"]
    composer = Composer(random_model(tok), tok)
    assert composer.template.name == "completion"
    assert composer.template.end == "\n"
