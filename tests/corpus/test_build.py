"""The dataset builder: no leaks between splits, deduplication, determinism, stats, prompt.json,
and the `tsukeku data` commands."""

import json
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tsukeku.cli import app
from tsukeku.corpus.build import SPLITS, assign_splits, build_dataset, normalise_reading
from tsukeku.errors import ConfigError, DataError
from tsukeku.prompts import PromptTemplate, get_template

from .conftest import make_tanka_jsonl

RECORD_KEYS = {
    "id", "previous", "next", "previous_form", "next_form", "previous_reading", "next_reading",
    "context", "direction", "season", "topics", "source", "group", "season_inferred",
    "topics_inferred",
}  # fmt: skip


@pytest.fixture
def corpus(fixtures, tmp_path):
    """60 poems, one chain file, our JSONL, and a file repeating 5 poems under other ids."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    make_tanka_jsonl(folder / "poems.jsonl", 60)
    shutil.copy(fixtures / "chains.txt", folder / "chains.txt")
    shutil.copy(fixtures / "own.jsonl", folder / "own.jsonl")
    lines = (folder / "poems.jsonl").read_text(encoding="utf-8").splitlines()[:5]
    repeats = [json.loads(line) | {"id": f"again-{i}"} for i, line in enumerate(lines)]
    (folder / "repeats.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in repeats), encoding="utf-8"
    )
    return folder


def read_split(out, split):
    return [json.loads(line) for line in (out / f"{split}.jsonl").read_text().splitlines()]


def test_records_have_the_documented_fields(corpus, tmp_path):
    result = build_dataset([str(corpus)], tmp_path / "out", seed=1)
    rows = [r for s in SPLITS for r in read_split(result.out, s)]
    assert rows and all(set(r) == RECORD_KEYS for r in rows)
    chained = [r for r in rows if r["group"] == "chains:chains-01"]
    assert len(chained) == 4
    last = next(r for r in chained if r["id"] == "chains-01-004")
    assert last["context"] == ["櫂の雫に 秋の日の射す", "藁を積み 村の子供ら 走り出す"]
    assert (last["previous_form"], last["next_form"], last["direction"]) == (
        "7-7",
        "5-7-5",
        "短句→長句",
    )
    for r in rows:  # every verse has a reading, spaced per ku like its text
        assert len(r["previous_reading"].split(" ")) == len(r["previous"].split(" "))
        assert len(r["next_reading"].split(" ")) == len(r["next"].split(" "))


def test_no_group_and_no_reading_in_two_splits(corpus, tmp_path):
    out = build_dataset([str(corpus)], tmp_path / "out", seed=7).out
    groups, readings = {}, {}
    for split in SPLITS:
        rows = read_split(out, split)
        groups[split] = {r["group"] for r in rows}
        readings[split] = {
            normalise_reading(r[k]) for r in rows for k in ("previous_reading", "next_reading")
        }
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not groups[a] & groups[b], (a, b)
                assert not readings[a] & readings[b], (a, b)


def test_groups_sharing_a_verse_stay_together(tmp_path):
    src = tmp_path / "shared.jsonl"
    make_tanka_jsonl(src, 40)
    rows = [json.loads(line) for line in src.read_text().splitlines()]
    # Two more poems that reuse poem s03's 上の句 with other 下の句: three groups, one verse.
    for i, lower in enumerate(["波ひとつずつ 消してゆくなり", "露の小道を 踏みわけて行く"]):
        kami = " ".join(rows[3]["text"].split(" ")[:3])
        rows.append({"id": f"x{i}", "text": f"{kami} {lower}"})
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    for seed in range(5):
        out = build_dataset([str(src)], tmp_path / f"out{seed}", seed=seed).out
        where = {r["group"]: s for s in SPLITS for r in read_split(out, s)}
        assert where["shared:s03"] == where["shared:x0"] == where["shared:x1"]


def test_near_duplicates_are_removed(corpus, tmp_path):
    result = build_dataset([str(corpus)], tmp_path / "out", seed=0)
    stats = result.stats
    # 5 repeated poems, and own.jsonl's chain opens with the same two 付け as chains.txt's
    # (chains.txt gives no readings: prosody reads them, identically to own.jsonl's hand readings).
    assert stats["duplicates_removed"] == 7
    assert stats["by_source"]["own"]["duplicates_removed"] == 2
    assert stats["by_source"]["repeats"]["duplicates_removed"] == 5
    assert stats["by_source"]["repeats"]["links"] == 0
    rows = [r for s in SPLITS for r in read_split(result.out, s)]
    keys = [
        (normalise_reading(r["previous_reading"]), normalise_reading(r["next_reading"]))
        for r in rows
    ]
    assert len(keys) == len(set(keys))


def test_normalised_readings_ignore_script_spacing_and_old_kana():
    assert normalise_reading("カワ ギリ、の") == normalise_reading("かわぎりの")
    assert normalise_reading("こゑを まづ") == normalise_reading("こえお まず")
    assert normalise_reading("はな") != normalise_reading("わな")


def test_same_seed_same_bytes_other_seed_other_split(corpus, tmp_path):
    a = build_dataset([str(corpus)], tmp_path / "a", seed=3).out
    b = build_dataset([str(corpus)], tmp_path / "b", seed=3).out
    c = build_dataset([str(corpus)], tmp_path / "c", seed=4).out
    for name in ("train.jsonl", "validation.jsonl", "test.jsonl", "stats.json", "prompt.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "train.jsonl").read_bytes() != (c / "train.jsonl").read_bytes()
    ids = lambda out: {s: {r["id"] for r in read_split(out, s)} for s in SPLITS}  # noqa: E731
    assert ids(a) != ids(c)
    assert set().union(*ids(a).values()) == set().union(*ids(c).values())


def test_proportions_by_links_with_groups_whole(corpus, tmp_path):
    stats = build_dataset([str(corpus)], tmp_path / "out", seed=2).stats
    total = stats["total_links"]
    assert sum(stats["by_split"].values()) == total
    biggest_unit = 5  # the chain of five verses has 4 links; own.jsonl's chain 3
    for split, share in zip(SPLITS, (0.8, 0.1, 0.1), strict=True):
        assert abs(stats["by_split"][split] - share * total) <= biggest_unit, split
    skewed = build_dataset(
        [str(corpus)], tmp_path / "skew", seed=2, proportions=(0.5, 0.25, 0.25)
    ).stats
    assert abs(skewed["by_split"]["train"] - total / 2) <= biggest_unit


def test_assign_splits_fills_the_furthest_behind():
    sizes = {f"u{i}": 1 for i in range(100)}
    counts = {s: 0 for s in SPLITS}
    for split in assign_splits(sizes, 0, (0.8, 0.1, 0.1)).values():
        counts[split] += 1
    assert counts == {"train": 80, "validation": 10, "test": 10}


def test_stats_json(corpus, tmp_path):
    out = build_dataset([str(corpus)], tmp_path / "out", seed=0).out
    stats = json.loads((out / "stats.json").read_text())
    for key in (
        "total_links",
        "chains",
        "by_split",
        "by_source",
        "by_direction",
        "form_adherence",
        "length",
    ):
        assert key in stats
    assert stats["chains"] == 3  # chains.txt: 2 read, 1 skipped; own.jsonl: 1
    assert stats["by_split"] == {s: len(read_split(out, s)) for s in SPLITS}
    assert sum(stats["by_direction"].values()) == stats["total_links"]
    assert stats["by_direction"]["短句→長句"] > 0
    src = stats["by_source"]["chains"]
    assert src["bad_records"] == 1 and src["warnings"] >= 1 and src["chains"] == 2
    assert 0 < src["form_adherence"] < 1  # the 字余り verse
    assert stats["by_source"]["poems"]["form_adherence"] == 1.0
    long_ = stats["length"]["長句"]["morae"]
    assert long_["histogram"]["17"] >= 60 and long_["min"] <= 17 <= long_["max"]
    assert stats["bad_records"] == 1 and any("chains.txt:12" in i for i in stats["issues"])


def test_prompt_json_is_written_with_the_data(corpus, tmp_path):
    out = build_dataset([str(corpus)], tmp_path / "out", template=get_template("instruction")).out
    tpl = PromptTemplate.load(out)
    assert tpl.name == "instruction"
    assert "前句：" in tpl.render("朝霧の 晴れゆく川に 舟を出す", "7-7")


def test_strict_build_fails_on_a_bad_record(corpus, tmp_path):
    with pytest.raises(DataError, match=r"chains\.txt:12"):
        build_dataset([str(corpus)], tmp_path / "out", strict=True)
    assert not (tmp_path / "out" / "train.jsonl").exists()


def test_nothing_to_build_and_bad_proportions(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(DataError, match="no links"):
        build_dataset([str(empty)], tmp_path / "out")
    with pytest.raises(ConfigError):
        build_dataset([str(empty)], tmp_path / "out", proportions=(0.5, 0.5))


def test_cli_build_stats_and_check(corpus, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli"
    res = runner.invoke(
        app,
        [
            "data",
            "build",
            "--source",
            str(corpus),
            "--out",
            str(out),
            "--seed",
            "5",
            "--split",
            "70/15/15",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "bad record" in res.output and "chains.txt:12" in res.output
    assert "train" in res.output and "form adherence" in res.output
    stats = json.loads((out / "stats.json").read_text())
    assert stats["seed"] == 5 and stats["proportions"]["train"] == 0.7
    res = runner.invoke(app, ["data", "stats", str(out)])
    assert res.exit_code == 0 and "validation" in res.output and "長句" in res.output
    quiet = runner.invoke(
        app, ["data", "build", "-s", str(corpus / "poems.jsonl"), "-o", str(tmp_path / "q"), "-q"]
    )
    assert quiet.exit_code == 0 and quiet.output == ""


def test_cli_errors_exit_2_with_file_and_line(corpus, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tsukeku",
            "data",
            "build",
            "--source",
            str(corpus),
            "--out",
            str(tmp_path / "x"),
            "--strict",
            "--quiet",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    stderr = proc.stderr.replace("\n", "")  # the top-level error printer wraps long lines
    assert "chains.txt:12" in stderr and "Traceback" not in stderr


def test_cli_check_reports_without_building(fixtures):
    runner = CliRunner()
    ok = runner.invoke(app, ["data", "check", str(fixtures / "own.jsonl")])
    assert ok.exit_code == 0 and "2 link(s), 1 chain(s) (5 links in all)" in ok.output
    bad = runner.invoke(app, ["data", "check", str(fixtures / "tanka.jsonl")])
    assert isinstance(bad.exception, DataError) and "5 bad record(s)" in str(bad.exception)
    assert "tanka.jsonl:5" in bad.output


def test_missing_season_and_topics_are_inferred_and_counted(corpus, tmp_path):
    result = build_dataset([str(corpus)], tmp_path / "out", seed=0)
    rows = [r for s in SPLITS for r in read_split(result.out, s)]
    assert all(r["season"] in ("春", "夏", "秋", "冬", "雑") for r in rows)
    inferred = [r for r in rows if r["season_inferred"]]
    assert inferred  # the tanka and text sources carry no labels
    autumn = [r for r in inferred if "秋の" in r["next"]]
    assert autumn and all(r["season"] == "秋" for r in autumn)
    labels = result.stats["labels"]
    assert labels["season_inferred"] == len(inferred)
    assert labels["season_given"] + labels["season_inferred"] == result.stats["total_links"]
    assert sum(result.stats["by_season"].values()) == result.stats["total_links"]


def test_bundled_build_keeps_given_labels(tmp_path):
    from tsukeku.corpus.bundled import bundled_links

    result = build_dataset(["bundled"], tmp_path / "out", seed=0)
    rows = {r["next"]: r for s in SPLITS for r in read_split(result.out, s)}
    for link in bundled_links()[:50]:
        row = rows.get(link.next.text)
        if row is not None and link.next.season is not None:
            assert row["season"] == link.next.season and not row["season_inferred"]

