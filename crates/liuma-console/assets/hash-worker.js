// Hashing off the main thread: the ETag an upload of a file would get,
// computed in chunks (never the whole file in memory). S3's ETag of a
// single PUT is the MD5 of the bytes; of a multipart upload, the MD5 of the
// parts' MD5s followed by "-<parts>". WebCrypto has no MD5 (and no
// streaming digest), so this is a small MD5 of our own.
//
// Message in: {id, file, part, single} (single: the file goes in one PUT).
// Messages out: {id, progress: bytes} ..., then {id, etag} or {id, error}.


class Md5 {
  constructor() {
    this.h = new Int32Array([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476]);
    this.buf = new Uint8Array(64);
    this.buf32 = new Int32Array(this.buf.buffer);
    this.fill = 0;
    this.len = 0;
  }

  // The 64 steps unrolled (generated): several times faster than a loop.
  block(x, o) {
    const h = this.h;
    let a = h[0], b = h[1], c = h[2], d = h[3], t;
    const w0 = x[o + 0];
    const w1 = x[o + 1];
    const w2 = x[o + 2];
    const w3 = x[o + 3];
    const w4 = x[o + 4];
    const w5 = x[o + 5];
    const w6 = x[o + 6];
    const w7 = x[o + 7];
    const w8 = x[o + 8];
    const w9 = x[o + 9];
    const w10 = x[o + 10];
    const w11 = x[o + 11];
    const w12 = x[o + 12];
    const w13 = x[o + 13];
    const w14 = x[o + 14];
    const w15 = x[o + 15];
    t = (a + ((b & c) | (~b & d)) + -680876936 + w0) | 0; a = (b + ((t << 7) | (t >>> 25))) | 0;
    t = (d + ((a & b) | (~a & c)) + -389564586 + w1) | 0; d = (a + ((t << 12) | (t >>> 20))) | 0;
    t = (c + ((d & a) | (~d & b)) + 606105819 + w2) | 0; c = (d + ((t << 17) | (t >>> 15))) | 0;
    t = (b + ((c & d) | (~c & a)) + -1044525330 + w3) | 0; b = (c + ((t << 22) | (t >>> 10))) | 0;
    t = (a + ((b & c) | (~b & d)) + -176418897 + w4) | 0; a = (b + ((t << 7) | (t >>> 25))) | 0;
    t = (d + ((a & b) | (~a & c)) + 1200080426 + w5) | 0; d = (a + ((t << 12) | (t >>> 20))) | 0;
    t = (c + ((d & a) | (~d & b)) + -1473231341 + w6) | 0; c = (d + ((t << 17) | (t >>> 15))) | 0;
    t = (b + ((c & d) | (~c & a)) + -45705983 + w7) | 0; b = (c + ((t << 22) | (t >>> 10))) | 0;
    t = (a + ((b & c) | (~b & d)) + 1770035416 + w8) | 0; a = (b + ((t << 7) | (t >>> 25))) | 0;
    t = (d + ((a & b) | (~a & c)) + -1958414417 + w9) | 0; d = (a + ((t << 12) | (t >>> 20))) | 0;
    t = (c + ((d & a) | (~d & b)) + -42063 + w10) | 0; c = (d + ((t << 17) | (t >>> 15))) | 0;
    t = (b + ((c & d) | (~c & a)) + -1990404162 + w11) | 0; b = (c + ((t << 22) | (t >>> 10))) | 0;
    t = (a + ((b & c) | (~b & d)) + 1804603682 + w12) | 0; a = (b + ((t << 7) | (t >>> 25))) | 0;
    t = (d + ((a & b) | (~a & c)) + -40341101 + w13) | 0; d = (a + ((t << 12) | (t >>> 20))) | 0;
    t = (c + ((d & a) | (~d & b)) + -1502002290 + w14) | 0; c = (d + ((t << 17) | (t >>> 15))) | 0;
    t = (b + ((c & d) | (~c & a)) + 1236535329 + w15) | 0; b = (c + ((t << 22) | (t >>> 10))) | 0;
    t = (a + ((d & b) | (~d & c)) + -165796510 + w1) | 0; a = (b + ((t << 5) | (t >>> 27))) | 0;
    t = (d + ((c & a) | (~c & b)) + -1069501632 + w6) | 0; d = (a + ((t << 9) | (t >>> 23))) | 0;
    t = (c + ((b & d) | (~b & a)) + 643717713 + w11) | 0; c = (d + ((t << 14) | (t >>> 18))) | 0;
    t = (b + ((a & c) | (~a & d)) + -373897302 + w0) | 0; b = (c + ((t << 20) | (t >>> 12))) | 0;
    t = (a + ((d & b) | (~d & c)) + -701558691 + w5) | 0; a = (b + ((t << 5) | (t >>> 27))) | 0;
    t = (d + ((c & a) | (~c & b)) + 38016083 + w10) | 0; d = (a + ((t << 9) | (t >>> 23))) | 0;
    t = (c + ((b & d) | (~b & a)) + -660478335 + w15) | 0; c = (d + ((t << 14) | (t >>> 18))) | 0;
    t = (b + ((a & c) | (~a & d)) + -405537848 + w4) | 0; b = (c + ((t << 20) | (t >>> 12))) | 0;
    t = (a + ((d & b) | (~d & c)) + 568446438 + w9) | 0; a = (b + ((t << 5) | (t >>> 27))) | 0;
    t = (d + ((c & a) | (~c & b)) + -1019803690 + w14) | 0; d = (a + ((t << 9) | (t >>> 23))) | 0;
    t = (c + ((b & d) | (~b & a)) + -187363961 + w3) | 0; c = (d + ((t << 14) | (t >>> 18))) | 0;
    t = (b + ((a & c) | (~a & d)) + 1163531501 + w8) | 0; b = (c + ((t << 20) | (t >>> 12))) | 0;
    t = (a + ((d & b) | (~d & c)) + -1444681467 + w13) | 0; a = (b + ((t << 5) | (t >>> 27))) | 0;
    t = (d + ((c & a) | (~c & b)) + -51403784 + w2) | 0; d = (a + ((t << 9) | (t >>> 23))) | 0;
    t = (c + ((b & d) | (~b & a)) + 1735328473 + w7) | 0; c = (d + ((t << 14) | (t >>> 18))) | 0;
    t = (b + ((a & c) | (~a & d)) + -1926607734 + w12) | 0; b = (c + ((t << 20) | (t >>> 12))) | 0;
    t = (a + (b ^ c ^ d) + -378558 + w5) | 0; a = (b + ((t << 4) | (t >>> 28))) | 0;
    t = (d + (a ^ b ^ c) + -2022574463 + w8) | 0; d = (a + ((t << 11) | (t >>> 21))) | 0;
    t = (c + (d ^ a ^ b) + 1839030562 + w11) | 0; c = (d + ((t << 16) | (t >>> 16))) | 0;
    t = (b + (c ^ d ^ a) + -35309556 + w14) | 0; b = (c + ((t << 23) | (t >>> 9))) | 0;
    t = (a + (b ^ c ^ d) + -1530992060 + w1) | 0; a = (b + ((t << 4) | (t >>> 28))) | 0;
    t = (d + (a ^ b ^ c) + 1272893353 + w4) | 0; d = (a + ((t << 11) | (t >>> 21))) | 0;
    t = (c + (d ^ a ^ b) + -155497632 + w7) | 0; c = (d + ((t << 16) | (t >>> 16))) | 0;
    t = (b + (c ^ d ^ a) + -1094730640 + w10) | 0; b = (c + ((t << 23) | (t >>> 9))) | 0;
    t = (a + (b ^ c ^ d) + 681279174 + w13) | 0; a = (b + ((t << 4) | (t >>> 28))) | 0;
    t = (d + (a ^ b ^ c) + -358537222 + w0) | 0; d = (a + ((t << 11) | (t >>> 21))) | 0;
    t = (c + (d ^ a ^ b) + -722521979 + w3) | 0; c = (d + ((t << 16) | (t >>> 16))) | 0;
    t = (b + (c ^ d ^ a) + 76029189 + w6) | 0; b = (c + ((t << 23) | (t >>> 9))) | 0;
    t = (a + (b ^ c ^ d) + -640364487 + w9) | 0; a = (b + ((t << 4) | (t >>> 28))) | 0;
    t = (d + (a ^ b ^ c) + -421815835 + w12) | 0; d = (a + ((t << 11) | (t >>> 21))) | 0;
    t = (c + (d ^ a ^ b) + 530742520 + w15) | 0; c = (d + ((t << 16) | (t >>> 16))) | 0;
    t = (b + (c ^ d ^ a) + -995338651 + w2) | 0; b = (c + ((t << 23) | (t >>> 9))) | 0;
    t = (a + (c ^ (b | ~d)) + -198630844 + w0) | 0; a = (b + ((t << 6) | (t >>> 26))) | 0;
    t = (d + (b ^ (a | ~c)) + 1126891415 + w7) | 0; d = (a + ((t << 10) | (t >>> 22))) | 0;
    t = (c + (a ^ (d | ~b)) + -1416354905 + w14) | 0; c = (d + ((t << 15) | (t >>> 17))) | 0;
    t = (b + (d ^ (c | ~a)) + -57434055 + w5) | 0; b = (c + ((t << 21) | (t >>> 11))) | 0;
    t = (a + (c ^ (b | ~d)) + 1700485571 + w12) | 0; a = (b + ((t << 6) | (t >>> 26))) | 0;
    t = (d + (b ^ (a | ~c)) + -1894986606 + w3) | 0; d = (a + ((t << 10) | (t >>> 22))) | 0;
    t = (c + (a ^ (d | ~b)) + -1051523 + w10) | 0; c = (d + ((t << 15) | (t >>> 17))) | 0;
    t = (b + (d ^ (c | ~a)) + -2054922799 + w1) | 0; b = (c + ((t << 21) | (t >>> 11))) | 0;
    t = (a + (c ^ (b | ~d)) + 1873313359 + w8) | 0; a = (b + ((t << 6) | (t >>> 26))) | 0;
    t = (d + (b ^ (a | ~c)) + -30611744 + w15) | 0; d = (a + ((t << 10) | (t >>> 22))) | 0;
    t = (c + (a ^ (d | ~b)) + -1560198380 + w6) | 0; c = (d + ((t << 15) | (t >>> 17))) | 0;
    t = (b + (d ^ (c | ~a)) + 1309151649 + w13) | 0; b = (c + ((t << 21) | (t >>> 11))) | 0;
    t = (a + (c ^ (b | ~d)) + -145523070 + w4) | 0; a = (b + ((t << 6) | (t >>> 26))) | 0;
    t = (d + (b ^ (a | ~c)) + -1120210379 + w11) | 0; d = (a + ((t << 10) | (t >>> 22))) | 0;
    t = (c + (a ^ (d | ~b)) + 718787259 + w2) | 0; c = (d + ((t << 15) | (t >>> 17))) | 0;
    t = (b + (d ^ (c | ~a)) + -343485551 + w9) | 0; b = (c + ((t << 21) | (t >>> 11))) | 0;
    h[0] = (h[0] + a) | 0;
    h[1] = (h[1] + b) | 0;
    h[2] = (h[2] + c) | 0;
    h[3] = (h[3] + d) | 0;
  }

  // (little-endian words: every browser this runs in is little-endian)
  update(data) {
    let i = 0;
    this.len += data.length;
    if (this.fill) {
      const n = Math.min(64 - this.fill, data.length);
      this.buf.set(data.subarray(0, n), this.fill);
      this.fill += n;
      i = n;
      if (this.fill < 64) return;
      this.block(this.buf32, 0);
      this.fill = 0;
    }
    const whole = (data.length - i) & ~63;
    if (whole) {
      let words;
      if ((data.byteOffset + i) % 4 === 0) {
        words = new Int32Array(data.buffer, data.byteOffset + i, whole / 4);
      } else {
        words = new Int32Array(data.slice(i, i + whole).buffer);
      }
      for (let o = 0; o < words.length; o += 16) this.block(words, o);
      i += whole;
    }
    if (i < data.length) {
      this.buf.set(data.subarray(i), 0);
      this.fill = data.length - i;
    }
  }

  digest() {
    const bits = this.len * 8;
    const pad = new Uint8Array(((this.fill < 56 ? 56 : 120) - this.fill) + 8);
    pad[0] = 0x80;
    const n = pad.length;
    let lo = bits >>> 0;
    let hi = Math.floor(bits / 2 ** 32) >>> 0;
    for (let i = 0; i < 4; i++) {
      pad[n - 8 + i] = (lo >>> (8 * i)) & 255;
      pad[n - 4 + i] = (hi >>> (8 * i)) & 255;
    }
    this.update(pad);
    const out = new Uint8Array(16);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) out[i * 4 + j] = (this.h[i] >>> (8 * j)) & 255;
    return out;
  }
}

const hex = (b) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
const CHUNK = 4 << 20;

async function etagOf(id, file, part, single) {
  const whole = new Md5();
  const parts = new Md5();
  let n = 0;
  let done = 0;
  for (let start = 0; start < file.size || (start === 0 && file.size === 0); start += part) {
    const end = Math.min(file.size, start + part);
    const md5 = single ? whole : new Md5();
    for (let o = start; o < end; o += CHUNK) {
      const buf = new Uint8Array(await file.slice(o, Math.min(end, o + CHUNK)).arrayBuffer());
      md5.update(buf);
      done += buf.length;
      self.postMessage({ id, progress: done });
    }
    if (!single) parts.update(md5.digest());
    n++;
    if (file.size === 0) break;
  }
  return single ? hex(whole.digest()) : `${hex(parts.digest())}-${n}`;
}

self.onmessage = async (e) => {
  const { id, file, part, single } = e.data;
  try {
    self.postMessage({ id, etag: await etagOf(id, file, part, single) });
  } catch (err) {
    self.postMessage({ id, error: String(err && err.message ? err.message : err) });
  }
};

// For the unit check in the browser test: MD5 of a string.
export const md5hex = (s) => {
  const m = new Md5();
  m.update(new TextEncoder().encode(s));
  return hex(m.digest());
};
