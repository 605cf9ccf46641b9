"""A mock EC2 for exercise N5: short polling against long polling.

Layout:
    fleet.py    instances, their pending -> running/failed timers, long-poll waiters
    app.py      POST /instances, GET /instances/{id} (short poll) and
                ?wait=S&state=KNOWN (long poll: 200 on change, 304 on timeout), DELETE, /stats
    __main__.py flags (--delay)

``bench/polling`` measures both ways of waiting: requests, bytes and delay to notice.
"""
