"""classify(): season words by word (longest match), topics, 切字, given labels, speed."""

import itertools
import time

import pytest

from tsukeku.renga import classify
from tsukeku.renga.saijiki import default_path

pytestmark = pytest.mark.skipif(
    not default_path().exists(), reason="the bundled saijiki is not written yet"
)


def _kigo(text):
    return [(k.word, k.season) for k in classify(text).kigo]


def test_moon_alone_is_autumn_blossom_alone_is_spring():
    assert classify("峠越え 月を背負ひて 宿を乞ふ").season == "秋"
    assert classify("里中の 花に浮かれて 犬も駆け").season == "春"
    assert "月" in classify("峠越え 月を背負ひて 宿を乞ふ").topics
    assert "花" in classify("里中の 花に浮かれて 犬も駆け").topics


def test_longest_match_decides_over_a_word_inside_it():
    assert classify("夏の月 埠頭に釣りの 人並ぶ").season == "夏"
    assert classify("寒月の 辻に拍子木 打ち鳴らし").season == "冬"
    fireworks = classify("川べりに 花火のあがる 音ばかり")
    assert fireworks.season == "夏" and "花" not in fireworks.topics
    rape = classify("菜の花の 畑の向かうに 海光る")
    assert rape.season == "春" and "花" not in rape.topics


def test_matching_is_by_word_not_substring():
    # 月日 (time), 三月 (a month) are not the moon
    assert "月" not in classify("逢はぬ月日を 指に数ふる").topics
    assert "月" not in classify("三月の 駅に別れの 人多し").topics


def test_kana_kanji_and_historical_spellings_classify_alike():
    for text in (
        "古池に 蛙とびこむ 音すなり",
        "古池に かはづとびこむ 音すなり",
        "古池に かわずとびこむ 音すなり",
    ):
        assert classify(text).season == "春", text


def test_span_offsets_index_the_text():
    c = classify("山寺の 鐘にほどける 霞かな")
    (k,) = [k for k in c.kigo if k.word == "霞"]
    assert c.text[k.start : k.end] == "霞"


def test_kireji():
    assert classify("風鈴や 路地の奥まで 子らの声").kireji == ("や",)
    assert "かな" in classify("山寺の 鐘にほどける 霞かな").kireji
    assert "けり" in classify("草枕 霜の白さに 明けにけり").kireji
    assert classify("腰かけて 昔語りの 長々と").kireji == ()


def test_given_labels_win_and_are_reported():
    c = classify({"text": "名月を 待つ間の雲の 早きこと", "season": "雑", "topics": ["旅"]})
    assert c.season == "雑" and c.topics == ("旅",)
    d = c.to_dict()
    assert d["given"] == ["season", "topics"] and d["inferred"] == []
    assert c.inferred_season() == "秋"
    e = classify({"text": "名月を 待つ間の雲の 早きこと", "topics": []}).to_dict()
    assert e["season"] == "秋" and "月" in e["topics"] and e["inferred"] == ["season", "topics"]


def test_topics_of_the_vocabulary():
    assert "恋" in classify("紅の 筆のあとさへ 恋しくて").topics
    assert "降物" in classify("春雨の 軒をつたひて 落ちにけり").topics
    assert "釈教" in classify("経読む僧の 声の若さよ").topics
    assert "水辺" in classify("月の浜 足跡ひとつ 波に消ゆ").topics


def test_json_shape():
    d = classify("爽やかや ビルの窓拭く 人の影").to_dict()
    assert set(d) >= {"text", "season", "kigo", "topics", "kireji"}
    assert set(d["kigo"][0]) >= {"word", "season", "start", "end"}


# Numbers no verse of this process has used yet, so every verse timed below is cold (never
# analysed nor classified before), however often the test runs in one process.
_FRESH = itertools.count()


def test_a_thousand_verses_a_second_cold():
    classify("月")  # load MeCab and the lexicon
    texts = [f"秋風の 吹く{next(_FRESH)}番の 坂の上" for _ in range(300)]
    t = time.perf_counter()
    for text in texts:
        classify(text)
    rate = len(texts) / (time.perf_counter() - t)
    assert rate > 1000, f"{rate:.0f} verses/s"


@pytest.mark.parametrize(
    "text, season",
    [
        ("木枯らしに 押されて帰る 団地まで", "冬"),  # okurigana other than the saijiki's 木枯し
        ("逢はぬ日の 重なるままに 衣替へ", "夏"),  # historical kana across MeCab's words
        ("うぐひすの 声に目覚むる 朝の窓", "春"),  # a kana word MeCab cuts into pieces
        ("凍てつく道に 足をとらるる", "冬"),  # a dictionary form spelled otherwise
        ("月明かり 屋根を伝ひて 猫の行く", "秋"),  # a moon word that is no saijiki entry
        ("堀端に 釣り糸垂るる 隠居あり", "雑"),  # あり is 有り, not 蟻
        ("年経ても 変はらぬ文の 筆の癖", "雑"),  # 経 of 経る is no sutra, and no season
    ],
)
def test_spellings_and_false_friends(text, season):
    assert classify(text).season == season
    if "経" in text:
        assert "釈教" not in classify(text).topics
