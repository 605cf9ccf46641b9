// N15 interop: the official npm socket.io-client (web/chat/node_modules) against servers/chat.
// Usage: node chat_client.js PORT [TRANSPORTS]   prints one JSON object with what happened.
"use strict";
const { io } = require("socket.io-client");
const port = process.argv[2];
const transports = (process.argv[3] || "polling,websocket").split(",");
const url = `http://127.0.0.1:${port}`;
const out = { acks: {}, b_messages: [], recovered: null, b_reasons: [] };
const done = (code) => { console.log(JSON.stringify(out)); process.exit(code); };
setTimeout(() => { out.error = "timeout"; done(1); }, 20000);
const wait = (ms) => new Promise((r) => setTimeout(r, ms));
const once = (s, ev) => new Promise((r) => s.once(ev, r));

(async () => {
  const a = io(url, { transports, reconnection: false });
  const b = io(url, { transports, reconnectionDelay: 100, reconnectionDelayMax: 200 });
  b.on("message", (m, offset) => out.b_messages.push({ text: m.text, id: m.id, offset }));
  b.on("disconnect", (reason) => out.b_reasons.push(reason));
  await Promise.all([once(a, "connect"), once(b, "connect")]);
  out.transport = a.io.engine.transport.name;
  out.acks.join_a = await a.emitWithAck("join", { channel: "node", user: "node-a" });
  out.acks.join_b = await b.emitWithAck("join", { channel: "node", user: "node-b" });
  out.acks.first = await a.emitWithAck("message", { channel: "node", text: "hello from node" });
  while (out.b_messages.length < 1) await wait(20);
  // b's transport dies (not a disconnect on purpose): the state is kept for recovery
  b.io.engine.close();
  out.acks.away = await a.emitWithAck("message", { channel: "node", text: "while b was away" });
  await once(b, "connect");
  out.recovered = b.recovered;
  while (out.b_messages.length < 2) await wait(20);
  out.acks.after = await a.emitWithAck("message", { channel: "node", text: "after" });
  while (out.b_messages.length < 3) await wait(20);
  a.disconnect();
  b.disconnect();
  done(0);
})().catch((e) => { out.error = String(e); done(1); });
