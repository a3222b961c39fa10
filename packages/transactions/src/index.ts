export {
  compileField,
  type FieldSpec,
  type GenerateOptions,
  type GeneratorSpec,
  generateTransactions,
  generatorSpec,
  type PatternSpec,
  patternNames,
  type StreamOptions,
  TransactionSource,
  transactionStream,
  withoutLabels,
} from './generator.ts';
export {
  LABEL_TYPE,
  type Label,
  type LabelSource,
  labellerSources,
  labelSchema,
  labelSources,
} from './label.ts';
export { detExp, Mulberry32, roundTo, standardNormal } from './prng.ts';
export {
  encodeValue,
  type FeatureSpec,
  type LabelledTransaction,
  type MerchantCategory,
  merchantCategories,
  schemaFeatures,
  type Transaction,
  type TransactionSchema,
  toFeatureVector,
  transactionSchema,
} from './schema.ts';
