// The worker's one queue. The model is never used by two jobs at once, and the order is:
//   1. steps: the state changes that follow from the job just done (a new model, the end of a
//      training run, a backend switch), in the order they were queued, before anything else;
//   2. the page's calls, in arrival order;
//   3. background work (index steps and training steps, taken in turn), one step at a time when
//      no call waits, so a sketch waits at most one step. A job may wait on a device through
//      `overlapping(promise)`: meanwhile the calls that may overlap it (`call(…, {overlaps})`) are
//      answered, in arrival order, so a sketch is not kept waiting by a GPU's training step.
// A call is answered after the steps it caused, so the page hears of a new model before the
// answer of the call that loaded it.

// The page often answers one call with the next (an analysis, then its interpolation): for a
// moment after a call, background work waits, so such chains are not cut by a step each time.
const GRACE_MS = 15;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A macrotask boundary between jobs, so the page's messages get in; on the CPU backend reads
// resolve as microtasks, and setTimeout is clamped to 4 ms when nested. The channel is opened at
// the first use: in node (tests/unit/) an open port keeps the process alive, so tests pass their own.
let channel = null;
const wakers = [];
function messageBoundary() {
  if (!channel) {
    channel = new MessageChannel();
    channel.port1.onmessage = () => wakers.shift()?.();
  }
  return new Promise((resolve) => { wakers.push(resolve); channel.port2.postMessage(null); });
}

export class Scheduler {
  #steps = [];
  #calls = [];
  #background;
  #onStepError;
  #yieldToEvents;
  #turn = 0;
  #running = false;
  #lastCallAt = -Infinity;
  /** Wakes `overlapping` when a call arrives or its promise settles. */
  #nudge = null;
  /** A call is being answered (its work, then the steps it queued): none behind it may be
   *  answered first, so `overlapping` then only waits. */
  #answering = false;

  /** `background()` lists the background jobs that may run now (async functions);
   *  `onStepError(error)` hears of a step that threw; `yieldToEvents()` resolves after the
   *  events waiting have run (a MessageChannel round trip unless given). */
  constructor({ background, onStepError, yieldToEvents = messageBoundary }) {
    this.#background = background;
    this.#onStepError = onStepError;
    this.#yieldToEvents = yieldToEvents;
  }

  /** Queues a page call: `run()` does the work; `answer({ok, value | error, ms})` is called once
   *  it and the steps it queued are done. `overlaps`: it changes nothing that a background job
   *  waiting in `overlapping` could see, so it may run meanwhile. */
  call(run, answer, { overlaps = false } = {}) {
    this.#calls.push({ run, answer, overlaps });
    this.#nudge?.();
    this.#pump();
  }

  /** For a background job: waits for `promise` (work on a device), answering meanwhile the
   *  calls at the head of the queue that may overlap it; a call that may not waits, and those
   *  behind it too. Settles as `promise` does, once no call it let in is still running. Within a
   *  call (a Pause that stores the run, a model's store after an import) it only waits: answers
   *  keep the calls' order. */
  async overlapping(promise) {
    let settled = false;
    const wake = () => { settled = true; this.#nudge?.(); };
    promise.then(wake, wake);
    while (!settled) {
      if (!this.#answering && this.#calls[0]?.overlaps) {
        // Such calls change nothing, so they queue no steps: those queued meanwhile (by work
        // outside the queue) wait for the job's end.
        await this.#answer(this.#calls.shift(), { steps: false });
        continue;
      }
      await new Promise((resolve) => { this.#nudge = resolve; });
      this.#nudge = null;
    }
    return promise;
  }

  /** Queues state-change steps (async functions) to run next, before any call or background job. */
  step(...steps) {
    this.#steps.push(...steps);
    this.#pump();
  }

  /** Background work may have become possible (a run resumed, an index to build). */
  wake() {
    this.#pump();
  }

  async #runSteps() {
    while (this.#steps.length) {
      try {
        await this.#steps.shift()();
      } catch (e) {
        this.#onStepError(e);
      }
    }
  }

  async #answer(call, { steps = true } = {}) {
    const t0 = performance.now();
    this.#answering = true;
    let outcome;
    try {
      outcome = { ok: true, value: await call.run() };
    } catch (error) {
      outcome = { ok: false, error };
    }
    if (steps) await this.#runSteps();
    this.#answering = false;
    call.answer({ ...outcome, ms: performance.now() - t0 });
    this.#lastCallAt = performance.now();
  }

  async #pump() {
    if (this.#running) return;
    this.#running = true;
    try {
      for (;;) {
        await this.#yieldToEvents();
        if (this.#steps.length) { await this.#runSteps(); continue; }
        const call = this.#calls.shift();
        if (call) {
          await this.#answer(call);
          continue;
        }
        const grace = this.#lastCallAt + GRACE_MS - performance.now();
        if (grace > 0) {
          await sleep(grace);
          if (this.#calls.length || this.#steps.length) continue;
        }
        const jobs = this.#background();
        if (!jobs.length) break;
        await jobs[this.#turn++ % jobs.length]();
        await this.#runSteps();
      }
    } finally {
      this.#running = false;
    }
  }
}
