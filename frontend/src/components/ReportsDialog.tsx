import { useEffect, useState } from 'react';
import type { Report } from '../api/moderation';
import { formatSentAt } from '../text/time';
import { Dialog } from './Dialog';

interface Props {
  load: () => Promise<Report[] | null>;
  onClose: () => void;
}

/** The admins' list of reported messages, newest first. */
export function ReportsDialog({ load, onClose }: Props) {
  const [reports, setReports] = useState<Report[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    load().then(
      (found) => setReports(found ?? []),
      (error: unknown) => setProblem((error as Error).message),
    );
  }, [load]);

  return (
    <Dialog title="Reports" onClose={onClose}>
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
      {reports?.length === 0 && <p className="hint">Nothing has been reported.</p>}
      <ul className="reports" aria-label="Reported messages">
        {reports?.map((r) => (
          <li key={`${r.room}/${r.id}/${r.reporter}`}>
            <p>
              <strong>{r.sender}</strong> in #{r.room}: {r.text || '(deleted)'}
            </p>
            <p className="hint">
              Reported by {r.reporter}, <time dateTime={r.reportedAt}>{formatSentAt(r.reportedAt)}</time>: {r.reason}
            </p>
          </li>
        ))}
      </ul>
    </Dialog>
  );
}
