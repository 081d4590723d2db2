interface Props {
  label: string;
  kind: 'public' | 'private' | 'direct';
  canInvite: boolean;
  canLeave: boolean;
  onInvite: () => void;
  onLeave: () => void;
}

/** The open room's name and what the reader may do with it. */
export function RoomActions({ label, kind, canInvite, canLeave, onInvite, onLeave }: Props) {
  return (
    <div className="room-actions">
      <h2 className="room-title">
        {kind === 'direct' ? label : `#${label}`}
        {kind === 'private' && <span className="hint"> · private</span>}
      </h2>
      {canInvite && (
        <button type="button" className="secondary" onClick={onInvite}>
          Invite
        </button>
      )}
      {canLeave && (
        <button type="button" className="secondary" onClick={onLeave}>
          Leave room
        </button>
      )}
    </div>
  );
}
