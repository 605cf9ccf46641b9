"""Each command's argument syntax, as Redis's documentation writes it (COMMAND DOCS).

Why. redis-cli 7 builds its grey typing hints (``SET key value [NX|XX] ...``)
and ``help CMD`` from the ``arguments`` of ``COMMAND DOCS``; without them the
hints are blank. Redis describes each argument as a nested tree (type, token,
flags, sub-arguments). We keep one line per command instead and hand
redis-cli one argument per top-level word, typed ``key`` or ``string``, its
name being the word itself (``[NX|XX]`` included): redis-cli prints names as
they are, so the hint reads exactly like Redis's while the table stays a
readable page. What this gives up: a client that walks the tree (to find
tokens or which words are optional) sees flat words.
"""

from __future__ import annotations

from typing import Any

EXPIRY = "[EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds"
SYNTAX: dict[str, str] = {
    "ping": "[message]",
    "echo": "message",
    "select": "index",
    "hello": "[protover [AUTH username password] [SETNAME clientname]]",
    "client|setname": "connection-name",
    "client|setinfo": "LIB-NAME libname|LIB-VER libver",
    "client|list": "[TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id [client-id ...]]",
    "del": "key [key ...]",
    "unlink": "key [key ...]",
    "exists": "key [key ...]",
    "type": "key",
    "keys": "pattern",
    "scan": "cursor [MATCH pattern] [COUNT count] [TYPE type]",
    "rename": "key newkey",
    "renamenx": "key newkey",
    "expire": "key seconds [NX|XX|GT|LT]",
    "pexpire": "key milliseconds [NX|XX|GT|LT]",
    "expireat": "key unix-time-seconds [NX|XX|GT|LT]",
    "pexpireat": "key unix-time-milliseconds [NX|XX|GT|LT]",
    "ttl": "key",
    "pttl": "key",
    "expiretime": "key",
    "pexpiretime": "key",
    "persist": "key",
    "object|freq": "key",
    "memory|usage": "key [SAMPLES count]",
    "get": "key",
    "set": f"key value [NX|XX] [GET] {EXPIRY}|KEEPTTL]",
    "setnx": "key value",
    "setex": "key seconds value",
    "psetex": "key milliseconds value",
    "getset": "key value",
    "getdel": "key",
    "getex": f"key {EXPIRY}|PERSIST]",
    "mget": "key [key ...]",
    "mset": "key value [key value ...]",
    "msetnx": "key value [key value ...]",
    "append": "key value",
    "strlen": "key",
    "getrange": "key start end",
    "substr": "key start end",
    "setrange": "key offset value",
    "incr": "key",
    "decr": "key",
    "incrby": "key increment",
    "decrby": "key decrement",
    "incrbyfloat": "key increment",
    "hset": "key field value [field value ...]",
    "hmset": "key field value [field value ...]",
    "hsetnx": "key field value",
    "hget": "key field",
    "hmget": "key field [field ...]",
    "hdel": "key field [field ...]",
    "hexists": "key field",
    "hlen": "key",
    "hstrlen": "key field",
    "hkeys": "key",
    "hvals": "key",
    "hgetall": "key",
    "hincrby": "key field increment",
    "hincrbyfloat": "key field increment",
    "hscan": "key cursor [MATCH pattern] [COUNT count]",
    "lpush": "key element [element ...]",
    "rpush": "key element [element ...]",
    "lpushx": "key element [element ...]",
    "rpushx": "key element [element ...]",
    "lpop": "key [count]",
    "rpop": "key [count]",
    "llen": "key",
    "lrange": "key start stop",
    "lindex": "key index",
    "lset": "key index element",
    "lrem": "key count element",
    "ltrim": "key start stop",
    "linsert": "key BEFORE|AFTER pivot element",
    "blpop": "key [key ...] timeout",
    "brpop": "key [key ...] timeout",
    "subscribe": "channel [channel ...]",
    "unsubscribe": "[channel [channel ...]]",
    "psubscribe": "pattern [pattern ...]",
    "punsubscribe": "[pattern [pattern ...]]",
    "publish": "channel message",
    "pubsub|channels": "[pattern]",
    "pubsub|numsub": "[channel [channel ...]]",
    "info": "[section [section ...]]",
    "config|get": "parameter [parameter ...]",
    "config|set": "parameter value [parameter value ...]",
    "command|list": "[FILTERBY MODULE module-name|ACLCAT category|PATTERN pattern]",
    "command|info": "[command-name [command-name ...]]",
    "command|docs": "[command-name [command-name ...]]",
    "flushdb": "[ASYNC|SYNC]",
    "flushall": "[ASYNC|SYNC]",
    "sadd": "key member [member ...]",
    "srem": "key member [member ...]",
    "smembers": "key",
    "sismember": "key member",
    "smismember": "key member [member ...]",
    "scard": "key",
    "spop": "key [count]",
    "srandmember": "key [count]",
    "sinter": "key [key ...]",
    "sunion": "key [key ...]",
    "sdiff": "key [key ...]",
    "watch": "key [key ...]",
}


def words(syntax: str) -> list[str]:
    """Split at spaces outside brackets: ``key [key ...]`` -> ``['key', '[key ...]']``."""
    out: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(syntax + " "):
        depth += (ch == "[") - (ch == "]")
        if ch == " " and depth == 0:
            if i > start:
                out.append(syntax[start:i])
            start = i + 1
    return out


def arguments(name: str) -> list[dict[bytes, Any]]:
    """The ``arguments`` of one command's COMMAND DOCS entry (empty: takes none)."""
    return [
        {b"name": w.encode(), b"type": b"key" if w in ("key", "newkey") else b"string"}
        for w in words(SYNTAX.get(name, ""))
    ]
