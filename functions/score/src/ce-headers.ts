// Header values in CloudEvents binary mode (HTTP protocol binding, section 3.1.3.2).

/** CloudEvents HTTP binding: header values percent-encode anything outside printable ASCII, '"' and '%'. */
export function encodeHeaderValue(value: string): string {
  return value.replace(/[^\x21\x23-\x24\x26-\x7e ]/gu, (c) =>
    [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
}

export function decodeHeaderValue(value: unknown): unknown {
  if (typeof value !== 'string' || !value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
