"""The catalog tells the truth: every id exists, every named room and module exists."""

import re
import subprocess
import sys
from pathlib import Path

from servers.catalog import EXERCISES, REPO_ROOT, SERVERS, module_exists, render

EXPECTED_IDS = (
    [f"N{i}" for i in range(1, 19)] + ["M1", "M2"] + [f"D{i}" for i in range(1, 14)]
    + [f"O{i}" for i in range(1, 5)] + [f"S{i}" for i in range(1, 10)]
)  # fmt: skip


def test_every_exercise_id_has_a_row():
    assert list(EXERCISES) == EXPECTED_IDS


def test_ids_match_the_exercise_list_when_it_is_beside_the_repo():
    doc = REPO_ROOT.parent / "shared" / "EXERCISES.md"
    if doc.exists():  # CI and sessions have it; a user's clone may not
        ids = re.findall(r"^\| ([NMDOS]\d+) \|", doc.read_text(), re.M)
        assert ids == EXPECTED_IDS


def test_rooms_named_in_the_catalog_exist():
    for ex in EXERCISES.values():
        if ex.room is not None:
            assert (REPO_ROOT / ex.room).is_dir(), f"{ex.id}: room {ex.room} does not exist"


def test_commands_named_in_the_catalog_point_at_real_modules():
    for ex in EXERCISES.values():
        for cmd in (ex.run, ex.bench):
            if cmd is None:
                continue
            m = re.fullmatch(r"make (serve|bench)-(\w+)(?: .*)?", cmd)
            assert m, f"{ex.id}: unexpected command {cmd!r}"
            kind, name = m.groups()
            module = f"{'servers' if kind == 'serve' else 'bench'}.{name}"
            assert module_exists(module), f"{ex.id}: {module} does not exist"


def test_every_registered_server_exists_and_ports_are_unique():
    ports = [s.port for s in SERVERS.values()]
    assert len(ports) == len(set(ports))
    standard = {3306, 5432, 5672, 6379, 1883, 4222, 80, 443}
    for s in SERVERS.values():
        assert module_exists(s.module), s.module
        assert (REPO_ROOT / "servers" / s.name / "__main__.py").is_file()
        assert s.port not in standard


def test_make_list_prints_every_id_with_real_test_counts():
    out = subprocess.run(
        [sys.executable, "-m", "servers.catalog"], cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    for ex_id in EXPECTED_IDS:
        assert re.search(rf"^{ex_id}\s+\d+\s", out, re.M), ex_id
    # the counts come from collecting the suite: built rooms have tagged tests, unbuilt none
    counts = {m[0]: int(m[1]) for m in re.findall(r"^([NMDOS]\d+)\s+(\d+)\s", out, re.M)}
    for ex in EXERCISES.values():
        if ex.room is None:
            assert counts[ex.id] == 0, ex.id
    assert counts["N14"] > 0 and counts["S5"] > 0 and counts["D1"] > 0


def test_render_names_unbuilt_rooms_honestly():
    text = render({})
    for ex in EXERCISES.values():
        if ex.room is None:
            assert re.search(rf"^{ex.id}\s+0\s+\(not built\)", text, re.M)


def test_readme_lists_every_exercise():
    readme = (REPO_ROOT / "README.md").read_text()
    for ex in EXERCISES.values():
        assert f"| {ex.id} | {ex.title} |" in readme, f"README lacks the row for {ex.id}"


def test_pyproject_and_makefile_need_no_line_per_server():
    mk = (REPO_ROOT / "Makefile").read_text()
    assert "serve-%" in mk and "bench-%" in mk and "load-%" in mk
    assert Path(REPO_ROOT / ".ci" / "run").read_text().count("make test") == 1


def test_readme_lists_every_server_with_its_port():
    readme = (REPO_ROOT / "README.md").read_text()
    for s in SERVERS.values():
        assert f"| `make serve-{s.name}` | {s.port} |" in readme, f"README lacks server {s.name}"


def test_make_with_no_target_prints_commands_servers_and_experiments():
    out = subprocess.run(["make", "--no-print-directory"], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=60).stdout  # fmt: skip
    assert "make serve-NAME" in out and "ARGS=" in out
    for s in SERVERS.values():
        assert re.search(rf"^  {s.name}\s+127\.0\.0\.1:{s.port}\b", out, re.M), s.name
    for path in (REPO_ROOT / "bench").glob("*.py"):
        if path.stem not in ("__init__", "common", "all", "load"):
            assert re.search(rf"^  {path.stem}\s", out, re.M), path.stem


def test_make_list_reuses_fresh_counts_and_recollects_stale_ones(tmp_path, monkeypatch, capsys):
    import os

    import servers.catalog as catalog

    cache = tmp_path / "test-counts.json"
    cache.write_text('{"N14": 7}')
    monkeypatch.setattr(catalog, "COUNTS_CACHE", cache)
    monkeypatch.setattr(catalog.sys, "argv", ["catalog"])

    def collect():
        raise AssertionError("collected although the cache was fresh")

    monkeypatch.setattr(catalog, "count_tagged_tests", collect)
    catalog.main()
    assert re.search(r"^N14\s+7\s", capsys.readouterr().out, re.M)
    os.utime(cache, (0, 0))  # older than every test file: stale
    monkeypatch.setattr(catalog, "count_tagged_tests", lambda: {"N14": 9})
    catalog.main()
    assert re.search(r"^N14\s+9\s", capsys.readouterr().out, re.M)


def test_every_python_m_entry_point_is_in_the_catalog():
    """#21: storage.check and clients with a CLI were runnable but listed nowhere."""
    from servers.catalog import INTERNAL, TOOLS

    listed = " ".join(cmd for cmd, _ in TOOLS)
    found = set()
    for room in ("clients", "storage", "harness", "netlib"):
        for path in (REPO_ROOT / room).rglob("*.py"):
            if '__name__ == "__main__"' in path.read_text():
                parts = path.relative_to(REPO_ROOT).with_suffix("").parts
                found.add(".".join(parts[:-1] if parts[-1] == "__main__" else parts))
    assert "storage.check" in found
    missing = {m for m in found - INTERNAL if f"python -m {m}" not in listed}
    assert not missing, f"entry points missing from servers/catalog.py TOOLS: {sorted(missing)}"
    out = subprocess.run(["make", "-s", "help"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60).stdout
    assert all(cmd in out for cmd, _ in TOOLS)
