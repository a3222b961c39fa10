// A drop-in for kafkajs 2.2.4's record encoder (protocol/recordBatch/record/v0) that writes each record
// straight into one buffer. kafkajs builds a record from a zero-filled 512-byte Encoder per header plus a
// Buffer per varint; with the nine ce_* headers of a binary-mode CloudEvent that was about half of the
// attack generator's CPU at its top rate (node --cpu-prof, see README.md). The bytes are the same: a test
// holds them equal to kafkajs' own encoder, install() checks a sample before it switches, and anything the
// fast path does not cover (odd key/value/header types, huge timestamp deltas) goes to the original.
// Plain JavaScript: the producer worker threads load it too, and they do not inherit the tsx loader.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const kafkajsDir = path.dirname(require.resolve('kafkajs/package.json'));
const RECORD_MODULE = path.join(kafkajsDir, 'src/protocol/recordBatch/record/v0/index.js');
const SUPPORTED_VERSION = '2.2.4';

const Encoder = require(path.join(kafkajsDir, 'src/protocol/encoder.js'));

// kafkajs' varint: zig-zag on 32 bits, then 7 bits a byte (the same integer operations, so the same bytes).
const zigZag = (value) => (value << 1) ^ (value >> 31);
function uvarintSize(value) {
  let size = 1;
  while ((value & 0xffffff80) !== 0) {
    size++;
    value >>>= 7;
  }
  return size;
}
function writeUVarint(buf, offset, value) {
  while ((value & 0xffffff80) !== 0) {
    buf[offset++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buf[offset++] = value & 0x7f;
  return offset;
}

// Header names repeat on every record: encode each once.
const nameCache = new Map();
function encodedName(name) {
  let b = nameCache.get(name);
  if (b === undefined) {
    b = Buffer.from(name, 'utf8');
    if (nameCache.size < 1024) nameCache.set(name, b);
  }
  return b;
}

const isBytes = (v) => v == null || typeof v === 'string' || Buffer.isBuffer(v);
const byteLength = (v) => (typeof v === 'string' ? Buffer.byteLength(v, 'utf8') : v.length);
function writeBytes(buf, offset, v, length) {
  if (typeof v === 'string') return offset + buf.utf8Write(v, offset, length);
  v.copy(buf, offset);
  return offset + length;
}

/** Header list as kafkajs flattens it (an array value is one header per element), or null to fall back. */
function flatHeaders(headers) {
  const names = [];
  const values = [];
  for (const name of Object.keys(headers)) {
    const v = headers[name];
    const list = Array.isArray(v) ? v : [v];
    for (const item of list) {
      // kafkajs itself throws on a null header value; leave such records to it.
      if (typeof item !== 'string' && !Buffer.isBuffer(item)) return null;
      names.push(encodedName(name));
      values.push(item);
    }
  }
  return { names, values };
}

/**
 * Encodes one record like kafkajs' Record v0 and returns a kafkajs Encoder holding it, or null when the
 * record has something the fast path leaves to kafkajs.
 */
export function encodeRecord({ offsetDelta = 0, timestampDelta = 0, key, value, headers = {} }) {
  if (!isBytes(key) || !isBytes(value)) return null;
  // Varlong zig-zag equals the 32-bit one below 2^30 in magnitude: larger deltas go to kafkajs.
  if (!Number.isInteger(timestampDelta) || Math.abs(timestampDelta) >= 2 ** 30) return null;
  if (!Number.isInteger(offsetDelta)) return null;
  const flat = flatHeaders(headers);
  if (flat === null) return null;

  const keyLength = key == null ? -1 : byteLength(key);
  const valueLength = value == null ? -1 : byteLength(value);
  const valueLengths = new Array(flat.values.length);
  let headersSize = uvarintSize(zigZag(flat.names.length));
  for (let i = 0; i < flat.names.length; i++) {
    const nameLength = flat.names[i].length;
    const length = byteLength(flat.values[i]);
    valueLengths[i] = length;
    headersSize += uvarintSize(zigZag(nameLength)) + nameLength + uvarintSize(zigZag(length)) + length;
  }
  const body =
    1 +
    uvarintSize(zigZag(timestampDelta)) +
    uvarintSize(zigZag(offsetDelta)) +
    uvarintSize(zigZag(keyLength)) +
    Math.max(keyLength, 0) +
    uvarintSize(zigZag(valueLength)) +
    Math.max(valueLength, 0) +
    headersSize;

  // allocUnsafe: every byte is written below; small sizes come from Node's shared pool.
  const buf = Buffer.allocUnsafe(uvarintSize(zigZag(body)) + body);
  let o = writeUVarint(buf, 0, zigZag(body));
  buf[o++] = 0; // attributes
  o = writeUVarint(buf, o, zigZag(timestampDelta));
  o = writeUVarint(buf, o, zigZag(offsetDelta));
  o = writeUVarint(buf, o, zigZag(keyLength));
  if (keyLength > 0) o = writeBytes(buf, o, key, keyLength);
  o = writeUVarint(buf, o, zigZag(valueLength));
  if (valueLength > 0) o = writeBytes(buf, o, value, valueLength);
  o = writeUVarint(buf, o, zigZag(flat.names.length));
  for (let i = 0; i < flat.names.length; i++) {
    const name = flat.names[i];
    o = writeUVarint(buf, o, zigZag(name.length));
    name.copy(buf, o);
    o += name.length;
    o = writeUVarint(buf, o, zigZag(valueLengths[i]));
    o = writeBytes(buf, o, flat.values[i], valueLengths[i]);
  }
  // A real Encoder (its methods and `buffer` getter are what RecordBatch uses) without its 512-byte alloc.
  const encoder = Object.create(Encoder.prototype);
  encoder.buf = buf;
  encoder.offset = o;
  return encoder;
}

/** kafkajs' own record encoder (loaded on demand; used for fallbacks and by the equality test). */
export function stockRecord() {
  const cached = require.cache[RECORD_MODULE];
  if (cached?.exports.fastRecordOriginal) return cached.exports.fastRecordOriginal;
  return require(RECORD_MODULE);
}

function sameBytes(a, b) {
  return Buffer.compare(a.buffer, b.buffer) === 0;
}

const SAMPLE = {
  offsetDelta: 300,
  timestampDelta: 7,
  key: 'card-000123',
  value: JSON.stringify({ amount: 12.5, merchant: 'café ☕' }),
  headers: { ce_id: 'tx-1', ce_type: 'dev.fraud.transaction.v1', multi: ['a', Buffer.from('b')] },
};

let fastEnabled = true;

/**
 * Puts the fast encoder in place of kafkajs' Record v0 for this thread (idempotent). Must run before the
 * thread's first produce: kafkajs loads the produce request, and with it the record encoder, on first use.
 * Returns why it did not when it could not.
 */
export function installFastRecordEncoder() {
  if (require.cache[RECORD_MODULE]?.exports.fastRecordOriginal) return { installed: true };
  const version = JSON.parse(readFileSync(path.join(kafkajsDir, 'package.json'), 'utf8')).version;
  if (version !== SUPPORTED_VERSION) return { installed: false, reason: `kafkajs ${version} is not 2.2.4` };
  const produceRequest = path.join(kafkajsDir, 'src/protocol/requests/produce/v3/request.js');
  if (require.cache[produceRequest])
    return { installed: false, reason: 'kafkajs produced before the install' };
  const original = require(RECORD_MODULE);
  const fast = encodeRecord(SAMPLE);
  if (fast === null || !sameBytes(fast, original(SAMPLE))) {
    return { installed: false, reason: 'a sample record differs from kafkajs' };
  }
  const record = (fields) => (fastEnabled ? (encodeRecord(fields) ?? original(fields)) : original(fields));
  record.fastRecordOriginal = original;
  require.cache[RECORD_MODULE].exports = record;
  return { installed: true };
}

/**
 * Chooses the record encoder for this thread's producers: 'fast' (installing it if needed) or 'kafkajs'.
 * Returns the one in use, with the reason when 'fast' was asked for and could not be had.
 */
export function useRecordEncoder(kind) {
  if (kind === 'kafkajs') {
    fastEnabled = false;
    return { encoder: 'kafkajs' };
  }
  const result = installFastRecordEncoder();
  fastEnabled = result.installed;
  return result.installed ? { encoder: 'fast' } : { encoder: 'kafkajs', reason: result.reason };
}
