// Incremental SHA-256 (FIPS 180-4) in plain JavaScript, for hashing a file
// slice by slice: WebCrypto's `crypto.subtle.digest` only hashes a whole
// buffer, so hashing a multi-GB file with it means holding it in memory.
// Checked against WebCrypto for many sizes and split points by the browser
// test (crates/liuma-server/tests/browser/run.mjs).
//
//   const h = new Sha256();
//   h.update(bytes1); h.update(bytes2);   // Uint8Array or ArrayBuffer
//   h.hex();                              // "e3b0c442…"

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

export class Sha256 {
  constructor() {
    this.h = new Int32Array([
      0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ]);
    this.w = new Int32Array(16); // the message schedule, a rolling window
    this.buf = new Uint8Array(64); // a partial block carried to the next update
    this.used = 0;
    this.length = 0; // bytes hashed so far (a double: exact up to 2^53)
    this.done = false;
  }

  /** Add bytes (Uint8Array, another typed array, or ArrayBuffer). */
  update(data) {
    if (this.done) throw new Error("Sha256: update after digest");
    const d = data instanceof Uint8Array ? data
      : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);
    this.length += d.length;
    let i = 0;
    if (this.used > 0) {
      const n = Math.min(64 - this.used, d.length);
      this.buf.set(d.subarray(0, n), this.used);
      this.used += n;
      i = n;
      if (this.used < 64) return this;
      this.blocks(this.buf, 0, 64);
      this.used = 0;
    }
    i = this.blocks(d, i, d.length);
    if (i < d.length) {
      this.buf.set(d.subarray(i));
      this.used = d.length - i;
    }
    return this;
  }

  /** The digest (32 bytes); the hasher cannot be updated afterwards. */
  digest() {
    if (!this.done) {
      const bits = this.length * 8;
      const tail = new Uint8Array(this.used < 56 ? 64 : 128);
      tail.set(this.buf.subarray(0, this.used));
      tail[this.used] = 0x80;
      const view = new DataView(tail.buffer);
      view.setUint32(tail.length - 8, Math.floor(bits / 0x100000000));
      view.setUint32(tail.length - 4, bits >>> 0);
      this.blocks(tail, 0, tail.length);
      this.done = true;
    }
    const out = new Uint8Array(32);
    const view = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) view.setInt32(4 * i, this.h[i]);
    return out;
  }

  /** The digest as 64 lower-case hex digits. */
  hex() {
    return Array.from(this.digest(), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** Hash the whole 64-byte blocks of d[o..end): state in locals, one loop. */
  blocks(d, o, end) {
    const w = this.w;
    const h = this.h;
    let h0 = h[0], h1 = h[1], h2 = h[2], h3 = h[3], h4 = h[4], h5 = h[5], h6 = h[6], h7 = h[7];
    for (; o + 64 <= end; o += 64) {
      let a = h0, b = h1, c = h2, dd = h3, e = h4, f = h5, g = h6, k = h7;
      for (let t = 0; t < 64; t++) {
        let wt;
        if (t < 16) {
          const i = o + 4 * t;
          wt = (d[i] << 24) | (d[i + 1] << 16) | (d[i + 2] << 8) | d[i + 3];
        } else {
          const x = w[(t - 15) & 15];
          const y = w[(t - 2) & 15];
          const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
          const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
          wt = (((w[t & 15] + s0) | 0) + ((w[(t - 7) & 15] + s1) | 0)) | 0;
        }
        w[t & 15] = wt;
        const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const t1 = (((k + S1) | 0) + ((((e & f) ^ (~e & g)) + ((K[t] + wt) | 0)) | 0)) | 0;
        const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        k = g;
        g = f;
        f = e;
        e = (dd + t1) | 0;
        dd = c;
        c = b;
        b = a;
        a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0;
      h1 = (h1 + b) | 0;
      h2 = (h2 + c) | 0;
      h3 = (h3 + dd) | 0;
      h4 = (h4 + e) | 0;
      h5 = (h5 + f) | 0;
      h6 = (h6 + g) | 0;
      h7 = (h7 + k) | 0;
    }
    h[0] = h0; h[1] = h1; h[2] = h2; h[3] = h3; h[4] = h4; h[5] = h5; h[6] = h6; h[7] = h7;
    return o;
  }
}
