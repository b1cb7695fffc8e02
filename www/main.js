// The page's entry: starts the panels, routes the worker's events to them, and loads the model.
// The model lives in worker.js; every call to it is a message (js/rpc.js), so drawing stays
// smooth whatever the backend is doing. Each panel is a module in js/; js/hooks.js holds every
// mark the browser tests read.
import { $, notice } from './js/dom.js';
import { call, on, onAnswer } from './js/rpc.js';
import { initBackend, backendWanted, nameBackends, showBackend, showAnswerTime, showLoadFailure } from './js/backend.js';
import * as sketch from './js/sketch.js';
import { initMap, showIndexProgress, showTsne, workerReplaced } from './js/map.js';
import { initSamples, sample } from './js/samples.js';
import * as walk from './js/walk.js';
import * as sliders from './js/sliders.js';
import { initSave } from './js/save.js';
import * as training from './js/training.js';
import * as yours from './js/yours.js';
import { initReading, conditionalArrived } from './js/reading.js';
import * as hooks from './js/hooks.js';
import { makeAvailableOffline } from './js/offline.js';

let ready = false; // the page has answered once

onAnswer((answer) => {
  showAnswerTime(answer.ms);
  hooks.answered(answer);
});
on('error', ({ error }) => notice(error));
on('storage', ({ message }) => training.storageMessage(message));
on('backend', ({ backend }) => showBackend(backend));
on('conditional', (message) => {
  conditionalArrived(message);
  training.conditionalChanged(message.conditional);
  yours.conditionalChanged();
  sketch.answerAgain();
});
on('train', (message) => training.trainingProgress(message));
on('data', (message) => training.trainingDigits(message));
on('model', ({ model }) => {
  // New weights: the worker rebuilds the neighbour index for them; every panel shows the new
  // model at once, the neighbours and the map again when the index is whole.
  hooks.indexRebuilding();
  // Before the first answer, the training panel's samples wait for it (start()).
  training.modelChanged(model, { samples: ready });
  sliders.modelChanged(model);
  walk.modelChanged();
  sketch.modelChanged();
  if (ready) sample().catch((e) => notice(e.message));
});
// The session moved into the WebGPU module after the first answer (worker/modules.js): the same
// model, its neighbour index built again there.
on('moved', ({ backend }) => {
  hooks.indexRebuilding();
  showBackend(backend);
});
// The GPU was lost: a worker on the CPU took over with the page's model (js/rpc.js). The backend
// and the training panel become what it answered; its background work starts as at start-up.
on('lost', async ({ loaded }) => {
  hooks.gpuLost();
  workerReplaced();
  if (!loaded) return; // the page's own load was waiting: start() goes on with the new worker
  try {
    const answer = await loaded;
    showBackend(answer.backend);
    training.modelRecovered(answer);
    await call('pageAnswered');
  } catch (e) {
    notice(`The GPU was lost and the page could not move to the CPU: ${e.message}`);
  }
});
on('index', async ({ progress }) => {
  hooks.indexGrew();
  await showIndexProgress(progress);
  if (progress.done) {
    hooks.indexWhole();
    sketch.answerAgain();
    yours.indexWhole();
  }
});
on('tsne', (message) => {
  showTsne(message);
  // The sketch's place on the new map.
  if (message.map) sketch.answerAgain();
});

async function start() {
  initBackend();
  initMap();
  walk.initWalk();
  sliders.initSliders();
  sketch.initSketch();
  initSamples();
  initReading();
  initSave();
  training.initTraining();
  yours.initYours({ answerAgain: sketch.answerAgain });
  // All three asked at once: the worker answers in order, the limits as soon as the wasm module is
  // there, the load, then the first samples (of the model the load gave), with no round trip
  // through the page between them. A failed load fails the samples too, and is the error heard.
  const [limits, loaded] = await Promise.all([call('limits'), call('load', { backend: backendWanted }), sample()]);
  nameBackends(limits.backendLabels);
  training.applyLimits(limits);
  yours.applyLimits(limits);
  showBackend(loaded.backend);
  training.modelLoaded(loaded);
  $('app').setAttribute('aria-busy', 'false');
  ready = true;
  hooks.pageReady(loaded.arrived);
  // After the first answer, which their calls would have waited behind in the worker's queue.
  training.refreshTrainingSamples();
  yours.loaded().catch((e) => notice(e.message));
  // The neighbour index and WebGPU's warm-up start only now, so the first answer waits for neither.
  call('pageAnswered').catch((e) => notice(e.message));
  // Only now: installing the service worker fetches and checks every file of the page again
  // (27 MB, mostly from the HTTP cache), which would compete with the first load for the network
  // and the CPU. It never fails the page.
  makeAvailableOffline();
}

// Hidden or closing: a training run is stored at the step reached (best effort: see worker.js).
const pageHidden = () => { if (ready) call('pageHidden').catch(() => {}); };
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') pageHidden(); });
addEventListener('pagehide', pageHidden);

start().catch((e) => {
  showLoadFailure();
  notice(`The model could not be loaded: ${e.message}`);
});
