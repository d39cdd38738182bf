"""One interface to every model (`tsukeku.generation.types.Backend`): local Hugging Face models
(base, adapters, merged), OpenAI-compatible servers, SageMaker endpoints, Amazon Bedrock — and
the models file that names them (`load_models_file`). Heavy clients load on first use."""

from tsukeku.backends.base import BackendError
from tsukeku.backends.registry import (
    ModelRegistry,
    ModelsFile,
    load_models_file,
    registry_from_dict,
)

__all__ = [
    "BackendError",
    "BedrockBackend",
    "LocalHFBackend",
    "ModelRegistry",
    "ModelsFile",
    "OpenAIBackend",
    "SageMakerBackend",
    "load_models_file",
    "registry_from_dict",
]

_LAZY = {
    "LocalHFBackend": "tsukeku.backends.local",
    "OpenAIBackend": "tsukeku.backends.openai_backend",
    "SageMakerBackend": "tsukeku.backends.sagemaker",
    "BedrockBackend": "tsukeku.backends.bedrock",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
