import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './components/App';
import { loadConfig } from './api/config';
import './styles.css';

// Ask for /config.json before React's first render: it gates the WebSocket.
const config = loadConfig();

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <App config={config} />
  </StrictMode>,
);
