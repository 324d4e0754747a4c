"""A webhook receiver for the end-to-end tests (docs/events.md): a plain-HTTP server on
127.0.0.1 that records every POST, and helpers to subscribe it and check signatures."""

import hashlib
import hmac
import http.server
import json
import threading
import time

import pytest

from conftest import unique_name, write_private_file

DELIVERY_TIMEOUT_S = 30.0
SECRET = "e2e-webhook-secret-0123456789"


class Receiver:
    """A plain-HTTP webhook receiver on 127.0.0.1 that records every POST. `statuses` are
    answered in order, then 204."""

    def __init__(self, statuses=()):
        self.requests = []
        self.statuses = list(statuses)
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    outer.requests.append({"path": self.path, "headers": dict(self.headers),
                                           "body": body})
                    status = outer.statuses.pop(0) if outer.statuses else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def wait(self, pred, what):
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while time.monotonic() < deadline:
            with self.lock:
                got = [r for r in self.requests if pred(r)]
            if got:
                return got
            time.sleep(0.1)  # bounded poll: delivery is asynchronous
        pytest.fail(f"no webhook delivery for {what} within {DELIVERY_TIMEOUT_S}s", pytrace=False)

    def events(self):
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def verify(headers, body, clock_offset=0):
    """The Certfleet-Signature header is an HMAC-SHA256 of "t.body" under SECRET, and t is
    within five minutes of the server's clock (the system's plus `clock_offset` seconds when the
    server runs on its test clock)."""
    sig = headers.get("Certfleet-Signature", "")
    parts = dict(p.split("=", 1) for p in sig.split(","))
    mac = hmac.new(SECRET.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return (hmac.compare_digest(mac, parts["v1"])
            and abs(time.time() + clock_offset - int(parts["t"])) < 300)


def secret_file(workdir):
    path = workdir.sub(f"webhook-{unique_name('s')}.secret")
    write_private_file(path, SECRET + "\n")
    return path


def subscribe(cli, workdir, url, types, tags=(), private=True, account=None):
    args = ["webhook", "create", "--url", url, "--secret-file", secret_file(workdir)]
    for t in types:
        args += ["--type", t]
    for t in tags:
        args += ["--tag", t]
    if private:
        args.append("--allow-private-address")
    if account:
        args += ["--account", account]
    return cli.json(*args)


