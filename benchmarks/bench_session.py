#!/usr/bin/env python3
"""Session figures (`make bench-session` → bench/results/session.json).

20 model-only 半歌仙, in one run, with the tiny base (or `--adapter RUN` on it): each session
starts from a 発句 of our bundled corpus (a 長句 with a season and nothing the 表 avoids; the
発句 greets the moment of a session, so it is given, not composed), then the model writes
verses 2–18. Every session is played twice, interleaved verse by verse on the same machine:

- seat-aware: `compose_for_seat` — the prompt carries the seat, a season word of the seat is
  forced into a ku, and every candidate is checked by the classifier and the rule checker;
- reference: plain composing of the next verse (`Composer.compose` on the chain: the form
  guarantee only), the best candidate kept.

Figures: the share of finished sessions with no error-level violation (`tsukeku renga check`),
the share of model verses in the seat's season carrying the seat's topics (月 at a moon seat,
正花 at a blossom seat), the share of the exact form, and the median seconds per verse of each
(their ratio). The 発句 are split into a development part and a held-out part by a hash of the
text (fixed here); both parts are reported. Nothing is tuned on them.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FORM = "半歌仙"


def machine() -> str:
    from machine import describe  # benchmarks/machine.py (the script's folder is on sys.path)

    return describe(torch=True)


def log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(f"[bench-session] {msg}", file=sys.stderr, flush=True)


def _key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def hokku_seeds(count: int) -> list[tuple[str, str]]:
    """(text, part) of `count` 発句: 長句 of the bundled corpus with a season, no taboo of the
    表 and no error as a 発句, in a fixed order (by hash); part dev or heldout by the hash."""
    from tsukeku.corpus.bundled import bundled_chains, bundled_links
    from tsukeku.renga.check import check

    verses = [c.verses[0] for c in bundled_chains()]
    for link in bundled_links():
        verses += [v for v in (link.previous, link.next) if v.kind == "長句"]
    seen: set[str] = set()
    pool = []
    for v in verses:
        if v.text in seen:
            continue
        seen.add(v.text)
        report = check([v.text], FORM)
        if report.ok and not report.rules("warning") - {"hokku_kireji"}:
            pool.append(v.text)
    pool.sort(key=_key)
    return [(t, "dev" if int(_key(t), 16) % 2 == 0 else "heldout") for t in pool[:count]]


def play(composer, hokku: str, n: int, seed: int, quiet: bool) -> dict:
    """One session played both ways, verse by verse: {mode: {verses, seats, seconds, stalled}}."""
    from tsukeku.generation.seat_compose import compose_for_seat
    from tsukeku.renga.profiles import load_profile
    from tsukeku.renga.seat import next_seat

    prof = load_profile(FORM)
    out = {m: {"chain": [hokku], "seats": [], "seconds": [], "stalled": False}
           for m in ("seat", "reference")}
    for number in range(2, prof.length + 1):
        for mode, state in out.items():
            if state["stalled"]:
                continue
            chain = state["chain"]
            seat = next_seat(chain, prof)
            text = None
            start = time.perf_counter()
            for attempt in range(2):  # one retry with another seed when nothing came back
                s = seed * 1000 + number * 10 + attempt
                if mode == "seat":
                    result = compose_for_seat(composer, chain, seat, n, profile=prof, seed=s)
                else:
                    result = composer.compose(list(chain[-3:]), n=n, seed=s)
                if result.candidates:
                    text = result.candidates[0].text
                    break
            state["seconds"].append(time.perf_counter() - start)
            if text is None:
                state["stalled"] = True
                log(f"  {mode}: no verse for seat {number}; the session stops", quiet)
                continue
            chain.append(text)
            state["seats"].append(seat)
    return out


def figures_of(sessions: list[dict], mode: str) -> dict:
    from tsukeku.prosody import check_form
    from tsukeku.renga.check import check
    from tsukeku.renga.classify import classify

    kind_form = {"長句": "5-7-5", "短句": "7-7"}
    clean = finished = verses = in_season = of_form = 0
    for s in sessions:
        state = s[mode]
        chain = state["chain"]
        if not state["stalled"]:
            finished += 1
            clean += check(chain, FORM).ok
        for text, seat in zip(chain[1:], state["seats"], strict=True):
            verses += 1
            c = classify(text)
            in_season += c.season == seat.season and all(t in c.topics for t in seat.topics)
            of_form += check_form(text, kind_form[seat.kind]).ok
    return {
        "sessions": len(sessions),
        "finished": finished,
        "without_errors": clean / len(sessions) if sessions else 0.0,
        "verses": verses,
        "seat_season_adherence": in_season / verses if verses else 0.0,
        "form_adherence": of_form / verses if verses else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "session.json")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--n", type=int, default=5, help="candidates per verse (both modes)")
    ap.add_argument("--base", default="tiny")
    ap.add_argument("--adapter", default=None, help="a LoRA run on the base (default: none)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (the tiny model is fastest on one thread of a shared CPU)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    import torch

    from tsukeku.generation.composer import Composer
    from tsukeku.io import write_json_atomic

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    composer = Composer.load(args.base, args.adapter)
    seeds = hokku_seeds(args.sessions)
    if len(seeds) < args.sessions:
        log(f"only {len(seeds)} 発句 in the bundled corpus", args.quiet)
    # warm-up (token table, saijiki, classifier caches) outside the timed verses
    from tsukeku.generation.seat_compose import compose_for_seat

    composer.compose(seeds[0][0], n=1, seed=0)
    compose_for_seat(composer, [seeds[0][0]], n=1, profile=FORM, seed=0)
    sessions = []
    for i, (hokku, part) in enumerate(seeds):
        log(f"session {i + 1}/{len(seeds)} ({part}): {hokku}", args.quiet)
        s = play(composer, hokku, args.n, i, args.quiet)
        s["part"] = part
        sessions.append(s)

    seat, ref = figures_of(sessions, "seat"), figures_of(sessions, "reference")
    t_seat = [t for s in sessions for t in s["seat"]["seconds"]]
    t_ref = [t for s in sessions for t in s["reference"]["seconds"]]
    med_seat = statistics.median(t_seat) if t_seat else 0.0
    med_ref = statistics.median(t_ref) if t_ref else 0.0
    parts = {}
    for part in ("dev", "heldout"):
        chosen = [s for s in sessions if s["part"] == part]
        parts[part] = {"seat": figures_of(chosen, "seat"), "reference": figures_of(chosen,
                                                                                   "reference")}
    figures = {
        "sessions": len(sessions),
        "sessions_without_errors": round(seat["without_errors"], 4),
        "sessions_without_errors_reference": round(ref["without_errors"], 4),
        "sessions_finished": seat["finished"],
        "sessions_finished_reference": ref["finished"],
        "seat_season_adherence": round(seat["seat_season_adherence"], 4),
        "seat_season_adherence_reference": round(ref["seat_season_adherence"], 4),
        "form_adherence": round(seat["form_adherence"], 4),
        "form_adherence_reference": round(ref["form_adherence"], 4),
        "seconds_per_verse_median": round(med_seat, 3),
        "seconds_per_verse_median_reference": round(med_ref, 3),
        "seconds_per_verse_ratio": round(med_seat / med_ref, 3) if med_ref else None,
        "candidates_per_verse": args.n,
        "verses": seat["verses"],
        "verses_reference": ref["verses"],
        "parts": {
            part: {
                "sessions": p["seat"]["sessions"],
                "sessions_without_errors": round(p["seat"]["without_errors"], 4),
                "sessions_without_errors_reference": round(p["reference"]["without_errors"], 4),
                "seat_season_adherence": round(p["seat"]["seat_season_adherence"], 4),
                "seat_season_adherence_reference": round(
                    p["reference"]["seat_season_adherence"], 4
                ),
            }
            for part, p in parts.items()
        },
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    notes = (
        f"{len(sessions)} model-only {FORM} on {args.base}"
        + (f" with the adapter {args.adapter}" if args.adapter else " (no adapter: a LoRA run is "
           "not cheap on the shared CPU; --adapter RUN measures one)")
        + f"; {args.n} candidate(s) per verse in both modes"
        + (" (fewer than the composer's default of 5, to keep the run near ten minutes on two "
           "shared cores)" if args.n < 5 else "")
        + ", the best kept; one retry with "
        "another seed when none came back, else the session stops (counted as not without "
        "errors). The 発句 (verse 1) is from the bundled corpus, not composed. Seat-aware: "
        "compose_for_seat (seat in the prompt, a season word forced into a ku, classifier + "
        "checker on every candidate). Reference: Composer.compose on the last three verses "
        "(form guarantee only), same model, seeds and candidates, interleaved verse by verse. "
        "seat_season_adherence: model verses whose classified season is the seat's season and "
        "that carry the seat's topics (月/正花), both modes judged against the seat derived "
        "from their own chain. Seconds per verse include retries; medians over all verses. "
        "Parts: 発句 split by a hash of the text (dev / heldout), nothing tuned on either."
    )
    report = {"figures": figures, "machine": machine(),
              "when": datetime.now(UTC).isoformat(timespec="seconds"), "notes": notes}
    write_json_atomic(args.out, report)
    print(
        f"session: without errors {figures['sessions_without_errors']:.0%} (reference "
        f"{figures['sessions_without_errors_reference']:.0%}); seat season "
        f"{figures['seat_season_adherence']:.1%} (reference "
        f"{figures['seat_season_adherence_reference']:.1%}); form {figures['form_adherence']:.1%}"
        f"; s/verse {med_seat:.2f} vs {med_ref:.2f} ({figures['seconds_per_verse_ratio']}×)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
