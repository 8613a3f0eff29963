"""gunicorn settings of the web process (`gunicorn -c python:config.gunicorn config.wsgi:application`).

Prometheus' multiprocess mode (config/metrics.py): each gunicorn worker counts its own requests and
queries, and a scrape reaches one worker, so without it consecutive scrapes jump between workers'
counts (74 then 35: a false counter reset). With PROMETHEUS_MULTIPROC_DIR set before the workers import
prometheus_client, they write to files there and /metrics adds up all of them.

The folder is PROMETHEUS_MULTIPROC_DIR if set (deploy/: a tmpfs such as /run/stemma/prometheus-web, one
per gunicorn), else a private temporary folder made here. Either way it is emptied when gunicorn starts,
so an earlier run's counts (and files) do not carry over, and a worker's live gauges are dropped when it
exits.
"""

import os
import shutil
import tempfile
from pathlib import Path

_made_here = False
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Set in the master, before any worker starts and imports the application: workers inherit it.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="stemma-prometheus-web-")
    _made_here = True


def on_starting(server) -> None:
    from config.metrics import multiprocess_dir_reset

    multiprocess_dir_reset(Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]))


def child_exit(server, worker) -> None:
    from config.metrics import process_dead

    process_dead(worker.pid)


def on_exit(server) -> None:
    if _made_here:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
