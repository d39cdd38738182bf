"""The development / held-out discipline: the split is fixed in code and the parts are disjoint;
only the dev part has a floor here (the held-out part is measured by `make bench-prosody`)."""

from tsukeku.evaluation import prosody_reference as ref
from tsukeku.prosody.kana import kana_morae


def test_own_verse_parts_are_disjoint_and_well_formed():
    dev, held = ref.load_own_verses("dev"), ref.load_own_verses("heldout")
    assert len(dev) >= 25 and len(held) >= 50
    assert not {v.id for v in dev} & {v.id for v in held}
    assert not {v.ku for v in dev} & {v.ku for v in held}
    for v in dev + held:
        assert v.style in ("classical", "modern")
        assert all(kana_morae(r) > 0 for r in v.readings)  # readings are kana only


def test_kokinshu_split_is_fixed_by_number():
    assert ref.kokinshu_part({"volume": 1, "number": 1}) == "dev"
    assert ref.kokinshu_part({"volume": 1, "number": 34}) == "dev"
    assert ref.kokinshu_part({"volume": 1, "number": 35}) == "test"
    assert ref.kokinshu_part({"volume": 7, "number": 353}) == "test"


def test_own_dev_floor():
    """Our dev verses through `tsukeku count` (count_verse): ≥ 97% of ku, and above the plain
    fugashi + unidic-lite baseline measured here."""
    dev = ref.load_own_verses("dev")
    ours = ref.evaluate_own(dev, ref.ours_count)
    base = ref.evaluate_own(dev, ref.BaselineCounter())
    assert ours.ku_accuracy >= 0.97, ours.misses
    assert ours.ku_correct > base.ku_correct
