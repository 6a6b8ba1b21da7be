"""Static export: one signed document per candidate under a name only code and birth date give."""

from __future__ import annotations

import datetime
import json

import pytest
from cryptography.exceptions import InvalidSignature
from django.core.management import call_command

from results.export import (
    b64url,
    b64url_decode,
    export_publication,
    file_name,
    relative_path,
    verify_document,
)

from .publication_fixtures import *  # noqa: F403
from .publication_fixtures import publish

BIRTH = datetime.date(2008, 3, 14)


@pytest.fixture
def published(results, clock):
    return publish(results, clock.now)


@pytest.fixture
def exported(published, tmp_path):
    key = bytes(range(32))
    summary = export_publication(published, tmp_path / "out", export_key=key)
    return summary, key


def test_each_candidate_gets_one_signed_file_that_verifies_with_the_published_key(
    exported, candidate_a, candidate_b, client
):
    summary, key = exported
    assert summary.count == 2
    jwks = client.get("/results/export-key.json").json()
    path = summary.directory / relative_path(file_name(key, candidate_a.massar_code, BIRTH))
    document = verify_document(path.read_text(), jwks)
    assert document["candidate"]["massar_code"] == candidate_a.massar_code
    assert document["result"] == {
        "general_average": "14.25",
        "averages": {"continuous": "13.00", "regional": "12.50", "national": "14.25"},
        "decision": "admitted",
        "mention": "bien",
    }
    assert {
        "code": "MATH",
        "fr": "Mathématiques",
        "ar": "الرياضيات",
        "component": "national",
        "coefficient": "7",
        "mark": "15.50",
        "sitting": "normal",
    } in document["subjects"]
    assert len(list((summary.directory / "r").rglob("*.jws"))) == 2


def test_a_tampered_file_fails_verification(exported, candidate_a, client):
    summary, key = exported
    jwks = client.get("/results/export-key.json").json()
    token = (
        summary.directory / relative_path(file_name(key, candidate_a.massar_code, BIRTH))
    ).read_text()
    header, payload, signature = token.split(".")
    data = json.loads(b64url_decode(payload))
    data["result"]["general_average"] = "19.99"
    forged = ".".join([header, b64url(json.dumps(data).encode()), signature])
    with pytest.raises(InvalidSignature):
        verify_document(forged, jwks)
    with pytest.raises(InvalidSignature):
        verify_document(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"), jwks)


def test_file_names_cannot_be_derived_without_the_export_key_nor_hold_personal_identifiers(
    exported, candidate_a
):
    summary, key = exported
    name = file_name(key, candidate_a.massar_code, BIRTH)
    assert name != file_name(b"another key" * 3, candidate_a.massar_code, BIRTH)
    assert name != file_name(key, candidate_a.massar_code, BIRTH + datetime.timedelta(days=1))
    assert candidate_a.massar_code not in name and len(name) == 32
    for path in (summary.directory / "r").rglob("*.jws"):
        text = b64url_decode(path.read_text().split(".")[1]).decode()
        assert candidate_a.cnie_number not in text and "2008-03-14" not in text


def test_the_export_comes_with_a_page_to_find_a_file_and_its_key(exported):
    summary, key = exported
    index = (summary.directory / "index.html").read_text()
    assert f'data-key="{key.hex()}"' in index and 'src="lookup.js"' in index
    assert "style=" not in index and "<script>" not in index
    assert (summary.directory / "ar.html").read_text().count('dir="rtl"') == 1
    manifest = json.loads((summary.directory / "export.json").read_text())
    assert manifest["key"] == key.hex() and manifest["count"] == 2
    assert "crypto.subtle" in (summary.directory / "lookup.js").read_text()


def test_the_export_command_writes_into_an_empty_directory_only(published, tmp_path):
    out = tmp_path / "static"
    call_command("export_results", str(published.pk), str(out), stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert len(list((out / "r").rglob("*.jws"))) == 2
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("export_results", str(published.pk), str(out))
