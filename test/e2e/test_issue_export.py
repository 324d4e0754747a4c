"""Issue and export certificates through the real CLI and REST API, and check the results with
openssl (docs/api.md, "Certificates"; docs/architecture.md, flows 1 and security model)."""

import datetime
import json
import os
import re
import secrets
import stat

import pytest

from conftest import assert_problem, run_tool, unique_name, write_passphrase

PROFILES = ["tls-server", "tls-client", "short-lived"]
EKU_NAMES = {"serverAuth": "TLS Web Server Authentication",
             "clientAuth": "TLS Web Client Authentication"}
EXPECTED_EKU = {"tls-server": {"serverAuth"}, "short-lived": {"serverAuth"},
                "tls-client": {"clientAuth"}}
PEM_FILES = ["cert.pem", "chain.pem", "fullchain.pem", "key.pem"]


def request_cert(cli, profile="tls-server", exportable=True, key_type=None, extra=()):
    name = unique_name(profile)
    args = ["cert", "request", "--name", name, "--domain", f"{name}.example.test",
            "--domain", f"alt.{name}.example.test", "--profile", profile, "--tag", "env=e2e"]
    if exportable:
        args.append("--exportable")
    if key_type:
        args += ["--key-type", key_type]
    cert = cli.json(*args, *extra)
    assert cert["name"] == name
    return cert


def parse_time(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def ekus(cert_path):
    out = run_tool("openssl", "x509", "-noout", "-ext", "extendedKeyUsage",
                   "-in", cert_path).stdout.decode()
    return {short for short, long in EKU_NAMES.items() if long in out}


def pem_blocks(data):
    return re.findall(rb"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----",
                      data)


def check_export(server, out_dir, passfile, profile):
    """openssl checks shared by the export tests."""
    paths = {n: os.path.join(out_dir, n) for n in PEM_FILES}
    for p in paths.values():
        assert os.path.isfile(p), p
    assert stat.S_IMODE(os.stat(out_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(paths["key.pem"]).st_mode) == 0o600
    for n in ("cert.pem", "chain.pem", "fullchain.pem"):
        assert stat.S_IMODE(os.stat(paths[n]).st_mode) == 0o644, n
    assert not [n for n in os.listdir(out_dir) if n not in PEM_FILES], "temporary files left"

    verify = run_tool("openssl", "verify", "-CAfile", server.ca_path, "-untrusted",
                      paths["chain.pem"], paths["cert.pem"])
    assert verify.stdout.strip().endswith(b": OK"), verify.stdout

    def read(n):
        with open(paths[n], "rb") as f:
            return f.read()

    leaf, chain, full = (pem_blocks(read(n)) for n in ("cert.pem", "chain.pem", "fullchain.pem"))
    assert len(leaf) == 1 and len(chain) >= 1, (len(leaf), len(chain))
    assert full == leaf + chain, "fullchain.pem is not cert.pem followed by chain.pem"

    key = read("key.pem")
    assert key.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"), key[:40]
    assert b"BEGIN PRIVATE KEY" not in key
    if passfile is not None:
        run_tool("openssl", "pkey", "-in", paths["key.pem"], "-passin", f"file:{passfile}",
                 "-noout")
        key_pub = run_tool("openssl", "pkey", "-in", paths["key.pem"], "-passin",
                           f"file:{passfile}", "-pubout").stdout
        cert_pub = run_tool("openssl", "x509", "-in", paths["cert.pem"], "-noout",
                            "-pubkey").stdout
        assert key_pub == cert_pub, "key.pem does not match cert.pem"
    # Whatever the passphrase, the key must not open without one.
    empty = run_tool("openssl", "pkey", "-in", paths["key.pem"], "-passin", "pass:", "-noout",
                     check=False)
    assert empty.returncode != 0, "key.pem opened with an empty passphrase"

    assert ekus(paths["cert.pem"]) == EXPECTED_EKU[profile]


# --- request, list, show ---------------------------------------------------------------------

@pytest.mark.parametrize("profile", PROFILES)
def test_request_show_list(cli, profile):
    cert = request_cert(cli, profile)
    assert cert["id"].startswith("crt_")
    assert cert["profile"] == profile
    assert cert["exportable"] is True
    assert cert["tags"] == {"env": "e2e"}

    shown = cli.json("cert", "show", cert["id"])
    assert shown["status"] == "issued", shown
    for field in ("serial", "not_before", "not_after", "fingerprint", "version_id"):
        assert isinstance(shown[field], str) and shown[field], f"{field}: {shown}"
    assert re.fullmatch(r"[0-9a-fA-F:]+", shown["serial"]), shown["serial"]
    assert parse_time(shown["not_before"]) < parse_time(shown["not_after"])
    assert shown["domains"][0] == f"{cert['name']}.example.test"

    human = cli("cert", "show", cert["id"]).stdout
    assert re.search(r"^status:\s+issued$", human, re.M), human
    assert re.search(rf"^serial:\s+{re.escape(shown['serial'])}$", human, re.M), human

    listed = cli.json("cert", "list")
    assert cert["id"] in [c["id"] for c in listed["items"]]

    table = cli("cert", "list").stdout.splitlines()
    assert re.match(r"ID\s+NAME\s+STATUS\s+.*SERIAL\s+NOT AFTER\s+EXPORTABLE", table[0]), table[0]
    row = [line for line in table if line.startswith(cert["id"] + " ")]
    assert len(row) == 1 and cert["name"] in row[0] and "issued" in row[0], table


def test_validity_is_applied(cli):
    cert = request_cert(cli, "tls-server", extra=["--validity", "30d"])
    lifetime = parse_time(cert["not_after"]) - parse_time(cert["not_before"])
    # Backdating not_before by a little is fine; the lifetime must not exceed the request.
    assert datetime.timedelta(days=29) < lifetime <= datetime.timedelta(days=30, hours=1), lifetime


@pytest.mark.parametrize("key_type,profile,marker", [
    ("p256", "tls-server", "prime256v1"),
    ("p384", "tls-server", "secp384r1"),
    ("rsa2048", "tls-server", "Public-Key: (2048 bit)"),
    ("rsa3072", "tls-client", "Public-Key: (3072 bit)"),
    ("rsa4096", "tls-server", "Public-Key: (4096 bit)"),
    ("ed25519", "tls-client", "ED25519"),
])
def test_key_types(cli, workdir, key_type, profile, marker):
    cert = request_cert(cli, profile, key_type=key_type)
    assert cert["key_type"] == key_type
    passfile = write_passphrase(workdir, "kt-" + secrets.token_urlsafe(12))
    out = workdir.sub("out")
    cli("cert", "export", cert["id"], "--out", out, "--passphrase-file", passfile)
    text = run_tool("openssl", "x509", "-noout", "-text", "-in",
                    os.path.join(out, "cert.pem")).stdout.decode()
    assert marker in text, text[:2000]


def test_show_unknown_id(cli):
    proc = cli("cert", "show", "crt_doesnotexist", check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and "(HTTP 404)" in proc.stderr, proc.stderr


# --- export ----------------------------------------------------------------------------------

@pytest.mark.parametrize("profile", PROFILES)
def test_export_with_passphrase_file(server, cli, workdir, profile):
    cert = request_cert(cli, profile)
    passfile = write_passphrase(workdir, "e2e-" + secrets.token_urlsafe(18))
    out = workdir.sub("nested", "out")  # does not exist yet: created 0700
    proc = cli("cert", "export", cert["id"], "--out", out, "--passphrase-file", passfile)
    for n in PEM_FILES:
        assert os.path.join(out, n) in proc.stdout, proc.stdout
    assert "sec_" not in proc.stdout  # caller supplied the passphrase: nothing stored
    check_export(server, out, passfile, profile)

    # Exporting again over the same directory replaces the files atomically.
    result = cli.json("cert", "export", cert["id"], "--out", out, "--passphrase-file", passfile)
    assert result["passphrase_secret_id"] is None
    assert result["serial"] == cert["serial"]
    assert "private_key_pem" not in result  # --json does not print the key
    check_export(server, out, passfile, profile)


def test_export_generates_passphrase_secret(server, cli, workdir):
    cert = request_cert(cli, "tls-server")
    out = workdir.sub("out")
    result = cli.json("cert", "export", cert["id"], "--out", out)
    assert re.fullmatch(r"sec_[A-Za-z0-9_-]+", result["passphrase_secret_id"] or ""), result
    assert result["export_id"].startswith("exp_"), result
    check_export(server, out, None, "tls-server")

    human = cli("cert", "export", cert["id"], "--out", workdir.sub("out2")).stdout
    assert re.search(r"\bsec_[A-Za-z0-9_-]+", human), human

    raw = server.request("POST", f"/v1/certificates/{cert['id']}/export", {})
    assert raw.status == 200, raw
    body = raw.json()
    assert body["private_key_pem"].startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert body["passphrase_secret_id"].startswith("sec_")
    assert body["passphrase_secret_id"] != result["passphrase_secret_id"]


def test_export_refused_when_not_exportable(server, cli, workdir):
    cert = request_cert(cli, "tls-server", exportable=False)
    assert cert["exportable"] is False
    out = workdir.sub("out")
    passfile = write_passphrase(workdir, "never-used-1234")
    proc = cli("cert", "export", cert["id"], "--out", out, "--passphrase-file", passfile,
               check=False)
    assert proc.returncode == 1, proc
    assert proc.stderr.startswith("error: "), proc.stderr
    assert "(HTTP 409)" in proc.stderr and "export" in proc.stderr.lower(), proc.stderr
    assert not os.path.exists(os.path.join(out, "key.pem"))

    doc = assert_problem(server.request("POST", f"/v1/certificates/{cert['id']}/export", {}), 409)
    assert doc["type"].endswith(":conflict"), doc


def test_passphrase_rules(server, cli, workdir):
    cert = request_cert(cli, "tls-server")
    for bad in ("abc", "has#hash", "x" * 129):
        doc = assert_problem(server.request("POST", f"/v1/certificates/{cert['id']}/export",
                                            {"passphrase": bad}), 400)
        assert bad not in doc["detail"], "the detail echoes the passphrase"
    proc = cli("cert", "export", cert["id"], "--out", workdir.sub("o"), "--passphrase-file",
               write_passphrase(workdir, "has$dollar"), check=False)
    assert proc.returncode == 1 and "(HTTP 400)" in proc.stderr, proc.stderr
    assert "has$dollar" not in proc.stderr


# --- bad input -------------------------------------------------------------------------------

def valid_body(**overrides):
    body = {"name": unique_name("bad"), "domains": ["ok.example.test"], "exportable": True}
    body.update(overrides)
    return body


@pytest.mark.parametrize("domain", ["a..b", "-x.test", "*.*.test"])
def test_bad_domain_names(server, domain):
    doc = assert_problem(server.request("POST", "/v1/certificates",
                                        valid_body(domains=[domain])), 400)
    assert doc["type"].endswith(":invalid_argument"), doc
    assert domain in doc["detail"], doc


@pytest.mark.parametrize("body,fragment", [
    (b'{"name": "x", "domains": [', None),  # truncated JSON
    (b"not json at all", None),
    (b'["an", "array"]', None),
    (b'{"name": "x", "domains": ["ok.example.test"], "colour": "blue"}', "colour"),
])
def test_malformed_bodies(server, body, fragment):
    doc = assert_problem(server.request("POST", "/v1/certificates", body), 400)
    if fragment:
        assert fragment in doc["detail"], doc


def test_unknown_key_type(server, cli):
    doc = assert_problem(server.request("POST", "/v1/certificates",
                                        valid_body(key_type="rsa1024")), 400)
    assert "rsa1024" in doc["detail"] or "key_type" in doc["detail"], doc
    # The CLI refuses it before asking the server: a usage error.
    proc = cli("cert", "request", "--name", "kt", "--domain", "kt.example.test",
               "--key-type", "rsa1024", check=False)
    assert proc.returncode == 2 and "--key-type" in proc.stderr, proc.stderr


def test_oversize_body(server):
    big = json.dumps(valid_body(padding="x" * (1 << 20))).encode()
    assert len(big) > 1 << 20
    doc = assert_problem(server.request("POST", "/v1/certificates", big), 413)
    assert doc["type"].endswith(":too_large"), doc


def test_cli_tag_validation(cli):
    for bad, words in (("novalue", "KEY=VALUE"), ("=v", "empty key"), ("a b=c", "a b")):
        proc = cli("cert", "request", "--name", "t", "--domain", "t.example.test", "--tag", bad,
                   check=False)
        assert proc.returncode == 2, proc
        assert "--tag" in proc.stderr and words in proc.stderr, proc.stderr


def test_ed25519_tls_server_refused(server, cli):
    doc = assert_problem(server.request("POST", "/v1/certificates",
                                        valid_body(key_type="ed25519", profile="tls-server")))
    detail = doc["detail"].lower()
    assert "ed25519" in detail and ("tls-server" in detail or "profile" in detail), doc
    proc = cli("cert", "request", "--name", unique_name("ed"), "--domain", "ed.example.test",
               "--key-type", "ed25519", "--profile", "tls-server", check=False)
    assert proc.returncode == 1, proc
    assert re.match(r"error: .*ed25519.* \(HTTP 4\d\d\)$", proc.stderr.strip(), re.I), proc.stderr


# --- authentication --------------------------------------------------------------------------

def test_missing_and_wrong_token(server, cli, workdir):
    for token in (None, "cf_wrong_" + secrets.token_hex(16), ""):
        resp = server.request("GET", "/v1/certificates", token=token)
        assert_problem(resp, 401)
        assert resp.headers.get("www-authenticate", "").startswith("Bearer"), resp.headers
    assert server.request("GET", "/healthz", token=None).status == 200

    wrong = workdir.sub("wrong.token")
    with open(wrong, "w") as f:
        f.write("cf_wrong_" + secrets.token_hex(16) + "\n")
    proc = cli("cert", "list", token_file=wrong, check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") \
        and "(HTTP 401)" in proc.stderr, proc.stderr

    # The CLI trims whitespace around the token.
    padded = workdir.sub("padded.token")
    with open(padded, "w") as f:
        f.write("  \n" + server.token() + "\n\n")
    cli("cert", "list", token_file=padded)


# --- restart ---------------------------------------------------------------------------------

def test_restart_keeps_state(server_factory, cli_for, workdir):
    srv = server_factory()
    cli = cli_for(srv)
    token_before = srv.token()
    with open(srv.ca_path, "rb") as f:
        ca_before = f.read()
    cert = request_cert(cli, "tls-server")

    assert srv.stop() == 0, "certfleetd did not exit 0 on SIGTERM:\n" + srv.log_tail()
    srv.start()

    assert srv.token() == token_before
    with open(srv.ca_path, "rb") as f:
        assert f.read() == ca_before, "the root CA changed across a restart"
    assert stat.S_IMODE(os.stat(srv.token_path).st_mode) == 0o600
    shown = cli.json("cert", "show", cert["id"])
    assert shown["serial"] == cert["serial"] and shown["status"] == "issued"
    assert cert["id"] in [c["id"] for c in cli.json("cert", "list")["items"]]

    passfile = write_passphrase(workdir, "restart-" + secrets.token_urlsafe(12))
    out = workdir.sub("out")
    cli("cert", "export", cert["id"], "--out", out, "--passphrase-file", passfile)
    check_export(srv, out, passfile, "tls-server")


# --- secrets stay secret ---------------------------------------------------------------------

def private_key_needles(key_path, passfile):
    """Byte strings that identify the decrypted private key in key.pem: its PKCS#8 DER, the DER
    in hex, the PEM's base64 (joined, and each line), and the raw private value. openssl writes
    them to a pipe only: the decrypted key never touches the disk."""
    def pkey(*args):
        return run_tool("openssl", "pkey", "-in", key_path, "-passin", f"file:{passfile}",
                        *args).stdout
    der = pkey("-outform", "DER")
    pem = pkey()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----"), pem[:40]  # PKCS#8
    lines = pem.strip().splitlines()[1:-1]
    needles = {"key DER": der, "key DER hex": der.hex().encode(), "key PEM": b"".join(lines)}
    for i, line in enumerate(lines):
        needles[f"key PEM line {i + 1}"] = line
    # "priv:" of `openssl pkey -text`: the private scalar as colon-separated hex.
    text = pkey("-noout", "-text").decode()
    match = re.search(r"priv:\s*\n((?:\s+[0-9a-f:]+\n)+)", text)
    assert match, text
    scalar = bytes.fromhex(re.sub(r"[\s:]", "", match.group(1)))
    assert len(scalar) >= 24, scalar
    needles["key scalar"] = scalar
    needles["key scalar hex"] = scalar.hex().encode()
    return needles


def test_secret_canaries_never_leak(server_factory, cli_for, workdir):
    """A passphrase the caller chose, a passphrase certfleet generated and the decrypted private
    key never appear in the server's logs, database files, audit records, error bodies, command
    line or environment."""
    srv = server_factory()
    cli = cli_for(srv)
    canary = "canary-" + secrets.token_hex(16)
    passfile = write_passphrase(workdir, canary)
    cert = request_cert(cli, "tls-server")
    out = workdir.sub("out")
    proc = cli("cert", "export", cert["id"], "--out", out, "--passphrase-file", passfile)
    assert canary not in proc.stdout + proc.stderr
    check_export(srv, out, passfile, "tls-server")  # the canary really was the passphrase
    # Through the raw API as well, and with rejected requests carrying it: their bodies too.
    assert srv.request("POST", f"/v1/certificates/{cert['id']}/export",
                       {"passphrase": canary}).status == 200
    error_bodies = {
        "unknown field": assert_problem(srv.request(
            "POST", f"/v1/certificates/{cert['id']}/export",
            {"passphrase": canary, "unknown": 1}), 400),
        "bad character": assert_problem(srv.request(
            "POST", f"/v1/certificates/{cert['id']}/export", {"passphrase": canary + "#"}), 400),
        "unknown certificate": assert_problem(srv.request(
            "POST", f"/v1/certificates/crt_{secrets.token_hex(8)}/export",
            {"passphrase": canary}), 404),
        "wrong token": assert_problem(srv.request(
            "POST", f"/v1/certificates/{cert['id']}/export", {"passphrase": canary},
            token="cf_wrong_" + secrets.token_hex(16)), 401),
    }
    bad_passfile = write_passphrase(workdir, canary + "$")
    proc = cli("cert", "export", cert["id"], "--out", workdir.sub("bad"), "--passphrase-file",
               bad_passfile, check=False)
    assert proc.returncode == 1 and "(HTTP 400)" in proc.stderr, proc.stderr
    error_bodies["cli stderr"] = {"stdout": proc.stdout, "stderr": proc.stderr}

    # A passphrase that certfleet generated, read back through the API by an admin.
    generated = cli.json("cert", "export", cert["id"], "--out", workdir.sub("gen"))
    value = cli("secret", "show", generated["passphrase_secret_id"], "--value").stdout.strip()
    assert len(value) >= 16, "the generated passphrase is implausibly short"
    generated_file = write_passphrase(workdir, value)
    check_export(srv, workdir.sub("gen"), generated_file, "tls-server")

    needles = {"passphrase": canary.encode(), "generated passphrase": value.encode()}
    needles.update(private_key_needles(os.path.join(out, "key.pem"), passfile))
    # Positive control for the byte search: the same key under the generated passphrase.
    assert private_key_needles(os.path.join(workdir.sub("gen"), "key.pem"),
                               generated_file)["key DER"] == needles["key DER"]
    with open(passfile, "rb") as f:
        assert needles["passphrase"] in f.read()

    def assert_absent(blob, where):
        for what, needle in needles.items():
            assert needle not in blob, f"{what} found in {where}"

    for what, body in error_bodies.items():
        assert_absent(json.dumps(body).encode(), f"error body ({what})")
    audit = cli("--json", "audit", "list", "--all").stdout
    assert json.loads(audit)["items"], "no audit records to scan"
    assert any(r["action"] == "certificate.export" for r in json.loads(audit)["items"])
    assert_absent(audit.encode(), "audit records")

    def scan_files(when):
        names = ["certfleet.db", "certfleet.db-wal", "certfleet.db-shm", os.path.basename(
            srv.log_path), os.path.basename(srv.stdout_path)]
        for name in names:
            path = os.path.join(srv.data_dir, name)
            if os.path.exists(path):
                with open(path, "rb") as f:
                    assert_absent(f.read(), f"{name} ({when})")

    pid = srv.pid
    for proc_file in ("cmdline", "environ"):
        with open(f"/proc/{pid}/{proc_file}", "rb") as f:
            assert_absent(f.read(), f"/proc/<pid>/{proc_file}")
    scan_files("while running")
    assert srv.stop() == 0
    scan_files("after shutdown")
