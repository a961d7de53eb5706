"""A small JSON Schema subset, because the jsonschema package is not a dependency.

Supported: type (incl. lists of types and "integer"), properties, required,
additionalProperties (bool or schema), items, enum, const, minimum, maximum, exclusiveMinimum,
exclusiveMaximum, minLength, maxLength, pattern, minItems, maxItems, anyOf, allOf, oneOf.
Anything else is ignored, which is what a validator does with an unknown keyword.
"""

from __future__ import annotations

import re
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,),
    "null": (type(None),), "number": (int, float), "integer": (int,),
}


def _is_type(value: Any, name: str) -> bool:
    if name in ("number", "integer") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(name, (object,)))


def schema_errors(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Every way ``value`` breaks ``schema``, as short messages naming the place."""
    errors: list[str] = []
    kind = schema.get("type")
    if kind is not None:
        names = kind if isinstance(kind, list) else [kind]
        if not any(_is_type(value, n) for n in names):
            return [f"{path}: expected {' or '.join(names)}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: expected {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: not one of {schema['enum']!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for key, bad in (("minimum", value < schema.get("minimum", value)),
                         ("maximum", value > schema.get("maximum", value)),
                         ("exclusiveMinimum", "exclusiveMinimum" in schema
                          and value <= schema["exclusiveMinimum"]),
                         ("exclusiveMaximum", "exclusiveMaximum" in schema
                          and value >= schema["exclusiveMaximum"])):
            if bad:
                errors.append(f"{path}: breaks {key} {schema[key]}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: longer than {schema['maxLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: does not match {schema['pattern']!r}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{path}: missing '{name}'")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                errors += schema_errors(item, properties[name], f"{path}.{name}")
            elif extra is False:
                errors.append(f"{path}: unexpected '{name}'")
            elif isinstance(extra, dict):
                errors += schema_errors(item, extra, f"{path}.{name}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: more than {schema['maxItems']} items")
        if isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                errors += schema_errors(item, schema["items"], f"{path}[{index}]")
    for sub in schema.get("allOf", []):
        errors += schema_errors(value, sub, path)
    if "anyOf" in schema and not any(not schema_errors(value, s, path) for s in schema["anyOf"]):
        errors.append(f"{path}: matches none of anyOf")
    if "oneOf" in schema and sum(not schema_errors(value, s, path)
                                 for s in schema["oneOf"]) != 1:
        errors.append(f"{path}: must match exactly one of oneOf")
    return errors
