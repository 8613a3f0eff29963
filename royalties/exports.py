"""Exports: statement CSV and PDF (reportlab), partner settlement CSV, payout batch CSV for the bank."""

import io
from decimal import Decimal

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from config.csv_export import csv_rows
from ledger.money import money_quantize
from royalties.models import PartnerSettlement, PayoutBatch, Statement, StatementLine
from royalties.month import PeriodMonth, held_clip, held_clips

LINE_PLACES = Decimal("0.000001")  # exact amounts are shown to six places; totals are rounded


def line_right(line: StatementLine) -> str:
    """The right a line pays, in words: the share's right and the split that paid it
    ("recording · master", "composition · publishing", "publishing" for a pro-rata line)."""
    return " · ".join(part for part in (line.right, line.right_type) if part)


def _csv(rows: list[list]) -> str:
    return csv_rows(rows)  # formula-leading cells defused (config/csv_export.py)


def _lines(statement: Statement):
    return (
        StatementLine.objects.filter(statement=statement)
        .select_related("partner", "recording", "clip")
        .order_by("kind", "id")
    )


def _totals(statement: Statement) -> list[tuple[str, Decimal]]:
    return [(name, money_quantize(value, statement.currency)) for name, value in _raw_totals(statement)]


def _raw_totals(statement: Statement) -> list[tuple[str, Decimal]]:
    return [
        ("Opening balance", statement.opening_balance),
        ("Earnings", statement.earnings),
        ("Adjustments", statement.adjustments),
        ("Withholding tax", -statement.withholding),
        ("Advance recouped", -statement.recouped),
        ("Payouts", -statement.payouts),
        ("Closing balance", statement.closing_balance),
    ]


def statement_csv(statement: Statement) -> str:
    rows: list[list] = [
        ["statement", statement.number],
        ["label", statement.period.label.name],
        ["party", statement.party.name],
        ["period", statement.period.code],
        ["currency", statement.currency],
    ]
    rows += [[name.lower(), f"{value:f}"] for name, value in _totals(statement)]
    rows.append(["carried_forward", "yes" if statement.carried_forward else "no"])
    rows.append([])
    rows.append(
        [
            "kind", "right", "right_type", "partner", "isrc", "recording", "clip", "usage_count", "amount",
            "currency", "reference",
        ]
    )  # fmt: skip
    for line in _lines(statement):
        rows.append(
            [
                line.kind,
                line.right,
                line.right_type,
                line.partner.slug if line.partner else "",
                line.recording.isrc if line.recording else "",
                line.recording.title if line.recording else "",
                line.clip.external_id if line.clip else "",
                line.usage_count,
                f"{line.amount_exact.quantize(LINE_PLACES):f}",
                line.currency,
                line.reference,
            ]
        )
    return _csv(rows)


def statement_pdf(statement: Statement) -> bytes:
    """A statement a person can read: who, which period, the totals, then the lines."""
    buffer = io.BytesIO()
    styles = getSampleStyleSheet()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"Royalty statement {statement.number}",
        leftMargin=15 * mm,
        rightMargin=15 * mm,
    )
    label = statement.period.label
    story = [
        Paragraph(f"{label.name} — royalty statement", styles["Title"]),
        Paragraph(
            f"Statement {statement.number} · period {statement.period.code} · {statement.party.name}",
            styles["Normal"],
        ),
        Paragraph(f"Amounts in {statement.currency}", styles["Normal"]),
        Spacer(1, 6 * mm),
    ]
    totals = Table(
        [[name, f"{value:,.2f}"] for name, value in _totals(statement)],
        colWidths=[70 * mm, 40 * mm],
        hAlign="LEFT",
    )
    totals.setStyle(
        TableStyle(
            [
                ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black),
                ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
            ]
        )
    )
    story += [totals, Spacer(1, 4 * mm)]
    if statement.carried_forward:
        story.append(
            Paragraph(
                f"The balance is below the payout threshold of {statement.payout_threshold:,.2f} "
                f"{statement.currency} and is carried forward.",
                styles["Italic"],
            )
        )
    story.append(Spacer(1, 6 * mm))
    data = [["Kind", "Right", "Partner", "Recording", "Clip", "Uses", "Amount", "Ccy"]]
    for line in _lines(statement)[:5000]:
        data.append(
            [
                line.get_kind_display(),
                line_right(line),
                line.partner.name if line.partner else "",
                (line.recording.title[:30] if line.recording else "") or line.reference[:30],
                line.clip.external_id[:16] if line.clip else "",
                f"{line.usage_count:,}" if line.usage_count else "",
                f"{line.amount_exact.quantize(LINE_PLACES):,f}",
                line.currency,
            ]
        )
    table = Table(data, repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONTSIZE", (0, 0), (-1, -1), 7),
                ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                ("ALIGN", (5, 1), (6, -1), "RIGHT"),
            ]
        )
    )
    story.append(table)
    doc.build(story)
    return buffer.getvalue()


def settlement_csv(settlement: PartnerSettlement) -> str:
    rows: list[list] = [
        ["label", settlement.period.label.slug],
        ["partner", settlement.partner.slug],
        ["period", settlement.period.code],
        ["currency", settlement.currency],
        ["usage_lines", settlement.line_count],
        ["usage_count", settlement.usage_count],
        ["revenue", f"{settlement.revenue_exact.quantize(LINE_PLACES):f}"],
        ["pool_exact", f"{settlement.pool_exact.quantize(LINE_PLACES):f}"],
        ["amount_due", f"{money_quantize(settlement.amount_due, settlement.currency):f}"],
        [],
        ["deal", "revenue", "pool"],
    ]
    rows += [[d["deal"], d["revenue"], d["pool"]] for d in settlement.detail]
    return _csv(rows)


def payout_batch_csv(batch: PayoutBatch) -> str:
    rows: list[list] = [["line", "party", "name", "iban", "bic", "amount", "currency", "statement", "status"]]
    for line in batch.lines.select_related("party", "statement").order_by("id"):
        rows.append(
            [
                line.pk,
                line.party_id,
                line.party.name,
                line.iban,
                line.bic,
                f"{money_quantize(line.amount, line.currency):f}",
                line.currency,
                line.statement.number,
                line.status,
            ]
        )
    return _csv(rows)


def period_month_csv(month: PeriodMonth) -> str:
    """The month page as sections of one CSV (section, item, then figures), every held clip included."""
    period = month.period
    rows: list[list] = [["section", "item", "currency", "amount", "detail"]]
    rows.append(["period", period.code, "", "", period.label.slug])
    for r in month.revenue:
        rows.append(["revenue", f"{r.partner} / {r.deal}", r.currency, f"{r.revenue:f}", f"rate {r.rate:f}"])
        rows.append(["pool", f"{r.partner} / {r.deal}", r.currency, f"{r.pool:f}", "revenue x rate"])
    for c in month.currencies:

        def q(value: Decimal, currency: str = c.currency) -> str:
            return f"{money_quantize(value, currency):f}"

        rows += [
            ["walk", "pool", c.currency, q(c.pool), "exact, rounded for reading"],
            ["walk", "receivable", c.currency, q(c.receivable), "what the partners owe"],
            ["walk", "released", c.currency, q(c.released), "held earlier, released this month"],
            ["walk", "label_share", c.currency, q(c.label_share), "deal terms"],
            ["walk", "attributed_pool", c.currency, q(c.attributed_pool), ""],
            ["walk", "pro_rata_pool", c.currency, q(c.pro_rata_pool), ""],
            ["walk", "held", c.currency, q(c.held), f"{c.held_clips} clips"],
            ["walk", "paid_by_shares", c.currency, q(c.paid_by_shares), ""],
            ["walk", "paid_pro_rata", c.currency, q(c.paid_pro_rata), ""],
            ["walk", "adjustments", c.currency, q(c.adjustments), ""],
            ["walk", "rounding", c.currency, q(c.parties_rounding), "largest remainder per party"],
            ["walk", "party_earnings", c.currency, q(c.parties), ""],
            ["walk", "label_kept", c.currency, q(c.label), ""],
            ["walk", "balanced", c.currency, "", "yes" if c.balanced else "no"],
        ]
    for row in held_clips(period=period).iterator(chunk_size=2000):
        h = held_clip(row)
        rows.append(["held", h.external_id, h.currency, f"{h.amount:f}", h.reason])
    for p in month.parties:
        rows.append(
            [
                "statement", f"{p.number} {p.party}", p.currency, f"{p.closing:f}",
                f"opening {p.opening:f}; earnings {p.earnings:f}; adjustments {p.adjustments:f}; "
                f"withholding {p.withholding:f}; recouped {p.recouped:f}; payouts {p.payouts:f}; "
                f"batched {p.batched:f}" + ("; carried forward" if p.carried_forward else ""),
            ]
        )  # fmt: skip
    for t in month.statement_totals:
        threshold = f"{t.threshold:f}" if t.threshold is not None else ""
        rows.append(["threshold", "payout threshold", t.currency, threshold, ""])
        rows.append(
            [
                "carried_forward",
                f"{t.carried_forward_count} statements",
                t.currency,
                f"{t.carried_forward:f}",
                "",
            ]
        )
        rows.append(["due", "closing balances to pay", t.currency, f"{t.due:f}", ""])
    for b in month.batches:
        rows.append(
            ["payout_batch", f"#{b.batch_id}", b.currency, f"{b.amount:f}", f"{b.status}; {b.lines} lines"]
        )
    return _csv(rows)
