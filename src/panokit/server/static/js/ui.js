// Small DOM helpers shared by the views.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** HTML-escape any value. */
export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** Build an element from an HTML string (first element child). */
export function el(html) {
  const t = document.createElement("template");
  t.innerHTML = html.trim();
  return t.content.firstElementChild;
}

/** A short message in the corner (also kept in window.__panokitToasts for tests). */
export function toast(text) {
  (window.__panokitToasts ||= []).push(text);
  let box = document.getElementById("toasts");
  if (!box) {
    box = el('<div id="toasts"></div>');
    document.body.appendChild(box);
  }
  const item = el(`<div class="toast">${esc(text)}</div>`);
  box.appendChild(item);
  setTimeout(() => item.remove(), 5000);
}
