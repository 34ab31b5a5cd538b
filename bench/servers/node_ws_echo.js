// Node `ws` 8 echo (with bufferutil and utf-8-validate from bench/node_modules).
// usage: node node_ws_echo.js --port P [--host 127.0.0.1] [--deflate]
// /broadcast sends each message to every client on /broadcast with a loop of
// ws.send (ws has no broadcast helper; its README shows this loop).
'use strict';
const { WebSocketServer, WebSocket } = require('ws');

function opt(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}
const port = parseInt(opt('--port', '0'), 10);
const host = opt('--host', '127.0.0.1');
const deflate = process.argv.includes('--deflate');
for (const m of ['bufferutil', 'utf-8-validate']) {
  try { require.resolve(m); } catch { console.error(`node_ws_echo: ${m} missing (slower path)`); }
}
const wss = new WebSocketServer({
  host, port, perMessageDeflate: deflate, maxPayload: 64 * 1024 * 1024,
  handleProtocols: (protocols) => (protocols.has('echo') ? 'echo' : false),
});
const room = new Set();
wss.on('connection', (ws, req) => {
  ws.on('error', () => {});
  if (req.url === '/broadcast') {
    room.add(ws);
    ws.on('close', () => room.delete(ws));
    ws.on('message', (data, isBinary) => {
      for (const peer of room) {
        if (peer.readyState === WebSocket.OPEN) peer.send(data, { binary: isBinary });
      }
    });
    return;
  }
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
process.on('SIGTERM', () => process.exit(0));
