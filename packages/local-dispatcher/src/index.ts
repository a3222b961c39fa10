export { type Bridge, type BridgeOptions, startBridge } from './bridge.ts';
export { bridgeConfig, ConfigError, dispatcherConfig } from './config.ts';
export { deadLetterRecord } from './dead-letter.ts';
export { backoffMs, HttpSink, isRetryable, knativeDefaultRetry, type RetryPolicy } from './deliver.ts';
export { Dispatcher, type DispatcherOptions, type DispatcherStats, type Ordering } from './dispatcher.ts';
export { encodeHeaderValue, toHttpBinary } from './http-binary.ts';
export { headersAsStrings, recordToEvent, type SourceRecord, wrapRecord } from './records.ts';
export {
  type ContentMode,
  TRANSACTION_TYPE,
  transactionEvent,
  transactionMessage,
} from './transaction-event.ts';
