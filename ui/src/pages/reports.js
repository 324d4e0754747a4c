// Reports: key exports per account and certificate, with FQDN counts for chargeback
// (GET /v1/reports/exports), and the totals per account.
import { get } from "../api.js";
import { add, h, table } from "../dom.js";

const DAY_MS = 86400 * 1000;

function isoDay(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

export async function renderReports(el, { params }) {
  const since = params.get("since") || isoDay(Date.now() - 30 * DAY_MS);
  const doc = await get("/v1/reports/exports", { since: `${since}T00:00:00Z`,
    account: params.get("account") });
  const items = doc.items || [];
  const totals = new Map();
  for (const r of items) {
    const t = totals.get(r.account) || { exports: 0, fqdns: 0, wildcards: 0, certificates: 0 };
    t.exports += r.exports; t.fqdns += r.fqdns; t.wildcards += r.wildcards; t.certificates += 1;
    totals.set(r.account, t);
  }
  const form = h("form.filters", { id: "report-filters", onsubmit: (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(ev.target)) if (String(v).trim()) q.set(k, String(v).trim());
    location.hash = `#/reports?${q}`;
  } },
  h("label", "Since", h("input", { type: "date", name: "since", id: "r-since", value: since })),
  h("label", "Account", h("input", { name: "account", id: "r-account",
    value: params.get("account") || "", placeholder: "all visible" })),
  h("button", { type: "submit" }, "Apply"));
  add(el, h("h1", "Reports"), form,
    h("section.panel", h("h2", `Exports per account since ${since}`), h("div", { id: "report-accounts" },
      table(["Account", "Certificates exported", "Exports", "FQDNs", "Wildcards"],
        [...totals].map(([acc, t]) => h("tr", h("td.mono", acc), h("td.num", String(t.certificates)),
          h("td.num", String(t.exports)), h("td.num", String(t.fqdns)), h("td.num", String(t.wildcards)))),
        "No exports in this period."))),
    h("section.panel", h("h2", "Per certificate"), h("div", { id: "report-certs" },
      table(["Account", "Certificate", "Name", "Exports", "FQDNs", "Wildcards"],
        items.map((r) => h("tr", h("td.mono", r.account),
          h("td.mono", h("a", { href: `#/certificates/${r.certificate}` }, r.certificate)),
          h("td", r.name), h("td.num", String(r.exports)), h("td.num", String(r.fqdns)),
          h("td.num", String(r.wildcards)))), "No exports in this period."))));
}
