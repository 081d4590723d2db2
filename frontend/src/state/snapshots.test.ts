import { describe, expect, it } from 'vitest';
import { Snapshots } from './snapshots';

describe('Snapshots', () => {
  it('hands out the same snapshot until an emit, then a new one to every listener', () => {
    let state = 1;
    const snapshots = new Snapshots(() => ({ state }));
    const first = snapshots.get();
    state = 2;
    expect(snapshots.get()).toBe(first);
    const heard: number[] = [];
    const unsubscribe = snapshots.subscribe(() => heard.push(snapshots.get().state));
    snapshots.emit();
    expect(snapshots.get()).toEqual({ state: 2 });
    unsubscribe();
    snapshots.emit();
    expect(heard).toEqual([2]);
  });

  it('keeps the initial value until the first emit', () => {
    const snapshots = new Snapshots(() => ['built'], [] as string[]);
    expect(snapshots.get()).toEqual([]);
    snapshots.emit();
    expect(snapshots.get()).toEqual(['built']);
  });
});
