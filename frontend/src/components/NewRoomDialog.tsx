import { type FormEvent, useState } from 'react';
import { ROOM_MAX, normalizeRoom, roomProblem } from '../limits';
import { Dialog } from './Dialog';

interface Props {
  onCreate: (room: string, kind: 'public' | 'private') => Promise<string | null>;
  onClose: () => void;
}

/** "New room": a name and who may join (anyone, or invited people only). */
export function NewRoomDialog({ onCreate, onClose }: Props) {
  const [name, setName] = useState('');
  const [kind, setKind] = useState<'public' | 'private'>('private');
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const room = normalizeRoom(name);
    const why = roomProblem(room);
    if (why) return setProblem(why);
    setBusy(true);
    const failure = await onCreate(room, kind);
    setBusy(false);
    setProblem(failure);
  }

  return (
    <Dialog title="New room" onClose={onClose}>
      <form className="dialog-form" onSubmit={submit} noValidate>
        <label htmlFor="new-room-name">Room name</label>
        <input
          id="new-room-name"
          value={name}
          maxLength={ROOM_MAX}
          autoCapitalize="none"
          autoComplete="off"
          spellCheck={false}
          onChange={(e) => setName(e.target.value)}
          aria-invalid={problem !== null}
          aria-describedby="new-room-problem"
        />
        <fieldset>
          <legend>Who can join</legend>
          <label>
            <input type="radio" name="kind" checked={kind === 'private'} onChange={() => setKind('private')} />
            Private: people you invite
          </label>
          <label>
            <input type="radio" name="kind" checked={kind === 'public'} onChange={() => setKind('public')} />
            Public: anyone, listed in the directory
          </label>
        </fieldset>
        <p id="new-room-problem" className="error" role="alert">
          {problem}
        </p>
        <button type="submit" disabled={busy}>
          Create room
        </button>
      </form>
    </Dialog>
  );
}
