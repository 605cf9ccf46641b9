// useEventStream(url): subscribe a component tree to a server-sent event stream.
//
// The browser's EventSource reconnects by itself (sending Last-Event-ID) when a
// stream ends; when it gives up (readyState CLOSED, e.g. the server answered an
// error while restarting) we open a new one after `retry` ms and carry the last
// id in ?lastEventId=, which servers/sse reads like the header. Events are
// numbered by the server: one whose id is not above the last one seen is a
// repeat and is ignored, so nothing is shown twice whatever the reconnections.
import { useEffect, useRef, useState } from "react";

const GIVE_UP_RETRY_MS = 1000; // pause before a fresh EventSource after the browser gave up
const MAX_EVENTS = 500; // events kept in memory: a page left open all day stays small

export function useEventStream(url, types = ["message"]) {
  const [state, setState] = useState("connecting"); // connecting | open | reconnecting
  const [events, setEvents] = useState([]);
  const [reset, setReset] = useState(null);
  const lastId = useRef(0);
  const typesKey = types.join(",");

  useEffect(() => {
    let source = null;
    let timer = null;
    let stopped = false;

    const onEvent = (e) => {
      const id = Number(e.lastEventId);
      if (!Number.isFinite(id) || id <= lastId.current) return; // a repeat: already shown
      lastId.current = id;
      setEvents((old) => [...old, { id, type: e.type, data: e.data }].slice(-MAX_EVENTS));
    };
    const onReset = (e) => {
      lastId.current = Number(e.lastEventId) || lastId.current;
      setReset(JSON.parse(e.data));
    };

    const open = () => {
      const sep = url.includes("?") ? "&" : "?";
      source = new EventSource(lastId.current ? `${url}${sep}lastEventId=${lastId.current}` : url);
      source.onopen = () => setState("open");
      source.onerror = () => {
        if (stopped) return;
        if (source.readyState === EventSource.CLOSED) {
          setState("reconnecting");
          source.close();
          timer = setTimeout(open, GIVE_UP_RETRY_MS);
        } else {
          setState("reconnecting"); // the browser retries on its own
        }
      };
      for (const t of typesKey.split(",")) source.addEventListener(t, onEvent);
      source.addEventListener("reset", onReset);
    };
    open();
    return () => {
      stopped = true;
      clearTimeout(timer);
      if (source) source.close();
    };
  }, [url, typesKey]);

  return { state, events, reset, lastId: lastId.current };
}
