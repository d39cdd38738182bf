"""`next_seat`: what the next seat asks, rule by rule (kind, season runs, 脇, moon and blossom
seats, 打越, 去嫌, 表六句), its words for the page, and sessions played seat by seat on what it
allows, which must end with no error (the look-ahead never leads into a dead end)."""

import random
from datetime import date

import pytest

from tsukeku.errors import InputError
from tsukeku.renga.check import check
from tsukeku.renga.profiles import load_profile
from tsukeku.renga.saijiki import default_path
from tsukeku.renga.seat import next_seat

pytestmark = pytest.mark.skipif(
    not default_path().exists(), reason="the bundled saijiki is not written yet"
)

L, S = "長句", "短句"
SPRING = date(2026, 4, 1)
HARMLESS = ("人倫", "衣類", "動物", "降物", "夜分", "聳物", "植物")


def v(i, season="雑", topics=("人倫",)):
    """A labelled stand-in verse at 0-based position i (kind by position)."""
    kind = L if i % 2 == 0 else S
    return {
        "text": "あ い う" if kind == L else "え お",
        "kind": kind,
        "season": season,
        "topics": list(topics),
    }


def chain(seasons, topics=None):
    cycle = (["人倫"], ["衣類"], ["動物"], ["降物"])
    return [v(i, s, topics[i] if topics else cycle[i % 4]) for i, s in enumerate(seasons)]


def test_first_seats():
    seat = next_seat([], "半歌仙", today=SPRING)
    assert seat.number == 1 and seat.name == "発句" and seat.kind == L
    assert seat.season == "春" and "雑" not in seat.seasons
    assert set(seat.seasons) == {"春", "夏", "秋", "冬"}
    assert {"恋", "無常", "神祇", "釈教"} <= set(seat.avoid)
    assert next_seat([], "半歌仙", today=date(2026, 10, 1)).season == "秋"
    waki = next_seat(chain(["夏"]), "半歌仙")
    assert waki.name == "脇" and waki.kind == S and waki.seasons == ("夏",)


def test_kind_follows_the_last_verse():
    assert next_seat(chain(["春", "春"]), "歌仙").kind == L
    assert next_seat(chain(["春", "春", "春"]), "歌仙").kind == S


def test_season_run_too_short_must_continue():
    # 春 runs at least three verses
    seat = next_seat(chain(["春", "春"]), "歌仙")
    assert seat.seasons == ("春",)


def test_season_run_at_its_longest_must_change():
    seat = next_seat(chain(["冬", "冬", "冬"]), "歌仙")
    assert "冬" not in seat.seasons and "雑" in seat.seasons
    seat = next_seat(chain(["春"] * 5), "歌仙")
    assert "春" not in seat.seasons


def test_same_season_distance():
    # 冬 ended at verse 2; 同季五句去り: 冬 may not come back before verse 8
    seasons = ["冬", "冬", "雑", "雑"]
    seat = next_seat(chain(seasons), "歌仙")
    assert "冬" not in seat.seasons and {"春", "夏", "秋"} & set(seat.seasons)


def test_moon_seat():
    seasons = ["夏", "夏", "雑", "雑"]
    seat = next_seat(chain(seasons), "半歌仙")
    assert seat.number == 5 and "月" in seat.topics
    assert seat.season == "秋" and "雑" not in seat.seasons
    assert seat.describe().startswith("秋・月の座")
    # a moon raised earlier in the section: the seat no longer asks it, and no 月 next to it
    raised = chain(seasons, [["人倫"], ["衣類"], ["動物"], ["月"]])
    seat = next_seat(raised, "半歌仙")
    assert "月" not in seat.topics and "月" in seat.avoid


def test_moon_at_section_end_when_its_seat_passed():
    seasons = ["夏", "夏", "雑", "雑", "秋"]
    seat = next_seat(chain(seasons), "半歌仙")  # verse 6 closes the 表 without a moon
    assert seat.number == 6 and "月" in seat.topics


def test_blossom_seat_and_ageku():
    seasons = ["秋", "秋", "秋", "雑", "秋", "秋", "雑", "雑", "夏", "雑", "雑", "冬", "雑", "雑"]
    topics = [["人倫"], ["衣類"], ["動物"], ["降物"], ["月"], ["人倫"], ["衣類"], ["動物"]]
    topics += [["降物"], ["人倫"], ["衣類"], ["動物"], ["月"], ["人倫"]]
    prefix = chain(seasons, topics)
    seat = next_seat(prefix, "半歌仙")
    assert seat.number == 15 and seat.seasons[0] == "春"
    prefix += [v(14, "春", ["衣類"]), v(15, "春", ["動物"])]
    seat = next_seat(prefix, "半歌仙")
    assert seat.number == 17 and seat.topics == ("花",) and seat.season == "春"
    assert seat.describe() == "春・花の座 — 長句"
    prefix.append(v(16, "春", ["花"]))
    seat = next_seat(prefix, "半歌仙")
    assert seat.name == "挙句" and seat.season == "春" and "花" in seat.avoid


def test_uchikoshi_and_sarikirai():
    seat = next_seat(chain(["雑"] * 8, [["旅"], ["人倫"]] * 4), "歌仙")
    assert "打越" in seat.avoid["旅"]
    topics = [["人倫"], ["衣類"], ["動物"], ["降物"], ["人倫"], ["山類"], ["衣類"], ["動物"]]
    seat = next_seat(chain(["雑"] * 8, topics), "歌仙")  # 山類 at 6, seat 9: 2 between < 3
    assert "去り" in seat.avoid["山類"]
    topics[-1] = ["恋"]
    seat = next_seat(chain(["雑"] * 8, topics), "歌仙")
    assert "恋" not in seat.avoid  # 恋 may run on (two to five verses in practice)


def test_omote_taboo_only_in_the_omote():
    assert "恋" in next_seat(chain(["春"] * 3), "歌仙").avoid
    assert "恋" not in next_seat(chain(["春", "春", "春", "雑", "秋", "秋", "秋"]), "歌仙").avoid


def test_avoid_words_of_the_uchikoshi():
    prefix = ["山寺の 鐘の音遠く 霞かな", "畦をつたひて 雪解けの水"]
    seat = next_seat(prefix, "歌仙")
    assert seat.avoid_words and "鐘" in seat.avoid_words


def test_complete_chain_and_no_form():
    with pytest.raises(InputError):
        next_seat(chain(["春"] * 3 + ["雑"] * 15), "半歌仙")
    with pytest.raises(InputError):
        next_seat([], None)


def test_overrides():
    seat = next_seat(chain(["春", "春"]), "歌仙").with_overrides(season="秋", topics=["月"])
    assert seat.seasons == ("秋",) and seat.topics == ("月",)
    assert any("秋 was asked" in n for n in seat.notes)
    with pytest.raises(InputError):
        seat.with_overrides(season="梅雨")


def test_problems_and_dict():
    seat = next_seat(chain(["夏", "夏", "雑", "雑"]), "半歌仙")
    from tsukeku.renga.check import view_verse

    prof = load_profile("半歌仙")
    good = view_verse({"text": "あ い う", "season": "秋", "topics": ["月"]}, prof)
    bad = view_verse({"text": "え お", "season": "雑", "topics": ["恋"]}, prof)
    assert seat.problems(good) == []
    assert len(seat.problems(bad)) == 4  # kind, season, no 月, 恋 in the 表
    d = seat.to_dict()
    assert d["describe"] == seat.describe() and d["topics"] == ["月"] and d["kind"] == L


@pytest.mark.parametrize("form", ["半歌仙", "歌仙", "百韻"])
def test_sessions_played_on_the_seat_end_without_errors(form):
    """Random sessions: at each seat a random allowed season, the required topics and a topic
    not to avoid. Whatever the choices, the finished session has no error: the seat looks
    ahead far enough that no allowed season leads to a dead end."""
    rng = random.Random(14)
    prof = load_profile(form)
    rounds = 12 if form != "百韻" else 2
    for _ in range(rounds):
        verses: list[dict] = []
        for i in range(prof.length):
            seat = next_seat(verses, prof, today=SPRING)
            assert seat.kind == (L if i % 2 == 0 else S)
            assert not seat.notes, seat.notes
            season = rng.choice(seat.seasons)
            free = [t for t in HARMLESS if t not in seat.avoid]
            topics = [*seat.topics, rng.choice(free)]
            verses.append(v(i, season, topics))
        report = check(verses, form)
        assert report.errors == 0, [x.to_dict() for x in report.violations if x.severity == "error"]
