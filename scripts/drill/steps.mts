// What the drills share about their steps: a step that did not happen in time is a MissedStep (the drill's
// report names it), and `within` polls a check until it gives a value or the step's time is up.

export class MissedStep extends Error {}

/** Polls `check` every `pollMs` until it returns a value (errors count as "not yet"), or throws MissedStep. */
export async function within<T>(
  seconds: number,
  step: string,
  check: () => Promise<T | undefined>,
  pollMs = 500,
): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new MissedStep(`${step}: not within ${seconds}s`);
}
