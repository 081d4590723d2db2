// A Link stand-in for the chat's parts: records the frames sent, opens and
// closes at will, and counts how often the connection was dropped as dead.
import type { Link } from '../connection/socket';
import type { ClientFrame } from '../protocol';

export class FakeLink implements Link {
  readonly sent: ClientFrame[] = [];
  isOpen = true;
  drops = 0;

  send(frame: ClientFrame): boolean {
    if (!this.isOpen) return false;
    this.sent.push(frame);
    return true;
  }

  drop(): void {
    this.drops++;
  }

  /** The frames sent with a given action. */
  sentFrames<A extends ClientFrame['action']>(action: A): Extract<ClientFrame, { action: A }>[] {
    return this.sent.filter((f): f is Extract<ClientFrame, { action: A }> => f.action === action);
  }
}
