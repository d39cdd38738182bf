"""Downloading the Hachidaishu vocabulary dataset from Zenodo (record 4744170, DOI
10.5281/zenodo.4744170) for users with internet access.

The record's file list comes from Zenodo's REST API (`/api/records/<id>`), which gives the
download link and the MD5 checksum that the download is verified against; when the API does not
answer as expected, the record's plain file URL is used instead (without a checksum). The file is
checked to be in the hachidai.db layout and written atomically.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tsukeku.errors import DataError
from tsukeku.io import write_bytes_atomic

ZENODO_URL = "https://zenodo.org"
RECORD_ID = "4744170"
FILE_NAME = "hachidai.db"


def default_dir() -> Path:
    from tsukeku.paths import home

    return home() / "data"


def _file_entry(record: dict[str, Any]) -> tuple[str | None, str | None]:
    """(download URL, md5) of hachidai.db in a Zenodo record."""
    files = record.get("files")
    entries = files.get("entries", []) if isinstance(files, dict) else files or []
    if isinstance(entries, dict):
        entries = list(entries.values())
    for e in entries:
        if not isinstance(e, dict) or (e.get("key") or e.get("filename")) != FILE_NAME:
            continue
        links = e.get("links") or {}
        url = links.get("content") or links.get("download") or links.get("self")
        checksum = e.get("checksum") or ""
        md5 = checksum.split(":", 1)[1] if checksum.startswith("md5:") else None
        return url, md5
    return None, None


def fetch_hachidaishu(
    out_dir: str | os.PathLike | None = None,
    *,
    base_url: str | None = None,
    timeout: float = 60.0,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Downloads hachidai.db into out_dir (default: $TSUKEKU_HOME/data) and returns its path.
    `progress(bytes_done, bytes_total)` is called while downloading."""
    import httpx

    from tsukeku.corpus.readers.hachidaishu import looks_like_hachidaishu
    from tsukeku.settings import env

    base = (base_url or env().zenodo_url or ZENODO_URL).rstrip("/")
    target = Path(out_dir).expanduser() if out_dir is not None else default_dir()
    fallback = f"{base}/records/{RECORD_ID}/files/{FILE_NAME}?download=1"
    offline_hint = (
        f"download {fallback} by hand (DOI 10.5281/zenodo.{RECORD_ID}) and pass "
        "--source hachidaishu:PATH"
    )
    try:
        with httpx.Client(follow_redirects=True, timeout=timeout) as client:
            url, md5 = None, None
            api = client.get(f"{base}/api/records/{RECORD_ID}")
            if api.status_code == 200:
                try:
                    url, md5 = _file_entry(api.json())
                except ValueError:
                    url, md5 = None, None
            url = url or fallback
            chunks: list[bytes] = []
            with client.stream("GET", url) as resp:
                if resp.status_code != 200:
                    raise DataError(
                        f"Zenodo answered {resp.status_code} for {url}; try again later, or "
                        + offline_hint
                    )
                length = resp.headers.get("content-length")
                total = int(length) if length and length.isdigit() else None
                done = 0
                for chunk in resp.iter_bytes():
                    chunks.append(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
    except (httpx.TransportError, OSError) as err:
        raise DataError(
            f"could not reach {base} ({err}); are you offline? {offline_hint}"
        ) from None
    data = b"".join(chunks)
    if md5 is not None and hashlib.md5(data).hexdigest() != md5:
        raise DataError(f"the download of {url} is corrupt (MD5 differs from Zenodo's); try again")
    first = data[:4096].decode("utf-8", errors="replace").splitlines()[:1]
    if not first or not looks_like_hachidaishu(first[0]):
        raise DataError(f"{url} did not give a hachidai.db file; {offline_hint}")
    return write_bytes_atomic(target / FILE_NAME, data)
