"""The demo catalog: a label of synthesized music with parties, splits and works, and a demo login."""

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.contrib.auth import get_user_model
from django.db import transaction
from stdnum import isrc as stdnum_isrc

from catalog.identifiers import iswc_check_digit
from catalog.importer import COLUMNS
from catalog.models import ImportJob, Label, Membership, Role
from catalog.services import import_job_run_now
from demo.synth import SAMPLE_RATE, piece_spec, synthesize, write_wav

DEMO_LABEL_SLUG = "demo"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "stemma-demo"  # noqa: S105 - a documented demo login on 127.0.0.1 only

FIRST = ["Mara", "Jonah", "Ines", "Tomas", "Aiko", "Lena", "Ravi", "Odile", "Kwame", "Sofia", "Emil", "Noor"]
LAST = ["Vale", "Reed", "Okafor", "Lindqvist", "Moreau", "Adeyemi", "Castell", "Brandt", "Haddad", "Novak"]
WORDS = ["Harbour", "Glass", "Comet", "Orchard", "Lantern", "Velvet", "Northern", "Paper", "Ember", "Signal",
         "Tide", "Meridian", "Copper", "Quiet", "Saffron", "Winter", "Echo", "Atlas", "Willow", "Neon"]  # fmt: skip


@dataclass
class DemoCatalog:
    label: Label
    job: ImportJob  # the import, as listed on the Imports page
    audio_dir: Path
    seeds: dict[str, int]


def demo_isrc(n: int) -> str:
    return stdnum_isrc.compact(f"QZ-S7M-24-{n:05d}")


def demo_iswc(n: int) -> str:
    digits = f"{700000000 + n:09d}"
    return f"T{digits}{iswc_check_digit(digits)}"


def demo_rows(count: int, rng: np.random.Generator) -> tuple[list[dict], dict[str, int]]:
    rows, seeds = [], {}
    writers = ["Hana Ishii", "Pablo Serrat", "Greta Holm", "Idris Bello", "Clara Fenn", "Yusuf Demir"]
    for n in range(1, count + 1):
        seed = 1000 + n
        spec = piece_spec(seed)
        isrc = demo_isrc(n)
        seeds[isrc] = seed
        artist = f"{FIRST[n % len(FIRST)]} {LAST[n % len(LAST)]}"
        title = f"{WORDS[n % len(WORDS)]} {WORDS[(n * 7 + 3) % len(WORDS)]}"
        duration = float(30 + (n * 37) % 61)  # 30 to 90 s
        base = {
            "isrc": isrc, "title": title, "display_artist": artist, "duration_seconds": f"{duration:.1f}",
            "audio_file": f"{isrc}.wav", "iswc": demo_iswc(n), "work_title": title,
        }  # fmt: skip
        writer = writers[int(rng.integers(len(writers)))]
        master = [(artist, "artist", "0.6"), ("Northgate Records", "rights_holder", "0.4")]
        if spec.mode == "minor":
            master = [
                (artist, "artist", "0.5"),
                ("Northgate Records", "rights_holder", "0.3"),
                (writer, "writer", "0.2"),
            ]
        publishing = [(writer, "writer", "0.5"), ("Tidewater Publishing", "publisher", "0.5")]
        for right_type, shares in (("master", master), ("publishing", publishing)):
            for name, kind, share in shares:
                rows.append(base | {"party_name": name, "party_kind": kind, "right_type": right_type,
                                    "share": share, "effective_from": "2024-01-01"})  # fmt: skip
    return rows, seeds


def demo_catalog_build(*, directory: Path, count: int = 24, progress=None) -> DemoCatalog:
    """Build (or refresh: it is idempotent) the demo label, its catalog and the demo login."""
    audio_dir = directory / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    rows, seeds = demo_rows(count, np.random.default_rng(7))
    for isrc, seed in seeds.items():
        path = audio_dir / f"{isrc}.wav"
        duration = float(next(r["duration_seconds"] for r in rows if r["isrc"] == isrc))
        if not path.exists():
            write_wav(path, synthesize(seed, duration), SAMPLE_RATE)
        if progress:
            progress(1)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    (directory / "catalog.csv").write_text(buffer.getvalue())
    with transaction.atomic():
        label, _ = Label.objects.get_or_create(
            slug=DEMO_LABEL_SLUG, defaults={"name": "Northgate Records (demo)", "default_currency": "EUR"}
        )
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(username=DEMO_USERNAME, defaults={"is_staff": True})
        if created or not user.check_password(DEMO_PASSWORD):
            user.set_password(DEMO_PASSWORD)
            user.save()
        Membership.objects.update_or_create(user=user, label=label, defaults={"role": Role.ADMIN})
    # Through the import job, as an upload would: the Imports page and the audit log show the demo's import.
    job = import_job_run_now(
        label=label,
        created_by=user,
        csv_text=buffer.getvalue(),
        file_name="demo-catalog.csv",
        audio_dir=audio_dir,
    )
    if job.errors:
        raise RuntimeError(f"demo catalog has errors: {job.errors[:3]}")
    return DemoCatalog(label=label, job=job, audio_dir=audio_dir, seeds=seeds)
