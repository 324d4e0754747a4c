// Server-side paging with opaque cursors: the pager remembers the cursors of the pages before
// the current one, so "Previous" goes back without the server supporting reverse cursors.
import { h } from "./dom.js";

export class Pager {
  // load(cursor) -> Promise<{items, next_cursor}> draws the page itself.
  constructor(load) {
    this.load = load;
    this.stack = []; // cursors of the pages before the current one ("" = the first)
    this.cursor = "";
    this.next = null;
    this.prevButton = h("button.secondary", { type: "button", id: "page-prev",
      onclick: () => this.go(this.stack.pop(), false) }, "← Previous");
    this.nextButton = h("button.secondary", { type: "button", id: "page-next",
      onclick: () => this.go(this.next, true) }, "Next →");
    this.label = h("span.page-label", { id: "page-label" });
    this.el = h("div.pager", this.prevButton, this.label, this.nextButton);
  }

  async go(cursor, forward) {
    if (forward) this.stack.push(this.cursor);
    this.cursor = cursor || "";
    this.prevButton.disabled = this.nextButton.disabled = true;
    const doc = await this.load(this.cursor);
    this.next = doc.next_cursor || null;
    this.prevButton.disabled = this.stack.length === 0;
    this.nextButton.disabled = !this.next;
    this.label.textContent = `page ${this.stack.length + 1}`;
    return doc;
  }

  first() {
    this.stack = [];
    return this.go("", false);
  }
}
