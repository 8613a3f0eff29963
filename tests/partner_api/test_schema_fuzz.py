"""Schemathesis against the live schema: generated requests (valid and invalid) for every operation,
sent to a live server, judged by schemathesis' checks (its default set: no 5xx; status codes, content
types, headers and bodies as documented; invalid data refused; authentication required where declared;
...), all but the one EXCLUDED_CHECKS explains.

Bounded (a few examples per operation and mode) so it stays well under a minute.
"""

import os

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import positive_data_acceptance  # noqa: E402

from partner_api.models import WebhookEndpoint  # noqa: E402
from partner_api.services import webhook_secret_generate  # noqa: E402
from tests.partner_api.conftest import make_attribution, make_clip  # noqa: E402

# Every check but one. `positive_data_acceptance` (a schema-valid request must not be a 4xx) cannot hold
# for what an OpenAPI schema cannot say: an uploaded clip or report is judged by its content (random
# bytes are 415/422 by design), a usage period must lie between 2000 and today, and a cursor is only
# valid if we issued it. Its counterpart, `negative_data_rejection`, runs.
EXCLUDED_CHECKS = [positive_data_acceptance]
EXAMPLES_PER_OPERATION = int(os.environ.get("STEMMA_FUZZ_EXAMPLES", "12"))  # raise it for a deeper run
# A request the schema rules out must be refused; 413 is how an over-long usage batch (more than the
# schema's maxItems lines) is refused, before its lines are read, so it counts as a refusal too.
CHECKS_CONFIG = {
    "checks": {
        "negative_data_rejection": {
            "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
        }
    }
}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_server_errors_or_schema_violations(world, live_server, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"partner": "100000/min", "partner_burst": "100000/s"},
    }
    clip = make_clip(world.a1)
    make_attribution(clip)
    endpoint = WebhookEndpoint.objects.create(
        partner=world.a1.partner,
        label=world.a1.label,
        url="https://example.com/h",
        secret=webhook_secret_generate(),
        event_types=[],
    )
    known_ids = {"clip_id": clip.pk, "endpoint_id": endpoint.pk, "report_id": 1}
    schema = schemathesis.openapi.from_url(
        f"{live_server.url}/api/schema/",
        config=schemathesis.config.SchemathesisConfig.from_dict(CHECKS_CONFIG),
    )
    auth = {"Authorization": f"Bearer {world.a1.raw_key}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14

    for operation in operations:
        path_names = {p.name for p in operation.path_parameters}
        known = {name: value for name, value in known_ids.items() if name in path_names}
        strategies = [
            operation.as_strategy(generation_mode=mode, headers=auth)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        ]
        if known:
            strategies.append(operation.as_strategy(headers=auth, path_parameters=known))

        @given(case=st.one_of(strategies))
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION * len(strategies),
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            # A cursor is opaque: only the ones we hand out in `next` links are valid, so a generated one
            # is always refused (400 invalid_cursor, tested in test_clips). Leave the empty one, which
            # the schema itself rules out.
            if case.query and case.query.get("cursor"):
                del case.query["cursor"]
            case.call_and_validate(base_url=live_server.url, headers=auth, excluded_checks=EXCLUDED_CHECKS)

        run()
