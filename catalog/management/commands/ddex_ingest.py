"""python manage.py ddex_ingest --label SLUG PATH [--skip-invalid] [--errors FILE]

PATH is one ERN message (.xml, its audio beside it) or a batch folder, read only once its completion
marker BatchComplete_<BatchId>.xml is there. Every problem is printed with the file, MessageId, XPath and
line. By default any problem means nothing is written (exit 1); with --skip-invalid the recordings
without a problem are imported. docs/ddex.md has the mapping.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from catalog.ddex.batch import BatchInvalid, batch_messages
from catalog.ddex.ingest import ddex_import
from catalog.models import Label
from config.csv_export import csv_dicts


class Command(BaseCommand):
    help = "Import DDEX ERN 4.3 / 3.8 messages (one message or a batch folder) into a label's catalog."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="an ERN message (.xml) or a batch folder")
        parser.add_argument("--label", required=True, help="slug of the label to import into")
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="import the recordings without problems, leave out the others",
        )
        parser.add_argument("--errors", type=Path, help="write every problem to this CSV")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, path: Path, label: str, skip_invalid: bool, errors: Path | None, **options):
        try:
            target = Label.objects.get(slug=label)
        except Label.DoesNotExist:
            raise CommandError(f"no label with slug {label!r}")
        if path.is_file():
            paths, root = [path], path.parent
        elif path.is_dir():
            try:
                paths, root = batch_messages(path), path
            except BatchInvalid as exc:
                raise CommandError(str(exc))
            if not paths:
                raise CommandError(f"the batch {path} holds no message (.xml)")
        else:
            raise CommandError(f"{path} does not exist")

        with tqdm(total=len(paths), unit="msg", disable=options["no_progress"], desc="reading") as bar:
            report = ddex_import(
                label=target, paths=paths, root=root, skip_invalid=skip_invalid, progress=bar.update
            )
        for problem in report.problems:
            self.stderr.write(str(problem))
        if errors and report.problems:
            # Formula-leading cells defused (config/csv_export.py): the file is opened in spreadsheets.
            errors.write_text(
                csv_dicts(
                    (p.as_dict() for p in report.problems),
                    fieldnames=["file", "message_id", "xpath", "line", "isrc", "reason"],
                ),
                encoding="utf-8",
            )
            self.stderr.write(f"{len(report.problems)} problem(s) written to {errors}")
        if report.problems and not skip_invalid:
            raise CommandError(
                f"{len(report.problems)} problem(s) in {report.messages} message(s); nothing was imported "
                "(use --skip-invalid to import the recordings without problems)"
            )
        self.stdout.write(
            f"{report.messages} message(s): {report.applied} applied, {report.redelivered} already applied "
            f"(skipped), {report.test_messages} test message(s) (validated only); recordings "
            f"{report.recordings_created} created, {report.recordings_updated} updated, "
            f"{report.recordings_unchanged} unchanged; parties {report.parties_created} created; splits "
            f"{report.splits_created} created, {report.splits_unchanged} unchanged; audio files stored "
            f"{report.audio_stored}; {report.taken_down} taken down, {report.reinstated} available again"
        )
