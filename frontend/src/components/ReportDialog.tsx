import { type FormEvent, useState } from 'react';
import { REPORT_REASON_MAX } from '../limits';
import { Dialog } from './Dialog';

interface Props {
  sender: string;
  text: string;
  onReport: (reason: string) => Promise<string | null>;
  onClose: () => void;
}

/** "Report message": a short reason, sent to the deployment's admins. */
export function ReportDialog({ sender, text, onReport, onClose }: Props) {
  const [reason, setReason] = useState('');
  const [status, setStatus] = useState<{ text: string; failed: boolean } | null>(null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const trimmed = reason.trim();
    if (trimmed.length < 1 || trimmed.length > REPORT_REASON_MAX) {
      return setStatus({ text: `Give a reason of 1-${REPORT_REASON_MAX} characters.`, failed: true });
    }
    const failure = await onReport(trimmed);
    setStatus(failure ? { text: failure, failed: true } : { text: 'Reported. Thank you.', failed: false });
  }

  return (
    <Dialog title="Report message" onClose={onClose}>
      <blockquote className="reported">
        <strong>{sender}</strong>: {text}
      </blockquote>
      <form className="dialog-form" onSubmit={submit} noValidate>
        <label htmlFor="report-reason">Reason</label>
        <textarea
          id="report-reason"
          value={reason}
          maxLength={REPORT_REASON_MAX}
          rows={3}
          onChange={(e) => setReason(e.target.value)}
          aria-describedby="report-status"
        />
        <p id="report-status" className={status?.failed ? 'error' : 'hint'} role="status">
          {status?.text}
        </p>
        <button type="submit">Send report</button>
      </form>
    </Dialog>
  );
}
