// A run's per-step training records {step, epoch, loss, recon, kl}, kept in columns of typed
// arrays: 32 bytes a step instead of an object and three boxed numbers (≈ 80 bytes), so that
// thousands of steps do not grow the heap of the page or the worker (scripts/soak.sh).
// Used by both: the worker keeps the model's history, the page draws it.

const INTEGER = ['step', 'epoch'];
const REAL = ['loss', 'recon', 'kl'];

export class StepRecords {
  constructor(capacity = 256) {
    this.length = 0;
    this.columns = Object.fromEntries([
      ...INTEGER.map((f) => [f, new Uint32Array(capacity)]),
      ...REAL.map((f) => [f, new Float64Array(capacity)]),
    ]);
  }

  /** From a list of records (a stored history, a message). */
  static from(records) {
    const out = new StepRecords(Math.max(256, records.length));
    for (const r of records) out.push(r);
    return out;
  }

  push(record) {
    if (this.length === this.columns.step.length) this.#grow(2 * this.length);
    for (const [f, column] of Object.entries(this.columns)) column[this.length] = record[f];
    this.length++;
  }

  /** The records of `other` after these. */
  append(other) {
    for (let i = 0; i < other.length; i++) this.push(other.at(i));
  }

  /** Record `i` as an object (negative counts from the end, as Array's at); undefined outside. */
  at(i) {
    const k = i < 0 ? this.length + i : i;
    if (k < 0 || k >= this.length) return undefined;
    return Object.fromEntries(Object.entries(this.columns).map(([f, column]) => [f, column[k]]));
  }

  /** One field of every record, as a view (no copy). */
  column(field) {
    return this.columns[field].subarray(0, this.length);
  }

  /** Records start…end as plain objects: what is stored and sent between threads. */
  toArray(start = 0, end = this.length) {
    const out = [];
    for (let i = start; i < Math.min(end, this.length); i++) out.push(this.at(i));
    return out;
  }

  #grow(capacity) {
    for (const [f, column] of Object.entries(this.columns)) {
      const bigger = new column.constructor(capacity);
      bigger.set(column);
      this.columns[f] = bigger;
    }
  }
}
