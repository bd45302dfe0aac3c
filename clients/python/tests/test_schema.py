"""The client's models against the running server's `/openapi.json`: the same field names, the
same required fields, null allowed wherever the server may send it, and a model for every
schema. A server change the client has not followed fails here, not in production."""

from __future__ import annotations

import types
import typing
from typing import Any, Optional

import pytest
from pydantic import BaseModel

from purser_client.models import SCHEMA_OF, ErrorDetail, ReservationOut, UsageOut

# Fields the server is adding now: the client reads them when sent, and a binary that does not
# have them yet is not drift. Once the server has one, it is checked like any other.
UPCOMING = {
    (UsageOut, "tightest"),
    (ReservationOut, "tightest"),
    (ErrorDetail, "limit"),
    (ErrorDetail, "spent"),
    (ErrorDetail, "resets_at"),
    (ErrorDetail, "retry_after_s"),
}
# Schemas that are maps or unions, read as plain dicts or through their variants.
NOT_MODELS = {"Amounts", "AmountsIn", "SpendIn", "Labels", "BatchItemOut", "RecommendationOut"}


def resolve(openapi: dict[str, Any], name: str) -> Optional[tuple[str, dict[str, Any]]]:
    """The schema a model mirrors, found by name, by variant, or through what answers it."""
    schemas = openapi["components"]["schemas"]
    if "#" in name:
        union, kind = name.split("#")
        for variant in schemas[union]["oneOf"]:
            if variant["properties"]["kind"].get("enum") == [kind]:
                return union, variant
        return None
    if name in schemas:
        return name, schemas[name]
    ref = None
    if name == "MeOut" and "/v1/me" in openapi["paths"]:
        answer = openapi["paths"]["/v1/me"]["get"]["responses"]["200"]
        ref = answer["content"]["application/json"]["schema"]["$ref"]
    if name == "TightestOut":
        tightest = schemas["UsageOut"]["properties"].get("tightest")
        if tightest is not None:
            items = tightest.get("items") or next(
                (part["items"] for part in tightest.get("oneOf", []) if "items" in part), None
            )
            ref = items and items.get("$ref")
    if ref is None:
        return None
    found = ref.rsplit("/", 1)[1]
    return found, schemas[found]


def nullable(schema: dict[str, Any]) -> bool:
    kinds = schema.get("type")
    if isinstance(kinds, list) and "null" in kinds:
        return True
    return any(part.get("type") == "null" for part in schema.get("oneOf", []))


def accepts_none(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return type(None) in typing.get_args(annotation)
    return annotation is None or annotation is type(None)


def wire_fields(model: type[BaseModel]) -> dict[str, Any]:
    return {(info.alias or name): info for name, info in model.model_fields.items()}


def drift(model: type[BaseModel], schema: dict[str, Any]) -> list[str]:
    fields = wire_fields(model)
    properties = schema.get("properties", {})
    problems = []
    for name in sorted(set(properties) - set(fields)):
        problems.append(f"the server has {name}, the model does not")
    for name in sorted(set(fields) - set(properties)):
        if (model, name) not in UPCOMING:
            problems.append(f"the model has {name}, the server does not")
    required = set(schema.get("required", []))
    model_required = {name for name, info in fields.items() if info.is_required()}
    for name in sorted(required ^ model_required):
        side = "server" if name in required else "model"
        problems.append(f"{name} is required only by the {side}")
    for name, prop in properties.items():
        if name in fields and nullable(prop) and not accepts_none(fields[name].annotation):
            problems.append(f"{name} may be null on the wire but not in the model")
    return problems


@pytest.mark.parametrize("model", list(SCHEMA_OF), ids=lambda model: model.__name__)
def test_model_matches_schema(openapi: dict[str, Any], model: type[BaseModel]) -> None:
    resolved = resolve(openapi, SCHEMA_OF[model])
    if resolved is None:
        pytest.skip(f"this purser binary does not serve {SCHEMA_OF[model]} yet (/openapi.json)")
    _, schema = resolved
    assert drift(model, schema) == [], f"{model.__name__} drifted from the server"


def test_every_schema_has_a_model(openapi: dict[str, Any]) -> None:
    covered = set(NOT_MODELS)
    for name in SCHEMA_OF.values():
        resolved = resolve(openapi, name)
        if resolved is not None:
            covered.add(resolved[0])
    missing = sorted(set(openapi["components"]["schemas"]) - covered)
    assert missing == [], f"schemas without a model in purser_client.models: {missing}"
