// The console's entry point: the hash router, the page frame and the login gate.
// Routes: #/ (dashboard), #/certificates[?filters], #/certificates/<id>, #/deployments,
// #/agents, #/audit, #/reports. Without a session every route shows the login view.
import { currentSession, logout, onSessionChange, resume } from "./api.js";
import { errorBox, h, mount } from "./dom.js";
import { renderLogin } from "./pages/login.js";
import { renderDashboard } from "./pages/dashboard.js";
import { renderCertificates } from "./pages/certificates.js";
import { renderCertificate } from "./pages/certificate.js";
import { renderDeployments } from "./pages/deployments.js";
import { renderAgents } from "./pages/agents.js";
import { renderAudit } from "./pages/audit.js";
import { renderReports } from "./pages/reports.js";

const NAV = [
  ["", "Dashboard"],
  ["certificates", "Certificates"],
  ["deployments", "Deployments"],
  ["agents", "Agents"],
  ["audit", "Audit", "audit.read"],
  ["reports", "Reports", "report.read"],
];

const root = document.getElementById("app");
let renderSeq = 0; // a newer navigation wins over a slower, older render

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query) };
}

function pageFor(parts) {
  switch (parts[0] || "") {
    case "":
      return ["dashboard", renderDashboard];
    case "certificates":
      return parts[1] ? ["certificate", renderCertificate] : ["certificates", renderCertificates];
    case "deployments":
      return ["deployments", renderDeployments];
    case "agents":
      return ["agents", renderAgents];
    case "audit":
      return ["audit", renderAudit];
    case "reports":
      return ["reports", renderReports];
    default:
      return ["notfound", (el) => mount(el, h("h1", "Not found"), h("p", "No such page."))];
  }
}

function frame(name, session) {
  const p = session.principal || {};
  const links = NAV.filter(([, , action]) => !action || session.actions.includes(action)).map(
    ([path, label]) =>
      h("a", { href: `#/${path}`, class: (path || "dashboard") === name.replace(/^certificate$/,
        "certificates") ? "active" : "" }, label));
  const main = h("main", { id: "page", dataset: { page: name } });
  const header = h("header.top",
    h("span.brand", "certfleet"),
    h("nav", links),
    h("span.who", { id: "who" }, `${p.name || p.id} · ${p.role}`),
    h("button.secondary", { id: "logout", type: "button", onclick: () => logout() }, "Log out"));
  mount(root, header, main);
  return main;
}

async function route() {
  const seq = ++renderSeq;
  const session = currentSession();
  if (!session) {
    document.title = "certfleet · log in";
    renderLogin(mount(root));
    return;
  }
  const { parts, params } = parseHash();
  const [name, render] = pageFor(parts);
  document.title = `certfleet · ${name}`;
  const main = frame(name, session);
  main.dataset.state = "loading";
  try {
    await render(main, { parts, params, isCurrent: () => seq === renderSeq });
    if (seq === renderSeq) main.dataset.state = "ready";
  } catch (e) {
    if (seq !== renderSeq || !currentSession()) return;
    main.append(errorBox(e));
    main.dataset.state = "error";
  }
}

onSessionChange(() => route());
window.addEventListener("hashchange", () => route());

resume().catch((e) => mount(root, errorBox(e)));
