"""Snowflake as a stored procedure: MariaDB computes the id, in the id's layout.

``CALL next_snowflake(worker)`` answers one row, one column: the id. The
procedure keeps one row of state per worker (``snowflake_state``: the last
millisecond and sequence) and updates it under ``SELECT ... FOR UPDATE`` in its
own transaction, so any number of connections may share a worker id: the row
lock serialises them (that lock is also its throughput limit). Rules, as in
``snowflake.py``:

* same millisecond: sequence + 1; past 4095 it polls ``SYSDATE(3)`` (the wall
  clock at each evaluation; ``NOW()`` is frozen for the statement) until the
  next millisecond;
* the server's clock behind the stored millisecond by at most
  ``MAX_BACKWARDS_MS``: it keeps counting on the stored millisecond (a logical
  clock: ids stay unique and increasing); further behind: ``SIGNAL`` an error.

Compared with the API version it costs a round trip and a commit per id, but the
state survives a client's restart and needs no worker-id assignment per process.
"""

from __future__ import annotations

from typing import Any

from .snowflake import (
    EPOCH_MS,
    MAX_BACKWARDS_MS,
    MAX_SEQUENCE,
    MAX_WORKER,
    TIME_SHIFT,
    WORKER_SHIFT,
)

STATE = (
    "CREATE TABLE IF NOT EXISTS snowflake_state ("
    " worker SMALLINT UNSIGNED NOT NULL PRIMARY KEY,"
    " last_ms BIGINT NOT NULL, seq INT NOT NULL) ENGINE=InnoDB"
)
NOW_MS = "CAST(UNIX_TIMESTAMP(SYSDATE(3)) * 1000 AS SIGNED)"
PROCEDURE = f"""
CREATE OR REPLACE PROCEDURE next_snowflake(IN p_worker INT)
BEGIN
  DECLARE v_last BIGINT;
  DECLARE v_seq INT;
  DECLARE v_now BIGINT;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
  START TRANSACTION;
  SELECT last_ms, seq INTO v_last, v_seq FROM snowflake_state
    WHERE worker = p_worker FOR UPDATE;
  IF v_last IS NULL THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'unknown snowflake worker';
  END IF;
  SET v_now = {NOW_MS};
  IF v_now < v_last - {MAX_BACKWARDS_MS} THEN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'clock moved backwards';
  END IF;
  IF v_now <= v_last THEN
    SET v_now = v_last, v_seq = v_seq + 1;
    IF v_seq > {MAX_SEQUENCE} THEN
      WHILE v_now <= v_last DO
        SET v_now = {NOW_MS};
      END WHILE;
      SET v_seq = 0;
    END IF;
  ELSE
    SET v_seq = 0;
  END IF;
  UPDATE snowflake_state SET last_ms = v_now, seq = v_seq WHERE worker = p_worker;
  COMMIT;
  SELECT ((v_now - {EPOCH_MS}) << {TIME_SHIFT}) | (p_worker << {WORKER_SHIFT}) | v_seq AS id;
END
"""


class SqlSnowflake:
    """Ids from ``next_snowflake`` on ``conn`` for ``worker``."""

    def __init__(self, conn: Any, worker: int) -> None:
        if not 0 <= worker <= MAX_WORKER:
            raise ValueError(f"worker must be 0..{MAX_WORKER}, got {worker}")
        self.conn, self.worker = conn, worker
        conn.query("INSERT IGNORE INTO snowflake_state VALUES (%s, 0, 0)", (worker,))

    @staticmethod
    def install(conn: Any) -> None:
        conn.query(STATE)
        conn.query(PROCEDURE)

    def next_id(self) -> int:
        return int(self.conn.query("CALL next_snowflake(%s)", (self.worker,)).scalar())
