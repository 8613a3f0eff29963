import json
import time
from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from catalog.models import Label, Partner
from fingerprinting.errors import AudioRejected, IndexNotReady, UndecodableAudio, UnsupportedAudio
from fingerprinting.selectors import attribution_current
from fingerprinting.services import audio_attribute, clip_attribute, clip_submit

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif", ".m4a", ".mp4", ".webm"}


def audio_files(paths: list[str]) -> list[Path]:
    out = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
            )
        else:
            out.append(path)
    return out


def result_line(path: Path, result, index) -> dict:
    recordings = index.recordings
    return {
        "file": str(path),
        "duration": round(result.duration, 3),
        "recordings": [
            {
                "id": recordings[s.position]["id"],
                "isrc": recordings[s.position]["isrc"],
                "title": recordings[s.position]["title"],
                "share": round(s.share, 6),
                "lane": s.lane,
                "false_alarm": s.false_alarm,
                "verbatim_runs": s.evidence.get("verbatim", {}).get("runs", [])[:3],
                "style": {
                    k: s.evidence["style"][k]
                    for k in ("mean_z", "alignment", "aspects")
                    if k in s.evidence["style"]
                }
                if "style" in s.evidence
                else None,
            }
            for s in result.shares
        ],
        "remainder": round(result.remainder, 6),
        "confidence": result.confidence,
        "review": {"state": result.review.state, "reasons": result.review.reasons},
        "evidence": {
            "covered_fraction": result.evidence["verbatim"]["covered_fraction"],
            "z_threshold": result.evidence["style"]["z_threshold"],
            "declared_references": result.evidence["declared_references"],
        },
        "index_version": index.version,
        "timings": result.timings,
    }


class Command(BaseCommand):
    help = "Attribute audio files against a label's current index, one JSON object per line per file."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
        parser.add_argument("--label", required=True)
        parser.add_argument("--save", action="store_true", help="store the files as clips of --partner")
        parser.add_argument("--partner", help="partner slug (with --save)")
        parser.add_argument("--declared", default="", help="comma-separated ISRCs the generation used")

    def handle(self, *args, paths, label, save, partner, declared, **options):
        label_obj = Label.objects.filter(slug=label).first()
        if label_obj is None:
            raise CommandError(f"no label with slug {label!r}")
        partner_obj = None
        if save:
            partner_obj = Partner.objects.filter(slug=partner or "").first()
            if partner_obj is None:
                raise CommandError("--save needs --partner with an existing partner slug")
        declared_refs = [d.strip().replace("-", "").upper() for d in declared.split(",") if d.strip()]
        for path in audio_files(paths):
            started = time.perf_counter()
            try:
                if save:
                    line = self._save(path, label_obj, partner_obj, declared_refs)
                else:
                    result, index = audio_attribute(
                        label=label_obj, path=path, declared_references=declared_refs
                    )
                    line = result_line(path, result, index)
            except AudioRejected as exc:
                line = {"file": str(path), "rejected": exc.code, "message": exc.message}
            except (UnsupportedAudio, UndecodableAudio) as exc:
                line = {"file": str(path), "rejected": exc.code, "message": exc.message}
            except IndexNotReady as exc:
                raise CommandError(exc.message)
            except OSError as exc:
                line = {"file": str(path), "error": str(exc)}
            line["wall_seconds"] = round(time.perf_counter() - started, 4)
            self.stdout.write(json.dumps(line, sort_keys=False))

    def _save(self, path: Path, label, partner, declared) -> dict:
        with path.open("rb") as handle:
            clip = clip_submit(
                label=label,
                partner=partner,
                audio=File(handle, name=path.name),
                external_id=f"file:{path.name}",
                title=path.stem,
                declared_references=declared,
            )
        clip_attribute(clip=clip)  # no-op if the queued task already took it
        clip.refresh_from_db()
        attribution = attribution_current(clip=clip)
        line = {"file": str(path), "clip": clip.pk, "status": clip.status}
        if clip.reject_code:
            line.update(rejected=clip.reject_code, message=clip.reject_message)
        if attribution:
            line.update(
                attribution=attribution.pk,
                version=attribution.version,
                recordings=[
                    {
                        "id": s.recording_id,
                        "isrc": s.recording.isrc,
                        "title": s.recording.title,
                        "share": str(s.share),
                        "lane": s.lane,
                    }
                    for s in attribution.shares.all()
                ],
                remainder=str(attribution.unattributed),
                review_state=attribution.review_state,
            )
        return line
