// Who is in the open room: the members list (a `members` answer kept live by
// `presence`), a big room's count (./occupancy) and the typing line (./typing).
// All of it starts empty in each room entered.
import type { ServerFrame } from '../protocol';
import { isMe } from './messages';
import { type Occupancy, afterPresence, occupancyFrom, occupancyOfMembers } from './occupancy';
import { type Members, applyPresence, membersFrom, noMembers } from './presence';
import { Typing, type TypingOptions } from './typing';

export class RoomPeople {
  members: Members;
  occupancy: Occupancy | null = null;
  readonly typing: Typing;

  constructor(room: string, typing: TypingOptions) {
    this.members = noMembers(room);
    this.typing = new Typing(typing);
  }

  /** Another room is open: nobody is known to be there or typing yet. */
  enter(room: string): void {
    this.members = noMembers(room);
    this.occupancy = null;
    this.typing.clear();
  }

  /** A frame for the open room (the caller checked its room). */
  onFrame(frame: ServerFrame, me: string): void {
    switch (frame.type) {
      case 'message':
        return this.typing.sent(frame.message.sender); // their line goes when their message comes
      case 'members':
        this.members = membersFrom(frame.room, frame.members);
        this.occupancy = occupancyOfMembers(frame.room, frame.members, frame.count);
        return;
      case 'presence':
        this.members = applyPresence(this.members, frame.username, frame.status === 'online');
        this.occupancy = afterPresence(this.occupancy, frame.room);
        return;
      case 'occupancy':
        this.occupancy = occupancyFrom(frame.room, frame.count);
        return;
      case 'typing':
        if (!isMe(frame.username, me)) this.typing.someone(frame.username);
        return;
    }
  }
}
