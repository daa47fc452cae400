// Small DOM helpers: elements are built, never parsed from strings (no innerHTML with data).
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function field(label, input) {
  return h("label", { class: "field" }, h("span", {}, label), input);
}

// A button that shows it is working while its action runs, and the action's error as a sentence.
export function busy(button, statusEl, action) {
  return async (event) => {
    if (event) event.preventDefault();
    if (button.disabled) return;
    const label = button.textContent;
    button.disabled = true;
    button.textContent = `${label}…`;
    button.setAttribute("aria-busy", "true");
    if (statusEl) { statusEl.textContent = ""; statusEl.className = "status"; }
    try {
      await action();
    } catch (error) {
      if (statusEl) { statusEl.textContent = error.message; statusEl.className = "status error"; }
      else alert(error.message);
    } finally {
      button.disabled = false;
      button.textContent = label;
      button.removeAttribute("aria-busy");
    }
  };
}

export function initials(user) {
  const name = (user && (user.full_name || user.username)) || "?";
  return name.split(/\s+/).map((w) => w[0]).join("").slice(0, 2).toUpperCase();
}

export function displayName(user) {
  return (user && (user.full_name || user.username)) || "Unknown";
}

export function timeOf(iso) {
  const d = new Date(iso);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function sizeOf(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// replaceChildren without the "null" text a skipped optional child would become.
export function put(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}
