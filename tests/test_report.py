"""#21: the lab index (``make report``) built from a real benchmark's output, served by the demo's
http server at /lab/, loaded in headless Chromium: every image decodes and every link resolves."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request

from playwright.sync_api import sync_playwright

from harness.procs import REPO_ROOT, python_module, require_binary
from servers.catalog import EXERCISES

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def test_make_report_shows_every_exercise_and_a_benchmarks_tables_and_plot_in_chromium(tmp_path):
    env = {**os.environ, "SYSLAB_BENCH_OUT": str(tmp_path)}
    bench = subprocess.run([sys.executable, "-m", "bench.hashring", "--keys", "2000", "--rounds", "1",
                            "--trials", "1"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bench.returncode == 0, bench.stderr
    made = subprocess.run(["make", "-s", "report"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert made.returncode == 0 and f"wrote {tmp_path / 'index.html'}" in made.stdout, made.stderr
    rows = json.loads((tmp_path / "hashring.json").read_text())["rows"]
    # Each exercise's test count, collected if the cached one is stale (it showed empty cells)
    page_html = (tmp_path / "index.html").read_text()
    row = re.search(r'>N14(?:</a>)?</td>((?:(?!</tr>).)*)</tr>', page_html, re.S)
    assert row and re.search(r'<td class="n">[1-9][0-9]*</td>', row[1]), "no test count for N14"

    with python_module("servers.http", "--lab", str(tmp_path), port=0) as http:
        base = f"http://127.0.0.1:{http.port}/lab/"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=require_binary("chromium", "chromium"), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(base)
                text = page.inner_text("body")
                images = page.eval_on_selector_all("img", "els => els.map(e => [e.src, e.naturalWidth])")
                links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
            finally:
                browser.close()
        for ex in EXERCISES.values():
            assert f"{ex.id}\t{ex.title}" in text
        assert "N7: Consistent hashing" in text or "N7:" in text  # the section of hashring's results
        assert rows[0]["workload"] in text and "measured on" in text and "cpus: " in text
        assert images and all(width > 0 for _, width in images), images  # every plot decoded
        assert any(src.endswith("hashring.png") for src, _ in images)
        for href in links:
            if href.startswith(base):
                assert urllib.request.urlopen(href, timeout=10).status == 200, href
            else:
                assert href.split("#")[0] == base, href  # in-page anchors only
