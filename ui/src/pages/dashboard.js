// The dashboard: GET /v1/counts (certificates by status and expiry, the 13-week expiry
// timeline by issuer, agents online/offline, deployments by state, failing renewals) and, for
// principals who may read the audit trail, the latest events.
import { can, get } from "../api.js";
import { expiryChart } from "../chart.js";
import { add, badge, errorBox, fmtTime, h, mount, table } from "../dom.js";

const STATUSES = ["issued", "pending", "failed", "revoked", "expired"];

function card(id, label, value, kind, href) {
  const body = [h("div.value", { id }, String(value ?? 0)), h("div.label", label)];
  return h(`${href ? "a" : "div"}.card.card-${kind || "plain"}`, href ? { href } : {}, body);
}

function certLink(params) {
  return `#/certificates?${new URLSearchParams(params)}`;
}

const EVENTS_WINDOW_MS = 3600 * 1000;
const EVENTS_LIMIT = 1000;

// The last hour's latest audit records. The trail lists oldest first, so a busier hour than
// EVENTS_LIMIT records says so and points to the Audit page instead of showing older ones.
async function recentEvents(box) {
  const since = new Date(Date.now() - EVENTS_WINDOW_MS).toISOString().replace(/\.\d+Z$/, "Z");
  const doc = await get("/v1/audit", { since, limit: EVENTS_LIMIT });
  const items = doc.items || [];
  if (items.length >= EVENTS_LIMIT) {
    mount(box, h("p.muted", `More than ${EVENTS_LIMIT} events in the last hour: see `,
      h("a", { href: "#/audit" }, "Audit"), "."));
    return;
  }
  mount(box, table(["When", "Principal", "Action", "Resource", "Outcome"],
    items.slice(-8).reverse().map((e) => h("tr", h("td", fmtTime(e.at)),
      h("td.mono", e.principal || "—"), h("td", e.action), h("td.mono", e.resource || "—"),
      h("td", badge(e.outcome)))), "No events in the last hour."));
}

export async function renderDashboard(el) {
  const counts = await get("/v1/counts");
  const c = counts.certificates || {};
  const byStatus = c.by_status || {};
  const exp = c.by_expiry || {};
  const agents = counts.agents || {};
  const deps = (counts.deployments || {}).by_state || {};

  const canvas = h("canvas", { id: "expiry-chart", "aria-label": "expiry timeline" });
  // Drawn after the numbers: the events never delay the dashboard's first paint.
  const events = can("audit.read") ? h("div", { id: "recent-events" }) : null;
  add(el, 
    h("h1", "Dashboard"),
    h("section.cards", { id: "status-cards" },
      card("count-total", "certificates", c.total, "plain", "#/certificates"),
      STATUSES.map((s) => card(`count-${s}`, s, byStatus[s], s, certLink({ status: s })))),
    h("section.cards", { id: "alert-cards" },
      card("count-lt7", "expire in < 7 days", exp.lt_7d, "crit",
        certLink({ sort: "not_after", status: "issued" })),
      card("count-lt30", "expire in 7-30 days", exp.lt_30d, "warn",
        certLink({ sort: "not_after", status: "issued" })),
      card("count-renewals-failing", "renewals failing", counts.renewals_failing,
        counts.renewals_failing ? "crit" : "plain"),
      card("count-agents-offline", "agents offline", agents.offline,
        agents.offline ? "warn" : "plain", "#/agents"),
      card("count-agents-online", "agents online", agents.online, "plain", "#/agents"),
      card("count-deployments-failed", "deployments failed", deps.failed,
        deps.failed ? "crit" : "plain", "#/deployments")),
    h("section.panel",
      h("h2", "Expiring per week, next 90 days"),
      h("p.legend", h("span.sw.sw-crit"), "< 7 days ", h("span.sw.sw-warn"), "< 30 days ",
        h("span.sw.sw-ok"), "later · stacked by issuer"),
      h("div.chart-box", canvas)),
    events ? h("section.panel", h("h2", "Recent events"), events) : null,
    h("p.muted.small", `Counts generated at ${fmtTime(counts.generated_at)}.`));
  expiryChart(canvas, counts.expiry_weeks || []);
  performance.mark("dashboard-rendered");
  if (events) await recentEvents(events).catch((e) => mount(events, errorBox(e)));
}
