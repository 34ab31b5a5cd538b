// Node `ws` 8 echo (with bufferutil and utf-8-validate from bench/node_modules).
// usage: node node_ws_echo.js --port P [--host 127.0.0.1]
'use strict';
const { WebSocketServer } = require('ws');

function opt(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}
const port = parseInt(opt('--port', '0'), 10);
const host = opt('--host', '127.0.0.1');
for (const m of ['bufferutil', 'utf-8-validate']) {
  try { require.resolve(m); } catch { console.error(`node_ws_echo: ${m} missing (slower path)`); }
}
const wss = new WebSocketServer({
  host, port, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024,
  handleProtocols: (protocols) => (protocols.has('echo') ? 'echo' : false),
});
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
process.on('SIGTERM', () => process.exit(0));
