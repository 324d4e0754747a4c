// Parsing of the console's form fields into API values, and the shared show/hide form panel.
import { errorBox, h, mount } from "./dom.js";

// "a.example.test, b.example.test c.example.test" -> ["a.example.test", ...]
export function splitList(text) {
  return String(text || "").split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
}

// "env=prod, team:web" -> {env: "prod", team: "web"}; throws on an entry without a value.
export function parseTags(text) {
  const out = {};
  for (const item of String(text || "").split(",").map((x) => x.trim()).filter(Boolean)) {
    const m = /^([^=:]+)[=:](.+)$/.exec(item);
    if (!m) throw new Error(`"${item}" is not key=value`);
    out[m[1].trim()] = m[2].trim();
  }
  return out;
}

// A button that opens a hidden form panel; submit(formData) runs the action and its errors
// are shown in the panel.
export function formPanel({ id, label, title, fields, submitLabel, submit, buttonClass = "" }) {
  const message = h("div");
  const go = h("button", { type: "submit", id: `${id}-submit` }, submitLabel);
  const form = h("form.panel.inline-form", { id, hidden: true, onsubmit: async (ev) => {
    ev.preventDefault();
    go.disabled = true;
    mount(message);
    try {
      await submit(new FormData(form));
    } catch (e) {
      mount(message, errorBox(e));
    } finally {
      go.disabled = false;
    }
  } },
  h("h2", title), h("div.form-grid", fields), h("div.form-buttons", go,
    h("button.secondary", { type: "button", onclick: () => { form.hidden = true; } }, "Cancel")),
  message);
  const open = h(`button${buttonClass}`, { type: "button", id: `${id}-open`,
    onclick: () => { form.hidden = !form.hidden; } }, label);
  return { open, form };
}

export function field(label, input) {
  return h("label", label, input);
}
