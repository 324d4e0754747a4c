"""GET /metrics through the real binaries (issue #5, docs/metrics.md): Prometheus text format
0.0.4 over HTTPS with a bearer token, readable by principals of the system account only. The
certificate expiry series agrees with `certfleet cert show` and exists only inside the warning
window, request metrics are labelled with route patterns."""

import datetime
import re

from conftest import assert_problem, unique_name

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# What Prometheus 2.x sends; the server answers 0.0.4 whatever is asked.
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                     "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def unescape(value):
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], value)


def parse_exposition(text):
    """The samples of a 0.0.4 document as (name, {label: value}, float). Checks that every sample
    follows the HELP and TYPE lines of its family."""
    samples, family, kind = [], None, None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            family, kind = line.split(" ")[2], None
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name == family, line
            assert kind in ("counter", "gauge", "histogram"), line
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels_text, value = m.groups()
        allowed = {family} if kind != "histogram" else {
            family + "_bucket", family + "_sum", family + "_count"}
        assert name in allowed, (line, family, kind)
        labels = {}
        if labels_text:
            pos = 0
            while pos < len(labels_text):
                lm = LABEL.match(labels_text, pos)
                assert lm, f"bad labels in {line!r}"
                labels[lm.group(1)] = unescape(lm.group(2))
                pos = lm.end()
        samples.append((name, labels, float(value)))
    return samples


def find(samples, name, **labels):
    return [v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items())]


def scrape(server, token="admin"):
    resp = server.request("GET", "/metrics", token=token, headers={"Accept": PROMETHEUS_ACCEPT})
    assert resp.status == 200, resp
    assert resp.headers["content-type"] == CONTENT_TYPE, resp.headers
    return parse_exposition(resp.body.decode("utf-8"))


def unix_seconds(rfc3339):
    t = datetime.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def test_certificate_expiry_matches_cert_show(server, cli):
    name = unique_name("metrics")
    cert = cli.json("cert", "request", "--name", name, "--domain", f"{name}.example.test",
                    "--validity", "30d")
    shown = cli.json("cert", "show", cert["id"])
    # 90 days left: outside the default 30-day warning window, so only counted (issue #14).
    far_name = unique_name("metrics-far")
    far = cli.json("cert", "request", "--name", far_name, "--domain",
                   f"{far_name}.example.test", "--validity", "90d")
    samples = scrape(server)
    assert find(samples, "certfleet_certificate_expiry_timestamp_seconds", id=far["id"]) == []
    assert find(samples, "certfleet_certificate_days_to_expiry", id=far["id"]) == []
    [inside] = find(samples, "certfleet_certificates_expiry_window", window="inside")
    [outside] = find(samples, "certfleet_certificates_expiry_window", window="outside")
    assert inside >= 1 and outside >= 1, (inside, outside)
    assert inside + outside == find(samples, "certfleet_certificates", status="issued")[0]

    expiry = find(samples, "certfleet_certificate_expiry_timestamp_seconds", id=cert["id"])
    assert expiry == [unix_seconds(shown["not_after"])], expiry
    [(_, labels, _)] = [s for s in samples
                        if s[0] == "certfleet_certificate_expiry_timestamp_seconds"
                        and s[1]["id"] == cert["id"]]
    assert labels["name"] == name
    assert labels["account_name"] == "default"
    assert labels["account"].startswith("acc_"), labels
    [days] = find(samples, "certfleet_certificate_days_to_expiry", id=cert["id"])
    assert 29.9 < days <= 30.0, days
    assert find(samples, "certfleet_certificates", status="issued")[0] >= 1
    assert find(samples, "certfleet_events_total", type="certificate.issued")[0] >= 1

    # The CLI's POST is counted under its route pattern, never under a raw path.
    [count] = find(samples, "certfleet_http_request_duration_seconds_count",
                   route="/v1/certificates", method="POST")
    assert count >= 1
    assert find(samples, "certfleet_http_requests_total", route="/v1/certificates/{id}",
                method="GET", code="200")[0] >= 1
    for n, labels, _ in samples:
        if n.startswith("certfleet_http_"):
            assert cert["id"] not in labels.get("route", ""), (n, labels)
    # Every known state is exported even when nothing is in it.
    for state in ("running", "succeeded", "failed", "no_targets"):
        assert len(find(samples, "certfleet_deployments", state=state)) == 1, state
    assert len(find(samples, "certfleet_agents_online")) == 1


def test_histogram_is_cumulative(server, cli):
    cli("cert", "list")
    samples = scrape(server)
    buckets = [(l["le"], v) for n, l, v in samples
               if n == "certfleet_http_request_duration_seconds_bucket"
               and l["route"] == "/v1/certificates" and l["method"] == "GET"]
    assert buckets and buckets[-1][0] == "+Inf", buckets
    values = [v for _, v in buckets]
    assert values == sorted(values), buckets
    [count] = find(samples, "certfleet_http_request_duration_seconds_count",
                   route="/v1/certificates", method="GET")
    assert values[-1] == count


def test_only_system_account_principals_may_scrape(server, make_account, make_principal):
    assert_problem(server.request("GET", "/metrics", token=None), 401)
    auditor = make_principal("default", "auditor")
    assert scrape(server, token=auditor.token())  # the credential a Prometheus server would use
    other = make_principal(make_account(), "admin")
    doc = assert_problem(server.request("GET", "/metrics", token=other.token()), 403)
    assert "account.foreign" in doc["detail"], doc
