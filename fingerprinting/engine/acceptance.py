"""The review decision: which attributions may be paid without a person looking.

Money moves on an auto-accepted attribution, so it is accepted only when every share rests on reused
audio whose evidence unrelated music would almost never produce: the share's strongest run has a
calibrated false-alarm chance at most `accept_false_alarm` (engine.calibration). Everything else
goes to review with its reasons written on the attribution, one per problem, naming the share and the
run: a style-only share (a resemblance, not reused audio), a composition-only share (a re-performed
work, unless `composition.auto_accept`), a share whose evidence is borderline, a
declared reference the audio does not support, a low overall confidence.
"""

from dataclasses import dataclass, field

from fingerprinting.engine.config import EngineConfig

AUTO_ACCEPTED = "auto_accepted"
NEEDS_REVIEW = "needs_review"


@dataclass(frozen=True)
class Review:
    state: str
    reasons: list[dict] = field(default_factory=list)


def decide(*, shares, confidence: float, declared: list[dict], index, config: EngineConfig) -> Review:
    bound = config.acceptance.max_false_alarm
    reasons = []
    for share in shares:
        isrc = index.recordings[share.position]["isrc"]
        if share.lane == "style":
            reasons.append(
                {
                    "code": "style_only",
                    "isrc": isrc,
                    "message": f"{isrc} ({share.share:.1%}) rests on a resemblance only, no reused audio",
                }
            )
            continue
        if share.lane == "composition" and not config.composition.auto_accept:
            reasons.append(
                {
                    "code": "composition_only",
                    "isrc": isrc,
                    "message": (
                        f"{isrc} ({share.share:.1%}) is re-performed (same notes, other sounds): a person "
                        "confirms a composition share"
                    ),
                }
            )
            continue
        if share.false_alarm is not None and share.false_alarm > bound:
            best = min(share.evidence["verbatim"]["runs"], key=lambda r: r["false_alarm"])
            reasons.append(
                {
                    "code": "weak_evidence",
                    "isrc": isrc,
                    "run": best,
                    "message": (
                        f"{isrc} ({share.share:.1%}): its strongest run ({best['method']}, clip "
                        f"{best['clip_start']:.1f}-{best['clip_end']:.1f} s) has a false-alarm chance of "
                        f"{share.false_alarm:.2g}, above {bound:g}"
                    ),
                }
            )
    for ref in declared:
        if ref.get("in_catalog") and not ref.get("supported"):
            reasons.append(
                {
                    "code": "unsupported_reference",
                    "isrc": ref["isrc"],
                    "message": f"declared reference {ref['isrc']} is not supported by the audio",
                }
            )
    if confidence < config.acceptance.min_confidence:
        reasons.append(
            {
                "code": "low_confidence",
                "message": f"confidence {confidence:.2f} is below {config.acceptance.min_confidence:g}",
            }
        )
    return Review(NEEDS_REVIEW if reasons else AUTO_ACCEPTED, reasons)
