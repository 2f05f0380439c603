"""Schema-driven fuzzing of a live server (schemathesis against /openapi.json): no 5xx, and every response
matches its declared schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.models import OfflineModels
from tests.live_server import Server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, offline_models: OfflineModels) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("fuzz"), offline_models)
    srv.start()
    yield srv
    srv.stop()


def test_fuzz_every_operation(server: Server, tmp_path: Path) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.specs.openapi.checks import response_schema_conformance

    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    failures: list[str] = []
    calls: list[int] = []
    operations = list(schema.get_all_operations())
    assert len(operations) >= 10
    for result in operations:
        operation = result.ok()

        @settings(
            max_examples=25, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=server.url, timeout=60)
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}")
            case.validate_response(response, checks=[response_schema_conformance])

        check()
    assert not failures, "\n".join(failures)
    assert len(calls) >= 100 and any(c < 300 for c in calls) and any(400 <= c < 500 for c in calls)
