// minimist turns an option given twice into an array, which the parsers would then read as a
// string or a number by accident. Callers refuse such command lines instead of guessing which one counts.
export function repeatedOptions(parsed: Record<string, unknown>): string[] {
  return Object.keys(parsed).filter((key) => key !== '_' && Array.isArray(parsed[key]));
}

/**
 * For small scripts with a few `--name value` options: parses strictly, prints `usage` and exits 0 on
 * --help, and exits 2 with a message on an unknown option, a stray argument or a repeated option.
 */
export function parseScriptArgs(
  minimist: (args: string[], opts: { string: string[]; boolean: string[] }) => Record<string, unknown>,
  args: string[],
  options: string[],
  usage: string,
): Record<string, unknown> {
  const parsed = minimist(args, { string: options, boolean: ['help'] });
  if (parsed.help) {
    console.log(usage);
    process.exit(0);
  }
  const unknown = Object.keys(parsed).filter((k) => k !== '_' && k !== 'help' && !options.includes(k));
  const stray = (parsed._ as unknown[]) ?? [];
  const repeated = repeatedOptions(parsed);
  const problem = unknown.length
    ? `unknown option(s): ${unknown.map((k) => `--${k}`).join(', ')}`
    : stray.length
      ? `unexpected argument(s): ${stray.join(' ')}`
      : repeated.length
        ? `given more than once: ${repeated.map((k) => `--${k}`).join(', ')}`
        : undefined;
  if (problem) {
    console.error(`${problem}\n${usage}`);
    process.exit(2);
  }
  return parsed;
}
