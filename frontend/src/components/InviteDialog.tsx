import { type FormEvent, useState } from 'react';
import { usernameProblem } from '../limits';
import { Dialog } from './Dialog';

interface Props {
  room: string;
  onInvite: (username: string) => Promise<string | null>;
  onClose: () => void;
}

/** "Invite to #room": a username; the person is a member at once. */
export function InviteDialog({ room, onInvite, onClose }: Props) {
  const [name, setName] = useState('');
  const [status, setStatus] = useState<{ text: string; failed: boolean } | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const username = name.trim();
    const why = usernameProblem(username);
    if (why) return setStatus({ text: why, failed: true });
    const failure = await onInvite(username);
    setStatus(failure ? { text: failure, failed: true } : { text: `${username} is now a member.`, failed: false });
    if (!failure) setName('');
  }

  return (
    <Dialog title={`Invite to #${room}`} onClose={onClose}>
      <form className="dialog-form" onSubmit={submit} noValidate>
        <label htmlFor="invite-username">Username</label>
        <input
          id="invite-username"
          value={name}
          autoCapitalize="none"
          autoComplete="off"
          spellCheck={false}
          onChange={(e) => setName(e.target.value)}
          aria-describedby="invite-status"
        />
        <p id="invite-status" className={status?.failed ? 'error' : 'hint'} role="status">
          {status?.text}
        </p>
        <button type="submit">Add to room</button>
      </form>
    </Dialog>
  );
}
