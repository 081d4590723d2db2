import { memo } from 'react';
import type { Members } from '../state/presence';

/** Who is online in the room, kept live by presence frames. */
export const MembersList = memo(function MembersList({ members }: { members: Members }) {
  return (
    <div className="side-panel members-panel">
      <h2 id="members-heading">Online · {members.names.length}</h2>
      <ul aria-label="Members">
        {members.names.map((name) => (
          <li key={name}>
            <span className="online-dot" aria-hidden="true" />
            {name}
          </li>
        ))}
      </ul>
    </div>
  );
});
