"""D1: faults end in clear errors, fast: wrong password, closed port, a killed
server, a killed connection, a read timeout; and the authentication paths
(auth switch, an unsupported plugin)."""

from __future__ import annotations

import threading
import time

import pytest
from support import wait_until

from clients.mysql import (
    AccessDeniedError,
    AuthError,
    ConnectError,
    Connection,
    ConnectionLostError,
    InterfaceError,
    OperationalError,
)
from harness.procs import free_port
from harness.services import MariaDB

pytestmark = pytest.mark.exercise("D1")


@pytest.fixture(scope="module")
def pw_user(mariadb_server):
    mariadb_server.sql(
        "CREATE USER IF NOT EXISTS 'f1_pw'@'%' IDENTIFIED BY 's3cret';"
        "GRANT ALL ON test.* TO 'f1_pw'@'%'"
    )
    return mariadb_server.address


def test_wrong_password_is_error_1045_not_a_hang(pw_user):
    a = pw_user
    # A hang would end in the 5 s connect timeout, a different error: the type says it all.
    with pytest.raises(AccessDeniedError) as e:
        Connection(a.host, a.port, "f1_pw", "wrong", "test", connect_timeout=5)
    assert e.value.code == 1045 and e.value.sqlstate == "28000"
    assert "Access denied" in e.value.message
    with Connection(a.host, a.port, "f1_pw", "s3cret", "test") as c:
        assert c.query("SELECT CURRENT_USER()").scalar() == "f1_pw@%"


def test_auth_switch_request_is_answered(pw_user):
    """Announcing a plugin MariaDB lacks makes it send AuthSwitchRequest (native)."""
    a = pw_user
    with Connection(
        a.host, a.port, "f1_pw", "s3cret", "test", auth_plugin="caching_sha2_password"
    ) as c:
        assert c._proto._plugin == "mysql_native_password"  # switched during login
        assert c.query("SELECT 1").scalar() == 1
    with pytest.raises(AccessDeniedError):
        Connection(a.host, a.port, "f1_pw", "bad", "test", auth_plugin="caching_sha2_password")


def test_unsupported_auth_plugin_fails_with_a_clear_error(mariadb_server):
    installed = mariadb_server.scalar(
        "SELECT COUNT(*) FROM information_schema.plugins WHERE plugin_name = 'ed25519'"
    )
    if installed == 0:  # the session's server may already have it
        mariadb_server.sql("INSTALL SONAME 'auth_ed25519'")
    mariadb_server.sql(
        "CREATE USER IF NOT EXISTS 'f1_ed'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('pw')"
    )
    a = mariadb_server.address
    with pytest.raises(AuthError, match="client_ed25519.*not supported"):
        Connection(a.host, a.port, "f1_ed", "pw", "", connect_timeout=5)


def test_closed_port_is_a_connect_error():
    port = free_port()
    with pytest.raises(ConnectError, match=f"127.0.0.1:{port}") as e:
        Connection("127.0.0.1", port, connect_timeout=5)
    assert isinstance(e.value.__cause__, ConnectionRefusedError)  # refused at once, not timed out
    with pytest.raises(ConnectError):
        Connection(unix_socket="/nonexistent/mysqld.sock")


def test_read_timeout_closes_the_connection(mariadb):
    c = Connection.from_address(mariadb, read_timeout=0.3)
    with pytest.raises(OperationalError, match="timed out"):
        c.query("SELECT SLEEP(3)")
    assert not c.usable and c.closed
    with pytest.raises(InterfaceError):
        c.query("SELECT 1")


def test_killed_connection_is_connection_lost(mariadb):
    victim = Connection.from_address(mariadb)
    with Connection.from_address(mariadb) as admin:
        admin.query("KILL CONNECTION %s", (victim.connection_id,))
    with pytest.raises(OperationalError) as e:  # ConnectionLost, or the server's 1927 ERR
        victim.query("SELECT 1")
    assert isinstance(e.value, ConnectionLostError) or e.value.code in (1927, 2013)


def _wait_for_query(addr, text: str, deadline: float) -> None:
    """Poll (bounded) until the server shows ``text`` running in its process list."""
    sql = "SELECT COUNT(*) FROM information_schema.processlist WHERE info = %s"
    with Connection.from_address(addr) as c:
        wait_until(
            lambda: c.query(sql, (text,)).scalar(),
            timeout=max(deadline - time.monotonic(), 0.1),
            what=f"{text!r} running",
        )


def test_server_killed_mid_query_is_a_clear_connection_error():
    with MariaDB() as db:  # our own server: this test kills it
        conn = Connection.from_address(db.address)
        errors: list[BaseException] = []
        sql = "SELECT SLEEP(60)"

        def run() -> None:
            try:
                conn.query(sql)
            except BaseException as e:
                errors.append(e)

        t = threading.Thread(target=run)
        t.start()
        _wait_for_query(db.address, sql, time.monotonic() + 20)
        db.kill()
        t.join(20)
        assert not t.is_alive()
        assert len(errors) == 1 and isinstance(errors[0], ConnectionLostError), errors
        assert "connection lost" in str(errors[0])
        assert not conn.usable
