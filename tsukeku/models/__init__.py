"""Base models: loading by hub id or local dir, the offline tiny base, the catalog."""

from tsukeku.models.catalog import CATALOG, BaseModelInfo, lookup
from tsukeku.models.loader import (
    adapter_config,
    load_model,
    load_tokenizer,
    resolve_adapter_dir,
    resolve_base,
)

__all__ = [
    "CATALOG",
    "BaseModelInfo",
    "adapter_config",
    "load_model",
    "load_tokenizer",
    "lookup",
    "resolve_adapter_dir",
    "resolve_base",
]
