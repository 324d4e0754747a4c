// Agents: tags, last seen, online or offline, and (on click) what is installed where
// (GET /v1/inventory?agent=).
import { get } from "../api.js";
import { add, badge, fmtTime, h, mount, table, tags } from "../dom.js";
import { Pager } from "../pager.js";

// An agent long-polls every 25 s; one not seen for 5 minutes is shown offline, unless the
// server says itself (an "online" field).
const OFFLINE_AFTER_MS = 5 * 60 * 1000;

export function isOnline(agent, now = Date.now()) {
  if (typeof agent.online === "boolean") return agent.online;
  if (agent.status !== "active" || !agent.last_seen_at) return false;
  return now - new Date(agent.last_seen_at).getTime() < OFFLINE_AFTER_MS;
}

async function showInventory(agent, cell) {
  const doc = await get("/v1/inventory", { agent: agent.id });
  mount(cell, table(["Certificate", "Version", "Paths", "State", "Verified"],
    (doc.items || []).map((p) => h("tr",
      h("td", h("a", { href: `#/certificates/${p.certificate}` }, p.certificate_name)),
      h("td.num", String(p.version)), h("td.mono", (p.paths || []).join("\n")),
      h("td", badge(p.state)), h("td", fmtTime(p.verified_at)))), "Nothing installed."));
}

function rows(agent) {
  const online = isOnline(agent);
  const detail = h("td", { colSpan: 6 });
  const detailRow = h("tr.detail", { hidden: true }, detail);
  const main = h("tr.link", { dataset: { id: agent.id, host: agent.hostname },
    onclick: () => {
      detailRow.hidden = !detailRow.hidden;
      if (!detailRow.hidden) showInventory(agent, detail).catch((e) => mount(detail, e.message));
    } },
    h("td", agent.hostname), h("td.mono", agent.id), h("td", tags(agent.tags)),
    h("td", badge(online ? "online" : "offline", online ? "online" : "offline")),
    h("td", fmtTime(agent.last_seen_at)), h("td", agent.status));
  return [main, detailRow];
}

export async function renderAgents(el) {
  const body = h("div", { id: "agents" });
  const summary = h("p.muted", { id: "agent-summary" });
  const pager = new Pager(async (cursor) => {
    const doc = await get("/v1/agents", { cursor, limit: 100 });
    const items = doc.items || [];
    const online = items.filter((a) => isOnline(a)).length;
    summary.textContent = `${online} online, ${items.length - online} offline on this page. `
      + "Click a host to see what is installed.";
    mount(body, table(["Host", "ID", "Tags", "", "Last seen", "Status"], items.flatMap(rows),
      "No agents enrolled."));
    return doc;
  });
  add(el, h("h1", "Agents"), summary, body, pager.el);
  await pager.first();
}
