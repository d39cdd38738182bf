"""The mora automaton on hand-made token tables (kana only, so no analyser is involved)."""

import random

import numpy as np
import pytest
import torch

from tsukeku.generation.constraints import Meter, MoraAutomaton, MoraConstraintLogitsProcessor
from tsukeku.generation.sampling import RowMaxNewTokens, RowSamplingLogitsProcessor
from tsukeku.generation.token_table import build_table
from tsukeku.prosody.kana import kana_morae

SHORT = Meter((7, 7))
LONG = Meter((5, 7, 5))
EOS = 0

PIECES = ["あ", "か", "さ", "たな", "はまん", "らりるれ", " ", " ら", "の ", "き", "ゃ",
          "ん", "ー", "abc", "。", "\n", "  ", "そら み", "ゝ"]


def table_of(pieces, eos=True):
    raw = ([None] if eos else []) + [p.encode() if isinstance(p, str) else p for p in pieces]
    return build_table(raw, key="test-" + str(hash(tuple(raw))))


def ids(pieces, *names):
    return [1 + pieces.index(n) for n in names]


def allowed(auto, sid):
    return set(np.nonzero(auto.mask([sid])[0].numpy())[0].tolist())


@pytest.fixture
def auto():
    return MoraAutomaton(table_of(PIECES), [EOS], len(PIECES) + 1)


def run(auto, sid, pieces, *names):
    for i in ids(pieces, *names):
        assert auto.mask([sid])[0, i], f"{names} rejected at {auto.key(sid)}"
        sid = auto.step(sid, i)
    return sid


def test_table_reads_kana_and_rejects_the_rest():
    t = table_of(PIECES)
    d = {p: t.describe(i + 1) for i, p in enumerate(PIECES)}
    assert d["はまん"]["m0"] == 3 and not d["はまん"]["sp"]
    assert d[" ら"]["sp"] and d[" ら"]["m1"] == 1 and d[" ら"]["m0"] == 0
    assert d["そら み"]["m0"] == 2 and d["そら み"]["m1"] == 1
    for junk in ("abc", "。", "\n", "  ", "ゝ"):
        assert not d[junk]["usable"], junk
    assert d["ゃ"]["usable"] and d["ゃ"]["m0"] == 0


def test_start_state_masks_junk_space_and_end(auto):
    s = auto.start(SHORT)
    ok = allowed(auto, s)
    for junk in ("abc", "。", "\n", "  ", " ", "ゃ", "ゝ"):
        assert ids(PIECES, junk)[0] not in ok, junk
    assert EOS not in ok
    assert set(ids(PIECES, "あ", "はまん", "らりるれ", " ら")) <= ok  # leading space ignored


def test_overrun_is_masked(auto):
    s = run(auto, auto.start(SHORT), PIECES, "らりるれ", "か")  # 5 of 7
    ok = allowed(auto, s)
    assert ids(PIECES, "はまん")[0] not in ok  # 5 + 3 > 7
    assert ids(PIECES, "らりるれ")[0] not in ok
    assert ids(PIECES, "たな")[0] in ok  # exactly 7
    assert ids(PIECES, " ")[0] not in ok  # the ku is not complete


def test_space_is_forced_at_a_full_ku_and_end_only_when_complete(auto):
    s = run(auto, auto.start(SHORT), PIECES, "らりるれ", "はまん")  # 7
    ok = allowed(auto, s)
    assert ok == set(ids(PIECES, " ", " ら")), [auto.table.raw[i] for i in ok]
    s = run(auto, s, PIECES, " ", "らりるれ", "たな")  # 6 of 7
    assert EOS not in allowed(auto, s)
    s = run(auto, s, PIECES, "ん")
    assert allowed(auto, s) == {EOS}
    assert auto.is_complete(s)
    assert auto.step(s, EOS) == auto.ended


def test_token_ending_with_the_space_closes_the_ku(auto):
    s = run(auto, auto.start(SHORT), PIECES, "らりるれ", "たな")  # 6
    assert ids(PIECES, "の ")[0] in allowed(auto, s)
    s = run(auto, s, PIECES, "の ")
    assert auto.key(s)[2:4] == (1, 0)


def test_no_space_in_the_last_ku(auto):
    s = run(auto, auto.start(SHORT), PIECES, "らりるれ", "はまん", " ", "らりるれ", "はまん")
    assert allowed(auto, s) == {EOS}


def test_small_kana_only_after_a_full_size_kana(auto):
    s = run(auto, auto.start(SHORT), PIECES, "き")
    assert ids(PIECES, "ゃ")[0] in allowed(auto, s)
    s2 = run(auto, s, PIECES, "ゃ")
    assert ids(PIECES, "ゃ")[0] not in allowed(auto, s2)  # no loop of zero-mora pieces
    s3 = run(auto, auto.start(SHORT), PIECES, "ん")
    assert ids(PIECES, "ゃ")[0] not in allowed(auto, s3)


def test_jiamari_allows_one_more_mora_per_ku():
    auto = MoraAutomaton(table_of(PIECES), [EOS], len(PIECES) + 1)
    meter = Meter((7, 7), jiamari=True)
    s = run(auto, auto.start(meter), PIECES, "らりるれ", "はまん")  # 7 of 7(+1)
    ok = allowed(auto, s)
    assert ids(PIECES, "ん")[0] in ok and ids(PIECES, " ")[0] in ok
    s = run(auto, s, PIECES, "ん")  # 8
    assert allowed(auto, s) == set(ids(PIECES, " ", " ら"))


# --- partial UTF-8 pieces (byte-level BPE / byte fallback) ------------------------------------

KA = "か".encode()  # e3 81 8b
HA = "は".encode()  # e3 81 af
BYTE_PIECES = [b"\xe3", b"\x81", b"\x8b", b"\xaf", b"\xe3\x81", b"\x8b\xe3", b"\x81\xaf",
               "あ".encode(), b" ", b"\xff", b"\x8b \xe3", "なにぬね".encode(), b"\xcc"]


def test_unfinished_characters_must_be_finished_and_counted():
    auto = MoraAutomaton(table_of(BYTE_PIECES), [EOS], len(BYTE_PIECES) + 1)
    start = auto.start(SHORT)
    ok = allowed(auto, start)
    assert ids(BYTE_PIECES, b"\x81")[0] not in ok  # a continuation byte cannot start
    assert ids(BYTE_PIECES, b"\xff")[0] not in ok
    assert ids(BYTE_PIECES, b"\xe3")[0] in ok
    assert ids(BYTE_PIECES, b"\xcc")[0] not in ok  # starts a combining mark: no reading
    s = auto.step(start, ids(BYTE_PIECES, b"\xe3")[0])
    ok = allowed(auto, s)
    # e3 81 → kana; e3 af → a rare kanji (CJK ext. A); e3 8b → enclosed letters: no reading
    assert set(ids(BYTE_PIECES, b"\x81", b"\x81\xaf")) <= ok
    assert ids(BYTE_PIECES, b"\x8b")[0] not in ok
    s = auto.step(s, ids(BYTE_PIECES, b"\x81\xaf")[0])  # は: 1 mora
    assert auto.key(s)[2:5] == (0, 1, b"")


def test_random_walks_always_spell_a_verse_of_the_form():
    """Whatever allowed token is taken, the bytes decode and every ku has its morae."""
    auto = MoraAutomaton(table_of(BYTE_PIECES + PIECES), [EOS], len(BYTE_PIECES + PIECES) + 1)
    raw = auto.table.raw
    rng = random.Random(0)
    for meter in (SHORT, LONG, Meter((7, 7), jiamari=True)):
        for _ in range(300):
            s = auto.start(meter)
            out = b""
            for _step in range(60):
                choices = sorted(allowed(auto, s))
                tok = rng.choice(choices)
                s = auto.step(s, tok)
                if tok == EOS:
                    break
                out += raw[tok]
            assert s == auto.ended, (meter, out)
            text = out.decode("utf-8").strip()
            ku = text.split(" ")
            assert len(ku) == len(meter.targets), text
            for part, target in zip(ku, meter.targets, strict=True):
                assert target <= kana_morae(part) <= target + meter.jiamari, text


def test_processor_masks_rows_independently():
    pieces = PIECES
    auto = MoraAutomaton(table_of(pieces), [EOS], len(pieces) + 1)
    proc = MoraConstraintLogitsProcessor(auto, [SHORT, None], prompt_length=3)
    scores = torch.zeros(2, len(pieces) + 1)
    out = proc(torch.zeros(2, 3, dtype=torch.long), scores)
    assert torch.isinf(out[0, EOS]) and not torch.isinf(out[1]).any()
    tok = ids(pieces, "らりるれ")[0]
    out = proc(torch.tensor([[0, 0, 0, tok], [0, 0, 0, tok]]), scores)
    assert torch.isinf(out[0, ids(pieces, "らりるれ", " ")]).all()  # 8 > 7; ku not complete
    assert not torch.isinf(out[0, ids(pieces, "たな", "はまん")]).any()
    assert not torch.isinf(out[1]).any()


def test_row_sampling_matches_transformers_warpers():
    from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    torch.manual_seed(0)
    scores = torch.randn(3, 50)
    ours = RowSamplingLogitsProcessor([0.7, 1.0, 1.3], [5, 0, 0], [1.0, 0.9, 0.5])(None, scores)
    ref0 = TopKLogitsWarper(5)(None, TemperatureLogitsWarper(0.7)(None, scores[:1]))
    ref1 = TopPLogitsWarper(0.9)(None, scores[1:2])
    ref2 = TopPLogitsWarper(0.5)(None, TemperatureLogitsWarper(1.3)(None, scores[2:]))
    for a, b in ((ours[0], ref0[0]), (ours[1], ref1[0]), (ours[2], ref2[0])):
        assert torch.equal(torch.isinf(a), torch.isinf(b))
        assert torch.allclose(a[~torch.isinf(a)], b[~torch.isinf(b)])


def test_row_max_new_tokens():
    crit = RowMaxNewTokens(4, [1, 3])
    assert crit(torch.zeros(2, 5, dtype=torch.long), None).tolist() == [True, False]
    assert crit(torch.zeros(2, 7, dtype=torch.long), None).tolist() == [True, True]


def test_masks_are_cached_rows(auto):
    s = auto.start(LONG)
    m = auto.mask([s, s, auto.ended])
    assert m.shape == (3, auto.vocab_size) and bool(m[2].all())
    assert np.array_equal(m[0].numpy(), m[1].numpy())


# --- the analyser keeps the count honest where a token's own reading misleads -----------------

MOCHI = ["あいう", "持", "ち", "て", "ちて ", " ", "あ", "ん"]


def _feed(proc, pieces, names, prompt=2):
    seq = [0] * prompt
    scores = torch.zeros(1, len(pieces) + 1)
    proc(torch.tensor([seq]), scores)
    for name in names:
        seq.append(1 + pieces.index(name))
        out = proc(torch.tensor([seq]), scores)
    return out


def test_a_full_ku_is_recounted_by_the_analyser():
    from tsukeku.prosody import count_morae

    auto = MoraAutomaton(table_of(MOCHI), [EOS], len(MOCHI) + 1)
    assert auto.table.describe(ids(MOCHI, "持")[0])["m0"] == 2  # 持 alone: もち
    assert count_morae("あいう持ちて", expected=7) == 6  # in context: も + ち + て
    proc = MoraConstraintLogitsProcessor(auto, [SHORT], prompt_length=2)
    out = _feed(proc, MOCHI, ["あいう", "持", "ち", "て"])  # 3 + 2 + 1 + 1 = 7 by the table
    assert auto.key(proc.states[0])[3] == 6 and proc.resyncs == [1]
    assert torch.isinf(out[0, ids(MOCHI, " ")]).all()  # not full yet: no space
    assert not torch.isinf(out[0, ids(MOCHI, "あ")]).any()


def test_a_ku_closed_off_the_meter_stops_the_row():
    auto = MoraAutomaton(table_of(MOCHI), [EOS], len(MOCHI) + 1)
    proc = MoraConstraintLogitsProcessor(auto, [SHORT], prompt_length=2)
    out = _feed(proc, MOCHI, ["あいう", "持", "ちて "])  # the table: 3 + 2 + 2 = 7, then space
    assert proc.states[0] == auto.dead and proc.rejected == [1]
    assert not torch.isinf(out[0, EOS]) and torch.isinf(out[0, 1:]).all()  # it may only end


def test_without_resync_the_table_count_stands():
    auto = MoraAutomaton(table_of(MOCHI), [EOS], len(MOCHI) + 1)
    proc = MoraConstraintLogitsProcessor(auto, [SHORT], prompt_length=2, resync=False)
    _feed(proc, MOCHI, ["あいう", "持", "ち", "て"])
    assert auto.key(proc.states[0])[3] == 7
