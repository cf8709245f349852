// Exact PNG encode/decode for segment-id images (RGB24: id = R + 256 G + 65536 B).
// Decoding through a canvas could alter values (colour management); this codec never does.

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

let crcTable = null;
function crc32(bytes, start, end, crc = 0xffffffff) {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  for (let i = start; i < end; i++) crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return crc;
}

async function pipe(bytes, stream) {
  const blob = new Blob([bytes]);
  const out = await new Response(blob.stream().pipeThrough(stream)).arrayBuffer();
  return new Uint8Array(out);
}

export const inflate = (bytes) => pipe(bytes, new DecompressionStream("deflate"));
export const deflate = (bytes) => pipe(bytes, new CompressionStream("deflate"));

function paeth(a, b, c) {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/** Decode an 8-bit RGB/RGBA/grey PNG to {width, height, channels, pixels: Uint8Array}. */
export async function decodePNG(buffer) {
  const bytes = new Uint8Array(buffer);
  for (let i = 0; i < 8; i++) if (bytes[i] !== SIGNATURE[i]) throw new Error("not a PNG");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8, width = 0, height = 0, depth = 0, colorType = 0, interlace = 0;
  const parts = [];
  let total = 0;
  while (pos < bytes.length) {
    const len = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    const data = bytes.subarray(pos + 8, pos + 8 + len);
    if (type === "IHDR") {
      width = view.getUint32(pos + 8); height = view.getUint32(pos + 12);
      depth = data[8]; colorType = data[9]; interlace = data[12];
    } else if (type === "IDAT") { parts.push(data); total += len; }
    else if (type === "IEND") break;
    pos += 12 + len;
  }
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[colorType];
  if (depth !== 8 || !channels || interlace) {
    throw new Error(`unsupported PNG (bit depth ${depth}, colour type ${colorType}, interlace ${interlace})`);
  }
  const joined = new Uint8Array(total);
  let o = 0;
  for (const p of parts) { joined.set(p, o); o += p.length; }
  const raw = await inflate(joined);
  const stride = width * channels;
  const out = new Uint8Array(stride * height);
  const bpp = channels;
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const dst = y * stride;
    const prev = dst - stride;
    switch (filter) {
      case 0: out.set(raw.subarray(src, src + stride), dst); break;
      case 1:
        for (let i = 0; i < stride; i++) out[dst + i] = (raw[src + i] + (i >= bpp ? out[dst + i - bpp] : 0)) & 255;
        break;
      case 2:
        for (let i = 0; i < stride; i++) out[dst + i] = (raw[src + i] + (y ? out[prev + i] : 0)) & 255;
        break;
      case 3:
        for (let i = 0; i < stride; i++) {
          const a = i >= bpp ? out[dst + i - bpp] : 0, b = y ? out[prev + i] : 0;
          out[dst + i] = (raw[src + i] + ((a + b) >> 1)) & 255;
        }
        break;
      case 4:
        for (let i = 0; i < stride; i++) {
          const a = i >= bpp ? out[dst + i - bpp] : 0, b = y ? out[prev + i] : 0;
          const c = y && i >= bpp ? out[prev + i - bpp] : 0;
          out[dst + i] = (raw[src + i] + paeth(a, b, c)) & 255;
        }
        break;
      default: throw new Error(`bad PNG filter ${filter} in row ${y}`);
    }
  }
  return { width, height, channels, pixels: out };
}

/** Segment ids (Uint32Array, H*W) from an RGB24 PNG. */
export async function decodeIdsPNG(buffer) {
  const { width, height, channels, pixels } = await decodePNG(buffer);
  if (channels < 3) throw new Error("a label PNG must be RGB");
  const ids = new Uint32Array(width * height);
  for (let i = 0, p = 0; i < ids.length; i++, p += channels) ids[i] = pixels[p] | (pixels[p + 1] << 8) | (pixels[p + 2] << 16);
  return { width, height, ids };
}

function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, (crc32(out, 4, 8 + data.length) ^ 0xffffffff) >>> 0);
  return out;
}

/** Encode segment ids (Uint32Array, values < 2^24) as an RGB24 PNG (Sub filter). */
export async function encodeIdsPNG(ids, width, height) {
  const stride = width * 3;
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    let o = y * (stride + 1);
    raw[o++] = 1; // Sub
    let pr = 0, pg = 0, pb = 0;
    for (let x = 0, i = y * width; x < width; x++, i++) {
      const v = ids[i];
      const r = v & 255, g = (v >>> 8) & 255, b = (v >>> 16) & 255;
      raw[o++] = (r - pr) & 255; raw[o++] = (g - pg) & 255; raw[o++] = (b - pb) & 255;
      pr = r; pg = g; pb = b;
    }
  }
  const ihdr = new Uint8Array(13);
  const hv = new DataView(ihdr.buffer);
  hv.setUint32(0, width); hv.setUint32(4, height);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  const idat = await deflate(raw);
  return new Blob([new Uint8Array(SIGNATURE), chunk("IHDR", ihdr), chunk("IDAT", idat), chunk("IEND", new Uint8Array(0))], { type: "image/png" });
}
