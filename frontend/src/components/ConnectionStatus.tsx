import type { SocketStatus } from '../connection/socket';

const LABELS: Record<SocketStatus, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  stopped: 'Offline',
};

interface Props {
  status: SocketStatus;
  onRetryNow: () => void;
}

/** Whether messages flow right now: connecting, live, or reconnecting. */
export function ConnectionStatus({ status, onRetryNow }: Props) {
  return (
    <div className="connection" data-status={status}>
      <span className="dot" aria-hidden="true" />
      <span role="status">{LABELS[status]}</span>
      {status === 'reconnecting' && (
        <button type="button" className="link-button" onClick={onRetryNow}>
          Retry now
        </button>
      )}
    </div>
  );
}
