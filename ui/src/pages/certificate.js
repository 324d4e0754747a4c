// One certificate: its fields, every version (GET /v1/certificates/{id}/versions), placements (GET /v1/inventory?certificate=), deployments, and its
// audit records. Renew and revoke are offered only when the session's actions allow them; the
// API checks again.
import { api, can, get } from "../api.js";
import { badge, errorBox, expiryCell, fmtTime, h, mount, table, tags } from "../dom.js";
import { field as formField, formPanel, parseTags } from "../forms.js";

const REVOKE_REASONS = ["unspecified", "key-compromise", "affiliation-changed", "superseded",
  "cessation-of-operation", "privilege-withdrawn"];

function field(label, value) {
  return [h("dt", label), h("dd", value === undefined || value === null || value === "" ? "—"
                                                                                         : value)];
}

// Every version of the certificate, newest first (the server pages oldest first: follow every
// cursor, since a certificate has a handful of versions a year).
async function allVersions(path) {
  const out = [];
  for (let cursor = ""; ;) {
    const doc = await get(`${path}/versions`, { limit: 1000, cursor });
    out.push(...(doc.items || []));
    if (!doc.next_cursor) return out.reverse();
    cursor = doc.next_cursor;
  }
}

async function optional(promise, fallback) {
  try {
    return await promise;
  } catch (e) {
    if (e.status === 403) return fallback; // the role may not read it: leave the section out
    throw e;
  }
}

// POST /v1/deployments for this certificate; opens the new deployment.
function deployForm(cert) {
  return formPanel({
    id: "deploy", label: "Deploy…", title: `Deploy ${cert.name} to the agents that match`,
    submitLabel: "Deploy", buttonClass: ".secondary",
    fields: [
      formField("Selector (agent tags)", h("input", { name: "selector", id: "deploy-selector",
        placeholder: "env=prod", required: true })),
      formField("Profile", h("input", { name: "profile", id: "deploy-profile", value: "nginx",
        required: true })),
      formField("Target account (optional)", h("input", { name: "target_account",
        placeholder: "this account" })),
    ],
    submit: async (f) => {
      const body = { certificate: cert.id, selector: parseTags(f.get("selector")),
        profile: f.get("profile").trim() };
      if (f.get("target_account").trim()) body.target_account = f.get("target_account").trim();
      const dep = await api("POST", "/v1/deployments", body);
      location.hash = `#/deployments?id=${encodeURIComponent(dep.id)}`;
    },
  });
}

function actions(cert, reload, out) {
  const buttons = [];
  if (can("certificate.renew") && cert.status === "issued") {
    buttons.push(h("button", { type: "button", id: "action-renew", onclick: async (ev) => {
      ev.target.disabled = true;
      try {
        await api("POST", `/v1/certificates/${encodeURIComponent(cert.id)}/renew`, {});
        await reload();
      } catch (e) {
        mount(out, errorBox(e));
        ev.target.disabled = false;
      }
    } }, "Renew"));
  }
  if (can("certificate.revoke") && (cert.status === "issued" || cert.status === "expired")) {
    const reason = h("select", { id: "revoke-reason" },
      REVOKE_REASONS.map((r) => h("option", { value: r }, r)));
    const confirm = h("div.confirm", { id: "revoke-confirm", hidden: true },
      h("p", `Revoke every unexpired version of ${cert.name}? This cannot be undone.`),
      h("label", "Reason ", reason),
      h("button.danger", { type: "button", id: "revoke-yes", onclick: async () => {
        try {
          await api("POST", `/v1/certificates/${encodeURIComponent(cert.id)}/revoke`,
            { reason: reason.value });
          await reload();
        } catch (e) {
          mount(out, errorBox(e));
        }
      } }, "Revoke"),
      h("button.secondary", { type: "button", id: "revoke-no",
        onclick: () => { confirm.hidden = true; } }, "Cancel"));
    buttons.push(h("button.danger", { type: "button", id: "action-revoke",
      onclick: () => { confirm.hidden = false; } }, "Revoke…"), confirm);
  }
  if (can("deployment.write") && cert.exportable && cert.status === "issued") {
    const deploy = deployForm(cert);
    buttons.push(deploy.open, deploy.form);
  }
  return buttons.length ? h("div.actions", { id: "actions" }, buttons) : null;
}

export async function renderCertificate(el, { parts }) {
  const id = parts[1];
  const path = `/v1/certificates/${encodeURIComponent(id)}`;
  const reload = async () => {
    const [cert, versions, inventory, deps, audit] = await Promise.all([
      get(path),
      allVersions(path),
      optional(get("/v1/inventory", { certificate: id }), { items: [] }),
      optional(get("/v1/deployments", { certificate: id }), { items: [] }),
      can("audit.read") ? optional(get("/v1/audit", { resource: id }), null) : null,
    ]);
    const versionOf = new Map(versions.map((v) => [v.id, v.version]));
    const placements = inventory.items || [];
    const deployments = deps.items || [];
    const out = h("div", { id: "action-result" });
    mount(el,
      h("p.crumbs", h("a", { href: "#/certificates" }, "Certificates"), " / ", cert.name),
      h("h1", cert.name, " ", badge(cert.status)),
      actions(cert, reload, out), out,
      cert.status_detail ? h("p.muted", { id: "status-detail" }, cert.status_detail) : null,
      h("section.panel", h("dl.fields",
        field("ID", h("span.mono", cert.id)), field("Domains", cert.domains.join(", ")),
        field("Issuer", cert.issuer), field("Key", `${cert.key_type} · ${cert.profile}`),
        field("Current version", h("span", { id: "current-version" }, String(cert.version ?? "—"))),
        field("Serial", h("span.mono", cert.serial)), field("Valid from", fmtTime(cert.not_before)),
        field("Valid until", fmtTime(cert.not_after)), field("Tags", tags(cert.tags)),
        field("Exportable", cert.exportable ? "yes" : "no"), field("Created", fmtTime(cert.created_at)))),
      h("section.panel", h("h2", "Versions"), h("div", { id: "versions" },
        table(["Version", "Serial", "Not after", "Expires", "Revoked"],
          versions.map((v) => h("tr", { dataset: { version: v.version } },
            h("td.num", String(v.version), v.current ? " " : null, v.current ? badge("current", "issued") : null),
            h("td.mono", v.serial || "—"), h("td", fmtTime(v.not_after)), expiryCell(v.not_after),
            h("td", v.revoked ? `${fmtTime(v.revoked.revoked_at)} (${v.revoked.reason})` : "—")))))),
      h("section.panel", h("h2", "Placements"), h("div", { id: "placements" },
        table(["Host", "Paths", "Version", "State", "Installed", "Verified"],
          placements.map((p) => h("tr", { dataset: { agent: p.agent } }, h("td", p.hostname), h("td.mono", (p.paths || []).join("\n")),
            h("td.num", String(p.version)), h("td", badge(p.state)), h("td", fmtTime(p.installed_at)),
            h("td", fmtTime(p.verified_at)))), "Not installed anywhere."))),
      h("section.panel", h("h2", "Deployments"), h("div", { id: "cert-deployments" },
        table(["Deployment", "Profile", "Selector", "Version", "State", "Updated"],
          deployments.map((d) => h("tr", h("td.mono", h("a", { href: `#/deployments?id=${d.id}` }, d.id)),
            h("td", d.profile), h("td", tags(d.selector)), h("td.num", String(d.version ?? versionOf.get(d.version_id) ?? "—")),
            h("td", badge(d.state)), h("td", fmtTime(d.updated_at)))), "No deployments."))),
      audit ? h("section.panel", h("h2", "Audit"), h("div", { id: "cert-audit" },
        table(["When", "Principal", "Action", "Outcome"],
          (audit.items || []).slice(-20).reverse().map((e) => h("tr", h("td", fmtTime(e.at)),
            h("td.mono", e.principal || "—"), h("td", e.action), h("td", badge(e.outcome)))),
          "No audit records."))) : null);
    el.dataset.version = String(cert.version ?? "");
  };
  await reload();
}
