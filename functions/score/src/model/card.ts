// The model card contract (docs/DESIGN.md, schema_version 1): everything the scorer derives from a model.

export type Feature =
  | { name: string; type: 'number'; minimum?: number; maximum?: number }
  | { name: string; type: 'integer'; minimum?: number; maximum?: number }
  | { name: string; type: 'boolean' }
  | { name: string; type: 'category'; categories: string[] };

export interface ModelCard {
  schema_version: 1;
  name: string;
  version: string;
  input: { name: string; dtype: 'float32'; shape: [null, number] | (number | null)[] };
  outputs: { label: string; probabilities: string; positive_index: number };
  features: Feature[];
  threshold: number;
  baseline?: { score_buckets?: number[]; score_cumulative_fraction?: number[] };
  onnx: { file: string; sha256: string };
}

/** Checks a parsed model-card.json and returns it typed; throws naming the first problem. */
export function parseModelCard(raw: unknown): ModelCard {
  const fail = (what: string): never => {
    throw new Error(`invalid model card: ${what}`);
  };
  if (!raw || typeof raw !== 'object') fail('not a JSON object');
  const card = raw as Record<string, unknown>;
  if (card.schema_version !== 1) fail(`schema_version must be 1, got ${JSON.stringify(card.schema_version)}`);
  if (typeof card.name !== 'string' || !card.name) fail('name must be a non-empty string');
  if (typeof card.version !== 'string' || !card.version) fail('version must be a non-empty string');
  const input = card.input as ModelCard['input'] | undefined;
  if (!input || typeof input.name !== 'string') fail('input.name missing');
  if (input?.dtype !== 'float32') fail('input.dtype must be float32');
  const outputs = card.outputs as ModelCard['outputs'] | undefined;
  if (!outputs || typeof outputs.probabilities !== 'string' || typeof outputs.label !== 'string')
    fail('outputs.label and outputs.probabilities must be strings');
  if (!Number.isInteger(outputs?.positive_index)) fail('outputs.positive_index must be an integer');
  if (!Array.isArray(card.features) || card.features.length === 0) fail('features must be a non-empty list');
  const names = new Set<string>();
  for (const [i, f] of (card.features as Feature[]).entries()) {
    if (!f || typeof f.name !== 'string' || !f.name) fail(`features[${i}].name missing`);
    if (names.has(f.name)) fail(`features[${i}].name ${f.name} repeated`);
    names.add(f.name);
    if (f.type === 'category') {
      if (
        !Array.isArray(f.categories) ||
        f.categories.length === 0 ||
        f.categories.some((c) => typeof c !== 'string')
      )
        fail(`features[${i}] (${f.name}): categories must be a non-empty list of strings`);
    } else if (f.type === 'number' || f.type === 'integer') {
      for (const bound of ['minimum', 'maximum'] as const) {
        const v = f[bound];
        if (v !== undefined && v !== null && !Number.isFinite(v))
          fail(`features[${i}].${bound} must be a number`);
      }
    } else if (f.type !== 'boolean') {
      const unknown = f as { name: string; type: unknown };
      fail(`features[${i}] (${unknown.name}): unknown type ${JSON.stringify(unknown.type)}`);
    }
  }
  const width = (input?.shape as unknown[] | undefined)?.[1];
  if (typeof width === 'number' && width !== (card.features as unknown[]).length)
    fail(`input.shape[1] is ${width} but there are ${(card.features as unknown[]).length} features`);
  if (typeof card.threshold !== 'number' || !(card.threshold >= 0 && card.threshold <= 1))
    fail('threshold must be a number in [0, 1]');
  const onnx = card.onnx as ModelCard['onnx'] | undefined;
  if (!onnx || typeof onnx.file !== 'string' || !/^[a-f0-9]{64}$/.test(String(onnx.sha256)))
    fail('onnx.file and onnx.sha256 (64 hex digits) are required');
  if (onnx && (onnx.file.includes('/') || onnx.file.includes('\\') || onnx.file.startsWith('.')))
    fail('onnx.file must be a plain file name');
  const baseline = card.baseline as ModelCard['baseline'];
  const buckets = baseline?.score_buckets;
  if (buckets !== undefined) {
    if (
      !Array.isArray(buckets) ||
      buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= (buckets[i - 1] ?? 0)))
    )
      fail('baseline.score_buckets must be increasing numbers');
    const fractions = baseline?.score_cumulative_fraction;
    if (fractions !== undefined && (!Array.isArray(fractions) || fractions.length !== buckets.length))
      fail('baseline.score_cumulative_fraction must have one value per bucket');
  }
  return card as unknown as ModelCard;
}
