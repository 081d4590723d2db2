import { memo } from 'react';
import type { Occupancy } from '../state/occupancy';
import type { Members } from '../state/presence';
import { OnlineCount } from './OnlineCount';

/** Who is online in the room, kept live by presence frames (a big room: the count only). */
export const MembersList = memo(function MembersList({
  members,
  occupancy,
}: {
  members: Members;
  occupancy: Occupancy | null;
}) {
  return (
    <div className="side-panel members-panel">
      <OnlineCount members={members} occupancy={occupancy} />
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
