"""Fuzzing the service against its own OpenAPI document (schemathesis): no 500s, every error in the
shape of API.md, every success matching its documented schema. A bounded number of generated
requests per operation, reproducible (derandomized)."""
from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.conftest import auth

MAX_EXAMPLES = 12


def check(case, response) -> None:
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, (case.method, case.formatted_path, body)
        error = body["error"]
        assert isinstance(error.get("code"), str) and isinstance(error.get("message"), str), body
        assert isinstance(error.get("fields", {}), dict), body
    else:
        case.validate_response(response, checks=[response_schema_conformance])


def test_no_generated_request_makes_the_service_fail_or_answer_out_of_shape(app, tokens):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = auth(tokens["manager"])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            check(case, case.call(headers=headers))

        fuzz()
