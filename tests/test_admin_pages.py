"""Every admin list page opens (a broken admin is a 500 for the person who needs it on a bad day)."""

import pytest
from django.contrib import admin
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

MODELS = sorted(f"{m._meta.app_label}.{m._meta.model_name}" for m in admin.site._registry)


@pytest.mark.parametrize("model", MODELS)
def test_admin_changelist_opens(client, model):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    app_label, model_name = model.split(".")
    response = client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    assert response.status_code == 200
