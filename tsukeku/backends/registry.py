"""The models file: names → backends, validated with pydantic, loaded lazily.

```yaml
default: tuned            # optional; else the first model
models:
  tuned:    {kind: local, base: tiny, adapter: runs/lora-tiny, template: completion}
  base:     {kind: local, base: tiny}
  larger:   {kind: openai, base_url: http://127.0.0.1:8000/v1, model: rinna/..., mode: chat}
  api:      {kind: bedrock, model_id: anthropic.claude-3-haiku-20240307-v1:0, region: us-east-1}
  endpoint: {kind: sagemaker, endpoint_name: tsukeku-tuned, region: us-east-1}
```

Relative paths (adapters, local bases, merged weights, templates, datasets) are taken relative
to the models file's folder when they exist there, else to the working directory. An adapter may also be
given as a run name (or a unique prefix of one) under `runs/`, as `tsukeku runs list` shows.
Local models on the same base (same dtype and device) share one copy of the weights: their
adapters are loaded unmerged onto it, and each request picks its adapter.

A training run's manifest (`training.manifest`, models.yaml in a run or model directory) is such
a file: `base` as the run was given it (a hub id or a path), `adapter`, `template` and, when the
run merged its adapter, `merged`. A local model with `merged` present is served from those
weights alone (`weights: merged`); else from `base` + adapter (`weights: base+adapter`). A base
that is neither a local directory nor loadable (offline and not in the Hugging Face cache) is a
ModelError naming it, raised by `check()` before any weights are read; nothing falls back to
another base.

`engine` says what runs the local models: "hf" (transformers, `LocalHFBackend`) or "vllm"
(`tsukeku.backends.vllm.VLLMBackend`); both resolve bases, adapters and templates here.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tsukeku.errors import ConfigError, ModelError, explain_validation
from tsukeku.generation.types import Backend

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LocalSpec(_Spec):
    kind: Literal["local"]
    base: str = "tiny"  # "tiny", a hub id, or a local (possibly merged) model directory
    base_resolved: str | None = None  # where training found the base (information only)
    adapter: str | None = None  # adapter dir or run dir
    merged: str | None = None  # base + adapter merged: served instead of them when present
    adapters: dict[str, str] = Field(default_factory=dict)  # several named adapters
    default_adapter: str | None = None
    template: str | None = None  # template name or prompt.json; default: the run's own
    known: str | None = None  # train.jsonl: known 付句 for the verbatim penalty
    dtype: str | None = None
    device: str | None = None
    oversample: float = Field(1.5, ge=1.0, le=8.0)

    @field_validator("adapters")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _NAME.match(key) or key == "__base__":
                raise ValueError(f"adapter name {key!r}: letters, digits, _ and - only")
        return value


class OpenAISpec(_Spec):
    kind: Literal["openai"]
    base_url: str | None = None  # default: OpenAI's own API
    model: str
    mode: Literal["chat", "completions"] = "chat"
    api_key: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    template: str | None = None  # completions mode: the prompt template
    system: str | None = None
    timeout: float = Field(60.0, gt=0)
    oversample: float = Field(2.0, ge=1.0, le=8.0)
    max_tokens: int = Field(64, ge=8, le=4096)
    logprobs: bool = True


class BedrockSpec(_Spec):
    kind: Literal["bedrock"]
    model_id: str
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    system: str | None = None
    timeout: float = Field(60.0, gt=0)
    oversample: float = Field(2.0, ge=1.0, le=8.0)
    max_tokens: int = Field(400, ge=16, le=4096)


class SageMakerSpec(_Spec):
    kind: Literal["sagemaker"]
    endpoint_name: str
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    target_model: str | None = None  # `parameters.model` on a multi-model tsukeku endpoint
    timeout: float = Field(60.0, gt=0)


ModelSpec = Annotated[LocalSpec | OpenAISpec | BedrockSpec | SageMakerSpec,
                      Field(discriminator="kind")]


class ModelsFile(_Spec):
    models: dict[str, ModelSpec]
    default: str | None = None

    @field_validator("models")
    @classmethod
    def _check(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise ValueError("name at least one model")
        for key in value:
            if not _NAME.match(key):
                raise ValueError(f"model name {key!r}: letters, digits, _ and - only")
        return value


def _explain(err: ValidationError, source: str) -> ConfigError:
    return ConfigError(f"{source} is not a valid models file: "
                       + explain_validation(err, limit=8, default_where="(top)"))


class ModelRegistry:
    """Names → backends, built on first use (`get`), thread-safe."""

    def __init__(self, specs: dict[str, Any] | None = None, *, default: str | None = None,
                 base_dir: str | os.PathLike | None = None, source: str = "models",
                 engine: str = "hf", llm_factory: Any = None):
        if engine not in ENGINES:
            raise ConfigError(f"unknown engine {engine!r}; use {' or '.join(ENGINES)}")
        self._specs: dict[str, Any] = dict(specs or {})
        self.engine = engine
        self._llm_factory = llm_factory  # vllm: builds one vllm.LLM (tests pass a stand-in)
        self._vllm: Any = None
        self._backends: dict[str, Backend] = {}
        self._hosts: dict[tuple[str, str | None, str | None], list[Any]] = {}
        self._lock = threading.RLock()
        self.base_dir = Path(base_dir) if base_dir else None
        self.source = source
        if default is not None and default not in self._specs:
            raise ConfigError(f"{source}: default model {default!r} is not among the models "
                              f"({', '.join(self._specs)})")
        self._default = default

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base_dir: str | os.PathLike | None = None,
                  source: str = "models", engine: str = "hf", llm_factory: Any = None
                  ) -> ModelRegistry:
        try:
            parsed = ModelsFile.model_validate(data)
        except ValidationError as err:
            raise _explain(err, source) from None
        return cls(parsed.models, default=parsed.default, base_dir=base_dir, source=source,
                   engine=engine, llm_factory=llm_factory)

    # -- the registry protocol used by serving ------------------------------------------------
    def names(self) -> list[str]:
        return list(self._specs) + [n for n in self._backends if n not in self._specs]

    def get(self, name: str) -> Backend:
        with self._lock:
            backend = self._backends.get(name)
            if backend is None:
                spec = self._specs.get(name)
                if spec is None:
                    raise ConfigError(f"no model named {name!r}; the models are: "
                                      f"{', '.join(self.names()) or 'none'}")
                backend = self._build(name, spec)
                self._backends[name] = backend
            return backend

    def add(self, name: str, backend: Backend) -> None:
        """Registers a ready backend (tests, programs that build their own)."""
        with self._lock:
            self._backends[name] = backend

    @property
    def default(self) -> str:
        if self._default:
            return self._default
        names = self.names()
        if not names:
            raise ConfigError(f"{self.source}: no models")
        return names[0]

    def __contains__(self, name: object) -> bool:
        return name in self._specs or name in self._backends

    def __len__(self) -> int:
        return len(self.names())

    def spec(self, name: str) -> Any:
        return self._specs.get(name)

    def describe(self) -> list[dict[str, Any]]:
        """Name, kind, whether constrained decoding is available and (local models) what is
        served (`details`), without loading."""
        out = []
        for name in self.names():
            spec = self._specs.get(name)
            kind = spec.kind if spec is not None else type(self._backends[name]).__name__
            out.append({"name": name, "kind": kind, "loaded": name in self._backends,
                        "supports_constraints": self._constrained(name, kind),
                        **self.details(name)})
        return out

    def _constrained(self, name: str, kind: str) -> bool:
        backend = self._backends.get(name)
        if backend is not None:
            return bool(getattr(backend, "supports_constraints", False))
        return kind == "local" and self.engine == "hf"  # vLLM: known once its engine is built

    def details(self, name: str) -> dict[str, Any]:
        """What a local model serves: `base` and `adapter` (as the models file names them;
        with merged weights, the adapter merged into them), `weights` ("merged",
        "base+adapter" or "base"); {} for other kinds."""
        spec = self._specs.get(name)
        if spec is None or spec.kind != "local":
            return {}
        merged = self._merged(spec)
        adapter = (spec.adapter if spec.adapter is not None
                   else ",".join(spec.adapters.values()) or None)
        weights = "merged" if merged else ("base+adapter" if adapter else "base")
        info = {"base": spec.base, "adapter": adapter, "weights": weights}
        if merged:
            info["merged"] = merged
        return info

    def check(self) -> None:
        """Cheap checks of every local model's weights before any is read: the merged weights or
        the base must be there (a local directory, or offline: in the Hugging Face cache).
        ModelError naming the model and its base otherwise."""
        for name, spec in self._specs.items():
            if spec.kind == "local" and not self._merged(spec):
                self._check_base(name, spec)

    def _check_base(self, name: str, spec: LocalSpec) -> None:
        from tsukeku.models.loader import hub_offline

        where = f"model {name!r} of {self.source}"
        try:
            base = self._base(spec)
        except ModelError as err:
            raise ModelError(f"{where}: {err}. Its adapter was trained on that base and is never "
                             "put on another: make the base available at that path, or name "
                             "where it is now as `base:` in the models file") from None
        if Path(base).exists() or not hub_offline():
            return
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(base, "config.json"), str):
            raise ModelError(
                f"{where}: its base {spec.base!r} is not a local directory and cannot be loaded "
                "(offline, and not in the Hugging Face cache). Download it where the server "
                f"runs (`hf download {base}`), name a local copy as `base:` in the models "
                "file, or serve merged weights (train with merge on)")

    # -- building -----------------------------------------------------------------------------
    def _path(self, value: str | None) -> str | None:
        """A path relative to the models file when it exists there; hub ids stay as they are."""
        if value is None:
            return None
        p = Path(value).expanduser()
        if not p.is_absolute() and self.base_dir is not None and (self.base_dir / p).exists():
            return str((self.base_dir / p).resolve())
        return str(p.resolve()) if p.exists() else value

    def _build(self, name: str, spec: Any) -> Backend:
        from tsukeku.generation.rerank import Reranker

        if spec.kind == "local":
            return self._build_local(name, spec)
        if spec.kind == "openai":
            from tsukeku.backends.openai_backend import OpenAIBackend

            return OpenAIBackend(
                name, base_url=spec.base_url, model=spec.model, mode=spec.mode,
                api_key=spec.api_key, api_key_env=spec.api_key_env,
                template=self._path(spec.template), system=spec.system, timeout=spec.timeout,
                oversample=spec.oversample, max_tokens=spec.max_tokens, logprobs=spec.logprobs,
                reranker=Reranker(),
            )
        if spec.kind == "bedrock":
            from tsukeku.backends.bedrock import BedrockBackend

            return BedrockBackend(
                name, model_id=spec.model_id, region=spec.region, endpoint_url=spec.endpoint_url,
                profile=spec.profile, system=spec.system, timeout=spec.timeout,
                oversample=spec.oversample, max_tokens=spec.max_tokens,
            )
        if spec.kind == "sagemaker":
            from tsukeku.backends.sagemaker import SageMakerBackend

            return SageMakerBackend(
                name, endpoint_name=spec.endpoint_name, region=spec.region,
                endpoint_url=spec.endpoint_url, profile=spec.profile,
                target_model=spec.target_model, timeout=spec.timeout,
            )
        raise ConfigError(f"model {name!r}: unknown kind {spec.kind!r}")  # pragma: no cover

    def _merged(self, spec: LocalSpec) -> str | None:
        """The merged weights' directory when the spec names one that holds a model."""
        if spec.merged is None:
            return None
        path = self._path(spec.merged)
        return path if path is not None and (Path(path) / "config.json").is_file() else None

    def _base(self, spec: LocalSpec) -> str:
        """The weights to load: the merged model when present, else the base."""
        from tsukeku.models import resolve_base

        merged = self._merged(spec)
        if merged is not None:
            return resolve_base(merged)
        return resolve_base(self._path(spec.base) if spec.base not in ("tiny", "tiny:test")
                            else spec.base)

    def _adapters(self, spec: LocalSpec) -> dict[str, str]:
        """Request name → adapter dir or run dir (`adapter:` is the one named "default"); none
        when merged weights are served (the adapter is in them)."""
        from tsukeku.backends.local import resolve_adapter

        if self._merged(spec) is not None:
            return {}
        refs = ({"default": spec.adapter} if spec.adapter is not None else {}) | spec.adapters
        return {key: resolve_adapter(path, self.base_dir) for key, path in refs.items()}

    def _build_local(self, name: str, spec: LocalSpec) -> Backend:
        if self.engine == "vllm":
            return self._build_vllm(name, spec)
        from tsukeku.backends.local import LocalHFBackend
        from tsukeku.generation.loaded_model import LoadedModel
        from tsukeku.generation.rerank import Reranker

        base = self._base(spec)
        named = self._adapters(spec)
        kinds = {adapter_type(path) for path in named.values()}
        if len(kinds) > 1:
            raise ConfigError(f"model {name!r}: PEFT cannot hold adapters of different methods "
                              f"({', '.join(sorted(kinds))}) on one base; make one model each")
        kind = kinds.pop() if kinds else None
        # one copy of the weights per base — and per adapter method, as PEFT keeps one method
        # per model; a model without adapters uses any copy (adapters disabled)
        hosts = self._hosts.setdefault((base, spec.dtype, spec.device), [])
        host = next((h for h in hosts if kind is None or h.method in (None, kind)), None)
        if host is None:
            try:
                host = LoadedModel.load(base, dtype=spec.dtype, device=spec.device)
            except ModelError as err:
                raise ModelError(f"model {name!r} of {self.source}: {err}") from None
            hosts.append(host)
        if kind is not None:
            host.method = kind
        default = spec.default_adapter or ("default" if "default" in named else None)
        if default is not None and default not in named:
            raise ConfigError(f"model {name!r}: default_adapter {default!r} is not one of its "
                              f"adapters ({', '.join(named) or 'none'})")
        loaded_names: dict[str, str] = {}
        dirs: list[Any] = []
        for key_name, path in named.items():
            # adapters of different models on one base get distinct names in the shared model
            loaded_names[key_name] = f"{name}__{key_name}"
            dirs.append(host.add_adapter(loaded_names[key_name], path))
        if default is not None:
            dirs.insert(0, dirs.pop(list(named).index(default)))
        reranker = Reranker.from_dataset(self._path(spec.known)) if spec.known else Reranker()
        return LocalHFBackend(
            name, host, adapters=loaded_names, default=default,
            template=self._path(spec.template) if spec.template else None,
            template_dirs=(*dirs, base if Path(base).exists() else None),
            reranker=reranker, oversample=spec.oversample,
        )


    def _build_vllm(self, name: str, spec: LocalSpec) -> Backend:
        from tsukeku.backends.vllm import VLLMEngines, build_vllm_backend

        if self._vllm is None:
            self._vllm = VLLMEngines(self._llm_factory)
        base = self._base(spec)
        # vLLM fixes LoRA support when it builds the engine: on when any model on this base
        # has an adapter
        enable_lora = any((s.adapter or s.adapters) and self._merged(s) is None
                          for s in self._specs.values()
                          if s.kind == "local" and self._base(s) == base)
        return build_vllm_backend(
            name, spec, base=base, adapters=self._adapters(spec), enable_lora=enable_lora,
            template=self._path(spec.template) if spec.template else None, engines=self._vllm)


ENGINES = ("hf", "vllm")


def adapter_type(path: str) -> str:
    """The PEFT method of an adapter (LORA, OFT, BOFT …) from its PEFT config."""
    from tsukeku.errors import ModelError
    from tsukeku.models import adapter_config

    try:
        return str(adapter_config(path).peft_type.value).upper()
    except ModelError as err:
        raise ConfigError(str(err)) from None


def load_models_file(path: str | os.PathLike, *, engine: str = "hf", llm_factory: Any = None
                     ) -> ModelRegistry:
    """Reads and validates a models file (YAML); backends are built on first `get`."""
    import yaml

    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"models file {p} not found") from None
    except OSError as err:
        raise ConfigError(f"cannot read models file {p}: {err}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{p} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping with a `models:` section")
    return ModelRegistry.from_dict(data, base_dir=p.parent, source=str(p), engine=engine,
                                   llm_factory=llm_factory)


def registry_from_dict(data: dict[str, Any], base_dir: str | os.PathLike | None = None, *,
                       source: str = "models", engine: str = "hf", llm_factory: Any = None
                       ) -> ModelRegistry:
    return ModelRegistry.from_dict(data, base_dir=base_dir, source=source, engine=engine,
                                   llm_factory=llm_factory)
