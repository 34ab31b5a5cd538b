// perfectws echo demo: a small WebSocket client for the server's /echo handler.
// The server answers frames in order, so each echo is paired with the oldest
// message still waiting in `pending`.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const ui = {
    url: $("url"), state: $("state"), proto: $("proto"), connect: $("connect"),
    composer: $("composer"), msg: $("msg"), send: $("send"),
    binary: $("binary"), long: $("long"), log: $("log"), clear: $("clear"),
  };

  const WS_URL = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/echo`;
  const PROTOCOL = "echo";
  const BINARY_TEXT = "binary!!"; // 8 ASCII bytes, so the text echo is readable
  const LONG_LENGTH = 100000;
  const MAX_ENTRIES = 200;

  let ws = null;
  let pending = [];

  const count = (n) => n.toLocaleString("en-US");

  // Deterministic long payload (tests/test_browser.py rebuilds the same string).
  function longPayload() {
    const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
    return alphabet.repeat(Math.ceil(LONG_LENGTH / alphabet.length)).slice(0, LONG_LENGTH);
  }

  function hex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
  }

  function setState(state, detail = "") {
    ui.state.dataset.state = state;
    ui.state.textContent = detail ? `${state} ${detail}` : state;
    const open = state === "open";
    for (const button of [ui.send, ui.binary, ui.long]) button.disabled = !open;
    ui.connect.textContent = state === "closed" ? "Connect" : "Disconnect";
    ui.connect.disabled = state === "closing";
  }

  // One log line: <li class="sent|echo" data-type="text|binary">.
  function addEntry(direction, type, body, note = "", match = null) {
    const li = document.createElement("li");
    li.className = direction;
    li.dataset.type = type;
    const parts = [["dir", direction], ["type", type], ["body", body]];
    if (note) parts.push(["note", note]);
    for (const [cls, text] of parts) {
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = text;
      li.append(span);
    }
    if (match !== null) {
      li.dataset.match = String(match);
      const span = document.createElement("span");
      span.className = `match ${match ? "ok" : "bad"}`;
      span.textContent = match ? "✓ matches" : "✗ differs";
      li.append(span);
    }
    ui.log.append(li);
    while (ui.log.children.length > MAX_ENTRIES) ui.log.firstElementChild.remove();
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function send(kind, data, display) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(data);
    pending.push({ kind, data });
    addEntry("sent", kind === "binary" ? "binary" : "text", display.body, display.note);
    return true;
  }

  function onMessage(event) {
    const sent = pending.shift();
    const isText = typeof event.data === "string";
    const type = isText ? "text" : "binary";
    const bytes = isText ? null : new Uint8Array(event.data);
    const text = isText ? event.data : new TextDecoder().decode(bytes);
    let expected = null;
    if (sent) expected = sent.kind === "binary" ? BINARY_TEXT : sent.data;
    const match = expected === null ? null : text === expected;

    if (sent && sent.kind === "long") {
      addEntry("echo", type, `long message, ${count(text.length)} chars`, "", match);
    } else if (isText) {
      const note = sent && sent.kind === "binary"
        ? `${count(text.length)} chars: the binary frame came back as text`
        : "";
      addEntry("echo", type, text, note, match);
    } else {
      addEntry("echo", type, `${hex(bytes)} ("${text}")`, `${count(bytes.length)} bytes`, match);
    }
  }

  function connect() {
    pending = [];
    ui.proto.textContent = "–";
    setState("connecting");
    let socket;
    try {
      socket = new WebSocket(WS_URL, PROTOCOL);
    } catch (err) {
      setState("closed", `(${err.message})`);
      return;
    }
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      ui.proto.textContent = socket.protocol || "(none)";
      setState("open");
    };
    socket.onmessage = onMessage;
    socket.onclose = (event) => {
      if (ws !== socket) return;
      ws = null;
      const reason = event.reason ? `, reason "${event.reason}"` : "";
      setState("closed", `(code ${event.code}${reason})`);
    };
    ws = socket;
  }

  function disconnect() {
    if (!ws) return;
    setState("closing");
    ws.close(1000, "Disconnect pressed");
  }

  ui.connect.addEventListener("click", () => (ws ? disconnect() : connect()));

  ui.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = ui.msg.value;
    if (text === "") return;
    if (send("text", text, { body: text })) ui.msg.value = "";
    ui.msg.focus();
  });

  ui.binary.addEventListener("click", () => {
    const bytes = new TextEncoder().encode(BINARY_TEXT);
    send("binary", bytes.buffer, {
      body: `${hex(bytes)} ("${BINARY_TEXT}")`,
      note: `${count(bytes.length)} bytes`,
    });
  });

  ui.long.addEventListener("click", () => {
    const text = longPayload();
    send("long", text, { body: `long message, ${count(text.length)} chars` });
  });

  ui.clear.addEventListener("click", () => ui.log.replaceChildren());

  ui.url.textContent = WS_URL;
  connect();
})();
