"""factory_boy factories shared by every app's tests."""

from datetime import date
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from stdnum import isrc as stdnum_isrc

from catalog.models import Label, Membership, Partner, Party, PartyKind, Recording, Role
from catalog.services import ShareLine, split_create


def make_isrc(n: int) -> str:
    return stdnum_isrc.compact(f"QZ-S7M-26-{n:05d}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("secret-pass-123")


class LabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Label
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Label {n}")
    slug = factory.Sequence(lambda n: f"label-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    label = factory.SubFactory(LabelFactory)
    role = Role.RIGHTS_MANAGER


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Partner {n}")
    slug = factory.Sequence(lambda n: f"partner-{n}")


class PartyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Party

    label = factory.SubFactory(LabelFactory)
    name = factory.Sequence(lambda n: f"Party {n}")
    kind = PartyKind.ARTIST


class RecordingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Recording

    label = factory.SubFactory(LabelFactory)
    isrc = factory.Sequence(make_isrc)
    title = factory.Sequence(lambda n: f"Song {n}")
    display_artist = "Demo Artist"
    duration_seconds = 60.0


def split_for(recording: Recording, shares: dict[Party, str], *, right_type="master", start=date(2020, 1, 1)):
    """A split version for a recording from {party: share}."""
    return split_create(
        recording=recording,
        right_type=right_type,
        effective_from=start,
        shares=[ShareLine(party=p, share=Decimal(s)) for p, s in shares.items()],
    )


def member(username: str, label: Label, role: str = Role.RIGHTS_MANAGER):
    user = UserFactory(username=username)
    Membership.objects.create(user=user, label=label, role=role)
    return user
