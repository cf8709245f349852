// Superpixel hierarchy: one fine map + a merge table, replayed exactly like
// panokit.annotate.SuperpixelHierarchy (union-find; the representative of a cluster is its
// smallest fine id; at a level, regions are numbered by increasing representative).
import { inflate } from "./png.js";

export class Hierarchy {
  constructor(width, height, fine, merges, levels) {
    this.width = width;
    this.height = height;
    this.fine = fine; // Uint16Array | Uint32Array, H*W
    this.merges = merges; // Int32Array, 2*M
    this.levels = levels; // region counts, coarse -> fine
    this.numFine = levels[levels.length - 1];
    this.luts = levelLuts(merges, this.numFine, levels);
    this._csr();
    this._members = new Array(levels.length).fill(null);
    this._boxes = new Array(levels.length).fill(null);
  }

  static async fromWire(buffer) {
    const bytes = new Uint8Array(buffer);
    const magic = String.fromCharCode(...bytes.subarray(0, 4));
    if (magic !== "PKSP") throw new Error("not a superpixel payload");
    const size = new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + size)));
    const body = await inflate(bytes.subarray(8 + size));
    const m = header.merges;
    const n = header.width * header.height;
    const merges = new Int32Array(body.buffer.slice(body.byteOffset, body.byteOffset + 8 * m));
    const start = body.byteOffset + 8 * m;
    const fine = header.dtype === "uint16"
      ? new Uint16Array(body.buffer.slice(start, start + 2 * n))
      : new Uint32Array(body.buffer.slice(start, start + 4 * n));
    return new Hierarchy(header.width, header.height, fine, merges, header.levels);
  }

  // pixels grouped by fine region (counting sort) and each fine region's bounding box
  _csr() {
    const k = this.numFine, fine = this.fine, w = this.width;
    const start = new Uint32Array(k + 1);
    for (let i = 0; i < fine.length; i++) start[fine[i] + 1]++;
    for (let r = 0; r < k; r++) start[r + 1] += start[r];
    const fill = start.slice(0, k);
    const pixels = new Uint32Array(fine.length);
    const box = new Int32Array(4 * k);
    for (let r = 0; r < k; r++) { box[4 * r] = 1 << 30; box[4 * r + 1] = 1 << 30; box[4 * r + 2] = -1; box[4 * r + 3] = -1; }
    for (let i = 0, y = 0, x = 0; i < fine.length; i++) {
      const r = fine[i];
      pixels[fill[r]++] = i;
      const b = 4 * r;
      if (x < box[b]) box[b] = x;
      if (y < box[b + 1]) box[b + 1] = y;
      if (x > box[b + 2]) box[b + 2] = x;
      if (y > box[b + 3]) box[b + 3] = y;
      if (++x === w) { x = 0; y++; }
    }
    this.fineStart = start;
    this.finePixels = pixels;
    this.fineBox = box;
  }

  regionAt(level, x, y) {
    return this.luts[level][this.fine[y * this.width + x]];
  }

  // fine ids of every region at a level (CSR), built on first use
  members(level) {
    if (!this._members[level]) {
      const lut = this.luts[level], n = this.levels[level];
      const start = new Uint32Array(n + 1);
      for (let f = 0; f < lut.length; f++) start[lut[f] + 1]++;
      for (let r = 0; r < n; r++) start[r + 1] += start[r];
      const fill = start.slice(0, n);
      const list = new Uint32Array(lut.length);
      for (let f = 0; f < lut.length; f++) list[fill[lut[f]]++] = f;
      this._members[level] = { start, list };
    }
    return this._members[level];
  }

  /** Flat pixel indices of one region at a level (Uint32Array). */
  regionPixels(level, region) {
    const { start, list } = this.members(level);
    let total = 0;
    for (let j = start[region]; j < start[region + 1]; j++) {
      const f = list[j];
      total += this.fineStart[f + 1] - this.fineStart[f];
    }
    const out = new Uint32Array(total);
    let o = 0;
    for (let j = start[region]; j < start[region + 1]; j++) {
      const f = list[j];
      out.set(this.finePixels.subarray(this.fineStart[f], this.fineStart[f + 1]), o);
      o += this.fineStart[f + 1] - this.fineStart[f];
    }
    return out;
  }

  /** [x0, y0, x1, y1] (inclusive) of a region at a level. */
  regionBox(level, region) {
    const { start, list } = this.members(level);
    let x0 = 1 << 30, y0 = 1 << 30, x1 = -1, y1 = -1;
    const b = this.fineBox;
    for (let j = start[region]; j < start[region + 1]; j++) {
      const f = 4 * list[j];
      if (b[f] < x0) x0 = b[f];
      if (b[f + 1] < y0) y0 = b[f + 1];
      if (b[f + 2] > x1) x1 = b[f + 2];
      if (b[f + 3] > y1) y1 = b[f + 3];
    }
    return [x0, y0, x1, y1];
  }
}

/** Replay the merge table, snapshotting the lookup table fine id -> region id per level. */
export function levelLuts(merges, count, levels) {
  const par = new Int32Array(count);
  for (let i = 0; i < count; i++) par[i] = i;
  const find = (i) => {
    let root = i;
    while (par[root] !== root) root = par[root];
    while (par[i] !== root) { const next = par[i]; par[i] = root; i = next; }
    return root;
  };
  const wanted = new Map(levels.map((n) => [count - n, n]));
  const luts = new Map();
  const steps = merges.length / 2;
  for (let step = 0; step <= steps; step++) {
    if (wanted.has(step)) {
      const roots = new Int32Array(count);
      const isRoot = new Uint8Array(count);
      for (let i = 0; i < count; i++) { roots[i] = find(i); isRoot[roots[i]] = 1; }
      const rank = new Int32Array(count);
      for (let i = 0, r = 0; i < count; i++) if (isRoot[i]) rank[i] = r++;
      const lut = new Int32Array(count);
      for (let i = 0; i < count; i++) lut[i] = rank[roots[i]];
      luts.set(wanted.get(step), lut);
    }
    if (step < steps) {
      const ra = find(merges[2 * step]), rb = find(merges[2 * step + 1]);
      if (ra === rb) throw new Error(`merge ${step} joins regions already joined`);
      if (ra < rb) par[rb] = ra; else par[ra] = rb;
    }
  }
  return levels.map((n) => luts.get(n));
}
