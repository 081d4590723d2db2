import type { SocketStatus } from '../connection/socket';
import { ConnectionStatus } from './ConnectionStatus';

export type TopBarView = 'new' | 'directory' | 'reports';

interface Props {
  status: SocketStatus;
  username: string;
  admin: boolean;
  onRetryNow: () => void;
  onOpen: (view: TopBarView) => void;
  onLogout: () => void;
}

/** The banner: connection, who is signed in, new room, directory, reports (admins), log out. */
export function TopBar({ status, username, admin, onRetryNow, onOpen, onLogout }: Props) {
  return (
    <header className="topbar">
      <h1>Chat</h1>
      <ConnectionStatus status={status} onRetryNow={onRetryNow} />
      <span className="me">
        Signed in as <strong>{username}</strong>
      </span>
      <button type="button" className="secondary" onClick={() => onOpen('new')}>
        New room
      </button>
      <button type="button" className="secondary" onClick={() => onOpen('directory')}>
        Directory
      </button>
      {admin && (
        <button type="button" className="secondary" onClick={() => onOpen('reports')}>
          Reports
        </button>
      )}
      <button type="button" className="secondary" onClick={onLogout}>
        Log out
      </button>
    </header>
  );
}
