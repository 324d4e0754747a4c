// The certificate table: filters in the URL (#/certificates?status=issued&tag=env:prod...),
// pages from the server (GET /v1/certificates with limit and cursor), a row opens the detail.
import { api, can, get } from "../api.js";
import { add, badge, errorBox, expiryCell, h, mount, table, tags } from "../dom.js";
import { field, formPanel, parseTags, splitList } from "../forms.js";
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

// POST /v1/certificates from a form; opens the new certificate.
function requestForm() {
  const input = (name, placeholder, extra) => h("input", { name, id: `req-${name}`, placeholder,
    ...extra });
  return formPanel({
    id: "request", label: "Request certificate", title: "Request a certificate",
    submitLabel: "Request",
    fields: [
      field("Name", input("name", "web", { required: true })),
      field("Domains", input("domains", "app.example.test, www.example.test", { required: true })),
      field("Key type", h("select", { name: "key_type" },
        ["p256", "p384", "rsa2048", "rsa3072", "rsa4096"].map((k) => h("option", { value: k }, k)))),
      field("Validity", input("validity", "90d")),
      field("Tags", input("tags", "env=prod, team=web")),
      h("label.check", h("input", { type: "checkbox", name: "exportable", value: "1" }),
        "exportable (fixed forever)"),
    ],
    submit: async (f) => {
      const body = { name: f.get("name").trim(), domains: splitList(f.get("domains")),
        key_type: f.get("key_type"), tags: parseTags(f.get("tags")),
        exportable: f.get("exportable") === "1" };
      if (f.get("validity").trim()) body.validity = f.get("validity").trim();
      const cert = await api("POST", "/v1/certificates", body);
      location.hash = `#/certificates/${encodeURIComponent(cert.id)}`;
    },
  });
}

// Renews the ticked certificates one after another and reports how many succeeded.
async function bulkRenew(ids, out, reload) {
  let ok = 0;
  const failed = [];
  for (const id of ids) {
    try {
      await api("POST", `/v1/certificates/${encodeURIComponent(id)}/renew`, {});
      ok += 1;
    } catch (e) {
      failed.push(`${id}: ${e.message}`);
    }
  }
  await reload();
  mount(out, h("div", { class: failed.length ? "error" : "banner ok", id: "bulk-result" },
    `Renewed ${ok} of ${ids.length}.`, failed.map((f) => h("div", f))));
}

function row(c, picks) {
  const open = () => { location.hash = `#/certificates/${encodeURIComponent(c.id)}`; };
  const pick = picks ? h("td.pick", { onclick: (ev) => ev.stopPropagation() },
    h("input", { type: "checkbox", value: c.id, class: "pick-box", disabled: c.status !== "issued",
      onchange: picks })) : null;
  return h("tr.link", { dataset: { id: c.id }, onclick: open }, pick,
    h("td.name", h("a", { href: `#/certificates/${encodeURIComponent(c.id)}` }, c.name)),
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
  const out = h("div", { id: "bulk-out" });
  const renewing = can("certificate.renew");
  const bulk = h("button", { type: "button", id: "bulk-renew", disabled: true,
    hidden: !renewing }, "Renew selected");
  const picked = () => [...body.querySelectorAll("input.pick-box:checked")].map((b) => b.value);
  const onPick = () => {
    const n = picked().length;
    bulk.disabled = n === 0;
    bulk.textContent = n ? `Renew selected (${n})` : "Renew selected";
  };
  const pager = new Pager(async (cursor) => {
    performance.mark("certs-page-start");
    const doc = await get("/v1/certificates", { ...query, limit: PAGE_SIZE, cursor });
    mount(body, table([renewing ? "" : null, "Name", "Domains", "Issuer", "Status", "Version",
      "Expires", "Tags"].filter((x) => x !== null),
    doc.items.map((c) => row(c, renewing ? onPick : null)), "No certificates match."));
    onPick();
    count.textContent = `${doc.items.length} shown${doc.next_cursor ? ", more on the next pages" : ""}`;
    performance.measure("certs-page", "certs-page-start");
    return doc;
  });
  bulk.addEventListener("click", async () => {
    bulk.disabled = true;
    await bulkRenew(picked(), out, () => pager.go(pager.cursor, false)).catch((e) =>
      mount(out, errorBox(e)));
  });
  const request = can("certificate.request") ? requestForm() : null;
  add(el, h("div.title-row", h("h1", "Certificates"), request ? request.open : null),
    request ? request.form : null, filterForm(params),
    h("div.toolbar", count, h("div.tools", bulk, h("a.button.secondary", {
      href: `/v1/certificates?${csv}`, download: "certificates.csv", id: "csv" }, "Export CSV"))),
    out, body, pager.el);
  await pager.first();
}
