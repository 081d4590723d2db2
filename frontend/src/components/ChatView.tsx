import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import { serverAnswers } from '../api/health';
import { ModerationApi } from '../api/moderation';
import type { SiteConfig } from '../api/config';
import { DEFAULT_ROOM } from '../limits';
import type { ChatMessage } from '../protocol';
import { ChatClient } from '../state/chatClient';
import { moderationActions } from '../state/moderationActions';
import { mayModerate, roomLabel, standingIn, withoutBlocked } from '../state/roomGroups';
import { RoomList } from '../state/roomList';
import { loadCurrentRoom, saveRoom } from '../state/rooms';
import type { Session } from '../state/session';
import { Composer } from './Composer';
import { DirectoryDialog } from './DirectoryDialog';
import { InviteDialog } from './InviteDialog';
import { MembersList } from './MembersList';
import { MessageList } from './MessageList';
import { NewRoomDialog } from './NewRoomDialog';
import { ReportDialog } from './ReportDialog';
import { ReportsDialog } from './ReportsDialog';
import { RoomActions } from './RoomActions';
import { RoomSwitcher } from './RoomSwitcher';
import { RoomsNav } from './RoomsNav';
import { TopBar } from './TopBar';
import { TypingLine } from './TypingLine';

type OpenDialog =
  | { kind: 'new' }
  | { kind: 'invite' }
  | { kind: 'directory' }
  | { kind: 'reports' }
  | { kind: 'report'; message: ChatMessage }
  | null;

interface Props {
  config: SiteConfig;
  session: Session;
  onLogout: () => void;
  onSessionEnded: (reason: string) => void;
  /** A renewed session, when the server refuses the current token (null: cannot be renewed). */
  refresh: () => Promise<Session | null>;
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
    // Back online, or back to a tab the browser throttled: do not wait out the
    // backoff, and ask what changed meanwhile (a sleeping tab may have missed frames).
    const retry = () => {
      if (document.visibilityState !== 'visible') return;
      client.reconnectNow();
      client.catchUp();
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

  // Rooms with owners (v3): dialogs, blocks, and whether the reader is an admin.
  const api = useMemo(() => new ModerationApi(config.apiUrl, () => latest.current.token), [config.apiUrl]);
  const [dialog, setDialog] = useState<OpenDialog>(null);
  const [blocked, setBlocked] = useState<ReadonlySet<string>>(new Set());
  const [admin, setAdmin] = useState(false);
  const [status, setStatus] = useState<string | null>(null);
  useEffect(() => {
    api.blocked().then((names) => setBlocked(new Set(names.map((n) => n.toLowerCase()))), () => {});
    api.reports().then((reports) => setAdmin(reports !== null), () => {});
  }, [api]);
  const standing = standingIn(snapshot.room, rooms);
  const moderates = mayModerate(standing, admin);
  // A DM is named after the other person: "the conversation with bob".
  const direct = standing.kind === 'direct';
  const label = roomLabel(snapshot.room, rooms);
  const place = direct ? `the conversation with ${label}` : `#${snapshot.room}`;
  const shownTimeline = useMemo(
    () => ({ ...snapshot.timeline, messages: withoutBlocked(snapshot.timeline.messages, blocked) }),
    [snapshot.timeline, blocked],
  );
  const closeDialog = useCallback(() => setDialog(null), []);
  const enter = useCallback(
    (room: string) => {
      client.joinRoom(room);
      setPanel(null);
      setDialog(null);
      void roomList.refresh();
    },
    [client, roomList],
  );
  const moderation = useMemo(
    () =>
      moderationActions({
        api,
        enter,
        refreshRooms: () => void roomList.refresh(),
        status: setStatus,
        blocked: setBlocked,
      }),
    [api, enter, roomList],
  );
  const removeHere = useMemo(() => moderation.remove(snapshot.room), [moderation, snapshot.room]);
  const openReport = useCallback((message: ChatMessage) => setDialog({ kind: 'report', message }), []);

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
      <TopBar
        status={snapshot.status}
        username={session.username}
        admin={admin}
        onRetryNow={actions.reconnectNow}
        onOpen={(kind) => setDialog({ kind })}
        onLogout={onLogout}
      />
      <main className="chat-main">
        <div className="room-bar">
          <RoomSwitcher room={snapshot.room} onJoin={actions.join} />
          <RoomActions
            label={label}
            kind={standing.kind ?? 'public'}
            canInvite={standing.kind === 'private' && moderates}
            canLeave={standing.role !== 'owner' && snapshot.room !== DEFAULT_ROOM}
            onInvite={() => setDialog({ kind: 'invite' })}
            onLeave={() => void moderation.leave(snapshot.room, session.username)}
          />
        </div>
        <p className="status-line" role="status">
          {status}
        </p>
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
              timeline={shownTimeline}
              me={session.username}
              loadingOlder={snapshot.loadingOlder}
              onLoadOlder={actions.loadOlder}
              onRetry={actions.retry}
              onDiscard={actions.discard}
              onEdit={actions.edit}
              onDelete={actions.remove}
              onReport={standing.kind === 'direct' ? undefined : openReport}
              place={place}
              canModerate={moderates}
            />
            <TypingLine line={snapshot.typing} />
            <Composer
              room={direct ? label : `#${snapshot.room}`}
              notice={snapshot.notice}
              onSend={actions.send}
              onDismissNotice={actions.dismissNotice}
              onTyping={actions.typing}
            />
          </div>
          <div id="members-panel" className="members-slot">
            <MembersList
              members={snapshot.members}
              occupancy={snapshot.occupancy}
              me={session.username}
              canModerate={moderates}
              blocked={blocked}
              onMessage={moderation.message}
              onRemove={removeHere}
              onBlock={moderation.block}
            />
          </div>
        </div>
      </main>
      {dialog?.kind === 'new' && <NewRoomDialog onCreate={moderation.create} onClose={closeDialog} />}
      {dialog?.kind === 'invite' && (
        <InviteDialog room={snapshot.room} onInvite={moderation.invite(snapshot.room)} onClose={closeDialog} />
      )}
      {dialog?.kind === 'directory' && (
        <DirectoryDialog search={moderation.search} onJoin={enter} onClose={closeDialog} />
      )}
      {dialog?.kind === 'reports' && <ReportsDialog load={moderation.reports} onClose={closeDialog} />}
      {dialog?.kind === 'report' && (
        <ReportDialog
          sender={dialog.message.sender}
          text={dialog.message.text}
          onReport={moderation.report(dialog.message.room, dialog.message.id)}
          onClose={closeDialog}
        />
      )}
    </div>
  );
}
