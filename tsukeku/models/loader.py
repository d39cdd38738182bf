"""Loading a causal LM + tokenizer by hub id or local directory, optionally with a PEFT adapter."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tsukeku.errors import ConfigError, ModelError

DTYPES = {"fp32": "float32", "float32": "float32", "bf16": "bfloat16", "bfloat16": "bfloat16",
          "fp16": "float16", "float16": "float16"}


def is_tiny(name_or_path: str | os.PathLike | None) -> bool:
    """The default offline base by name ("tiny", "tiny:test") or a directory built by build_tiny."""
    if name_or_path is None or str(name_or_path) in ("tiny", "tiny:default", "tiny:test"):
        return True
    return (Path(str(name_or_path)).expanduser() / "tiny_base.json").exists()


def resolve_base(name_or_path: str | os.PathLike | None) -> str:
    """A local directory or a hub id; `None`/"tiny" become the default offline base (built on
    first use). "tiny:test" is the small test preset."""
    if name_or_path is None or str(name_or_path) in ("tiny", "tiny:default"):
        from tsukeku.models.tiny import default_base_path

        return str(default_base_path())
    if str(name_or_path) == "tiny:test":
        from tsukeku.models.tiny import default_base_path

        return str(default_base_path(preset="test"))
    path = Path(str(name_or_path)).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise ModelError(
                f"{path} is not a Hugging Face model directory (no config.json); give a directory "
                "saved with save_pretrained, a hub id, or 'tiny'"
            )
        return str(path.resolve())
    if _names_a_path(str(name_or_path)):
        raise ModelError(f"base model directory {name_or_path} does not exist")
    return str(name_or_path)


def _names_a_path(name: str) -> bool:
    """A directory, not a hub id (`org/name`)."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1


def recorded_base(folder: str | os.PathLike) -> str | None:
    """The base a run's run.json in `folder` names, as the run was given it."""
    try:
        info = json.loads((Path(folder) / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return (info.get("base") or info.get("base_resolved")) if isinstance(info, dict) else None


def trained_base(adapter: str | os.PathLike) -> str:
    """The base to put an adapter on when none is given: the one it was trained on. That is
    the directory its PEFT config names when it is there, else the base its run recorded as
    given (run.json beside the adapter: `tiny` is rebuilt when its cache was cleared, a hub id
    loads from the hub or its cache), else a hub id its config names. An adapter fits only its
    own base, so a base that is not there is a ModelError naming it, never another base."""
    adir = resolve_adapter_dir(adapter)
    named = adapter_config(adir).base_model_name_or_path or None
    if named and Path(named).is_dir():
        return named
    choice = recorded_base(adir) or recorded_base(adir.parent) or named
    if choice is None:
        raise ModelError(f"the adapter {adir} names no base (none in its adapter_config.json, no "
                         "run.json beside it): pass the base it was trained on (--base: a hub id "
                         "or a directory)")
    if is_tiny(choice) or Path(choice).expanduser().is_dir() or not _names_a_path(choice):
        return choice
    raise ModelError(f"the adapter {adir} was trained on the base {choice}, which is not there; "
                     "an adapter fits only its own base: make that base available at that path, "
                     "or pass where it is now (--base DIR, or Composer.load(base, adapter))")


def resolve_adapter_dir(adapter: str | os.PathLike) -> Path:
    """An adapter directory (adapter_config.json) or a run directory holding `adapter/`."""
    path = Path(adapter).expanduser()
    for candidate in (path, path / "adapter"):
        if (candidate / "adapter_config.json").exists():
            return candidate
    raise ModelError(
        f"no PEFT adapter at {path} (expected adapter_config.json there or in {path / 'adapter'})"
    )


def adapter_config(adapter: str | os.PathLike) -> Any:
    """The PEFT config (`peft.PeftConfig` of the adapter's method: `peft_type`,
    `base_model_name_or_path`, …) of an adapter directory or of a run directory's adapter."""
    from peft import PeftConfig

    path = resolve_adapter_dir(adapter)
    try:
        return PeftConfig.from_pretrained(str(path))
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise ModelError(f"{path / 'adapter_config.json'}: not a readable PEFT adapter config ({err})") from None


def torch_dtype(dtype: str | Any | None, device: str) -> Any:
    """fp32 on CPU; bf16 on a GPU that supports it, else fp16 — unless `dtype` says otherwise."""
    import torch

    if dtype is None or dtype == "auto":
        if device.startswith("cuda") and torch.cuda.is_available():
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    name = DTYPES.get(str(dtype).lower())
    if name is None:
        raise ConfigError(f"unknown dtype {dtype!r}; use one of auto, fp32, bf16, fp16")
    return getattr(torch, name)


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def hub_offline() -> bool:
    """HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE, read now (huggingface_hub reads them at import)."""
    from tsukeku.settings import env

    return env().hf_hub_offline


def _local_only(source: str) -> dict[str, Any]:
    """Never touch the network for a local dir, nor for a hub id when offline is asked for
    (otherwise an unreachable hub costs a long connection timeout before the error)."""
    return {"local_files_only": True} if Path(source).exists() or hub_offline() else {}


def _hub_error(name: str, err: Exception) -> ModelError:
    offline = hub_offline()
    text = str(err)
    if offline or "connect" in text.lower() or "offline" in text.lower():
        why = "it is not in the local Hugging Face cache and the hub cannot be reached (offline)"
    else:
        why = f"it could not be loaded ({text.splitlines()[0] if text else type(err).__name__})"
    return ModelError(
        f"base model {name!r} not found: {why}. Download it on a machine with network access "
        f"(`hf download {name}`) and pass the local directory, or use --base tiny"
    )


def load_tokenizer(name_or_path: str | os.PathLike | None):
    """The tokenizer of a base, with a pad token (eos when the base has none), padding right."""
    from transformers import AutoTokenizer

    source = resolve_base(name_or_path)
    try:
        tok = AutoTokenizer.from_pretrained(source, **_local_only(source))
    except (OSError, ValueError) as err:
        raise _hub_error(source, err) from err
    if tok.pad_token is None:
        if tok.eos_token is None:
            raise ModelError(f"the tokenizer of {source} has neither a pad nor an eos token")
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    return tok


def load_model(
    name_or_path: str | os.PathLike | None = None,
    *,
    dtype: str | Any | None = None,
    device: str | None = None,
    adapter: str | os.PathLike | None = None,
    load_in_4bit: bool = False,
    trainable: bool = False,
):
    """Returns (model, tokenizer). `name_or_path`: a hub id, a local dir, or None/"tiny" for the
    offline base. `adapter`: a PEFT adapter dir or a tsukeku run dir, applied on top. The model is
    in eval mode unless `trainable`."""
    from transformers import AutoModelForCausalLM

    device = device or default_device()
    source = resolve_base(name_or_path)
    tokenizer = load_tokenizer(source)
    kwargs: dict[str, Any] = {"dtype": torch_dtype(dtype, device), **_local_only(source)}
    if load_in_4bit:
        kwargs.update(_four_bit_kwargs(device, kwargs["dtype"]))
    try:
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as err:
        raise _hub_error(source, err) from err
    if not load_in_4bit:
        model.to(device)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if adapter is not None:
        import warnings

        from peft import PeftModel

        with warnings.catch_warnings():  # peft calls a transformers API deprecated in v5
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
            model = PeftModel.from_pretrained(model, str(resolve_adapter_dir(adapter)),
                                              is_trainable=trainable)
    if not trainable:
        model.eval()
    return model, tokenizer


def _four_bit_kwargs(device: str, compute_dtype: Any) -> dict[str, Any]:
    """QLoRA: NF4 weights with double quantization, computing in bf16/fp16 (bitsandbytes, CUDA)."""
    import torch

    if not (device.startswith("cuda") and torch.cuda.is_available()):
        raise ConfigError("4-bit loading (QLoRA) needs a CUDA GPU; drop --load-in-4bit on CPU")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as err:
        raise ConfigError(
            "4-bit loading needs bitsandbytes: pip install bitsandbytes (CUDA only)"
        ) from err
    from transformers import BitsAndBytesConfig

    return {
        "quantization_config": BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
        ),
        "device_map": {"": torch.cuda.current_device()},
    }
