"""The generated payload modules: up to date, and faithful to the schemas."""

from __future__ import annotations

import importlib
import json
from typing import Any

import msgspec
import pytest

from csms.protocol.payloads import codegen

pytestmark = pytest.mark.backend_independent

SPECS = {spec.module: spec for spec in codegen.VERSIONS}


@pytest.mark.parametrize("module", sorted(SPECS))
def test_generated_module_is_up_to_date(module: str) -> None:
    spec = SPECS[module]
    committed = codegen.target(spec).read_text(encoding="utf-8")
    assert committed == codegen.generate(spec), (
        f"{codegen.target(spec)} is stale: run `python -m csms.protocol.payloads.codegen`"
    )


def test_check_mode_reports_nothing_stale() -> None:
    assert codegen.main(["--check"]) == 0


def _schemas(module: str) -> dict[str, dict[str, Any]]:
    spec = SPECS[module]
    return {
        path.name: json.loads(path.read_text(encoding="utf-8-sig"))
        for path in spec.schema_dir.glob("*.json")
    }


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = root["definitions"][node["$ref"].removeprefix("#/definitions/")]
    return node


def _check_struct(cls: type[msgspec.Struct], node: dict[str, Any], root: dict[str, Any]) -> None:
    """Names, required-ness and closedness of a Struct against its schema."""
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    properties = node.get("properties", {})
    fields = {f.encode_name: f for f in info.fields}
    assert list(fields) == list(properties), cls.__name__
    for name, f in fields.items():
        assert f.required == (name in node.get("required", ())), f"{cls.__name__}.{name}"
        assert f.name.isidentifier() and f.name == f.name.lower()
    assert info.forbid_unknown_fields == (node.get("additionalProperties", True) is False)
    for name, f in fields.items():
        target = _resolve(properties[name], root)
        sub = f.type  # an optional field's type without its UnsetType
        if isinstance(sub, msgspec.inspect.ListType):
            sub, target = sub.item_type, _resolve(target["items"], root)
        if isinstance(sub, msgspec.inspect.StructType):
            _check_struct(sub.cls, target, root)


@pytest.mark.parametrize("module", sorted(SPECS))
def test_structs_match_the_schemas(module: str) -> None:
    spec = SPECS[module]
    generated = importlib.import_module(f"csms.protocol.payloads.{module}")
    schemas = _schemas(module)
    actions = {
        name.removesuffix(spec.request_file.removeprefix("{action}"))
        for name in schemas
        if spec.response_file.format(
            action=name.removesuffix(spec.request_file.removeprefix("{action}"))
        )
        in schemas
    }
    assert set(generated.REQUESTS) == actions
    assert set(generated.RESPONSES) == actions
    for action in actions:
        for table, template in (
            (generated.REQUESTS, spec.request_file),
            (generated.RESPONSES, spec.response_file),
        ):
            root = schemas[template.format(action=action)]
            _check_struct(table[action], root, root)


@pytest.mark.parametrize("module", sorted(SPECS))
def test_every_struct_is_keyword_only(module: str) -> None:
    generated = importlib.import_module(f"csms.protocol.payloads.{module}")
    structs = [
        value
        for value in vars(generated).values()
        if isinstance(value, type)
        and issubclass(value, msgspec.Struct)
        and value.__module__ == generated.__name__
        and value.__struct_fields__
    ]
    assert structs
    for cls in structs:
        with pytest.raises(TypeError):
            cls(*[None] * len(cls.__struct_fields__))  # positional arguments refused


def test_names_read_like_the_specification() -> None:
    from csms.protocol.payloads import v16, v201

    assert v16.MeterValuesRequest.__struct_fields__ == (
        "connector_id",
        "transaction_id",
        "meter_value",
    )
    for name in ("MeterValue", "SampledValue", "IdTagInfo", "ChargingProfile", "KeyValue"):
        assert issubclass(getattr(v16, name), msgspec.Struct)
    for name in ("IdTokenType", "EVSEType", "MeterValueType", "CustomDataType"):
        assert issubclass(getattr(v201, name), msgspec.Struct)
    assert (
        v16.BootNotificationRequest(
            charge_point_vendor="V", charge_point_model="M"
        ).charge_point_serial_number
        is msgspec.UNSET
    )
    fields = {f.name: f.encode_name for f in msgspec.structs.fields(v201.OCSPRequestDataType)}
    assert fields["responder_url"] == "responderURL"


def test_the_generator_refuses_what_it_does_not_translate() -> None:
    module = codegen.Module(codegen.VERSIONS[0])
    root: dict[str, Any] = {"type": "object", "properties": {}}
    with pytest.raises(ValueError, match="unsupported keywords"):
        module.type_of({"type": "string", "const": "x"}, root, "X", "y")
    with pytest.raises(ValueError, match="unsupported type"):
        module.type_of({"type": ["string", "null"]}, root, "X", "y")
    with pytest.raises(ValueError, match="multipleOf"):
        module.type_of({"type": "number", "multipleOf": 0.5}, root, "X", "y")
