/**
 * Things this process started that outlive it unless undone: node processes in
 * their own process group, containers. `undo` runs, synchronously (the only
 * kind of work an exit handler can do), for each one still held when the
 * process exits — after an uncaught error, or a second Ctrl-C that quits at once.
 */
export class ExitGuard<T> {
  private readonly live = new Set<T>();
  private hooked = false;

  constructor(private readonly undo: (item: T) => void) {}

  /** What is held now, in the order it was added. */
  get items(): readonly T[] {
    return [...this.live];
  }

  hold(item: T): void {
    if (!this.hooked) {
      this.hooked = true;
      process.on('exit', () => {
        for (const item of this.live) this.undo(item);
      });
    }
    this.live.add(item);
  }

  release(item: T): void {
    this.live.delete(item);
  }
}
