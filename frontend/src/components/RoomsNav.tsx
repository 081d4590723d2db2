import { memo } from 'react';
import type { RoomSummary } from '../api/rooms';

interface Props {
  rooms: readonly RoomSummary[];
  room: string;
  onJoin: (room: string) => void;
}

/** The reader's rooms, most recently active first, each with its unread badge. */
export const RoomsNav = memo(function RoomsNav({ rooms, room, onJoin }: Props) {
  return (
    <nav className="side-panel rooms-nav" aria-label="Rooms">
      <ul>
        {rooms.map((r) => (
          <li key={r.room}>
            <button
              type="button"
              className="room-chip"
              aria-current={r.room === room ? 'true' : undefined}
              onClick={() => onJoin(r.room)}
            >
              <span aria-hidden="true">#</span>
              <span className="room-name" title={r.room}>
                {r.room}
              </span>
              {r.unread > 0 && (
                <span className="badge" role="img" aria-label={`${r.unread} unread`}>
                  {r.unread}
                </span>
              )}
            </button>
          </li>
        ))}
      </ul>
    </nav>
  );
});
