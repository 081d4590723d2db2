/** "alice is typing…" under the messages; empty (but present) when nobody is. */
export function TypingLine({ line }: { line: string }) {
  return (
    <p className="typing" role="status">
      {line}
    </p>
  );
}
