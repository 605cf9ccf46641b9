"""Socket.IO v5 packets: the text encoding, namespaces, ack ids, binary attachments, and refusals."""

from __future__ import annotations

import random

import pytest

from netlib.socketio import MAX_ATTACHMENTS, Decoder, Packet, PacketType, ProtocolError, encode

pytestmark = pytest.mark.exercise("N15")


def one(*msgs):
    d = Decoder()
    out = [d.feed(m) for m in msgs]
    assert all(p is None for p in out[:-1])
    return out[-1]


@pytest.mark.parametrize("packet,wire", [
    (Packet(PacketType.CONNECT), "0"),
    (Packet(PacketType.CONNECT, "/admin", {"token": "x"}), '0/admin,{"token":"x"}'),
    (Packet(PacketType.DISCONNECT, "/admin"), "1/admin,"),
    (Packet(PacketType.EVENT, "/", ["hello", 1]), '2["hello",1]'),
    (Packet(PacketType.EVENT, "/", ["hello"], 12), '212["hello"]'),
    (Packet(PacketType.EVENT, "/admin", ["hi"], 3), '2/admin,3["hi"]'),
    (Packet(PacketType.ACK, "/", ["ok"], 12), '312["ok"]'),
    (Packet(PacketType.CONNECT_ERROR, "/", {"message": "no"}), '4{"message":"no"}'),
])  # fmt: skip
def test_text_packets_as_the_spec_writes_them(packet, wire):
    assert encode(packet) == [wire]
    back = one(wire)
    assert (back.type, back.namespace, back.data, back.id) == (packet.type, packet.namespace, packet.data,
                                                                packet.id)  # fmt: skip


def test_binary_data_becomes_placeholders_and_attachments():
    msgs = encode(Packet(PacketType.EVENT, "/", ["file", {"name": "a", "body": b"\x00\x01"}, b"\xff"], 4))
    assert msgs == ['52-4["file",{"name":"a","body":{"_placeholder":true,"num":0}},'
                    '{"_placeholder":true,"num":1}]', b"\x00\x01", b"\xff"]  # fmt: skip
    p = one(*msgs)
    assert p.type == PacketType.BINARY_EVENT and p.id == 4
    assert p.data == ["file", {"name": "a", "body": b"\x00\x01"}, b"\xff"]


def test_binary_ack():
    msgs = encode(Packet(PacketType.ACK, "/x", [b"z"], 9))
    assert msgs[0] == '61-/x,9[{"_placeholder":true,"num":0}]'
    assert one(*msgs).data == [b"z"]


@pytest.mark.parametrize("msgs", [
    ["9"], ["2"], ['2{"a":1}'], ["2[]"], ["2[1"], ['3["no id"]'], ["0[1]"], ['1["x"]'],
    ["5x-[]"], [f"5{MAX_ATTACHMENTS + 1}-[\"e\"]"], ['51-["e",{"_placeholder":true,"num":1}]', b"x"],
    [b"stray binary"], ['51-["e",{"_placeholder":true,"num":0}]', "a text instead"],
    ["2" + "[" * 100_000], ["2" + "9" * 40 + '["e"]'],
])  # fmt: skip
def test_packets_that_do_not_parse_raise_protocol_error(msgs):
    d = Decoder()
    with pytest.raises(ProtocolError):
        for m in msgs:
            d.feed(m)


def test_random_input_raises_only_protocol_error():
    rng = random.Random(14)
    alphabet = '0123456789[]{}",:/-_placeholder truenum'
    for _ in range(3000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
        try:
            Decoder().feed(s)
        except ProtocolError:
            pass
