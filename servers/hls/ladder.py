"""ffmpeg does the video work: a test source, the VOD ladder, the live encoder.

The ladder (RFC 8216 §4.3.4.2: one ``EXT-X-STREAM-INF`` per variant in the
master playlist) is three H.264 + AAC renditions in MPEG-TS segments. Every
rendition has a keyframe exactly every ``SEGMENT_SECONDS`` (``-g`` = fps x
segment length, scene-cut keyframes off), so segment boundaries line up across
renditions and a player can switch bitrate at any segment without a glitch.

Live mode re-encodes the source looped forever in real time (``-re -stream_loop
-1``) into the same ladder with a sliding window: the media playlists list the
last ``LIVE_WINDOW`` segments, ``EXT-X-MEDIA-SEQUENCE`` counts the segments that
left the window, and segments that left it are deleted from disk
(``-hls_flags delete_segments``, which keeps a few extra for players that
fetched the old playlist a moment ago). A production packager would encode
once and package many times, write the playlists atomically by rename and add
``EXT-X-PROGRAM-DATE-TIME``; ffmpeg's HLS muxer does the first two well enough here.

The sample source comes from ffmpeg's own generators (``testsrc2`` with a
moving pattern and a clock, ``sine`` for audio): never downloaded.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

FPS = 25
SEGMENT_SECONDS = 2  # Apple's authoring spec suggests 6 s; 2 s keeps tests and live latency short
LIVE_SEGMENT_SECONDS = 1
LIVE_WINDOW = 6  # segments listed by a live playlist (RFC 8216 §6.2.2: at least 3 target durations)
MASTER = "master.m3u8"
MEDIA = "index.m3u8"


@dataclass(frozen=True)
class Rendition:
    width: int
    height: int
    video_kbps: int
    audio_kbps: int = 64


LADDER = (Rendition(640, 360, 800), Rendition(426, 240, 400), Rendition(256, 144, 150))


class FFmpegError(RuntimeError):
    """ffmpeg is missing or failed; the message carries the tail of its output."""


def ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise FFmpegError("ffmpeg not found: install the Debian package 'ffmpeg' (make setup does it)")
    return path


def _run(argv: list[str], cwd: Path | None = None) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise FFmpegError(f"ffmpeg failed ({done.returncode}):\n{tail}")


def make_source(path: Path, seconds: int) -> None:
    """A test video: 640x360 at 25 fps, a moving test pattern with a clock, a 440 Hz tone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _run([ffmpeg(), "-hide_banner", "-y",
          "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate={FPS}:duration={seconds}",
          "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}",
          "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
          "-c:a", "aac", "-shortest", str(path)])  # fmt: skip


def _ladder_args(segment: int) -> list[str]:
    """The encoding half of the command: split, scale, encode every rendition."""
    n = len(LADDER)
    splits = "".join(f"[v{i}]" for i in range(n))
    graph = f"[0:v]split={n}{splits};" + ";".join(
        f"[v{i}]scale=w={r.width}:h={r.height}[v{i}o]" for i, r in enumerate(LADDER))
    args = ["-filter_complex", graph]
    for i, r in enumerate(LADDER):
        args += ["-map", f"[v{i}o]", f"-c:v:{i}", "libx264", f"-b:v:{i}", f"{r.video_kbps}k",
                 f"-maxrate:v:{i}", f"{r.video_kbps * 11 // 10}k",
                 f"-bufsize:v:{i}", f"{r.video_kbps * 2}k"]  # fmt: skip
    for i, r in enumerate(LADDER):
        args += ["-map", "a:0", f"-c:a:{i}", "aac", f"-b:a:{i}", f"{r.audio_kbps}k"]
    gop = str(FPS * segment)
    args += ["-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", gop, "-keyint_min", gop,
             "-sc_threshold", "0", "-ac", "2"]  # fmt: skip
    streams = " ".join(f"v:{i},a:{i}" for i in range(n))
    return args + ["-f", "hls", "-hls_time", str(segment), "-master_pl_name", MASTER,
                   "-hls_segment_filename", "%v/seg_%05d.ts", "-var_stream_map", streams]  # fmt: skip


def make_vod(source: Path, out: Path) -> None:
    """The VOD ladder of ``source`` into ``out``: master.m3u8, 0/ 1/ 2/ with index.m3u8 + segments."""
    out.mkdir(parents=True, exist_ok=True)
    _run([ffmpeg(), "-hide_banner", "-y", "-i", str(source.resolve()),
          *_ladder_args(SEGMENT_SECONDS), "-hls_playlist_type", "vod", f"%v/{MEDIA}"], cwd=out)  # fmt: skip


def live_argv(source: Path) -> list[str]:
    """The live encoder (run in the live directory): the source looped, a sliding window."""
    return [ffmpeg(), "-hide_banner", "-loglevel", "warning", "-y",
            "-re", "-stream_loop", "-1", "-i", str(source.resolve()),
            *_ladder_args(LIVE_SEGMENT_SECONDS),
            "-hls_list_size", str(LIVE_WINDOW),
            "-hls_flags", "delete_segments+independent_segments+omit_endlist",
            "-hls_delete_threshold", "2", f"%v/{MEDIA}"]  # fmt: skip
