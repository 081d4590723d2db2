import { memo } from 'react';
import type { RoomSummary } from '../api/rooms';
import { groupRooms } from '../state/roomGroups';

interface Props {
  rooms: readonly RoomSummary[];
  room: string;
  onJoin: (room: string) => void;
}

function RoomButton({ r, current, onJoin }: { r: RoomSummary; current: boolean; onJoin: (room: string) => void }) {
  const direct = r.kind === 'direct' && r.with;
  const label = direct ? r.with : r.room;
  return (
    <li>
      <button type="button" className="room-chip" aria-current={current ? 'true' : undefined} onClick={() => onJoin(r.room)}>
        {!direct && <span aria-hidden="true">#</span>}
        <span className="room-name" title={label}>
          {label}
        </span>
        {r.unread > 0 && (
          <span className="badge" role="img" aria-label={`${r.unread} unread`}>
            {r.unread}
          </span>
        )}
      </button>
    </li>
  );
}

/** The reader's rooms and direct messages, most recently active first, with unread badges. */
export const RoomsNav = memo(function RoomsNav({ rooms, room, onJoin }: Props) {
  const groups = groupRooms(rooms);
  return (
    <nav className="side-panel rooms-nav" aria-label="Rooms">
      <h2 id="rooms-group">Rooms</h2>
      <ul aria-labelledby="rooms-group">
        {groups.rooms.map((r) => (
          <RoomButton key={r.room} r={r} current={r.room === room} onJoin={onJoin} />
        ))}
      </ul>
      {groups.direct.length > 0 && (
        <>
          <h2 id="direct-group">Direct messages</h2>
          <ul aria-labelledby="direct-group">
            {groups.direct.map((r) => (
              <RoomButton key={r.room} r={r} current={r.room === room} onJoin={onJoin} />
            ))}
          </ul>
        </>
      )}
    </nav>
  );
});
