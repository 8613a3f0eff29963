import pytest

from tests.factories import LabelFactory, PartnerFactory


@pytest.fixture
def label():
    return LabelFactory(slug="north", name="North Records", default_currency="EUR")


@pytest.fixture
def partner():
    return PartnerFactory(slug="synthia", name="Synthia AI")
