// The audit trail: filters (principal, resource, since, until) in the URL, pages by sequence
// number (or next_cursor when the server gives one), and the chain's verification status from
// GET /v1/audit/verify.
import { get } from "../api.js";
import { add, badge, fmtTime, h, mount, table } from "../dom.js";
import { Pager } from "../pager.js";

const PAGE = 100;

// datetime-local value (taken as UTC) <-> RFC 3339.
function toRfc3339(local) {
  return local ? `${local.length === 16 ? `${local}:00` : local}Z` : "";
}

function verifyBanner(v) {
  if (v.ok) {
    return h("div.banner.ok", { id: "audit-verify" },
      `Chain verified: ${v.checked} records checked (${v.scope === "all" ? "all accounts" : v.scope}).`);
  }
  return h("div.banner.bad", { id: "audit-verify" },
    `Chain verification FAILED at record ${v.first_bad_seq}: ${v.reason}`);
}

function filterForm(params) {
  const input = (label, type, placeholder, name = label) => h("label", label,
    h("input", { name, id: `a-${name}`, type, placeholder, value: params.get(name) || "" }));
  return h("form.filters", {
    id: "audit-filters",
    onsubmit: (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams();
      for (const [k, v] of new FormData(ev.target)) if (String(v).trim()) q.set(k, String(v).trim());
      location.hash = `#/audit?${q}`;
    },
  },
  input("principal", "text", "prn_…"), input("resource", "text", "crt_…"),
  input("since (UTC)", "datetime-local", "", "since"), input("until (UTC)", "datetime-local", "", "until"),
  h("button", { type: "submit", id: "a-apply" }, "Apply"));
}

export async function renderAudit(el, { params }) {
  const body = h("div", { id: "audit-table" });
  const filters = {
    principal: params.get("principal"), resource: params.get("resource"),
    since: toRfc3339(params.get("since")), until: toRfc3339(params.get("until")),
  };
  const pager = new Pager(async (cursor) => {
    const doc = await get("/v1/audit", { ...filters, limit: PAGE, cursor });
    const items = doc.items || [];
    mount(body, table(["Seq", "When", "Principal", "Action", "Resource", "Outcome", "Status", "Source"],
      items.map((e) => h("tr", h("td.num", String(e.seq)), h("td", fmtTime(e.at)),
        h("td.mono", e.principal || "—"), h("td", e.action), h("td.mono", e.resource || "—"),
        h("td", badge(e.outcome)), h("td.num", String(e.status ?? "")), h("td.mono", e.source || ""))),
      "No records match."));
    return { items, next_cursor: doc.next_cursor || null };
  });
  const verify = await get("/v1/audit/verify");
  add(el, h("h1", "Audit"), verifyBanner(verify), filterForm(params), body, pager.el);
  await pager.first();
}
