"""The running batch's KV-cache bookkeeping (`kv_slots`): rows that join (prefill + merge,
left-padded to a common width), decode together and leave (select: a row from the end takes a
leaving row's place, unused padding columns are cut), through the buffers' growth (more rows,
more columns, a longer prompt joining after the left padding was cut), get the same next-token
logits as each row's whole sequence run on its own."""

from __future__ import annotations

import random

import pytest
import torch

from tsukeku.generation.composer import Composer
from tsukeku.generation.engine_jobs import Job, Row
from tsukeku.generation.running_batch import RunningBatch
from tsukeku.generation.types import ComposeRequest

VERSES = ["霞たつ 野辺の若菜を 摘みに出て", "秋の夜の 月を見上げて", "夏草に 露のひかりの 宿りけり",
          "雪まだ残る 峰の遠さよ", "遠き灯の 川面にゆれて"]  # written for these tests


@pytest.fixture(scope="module")
def composer(tiny_base) -> Composer:
    return Composer.load(tiny_base)


def _rows(composer: Composer, verse: str | list[str], count: int) -> list[Row]:
    job = Job(ComposeRequest(previous=verse, n=count, constrained=False))
    job.plan = composer.plan(job.request)
    return [Row(job, i, None, None, None, 50, (1.0, 0, 1.0)) for i in range(count)]


def _alone(composer: Composer, row: Row) -> torch.Tensor:
    """The logits after `row`'s prompt and tokens, from a forward pass of that row alone."""
    ids = composer.tokenizer(row.job.plan.prompt)["input_ids"] + row.ids
    with torch.inference_mode():
        return composer.model(input_ids=torch.tensor([ids])).logits[0, -1].float()


def test_rows_joining_and_leaving_keep_their_own_cache(composer):
    rng = random.Random(3)
    batch = RunningBatch(composer)
    vocab = composer.model.get_output_embeddings().weight.shape[0]
    chain = VERSES[:3]  # a chain: a longer prompt (two verses of context)
    joins = {0: [(VERSES[1], 1)], 1: [(chain, 1), (VERSES[0], 2)], 2: [(VERSES[2], 3)],
             3: [(VERSES[3], 1), (VERSES[0], 1)], 5: [(VERSES[4], 9)],
             30: [(VERSES[1], 2)], 41: [(chain, 2)], 44: [(VERSES[3], 12)]}
    leave = {(1, 0), (1, 1), (3, 2), (4, 0), (6, 1), (6, 5), (6, 9), (20, 0), (20, 3),
             (28, 1), (38, 0), (38, 1), (38, 2), (43, 0), (46, 2), (46, 7)}
    checked = 0
    with torch.inference_mode():
        for step in range(50):
            logits_run = batch.decode() if batch.rows else None
            new: list[Row] = []
            for verse, count in joins.get(step, []):
                new += _rows(composer, verse, count)
            if new:
                logits_new, cache, mask, row_of = batch.prefill(new)
                batch.merge(new, cache, mask, row_of)
                logits = logits_new if logits_run is None else torch.cat([logits_run, logits_new])
            else:
                logits = logits_run
            assert logits.shape[0] == len(batch.rows)
            for i, row in enumerate(batch.rows):
                if step % 5 == 0 or step > 40 or i == len(batch.rows) - 1:
                    torch.testing.assert_close(logits[i].float(), _alone(composer, row),
                                               atol=2e-4, rtol=1e-4)
                    checked += 1
            tokens = [rng.randrange(2, vocab) for _ in batch.rows]
            for row, token in zip(batch.rows, tokens, strict=True):
                row.ids.append(token)
            keep = [i for i in range(len(batch.rows)) if (step, i) not in leave]
            batch.last = tokens
            if len(keep) < len(batch.rows):
                batch.select(keep)
                assert batch.last == [row.ids[-1] for row in batch.rows]
    assert checked > 100
