"""Differential test of certfleet's ACME server against Pebble (issue #16): the same scripted
ACME client runs the same script against a Pebble and against a certfleetd, both requiring
external account binding, and records for each step (step, HTTP status, resource status or the
value the step checks, problem type). The two sequences must be equal once normalised (below).

The script (about 65 steps, RFC 8555 section numbers in the code): the directory, newNonce with
HEAD and GET (Cache-Control: no-store); newAccount without EAB (externalAccountRequired), with an
EAB MACed with a wrong key, onlyReturnExisting for an unknown key, with EAB (201 and Location),
again with the same key (200), signed with a "kid"; the account, a tel: contact; newOrder, its
authorization, finalize before ready (orderNotReady); the http-01 challenge answered through the
test's own responder (on the port both validators fetch from), polled until valid, answered
again; finalize with the account key in the CSR and with other names (badCSR), then a good CSR,
polled until valid; finalize again; download (PEM chain, the ordered name); the account's orders
list; revocation with reason 7 (badRevocationReason), revocation, again (alreadyRevoked); an
order whose challenge gets a wrong key authorization (invalid challenge, authorization and
order, the challenge's error type); an authorization deactivated by the client (its order
becomes invalid); identifiers a server refuses; a request as application/json (415), with alg
HS256 (badSignatureAlgorithm and its "algorithms" list), with a "jwk" where a "kid" belongs, with
a "url" that is not the request's (unauthorized), an unknown "kid", a used nonce (badNonce); key
rollover to another account's key (409 with that account's URL), then to a fresh key (the old
key no longer acts for the account, the new one does); deactivation, then use (unauthorized).

Both servers run on free loopback ports in their own directories; names resolve through the
test's BIND9 (acme_servers.Bind9: every name under example.test is 127.0.0.1). Pebble runs with
PEBBLE_VA_NOSLEEP=1, PEBBLE_WFE_NONCEREJECT=0 (no random badNonce) and PEBBLE_AUTHZREUSE=0 (no
reused authorizations). Polls have deadlines; nothing sleeps to let time pass.

Normalisation, two documented tables (see OPEN and PEBBLE_DEVIATIONS for the RFC text):
  - OPEN: steps where RFC 8555 allows more than one answer (a challenge just answered is pending
    or processing, a finalized order processing or valid, the problem type of a wrong key
    authorization, ...); every allowed answer is recorded, for both servers, as one label.
  - PEBBLE_DEVIATIONS: where Pebble 2.4 answers what RFC 8555 says a server must or should not,
    Pebble's exact answer is recorded as the RFC's; certfleet must answer the RFC's itself.
A certfleet answer that is neither is a difference: a server bug (three were found and fixed
this way: 415 for a non-JOSE media type, "algorithms" in badSignatureAlgorithm, 409 with
Location for a key change to a key in use).

The EAB HMAC keys are secrets: they go into Pebble's configuration file (in the test's
temporary directory) and into the MACs, never into a message of this test.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import secrets
import threading
import time

import pytest

import acme_servers
from conftest import (DEFAULT_SERVER_CONFIG, Cli, Server, Workspace, create_account,
                      create_principal, unique_name)

# Debian's python3-acme 2.1 (certbot's), josepy, requests and cryptography: certbot's
# dependencies, installed with it (scripts/install-deps.sh test).
acme_jws = pytest.importorskip("acme.jws", reason="python3-acme (certbot) is not installed")
jose = pytest.importorskip("josepy")
requests = pytest.importorskip("requests")
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

ERROR_PREFIX = "urn:ietf:params:acme:error:"
REQUEST_TIMEOUT_S = 15.0
POLL_DEADLINE_S = 15.0
POLL_S = 0.02


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- the test's own http-01 responder ---------------------------------------------------------

class Responder:
    """Plain HTTP on 127.0.0.1:<free port>: GET /.well-known/acme-challenge/<token> answers the
    body set for that token, 404 otherwise. Both validators fetch http-01 from this port."""

    def __init__(self):
        self.bodies = {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                prefix = "/.well-known/acme-challenge/"
                body = None
                if self.path.startswith(prefix):
                    body = outer.bodies.get(self.path[len(prefix):])
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# --- a small ACME client that keeps every answer ----------------------------------------------

def new_key():
    """A P-256 account key: (the josepy JWK that signs, the cryptography key for CSRs)."""
    raw = ec.generate_private_key(ec.SECP256R1())
    return jose.JWKEC(key=raw), raw


def csr_der(key, names):
    """A CSR (DER) for `names` (the first also the CN) signed by `key` (a cryptography key)."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])).add_extension(
        x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


class Answer:
    def __init__(self, resp):
        self.status = resp.status_code
        self.headers = resp.headers
        self.location = resp.headers.get("Location")
        self.content_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        self.text = resp.text
        self.json = None
        if self.content_type in ("application/json", "application/problem+json"):
            try:
                self.json = resp.json()
            except ValueError:
                self.json = None

    @property
    def problem(self):
        if self.content_type != "application/problem+json" or not isinstance(self.json, dict):
            return None
        t = self.json.get("type", "")
        return t[len(ERROR_PREFIX):] if t.startswith(ERROR_PREFIX) else t

    @property
    def resource_status(self):
        if self.problem is None and isinstance(self.json, dict):
            return self.json.get("status")
        return None


class ScriptedClient:
    """Signs with josepy (ES256, acme.jws for the nonce and url headers) and sends with requests;
    records (step, HTTP status, resource status, problem type) for every step."""

    def __init__(self, name, directory_url, ca_file):
        self.name = name
        self.directory_url = directory_url
        self.session = requests.Session()
        # Not from the environment (REQUESTS_CA_BUNDLE, proxies): this server's listener CA.
        self.session.trust_env = False
        self.session.verify = ca_file
        self.session.headers["User-Agent"] = "certfleet-differential-test"
        self.directory = None
        self.nonce = None
        self.kid = None
        self.sequence = []
        self.bodies = {}  # step -> the head of its answer, for failure messages

    # transport

    def _keep_nonce(self, resp):
        n = resp.headers.get("Replay-Nonce")
        if n:
            self.nonce = n

    def get(self, url, method="GET"):
        resp = self.session.request(method, url, timeout=REQUEST_TIMEOUT_S)
        self._keep_nonce(resp)
        return Answer(resp)

    def fresh_nonce(self):
        self.get(self.directory["newNonce"], method="HEAD")
        return self.nonce

    def jws(self, url, payload, key, kid=None, nonce=None, embed_jwk=False):
        """A flattened JWS: `payload` None for POST-as-GET, else a JSON-able object or bytes."""
        if payload is None:
            data = b""
        elif isinstance(payload, bytes):
            data = payload
        else:
            data = json.dumps(payload).encode()
        nonce = nonce if nonce is not None else (self.nonce or self.fresh_nonce())
        signed = acme_jws.JWS.sign(data, key=key, alg=jose.ES256,
                                   nonce=jose.decode_b64jose(nonce), url=url,
                                   kid=None if embed_jwk else (kid or self.kid))
        return signed.json_dumps().encode()

    def hs256_jws(self, url, payload):
        """A JWS with "alg": "HS256" (a MAC, which ACME does not allow) and this account's kid."""
        nonce = self.nonce or self.fresh_nonce()
        protected = b64url(json.dumps({"alg": "HS256", "kid": self.kid, "nonce": nonce,
                                       "url": url}).encode())
        body = b64url(json.dumps(payload).encode())
        mac = hmac.new(secrets.token_bytes(32), f"{protected}.{body}".encode(),
                       hashlib.sha256).digest()
        return json.dumps({"protected": protected, "payload": body,
                           "signature": b64url(mac)}).encode()

    def post(self, url, payload, key, kid=None, embed_jwk=False, nonce=None, body=None,
             content_type="application/jose+json"):
        body = body if body is not None else self.jws(url, payload, key, kid=kid, nonce=nonce,
                                                      embed_jwk=embed_jwk)
        self.nonce = None  # used: the answer carries the next one
        resp = self.session.post(url, data=body, timeout=REQUEST_TIMEOUT_S,
                                 headers={"Content-Type": content_type})
        self._keep_nonce(resp)
        return Answer(resp)

    # recording

    def record(self, step, answer, status=None):
        """Appends the step; `status`, when given, is the value the step checks instead of the
        resource's status."""
        rs = status if status is not None else answer.resource_status
        self.sequence.append((step, answer.status, rs, answer.problem))
        self.bodies[step] = (answer.text or "")[:300]
        return answer

    def expect(self, step, answer, *statuses):
        """Records, and stops the script when the HTTP status is none of `statuses`: what
        follows would depend on a resource that was not made."""
        self.record(step, answer)
        if answer.status not in statuses:
            raise ScriptStopped(f"{self.name}: {step} answered {answer.status}: "
                                f"{(answer.text or '')[:300]}")
        return answer

    def poll(self, url, key, done):
        """POST-as-GET `url` until its status is in `done`; the last answer (bounded)."""
        deadline = time.monotonic() + POLL_DEADLINE_S
        while True:
            a = self.post(url, None, key)
            if a.status != 200 or a.resource_status in done:
                return a
            if time.monotonic() > deadline:
                return a
            time.sleep(POLL_S)  # bounded poll of the server's state


class ScriptStopped(Exception):
    pass


def eab(account_key, kid, hmac_b64, new_account_url):
    """The externalAccountBinding JWS (RFC 8555 section 7.3.4): HS256 over the account's JWK,
    with the CA's key id and the newAccount URL."""
    protected = b64url(json.dumps({"alg": "HS256", "kid": kid, "url": new_account_url}).encode())
    payload = b64url(json.dumps(account_key.public_key().to_partial_json()).encode())
    mac = hmac.new(jose.decode_b64jose(hmac_b64), f"{protected}.{payload}".encode(),
                   hashlib.sha256).digest()
    return {"protected": protected, "payload": payload, "signature": b64url(mac)}


# --- the script -------------------------------------------------------------------------------

class Target:
    """One server under test: its directory, the CA of its listener, two unused EAB keys
    (kid, base64url HMAC key) and the names the script may order."""

    def __init__(self, name, directory_url, ca_file, eab_keys, domain):
        self.name = name
        self.directory_url = directory_url
        self.ca_file = ca_file
        self.eab_keys = eab_keys
        self.domain = domain


def run_script(target, responder):
    """Runs the script against `target`; returns the client (its sequence and log)."""
    c = ScriptedClient(target.name, target.directory_url, target.ca_file)
    try:
        _script(c, target, responder)
    except ScriptStopped as stopped:
        c.sequence.append(("stopped", str(stopped), None, None))
    return c


def _cache_control(answer):
    return "no-store" if "no-store" in answer.headers.get("Cache-Control", "") else "cacheable"


def _script(c, t, responder):
    d = c.get(t.directory_url)
    c.expect("directory", d, 200)
    c.directory = d.json
    nonce_url = c.directory["newNonce"]
    head = c.get(nonce_url, method="HEAD")
    c.record("newNonce HEAD (Cache-Control)", head, status=_cache_control(head))
    get = c.get(nonce_url)
    c.record("newNonce GET (Cache-Control)", get, status=_cache_control(get))
    new_account = c.directory["newAccount"]
    new_order = c.directory["newOrder"]
    (kid1, hmac1), (kid2, hmac2) = t.eab_keys
    key, key_raw = new_key()
    terms = {"termsOfServiceAgreed": True, "contact": ["mailto:ops@example.test"]}

    # Accounts (RFC 8555 section 7.3).
    c.record("newAccount without EAB", c.post(new_account, terms, key, embed_jwk=True))
    wrong = b64url(secrets.token_bytes(32))
    c.record("newAccount, EAB MACed with a wrong key",
             c.post(new_account, {**terms, "externalAccountBinding": eab(key, kid2, wrong,
                                                                          new_account)},
                    key, embed_jwk=True))
    c.record("newAccount onlyReturnExisting, unknown key",
             c.post(new_account, {"onlyReturnExisting": True}, key, embed_jwk=True))
    a = c.expect("newAccount with EAB",
                 c.post(new_account, {**terms, "externalAccountBinding": eab(key, kid1, hmac1,
                                                                              new_account)},
                        key, embed_jwk=True), 201)
    c.sequence.append(("newAccount Location", bool(a.location), None, None))
    c.kid = a.location
    c.record("newAccount again, same key", c.post(new_account, terms, key, embed_jwk=True))
    c.record("newAccount signed with a kid", c.post(new_account, terms, key))
    c.record("account POST-as-GET", c.post(c.kid, None, key))
    c.record("account update, tel: contact",
             c.post(c.kid, {"contact": ["tel:+15555550100"]}, key))

    # An order, its authorization and http-01 challenge (section 7.4, 7.5, 8.3).
    name1 = f"{unique_name('d1')}.{t.domain}"
    ids1 = {"identifiers": [{"type": "dns", "value": name1}]}
    o = c.expect("newOrder", c.post(new_order, ids1, key), 201)
    c.sequence.append(("newOrder Location", bool(o.location), None, None))
    order_url, order = o.location, o.json
    authz_url = order["authorizations"][0]
    az = c.expect("authorization", c.post(authz_url, None, key), 200)
    http01 = [ch for ch in az.json["challenges"] if ch["type"] == "http-01"]
    if not http01:
        raise ScriptStopped(f"{c.name}: authorization: no http-01 challenge")
    ch = http01[0]
    c.sequence.append(("http-01 challenge", ch["status"], None, None))
    c.record("finalize before ready",
             c.post(order["finalize"], {"csr": b64url(csr_der(ec.generate_private_key(
                 ec.SECP256R1()), [name1]))}, key))
    thumb = b64url(key.thumbprint(hash_function=hashes.SHA256))
    responder.bodies[ch["token"]] = f"{ch['token']}.{thumb}"
    c.record("challenge answered", c.post(ch["url"], {}, key))
    c.record("authorization polled", c.poll(authz_url, key, {"valid", "invalid"}))
    c.record("challenge POST-as-GET", c.post(ch["url"], None, key))
    c.record("challenge answered again", c.post(ch["url"], {}, key))
    c.record("order POST-as-GET", c.post(order_url, None, key))

    # Finalize (section 7.4): two bad CSRs, then a good one; download.
    c.record("finalize, the account key in the CSR",
             c.post(order["finalize"], {"csr": b64url(csr_der(key_raw, [name1]))}, key))
    cert_key = ec.generate_private_key(ec.SECP256R1())
    c.record("finalize, a CSR for other names",
             c.post(order["finalize"], {"csr": b64url(csr_der(
                 cert_key, [f"{unique_name('other')}.{t.domain}"]))}, key))
    c.record("order after bad CSRs", c.post(order_url, None, key))
    c.record("finalize", c.post(order["finalize"], {"csr": b64url(csr_der(cert_key, [name1]))},
                                key))
    done = c.expect("order polled", c.poll(order_url, key, {"valid", "invalid"}), 200)
    c.record("finalize again", c.post(order["finalize"], {"csr": b64url(csr_der(
        cert_key, [name1]))}, key))
    cert = c.post(done.json.get("certificate", order_url), None, key)
    c.record("certificate download", cert, status=cert.content_type)
    pems = [p for p in cert.text.split("-----END CERTIFICATE-----") if "BEGIN" in p]
    if not pems:
        raise ScriptStopped(f"{c.name}: certificate download: no certificate")
    c.sequence.append(("certificate chain, leaf and issuer", len(pems) >= 2, None, None))
    leaf = x509.load_pem_x509_certificate(
        (pems[0].strip() + "\n-----END CERTIFICATE-----\n").encode())
    leaf_der = leaf.public_bytes(serialization.Encoding.DER)
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    c.sequence.append(("certificate names", sans.get_values_for_type(x509.DNSName) == [name1],
                       None, None))
    account = c.post(c.kid, None, key)
    orders = c.post((account.json or {}).get("orders", c.kid), None, key)
    c.record("account orders list", orders,
             status=order_url in (orders.json or {}).get("orders", []))

    # Revocation (section 7.6).
    revoke = c.directory["revokeCert"]
    c.record("revoke, reason 7", c.post(revoke, {"certificate": b64url(leaf_der), "reason": 7},
                                        key))
    c.record("revoke", c.post(revoke, {"certificate": b64url(leaf_der), "reason": 4}, key))
    c.record("revoke again", c.post(revoke, {"certificate": b64url(leaf_der), "reason": 4}, key))

    # A challenge answered with a wrong key authorization (section 8.3).
    name2 = f"{unique_name('d2')}.{t.domain}"
    o2 = c.expect("newOrder 2", c.post(new_order, {"identifiers": [{"type": "dns",
                                                                     "value": name2}]}, key), 201)
    az2 = c.expect("authorization 2", c.post(o2.json["authorizations"][0], None, key), 200)
    ch2 = [x for x in az2.json["challenges"] if x["type"] == "http-01"][0]
    responder.bodies[ch2["token"]] = f"{ch2['token']}.{b64url(secrets.token_bytes(32))}"
    c.record("challenge 2 answered", c.post(ch2["url"], {}, key))
    c.record("authorization 2 polled", c.poll(o2.json["authorizations"][0], key,
                                              {"valid", "invalid"}))
    bad = c.post(ch2["url"], None, key)
    err = ((bad.json or {}).get("error") or {}).get("type") or ""
    c.record("challenge 2 POST-as-GET", bad)
    c.sequence.append(("challenge 2 error", err[len(ERROR_PREFIX):], None, None))
    c.record("order 2 POST-as-GET", c.post(o2.location, None, key))

    # An authorization deactivated by the client (section 7.5.2): its order becomes invalid.
    name3 = f"{unique_name('d3')}.{t.domain}"
    o3 = c.expect("newOrder 3", c.post(new_order, {"identifiers": [{"type": "dns",
                                                                     "value": name3}]}, key), 201)
    c.record("authorization 3 deactivated", c.post(o3.json["authorizations"][0],
                                                   {"status": "deactivated"}, key))
    c.record("order 3 POST-as-GET", c.post(o3.location, None, key))

    # Identifiers a server refuses.
    c.record("newOrder, a DNS name with '_'",
             c.post(new_order, {"identifiers": [{"type": "dns",
                                                 "value": f"bad_name.{t.domain}"}]}, key))
    c.record("newOrder, identifier type email",
             c.post(new_order, {"identifiers": [{"type": "email",
                                                 "value": "ops@example.test"}]}, key))
    c.record("newOrder, no identifiers", c.post(new_order, {"identifiers": []}, key))

    # Request checks (section 6): media type, algorithm, jwk/kid, url, nonce.
    c.record("newOrder, Content-Type application/json",
             c.post(new_order, ids1, key, content_type="application/json"))
    hs = c.post(new_order, None, key, body=c.hs256_jws(new_order, ids1))
    c.record("newOrder, alg HS256 (algorithms listed)", hs,
             status=bool((hs.json or {}).get("algorithms")))
    c.record("newOrder signed with a jwk", c.post(new_order, ids1, key, embed_jwk=True))
    c.record("JWS url is not the request URL",
             c.post(new_order, None, key, body=c.jws(c.kid, ids1, key)))
    unknown_kid = c.kid.rstrip("/").rsplit("/", 1)[0] + "/nosuchaccount0000"
    c.record("unknown kid", c.post(new_order, ids1, key, kid=unknown_kid))
    used = c.fresh_nonce()
    c.post(c.kid, None, key, nonce=used)
    c.record("used nonce", c.post(c.kid, None, key, nonce=used))

    # Key rollover (section 7.3.5): to a key another account holds (409 with that account's
    # URL), then to a fresh key.
    other, _ = new_key()
    b = c.post(new_account, {**terms, "externalAccountBinding": eab(other, kid2, hmac2,
                                                                     new_account)},
               other, embed_jwk=True)
    c.expect("newAccount B with EAB", b, 201)
    key_change = c.directory["keyChange"]
    taken = acme_jws.JWS.sign(json.dumps({"account": c.kid,
                                          "oldKey": key.public_key().to_partial_json()}).encode(),
                              key=other, alg=jose.ES256, nonce=None, url=key_change)
    conflict = c.post(key_change, json.loads(taken.json_dumps()), key)
    c.record("keyChange to account B's key (Location)", conflict,
             status=conflict.location == b.location)
    new, _ = new_key()
    inner = acme_jws.JWS.sign(json.dumps({"account": c.kid,
                                          "oldKey": key.public_key().to_partial_json()}).encode(),
                              key=new, alg=jose.ES256, nonce=None, url=key_change)
    c.record("keyChange", c.post(key_change, json.loads(inner.json_dumps()), key))
    c.record("old key, onlyReturnExisting",
             c.post(new_account, {"onlyReturnExisting": True}, key, embed_jwk=True))
    c.record("old key, account POST-as-GET", c.post(c.kid, None, key))
    c.record("new key, onlyReturnExisting",
             c.post(new_account, {"onlyReturnExisting": True}, new, embed_jwk=True))

    # Deactivation (section 7.3.6), then use.
    c.record("deactivate", c.post(c.kid, {"status": "deactivated"}, new))
    c.record("newOrder by the deactivated account", c.post(new_order, ids1, new))
    c.record("account POST-as-GET by the deactivated account", c.post(c.kid, None, new))


# --- servers ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bind9():
    yield from acme_servers.running_bind9("certfleet-e2e-acmediff-bind-")


@pytest.fixture(scope="module")
def responder():
    r = Responder()
    yield r
    r.close()


def _eab_pair():
    return f"kid-{secrets.token_hex(6)}", b64url(secrets.token_bytes(32))


@pytest.fixture(scope="module")
def pebble(bind9, responder):
    keys = [_eab_pair(), _eab_pair()]
    for server in acme_servers.running_pebble(
            "certfleet-e2e-acmediff-pebble-", bind9, http_port=responder.port,
            eab_keys=dict(keys),
            env={"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0",
                 "PEBBLE_AUTHZREUSE": "0"}):
        yield Target("pebble", server.directory_url, server.ca_file, keys, "example.test")


@pytest.fixture(scope="module")
def certfleet(certfleetd_bin, certfleet_bin, bind9, responder):
    ws = Workspace("certfleet-e2e-acmediff-")
    server = Server(certfleetd_bin, ws.sub("data"))
    os.mkdir(server.data_dir, 0o700)
    server.config = DEFAULT_SERVER_CONFIG + '\n[network]\nallow_private = ["127.0.0.0/8"]\n'
    server.extra_args = ["--acme-http01-port", str(responder.port),
                         "--acme-resolver", f"127.0.0.1:{bind9.port}"]
    try:
        server.start()
        admin = Cli(certfleet_bin, server)
        account = create_account(admin, unique_name("acmediff"))
        operator = create_principal(admin, ws, account["id"], "operator")
        keys = []
        for _ in range(2):
            k = admin.json("acme", "eab", "create", "--account", account["id"],
                           "--principal", operator.record["id"])
            keys.append((k["kid"], k["hmac_key"]))
        target = Target("certfleet", f"{server.url}/acme/directory", server.ca_path, keys,
                        "example.test")
        target.server = server
        yield target
    finally:
        try:
            server.stop()
        finally:
            ws.cleanup()


# --- normalisation ------------------------------------------------------------------------------
# A recorded step is (step, HTTP status, resource status or checked value, problem type).

# Steps where RFC 8555 allows more than one answer. Each answer in the set is recorded, for
# either server, as the joined label; any other answer is kept as it is (and differs).
OPEN = {
    # Section 7.5.1: the server validates asynchronously; a challenge just answered may still be
    # pending (Pebble) or already processing (certfleet).
    "challenge answered": {(200, "pending", None), (200, "processing", None)},
    "challenge 2 answered": {(200, "pending", None), (200, "processing", None)},
    # Section 7.4: "processing" until the certificate is issued, which may already be done.
    "finalize": {(200, "processing", None), (200, "valid", None)},
    # Section 7.5.1 says nothing of answering a challenge that is valid already: Pebble refuses
    # it (malformed), certfleet returns the valid challenge.
    "challenge answered again": {(400, None, "malformed"), (200, "valid", None)},
    # Section 8.3 names no problem type for a wrong key authorization: Pebble (like Boulder)
    # says unauthorized, certfleet incorrectResponse (section 6.7: "Response received didn't
    # match the challenge's requirements").
    "challenge 2 error": {("unauthorized", None, None), ("incorrectResponse", None, None)},
    # Section 7.4 names no type for a DNS name that is not a name: malformed (Pebble) or
    # rejectedIdentifier (certfleet, with one subproblem per name).
    "newOrder, a DNS name with '_'": {(400, None, "malformed"),
                                      (400, None, "rejectedIdentifier")},
    # Section 7.3.5 specifies the status code of a key change only, not its body: Pebble sends
    # none, certfleet the account.
    "keyChange": {(200, None, None), (200, "valid", None)},
    # Section 6.2 names no problem type for a signature that does not verify (here: by the key
    # the account had before its rollover): malformed (Pebble) or unauthorized (certfleet).
    "old key, account POST-as-GET": {(400, None, "malformed"), (403, None, "unauthorized")},
}

# Where Pebble 2.4 answers what RFC 8555 says a server must (or should) not, Pebble's exact
# answer is recorded as the answer the RFC asks for. Applied to Pebble's sequence only, so
# certfleet must give the RFC's answer itself. (The HTTP status of "unauthorized" is not set by
# the RFC; 403 is Boulder's and certfleet's.)
PEBBLE_DEVIATIONS = {
    # Section 7.2: "The server MUST include a Cache-Control header field with the "no-store"
    # directive in responses for the newNonce resource".
    "newNonce HEAD (Cache-Control)": ((200, "cacheable", None), (200, "no-store", None)),
    "newNonce GET (Cache-Control)": ((204, "cacheable", None), (204, "no-store", None)),
    # Section 7.4: a CSR whose names differ from the order's: the problem "SHOULD use error
    # code badCSR".
    "finalize, a CSR for other names": ((403, None, "unauthorized"), (400, None, "badCSR")),
    # Section 7.1.3: an order is pending, ready, processing, valid or invalid; Pebble says
    # "deactivated" once an authorization is deactivated (section 7.1.6: the order is invalid).
    "order 3 POST-as-GET": ((200, "deactivated", None), (200, "invalid", None)),
    # Section 6.7: unsupportedIdentifier, "An identifier is of an unsupported type".
    "newOrder, identifier type email": ((400, None, "malformed"),
                                        (400, None, "unsupportedIdentifier")),
    # Section 6.2: an unsupported "alg" MUST be badSignatureAlgorithm, and the problem MUST
    # include an "algorithms" field.
    "newOrder, alg HS256 (algorithms listed)": ((400, False, "malformed"),
                                                (400, True, "badSignatureAlgorithm")),
    # Section 6.4: a "url" that is not the request's: "the server MUST reject the request as
    # unauthorized".
    "JWS url is not the request URL": ((400, None, "malformed"), (403, None, "unauthorized")),
    # Section 7.3.5: a new key another account holds: "the server SHOULD use status code 409
    # (Conflict) and provide the URL of that account in the Location header field"; Pebble
    # fails with serverInternal.
    "keyChange to account B's key (Location)": ((500, False, "serverInternal"),
                                                (409, True, "malformed")),
}


def normalise(sequence, pebble):
    out = []
    for step, *answer in sequence:
        answer = tuple(answer)
        if pebble and step in PEBBLE_DEVIATIONS and answer == PEBBLE_DEVIATIONS[step][0]:
            answer = PEBBLE_DEVIATIONS[step][1]
        if step in OPEN and answer in OPEN[step]:
            answer = ("|".join(sorted(str(v) for v in {a[0] for a in OPEN[step]})),
                      "|".join(sorted(str(v) for v in {a[1] for a in OPEN[step]})),
                      "|".join(sorted(str(v) for v in {a[2] for a in OPEN[step]})))
        out.append((step, *answer))
    return out


def _table(names, a, b):
    width = max(len(x[0]) for x in a + b)
    lines = [f"{'step':<{width}}  {names[0]:<42}  {names[1]}"]
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else None
        y = b[i] if i < len(b) else None
        step = (x or y)[0]
        fx = "" if x is None else " ".join(str(v) for v in x[1:])
        fy = "" if y is None else " ".join(str(v) for v in y[1:])
        mark = "" if x == y else "   <-- differs"
        lines.append(f"{step:<{width}}  {fx:<42}  {fy}{mark}")
    return "\n".join(lines)


def test_same_script_same_statuses(pebble, certfleet, responder):
    p = run_script(pebble, responder)
    c = run_script(certfleet, responder)
    names = (pebble.name, certfleet.name)
    raw = _table(names, p.sequence, c.sequence)
    print("as answered:\n" + raw)
    assert len(p.sequence) >= 60 and p.sequence[-1][0] != "stopped", \
        "the script did not run through against Pebble:\n" + raw
    pn, cn = normalise(p.sequence, pebble=True), normalise(c.sequence, pebble=False)
    if cn != pn:
        differing = [x[0] for x, y in zip(pn, cn) if x != y]
        answers = "\n".join(f"{step}:\n  pebble:    {p.bodies.get(step, '')}\n"
                            f"  certfleet: {c.bodies.get(step, '')}" for step in differing)
        pytest.fail("certfleet and Pebble differ (normalised; see OPEN and PEBBLE_DEVIATIONS):\n"
                    + _table(names, pn, cn) + "\n\nanswers that differ:\n" + answers
                    + "\n\nas answered:\n" + raw + "\n\ncertfleet log:\n"
                    + certfleet.server.log_tail(20), pytrace=False)
