"""Renga benchmark: the classifier's season and topic labels against our hand labels, the
checker against deliberately broken chains, and the speed of both.

- season_accuracy_bundled: every distinct verse of the bundled corpus with a season label,
  classified from its text alone (the labels removed).
- topic_f1_bundled: micro F1 over the topics the bundled labels use (月 花 恋 旅 述懐 無常 神祇
  釈教 …), every distinct bundled verse; a verse labelled [] has none of them.
- season_accuracy_dev / season_accuracy_heldout: our own season-labelled verses
  (tests/renga/data/season_verses.tsv), the held-out part never tuned on.
- broken_chain_recall: broken chains (tsukeku.renga.mutate, one rule broken each, 歌仙 and
  半歌仙) flagged with their rule id at their severity.
- clean_chain_false_errors: errors on the bundled chains and on every unfinished prefix of them.
- verses_classified_per_second: cold caches (MeCab analyses and classifications cleared before
  each round), one thread, per CPU second; reference in the same run: the MeCab analysis alone
  (`analyse_verses_per_second`), the floor the classifier stands on.
- chains_checked_per_second: whole 歌仙/半歌仙 checks with the verses' classifications cached
  (what a session or the composer does after each verse), per CPU second.
Writes bench/results/renga.json. Usage: python benchmarks/bench_renga.py [--out PATH] [--rounds N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "renga"))


def machine() -> str:
    from machine import describe  # benchmarks/machine.py

    return describe(torch=False)


def _cpu_rate(n: int, fn, rounds: int, before=None) -> float:
    rates = []
    for _ in range(rounds):
        if before is not None:
            before()
        t = time.process_time()
        fn()
        rates.append(n / max(time.process_time() - t, 1e-9))
    return statistics.median(rates)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "renga.json")
    ap.add_argument("--rounds", type=int, default=5, help="Timing rounds (median is reported).")
    args = ap.parse_args(argv)

    from season_set import season_verses  # tests/renga/season_set.py

    from tsukeku.corpus.bundled import bundled_chains, load
    from tsukeku.io import write_json_atomic
    from tsukeku.prosody.analysis import _analyse_cached, analyse
    from tsukeku.renga import classify, load_saijiki
    from tsukeku.renga.check import check
    from tsukeku.renga.classify import _infer
    from tsukeku.renga.mutate import broken_chains, clean_chains

    saijiki = load_saijiki()
    data = load()
    verses = {}
    for v in data.verses():
        verses.setdefault(v.text, v)

    # Seasons and topics of the bundled verses, from the text alone.
    labelled = [v for v in verses.values() if v.season is not None]
    season_right = sum(classify(v.text).season == v.season for v in labelled)
    label_topics = sorted({t for v in verses.values() for t in v.topics})
    tp = fp = fn = 0
    for v in verses.values():
        got = set(classify(v.text).topics) & set(label_topics)
        want = set(v.topics)
        tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0

    dev, held = season_verses("dev"), season_verses("heldout")
    dev_acc = sum(classify(t).season == s for s, t in dev) / len(dev)
    held_misses = [(s, classify(t).season, t) for s, t in held if classify(t).season != s]
    held_acc = 1 - len(held_misses) / len(held)

    # The checker: broken chains and clean ones.
    clean = clean_chains(bundled_chains())
    broken = list(broken_chains(clean))
    missed = [b.name for b in broken if b.rule not in check(b.verses, b.form).rules(b.severity)]
    false_errors = 0
    clean_checked = 0
    for _, form, vs in clean:
        for k in range(2, len(vs) + 1):
            false_errors += check(vs[:k], form).errors
            clean_checked += 1

    # Speed.
    texts = list(verses)

    def clear() -> None:
        _analyse_cached.cache_clear()
        _infer.cache_clear()

    classify("月")  # MeCab and the lexicon loaded before timing
    cls_rate = _cpu_rate(len(texts), lambda: [classify(t) for t in texts], args.rounds, clear)
    ana_rate = _cpu_rate(len(texts), lambda: [analyse(k) for t in texts for k in t.split(" ")],
                         args.rounds, clear)  # fmt: skip
    reps = 20
    for _, form, vs in clean:
        check(vs, form)
    chk_rate = _cpu_rate(
        reps * len(clean), lambda: [check(vs, f) for _ in range(reps) for _, f, vs in clean],
        args.rounds,
    )  # fmt: skip
    n_verses = sum(len(vs) for _, _, vs in clean)

    figures = {
        "season_accuracy_bundled": round(season_right / len(labelled), 4),
        "topic_f1_bundled": round(f1, 4),
        "season_accuracy_dev": round(dev_acc, 4),
        "season_accuracy_heldout": round(held_acc, 4),
        "broken_chain_recall": round(1 - len(missed) / len(broken), 4),
        "broken_chains": len(broken),
        "clean_chain_false_errors": false_errors,
        "clean_chains_checked": clean_checked,
        "verses_classified_per_second": round(cls_rate),
        "analyse_verses_per_second": round(ana_rate),
        "chains_checked_per_second": round(chk_rate),
        "check_ms_per_verse": round(1000 / (chk_rate * n_verses / len(clean)), 4),
        "saijiki_entries": len(saijiki),
    }
    notes = (
        f"Bundled: {season_right}/{len(labelled)} verses' seasons, topic micro-F1 over "
        f"{', '.join(label_topics)} (tp {tp}, fp {fp}, fn {fn}). Own verses: dev {len(dev)}, "
        f"held-out {len(held)} (held-out never tuned on; misses: "
        + ("; ".join(f"{t} {s}→{g}" for s, g, t in held_misses) or "none")
        + f"). Broken chains: {len(broken)} from the {len(clean)} bundled 歌仙/半歌仙, "
        f"{len(missed)} missed{': ' + ', '.join(missed) if missed else ''}. Clean: the bundled "
        f"chains and every unfinished prefix ({clean_checked} checks). Speed: one thread, per "
        f"CPU second, median of {args.rounds} rounds; classification with the MeCab and "
        f"classification caches cleared before each round ({len(texts)} distinct verses), the "
        f"reference being MeCab's analysis of the same ku alone; checks with classifications "
        f"cached. New Year words count as 冬 (kasen/hankasen profiles)."
    )
    result = {
        "figures": figures,
        "machine": machine(),
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "notes": notes,
    }
    write_json_atomic(args.out, result)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    print(
        f"renga: season {figures['season_accuracy_bundled']:.1%} bundled, "
        f"{held_acc:.1%} held-out; topic F1 {f1:.3f}; broken-chain recall "
        f"{figures['broken_chain_recall']:.0%} of {len(broken)}; {false_errors} false errors; "
        f"{cls_rate:.0f} verses/s (MeCab alone {ana_rate:.0f}); {chk_rate:.0f} chains/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
