// A model's training history: {steps, tests}, records {step, epoch, loss, recon, kl} (per step:
// the batch's loss and its parts, kept as StepRecords; per epoch: the test set's, a list). Steps
// and epochs count over the model's life, across runs. Stored and sent to the page as plain lists
// (historyForStore), read back by historyFromStore.
import { StepRecords } from '../js/records.js';

export const emptyHistory = () => ({ steps: new StepRecords(), tests: [] });

/** The history's first `steps` step records (all by default) and its tests, as plain lists. */
export function historyForStore(history, steps = history.steps.length) {
  return { steps: history.steps.toArray(0, steps), tests: history.tests };
}

const FIELDS = ['step', 'epoch', 'loss', 'recon', 'kl'];

/** One record from its fields, or from the tuple [step, epoch, loss, recon, kl] that versions
 *  before named records stored; null if it is neither. */
function recordFrom(stored) {
  const values = Array.isArray(stored) ? stored : FIELDS.map((f) => stored?.[f]);
  if (values.length !== FIELDS.length || !values.every(Number.isFinite)) return null;
  return Object.fromEntries(FIELDS.map((f, i) => [f, values[i]]));
}

/** The history stored with a model, read in either form; throws if it is damaged. */
export function historyFromStore(stored) {
  const lists = [stored?.steps, stored?.tests];
  if (!lists.every(Array.isArray)) throw new Error('its training history is damaged');
  const [steps, tests] = lists.map((list) => list.map(recordFrom));
  if ([...steps, ...tests].includes(null)) throw new Error('its training history is damaged');
  return { steps: StepRecords.from(steps), tests };
}
