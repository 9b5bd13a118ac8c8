import { readFileSync } from 'node:fs';
import {
  ACTION_SPECS,
  ACTIONS,
  actionEndedBy,
  actionSchema,
  DOWN_STATES,
  faultRuleOf,
  isAction,
} from '../../src/orchestrator/actions';
import { cutBound, killBound } from '../../src/orchestrator/bounds';
import type { Action } from '../../src/orchestrator/types';
import { SCENARIO_SCHEMA_FILE } from '../../src/orchestrator/scenario';

describe('the action table', () => {
  it('is what the committed scenario schema says of actions (npm run -s schema writes it)', () => {
    const schema = JSON.parse(readFileSync(SCENARIO_SCHEMA_FILE, 'utf8')) as {
      definitions: { event: { properties: { action: unknown } } };
    };
    expect(schema.definitions.event.properties.action).toEqual(actionSchema());
  });

  it('lists every action once, in the order of its rows', () => {
    expect(ACTIONS).toEqual(Object.keys(ACTION_SPECS));
    expect(ACTIONS.every(isAction)).toBe(true);
    expect(isAction('partition')).toBe(false);
    expect(isAction('toString')).toBe(false);
  });

  it('pairs each lasting fault with an ending that undoes its transition', () => {
    for (const action of ACTIONS) {
      const spec = ACTION_SPECS[action];
      if (spec.endedBy === undefined) continue;
      const ending = ACTION_SPECS[spec.endedBy];
      expect(ending.target).toBe(spec.target);
      if (spec.link !== undefined) expect(ending.link).toEqual({ from: spec.link.to, to: spec.link.from });
      if (spec.process?.to !== undefined) {
        expect(ending.process?.from).toContain(spec.process.to);
        expect(spec.process.from).toContain(ending.process?.to);
      }
      expect(ending.recovery).toBeDefined();
      expect(ending.disconnect).toBeUndefined();
    }
    expect(actionEndedBy('reconnect')).toBe('disconnect');
    expect(actionEndedBy('unpause')).toBe('pause');
    expect(actionEndedBy('start')).toBe('kill');
    expect(actionEndedBy('kill')).toBeUndefined();
  });

  it('says of each fault what the checker judges it by', () => {
    const row = (action: keyof typeof ACTION_SPECS): unknown => {
      const { latencyGroup, disconnect, recovery, abrupt } = ACTION_SPECS[action];
      return {
        latencyGroup,
        reasons: disconnect?.reasons,
        onlyWhenLonger: disconnect?.onlyWhenLonger,
        disconnectBound: disconnect?.bound?.({ heartbeatIntervalMs: 250, heartbeatTimeoutMs: 1000 }).ms,
        recoveryBound: recovery?.bound({ heartbeatIntervalMs: 250, heartbeatTimeoutMs: 1000 }).ms,
        mayKeep: recovery?.mayKeepConnection,
        abrupt,
      };
    };
    const cut = { latencyGroup: 'cutPause', reasons: ['timeout'], onlyWhenLonger: true, disconnectBound: 2250 };
    const recovered = { latencyGroup: 'killStop', recoveryBound: 6000, abrupt: false };
    const killed = {
      latencyGroup: 'killStop',
      reasons: ['closed', 'reset'],
      onlyWhenLonger: false,
      disconnectBound: 2000,
    };
    expect(row('disconnect')).toEqual({ ...cut, abrupt: false });
    expect(row('pause')).toEqual({ ...cut, abrupt: false });
    expect(row('reconnect')).toEqual({ ...recovered, mayKeep: true });
    expect(row('unpause')).toEqual({ ...recovered, mayKeep: true });
    expect(row('start')).toEqual({ ...recovered, mayKeep: false });
    expect(row('kill')).toEqual({ ...killed, abrupt: true });
    expect(row('stop')).toEqual({ ...killed, abrupt: false });
    expect(row('restart')).toEqual({ ...killed, abrupt: false, recoveryBound: 6000, mayKeep: false });
    expect(row('master-restart')).toEqual({
      latencyGroup: 'masterRestart',
      reasons: ['shutdown'],
      onlyWhenLonger: false,
      recoveryBound: 6000,
      mayKeep: false,
      abrupt: false,
    });
  });

  it('lets only a start act on a slave that runs no process', () => {
    for (const action of ACTIONS) {
      const from = ACTION_SPECS[action].process?.from ?? [];
      const down = from.filter((state) => DOWN_STATES.has(state));
      expect(down.length === 0 || action === 'start').toBe(true);
    }
  });
});

describe("the checker's view of the table", () => {
  it("gives, for every action, the checker's fault rule as it stands today", () => {
    const base = {
      targetsMaster: false,
      disconnectReasons: [],
      restartsProcess: false,
      alwaysUnclean: false,
      losesSentLines: false,
      mayKeep: false,
      recovers: false,
    };
    const endProcess = {
      ...base,
      kind: 'end-process',
      latencyGroup: 'killStop',
      disconnectReasons: ['closed', 'reset'],
    };
    const cut = { ...base, kind: 'cut', latencyGroup: 'cutPause', disconnectReasons: ['timeout'] };
    const heal = { ...base, kind: 'heal', latencyGroup: 'killStop', mayKeep: true, recovers: true };
    const expected: Record<Action, object> = {
      kill: { ...endProcess, disconnectBound: killBound, alwaysUnclean: true, losesSentLines: true },
      stop: { ...endProcess, disconnectBound: killBound },
      restart: { ...endProcess, disconnectBound: killBound, restartsProcess: true, recovers: true },
      start: { ...base, kind: 'start', latencyGroup: 'killStop', recovers: true },
      disconnect: { ...cut, disconnectBound: cutBound, disruption: 'cut', endedBy: 'reconnect', noun: 'cut' },
      pause: { ...cut, disconnectBound: cutBound, disruption: 'paused', endedBy: 'unpause', noun: 'pause' },
      reconnect: { ...heal, disruption: 'cut' },
      unpause: { ...heal, disruption: 'paused' },
      'master-restart': {
        ...base,
        kind: 'master-restart',
        targetsMaster: true,
        latencyGroup: 'masterRestart',
        disconnectReasons: ['shutdown'],
        recovers: true,
      },
    };
    for (const action of ACTIONS) expect([action, faultRuleOf(action)]).toEqual([action, expected[action]]);
  });
});
