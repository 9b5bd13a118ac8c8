/**
 * Bounded parallelism for the calls a container cluster makes once per node
 * (open a log stream, inspect, read stats, read a log to its end): at 200
 * nodes, all at once would be 200 requests on the engine's socket together,
 * which the engine serves slower than a few at a time and which a busy
 * machine turns into timeouts.
 */

/** How many per-node Docker API calls a cluster has in flight at once, unless told otherwise. */
export const DEFAULT_ENGINE_CONCURRENCY = 8;

/**
 * Calls `task` on every item, at most `limit` calls in flight at once, and
 * resolves with the results in the order of `items`. Every call is started
 * even when one rejects (a cleanup must reach every node); once all have
 * settled, rejects with the first rejection in the order of `items`.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be an integer ≥ 1; got ${limit}`);
  const results = new Array<R>(items.length);
  const failures: { index: number; error: unknown }[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      try {
        results[index] = await task(items[index] as T, index);
      } catch (error) {
        failures.push({ index, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failures.length > 0) {
    throw failures.reduce((first, failure) => (failure.index < first.index ? failure : first)).error;
  }
  return results;
}
