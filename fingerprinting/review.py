"""The review queue: which clips wait for a person, why, how much money waits on each, and since when.

Why: the engine's reasons written on the attribution (fingerprinting.engine.acceptance: style_only, composition_only,
weak_evidence, unsupported_reference, low_confidence), a dispute, and shares on recordings the index holds
as the same audio (a near-duplicate group, where the split between them is a person's call).

Money: the held amounts live in royalties, which fingerprinting must not import. Royalties registers a
`MoneyAnnotator` here (its AppConfig.ready()) that annotates the queue's queryset with `money_held` and
`money_currency`; without one the queue shows no money and sorts by age.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import DecimalField, QuerySet, Value
from django.utils import timezone

from fingerprinting.models import Attribution, Clip, ReviewState
from fingerprinting.services import attribution_revise

REVIEW_STATES = (ReviewState.NEEDS_REVIEW, ReviewState.DISPUTED)
# Bulk confirm acts on what a person selected on one page of the queue; more at once is a mistake.
BULK_CONFIRM_MAX = 100

MoneyAnnotator = Callable[[QuerySet[Clip]], QuerySet[Clip]]
_money_annotators: list[MoneyAnnotator] = []


def register_money_annotator(annotator: MoneyAnnotator) -> None:
    if annotator not in _money_annotators:
        _money_annotators.append(annotator)


def _with_money(clips: QuerySet[Clip]) -> QuerySet[Clip]:
    if not _money_annotators:
        return clips.annotate(
            money_held=Value(Decimal(0), output_field=DecimalField()), money_currency=Value("")
        )
    for annotate in _money_annotators:
        clips = annotate(clips)
    return clips


SORTS = {
    # Most money first; among equal amounts the oldest first.
    "money": ("-money_held", "current_attribution__created_at", "pk"),
    "age": ("current_attribution__created_at", "pk"),  # the longest waiting first
}
DEFAULT_SORT = "money"


def review_queue(*, clips: QuerySet[Clip], sort: str = DEFAULT_SORT) -> QuerySet[Clip]:
    """The clips (already scoped to a label) whose current attribution waits for a person, sorted."""
    waiting = clips.filter(current_attribution__review_state__in=REVIEW_STATES)
    return _with_money(waiting).order_by(*SORTS.get(sort, SORTS[DEFAULT_SORT]))


@dataclass(frozen=True)
class Reason:
    code: str  # the engine's code, or "disputed" / "near_duplicate"
    message: str


def review_reasons(attribution: Attribution) -> list[Reason]:
    """Why the attribution waits, in words; uses the attribution's prefetched shares."""
    reasons = []
    if attribution.review_state == ReviewState.DISPUTED:
        reasons.append(
            Reason("disputed", f"disputed: {attribution.reason}" if attribution.reason else "disputed")
        )
    for r in attribution.review_reasons or []:
        if isinstance(r, dict):
            reasons.append(Reason(str(r.get("code", "")), str(r.get("message") or r.get("code") or "")))
    for share in attribution.shares.all():
        evidence = share.evidence or {}
        evidence = evidence if "near_duplicates" in evidence else (evidence.get("previous") or {})
        if evidence.get("near_duplicates"):
            same = ", ".join(str(isrc) for isrc in evidence["near_duplicates"])
            reasons.append(
                Reason(
                    "near_duplicate",
                    f"{share.recording.isrc} ({share.share:.1%}) is the same audio as {same}: "
                    "which of them the clip drew on is a person's call",
                )
            )
    if not reasons:
        reasons.append(Reason("needs_review", "sent to review without a recorded reason"))
    return reasons


def waiting_since(attribution: Attribution, now: datetime | None = None) -> int:
    """Whole days the version has waited (0 on the day it was made)."""
    return ((now or timezone.now()) - attribution.created_at).days


@transaction.atomic
def attributions_confirm(*, clips: list[Clip], created_by, reason: str) -> list[Attribution]:
    """Confirm each clip's current attribution as it stands (a new version each), all or nothing. Only
    attributions waiting for review are confirmed; a disputed one needs its own decision on the clip page."""
    confirmed = []
    for clip in clips:
        current = clip.current_attribution
        if current is None or current.review_state != ReviewState.NEEDS_REVIEW:
            continue
        shares = {s.recording: s.share for s in current.shares.select_related("recording")}
        confirmed.append(
            attribution_revise(
                clip=clip,
                shares=shares,
                review_state=ReviewState.CONFIRMED,
                created_by=created_by,
                reason=reason,
            )
        )
    return confirmed
