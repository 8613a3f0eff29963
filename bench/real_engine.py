"""The benches' only contact with the production code on the real corpus (bench/real_corpus.py): a scratch
SQLite database and MEDIA_ROOT, the catalog imported and indexed through the production services, and
clips attributed the way `manage.py attribute_files` does. When the engine's API changes (issue 11 moves
it to fingerprinting/engine/ and renames the acceptance rule), only this file needs to follow.
"""

import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def scratch_django(prefix: str, folder: Path | None = None) -> Path:
    """Point Django at a SQLite database and MEDIA_ROOT in a fresh temporary folder (or in `folder`,
    kept as it is when it holds them already), set it up and migrate. Returns the folder (the caller
    removes a temporary one)."""
    scratch = Path(tempfile.mkdtemp(prefix=prefix)) if folder is None else folder.resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ.setdefault("DEBUG", "1")
    os.environ["DATABASE_URL"] = f"sqlite:///{scratch / 'bench.sqlite3'}"
    os.environ["MEDIA_ROOT"] = str(scratch / "media")
    os.environ["INDEX_CACHE_DIR"] = str(scratch / "index-cache")  # beside it, not in var/
    os.environ.pop("REDIS_URL", None)  # eager Celery: nothing leaves this process
    import django

    django.setup()
    import faiss
    from django.core.management import call_command

    faiss.omp_set_num_threads(1)
    call_command("migrate", verbosity=0)
    return scratch


def label_create(slug: str):
    from catalog.models import Label

    return Label.objects.create(name=slug, slug=slug)


def catalog_load(*, label, csv_path: Path, audio_dir: Path) -> dict:
    """Import the catalog CSV with its audio (catalog.importer.catalog_import, as `manage.py
    catalog_import --audio-dir` does) and bring the label's index up to date. With eager Celery the
    import's audio_stored event already indexes on commit; catalog_index_update then finds nothing
    pending, or picks up what that handler left."""
    from catalog.importer import catalog_import
    from fingerprinting.services import catalog_index_update

    started, c0, k0 = time.perf_counter(), time.process_time(), children_cpu()
    report = catalog_import(label=label, csv_text=csv_path.read_text(), audio_dir=audio_dir)
    if report.errors:
        raise SystemExit(f"catalog import of {csv_path} failed: {report.errors[:5]}")
    catalog_index_update(label=label)
    cpu = time.process_time() - c0 + children_cpu() - k0
    from catalog.models import Recording

    statuses = dict.fromkeys(["indexed", "failed", "pending", "processing"], 0)
    for status in Recording.objects.filter(label=label).values_list("status", flat=True):
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "recordings": report.recordings_created + report.recordings_updated + report.recordings_unchanged,
        "audio_stored": report.audio_stored,
        "statuses": statuses,
        "seconds": time.perf_counter() - started,
        # Import, decode, analysis, index writing and calibration, this process and its children (ffmpeg).
        "cpu_seconds": cpu,
        "audio_seconds": float(
            sum(
                d or 0.0
                for d in Recording.objects.filter(label=label).values_list("duration_seconds", flat=True)
            )
        ),
    }


def engine_version(index=None) -> str:
    from fingerprinting import engine

    version = getattr(engine, "ENGINE_VERSION", "unknown")
    if index is not None:
        version += f" (index {index.meta.get('engine_version', '?')}, {index.n_recordings} recordings)"
    return version


def review_state(result) -> tuple[str, list]:
    """The production acceptance decision and its reasons. Engine 1.2.0 decides in
    fingerprinting.services._review_state (no reasons); engine 2.0 puts it on the result
    (`result.review.state`, `.reasons`). The one place to follow the engine here."""
    review = getattr(result, "review", None)
    if review is not None:
        return str(review.state), list(review.reasons)
    from fingerprinting.services import _review_state

    return str(_review_state(result)), []


@dataclass
class Outcome:
    """One clip's attribution, flattened for the benches and their JSON."""

    shares: list[dict] = field(default_factory=list)  # isrc, share, lane, evidence; ranked as returned
    remainder: float = 1.0
    confidence: float = 0.0
    evidence: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    review_state: str = ""
    review_reasons: list = field(default_factory=list)
    cpu_seconds: float = 0.0  # this process plus its children (ffmpeg decoding), decode + engine
    wall_seconds: float = 0.0
    duration: float = 0.0
    error: str = ""  # the rejection (AudioRejected code and message), if the clip was refused


def share_right(share) -> str | None:
    """The right a share implicates, as a plain string ("recording" / "composition"), or None when the
    engine does not report one (engine 2.0 and before). An enum is read by its value."""
    right = getattr(share, "right", None)
    right = getattr(right, "value", right)
    return None if right is None else str(right)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fpcalc_cpu(path: Path) -> float:
    """The CPU seconds `fpcalc -length 0` (Chromaprint over the whole file) takes on `path`: the speed
    benches' reference for how fast the machine is that hour (it has varied 2x between days here)."""
    k0 = children_cpu()
    done = subprocess.run(["fpcalc", "-length", "0", str(path)], capture_output=True)
    if done.returncode not in (0, 3):  # 3: a decoding error at the very end, fingerprint still printed
        raise RuntimeError(f"fpcalc {path}: {done.stderr.decode(errors='replace')[-300:]}")
    return children_cpu() - k0


def attribute(*, label, path: Path) -> Outcome:
    """Decode and attribute one file through fingerprinting.services.audio_attribute, timed."""
    from fingerprinting.errors import AudioRejected
    from fingerprinting.services import audio_attribute

    c0, k0, w0 = time.process_time(), children_cpu(), time.perf_counter()
    try:
        result, index = audio_attribute(label=label, path=path)
    except AudioRejected as exc:
        return Outcome(
            error=f"{getattr(exc, 'code', 'rejected')}: {exc}",
            cpu_seconds=time.process_time() - c0 + children_cpu() - k0,
            wall_seconds=time.perf_counter() - w0,
        )
    cpu = time.process_time() - c0 + children_cpu() - k0
    wall = time.perf_counter() - w0
    recordings = index.recordings
    state, reasons = review_state(result)
    return Outcome(
        shares=[
            {
                "isrc": recordings[s.position]["isrc"],
                "share": float(s.share),
                "lane": s.lane,
                # issue 12: "recording" (the audio itself) or "composition" (the work re-performed); None
                # from an engine that does not say
                "right": share_right(s),
                "false_alarm": getattr(s, "false_alarm", None),  # engine 2.0: the share's strongest run
                "evidence": s.evidence,
            }
            for s in result.shares
        ],
        remainder=float(result.remainder),
        confidence=float(result.confidence),
        evidence=result.evidence,
        timings=dict(result.timings),
        review_state=state,
        review_reasons=reasons,
        cpu_seconds=cpu,
        wall_seconds=wall,
        duration=float(result.duration),
    )


def current_index(label):
    from fingerprinting import index as catalog_index

    return catalog_index.open_current(label.pk)
