"""Which models `tsukeku serve` answers with.

1. `--models FILE` (or TSUKEKU_MODELS): a models file (`tsukeku.backends.load_models_file`);
   `--models DIR`: the directory's `models.yaml` (the manifest a training run leaves in its run
   dir, its SageMaker model dir and `tsukeku merge --out`), else the directory as in 2.
2. Else the SageMaker model directory, /opt/ml/model (TSUKEKU_MODEL_DIR overrides the path),
   when it holds anything: its `models.yaml` when there is one (paths in it relative to the
   directory), else — a directory from before manifests — the directory itself as one local
   model named `model` (TSUKEKU_MODEL_NAME), when what it holds says what to serve:
   a full Hugging Face model (config.json), else merged weights in `merged/`, else its
   adapter (adapter/ or the directory itself) on TSUKEKU_BASE, else on the base its run.json
   names, else on the base its adapter config names. A base named that way is used as it is
   (a hub id is loaded from the hub or its cache); a local base directory that is gone is a
   ModelError. Never another base.
3. Else the tiny offline base as the model `base`.

Resolution is cheap and happens at once (a wrong path fails before the server starts); the
returned loader does the slow part (reading weights) and runs in the server's background. Both
engines read the models through `tsukeku.backends` (`--engine vllm`: `tsukeku.backends.vllm`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tsukeku.errors import ConfigError
from tsukeku.io import write_text_atomic

MODELS_FILE_NAMES = ("models.yaml", "models.yml")


def model_dir() -> Path:
    from tsukeku.settings import env

    return env().model_dir


@dataclass(frozen=True)
class ModelSource:
    kind: str  # "file" | "dir" | "default"
    path: Path | None = None

    def describe(self) -> str:
        return {"file": f"models file {self.path}", "dir": f"model directory {self.path}",
                "default": "the tiny offline base (model 'base')"}[self.kind]


def resolve_source(models: str | os.PathLike | None) -> ModelSource:
    if models:
        path = Path(models).expanduser()
        if path.is_dir():
            return _folder_source(path)
        if not path.is_file():
            raise ConfigError(f"models file {path} not found; give a models.yaml (see "
                              "docs/serving.md), a directory holding one (a run or model "
                              "directory), or leave --models out to serve the tiny base")
        return ModelSource("file", path)
    folder = model_dir()
    if folder.is_dir() and any(folder.iterdir()):
        return _folder_source(folder)
    return ModelSource("default")


def _folder_source(folder: Path) -> ModelSource:
    for name in MODELS_FILE_NAMES:
        if (folder / name).is_file():
            return ModelSource("file", folder / name)
    return ModelSource("dir", folder)


def single_model_spec(folder: Path) -> dict[str, Any]:
    """The models-file entry for a directory without a manifest (made before training wrote
    one), when its content says what to serve; ModelError when it does not."""
    if (folder / "config.json").is_file():
        return {"kind": "local", "base": str(folder)}
    from tsukeku.models.loader import recorded_base

    base = recorded_base(folder)
    if (folder / "merged" / "config.json").is_file():  # the entry point's merged weights
        return {"kind": "local", "base": base or "(not recorded)", "merged": "merged"}
    from tsukeku.errors import ModelError
    from tsukeku.models import adapter_config, resolve_adapter_dir
    from tsukeku.settings import env

    adapter = resolve_adapter_dir(folder)  # ModelError when it is neither
    base = env().base or base or adapter_config(adapter).base_model_name_or_path
    if not base:
        raise ModelError(f"{folder}: its adapter names no base and there is no run.json nor "
                         "models.yaml saying which; set TSUKEKU_BASE to the base it was trained "
                         "on, or add a models.yaml (docs/serving.md)")
    return {"kind": "local", "base": base, "adapter": str(folder)}


def registry_loader(models: str | os.PathLike | None, *, engine: str = "hf"
                    ) -> Callable[[], Any]:
    """Resolves the models now (and checks that each local model's weights are there, without
    reading them); returns the loader that builds the registry (slow)."""
    source = resolve_source(models)
    if engine == "vllm":
        from tsukeku.backends.vllm import require_vllm

        require_vllm()
    elif engine != "hf":
        raise ConfigError(f"unknown engine {engine!r}; use hf or vllm")
    _registry(source, engine=engine).check()
    return lambda: load_registry(source, engine=engine)


def models_data(source: ModelSource) -> tuple[dict[str, Any], Path | None]:
    """The models-file content of a source, and the folder its relative paths start from."""
    if source.kind == "file":
        import yaml

        assert source.path is not None
        try:
            data = yaml.safe_load(source.path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(f"cannot read models file {source.path}: {err}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{source.path}: expected a mapping with a `models:` section")
        return data, source.path.parent
    if source.kind == "dir":
        assert source.path is not None
        from tsukeku.settings import env

        name = env().model_name
        return {"models": {name: single_model_spec(source.path)}}, source.path
    return {"models": {"base": {"kind": "local", "base": "tiny"}}}, None


def load_registry(source: ModelSource, *, engine: str = "hf", llm_factory: Any = None) -> Any:
    """The registry of a source. With the vllm engine the local models are built at once (a
    vLLM engine takes minutes and the GPU; the server builds every model before /ping anyway);
    `llm_factory(base, enable_lora, dtype)` replaces `vllm.LLM` (tests)."""
    registry = _registry(source, engine=engine, llm_factory=llm_factory)
    registry.check()
    if engine == "vllm":
        for name in registry.names():
            if registry.spec(name).kind == "local":
                registry.get(name)
    return registry


def _registry(source: ModelSource, *, engine: str, llm_factory: Any = None) -> Any:
    """The registry of a source, nothing built yet."""
    from tsukeku.backends import load_models_file, registry_from_dict

    if source.kind == "file":
        assert source.path is not None
        return load_models_file(source.path, engine=engine, llm_factory=llm_factory)
    data, base_dir = models_data(source)
    return registry_from_dict(data, base_dir=base_dir, source=source.describe(), engine=engine,
                              llm_factory=llm_factory)


def write_models_file(path: str | os.PathLike, name: str, *, base: str | os.PathLike = "tiny",
                      adapter: str | os.PathLike | None = None) -> Path:
    """A one-model models file (benchmarks, examples)."""
    import yaml

    spec: dict[str, Any] = {"kind": "local", "base": str(base)}
    if adapter is not None:
        spec["adapter"] = str(adapter)
    return write_text_atomic(path, yaml.safe_dump({"models": {name: spec}}, allow_unicode=True))
