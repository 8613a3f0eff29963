"""Exports: statement CSV and PDF (reportlab), partner settlement CSV, payout batch CSV for the bank."""

import io
from decimal import Decimal
from xml.sax.saxutils import escape

from django.db.models import Sum
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from config.csv_export import csv_rows
from ledger.money import money_quantize
from royalties.models import (
    LabelRoyaltySettings,
    PartnerSettlement,
    PayeeProfile,
    PayoutBatch,
    Statement,
    StatementLine,
)
from royalties.month import PeriodMonth, held_clip, held_clips
from royalties.selectors import HeldRow, held_totals, statement_held
from royalties.templatetags.money import money

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


def line_reference(line: StatementLine) -> str:
    """The line's reference for reading: a withholding rate written by closes before percentages
    ("rate 0.100000") is shown as one ("rate 10.00 %")."""
    reference = line.reference
    if line.kind == "withholding" and reference.startswith("rate ") and "%" not in reference:
        try:
            return f"rate {Decimal(reference[5:]) * 100:.2f} %"
        except ArithmeticError:
            return reference
    return reference


def _addresses(statement: Statement) -> tuple[str, str]:
    """(label address, payee address), blank where none was entered."""
    settings = LabelRoyaltySettings.objects.filter(label_id=statement.period.label_id).first()
    profile = PayeeProfile.objects.filter(party_id=statement.party_id).first()
    return (settings.address if settings else ""), (profile.address if profile else "")


def statement_csv(statement: Statement) -> str:
    label_address, payee_address = _addresses(statement)
    rows: list[list] = [
        ["statement", statement.number],
        ["label", statement.period.label.name],
        ["label_address", label_address],
        ["party", statement.party.name],
        ["payee_address", payee_address],
        ["period", statement.period.code],
        ["currency", statement.currency],
    ]
    rows += [[name.lower(), f"{value:f}"] for name, value in _totals(statement)]
    rows.append(["payout_threshold", f"{money_quantize(statement.payout_threshold, statement.currency):f}"])
    rows.append(["carried_forward", "yes" if statement.carried_forward else "no"])
    rows.append([])
    rows.append(
        [
            "kind", "right", "right_type", "partner", "isrc", "recording", "artist", "clip", "usage_count",
            "amount", "amount_exact", "currency", "reference",
        ]
    )  # fmt: skip
    for line in _lines(statement).iterator(chunk_size=5000):
        rows.append(
            [
                line.kind,
                line.right,
                line.right_type,
                line.partner.slug if line.partner else "",
                line.recording.isrc if line.recording else "",
                line.recording.title if line.recording else "",
                line.recording.display_artist if line.recording else "",
                line.clip.external_id if line.clip else "",
                line.usage_count,
                f"{money_quantize(line.amount_exact, line.currency):f}",
                f"{line.amount_exact.quantize(LINE_PLACES):f}",
                line.currency,
                line_reference(line),
            ]
        )
    rows += _held_csv_rows(statement_held(statement=statement))
    return _csv(rows)


def _held_csv_rows(held: list[HeldRow]) -> list[list]:
    """The held section: after the lines, apart from the totals (never payable on this statement)."""
    if not held:
        return []
    rows: list[list] = [[], ["held", "not in the totals above: money this period's close held"]]
    rows += [
        ["held_total", currency, f"{money_quantize(total, currency):f}"]
        for currency, total in held_totals(held)
    ]
    rows.append(
        ["kind", "right_type", "isrc", "recording", "clip", "amount", "amount_exact", "currency", "reason"]
    )
    for row in held:
        rows.append(
            [
                "held", row.right_type, row.recording.isrc if row.recording else "",
                row.recording.title if row.recording else "voice model", row.clip.external_id,
                f"{money_quantize(row.amount, row.currency):f}", f"{row.amount.quantize(LINE_PLACES):f}",
                row.currency, row.reason,
            ]
        )  # fmt: skip
    return rows


# A PDF is for reading: past this many lines it lists the first ones and says so on the statement (the
# CSV has every line). 5,000 lines are ~120 A4 pages; reportlab lays them out in a few seconds.
PDF_MAX_LINES = 5000


class NumberedCanvas(canvas.Canvas):
    """Page "n of m" in the footer: pages are kept until the end, when the count is known (reportlab's
    documented two-pass recipe)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pages: list[dict] = []

    def showPage(self) -> None:  # noqa: N802 - reportlab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        for state in self._pages:
            self.__dict__.update(state)
            self.setFont("Helvetica", 7)
            self.drawRightString(A4[0] - 15 * mm, 8 * mm, f"page {self._pageNumber} of {len(self._pages)}")
            self.drawString(15 * mm, 8 * mm, getattr(self, "footer_text", ""))
            super().showPage()
        super().save()


def _cell(text: str, style) -> Paragraph:
    return Paragraph(escape(text), style)


def statement_pdf(statement: Statement) -> bytes:
    """A statement a person can read: label and payee, the period and its totals, then every line (up to
    PDF_MAX_LINES, said on the page) with ISRC, amounts in the currency's minor unit, page n of m."""
    buffer = io.BytesIO()
    styles = getSampleStyleSheet()
    small = ParagraphStyle("small", parent=styles["Normal"], fontSize=7, leading=8.5)
    # Clip ids are long and have no spaces: they wrap at any character rather than run into the next column.
    ids = ParagraphStyle("ids", parent=small, wordWrap="CJK")
    money_style = ParagraphStyle("money", parent=small, alignment=TA_RIGHT)
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"Royalty statement {statement.number}",
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        bottomMargin=15 * mm,
    )
    label = statement.period.label
    currency = statement.currency
    label_address, payee_address = _addresses(statement)

    def block(title: str, name: str, address: str) -> Paragraph:
        lines = [
            f"<b>{escape(title)}</b>",
            escape(name),
            *(escape(a) for a in address.splitlines() if a.strip()),
        ]
        return Paragraph("<br/>".join(lines), styles["Normal"])

    story: list = [
        Paragraph(f"{escape(label.name)} — royalty statement", styles["Title"]),
        Table(
            [[block("From", label.name, label_address), block("To", statement.party.name, payee_address)]],
            colWidths=[90 * mm, 90 * mm],
            hAlign="LEFT",
        ),
        Spacer(1, 4 * mm),
        Paragraph(
            f"Statement {escape(statement.number)} · period {statement.period.code} · issued "
            f"{statement.issued_at:%Y-%m-%d} · amounts in {currency}",
            styles["Normal"],
        ),
        Spacer(1, 4 * mm),
    ]
    totals = Table(
        [[name, money(value, currency)] for name, value in _totals(statement)],
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
    story += [totals, Spacer(1, 3 * mm)]
    if statement.carried_forward:
        story.append(
            Paragraph(
                f"The balance is below the payout threshold of {money(statement.payout_threshold, currency)} "
                f"{currency} and is carried forward.",
                styles["Italic"],
            )
        )
    lines = _lines(statement)
    count = lines.count()
    total = StatementLine.objects.filter(statement=statement, currency=currency).aggregate(
        t=Sum("amount_exact")
    )
    exact = Decimal(str(total["t"] or 0)).quantize(LINE_PLACES)  # SQLite sums decimals as floats
    story.append(
        Paragraph(
            f"{count:,} line{'s' if count != 1 else ''}; in {currency} they add up to {exact.quantize(LINE_PLACES):,f} "
            f"exactly, {money(exact, currency)} rounded (each total above is rounded once per party).",
            small,
        )
    )
    if count > PDF_MAX_LINES:
        story.append(
            Paragraph(
                f"<b>This PDF lists the first {PDF_MAX_LINES:,} of {count:,} lines; the CSV of this statement has "
                "every line.</b>",
                styles["Normal"],
            )
        )
    story.append(Spacer(1, 4 * mm))
    header = ["Kind", "Right", "Partner", "ISRC", "Recording", "Clip", "Uses", "Amount", "Ccy", "Detail"]
    data: list[list] = [header]
    for line in lines[:PDF_MAX_LINES]:
        data.append(
            [
                _cell(line.get_kind_display(), small),
                _cell(line_right(line), small),
                _cell(line.partner.name if line.partner else "", small),
                _cell(line.recording.isrc if line.recording else "", small),
                _cell(
                    f"{line.recording.title} — {line.recording.display_artist}" if line.recording else "",
                    small,
                ),
                _cell(line.clip.external_id if line.clip else "", ids),
                Paragraph(f"{line.usage_count:,}" if line.usage_count else "", money_style),
                Paragraph(money(line.amount_exact, line.currency), money_style),
                _cell(line.currency, small),
                _cell(line_reference(line), small),
            ]
        )
    widths = [14, 18, 15, 25, 27, 20, 12, 16, 9, 22]  # mm, 178 of A4's 180 between the margins
    table = _lined_table(data, widths)
    story.append(table)
    story += _held_pdf(statement_held(statement=statement), small, ids, money_style, styles)
    footer = f"{label.name} · statement {statement.number} · {statement.party.name}"

    def make_canvas(*args, **kwargs) -> NumberedCanvas:
        made = NumberedCanvas(*args, **kwargs)
        made.footer_text = footer
        return made

    doc.build(story, canvasmaker=make_canvas)
    return buffer.getvalue()


def _held_pdf(held: list[HeldRow], small, ids, money_style, styles) -> list:
    """The held section of the PDF (up to PDF_MAX_LINES rows; the CSV has them all)."""
    if not held:
        return []
    totals = ", ".join(f"{money(total, currency)} {currency}" for currency, total in held_totals(held))
    story: list = [
        Spacer(1, 6 * mm),
        Paragraph("Held, not payable", styles["Heading2"]),
        Paragraph(
            f"Not in the totals above: {escape(totals)} of money this period's close held on clips that drew "
            "on this party's work (uses outside the licence are never paid; clips waiting for review are paid "
            "in a later statement once reviewed).",
            small,
        ),
        Spacer(1, 2 * mm),
    ]
    data: list[list] = [["Clip", "Recording", "Right", "Why", "Amount", "Ccy"]]
    for row in held[:PDF_MAX_LINES]:
        data.append(
            [
                _cell(row.clip.external_id, ids),
                _cell(
                    f"{row.recording.isrc} {row.recording.title}" if row.recording else "voice model", small
                ),
                _cell(row.right_type, small),
                _cell(row.reason, small),
                Paragraph(money(row.amount, row.currency), money_style),
                _cell(row.currency, small),
            ]
        )
    table = _lined_table(data, (32, 50, 18, 48, 20, 10))
    return [*story, table]


def _lined_table(data: list, widths_mm) -> Table:
    """A statement table: the header row repeated on every page, small and shaded, a thin rule under
    each line, cells aligned at the top (wrapped text makes lines of several heights)."""
    table = Table(data, repeatRows=1, hAlign="LEFT", colWidths=[w * mm for w in widths_mm])
    table.setStyle(
        TableStyle(
            [
                ("FONTSIZE", (0, 0), (-1, 0), 7),
                ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.lightgrey),
            ]
        )
    )
    return table


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
        ["voice_fees_exact", f"{settlement.voice_fees_exact.quantize(LINE_PLACES):f}"],
        ["amount_due", f"{money_quantize(settlement.amount_due, settlement.currency):f}"],
        [],
        ["deal", "revenue", "pool", "voice_fees"],
    ]
    # Settlements closed before flat-rate voice models have no voice fees in their detail.
    rows += [[d["deal"], d["revenue"], d["pool"], d.get("voice_fees", "0")] for d in settlement.detail]
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
            ["walk", "voice_fees", c.currency, q(c.voice_fees), "flat-rate voice models, on top of the pool"],
            ["walk", "receivable", c.currency, q(c.receivable), "what the partners owe"],
            ["walk", "released", c.currency, q(c.released), "held earlier, released this month"],
            ["walk", "label_share", c.currency, q(c.label_share), "deal terms"],
            ["walk", "attributed_pool", c.currency, q(c.attributed_pool), ""],
            ["walk", "pro_rata_pool", c.currency, q(c.pro_rata_pool), ""],
            ["walk", "held", c.currency, q(c.held), f"{c.held_clips} clips"],
            ["walk", "paid_by_shares", c.currency, q(c.paid_by_shares), ""],
            ["walk", "paid_pro_rata", c.currency, q(c.paid_pro_rata), ""],
            ["walk", "adjustments", c.currency, q(c.adjustments), ""],
            ["walk", "paid_voice", c.currency, q(c.paid_voice), "voice models"],
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
