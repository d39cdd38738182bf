"""The models file: validation errors a user can act on, lazy loading, paths, the example."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsukeku.backends import ModelRegistry, load_models_file, registry_from_dict
from tsukeku.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "configs" / "models.example.yaml"


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_file_is_valid_and_nothing_loads_until_asked():
    reg = load_models_file(EXAMPLE)
    assert reg.names() == ["tuned", "base", "larger", "api"]
    assert reg.default == "tuned"
    kinds = {d["name"]: d["kind"] for d in reg.describe()}
    assert kinds == {"tuned": "local", "base": "local", "larger": "openai", "api": "bedrock"}
    assert not any(d["loaded"] for d in reg.describe())
    assert [d["supports_constraints"] for d in reg.describe()] == [True, True, False, False]


@pytest.mark.parametrize(("text", "words"), [
    ("models: {}\n", "name at least one model"),
    ("models:\n  a: {kind: local, bse: tiny}\n", "models.a.local.bse: Extra inputs"),
    ("models:\n  a: {kind: nope}\n", "models.a"),
    ("models:\n  a: {base: tiny}\n", "kind"),
    ("models:\n  a: {kind: openai, base_url: http://x}\n", "models.a.openai.model: Field required"),
    ("models:\n  a: {kind: bedrock}\n", "model_id"),
    ("models:\n  a: {kind: sagemaker, region: x}\n", "endpoint_name"),
    ("models:\n  a: {kind: openai, model: m, mode: stream}\n", "mode"),
    ("models:\n  'bad name': {kind: local}\n", "letters, digits"),
    ("models:\n  a: {kind: local, adapters: {'x.y': p}}\n", "adapter name"),
    ("models:\n  a: {kind: local}\ndefault: b\n", "default model 'b'"),
    ("[1, 2]\n", "expected a mapping"),
    ("models: [\n", "not valid YAML"),
    ("models:\n  a: {kind: local, oversample: 0.5}\n", "oversample"),
])
def test_invalid_files_say_what_is_wrong(tmp_path, text, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(".", r"\.")):
        load_models_file(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_models_file(tmp_path / "nope.yaml")


def test_unknown_model_name_lists_the_known_ones():
    reg = registry_from_dict({"models": {"a": {"kind": "bedrock", "model_id": "m"}}})
    with pytest.raises(ConfigError, match="no model named 'b'.*a"):
        reg.get("b")


def test_relative_paths_are_read_from_the_file_folder(tmp_path, monkeypatch):
    from tsukeku.errors import ModelError

    merged = tmp_path / "runs" / "r1" / "merged"
    merged.mkdir(parents=True)
    (merged / "config.json").write_text("{}")
    reg = load_models_file(write(tmp_path, "models:\n"
                                 "  t: {kind: local, merged: runs/r1/merged}\n"
                                 "  h: {kind: local, base: rinna/japanese-gpt-neox-3.6b}\n"))
    monkeypatch.chdir("/")
    assert reg.details("t")["merged"] == str(merged.resolve())
    # A hub id stays a hub id: offline and not cached, the check names it as written.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelError, match=r"`hf download rinna/japanese-gpt-neox-3\.6b`"):
        reg.check()


def test_a_missing_adapter_is_a_clear_error_when_loaded(tmp_path, tiny_base):
    from tsukeku.errors import ModelError

    reg = registry_from_dict({"models": {"t": {"kind": "local", "base": str(tiny_base),
                                               "adapter": str(tmp_path / "absent")}}})
    with pytest.raises((ModelError, ConfigError), match="adapter"):
        reg.get("t")


def test_remote_backends_build_without_network(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    reg = registry_from_dict({"models": {
        "o": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
        "b": {"kind": "bedrock", "model_id": "m", "region": "us-east-1"},
        "s": {"kind": "sagemaker", "endpoint_name": "e", "region": "us-east-1"},
    }})
    for name in reg.names():
        assert reg.get(name).supports_constraints is False
        assert reg.get(name).name == name


def test_ready_backends_can_be_added():
    class Fake:
        name = "fake"
        supports_constraints = False

    reg = ModelRegistry()
    reg.add("fake", Fake())
    assert reg.names() == ["fake"] and reg.get("fake").name == "fake" and "fake" in reg


def test_an_adapter_may_be_named_by_its_run(tmp_path):
    from tsukeku.backends.local import resolve_adapter

    run = tmp_path / "runs" / "tiny-lora-20260101T000000Z"
    (run / "adapter").mkdir(parents=True)
    (run / "run.json").write_text("{}", encoding="utf-8")
    assert resolve_adapter("tiny-lora", tmp_path) == str(run.resolve())
    assert resolve_adapter(str(run / "adapter")) == str((run / "adapter").resolve())
    assert resolve_adapter("absent-run", tmp_path) == "absent-run"
