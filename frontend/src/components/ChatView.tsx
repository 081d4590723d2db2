import { useEffect, useState, useSyncExternalStore } from 'react';
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
    const online = () => client.reconnectNow();
    window.addEventListener('online', online);
    return () => {
      window.removeEventListener('online', online);
      client.stop();
    };
  }, [client]);

  function join(room: string) {
    client.joinRoom(room);
    setRecentRooms(saveRoom(localStorage, room));
  }

  return (
    <div className="chat">
      <header className="topbar">
        <h1>Chat</h1>
        <ConnectionStatus status={snapshot.status} onRetryNow={() => client.reconnectNow()} />
        <span className="me">
          Signed in as <strong>{session.username}</strong>
        </span>
        <button type="button" className="secondary" onClick={onLogout}>
          Log out
        </button>
      </header>
      <RoomSwitcher room={snapshot.room} recentRooms={recentRooms} onJoin={join} />
      <MessageList
        timeline={snapshot.timeline}
        me={session.username}
        loadingOlder={snapshot.loadingOlder}
        onLoadOlder={() => client.loadOlder()}
        onRetry={(clientId) => client.retry(clientId)}
        onDiscard={(clientId) => client.discard(clientId)}
      />
      <Composer
        room={snapshot.room}
        notice={snapshot.notice}
        onSend={(text) => client.send(text)}
        onDismissNotice={() => client.dismissNotice()}
      />
    </div>
  );
}
