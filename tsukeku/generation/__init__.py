"""Composing 付句: the shared records (no torch import here), the Composer with mora-constrained
decoding (`composer`, `constraints`, `token_table`), composing for a renga seat
(`seat_compose`: `compose_for_seat`) and reranking (`rerank`). See docs/generation.md."""

from tsukeku.generation.types import (
    Backend,
    Candidate,
    ComposeRequest,
    CompositionResult,
    SeatSpec,
)

__all__ = ["Backend", "Candidate", "ComposeRequest", "CompositionResult", "Composer", "Reranker",
           "SeatSpec", "compose_for_seat"]


def __getattr__(name: str):
    if name == "Composer":  # imports torch and transformers: only when asked for
        from tsukeku.generation.composer import Composer

        return Composer
    if name == "compose_for_seat":
        from tsukeku.generation.seat_compose import compose_for_seat

        return compose_for_seat
    if name == "Reranker":
        from tsukeku.generation.rerank import Reranker

        return Reranker
    raise AttributeError(name)
