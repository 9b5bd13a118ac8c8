import { nodeIdFromPtrName } from '../../src/slave/node-id';

describe('nodeIdFromPtrName', () => {
  it('takes the container name under Compose', () => {
    expect(nodeIdFromPtrName('picluster-slave-3.picluster_default')).toBe('picluster-slave-3');
    expect(nodeIdFromPtrName('picluster-slave-3')).toBe('picluster-slave-3');
  });

  it('takes service and slot under Swarm, where every task shares the first label', () => {
    // As Swarm's DNS answered for the tasks of a two-replica service on this machine.
    expect(nodeIdFromPtrName('ptr_probe.2.tykn8rna7vsrpmlaluno67fl9.ptr_default')).toBe('ptr_probe-2');
    expect(nodeIdFromPtrName('ptr_probe.1.vbssafblmbj5uehq35x4pf4a0.ptr_default')).toBe('ptr_probe-1');
    // A global service names the node instead of a slot: still one id per node.
    expect(nodeIdFromPtrName('pi_slave.q1w2e3r4t5y6u7i8o9p0a1s2d.vbssafblmbj5uehq35x4pf4a0.pi_default')).toBe(
      'pi_slave-q1w2e3r4t5y6u7i8o9p0a1s2d',
    );
  });

  it('gives nothing for an empty name', () => {
    expect(nodeIdFromPtrName('')).toBeUndefined();
  });
});
