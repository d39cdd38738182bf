"""Composing 付句: the shared records (no torch import here), the Composer with mora-constrained
decoding (`composer`, `constraints`, `token_table`) and reranking (`rerank`). See
docs/generation.md."""

from tsukeku.generation.types import Backend, Candidate, ComposeRequest, CompositionResult

__all__ = ["Backend", "Candidate", "ComposeRequest", "CompositionResult", "Composer", "Reranker"]


def __getattr__(name: str):
    if name == "Composer":  # imports torch and transformers: only when asked for
        from tsukeku.generation.composer import Composer

        return Composer
    if name == "Reranker":
        from tsukeku.generation.rerank import Reranker

        return Reranker
    raise AttributeError(name)
