"""The source registry: names, FORMAT:PATH, detection by extension and contents, folders."""

import shutil

import pytest

from tsukeku.corpus.issues import IssueLog
from tsukeku.corpus.readers import default_path, detect_format, read_source, read_sources
from tsukeku.errors import DataError


@pytest.mark.parametrize(
    "name, fmt",
    [
        ("own.jsonl", "jsonl"),
        ("tanka.jsonl", "tanka"),
        ("tanka.csv", "tanka"),
        ("chains.txt", "chains"),
        ("hyakunin_layout.json", "hyakunin"),
        ("kokinshu_layout.json", "kokinshu"),
        ("hachidai.db", "hachidaishu"),
    ],
)
def test_detect_format(fixtures, name, fmt):
    assert detect_format(fixtures / name) == fmt


def test_a_json_array_of_tanka_is_read_as_tanka(tmp_path):
    p = tmp_path / "mine.json"
    p.write_text(
        '[{"text": "夕凪の 浜に残れる 足跡を 波ひとつずつ 消してゆくなり"}]', encoding="utf-8"
    )
    assert detect_format(p) == "tanka"
    (data,) = read_source(str(p))
    assert len(data.links) == 1 and data.name == "mine"


def test_unknown_files_and_missing_sources_are_clear_errors(tmp_path):
    odd = tmp_path / "poems.xlsx"
    odd.write_bytes(b"PK")
    with pytest.raises(DataError, match="unknown file type"):
        read_source(str(odd))
    with pytest.raises(DataError, match="neither a name"):
        read_source(str(tmp_path / "nothing-here"))
    db = tmp_path / "other.db"
    db.write_text("SQLite format 3\n")
    with pytest.raises(DataError, match="hachidai.db layout"):
        read_source(str(db))
    with pytest.raises(DataError, match="no such file"):
        read_source("tanka:" + str(tmp_path / "missing.csv"))


def test_format_prefix_names_the_reader(fixtures, tmp_path):
    copy = tmp_path / "poems.data"
    shutil.copy(fixtures / "hachidai.db", copy)
    (data,) = read_source(f"hachidaishu:{copy}")
    assert data.name == "hachidaishu" and len(data.links) == 3
    (data,) = read_source(f"tanka:{fixtures / 'tanka.csv'}")
    assert data.name == "tanka" and len(data.links) == 3


def test_named_sources_look_in_shared_data_and_the_cache(fixtures, tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    shutil.copy(fixtures / "hyakunin_layout.json", shared / "hyakunin_isshu.json")
    monkeypatch.setenv("TSUKEKU_SHARED_DATA", str(shared))
    monkeypatch.chdir(tmp_path)
    (data,) = read_source("hyakunin")
    assert data.name == "hyakunin" and len(data.links) == 2
    home = tmp_path / "home"
    monkeypatch.setenv("TSUKEKU_HOME", str(home))
    with pytest.raises(DataError, match="tsukeku data fetch hachidaishu"):
        default_path("hachidaishu")
    (home / "data").mkdir(parents=True)
    shutil.copy(fixtures / "hachidai.db", home / "data" / "hachidai.db")
    assert default_path("hachidaishu") == home / "data" / "hachidai.db"


def test_kokinshu_missing_names_its_remedy(tmp_path, monkeypatch):
    import tsukeku.corpus.readers as readers

    monkeypatch.setattr(readers, "shared_data_dirs", lambda: [tmp_path])
    with pytest.raises(DataError, match="set TSUKEKU_SHARED_DATA .* or pass kokinshu:PATH"):
        read_source("kokinshu")


def test_a_folder_reads_every_source_file(fixtures, tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in ("own.jsonl", "tanka.csv", "chains.txt"):
        shutil.copy(fixtures / name, folder / name)
    (folder / "notes.md").write_text("not a source")
    log = IssueLog()
    data = read_sources([str(folder)], log)
    assert [d.name for d in data] == ["chains", "own", "tanka"]
    assert sum(len(d.all_links()) for d in data) == (4 + 1) + (2 + 3) + 3


def test_bundled_by_name():
    (data,) = read_source("bundled")
    assert data.name == "bundled" and data.bad_records == 0
