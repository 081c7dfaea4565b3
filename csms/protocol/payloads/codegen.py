"""Generates the payload modules ``v16.py`` and ``v201.py`` from the official
OCPP JSON schemas that ship in the installed ``ocpp`` package.

    python -m csms.protocol.payloads.codegen          # (re)write both modules
    python -m csms.protocol.payloads.codegen --check  # exit 1 if they are stale

Every request and response schema becomes a ``msgspec.Struct``; nested
objects become their own Structs, shared where their definitions are equal;
enums become ``Literal`` aliases; length and range limits become
``Annotated[..., Meta(...)]``; ``format: date-time`` and ``multipleOf: 0.1``
become the exact custom types of ``_types.py``. The generator refuses schema
keywords it does not translate, so a schema change cannot slip by unchecked.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import keyword
import re
import sys
import textwrap
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import ocpp

PACKAGE_DIR = Path(__file__).resolve().parent
LINE = 100

# Keywords that do not constrain a value (or are handled by the surrounding walk).
_ANNOTATIONS = {"$schema", "$id", "id", "title", "description", "comment", "javaType", "default"}
_HANDLED = {
    "object": {"type", "properties", "required", "additionalProperties"},
    "array": {"type", "items", "minItems", "maxItems", "additionalItems"},
    "string": {
        "type",
        "maxLength",
        "minLength",
        "enum",
        "format",
        "pattern",
        "additionalProperties",
    },
    "integer": {"type", "minimum", "maximum"},
    "number": {"type", "minimum", "maximum", "multipleOf"},
    "boolean": {"type"},
}


@dataclass(frozen=True)
class VersionSpec:
    module: str  # module and schema folder name: "v16"
    label: str  # OCPP version: "1.6"
    request_file: str  # "{action}.json"
    response_file: str = "{action}Response.json"

    @property
    def schema_dir(self) -> Path:
        return Path(ocpp.__file__).resolve().parent / self.module / "schemas"


VERSIONS = (
    VersionSpec("v16", "1.6", "{action}.json"),
    VersionSpec("v201", "2.0.1", "{action}Request.json"),
)

# OCPP 1.6 schemas define nested objects inline: the property name names the
# Struct, except where the specification's own name reads better.
_V16_STRUCT_NAMES = {
    "configurationKey": "KeyValue",
    "csChargingProfiles": "ChargingProfile",
    "localAuthorizationList": "AuthorizationData",
}
# OCPP 1.6 enums are inline too. An enum is named after its property when the
# property has the same values everywhere, else after its Struct and property;
# these names are then replaced by the specification's names.
_V16_ENUM_NAMES = {
    "BootNotificationStatus": "RegistrationStatus",
    "ChangeAvailabilityStatus": "AvailabilityStatus",
    "ChangeAvailabilityType": "AvailabilityType",
    "ChangeConfigurationStatus": "ConfigurationStatus",
    "ClearChargingProfileStatus": "ClearChargingProfileStatus",
    "Context": "ReadingContext",
    "DiagnosticsStatusNotificationStatus": "DiagnosticsStatus",
    "ErrorCode": "ChargePointErrorCode",
    "FirmwareStatusNotificationStatus": "FirmwareStatus",
    "Format": "ValueFormat",
    "IdTagInfoStatus": "AuthorizationStatus",
    "RemoteStartTransactionStatus": "RemoteStartStopStatus",
    "RemoteStopTransactionStatus": "RemoteStartStopStatus",
    "RequestedMessage": "MessageTrigger",
    "ReserveNowStatus": "ReservationStatus",
    "SampledValueUnit": "UnitOfMeasure",
    "SendLocalListStatus": "UpdateStatus",
    "SetChargingProfileStatus": "ChargingProfileStatus",
    "StatusNotificationStatus": "ChargePointStatus",
    "TransactionDataSampledValueUnit": "TransactionDataUnitOfMeasure",
    "UnlockConnectorStatus": "UnlockStatus",
}


# -- names ------------------------------------------------------------------

# names the generated modules define or import themselves
_RESERVED = {"Payload", "OpenPayload", "T", "Struct", "Meta", "UNSET", "UnsetType", "DateTime"}
_RESERVED |= {"Tenths", "Annotated", "Any", "Literal", "TypeVar", "REQUESTS", "RESPONSES"}


def snake(name: str) -> str:
    out = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    out = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", out).lower()
    return out + "_" if keyword.iskeyword(out) else out


def camel(python_name: str) -> str:
    """msgspec's ``rename="camel"``."""
    first, *rest = python_name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return repr(value)


def _bare(owner: str) -> str:
    for suffix in ("Request", "Response"):
        if owner.endswith(suffix):
            return owner[: -len(suffix)]
    return owner


# -- the model of one module ------------------------------------------------


@dataclass
class Field:
    python: str
    json: str
    type: str
    required: bool
    default: Any = None
    has_default: bool = False


@dataclass
class StructDef:
    name: str
    closed: bool
    doc: str
    fields: list[Field] = field(default_factory=list)


@dataclass
class EnumUse:
    owner: str
    prop: str
    values: tuple[str, ...]
    token: str
    name: str | None = None  # a definition's own name (2.0.1, 1.6 security)


class Module:
    def __init__(self, spec: VersionSpec) -> None:
        self.spec = spec
        self.files = {
            path.name: path.read_bytes() for path in sorted(spec.schema_dir.glob("*.json"))
        }
        self.schemas = {
            name: json.loads(data.decode("utf-8-sig")) for name, data in self.files.items()
        }
        self.structs: dict[str, StructDef] = {}
        self.order: list[str] = []
        self.by_canon: dict[str, str] = {}
        self.scalars: dict[str, str] = {}  # alias name -> expression
        self.lists: dict[str, str] = {}  # generic list alias name -> expression
        self.enums: list[EnumUse] = []
        self.uses_any = False
        self.uses_date_time = False
        self.uses_tenths = False
        self.requests: dict[str, str] = {}
        self.responses: dict[str, str] = {}

    # schemas ---------------------------------------------------------------

    def actions(self) -> list[str]:
        prefix, suffix = self.spec.request_file.split("{action}")
        found = []
        for name in self.files:
            if name.startswith(prefix) and name.endswith(suffix):
                action = name[len(prefix) : len(name) - len(suffix)]
                if self.spec.response_file.format(action=action) in self.files:
                    found.append(action)
        return sorted(found)

    def digest(self) -> str:
        sha = hashlib.sha256()
        for name, data in self.files.items():
            sha.update(name.encode() + b"\0" + data + b"\0")
        return sha.hexdigest()

    @staticmethod
    def resolve(node: dict[str, Any], root: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        ref = node.get("$ref")
        if ref is None:
            return node, None
        if set(node) - {"$ref"} - _ANNOTATIONS:
            raise ValueError(f"$ref with siblings: {node}")
        if not ref.startswith("#/definitions/"):
            raise ValueError(f"unsupported $ref {ref}")
        name = ref.removeprefix("#/definitions/")
        return root["definitions"][name], name

    def canonical(self, node: Any, root: dict[str, Any]) -> Any:
        if isinstance(node, dict):
            node, _ = self.resolve(node, root)
            return {
                key: self.canonical(value, root)
                for key, value in sorted(node.items())
                if key not in _ANNOTATIONS
            }
        if isinstance(node, list):
            return [self.canonical(item, root) for item in node]
        return node

    # types -----------------------------------------------------------------

    def type_of(self, node: dict[str, Any], root: dict[str, Any], owner: str, prop: str) -> str:
        node, ref_name = self.resolve(node, root)
        kind = node.get("type")
        if kind is None:
            if set(node) - _ANNOTATIONS:
                raise ValueError(f"{owner}.{prop}: untyped schema with constraints: {node}")
            self.uses_any = True
            return "Any"
        if not isinstance(kind, str) or kind not in _HANDLED:
            raise ValueError(f"{owner}.{prop}: unsupported type {kind!r}")
        unknown = set(node) - _HANDLED[kind] - _ANNOTATIONS
        if unknown:
            raise ValueError(f"{owner}.{prop}: unsupported keywords {sorted(unknown)}")
        if kind == "object":
            return self.struct(node, root, ref_name or self.struct_name(prop), owner)
        if kind == "array":
            items = node["items"]
            if not isinstance(items, dict):
                raise ValueError(f"{owner}.{prop}: tuple arrays are not supported")
            item = self.type_of(items, root, owner, prop)
            low, high = node.get("minItems"), node.get("maxItems")
            if low is None and high is None:
                return f"list[{item}]"
            if high is None:
                name = "NonEmptyList" if low == 1 else f"ListMin{low}"
            elif low is None:
                name = f"ListMax{high}"
            else:
                name = f"List{low}To{high}"
            meta = self.meta(min_length=low, max_length=high)
            self.lists[name] = f"Annotated[list[T], Meta({meta})]"
            return f"{name}[{item}]"
        if kind == "string":
            if node.get("additionalProperties") not in (None, False):
                raise ValueError(f"{owner}.{prop}: odd additionalProperties on a string")
            if "enum" in node:
                if set(node) & {"maxLength", "minLength", "format", "pattern"}:
                    raise ValueError(f"{owner}.{prop}: enum with other string constraints")
                values = node["enum"]
                if not all(isinstance(value, str) for value in values):
                    raise ValueError(f"{owner}.{prop}: non-string enum")
                token = f"\0enum{len(self.enums)}\0"
                self.enums.append(EnumUse(owner, prop, tuple(values), token, ref_name))
                return token
            fmt = node.get("format")
            if fmt == "date-time":
                if set(node) & {"maxLength", "minLength", "pattern"}:
                    raise ValueError(f"{owner}.{prop}: date-time with other constraints")
                self.uses_date_time = True
                return "DateTime"
            if fmt not in (None, "uri"):
                # "uri" is not checked by the official validation (see the docs).
                raise ValueError(f"{owner}.{prop}: unsupported format {fmt!r}")
            low, high = node.get("minLength"), node.get("maxLength")
            pattern = node.get("pattern")
            if pattern is not None:
                name = f"{pascal(owner)}{pascal(prop)}Pattern"
                meta = self.meta(min_length=low, max_length=high, pattern=pattern)
                return self.scalar(name, f"Annotated[str, Meta({meta})]")
            if low is None and high is None:
                return "str"
            if low is None:
                name = f"String{high}"
            elif high is None:
                name = f"StringMin{low}"
            else:
                name = f"String{low}To{high}"
            meta = self.meta(min_length=low, max_length=high)
            return self.scalar(name, f"Annotated[str, Meta({meta})]")
        if kind == "boolean":
            return "bool"
        base = "int" if kind == "integer" else "float"
        low, high = node.get("minimum"), node.get("maximum")
        if kind == "number" and "multipleOf" in node:
            if (
                Decimal(str(node["multipleOf"])) != Decimal("0.1")
                or low is not None
                or high is not None
            ):
                raise ValueError(f"{owner}.{prop}: only a bare multipleOf 0.1 is supported")
            self.uses_tenths = True
            return "Tenths"
        if low is None and high is None:
            return base
        noun = "Int" if base == "int" else "Float"
        if high is None:
            named: dict[Any, str] = {0: f"NonNegative{noun}", 1: f"Positive{noun}"}  # 0.0 finds 0
            name = named.get(low, f"{noun}Min{_number(low)}")
        elif low is None:
            name = f"NonPositive{noun}" if high == 0 else f"{noun}Max{_number(high)}"
        else:
            name = f"{noun}{_number(low)}To{_number(high)}"
        name = name.replace("-", "Minus").replace(".", "_")
        meta = self.meta(ge=low, le=high, integral=base == "int")
        return self.scalar(name, f"Annotated[{base}, Meta({meta})]")

    @staticmethod
    def meta(integral: bool = False, **limits: Any) -> str:
        parts = []
        for key, value in limits.items():
            if value is None:
                continue
            if integral and isinstance(value, float):
                if not value.is_integer():
                    raise ValueError(f"fractional bound {value} on an integer")
                value = int(value)
            parts.append(f"{key}={value!r}")
        return ", ".join(parts)

    def scalar(self, name: str, expression: str) -> str:
        known = self.scalars.setdefault(name, expression)
        if known != expression:
            raise ValueError(f"alias {name} means both {known} and {expression}")
        return name

    def struct_name(self, prop: str) -> str:
        if self.spec.module == "v16":
            return _V16_STRUCT_NAMES.get(prop, pascal(prop))
        return pascal(prop)

    def struct(self, node: dict[str, Any], root: dict[str, Any], name: str, owner: str) -> str:
        canon = json.dumps(self.canonical(node, root), sort_keys=True)
        known = self.by_canon.get(canon)
        if known is not None:
            return known
        if name in self.structs or name in self.scalars or name in _RESERVED:
            name = _bare(owner) + name
            while name in self.structs:
                name += "_"
        self.by_canon[canon] = name
        return self.build(node, root, name)

    def build(self, node: dict[str, Any], root: dict[str, Any], name: str) -> str:
        if name in self.structs or name in _RESERVED:
            raise ValueError(f"two Structs named {name}")
        extra = node.get("additionalProperties", True)
        if extra not in (True, False):
            raise ValueError(f"{name}: additionalProperties must be a boolean")
        struct = StructDef(name=name, closed=extra is False, doc=self.doc(node, name))
        self.structs[name] = struct
        required = node.get("required", [])
        properties = node.get("properties", {})
        if set(required) - set(properties):
            raise ValueError(f"{name}: required properties without a schema")
        for json_name, prop in properties.items():
            target, _ = self.resolve(prop, root)
            struct.fields.append(
                Field(
                    python=snake(json_name),
                    json=json_name,
                    type=self.type_of(prop, root, name, json_name),
                    required=json_name in required,
                    default=target.get("default"),
                    has_default="default" in target,
                )
            )
        if len({f.python for f in struct.fields}) != len(struct.fields):
            raise ValueError(f"{name}: two properties map to one Python name")
        self.order.append(name)
        return name

    def doc(self, node: dict[str, Any], name: str) -> str:
        text = node.get("description")
        if not text:
            return ""
        lines = [
            line.strip()
            for line in text.replace("\r", "").split("\n")
            if line.strip() and not line.strip().startswith("urn:") and "_ " not in line
        ]
        doc = html.unescape(" ".join(lines))
        for bad, good in (("\u2018", "'"), ("\u2019", "'"), ("\u201c", '"'), ("\u201d", '"')):
            doc = doc.replace(bad, good)
        return doc.replace("\\", "/").replace('"""', "'''").strip()

    # enums -----------------------------------------------------------------

    def name_enums(self) -> dict[str, str]:
        """Token -> alias name; also registers the aliases."""
        names: dict[str, str] = {}
        by_prop: dict[str, set[tuple[str, ...]]] = {}
        for use in self.enums:
            if use.name is None:
                by_prop.setdefault(use.prop, set()).add(use.values)
        aliases: dict[str, tuple[str, ...]] = {}
        for use in self.enums:
            if use.name is not None:
                name = use.name
            elif len(by_prop[use.prop]) == 1:
                name = pascal(use.prop)
            else:
                name = _bare(use.owner) + pascal(use.prop)
            if self.spec.module == "v16":
                name = _V16_ENUM_NAMES.get(name, name)
            if name in self.structs or name in _RESERVED:
                name += "Enum"
            known = aliases.setdefault(name, use.values)
            if known != use.values:
                raise ValueError(f"enum {name} has two value sets: {known} and {use.values}")
            names[use.token] = name
        self.enum_aliases = dict(sorted(aliases.items()))
        clash = set(self.enum_aliases) & set(self.scalars)
        if clash:
            raise ValueError(f"alias names used twice: {clash}")
        return names

    # output ----------------------------------------------------------------

    def generate(self) -> str:
        for action in self.actions():
            for direction, template, table in (
                ("Request", self.spec.request_file, self.requests),
                ("Response", self.spec.response_file, self.responses),
            ):
                file_name = template.format(action=action)
                root = self.schemas[file_name]
                if root.get("type") != "object":
                    raise ValueError(f"{file_name}: the root is not an object")
                name = action + direction
                table[action] = self.build(root, root, name)
                self.structs[name].doc = f"Schema ``{file_name}``."
        tokens = self.name_enums()
        for struct in self.structs.values():
            for f in struct.fields:
                for token, name in tokens.items():
                    f.type = f.type.replace(token, name)
        return self.render()

    def render(self) -> str:
        spec = self.spec
        out: list[str] = [
            f"# generated by `python -m csms.protocol.payloads.codegen` from the OCPP {spec.label}",
            f"# JSON schemas of the ocpp package ({spec.module}/schemas); do not edit.",
            f'"""OCPP {spec.label} payloads as msgspec Structs, one per request and response.',
            "",
            "Field names are snake_case; on the wire they are exactly the schema's names.",
            "Absent optional fields are ``UNSET``. Decode through ``PayloadCodec``: it adds",
            "the custom-type hook these Structs need and the exact error classification.",
            '"""',
            "",
            "from __future__ import annotations",
            "",
            f"from typing import {', '.join(self.typing_imports())}",
            "",
            "from msgspec import UNSET, Meta, Struct, UnsetType",
            "",
        ]
        custom = [
            n
            for n, used in (("DateTime", self.uses_date_time), ("Tenths", self.uses_tenths))
            if used
        ]
        if custom:
            out += [f"from csms.protocol.payloads._types import {', '.join(custom)}", ""]
        out += [
            f'OCPP_VERSION = "{spec.label}"',
            f'SCHEMA_DIR = "{spec.module}/schemas"  # in the ocpp package',
            f'REQUEST_SCHEMA = "{spec.request_file}"',
            f'RESPONSE_SCHEMA = "{spec.response_file}"',
            f'SCHEMAS_SHA256 = "{self.digest()}"',
            "",
            "",
            "class Payload(Struct, forbid_unknown_fields=True, omit_defaults=True, "
            'rename="camel"):',
            '    """Objects with ``additionalProperties: false`` (each sets ``kw_only=True``)."""',
            "",
            "",
            'class OpenPayload(Struct, omit_defaults=True, rename="camel"):',
            '    """Objects that allow other properties, not kept (each sets ``kw_only=True``)."""',
            "",
            "",
            "# -- enums " + "-" * 89,
            "",
        ]
        for name, values in self.enum_aliases.items():
            one = f"{name} = Literal[{', '.join(json.dumps(value) for value in values)}]"
            if len(one) <= LINE:
                out.append(one)
                continue
            out.append(f"{name} = Literal[")
            out += [f"    {json.dumps(value)}," for value in values]
            out.append("]")
        out += ["", "# -- constrained scalars and arrays " + "-" * 64, ""]
        for name, expression in sorted(self.scalars.items()):
            out.append(f"{name} = {expression}")
        out += ["", 'T = TypeVar("T")', ""]
        for name, expression in sorted(self.lists.items(), key=_list_order):
            out.append(f"{name} = {expression}")
        out += ["", ""]
        roots = set(self.requests.values()) | set(self.responses.values())
        nested = [name for name in self.order if name not in roots]
        out += ["# -- nested objects " + "-" * 80, "", ""]
        for name in nested:
            out += self.render_struct(self.structs[name])
        for action in sorted(self.requests):
            out += ["# -- " + action + " " + "-" * (94 - len(action)), "", ""]
            out += self.render_struct(self.structs[self.requests[action]])
            out += self.render_struct(self.structs[self.responses[action]])
        for title, table in (("REQUESTS", self.requests), ("RESPONSES", self.responses)):
            out.append(f"{title}: dict[str, type[Struct]] = {{")
            out += [f'    "{action}": {name},' for action, name in sorted(table.items())]
            out += ["}", ""]
        text = "\n".join(out).rstrip("\n") + "\n"
        too_long = [line for line in text.splitlines() if len(line) > LINE]
        if too_long:
            raise ValueError(f"generated lines longer than {LINE}: {too_long}")
        return text

    def typing_imports(self) -> list[str]:
        names = ["Annotated"]
        if self.uses_any:
            names.append("Any")
        names += ["Literal", "TypeVar"]
        return names

    def render_struct(self, struct: StructDef) -> list[str]:
        base = "Payload" if struct.closed else "OpenPayload"
        renames = {f.python: f.json for f in struct.fields if camel(f.python) != f.json}
        if renames:
            renames = {f.python: f.json for f in struct.fields if f.python != f.json}
            lines = [f"class {struct.name}(", f"    {base},", "    kw_only=True,", "    rename={"]
            lines += [f'        "{py}": "{js}",' for py, js in renames.items()]
            lines += ["    },", "):"]
        else:
            lines = [f"class {struct.name}({base}, kw_only=True):"]
        if struct.doc:
            lines += self.render_doc(struct.doc)
        if not struct.fields:
            if not struct.doc:
                lines.append("    pass")
        else:
            if struct.doc:
                lines.append("")
            for f in struct.fields:
                if f.has_default:
                    lines.append(f"    # schema default: {json.dumps(f.default)}")
                if f.required:
                    lines.append(f"    {f.python}: {f.type}")
                else:
                    lines.append(f"    {f.python}: {f.type} | UnsetType = UNSET")
        return [*lines, "", ""]

    @staticmethod
    def render_doc(doc: str) -> list[str]:
        one = f'    """{doc}"""'
        if len(one) <= LINE:
            return [one]
        # narrow enough that a docstring of one wrapped line would fit on one line
        wrapped = textwrap.wrap(
            doc, width=LINE - 10, break_long_words=False, break_on_hyphens=False
        )
        lines = [f'    """{wrapped[0]}']
        lines += [f"    {line}" for line in wrapped[1:]]
        lines.append('    """')
        return lines


def _list_order(item: tuple[str, str]) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", item[0])) or (0,)


def generate(spec: VersionSpec) -> str:
    return Module(spec).generate()


def target(spec: VersionSpec) -> Path:
    return PACKAGE_DIR / f"{spec.module}.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale modules")
    args = parser.parse_args(argv)
    stale = []
    for spec in VERSIONS:
        text = generate(spec)
        path = target(spec)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if args.check and stale:
        for path in stale:
            print(f"stale: {path}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
