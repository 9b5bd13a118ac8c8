import { PiclusterError, type ErrorCode } from '../common';

/** A run that could not be carried out as the scenario says: a node that won't start, a fault not confirmed. */
export class RunError extends PiclusterError {
  override readonly name = 'RunError';

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
