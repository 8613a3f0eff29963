"""Consent per use: the resolution rule, append-only versions, and the command that sets them."""

from datetime import date

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from hypothesis import given
from hypothesis import strategies as st

from catalog.consent import OPEN_DEFAULT, consent_decide, consent_resolve, consent_resolve_party, consent_set
from catalog.errors import ConsentInvalid, ConsentNotRetroactive
from catalog.models import AuditEvent, Consent, ConsentState, ConsentUse, Work
from tests.factories import LabelFactory, PartyFactory, RecordingFactory, UserFactory, split_for

IN, OUT = ConsentState.OPT_IN, ConsentState.OPT_OUT
TRAINING = ConsentUse.TRAINING


def version(state: str, n: int = 1) -> Consent:
    return Consent(
        state=state, version=n, effective_from=date(2026, 1, 1), scope="party", subject_key=f"party:{n}"
    )


choices = st.one_of(st.none(), st.sampled_from([IN, OUT]))


@given(own=choices, holders=st.lists(choices, max_size=5), default=choices)
def test_the_rule_recording_first_then_strictest_holder_then_label_default(own, holders, default):
    answer = consent_decide(
        own=version(own) if own else None,
        holders=[version(h, i + 2) if h else None for i, h in enumerate(holders)],
        label_default=version(default, 99) if default else None,
    )
    if own:
        assert answer.state == own
        return
    effective = [h or default or OPEN_DEFAULT for h in holders] or [default or OPEN_DEFAULT]
    assert answer.state == (OUT if OUT in effective else IN)
    assert all(c.state == OUT for c in answer.deciding) or answer.state == IN


pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog():
    label = LabelFactory()
    alice, bob = PartyFactory(label=label, name="Alice"), PartyFactory(label=label, name="Bob")
    recording = RecordingFactory(label=label)
    split_for(recording, {alice: "0.5", bob: "0.5"})
    return label, alice, bob, recording


def test_one_party_opting_out_takes_the_recording_out_strictest_wins(catalog):
    label, alice, bob, recording = catalog
    consent_set(label=label, use=TRAINING, state=IN, effective_from=date(2026, 1, 1))
    consent_set(label=label, party=alice, use=TRAINING, state=IN, effective_from=date(2026, 1, 1))
    assert consent_resolve(recording=recording, use=TRAINING, on=date(2026, 3, 1)).allowed
    consent_set(
        label=label, party=bob, use=TRAINING, state=OUT, effective_from=date(2026, 3, 1), reason="asked"
    )
    answer = consent_resolve(recording=recording, use=TRAINING, on=date(2026, 3, 1))
    assert answer.state == OUT and [c.party for c in answer.deciding] == [bob]
    # The day before, the opt-out was not in force.
    assert consent_resolve(recording=recording, use=TRAINING, on=date(2026, 2, 28)).allowed


def test_the_recording_own_choice_beats_its_parties_and_the_label_default(catalog):
    label, alice, bob, recording = catalog
    consent_set(label=label, use=TRAINING, state=OUT, effective_from=date(2026, 1, 1))
    assert consent_resolve(recording=recording, use=TRAINING, on=date(2026, 2, 1)).state == OUT
    consent_set(label=label, recording=recording, use=TRAINING, state=IN, effective_from=date(2026, 2, 1))
    answer = consent_resolve(recording=recording, use=TRAINING, on=date(2026, 2, 1))
    assert answer.allowed and answer.source == "recording"


def test_a_party_choice_overrides_the_label_default_for_that_party_only(catalog):
    label, alice, bob, recording = catalog
    consent_set(label=label, use=TRAINING, state=OUT, effective_from=date(2026, 1, 1))
    consent_set(label=label, party=alice, use=TRAINING, state=IN, effective_from=date(2026, 1, 1))
    # Bob has no choice: the label's opt-out speaks for him, and the strictest answer wins.
    assert consent_resolve(recording=recording, use=TRAINING, on=date(2026, 2, 1)).state == OUT
    consent_set(label=label, party=bob, use=TRAINING, state=IN, effective_from=date(2026, 2, 1))
    assert consent_resolve(recording=recording, use=TRAINING, on=date(2026, 2, 1)).allowed


def test_a_work_opt_out_covers_the_recordings_that_embody_it(catalog):
    label, alice, bob, recording = catalog
    work = Work.objects.create(label=label, iswc="T0345246801", title="Song")
    work.recordings.add(recording)
    consent_set(label=label, work=work, use=TRAINING, state=OUT, effective_from=date(2026, 1, 1))
    assert consent_resolve(recording=recording, use=TRAINING, on=date(2026, 1, 2)).state == OUT


def test_without_any_choice_a_recording_is_open_as_before_consent_existed(catalog):
    assert consent_resolve(recording=catalog[3], use=TRAINING, on=date(2026, 1, 1)).allowed


def test_voice_is_the_party_own_choice(catalog):
    label, alice, bob, recording = catalog
    consent_set(label=label, use=ConsentUse.VOICE, state=OUT, effective_from=date(2026, 1, 1))
    consent_set(label=label, party=alice, use=ConsentUse.VOICE, state=IN, effective_from=date(2026, 1, 1))
    assert consent_resolve_party(party=alice, use=ConsentUse.VOICE, on=date(2026, 1, 5)).allowed
    assert not consent_resolve_party(party=bob, use=ConsentUse.VOICE, on=date(2026, 1, 5)).allowed
    with pytest.raises(ConsentInvalid):
        consent_set(
            label=label, recording=recording, use=ConsentUse.VOICE, state=IN, effective_from=date(2026, 2, 1)
        )


def test_versions_are_never_back_dated_and_are_numbered(catalog):
    label, alice, bob, recording = catalog
    first = consent_set(label=label, party=alice, use=TRAINING, state=IN, effective_from=date(2026, 3, 1))
    with pytest.raises(ConsentNotRetroactive):
        consent_set(label=label, party=alice, use=TRAINING, state=OUT, effective_from=date(2026, 3, 1))
    second = consent_set(label=label, party=alice, use=TRAINING, state=OUT, effective_from=date(2026, 4, 1))
    assert (first.version, second.version) == (1, 2)


def test_a_consent_never_starts_inside_a_closed_period(catalog):
    from royalties.models import Period, PeriodStatus

    label, alice, bob, recording = catalog
    Period.objects.create(label=label, month=date(2026, 5, 1), status=PeriodStatus.CLOSED)
    with pytest.raises(ConsentNotRetroactive, match="2026-05-31"):
        consent_set(label=label, party=alice, use=TRAINING, state=OUT, effective_from=date(2026, 5, 20))
    consent_set(label=label, party=alice, use=TRAINING, state=OUT, effective_from=date(2026, 6, 1))


def test_who_and_why_are_in_the_audit_log(catalog):
    label, alice, bob, recording = catalog
    user = UserFactory(username="rights")
    consent = consent_set(
        label=label,
        recording=recording,
        use=TRAINING,
        state=OUT,
        effective_from=date(2026, 1, 1),
        reason="artist request 42",
        actor=user,
    )
    event = AuditEvent.objects.get(action="consent.set")
    assert event.actor == user and event.object_id == str(consent.pk)
    assert "artist request 42" in event.summary and event.data["version"] == 1


def test_a_subject_of_another_label_is_refused(catalog):
    label = catalog[0]
    stranger = PartyFactory()
    with pytest.raises(ConsentInvalid, match="does not belong"):
        consent_set(label=label, party=stranger, use=TRAINING, state=OUT, effective_from=date(2026, 1, 1))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE catalog_consent SET state = 'opt_in'",
        "UPDATE catalog_consent SET effective_from = '2020-01-01'",
    ],
)
def test_consent_history_is_append_only_in_the_database(catalog, statement):
    label, alice, bob, recording = catalog
    consent_set(label=label, party=alice, use=TRAINING, state=OUT, effective_from=date(2026, 1, 1))
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)


@pytest.mark.postgres
def test_postgres_refuses_delete_of_a_consent_version(catalog):
    label, alice, bob, recording = catalog
    consent_set(label=label, party=alice, use=TRAINING, state=OUT, effective_from=date(2026, 1, 1))
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM catalog_consent")


def test_the_command_sets_a_version_and_explains_bad_input(catalog, capsys):
    label, alice, bob, recording = catalog
    call_command("consent_set", "--label", label.slug, "--isrc", recording.isrc, "--use", "training",
                 "--state", "opt_out", "--from", "2026-02-01", "--reason", "letter")  # fmt: skip
    assert "opt_out" in capsys.readouterr().out
    assert not consent_resolve(recording=recording, use=TRAINING, on=date(2026, 2, 1)).allowed
    for argv, message in [
        (["--label", "nope"], "no label with slug"),
        (["--label", label.slug, "--isrc", "ZZ0000000000"], "has no ISRC"),
        (["--label", label.slug, "--party", "999999"], "has no party id"),
        (["--label", label.slug, "--isrc", recording.isrc, "--from", "2026-13-01"], "not a date"),
        (["--label", label.slug, "--isrc", recording.isrc], "consent_retroactive"),
    ]:
        defaults = {"--use": "training", "--state": "opt_in", "--from": "2026-01-15"}
        for flag, value in defaults.items():
            if flag not in argv:
                argv = [*argv, flag, value]
        with pytest.raises(CommandError, match=message):
            call_command("consent_set", *argv)


CONSENT_CSV = (
    "isrc,title,display_artist,party_name,right_type,share,effective_from,consent_training,consent_voice,consent_from\n"
    "QZS7M2600301,One,Ann,Ann,master,0.5,2024-01-01,opt_out,opt_in,2026-01-01\n"
    "QZS7M2600301,One,Ann,Ben,master,0.5,2024-01-01,opt_out,,2026-01-01\n"
)


def test_the_catalog_import_sets_consent_from_its_columns_and_is_idempotent():
    from catalog.importer import catalog_import
    from catalog.models import Party, Recording

    label = LabelFactory()
    report = catalog_import(label=label, csv_text=CONSENT_CSV)
    assert report.ok and report.consents_created == 2
    recording = Recording.objects.get(isrc="QZS7M2600301")
    assert consent_resolve(recording=recording, use=TRAINING, on=date(2026, 1, 1)).state == OUT
    ann = Party.objects.get(name="Ann")
    assert consent_resolve_party(party=ann, use=ConsentUse.VOICE, on=date(2026, 1, 1)).allowed
    again = catalog_import(label=label, csv_text=CONSENT_CSV)
    assert again.ok and (again.consents_created, again.consents_unchanged) == (0, 2)
    earlier = CONSENT_CSV.replace("opt_out,opt_in,2026-01-01", "opt_in,opt_in,2025-06-01").replace(
        "opt_out,,2026-01-01", "opt_in,,2025-06-01"
    )
    refused = catalog_import(label=label, csv_text=earlier)
    assert not refused.written and "never changed retroactively" in refused.errors[0].reason


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ("maybe,,2026-01-01", "is not one of opt_in, opt_out"),
        ("opt_out,,someday", "consent_from 'someday' is not a date"),
    ],
)
def test_bad_consent_cells_reject_the_recording(cells, message):
    from catalog.importer import catalog_import

    text = CONSENT_CSV.splitlines()[0] + "\nQZS7M2600302,Two,Ann,Ann,master,1,2024-01-01," + cells + "\n"
    report = catalog_import(label=LabelFactory(), csv_text=text)
    assert not report.written and message in report.errors[0].reason
