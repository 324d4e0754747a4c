// Deployments: one page of GET /v1/deployments and, for every deployment on it that has not
// succeeded (and for ?id=), its targets from GET /v1/deployments/{id}: the state per host and
// the failing host's error. While a rollout runs the page refreshes itself every 2 s.
import { get } from "../api.js";
import { add, badge, fmtTime, h, mount, table, tags } from "../dom.js";
import { Pager } from "../pager.js";

const DETAIL_LIMIT = 25; // targets are fetched for at most this many deployments per page
const REFRESH_MS = 2000;

function targetsTable(dep) {
  return table(["Host", "Agent", "State", "Error", "Generation", "Installed", "Verified"],
    (dep.targets || []).map((t) => h(`tr.target.target-${t.state}`, { dataset: { host: t.hostname, agent: t.agent } },
      h("td.host", t.hostname), h("td.mono", t.agent), h("td", badge(t.state)),
      h("td.reason", t.reason || ""), h("td.num", String(t.generation ?? "")),
      h("td", fmtTime(t.installed_at)), h("td", fmtTime(t.verified_at)))),
    "No targets.");
}

function deploymentBlock(dep, detail) {
  const progress = detail && detail.targets
    ? `${detail.targets.filter((t) => t.state === "verified" || t.state === "installed").length}`
      + ` of ${detail.targets.length} hosts installed` : "";
  return h(`section.panel.deployment.dep-${dep.state}`, { dataset: { id: dep.id } },
    h("div.dep-head",
      h("span.mono", dep.id), badge(dep.state),
      h("span", "certificate ", h("a", { href: `#/certificates/${dep.certificate}` }, dep.certificate)),
      h("span", `profile ${dep.profile}`), h("span", tags(dep.selector)),
      h("span.muted", `version ${(detail || dep).version ?? "?"} · generation ${dep.generation} · ${fmtTime(dep.updated_at)}`),
      progress ? h("span.progress", progress) : null),
    dep.state_detail ? h("p.warnline", dep.state_detail) : null,
    detail ? targetsTable(detail) : null);
}

export async function renderDeployments(el, { params, isCurrent }) {
  const only = params.get("id");
  const body = h("div", { id: "deployments" });
  let running = false;
  const draw = async (cursor) => {
    const doc = only ? { items: [await get(`/v1/deployments/${encodeURIComponent(only)}`)] }
                     : await get("/v1/deployments", { cursor, limit: 50 });
    const items = doc.items || [];
    const wanted = items.filter((d) => only || d.state !== "succeeded").slice(0, DETAIL_LIMIT);
    const details = new Map(await Promise.all(wanted.map(async (d) =>
      [d.id, d.targets ? d : await get(`/v1/deployments/${encodeURIComponent(d.id)}`)])));
    running = items.some((d) => d.state === "running");
    mount(body, items.length ? items.map((d) => deploymentBlock(d, details.get(d.id)))
                             : h("p.muted", "No deployments."));
    return doc;
  };
  const pager = new Pager(draw);
  add(el, h("h1", "Deployments"),
    only ? h("p.crumbs", h("a", { href: "#/deployments" }, "All deployments")) : null,
    body, only ? null : pager.el);
  await pager.first();
  // Live progress: redraw the same page while something runs and the page is still shown.
  const tick = async () => {
    if (!isCurrent() || !running) return;
    await draw(pager.cursor).catch(() => {});
    setTimeout(tick, REFRESH_MS);
  };
  setTimeout(tick, REFRESH_MS);
}
