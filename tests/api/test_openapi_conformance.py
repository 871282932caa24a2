"""Property-based: schemathesis makes requests from the API's own OpenAPI schema
(valid and invalid parameters and bodies) and sends them to the real server
process; every answer must be one the schema documents (status, content type,
headers, body), invalid requests must be refused with a 4xx, and valid ones
accepted - with a viewer's token (writes: 403) and an operator's (writes reach
the command path; there is no broker here: 503, as documented)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import TypeAdapter
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, positive_data_acceptance

from gazewire.api.params import Time, utc_us
from tests.api.conftest import TOKENS, ApiProcess
from tests.support.long_recording import write_long_recording

TIMES = TypeAdapter(Time)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory):
    made = write_long_recording(tmp_path_factory.mktemp("journal") / "journal.sqlite", samples=3_000, template_s=1,
                                recording="R1", session="S1")
    started = ApiProcess(tmp_path_factory.mktemp("api"), journal=made.journal, GAZEWIRE_MQTT__PORT="1",
                         GAZEWIRE_API__COMMAND_TIMEOUT_S="0.5")
    yield started
    assert started.stop() == 0, started.log()


def operations(api: ApiProcess) -> list:
    schema = schemathesis.openapi.from_url(f"{api.url}/api/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) == 16  # health, sessions, recordings, one recording, start, change, 5 tables x 2
    return found


def reversed_range(query: dict | None) -> bool:
    """``to`` before or at ``from``: valid parameters one by one, refused together (422), which
    OpenAPI cannot state."""
    query = query or {}
    if query.get("from") is None or query.get("to") is None:
        return False
    return utc_us(TIMES.validate_python(str(query["to"]))) <= utc_us(TIMES.validate_python(str(query["from"])))


def accepts_valid_requests(ctx, response, case) -> None:
    """schemathesis' positive_data_acceptance, but for a reversed range."""
    if response.status_code == 422 and not reversed_range(case.query):
        raise AssertionError(f"a schema-valid request was refused: {response.text}")


def fuzz(operation, mode: GenerationMode, headers: dict, excluded: list, extra: list, *, examples: int) -> None:
    @given(case=operation.as_strategy(mode))
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None,
              phases=[Phase.explicit, Phase.generate])
    def answers_as_documented(case) -> None:
        case.call_and_validate(headers=headers, excluded_checks=excluded, additional_checks=extra)

    answers_as_documented()


@pytest.mark.parametrize("role", ["viewer", "operator"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_answer_is_one_the_schema_documents(api: ApiProcess, role: str, mode: GenerationMode) -> None:
    headers = {"Authorization": f"Bearer {TOKENS[role]}"}
    nothing_to_get_wrong = []
    for operation in operations(api):
        writes = operation.method.upper() in ("POST", "PATCH")
        excluded = [positive_data_acceptance] + ([not_a_server_error] if writes else [])  # 503: no broker
        extra = [accepts_valid_requests] if mode is GenerationMode.POSITIVE else []

        try:
            fuzz(operation, mode, headers, excluded, extra, examples=5 if writes else 10)
        except Unsatisfiable:  # no parameter or body that could be invalid
            assert mode is GenerationMode.NEGATIVE, operation.label
            nothing_to_get_wrong.append(operation.label)
    assert set(nothing_to_get_wrong) <= {"GET /api/health", "GET /api/sessions"}
