"""Which models `tsukeku serve` answers with.

1. `--models FILE` (or TSUKEKU_MODELS): a models file (`tsukeku.backends.load_models_file`).
2. Else the SageMaker model directory, /opt/ml/model (TSUKEKU_MODEL_DIR overrides the path),
   when it holds anything: its `models.yaml` when there is one (paths in it relative to the
   directory), else the directory itself as one local model named `model` (TSUKEKU_MODEL_NAME):
   a full Hugging Face model (config.json, e.g. a merged run) or a PEFT adapter / run dir on
   TSUKEKU_BASE, else the adapter's own base, else the tiny base.
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
        if not path.is_file():
            raise ConfigError(f"models file {path} not found; give a models.yaml (see "
                              "docs/serving.md) or leave --models out to serve the tiny base")
        return ModelSource("file", path)
    folder = model_dir()
    if folder.is_dir() and any(folder.iterdir()):
        for name in MODELS_FILE_NAMES:
            if (folder / name).is_file():
                return ModelSource("file", folder / name)
        return ModelSource("dir", folder)
    return ModelSource("default")


def single_model_spec(folder: Path) -> dict[str, Any]:
    """The models-file entry for a directory holding one model."""
    if (folder / "config.json").is_file():
        return {"kind": "local", "base": str(folder)}
    from tsukeku.models import adapter_config, resolve_adapter_dir
    from tsukeku.settings import env

    adapter = resolve_adapter_dir(folder)  # ModelError when it is neither
    base = env().base
    if not base:
        declared = adapter_config(adapter).base_model_name_or_path
        base = declared if declared and Path(declared).exists() else "tiny"
    return {"kind": "local", "base": base, "adapter": str(folder)}


def registry_loader(models: str | os.PathLike | None, *, engine: str = "hf"
                    ) -> Callable[[], Any]:
    """Resolves the models now; returns the loader that builds the registry (slow)."""
    source = resolve_source(models)
    if engine == "vllm":
        from tsukeku.backends.vllm import require_vllm

        require_vllm()
    elif engine != "hf":
        raise ConfigError(f"unknown engine {engine!r}; use hf or vllm")
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
    from tsukeku.backends import load_models_file, registry_from_dict

    if source.kind == "file":
        assert source.path is not None
        registry = load_models_file(source.path, engine=engine, llm_factory=llm_factory)
    else:
        data, base_dir = models_data(source)
        registry = registry_from_dict(data, base_dir=base_dir, source=source.describe(),
                                      engine=engine, llm_factory=llm_factory)
    if engine == "vllm":
        for name in registry.names():
            if registry.spec(name).kind == "local":
                registry.get(name)
    return registry


def write_models_file(path: str | os.PathLike, name: str, *, base: str | os.PathLike = "tiny",
                      adapter: str | os.PathLike | None = None) -> Path:
    """A one-model models file (benchmarks, examples)."""
    import yaml

    spec: dict[str, Any] = {"kind": "local", "base": str(base)}
    if adapter is not None:
        spec["adapter"] = str(adapter)
    return write_text_atomic(path, yaml.safe_dump({"models": {name: spec}}, allow_unicode=True))
