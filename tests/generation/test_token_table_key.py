"""The token-table cache key hashes what readings depend on, and nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import tsukeku.prosody
from tsukeku.generation.token_table import prosody_fingerprint, reading_fingerprint, reading_sources

PACKAGE = Path(tsukeku.prosody.__file__).parent


@pytest.fixture
def copy(tmp_path) -> Path:
    """The prosody package copied, to edit without touching the real one."""
    root = tmp_path / "prosody"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def test_the_installed_package_is_keyed_by_its_reading_sources():
    names = {p.relative_to(PACKAGE).as_posix() for p in reading_sources(PACKAGE)}
    assert {"reading.py", "lattice.py", "edges.py", "ruby.py", "path.py", "costs.py",
            "analysis.py", "kana.py", "lexicon.py", "data/lexicon.tsv"} <= names
    assert not {"form.py", "__init__.py"} & names  # checking forms changes no reading
    assert prosody_fingerprint() == reading_fingerprint(PACKAGE)


def test_unrelated_files_do_not_change_the_key(copy):
    before = reading_fingerprint(copy)
    (copy / "benchmark_helper.py").write_text("X = 1\n", encoding="utf-8")
    _append(copy / "form.py", "\n# a comment\n")
    _append(copy / "__init__.py", "\n# a comment\n")
    assert reading_fingerprint(copy) == before


@pytest.mark.parametrize("source", ["reading.py", "edges.py", "kana.py", "data/lexicon.tsv"])
def test_a_change_to_a_reading_source_changes_the_key(copy, source):
    before = reading_fingerprint(copy)
    _append(copy / source, "\n# changed\n")
    assert reading_fingerprint(copy) != before


def test_a_module_the_reading_starts_to_import_joins_the_key(copy):
    before = reading_fingerprint(copy)
    (copy / "extra_rule.py").write_text("RULE = 1\n", encoding="utf-8")
    assert reading_fingerprint(copy) == before
    _append(copy / "lattice.py", "\nfrom tsukeku.prosody.extra_rule import RULE  # noqa\n")
    with_import = reading_fingerprint(copy)
    assert with_import != before
    _append(copy / "extra_rule.py", "RULE = 2\n")
    assert reading_fingerprint(copy) != with_import
