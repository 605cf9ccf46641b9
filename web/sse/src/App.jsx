import React, { useState } from "react";
import { useEventStream } from "./useEventStream.js";

const TYPES = ["message", "note", "alert"];

function ConnectionBadge({ state }) {
  const colour = { open: "#2e7d32", connecting: "#f9a825", reconnecting: "#c62828" }[state];
  return (
    <p>
      stream: <b id="state" data-testid="state" style={{ color: colour }}>{state}</b>
    </p>
  );
}

function EventList({ events }) {
  return (
    <ol id="events">
      {events.map((e) => (
        <li key={e.id} data-id={e.id} data-type={e.type}>
          <code>#{e.id}</code> [{e.type}] {e.data}
        </li>
      ))}
    </ol>
  );
}

function Counters({ events }) {
  const counts = Object.fromEntries(TYPES.map((t) => [t, 0]));
  for (const e of events) counts[e.type] += 1;
  return (
    <p id="counters">
      {TYPES.map((t) => (
        <span key={t} data-type={t} style={{ marginRight: "1em" }}>
          {t}: <b>{counts[t]}</b>
        </span>
      ))}
    </p>
  );
}

function Publisher() {
  const [text, setText] = useState("");
  const [type, setType] = useState("message");
  const send = async (ev) => {
    ev.preventDefault();
    await fetch("publish", { method: "POST", body: JSON.stringify({ event: type, data: text }) });
    setText("");
  };
  return (
    <form onSubmit={send}>
      <select value={type} onChange={(e) => setType(e.target.value)}>
        {TYPES.map((t) => (
          <option key={t}>{t}</option>
        ))}
      </select>
      <input id="text" value={text} onChange={(e) => setText(e.target.value)} placeholder="say something" />
      <button id="send">publish</button>
    </form>
  );
}

export default function App() {
  const { state, events, reset } = useEventStream("events", TYPES);
  return (
    <main style={{ fontFamily: "system-ui, sans-serif", maxWidth: "50em", margin: "2em auto" }}>
      <h1>Live events</h1>
      <ConnectionBadge state={state} />
      {reset && <p id="reset">missed events before #{reset.oldest}: reload for the full history</p>}
      <Counters events={events} />
      <Publisher />
      <EventList events={events} />
    </main>
  );
}
