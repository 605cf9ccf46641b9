"""The foundation: real private services start, and one query reaches each."""

import pymysql
import redis

from harness.procs import LaunchError, require_binary


def test_private_mariadb_answers_a_real_query(mariadb):
    conn = pymysql.connect(
        host=mariadb.host, port=mariadb.port, user=mariadb.user,
        password=mariadb.password, database=mariadb.database,
    )  # fmt: skip
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS smoke (id INT PRIMARY KEY, v VARCHAR(10))")
        cur.execute("REPLACE INTO smoke VALUES (1, 'ok')")
        cur.execute("SELECT v, VERSION() FROM smoke WHERE id = 1")
        v, version = cur.fetchone()
    assert v == "ok"
    assert "MariaDB" in version


def test_private_redis_answers_a_real_command(redis_addr):
    r = redis.Redis(host=redis_addr.host, port=redis_addr.port)
    assert r.set("smoke", "ok")
    assert r.get("smoke") == b"ok"
    assert r.info("server")["tcp_port"] == redis_addr.port


def test_missing_binary_names_the_package_to_install():
    try:
        require_binary("no-such-binary-syslab", "some-package")
    except LaunchError as e:
        assert "some-package" in str(e)
    else:
        raise AssertionError("expected LaunchError")


def test_private_rabbitmq_speaks_amqp_on_its_own_port():
    """A node of our own (own port, name, config): the machine's broker on 5672 is left alone."""
    import socket

    from harness.services import RabbitMQ

    with RabbitMQ() as rabbit:
        assert rabbit.port != 5672
        with socket.create_connection(("127.0.0.1", rabbit.port), timeout=10) as s:
            s.sendall(b"AMQP\x00\x00\x09\x01")  # protocol header, AMQP 0-9-1
            frame = s.recv(4096)
        # a METHOD frame on channel 0 carrying Connection.Start (class 10, method 10)
        assert frame[0] == 1 and frame[1:3] == b"\x00\x00"
        assert frame[7:11] == b"\x00\x0a\x00\x0a"
        assert b"capabilities" in frame
    assert not rabbit.child
