"""Every domain error has its own row in the one status table, and the tree in its module's docstring."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

import ingest.errors
import retrieval.errors
from api.errors import STATUS, status_of


def _errors(module: ModuleType) -> list[type[Exception]]:
    return [
        obj for name in module.__all__ if inspect.isclass(obj := getattr(module, name)) and issubclass(obj, Exception)
    ]


@pytest.mark.parametrize("module", [ingest.errors, retrieval.errors])
def test_every_domain_error_is_mapped_and_drawn(module: ModuleType) -> None:
    mapped = {cls for cls, _status, _code in STATUS}
    for cls in _errors(module):
        assert cls in mapped, f"{cls.__name__} has no row in api.errors.STATUS"
        assert cls.__name__ in (module.__doc__ or ""), f"{cls.__name__} is missing from the tree in {module.__name__}"
        status, code = status_of(cls("x"))
        assert 400 <= status < 600 and code != "internal_error"


def test_most_specific_row_wins() -> None:
    # A subclass listed after its base would be shadowed by it.
    for i, (cls, _s, _c) in enumerate(STATUS):
        for base, _s2, _c2 in STATUS[:i]:
            assert not issubclass(cls, base), f"{cls.__name__} comes after its base {base.__name__}"
    assert status_of(ingest.errors.UnknownJobError("x")) == (404, "not_found")
    assert status_of(ingest.errors.JobFinishedError("x")) == (409, "job_finished")
    assert status_of(ingest.errors.PathRefusedError("x")) == (403, "path_refused")


def test_an_error_outside_the_trees_is_a_500() -> None:
    assert status_of(KeyError("x")) == (500, "internal_error")
