"""Pure parts of the 2.0.1 simulator: device model, local list, charging profiles,
certificates, multipart bodies."""

from __future__ import annotations

import email.parser
import email.policy

import pytest

from simulators.certificates import CertificateStore, hash_data, load_chain
from simulators.ocpp201_device_model import DeviceModel201
from simulators.ocpp201_stores import ChargingProfiles201, LocalList201
from simulators.transfer import multipart_body
from tests.fake_csms201 import CertificateAuthority

pytestmark = pytest.mark.backend_independent


def _dm() -> DeviceModel201:
    return DeviceModel201.build({1: 1, 2: 1})


def test_password_must_have_16_to_40_printable_characters() -> None:
    """BasicAuthPassword shorter than 16 characters is Rejected, a good one Accepted."""
    dm = _dm()
    request = {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}
    short, _ = dm.set_variables([{**request, "attribute_value": "short"}])
    good, changed = dm.set_variables([{**request, "attribute_value": "a" * 16}])
    assert short[0]["attribute_status"] == "Rejected"
    assert good[0]["attribute_status"] == "Accepted"
    assert changed[0].value == "a" * 16


def test_evse_variables_are_told_apart_by_evse() -> None:
    """The same variable of EVSE 1 and EVSE 2 are distinct; EVSE 3 is an unknown component."""
    dm = _dm()
    dm.set_value("EVSE.AvailabilityState", "Occupied", evse_id=2)
    results = dm.get_variables(
        [
            {
                "component": {"name": "EVSE", "evse": {"id": n}},
                "variable": {"name": "AvailabilityState"},
            }
            for n in (1, 2, 3)
        ]
    )
    assert [r.get("attribute_value") for r in results[:2]] == ["Available", "Occupied"]
    assert results[2]["attribute_status"] == "UnknownComponent"


def test_attribute_types_other_than_actual_are_not_supported() -> None:
    """GetVariables of a Target attribute: NotSupportedAttributeType."""
    results = _dm().get_variables(
        [
            {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
                "attribute_type": "Target",
            }
        ]
    )
    assert results[0]["attribute_status"] == "NotSupportedAttributeType"


def test_configuration_inventory_holds_only_writable_variables() -> None:
    """ConfigurationInventory reports no read-only variable; an unknown base is None."""
    dm = _dm()
    report = dm.base_report("ConfigurationInventory") or []
    assert report
    assert all(d["variable_attribute"][0]["mutability"] != "ReadOnly" for d in report)
    assert dm.base_report("Nonsense") is None


def test_a_full_local_list_with_an_older_version_replaces_the_list() -> None:
    """Full updates replace whatever the version; differential ones must be newer."""
    lst = LocalList201()
    entry = {
        "id_token": {"id_token": "A", "type": "ISO14443"},
        "id_token_info": {"status": "Accepted"},
    }
    assert lst.update(5, "Full", [entry], items_per_message=10, capacity=10) == "Accepted"
    assert lst.update(2, "Full", [], items_per_message=10, capacity=10) == "Accepted"
    assert (lst.version, lst.entries) == (2, {})
    assert lst.update(2, "Differential", [entry], items_per_message=10, capacity=10) == (
        "VersionMismatch"
    )


def test_two_profiles_with_the_same_purpose_and_level_on_one_evse() -> None:
    """A second profile id with the same stack level and purpose on an EVSE is Rejected;
    the same id replaces the old profile."""
    profiles = ChargingProfiles201()

    def profile(pid: int, limit: float) -> dict:
        return {
            "id": pid,
            "stack_level": 1,
            "charging_profile_purpose": "TxDefaultProfile",
            "charging_profile_kind": "Relative",
            "charging_schedule": [
                {
                    "id": 1,
                    "charging_rate_unit": "A",
                    "charging_schedule_period": [{"start_period": 0, "limit": limit}],
                }
            ],
        }

    kwargs = {"evses": [1], "transaction_of": {1: None}}
    assert profiles.install(1, profile(1, 16), **kwargs) == "Accepted"
    assert profiles.install(1, profile(2, 16), **kwargs) == "Rejected"
    assert profiles.install(1, profile(1, 10), **kwargs) == "Accepted"
    assert profiles.limit_w(1, voltage=230, phases=3) == 10 * 230 * 3


def test_certificate_signed_must_carry_the_key_of_the_csr() -> None:
    """A chain for the CSR's key is accepted; the hash data names the issuer."""
    ca = CertificateAuthority()
    store = CertificateStore()
    csr = store.new_csr("CS-1", "Org")
    chain = ca.sign_csr(csr) + ca.pem
    assert store.accept_signed(chain)
    leaf = load_chain(chain)[0]
    data = store.own_hash_data()
    assert data == hash_data(leaf, ca.cert)
    assert store.delete(data) == "Failed"  # never its own certificate


def test_multipart_body_parses_back() -> None:
    """The upload body is a multipart form with the file under the field name."""
    body, content_type = multipart_body("log.txt", b"line 1\n", field="file")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    (part,) = list(message.iter_parts())  # type: ignore[attr-defined]
    assert part.get_param("name", header="content-disposition") == "file"
    assert (part.get_filename(), part.get_payload(decode=True)) == ("log.txt", b"line 1\n")
