// crates/vae/src/rng.rs in JavaScript (xoshiro256++ seeded by SplitMix64; Box–Muller normals;
// Fisher–Yates): the TF.js peer replays our initial weights, batch order and ε with it, so that its
// losses can be checked against ours number for number. BigInt: slow (≈ 1 µs a number) but exact.
const M = (1n << 64n) - 1n;

class Rng {
  constructor(seed) {
    let x = BigInt(seed) & M;
    this.s = [];
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9E3779B97F4A7C15n) & M;
      let z = x;
      z = ((z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n) & M;
      z = ((z ^ (z >> 27n)) * 0x94D049BB133111EBn) & M;
      this.s.push(z ^ (z >> 31n));
    }
  }

  nextU64() {
    let [s0, s1, s2, s3] = this.s;
    const sum = (s0 + s3) & M;
    const result = ((((sum << 23n) | (sum >> 41n)) & M) + s0) & M;
    const t = (s1 << 17n) & M;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = ((s3 << 45n) | (s3 >> 19n)) & M;
    this.s = [s0, s1, s2, s3];
    return result;
  }

  /** Uniform in [0, 1). */
  uniform() {
    return Number(this.nextU64() >> 11n) * (1 / 2 ** 53);
  }

  below(n) {
    return Number((this.nextU64() * BigInt(n)) >> 64n);
  }

  normal() {
    const u1 = 1 - this.uniform();
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** `n` standard normals as f32. */
  normals(n) {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal();
    return out;
  }

  shuffle(items) {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
  }
}
self.Rng = Rng;
