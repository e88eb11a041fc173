"""Schemathesis against the app's own OpenAPI: generated requests never get a 5xx, and errors keep their shape.

One test per operation; each draws a bounded number of cases (the roofline PNG renders a plot per
call, so it gets fewer) so the whole run stays well under a minute on two cores.
"""

from __future__ import annotations

import pytest
import schemathesis
from api_helpers import bundled_state, make_settings, query_embedder  # noqa: F401 - fixture
from hypothesis import HealthCheck, given, settings

from api.app import create_app
from api.settings import Settings

pytestmark = pytest.mark.slow

EXAMPLES = 20
FEWER = {("GET", "/v1/estimate/roofline.png"): 6, ("GET", "/v1/estimate/curve.png"): 6, ("POST", "/v1/refresh"): 4}
# the paths come from the app's schema; building it loads nothing (the lifespan does the work)
OPERATIONS = [(method.upper(), path)
              for path, ops in create_app(Settings(_env_file=None)).openapi()["paths"].items()  # type: ignore[call-arg]
              for method in ops]


@pytest.fixture(scope="module")
def api_schema(bundled_state):  # noqa: F811
    # a token is set so the admin routes are on; generated requests do not know it (401s)
    app = create_app(make_settings(bundled_state, admin_token="fuzz-token"), query_embedder=query_embedder())
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("method, path", OPERATIONS)
def test_no_server_errors(api_schema, method: str, path: str) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=FEWER.get((method, path), EXAMPLES), deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        response = case.call()
        status = response.status_code
        assert status < 500, f"{method} {case.formatted_path} -> {status}: {response.text[:300]}"
        if status >= 400:
            body = response.json()
            assert set(body) == {"error"} and set(body["error"]) == {"message", "type"}, body

    run()


def test_every_operation_has_a_summary() -> None:
    spec = create_app(Settings(_env_file=None)).openapi()  # type: ignore[call-arg]
    missing = [f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m, op in ops.items() if not op.get("summary")]
    assert missing == []
    assert len(OPERATIONS) >= 19
