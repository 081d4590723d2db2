import { onlineCount, type Occupancy } from '../state/occupancy';
import type { Members } from '../state/presence';

/** "Online · N": the members list's length, or a big room's occupancy count. */
export function OnlineCount({ members, occupancy }: { members: Members; occupancy: Occupancy | null }) {
  return (
    <h2 id="members-heading">Online · {onlineCount(members, occupancy)}</h2>
  );
}
