"""hachidai.db (one token per line): poems rebuilt from A/B tokens, variants left out, ku found at
word edges; and `fetch_hachidaishu` against a local server that answers like Zenodo."""

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tsukeku.corpus.fetch import RECORD_ID, fetch_hachidaishu
from tsukeku.corpus.issues import IssueLog
from tsukeku.corpus.readers.hachidaishu import looks_like_hachidaishu, read_hachidaishu, split_ku
from tsukeku.errors import DataError


def test_poems_are_rebuilt_from_a_and_b_tokens(fixtures):
    log = IssueLog()
    data = read_hachidaishu(fixtures / "hachidai.db", log)
    assert [link.id for link in data.links] == [
        "hachidaishu-01-000001",
        "hachidaishu-01-000002",
        "hachidaishu-02-000001",
    ]
    first, second, third = data.links
    # B00 朝霧 taken, its C00/C01 breakdown skipped; A10 (another sense of 秋) skipped.
    assert first.previous.text == "朝霧の 晴れ行く川に 舟を出す"
    assert first.next.text == "櫂の雫に 秋の日の射す"
    assert first.previous.reading == "あさぎりの はれゆくかはに ふねをだす"
    assert first.next.reading == "かいのしづくに あきのひのさす"
    # The ＊ markers and the variant between ＊１ and the next marker are left out.
    assert second.previous.text == "山の端に 月を残して 鳥の声"
    assert second.next.text == "露の小道を 踏み分けて行く"
    assert second.next.reading == "つゆのこみちを ふみわけてゆく"
    assert third.previous.text == "蝉時雨 止みたる庭に 水を打つ"
    assert third.next.reading == "ゆふべのかぜの すずしかりけり"
    assert {link.group for link in data.links} == {
        "hachidaishu:01:000001",
        "hachidaishu:01:000002",
        "hachidaishu:02:000001",
    }


def test_non_tanka_and_bad_lines_are_reported(fixtures):
    log = IssueLog()
    path = fixtures / "hachidai.db"
    data = read_hachidaishu(path, log)
    (bad,) = log.errors
    assert bad.line == 65 and "9 space-separated columns" in bad.reason
    (warning,) = log.warnings
    assert warning.line == 46 and "not a tanka" in warning.reason
    assert data.bad_records == 1 and data.warnings == 1


def test_surface_orthography_keeps_the_diplomatic_spelling(fixtures):
    data = read_hachidaishu(fixtures / "hachidai.db", orthography="surface")
    third = data.links[2]
    # No dakuten in the surface column; ゝ expanded.
    assert third.previous.text == "蝉しくれ やみたるにはに 水をうつ"
    assert third.next.text == "夕への風の すすしかりけり"


def test_split_ku_prefers_jiamari_to_jitarazu():
    assert split_ku([5, 7, 5, 7, 7]) == [1, 2, 3, 4]
    assert split_ku([2, 3, 4, 3, 5, 3, 4, 3, 4]) == [2, 4, 5, 7]
    # 32 morae: one ku must be long; never a short one when a long one will do.
    assert split_ku([5, 8, 5, 7, 7]) == [1, 2, 3, 4]
    assert split_ku([3, 3]) is None


def test_layout_detection():
    assert looks_like_hachidaishu("01:000001:0001 A00 BG-01-1630-01-0100 02 年 年 とし 年 とし ")
    assert not looks_like_hachidaishu("01:000001:0001 A00 BG-01-1630-01-0100 年 とし 年 02")


class _Zenodo(BaseHTTPRequestHandler):
    payload = b""
    md5 = ""
    api_status = 200

    def do_GET(self):  # noqa: N802 (http.server's naming)
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if self.path == f"/api/records/{RECORD_ID}":
            if self.api_status != 200:
                self.send_error(self.api_status)
                return
            body = json.dumps(
                {
                    "files": [
                        {"key": "README.md", "links": {"self": f"{base}/nope"}},
                        {
                            "key": "hachidai.db",
                            "checksum": f"md5:{self.md5}",
                            "links": {"self": f"{base}/files/hachidai.db/content"},
                        },
                    ]
                }
            ).encode()
        elif self.path.startswith(("/files/hachidai.db", f"/records/{RECORD_ID}/files/")):
            body = self.payload
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def zenodo(fixtures):
    payload = (fixtures / "hachidai.db").read_bytes()

    class Handler(_Zenodo):
        pass

    Handler.payload = payload
    Handler.md5 = hashlib.md5(payload).hexdigest()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield Handler, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_fetch_downloads_and_verifies_the_checksum(zenodo, tmp_path, fixtures):
    _handler, url = zenodo
    seen = []
    path = fetch_hachidaishu(
        tmp_path / "data", base_url=url, progress=lambda d, t: seen.append((d, t))
    )
    assert path == tmp_path / "data" / "hachidai.db"
    assert path.read_bytes() == (fixtures / "hachidai.db").read_bytes()
    assert seen and seen[-1][0] == seen[-1][1] == path.stat().st_size
    assert len(read_hachidaishu(path).links) == 3


def test_fetch_falls_back_to_the_file_url_when_the_api_fails(zenodo, tmp_path):
    handler, url = zenodo
    handler.api_status = 500
    assert fetch_hachidaishu(tmp_path, base_url=url).is_file()


def test_fetch_rejects_a_corrupt_download(zenodo, tmp_path):
    handler, url = zenodo
    handler.md5 = "0" * 32
    with pytest.raises(DataError, match="corrupt"):
        fetch_hachidaishu(tmp_path, base_url=url)
    assert not (tmp_path / "hachidai.db").exists()


def test_fetch_rejects_something_that_is_not_hachidai_db(zenodo, tmp_path):
    handler, url = zenodo
    handler.payload = b"<html>maintenance</html>"
    handler.md5 = hashlib.md5(handler.payload).hexdigest()
    with pytest.raises(DataError, match="did not give a hachidai.db"):
        fetch_hachidaishu(tmp_path, base_url=url)


def test_fetch_offline_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError, match=r"offline\?.*hachidaishu:PATH"):
        fetch_hachidaishu(tmp_path, base_url=f"http://127.0.0.1:{port}", timeout=5)


def test_cli_fetch_saves_where_the_source_name_looks(zenodo, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from tsukeku.cli import app
    from tsukeku.corpus.readers import default_path

    _handler, url = zenodo
    monkeypatch.setenv("TSUKEKU_ZENODO_URL", url)
    monkeypatch.setenv("TSUKEKU_HOME", str(tmp_path / "home"))
    res = CliRunner().invoke(app, ["data", "fetch", "hachidaishu", "--quiet"])
    assert res.exit_code == 0, res.output
    assert default_path("hachidaishu") == tmp_path / "home" / "data" / "hachidai.db"
    unknown = CliRunner().invoke(app, ["data", "fetch", "manyoshu"])
    assert unknown.exception is not None and "hachidaishu" in str(unknown.exception)
