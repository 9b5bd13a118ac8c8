/**
 * Resolves with the first value `find` returns that is not undefined, checking
 * every `everyMs`; after `timeoutMs` rejects with what `explain` says.
 */
export async function pollUntil<T>(
  find: () => T | undefined,
  timeoutMs: number,
  explain: () => string,
  everyMs = 10,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`nothing matched within ${timeoutMs} ms; ${explain()}`);
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
