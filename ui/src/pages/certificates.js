// The certificate table: filters in the URL (#/certificates?status=issued&tag=env:prod...),
// pages from the server (GET /v1/certificates with limit and cursor), a row opens the detail.
import { get } from "../api.js";
import { add, badge, expiryCell, h, mount, table, tags } from "../dom.js";
import { Pager } from "../pager.js";

export const PAGE_SIZE = 50;
const FILTERS = ["status", "tag", "domain", "issuer", "sort"];

function select(name, options, value) {
  return h("select", { name, id: `f-${name}` },
    options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
}

function filterForm(params) {
  const text = (name, placeholder) => h("input", { name, id: `f-${name}`, placeholder,
    value: params.getAll(name).join(", ") });
  return h("form.filters", {
    id: "cert-filters",
    onsubmit: (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams();
      for (const [k, v] of new FormData(ev.target)) {
        // Several tags are written comma-separated and sent as repeated tag= parameters.
        const values = k === "tag" ? String(v).split(",") : [String(v)];
        values.map((x) => x.trim()).filter(Boolean).forEach((x) => q.append(k, x));
      }
      location.hash = `#/certificates?${q}`;
    },
  },
  h("label", "Status", select("status", [["", "any"], ["issued", "issued"],
    ["pending", "pending"], ["failed", "failed"], ["revoked", "revoked"],
    ["expired", "expired"]], params.get("status") || "")),
  h("label", "Domain", text("domain", "contains…")),
  h("label", "Tag", text("tag", "env:prod, team:web")),
  h("label", "Issuer", text("issuer", "internal")),
  h("label", "Sort", select("sort", [["created_at", "created"], ["not_after", "expiry"]],
    params.get("sort") || "created_at")),
  h("button", { type: "submit", id: "f-apply" }, "Apply"));
}

function row(c) {
  const open = () => { location.hash = `#/certificates/${encodeURIComponent(c.id)}`; };
  return h("tr.link", { dataset: { id: c.id }, onclick: open },
    h("td", h("a", { href: `#/certificates/${encodeURIComponent(c.id)}` }, c.name)),
    h("td.domains", c.domains.join(", ")),
    h("td", c.issuer),
    h("td", badge(c.status)),
    h("td.num", c.version ?? "—"),
    expiryCell(c.not_after),
    h("td", tags(c.tags)));
}

export async function renderCertificates(el, { params }) {
  const query = {};
  for (const f of FILTERS) query[f] = params.getAll(f);
  const body = h("div", { id: "cert-table" });
  const count = h("span.muted", { id: "cert-count" });
  const csv = new URLSearchParams(params);
  csv.set("format", "csv");
  const pager = new Pager(async (cursor) => {
    performance.mark("certs-page-start");
    const doc = await get("/v1/certificates", { ...query, limit: PAGE_SIZE, cursor });
    mount(body, table(["Name", "Domains", "Issuer", "Status", "Version", "Expires", "Tags"],
      doc.items.map(row), "No certificates match."));
    count.textContent = `${doc.items.length} shown${doc.next_cursor ? ", more on the next pages" : ""}`;
    performance.measure("certs-page", "certs-page-start");
    return doc;
  });
  add(el, h("h1", "Certificates"), filterForm(params),
    h("div.toolbar", count, h("a.button.secondary", { href: `/v1/certificates?${csv}`,
      download: "certificates.csv", id: "csv" }, "Export CSV")),
    body, pager.el);
  await pager.first();
}
