import pytest

from catalog.models import Recording, Role
from tests.browser.conftest import sign_in
from tests.factories import LabelFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSV_WITH_A_BAD_LINE = (
    "isrc,title,display_artist,party_name,right_type,share,effective_from\n"
    "QZS7M2600301,Good Song,Ann,Ann,master,1,2024-01-01\n"
    "QZS7M2600302,Bad Song,Bob,Bob,master,0.8,2024-01-01\n"
)


@pytest.fixture
def rights_manager():
    from catalog.models import Membership

    label = LabelFactory(name="Northgate Records")
    user = UserFactory(username="rita")
    Membership.objects.create(user=user, label=label, role=Role.RIGHTS_MANAGER)
    return user, label


def test_sign_in_and_import_a_csv_with_a_bad_line(page, rights_manager, tmp_path, screenshot):
    user, label = rights_manager
    sign_in(page, "rita", "secret-pass-123")
    assert "Northgate Records" in page.content()
    page.click("text=Import")
    csv_path = tmp_path / "catalog.csv"
    csv_path.write_text(CSV_WITH_A_BAD_LINE)
    page.set_input_files("input[name=csv_file]", str(csv_path))
    page.click("button:has-text('Import')")
    page.wait_for_selector("text=Nothing was imported")
    errors = page.inner_text("table.errors")
    assert "3" in errors and "master shares sum to 0.8" in errors
    screenshot("catalog-import-errors")
    assert not Recording.objects.filter(label=label).exists()


def test_wrong_password_is_refused(page, rights_manager):
    page.goto("/accounts/login/")
    page.fill("input[name=username]", "rita")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    assert "didn't match" in page.content()
