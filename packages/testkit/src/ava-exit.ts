// Loaded into every ava worker (the `require` option of each package's ava configuration).
// ava 6+ lets a test file's process end only when its event loop drains. A stray handle — a kafkajs
// reconnect timer, a socket a crashed service left half-open — then keeps the worker alive after every
// test has passed, until ava's inactivity timeout fails the suite with "Timed out while running tests".
// Services started through testkit are killed by their own exit hooks (process.ts), so ending the worker
// once ava is done is safe; the handles still open are named on stderr so a leak stays visible.
import { registerCompletionHandler } from 'ava';

function countByKind(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

// The worker's own stdio and IPC pipes are open from the start; only what the tests added is a leak.
const atStart = countByKind();

registerCompletionHandler(() => {
  const leaked = [...countByKind()]
    .map(([kind, n]) => [kind, n - (atStart.get(kind) ?? 0)] as const)
    .filter(([, n]) => n > 0);
  if (leaked.length > 0) {
    const summary = leaked.map(([kind, n]) => `${kind}×${n}`).join(', ');
    process.stderr.write(`[ava-exit] ending the test worker with handles still open: ${summary}\n`);
  }
  process.exit();
});
