"""Royalties pages: periods, the close from the browser's side, statements, payouts; roles and tenancy."""

from datetime import date

import pytest
from django.urls import reverse

from catalog.models import Role
from royalties.models import PayoutBatch, Period, PeriodStatus, Statement
from royalties.services import payee_profile_set, period_close
from tests.factories import LabelFactory, PartnerFactory, PartyFactory, RecordingFactory, member, split_for
from tests.royalties.factories import ClipFactory, attribute, deal, usage

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_month():
    label, partner = LabelFactory(name="Northgate"), PartnerFactory()
    recording = RecordingFactory(label=label, title="Harbour Lights")
    ann, bob = PartyFactory(label=label, name="Ann"), PartyFactory(label=label, name="Bob")
    split_for(recording, {ann: "0.5", bob: "0.5"})
    deal(label, partner)
    clip = ClipFactory(label=label, partner=partner)
    attribute(clip, {recording: "1"})
    usage(clip, "100.00", day=date(2026, 9, 10))
    period_close(label=label, period="2026-09")
    return label, recording


def test_admin_closes_a_month_through_the_confirmation(client, django_capture_on_commit_callbacks):
    label = LabelFactory()
    client.force_login(member("ada", label, Role.ADMIN))
    period = Period.objects.create(label=label, month=date(2026, 9, 1))  # usage ingest makes this row
    page = client.get(reverse("royalties:period-close", args=[period.pk]))
    assert page.status_code == 200 and "Type" in page.content.decode()
    wrong = client.post(reverse("royalties:period-close", args=[period.pk]), {"confirm": "yes"})
    assert wrong.status_code == 200 and not Period.objects.filter(status=PeriodStatus.CLOSED).exists()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("royalties:period-close", args=[period.pk]), {"confirm": "2026-09"})
    period.refresh_from_db()
    assert period.status == PeriodStatus.CLOSED and period.closed_by.username == "ada"
    body = client.get(reverse("royalties:period-detail", args=[period.pk])).content.decode()
    assert "Reconciliation" in body and reverse("royalties:period-reconciliation", args=[period.pk]) in body
    reconciliation = client.get(reverse("royalties:period-reconciliation", args=[period.pk])).content.decode()
    assert "balanced" in reconciliation and "Revenue × rate" in reconciliation


def test_rights_manager_and_viewer_cannot_close(client):
    label = LabelFactory()
    period = Period.objects.create(label=label, month=date(2026, 9, 1))
    for role in (Role.RIGHTS_MANAGER, Role.VIEWER):
        client.force_login(member(f"user-{role}", label, role))
        response = client.post(reverse("royalties:period-close", args=[period.pk]), {"confirm": "2026-09"})
        assert response.status_code == 403
    assert not Period.objects.filter(status=PeriodStatus.CLOSED).exists()


def test_current_month_cannot_be_closed(client):
    label = LabelFactory()
    client.force_login(member("ada", label, Role.ADMIN))
    today = date.today()
    period = Period.objects.create(label=label, month=today.replace(day=1))
    client.post(reverse("royalties:period-close", args=[period.pk]), {"confirm": period.code})
    assert not Period.objects.filter(status=PeriodStatus.CLOSED).exists()


def test_period_page_lists_statements_and_statement_downloads(client, closed_month):
    label, recording = closed_month
    client.force_login(member("vic", label, Role.VIEWER))
    period = Period.objects.get(label=label)
    body = client.get(reverse("royalties:period-detail", args=[period.pk])).content.decode()
    statement = Statement.objects.get(party__name="Ann")
    assert statement.number in body and "balanced" in body and "Partner settlements" in body
    page = client.get(reverse("royalties:statement-detail", args=[statement.pk])).content.decode()
    assert "Harbour Lights" in page and f"{statement.closing_balance:,.2f}" in page
    pdf = client.get(reverse("royalties:statement-pdf", args=[statement.pk]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    csv = client.get(reverse("royalties:statement-csv", args=[statement.pk]))
    assert csv.status_code == 200 and b"Harbour Lights" in csv.content
    recording_page = client.get(reverse("catalog:recording-detail", args=[recording.pk])).content.decode()
    assert "Earnings" in recording_page and "2026-09" in recording_page


def test_statements_of_another_label_are_404(client, closed_month):
    statement = Statement.objects.first()
    client.force_login(member("otto", LabelFactory(), Role.ADMIN))
    assert client.get(reverse("royalties:statement-detail", args=[statement.pk])).status_code == 404
    assert client.get(reverse("royalties:statement-pdf", args=[statement.pk])).status_code == 404


def test_payout_batch_create_export_and_mark_paid(client, closed_month):
    label, _ = closed_month
    for party in label.parties.all():
        payee_profile_set(party=party, currency="EUR", iban="DE89 3704 0044 0532 0130 00", bic="COBADEFFXXX")
    client.force_login(member("ada", label, Role.ADMIN))
    response = client.post(reverse("royalties:payout-new"), {"currency": "EUR"})
    batch = PayoutBatch.objects.get()
    assert response["Location"] == reverse("royalties:payout-detail", args=[batch.pk])
    export = client.get(reverse("royalties:payout-export", args=[batch.pk]))
    assert b"DE89370400440532013000" in export.content
    client.post(reverse("royalties:payout-paid", args=[batch.pk]), {"paid_on": "2026-10-05"})
    batch.refresh_from_db()
    assert batch.status == "paid"
    viewer = member("vic", label, Role.VIEWER)
    client.force_login(viewer)
    assert client.post(reverse("royalties:payout-new"), {"currency": "EUR"}).status_code == 403


def test_closing_out_of_order_is_refused_with_the_reason(client, django_capture_on_commit_callbacks):
    label = LabelFactory()
    Period.objects.create(label=label, month=date(2026, 8, 1))  # August is still open
    september = Period.objects.create(label=label, month=date(2026, 9, 1))
    client.force_login(member("ada", label, Role.ADMIN))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("royalties:period-close", args=[september.pk]), {"confirm": "2026-09"}, follow=True
        )
    assert "2026-08" in response.content.decode() and "must be closed before" in response.content.decode()
    september.refresh_from_db()
    assert september.status == PeriodStatus.OPEN


def test_close_task_logs_a_blocked_close_instead_of_failing():
    from royalties.tasks import period_close_task

    label = LabelFactory()
    Period.objects.create(label=label, month=date(2026, 8, 1))
    period_close_task(label.pk, "2026-09")  # no exception: the month stays open
    assert not Period.objects.filter(label=label, status=PeriodStatus.CLOSED).exists()


def _pdf_text(pdf: bytes) -> str:
    """The page streams of a reportlab PDF (ASCII85, then Flate), decoded: enough to find the words it
    draws."""
    import base64
    import re
    import zlib

    chunks = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        try:
            chunks.append(zlib.decompress(base64.a85decode(stream.strip(), adobe=True)).decode("latin-1"))
        except (ValueError, zlib.error):
            continue
    return "".join(chunks)


@pytest.fixture
def closed_mixed_rights():
    """Ada owns A's master and half its publishing; Cole writes B. A clip 0.6 verbatim of A, 0.3
    composition of B, under a deal paying 60 % master and 40 % publishing (docs/royalties.md)."""
    from fingerprinting.models import ShareRight

    label, partner = LabelFactory(name="Northgate"), PartnerFactory()
    ada, pubco, bea, cole = (PartyFactory(label=label, name=n) for n in ("Ada", "PubCo", "Bea", "Cole"))
    a, b = (
        RecordingFactory(label=label, title="Harbour Lights"),
        RecordingFactory(label=label, title="Glass Orchard"),
    )
    split_for(a, {ada: "1"})
    split_for(a, {ada: "0.5", pubco: "0.5"}, right_type="publishing")
    split_for(b, {bea: "1"})
    split_for(b, {cole: "1"}, right_type="publishing")
    deal(label, partner, publishing_fraction="0.4")
    clip = ClipFactory(label=label, partner=partner)
    attribute(clip, {a: "0.6", b: "0.3"}, unattributed="0.1", rights={b: ShareRight.COMPOSITION})
    usage(clip, "100.00", day=date(2026, 9, 10))
    period_close(label=label, period="2026-09")
    return label, {"ada": ada, "cole": cole}


def test_statements_show_the_right_of_each_line(client, closed_mixed_rights):
    label, parties = closed_mixed_rights
    client.force_login(member("vic", label, Role.VIEWER))
    cole = Statement.objects.get(party=parties["cole"])
    page = client.get(reverse("royalties:statement-detail", args=[cole.pk])).content.decode()
    lines = page.split('<table id="statement-lines">')[1]
    assert "composition · publishing" in lines and "Glass Orchard" in lines
    csv_text = client.get(reverse("royalties:statement-csv", args=[cole.pk])).content.decode()
    header = next(row for row in csv_text.splitlines() if row.startswith("kind,"))
    assert header.split(",")[:3] == ["kind", "right", "right_type"]
    assert "\nearning,composition,publishing," in csv_text
    assert "\npro_rata,,publishing," in csv_text
    ada = Statement.objects.get(party=parties["ada"])
    ada_csv = client.get(reverse("royalties:statement-csv", args=[ada.pk])).content.decode()
    assert "earning,recording,master," in ada_csv and "earning,recording,publishing," in ada_csv
    pdf = client.get(reverse("royalties:statement-pdf", args=[cole.pk])).content
    text = _pdf_text(pdf)
    assert "Right" in text and "composition" in text and "publishing" in text


def test_dashboard_shows_master_vs_publishing(client, closed_mixed_rights):
    label, _ = closed_mixed_rights
    client.force_login(member("vic", label, Role.VIEWER))
    page = client.get(reverse("royalties:dashboard")).content.decode()
    section = page.split('id="revenue-by-right"')[1].split("</section>")[0]
    # 100.00 x 0.5 = 50.00: master 21.00 (A 18.00 + pro-rata 3.00), publishing 20.00, the master part of
    # B's composition share 9.00 kept by the label, no label share.
    assert "master <strong>21.00</strong>" in section
    assert "publishing <strong>20.00</strong>" in section
    assert "kept by the label <strong>9.00</strong>" in section
