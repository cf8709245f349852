// The label being edited and the edit operations of panokit.annotate.edits, with the same
// meaning element for element.  Edits change the label in place (the browser cannot afford a
// copy per stroke) and return the inverse patch; every applied edit is also recorded in the
// engine's JSON form (edit_to_dict) so the server side can replay it exactly.
import { IndexList, polygonPixels, segmentPixels } from "./geometry.js";

export const VOID = 0;

export class LabelError extends Error {}

export class Label {
  /**
   * @param {number} width
   * @param {number} height
   * @param {Uint32Array} ids  segment id per pixel (0 = void)
   * @param {Map<number, {category_id:number, iscrowd:boolean, attributes:object}>} segments
   * @param {{categories: Array<{id:number, name:string, isthing:boolean|number, color:number[]}>, void_id:number}} taxonomy
   */
  constructor(width, height, ids, segments, taxonomy) {
    this.width = width;
    this.height = height;
    this.ids = ids;
    this.segments = segments;
    this.categories = new Map(taxonomy.categories.map((c) => [c.id, c]));
    this.voidId = taxonomy.void_id ?? 0;
    this.counts = new Int32Array(16);
    for (let i = 0; i < ids.length; i++) {
      const v = ids[i];
      if (v >= this.counts.length) this._grow(v);
      this.counts[v]++;
    }
  }

  static empty(width, height, taxonomy) {
    return new Label(width, height, new Uint32Array(width * height), new Map(), taxonomy);
  }

  _grow(id) {
    let n = this.counts.length;
    while (n <= id) n *= 2;
    const next = new Int32Array(n);
    next.set(this.counts);
    this.counts = next;
  }

  area(id) { return id < this.counts.length ? this.counts[id] : 0; }

  isthing(categoryId) {
    const cat = this.categories.get(categoryId);
    if (!cat || categoryId === this.voidId) throw new LabelError(`category ${categoryId} is not in the taxonomy`);
    return Boolean(cat.isthing);
  }

  newId() {
    let top = 0;
    for (const id of this.segments.keys()) if (id > top) top = id;
    return top + 1;
  }

  /** [segment id, segment to create or null]: the engine's _target. */
  target(categoryId, segmentId) {
    const segs = this.segments;
    if (this.isthing(categoryId)) {
      if (segmentId === null || segmentId === undefined) return [this.newId(), seg(categoryId)];
      const existing = segs.get(segmentId);
      if (!existing) {
        if (segmentId <= 0) throw new LabelError(`segment id must be > 0, got ${segmentId}`);
        return [segmentId, seg(categoryId)];
      }
      if (existing.category_id !== categoryId) throw new LabelError(`segment ${segmentId} has category ${existing.category_id}, not ${categoryId}`);
      return [segmentId, null];
    }
    const same = [...segs.entries()].filter(([, s]) => s.category_id === categoryId).map(([id]) => id).sort((a, b) => a - b);
    if (segmentId != null && same.length && !same.includes(segmentId)) throw new LabelError(`stuff category ${categoryId} already has segment ${same[0]}`);
    if (segmentId != null && segs.has(segmentId) && !same.includes(segmentId)) throw new LabelError(`segment ${segmentId} has category ${segs.get(segmentId).category_id}, not ${categoryId}`);
    if (same.length) return [same[0], null];
    const id = segmentId ?? this.newId();
    if (id <= 0) throw new LabelError(`segment id must be > 0, got ${id}`);
    return [id, seg(categoryId)];
  }

  /**
   * Write `value` at `index` (only void pixels when `protect`), apply `create` (Map id ->
   * segment or null), drop emptied segments; returns the inverse patch.  The engine's _write.
   */
  write(index, value, protect = false, create = null) {
    const ids = this.ids, w = this.width;
    const changedAll = new Uint32Array(index.length);
    const oldAll = new Uint32Array(index.length);
    if (value >= this.counts.length) this._grow(value);
    const counts = this.counts;
    const touched = new Set();
    let lo = Infinity, hi = -1, n = 0, lastOld = -1;
    for (let k = 0; k < index.length; k++) {
      const i = index[k];
      const o = ids[i];
      if (o === value || (protect && o !== VOID)) continue;
      ids[i] = value;
      changedAll[n] = i;
      oldAll[n++] = o;
      counts[o]--;
      if (o !== lastOld) { touched.add(o); lastOld = o; }
      if (i < lo) lo = i;
      if (i > hi) hi = i;
    }
    counts[value] += n;
    // undo stacks keep these: copy when most of the buffer is unused
    const trim = n < index.length >> 1;
    const changed = trim ? changedAll.slice(0, n) : changedAll.subarray(0, n);
    const old = trim ? oldAll.slice(0, n) : oldAll.subarray(0, n);
    // the dirty box: rows from the first and last index, columns from a scan of the changes
    let x0 = w, y0 = 0, x1 = -1, y1 = -1;
    if (n) {
      y0 = (lo / w) | 0; y1 = (hi / w) | 0;
      if (y0 === y1) { x0 = lo - y0 * w; x1 = hi - y0 * w; } else {
        for (let k = 0; k < n; k++) {
          const x = changed[k] % w;
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (x0 === 0 && x1 === w - 1) break;
        }
      }
    }
    const undo = new Map();
    if (create) {
      for (const [id, s] of create) {
        undo.set(id, this.segments.get(id) ?? null);
        if (s === null) this.segments.delete(id); else this.segments.set(id, s);
      }
      if (changed.length === 0) {
        for (const [id, s] of create) {
          if (s !== null && undo.get(id) === null) { this.segments.delete(id); undo.delete(id); }
        }
      }
    }
    for (const id of touched) {
      if (id !== VOID && id !== value && counts[id] === 0 && this.segments.has(id)) {
        if (!undo.has(id)) undo.set(id, this.segments.get(id));
        this.segments.delete(id);
      }
    }
    return { index: changed, values: old, segments: undo, box: x1 < 0 ? null : [x0, y0, x1, y1] };
  }

  /** Apply a patch (from write or applyPatch); returns the patch that redoes / undoes it. */
  applyPatch(patch) {
    const ids = this.ids, w = this.width;
    const back = new Uint32Array(patch.index.length);
    let x0 = w, y0 = this.height, x1 = -1, y1 = -1;
    for (let k = 0; k < patch.index.length; k++) {
      const i = patch.index[k], v = patch.values[k];
      back[k] = ids[i];
      if (v >= this.counts.length) this._grow(v);
      this.counts[ids[i]]--;
      this.counts[v]++;
      ids[i] = v;
      const y = (i / w) | 0, x = i - y * w;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
    const undo = new Map();
    for (const [id, s] of patch.segments) {
      undo.set(id, this.segments.get(id) ?? null);
      if (s === null) this.segments.delete(id); else this.segments.set(id, s);
    }
    return { index: patch.index, values: back, segments: undo, box: x1 < 0 ? null : [x0, y0, x1, y1] };
  }

  segmentPixels(segmentId) {
    if (!this.segments.has(segmentId)) throw new LabelError(`segment ${segmentId} does not exist`);
    const out = new IndexList(Math.max(16, this.area(segmentId)));
    const ids = this.ids;
    for (let i = 0; i < ids.length; i++) if (ids[i] === segmentId) out.push(i);
    return out.view();
  }

  /** Segment table as wire rows, sorted by id. */
  segmentRows() {
    return [...this.segments.entries()].sort((a, b) => a[0] - b[0]).map(([id, s]) => {
      const row = { id, category_id: s.category_id, iscrowd: Boolean(s.iscrowd) };
      if (s.attributes && Object.keys(s.attributes).length) row.attributes = s.attributes;
      return row;
    });
  }
}

function seg(categoryId) { return { category_id: categoryId, iscrowd: false, attributes: {} }; }

export function mergePatches(parts) {
  let total = 0;
  for (const p of parts) total += p.index.length;
  const index = new Uint32Array(total), values = new Uint32Array(total);
  const segments = new Map();
  let o = 0, box = null;
  for (const p of parts) {
    index.set(p.index, o); values.set(p.values, o); o += p.index.length;
    for (const [id, s] of p.segments) if (!segments.has(id)) segments.set(id, s);
    box = unionBox(box, p.box);
  }
  return { index, values, segments, box };
}

export function unionBox(a, b) {
  if (!a) return b;
  if (!b) return a;
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[2], b[2]), Math.max(a[3], b[3])];
}

// ----------------------------------------------------------------------------- edits
// Each returns the inverse patch; `hier` is a Hierarchy (superpixels) where needed.

export function clickRegion(label, hier, edit) {
  needHier(hier, "click_region");
  checkInside(label, edit.x, edit.y);
  const region = hier.regionAt(edit.level, edit.x, edit.y);
  const index = hier.regionPixels(edit.level, region);
  const [target, create] = label.target(edit.category_id, edit.segment_id);
  return label.write(index, target, edit.protect, create ? new Map([[target, create]]) : null);
}

export function polygon(label, edit) {
  const index = polygonPixels(label.width, label.height, edit.vertices).view();
  const [target, create] = label.target(edit.category_id, edit.segment_id);
  return label.write(index, target, edit.protect, create ? new Map([[target, create]]) : null);
}

export function fillUnlabeled(label, hier, edit) {
  let index;
  if ((edit.x == null) !== (edit.y == null)) throw new LabelError("fill_unlabeled needs both x and y, or neither");
  if (edit.x == null) {
    const out = new IndexList(1 << 16);
    for (let i = 0; i < label.ids.length; i++) if (label.ids[i] === VOID) out.push(i);
    index = out.view();
  } else {
    checkInside(label, edit.x, edit.y);
    if (edit.level != null) {
      needHier(hier, "fill_unlabeled");
      index = hier.regionPixels(edit.level, hier.regionAt(edit.level, edit.x, edit.y));
    } else {
      index = voidComponent(label, edit.x, edit.y);
    }
  }
  const [target, create] = label.target(edit.category_id, edit.segment_id);
  return label.write(index, target, true, create ? new Map([[target, create]]) : null);
}

function voidComponent(label, x, y) {
  const { width: w, height: h, ids } = label;
  const out = new IndexList();
  const start = y * w + x;
  if (ids[start] !== VOID) return out.view();
  const seen = new Uint8Array(ids.length);
  const stack = [start];
  seen[start] = 1;
  while (stack.length) {
    const i = stack.pop();
    out.push(i);
    const cy = (i / w) | 0, cx = i - cy * w;
    if (cx > 0 && !seen[i - 1] && ids[i - 1] === VOID) { seen[i - 1] = 1; stack.push(i - 1); }
    if (cx < w - 1 && !seen[i + 1] && ids[i + 1] === VOID) { seen[i + 1] = 1; stack.push(i + 1); }
    if (cy > 0 && !seen[i - w] && ids[i - w] === VOID) { seen[i - w] = 1; stack.push(i - w); }
    if (cy < h - 1 && !seen[i + w] && ids[i + w] === VOID) { seen[i + w] = 1; stack.push(i + w); }
  }
  return out.view();
}

export function changeCategory(label, edit) {
  const s = label.segments.get(edit.segment_id);
  if (!s) throw new LabelError(`segment ${edit.segment_id} does not exist`);
  const thing = label.isthing(edit.category_id);
  if (!thing) {
    const same = [...label.segments.entries()]
      .filter(([id, o]) => o.category_id === edit.category_id && id !== edit.segment_id)
      .map(([id]) => id).sort((a, b) => a - b);
    if (same.length) {
      return label.write(label.segmentPixels(edit.segment_id), same[0], false, new Map([[edit.segment_id, null]]));
    }
  }
  const next = { category_id: edit.category_id, iscrowd: s.iscrowd, attributes: s.attributes };
  return label.write(new Uint32Array(0), 0, false, new Map([[edit.segment_id, next]]));
}

export function merge(label, edit) {
  const ids = [...new Set(edit.segment_ids)].sort((a, b) => a - b);
  const missing = ids.filter((s) => !label.segments.has(s));
  if (missing.length) throw new LabelError(`segments ${missing} do not exist`);
  const into = edit.into ?? ids[0];
  if (!label.segments.has(into)) throw new LabelError(`segment ${into} does not exist`);
  const others = ids.filter((s) => s !== into);
  if (!others.length) return label.write(new Uint32Array(0), into);
  const set = new Set(others);
  const out = new IndexList();
  for (let i = 0; i < label.ids.length; i++) if (set.has(label.ids[i])) out.push(i);
  return label.write(out.view(), into, false, new Map(others.map((s) => [s, null])));
}

/**
 * Split a thing segment: pixels inside `vertices` become a new instance; without vertices,
 * every 4-connected component but the largest does (larger first, ties by first pixel).
 */
export function split(label, edit) {
  const id = edit.segment_id;
  const s = label.segments.get(id);
  if (!s) throw new LabelError(`segment ${id} does not exist`);
  if (!label.isthing(s.category_id)) throw new LabelError(`segment ${id} is stuff (category ${s.category_id}) and cannot be split`);
  const fresh = () => ({ category_id: s.category_id, iscrowd: s.iscrowd, attributes: {} });
  const ids = label.ids;
  if (edit.vertices != null) {
    const inside = polygonPixels(label.width, label.height, edit.vertices).view().filter((i) => ids[i] === id);
    const next = label.newId();
    return label.write(inside, next, false, new Map([[next, fresh()]]));
  }
  const pixels = label.segmentPixels(id); // raster order
  const w = label.width;
  let x0 = w, x1 = -1;
  for (const i of pixels) { const x = i % w; if (x < x0) x0 = x; if (x > x1) x1 = x; }
  const y0 = (pixels[0] / w) | 0, y1 = (pixels[pixels.length - 1] / w) | 0;
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  const comp = new Int32Array(bw * bh).fill(-1);
  const local = (i) => (((i / w) | 0) - y0) * bw + (i % w) - x0;
  const members = [];
  for (const start of pixels) {
    if (comp[local(start)] !== -1) continue;
    const k = members.length, list = [start], stack = [start];
    comp[local(start)] = k;
    while (stack.length) {
      const i = stack.pop();
      const y = (i / w) | 0, x = i - y * w;
      for (const j of [x > x0 ? i - 1 : -1, x < x1 ? i + 1 : -1, y > y0 ? i - w : -1, y < y1 ? i + w : -1]) {
        if (j >= 0 && ids[j] === id && comp[local(j)] === -1) { comp[local(j)] = k; list.push(j); stack.push(j); }
      }
    }
    members.push(list);
  }
  if (members.length <= 1) return label.write(new Uint32Array(0), id);
  const order = members.map((list, k) => k).sort((a, b) => members[b].length - members[a].length || a - b);
  const parts = [];
  for (const k of order.slice(1)) {
    const next = label.newId();
    parts.push(label.write(Uint32Array.from(members[k]), next, false, new Map([[next, fresh()]])));
  }
  return mergePatches(parts);
}

export function deleteSegment(label, edit) {
  return label.write(label.segmentPixels(edit.segment_id), VOID, false, new Map([[edit.segment_id, null]]));
}

/**
 * A brush or eraser stroke painted as the pointer moves: begin() / extend() / end().
 * The union of its pieces is exactly the engine's Brush/Erase over the whole path.
 */
export class Stroke {
  constructor(label, hier, edit) {
    this.label = label;
    this.hier = hier;
    this.edit = { ...edit, path: [] };
    this.parts = [];
    if (edit.snap_level != null) {
      needHier(hier, edit.op);
      this.touched = new Uint8Array(hier.levels[edit.snap_level]);
    }
    if (edit.op === "brush") {
      const [target, create] = label.target(edit.category_id, edit.segment_id);
      this.value = target;
      this.create = create ? new Map([[target, create]]) : null;
    } else {
      this.value = VOID;
      this.create = null;
    }
  }

  /** Add a path point (engine coordinates); returns the dirty box of what changed. */
  add(x, y) {
    const path = this.edit.path;
    const [ax, ay] = path.length ? path[path.length - 1] : [x, y];
    path.push([x, y]);
    const list = new IndexList(256);
    segmentPixels(this.label.width, this.label.height, ax, ay, x, y, this.edit.radius, list);
    let index = list.view();
    if (this.touched) index = this._snap(index);
    if (this.edit.op === "erase" && this.edit.segment_id != null) {
      const ids = this.label.ids, sid = this.edit.segment_id;
      index = index.filter((i) => ids[i] === sid);
    }
    const part = this.label.write(index, this.value, Boolean(this.edit.protect), this.create);
    this.parts.push(part);
    return part.box;
  }

  _snap(index) {
    const { fine, luts } = this.hier;
    const lut = luts[this.edit.snap_level];
    const fresh = [];
    for (let k = 0; k < index.length; k++) {
      const r = lut[fine[index[k]]];
      if (!this.touched[r]) { this.touched[r] = 1; fresh.push(r); }
    }
    if (!fresh.length) return new Uint32Array(0);
    const pieces = fresh.map((r) => this.hier.regionPixels(this.edit.snap_level, r));
    const out = new Uint32Array(pieces.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of pieces) { out.set(p, o); o += p.length; }
    return out;
  }

  end() {
    return { edit: this.edit, patch: mergePatches(this.parts) };
  }
}

function needHier(hier, op) {
  if (!hier) throw new LabelError(`the ${op} edit needs superpixels, which are not ready yet`);
}

function checkInside(label, x, y) {
  if (!(x >= 0 && y >= 0 && x < label.width && y < label.height)) {
    throw new LabelError(`pixel (x=${x}, y=${y}) lies outside the ${label.height}x${label.width} image`);
  }
}

/** Apply one edit in the engine's JSON form (not strokes); returns the inverse patch. */
export function applyEdit(label, hier, edit) {
  switch (edit.op) {
    case "click_region": return clickRegion(label, hier, edit);
    case "polygon": return polygon(label, edit);
    case "fill_unlabeled": return fillUnlabeled(label, hier, edit);
    case "change_category": return changeCategory(label, edit);
    case "merge": return merge(label, edit);
    case "delete": return deleteSegment(label, edit);
    case "split": return split(label, edit);
    case "brush":
    case "erase": {
      const stroke = new Stroke(label, hier, edit);
      for (const [x, y] of edit.path) stroke.add(x, y);
      return stroke.end().patch;
    }
    default: throw new LabelError(`unknown edit op ${edit.op}`);
  }
}
