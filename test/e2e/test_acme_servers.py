"""The ACME test harness itself (acme_servers.py, groundwork for issue #6), checked with real
clients: BIND9 takes TSIG-signed RFC 2136 updates and refuses others; lego (dns-01 through
BIND9, also through a CNAME into the second zone) and certbot (http-01) get certificates from
Pebble that chain to Pebble's root. Needs no certfleet binary; skips when a tool is missing.
"""
import re
import secrets
import subprocess

import pytest

import acme_servers

CLIENT_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def bind9():
    yield from acme_servers.running_bind9("certfleet-e2e-bind-")


@pytest.fixture(scope="module")
def pebble(bind9):
    # No deliberate badNonce here: certbot 2.1.0 (Debian 12) on Python 3.11 crashes with
    # "AttributeError: can't set attribute" when an ACME error reaches its error path
    # (certbot/certbot#9539), which made this harness check flaky. certfleet's own client
    # is tested with Pebble's 5% nonce rejection on (src/acme/pebble_test.cc).
    yield from acme_servers.running_pebble("certfleet-e2e-pebble-", bind9,
                                           env={"PEBBLE_WFE_NONCEREJECT": "0"})


def _name(label, zone="example.test"):
    return f"{label}-{secrets.token_hex(4)}.{zone}"


def _run_client(argv, env, what):
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=CLIENT_TIMEOUT_S)
    if proc.returncode != 0:
        pytest.fail(f"{what} exited {proc.returncode}\nstdout: {proc.stdout[-3000:]}\n"
                    f"stderr: {proc.stderr[-3000:]}", pytrace=False)
    return proc


def _first_pem(path, out_path):
    """Writes the first certificate of the PEM bundle at `path` to `out_path`."""
    with open(path) as f:
        blocks = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?",
                            f.read(), re.S)
    assert blocks, f"no certificate in {path}"
    with open(out_path, "w") as f:
        f.write(blocks[0])
    return out_path


def _assert_issued(pebble, workdir, cert_path, chain_path, domain):
    """The leaf in `cert_path` names `domain` and chains through `chain_path` to Pebble's root."""
    root = pebble.write_root(workdir.sub("pebble-root.pem"))
    leaf = _first_pem(cert_path, workdir.sub(f"{domain}-leaf.pem"))
    verify = subprocess.run(["openssl", "verify", "-CAfile", root, "-untrusted", chain_path, leaf],
                            capture_output=True, text=True, timeout=20)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    san = subprocess.run(["openssl", "x509", "-in", leaf, "-noout", "-ext", "subjectAltName"],
                         capture_output=True, text=True, timeout=20)
    assert f"DNS:{domain}" in san.stdout, san.stdout


def test_bind9_accepts_tsig_updates_and_refuses_others(bind9, workdir):
    assert bind9.query("example.test", "SOA"), "no SOA for example.test"
    for zone in bind9.zones:
        assert bind9.query(_name("any", zone), "A") == ["127.0.0.1"]  # the wildcard

    txt = _name("_acme-challenge.txt")
    bind9.add_record("example.test", txt, "TXT", '"token-1"')
    assert bind9.query(txt, "TXT") == ['"token-1"']

    # CNAME delegation into the second zone, as a test of issue #6 will plant it.
    alias = _name("_acme-challenge.alias")
    target = _name("_acme-challenge.target", "delegated.test")
    bind9.add_record("example.test", alias, "CNAME", target + ".")
    bind9.add_record("delegated.test", target, "TXT", '"token-2"')
    assert bind9.query(alias, "TXT")[-1] == '"token-2"'

    # Same key name and algorithm, another secret: BADSIG, nothing changes.
    foreign = bind9.write_foreign_key(workdir.sub("foreign.key"))
    forged = _name("_acme-challenge.forged")
    refused = bind9.add_record("example.test", forged, "TXT", '"x"', key_path=foreign,
                               check=False)
    assert refused.returncode != 0
    assert "BADSIG" in refused.stdout + refused.stderr, refused
    assert bind9.query(forged, "TXT") == []

    # The right key, but a type the update-policy does not grant.
    a_name = _name("host")
    refused = bind9.add_record("example.test", a_name, "A", "127.0.0.2", check=False)
    assert refused.returncode != 0
    assert "REFUSED" in refused.stdout + refused.stderr, refused


def test_lego_dns01_rfc2136(bind9, pebble, workdir):
    acme_servers.skip_unless("lego")
    domain = _name("lego-dns")
    argv, env, cert, issuer = acme_servers.lego_command(pebble, bind9, domain,
                                                        workdir.sub("lego-dns"), "dns-01")
    _run_client(argv, env, "lego (dns-01)")
    _assert_issued(pebble, workdir, cert, issuer, domain)
    assert bind9.query(f"_acme-challenge.{domain}", "TXT") == []  # lego cleaned up


def test_lego_dns01_follows_cname_into_delegated_zone(bind9, pebble, workdir):
    acme_servers.skip_unless("lego")
    domain = _name("lego-cname")
    target = _name("_acme-challenge.cname", "delegated.test")
    bind9.add_record("example.test", f"_acme-challenge.{domain}", "CNAME", target + ".")
    argv, env, cert, issuer = acme_servers.lego_command(pebble, bind9, domain,
                                                        workdir.sub("lego-cname"), "dns-01")
    _run_client(argv, env, "lego (dns-01 through a CNAME)")
    _assert_issued(pebble, workdir, cert, issuer, domain)


def test_certbot_http01_standalone(bind9, pebble, workdir):
    acme_servers.skip_unless("certbot")
    domain = _name("certbot-http")
    argv, env, cert, chain = acme_servers.certbot_command(pebble, bind9, domain,
                                                          workdir.sub("certbot-http"), "http-01")
    _run_client(argv, env, "certbot (http-01)")
    _assert_issued(pebble, workdir, cert, chain, domain)
