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
