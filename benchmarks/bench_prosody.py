"""Prosody benchmark: mora counts on the Hyakunin Isshu, ku splitting on the Kokinshu, speed.

Reference in the same run: plain fugashi + unidic-lite summing the `kana` feature.
Writes bench/results/prosody.json ({"figures", "machine", "when", "notes", "misses"}) and prints
the JSON and a one-line summary. Data: ../shared/data next to the repository, or
$TSUKEKU_SHARED_DATA. Usage: python benchmarks/bench_prosody.py [--out PATH] [--rounds N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def machine() -> str:
    from machine import describe  # benchmarks/machine.py (the script's folder is on sys.path)

    return describe(torch=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "prosody.json")
    ap.add_argument("--rounds", type=int, default=5, help="Timing rounds (median is reported).")
    args = ap.parse_args(argv)

    from tsukeku.errors import TsukekuError
    from tsukeku.evaluation import prosody_reference as ref
    from tsukeku.io import write_json_atomic
    from tsukeku.prosody import count_morae
    from tsukeku.prosody.dictionary import kanji_words

    folder = ref.shared_data_dir(REPO)
    try:
        hyakunin = ref.load_json(folder, ref.HYAKUNIN)
        kokinshu = ref.load_json(folder, ref.KOKINSHU)
    except TsukekuError as err:
        print(f"bench_prosody: {err}", file=sys.stderr)
        return 2

    baseline = ref.BaselineCounter()
    ours = ref.evaluate_counts(hyakunin, ref.ours_with_meter)
    ours_plain = ref.evaluate_counts(hyakunin, ref.ours_without_meter)
    base = ref.evaluate_counts(hyakunin, baseline)
    split = ref.evaluate_split(kokinshu)
    split_part = {
        part: ref.evaluate_split([r for r in kokinshu if ref.kokinshu_part(r) == part])
        for part in ("dev", "test")
    }
    # Our own verses: dev (tuned on) and held-out (measured only), through `tsukeku count`
    # (count_verse) and the baseline, in this same run.
    own, own_base, own_split = {}, {}, {}
    for part in ("dev", "heldout"):
        verses = ref.load_own_verses(part)
        own[part] = ref.evaluate_own(verses, ref.ours_count)
        own_base[part] = ref.evaluate_own(verses, baseline)
        own_split[part] = ref.evaluate_own_split(verses)

    kus = ref.distinct_ku(hyakunin, kokinshu)
    count_morae("秋の田の")  # load MeCab and the lexicon before timing
    kanji_words("閑")  # and the dictionary's per-kanji index (built once, cached on disk)
    unreadable: dict[str, str] = {}

    def ours_count(text: str, due: int | None) -> None:
        try:
            count_morae(text, due)
        except TsukekuError as err:  # a kanji unidic-lite cannot read: still work done
            unreadable[text] = str(err)

    timed = ref.ku_per_second(kus, ours_count, args.rounds)
    timed_plain = ref.ku_per_second(kus, lambda t, due: ours_count(t, None), args.rounds)
    timed_base = ref.ku_per_second(kus, lambda t, due: baseline.ku(t)[0], args.rounds)
    speed, speed_wall, speed_plain = timed.cpu, timed.wall, timed_plain.cpu
    speed_base, speed_base_wall = timed_base.cpu, timed_base.wall
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    figures = {
        "hyakunin_ku_accuracy": round(ours.ku_accuracy, 4),
        "hyakunin_poems_whole": ours.poems_whole,
        "baseline_hyakunin_ku_accuracy": round(base.ku_accuracy, 4),
        "baseline_hyakunin_poems_whole": base.poems_whole,
        "hyakunin_ku_accuracy_no_meter": round(ours_plain.ku_accuracy, 4),
        "hyakunin_poems_whole_no_meter": ours_plain.poems_whole,
        "kokinshu_split_accuracy": round(split.accuracy, 4),
        "kokinshu_split_poems": split.total,
        "kokinshu_split_accuracy_dev": round(split_part["dev"].accuracy, 4),
        "kokinshu_split_poems_dev": split_part["dev"].total,
        "kokinshu_split_accuracy_test": round(split_part["test"].accuracy, 4),
        "kokinshu_split_poems_test": split_part["test"].total,
        **{
            f"{key}_{part}": value
            for part in ("dev", "heldout")
            for key, value in (
                ("own_ku_accuracy", round(own[part].ku_accuracy, 4)),
                ("own_ku", own[part].ku_total),
                ("own_verses_whole", own[part].poems_whole),
                ("own_verses", own[part].poems_total),
                ("baseline_own_ku_accuracy", round(own_base[part].ku_accuracy, 4)),
                ("baseline_own_verses_whole", own_base[part].poems_whole),
                ("own_split_accuracy", round(own_split[part].accuracy, 4)),
            )
        },
        "ku_per_second": round(speed),
        "ku_per_second_wall": round(speed_wall),
        "ku_per_second_no_meter": round(speed_plain),
        "baseline_ku_per_second": round(speed_base),
        "baseline_ku_per_second_wall": round(speed_base_wall),
        "ku_per_second_ratio_vs_baseline": round(speed / speed_base, 3),
        "distinct_ku_timed": len(kus),
    }
    data_notes = sorted(set(ours.data_notes))
    notes = (
        f"Hyakunin Isshu: input = kami/shimo text (no ruby), truth = the morae of each ku of "
        f"kami_kana/shimo_kana (small kana not counted); ours = check_form(poem, '5-7-5-7-7') "
        f"({ours.ku_correct}/{ours.ku_total} ku, {ours.poems_whole}/{ours.poems_total} poems), "
        f"without the meter count_morae(ku) ({ours_plain.ku_correct}/{ours_plain.ku_total} ku); "
        f"baseline = plain fugashi+unidic-lite summing the kana feature "
        f"({base.ku_correct}/{base.ku_total} ku, {base.poems_whole}/{base.poems_total} poems). "
        f"Kokinshu: split_ku on the joined five ku of each poem the editor split (ruby markup "
        f"kept, as the editor wrote it), {split.correct}/{split.total} identical (dev = vol. 1 "
        f"nos. 1-34: {split_part['dev'].correct}/{split_part['dev'].total}; test = the rest: "
        f"{split_part['test'].correct}/{split_part['test'].total}; earlier work looked at all "
        f"of them). The Hyakunin Isshu is all dev: the lexicon and costs were tuned on all 100. "
        f"Our own verses (tests/prosody/data, hand-read): dev {own['dev'].ku_correct}/"
        f"{own['dev'].ku_total} ku (baseline {own_base['dev'].ku_correct}), held-out (never "
        f"tuned on) {own['heldout'].ku_correct}/{own['heldout'].ku_total} ku (baseline "
        f"{own_base['heldout'].ku_correct}), read as `tsukeku count` reads a spaced verse "
        f"(count_verse: the form's meter as a prior); own_split = split_ku on the joined verse "
        f"gives our ku. Speed: distinct "
        f"ku of both files, every cache cleared before each of {args.rounds} rounds, median; "
        f"ku_per_second = ku per CPU second of this single-threaded process (the speed on one "
        f"core), ku_per_second_wall = per wall-clock second (load average {load:.1f} on "
        f"{os.cpu_count()} CPUs during the run); both with the meter given "
        f"(count_morae(ku, 5|7)); "
        + (
            f"{len(unreadable)} of the timed ku hold a kanji unidic-lite cannot read "
            f"(InputError, timed all the same: {', '.join(sorted(unreadable))}). "
            if unreadable
            else "every timed ku was read. "
        )
        + "Every miss is listed under 'misses'; a miss can be the source's: e.g. id 36 reads "
        "'まだよいいながら' (8) where 'まだよいながら' (7) is meant."
        + (" Data notes: " + "; ".join(data_notes) + "." if data_notes else "")
        + (" Kokinshu records skipped: " + "; ".join(split.skipped) + "." if split.skipped else "")
    )
    result = {
        "figures": figures,
        "machine": machine(),
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "notes": notes,
        "misses": {
            "hyakunin": ours.misses,
            "hyakunin_no_meter": ours_plain.misses,
            "baseline_hyakunin": base.misses,
            "kokinshu_split": split.misses,
            **{f"own_{part}": own[part].misses for part in own},
            **{f"baseline_own_{part}": own_base[part].misses for part in own},
            **{f"own_split_{part}": own_split[part].misses for part in own},
        },
    }
    write_json_atomic(args.out, result)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    for m in ours_plain.misses:
        print(f"miss (no meter given): Hyakunin id {m['id']} ku {m['ku_index'] + 1} {m['ku']}: "
              f"reference {m['reference']} ({m['reference_morae']}), ours {m['reading']} "
              f"({m['morae']})")  # fmt: skip
    for m in ours.misses:
        print(f"miss: Hyakunin id {m['id']} ku {m['ku_index'] + 1} {m['ku']}: reference "
              f"{m['reference']} ({m['reference_morae']}), ours {m['reading']} ({m['morae']})")  # fmt: skip
    for m in split.misses:
        print(
            f"miss: Kokinshu {m['poem']}: editor {' / '.join(m['editor'])}; ours {' / '.join(m['ours'])}"
        )
    for part in own:
        for m in own[part].misses:
            print(f"miss ({part}): own {m['id']} ku {m['ku_index'] + 1} {m['ku']}: reference "
                  f"{m['reference']} ({m['reference_morae']}), ours {m['reading']} ({m['morae']})")  # fmt: skip
        for m in own_split[part].misses:
            print(f"miss ({part} split): own {m['poem']}: ours {' / '.join(m['ours'])}")
    print(
        f"prosody: Hyakunin ku {ours.ku_correct}/{ours.ku_total} ({ours.ku_accuracy:.1%}), "
        f"poems {ours.poems_whole}/{ours.poems_total} whole; baseline {base.ku_correct}/"
        f"{base.ku_total} ({base.ku_accuracy:.1%}), {base.poems_whole} poems; Kokinshu split "
        f"{split.correct}/{split.total} ({split.accuracy:.1%}; test "
        f"{split_part['test'].correct}/{split_part['test'].total}); own verses dev "
        f"{own['dev'].ku_accuracy:.1%} (baseline {own_base['dev'].ku_accuracy:.1%}), held-out "
        f"{own['heldout'].ku_accuracy:.1%} (baseline {own_base['heldout'].ku_accuracy:.1%}); "
        f"{speed:,.0f} ku/s per CPU "
        f"second, {speed_wall:,.0f} wall (baseline {speed_base:,.0f}, ratio "
        f"{speed / speed_base:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
