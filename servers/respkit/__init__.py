"""respkit: what every RESP server in the lab stands on (the cache, Bitcask, and the next).

Layout:

* ``registry.py``: ``Registry`` (name -> ``Command``: handler, arity, flags,
  key positions, group, syntax for COMMAND DOCS) and containers with
  subcommands (``CLIENT SETNAME``).
* ``errors.py``: Redis's exact error wording (unknown command with its
  argument preview, wrong number of arguments, WRONGTYPE, syntax error, ...),
  ``CommandError`` and argument parsing that refuses with that wording
  (``to_int``, ``to_float``).
* ``session.py``: ``Session``, one connection: parse every complete command of
  a read, dispatch, one batched write; backpressure through the shell's
  ``pause_writing``/``resume_writing``; answering later (blocked commands,
  work in a thread) with a bound on what queues meanwhile; QUIT; a protocol
  error is answered, then the connection half-closes and lingers briefly.
* ``state.py``: ``ServerState``, what all sessions of a server share (the
  registry, the clients, counters) and the hooks a server overrides;
  ``EngineState``, the whole of it for one storage engine.
* ``connection.py``: HELLO 2/3, AUTH, PING, ECHO, QUIT, RESET, SELECT and
  CLIENT SETNAME/GETNAME/ID/SETINFO/INFO/LIST/HELP, in the ``BASE`` registry;
  ``introspect.py``: COMMAND, COMMAND COUNT/LIST/INFO/DOCS.
* ``server.py``: ``serve`` (the netlib shell, port 0, Redis's maxclients
  refusal, periodic tasks) and ``shell_config``.
* ``glob.py``: Redis's glob patterns (KEYS, SCAN MATCH, PSUBSCRIBE).

How to build a RESP server on the kit. Make a registry that includes the
connection commands, ``REGISTRY = Registry(include=BASE)``, and write one
file per family of commands, each command a small function registered with
``@REGISTRY.command("GET", 2, "readonly fast", group="string", syntax="key")``
that takes ``(session, args)`` and returns the encoded reply (``netlib.resp``
encoders: ``resp.bulk(v, s.proto)``, ``resp.OK``), raises ``CommandError``
(or uses ``to_int``) to refuse with Redis's wording, or returns None after
arranging to answer later (``s.answer_in_thread(work, encode)`` for a slow
call into an engine or a database). Another server's commands can be taken
as they are: ``REGISTRY.include(bitcask.REGISTRY, names=["get", "del"])``.
For one engine on files, ``EngineState(engine, REGISTRY, errors=(StorageError,
OSError))`` is the whole shared state (``s.db`` is the engine; its errors
answer ``-ERR storage error: ...``); otherwise subclass ``ServerState``
(``database(index)`` is what ``s.db`` holds, ``errors``/``error_reply`` turn
your exceptions into replies). Subclass ``Session`` only for per-connection
state of your own (MULTI, subscriptions). ``__main__`` parses flags
(``servers.cli``) and calls ``serve(shell_config(host, port), state)``, which
logs ``listening on HOST:PORT`` (the harness launchers read it). Arity,
unknown commands, HELLO/RESP3, AUTH, CLIENT, COMMAND DOCS for redis-cli's
hints, pipelining, slow readers and protocol errors are then handled, with
Redis's wording. ``servers/bitcask`` is the small example (about 100 lines
of commands and state); ``servers/cache`` the large one.
"""

from netlib import resp

from . import introspect  # noqa: F401  (registers COMMAND in BASE)
from .connection import BASE
from .errors import (
    DB_OUT_OF_RANGE,
    INT64_MAX,
    INT64_MIN,
    NO_SUCH_KEY,
    NOT_FLOAT,
    NOT_INTEGER,
    OVERFLOW,
    SYNTAX,
    WRONGTYPE,
    CommandError,
    arity_error,
    to_float,
    to_index,
    to_int,
    to_positive,
    unknown_command,
)
from .registry import Command, Handler, Registry, arity_ok
from .server import serve, shell_config
from .session import HOLD, OUTPUT_HIGH_WATER, Session
from .state import VERSION, EngineState, ServerState, WrongType

# Largest string value: Redis's proto-max-bulk-len (APPEND, SETRANGE).
MAX_STRING = resp.MAX_BULK_LEN

__all__ = [
    "HOLD",
    "BASE", "DB_OUT_OF_RANGE", "INT64_MAX", "INT64_MIN", "MAX_STRING", "NOT_FLOAT",
    "NOT_INTEGER", "NO_SUCH_KEY", "OUTPUT_HIGH_WATER", "OVERFLOW", "SYNTAX", "VERSION",
    "WRONGTYPE", "Command", "CommandError", "EngineState", "Handler", "Registry", "ServerState",
    "Session",
    "WrongType", "arity_error", "arity_ok", "serve", "shell_config", "to_float", "to_index",
    "to_int", "to_positive", "unknown_command",
]  # fmt: skip
