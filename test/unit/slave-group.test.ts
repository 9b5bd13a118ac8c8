import { OptionError } from '../../src/common';
import { MAX_NODE_ID_LENGTH } from '../../src/protocol';
import { SlaveGroup, replicaIds } from '../../src/slave';
import { LogSink } from '../helpers/log-sink';

describe('replicaIds', () => {
  it('numbers the replicas from the first one', () => {
    expect(replicaIds('slave', { replicas: 3, firstReplica: 1 })).toEqual(['slave-1', 'slave-2', 'slave-3']);
    expect(replicaIds('slave', { replicas: 2, firstReplica: 251 })).toEqual(['slave-251', 'slave-252']);
  });

  it.each([0, -1, 10_001, 1.5])('refuses %p replicas, naming the option and its range', (replicas) => {
    expect(() => replicaIds('slave', { replicas, firstReplica: 1 })).toThrow(
      expect.objectContaining({ option: 'replicas', message: expect.stringContaining('1 to 10000') }),
    );
  });

  it('refuses a base id whose last replica id is too long, naming it', () => {
    const base = 'a'.repeat(MAX_NODE_ID_LENGTH - 3);
    expect(replicaIds(base, { replicas: 99, firstReplica: 1 })).toHaveLength(99);
    const refused = (): string[] => replicaIds(base, { replicas: 100, firstReplica: 1 });
    expect(refused).toThrow(OptionError);
    expect(refused).toThrow(`${base}-100`);
  });

  it('refuses a group with a bad start spread before anything starts', () => {
    const sink = new LogSink();
    expect(() => new SlaveGroup({ node: 'g' }, { replicas: 2, startSpreadMs: -1 }, sink.log)).toThrow(
      expect.objectContaining({ option: 'startSpreadMs' }),
    );
    expect(sink.lines).toEqual([]);
  });
});
