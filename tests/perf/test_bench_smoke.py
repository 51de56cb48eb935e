"""The benchmark harness still runs end to end (``bench/run.py --smoke``): a 300-message folder,
one sample of each figure, seconds of load on a real gunicorn and Celery worker. Not timed:
it checks that every figure is produced and that the load saw no errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.dovecot, pytest.mark.worker, pytest.mark.xdist_group("bench-smoke")]

REPO = Path(__file__).resolve().parents[2]


def test_bench_harness_runs_on_a_tiny_folder(tmp_path: Path, mail_stack: None) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJANGO_", "PYTEST_", "CACHE_", "CELERY_"))}
    done = subprocess.run([sys.executable, "bench/run.py", "--smoke", "--json", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    figures = json.loads(out.read_text())
    medians = figures["medians"]
    for name in ("raw_cold_date_p1", "cold_date_p1", "warm_date_p1", "warm_date_last",
                 "cold_from_p1", "search_first", "raw_search", "warm_throughput",
                 "raw_cold_throughput", "view1_newsletter", "view2_newsletter",
                 "download_first", "download_first_tracemalloc_bytes"):
        assert medians[name] > 0, name
    assert figures["send"]["messages"] == 10
    load = figures["load"]
    assert load["errors"] == 0 and load["requests"] > 0
    assert load["accepted"] == load["sent"]
    assert "| mailbox page 1 by date, warm |" in done.stdout
