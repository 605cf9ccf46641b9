"""servers/chat: a Slack-like chat on Socket.IO (N15), a star of processes over Redis (N17),
disconnects produced to Kafka (N16).

Layout: ``chat`` is the Socket.IO contract (join, message, typing, leave;
presence) and the local bus; ``store`` the durable history on storage/bitcask;
``star`` the Redis bus (``--redis``); ``disconnects`` the session-end events
and their consumer (``--kafka``); ``app`` the HTTP side (Socket.IO, the page in
web/chat, /stats, and ``wsecho``'s plain WebSocket echo at /ws/echo); ``__main__`` the flags. The protocol stack is
netlib.engineio and netlib.socketio.
"""
