"""N13: an HLS video server, VOD and live (RFC 8216).

Layout: ``__main__`` (flags; prepares the media under ``--dir`` if missing,
starts the live encoder, serves), ``ladder`` (the ffmpeg commands: a generated
test source, the three-rendition VOD ladder with its master playlist, the live
encoder with a sliding window), ``app`` (``/media/...`` with HLS MIME types,
CORS, byte ranges and caching headers; the hls.js player page of ``web/hls``).

The media layout a player sees: ``/media/vod/master.m3u8`` and
``/media/live/master.m3u8``, each naming ``0/index.m3u8`` (640x360),
``1/index.m3u8`` (426x240) and ``2/index.m3u8`` (256x144) with MPEG-TS segments.
"""
