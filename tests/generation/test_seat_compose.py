"""The seat guarantee: every candidate returned for a seat is of the form, in one of the seat's
seasons (with its season word), carries the seat's topics and breaks no error-level rule — and
the season word is written by constrained decoding (forced into a ku), not only found by
filtering. Random GPT-NeoX models over tokenizers of several kinds (conftest.py)."""

import random

import pytest
import torch

from tsukeku.corpus.bundled import bundled_chains
from tsukeku.generation.candidates import check_candidate as form_check
from tsukeku.generation.seat_compose import KIND_FORM, compose_for_seat, filter_for_seat
from tsukeku.generation.seat_words import season_words, spell
from tsukeku.generation.types import Candidate, ComposeRequest, CompositionResult, SeatSpec
from tsukeku.renga.check import check_candidate, view_verse
from tsukeku.renga.classify import classify
from tsukeku.renga.profiles import load_profile
from tsukeku.renga.saijiki import default_path
from tsukeku.renga.seat import next_seat

pytestmark = pytest.mark.skipif(
    not default_path().exists(), reason="the bundled saijiki is not written yet"
)


def _fits(chain, seat, prof, text):
    record = {"text": text, "kind": seat.kind}
    report, _, _ = form_check(text, KIND_FORM[seat.kind])
    errors = [v for v in check_candidate(chain, record, profile=prof) if v.severity == "error"]
    view = view_verse(record, prof)
    return (
        report is not None
        and report.ok
        and not seat.problems(view)
        and not errors
        and view.season == seat.season
    )


def _random_seats(count, seed=14):
    rng = random.Random(seed)
    chains = bundled_chains()
    out = []
    for _ in range(count):
        chain = rng.choice(chains)
        k = rng.randrange(1, len(chain.verses))
        prefix = [v.model_dump() for v in chain.verses[:k]]
        out.append((prefix, load_profile(chain.form)))
    return out


@pytest.mark.parametrize("kind", ["byte_bpe", "unigram"])
def test_every_candidate_for_a_seat_fits_it(kind, composers):
    composer = composers[kind]
    returned = forced_seats = 0
    for i, (prefix, prof) in enumerate(_random_seats(24)):
        seat = next_seat(prefix, prof)
        result = compose_for_seat(composer, prefix, n=2, profile=prof, seed=i)
        assert result.seat["number"] == len(prefix) + 1 and result.form == KIND_FORM[seat.kind]
        for c in result.candidates:
            assert _fits(prefix, seat, prof, c.text), (seat.describe(), c.text)
            if seat.season != "雑":
                assert classify(c.text).kigo  # a season word of the seat's season is there
        returned += len(result.candidates)
        forced_seats += any("forced into a ku" in n for n in result.notes)
        if len(result.candidates) < 2:
            assert any("fit the seat" in n for n in result.notes)
    assert returned >= 24  # the guarantee is not met by returning nothing
    assert forced_seats >= 12


def test_the_season_word_is_written_by_decoding(composers):
    """Forcing alone (no filtering): rows given a season word have it at the start of its ku."""
    from transformers import LogitsProcessorList

    from tsukeku.generation.constraints import Meter, MoraConstraintLogitsProcessor
    from tsukeku.generation.seat_constraints import Forcing, SeatForcingLogitsProcessor

    composer = composers["byte_bpe"]
    tok, model = composer.tokenizer, composer.model
    meter = Meter.of("5-7-5")
    words = season_words("秋", ("月",))
    rng = random.Random(3)
    forcings = []
    while len(forcings) < 12:
        w = rng.choice(words)
        ku = rng.randrange(3)
        if w.morae > meter.targets[ku]:
            continue
        ids = spell(
            w.word, ku, tok, composer.token_table(), composer.automaton(), meter.targets, False
        )
        if ids:
            forcings.append(Forcing(ku, ids, w.word))
    prompt = composer.template.render("山寺の 鐘の音遠く 霞かな", "5-7-5")
    enc = tok([prompt] * len(forcings), return_tensors="pt")
    mora = MoraConstraintLogitsProcessor(
        composer.automaton(), [meter] * len(forcings), enc["input_ids"].shape[1]
    )
    seat = SeatForcingLogitsProcessor(mora, forcings)
    torch.manual_seed(0)
    out = model.generate(
        **enc,
        do_sample=True,
        max_new_tokens=60,
        eos_token_id=composer.end_ids(),
        pad_token_id=tok.pad_token_id,
        logits_processor=LogitsProcessorList([mora, seat]),
    )
    texts = [tok.decode(row[enc["input_ids"].shape[1] :], skip_special_tokens=True) for row in out]
    written = 0
    for f, text, done in zip(forcings, texts, seat.written, strict=True):
        if done:
            written += 1
            ku = composer.template.parse(text).split(" ")
            assert ku[f.ku].startswith(f.word), (f, text)
    assert written >= len(forcings) * 3 // 4


def test_season_words_fit_their_seat():
    moon = season_words("秋", ("月",))
    assert moon and all("月" in w.topics and w.season == "秋" for w in moon)
    blossom = season_words("春", ("花",))
    assert blossom and all(classify(w.word).season == "春" for w in blossom)
    plain = season_words("夏", (), frozenset({"植物", "動物"}))
    assert plain and not any({"植物", "動物"} & w.topics for w in plain)
    assert season_words("雑") == ()


@pytest.mark.parametrize("kind", ["char", "unigram", "sp_byte_fallback", "byte_bpe"])
def test_spelling_writes_the_word_exactly(kind, composers):
    c = composers[kind]
    table, meter = c.token_table(), Meter575()
    spelt = 0
    for w in season_words("秋", ("月",))[:20]:
        for ku in range(3):
            ids = spell(w.word, ku, c.tokenizer, table, c.automaton(), meter, False)
            if ids and w.morae <= meter[ku]:
                text = b"".join(table.raw[i] for i in ids).decode()
                assert text.strip() == w.word and (ku == 0 or text == " " + w.word)
                spelt += 1
    assert spelt  # some moon words can be written with every tokenizer


def Meter575():
    return (5, 7, 5)


def test_a_request_with_a_seat_spec(composers):
    chain = [v.text for v in bundled_chains()[3].verses[:4]]
    req = ComposeRequest(previous=chain, n=2, seed=1, seat=SeatSpec(profile="半歌仙"))
    result = composers["byte_bpe"].compose_many([req])[0]
    assert result.to_dict()["seat"]["describe"].startswith("秋・月の座")
    for c in result.candidates:
        assert "月" in classify(c.text).topics
    over = ComposeRequest(
        previous=chain, n=1, seed=1, seat=SeatSpec(profile="半歌仙", season="冬", topics=["月"])
    )
    r = composers["byte_bpe"].compose_many([over])[0]
    assert r.seat["seasons"] == ["冬"]
    assert all(classify(c.text).season == "冬" for c in r.candidates)
    plain = composers["byte_bpe"].compose_many([ComposeRequest(previous=chain[-1], n=1)])[0]
    assert "seat" not in plain.to_dict()


class _Remote:
    """A backend without constraints answering with fixed verses."""

    name = "remote"
    supports_constraints = False

    def __init__(self, texts):
        self.texts = texts
        self.calls = 0

    def compose(self, request):
        self.calls += 1
        cands = [Candidate(t, "", [], True) for t in self.texts]
        return CompositionResult(request.previous, request.form, cands, self.name, False)

    def compose_many(self, requests):
        return [self.compose(r) for r in requests]


def test_remote_backends_are_filtered_by_the_same_checks():
    prefix = [v.model_dump() for v in bundled_chains()[3].verses[:4]]
    good = "名月や 舟をとどめて 人を待つ"
    remote = _Remote([good, "春風に 舟をとどめて 人を待つ", "ただ歩む 道の果てまで 人を待つ"])
    result = compose_for_seat(remote, prefix, n=2, profile="半歌仙")
    assert [c.text for c in result.candidates] == [good]
    assert result.seat["topics"] == ["月"] and remote.calls == 4
    assert any("only 1 candidate" in n for n in result.notes)
    req = ComposeRequest(
        previous=[v["text"] for v in prefix], n=1, form="5-7-5", seat=SeatSpec(profile="半歌仙")
    )
    assert [c.text for c in filter_for_seat(remote, req).candidates] == [good]
