// What a user of the stock Knative TypeScript template gets: faas-js-runtime 4 with the default handler
// shape (context, body), serving the same ONNX model with onnxruntime-node on the main thread.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import faas from 'faas-js-runtime';
import ort from 'onnxruntime-node';

const modelDir = process.env.MODEL_DIR;
const card = JSON.parse(readFileSync(path.join(modelDir, 'model-card.json'), 'utf8'));
const session = await ort.InferenceSession.create(path.join(modelDir, card.onnx.file));
const F = card.features.length;

function encode(tx) {
  const row = new Float32Array(F);
  card.features.forEach((f, i) => {
    const v = tx[f.name];
    row[i] = f.type === 'boolean' ? (v ? 1 : 0) : f.type === 'category' ? f.categories.indexOf(v) : v;
  });
  return row;
}

const handle = async (_context, body) => {
  const out = await session.run({ [card.input.name]: new ort.Tensor('float32', encode(body), [1, F]) });
  const p = out[card.outputs.probabilities].data[card.outputs.positive_index];
  return {
    transaction_id: body.transaction_id ?? null,
    card_id: body.card_id ?? null,
    fraud_probability: p,
    decision: p >= card.threshold ? 'fraud' : 'legit',
    threshold: card.threshold,
    model: { name: card.name, version: card.version, sha256: card.onnx.sha256 },
  };
};

await faas.start(handle, { port: Number(process.env.PORT), logLevel: 'warn' });
