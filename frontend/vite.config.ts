import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// The repository root: the site imports chalicelib/limits.json from there (the
// one copy of the protocol limits), so the dev server must be allowed to read it.
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

// `npm run dev` serves the site with hot reload; the API itself comes from a
// running `chatapp serve`, proxied so the page talks to its own origin as the
// built site does (config.json names this server's /api and /ws). The local
// server answers CORS and WebSocket upgrades only for its own origins, so the
// proxy presents itself as that origin.
const chatServer = process.env.CHAT_SERVER ?? 'http://127.0.0.1:8000';
const asTheSite = { target: chatServer, headers: { origin: chatServer } };

export default defineConfig({
  plugins: [react()],
  server: {
    host: '127.0.0.1',
    fs: { allow: [repoRoot] },
    proxy: {
      '/config.json': chatServer,
      '/api': asTheSite,
      '/ws': { ...asTheSite, ws: true },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
});
