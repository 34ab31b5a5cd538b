// perfectws chat page: speaks Perfect-Chat-Demo's protocol on /chat.
//   join: {"email", "displayName", "avatar"}
//   post: {"email", "displayName", "avatar", "message"}
//   receive: {"user", "message": "<name>: <text>", "avatar"} (never our own posts)
// Offline: no external scripts, fonts or images; avatars are drawn here.
"use strict";

const $ = (id) => document.getElementById(id);
const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/chat`;
let socket = null;
let me = null;

function hue(text) {
  let h = 0;
  for (const ch of text) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

function avatarFor(name) {
  const span = document.createElement("span");
  span.className = "avatar";
  span.textContent = (name || "?").slice(0, 1).toUpperCase();
  span.style.background = `hsl(${hue(name || "?")} 55% 45%)`;
  return span;
}

// Other users' avatars are strings we do not load: an image URL would reach
// out of this page (and the demo's are remote). The initial stands in for it.
function show(user, text, mine) {
  const li = document.createElement("li");
  li.dataset.user = user;
  if (mine) li.classList.add("mine");
  if (user === "Bot") li.classList.add("bot");
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  li.append(avatarFor(user), body);
  $("log").append(li);
  li.scrollIntoView({ block: "nearest" });
}

function setState(state) {
  $("state").textContent = state;
  $("state").dataset.state = state;
  $("join-button").disabled = state !== "open" || me !== null;
  const joined = state === "open" && me !== null;
  $("message").disabled = !joined;
  $("send").disabled = !joined;
}

function connect() {
  socket = new WebSocket(url, "chat");
  setState("connecting");
  socket.addEventListener("open", () => setState("open"));
  socket.addEventListener("close", (event) => {
    me = null;
    setState(`closed (code ${event.code})`);
  });
  socket.addEventListener("message", (event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    show(String(data.user), String(data.message), false);
  });
}

$("join").addEventListener("submit", (event) => {
  event.preventDefault();
  me = {
    email: $("email").value.trim(),
    displayName: $("name").value.trim(),
    avatar: "",
  };
  socket.send(JSON.stringify(me));
  $("join").querySelectorAll("input, button").forEach((el) => (el.disabled = true));
  setState("open");
  $("message").focus();
});

$("post").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("message").value;
  if (!text || me === null) return;
  socket.send(JSON.stringify({ ...me, message: text }));
  // The server never echoes a post to its sender: show it here.
  show(me.displayName, `${me.displayName}: ${text}`, true);
  $("message").value = "";
});

connect();
