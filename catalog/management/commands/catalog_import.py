from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from catalog.importer import CsvHeaderError, catalog_import, rejects_csv
from catalog.models import Label


class Command(BaseCommand):
    help = "Import recordings, parties, works and splits from a CSV file (columns: see README)."

    def add_arguments(self, parser):
        parser.add_argument("csv_file", type=Path)
        parser.add_argument("--label", required=True, help="slug of the label to import into")
        parser.add_argument(
            "--audio-dir", type=Path, help="folder holding audio files (audio_file or <ISRC>.wav)"
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="import the good recordings, write the bad lines to a rejects CSV",
        )
        parser.add_argument(
            "--rejects", type=Path, help="where to write rejected lines (default: <csv>.rejects.csv)"
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(
        self, *args, csv_file: Path, label: str, audio_dir: Path | None, skip_invalid: bool, **options
    ):
        try:
            target = Label.objects.get(slug=label)
        except Label.DoesNotExist:
            raise CommandError(f"no label with slug {label!r}")
        if audio_dir is not None and not audio_dir.is_dir():
            raise CommandError(f"--audio-dir {audio_dir} is not a folder")
        try:
            text = csv_file.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise CommandError(f"{csv_file} does not exist")
        except UnicodeDecodeError as exc:
            raise CommandError(f"{csv_file} is not UTF-8 text: {exc}")
        total = max(text.count("\n") - 1, 0)
        with tqdm(total=total, unit="line", disable=options["no_progress"], desc="validating") as bar:
            try:
                report = catalog_import(
                    label=target,
                    csv_text=text,
                    audio_dir=audio_dir,
                    skip_invalid=skip_invalid,
                    progress=bar.update,
                )
            except CsvHeaderError as exc:
                raise CommandError(f"{csv_file}: {exc}")

        for error in report.errors:
            self.stderr.write(f"{csv_file}:{error.line}: {error.isrc}: {error.reason}")
        if report.errors and not skip_invalid:
            raise CommandError(
                f"{len(report.errors)} problem(s) in {len({e.isrc for e in report.errors})} recording(s); "
                "nothing was imported (use --skip-invalid to import the good recordings)"
            )
        if report.rejected_rows:
            rejects_path = options["rejects"] or csv_file.with_suffix(".rejects.csv")
            rejects_path.write_text(rejects_csv(report), encoding="utf-8")
            self.stderr.write(f"{len(report.rejected_rows)} rejected line(s) written to {rejects_path}")
        self.stdout.write(
            f"{report.rows_read} lines: recordings {report.recordings_created} created, "
            f"{report.recordings_updated} updated, {report.recordings_unchanged} unchanged; "
            f"parties {report.parties_created} created; splits {report.splits_created} created, "
            f"{report.splits_unchanged} unchanged; audio files stored {report.audio_stored}"
        )
