"""POST /usage (JSON batches) and CSV usage reports: accepted, duplicates counted once, rejected lines
listed with reasons and never written; whole-batch problems are a 4xx that writes nothing."""

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from partner_api.models import IdempotencyRecord, UsageReport
from royalties.models import Period, UsageLine
from tests.partner_api.conftest import make_clip

pytestmark = pytest.mark.django_db

USAGE = "/api/v1/usage"
REPORTS = "/api/v1/usage/reports"
START, END = date(2026, 10, 1), date(2026, 10, 31)


def batch(*lines, currency="EUR", start=START, end=END):
    return {"currency": currency, "period_start": str(start), "period_end": str(end), "lines": list(lines)}


def line(n=1, **fields):
    return {"line_id": f"L-{n}", "external_id": "gen-1", "usage_count": 10, "net_revenue": "1.50", **fields}


@pytest.fixture
def clip(world):
    return make_clip(world.a1, external_id="gen-1")


def test_batch_accepts_and_counts_replays_once(world, clip):
    client = world.a1.client()
    body = batch(line(1), line(2, clip_id=clip.pk, external_id=None, territory="DE", usage_date="2026-10-15"))
    body["lines"][1].pop("external_id")
    first = client.post(USAGE, body, format="json")
    assert first.status_code == 200, first.json()
    assert first.json() == {"accepted": 2, "duplicates": 0, "rejected_count": 0, "rejected": []}
    again = client.post(USAGE, batch(line(1), line(3)), format="json")
    assert again.json()["accepted"] == 1 and again.json()["duplicates"] == 1
    lines = UsageLine.objects.order_by("partner_line_id")
    assert [(u.partner_line_id, u.clip_id, u.usage_date, u.net_revenue) for u in lines] == [
        ("L-1", clip.pk, START, Decimal("1.500000")),
        ("L-2", clip.pk, date(2026, 10, 15), Decimal("1.500000")),
        ("L-3", clip.pk, START, Decimal("1.500000")),
    ]


def test_bad_lines_are_listed_and_not_written(world, clip):
    other_label_clip = make_clip(world.b1, external_id="gen-b")
    body = batch(
        line(1),
        line(2, external_id="nope"),
        line(3, clip_id=other_label_clip.pk),
        line(4, usage_date="2026-11-02"),
    )
    body["lines"][2].pop("external_id")
    response = world.a1.client().post(USAGE, body, format="json")
    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert [(r["line"], r["line_id"], r["code"]) for r in response.json()["rejected"]] == [
        (2, "L-2", "clip_unknown"),
        (3, "L-3", "clip_unknown"),
        (4, "L-4", "date_out_of_range"),
    ]
    assert list(UsageLine.objects.values_list("partner_line_id", flat=True)) == ["L-1"]


def test_a_reused_line_id_with_other_content_is_rejected(world, clip):
    client = world.a1.client()
    client.post(USAGE, batch(line(1)), format="json")
    response = client.post(USAGE, batch(line(1, net_revenue="9.99")), format="json")
    assert response.json()["rejected"][0]["code"] == "line_id_reused"
    assert UsageLine.objects.get().net_revenue == Decimal("1.5")


def test_idempotent_batch_replay_and_conflict(world, clip):
    client = world.a1.client()
    first = client.post(USAGE, batch(line(1)), format="json", HTTP_IDEMPOTENCY_KEY="u-1")
    replay = client.post(USAGE, batch(line(1)), format="json", HTTP_IDEMPOTENCY_KEY="u-1")
    assert replay.json() == first.json() and replay["Idempotent-Replayed"] == "true"
    conflict = client.post(USAGE, batch(line(2)), format="json", HTTP_IDEMPOTENCY_KEY="u-1")
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_conflict"
    assert UsageLine.objects.count() == 1


def snapshot():
    return (
        UsageLine.objects.count(),
        Period.objects.count(),
        UsageReport.objects.count(),
        IdempotencyRecord.objects.count(),
    )


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        (b"", 400, "invalid", "currency"),
        (b"{", 400, "parse_error", None),
        (b'{"currency": "EUR", "lines": [{"net_revenue": NaN}]}', 400, "parse_error", None),
        (json.dumps(batch(line(1, net_revenue="NaN"))).encode(), 400, "invalid", "lines"),
        (json.dumps(batch(line(1, net_revenue="Infinity"))).encode(), 400, "invalid", "lines"),
        (json.dumps(batch(line(1, net_revenue="-1.00"))).encode(), 400, "invalid", "lines"),
        (json.dumps(batch(line(1, usage_count=-5))).encode(), 400, "invalid", "lines"),
        (json.dumps(batch(line(1, net_revenue="1e400"))).encode(), 400, "invalid", "lines"),
        (json.dumps(batch(line(1), currency="XYZ")).encode(), 400, "invalid", "currency"),
        (json.dumps(batch(line(1), currency="eur")).encode(), 400, "invalid", "currency"),
        (json.dumps(batch(line(1), start="1899-01-01")).encode(), 400, "invalid", "period_start"),
        (
            json.dumps(batch(line(1), start="2026-10-01", end="2026-09-01")).encode(),
            400,
            "invalid",
            "period_end",
        ),
        (
            json.dumps(batch(line(1), start="9999-01-01", end="9999-01-31")).encode(),
            400,
            "invalid",
            "period_start",
        ),
        (json.dumps(batch(line(1), start="2026-02-30")).encode(), 400, "invalid", "period_start"),
        (json.dumps(batch(line(1, usage_date="20261-01-01"))).encode(), 400, "invalid", "lines"),
        (json.dumps(batch(line(1, territory="Germany"))).encode(), 400, "invalid", "lines"),
        (json.dumps(batch(line(1, line_id="\x00"))).encode(), 400, "parse_error", None),
        (json.dumps(batch()).encode(), 400, "invalid", "lines"),
        (json.dumps(["not", "an", "object"]).encode(), 400, "invalid", None),
        (json.dumps(batch(line(1, line_id="\ud800"))).encode(), 400, "parse_error", None),
    ],
)
def test_bad_batches_are_4xx_and_write_nothing(world, clip, body, status, code, field):
    before = snapshot()
    response = world.a1.client().post(
        USAGE, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="b-1"
    )
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    if field:
        assert field in error["fields"]
    assert snapshot() == before


def test_too_many_lines_is_413(world, clip):
    body = batch(*[line(n) for n in range(10_001)])
    response = world.a1.client().post(USAGE, body, format="json")
    assert response.status_code == 413 and response.json()["error"]["code"] == "usage_batch_too_large"
    assert UsageLine.objects.count() == 0


# ------------------------------------------------------------------------------------- CSV reports

GOOD_CSV = (
    "HEAD,RPT-2026-10,2026-10-01,2026-10-31,EUR\n"
    "line_id,clip_id,external_id,usage_count,net_revenue,territory\n"
    "L-1,,gen-1,1200,14.400000,DE\n"
    "L-2,,missing,10,1.00,FR\n"
    "L-3,,gen-1,-4,1.00,FR\n"
    "L-4,,gen-1,5,NaN,FR\n"
    "L-5,,gen-1,5\n"
    'L-6,,gen-1,7,"0.70",\n'
    "L-\U0001f4a5\u202e,,gen-1,1,abc\u00e9,\u00c9\u00c9\n"
    "L-1,,gen-1,1200,14.400000,DE\n"
)


def upload(client, text: bytes | str, name="report.csv"):
    data = text.encode() if isinstance(text, str) else text
    return client.post(REPORTS, {"file": SimpleUploadedFile(name, data, "text/csv")}, format="multipart")


def test_csv_report_is_processed_with_rejected_lines_listed(world, clip, django_capture_on_commit_callbacks):
    client = world.a1.client()
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, GOOD_CSV)
    assert response.status_code == 202, response.json()
    report = client.get(f"{REPORTS}/{response.json()['id']}").json()
    assert report["status"] == "processed"
    assert (report["report_ref"], report["currency"], report["period_start"]) == (
        "RPT-2026-10",
        "EUR",
        "2026-10-01",
    )
    assert (report["line_count"], report["accepted_count"], report["duplicate_count"]) == (8, 2, 1)
    assert report["rejected_count"] == 5
    assert [(r["line"], r["code"]) for r in report["rejected_lines"]] == [
        (4, "clip_unknown"),
        (5, "line_invalid"),
        (6, "line_invalid"),
        (7, "line_invalid"),
        (9, "line_invalid"),
    ]
    assert "usage_count" in report["rejected_lines"][1]["reason"]
    assert sorted(UsageLine.objects.values_list("partner_line_id", flat=True)) == ["L-1", "L-6"]


def test_processing_twice_changes_nothing(world, clip, django_capture_on_commit_callbacks):
    from partner_api.services import usage_report_process

    with django_capture_on_commit_callbacks(execute=True):
        report_id = upload(world.a1.client(), GOOD_CSV).json()["id"]
    report = UsageReport.objects.get(pk=report_id)
    usage_report_process(report=report)
    assert UsageLine.objects.count() == 2


def test_a_report_uploaded_again_is_answered_with_the_first_and_processed_once(
    world, clip, django_capture_on_commit_callbacks
):
    client = world.a1.client()
    with django_capture_on_commit_callbacks(execute=True):
        first = upload(client, GOOD_CSV)
    with django_capture_on_commit_callbacks(execute=True) as queued:
        again = upload(client, GOOD_CSV, name="resent.csv")

    assert (first.status_code, again.status_code) == (202, 200)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.json()["status"] == "processed"
    assert again["Location"] == first["Location"]
    assert queued == []  # nothing processed twice
    assert UsageReport.objects.count() == 1 and UsageLine.objects.count() == 2


def test_a_report_id_reused_for_another_file_is_409_and_writes_nothing(world, clip):
    client = world.a1.client()
    upload(client, GOOD_CSV)
    changed = GOOD_CSV.replace("L-6,,gen-1,7", "L-6,,gen-1,8")

    response = upload(client, changed)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "usage_report_conflict"
    assert "RPT-2026-10" in response.json()["error"]["message"]
    assert UsageReport.objects.count() == 1


def test_report_ids_are_per_partner_and_label(world, clip):
    assert upload(world.a1.client(), GOOD_CSV).status_code == 202
    assert upload(world.a2.client(), GOOD_CSV).status_code == 202  # another partner, same label
    assert upload(world.b1.client(), GOOD_CSV).status_code == 202  # same partner, another label
    assert UsageReport.objects.count() == 3


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"", 400, "invalid"),
        (b"\xff\xfe\x00g\x00a\x00r\x00b\x00a\x00g\x00e", 400, "usage_report_invalid"),
        (bytes(range(256)) * 4, 400, "usage_report_invalid"),
        ("\U0001f4a5\u202e\u0000\ufffd,,,\n".encode(), 400, "usage_report_invalid"),
        ("\u00e9\u00e8\u00ea garbage \u2603\nmore \u2603".encode(), 400, "usage_report_invalid"),
        (
            b"HEAD,R1,2026-10-01,2026-10-31\nline_id,external_id,usage_count,net_revenue\n",
            400,
            "usage_report_invalid",
        ),
        (
            b"HEAD,R1,2026-10-01,2026-10-31,XYZ\nline_id,external_id,usage_count,net_revenue\n",
            400,
            "usage_report_invalid",
        ),
        (
            b"HEAD,R1,2026-13-01,2026-10-31,EUR\nline_id,external_id,usage_count,net_revenue\n",
            400,
            "usage_report_invalid",
        ),
        (
            b"HEAD,R1,2026-10-01,2026-10-31,EUR\nline_id,usage_count,net_revenue\n",
            400,
            "usage_report_invalid",
        ),
        (
            b"HEAD,R1,2026-10-01,2026-10-31,EUR\nline_id,external_id,usage_count,bogus\n",
            400,
            "usage_report_invalid",
        ),
        (b'HEAD,R1,2026-10-01,2026-10-31,EUR\n"unclosed,quote\n', 400, "usage_report_invalid"),
        (
            b'HEAD,R1,2026-10-01,2026-10-31,EUR\nline_id,external_id,usage_count,net_revenue\nL1,gen-1,1,"1\n',
            400,
            "usage_report_invalid",
        ),
        (
            b"HEAD,R1,2026-10-01,2026-10-31,EUR\nline_id,external_id,usage_count,net_revenue\nL1,"
            + b"x" * 200_000
            + b",1,1\n",
            400,
            "usage_report_invalid",
        ),
    ],
)
def test_bad_csv_files_are_4xx_and_write_nothing(world, clip, data, status, code):
    before = snapshot()
    response = upload(world.a1.client(), data)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert snapshot() == before


def test_oversized_csv_is_413(world, clip, settings):
    settings.MAX_CSV_UPLOAD_BYTES = 1024
    response = upload(world.a1.client(), GOOD_CSV + "L-9,,gen-1,1,1.00,DE\n" * 100)
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
    assert UsageReport.objects.count() == 0


def test_report_processed_webhook(world, clip, django_capture_on_commit_callbacks, monkeypatch):
    from partner_api.services import webhooks

    sent = []
    monkeypatch.setattr(
        webhooks, "_delivery_send", lambda delivery: (sent.append(delivery.payload), (200, ""))[1]
    )
    world.a1.client().post(
        "/api/v1/webhooks",
        {"url": "http://127.0.0.1:9/h", "event_types": ["usage_report.processed"]},
        format="json",
    )
    with django_capture_on_commit_callbacks(execute=True):
        report_id = upload(world.a1.client(), GOOD_CSV).json()["id"]
    assert [p["type"] for p in sent] == ["usage_report.processed"]
    assert sent[0]["data"]["usage_report"]["id"] == report_id
    assert sent[0]["data"]["usage_report"]["accepted_count"] == 2


def test_future_usage_dates_are_refused(world, clip):
    today = date.today()
    body = batch(
        line(1, usage_date=str(today + timedelta(days=2))),
        start=today - timedelta(days=1),
        end=today + timedelta(days=5),
    )
    response = world.a1.client().post(USAGE, body, format="json")
    assert response.json()["rejected"][0]["code"] == "date_out_of_range"


def test_a_file_unreadable_at_processing_fails_whole(world, clip, monkeypatch):
    from partner_api import services
    from partner_api.errors import UsageReportInvalid

    report_id = upload(world.a1.client(), GOOD_CSV).json()["id"]  # queued; processing not run yet

    def broken(parsed):
        yield 3, {"line_id": "L-1", "external_id": "gen-1", "usage_count": "1", "net_revenue": "1"}
        raise UsageReportInvalid("The file is not valid CSV near line 4.")

    monkeypatch.setattr(services.usage, "usage_csv_lines", broken)
    services.usage_report_process(report=UsageReport.objects.get(pk=report_id))
    report = world.a1.client().get(f"{REPORTS}/{report_id}").json()
    assert report["status"] == "failed"
    assert report["error"] == {
        "code": "usage_report_invalid",
        "message": "The file is not valid CSV near line 4.",
    }
    assert UsageLine.objects.count() == 0


def _close(label, month=START):
    from royalties.models import PeriodStatus

    Period.objects.update_or_create(label=label, month=month, defaults={"status": PeriodStatus.CLOSED})


def test_lines_accepted_before_a_close_are_duplicates_after_it(world, clip):
    """Issue 13: re-sending accepted lines after the month closed must not say 'report an adjustment'
    (the partner would then pay twice); a new line in the closed month is still refused."""
    client = world.a1.client()
    assert client.post(USAGE, batch(line(1), line(2)), format="json").json()["accepted"] == 2
    _close(world.a1.label)
    again = client.post(USAGE, batch(line(1), line(2), line(3)), format="json").json()
    assert again["accepted"] == 0 and again["duplicates"] == 2
    assert [(r["line_id"], r["code"]) for r in again["rejected"]] == [("L-3", "period_closed")]
    changed = client.post(USAGE, batch(line(1, usage_count=11)), format="json").json()
    assert [r["code"] for r in changed["rejected"]] == ["line_id_reused"]
    assert UsageLine.objects.count() == 2


def test_report_lines_accepted_before_a_close_are_duplicates_after_it(
    world, clip, django_capture_on_commit_callbacks
):
    body = "line_id,external_id,usage_count,net_revenue\nL-1,gen-1,5,1.00\nL-2,gen-1,6,2.00\n"
    client = world.a1.client()
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, "HEAD,R-1,2026-10-01,2026-10-31,EUR\n" + body)
    _close(world.a1.label)
    with django_capture_on_commit_callbacks(execute=True):
        report_id = upload(client, "HEAD,R-2,2026-10-01,2026-10-31,EUR\n" + body).json()["id"]
    report = client.get(f"{REPORTS}/{report_id}").json()
    assert (report["accepted_count"], report["duplicate_count"], report["rejected_count"]) == (0, 2, 0)


def test_usage_report_create_is_one_transaction(world, clip, monkeypatch):
    """Issue 13: `@transaction.atomic` sat on the UsageReportUpload dataclass, not on the service, so a
    failure after the report row was saved left the row behind. Nothing may stay written now."""
    from partner_api.services import usage

    def broker_down(*args, **kwargs):
        raise RuntimeError("queueing failed")

    monkeypatch.setattr(usage, "enqueue_on_commit", broker_down)
    upload_file = SimpleUploadedFile("r.csv", GOOD_CSV.encode(), content_type="text/csv")
    with pytest.raises(RuntimeError):
        usage.usage_report_create(partner=world.a1.partner, label=world.a1.label, upload=upload_file)
    assert UsageReport.objects.count() == 0
