import type { EventEmitter } from 'node:events';

/**
 * Resolves with the name of the first of `events` that `emitter` emits. Unlike
 * `events.once`, an `error` does not reject: a fuzz connection's errors
 * (EPIPE, ECONNRESET) are expected, and its `close` follows them.
 */
export function firstEvent(emitter: EventEmitter, events: readonly string[]): Promise<string> {
  return new Promise((resolve) => {
    const listeners = events.map((name) => {
      const listener = (): void => {
        events.forEach((other, i) => emitter.off(other, listeners[i]!));
        resolve(name);
      };
      emitter.on(name, listener);
      return listener;
    });
  });
}
