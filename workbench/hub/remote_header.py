"""Read a GGUF header on the Hub without downloading the file.

The header (architecture, block count, KV heads, key/value lengths, sliding window, tensor table)
is at the start of the file; a :class:`RangeFile` serves ``parse_header``'s reads from HTTP Range
requests through huggingface_hub's session, fetching in growing chunks (a small model's header
is a few hundred KB, a large vocabulary's several MB) and skipping arrays by seeking, so only
the bytes the header needs are transferred.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from huggingface_hub import get_hf_file_metadata, hf_hub_url
from huggingface_hub.utils import hf_raise_for_status, http_stream_backoff

from workbench.errors import HubError, ModelFileError
from workbench.gguf_header import GGUFHeader, parse_header
from workbench.hub.client import HubClient, httpx

FIRST_CHUNK = 256 * 1024
MAX_CHUNK = 16 * 1024 * 1024
#: A header larger than this is not a header Workbench will read over the network.
MAX_HEADER_BYTES = 256 * 1024 * 1024
#: Broken or short answers tolerated while one chunk of the header is read.
MAX_CUTS = 4
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class RangeFile(io.RawIOBase):
    """A read-only, seekable view of a remote file, fetched with Range requests on demand."""

    def __init__(self, client: HubClient, url: str, size: int | None, name: str) -> None:
        super().__init__()
        self.client = client
        self.url = url
        self.size = size
        self.name = name
        self.position = 0
        self.buffer = b""
        self.buffer_start = 0
        self.chunk = FIRST_CHUNK
        self.bytes_fetched = 0
        self.requests = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self.position = offset
        elif whence == io.SEEK_CUR:
            self.position += offset
        elif whence == io.SEEK_END and self.size is not None:
            self.position = self.size + offset
        else:
            raise OSError("cannot seek from the end of a file of unknown size")
        return self.position

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            raise OSError("RangeFile reads only a given number of bytes")
        end = self.position + size
        if self.size is not None:
            end = min(end, self.size)
        if end <= self.position:
            return b""
        if not (self.buffer_start <= self.position and end <= self.buffer_start + len(self.buffer)):
            self._fetch(self.position, end)
        start = self.position - self.buffer_start
        data = self.buffer[start:start + (end - self.position)]
        self.position += len(data)
        return data

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)

    def _fetch(self, start: int, end: int) -> None:
        """Fetch at least [start, end), and a growing chunk beyond it (headers read forward)."""
        want_end = max(end, start + self.chunk)
        if self.size is not None:
            want_end = min(want_end, self.size)
        if want_end > MAX_HEADER_BYTES:
            raise ModelFileError(f"{self.name}: the GGUF header is larger than "
                                 f"{MAX_HEADER_BYTES // 2**20} MiB; not read over the network")
        self.chunk = min(self.chunk * 2, MAX_CHUNK)
        data = bytearray()
        cuts = 0
        # A CDN that cuts the body: keep what came and ask for the rest, a few times at most.
        while len(data) < end - start:
            try:
                self._get(start + len(data), want_end, data)
            except httpx.TransportError as error:
                cuts += 1
                if cuts > MAX_CUTS:
                    raise HubError(
                        f"{self.name}: the connection to {self.client.host_of(error)} broke "
                        f"{cuts} times while reading the header ({type(error).__name__}); "
                        "try again later") from None
                continue
            if len(data) < end - start:  # the body ended early without an error
                cuts += 1
                if cuts > MAX_CUTS:
                    raise HubError(f"{self.name}: the server kept ending the answer early "
                                   f"while the header was read ({cuts} times)")
        self.buffer = bytes(data[: want_end - start])
        self.buffer_start = start

    def _get(self, start: int, want_end: int, data: bytearray) -> None:
        """Append bytes [start, want_end) (or as many as the server sends) to ``data``."""
        headers = {**self.client.headers(self.url), "Range": f"bytes={start}-{want_end - 1}"}
        # retry_on_exceptions=(): http_stream_backoff cannot retry an error raised while the
        # body is read (it would end in "generator didn't stop after throw()"); the caller
        # retries and resumes instead.
        with http_stream_backoff(
            "GET", self.url, headers=headers, timeout=self.client.timeout,
            max_retries=2, base_wait_time=0.5, retry_on_exceptions=(),
        ) as response:
            hf_raise_for_status(response)
            self.requests += 1
            skip = 0
            if response.status_code == 206:
                match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                if not match or int(match[1]) != start:
                    raise HubError(f"{self.name}: the server answered a different byte range")
            elif start > 0:
                skip = start  # the server ignored Range: read past what we do not need
            wanted = want_end - start
            got = 0
            for piece in response.iter_bytes(1 << 16):
                if skip:
                    cut = min(skip, len(piece))
                    piece, skip = piece[cut:], skip - cut
                piece = piece[: wanted - got]
                data.extend(piece)
                got += len(piece)
                self.bytes_fetched += len(piece)
                if got >= wanted:
                    break


@dataclass
class RemoteHeader:
    header: GGUFHeader
    size: int | None
    commit: str | None
    location: str
    bytes_fetched: int
    requests: int


def read_remote_header(
    client: HubClient, repo_id: str, filename: str, revision: str | None = None
) -> RemoteHeader:
    """Parse the header of ``filename`` on the Hub; raises HubError or ModelFileError."""
    name = f"{repo_id}/{filename}"
    with client.call(name):
        url = hf_hub_url(repo_id, filename, revision=revision, endpoint=client.endpoint)
        meta = get_hf_file_metadata(url, token=client.token or False, timeout=client.timeout,
                                    endpoint=client.endpoint)
        size = meta.size if isinstance(meta.size, int) and meta.size > 0 else None
        stream = RangeFile(client, meta.location, size, name)
        header = parse_header(stream, name=name, size=size)  # type: ignore[arg-type]
    return RemoteHeader(header, meta.size, meta.commit_hash, meta.location,
                        stream.bytes_fetched, stream.requests)
