"""The OpenAPI document and the requirement catalogue are valid and agree with the contract."""

import yaml
from openapi_spec_validator import validate

from pytest_rec.model.catalogue import load_catalogue, openapi_path
from pytest_rec.model.behaviour import REFUSALS

CONTRACT_IDS = ["REC-ACCEPT", "REC-RESPONSE", "REC-SUSPEND-FIRST", "REC-FORCED-MANUAL", "REC-STICKY-MANUAL",
                "REC-SPLIT-SYNC-ONLY", "REC-RECOVERY", "REC-KEEP-OMITTED", "REC-TENANT-DENY", "REC-TENANT-ALLOW",
                "REC-NON-REC", "REC-NOT-FOUND", "REC-BAD-INPUT", "REC-CONTENT-TYPE", "REC-AUTH", "REC-ISOLATION",
                "REC-JOB-PRIVACY", "REC-SERIAL", "REC-NO-5XX", "REC-UNSPECIFIED"]


def test_openapi_document_is_valid():
    validate(yaml.safe_load(openapi_path().read_text()))


def test_openapi_covers_contract_surface():
    doc = yaml.safe_load(openapi_path().read_text())
    ops = {(m.upper(), p) for p, item in doc["paths"].items() for m in item if m != "parameters"}
    assert ops == {("POST", "/session"), ("GET", "/session/{session_id}"), ("DELETE", "/session/{session_id}"),
                   ("GET", "/copysession"), ("GET", "/copysession/{copysession_id}"),
                   ("PATCH", "/copysession/{copysession_id}"), ("POST", "/copysession/{copysession_id}/suspend"),
                   ("POST", "/copysession/{copysession_id}/resume"), ("GET", "/job/{job_id}")}


def test_catalogue_has_exactly_the_contract_ids():
    assert [r["id"] for r in load_catalogue()] == CONTRACT_IDS


def test_catalogue_entries_are_complete():
    for r in load_catalogue():
        assert r["basis"] in ("seed", "V", "I", "assumption", "silent"), r["id"]
        assert r["statement"] and r["source"] and isinstance(r["judged"], bool), r["id"]


def test_refusal_forms_match_the_model():
    for r in load_catalogue():
        if "refusal" not in r:
            assert r["id"] not in REFUSALS
            continue
        lenient, strict = REFUSALS[r["id"]]
        assert list(lenient) == r["refusal"]["lenient"], r["id"]
        assert list(strict) == r["refusal"]["strict"], r["id"]
        assert lenient[0] == strict[0], f"{r['id']}: the strict code must be the first lenient one"


def test_compliance_schema_is_a_valid_json_schema():
    import json

    from jsonschema import Draft202012Validator

    from pytest_rec.model.catalogue import SPECS

    Draft202012Validator.check_schema(json.loads((SPECS / "compliance.schema.json").read_text()))


def test_example_target_file_parses(monkeypatch):
    from pytest_rec.model.catalogue import SPECS
    from pytest_rec.model.target import load_target

    target = load_target(SPECS / "target-example.toml")
    assert target.writable and target.kind == "array"


# CONTRACT section 2: the seed rules marked *(reading)*; the others are the page's own words
READINGS = {"REC-RESPONSE", "REC-SUSPEND-FIRST", "REC-KEEP-OMITTED", "REC-TENANT-ALLOW"}


def test_every_seed_rule_is_marked_words_or_reading():
    seed = [r for r in load_catalogue() if r["basis"] == "seed"]
    assert len(seed) == 10
    for r in seed:
        assert r.get("page") in ("words", "reading"), r["id"]
        assert r.get("page_says"), f"{r['id']}: the sentence of the page it rests on"
        assert (r["page"] == "reading") == (r["id"] in READINGS), r["id"]
        if r["page"] == "reading":
            assert r.get("reading"), f"{r['id']}: say what is our reading"
    for r in load_catalogue():
        if r["basis"] != "seed":
            assert "page" not in r, f"{r['id']}: only seed rules are the page's words or a reading"
