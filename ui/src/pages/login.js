// The login view: an API token is exchanged for a session cookie (POST /v1/session). The token
// itself is never stored by the console.
import { login } from "../api.js";
import { errorBox, h, mount } from "../dom.js";

export function renderLogin(root) {
  const token = h("input", {
    id: "token", type: "password", name: "token", autocomplete: "off", required: true,
    placeholder: "cft_…", spellcheck: false,
  });
  const message = h("div", { id: "login-error" });
  const button = h("button", { type: "submit", id: "login-submit" }, "Log in");
  const form = h("form.login", {
    id: "login",
    onsubmit: async (ev) => {
      ev.preventDefault();
      button.disabled = true;
      mount(message);
      try {
        await login(token.value.trim());
      } catch (e) {
        mount(message, errorBox(e.status === 401 ? "That token was not accepted." : e));
        button.disabled = false;
      }
    },
  },
  h("h1", "certfleet"),
  h("p.muted", "Log in with an API token. It is exchanged for a short-lived session."),
  h("label", { for: "token" }, "API token"), token, button, message);
  mount(root, h("div.login-wrap", { dataset: { page: "login" }, id: "page-login" }, form));
  token.focus();
}
