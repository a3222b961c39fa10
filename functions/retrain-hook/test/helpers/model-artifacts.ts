// Model files for registry versions that real scorers load: the score function's bundled model (a model
// the traffic fits), the same graph under a card with other feature names (what a model trained on the
// credit-card CSV looks like: every synthetic transaction is rejected by it), and a damaged artifact whose
// bytes no longer match the card's sha256 (the scorer refuses to serve it).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from './hook.ts';

export type ModelFiles = Record<string, Buffer>;

const bundledDir = path.join(packageRoot, '..', 'score', 'model');

function bundled(): { card: Record<string, unknown> & { features: unknown[] }; onnx: Buffer } {
  return {
    card: JSON.parse(readFileSync(path.join(bundledDir, 'model-card.json'), 'utf8')),
    onnx: readFileSync(path.join(bundledDir, 'model.onnx')),
  };
}

const files = (card: unknown, onnx: Buffer): ModelFiles => ({
  'model-card.json': Buffer.from(JSON.stringify(card, null, 2)),
  'model.onnx': onnx,
});

/** The bundled model as a registry version would carry it. */
export function goodModel(): ModelFiles {
  const { card, onnx } = bundled();
  return files(card, onnx);
}

/** A valid model whose features (V1…, Amount) are not the fields of the transactions it will receive. */
export function otherFeaturesModel(): ModelFiles {
  const { card, onnx } = bundled();
  const n = card.features.length;
  const features = card.features.map((_, i) => ({
    name: i === n - 1 ? 'Amount' : `V${i + 1}`,
    type: 'number',
  }));
  return files({ ...card, features }, onnx);
}

/** The bundled card with an ONNX file damaged after the card recorded its sha256. */
export function damagedModel(): ModelFiles {
  const { card, onnx } = bundled();
  const damaged = Buffer.from(onnx);
  damaged[damaged.length - 1] = (damaged[damaged.length - 1] ?? 0) ^ 0xff;
  return files(card, damaged);
}
