"""The N10 lab flow in headless Chromium: a page on another origin gets a pre-signed PUT URL
from ``POST /_presign`` and uploads a file straight to the store (CORS preflight included)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from playwright.sync_api import sync_playwright

from harness.procs import Child, free_port, python_module, require_binary
from servers.catalog import REPO_ROOT
from servers.s3.__main__ import DEMO_ACCESS_KEY as AK
from servers.s3.__main__ import DEMO_SECRET_KEY as SK

pytestmark = pytest.mark.exercise("N10")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[str]:
    with python_module("servers.s3", "--dir", str(tmp_path / "s3"), port=free_port()) as child:
        yield f"http://127.0.0.1:{child.port}"


@pytest.fixture
def page_origin() -> Iterator[str]:
    """The page from another origin: Python's own http.server over web/s3."""
    port = free_port()
    argv = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port),
            "--directory", str(REPO_ROOT / "web" / "s3")]  # fmt: skip
    with Child(argv, port=port, name="page-http"):
        yield f"http://127.0.0.1:{port}"


def test_browser_uploads_through_a_presigned_put(store: str, page_origin: str) -> None:
    chromium = require_binary("chromium", "chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{page_origin}/index.html?s3={store}")
            page.set_input_files("#file", files=[{"name": "hello.txt", "mimeType": "text/plain",
                                                  "buffer": b"from the browser"}])  # fmt: skip
            page.click("#upload")
            page.wait_for_function("document.getElementById('status').textContent !== 'choose a file'",
                                   timeout=15_000)  # fmt: skip
            status = page.text_content("#status") or ""
        finally:
            browser.close()
    assert status.startswith("uploaded uploads/hello.txt etag "), status
    s3 = boto3.client("s3", endpoint_url=store, aws_access_key_id=AK, aws_secret_access_key=SK,
                      region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))  # fmt: skip
    got = s3.get_object(Bucket="demo", Key="uploads/hello.txt")
    assert got["Body"].read() == b"from the browser" and got["ContentType"] == "text/plain"
