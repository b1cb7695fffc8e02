// The worker's queue (www/worker/scheduler.js) in node, without a browser: the order it promises
// (steps, then the page's calls, then background work a step at a time), answers after the steps a
// call queued, calls that may overlap a job waiting on a device answered meanwhile and those that
// may not kept waiting, and a step's error reported without stopping the queue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler } from '../../www/worker/scheduler.js';
import { yieldToEvents } from './stand-ins.mjs';

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/** A scheduler whose log records what ran; `jobs` are the background jobs while they run. */
function queue({ jobs = () => [] } = {}) {
  const log = [];
  const stepErrors = [];
  const scheduler = new Scheduler({ background: jobs, onStepError: (e) => stepErrors.push(e.message), yieldToEvents });
  /** Queues a call that logs `name` and resolves with its answer. */
  const call = (name, run = () => name, options) => new Promise((resolve) => {
    scheduler.call(() => { log.push(name); return run(); }, (answer) => { log.push(`answer ${name}`); resolve(answer); }, options);
  });
  return { scheduler, log, stepErrors, call };
}

test('a call is answered after the steps it queued, and steps run before the calls waiting', async () => {
  const { scheduler, log, call } = queue();
  const first = call('load', () => {
    scheduler.step(async () => { await sleep(5); log.push('model swapped'); }, async () => { log.push('indexed'); });
    return 'loaded';
  });
  const second = call('analyse');
  const answers = await Promise.all([first, second]);
  assert.deepEqual(log, ['load', 'model swapped', 'indexed', 'answer load', 'analyse', 'answer analyse']);
  assert.deepEqual(answers.map((a) => [a.ok, a.value]), [[true, 'loaded'], [true, 'analyse']]);
  assert.ok(answers.every((a) => a.ms >= 0));
});

test('a call that throws is answered with its error; a step that throws is reported and the queue goes on', async () => {
  const { scheduler, log, stepErrors, call } = queue();
  const failed = await call('bad', () => { throw new Error('unknown operation bad'); });
  assert.equal(failed.ok, false);
  assert.equal(failed.error.message, 'unknown operation bad');
  scheduler.step(async () => { throw new Error('step failed'); }, async () => { log.push('next step'); });
  const after = await call('after');
  assert.deepEqual(stepErrors, ['step failed']);
  assert.deepEqual(log.slice(-3), ['next step', 'after', 'answer after']);
  assert.equal(after.ok, true);
});

test('background jobs run one at a time, in turn, only when no call waits', async () => {
  let runs = 0;
  const done = [];
  const jobs = () => (runs < 6 ? [async () => { runs++; done.push('index'); }, async () => { runs++; done.push('train'); }] : []);
  const { scheduler, log, call } = queue({ jobs });
  scheduler.wake();
  await call('sketch');
  while (runs < 6) await sleep(5);
  assert.deepEqual(done, ['index', 'train', 'index', 'train', 'index', 'train']);
  assert.deepEqual(log, ['sketch', 'answer sketch'], 'the call went first');
});

test('while a job waits on a device, calls that may overlap are answered; one that may not waits for the job', async () => {
  let release;
  const device = new Promise((resolve) => { release = resolve; });
  const events = [];
  let started = false;
  const { scheduler, call } = queue({
    jobs: () => (started ? [] : [async () => {
      started = true;
      events.push('step begins');
      await scheduler.overlapping(device);
      events.push('step ends');
    }]),
  });
  scheduler.wake();
  while (!started) await sleep(1);
  const sketch = call('sketch', () => { events.push('sketch'); return 1; }, { overlaps: true });
  await sketch;
  const stop = call('stop', () => { events.push('stop'); return 2; });
  const digit = call('digit', () => { events.push('digit'); return 3; }, { overlaps: true });
  await sleep(20);
  assert.deepEqual(events, ['step begins', 'sketch'], 'stop waits for the step, and the call behind it too');
  release();
  await Promise.all([stop, digit]);
  assert.deepEqual(events, ['step begins', 'sketch', 'step ends', 'stop', 'digit']);
});

test('within a call, overlapping only waits: the answers keep the calls\' order', async () => {
  let release;
  const write = new Promise((resolve) => { release = resolve; });
  const { scheduler, log, call } = queue();
  const pause = call('pause', async () => { await scheduler.overlapping(write); return 'paused'; });
  const sketch = call('sketch', undefined, { overlaps: true });
  await sleep(20);
  assert.deepEqual(log, ['pause']);
  release();
  await Promise.all([pause, sketch]);
  assert.deepEqual(log, ['pause', 'answer pause', 'sketch', 'answer sketch']);
});
