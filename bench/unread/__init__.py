"""D12: the "has unread" / "unread count" indicator computed on the fly over 1M messages.

``python -m bench.unread [--messages N] [--rounds R] [--quick] [--out DIR]``
(``make bench-unread``; default 1,000,000 messages)

Layout: ``data.py`` builds the tables (messages in skewed channels, members
with a last-read time), ``queries.py`` the two queries, the index variants and
what ``EXPLAIN`` / ``ANALYZE FORMAT=JSON`` say about each; ``__main__.py``
runs every variant and prints plans and timings side by side. Variants are
interleaved: each of ``--rounds`` rounds builds every variant's indexes in turn
(the order rotating, so none always goes first) and times its queries and
writes on it; rows are min / median / max over all rounds' samples.

The queries, for one user's channels (a membership row holds ``last_read_at``)::

    has unread:   EXISTS (a message in the channel, newer than last_read_at, not mine)
    unread count: COUNT of those messages, per channel

The index variants on ``messages`` and what each does to them:

* none: every channel probe is a full scan of 1M rows (``type: ALL``);
* one per column (channel_id), (created_at), (sender_id): the optimizer picks
  ``channel_id`` and then reads every row of the channel from the clustered
  index to test ``created_at`` and ``sender_id`` (rows examined = channel size);
* (channel_id, created_at): the index range covers exactly the unread rows,
  but each still needs a clustered-index lookup for ``sender_id``;
* (created_at, channel_id), the wrong order: a range on ``created_at`` first
  covers every channel's recent messages, so the channel is only filtered
  inside the range (or the optimizer falls back to a scan);
* covering (channel_id, created_at, sender_id): the range holds only unread
  rows and every column the query reads, ``Using index``: no row lookups.

Every index also costs on every insert (one more B+tree to update) and in
space: the write-cost column shows it.
"""
