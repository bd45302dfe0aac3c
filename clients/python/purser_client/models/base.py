"""The two kinds of wire models: what the client sends and what the server answers.

Requests forbid unknown fields, as the server does, so that a typo fails here with the field
named rather than as a 400 after a round trip. Answers allow them: the API adds fields freely,
and an older client must keep reading a newer server.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

# Dimension name to a non-negative integer: {"tokens": 450, "cost_micros": 11000}.
Amounts = dict[str, int]
Labels = dict[str, str]


class Request(BaseModel):
    """A body the client sends; `to_wire` drops the fields left unset."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Answer(BaseModel):
    """A body the server answers; fields the client does not know yet are kept, not refused."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
