import { useEffect, useState } from 'react';
import type { DirectoryEntry } from '../api/moderation';
import { ROOM_MAX } from '../limits';
import { Dialog } from './Dialog';

interface Props {
  search: (prefix: string) => Promise<DirectoryEntry[]>;
  onJoin: (room: string) => void;
  onClose: () => void;
}

/** The public rooms, searched by the start of their name. */
export function DirectoryDialog({ search, onJoin, onClose }: Props) {
  const [prefix, setPrefix] = useState('');
  const [found, setFound] = useState<DirectoryEntry[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    let current = true;
    search(prefix.trim().toLowerCase()).then(
      (rooms) => current && (setFound(rooms), setProblem(null)),
      (error: unknown) => current && setProblem((error as Error).message),
    );
    return () => {
      current = false;
    };
  }, [search, prefix]);

  return (
    <Dialog title="Room directory" onClose={onClose}>
      <search>
        <form className="dialog-form" role="search" onSubmit={(e) => e.preventDefault()}>
          <label htmlFor="directory-prefix">Search rooms</label>
          <input
            id="directory-prefix"
            type="search"
            value={prefix}
            maxLength={ROOM_MAX}
            autoCapitalize="none"
            autoComplete="off"
            spellCheck={false}
            onChange={(e) => setPrefix(e.target.value)}
          />
        </form>
      </search>
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
      <ul className="directory" aria-label="Public rooms">
        {found?.map((r) => (
          <li key={r.room}>
            <span className="room-name">#{r.room}</span>
            <span className="hint">{r.online} online</span>
            <button type="button" aria-label={`Join ${r.room}`} onClick={() => onJoin(r.room)}>
              Join
            </button>
          </li>
        ))}
      </ul>
      {found?.length === 0 && <p className="hint">No public room starts with that.</p>}
    </Dialog>
  );
}
