// The REST client of the console: same-origin fetch with the session cookie, the CSRF token on
// every non-GET request, problem documents turned into errors, and a 401 anywhere ending the
// session in the browser (the router then shows the login view).

let session = null; // {principal, actions, csrf_token, expires_at}
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem && (problem.detail || problem.title) ? problem.detail || problem.title
                                                        : `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export function currentSession() {
  return session;
}

// Called with the new session (or null) whenever it changes.
export function onSessionChange(fn) {
  listeners.add(fn);
}

function setSession(s) {
  session = s;
  for (const fn of listeners) fn(s);
}

// May the principal perform `action` (e.g. "certificate.renew")? The server decides anyway.
export function can(action) {
  return Boolean(session && Array.isArray(session.actions) && session.actions.includes(action));
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && session) headers["X-CSRF-Token"] = session.csrf_token;
  const resp = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const text = await resp.text();
  let doc = null;
  try {
    doc = text ? JSON.parse(text) : null;
  } catch {
    doc = null;
  }
  if (resp.status === 401 && path !== "/v1/session") setSession(null);
  if (!resp.ok) throw new ApiError(resp.status, doc);
  return doc;
}

// GET with query parameters; empty values are left out.
export function get(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => x && q.append(k, x));
    else q.append(k, v);
  }
  const qs = q.toString();
  return api("GET", qs ? `${path}?${qs}` : path);
}

export async function login(token) {
  setSession(await api("POST", "/v1/session", { token }));
}

// Restores the session of the cookie, if any (a reload keeps the user logged in).
export async function resume() {
  try {
    setSession(await api("GET", "/v1/session"));
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) throw e;
    setSession(null);
  }
}

export async function logout() {
  try {
    await api("DELETE", "/v1/session");
  } finally {
    setSession(null);
  }
}
