"""Fine-tuning jobs: PEFT LoRA / OFT / BOFT with the HF Trainer, recorded runs, resume, merge.

Heavy imports (torch, transformers, peft, mlflow) happen inside the functions."""

from tsukeku.training.config import TrainConfig, build_config

__all__ = ["TrainConfig", "build_config", "merge_run", "train"]


def train(*args, **kwargs):
    from tsukeku.training.job import train as _train

    return _train(*args, **kwargs)


def merge_run(*args, **kwargs):
    from tsukeku.training.merge import merge_run as _merge

    return _merge(*args, **kwargs)
