"""The I/O-free half of the client, shared by the blocking and the asyncio flavours.

Both flavours do the same few things around a socket: write
``encode_command`` bytes, feed what arrives to the codec's ``ReplyParser``,
and turn values into results. Everything that is not "move bytes" lives here
so the two stay identical: the handshake (HELLO / AUTH / SELECT), mapping an
error reply to an exception, a pipeline's queue and how its replies are
checked, and pub/sub bookkeeping (which channels are confirmed, what a
message looks like in RESP2 arrays and RESP3 pushes).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from netlib.resp import NEED_DATA, ProtocolError, Push, ReplyError, ReplyParser, encode_command

from .errors import InvalidReply, ResponseError, WatchError, response_error

Arg = bytes | str | int | float
Command = tuple[Arg, ...]

DEFAULT_TIMEOUT = 10.0  # seconds for connect and for each reply; None waits forever
READ_SIZE = 256 * 1024  # bytes per recv: big replies (LRANGE, MGET) arrive in few reads


@dataclass(frozen=True)
class Options:
    """How to open a connection; kept so ``pubsub()`` can open another one alike."""

    db: int = 0
    protocol: int = 2
    timeout: float | None = DEFAULT_TIMEOUT
    username: str | None = None
    password: str | None = None
    client_name: str | None = None

    def handshake(self) -> list[Command]:
        """The commands a fresh connection sends before it is handed to the caller.

        RESP3 needs ``HELLO 3`` (which also carries AUTH and SETNAME in one round
        trip). RESP2 sends no HELLO at all, so the client also talks to servers
        older than Redis 6 or that never implemented HELLO.
        """
        if self.protocol not in (2, 3):
            raise ValueError("protocol must be 2 or 3")
        cmds: list[Command] = []
        if self.protocol == 3:
            hello: list[Arg] = ["HELLO", 3]
            if self.password is not None:
                hello += ["AUTH", self.username or "default", self.password]
            if self.client_name:
                hello += ["SETNAME", self.client_name]
            cmds.append(tuple(hello))
        else:
            if self.password is not None:
                user = () if self.username is None else (self.username,)
                cmds.append(("AUTH", *user, self.password))
            if self.client_name:
                cmds.append(("CLIENT", "SETNAME", self.client_name))
        if self.db:
            cmds.append(("SELECT", self.db))
        return cmds


def encode_many(commands: Sequence[Command]) -> bytes:
    """Many commands as one buffer: one write for a whole pipeline."""
    return b"".join(encode_command(*c) for c in commands)


def result(value: Any) -> Any:
    """A reply as the caller sees it: error replies raise, the rest passes through."""
    if isinstance(value, ReplyError):
        raise response_error(value.message)
    return value


class Replies:
    """The codec's ReplyParser with the client's error mapping."""

    __slots__ = ("_parser",)

    def __init__(self) -> None:
        self._parser = ReplyParser()

    def feed(self, data: bytes) -> None:
        self._parser.feed(data)

    def next(self) -> Any:
        """The next value or NEED_DATA; bad bytes raise ``InvalidReply``."""
        try:
            return self._parser.next_reply()
        except ProtocolError as exc:
            raise InvalidReply(str(exc)) from exc


def is_push(value: Any) -> bool:
    return isinstance(value, Push)


# -- pipelines ------------------------------------------------------------------------


class PipelineBase:
    """Commands collected by a pipeline, and how its replies become results.

    With ``transaction=True`` the batch is wrapped in MULTI/EXEC: the server
    answers ``+OK``, one ``+QUEUED`` per command, then EXEC's array of results
    (or nil when a WATCHed key changed). Either way it is one write and one
    read of N replies.
    """

    def __init__(self, transaction: bool = False) -> None:
        self.transaction = transaction
        self.commands: list[Command] = []

    def command(self, *args: Arg) -> Self:
        """Queue one command; returns the pipeline so calls chain."""
        if not args:
            raise ValueError("empty command")
        self.commands.append(args)
        return self

    def __len__(self) -> int:
        return len(self.commands)

    def wire(self) -> tuple[bytes, int]:
        """The bytes to write and how many replies to read back."""
        cmds = self.commands
        if self.transaction:
            cmds = [("MULTI",), *cmds, ("EXEC",)]
        return encode_many(cmds), len(cmds)

    def results(self, replies: list[Any], raise_on_error: bool) -> list[Any]:
        """Replies -> results (errors as exceptions), and the queue emptied for reuse."""
        self.commands = []
        if self.transaction:
            replies = self._unwrap_transaction(replies)
        out = [response_error(r.message) if isinstance(r, ReplyError) else r for r in replies]
        if raise_on_error:
            for r in out:
                if isinstance(r, ResponseError):
                    raise r
        return out

    @staticmethod
    def _unwrap_transaction(replies: list[Any]) -> list[Any]:
        # MULTI's OK and the QUEUEDs: a command rejected here makes EXEC answer
        # EXECABORT; raise that, with the rejection that caused it as the cause.
        queued = [r for r in replies[:-1] if isinstance(r, ReplyError)]
        cause = response_error(queued[0].message) if queued else None
        exec_reply = replies[-1]
        if isinstance(exec_reply, ReplyError):
            raise response_error(exec_reply.message) from cause
        if cause is not None:
            raise cause
        if exec_reply is None:
            raise WatchError("EXEC returned nil: a WATCHed key changed, nothing was executed")
        return list(exec_reply)


# -- pub/sub --------------------------------------------------------------------------

_CONFIRMATIONS = {b"subscribe", b"unsubscribe", b"psubscribe", b"punsubscribe"}


@dataclass(frozen=True)
class Message:
    """One pub/sub event. ``kind`` is ``message`` or ``pmessage`` for data, or a
    confirmation kind (``subscribe``...) where ``data`` is the subscription count."""

    kind: str
    channel: bytes
    data: Any
    pattern: bytes | None = None


@dataclass
class Subscriptions:
    """Which channels and patterns the server has confirmed, and what is still awaited."""

    channels: set[bytes] = field(default_factory=set)
    patterns: set[bytes] = field(default_factory=set)
    awaiting: list[tuple[str, bytes | None]] = field(default_factory=list)

    def request(self, kind: str, names: Sequence[Arg]) -> Command:
        """Record the confirmations a (p)(un)subscribe will produce; return the command."""
        keys = [_bytes(n) for n in names]
        if not keys and kind in ("unsubscribe", "punsubscribe"):
            current = self.channels if kind == "unsubscribe" else self.patterns
            keys = sorted(current)
            # Redis answers an empty unsubscribe with one reply whose name is nil.
            self.awaiting += [(kind, k) for k in keys] or [(kind, None)]
        else:
            self.awaiting += [(kind, k) for k in keys]
        return (kind.upper(), *keys)

    def observe(self, message: Message) -> None:
        """Apply a confirmation the server sent."""
        kind, name = message.kind, message.channel
        target = self.patterns if kind.startswith("p") else self.channels
        if kind.endswith("unsubscribe"):
            target.discard(name)
        else:
            target.add(name)
        for i, (k, n) in enumerate(self.awaiting):
            if k == kind and (n == name or n is None):
                del self.awaiting[i]
                break

    @property
    def active(self) -> bool:
        return bool(self.channels or self.patterns)


class PubSubBase:
    """What both PubSub flavours share: confirmed state and messages set aside."""

    def __init__(self) -> None:
        self.subscriptions = Subscriptions()
        self._pending: deque[Message] = deque()

    def _take(self, value: Any) -> Message | None:
        """Confirmations update the state; data messages are returned. Errors raise."""
        msg = pubsub_message(result(value))
        if msg is None:
            return None
        if msg.kind in ("message", "pmessage"):
            return msg
        self.subscriptions.observe(msg)
        return None

    def _keep(self, value: Any) -> None:
        """While awaiting confirmations: a data message that slipped in is queued."""
        msg = self._take(value)
        if msg is not None:
            self._pending.append(msg)


def _bytes(x: Arg) -> bytes:
    if isinstance(x, bytes):
        return x
    return str(x).encode()


def pubsub_message(value: Any) -> Message | None:
    """A RESP2 array or RESP3 push as a Message; None when it is not pub/sub shaped."""
    if not isinstance(value, list) or len(value) < 3 or not isinstance(value[0], bytes):
        return None
    kind = value[0].lower()
    if kind == b"pmessage" and len(value) == 4:
        return Message("pmessage", value[2], value[3], pattern=value[1])
    if kind == b"message" or kind in _CONFIRMATIONS:
        channel = value[1] if value[1] is not None else b""
        return Message(kind.decode(), channel, value[2])
    return None


__all__ = ["NEED_DATA", "Message", "Options", "PipelineBase", "PubSubBase", "Replies"]
