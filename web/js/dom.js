// Small DOM helpers. Data (nicknames, question text, options, titles, messages) only ever goes
// into the page as text nodes: nothing here, or anywhere in the app, assigns innerHTML.

/**
 * Build an element. `attrs` keys: `class`, `text` (textContent), `on<event>` handlers, `dataset`
 * (object), boolean/aria/other attributes. Children are nodes or strings (strings become text).
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** The element with this id (throws early if a page is missing one). */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing #${id}`);
  return node;
}

/** Set an element's text (never HTML). */
export function setText(node, text) {
  node.textContent = text === undefined || text === null ? "" : String(text);
}

/** Replace every child of `node` with `children`. */
export function fill(node, ...children) {
  node.replaceChildren(
    ...children.flat().filter((c) => c !== null && c !== undefined && c !== false),
  );
}

/** Show exactly one of the `[data-screen]` sections inside `root`. */
export function showScreen(root, name) {
  for (const section of root.querySelectorAll("[data-screen]")) {
    section.hidden = section.dataset.screen !== name;
  }
  root.dataset.current = name;
}

/** Render an API error (message and each detail with its location) into `box`. */
export function showError(box, error) {
  const details = (error && error.details) || [];
  fill(
    box,
    h("strong", { text: (error && error.message) || "Something went wrong." }),
    details.length
      ? h(
          "ul",
          {},
          details.map((d) =>
            h("li", {}, h("span", { class: "loc", text: d.location }), ": ", String(d.message)),
          ),
        )
      : null,
  );
  box.hidden = false;
}

/** Hide and empty a message box. */
export function clearBox(box) {
  box.replaceChildren();
  box.hidden = true;
}
