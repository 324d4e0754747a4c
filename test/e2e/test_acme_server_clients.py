"""certfleet's ACME server (issue #16) with every ACME client Debian 12 packages, beyond the
certbot http-01 and lego dns-01 runs of test_acme_server.py:

  certbot 2.1     dns-01 through BIND9 (certbot-dns-rfc2136)   issue, `renew`, revoke
  lego            http-01 (its own server)                     issue, renew, revoke
  Caddy 2.6       http-01 and tls-alpn-01 (its own listeners)  issue and serve, renew on a
                                                               restart, revoke from the CLI
  dehydrated 0.7  http-01 (webroot) and dns-01 (nsupdate hook) issue, renew, revoke
  uacme 1.7       http-01 (webroot) and dns-01 (nsupdate hook) issue, renew, revoke;
                  an IP identifier (RFC 8738, 127.0.0.1) over http-01   issue, revoke

Every client registers with an EAB key from `certfleet acme eab create`. Every certificate
verifies against certfleet's root with `openssl verify` and is in `certfleet cert list` (issuer
acme-server); the challenge certfleet validated is the one the client was set up for; a renewal is
a new version of the same certificate record; a revoked certificate is `revoked` in certfleet and
fails `openssl verify -crl_check` with the CRL it names.

The validator reaches the clients on loopback: every name under example.test resolves to
127.0.0.1 in the test BIND9, http-01 goes to AcmeServerEnv.http01_port and tls-alpn-01 to
AcmeServerEnv.tls_alpn01_port, where the client under test (or, for dehydrated and uacme, a small
web server serving their webroot) listens. The tests run one after another: one client at a time
holds those ports.
"""

import concurrent.futures
import glob
import hashlib
import http.server
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

import acme_servers
from acme_server_env import (CLIENT_TIMEOUT_S, AcmeServerEnv, acme_certificates, certbot,
                             check_client, client_env, lego, run_client, split_pem_chain, tail,
                             verify_against_ca)
from conftest import _clean_env, claim_domain, run_tool, stop_process, unique_name, write_private_file

POLL_S = 0.1


@pytest.fixture(scope="module")
def bind9():
    yield from acme_servers.running_bind9("certfleet-e2e-acmecli-bind-")


@pytest.fixture(scope="module")
def env(certfleetd_bin, certfleet_bin, bind9):
    e = AcmeServerEnv(certfleetd_bin, certfleet_bin, bind9, prefix="certfleet-e2e-acmecli-")
    yield e
    e.close()


# --- what every client's certificate must show ---------------------------------------------------

def assert_registered(env, key):
    """The client registered exactly one ACME account, bound through the EAB key `key`."""
    kid = key["kid"]
    assert env.count("SELECT count(*) FROM acme_srv_accounts WHERE eab_kid = ?", kid) == 1


def the_certificate(env, domain, version=1):
    """The one acme-server certificate record for exactly [domain], at `version`."""
    certs = acme_certificates(env, domain)
    assert len(certs) == 1, acme_certificates(env)
    cert = certs[0]
    assert cert["status"] == "issued" and cert["exportable"] is False, cert
    assert cert["version"] == version, cert
    return cert


def assert_issued(env, domain, fullchain, challenge, version=1):
    """The certificate in `fullchain` verifies against certfleet's CA and is the current version
    of the one record for `domain`; certfleet validated `challenge` for the name (a renewal may
    reuse the authorization). Returns (record, serial)."""
    serial = verify_against_ca(env, fullchain)
    cert = the_certificate(env, domain, version)
    assert cert["serial"].lower().lstrip("0") == serial, (cert, serial)
    validated = env.validated_challenges(domain)
    assert validated and set(validated) == {challenge}, validated
    return cert, serial


def assert_renewed(env, domain, fullchain, first, first_serial):
    """A renewal by the client: a new certificate, and the next version of the same record."""
    serial = verify_against_ca(env, fullchain)
    assert serial != first_serial
    certs = acme_certificates(env, domain)
    assert [c["id"] for c in certs] == [first["id"]], certs
    shown = env.operator.cli.json("cert", "show", first["id"])
    assert shown["version"] == first["version"] + 1, shown
    assert shown["serial"].lower().lstrip("0") == serial, (shown, serial)
    return serial


def assert_revoked(env, workdir, cert_id, fullchain):
    """certfleet shows the record revoked, and a relying party refuses the certificate: the CRL
    its CRL distribution point names lists it, and `openssl verify -crl_check` fails."""
    shown = env.operator.cli.json("cert", "show", cert_id)
    assert shown["status"] == "revoked", shown
    verify_against_ca(env, fullchain)  # writes the leaf and the chain next to it
    leaf, chain = fullchain + ".leaf.pem", fullchain + ".chain.pem"
    cdp = run_tool("openssl", "x509", "-noout", "-ext", "crlDistributionPoints",
                   "-in", leaf).stdout.decode()
    match = re.search(r"URI:(\S+)", cdp)
    assert match and match.group(1).startswith(env.server.url + "/"), cdp
    resp = env.server.request("GET", match.group(1)[len(env.server.url):], token=None)
    assert resp.status == 200, resp
    der = workdir.sub(f"crl-{cert_id}.der")
    with open(der, "wb") as f:
        f.write(resp.body)
    crl = workdir.sub(f"crl-{cert_id}.pem")
    run_tool("openssl", "crl", "-inform", "DER", "-in", der, "-out", crl)
    proc = run_tool("openssl", "verify", "-crl_check", "-CAfile", env.server.ca_path,
                    "-untrusted", chain, "-CRLfile", crl, leaf, check=False)
    assert proc.returncode != 0, proc.stdout
    assert b"certificate revoked" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


# --- the webroot web server and the nsupdate hooks of dehydrated and uacme ----------------------

class Webroot:
    """A loopback HTTP server on `port` answering GET /.well-known/acme-challenge/<token> from the
    file <directory>/<token> (what a web server with a webroot does for dehydrated and uacme);
    it records the tokens asked for. A context manager: serving from enter to exit."""

    PREFIX = "/.well-known/acme-challenge/"

    def __init__(self, port, directory):
        self.port = port
        self.directory = directory
        self.asked = []  # tokens requested, in order
        self._server = None
        self._thread = None

    def __enter__(self):
        webroot = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                token = self.path[len(Webroot.PREFIX):] if self.path.startswith(
                    Webroot.PREFIX) else ""
                body = None
                if re.fullmatch(r"[A-Za-z0-9_-]+", token):
                    webroot.asked.append(token)
                    try:
                        with open(os.path.join(webroot.directory, token), "rb") as f:
                            body = f.read()
                    except OSError:
                        pass
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def hook_env(env, webroot):
    """What the hooks below read: where http-01 tokens go, and the BIND9 server, zone and TSIG
    key file for dns-01 (nsupdate, RFC 2136)."""
    return {"ACME_WEBROOT": webroot,
            "ACME_DNS_SERVER": "127.0.0.1", "ACME_DNS_PORT": str(env.bind9.port),
            "ACME_DNS_ZONE": "example.test", "ACME_TSIG_KEY_FILE": env.bind9.tsig_key_path}


# dehydrated's hook interface: `deploy_challenge DOMAIN TOKEN_FILENAME TOKEN_VALUE` and
# `clean_challenge ...` for each name (TOKEN_VALUE is the TXT value for dns-01); every other hook
# (and any hook it does not know yet) must succeed doing nothing.
DEHYDRATED_HOOK = r"""#!/bin/sh
set -eu
case "$1" in
  deploy_challenge) op=add ;;
  clean_challenge) op=delete ;;
  *) exit 0 ;;
esac
printf 'server %s %s\nzone %s\nupdate %s _acme-challenge.%s. 60 TXT "%s"\nsend\n' \
  "$ACME_DNS_SERVER" "$ACME_DNS_PORT" "$ACME_DNS_ZONE" "$op" "$2" "$4" |
  nsupdate -k "$ACME_TSIG_KEY_FILE" -t 10
"""

# uacme's hook interface: METHOD (begin, done, failed) TYPE IDENT TOKEN AUTH; a non-zero exit on
# `begin` declines that challenge. This one accepts only $ACME_CHALLENGE: http-01 into the
# webroot, dns-01 (AUTH is the TXT value) through nsupdate.
UACME_HOOK = r"""#!/bin/sh
set -eu
method=$1 type=$2 ident=$3 token=$4 auth=$5
[ "$type" = "$ACME_CHALLENGE" ] || exit 1
case "$type:$method" in
  http-01:begin) printf '%s' "$auth" > "$ACME_WEBROOT/$token" ;;
  http-01:*) rm -f "$ACME_WEBROOT/$token" ;;
  dns-01:*)
    op=delete; [ "$method" = begin ] && op=add
    printf 'server %s %s\nzone %s\nupdate %s _acme-challenge.%s. 60 TXT "%s"\nsend\n' \
      "$ACME_DNS_SERVER" "$ACME_DNS_PORT" "$ACME_DNS_ZONE" "$op" "$ident" "$auth" |
      nsupdate -k "$ACME_TSIG_KEY_FILE" -t 10 ;;
  *) exit 1 ;;
esac
"""


def concurrently(*calls):
    """Runs the calls side by side and returns their results; a failure in any fails the test
    (re-raised here). Used where one client's runs do not share a port: a dns-01 order beside an
    http-01 one, which keeps the file's run time down (uacme polls every 5 s)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(c) for c in calls]
        return [f.result() for f in futures]


def write_script(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


# --- certbot: dns-01 through BIND9 ------------------------------------------------------------

def test_certbot_dns01_rfc2136_issue_renew_revoke(env, workdir):
    acme_servers.skip_unless("certbot")
    key = env.eab()
    domain = f"{unique_name('cbd')}.example.test"
    d = workdir.sub("certbot")
    creds = acme_servers.write_certbot_rfc2136_credentials(env.bind9, workdir.sub("rfc2136.ini"))
    # BIND9 is authoritative: the TXT record is there when nsupdate returns.
    dns = ["--dns-rfc2136", "--dns-rfc2136-credentials", creds,
           "--dns-rfc2136-propagation-seconds", "0"]
    certbot(env, d, "certonly", "--agree-tos", "--register-unsafely-without-email",
            "--eab-kid", key["kid"], f"--eab-hmac-key={key['hmac_key']}", *dns, "-d", domain)
    assert_registered(env, key)
    live = os.path.join(d, "config", "live", domain)
    cert, serial = assert_issued(env, domain, os.path.join(live, "fullchain.pem"), "dns-01")

    # `certbot renew` from the renewal configuration it saved (plugin, credentials, server).
    certbot(env, d, "renew", "--cert-name", domain, "--force-renewal",
            "--no-random-sleep-on-renew")
    assert_renewed(env, domain, os.path.join(live, "fullchain.pem"), cert, serial)

    certbot(env, d, "revoke", "--cert-path", os.path.join(live, "cert.pem"),
            "--reason", "keycompromise", "--no-delete-after-revoke")
    assert_revoked(env, workdir, cert["id"], os.path.join(live, "fullchain.pem"))


# --- lego: http-01 with its own server --------------------------------------------------------

def test_lego_http01_issue_renew_revoke(env, workdir):
    acme_servers.skip_unless("lego")
    key = env.eab()
    domain = f"{unique_name('lgh')}.example.test"
    d = workdir.sub("lego")
    args = ["--eab", "--kid", key["kid"], f"--hmac={key['hmac_key']}", "--domains", domain,
            "--http", "--http.port", f"127.0.0.1:{env.http01_port}"]
    lego(env, d, *args, "run")
    assert_registered(env, key)
    crt = os.path.join(d, "certificates", f"{domain}.crt")  # leaf and issuer
    cert, serial = assert_issued(env, domain, crt, "http-01")

    lego(env, d, *args, "renew", "--days", "3650", "--no-random-sleep")
    assert_renewed(env, domain, crt, cert, serial)

    kept = workdir.sub("lego-renewed.crt")  # lego revoke moves the files away
    shutil.copyfile(crt, kept)
    lego(env, d, *args, "revoke")
    assert_revoked(env, workdir, cert["id"], kept)


# --- Caddy 2.6: http-01 and tls-alpn-01 on its own listeners ----------------------------------

CADDYFILE = """\
{{
	admin off
	acme_ca {directory}
	acme_ca_root {ca}
	acme_eab {{
		key_id "{kid}"
		mac_key "{hmac}"
	}}
	email ops@example.test
	http_port {http_port}
	https_port {https_port}
	storage file_system {{
		root {storage}
	}}
}}

{domain} {{
	bind 127.0.0.1
	tls {{
		issuer acme {{
			{disable}
		}}
	}}
	respond "served by caddy"
}}
"""


class Caddy:
    """`caddy run` with a Caddyfile (0600: it holds the EAB key) that points the ACME issuer at
    certfleet, trusting certfleet's root for the directory, with only `challenge` enabled; its
    HTTP and HTTPS listeners are on the ports certfleet's validator connects to, its storage,
    HOME and XDG directories under `directory`."""

    def __init__(self, env, directory, key, domain, challenge):
        self.env = env
        self.dir = directory
        self.domain = domain
        self.storage = os.path.join(directory, "storage")
        os.makedirs(self.storage, mode=0o700)
        disable = {"http-01": "disable_tlsalpn_challenge",
                   "tls-alpn-01": "disable_http_challenge"}[challenge]
        self.caddyfile = write_private_file(os.path.join(directory, "Caddyfile"), CADDYFILE.format(
            directory=env.directory, ca=env.server.ca_path, kid=key["kid"], hmac=key["hmac_key"],
            http_port=env.http01_port, https_port=env.tls_alpn01_port, storage=self.storage,
            domain=domain, disable=disable))
        self.log_path = os.path.join(directory, "caddy.log")
        self.proc = None

    def start(self):
        assert self.proc is None
        home = os.path.join(self.dir, "home")
        os.makedirs(home, mode=0o700, exist_ok=True)
        e = _clean_env()
        e.update({"HOME": home, "XDG_DATA_HOME": os.path.join(home, "data"),
                  "XDG_CONFIG_HOME": os.path.join(home, "config")})
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["caddy", "run", "--config", self.caddyfile, "--adapter", "caddyfile"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=e, cwd=self.dir,
                start_new_session=True)
        return self

    def stop(self):
        proc, self.proc = self.proc, None
        rc = stop_process(proc, "caddy", self.log_tail)
        assert rc in (None, 0), self.log_tail()

    def log_tail(self, n=30):
        return self.env.redact(tail(self.log_path, n))

    def stored_chain(self):
        """The path of the certificate chain Caddy stored for the domain, or None."""
        found = glob.glob(os.path.join(self.storage, "certificates", "*", self.domain,
                                       f"{self.domain}.crt"))
        return found[0] if found else None

    def forget_certificate(self):
        """Removes the stored certificate and key (not the ACME account)."""
        for path in glob.glob(os.path.join(self.storage, "certificates", "*", self.domain)):
            shutil.rmtree(path)

    def served_der(self):
        """The leaf Caddy serves for the domain on its HTTPS port, verified against certfleet's
        root for that name; None while it serves none (yet)."""
        ctx = ssl.create_default_context(cafile=self.env.server.ca_path)
        try:
            with socket.create_connection(("127.0.0.1", self.env.tls_alpn01_port),
                                          timeout=5) as s:
                with ctx.wrap_socket(s, server_hostname=self.domain) as t:
                    return t.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError):
            return None

    def wait_serving(self, other_than=None):
        """Polls (bounded) until Caddy has stored a certificate for the domain whose serial is not
        `other_than` and serves exactly that leaf; returns (chain path, serial, leaf DER)."""
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.env.fail(f"caddy exited {self.proc.returncode}; its log:\n{self.log_tail()}")
            chain = self.stored_chain()
            if chain is not None:
                with open(chain) as f:
                    pems = split_pem_chain(f.read())
                stored = ssl.PEM_cert_to_DER_cert(pems[0]) if pems else None
                served = self.served_der()
                if stored is not None and served == stored:
                    serial = run_tool("openssl", "x509", "-inform", "DER", "-noout", "-serial",
                                      input=served).stdout.decode()
                    serial = serial.strip().split("=", 1)[1].lower().lstrip("0")
                    if serial != other_than:
                        return chain, serial, served
            time.sleep(POLL_S)  # bounded poll of Caddy's storage and listener
        self.env.fail(f"caddy did not serve a certificate for {self.domain} from certfleet "
                      f"within {CLIENT_TIMEOUT_S} s; its log:\n{self.log_tail()}")


@pytest.fixture
def caddy_factory(env, workdir):
    made = []

    def make(key, domain, challenge):
        acme_servers.skip_unless("caddy")
        c = Caddy(env, workdir.sub(f"caddy-{len(made)}"), key, domain, challenge)
        made.append(c)
        return c

    yield make
    for c in made:
        if c.proc is not None:
            c.stop()


def assert_caddy_serves(env, domain, served_der, version):
    """The leaf Caddy serves is the record's current version in certfleet."""
    cert = the_certificate(env, domain, version)
    assert cert["fingerprint"] == hashlib.sha256(served_der).hexdigest(), cert
    return cert


def test_caddy_http01_issue_renew_on_restart_and_revoke_from_the_cli(env, workdir,
                                                                     caddy_factory):
    key = env.eab()
    domain = f"{unique_name('cdh')}.example.test"
    caddy = caddy_factory(key, domain, "http-01").start()
    chain, serial, served = caddy.wait_serving()
    assert_registered(env, key)
    cert, _ = assert_issued(env, domain, chain, "http-01")
    assert_caddy_serves(env, domain, served, 1)

    # Renewal: Caddy 2.6 renews in the last third of a certificate's lifetime, with no command
    # to force it. Restarted without its stored certificate, it orders the same name from the
    # same ACME account, which certfleet makes the next version of the same record.
    caddy.stop()
    caddy.forget_certificate()
    caddy.start()
    chain, _, served = caddy.wait_serving(other_than=serial)
    assert_renewed(env, domain, chain, cert, serial)
    assert_caddy_serves(env, domain, served, 2)
    assert_registered(env, key)

    # Caddy 2.6 has no revocation command (`caddy help` lists none): certfleet's CLI revokes it.
    revoked = env.operator.cli.json("cert", "revoke", cert["id"], "--reason", "superseded")
    assert revoked["status"] == "revoked", revoked
    assert_revoked(env, workdir, cert["id"], chain)


def test_caddy_tls_alpn01_issue_and_serve(env, workdir, caddy_factory):
    key = env.eab()
    domain = f"{unique_name('cdt')}.example.test"
    caddy = caddy_factory(key, domain, "tls-alpn-01").start()
    chain, _, served = caddy.wait_serving()
    assert_registered(env, key)
    assert_issued(env, domain, chain, "tls-alpn-01")
    assert_caddy_serves(env, domain, served, 1)


# --- dehydrated: http-01 from a webroot, dns-01 through a hook ---------------------------------

def dehydrated(env, config, *args):
    """Runs dehydrated with `config` (its account, certificates and lock live next to it)."""
    argv = ["dehydrated", "--config", config, *args]
    run = run_client(env, "dehydrated", argv, argv[1:], client_env(env.server))
    return check_client(env, "dehydrated", argv[1:], run)


def test_dehydrated_http01_and_dns01_issue_renew_revoke(env, workdir):
    acme_servers.skip_unless("dehydrated", "curl", "nsupdate")
    key = env.eab()
    base = workdir.sub("dehydrated")
    webroot = os.path.join(base, "webroot")
    os.makedirs(webroot, mode=0o700)
    hook = write_script(os.path.join(base, "hook.sh"), DEHYDRATED_HOOK)
    # dehydrated reads its EAB credentials from the config (a shell file: 0600). It builds the
    # EAB payload for an RSA account key only; KEYSIZE is that key's size.
    config = write_private_file(os.path.join(base, "config"), "\n".join([
        f'CA="{env.directory}"',
        f'CURL_OPTS="--cacert {env.server.ca_path}"',
        f'WELLKNOWN="{webroot}"',
        f'EAB_KID="{key["kid"]}"',
        f'EAB_HMAC_KEY="{key["hmac_key"]}"',
        'KEYSIZE="2048"',
        'KEY_ALGO="prime256v1"',
        'CONTACT_EMAIL="ops@example.test"',
        ""]))

    dehydrated(env, config, "--register", "--accept-terms")
    assert_registered(env, key)

    web_name = f"{unique_name('dhh')}.example.test"
    with Webroot(env.http01_port, webroot) as web:
        dehydrated(env, config, "--cron", "--domain", web_name)
    assert web.asked, "certfleet never fetched the http-01 token"
    live = os.path.join(base, "certs", web_name)
    cert, serial = assert_issued(env, web_name, os.path.join(live, "fullchain.pem"), "http-01")

    # The renewal of that name, and a dns-01 order for another beside it (one lock per name:
    # dehydrated's --lock-suffix).
    dns_name = f"{unique_name('dhd')}.example.test"
    with Webroot(env.http01_port, webroot):
        concurrently(
            lambda: dehydrated(env, config, "--cron", "--domain", web_name, "--force",
                               "--lock-suffix", web_name),
            lambda: dehydrated_dns(env, config, webroot, hook, "--cron", "--domain", dns_name,
                                   "--challenge", "dns-01", "--lock-suffix", dns_name))
    assert_renewed(env, web_name, os.path.join(live, "fullchain.pem"), cert, serial)
    dns_cert, _ = assert_issued(env, dns_name, os.path.join(base, "certs", dns_name,
                                                            "fullchain.pem"), "dns-01")
    assert env.bind9.query(f"_acme-challenge.{dns_name}", "TXT") == []  # the hook cleaned up

    kept = workdir.sub("dehydrated-renewed.pem")  # --revoke renames the certificate
    shutil.copyfile(os.path.join(live, "fullchain.pem"), kept)
    dehydrated(env, config, "--revoke", os.path.join(live, "cert.pem"))
    assert_revoked(env, workdir, cert["id"], kept)
    assert env.operator.cli.json("cert", "show", dns_cert["id"])["status"] == "issued"


def dehydrated_dns(env, config, webroot, hook, *args):
    argv = ["dehydrated", "--config", config, "--hook", hook, *args]
    run = run_client(env, "dehydrated", argv, argv[1:],
                     client_env(env.server, hook_env(env, webroot)))
    return check_client(env, "dehydrated", argv[1:], run)


# --- uacme: http-01 from a webroot, dns-01 through a hook --------------------------------------

def _uacme_trust_argv(trust_dir):
    """The argv prefix that runs a program trusting only the CAs in `trust_dir`.

    uacme has no option for a CA file, and its libcurl (GnuTLS) takes none from the environment:
    it reads the system's /etc/ssl/certs. So the program runs in a private mount namespace
    (`unshare -m`: mounts stay private to it) where `trust_dir` is mounted over /etc/ssl/certs.
    As root that is `unshare -m`; otherwise a user namespace maps the caller to root first."""
    ns = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user",
                                                            "--mount"]
    return [*ns, "--", "sh", "-c", 'mount --bind "$0" /etc/ssl/certs && exec "$@"', trust_dir]


@pytest.fixture
def uacme_trust(env, workdir):
    """A directory holding only certfleet's root, and the argv prefix that makes uacme trust it;
    skips when this machine allows no private mount namespace."""
    acme_servers.skip_unless("uacme", "unshare", "nsupdate")
    trust = workdir.sub("uacme-trust")
    os.makedirs(trust, mode=0o755)
    shutil.copyfile(env.server.ca_path, os.path.join(trust, "certfleet-root.pem"))
    prefix = _uacme_trust_argv(trust)
    probe = subprocess.run([*prefix, "test", "-f", "/etc/ssl/certs/certfleet-root.pem"],
                           capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
    if probe.returncode != 0:
        pytest.skip("uacme trusts only /etc/ssl/certs, and this machine refuses the private "
                    f"mount namespace that would show it certfleet's root: {probe.stderr.strip()}")
    return prefix


def test_uacme_http01_and_dns01_issue_renew_revoke(env, workdir, uacme_trust):
    key = env.eab()
    conf = workdir.sub("uacme")
    os.makedirs(conf, mode=0o700)
    webroot = workdir.sub("uacme-webroot")
    os.makedirs(webroot, mode=0o700)
    hook = write_script(workdir.sub("uacme-hook.sh"), UACME_HOOK)

    def uacme(*args, challenge=None):
        argv = [*uacme_trust, "uacme", "-v", "--confdir", conf, "--acme-url", env.directory,
                "--type", "EC", *args]
        extra = hook_env(env, webroot)
        if challenge:
            extra["ACME_CHALLENGE"] = challenge
        run = run_client(env, "uacme", argv, argv[len(uacme_trust):],
                         client_env(env.server, extra))
        return check_client(env, "uacme", argv[len(uacme_trust):], run)

    # -e KEYID:KEY (one argument; the key never stands alone where it could be an option).
    uacme(f"--eab={key['kid']}:{key['hmac_key']}", "--yes", "new", "ops@example.test")
    assert_registered(env, key)

    web_name = f"{unique_name('uah')}.example.test"
    with Webroot(env.http01_port, webroot) as web:
        uacme("--hook", hook, "issue", web_name, challenge="http-01")
    assert web.asked, "certfleet never fetched the http-01 token"
    chain = os.path.join(conf, web_name, "cert.pem")  # leaf and issuer
    cert, serial = assert_issued(env, web_name, chain, "http-01")

    # The renewal of that name, and a dns-01 order for another beside it.
    dns_name = f"{unique_name('uad')}.example.test"
    with Webroot(env.http01_port, webroot):
        concurrently(
            lambda: uacme("--hook", hook, "--force", "issue", web_name, challenge="http-01"),
            lambda: uacme("--hook", hook, "issue", dns_name, challenge="dns-01"))
    assert_renewed(env, web_name, chain, cert, serial)
    dns_cert, _ = assert_issued(env, dns_name, os.path.join(conf, dns_name, "cert.pem"),
                                "dns-01")
    assert env.bind9.query(f"_acme-challenge.{dns_name}", "TXT") == []  # the hook cleaned up

    kept = workdir.sub("uacme-renewed.pem")  # revoke renames the certificate
    shutil.copyfile(chain, kept)
    uacme("revoke", chain)
    assert_revoked(env, workdir, cert["id"], kept)
    assert env.operator.cli.json("cert", "show", dns_cert["id"])["status"] == "issued"


def test_uacme_ip_identifier_http01(certfleetd_bin, certfleet_bin, bind9, workdir):
    """RFC 8738: uacme (which supports IP identifiers; lego 4.9 and certbot 2.1 send addresses as
    DNS names) orders a certificate for 127.0.0.1. The server's default profile is short-lived
    (uacme cannot ask for a profile), and the account holds an IP claim. certfleet offers http-01
    and tls-alpn-01, never dns-01, for the address, validates http-01 at
    http://127.0.0.1:PORT, and the certificate carries the address as an iPAddress SAN."""
    acme_servers.skip_unless("uacme", "unshare")
    ipenv = AcmeServerEnv(certfleetd_bin, certfleet_bin, bind9,
                          extra_config='\n[acme_server]\ndefault_profile = "short-lived"\n')
    try:
        claim = claim_domain(ipenv.admin, ipenv.account["id"], "127.0.0.1",
                             include_subdomains=False, shared=False)
        assert claim["domain"] == "127.0.0.1/32", claim
        trust = workdir.sub("uacme-ip-trust")
        os.makedirs(trust, mode=0o755)
        shutil.copyfile(ipenv.server.ca_path, os.path.join(trust, "certfleet-root.pem"))
        prefix = _uacme_trust_argv(trust)
        probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL)
        if probe.returncode != 0:
            pytest.skip(f"no private mount namespace for uacme's CA trust: {probe.stderr}")
        conf = workdir.sub("uacme-ip")
        os.makedirs(conf, mode=0o700)
        webroot = workdir.sub("uacme-ip-webroot")
        os.makedirs(webroot, mode=0o700)
        hook = write_script(workdir.sub("uacme-ip-hook.sh"), UACME_HOOK)

        def uacme(*args):
            argv = [*prefix, "uacme", "-v", "--confdir", conf, "--acme-url", ipenv.directory,
                    "--type", "EC", *args]
            extra = hook_env(ipenv, webroot)
            extra["ACME_CHALLENGE"] = "http-01"
            run = run_client(ipenv, "uacme", argv, argv[len(prefix):],
                             client_env(ipenv.server, extra))
            return check_client(ipenv, "uacme", argv[len(prefix):], run)

        key = ipenv.eab()
        uacme(f"--eab={key['kid']}:{key['hmac_key']}", "--yes", "new", "ops@example.test")
        with Webroot(ipenv.http01_port, webroot) as web:
            uacme("--hook", hook, "issue", "127.0.0.1")
        assert web.asked, "certfleet never fetched the http-01 token"
        chain = os.path.join(conf, "127.0.0.1", "cert.pem")
        cert, _ = assert_issued(ipenv, "127.0.0.1", chain, "http-01")
        assert cert["profile"] == "short-lived", cert
        san = run_tool("openssl", "x509", "-noout", "-ext", "subjectAltName",
                       "-in", chain + ".leaf.pem").stdout.decode()
        assert "IP Address:127.0.0.1" in san and "DNS:" not in san, san
        with ipenv.db() as conn:
            offered = {r[0] for r in conn.execute(
                "SELECT c.type FROM acme_srv_challenges c "
                "JOIN acme_srv_authzs a ON a.id = c.authz_id "
                "WHERE a.identifier_type = 'ip' AND a.identifier_value = '127.0.0.1'")}
        assert offered == {"http-01", "tls-alpn-01"}, offered

        kept = workdir.sub("uacme-ip.pem")
        shutil.copyfile(chain, kept)
        uacme("revoke", chain)
        assert_revoked(ipenv, workdir, cert["id"], kept)
    finally:
        ipenv.close()
