import { useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import type { SiteConfig } from '../config';
import { ChatClient } from '../state/chatClient';
import { RoomList } from '../state/roomList';
import { loadCurrentRoom, saveRoom } from '../state/rooms';
import type { Session } from '../state/session';
import { Composer } from './Composer';
import { ConnectionStatus } from './ConnectionStatus';
import { MembersList } from './MembersList';
import { MessageList } from './MessageList';
import { RoomSwitcher } from './RoomSwitcher';
import { RoomsNav } from './RoomsNav';
import { TypingLine } from './TypingLine';

interface Props {
  config: SiteConfig;
  session: Session;
  onLogout: () => void;
  onSessionEnded: (reason: string) => void;
  /** A renewed session, when the server refuses the current token (null: cannot be renewed). */
  refresh: () => Promise<Session | null>;
}

async function serverAnswers(apiUrl: string): Promise<boolean> {
  try {
    return (await fetch(`${apiUrl}/health`, { cache: 'no-store' })).ok;
  } catch {
    return false;
  }
}

/** The signed-in screen: header, room switcher, messages, composer. */
export function ChatView({ config, session, onLogout, onSessionEnded, refresh }: Props) {
  const [client] = useState(
    () =>
      new ChatClient({
        wsUrl: config.wsUrl,
        session,
        room: loadCurrentRoom(localStorage),
        onSessionEnded,
        checkServerUp: () => serverAnswers(config.apiUrl),
        refresh,
      }),
  );
  // A renewed token (App's refresher) is used from the next connection on.
  useEffect(() => client.setSession(session), [client, session]);
  const snapshot = useSyncExternalStore(client.subscribe, client.getSnapshot);
  // The rooms list asks with the newest token (the refresher renews it).
  const latest = useRef(session);
  latest.current = session;
  const [roomList] = useState(() => new RoomList({ apiUrl: config.apiUrl, token: () => latest.current.token }));
  const rooms = useSyncExternalStore(roomList.subscribe, roomList.getSnapshot);
  // Phone width: the rooms and members lists open one at a time over the messages.
  const [panel, setPanel] = useState<'rooms' | 'members' | null>(null);

  useEffect(() => {
    roomList.start();
    // Back to the page: the other rooms may have news.
    const refreshRooms = () => {
      if (document.visibilityState === 'visible') void roomList.refresh();
    };
    window.addEventListener('focus', refreshRooms);
    document.addEventListener('visibilitychange', refreshRooms);
    return () => {
      window.removeEventListener('focus', refreshRooms);
      document.removeEventListener('visibilitychange', refreshRooms);
      roomList.stop();
    };
  }, [roomList]);

  useEffect(() => {
    saveRoom(localStorage, snapshot.room);
    roomList.viewing(snapshot.room);
  }, [roomList, snapshot.room]);

  useEffect(() => {
    if (snapshot.status === 'live') void roomList.refresh(); // (re)connected
  }, [roomList, snapshot.status]);

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
      typing: () => client.typing(),
      edit: (id: string, text: string) => client.edit(id, text),
      remove: (id: string) => client.remove(id),
      dismissNotice: () => client.dismissNotice(),
      reconnectNow: () => client.reconnectNow(),
      join: (room: string) => {
        client.joinRoom(room);
        setPanel(null);
      },
    }),
    [client],
  );
  const toggle = (which: 'rooms' | 'members') => setPanel((open) => (open === which ? null : which));

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
      <RoomSwitcher room={snapshot.room} onJoin={actions.join} />
      <div className="panel-toggles">
        {(['rooms', 'members'] as const).map((which) => (
          <button
            key={which}
            type="button"
            className="secondary"
            aria-expanded={panel === which}
            aria-controls={`${which}-panel`}
            onClick={() => toggle(which)}
          >
            {which === 'rooms' ? 'Rooms' : 'Members'}
          </button>
        ))}
      </div>
      <div className="chat-body" data-panel={panel ?? 'none'}>
        <div id="rooms-panel" className="rooms-slot">
          <RoomsNav rooms={rooms} room={snapshot.room} onJoin={actions.join} />
        </div>
        <div className="conversation">
          <MessageList
            timeline={snapshot.timeline}
            me={session.username}
            loadingOlder={snapshot.loadingOlder}
            onLoadOlder={actions.loadOlder}
            onRetry={actions.retry}
            onDiscard={actions.discard}
            onEdit={actions.edit}
            onDelete={actions.remove}
          />
          <TypingLine line={snapshot.typing} />
          <Composer
            room={snapshot.room}
            notice={snapshot.notice}
            onSend={actions.send}
            onDismissNotice={actions.dismissNotice}
            onTyping={actions.typing}
          />
        </div>
        <div id="members-panel" className="members-slot">
          <MembersList members={snapshot.members} occupancy={snapshot.occupancy} />
        </div>
      </div>
    </div>
  );
}
