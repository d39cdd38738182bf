"""Renga knowledge beyond form: the saijiki, verse classification (season, 季語, topics, 切字)
and the rules of a session (式目) as a checker. See docs/renga.md."""

from tsukeku.renga.classify import Classification, Kigo, classify
from tsukeku.renga.saijiki import Saijiki, load_saijiki

__all__ = ["Classification", "Kigo", "Saijiki", "classify", "load_saijiki"]
