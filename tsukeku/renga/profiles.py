"""Rule profiles (式目) as data: tsukeku/renga/data/profiles/NAME.yaml, one per form of session.
A renga session picks one by name (kasen, hankasen, hyakuin) or by form (歌仙, 半歌仙, 百韻)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from tsukeku.errors import ConfigError, explain_validation
from tsukeku.renga.lexicon import TOPICS

FORM_PROFILES = {"歌仙": "kasen", "半歌仙": "hankasen", "百韻": "hyakuin"}
SEASON_CLASS = "季"  # the sarikirai class of "the same season"


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    form: str
    length: int
    sections: list[tuple[int, int]]
    section_names: list[str] = []
    moon_seats: list[int] = []
    blossom_seats: list[int] = []
    omote: int = 6
    omote_taboo_error: list[str] = []
    omote_taboo_warning: list[str] = []
    season_runs: dict[str, tuple[int, int]]
    new_year_as: str = "冬"
    sarikirai: dict[str, int] = {}
    no_runs: list[str] = []

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        if self.sections[0][0] != 1 or self.sections[-1][1] != self.length:
            raise ValueError("sections must start at verse 1 and end at the last verse")
        for (_, b), (c, _) in zip(self.sections, self.sections[1:], strict=False):
            if c != b + 1:
                raise ValueError("sections must follow one another without gaps")
        for seat in (*self.moon_seats, *self.blossom_seats):
            if not 1 <= seat <= self.length:
                raise ValueError(f"seat {seat} is outside the {self.length} verses")
        names = {*self.omote_taboo_error, *self.omote_taboo_warning, *self.no_runs}
        names |= set(self.sarikirai) - {SEASON_CLASS}
        unknown = names - set(TOPICS)
        if unknown:
            raise ValueError(f"unknown topic(s) {sorted(unknown)}")
        if self.new_year_as not in ("春", "冬"):
            raise ValueError("new_year_as is 春 or 冬")
        return self

    def section_of(self, verse: int) -> tuple[int, int] | None:
        for a, b in self.sections:
            if a <= verse <= b:
                return a, b
        return None

    def section_name(self, verse: int) -> str:
        sec = self.section_of(verse)
        if sec is None or not self.section_names:
            return f"verses {sec[0]}–{sec[1]}" if sec else "?"
        return self.section_names[self.sections.index(sec)]


def profile_names() -> list[str]:
    root = resources.files("tsukeku.renga").joinpath("data", "profiles")
    return sorted(p.name.removesuffix(".yaml") for p in root.iterdir() if p.name.endswith(".yaml"))


@lru_cache(maxsize=16)
def load_profile(name: str) -> Profile:
    """A profile by name (kasen …), by form (歌仙 …) or from a YAML file path."""
    key = FORM_PROFILES.get(name, name)
    if key.endswith((".yaml", ".yml")) or "/" in key:
        path = Path(key)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"{path}: cannot read the rule profile ({err.strerror})") from None
        where = str(path)
    else:
        res = resources.files("tsukeku.renga").joinpath("data", "profiles", f"{key}.yaml")
        if not res.is_file():
            raise ConfigError(
                f"unknown rule profile {name!r}; choose one of {', '.join(profile_names())} "
                "or give a YAML file"
            )
        text, where = res.read_text(encoding="utf-8"), f"profiles/{key}.yaml"
    try:
        return Profile.model_validate(yaml.safe_load(text))
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: not valid YAML ({err})") from None
    except ValidationError as err:
        raise ConfigError(f"{where}: {explain_validation(err)}") from None
