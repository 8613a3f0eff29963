"""Production-safe defaults (issue 13): `check --deploy` is clean with the production environment,
/metrics needs its token or an allowed address, and every page carries the Content-Security-Policy."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "a-production-like-secret-key-" + "x" * 40,
    "FIELD_ENCRYPTION_KEYS": "YmVuY2gtb25seS1rZXktbm90LWZvci1wcm9kLXVzZSE=",
    "ALLOWED_HOSTS": "stemma.example.com",
}


def test_check_deploy_is_clean_with_the_production_settings(tmp_path):
    # DJANGO_ALLOW_ASYNC_UNSAFE: the browser tests set it for Playwright; production never does.
    unset = ("DEBUG", "SECURE_SSL_REDIRECT", "SECURE_COOKIES", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(PRODUCTION_ENV, STEMMA_VAR_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_an_encryption_key(tmp_path):
    env = {**os.environ, **PRODUCTION_ENV, "STEMMA_VAR_DIR": str(tmp_path), "FIELD_ENCRYPTION_KEYS": ""}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "FIELD_ENCRYPTION_KEYS" in result.stderr


@pytest.mark.django_db
class TestMetrics:
    def test_refused_without_the_token(self, client, settings):
        settings.METRICS_TOKEN = "scrape-token"
        response = client.get("/metrics")
        assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
        assert b"stemma_" not in response.content
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401

    def test_served_with_the_token(self, client, settings):
        settings.METRICS_TOKEN = "scrape-token"
        response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token")
        assert response.status_code == 200 and b"stemma_clips{" in response.content

    def test_served_to_an_allowed_address_only(self, client, settings):
        from config.client_ip import trusted_proxy_networks

        settings.METRICS_ALLOWED_NETWORK_LIST = trusted_proxy_networks(["10.1.0.0/16"], setting="x")
        assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
        assert client.get("/metrics", REMOTE_ADDR="10.2.0.1").status_code == 401

    def test_closed_outside_debug_when_nothing_is_configured(self, client, settings):
        settings.DEBUG = False
        settings.SECURE_SSL_REDIRECT = False
        assert client.get("/metrics").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/admin/login/", "/api/docs/", "/api/redoc/", "/healthz"]
)
def test_every_answer_carries_the_csp_without_unsafe_script(path):
    response = Client().get(path)
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert "'unsafe-inline'" not in directives["default-src"] and "frame-ancestors" in directives


def test_templates_have_no_inline_script():
    offenders = []
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        for marker in ("<script>", "onclick=", "onchange=", "onsubmit=", "onload=", "javascript:"):
            if marker in text:
                offenders.append(f"{template.relative_to(ROOT)}: {marker}")
        offenders += [
            f"{template.relative_to(ROOT)}: inline <script>"
            for chunk in text.split("<script")[1:]
            if "src=" not in chunk.split(">", 1)[0]
        ]
    assert not offenders
