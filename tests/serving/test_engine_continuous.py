"""The continuous-batching engine on the tiny base: the form guarantee, requests joining a
running batch, a cancelled request leaving it without breaking the others, seeded requests
independent of their batch-mates, and the streamed slots matching the answer."""

from __future__ import annotations

import threading
import time

import pytest

from tsukeku.errors import InputError
from tsukeku.generation.composer import Composer
from tsukeku.generation.engine import ContinuousEngine
from tsukeku.generation.types import ComposeRequest
from tsukeku.prosody import check_form

VERSES = ["霞たつ 野辺の若菜を 摘みに出て", "秋の夜の 月を見上げて", "夏草に 露のひかりの 宿りけり",
          "雪まだ残る 峰の遠さよ"]  # written for these tests


@pytest.fixture(scope="module")
def composer(tiny_base) -> Composer:
    return Composer.load(tiny_base)


@pytest.fixture
def engine(composer):
    steps: list[tuple[int, int]] = []
    eng = ContinuousEngine(composer, max_requests=8,
                           on_step=lambda joined, req, rows, s: (steps.append((req, rows)),
                                                                 seconds.append(s)))
    seconds: list[float] = []
    eng.step_log, eng.step_seconds = steps, seconds
    eng.start()
    yield eng
    eng.stop()


def _assert_form(result, n: int = 3):
    assert result.constrained
    assert len(result.candidates) == n, result.notes
    for cand in result.candidates:
        report = check_form(cand.text, result.form)
        assert cand.ok and report.ok, (cand.text, result.form, result.notes)


def test_every_candidate_passes_the_form_check(engine):
    jobs = [engine.submit(ComposeRequest(previous=v, n=3, seed=i))
            for i, v in enumerate(VERSES * 2)]
    for job in jobs:
        result = job.wait(120)
        assert len(result.candidates) == 3, result.notes
        _assert_form(result)
    assert max(req for req, _ in engine.step_log) > 1  # they were decoded together
    # the model's forwards are timed inside the steps: part of them, never more
    engine.stop()  # no step in flight while the two are compared
    assert 0 < engine.model_seconds < sum(engine.step_seconds)


def test_a_request_joins_a_running_batch_and_both_finish(engine):
    first = engine.submit(ComposeRequest(previous=VERSES[0], n=4, seed=1))
    deadline = time.monotonic() + 30
    while engine.steps < 2 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert not first.finished
    running_when_joined = engine.running
    second = engine.submit(ComposeRequest(previous=VERSES[1], n=2, seed=2))
    _assert_form(second.wait(120), 2)
    _assert_form(first.wait(120), 4)
    assert running_when_joined >= 1
    assert any(req == 2 for req, _ in engine.step_log)  # a step advanced both


def test_a_cancelled_request_leaves_without_breaking_the_others(engine):
    jobs = [engine.submit(ComposeRequest(previous=v, n=3, seed=i)) for i, v in enumerate(VERSES)]
    while engine.steps < 1:
        time.sleep(0.001)
    jobs[1].cancel()
    for i, job in enumerate(jobs):
        if i == 1:
            with pytest.raises(TimeoutError):
                job.wait(60)
            continue
        _assert_form(job.wait(120))
    # the loop goes on serving
    _assert_form(engine.submit(ComposeRequest(previous=VERSES[2], n=3)).wait(120))


def test_a_bad_request_fails_alone(engine):
    good = engine.submit(ComposeRequest(previous=VERSES[0], n=3))
    bad = engine.submit(ComposeRequest(previous=VERSES[1], n=3, adapter="nonesuch"))
    with pytest.raises(InputError, match="no adapter"):
        bad.wait(60)
    _assert_form(good.wait(120))


def test_a_seeded_request_does_not_depend_on_its_batch_mates(engine):
    alone = engine.submit(ComposeRequest(previous=VERSES[0], n=3, seed=42)).wait(120)
    crowd = [engine.submit(ComposeRequest(previous=v, n=3, seed=7 + i))
             for i, v in enumerate(VERSES)]
    together = engine.submit(ComposeRequest(previous=VERSES[0], n=3, seed=42))
    texts = [c.text for c in together.wait(120).candidates]
    for job in crowd:
        job.wait(120)
    assert texts == [c.text for c in alone.candidates]


def test_streamed_slots_are_the_answer(engine):
    events: list = []
    lock = threading.Lock()

    def listen(event):
        with lock:
            events.append(event)

    job = engine.submit(ComposeRequest(previous=VERSES[0], n=3, seed=5), listen, stream=True)
    mate = engine.submit(ComposeRequest(previous=VERSES[1], n=3))
    result = job.wait(120)
    mate.wait(120)
    assert events[-1][0] == "done" and events[-1][1] is result
    shown: dict[int, str] = {}
    final: dict[int, str] = {}
    for kind, payload in events[:-1]:
        slot, text = payload
        assert 0 <= slot < 3
        if kind == "delta":
            assert slot not in final  # nothing is added to a slot after its final text
            shown[slot] = shown.get(slot, "") + text
        elif kind == "restart":
            shown[slot] = text
        elif kind == "slot":
            final[slot] = text
    assert sorted(final) == [0, 1, 2]
    assert sum(1 for k, _ in events if k == "delta") > 3  # token by token, not whole verses
    assert sorted(final.values()) == sorted(c.text for c in result.candidates)
    for slot, text in final.items():
        assert shown[slot] == text
    _assert_form(result)


def test_a_lone_request_whose_rows_fail_gets_replacements(composer):
    """Its rows end off the form (forced here) with nobody else in the batch: replacement rows
    join at once, without waiting for another request to wake the loop."""
    eng = ContinuousEngine(composer)
    take = composer.take
    failed = []

    def failing_take(plan, *args, **kwargs):
        checked = take(plan, *args, **kwargs)
        if len(failed) < 2:
            failed.append(checked.candidate.text)
            checked.acceptable = False
        return checked

    composer.take = failing_take
    eng.start()
    try:
        result = eng.submit(ComposeRequest(previous=VERSES[0], n=1, seed=9)).wait(60)
    finally:
        eng.stop()
        composer.take = take
    assert len(failed) == 2
    _assert_form(result, 1)
