"""The bundled corpus (original verses shipped as package data): the floors of issue 3, the form
check of every verse, the exact round trip of its files, and the contract of bundled_texts().

These tests fail while the corpus is still being written; they are the corpus's acceptance
criteria and are not to be weakened."""

from collections import Counter
from importlib import resources

import pytest

from tsukeku.corpus import bundled
from tsukeku.corpus.issues import IssueLog
from tsukeku.corpus.model import KIND_FORM
from tsukeku.corpus.readers.jsonl import dumps_records, read_records

SEASONS = ("春", "夏", "秋", "冬", "雑")
MIN_LINKS = 400
MIN_PER_DIRECTION = 100  # "links in both directions": each direction well represented
MIN_PER_THEME = 20  # links whose 付句 is of each season, 雑, or on 恋
MIN_FULL_CHAINS = 4


@pytest.fixture(scope="module")
def corpus():
    log = IssueLog()
    data = bundled.load(log)
    return data, log


def test_every_record_is_valid(corpus):
    data, log = corpus
    assert data.bad_records == 0, [str(i) for i in log.errors]


def test_at_least_400_links_in_both_directions(corpus):
    data, _ = corpus
    links = data.all_links()
    directions = Counter(link.direction for link in links)
    assert len(links) >= MIN_LINKS, f"{len(links)} links"
    assert min(directions["長句→短句"], directions["短句→長句"]) >= MIN_PER_DIRECTION, directions


def test_links_cover_the_four_seasons_zo_and_love(corpus):
    data, _ = corpus
    links = data.all_links()
    seasons = Counter(link.next.season for link in links)
    love = sum("恋" in link.next.topics for link in links)
    for season in SEASONS:
        assert seasons[season] >= MIN_PER_THEME, (season, seasons)
    assert love >= MIN_PER_THEME, f"{love} links on 恋"


def test_at_least_four_complete_chains_of_18_or_36_verses(corpus):
    data, _ = corpus
    full = [c for c in data.chains if c.complete and len(c.verses) in (18, 36)]
    assert len(full) >= MIN_FULL_CHAINS, [(c.id, c.form, len(c.verses)) for c in data.chains]
    for chain in full:
        assert chain.verses[0].kind == "長句"


def test_every_verse_keeps_its_form_or_says_jiamari(corpus):
    from tsukeku.prosody import check_form

    data, _ = corpus
    failures = []
    for verse in dict.fromkeys(data.verses()):
        report = check_form(verse.text, KIND_FORM[verse.kind], reading=verse.reading)
        if report.ok:
            continue
        if verse.jiamari and all(d.kind == "字余り" for d in report.deviations):
            continue
        failures.append((verse.text, verse.reading, report.ku_morae))
    assert not failures, failures[:20]


def test_every_verse_has_a_reading_and_a_season(corpus):
    data, _ = corpus
    missing = [v.text for v in data.verses() if v.reading is None or v.season is None]
    assert not missing, missing[:20]


def test_files_round_trip_byte_for_byte():
    root = resources.files("tsukeku.corpus").joinpath("data")
    for name in bundled.DATA_FILES:
        res = root.joinpath(name)
        if not res.is_file():
            pytest.fail(f"tsukeku/corpus/data/{name} is missing")
        with resources.as_file(res) as path:
            data = read_records(path)
            assert dumps_records([*data.links, *data.chains]) == path.read_text(encoding="utf-8")


def test_a_readme_says_the_verses_are_original_work():
    readme = resources.files("tsukeku.corpus").joinpath("data", "README.md")
    assert readme.is_file()
    text = readme.read_text(encoding="utf-8")
    assert "Apache" in text and ("original" in text.lower() or "オリジナル" in text)


def test_bundled_texts_is_every_verse_text(corpus):
    data, _ = corpus
    texts = bundled.bundled_texts()
    assert texts and len(texts) == len(set(texts))
    assert set(texts) == {v.text for v in data.verses()}
    assert bundled.bundled_links()[0].source == "bundled"


def test_chains_pass_the_renga_rules():
    """Issue 13: the bundled chains break no rule of their form's 式目 (errors; warnings are
    allowed). Where one of our verses breaks a rule, the verse is rewritten, not the rule."""
    from tsukeku.renga.check import check

    for chain in bundled.bundled_chains():
        report = check(chain.verses, chain.form)
        assert report.errors == 0, (chain.id, [v.to_dict() for v in report.violations])
