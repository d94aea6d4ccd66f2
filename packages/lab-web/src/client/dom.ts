// Tiny DOM helpers: every value reaches the page as a text node or an attribute, never as markup.
export type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined>;

/** `h("li", { class: "step", "data-seq": 3 }, "text", child)`: an element with attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = String(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: (Child | Child[])[]): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
}

/** A definition list of label/value pairs; pairs whose value is undefined are left out. */
export function kv(pairs: [string, Child | Child[]][]): HTMLDListElement {
  const dl = h("dl", { class: "kv" });
  for (const [label, value] of pairs) {
    if (value === undefined) continue;
    dl.append(h("dt", {}, label), h("dd", {}, value));
  }
  return dl;
}

/** Text with every occurrence of `needle` wrapped in `<mark class="token">`. */
export function marked(text: string, needle: string | undefined): Child[] {
  if (!needle || !text.includes(needle)) return [text];
  const out: Child[] = [];
  const parts = text.split(needle);
  parts.forEach((part, i) => {
    if (part) out.push(part);
    if (i < parts.length - 1) out.push(h("mark", { class: "token" }, needle));
  });
  return out;
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}
