"""Accounts, principals, roles, policies, tags, the audit trail and reports, through the real CLI
and REST API (docs/api.md from "Accounts, principals, tokens"; docs/policy.md).

Tests on the module's shared server work in accounts of their own (make_account), so policies
and reports never see another test's data. Tests that stop the server or edit its database get
their own server (server_factory).
"""

import datetime
import json
import os
import re
import secrets
import stat
import subprocess

import pytest

from conftest import (assert_cli_denied, assert_problem, claim_domain, create_account,
                      create_principal, run_tool, unique_name, write_passphrase,
                      write_private_file)


# --- helpers ---------------------------------------------------------------------------------

def request_cert(cli, domains=None, exportable=True, tags=None, key_type=None, check=True):
    """`certfleet cert request` as the caller of `cli`; the JSON, or the process if check=False."""
    name = unique_name("web")
    domains = domains or [f"{name}.example.test"]
    args = ["cert", "request", "--name", name]
    for d in domains:
        args += ["--domain", d]
    for key, value in (tags or {}).items():
        args += ["--tag", f"{key}={value}"]
    if exportable:
        args.append("--exportable")
    if key_type:
        args += ["--key-type", key_type]
    if not check:
        return cli("--json", *args, check=False)
    cert = cli.json(*args)
    assert cert["status"] == "issued", cert
    return cert


def key_matches_cert(out_dir, passfile):
    """The exported key.pem opens with the passphrase in `passfile` and matches cert.pem."""
    key_pub = run_tool("openssl", "pkey", "-in", os.path.join(out_dir, "key.pem"), "-passin",
                       f"file:{passfile}", "-pubout").stdout
    cert_pub = run_tool("openssl", "x509", "-in", os.path.join(out_dir, "cert.pem"), "-noout",
                        "-pubkey").stdout
    assert key_pub and key_pub == cert_pub, "key.pem does not match cert.pem"


def policy_file(workdir, text):
    return write_private_file(workdir.sub(f"policy-{secrets.token_hex(4)}.toml"), text)


def audit_items(cli, *filters):
    return cli.json("audit", "list", "--all", *filters)["items"]


def sibling_id(existing):
    """An id of the same shape as `existing` that names nothing (the suffix reversed)."""
    prefix, _, suffix = existing.partition("_")
    other = f"{prefix}_{suffix[::-1]}"
    assert other != existing
    return other


def comparable(doc, ident):
    """A problem document without what legitimately differs between two requests."""
    doc = dict(doc)
    doc.pop("request_id", None)
    doc["detail"] = doc["detail"].replace(ident, "<id>")
    return doc


# --- roles inside one account ----------------------------------------------------------------

def test_operator_may_request_and_export(make_account, make_principal, workdir):
    account = make_account()
    operator = make_principal(account, "operator")
    cert = request_cert(operator.cli)
    assert cert["account"] == account, cert
    passfile = write_passphrase(workdir, "op-" + secrets.token_urlsafe(12))
    out = workdir.sub("out")
    operator.cli("cert", "export", cert["id"], "--out", out, "--passphrase-file", passfile)
    key_matches_cert(out, passfile)


def test_auditor_reads_but_may_not_change(server, make_account, make_principal, workdir):
    account = make_account()
    operator = make_principal(account, "operator")
    auditor = make_principal(account, "auditor")
    cert = request_cert(operator.cli)

    # Writes: 403 naming the rule, from the CLI and the raw API; nothing is written locally.
    assert_cli_denied(request_cert(auditor.cli, check=False), 403, "role.insufficient")
    out = workdir.sub("out")
    proc = auditor.cli("cert", "export", cert["id"], "--out", out, "--passphrase-file",
                       write_passphrase(workdir, "never-used-1234"), check=False)
    assert_cli_denied(proc, 403, "role.insufficient")
    assert not os.path.exists(os.path.join(out, "key.pem"))
    doc = assert_problem(server.request("POST", f"/v1/certificates/{cert['id']}/export", {},
                                        token=auditor.token()), 403)
    assert doc["type"].endswith(":forbidden") and "(rule role.insufficient)" in doc["detail"], doc
    doc = assert_problem(server.request("POST", "/v1/certificates",
                                        {"name": unique_name("au"),
                                         "domains": ["au.example.test"]},
                                        token=auditor.token()), 403)
    assert "(rule role.insufficient)" in doc["detail"], doc

    # Reads: 200.
    assert cert["id"] in [c["id"] for c in auditor.cli.json("cert", "list")["items"]]
    assert auditor.cli.json("cert", "show", cert["id"])["id"] == cert["id"]
    for path in ("/v1/certificates", f"/v1/certificates/{cert['id']}", "/v1/audit"):
        assert server.request("GET", path, token=auditor.token()).status == 200, path
    records = audit_items(auditor.cli)
    assert records, "the auditor sees no audit records of its account"
    assert {r["account"] for r in records} == {account}, "the auditor sees other accounts"
    assert any(r["action"] == "certificate.request" and r["principal"] == operator.id
               and r["outcome"] == "success" for r in records), records
    assert any(r["action"] == "certificate.export" and r["principal"] == auditor.id
               and r["outcome"] == "denied" and r["status"] == 403 for r in records), records
    table = auditor.cli("audit", "list").stdout.splitlines()
    assert re.match(r"SEQ\s+AT\s+ACCOUNT\s+PRINCIPAL\s+ACTION\s+RESOURCE\s+OUTCOME", table[0]), table


def test_other_account_gets_404_like_unknown_id(server, make_account, make_principal, workdir):
    account_a, account_b = make_account(), make_account()
    operator_a = make_principal(account_a, "operator")
    admin_b = make_principal(account_b, "admin")
    cert = request_cert(operator_a.cli)
    unknown = sibling_id(cert["id"])

    for args in (["cert", "show", cert["id"]],
                 ["cert", "export", cert["id"], "--out", workdir.sub("o"), "--passphrase-file",
                  write_passphrase(workdir, "never-used-5678")]):
        assert_cli_denied(admin_b.cli(*args, check=False), 404)
    assert not os.path.exists(workdir.sub("o", "key.pem"))
    assert cert["id"] not in [c["id"] for c in admin_b.cli.json("cert", "list")["items"]]

    # The body for another account's certificate is the body for a certificate that does not
    # exist: nothing tells the caller that the id is taken.
    foreign = assert_problem(server.request("GET", f"/v1/certificates/{cert['id']}",
                                            token=admin_b.token()), 404)
    missing = assert_problem(server.request("GET", f"/v1/certificates/{unknown}",
                                            token=admin_b.token()), 404)
    assert comparable(foreign, cert["id"]) == comparable(missing, unknown), (foreign, missing)
    foreign = assert_problem(server.request("POST", f"/v1/certificates/{cert['id']}/export", {},
                                            token=admin_b.token()), 404)
    missing = assert_problem(server.request("POST", f"/v1/certificates/{unknown}/export", {},
                                            token=admin_b.token()), 404)
    assert comparable(foreign, cert["id"]) == comparable(missing, unknown), (foreign, missing)

    # Naming another account answers 404 as well.
    assert_cli_denied(admin_b.cli("principal", "list", "--account", account_a, check=False), 404)
    assert_cli_denied(admin_b.cli("policy", "show", "--account", account_a, check=False), 404)


def test_other_accounts_secrets_and_grants_look_unknown(server, make_account, make_principal,
                                                        workdir):
    account_a, account_b = make_account(), make_account()
    operator_a = make_principal(account_a, "operator")
    admin_a = make_principal(account_a, "admin")
    admin_b = make_principal(account_b, "admin")
    cert = request_cert(operator_a.cli)
    secret_id = operator_a.cli.json("cert", "export", cert["id"], "--out",
                                    workdir.sub("out"))["passphrase_secret_id"]
    grant = admin_a.cli.json("grant", "create", "--from", account_b, "--to", account_a)

    for method, path in (("GET", "/v1/secrets/{}"), ("GET", "/v1/secrets/{}/value"),
                         ("POST", "/v1/grants/{}/revoke")):
        existing = secret_id if "secrets" in path else grant["id"]
        unknown = sibling_id(existing)
        body = {} if method == "POST" else None
        foreign = assert_problem(server.request(method, path.format(existing), body,
                                                token=admin_b.token()), 404)
        missing = assert_problem(server.request(method, path.format(unknown), body,
                                                token=admin_b.token()), 404)
        assert comparable(foreign, existing) == comparable(missing, unknown), (path, foreign,
                                                                               missing)
        assert account_a not in foreign["detail"], f"{path} names the other account: {foreign}"
    assert_cli_denied(admin_b.cli("secret", "show", secret_id, "--value", check=False), 404)
    assert admin_a.cli.json("grant", "list")["items"][0]["revoked"] is False


def test_only_system_admins_create_accounts(server, cli, make_account, make_principal):
    account = make_account()
    admin = make_principal(account, "admin")
    proc = admin.cli("account", "create", unique_name("nope"), check=False)
    assert_cli_denied(proc, 403)
    doc = assert_problem(server.request("POST", "/v1/accounts", {"name": unique_name("nope")},
                                        token=admin.token()), 403)
    assert doc["type"].endswith(":forbidden"), doc
    # The account admin sees its own account only; the system admin sees it among all.
    assert [a["id"] for a in admin.cli.json("account", "list")["items"]] == [account]
    assert account in [a["id"] for a in cli.json("account", "list")["items"]]
    table = admin.cli("account", "list").stdout.splitlines()
    assert re.match(r"ID\s+NAME\s+CRN\s+CREATED AT$", table[0]), table
    assert len(table) == 2 and table[1].startswith(account + " "), table


# --- account policies ------------------------------------------------------------------------

# (policy document, arguments of a denied request, rule, arguments of an allowed request)
POLICY_CASES = {
    "wildcard": ("[request]\nallow_wildcards = false\n",
                 {"domains": ["*.{n}.example.test"]}, "wildcard.denied",
                 {"domains": ["www.{n}.example.test"]}),
    "allowlist": ('[request]\nallowed_domains = ["*.allowed.test"]\n',
                  {"domains": ["{n}.elsewhere.test"]}, "domains.not_allowed",
                  {"domains": ["{n}.allowed.test"]}),
    "key_type": ('[request]\nallowed_key_types = ["p256"]\n',
                 {"key_type": "p384"}, "key_type.not_allowed", {"key_type": "p256"}),
    "exportable": ("[request]\nallow_exportable = false\n",
                   {"exportable": True}, "exportable.denied", {"exportable": False}),
}


def _request_kwargs(spec):
    n = unique_name("p")
    kw = {k: v for k, v in spec.items()}
    if "domains" in kw:
        kw["domains"] = [d.format(n=n) for d in kw["domains"]]
    return kw


@pytest.mark.parametrize("case", sorted(POLICY_CASES))
def test_policy_denies_request_naming_rule(server, cli, make_account, make_principal, workdir,
                                           case):
    text, denied, rule, allowed = POLICY_CASES[case]
    account = make_account()
    # The account's claims cover every name here, so what refuses is the account policy.
    for domain in ("allowed.test", "elsewhere.test"):
        claim_domain(cli, account, domain)
    operator = make_principal(account, "operator")
    cli("policy", "set", "--account", account, "--file", policy_file(workdir, text))

    proc = request_cert(operator.cli, check=False, **_request_kwargs(denied))
    assert_cli_denied(proc, 403, rule)
    assert proc.stdout == "", proc.stdout
    request_cert(operator.cli, **_request_kwargs(allowed))  # the policy is not a blanket refusal

    denials = [r for r in audit_items(cli, "--account", account)
               if r["action"] == "certificate.request" and r["outcome"] == "denied"]
    assert len(denials) == 1 and rule in denials[0]["detail"], denials


def test_policy_show_prints_canonical_toml(cli, make_account, make_principal, workdir):
    account = make_account()
    auditor = make_principal(account, "auditor")
    default = cli.json("policy", "show", "--account", account)
    assert default["version"] == 0 and default["toml"], default

    doc = ('[request]\nallowed_key_types = ["rsa2048", "p256", "p256"]\n'
           'allowed_domains = ["*.Example.TEST"]\nallow_wildcards = false\n')
    saved = cli.json("policy", "set", "--account", account, "--file", policy_file(workdir, doc))
    assert saved["version"] == 1, saved
    # The auditor's own account is the default; the canonical form sorts and lower-cases.
    text = auditor.cli("policy", "show").stdout
    assert re.search(r'^allowed_key_types = \["p256", "rsa2048"\]$', text, re.M), text
    assert re.search(r'^allowed_domains = \["\*\.example\.test"\]$', text, re.M), text
    assert re.search(r"^allow_wildcards = false$", text, re.M), text
    assert "[export]" in text, text
    # Saving the canonical form again gives the same policy.
    again = cli.json("policy", "set", "--account", account, "--file", policy_file(workdir, text))
    assert again["version"] == 2, again
    assert cli("policy", "show", "--account", account).stdout == text
    # The system admin sees every account, so it must name one.
    proc = cli("policy", "show", check=False)
    assert proc.returncode == 1 and "--account" in proc.stderr, proc.stderr


def test_export_role_policy(make_account, make_principal, workdir):
    account = make_account()
    operator = make_principal(account, "operator")
    admin = make_principal(account, "admin")
    cert = request_cert(operator.cli)
    # An account admin (not a system admin) may write its own account's policy.
    admin.cli("policy", "set", "--account", account, "--file",
              policy_file(workdir, '[export]\nroles = ["admin"]\n'))

    passfile = write_passphrase(workdir, "role-" + secrets.token_urlsafe(12))
    proc = operator.cli("cert", "export", cert["id"], "--out", workdir.sub("op"),
                        "--passphrase-file", passfile, check=False)
    assert_cli_denied(proc, 403, "export.role_denied")
    assert not os.path.exists(workdir.sub("op", "key.pem"))
    admin.cli("cert", "export", cert["id"], "--out", workdir.sub("adm"), "--passphrase-file",
              passfile)
    key_matches_cert(workdir.sub("adm"), passfile)


@pytest.mark.parametrize("text,key", [
    ('[request]\nallowed_key_types = ["p256", "p521"]\n', "request.allowed_key_types"),
    ("[request]\nallow_wildcard = false\n", "request.allow_wildcard"),
    ('[request]\nallow_wildcards = "no"\n', "request.allow_wildcards"),
    ('[request]\nmax_validity = "forever"\n', "request.max_validity"),
    ('[export]\nroles = ["root"]\n', "export.roles"),
])
def test_bad_policy_is_refused_naming_key(server, cli, make_account, workdir, text, key):
    account = make_account()
    proc = cli("policy", "set", "--account", account, "--file", policy_file(workdir, text),
               check=False)
    assert_cli_denied(proc, 400)
    assert key in proc.stderr, proc.stderr
    assert cli.json("policy", "show", "--account", account)["version"] == 0  # nothing saved
    doc = assert_problem(server.request("PUT", f"/v1/policies/{account}", {"toml": text}), 400)
    assert key in doc["detail"], doc


def test_policy_set_limits_and_roles(cli, make_account, make_principal, workdir):
    account = make_account()
    operator = make_principal(account, "operator")
    ok = policy_file(workdir, "[request]\nallow_wildcards = false\n")
    assert_cli_denied(operator.cli("policy", "set", "--account", account, "--file", ok,
                                   check=False), 403, "role.insufficient")
    big = policy_file(workdir, "# padding\n" * 7000)  # > 64 KiB: refused before sending
    proc = cli("policy", "set", "--account", account, "--file", big, check=False)
    assert proc.returncode == 1 and "65536" in proc.stderr, proc.stderr
    proc = cli("policy", "set", "--account", account, "--file", workdir.sub("missing.toml"),
               check=False)
    assert proc.returncode == 1 and "missing.toml" in proc.stderr, proc.stderr


# --- tags and secrets (ABAC) -----------------------------------------------------------------

def test_secret_value_needs_matching_tags(server, cli, make_account, make_principal, workdir):
    account = make_account()
    dev = make_principal(account, "operator", tags={"env": "dev"})
    prod = make_principal(account, "operator", tags={"env": "prod"})
    cert = request_cert(dev.cli, tags={"env": "dev"})
    out = workdir.sub("out")
    exported = dev.cli.json("cert", "export", cert["id"], "--out", out)
    secret_id = exported["passphrase_secret_id"]
    assert secret_id and secret_id.startswith("sec_"), exported

    meta = prod.cli.json("secret", "show", secret_id)  # metadata: any operator of the account
    assert meta["tags"] == {"env": "dev"} and meta["account"] == account, meta
    assert secret_id in [s["id"] for s in dev.cli.json("secret", "list")["items"]]
    assert secret_id in dev.cli("secret", "list").stdout

    proc = prod.cli("secret", "show", secret_id, "--value", check=False)
    assert_cli_denied(proc, 403, "tags.mismatch")
    assert proc.stdout == "", "a denied read printed something"
    denials = [r for r in audit_items(cli, "--resource", secret_id)
               if r["action"] == "secret.read_value" and r["outcome"] == "denied"]
    assert len(denials) == 1 and denials[0]["principal"] == prod.id, denials
    assert denials[0]["status"] == 403, denials

    value = dev.cli("secret", "show", secret_id, "--value").stdout
    assert value.endswith("\n") and value.strip(), "no value printed"
    passfile = write_private_file(workdir.sub("generated.pass"), value)
    key_matches_cert(out, passfile)
    raw = dev.cli.json("secret", "show", secret_id, "--value")
    assert raw["value"] == value.rstrip("\n") and raw["id"] == secret_id, "--json differs"
    reads = [r for r in audit_items(cli, "--resource", secret_id)
             if r["action"] == "secret.read_value" and r["outcome"] == "success"]
    assert {r["principal"] for r in reads} == {dev.id} and len(reads) == 2, reads
    # An auditor may see metadata but never a value, whatever its tags.
    auditor = make_principal(account, "auditor", tags={"env": "dev"})
    assert_cli_denied(auditor.cli("secret", "show", secret_id, "--value", check=False), 403)


def test_operator_cannot_tag_itself(make_account, make_principal):
    # docs/api.md: "A principal cannot set its own tags (403, rule tags.self_assign)", whatever
    # its role: the self-assignment is what is refused, not (only) the role.
    account = make_account()
    operator = make_principal(account, "operator", tags={"env": "dev"})
    proc = operator.cli("principal", "tag", "--account", account, "--principal", operator.id,
                        "--tag", "env=prod", check=False)
    assert_cli_denied(proc, 403, "tags.self_assign")


def test_principal_tags_are_set_by_other_admins(cli, make_account, make_principal):
    account = make_account()
    operator = make_principal(account, "operator", tags={"env": "dev"})
    admin = make_principal(account, "admin")

    proc = admin.cli("principal", "tag", "--account", account, "--principal", admin.name,
                     "--tag", "env=prod", check=False)
    assert_cli_denied(proc, 403, "tags.self_assign")
    proc = operator.cli("principal", "create", "--account", account, "--name", unique_name("x"),
                        "--role", "operator", check=False)
    assert_cli_denied(proc, 403)
    listed = {p["id"]: p for p in cli.json("principal", "list", "--account", account)["items"]}
    assert listed[operator.id]["tags"] == {"env": "dev"} and listed[admin.id]["tags"] == {}

    # An admin may tag others (PATCH replaces the tags), by id or by name.
    tagged = admin.cli.json("principal", "tag", "--account", account, "--principal",
                            operator.name, "--tag", "env=prod", "--tag", "team=web")
    assert tagged["id"] == operator.id and tagged["tags"] == {"env": "prod", "team": "web"}
    table = admin.cli("principal", "list").stdout.splitlines()
    assert re.match(r"ID\s+NAME\s+ACCOUNT\s+KIND\s+ROLE\s+TAGS", table[0]), table
    row = [line for line in table if line.startswith(operator.id + " ")]
    assert len(row) == 1 and "env=prod, team=web" in row[0], table


# --- tokens, grants --------------------------------------------------------------------------

def test_token_create_output(server, cli, make_account, make_principal, workdir):
    account = make_account()
    operator = make_principal(account, "operator")
    token_path = operator.token_path
    assert stat.S_IMODE(os.stat(token_path).st_mode) == 0o600

    # Without --out the token is printed once, alone on stdout.
    proc = cli("token", "create", "--principal", operator.name, "--account", account,
               "--expires", "1d")
    token = proc.stdout.strip()
    assert "\n" not in token and "created token" in proc.stderr, proc
    assert server.request("GET", "/v1/certificates", token=token).status == 200
    shown = cli.json("token", "create", "--principal", operator.id, "--account", account)
    assert shown["token"] and shown["principal"] == operator.id and shown["account"] == account

    # --out never overwrites: the existing file is untouched and no token is made for nothing.
    with open(token_path, "rb") as f:
        before = f.read()
    proc = cli("token", "create", "--principal", operator.id, "--account", account, "--out",
               token_path, check=False)
    assert proc.returncode == 1 and "exists" in proc.stderr, proc.stderr
    with open(token_path, "rb") as f:
        assert f.read() == before
    written = cli.json("token", "create", "--principal", operator.id, "--account", account,
                       "--out", workdir.sub("tokens", "second.token"))
    assert "token" not in written and written["token_file"].endswith("second.token"), written
    assert stat.S_IMODE(os.stat(written["token_file"]).st_mode) == 0o600
    # A bad lifetime is a usage error.
    proc = cli("token", "create", "--principal", operator.id, "--expires", "soon", check=False)
    assert proc.returncode == 2 and "--expires" in proc.stderr, proc.stderr

    # A principal given by id needs no --account (issue #17), and durations may be compound.
    by_id = cli.json("token", "create", "--principal", operator.id, "--expires", "1h30m")
    assert by_id["account"] == account and by_id["principal"] == operator.id, by_id
    lifetime = (datetime.datetime.fromisoformat(by_id["expires_at"].replace("Z", "+00:00")) -
                datetime.datetime.fromisoformat(by_id["created_at"].replace("Z", "+00:00")))
    assert lifetime == datetime.timedelta(hours=1, minutes=30), by_id
    tagged = cli.json("principal", "tag", "--principal", operator.id, "--tag", "env=qa")
    assert tagged["account"] == account and tagged["tags"] == {"env": "qa"}, tagged
    # A name is still looked up in the caller's own account.
    proc = cli("token", "create", "--principal", operator.name, check=False)
    assert proc.returncode != 0 and "not found" in proc.stderr, proc.stderr
    proc = cli("token", "create", "--principal", operator.id, "--expires", "30m1h", check=False)
    assert proc.returncode == 2 and "--expires" in proc.stderr, proc.stderr


def test_grants(cli, make_account, make_principal):
    source, target = make_account(), make_account()
    admin_target = make_principal(target, "admin")
    operator_target = make_principal(target, "operator")
    assert_cli_denied(operator_target.cli("grant", "create", "--from", source, "--to", target,
                                          check=False), 403)
    grant = admin_target.cli.json("grant", "create", "--from", source, "--to", target)
    assert grant["from_account"] == source and grant["to_account"] == target, grant
    assert grant["revoked"] is False, grant
    listed = operator_target.cli.json("grant", "list")["items"]
    assert [g["id"] for g in listed] == [grant["id"]], listed
    table = cli("grant", "list", "--account", target).stdout.splitlines()
    assert re.match(r"ID\s+FROM\s+TO\s+CREATED BY\s+CREATED AT\s+REVOKED", table[0]), table
    assert any(line.startswith(grant["id"] + " ") for line in table), table
    revoked = admin_target.cli.json("grant", "revoke", grant["id"])
    assert revoked["revoked"] is True and revoked["revoked_at"], revoked


# --- audit trail -----------------------------------------------------------------------------

def test_failed_authentication_is_audited(server_factory, cli_for, workdir):
    # A server of its own: 401s are sampled per source address and minute (issue #13), and the
    # module's server has seen others from 127.0.0.1.
    cli = cli_for(server_factory())
    wrong = write_private_file(workdir.sub("wrong.token"),
                               "cf_wrong_" + secrets.token_hex(16) + "\n")
    target = f"crt_{secrets.token_hex(8)}"
    proc = cli("cert", "show", target, token_file=wrong, check=False)
    assert_cli_denied(proc, 401)
    records = audit_items(cli, "--resource", f"/v1/certificates/{target}")
    assert len(records) == 1, records
    r = records[0]
    assert r["action"] == "auth.failed" and r["outcome"] == "denied" and r["status"] == 401, r
    assert r["principal"] in ("", None), r  # nobody was authenticated


@pytest.mark.parametrize("tamper,seq", [
    ("UPDATE audit_records SET detail='x' WHERE seq=3", 3),
    ("DELETE FROM audit_records WHERE seq=4", 4),
])
def test_audit_tampering_is_detected(server_factory, cli_for, workdir, tamper, seq):
    srv = server_factory()
    cli = cli_for(srv)
    # Audited calls: state changes and denials.
    account = create_account(cli)["id"]
    create_principal(cli, workdir, account, "auditor")
    create_account(cli)
    wrong = write_private_file(workdir.sub("wrong.token"), "cf_wrong_" + secrets.token_hex(16))
    cli("cert", "list", token_file=wrong, check=False)
    create_account(cli)
    before = cli.json("audit", "verify")
    assert before["ok"] is True and before["checked"] >= seq + 2, before
    proc = cli("audit", "verify")
    assert proc.stdout.startswith("audit chain ok"), proc.stdout

    assert srv.stop() == 0
    subprocess.run(["sqlite3", srv.db_path, tamper], check=True, timeout=60,
                   capture_output=True)
    srv.start()

    proc = cli("audit", "verify", check=False)
    assert proc.returncode == 1, proc
    assert f"audit chain broken at record {seq}:" in proc.stderr, proc.stderr
    proc = cli("--json", "audit", "verify", check=False)
    assert proc.returncode == 1, proc
    report = json.loads(proc.stdout)
    assert report["ok"] is False and report["first_bad_seq"] == seq, report


# --- reports ---------------------------------------------------------------------------------

def test_export_report_counts(cli, make_account, make_principal, workdir):
    account = make_account()
    operator = make_principal(account, "operator")
    n = unique_name("rep")
    cert = request_cert(operator.cli, domains=[f"{n}.example.test", f"*.{n}.example.test"])
    passfile = write_passphrase(workdir, "report-" + secrets.token_urlsafe(12))
    for i in range(2):
        operator.cli("cert", "export", cert["id"], "--out", workdir.sub(f"out{i}"),
                     "--passphrase-file", passfile)

    today = datetime.datetime.now(datetime.timezone.utc).date()
    for args in ([], ["--since", today.isoformat()]):
        items = cli.json("report", "exports", "--account", account, *args)["items"]
        rows = [r for r in items if r["certificate"] == cert["id"]]
        assert len(rows) == 1, items
        row = rows[0]
        assert (row["exports"], row["fqdns"], row["wildcards"]) == (2, 4, 2), row
        assert row["account"] == account and row["name"] == cert["name"], row
    # The operator's own account is the default.
    mine = operator.cli.json("report", "exports")["items"]
    assert [(r["certificate"], r["exports"]) for r in mine] == [(cert["id"], 2)], mine
    table = operator.cli("report", "exports").stdout.splitlines()
    assert re.match(r"ACCOUNT\s+CERTIFICATE\s+NAME\s+EXPORTS\s+FQDNS\s+WILDCARDS$", table[0])
    assert re.search(r"\s2\s+4\s+2$", table[1]), table
    tomorrow = (today + datetime.timedelta(days=1)).isoformat()
    later = cli.json("report", "exports", "--account", account, "--since", tomorrow)["items"]
    assert all(r["exports"] == 0 for r in later if r["certificate"] == cert["id"]), later
