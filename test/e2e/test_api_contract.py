"""The API's contract through the real binaries (issue #17): the OpenAPI document at
/v1/openapi.json without a token, and problem types that the CLI tells apart where the HTTP
status cannot (conflict vs failed_precondition, both 409; malformed vs invalid_argument, both
400)."""

from conftest import assert_problem, unique_name


def test_openapi_document_is_public_and_lists_the_api(server):
    resp = server.request("GET", "/v1/openapi.json", token=None)
    assert resp.status == 200, resp
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    doc = resp.json()
    assert doc["openapi"].startswith("3."), doc["openapi"]
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    get_list = doc["paths"]["/v1/certificates"]["get"]
    shared = doc["components"]["parameters"]
    names = {shared[p["$ref"].rsplit("/", 1)[1]]["name"] if "$ref" in p else p["name"]
             for p in get_list["parameters"]}
    assert {"limit", "cursor", "status", "tag"} <= names, names
    assert "/v1/openapi.json" in doc["paths"]
    try:
        # Not in Debian's python; used when the interpreter has it.
        from openapi_spec_validator import validate
    except ImportError:
        return
    validate(doc)


def test_cli_tells_conflict_from_failed_precondition(cli):
    name = unique_name("pc")
    cert = cli.json("cert", "request", "--name", name, "--domain", f"{name}.example.test")
    cli("cert", "revoke", cert["id"])
    again = cli("cert", "revoke", cert["id"], check=False)
    assert again.returncode == 1, again
    assert again.stderr.startswith("error: conflict: "), again.stderr
    assert "(HTTP 409)" in again.stderr, again.stderr
    renew = cli("cert", "renew", cert["id"], check=False)
    assert renew.returncode == 1, renew
    assert renew.stderr.startswith("error: failed precondition: "), renew.stderr
    assert "only issued certificates can be renewed (HTTP 409)" in renew.stderr, renew.stderr


def test_malformed_and_invalid_argument_are_both_400_with_their_own_type(server):
    malformed = server.request("POST", "/v1/certificates", "{not json")
    assert_problem(malformed, 400)
    assert malformed.json()["type"] == "urn:certfleet:problem:malformed", malformed
    invalid = server.request("POST", "/v1/certificates", {"name": "x", "domains": ["a..b"]})
    assert_problem(invalid, 400)
    assert invalid.json()["type"] == "urn:certfleet:problem:invalid_argument", invalid
    # The server's own refusals are problem documents of the same kind.
    unknown = server.request("GET", "/v1/no-such-route")
    assert_problem(unknown, 404)
    assert unknown.json()["type"] == "urn:certfleet:problem:not_found", unknown
    no_token = server.request("GET", "/v1/certificates", token=None)
    assert no_token.status == 401, no_token
    assert no_token.json()["type"] == "urn:certfleet:problem:unauthorized", no_token
