from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.errors import SplitInvalid, SplitNotRetroactive
from catalog.models import Split, SplitShare
from catalog.services import ShareLine, split_create
from tests.factories import LabelFactory, PartyFactory, RecordingFactory, split_for

pytestmark = pytest.mark.django_db


def test_split_versions_are_effective_dated():
    recording = RecordingFactory()
    alice, bob = PartyFactory(label=recording.label), PartyFactory(label=recording.label)
    split_for(recording, {alice: "0.5", bob: "0.5"}, start=date(2024, 1, 1))
    split_for(recording, {alice: "0.75", bob: "0.25"}, start=date(2025, 1, 1))

    def shares_on(day):
        split = Split.objects.filter(recording=recording).in_force(on=day).get()
        return {s.party: s.share for s in split.shares.all()}

    assert shares_on(date(2024, 6, 1)) == {alice: Decimal("0.5"), bob: Decimal("0.5")}
    assert shares_on(date(2025, 1, 1)) == {alice: Decimal("0.75"), bob: Decimal("0.25")}
    assert not Split.objects.filter(recording=recording).in_force(on=date(2023, 12, 31)).exists()


def test_split_never_retroactive():
    recording = RecordingFactory()
    alice = PartyFactory(label=recording.label)
    split_for(recording, {alice: "1"}, start=date(2025, 1, 1))
    with pytest.raises(SplitNotRetroactive, match="never changed retroactively"):
        split_for(recording, {alice: "1"}, start=date(2024, 1, 1))
    with pytest.raises(SplitNotRetroactive):
        split_for(recording, {alice: "1"}, start=date(2025, 1, 1))
    # Another right type has its own history.
    split_for(recording, {alice: "1"}, right_type="publishing", start=date(2024, 1, 1))


def test_split_rejects_sum_and_names_recording():
    recording = RecordingFactory(isrc="QZS7M2699999")
    alice, bob = PartyFactory(label=recording.label), PartyFactory(label=recording.label)
    with pytest.raises(SplitInvalid) as excinfo:
        split_for(recording, {alice: "0.5", bob: "0.4"})
    assert "QZS7M2699999" in str(excinfo.value) and "0.9" in str(excinfo.value)
    assert not Split.objects.exists()


def test_split_rejects_other_labels_party_and_duplicates():
    recording = RecordingFactory()
    outsider = PartyFactory(label=LabelFactory())
    with pytest.raises(SplitInvalid, match="must belong"):
        split_for(recording, {outsider: "1"})
    alice = PartyFactory(label=recording.label)
    with pytest.raises(SplitInvalid, match="twice"):
        split_create(
            recording=recording,
            right_type="master",
            effective_from=date(2024, 1, 1),
            shares=[ShareLine(alice, Decimal("0.5")), ShareLine(alice, Decimal("0.5"))],
        )


share_values = st.decimals(min_value=Decimal("-0.2"), max_value=Decimal("1.2"), places=6, allow_nan=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw_shares=st.lists(share_values, min_size=1, max_size=5), exact=st.booleans())
def test_random_split_sets_accepted_iff_valid(raw_shares, exact):
    """Random share sets either sum to exactly 1 (and are accepted) or are rejected, writing nothing."""
    if exact and len(raw_shares) > 1:
        # Make the last share close the sum to exactly 1 (it may still be out of range).
        raw_shares = [*raw_shares[:-1], Decimal(1) - sum(raw_shares[:-1], Decimal(0))]
    recording = RecordingFactory()
    parties = [PartyFactory(label=recording.label) for _ in raw_shares]
    valid = sum(raw_shares, Decimal(0)) == 1 and all(Decimal(0) < s <= 1 for s in raw_shares)
    before = SplitShare.objects.count()
    try:
        split_for(recording, dict(zip(parties, [str(s) for s in raw_shares], strict=True)))
        accepted = True
    except SplitInvalid:
        accepted = False
    assert accepted == valid
    written = SplitShare.objects.count() - before
    assert written == (len(raw_shares) if valid else 0)
    if accepted:
        split = Split.objects.get(recording=recording)
        assert sum(s.share for s in split.shares.all()) == Decimal(1)
