"""Usage ingestion: the validating batch service and the PostgreSQL COPY bulk path."""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from catalog.models import Partner
from fingerprinting.models import Clip
from ledger.money import MINOR_UNITS, is_known_currency
from royalties.models import REVENUE_PLACES, UsageLine, UsageLineType
from royalties.periods import month_of, periods_lock_for_ingest

EARLIEST_USAGE_DATE = date(2000, 1, 1)
MAX_ABS_REVENUE = Decimal(10) ** 17
MAX_USAGE_COUNT = 2**63 - 1  # bigint
TERRITORY = re.compile(r"^[A-Z]{2}$")
CHUNK = 5000

# Stable reason codes, part of the API (partners see them per line).
R_LINE_ID = "partner_line_id_invalid"
R_CLIP = "clip_unknown"
R_REVENUE = "revenue_invalid"
R_PRECISION = "revenue_precision"
R_CURRENCY = "currency_unknown"
R_COUNT = "usage_count_invalid"
R_NEGATIVE = "negative_revenue_not_adjustment"
R_TYPE = "line_type_unknown"
R_DATE = "date_out_of_range"
R_TERRITORY = "territory_invalid"
R_PERIOD = "period_closed"
R_REUSED = "line_id_reused"  # a replayed line id with different content


@dataclass(frozen=True)
class UsageLineInput:
    partner_line_id: str
    usage_date: date
    usage_count: int
    net_revenue: Decimal
    currency: str
    clip_id: int | None = None
    clip_external_id: str | None = None  # the partner's own clip id, instead of ours
    territory: str = ""
    line_type: str = UsageLineType.USAGE


@dataclass(frozen=True)
class LineOutcome:
    index: int
    partner_line_id: str
    status: str  # "accepted" | "duplicate" | "rejected"
    reasons: tuple[str, ...] = ()


@dataclass
class UsageIngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    lines: list[LineOutcome] = field(default_factory=list)  # one per input line (COPY: rejections only)

    @property
    def rejections(self) -> list[LineOutcome]:
        return [line for line in self.lines if line.status == "rejected"]


def _shape_problems(line: UsageLineInput, today: date) -> list[str]:
    reasons = []
    if (
        not isinstance(line.partner_line_id, str)
        or not line.partner_line_id.strip()
        or len(line.partner_line_id) > 100
    ):
        reasons.append(R_LINE_ID)
    revenue = line.net_revenue
    if not isinstance(revenue, Decimal) or not revenue.is_finite() or abs(revenue) >= MAX_ABS_REVENUE:
        reasons.append(R_REVENUE)
    elif revenue.as_tuple().exponent < -REVENUE_PLACES:
        reasons.append(R_PRECISION)
    if not is_known_currency(line.currency):
        reasons.append(R_CURRENCY)
    count = line.usage_count
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_USAGE_COUNT:
        reasons.append(R_COUNT)
    if line.line_type not in UsageLineType.values:
        reasons.append(R_TYPE)
    elif R_REVENUE not in reasons and revenue < 0 and line.line_type != UsageLineType.ADJUSTMENT:
        reasons.append(R_NEGATIVE)
    if (
        not isinstance(line.usage_date, date)
        or isinstance(line.usage_date, datetime)
        or not (EARLIEST_USAGE_DATE <= line.usage_date <= today)
    ):
        reasons.append(R_DATE)
    if line.territory and not TERRITORY.match(line.territory):
        reasons.append(R_TERRITORY)
    if line.clip_id is None and not line.clip_external_id:
        reasons.append(R_CLIP)
    return reasons


def _chunks(items: list, size: int = CHUNK):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _same_content(line: UsageLineInput, clip_id: int, row: dict) -> bool:
    return (
        row["clip_id"] == clip_id
        and row["usage_date"] == line.usage_date
        and row["usage_count"] == line.usage_count
        and row["net_revenue"] == line.net_revenue
        and row["currency"] == line.currency
        and row["line_type"] == line.line_type
        and row["territory"] == (line.territory or "")
    )


@transaction.atomic
def usage_ingest(
    *, partner: Partner, lines: list[UsageLineInput], clip_labels: Mapping[int, int] | None = None
) -> UsageIngestResult:
    """Validate and store a partner's usage lines. Every line gets an outcome; rejected lines write nothing.

    A line id the partner already reported (or repeats within the batch) with the same content is a
    duplicate and is counted once, whatever its period's state now: a partner re-sending accepted lines
    after a close must not be told to report them again as adjustments. With different content it is
    rejected (`line_id_reused`). `clip_labels` ({clip id: label id}), from a caller that has already
    resolved the lines' clips to this partner's, saves resolving them twice; lines then name clips by id.
    """
    today = timezone.now().date()
    reasons: dict[int, list[str]] = {i: _shape_problems(line, today) for i, line in enumerate(lines)}

    ids = sorted({line.clip_id for line in lines if isinstance(line.clip_id, int)})
    externals = sorted(
        {line.clip_external_id for line in lines if line.clip_id is None and line.clip_external_id}
    )
    clip_label: dict[int, int] = {}
    external_to_id: dict[str, int] = {}
    if clip_labels is not None:
        clip_label.update((clip_id, clip_labels[clip_id]) for clip_id in ids if clip_id in clip_labels)
        externals = []
    else:
        for chunk in _chunks(ids):
            clip_label.update(
                Clip.objects.filter(partner=partner, id__in=chunk).values_list("id", "label_id")
            )
    for chunk in _chunks(externals):
        for clip_id, external_id, label_id in Clip.objects.filter(
            partner=partner, external_id__in=chunk
        ).values_list("id", "external_id", "label_id"):
            external_to_id[external_id] = clip_id
            clip_label[clip_id] = label_id

    resolved: dict[int, int] = {}
    for i, line in enumerate(lines):
        clip_id = (
            line.clip_id if line.clip_id is not None else external_to_id.get(line.clip_external_id or "")
        )
        if clip_id in clip_label:
            resolved[i] = clip_id
        elif R_CLIP not in reasons[i]:
            reasons[i].append(R_CLIP)

    # Line ids already stored are looked up before the period check: a replay is a duplicate even
    # when its month has closed since.
    existing: dict[str, dict] = {}
    well_formed = [i for i in range(len(lines)) if not reasons[i]]
    for chunk in _chunks(sorted({lines[i].partner_line_id for i in well_formed})):
        for row in UsageLine.objects.filter(partner=partner, partner_line_id__in=chunk).values(
            "partner_line_id",
            "clip_id",
            "usage_date",
            "usage_count",
            "net_revenue",
            "currency",
            "line_type",
            "territory",
        ):
            existing[row["partner_line_id"]] = row

    months = {
        (clip_label[resolved[i]], month_of(lines[i].usage_date))
        for i in well_formed
        if lines[i].partner_line_id not in existing
    }
    statuses = periods_lock_for_ingest(months)
    for i in well_formed:
        line = lines[i]
        if line.partner_line_id in existing:
            continue
        if statuses.get((clip_label[resolved[i]], month_of(line.usage_date))) != "open":
            reasons[i].append(R_PERIOD)

    valid = [i for i in range(len(lines)) if not reasons[i]]
    status: dict[int, str] = {}
    first_in_batch: dict[str, int] = {}
    to_insert: list[UsageLine] = []
    for i in valid:
        line = lines[i]
        key = line.partner_line_id
        if key in existing:
            if _same_content(line, resolved[i], existing[key]):
                status[i] = "duplicate"
            else:
                reasons[i].append(R_REUSED)
            continue
        if key in first_in_batch:
            j = first_in_batch[key]
            earlier = lines[j]
            same = resolved[i] == resolved[j] and (
                earlier.usage_date,
                earlier.usage_count,
                earlier.net_revenue,
                earlier.currency,
                earlier.line_type,
                earlier.territory or "",
            ) == (
                line.usage_date,
                line.usage_count,
                line.net_revenue,
                line.currency,
                line.line_type,
                line.territory or "",
            )
            if same:
                status[i] = "duplicate"
            else:
                reasons[i].append(R_REUSED)
            continue
        first_in_batch[key] = i
        status[i] = "accepted"
        to_insert.append(
            UsageLine(
                label_id=clip_label[resolved[i]],
                partner=partner,
                clip_id=resolved[i],
                partner_line_id=key,
                line_type=line.line_type,
                usage_date=line.usage_date,
                territory=line.territory or "",
                usage_count=line.usage_count,
                net_revenue=line.net_revenue,
                currency=line.currency,
            )
        )
    # ignore_conflicts: a concurrent ingestion of the same line ids loses nothing and duplicates nothing.
    UsageLine.objects.bulk_create(to_insert, batch_size=2000, ignore_conflicts=True)

    result = UsageIngestResult()
    for i, line in enumerate(lines):
        if reasons[i]:
            outcome = LineOutcome(i, str(line.partner_line_id), "rejected", tuple(reasons[i]))
            result.rejected += 1
        else:
            outcome = LineOutcome(i, line.partner_line_id, status[i])
            if status[i] == "accepted":
                result.accepted += 1
            else:
                result.duplicates += 1
        result.lines.append(outcome)
    return result


# --- The bulk path --------------------------------------------------------------------------------

STAGE_COLUMNS = (
    "idx",
    "partner_line_id",
    "clip_id",
    "usage_date",
    "territory",
    "usage_count",
    "net_revenue",
    "currency",
    "line_type",
)

_STAGE_SQL = """
DROP TABLE IF EXISTS royalties_usage_stage;
DROP TABLE IF EXISTS royalties_usage_checked;
CREATE TEMP TABLE royalties_usage_stage (
    idx bigint, partner_line_id text, clip_id bigint, usage_date date, territory text,
    usage_count numeric, net_revenue numeric, currency text, line_type text
) ON COMMIT DROP;
"""

# One pass computes the first reason a line is rejected (NULL = valid); CASE stops at the first match.
_CHECK_SQL = """
CREATE TEMP TABLE royalties_usage_checked ON COMMIT DROP AS
SELECT s.*, c.label_id,
    CASE
        WHEN s.partner_line_id IS NULL OR btrim(s.partner_line_id) = '' OR length(s.partner_line_id) > 100
            THEN 'partner_line_id_invalid'
        WHEN c.id IS NULL THEN 'clip_unknown'
        WHEN s.net_revenue IS NULL OR s.net_revenue IN ('NaN', 'Infinity', '-Infinity')
            OR abs(s.net_revenue) >= %(max_abs)s THEN 'revenue_invalid'
        WHEN scale(s.net_revenue) > %(places)s THEN 'revenue_precision'
        WHEN s.currency IS NULL OR NOT (s.currency = ANY(%(currencies)s)) THEN 'currency_unknown'
        WHEN s.usage_count IS NULL OR s.usage_count = 'NaN' OR s.usage_count < 0
            OR s.usage_count > %(max_count)s OR s.usage_count <> trunc(s.usage_count)
            THEN 'usage_count_invalid'
        WHEN s.line_type IS NULL OR NOT (s.line_type = ANY(%(types)s)) THEN 'line_type_unknown'
        WHEN s.net_revenue < 0 AND s.line_type <> 'adjustment' THEN 'negative_revenue_not_adjustment'
        WHEN s.usage_date IS NULL OR s.usage_date < %(earliest)s OR s.usage_date > %(today)s
            THEN 'date_out_of_range'
        WHEN coalesce(s.territory, '') <> '' AND s.territory !~ '^[A-Z]{2}$' THEN 'territory_invalid'
    END AS reason
FROM royalties_usage_stage s
LEFT JOIN fingerprinting_clip c ON c.id = s.clip_id AND c.partner_id = %(partner)s
"""

_INSERT_SQL = """
INSERT INTO royalties_usageline (label_id, partner_id, clip_id, partner_line_id, line_type, usage_date,
    territory, usage_count, net_revenue, currency, received_at)
SELECT label_id, %(partner)s, clip_id, partner_line_id, line_type, usage_date, coalesce(territory, ''),
    usage_count, net_revenue, currency, now()
FROM royalties_usage_checked WHERE reason IS NULL
ON CONFLICT (partner_id, partner_line_id) DO NOTHING
"""


def _stage_row(i: int, line) -> tuple:
    if isinstance(line, UsageLineInput):
        return (
            i,
            line.partner_line_id,
            line.clip_id,
            line.usage_date,
            line.territory,
            line.usage_count,
            line.net_revenue,
            line.currency,
            line.line_type,
        )
    return (i, *line)


@transaction.atomic
def usage_ingest_copy(
    *, partner: Partner, lines: Iterable[UsageLineInput | tuple], max_reported: int = 10_000
) -> UsageIngestResult:
    """The bulk path: COPY into a staging table, validate in SQL, INSERT ... ON CONFLICT DO NOTHING.

    `lines` are `UsageLineInput`s (by our clip id) or tuples in STAGE_COLUMNS order without `idx`.
    Same rules as `usage_ingest`, except that a replayed line id is always a duplicate (its content is
    not compared) and only the first `max_reported` rejections are listed. Falls back to `usage_ingest`
    on databases other than PostgreSQL.
    """
    if connection.vendor != "postgresql":
        inputs = [
            line
            if isinstance(line, UsageLineInput)
            else UsageLineInput(**dict(zip(STAGE_COLUMNS[1:], line, strict=True)))
            for line in lines
        ]
        return usage_ingest(partner=partner, lines=inputs)

    with connection.cursor() as cursor:
        cursor.execute(_STAGE_SQL)
        with cursor.cursor.copy(
            f"COPY royalties_usage_stage ({', '.join(STAGE_COLUMNS)}) FROM STDIN"
        ) as copy:
            total = 0
            for i, line in enumerate(lines):
                copy.write_row(_stage_row(i, line))
                total += 1
        params = {
            "partner": partner.pk,
            "max_abs": MAX_ABS_REVENUE,
            "max_count": MAX_USAGE_COUNT,
            "places": REVENUE_PLACES,
            "currencies": sorted(MINOR_UNITS),
            "types": list(UsageLineType.values),
            "earliest": EARLIEST_USAGE_DATE,
            "today": timezone.now().date(),
        }
        cursor.execute(_CHECK_SQL, params)
        cursor.execute(
            "SELECT DISTINCT label_id, date_trunc('month', usage_date)::date FROM royalties_usage_checked "
            "WHERE reason IS NULL"
        )
        pairs = {(label_id, month) for label_id, month in cursor.fetchall()}
        statuses = periods_lock_for_ingest(pairs)
        closed = [(label_id, month) for (label_id, month), status in statuses.items() if status != "open"]
        if closed:
            # A line id already stored stays a duplicate after its month closed (usage_ingest says why).
            cursor.execute(
                "UPDATE royalties_usage_checked SET reason = 'period_closed' WHERE reason IS NULL "
                "AND (label_id, date_trunc('month', usage_date)::date) IN "
                "(SELECT * FROM unnest(%s::bigint[], %s::date[])) "
                "AND NOT EXISTS (SELECT 1 FROM royalties_usageline u WHERE u.partner_id = %s "
                "AND u.partner_line_id = royalties_usage_checked.partner_line_id)",
                [[c[0] for c in closed], [c[1] for c in closed], partner.pk],
            )
        # ON CONFLICT DO NOTHING also skips a line id repeated within the batch (after its first row).
        cursor.execute(_INSERT_SQL, params)
        accepted = cursor.rowcount
        cursor.execute(
            "SELECT count(*) FILTER (WHERE reason IS NULL), count(*) FILTER (WHERE reason IS NOT NULL) "
            "FROM royalties_usage_checked"
        )
        valid, rejected = cursor.fetchone()
        cursor.execute(
            "SELECT idx, partner_line_id, reason FROM royalties_usage_checked "
            "WHERE reason IS NOT NULL ORDER BY idx LIMIT %s",
            [max_reported],
        )
        rejected_rows = cursor.fetchall()
        cursor.execute("DROP TABLE royalties_usage_stage; DROP TABLE royalties_usage_checked")
    result = UsageIngestResult(accepted=accepted, duplicates=valid - accepted, rejected=rejected)
    result.lines = [
        LineOutcome(int(i), str(line_id or ""), "rejected", (reason,)) for i, line_id, reason in rejected_rows
    ]
    assert result.accepted + result.duplicates + result.rejected == total
    return result
