import { useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import type { SiteConfig } from '../config';
import { ChatClient } from '../state/chatClient';
import { loadCurrentRoom, saveRoom } from '../state/rooms';
import type { Session } from '../state/session';
import { Composer } from './Composer';
import { ConnectionStatus } from './ConnectionStatus';
import { MessageList } from './MessageList';
import { RoomSwitcher } from './RoomSwitcher';

interface Props {
  config: SiteConfig;
  session: Session;
  onLogout: () => void;
  onSessionEnded: (reason: string) => void;
}

async function serverAnswers(apiUrl: string): Promise<boolean> {
  try {
    return (await fetch(`${apiUrl}/health`, { cache: 'no-store' })).ok;
  } catch {
    return false;
  }
}

/** The signed-in screen: header, room switcher, messages, composer. */
export function ChatView({ config, session, onLogout, onSessionEnded }: Props) {
  const [client] = useState(
    () =>
      new ChatClient({
        wsUrl: config.wsUrl,
        session,
        room: loadCurrentRoom(localStorage),
        onSessionEnded,
        checkServerUp: () => serverAnswers(config.apiUrl),
      }),
  );
  const snapshot = useSyncExternalStore(client.subscribe, client.getSnapshot);
  const [recentRooms, setRecentRooms] = useState(() => saveRoom(localStorage, client.getSnapshot().room));

  useEffect(() => {
    client.start();
    // Back online, or back to a tab the browser throttled: do not wait out the backoff.
    const retry = () => {
      if (document.visibilityState === 'visible') client.reconnectNow();
    };
    window.addEventListener('online', retry);
    document.addEventListener('visibilitychange', retry);
    return () => {
      window.removeEventListener('online', retry);
      document.removeEventListener('visibilitychange', retry);
      client.stop();
    };
  }, [client]);

  useEffect(() => {
    document.title = `#${snapshot.room} · Chat`;
  }, [snapshot.room]);

  // Stable callbacks, so memoized children do not re-render for nothing.
  const actions = useMemo(
    () => ({
      loadOlder: () => client.loadOlder(),
      retry: (clientId: string) => client.retry(clientId),
      discard: (clientId: string) => client.discard(clientId),
      send: (text: string) => client.send(text),
      dismissNotice: () => client.dismissNotice(),
      reconnectNow: () => client.reconnectNow(),
      join: (room: string) => {
        client.joinRoom(room);
        setRecentRooms(saveRoom(localStorage, room));
      },
    }),
    [client],
  );

  return (
    <div className="chat">
      <header className="topbar">
        <h1>Chat</h1>
        <ConnectionStatus status={snapshot.status} onRetryNow={actions.reconnectNow} />
        <span className="me">
          Signed in as <strong>{session.username}</strong>
        </span>
        <button type="button" className="secondary" onClick={onLogout}>
          Log out
        </button>
      </header>
      <RoomSwitcher room={snapshot.room} recentRooms={recentRooms} onJoin={actions.join} />
      <MessageList
        timeline={snapshot.timeline}
        me={session.username}
        loadingOlder={snapshot.loadingOlder}
        onLoadOlder={actions.loadOlder}
        onRetry={actions.retry}
        onDiscard={actions.discard}
      />
      <Composer
        room={snapshot.room}
        notice={snapshot.notice}
        onSend={actions.send}
        onDismissNotice={actions.dismissNotice}
      />
    </div>
  );
}
