import { MODEL_HISTORY_PREFIX, modelHistoryKey } from '../contracts/layout.js';
import { type ModelWentLive, modelWentLiveSchema } from '../contracts/model-history.js';
import type { ObjectStore } from '../ports.js';
import { getJson, putJson } from './object-text.js';

/** Writes one going-live record under its own new key (see contracts/model-history.ts for why). */
export async function recordWentLive(store: ObjectStore, record: ModelWentLive): Promise<string> {
  const key = modelHistoryKey(record.liveAt, record.trainingId);
  await putJson(store, key, modelWentLiveSchema.parse(record));
  return key;
}

/** Every going-live record in the store, oldest first; throws naming the object that is not one. */
export async function readWentLive(store: ObjectStore): Promise<ModelWentLive[]> {
  const records: ModelWentLive[] = [];
  for await (const object of store.list(MODEL_HISTORY_PREFIX)) {
    if (!object.key.endsWith('.json')) continue;
    records.push(
      await getJson(
        store,
        object.key,
        modelWentLiveSchema,
        'a model history record',
        `move it out of ${MODEL_HISTORY_PREFIX}`,
      ),
    );
  }
  return records.sort((a, b) => a.liveAt.localeCompare(b.liveAt));
}
