"""The job serializer: safe round trips, and pickled jobs refused unless allowed."""

from __future__ import annotations

import os
import pickle
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from services.core.serialization import (
    JobDeserializer,
    PickledJobRefused,
    RemoteJobError,
    is_pickle,
    job_serializer,
)


class Booby:
    """Unpickling this creates a file: proof that the payload's code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, ...]]:
        return (os.makedirs, (str(self.marker),))


@pytest.mark.parametrize(
    "value",
    [
        {"t": 1, "f": "ping", "a": ["x", 1, 2.5, None, True], "k": {"n": {"deep": [1]}}, "et": 1},
        {"when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "naive": datetime(2026, 1, 2)},
        {"day": date(2026, 12, 4), "id": uuid.UUID(int=42), "tags": {"a", "b"}},
        {"text": "中文。消息！", "bytes": b"\x00\x01"},
    ],
)
def test_round_trip(value: dict[str, object]) -> None:
    assert JobDeserializer()(job_serializer(value)) == value


def test_exception_result_round_trip() -> None:
    loaded = JobDeserializer()(job_serializer({"r": ValueError("bad topic")}))
    assert isinstance(loaded["r"], RemoteJobError)
    assert loaded["r"].type_name == "ValueError"
    assert "bad topic" in str(loaded["r"])


def test_unserializable_value_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="cannot serialize object"):
        job_serializer({"x": object()})


def test_msgpack_is_never_mistaken_for_pickle() -> None:
    for job in ({"t": 1, "f": "a", "a": [], "k": {}, "et": 0}, {"a": 1}):
        assert not is_pickle(job_serializer(job))
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        assert is_pickle(pickle.dumps({"f": "x"}, protocol=protocol))


def test_pickled_job_refused_without_running_its_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    payload = pickle.dumps({"f": "ping", "a": [Booby(marker)], "k": {}, "t": 1, "et": 0})
    deserializer = JobDeserializer(accept_pickle=False)
    with pytest.raises(PickledJobRefused, match="ACCEPT_PICKLE_JOBS=true"):
        deserializer(payload)
    assert not marker.exists()
    assert deserializer.pickled_refused == 1


def test_pickled_job_accepted_and_counted_when_allowed() -> None:
    deserializer = JobDeserializer(accept_pickle=True)
    job = {"f": "ping", "a": [1], "k": {}, "t": 1, "et": 0}
    assert deserializer(pickle.dumps(job)) == job
    assert deserializer(pickle.dumps(job)) == job
    assert deserializer.pickled_accepted == 2
