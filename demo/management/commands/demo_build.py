from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from tqdm import tqdm

from demo.catalog import DEMO_PASSWORD, DEMO_USERNAME, demo_catalog_build


class Command(BaseCommand):
    help = "Build the demo label: synthesized recordings with parties, splits and works, and the demo login."

    def add_arguments(self, parser):
        parser.add_argument("--recordings", type=int, default=24)
        parser.add_argument("--dir", type=Path, default=None, help="where to write the demo audio and CSV")

    def handle(self, *args, recordings: int, dir: Path | None, **options):
        directory = dir or settings.VAR_DIR / "demo"
        with tqdm(total=recordings, unit="rec", desc="synthesizing") as bar:
            demo = demo_catalog_build(directory=directory, count=recordings, progress=bar.update)
        done = demo.job.summary
        self.stdout.write(
            f"Label {demo.label.slug!r}: {done['recordings_created']} recordings created, "
            f"{done['recordings_unchanged']} unchanged, {done['splits_created']} split versions created, "
            f"{done['audio_stored']} audio files stored (CSV and audio in {directory}; import #{demo.job.pk})"
        )
        self.stdout.write(f"Sign in as {DEMO_USERNAME} / {DEMO_PASSWORD}")
