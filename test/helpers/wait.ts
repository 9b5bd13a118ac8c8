/** What a check or a predicate looks for, from its source text: for a failure message. */
export function describeCheck(check: (...args: never[]) => unknown): string {
  const source = check.toString().replace(/\s+/g, ' ');
  return `matching ${source.length > 300 ? `${source.slice(0, 300)}…` : source}`;
}

/**
 * The one poller of the tests, for state that no event announces (a peer's
 * counters, a file, /proc, the Docker API): resolves with the first value
 * `find` returns (or resolves with) that is not undefined, checking every
 * `everyMs`; after `timeoutMs` rejects naming what it looked for and what
 * `explain` says of the state then. Lines of a log are waited for with
 * `LogLines.waitFor`, which needs no polling.
 */
export function pollUntil<T>(
  find: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  explain: string | (() => string),
  everyMs = 10,
): Promise<T> {
  return poll(find, describeCheck(find), timeoutMs, explain, everyMs);
}

/** {@link pollUntil} for a yes-or-no condition: resolves once `check` holds. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  explain: string | (() => string),
  everyMs = 10,
): Promise<void> {
  await poll(async () => ((await check()) ? true : undefined), describeCheck(check), timeoutMs, explain, everyMs);
}

async function poll<T>(
  find: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs: number,
  explain: string | (() => string),
  everyMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) {
      throw new Error(`nothing ${what} within ${timeoutMs} ms; ${typeof explain === 'string' ? explain : explain()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * Resolves once the event loop has run `polls` poll phases that began after
 * the call. On loopback a byte, a FIN or a RST is in the receiving socket's
 * kernel queue when the call that sent it returns, and the next poll phase of
 * the process that owns that socket reads it and runs its handlers: when both
 * ends live in this process, a chain of up to `polls` such hops that had
 * started by the call has run its course. Counted in turns of the loop, not
 * in ms: a busy machine makes it take longer, never prove less.
 */
export async function afterPolls(polls: number): Promise<void> {
  // An immediate queued now may still run in this turn, after a poll phase that began
  // before the call: one more than `polls`.
  for (let i = 0; i <= polls; i++) await new Promise((resolve) => setImmediate(resolve));
}
