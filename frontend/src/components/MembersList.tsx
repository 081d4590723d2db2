import { memo } from 'react';
import type { Occupancy } from '../state/occupancy';
import type { Members } from '../state/presence';
import { isMe } from '../state/messages';
import { OnlineCount } from './OnlineCount';

interface Props {
  members: Members;
  occupancy: Occupancy | null;
  me: string;
  canModerate: boolean;
  blocked: ReadonlySet<string>;
  onMessage: (username: string) => void;
  onRemove: (username: string) => void;
  onBlock: (username: string, block: boolean) => void;
}

/** Who is online in the room, kept live by presence frames (a big room: the count only);
 * a DM, a block or a removal per name. */
export const MembersList = memo(function MembersList({
  members, occupancy, me, canModerate, blocked, onMessage, onRemove, onBlock,
}: Props) {
  return (
    <div className="side-panel members-panel">
      <OnlineCount members={members} occupancy={occupancy} />
      <ul aria-label="Members">
        {members.names.map((name) => {
          const isBlocked = blocked.has(name.toLowerCase());
          return (
            <li key={name}>
              <span className="member-name">
                <span className="online-dot" aria-hidden="true" />
                {name}
              </span>
              {!isMe(name, me) && (
                <span className="member-actions">
                  <button type="button" className="link-button" aria-label={`Message ${name}`} onClick={() => onMessage(name)}>
                    Message
                  </button>
                  <button
                    type="button"
                    className="link-button"
                    aria-label={`${isBlocked ? 'Unblock' : 'Block'} ${name}`}
                    onClick={() => onBlock(name, !isBlocked)}
                  >
                    {isBlocked ? 'Unblock' : 'Block'}
                  </button>
                  {canModerate && (
                    <button type="button" className="link-button danger" aria-label={`Remove ${name}`} onClick={() => onRemove(name)}>
                      Remove
                    </button>
                  )}
                </span>
              )}
            </li>
          );
        })}
      </ul>
    </div>
  );
});
