import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from catalog.models import Label, Recording, RecordingStatus
from fingerprinting.services import catalog_index_update


class Command(BaseCommand):
    help = "Fingerprint, embed and index every pending recording of a label (safe to re-run)."

    def add_arguments(self, parser):
        parser.add_argument("--label", required=True, help="label slug")
        parser.add_argument("--rebuild", action="store_true", help="refit and rewrite the whole index")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, label, rebuild, no_progress, **options):
        label_obj = Label.objects.filter(slug=label).first()
        if label_obj is None:
            raise CommandError(f"no label with slug {label!r}")
        pending = Recording.objects.filter(label=label_obj, status=RecordingStatus.PENDING).count()
        bar = tqdm(total=pending, unit="rec", disable=no_progress or pending == 0, file=self.stderr._out)
        version = catalog_index_update(label=label_obj, rebuild=rebuild, progress=lambda _r: bar.update(1))
        bar.close()
        counts = {
            status: Recording.objects.filter(label=label_obj, status=status).count()
            for status in (RecordingStatus.INDEXED, RecordingStatus.PENDING, RecordingStatus.FAILED)
        }
        self.stdout.write(
            json.dumps(
                {
                    "label": label,
                    "index_version": version.version if version else None,
                    "changed": version is not None,
                    "recordings": counts,
                    "segments": version.n_segments if version else None,
                    "calibration_queries": version.calibration.get("queries") if version else None,
                    "related_pairs": len(version.calibration.get("related", [])) if version else None,
                    "near_duplicate_groups": len(version.near_duplicates) if version else None,
                }
            )
        )
