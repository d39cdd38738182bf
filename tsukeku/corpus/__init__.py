"""Renga corpus: records (Verse, Link, Chain), readers for several formats, the bundled
original corpus and the training-dataset builder."""

from tsukeku.corpus.model import Chain, Link, Verse

__all__ = ["Chain", "Link", "Verse"]
