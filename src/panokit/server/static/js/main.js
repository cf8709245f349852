// Router and the simple views: login, datasets, a dataset's sample grid, the editor.
import { api, ApiError, auth } from "./api.js";
import { Editor } from "./editor.js";
import { esc, toast } from "./ui.js";

const app = document.getElementById("app");
let me = null;
let editor = null;

const STATUSES = ["unlabeled", "labeling", "labeled", "reviewing", "accepted", "rejected"];

function navigate(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

async function route() {
  if (editor) {
    if (editor.dirty && !editor.conflict) await editor.save();
    if (editor.dirty && !confirm("Leave this sample? Your unsaved edits will be lost.")) {
      history.back();
      return;
    }
    editor.destroy();
    editor = null;
  }
  const hash = location.hash || "#/";
  if (!auth.token) { if (hash !== "#/login") { location.hash = "#/login"; return; } return showLogin(); }
  try {
    me = me || (await api.me());
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { auth.token = null; location.hash = "#/login"; return; }
    throw err;
  }
  document.getElementById("who").innerHTML = `${esc(me.username)} · <a href="#/logout">log out</a>`;
  let m;
  if (hash === "#/logout") { await api.logout().catch(() => {}); auth.token = null; me = null; document.getElementById("who").textContent = ""; location.hash = "#/login"; return; }
  if (hash === "#/login" || hash === "#/" || hash === "#/datasets") return showDatasets();
  if ((m = hash.match(/^#\/datasets\/(\d+)(?:\?status=(\w+))?$/))) return showDataset(+m[1], m[2] || "");
  if ((m = hash.match(/^#\/samples\/(\d+)$/))) return showSample(+m[1]);
  app.innerHTML = `<p>Nothing here. <a href="#/datasets">Datasets</a></p>`;
}

function showLogin() {
  document.getElementById("who").textContent = "";
  app.innerHTML = `
    <form class="login" id="login">
      <h1>panokit</h1>
      <label>User name <input name="username" autocomplete="username" required></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
      <button class="primary" type="submit">Log in</button>
      <p class="error" id="loginError"></p>
    </form>`;
  document.getElementById("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    try {
      const token = await api.login(form.get("username"), form.get("password"));
      auth.token = token.token;
      me = null;
      navigate("#/datasets");
    } catch (err) {
      document.getElementById("loginError").textContent = err.message;
    }
  });
}

function progress(counts) {
  const total = Object.values(counts || {}).reduce((a, b) => a + b, 0);
  const done = (counts?.accepted || 0);
  const submitted = (counts?.labeled || 0) + (counts?.reviewing || 0);
  const pct = (n) => (total ? (100 * n) / total : 0);
  return `<div class="progress" title="${done} accepted, ${submitted} waiting for review, of ${total}">
    <span class="done" style="width:${pct(done)}%"></span><span class="submitted" style="width:${pct(submitted)}%"></span></div>
    <small>${done}/${total} accepted · ${submitted} in review</small>`;
}

async function showDatasets() {
  const page = await api.datasets();
  app.innerHTML = `<h1>Datasets</h1><div class="cards">${page.items.map((d) => `
    <a class="card dataset" href="#/datasets/${d.id}" data-dataset="${d.id}">
      <h2>${esc(d.name)}</h2><p>${esc(d.description || "")}</p>
      <p><small>${d.modality} · your role: ${esc(d.my_role || "—")}</small></p>
      ${progress(d.counts)}</a>`).join("") || "<p>No datasets yet. Ask a manager to add you to one.</p>"}</div>`;
}

async function showDataset(id, status) {
  const ds = await api.dataset(id);
  const counts = STATUSES.map((s) => `<a href="#/datasets/${id}?status=${s}" class="badge status-${s} ${status === s ? "active" : ""}">${s} ${ds.counts?.[s] || 0}</a>`).join(" ");
  const rank = ["viewer", "labeler", "reviewer", "manager", "admin"].indexOf(ds.my_role || "viewer");
  app.innerHTML = `
    <div class="dataset-head"><h1><a href="#/datasets">Datasets</a> / ${esc(ds.name)}</h1>
      ${progress(ds.counts)}
      <div class="row">${rank >= 1 ? '<button class="primary" id="next">Label next sample</button>' : ""}
        ${rank >= 2 ? '<button id="nextReview">Review next sample</button>' : ""}</div>
      <div class="row">filter: <a href="#/datasets/${id}" class="badge ${status ? "" : "active"}">all</a> ${counts}</div></div>
    <div class="grid" id="grid"></div><div class="row"><button id="more" class="hidden">Load more</button></div>`;
  document.getElementById("next")?.addEventListener("click", async () => {
    try {
      const sample = await api.nextToLabel(id);
      if (sample) navigate(`#/samples/${sample.id}`); else toast("your queue is empty");
    } catch (err) { toast(err.message); }
  });
  document.getElementById("nextReview")?.addEventListener("click", async () => {
    try {
      const sample = await api.nextToReview(id);
      if (sample) navigate(`#/samples/${sample.id}`); else toast("nothing is waiting for review");
    } catch (err) { toast(err.message); }
  });
  let cursor = null;
  const grid = document.getElementById("grid");
  const more = document.getElementById("more");
  const load = async () => {
    const page = await api.samples(id, { cursor, limit: 60, status });
    for (const s of page.items) {
      const card = document.createElement("a");
      card.className = "card sample";
      card.href = `#/samples/${s.id}`;
      card.dataset.sample = s.id;
      card.innerHTML = `<div class="thumb"></div><div class="meta"><b>${esc(s.name)}</b>
        <span class="badge status-${s.status}">${s.status}</span>
        <small>${s.width}×${s.height} · r${s.label_revision}${s.assignee ? " · " + esc(s.assignee) : ""}</small></div>`;
      grid.appendChild(card);
      api.thumbnail(s.id, 256).then((r) => r.blob()).then((b) => {
        const img = new Image();
        img.src = URL.createObjectURL(b);
        img.alt = s.name;
        card.querySelector(".thumb").appendChild(img);
      }).catch(() => {});
    }
    cursor = page.next_cursor;
    more.classList.toggle("hidden", !cursor);
    if (!grid.children.length) grid.innerHTML = "<p class='muted'>no samples</p>";
  };
  more.addEventListener("click", load);
  await load();
}

async function showSample(id) {
  app.innerHTML = "";
  const root = document.createElement("div");
  root.className = "editor-root";
  app.appendChild(root);
  editor = new Editor(root, { sampleId: id, me, onExit: (datasetId) => setTimeout(() => navigate(`#/datasets/${datasetId}`), 600) });
  try {
    await editor.open();
  } catch (err) {
    console.error(err);
    root.innerHTML = `<p class="error">Could not open sample ${id}: ${esc(err.message)}</p>`;
  }
}

window.addEventListener("hashchange", () => route().catch(fail));
window.addEventListener("unhandledrejection", (e) => fail(e.reason));
function fail(err) { console.error(err); toast(String(err?.message || err)); }
route().catch(fail);
