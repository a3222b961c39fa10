// minimist turns an option given twice into an array, which the parsers would then read as a
// string or a number by accident. Callers refuse such command lines instead of guessing which one counts.
export function repeatedOptions(parsed: Record<string, unknown>): string[] {
  return Object.keys(parsed).filter((key) => key !== '_' && Array.isArray(parsed[key]));
}
