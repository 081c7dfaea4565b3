"""The house's layers, read from the import graph (every import statement of
every module, also those inside functions): the web app (``admin_ui``) gets
its services from the composition root and never imports storage, and the
gateway's domain services import neither storage nor the wire."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Storage: the packages' storage modules, their piccolo tables, piccolo.
STORAGE = (
    "csms.storage",
    "crm.storage",
    "billing.storage",
    "csms.tables",
    "crm.tables",
    "billing.tables",
    "piccolo",
)
# The wire: what only csms.protocol and csms.gateway speak.
WIRE = ("ocpp", "websockets")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str = "") -> set[str]:
    """Every module a source imports: ``import a.b``, ``from a.b import c``
    (also ``a.b.c``, in case ``c`` is a module), relative imports resolved
    against ``module``, and ``importlib.import_module("a.b")`` /
    ``__import__("a.b")`` with a literal name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: -node.level]
                base = ".".join([*package, base] if base else package)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args:
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else None
            if isinstance(function, ast.Name):
                name = function.id
            first = node.args[0]
            if (
                name in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                found.add(first.value)
    return found


def _is_within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    """``file: module`` for each forbidden import of the package's modules."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        module = _module_name(path)
        for imported in sorted(imported_modules(path.read_text(encoding="utf-8"), module)):
            if _is_within(imported, forbidden):
                found.append(f"{path.relative_to(ROOT)}: {imported}")
    return found


def test_the_web_app_never_imports_storage() -> None:
    """No module under admin_ui/ (API controllers, pages, the drivers' app,
    their wiring) imports csms.storage, crm.storage, billing.storage, a
    tables module or piccolo: services come from the composition root."""
    assert violations("admin_ui", STORAGE) == []


def test_domain_services_import_neither_storage_nor_the_wire() -> None:
    """csms/domain reaches storage through its ports only, and never
    imports ocpp or websockets."""
    assert violations("csms/domain", STORAGE + WIRE) == []


def test_the_check_sees_every_form_of_import() -> None:
    """The import reader finds plain, from-, relative, function-level and
    importlib imports (so the tests above can fail)."""
    source = """
import piccolo.table
from crm.storage import audit
from ..storage.access import PiccoloStationStore

def later():
    from billing.storage.cdrs import PiccoloCdrs
    importlib.import_module("csms.tables")
"""
    found = imported_modules(source, "csms.domain.example")
    assert {
        "piccolo.table",
        "crm.storage.audit",
        "csms.storage.access",
        "billing.storage.cdrs",
        "csms.tables",
    } <= found
    assert all(_is_within(m, STORAGE) for m in found)
    assert not _is_within("csms.storage_tools", STORAGE)
    assert not _is_within("admin_ui.api.stations", STORAGE)
