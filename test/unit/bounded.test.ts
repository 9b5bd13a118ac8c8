import { mapBounded } from '../../src/orchestrator/docker';

/** A task whose calls settle only when the test says so, counting the calls in flight. */
function gatedTask(): {
  task: (item: number) => Promise<number>;
  inFlight: () => number;
  peak: () => number;
  started: number[];
  settle: (item: number, error?: Error) => void;
} {
  const gates = new Map<number, { resolve: (value: number) => void; reject: (err: Error) => void }>();
  const started: number[] = [];
  let current = 0;
  let highest = 0;
  return {
    task: (item) => {
      started.push(item);
      current += 1;
      highest = Math.max(highest, current);
      return new Promise<number>((resolve, reject) => gates.set(item, { resolve, reject })).finally(
        () => (current -= 1),
      );
    },
    inFlight: () => current,
    peak: () => highest,
    started,
    settle: (item, error) => {
      const gate = gates.get(item);
      if (gate === undefined) throw new Error(`item ${item} was not started`);
      if (error === undefined) gate.resolve(item * 10);
      else gate.reject(error);
    },
  };
}

/** Lets every settled promise's continuations run. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('mapBounded', () => {
  it('never has more than `limit` calls in flight, starts the next as one settles, keeps the order', async () => {
    const gated = gatedTask();
    const items = [0, 1, 2, 3, 4, 5, 6];
    const all = mapBounded(items, 3, gated.task);
    await turn();
    expect(gated.started).toEqual([0, 1, 2]);
    expect(gated.inFlight()).toBe(3);
    // Settled out of order: the freed slot takes the next item, the results stay in the items' order.
    gated.settle(2);
    await turn();
    expect(gated.started).toEqual([0, 1, 2, 3]);
    for (const item of [0, 1, 3, 4, 5, 6]) {
      gated.settle(item);
      await turn();
    }
    await expect(all).resolves.toEqual([0, 10, 20, 30, 40, 50, 60]);
    expect(gated.peak()).toBe(3);
  });

  it('runs every call even when one rejects, then rejects with the first failure in the items order', async () => {
    const gated = gatedTask();
    const all = mapBounded([0, 1, 2, 3], 2, gated.task);
    const outcome = all.then(
      () => 'resolved',
      (err: Error) => err.message,
    );
    await turn();
    gated.settle(1, new Error('one failed'));
    await turn();
    gated.settle(0, new Error('zero failed'));
    await turn();
    expect(gated.started).toEqual([0, 1, 2, 3]);
    gated.settle(2);
    gated.settle(3);
    await expect(outcome).resolves.toBe('zero failed');
    expect(gated.inFlight()).toBe(0);
  });

  it('resolves at once for no items, and takes a limit above the count', async () => {
    await expect(mapBounded([], 4, async () => 1)).resolves.toEqual([]);
    const gated = gatedTask();
    const all = mapBounded([1, 2], 50, gated.task);
    await turn();
    expect(gated.peak()).toBe(2);
    gated.settle(1);
    gated.settle(2);
    await expect(all).resolves.toEqual([10, 20]);
  });

  it('refuses a limit that is not a positive integer', async () => {
    for (const limit of [0, -1, 1.5, Number.NaN]) {
      await expect(mapBounded([1], limit, async () => 1)).rejects.toThrow(RangeError);
    }
  });
});
