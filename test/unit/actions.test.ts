import { readFileSync } from 'node:fs';
import {
  ACTION_SPECS,
  ACTIONS,
  actionsEndedBy,
  degradedDisconnect,
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
    expect(isAction('partition')).toBe(true);
    expect(isAction('jitter')).toBe(false);
    expect(isAction('toString')).toBe(false);
  });

  it('pairs each lasting fault with an ending that undoes its transition', () => {
    for (const action of ACTIONS) {
      const spec = ACTION_SPECS[action];
      if (spec.endedBy === undefined) continue;
      const ending = ACTION_SPECS[spec.endedBy];
      expect(ending.target).toBe(spec.target);
      if (spec.link !== undefined) {
        expect(ending.link?.from).toEqual([spec.link.to]);
        expect(spec.link.from).toContain(ending.link?.to);
      }
      if (spec.process?.to !== undefined) {
        expect(ending.process?.from).toContain(spec.process.to);
        expect(spec.process.from).toContain(ending.process?.to);
      }
      expect(ending.recovery).toBeDefined();
      expect(ending.disconnect).toBeUndefined();
    }
    expect(actionsEndedBy('reconnect')).toEqual(['disconnect']);
    expect(actionsEndedBy('unpause')).toEqual(['pause']);
    expect(actionsEndedBy('start')).toEqual(['kill', 'stop']);
    expect(actionsEndedBy('heal')).toEqual(['delay', 'loss', 'bandwidth', 'slice', 'partition', 'degrade']);
    expect(actionsEndedBy('kill')).toEqual([]);
  });

  it('says of each fault what the checker judges it by', () => {
    const row = (action: keyof typeof ACTION_SPECS): unknown => {
      const { latencyGroup, recovery, abrupt } = ACTION_SPECS[action];
      const disconnect = ACTION_SPECS[action].disconnect as Exclude<
        (typeof ACTION_SPECS)[Action]['disconnect'],
        (...args: never[]) => unknown
      >;
      return {
        latencyGroup,
        reasons: disconnect?.reasons,
        when: disconnect?.when,
        disconnectBound: disconnect?.bound?.({ heartbeatIntervalMs: 250, heartbeatTimeoutMs: 1000 }).ms,
        recoveryBound: recovery?.bound({ heartbeatIntervalMs: 250, heartbeatTimeoutMs: 1000 }).ms,
        mayKeep: recovery?.mayKeepConnection,
        abrupt,
      };
    };
    const cut = { latencyGroup: 'cutPause', reasons: ['timeout'], when: 'longer', disconnectBound: 2250 };
    const recovered = { latencyGroup: 'killStop', recoveryBound: 6000, abrupt: false };
    const killed = {
      latencyGroup: 'killStop',
      reasons: ['closed', 'reset'],
      when: 'always',
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
      when: 'always',
      recoveryBound: 6000,
      mayKeep: false,
      abrupt: false,
    });
    expect(row('reset')).toEqual({
      latencyGroup: 'network',
      reasons: ['reset'],
      when: 'always',
      disconnectBound: 2000,
      recoveryBound: 6000,
      mayKeep: false,
      abrupt: false,
    });
    expect(row('heal')).toEqual({ latencyGroup: 'network', recoveryBound: 6000, mayKeep: true, abrupt: false });
  });

  describe('what a degraded link may cause (interval 1 s, timeout 3 s, ack timeout 3 s)', () => {
    const settings = { heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 3000 };
    const of = (direction: 'to-master' | 'from-master' | 'both', shape: object): unknown => {
      const effect = degradedDisconnect({ direction, shape }, settings);
      return effect === undefined ? undefined : { reasons: effect.reasons, when: effect.when };
    };

    it('nothing when a frame cannot be held up past either timeout', () => {
      expect(of('both', { delayMs: 0 })).toBeUndefined();
      expect(of('to-master', { delayMs: 900, jitterMs: 50 })).toBeUndefined();
      expect(of('both', { sliceBytes: 48 })).toBeUndefined();
      expect(of('both', { rateBitsPerSecond: 1_000_000 })).toBeUndefined();
    });

    it("the master's timeout, or the slave's close, when it can", () => {
      expect(of('to-master', { delayMs: 2000 })).toEqual({ reasons: ['timeout', 'closed', 'reset'], when: 'may' });
      expect(of('from-master', { delayMs: 2000 })).toEqual({ reasons: ['closed', 'reset'], when: 'may' });
      expect(of('both', { lossPercent: 1 })).toEqual({ reasons: ['timeout', 'closed', 'reset'], when: 'may' });
      // 512 bytes at 4 kbit/s: 1,024 ms, + an interval + the scheduling slack > the timeout.
      expect(of('to-master', { rateBitsPerSecond: 4000 })).toEqual({ reasons: ['timeout'], when: 'may' });
      expect(of('to-master', { rateBitsPerSecond: 8000 })).toBeUndefined();
    });

    it('a timeout the master must log for a one-way cut towards it, and none it must log for one from it', () => {
      expect(of('to-master', { drop: true })).toEqual({ reasons: ['timeout'], when: 'longer' });
      expect(of('from-master', { drop: true })).toEqual({ reasons: ['closed', 'reset'], when: 'may' });
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
    const degrade = {
      ...base,
      kind: 'degrade',
      latencyGroup: 'network',
      disconnectOf: degradedDisconnect,
      disruption: 'degraded',
      endedBy: 'heal',
    };
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
      delay: { ...degrade, noun: 'delay' },
      loss: { ...degrade, noun: 'loss' },
      bandwidth: { ...degrade, noun: 'bandwidth' },
      slice: { ...degrade, noun: 'slice' },
      partition: { ...degrade, noun: 'partition' },
      degrade: { ...degrade, noun: 'degrade' },
      reset: {
        ...base,
        kind: 'reset',
        latencyGroup: 'network',
        disconnectReasons: ['reset'],
        disconnectBound: killBound,
        recovers: true,
      },
      heal: { ...heal, latencyGroup: 'network', disruption: 'degraded' },
    };
    for (const action of ACTIONS) expect([action, faultRuleOf(action)]).toEqual([action, expected[action]]);
  });
});
