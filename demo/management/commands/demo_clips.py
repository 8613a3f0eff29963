"""Generate ~13 demo clips derived from a label's catalog (excerpts, tempo/pitch/speed edits, a
mashup, a mix under unrelated music, a sequence, an unrelated piece, an unrelated piece falsely declared as reusing a recording), submit them as clips of a demo
partner and attribute them. Re-running re-uses the same clips (same bytes, same external ids)."""

import hashlib
import io
import json

import numpy as np
import soundfile
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand, CommandError

from catalog.models import Label, Partner, Recording, RecordingStatus
from config.storage import local_copy
from demo import transforms as T
from demo.synth import synthesize
from fingerprinting.audio import decode
from fingerprinting.selectors import attribution_current
from fingerprinting.services import clip_attribute, clip_submit

SR = 22050
UNRELATED_SEED = 9_000_001


def _cut(x: np.ndarray, start: float, seconds: float) -> np.ndarray:
    a = int(min(max(0.0, start), max(0.0, len(x) / SR - seconds)) * SR)
    return x[a : a + int(seconds * SR)]


class Command(BaseCommand):
    help = "Create a demo partner if missing and attribute ~12 clips derived from the label's catalog."

    def add_arguments(self, parser):
        parser.add_argument("--label", required=True)
        parser.add_argument("--partner", required=True)

    def handle(self, *args, label, partner, **options):
        label_obj = Label.objects.filter(slug=label).first()
        if label_obj is None:
            raise CommandError(f"no label with slug {label!r}")
        partner_obj, _created = Partner.objects.get_or_create(
            slug=partner, defaults={"name": partner.replace("-", " ").title()}
        )
        recordings = list(
            Recording.objects.filter(label=label_obj, status=RecordingStatus.INDEXED)
            .exclude(audio="")
            .order_by("pk")[:4]
        )
        if len(recordings) < 2:
            raise CommandError("the label needs at least 2 indexed recordings; run index_catalog first")
        audio = [_decode_stored(r.audio) for r in recordings]
        a, b = audio[0], audio[1]
        c = audio[2 % len(audio)]
        d = audio[3 % len(audio)]
        ra, rb, rc, rd = (
            recordings[0],
            recordings[1],
            recordings[2 % len(recordings)],
            recordings[3 % len(recordings)],
        )
        unrelated = synthesize(UNRELATED_SEED, 30.0, sr=SR)
        recipes = [
            ("excerpt-10s", _cut(a, 12.0, 10.0), [ra]),
            ("excerpt-5s", _cut(b, 20.0, 5.0), [rb]),
            ("excerpt-30s", _cut(c, 5.0, 30.0), [rc]),
            ("tempo-plus-5", T.time_stretch(_cut(a, 30.0, 20.0), 1.05), [ra]),
            ("tempo-minus-10", T.time_stretch(_cut(b, 5.0, 20.0), 0.9), [rb]),
            ("pitch-plus-1", T.pitch_shift(_cut(c, 10.0, 20.0), SR, 1), [rc]),
            ("pitch-minus-2", T.pitch_shift(_cut(d, 10.0, 20.0), SR, -2), [rd]),
            ("speed-plus-3", T.speed_change(_cut(a, 0.0, 20.0), SR, 1.03), [ra]),
            ("mashup-0db", T.mix(_cut(a, 40.0, 20.0), _cut(b, 40.0, 20.0), 0.0), [ra, rb]),
            ("mixed-under", T.mix(unrelated[: 20 * SR], _cut(d, 20.0, 20.0), -6.0), [rd]),
            ("sequence", np.concatenate([_cut(c, 20.0, 10.0), _cut(d, 30.0, 10.0)]), [rc, rd]),
            ("unrelated", unrelated[: 20 * SR], []),
        ]
        # A partner's claim the audio does not bear out: an unrelated piece declared as drawing on a
        # catalog recording. The engine finds no reused audio and sends it to review ("declared reference
        # not supported"), so the demo's review queue and held money show a real case, not a set flag.
        claims = {"declared-unsupported": [ra]}
        recipes.append(("declared-unsupported", unrelated[8 * SR : 22 * SR], []))
        for name, samples, sources in recipes:
            buffer = io.BytesIO()
            soundfile.write(buffer, np.clip(samples, -1, 1), SR, format="WAV", subtype="PCM_16")
            data = buffer.getvalue()
            external_id = f"demo-{name}-{hashlib.sha256(data).hexdigest()[:12]}"
            clip = clip_submit(
                label=label_obj,
                partner=partner_obj,
                audio=ContentFile(data, name=f"{name}.wav"),
                external_id=external_id,
                title=f"Demo: {name}",
                model_name="stemma-demo",
                model_version="1",
                declared_references=[r.isrc for r in (claims.get(name) or sources)[:1]],
            )
            clip_attribute(clip=clip)  # a no-op when a worker (or eager Celery) already did it
            clip.refresh_from_db()
            attribution = attribution_current(clip=clip)
            self.stdout.write(
                json.dumps(
                    {
                        "clip": clip.pk,
                        "recipe": name,
                        "expected": [r.isrc for r in sources],
                        "status": clip.status,
                        "shares": [
                            {"isrc": s.recording.isrc, "share": str(s.share), "lane": s.lane}
                            for s in (attribution.shares.all() if attribution else [])
                        ],
                        "unattributed": str(attribution.unattributed) if attribution else None,
                        "review_state": attribution.review_state if attribution else None,
                    }
                )
            )


def _decode_stored(file) -> np.ndarray:
    with local_copy(file.storage, file.name) as path:
        return decode(path, sr=SR)
