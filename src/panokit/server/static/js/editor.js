// The labeling canvas: image + label overlay (offscreen canvas, dirty-rectangle updates),
// tools, segment list, undo/redo, autosave with 409 handling, prelabels and review.
import { api, ApiError } from "./api.js";
import { Hierarchy } from "./hierarchy.js";
import {
  Label, LabelError, Stroke, applyEdit, changeCategory, clickRegion, deleteSegment,
  fillUnlabeled, merge, polygon, unionBox,
} from "./label.js";
import { decodeIdsPNG, encodeIdsPNG } from "./png.js";
import { esc, toast } from "./ui.js";

const TOOLS = {
  superpixel: { key: "s", name: "Superpixel", help: "hover highlights a region, click assigns it, drag paints many" },
  brush: { key: "b", name: "Brush", help: "paint a disk along the stroke" },
  eraser: { key: "e", name: "Eraser", help: "set the stroke to unlabeled" },
  polygon: { key: "p", name: "Polygon", help: "click vertices; Enter, double-click or click the first vertex closes; Backspace undoes a vertex" },
  fill: { key: "f", name: "Fill unlabeled", help: "click fills the unlabeled pixels of the region under the pointer (Shift: the unlabeled area)" },
  pan: { key: "h", name: "Pan", help: "drag moves the view (or hold Space with any tool)" },
};

const SHORTCUTS = [
  ["S B E P F H", "superpixel, brush, eraser, polygon, fill, pan tools"],
  ["[  ]", "brush smaller / larger"],
  [",  .", "superpixels coarser / finer (granularity)"],
  ["1 … 9", "pick category 1 … 9 of the palette"],
  ["N", "new instance of the current thing category"],
  ["X", "protect mode (never overwrite labeled pixels)"],
  ["G", "snap brush to superpixels"],
  ["O", "outline mode"],
  ["I", "colour segments by instance"],
  ["R", "show superpixel borders at the current granularity"],
  ["A  Z", "overlay opacity down / up"],
  ["Shift+F", "fill all unlabeled pixels"],
  ["Delete", "delete the segments ticked in the list"],
  ["Ctrl+Z / Ctrl+Shift+Z, Ctrl+Y", "undo / redo"],
  ["Ctrl+S", "save now"],
  ["+  −  0", "zoom in / out / fit"],
  ["Space + drag, wheel", "pan, zoom"],
  ["Enter, double click", "close the polygon: paint it with the current category"],
  ["Shift+Enter", "close the polygon as a cut: the current thing segment's pixels inside become a new instance"],
  ["Esc", "cancel polygon, close dialogs"],
  ["?", "this help"],
];

function hashColor(id) {
  let h = (id * 2654435761) >>> 0;
  return [(h & 255), ((h >>> 8) & 255) | 64, ((h >>> 16) & 255)];
}

function abgr([r, g, b], a = 255) { return ((a << 24) | (b << 16) | (g << 8) | r) >>> 0; }

const round16 = (v) => Math.round(v * 16) / 16;

export class Editor {
  constructor(root, { sampleId, me, onExit }) {
    this.root = root;
    this.sampleId = sampleId;
    this.me = me;
    this.onExit = onExit;
    this.tool = "superpixel";
    this.radius = 12;
    this.level = 0;
    this.snap = false;
    this.protect = false;
    this.opacity = 0.55;
    this.outline = false;
    this.byInstance = false;
    this.hidden = new Set();
    this.selected = new Set();
    this.categoryId = null;
    this.segmentId = null; // current thing instance (null: next paint starts a new one)
    this.undoStack = [];
    this.redoStack = [];
    this.log = []; // edits (engine JSON) applied since logBase, undo removes, redo re-adds
    this.logBase = 0;
    this.savedLogLength = 0;
    this.version = 0;
    this.savedVersion = 0;
    this.saving = null;
    this.conflict = null;
    this.autosave = true;
    this.view = { scale: 1, tx: 0, ty: 0 };
    this.metrics = { clicks: [], moves: [], frames: [] };
    this.polygon = [];
    this.hover = null;
    this.pointer = null;
    this.alive = true;
    window.__panokit = { editor: this, metrics: this.metrics };
  }

  // ------------------------------------------------------------------ loading
  async open() {
    const t0 = performance.now();
    this.metrics.openStart = t0;
    performance.mark("pk-open");
    const media = api.media(this.sampleId).then((r) => r.blob()).then((b) => createImageBitmap(b));
    media.catch(() => {}); // awaited below; failures surface there
    this.sample = await api.sample(this.sampleId);
    this.dataset = await api.dataset(this.sample.dataset_id);
    this.taxonomy = { categories: this.dataset.categories, void_id: this.dataset.void_id };
    this.categories = new Map(this.dataset.categories.map((c) => [c.id, c]));
    const firstThing = this.dataset.categories[0];
    this.categoryId = firstThing ? firstThing.id : null;
    this.buildDom();
    const label = this.fetchLabel(this.sample.label_revision);
    this.hierReady = this.loadSuperpixels();
    this.loadSide();
    this.image = await media;
    this.pyramid = [{ factor: 1, bitmap: this.image }];
    this.fit();
    this.label = Label.empty(this.sample.width, this.sample.height, this.taxonomy);
    this.setupLabelLayer();
    this.renderNow();
    this.metrics.firstPaint = performance.now() - t0;
    performance.measure("pk-first-paint", "pk-open");
    this.buildPyramid();
    const loaded = await label;
    this.installLabel(loaded.label, loaded.revision);
    this.metrics.labelReady = performance.now() - t0;
    this.status(`loaded revision ${loaded.revision}`);
    this.offerRestore();
  }

  /** Half, quarter, ... resolution copies of a big image, so zoomed-out frames stay cheap. */
  async buildPyramid() {
    const { width, height } = this.sample;
    for (let f = 2; Math.max(width, height) / f >= 700; f *= 2) {
      const bitmap = await createImageBitmap(this.image, { resizeWidth: Math.ceil(width / f), resizeHeight: Math.ceil(height / f), resizeQuality: "medium" });
      this.pyramid.push({ factor: f, bitmap });
    }
    this.requestRender();
  }

  /** Run the hot loops on a scratch label so the first real click runs optimised code. */
  warmUp() {
    const scratch = Label.empty(256, 256, this.taxonomy);
    const index = new Uint32Array(256 * 256);
    for (let i = 0; i < index.length; i++) index[i] = i;
    for (let k = 0; k < 20; k++) scratch.applyPatch(scratch.write(index, 1 + (k % 3)));
    if (this.hier) for (let k = 0; k < 20; k++) this.hier.regionPixels(this.level, k % this.hier.levels[this.level]);
  }

  async fetchLabel(revision) {
    if (!revision) return { label: Label.empty(this.sample.width, this.sample.height, this.taxonomy), revision: 0 };
    const [meta, png] = await Promise.all([
      api.label(this.sampleId, revision),
      api.labelPNG(this.sampleId, revision).then((r) => r.arrayBuffer()),
    ]);
    const { width, height, ids } = await decodeIdsPNG(png);
    const segments = new Map(meta.segments.map((s) => [s.id, { category_id: s.category_id, iscrowd: s.iscrowd, attributes: s.attributes || {} }]));
    return { label: new Label(width, height, ids, segments, this.taxonomy), revision: meta.revision };
  }

  installLabel(label, revision) {
    this.ready = true;
    this.label = label;
    this.revision = revision;
    this.logBase = revision;
    this.log = [];
    this.savedLogLength = 0;
    this.diverged = false;
    this.undoStack = [];
    this.redoStack = [];
    this.version = 0;
    this.savedVersion = 0;
    this.segmentId = null;
    this.selected.clear();
    this.rebuildColors();
    this.recolor(null);
    this.refreshPanels();
    this.renderNow();
  }

  async loadSuperpixels() {
    const t0 = this.metrics.openStart;
    if (this.sample.superpixels === "none" || this.sample.superpixels === "failed") {
      this.status(`no superpixels for this sample (${this.sample.superpixels}); brush, polygon and fill still work`);
      return;
    }
    for (let attempt = 0; this.alive; attempt++) {
      try {
        const response = await api.superpixels(this.sampleId);
        this.hier = await Hierarchy.fromWire(await response.arrayBuffer());
        this.level = Math.min(this.level, this.hier.levels.length - 1);
        this.hier.members(this.level); // the first click on a level should not pay for its index
        this.warmUp();
        this.metrics.superpixelsReady = performance.now() - t0;
        this.updateLevelControl();
        return;
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 404 || attempt > 150) {
          this.status("superpixels unavailable: " + err.message);
          return;
        }
        this.status("superpixels are being computed…");
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  async loadSide() {
    const [comments, prelabels] = await Promise.all([
      api.comments(this.sampleId).catch(() => []),
      api.prelabels(this.sampleId).catch(() => []),
    ]);
    this.comments = comments;
    this.prelabelList = prelabels;
    this.refreshSide();
  }

  get role() { return this.dataset.my_role || (this.me.is_admin ? "admin" : "viewer"); }
  get rank() { return ["viewer", "labeler", "reviewer", "manager", "admin"].indexOf(this.role); }

  get editable() {
    const s = this.sample;
    if (this.rank >= 3) return true;
    if (this.rank >= 2 && ["labeled", "reviewing"].includes(s.status)) return true;
    return this.rank >= 1 && s.assignee === this.me.username && ["labeling", "rejected"].includes(s.status);
  }

  get dirty() { return this.version !== this.savedVersion; }

  // ------------------------------------------------------------------ DOM
  buildDom() {
    const toolButtons = Object.entries(TOOLS).map(([id, t]) =>
      `<button class="tool" data-tool="${id}" title="${esc(t.name)} (${t.key.toUpperCase()}): ${esc(t.help)}">${esc(t.name)} <kbd>${t.key.toUpperCase()}</kbd></button>`).join("");
    this.root.innerHTML = `
      <div class="editor">
        <div class="toolbar">
          <a href="#/datasets/${this.sample.dataset_id}" class="back">← ${esc(this.dataset.name)}</a>
          <span class="sample-name">${esc(this.sample.name)}</span>
          <span class="badge status-${this.sample.status}" data-ref="statusBadge">${this.sample.status}</span>
          <span class="tools">${toolButtons}</span>
          <label title="brush radius ([ ])">size <input type="range" min="1" max="150" value="${this.radius}" data-ref="radius"><span data-ref="radiusText">${this.radius}</span></label>
          <label title="superpixel granularity (, .)">granularity <input type="range" min="0" max="0" value="0" data-ref="level" disabled><span data-ref="levelText">–</span></label>
          <label title="snap brush to superpixels (G)"><input type="checkbox" data-ref="snap"> snap</label>
          <label title="protect mode: never overwrite labeled pixels (X)"><input type="checkbox" data-ref="protect"> protect</label>
          <label title="overlay opacity (A Z)">opacity <input type="range" min="0" max="100" value="${this.opacity * 100}" data-ref="opacity"></label>
          <label title="outline mode (O)"><input type="checkbox" data-ref="outline"> outline</label>
          <label title="colour by instance (I)"><input type="checkbox" data-ref="byInstance"> instances</label>
          <label title="show superpixel borders at the current granularity (R)"><input type="checkbox" data-ref="regions"> regions</label>
          <span class="spacer"></span>
          <button data-act="undo" title="undo (Ctrl+Z)">↶</button>
          <button data-act="redo" title="redo (Ctrl+Shift+Z)">↷</button>
          <label title="save automatically a few seconds after each edit"><input type="checkbox" data-ref="autosave" checked> autosave</label>
          <button data-act="save" class="primary" title="save (Ctrl+S)">Save</button>
          <button data-act="submit" title="submit for review">Submit for review</button>
          <button data-act="help" title="keyboard shortcuts (?)">?</button>
        </div>
        <div class="banner hidden" data-ref="banner"></div>
        <div class="workspace">
          <div class="stage" data-ref="stage"><canvas data-ref="canvas"></canvas></div>
          <aside class="side">
            <section><h3>Categories</h3><div data-ref="palette" class="palette"></div>
              <div class="row"><button data-act="newInstance" title="N">New instance</button>
              <button data-act="fillAll" title="Shift+F">Fill all unlabeled</button></div>
              <div class="current" data-ref="current"></div></section>
            <section><h3>Segments</h3>
              <div class="row"><button data-act="mergeSel">Merge selected</button><button data-act="deleteSel">Delete selected</button></div>
              <div data-ref="segments" class="segments"></div></section>
            <section data-ref="reviewBox" class="hidden"><h3>Review</h3>
              <textarea data-ref="reviewComment" placeholder="what should the labeler fix?"></textarea>
              <div class="row"><button data-act="accept" class="primary">Accept</button><button data-act="reject" class="danger">Reject</button></div></section>
            <section><h3>Prelabels</h3><div data-ref="prelabels"></div></section>
            <section><h3>Comments</h3><div data-ref="comments" class="comments"></div>
              <div class="row"><input data-ref="commentText" placeholder="add a comment"><button data-act="comment">Post</button></div></section>
          </aside>
        </div>
        <div class="statusline" data-ref="statusLine"></div>
        <div class="modal hidden" data-ref="modal"><div class="dialog" data-ref="dialog"></div></div>
      </div>`;
    this.refs = {};
    for (const node of this.root.querySelectorAll("[data-ref]")) this.refs[node.dataset.ref] = node;
    this.canvas = this.refs.canvas;
    this.ctx = this.canvas.getContext("2d");
    this.bindControls();
    this.bindPointer();
    this.keyHandler = (e) => this.onKey(e);
    window.addEventListener("keydown", this.keyHandler);
    this.keyUpHandler = (e) => { if (e.code === "Space") this.spaceDown = false; };
    window.addEventListener("keyup", this.keyUpHandler);
    this.beforeUnload = (e) => {
      this.backup(); // flush a pending backup
      if (this.dirty) { e.preventDefault(); e.returnValue = ""; }
    };
    window.addEventListener("beforeunload", this.beforeUnload);
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(this.refs.stage);
    this.resize();
    this.setTool(this.tool);
    this.refreshPanels();
    this.refreshSide();
  }

  destroy() {
    this.alive = false;
    clearTimeout(this.backupTimer);
    if (this.ready) this.backup();
    window.removeEventListener("keydown", this.keyHandler);
    window.removeEventListener("keyup", this.keyUpHandler);
    window.removeEventListener("beforeunload", this.beforeUnload);
    this.resizeObserver?.disconnect();
    clearTimeout(this.autosaveTimer);
  }

  bindControls() {
    const r = this.refs;
    this.root.querySelectorAll("[data-tool]").forEach((b) => b.addEventListener("click", () => this.setTool(b.dataset.tool)));
    r.radius.addEventListener("input", () => this.setRadius(+r.radius.value));
    r.level.addEventListener("input", () => this.setLevel(+r.level.value));
    r.snap.addEventListener("change", () => { this.snap = r.snap.checked; });
    r.protect.addEventListener("change", () => { this.protect = r.protect.checked; });
    r.opacity.addEventListener("input", () => { this.opacity = r.opacity.value / 100; this.requestRender(); });
    r.outline.addEventListener("change", () => { this.outline = r.outline.checked; this.recolor(null); });
    r.byInstance.addEventListener("change", () => { this.byInstance = r.byInstance.checked; this.rebuildColors(); this.recolor(null); });
    r.autosave.addEventListener("change", () => { this.autosave = r.autosave.checked; });
    r.regions.addEventListener("change", () => this.setShowRegions(r.regions.checked));
    this.root.addEventListener("click", (e) => {
      const act = e.target.closest("[data-act]")?.dataset.act;
      if (act && this.actions[act]) this.actions[act](e);
    });
    this.actions = {
      undo: () => this.undo(),
      redo: () => this.redo(),
      save: () => this.save(),
      submit: () => this.submit(),
      help: () => this.showHelp(),
      newInstance: () => this.newInstance(),
      fillAll: () => this.run({ op: "fill_unlabeled", category_id: this.categoryId, segment_id: this.targetSegmentFor(this.categoryId), x: null, y: null, level: null }),
      mergeSel: () => this.mergeSelected(),
      deleteSel: () => this.deleteSelected(),
      accept: () => this.review(true),
      reject: () => this.review(false),
      comment: () => this.postComment(),
    };
  }

  status(text) { if (this.refs?.statusLine) this.refs.statusLine.textContent = text; }

  setTool(tool) {
    this.tool = tool;
    this.polygon = [];
    this.root.querySelectorAll("[data-tool]").forEach((b) => b.classList.toggle("active", b.dataset.tool === tool));
    this.canvas.style.cursor = tool === "pan" ? "grab" : "crosshair";
    this.updateHover();
    this.requestRender();
  }

  setRadius(v) {
    this.radius = Math.max(1, Math.min(150, v));
    this.refs.radius.value = this.radius;
    this.refs.radiusText.textContent = this.radius;
    this.requestRender();
  }

  setLevel(v) {
    if (!this.hier) return;
    const t0 = performance.now();
    this.level = Math.max(0, Math.min(this.hier.levels.length - 1, v));
    this.hier.members(this.level);
    this.updateLevelControl();
    this.hover = null;
    this.updateHover();
    if (this.showRegions) this.drawRegions();
    this.renderNow();
    this.metrics.levelSwitch = performance.now() - t0;
  }

  updateLevelControl() {
    const r = this.refs;
    if (!this.hier) return;
    r.level.disabled = false;
    r.level.max = this.hier.levels.length - 1;
    r.level.value = this.level;
    r.levelText.textContent = `${this.hier.levels[this.level]} regions`;
  }

  // ------------------------------------------------------------------ palette / segments
  targetSegmentFor(categoryId) {
    const cat = this.categories.get(categoryId);
    if (!cat || !cat.isthing) return null;
    const current = this.label?.segments.get(this.segmentId);
    if (current && current.category_id !== categoryId) return null; // recategorised meanwhile
    return this.segmentId;
  }

  pickCategory(id) {
    if (this.categoryId !== id) this.segmentId = null;
    this.categoryId = id;
    this.refreshPanels();
  }

  newInstance() {
    this.segmentId = null;
    this.refreshPanels();
    this.status("the next stroke starts a new instance");
  }

  refreshPanels() {
    if (!this.refs) return;
    const cats = this.dataset.categories;
    const group = (thing) => cats.filter((c) => Boolean(c.isthing) === thing).map((c) => {
      const index = cats.indexOf(c) + 1;
      const color = `rgb(${(c.color || [128, 128, 128]).join(",")})`;
      return `<button class="cat ${c.id === this.categoryId ? "active" : ""}" data-cat="${c.id}" title="${index <= 9 ? "key " + index : ""}"><i style="background:${color}"></i>${esc(c.name)}${index <= 9 ? ` <kbd>${index}</kbd>` : ""}</button>`;
    }).join("");
    this.refs.palette.innerHTML = `<div class="group"><b>Things</b>${group(true)}</div><div class="group"><b>Stuff</b>${group(false)}</div>`;
    this.refs.palette.querySelectorAll("[data-cat]").forEach((b) => b.addEventListener("click", () => this.pickCategory(+b.dataset.cat)));
    const cat = this.categories.get(this.categoryId);
    this.refs.current.textContent = cat
      ? `painting: ${cat.name}${cat.isthing ? (this.segmentId ? ` · instance #${this.segmentId}` : " · new instance") : " (stuff)"}${this.protect ? " · protected" : ""}`
      : "";
    this.refreshSegments();
  }

  refreshSegments() {
    if (!this.label || !this.refs) return;
    const rows = [...this.label.segments.entries()].sort((a, b) => a[0] - b[0]).map(([id, s]) => {
      const cat = this.categories.get(s.category_id);
      const color = this.segmentColor(id, s);
      const options = this.dataset.categories.map((c) => `<option value="${c.id}" ${c.id === s.category_id ? "selected" : ""}>${esc(c.name)}</option>`).join("");
      return `<div class="seg ${this.selected.has(id) ? "selected" : ""} ${id === this.segmentId ? "current" : ""}" data-seg="${id}">
        <input type="checkbox" data-segsel ${this.selected.has(id) ? "checked" : ""} title="select for merge/delete">
        <i style="background:rgb(${color.join(",")})"></i>
        <span class="segname" data-segpick title="click: continue painting this segment">#${id} ${esc(cat ? cat.name : "?" + s.category_id)}</span>
        <span class="area" title="pixels">${this.label.area(id)}</span>
        <select data-segcat title="change category">${options}</select>
        ${cat?.isthing ? '<button data-segsplit title="with a polygon drawn: its pixels inside the polygon become a new instance; otherwise every connected part becomes an instance">split</button>' : "<span></span>"}
        <button data-seghide title="hide / show">${this.hidden.has(id) ? "show" : "hide"}</button>
        <button data-segdel title="delete">✕</button></div>`;
    });
    this.refs.segments.innerHTML = rows.join("") || "<p class='muted'>no segments yet</p>";
    this.refs.segments.querySelectorAll("[data-seg]").forEach((row) => {
      const id = +row.dataset.seg;
      row.querySelector("[data-segsel]").addEventListener("change", (e) => {
        if (e.target.checked) this.selected.add(id); else this.selected.delete(id);
        row.classList.toggle("selected", e.target.checked);
      });
      row.querySelector("[data-segpick]").addEventListener("click", () => this.pickSegment(id));
      row.querySelector("[data-segcat]").addEventListener("change", (e) => this.run({ op: "change_category", segment_id: id, category_id: +e.target.value }));
      row.querySelector("[data-seghide]").addEventListener("click", () => {
        if (this.hidden.has(id)) this.hidden.delete(id); else this.hidden.add(id);
        this.rebuildColors(); this.recolor(null); this.refreshSegments();
      });
      row.querySelector("[data-segdel]").addEventListener("click", () => this.run({ op: "delete", segment_id: id }));
      row.querySelector("[data-segsplit]")?.addEventListener("click", () => (this.polygon.length >= 3 ? this.splitByPolygon(id) : this.run({ op: "split", segment_id: id, vertices: null })));
    });
  }

  pickSegment(id) {
    const s = this.label.segments.get(id);
    if (!s) return;
    this.categoryId = s.category_id;
    this.segmentId = this.categories.get(s.category_id)?.isthing ? id : null;
    this.refreshPanels();
  }

  mergeSelected() {
    const ids = [...this.selected].filter((id) => this.label.segments.has(id));
    if (ids.length < 2) { toast("select two or more segments to merge"); return; }
    this.run({ op: "merge", segment_ids: ids.sort((a, b) => a - b), into: null });
    this.selected.clear();
    this.refreshSegments();
  }

  deleteSelected() {
    const ids = [...this.selected].filter((id) => this.label.segments.has(id));
    this.selected.clear();
    for (const id of ids) this.run({ op: "delete", segment_id: id });
    this.refreshSegments();
  }

  refreshSide() {
    if (!this.refs) return;
    const s = this.sample;
    this.refs.statusBadge.textContent = s.status;
    this.refs.statusBadge.className = `badge status-${s.status}`;
    const rejection = (this.comments || []).filter((c) => c.kind === "rejection").pop();
    const banner = this.refs.banner;
    if (s.status === "rejected" && rejection) {
      banner.classList.remove("hidden");
      banner.innerHTML = `<b>Rejected by ${esc(rejection.author || "a reviewer")}:</b> <span data-ref="rejectionText">${esc(rejection.text)}</span>`;
    } else if (!this.editable) {
      banner.classList.remove("hidden");
      banner.textContent = `Read-only: this sample is ${s.status}${s.assignee ? ` (assigned to ${s.assignee})` : ""}.`;
    } else banner.classList.add("hidden");
    this.refs.comments.innerHTML = (this.comments || []).map((c) =>
      `<div class="comment kind-${c.kind}"><b>${esc(c.author || "?")}</b> <small>${c.kind}</small><p>${esc(c.text)}</p></div>`).join("") || "<p class='muted'>no comments</p>";
    this.refs.prelabels.innerHTML = (this.prelabelList || []).map((p) =>
      `<div class="prelabel"><span>${esc(p.source)}${p.score != null ? ` (${(+p.score).toFixed(2)})` : ""}, ${p.segments.length} segments${p.accepted_revision ? `, accepted as r${p.accepted_revision}` : ""}</span>
       <button data-prelabel="${p.id}" ${this.editable ? "" : "disabled"}>Use as starting point</button></div>`).join("") || "<p class='muted'>none</p>";
    this.refs.prelabels.querySelectorAll("[data-prelabel]").forEach((b) => b.addEventListener("click", () => this.acceptPrelabel(+b.dataset.prelabel)));
    const reviewer = this.rank >= 2 && ["labeled", "reviewing"].includes(s.status) && (s.assignee !== this.me.username || this.rank >= 3);
    this.refs.reviewBox.classList.toggle("hidden", !reviewer);
    const submitBtn = this.root.querySelector('[data-act="submit"]');
    submitBtn.disabled = !(["labeling", "rejected"].includes(s.status) && (s.assignee === this.me.username || this.rank >= 3));
    this.root.querySelector('[data-act="save"]').disabled = !this.editable;
  }

  // ------------------------------------------------------------------ colours, layers
  segmentColor(id, s) {
    if (this.byInstance) return hashColor(id);
    const cat = this.categories.get(s.category_id);
    return cat?.color || [200, 200, 200];
  }

  /** A stroke that creates a segment paints with its colour from the first pixel on. */
  prepareColor(stroke) {
    const seg = stroke.create?.get(stroke.value);
    if (!seg) return;
    if (stroke.value >= this.colorLut.length) {
      const lut = new Uint32Array(Math.max(stroke.value + 1, this.colorLut.length * 2));
      lut.set(this.colorLut);
      this.colorLut = lut;
    }
    this.hidden.delete(stroke.value);
    this.colorLut[stroke.value] = abgr(this.segmentColor(stroke.value, seg));
  }

  rebuildColors() {
    if (!this.label) return;
    for (const id of this.hidden) if (!this.label.segments.has(id)) this.hidden.delete(id);
    let top = 1;
    for (const id of this.label.segments.keys()) if (id > top) top = id;
    const lut = new Uint32Array(top + 1);
    for (const [id, s] of this.label.segments) lut[id] = this.hidden.has(id) ? 0 : abgr(this.segmentColor(id, s));
    this.colorLut = lut;
  }

  setupLabelLayer() {
    const { width, height } = this.sample;
    this.labelCanvas = new OffscreenCanvas(width, height);
    this.labelCtx = this.labelCanvas.getContext("2d");
    this.labelData = new ImageData(width, height);
    this.labelPixels = new Uint32Array(this.labelData.data.buffer);
    this.hoverCanvas = new OffscreenCanvas(1, 1);
    this.hoverCtx = this.hoverCanvas.getContext("2d");
  }

  /** Recolour a dirty box [x0, y0, x1, y1] (inclusive; null = everything) and upload it. */
  recolor(box) {
    if (!this.labelData || !this.label) return;
    const { width: w, height: h } = this.label;
    let [x0, y0, x1, y1] = box || [0, 0, w - 1, h - 1];
    if (this.outline) { x0 = Math.max(0, x0 - 1); y0 = Math.max(0, y0 - 1); x1 = Math.min(w - 1, x1 + 1); y1 = Math.min(h - 1, y1 + 1); }
    const ids = this.label.ids, out = this.labelPixels;
    let lut = this.colorLut;
    for (const id of this.label.segments.keys()) if (id >= lut.length) { this.rebuildColors(); lut = this.colorLut; break; }
    const n = lut.length;
    if (!this.outline) {
      for (let y = y0; y <= y1; y++) {
        for (let i = y * w + x0, end = y * w + x1; i <= end; i++) { const v = ids[i]; out[i] = v < n ? lut[v] : 0; }
      }
    } else {
      for (let y = y0; y <= y1; y++) {
        for (let x = x0, i = y * w + x0; x <= x1; x++, i++) {
          const v = ids[i];
          const edge = (x > 0 && ids[i - 1] !== v) || (x < w - 1 && ids[i + 1] !== v) || (y > 0 && ids[i - w] !== v) || (y < h - 1 && ids[i + w] !== v);
          out[i] = edge && v < n ? lut[v] : 0;
        }
      }
    }
    this.labelCtx.putImageData(this.labelData, 0, 0, x0, y0, x1 - x0 + 1, y1 - y0 + 1);
    this.requestRender();
  }

  setShowRegions(on) {
    this.showRegions = on && Boolean(this.hier);
    this.refs.regions.checked = this.showRegions;
    if (this.showRegions) this.drawRegions();
    this.requestRender();
  }

  /** Borders between superpixels of the current level, on their own layer. */
  drawRegions() {
    const h = this.hier, w = h.width, lut = h.luts[this.level], fine = h.fine;
    if (!this.regionCanvas) {
      this.regionCanvas = new OffscreenCanvas(w, h.height);
      this.regionData = new ImageData(w, h.height);
    }
    const out = new Uint32Array(this.regionData.data.buffer);
    for (let y = 0, i = 0; y < h.height; y++) {
      for (let x = 0; x < w; x++, i++) {
        const r = lut[fine[i]];
        out[i] = (x + 1 < w && lut[fine[i + 1]] !== r) || (y + 1 < h.height && lut[fine[i + w]] !== r) ? 0xffffffff : 0;
      }
    }
    this.regionCanvas.getContext("2d").putImageData(this.regionData, 0, 0);
  }

  /** Show what a patch changed: new colours for changed segments, the changed pixels. */
  repaint(patch) {
    if (patch.segments.size) {
      this.rebuildColors();
      if (!patch.box) { this.recolor(null); return; } // e.g. a category change: every pixel of it
    }
    this.recolorPatch(patch);
  }

  /** Recolour just the pixels an edit changed (outline mode needs their neighbours: box). */
  recolorPatch(patch) {
    if (!patch.box) return;
    if (this.outline || !this.labelData) { this.recolor(patch.box); return; }
    let lut = this.colorLut;
    for (const id of this.label.segments.keys()) if (id >= lut.length) { this.rebuildColors(); lut = this.colorLut; break; }
    const ids = this.label.ids, out = this.labelPixels, index = patch.index, n = lut.length;
    for (let k = 0; k < index.length; k++) { const i = index[k], v = ids[i]; out[i] = v < n ? lut[v] : 0; }
    const [x0, y0, x1, y1] = patch.box;
    this.labelCtx.putImageData(this.labelData, 0, 0, x0, y0, x1 - x0 + 1, y1 - y0 + 1);
    this.requestRender();
  }

  updateHover() {
    const want = (this.tool === "superpixel" || this.tool === "fill") && this.hier && this.pointer?.inside
      ? this.hier.regionAt(this.level, this.pointer.px, this.pointer.py) : null;
    const key = want === null ? null : `${this.level}:${want}`;
    if (key === this.hoverKey) return;
    this.hoverKey = key;
    if (want === null) { this.hover = null; this.requestRender(); return; }
    const [x0, y0, x1, y1] = this.hier.regionBox(this.level, want);
    const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
    // big regions are drawn from a mask at most 1024 px wide (scaled up, nearest neighbour)
    const step = Math.max(1, Math.ceil(Math.max(bw, bh) / 1024));
    const mw = Math.ceil(bw / step), mh = Math.ceil(bh / step);
    const data = new ImageData(mw, mh);
    const px = new Uint32Array(data.data.buffer);
    const w = this.hier.width;
    const pixels = this.hier.regionPixels(this.level, want);
    const color = 0xd0ffffff;
    if (step === 1) {
      for (let k = 0; k < pixels.length; k++) {
        const i = pixels[k], y = (i / w) | 0;
        px[(y - y0) * mw + (i - y * w - x0)] = color;
      }
    } else {
      for (let k = 0; k < pixels.length; k++) {
        const i = pixels[k], y = (i / w) | 0;
        px[(((y - y0) / step) | 0) * mw + (((i - y * w - x0) / step) | 0)] = color;
      }
    }
    if (this.hoverCanvas.width < mw || this.hoverCanvas.height < mh) {
      this.hoverCanvas = new OffscreenCanvas(Math.max(mw, this.hoverCanvas.width), Math.max(mh, this.hoverCanvas.height));
      this.hoverCtx = this.hoverCanvas.getContext("2d");
    }
    this.hoverCtx.putImageData(data, 0, 0);
    this.hover = { x0, y0, bw, bh, mw, mh, step };
    this.requestRender();
  }

  // ------------------------------------------------------------------ view
  resize() {
    const stage = this.refs.stage;
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.round(stage.clientWidth * dpr));
    this.canvas.height = Math.max(1, Math.round(stage.clientHeight * dpr));
    this.canvas.style.width = stage.clientWidth + "px";
    this.canvas.style.height = stage.clientHeight + "px";
    if (this.image && !this.userView) this.fit();
    this.renderNow();
  }

  fit() {
    const stage = this.refs.stage;
    const sw = stage.clientWidth, sh = stage.clientHeight;
    const scale = Math.min(sw / this.sample.width, sh / this.sample.height) * 0.98;
    this.view = { scale, tx: (sw - this.sample.width * scale) / 2, ty: (sh - this.sample.height * scale) / 2 };
    this.requestRender();
  }

  zoomAt(factor, sx, sy) {
    const v = this.view;
    const scale = Math.max(0.02, Math.min(40, v.scale * factor));
    const f = scale / v.scale;
    this.userView = true;
    this.view = { scale, tx: sx - (sx - v.tx) * f, ty: sy - (sy - v.ty) * f };
    this.requestRender();
  }

  toImage(sx, sy) {
    const v = this.view;
    return [(sx - v.tx) / v.scale, (sy - v.ty) / v.scale];
  }

  /** Run `fn` once the next frame has been painted. */
  afterFrame(fn) {
    requestAnimationFrame(() => setTimeout(fn, 0));
  }

  requestRender() {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => { this.frameRequested = false; this.renderNow(); });
  }

  renderNow() {
    if (!this.ctx) return;
    const t0 = performance.now();
    const ctx = this.ctx, dpr = window.devicePixelRatio || 1, v = this.view;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#1b1e23";
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    if (!this.image) return;
    ctx.setTransform(dpr * v.scale, 0, 0, dpr * v.scale, dpr * v.tx, dpr * v.ty);
    ctx.imageSmoothingEnabled = v.scale < 1;
    let level = this.pyramid[0];
    for (const p of this.pyramid) if (v.scale * p.factor <= 1.0001) level = p;
    ctx.drawImage(level.bitmap, 0, 0, this.sample.width, this.sample.height);
    if (this.labelCanvas) {
      // outlines are one pixel wide: filter them when zoomed out so they do not break up
      ctx.imageSmoothingEnabled = this.outline && v.scale < 1;
      ctx.imageSmoothingQuality = "high";
      ctx.globalAlpha = this.outline ? Math.max(this.opacity, 0.8) : this.opacity;
      ctx.drawImage(this.labelCanvas, 0, 0);
      ctx.globalAlpha = 1;
    }
    if (this.showRegions && this.regionCanvas) {
      ctx.imageSmoothingEnabled = v.scale < 1;
      ctx.globalAlpha = 0.55;
      ctx.drawImage(this.regionCanvas, 0, 0);
      ctx.globalAlpha = 1;
    }
    if (this.hover) {
      const h = this.hover;
      ctx.globalAlpha = 0.45;
      ctx.drawImage(this.hoverCanvas, 0, 0, h.mw, h.mh, h.x0, h.y0, h.mw * h.step, h.mh * h.step);
      ctx.globalAlpha = 1;
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const p = this.pointer;
    if (p && (this.tool === "brush" || this.tool === "eraser")) {
      ctx.strokeStyle = this.tool === "eraser" ? "#ff6b6b" : "#ffffff";
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.arc(p.sx, p.sy, Math.max(1, this.radius * v.scale), 0, Math.PI * 2);
      ctx.stroke();
    }
    if (this.polygon.length) {
      ctx.strokeStyle = "#ffe066";
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      this.polygon.forEach(([x, y], i) => {
        const sx = (x + 0.5) * v.scale + v.tx, sy = (y + 0.5) * v.scale + v.ty;
        if (i) ctx.lineTo(sx, sy); else ctx.moveTo(sx, sy);
      });
      if (p) ctx.lineTo(p.sx, p.sy);
      ctx.stroke();
      for (const [x, y] of this.polygon) ctx.fillRect((x + 0.5) * v.scale + v.tx - 2, (y + 0.5) * v.scale + v.ty - 2, 4, 4);
    }
    this.lastRenderMs = performance.now() - t0;
  }

  // ------------------------------------------------------------------ pointer
  bindPointer() {
    const c = this.canvas;
    c.addEventListener("contextmenu", (e) => e.preventDefault());
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      const r = c.getBoundingClientRect();
      this.zoomAt(Math.exp(-e.deltaY * 0.0015), e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });
    c.addEventListener("pointerdown", (e) => this.onDown(e));
    c.addEventListener("pointermove", (e) => this.onMove(e));
    c.addEventListener("pointerup", (e) => this.onUp(e));
    c.addEventListener("pointerleave", () => { this.pointer = null; this.updateHover(); this.requestRender(); });
    c.addEventListener("dblclick", (e) => { if (this.tool === "polygon") { e.preventDefault(); this.closePolygon(); } });
  }

  locate(e) {
    const r = this.canvas.getBoundingClientRect();
    const sx = e.clientX - r.left, sy = e.clientY - r.top;
    const [ix, iy] = this.toImage(sx, sy);
    const px = Math.floor(ix), py = Math.floor(iy);
    const inside = this.label && px >= 0 && py >= 0 && px < this.label.width && py < this.label.height;
    return { sx, sy, ix, iy, px, py, inside, x: round16(ix - 0.5), y: round16(iy - 0.5) };
  }

  onDown(e) {
    const p = this.locate(e);
    this.pointer = p;
    if (e.button === 1 || e.button === 2 || this.tool === "pan" || this.spaceDown) {
      this.userView = true;
      this.drag = { kind: "pan", sx: p.sx, sy: p.sy, tx: this.view.tx, ty: this.view.ty };
      this.canvas.setPointerCapture(e.pointerId);
      return;
    }
    if (e.button !== 0 || !this.ready) return;
    if (!this.editable) { toast("this sample is read-only for you"); return; }
    const t0 = e.timeStamp;
    try {
      if (this.tool === "superpixel") {
        if (!p.inside) return;
        if (!this.hier) { toast("superpixels are not ready yet"); return; }
        this.drag = { kind: "superpixel", start: p, t0, stroke: null };
      } else if (this.tool === "brush" || this.tool === "eraser") {
        const edit = this.tool === "brush"
          ? { op: "brush", path: [], radius: this.radius, category_id: this.categoryId, segment_id: this.targetSegmentFor(this.categoryId), protect: this.protect, snap_level: this.snap && this.hier ? this.level : null }
          : { op: "erase", path: [], radius: this.radius, segment_id: null, snap_level: this.snap && this.hier ? this.level : null };
        const stroke = new Stroke(this.label, this.hier, edit);
        this.prepareColor(stroke);
        this.drag = { kind: "stroke", stroke, box: null };
        this.extendStroke(p, t0);
      } else if (this.tool === "polygon") {
        if (this.polygon.length >= 3) {
          const [fx, fy] = this.polygon[0];
          const v = this.view;
          if (Math.hypot((fx + 0.5) * v.scale + v.tx - p.sx, (fy + 0.5) * v.scale + v.ty - p.sy) < 8) { this.closePolygon(); return; }
        }
        this.polygon.push([p.x, p.y]);
        this.requestRender();
        return;
      } else if (this.tool === "fill") {
        if (!p.inside) return;
        const level = e.shiftKey || !this.hier ? null : this.level;
        this.run({ op: "fill_unlabeled", category_id: this.categoryId, segment_id: this.targetSegmentFor(this.categoryId), x: p.px, y: p.py, level }, t0);
        return;
      }
      this.canvas.setPointerCapture(e.pointerId);
    } catch (err) { this.fail(err); this.drag = null; }
  }

  onMove(e) {
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    const last = events.length ? events[events.length - 1] : e;
    const p = this.locate(last);
    this.pointer = p;
    const d = this.drag;
    if (d?.kind === "pan") {
      this.view = { ...this.view, tx: d.tx + p.sx - d.sx, ty: d.ty + p.sy - d.sy };
      this.requestRender();
      return;
    }
    if (d?.kind === "superpixel") {
      const moved = p.px !== d.start.px || p.py !== d.start.py;
      if (moved && !d.stroke) {
        d.stroke = new Stroke(this.label, this.hier, { op: "brush", path: [], radius: 0.5, category_id: this.categoryId, segment_id: this.targetSegmentFor(this.categoryId), protect: this.protect, snap_level: this.level });
        this.prepareColor(d.stroke);
        d.box = d.stroke.add(d.start.px, d.start.py);
      }
      if (d.stroke) {
        const t0 = performance.now();
        for (const ev of events) {
          const q = this.locate(ev);
          const path = d.stroke.edit.path, lastPt = path[path.length - 1];
          const x = Math.min(Math.max(q.px, 0), this.label.width - 1), y = Math.min(Math.max(q.py, 0), this.label.height - 1);
          if (lastPt[0] !== x || lastPt[1] !== y) d.box = unionBox(d.box, d.stroke.add(x, y));
        }
        this.flushDirty(d);
        this.metrics.moves.push({ kind: "superpixel-drag", ms: performance.now() - t0, lag: performance.now() - e.timeStamp });
      }
    } else if (d?.kind === "stroke") {
      const t0 = performance.now();
      for (const ev of events) this.extendStroke(this.locate(ev), null);
      this.flushDirty(d);
      this.metrics.moves.push({ kind: d.stroke.edit.op, ms: performance.now() - t0, lag: performance.now() - e.timeStamp, events: events.length });
    }
    this.updateHover();
    this.requestRender();
  }

  extendStroke(p, t0) {
    const d = this.drag;
    const path = d.stroke.edit.path;
    const last = path[path.length - 1];
    if (last && last[0] === p.x && last[1] === p.y) return;
    d.box = unionBox(d.box, d.stroke.add(p.x, p.y));
    if (t0 !== null) this.flushDirty(d);
  }

  flushDirty(d) {
    if (d.box) { this.recolor(d.box); d.box = null; }
  }

  onUp(e) {
    const d = this.drag;
    this.drag = null;
    if (!d) return;
    try {
      if (d.kind === "superpixel") {
        if (d.stroke) this.finishStroke(d);
        else this.run({ op: "click_region", level: this.level, x: d.start.px, y: d.start.py, category_id: this.categoryId, segment_id: this.targetSegmentFor(this.categoryId), protect: this.protect }, e.timeStamp);
      } else if (d.kind === "stroke") this.finishStroke(d);
    } catch (err) { this.fail(err); }
  }

  finishStroke(d) {
    this.flushDirty(d);
    const { edit, patch } = d.stroke.end();
    if (!patch.index.length && !patch.segments.size) return;
    this.commit(edit, patch);
  }

  /** Cut a thing segment with the polygon being drawn: its pixels inside become a new
   *  instance (the engine's split with vertices).  The segment is `id`, else the current one. */
  splitByPolygon(id = null) {
    const target = id ?? this.segmentId;
    const s = target != null ? this.label.segments.get(target) : null;
    if (this.polygon.length < 3 || !s || !this.categories.get(s.category_id)?.isthing) {
      toast("to cut an instance: draw a polygon (P), then Shift+Enter on the current thing segment or press its 'split' button");
      return;
    }
    const vertices = this.polygon;
    this.polygon = [];
    this.run({ op: "split", segment_id: target, vertices });
    this.requestRender();
  }

  closePolygon() {
    const vertices = this.polygon;
    this.polygon = [];
    if (vertices.length >= 3) {
      this.run({ op: "polygon", vertices, category_id: this.categoryId, segment_id: this.targetSegmentFor(this.categoryId), protect: this.protect });
    }
    this.requestRender();
  }

  // ------------------------------------------------------------------ edits
  /** Apply one edit (engine JSON form); `t0` (event time) measures the repaint. */
  run(edit, t0 = null) {
    if (!this.ready) return;
    if (!this.editable) { toast("this sample is read-only for you"); return; }
    const start = t0 ?? performance.now();
    let patch;
    try {
      switch (edit.op) {
        case "click_region": patch = clickRegion(this.label, this.hier, edit); break;
        case "fill_unlabeled": patch = fillUnlabeled(this.label, this.hier, edit); break;
        case "polygon": patch = polygon(this.label, edit); break;
        case "change_category": patch = changeCategory(this.label, edit); break;
        case "merge": patch = merge(this.label, edit); break;
        case "delete": patch = deleteSegment(this.label, edit); break;
        default: patch = applyEdit(this.label, this.hier, edit);
      }
    } catch (err) { this.fail(err); return; }
    const edited = performance.now();
    this.repaint(patch);
    const recolored = performance.now();
    this.renderNow();
    const synced = performance.now();
    if (edit.op === "click_region") {
      requestAnimationFrame(() => {
        const framed = performance.now();
        this.metrics.clicks.push({
          ms: synced - start, frameMs: framed - start, pixels: patch.index.length,
          editMs: edited - start, recolorMs: recolored - edited, drawMs: synced - recolored,
        });
        performance.measure("pk-superpixel-click", { start, end: framed });
      });
    }
    this.commit(edit, patch);
  }

  commit(edit, patch) {
    // a thing painted with "new instance" continues that instance on the next stroke
    if (["click_region", "brush", "polygon", "fill_unlabeled"].includes(edit.op) && edit.segment_id == null) {
      const cat = this.categories.get(edit.category_id);
      if (cat?.isthing) {
        for (const [id, before] of patch.segments) if (before === null && this.label.segments.has(id)) this.segmentId = id;
      }
    }
    if (patch.segments.size) this.rebuildColors();
    this.undoStack.push({ edit, patch });
    this.redoStack = [];
    this.log.push(edit);
    this.changed(["click_region", "brush", "erase", "polygon", "fill_unlabeled"].includes(edit.op));
  }

  changed(canvasEdit = false) {
    this.version++;
    if (canvasEdit) {
      // the canvas shows the edit first; the lists and the local backup follow after the frame
      this.afterFrame(() => this.refreshPanels());
      clearTimeout(this.backupTimer);
      this.backupTimer = setTimeout(() => this.backup(), 300);
    } else {
      this.backup();
      this.refreshPanels();
    }
    this.scheduleAutosave();
    this.status(`${this.log.length} edit(s) since revision ${this.logBase}${this.dirty ? " · unsaved" : ""}`);
  }

  undo() {
    const item = this.undoStack.pop();
    if (!item) return;
    const redo = this.label.applyPatch(item.patch);
    this.redoStack.push({ edit: item.edit, patch: redo });
    this.log.pop();
    if (this.log.length < this.savedLogLength) {
      // an edit that is already saved was undone: the saved revision is no prefix any more
      this.savedLogLength = this.log.length;
      this.diverged = true;
    }
    this.afterPatch(redo);
  }

  redo() {
    const item = this.redoStack.pop();
    if (!item) return;
    const undo = this.label.applyPatch(item.patch);
    this.undoStack.push({ edit: item.edit, patch: undo });
    this.log.push(item.edit);
    this.afterPatch(undo);
  }

  afterPatch(patch) {
    this.repaint(patch);
    this.version++;
    this.backup();
    this.refreshPanels();
    this.scheduleAutosave();
    this.renderNow();
  }

  fail(err) {
    if (err instanceof LabelError) toast(err.message);
    else { console.error(err); toast(String(err.message || err)); }
  }

  // ------------------------------------------------------------------ saving
  scheduleAutosave() {
    clearTimeout(this.autosaveTimer);
    if (!this.autosave || this.conflict) return;
    this.autosaveTimer = setTimeout(() => {
      if (this.drag) this.scheduleAutosave(); // never save half a stroke
      else if (this.dirty) this.save({ auto: true });
    }, 3000);
  }

  async save({ auto = false } = {}) {
    if (!this.label || !this.editable) return false;
    if (this.saving) { await this.saving; if (!this.dirty) return true; }
    if (this.conflict) { if (!auto) this.showConflict(); return false; }
    if (!this.dirty && this.revision > 0) { this.setSaveState(`nothing to save (revision ${this.revision})`); return true; }
    const version = this.version, logLength = this.log.length, base = this.revision;
    this.setSaveState("saving…");
    const job = (async () => {
      const png = await encodeIdsPNG(this.label.ids, this.label.width, this.label.height);
      return api.saveLabel(this.sampleId, png, this.label.segmentRows(), base);
    })();
    this.saving = job;
    try {
      const out = await job;
      this.revision = out.revision;
      this.savedVersion = version;
      this.savedLogLength = logLength;
      this.diverged = false;
      this.backup();
      this.sample.label_revision = out.revision;
      if (this.sample.status === "rejected") this.sample.status = "labeling";
      this.setSaveState(`saved revision ${out.revision}${auto ? " (autosave)" : ""}`);
      this.refreshSide();
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        this.conflict = { current: err.details.current_revision, base };
        clearTimeout(this.autosaveTimer);
        this.setSaveState("conflict: not saved");
        this.showConflict();
      } else {
        this.setSaveState("save failed: " + err.message);
        toast("save failed: " + err.message);
      }
      return false;
    } finally {
      this.saving = null;
    }
  }

  setSaveState(text) {
    this.saveState = text;
    const btn = this.root.querySelector('[data-act="save"]');
    if (btn) btn.title = text;
    this.status(text);
  }

  showConflict() {
    const c = this.conflict;
    const pending = this.log.length - this.savedLogLength;
    this.openModal(`
      <h2>Someone else saved this label</h2>
      <p data-ref="conflictText">You started from revision ${c.base}, but the server now has revision ${c.current}.
      Your changes were <b>not</b> saved and are still here: ${pending} edit(s) since your last save.</p>
      <div class="row">
        <button data-conflict="rebase" class="primary">Reload revision ${c.current} and re-apply my ${pending} edit(s)</button>
        <button data-conflict="discard" class="danger">Reload and discard my edits</button>
        <button data-conflict="download">Download my label (PNG)</button>
        <button data-conflict="keep">Keep editing (not saved)</button>
      </div>`);
    this.refs.dialog.querySelectorAll("[data-conflict]").forEach((b) => b.addEventListener("click", () => this.resolveConflict(b.dataset.conflict)));
  }

  async resolveConflict(how) {
    if (how === "keep") { this.closeModal(); return; }
    if (how === "download") {
      const png = await encodeIdsPNG(this.label.ids, this.label.width, this.label.height);
      const a = document.createElement("a");
      a.href = URL.createObjectURL(png);
      a.download = `${this.sample.name}-unsaved.png`;
      a.click();
      return;
    }
    const pending = this.log.slice(this.savedLogLength);
    this.closeModal();
    await this.hierReady;
    this.sample = await api.sample(this.sampleId);
    const loaded = await this.fetchLabel(this.sample.label_revision);
    this.conflict = null;
    this.installLabel(loaded.label, loaded.revision);
    if (how === "rebase") {
      let skipped = 0;
      for (const edit of pending) {
        try {
          const patch = applyEdit(this.label, this.hier, edit);
          this.undoStack.push({ edit, patch });
          this.log.push(edit);
        } catch { skipped++; }
      }
      this.rebuildColors();
      this.recolor(null);
      this.version++;
      this.refreshPanels();
      toast(`re-applied ${pending.length - skipped} edit(s) on revision ${loaded.revision}${skipped ? `; ${skipped} no longer applied` : ""}`);
      this.scheduleAutosave();
    } else {
      this.backup();
      toast(`reloaded revision ${loaded.revision}; your edits were discarded`);
    }
    this.refreshSide();
  }

  async acceptPrelabel(id) {
    if (this.dirty && !confirm("You have unsaved edits; using a prelabel replaces the label. Continue?")) return;
    try {
      const out = await api.acceptPrelabel(id, this.revision);
      const loaded = await this.fetchLabel(out.revision);
      this.sample = await api.sample(this.sampleId);
      this.installLabel(loaded.label, loaded.revision);
      this.prelabelList = await api.prelabels(this.sampleId);
      this.refreshSide();
      toast(`prelabel is now revision ${out.revision}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        this.conflict = { current: err.details.current_revision, base: this.revision };
        this.showConflict();
      } else toast(err.message);
    }
  }

  async submit() {
    if (this.dirty && !(await this.save())) return;
    try {
      this.sample = await api.submit(this.sampleId, this.revision);
      this.refreshSide();
      toast("submitted for review");
      this.onExit?.(this.sample.dataset_id, "submitted");
    } catch (err) { toast(err.message); }
  }

  async review(accept) {
    const comment = this.refs.reviewComment.value.trim();
    if (!accept && !comment) { toast("a rejection needs a comment for the labeler"); this.refs.reviewComment.focus(); return; }
    if (this.dirty && !(await this.save())) return;
    try {
      this.sample = await api.review(this.sampleId, accept, comment, this.revision);
      this.comments = await api.comments(this.sampleId);
      this.refreshSide();
      toast(accept ? "accepted" : "rejected");
      this.onExit?.(this.sample.dataset_id, accept ? "accepted" : "rejected");
    } catch (err) { toast(err.message); }
  }

  async postComment() {
    const text = this.refs.commentText.value.trim();
    if (!text) return;
    try {
      await api.addComment(this.sampleId, text);
      this.refs.commentText.value = "";
      this.comments = await api.comments(this.sampleId);
      this.refreshSide();
    } catch (err) { toast(err.message); }
  }

  // ------------------------------------------------------------------ local backup
  get backupKey() { return `panokit.unsaved.${this.sampleId}`; }

  /** Keep the unsaved edits in localStorage, so a closed tab or a crash loses nothing. */
  backup() {
    try {
      if (!this.dirty) { localStorage.removeItem(this.backupKey); return; }
      const record = this.diverged
        ? { base: this.logBase, full: true, edits: this.log }
        : { base: this.revision, full: false, edits: this.log.slice(this.savedLogLength) };
      localStorage.setItem(this.backupKey, JSON.stringify(record));
    } catch { /* storage full or disabled: only the server copy remains */ }
  }

  /** On open: edits this browser kept but never saved are offered back. */
  offerRestore() {
    let record = null;
    try { record = JSON.parse(localStorage.getItem(this.backupKey) || "null"); } catch { record = null; }
    if (!record || !record.edits?.length || !this.editable) return;
    this.openModal(`
      <h2>Unsaved edits found</h2>
      <p data-ref="restoreText">This browser kept ${record.edits.length} edit(s) on this sample that were never saved
      (made on revision ${record.base}; the server has revision ${this.revision}).</p>
      <div class="row"><button data-restore="yes" class="primary">Restore my edits</button>
      <button data-restore="no" class="danger">Discard them</button></div>`);
    this.refs.dialog.querySelectorAll("[data-restore]").forEach((b) => b.addEventListener("click", async () => {
      this.closeModal();
      if (b.dataset.restore !== "yes") { localStorage.removeItem(this.backupKey); return; }
      await this.hierReady;
      const current = this.revision;
      if (record.full && record.base !== current) {
        const older = await this.fetchLabel(record.base);
        this.installLabel(older.label, current);
        this.logBase = record.base;
      }
      let skipped = 0;
      for (const edit of record.edits) {
        try {
          const patch = applyEdit(this.label, this.hier, edit);
          this.undoStack.push({ edit, patch });
          this.log.push(edit);
        } catch { skipped++; }
      }
      this.rebuildColors();
      this.recolor(null);
      this.changed();
      toast(`restored ${record.edits.length - skipped} unsaved edit(s)${skipped ? `; ${skipped} no longer applied` : ""}`);
    }));
  }

  // ------------------------------------------------------------------ test hooks
  /** Client (CSS) coordinates of the centre of image pixel (px, py). */
  screenOf(px, py) {
    const r = this.canvas.getBoundingClientRect(), v = this.view;
    return [r.left + v.tx + (px + 0.5) * v.scale, r.top + v.ty + (py + 0.5) * v.scale];
  }

  /** The current label as {png: base64 RGB24 PNG, segments: rows}. */
  async exportLabel() {
    const blob = await encodeIdsPNG(this.label.ids, this.label.width, this.label.height);
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return { png: btoa(text), segments: this.label.segmentRows(), revision: this.revision, logBase: this.logBase, log: this.log };
  }

  // ------------------------------------------------------------------ dialogs, keys
  openModal(html) {
    this.refs.dialog.innerHTML = html;
    this.refs.modal.classList.remove("hidden");
  }

  closeModal() { this.refs.modal.classList.add("hidden"); }

  showHelp() {
    const rows = SHORTCUTS.map(([k, t]) => `<tr><td><kbd>${esc(k)}</kbd></td><td>${esc(t)}</td></tr>`).join("");
    const tools = Object.values(TOOLS).map((t) => `<tr><td><kbd>${t.key.toUpperCase()}</kbd> ${esc(t.name)}</td><td>${esc(t.help)}</td></tr>`).join("");
    this.openModal(`<h2>Keyboard shortcuts</h2><table class="help">${tools}${rows}</table><div class="row"><button data-act="closeHelp">Close</button></div>`);
    this.refs.dialog.querySelector('[data-act="closeHelp"]').addEventListener("click", () => this.closeModal());
    this.helpOpen = true;
  }

  onKey(e) {
    if (e.target.matches("input[type=text], input:not([type]), textarea, select")) return;
    const k = e.key, ctrl = e.ctrlKey || e.metaKey;
    if (k === "Escape") {
      if (!this.refs.modal.classList.contains("hidden") && !this.conflict) this.closeModal();
      this.polygon = []; this.requestRender(); return;
    }
    if (!this.refs.modal.classList.contains("hidden")) return;
    if (ctrl && (k === "z" || k === "Z")) { e.preventDefault(); if (e.shiftKey) this.redo(); else this.undo(); return; }
    if (ctrl && (k === "y" || k === "Y")) { e.preventDefault(); this.redo(); return; }
    if (ctrl && (k === "s" || k === "S")) { e.preventDefault(); this.save(); return; }
    if (ctrl || e.altKey) return;
    if (e.code === "Space") { this.spaceDown = true; e.preventDefault(); return; }
    for (const [id, t] of Object.entries(TOOLS)) if (k.toLowerCase() === t.key && !e.shiftKey) { this.setTool(id); return; }
    const stage = this.refs.stage;
    switch (k) {
      case "F": this.actions.fillAll(); break;
      case "[": this.setRadius(Math.round(this.radius / 1.25)); break;
      case "]": this.setRadius(Math.round(this.radius * 1.25) + 1); break;
      case ",": this.setLevel(this.level - 1); break;
      case ".": this.setLevel(this.level + 1); break;
      case "n": case "N": this.newInstance(); break;
      case "x": case "X": this.protect = !this.protect; this.refs.protect.checked = this.protect; this.refreshPanels(); break;
      case "g": case "G": this.snap = !this.snap; this.refs.snap.checked = this.snap; break;
      case "o": case "O": this.outline = !this.outline; this.refs.outline.checked = this.outline; this.recolor(null); break;
      case "r": case "R": this.setShowRegions(!this.showRegions); break;
      case "i": case "I": this.byInstance = !this.byInstance; this.refs.byInstance.checked = this.byInstance; this.rebuildColors(); this.recolor(null); this.refreshSegments(); break;
      case "a": this.opacity = Math.max(0, this.opacity - 0.1); this.refs.opacity.value = this.opacity * 100; this.requestRender(); break;
      case "z": this.opacity = Math.min(1, this.opacity + 0.1); this.refs.opacity.value = this.opacity * 100; this.requestRender(); break;
      case "+": case "=": this.zoomAt(1.25, stage.clientWidth / 2, stage.clientHeight / 2); break;
      case "-": this.zoomAt(0.8, stage.clientWidth / 2, stage.clientHeight / 2); break;
      case "0": this.userView = false; this.fit(); break;
      case "Enter": if (this.tool === "polygon") { if (e.shiftKey) this.splitByPolygon(); else this.closePolygon(); } break;
      case "Backspace": if (this.polygon.length) { this.polygon.pop(); this.requestRender(); } break;
      case "Delete": this.deleteSelected(); break;
      case "?": this.showHelp(); break;
      default:
        if (/^[1-9]$/.test(k)) {
          const cat = this.dataset.categories[+k - 1];
          if (cat) this.pickCategory(cat.id);
        }
    }
  }
}
