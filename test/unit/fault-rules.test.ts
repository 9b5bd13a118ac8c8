import { FAULT_RULES } from '../../src/orchestrator/check';
import { ACTIONS } from '../../src/orchestrator/types';

describe('the checker fault rules', () => {
  it('has one rule per action', () => {
    expect(Object.keys(FAULT_RULES).sort()).toEqual([...ACTIONS].sort());
  });

  it('pairs every cut with the heal that ends it', () => {
    for (const action of ACTIONS) {
      const rule = FAULT_RULES[action];
      if (rule.kind !== 'cut') continue;
      const heal = FAULT_RULES[rule.endedBy as keyof typeof FAULT_RULES];
      expect({ action, kind: heal.kind, disruption: heal.disruption }).toEqual({
        action,
        kind: 'heal',
        disruption: rule.disruption,
      });
    }
  });

  it('gives every fault that may cause a disconnect its reasons, and a bound to every slave fault among them', () => {
    for (const action of ACTIONS) {
      const rule = FAULT_RULES[action];
      const causes =
        rule.kind === 'end-process' || rule.kind === 'cut' || rule.kind === 'master-restart' || rule.kind === 'reset';
      expect({ action, reasons: rule.disconnectReasons.length > 0 }).toEqual({ action, reasons: causes });
      expect({ action, bound: rule.disconnectBound !== undefined }).toEqual({
        action,
        bound: causes && !rule.targetsMaster,
      });
    }
  });

  it('expects a node to be seen again after every fault that brings it back, and only then', () => {
    for (const action of ACTIONS) {
      const rule = FAULT_RULES[action];
      const back =
        rule.kind === 'start' ||
        rule.kind === 'heal' ||
        rule.kind === 'master-restart' ||
        rule.kind === 'reset' ||
        rule.restartsProcess;
      expect({ action, recovers: rule.recovers }).toEqual({ action, recovers: back });
    }
  });
});
