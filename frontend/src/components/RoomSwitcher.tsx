import { type FormEvent, useState } from 'react';
import { ROOM_MAX, normalizeRoom, roomProblem } from '../limits';

interface Props {
  room: string;
  onJoin: (room: string) => void;
}

/** The "Room" field with its Join button (the reader's rooms are in RoomsNav). */
export function RoomSwitcher({ room, onJoin }: Props) {
  const [value, setValue] = useState('');
  const [problem, setProblem] = useState<string | null>(null);

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    const next = normalizeRoom(value);
    const why = roomProblem(next);
    setProblem(why);
    if (why) return;
    setValue('');
    onJoin(next);
  }

  return (
    <div className="rooms">
      <form onSubmit={onSubmit} noValidate>
        <label htmlFor="room-name">Room</label>
        <input
          id="room-name"
          value={value}
          placeholder={room}
          maxLength={ROOM_MAX}
          autoCapitalize="none"
          autoComplete="off"
          spellCheck={false}
          onChange={(e) => setValue(e.target.value)}
          aria-invalid={problem !== null}
          aria-describedby="room-problem"
        />
        <button type="submit">Join</button>
      </form>
      <p id="room-problem" className="error" role="alert">
        {problem}
      </p>
    </div>
  );
}
