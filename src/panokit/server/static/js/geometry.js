// Rasterisation rules of panokit.annotate.geometry, operation for operation (same float64
// arithmetic in the same order), so the browser and the engine select the same pixels.
// Coordinates are (x, y) with pixel (row r, column c) centred at (x = c, y = r).

export function segmentDist2(px, py, ax, ay, bx, by) {
  const dx = bx - ax, dy = by - ay;
  const len2 = dx * dx + dy * dy;
  let t = 0;
  if (len2 > 0) {
    t = ((px - ax) * dx + (py - ay) * dy) / len2;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
  }
  const ex = (px - ax) - t * dx, ey = (py - ay) - t * dy;
  return ex * ex + ey * ey;
}

/** Pixels within `radius` of the segment a-b (a disk when a == b), pushed into `out`. */
export function segmentPixels(width, height, ax, ay, bx, by, radius, out) {
  const x0 = Math.max(Math.floor(Math.min(ax, bx) - radius), 0);
  const x1 = Math.min(Math.ceil(Math.max(ax, bx) + radius), width - 1);
  const y0 = Math.max(Math.floor(Math.min(ay, by) - radius), 0);
  const y1 = Math.min(Math.ceil(Math.max(ay, by) + radius), height - 1);
  const r2 = radius * radius;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      if (segmentDist2(x, y, ax, ay, bx, by) <= r2) out.push(y * width + x);
    }
  }
  return [x0, y0, x1, y1];
}

/** Pixels whose centres are inside the polygon (even-odd, half-open in y). */
export function polygonPixels(width, height, vertices) {
  const out = new IndexList();
  const n = vertices.length;
  if (n < 3) return out;
  let minY = Infinity, maxY = -Infinity;
  for (const [, y] of vertices) { if (y < minY) minY = y; if (y > maxY) maxY = y; }
  const r0 = Math.max(Math.ceil(minY), 0), r1 = Math.min(Math.floor(maxY), height - 1);
  const xs = [];
  for (let row = r0; row <= r1; row++) {
    xs.length = 0;
    for (let i = 0; i < n; i++) {
      const [x0, y0] = vertices[i];
      const [x1, y1] = vertices[(i + 1) % n];
      const lo = Math.min(y0, y1), hi = Math.max(y0, y1);
      if (lo <= row && row < hi) xs.push(x0 + (row - y0) * (x1 - x0) / (y1 - y0));
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      const c0 = Math.max(Math.ceil(xs[k]), 0);
      const c1 = Math.min(Math.ceil(xs[k + 1]) - 1, width - 1);
      for (let c = c0; c <= c1; c++) out.push(row * width + c);
    }
  }
  return out;
}

/** A growable Uint32Array of flat pixel indices. */
export class IndexList {
  constructor(capacity = 1024) { this.data = new Uint32Array(capacity); this.length = 0; }
  push(v) {
    if (this.length === this.data.length) {
      const next = new Uint32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  view() { return this.data.subarray(0, this.length); }
}
