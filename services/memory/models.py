"""Chat messages as producers hand them to the memory subsystem, validated once.

`Message` refuses what would make a queue or a memory unbounded or ambiguous: ids that are
not strings, oversized text or metadata, unknown fields. Errors are `InvalidMessage`
(a `ValueError`) whose text names the offending field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator

#: Longest message text accepted, in characters.
MAX_TEXT_CHARS = 8000
#: Largest metadata accepted, in bytes of compact JSON.
MAX_METADATA_BYTES = 4096
#: Longest id (message, topic, group) accepted, in characters.
MAX_ID_CHARS = 200

Identifier = Annotated[StrictStr, Field(min_length=1, max_length=MAX_ID_CHARS)]


class InvalidMessage(ValueError):
    """A message, topic id or group id a producer passed is not acceptable."""


class Message(BaseModel):
    """One chat message; `id` is unique within its topic (a second push is ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Identifier
    author: Identifier
    role: Annotated[StrictStr, Field(min_length=1, max_length=32)]
    text: Annotated[StrictStr, Field(min_length=1, max_length=MAX_TEXT_CHARS)]
    timestamp: datetime
    metadata: dict[str, Any] | None = None

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    @field_validator("metadata")
    @classmethod
    def _bounded_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        try:
            size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
        except (TypeError, ValueError):
            raise ValueError("JSON-serializable values only") from None
        if size > MAX_METADATA_BYTES:
            raise ValueError(f"at most {MAX_METADATA_BYTES} bytes as JSON, got {size}")
        return value

    def to_json(self) -> str:
        """Compact JSON, as stored in the L2 queue."""
        return self.model_dump_json()


class PendingMessage(BaseModel):
    """A message read back from an L2 queue, with its per-topic sequence number."""

    model_config = ConfigDict(frozen=True)

    seq: int
    message: Message


def describe(error: ValidationError) -> str:
    """`field: problem` for each error, e.g. ``text: String should have at most 8000 characters``."""
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item.get("loc", ())) or "message"
        parts.append(f"{field}: {item.get('msg', 'invalid')}")
    return "; ".join(parts)


def parse_message(message: Message | Mapping[str, Any]) -> Message:
    """A `Message` from a model or a mapping; raises `InvalidMessage` naming the bad field."""
    if isinstance(message, Message):
        return message
    if not isinstance(message, Mapping):
        raise InvalidMessage(
            f"message: expected a Message or a mapping, got {type(message).__name__}"
        )
    try:
        return Message.model_validate(dict(message))
    except ValidationError as error:
        raise InvalidMessage(f"invalid message: {describe(error)}") from None


def check_identifier(name: str, value: object) -> str:
    """`value` if it is a usable id (non-empty string, bounded); else `InvalidMessage`."""
    if not isinstance(value, str):
        raise InvalidMessage(f"{name}: expected a string, got {type(value).__name__}")
    if not value or len(value) > MAX_ID_CHARS:
        raise InvalidMessage(f"{name}: expected 1 to {MAX_ID_CHARS} characters, got {len(value)}")
    return value
