"""The records: what a Verse, Link and Chain accept, and the links a chain yields."""

import pytest
from pydantic import ValidationError

from tsukeku.corpus.model import Chain, Link, Verse, chain_form_for_length
from tsukeku.errors import explain_validation

LONG = {
    "text": "朝霧の 晴れゆく川に 舟を出す",
    "reading": "あさぎりの はれゆくかわに ふねをだす",
    "kind": "長句",
}
SHORT = {
    "text": "櫂の雫に 秋の日の射す",
    "reading": "かいのしずくに あきのひのさす",
    "kind": "短句",
}


def verses(n: int) -> list[Verse]:
    return [Verse(**(LONG if i % 2 == 0 else SHORT), author=f"連衆{i}") for i in range(n)]


def test_verse_form_and_ku():
    v = Verse(**LONG, season="秋", topics=["旅"])
    assert v.form == "5-7-5" and v.ku == ["朝霧の", "晴れゆく川に", "舟を出す"]
    assert Verse(**SHORT).form == "7-7"
    assert v.topics == ("旅",) and v.to_json()["topics"] == ["旅"]


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"text": "朝霧の 晴れゆく川に"}, "has 3 ku"),
        ({"text": "朝霧の  晴れゆく川に 舟を出す"}, "one ASCII space"),
        ({"text": "朝霧の\u3000晴れゆく川に 舟を出す"}, "one ASCII space"),
        ({"text": " 朝霧の 晴れゆく川に 舟を出す"}, "leading"),
        ({"reading": "あさぎりの はれゆくかわに"}, "spaced into 3 ku"),
        ({"reading": "朝霧の はれゆくかわに ふねをだす"}, "must be kana"),
        ({"kind": "中句"}, "kind"),
        ({"season": "梅雨"}, "season"),
        ({"color": "blue"}, "color"),
    ],
)
def test_bad_verses_say_why(change, reason):
    with pytest.raises(ValidationError) as err:
        Verse(**{**LONG, **change})
    assert reason in explain_validation(err.value)


def test_link_direction_context_and_alternation():
    a, b, c = verses(3)
    link = Link(id="x", previous=b, next=c, context=[a])
    assert link.direction == "短句→長句"
    assert Link(id="y", previous=a, next=b).direction == "長句→短句"
    assert Link(id="z", previous=b, next=a).direction == "短句→長句"
    with pytest.raises(ValidationError, match="must alternate"):
        Link(id="bad", previous=a, next=c)
    with pytest.raises(ValidationError, match="at most 2"):
        Link(id="long", previous=a, next=b, context=verses(4)[1:] + [a])


def test_chain_links_carry_two_verses_of_context_oldest_first():
    vs = verses(6)
    chain = Chain(id="c1", title="試み", form="other", verses=vs)
    links = list(chain.links(source="test"))
    assert len(links) == 5
    assert [len(link.context) for link in links] == [0, 1, 2, 2, 2]
    last = links[-1]
    assert last.previous == vs[4] and last.next == vs[5] and last.context == [vs[2], vs[3]]
    assert {link.group for link in links} == {"c1"} and links[0].source == "test"
    assert [link.id for link in links][:2] == ["c1-001", "c1-002"]
    assert [link.direction for link in links][:2] == ["長句→短句", "短句→長句"]


def test_chain_forms_and_completeness():
    assert chain_form_for_length(36) == "歌仙" and chain_form_for_length(18) == "半歌仙"
    assert chain_form_for_length(7) == "other"
    assert Chain(id="k", form="歌仙", verses=verses(36)).complete
    assert not Chain(id="k", form="歌仙", verses=verses(20)).complete
    with pytest.raises(ValidationError, match="36 verses"):
        Chain(id="k", form="歌仙", verses=verses(38))
    with pytest.raises(ValidationError, match="発句"):
        Chain(id="k", form="半歌仙", verses=verses(19)[1:])
    with pytest.raises(ValidationError, match="two"):
        Chain(id="k", form="other", verses=verses(1))
    broken = verses(4)
    broken[2] = broken[1]
    with pytest.raises(ValidationError, match="verse 3 is a 短句 after a 短句"):
        Chain(id="k", form="other", verses=broken)


def test_to_json_writes_only_what_was_set():
    v = Verse(text=SHORT["text"], kind="短句")
    assert v.to_json() == {"text": SHORT["text"], "kind": "短句"}
    assert v.to_line() == '{"text": "櫂の雫に 秋の日の射す", "kind": "短句"}'
