// The model the tests serve: the bundled one (functions/score/model), as every deployment starts with it.
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundledModelDir } from '../../src/config.ts';
import { type ModelCard, parseModelCard } from '../../src/model/card.ts';

export const modelDir = process.env.SCORE_TEST_MODEL_DIR ?? bundledModelDir;

export function requireModel(): string {
  if (!existsSync(path.join(modelDir, 'model-card.json')) || !existsSync(path.join(modelDir, 'model.onnx')))
    throw new Error(
      `the bundled model is missing in ${modelDir} (model.onnx + model-card.json): run \`npm run train\` at the repo root`,
    );
  return modelDir;
}

export function loadCard(): ModelCard {
  return parseModelCard(JSON.parse(readFileSync(path.join(requireModel(), 'model-card.json'), 'utf8')));
}

/** A copy of the bundled model in a temp dir, with its card edited (e.g. a wrong sha256). */
export function modelCopy(editCard: (card: Record<string, unknown>) => void = () => undefined): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'score-model-'));
  cpSync(requireModel(), dir, { recursive: true });
  const cardFile = path.join(dir, 'model-card.json');
  const card = JSON.parse(readFileSync(cardFile, 'utf8')) as Record<string, unknown>;
  editCard(card);
  writeFileSync(cardFile, JSON.stringify(card, null, 2));
  return dir;
}
