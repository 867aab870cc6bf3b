"""Server safety of the web UI, against a real `python app.py` process: loopback by default, --auth enforced, uploads
checked (size, type, provenance) and stored only under PAPERQA_HOME/uploads, and no URL serves files from outside."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import REPO, clear_paperqa_env

from bench.load import AppProcess, start_app

FIXTURE = REPO / "tests" / "fixtures" / "injection" / "papers.jsonl"
USER, PASSWORD = "alice", "s3cret-pw"
MAX_UPLOAD_MB = 0.02  # ~20 KB: the fixture fits, a 40 KB file does not
PASSWD = Path("/etc/passwd")


@dataclass
class Server:
    app: AppProcess
    home: Path
    gradio_tmp: Path
    root: Path

    @property
    def url(self) -> str:
        return self.app.url

    def client(self):  # type: ignore[no-untyped-def]
        from gradio_client import Client

        return Client(self.url, auth=(USER, PASSWORD), verbose=False, analytics_enabled=False)

    def cookies(self) -> httpx.Cookies:
        r = httpx.post(self.url + "login", data={"username": USER, "password": PASSWORD}, timeout=30)
        assert r.status_code == 200, r.text
        return r.cookies


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """app.py with --auth, default host, a 20 KB upload limit and its own Gradio temp folder, on an empty store."""
    root = tmp_path_factory.mktemp("server-safety")
    home = root / "home"
    home.mkdir()
    gradio_tmp = root / "gradio-tmp"
    gradio_tmp.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        clear_paperqa_env(mp)
        app = start_app(home, auth=f"{USER}:{PASSWORD}", args=("--no-ingest",),
                        env={"PAPERQA_MAX_UPLOAD_MB": str(MAX_UPLOAD_MB), "GRADIO_TEMP_DIR": str(gradio_tmp)})
    try:
        yield Server(app, home, gradio_tmp, root)
    finally:
        app.stop()


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def copies_left(gradio_tmp: Path) -> set[Path]:
    """Files with content in Gradio's temp folder (its multipart parser leaves an empty temp file per upload)."""
    return {p for p in files_under(gradio_tmp) if p.stat().st_size > 0}


def outside_store(home: Path) -> set[Path]:
    """Files in PAPERQA_HOME other than the store's own (Chroma, BM25)."""
    return {p for p in files_under(home) if p.relative_to(home).parts[0] not in ("chroma", "bm25")}


def jsonl(path: Path, n: int, tag: str) -> Path:
    path.write_text("".join(json.dumps({"title": f"{tag} paper {i} on coral reef acoustics",
                                        "abstract": f"We record reef soundscapes at {i + 3} sites. " * 8}) + "\n"
                            for i in range(n)), encoding="utf-8")
    return path


# --- binding and auth ----------------------------------------------------------------------------------------------


def test_default_bind_is_loopback(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    import app as app_module
    from paperqa.settings import ServerSettings

    clear_paperqa_env(monkeypatch)
    assert app_module.build_parser(ServerSettings()).parse_args([]).host == "127.0.0.1"
    # The running server was started without --host: its listening socket is bound to 127.0.0.1 only.
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, port = local.rsplit(":", 1)
            if state == "0A" and int(port, 16) == server.app.port:
                listening.append(addr)
    assert listening == ["0100007F"], listening  # 127.0.0.1, and no 0.0.0.0 / :: socket


def test_auth_is_required(server: Server) -> None:
    from gradio_client import Client

    with pytest.raises(Exception, match="(?i)login|credentials|auth"):
        Client(server.url, verbose=False, analytics_enabled=False)
    with pytest.raises(Exception, match="(?i)login|credentials|auth|incorrect"):
        Client(server.url, auth=(USER, "wrong"), verbose=False, analytics_enabled=False)
    for method, path in (("GET", "config"), ("GET", "gradio_api/info"), ("POST", "gradio_api/upload"),
                         ("POST", "gradio_api/call/ask")):
        r = httpx.request(method, server.url + path, timeout=30, json={"data": ["hi"]} if "call" in path else None)
        assert r.status_code in (401, 403), (path, r.status_code, r.text[:200])
    ans = server.client().predict("What RMSE does MolGraphFormer reach on ESOL?", api_name="/ask")
    assert ans["question"] == "What RMSE does MolGraphFormer reach on ESOL?"


# --- uploads ---------------------------------------------------------------------------------------------------------


def test_upload_is_kept_only_under_uploads(server: Server, tmp_path: Path) -> None:
    from gradio_client import handle_file

    src = tmp_path / "my papers (v1).jsonl"
    shutil.copy(FIXTURE, src)
    before = outside_store(server.home)
    report = server.client().predict(handle_file(src), "", api_name="/upload")
    assert "9 added" in str(report[0]), report
    new = outside_store(server.home) - before
    assert new == {server.home / "uploads" / "my_papers_v1.jsonl"}, new
    assert (server.home / "uploads" / "my_papers_v1.jsonl").read_bytes() == FIXTURE.read_bytes()
    assert not copies_left(server.gradio_tmp), copies_left(server.gradio_tmp)  # Gradio's copy was removed
    assert src.exists()  # the client's own file is untouched


@pytest.mark.parametrize("case", ["too_big", "exe", "pdf", "no_suffix"])
def test_bad_uploads_are_rejected_and_stored_nowhere(server: Server, tmp_path: Path, case: str) -> None:
    from gradio_client import handle_file

    tag = f"reject{uuid.uuid4().hex[:8]}"
    if case == "too_big":
        src = jsonl(tmp_path / f"{tag}.jsonl", 100, tag)
        assert src.stat().st_size > MAX_UPLOAD_MB * 1024 * 1024
    else:
        src = jsonl(tmp_path / f"{tag}.{case}" if case != "no_suffix" else tmp_path / tag, 2, tag)
    before_home = outside_store(server.home)
    try:
        report = server.client().predict(handle_file(src), "", api_name="/upload")
        text = str(report[0])
        assert "Rejected" in text and "Nothing was stored" in text, report
    except Exception as exc:  # noqa: BLE001 - Gradio itself refuses some uploads (HTTP 413, file type) first
        assert re.search(r"(?i)invalid file type|413|exceed|too large|maximum allowed size", str(exc)), exc
    assert outside_store(server.home) == before_home
    left = {p for p in copies_left(server.gradio_tmp) if tag in p.name}
    assert not left, f"Gradio kept a copy of the rejected upload: {left}"
    titles = {row[0] for row in server.client().predict(tag, api_name="/papers")["data"]}
    assert not any(tag in t for t in titles), titles


def test_upload_cannot_name_a_server_file(server: Server, tmp_path: Path) -> None:
    """The upload handler deletes its input after reading it, so it must only ever get files users uploaded."""
    canary = jsonl(server.root / "canary.jsonl", 1, "canary")
    cookies = server.cookies()
    for path in (str(canary), f"../../{canary.name}", str(server.home / "chroma" / "chroma.sqlite3")):
        body = {"data": [{"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": "x.jsonl"}, ""]}
        r = httpx.post(server.url + "gradio_api/call/upload", json=body, cookies=cookies, timeout=30)
        if r.status_code == 200:
            event = r.json()["event_id"]
            stream = httpx.get(server.url + f"gradio_api/call/upload/{event}", cookies=cookies, timeout=120).text
            assert "event: error" in stream and "added" not in stream, stream
        else:
            assert r.status_code in (400, 403, 422), r.text
    assert canary.exists() and (server.home / "chroma" / "chroma.sqlite3").exists()
    assert not server.client().predict("canary", api_name="/papers")["data"]


def test_upload_filename_cannot_escape_the_temp_folder(server: Server) -> None:
    tag = uuid.uuid4().hex[:10]
    cookies = server.cookies()
    for name in (f"../../{tag}-a.jsonl", f"..%2F..%2F{tag}-b.jsonl", f"/tmp/{tag}-c.jsonl"):
        r = httpx.post(server.url + "gradio_api/upload", files={"files": (name, b'{"title": "t", "abstract": "a"}\n')},
                       cookies=cookies, timeout=30)
        assert r.status_code == 200, r.text
        (stored,) = r.json()
        assert Path(stored).resolve().is_relative_to(server.gradio_tmp.resolve()), stored
    candidates = [*server.root.rglob(f"{tag}*"), *Path("/tmp").glob(f"{tag}*"), *REPO.glob(f"{tag}*"),
                  *server.home.parent.parent.glob(f"{tag}*")]
    leaked = [p for p in candidates if not p.resolve().is_relative_to(server.gradio_tmp.resolve())]
    assert not leaked, leaked
    shutil.rmtree(server.gradio_tmp)
    server.gradio_tmp.mkdir()


# --- traversal -------------------------------------------------------------------------------------------------------

TRAVERSALS = [
    "/file=/etc/passwd", "/gradio_api/file=/etc/passwd", "/file=../../etc/passwd", "/static/../../etc/passwd",
    "/gradio_api/file=../../../../etc/passwd", "/assets/../../../etc/passwd", "/gradio_api/static/../../../etc/passwd",
    "/file=%2Fetc%2Fpasswd", "/gradio_api/file=%2Fetc%2Fpasswd", "/file=..%2F..%2Fetc%2Fpasswd",
    "/gradio_api/file=..%2F..%2F..%2F..%2Fetc%2Fpasswd", "/static/..%2F..%2Fetc%2Fpasswd",
    "/static/%2e%2e/%2e%2e/etc/passwd", "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/gradio_api/file=//etc/passwd",
    "/gradio_api/file=%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/gradio_api/file=/proc/self/environ",
    "//etc/passwd", "/..%2f..%2f..%2fetc%2fpasswd", "/gradio_api/file=%252Fetc%252Fpasswd",
]


def raw_get(server: Server, path: str, cookie: str) -> tuple[int, bytes]:
    """GET with the path sent byte for byte (httpx would normalise the dot segments away)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.app.port, timeout=30)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_traversal_urls_never_serve_files(server: Server) -> None:
    cookie = "; ".join(f"{k}={v}" for k, v in server.cookies().items())
    secrets = [line.encode() for line in PASSWD.read_text().splitlines()[:3] if line] or [b"root:x:0:0"]
    environ = (f"PAPERQA_HOME={server.home}").encode()
    private = [f"/gradio_api/file={server.home / 'chroma' / 'chroma.sqlite3'}",
               f"/gradio_api/file={server.home / 'uploads' / 'my_papers_v1.jsonl'}",
               f"/gradio_api/file={REPO / 'app.py'}", f"/file={REPO / 'app.py'}"]
    for path in TRAVERSALS + private:
        for ck in (cookie, ""):
            status, body = raw_get(server, path, ck)
            assert not any(s in body for s in secrets), (path, status, body[:200])
            assert environ not in body and b"SQLite format" not in body and b"def build_app" not in body, path
            assert status >= 400, (path, status, body[:200])
