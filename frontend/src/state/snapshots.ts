// What React subscribes to (useSyncExternalStore): the current snapshot, the
// same object until something changes, and the listeners to tell when it does.
// The state modules that a view watches (ChatClient, RoomList) each keep one.

export class Snapshots<T> {
  private readonly listeners = new Set<() => void>();
  private current: T | undefined;

  /** `build` makes a snapshot of the owner's state; `initial` stands until the first emit (default: built at first read). */
  constructor(
    private readonly build: () => T,
    initial?: T,
  ) {
    this.current = initial;
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  get = (): T => {
    if (this.current === undefined) this.current = this.build();
    return this.current;
  };

  /** The state changed: a new snapshot, and every listener is told. */
  emit(): void {
    this.current = this.build();
    for (const listener of this.listeners) listener();
  }
}
