"""A small dataset in the `tsukeku data build` format, from original verses written for these
tests (長句 5-7-5 followed by 短句 7-7), so the training tests do not depend on the corpus size."""

from __future__ import annotations

import json
from pathlib import Path

PAIRS: list[tuple[str, str, str]] = [
    ("秋", "朝霧の 晴れゆく峰に 鐘の声", "里の童の 走る細道"),
    ("夏", "夕立の 過ぎて涼しき 縁の端", "濡れた団扇を 干す軒の下"),
    ("冬", "木枯らしに 追はれて急ぐ 旅の人", "宿の灯りの 遠く揺れゐる"),
    ("春", "菜の花の 続く畑に 蝶ひとつ", "風にまかせて 越ゆる垣根を"),
    ("秋", "月を待つ 舟の櫂音 静かなり", "岸の芒に 露のこぼるる"),
    ("春", "雪解けの 水音高し 谷の橋", "杖をとどめて 聞く山の声"),
    ("夏", "蛍火の 草にまぎれて 消えにけり", "子らの手提灯 川辺に並ぶ"),
    ("秋", "稲の穂の 垂れて色づく 山の田", "案山子の袖に 雀の群るる"),
    ("冬", "初時雨 軒を打つ音 夜もすがら", "炉の火を掻きて 語る古事"),
    ("春", "桜散る 庭に箒の 音もなし", "主の留守に 鶯ぞ鳴く"),
    ("雑", "白波の 寄せては返す 浜の松", "網をつくろふ 翁の背中"),
    ("夏", "山寺の 石段長し 蝉時雨", "汗をぬぐひて 仰ぐ夏雲"),
    ("冬", "冬の夜の 星の冴えたる 峠道", "馬の鈴の音 遠ざかりゆく"),
    ("夏", "若葉して 光こぼるる 林かな", "小川の石に 亀の甲干す"),
    ("秋", "紅葉散る 池に映れる 茶屋の屋根", "客待つ膳に 栗の飯炊く"),
    ("春", "春の野に 凧を揚げたる 声高し", "糸の先には 白き雲浮く"),
    ("秋", "虫の音の 絶えて夜寒の 窓の外", "母の繕ふ 綿入れの袖"),
    ("冬", "霜の朝 畑の大根 抜く手かな", "白き息吐き 笑ふ隣人"),
    ("夏", "夏草の 茂る古道 人も来ず", "崩れし塚に 石の仏ゐる"),
    ("秋", "渡り鳥 列をなしゆく 空高し", "漁り火ともる 沖の小島に"),
    ("春", "梅の枝 手折りて贈る 文の端", "返しの歌を 待つ夕暮れ"),
    ("冬", "氷柱落つ 音に目覚むる 山の宿", "湯気立つ椀を 囲む朝餉"),
    ("春", "藤の花 揺るる池辺に 鯉の影", "橋の欄干 日に温まる"),
    ("秋", "秋風の 吹きて芒の 波となる", "牛を追ひゆく 夕暮れの丘"),
]

SPLIT_OF_PAIR = ["train"] * 18 + ["validation"] * 3 + ["test"] * 3


def links() -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    for i, ((season, long_, short), split) in enumerate(zip(PAIRS, SPLIT_OF_PAIR, strict=True)):
        group = f"fixture-{i:02d}"
        out[split].append({"id": f"{group}-a", "previous": long_, "next": short,
                           "previous_form": "5-7-5", "next_form": "7-7", "context": [],
                           "season": season, "topics": [], "source": "fixture", "group": group})
        out[split].append({"id": f"{group}-b", "previous": short, "next": long_,
                           "previous_form": "7-7", "next_form": "5-7-5", "context": [long_],
                           "season": season, "topics": [], "source": "fixture", "group": group})
    return out


def all_verses() -> list[str]:
    return [v for _, a, b in PAIRS for v in (a, b)]


def heldout_verses() -> list[str]:
    return [v for (_, a, b), s in zip(PAIRS, SPLIT_OF_PAIR, strict=True) if s != "train" for v in (a, b)]


def train_verses() -> list[str]:
    return [v for (_, a, b), s in zip(PAIRS, SPLIT_OF_PAIR, strict=True) if s == "train" for v in (a, b)]


def write_dataset(out: Path, template_name: str = "completion") -> Path:
    from tsukeku.prompts import get_template

    out.mkdir(parents=True, exist_ok=True)
    by_split = links()
    for split, recs in by_split.items():
        (out / f"{split}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), encoding="utf-8")
    stats = {"total_links": sum(len(v) for v in by_split.values()), "chains": 0,
             "by_split": {k: len(v) for k, v in by_split.items()}}
    (out / "stats.json").write_text(json.dumps(stats), encoding="utf-8")
    get_template(template_name).save(out)
    return out
