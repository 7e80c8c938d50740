"""The job serializer: msgpack for arq jobs and results, never pickle by default.

Guarantees:
- `job_serializer` writes msgpack; datetimes, dates, UUIDs, sets and exceptions survive
  the round trip (exceptions come back as `RemoteJobError` with the original type name).
- `JobDeserializer(accept_pickle=False)` refuses a pickled payload *before* unpickling it,
  with a `PickledJobRefused` error that says how to allow it: no code in it ever runs.
  With `accept_pickle=True` (``ACCEPT_PICKLE_JOBS=true``) it unpickles and counts the job,
  so operators can see when old producers stop sending pickle.
"""

from __future__ import annotations

import pickle
import threading
import uuid
from datetime import date, datetime
from typing import Any

import msgpack

from services.core.metrics import PICKLED_JOBS

EXT_DATETIME = 1
EXT_DATE = 2
EXT_UUID = 3
EXT_EXCEPTION = 4
EXT_SET = 5
PICKLE_PROTOCOLS = range(2, 6)


class PickledJobRefused(ValueError):
    """A pickled job arrived while ``ACCEPT_PICKLE_JOBS`` is false."""


class RemoteJobError(Exception):
    """An exception recorded by a job, rebuilt from its type name and message."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message


def _encode(obj: Any) -> msgpack.ExtType:
    if isinstance(obj, datetime):
        return msgpack.ExtType(EXT_DATETIME, obj.isoformat().encode())
    if isinstance(obj, date):
        return msgpack.ExtType(EXT_DATE, obj.isoformat().encode())
    if isinstance(obj, uuid.UUID):
        return msgpack.ExtType(EXT_UUID, obj.bytes)
    if isinstance(obj, set | frozenset):
        return msgpack.ExtType(EXT_SET, msgpack.packb(sorted(obj, key=repr), default=_encode))
    if isinstance(obj, BaseException):
        type_name = obj.type_name if isinstance(obj, RemoteJobError) else type(obj).__name__
        message = obj.message if isinstance(obj, RemoteJobError) else str(obj)
        if obj.__cause__ is not None:
            # arq wraps deserialization failures; keep the reason a user can act on.
            message += f" ({type(obj.__cause__).__name__}: {obj.__cause__})"
        return msgpack.ExtType(EXT_EXCEPTION, msgpack.packb([type_name, message]))
    raise TypeError(f"cannot serialize {type(obj).__name__} in a job: use JSON-like values")


def _decode(code: int, data: bytes) -> Any:
    if code == EXT_DATETIME:
        return datetime.fromisoformat(data.decode())
    if code == EXT_DATE:
        return date.fromisoformat(data.decode())
    if code == EXT_UUID:
        return uuid.UUID(bytes=data)
    if code == EXT_SET:
        return set(msgpack.unpackb(data, ext_hook=_decode, strict_map_key=False))
    if code == EXT_EXCEPTION:
        type_name, message = msgpack.unpackb(data)
        return RemoteJobError(type_name, message)
    return msgpack.ExtType(code, data)


def job_serializer(obj: Any) -> bytes:
    """Serialize an arq job or result dict to msgpack."""
    packed: bytes = msgpack.packb(obj, default=_encode, use_bin_type=True)
    return packed


def is_pickle(data: bytes) -> bool:
    """True when `data` starts like a pickle (protocol 2-5), which msgpack jobs never do.

    0x80 is an empty msgpack map; arq's job and result dicts are never empty.
    """
    return len(data) >= 2 and data[0] == 0x80 and data[1] in PICKLE_PROTOCOLS


class JobDeserializer:
    """Reads msgpack jobs; pickled ones only when `accept_pickle` is set (and counts them)."""

    def __init__(self, accept_pickle: bool = False) -> None:
        self.accept_pickle = accept_pickle
        self.pickled_accepted = 0
        self.pickled_refused = 0
        self._lock = threading.Lock()

    def __call__(self, data: bytes) -> Any:
        if is_pickle(data):
            return self._load_pickle(data)
        return msgpack.unpackb(data, ext_hook=_decode, raw=False, strict_map_key=False)

    def _load_pickle(self, data: bytes) -> Any:
        with self._lock:
            if not self.accept_pickle:
                self.pickled_refused += 1
            else:
                self.pickled_accepted += 1
        PICKLED_JOBS.labels("accepted" if self.accept_pickle else "refused").inc()
        if not self.accept_pickle:
            raise PickledJobRefused(
                "job payload is pickled and was not unpickled; set ACCEPT_PICKLE_JOBS=true to "
                "accept jobs from producers that still use pickle"
            )
        return pickle.loads(data)  # allowed explicitly by ACCEPT_PICKLE_JOBS


#: Producers' deserializer: results are always msgpack, pickle is never read.
job_deserializer = JobDeserializer(accept_pickle=False)
