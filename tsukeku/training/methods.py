"""PEFT method configs (LoRA, OFT, BOFT) and the choice of target modules."""

from __future__ import annotations

from typing import Any

from tsukeku.errors import ConfigError
from tsukeku.models.catalog import lookup, targets_for_architecture
from tsukeku.training.config import TrainConfig


def linear_module_names(model: Any) -> list[str]:
    """Leaf names of the Linear (and GPT-2 Conv1D) layers a PEFT adapter can wrap, minus the LM
    head; a 4-bit base's bitsandbytes Linear4bit layers count too."""
    import torch

    kinds: tuple[type, ...] = (torch.nn.Linear,)
    try:
        from transformers.pytorch_utils import Conv1D

        kinds += (Conv1D,)
    except ImportError:  # pragma: no cover
        pass
    try:
        import bitsandbytes as bnb

        kinds += (bnb.nn.Linear4bit,)
    except ImportError:
        pass
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    names = set()
    for full, module in model.named_modules():
        if isinstance(module, kinds) and module is not output:
            names.add(full.rsplit(".", 1)[-1])
    return sorted(names)


def resolve_target_modules(model: Any, cfg: TrainConfig) -> list[str]:
    """"auto": the catalog entry of the base, else the defaults of its architecture, else every
    Linear layer; "all-linear": every Linear layer; a list: checked against the model."""
    valid = linear_module_names(model)
    if cfg.target_modules == "all-linear":
        return valid
    if cfg.target_modules == "auto":
        entry = lookup(cfg.base)
        if entry is not None and entry.architecture == model.config.model_type:
            wanted = list(entry.lora_targets if cfg.method == "lora" else entry.oft_targets)
        else:
            arch = targets_for_architecture(model.config.model_type, cfg.method)
            wanted = list(arch) if arch else valid
        chosen = [t for t in wanted if t in valid]
        if not chosen:
            raise ConfigError(
                f"could not pick target modules for {model.config.model_type}; pass "
                f"--target-modules with some of: {', '.join(valid)}"
            )
        return chosen
    unknown = [t for t in cfg.target_modules if t not in valid]
    if unknown:
        raise ConfigError(
            f"target module(s) {', '.join(unknown)} not found in {cfg.base} "
            f"({model.config.model_type}); valid Linear layer names: {', '.join(valid)}"
        )
    return list(cfg.target_modules)


def peft_config(cfg: TrainConfig, targets: list[str]):
    from peft import BOFTConfig, LoraConfig, OFTConfig, TaskType

    if cfg.method == "lora":
        o = cfg.lora
        return LoraConfig(task_type=TaskType.CAUSAL_LM, r=o.rank, lora_alpha=o.alpha,
                          lora_dropout=o.dropout, target_modules=targets, bias="none",
                          use_dora=o.use_dora)
    if cfg.method == "oft":
        return OFTConfig(task_type=TaskType.CAUSAL_LM, r=0, oft_block_size=cfg.oft.block_size,
                         module_dropout=cfg.oft.dropout, target_modules=targets,
                         use_cayley_neumann=True)
    if cfg.method == "boft":
        o = cfg.boft
        return BOFTConfig(task_type=TaskType.CAUSAL_LM, boft_block_size=o.block_size,
                          boft_block_num=0, boft_n_butterfly_factor=o.butterfly_factor,
                          boft_dropout=o.dropout, target_modules=targets, bias="none")
    raise ConfigError(f"unknown method {cfg.method!r}; use lora, oft or boft")  # pragma: no cover


def wrap_model(model: Any, cfg: TrainConfig):
    """The base with a fresh adapter of `cfg.method`; only the adapter is trainable."""
    import warnings

    from peft import get_peft_model

    targets = resolve_target_modules(model, cfg)
    pc = peft_config(cfg, targets)
    if cfg.load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=cfg.gradient_checkpointing
        )
    try:
        with warnings.catch_warnings():
            # BOFT tries to build a CUDA kernel and falls back to PyTorch with a warning
            warnings.filterwarnings("ignore", message=".*CUDA extension.*")
            warnings.filterwarnings("ignore", message=".*boft_n_butterfly_factor.*")
            return get_peft_model(model, pc), targets
    except ValueError as err:
        hint = ""
        if cfg.method == "oft":
            hint = " (--oft-block-size must divide the in_features of every target layer)"
        elif cfg.method == "boft":
            hint = " (--boft-block-size must divide the in_features of every target layer)"
        raise ConfigError(f"cannot build the {cfg.method} adapter: {err}{hint}") from None
