"""Reading raw files whatever their compression: plain, gzip, bz2, xz or zstd, recognised by content.

One layer for every reader (JSON lines, parallel text, the miners' JSON and XML dumps), so that they all keep what
comes before damage and report it alike: at the first line that could not be read whole ("line N"), with the
compressed byte offset for compressed files, under one reason per cause ("truncated_file", "corrupt_file",
"not_utf8").
"""

from __future__ import annotations

import bz2
import codecs
import lzma
import re
from collections.abc import Generator, Iterator
from pathlib import Path

import zstandard
from isal import isal_zlib

READ_SIZE = 1 << 20
BZ2_READ_SIZE = 1 << 16  # bz2 is fed in small pieces so that the blocks before a damaged one come out (see below)
ZSTD_MAX_WINDOW = 2**31  # the Pushshift Reddit dumps are compressed with --long=31


class BrokenInput(Exception):
    """A file that cannot be read further (truncated or corrupt compression, invalid UTF-8); `location` says where
    it broke ("line N": the first line that could not be read whole) and `message` says why, with the compressed
    byte offset for compressed files."""

    def __init__(self, reason: str, location: str, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.reason, self.location, self.message = reason, location, message


# Compression is recognised by the file's first bytes, not its name (Pushshift: RC_2015-01.bz2, RC_2018-10.xz,
# RC_2019-01.zst; Wikipedia: ...-pages-articles1.xml-p10p30302.bz2; files fetched by a download manager have none).
MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"7z\xbc\xaf\x27\x1c": "7z",
}
_DECODE_ERRORS = (zstandard.ZstdError, isal_zlib.error, lzma.LZMAError, OSError, EOFError)


def compression_of(path: Path) -> str:
    """"gzip", "bz2", "xz", "zstd", "7z" or "plain", from the magic bytes at the start of the file."""
    with open(path, "rb") as fh:
        head = fh.read(6)
    return next((kind for magic, kind in MAGIC.items() if head.startswith(magic)), "plain")


def _decoder(kind: str):
    """A fresh decoder of one compressed stream (frame, member): decompress(data), .eof, .unused_data."""
    if kind == "zstd":
        return zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).decompressobj()
    if kind == "gzip":  # ISA-L's inflate, zlib's interface: 3.3x zlib's speed (0.32 vs 1.05 CPU-s per 1M pairs)
        return isal_zlib.decompressobj(wbits=31)
    if kind == "bz2":
        return bz2.BZ2Decompressor()
    return lzma.LZMADecompressor()


def _feed(decoder, fh, start: int, end: int) -> None:
    """Feed the compressed bytes [start, end) to `decoder`, discarding the output (already handed out)."""
    fh.seek(start)
    while start < end and (chunk := fh.read(min(READ_SIZE, end - start))):
        decoder.decompress(chunk)
        start += len(chunk)


def _salvage(kind: str, fh, stream_start: int, chunk_start: int, chunk: bytes) -> tuple[bytes, int]:
    """The output a decoder gives from `chunk` before it meets the damage, and the compressed offset of the byte at
    which it does. A decoder cannot be rewound, so the stream is decoded again up to the chunk (output discarded),
    then the chunk is fed in 4 KiB pieces, then the failing piece byte by byte: exact, and paid only once, on error."""
    recovered = bytearray()
    offset, data = chunk_start, chunk
    for step in (4096, 1):
        decoder = _decoder(kind)
        _feed(decoder, fh, stream_start, offset)
        for i in range(0, len(data), step):
            try:
                recovered += decoder.decompress(data[i : i + step])
            except _DECODE_ERRORS:
                offset, data = offset + i, data[i : i + step]
                break
        else:  # not reproduced piecewise (cannot happen with a deterministic decoder): report the chunk's start
            return bytes(recovered), offset
    return bytes(recovered), offset


def decoded_blocks(path: Path) -> Iterator[bytes]:
    """The decompressed bytes of a plain, .gz, .bz2, .xz or .zst file (by content), in blocks, in constant memory.

    Multi-stream files (bz2 multistream dumps, concatenated gzip members, zstd frames) are read stream after stream.
    Damage raises BrokenInput after everything decodable before it was handed out: a corrupt stream names the
    compressed byte where the decoder met it, a file that ends inside a stream its size ("truncated_file"). Every
    offset reported is a compressed one, for every format.
    """
    kind = compression_of(path)
    if kind == "7z":
        raise BrokenInput("unsupported_format", "line 1", "a 7z archive (only Stack Exchange dumps are read from 7z)")
    read_size = READ_SIZE if kind != "bz2" else BZ2_READ_SIZE
    with open(path, "rb") as fh:
        if kind == "plain":
            while chunk := fh.read(READ_SIZE):
                yield chunk
            return
        size = path.stat().st_size
        start = 0  # compressed offset of the current stream
        while start < size:
            fh.seek(start)
            decoder, position, ended = _decoder(kind), start, False
            held = b""  # the last output is handed out only once the next call succeeds (see below)
            while chunk := fh.read(read_size):
                try:
                    out = decoder.decompress(chunk)
                except _DECODE_ERRORS as error:
                    # bz2 hands out a damaged block before its CRC fails: nothing of that call can be trusted
                    if kind == "bz2":
                        good, offset, held = b"", position, b""
                    else:
                        good, offset = _salvage(kind, fh, start, position, chunk)
                    if held + good:
                        yield held + good
                    where = "at" if kind != "bz2" else "in the block read from"
                    raise BrokenInput(
                        "corrupt_file", "", f"corrupt {kind} data {where} compressed byte {offset:,} ({error})"
                    ) from None
                if held:
                    yield held
                held = out
                if decoder.eof:
                    start, ended = position + len(chunk) - len(decoder.unused_data), True
                    break
                position += len(chunk)
            if not ended:
                if held and kind != "bz2":
                    yield held
                raise BrokenInput(
                    "truncated_file", "", f"truncated {kind} file: it ends inside a compressed stream (byte {size:,})"
                )
            if held:
                yield held
            fh.seek(start)
            if not fh.read(64).strip(b"\0"):  # zero padding after the last stream (tape-style gzip) is no stream
                return


def read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of a plain or compressed text file (see decoded_blocks), in constant memory. A broken
    stream raises BrokenInput located at the first line not read whole, after every complete line before it; the
    partial line at the break is not yielded."""
    for first, block in read_line_blocks(path):
        yield from numbered_lines(first, block)


def read_line_blocks(
    path: Path, span: tuple[int, int] | None = None
) -> Generator[tuple[int, bytes], int | None, None]:
    """What `read_lines` reads, as (number of the first line, block of whole lines): every block ends with a newline
    but a last line without one, which comes only if it holds more than whitespace. A broken stream raises
    BrokenInput as in `read_lines`. With `span` (start, end): only the bytes [start, end) of a plain file, both on
    line boundaries (`line_boundary`), lines numbered from 1 at `start`. A consumer that found a block's lines
    itself may `send` their number back instead of None: it is not counted again (a pass over every byte)."""
    number = 0
    tail = b""
    try:
        for block in decoded_blocks(path) if span is None else _plain_blocks(path, *span):
            end = block.rfind(b"\n") + 1
            if not end:
                tail += block
                continue
            lines, tail = b"".join((tail, memoryview(block)[:end])), block[end:]  # one copy, not two
            counted = yield number + 1, lines
            number += lines.count(b"\n") if counted is None else counted
    except BrokenInput as broken:
        raise BrokenInput(broken.reason, f"line {number + 1}", broken.message) from None
    if tail.strip():
        yield number + 1, tail


def _plain_blocks(path: Path, start: int, end: int) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(start)
        while start < end and (chunk := fh.read(min(READ_SIZE, end - start))):
            start += len(chunk)
            yield chunk


def line_boundary(path: Path, offset: int) -> int:
    """The offset of the first line of a plain file that begins at or after byte `offset` (the file's size if
    none does): where a byte range of whole lines starts or ends."""
    if offset <= 0:
        return 0
    with open(path, "rb") as fh:
        fh.seek(offset - 1)
        return offset - 1 + len(fh.readline())  # the rest of the line holding byte offset-1, with its newline


def count_lines(path: Path, start: int, end: int) -> int:
    """How many lines of a plain file end in the byte range [start, end) (its newlines there)."""
    return sum(block.count(b"\n") for block in _plain_blocks(path, start, end))


def numbered_lines(first: int, block: bytes) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of a block of `read_line_blocks`."""
    lines = block.split(b"\n")
    if block.endswith(b"\n"):
        lines.pop()
    return enumerate(lines, first)


def head_text(path: Path, size: int = 4096) -> str:
    """The first `size` decoded characters of a plain or compressed file, for telling what a file is by content;
    "" for a file that cannot be decoded (a 7z archive, damaged compression, binary data)."""
    head = b""
    try:
        for block in decoded_blocks(path):
            head += block
            if len(head) >= size:
                break
    except (BrokenInput, OSError):
        pass
    text = head[:size].removeprefix(codecs.BOM_UTF8).decode("utf-8", errors="replace")
    return "" if "\x00" in text or text.count("\ufffd") > len(text) // 10 else text

_UTF16_DECLARATION = re.compile(r"""(<\?xml[^>]*encoding=["'])utf-16(?:le|be)?(["'])""", re.I)


class DecodedFile:
    """A read-only binary file of `decoded_blocks` (or any byte blocks) for XML parsers, checking that the bytes are
    UTF-8 (the encoding every MediaWiki and Stack Exchange dump declares): invalid UTF-8 raises BrokenInput
    "not_utf8" at its line once the valid bytes before it were read, instead of an XML "invalid token" error.

    A file re-saved as UTF-16 by an editor (it starts with a byte-order mark) is transcoded to UTF-8 on the fly."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._block = b""
        self._at = 0
        self._lines = 1  # the line the next block starts on
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._pending: BrokenInput | None = None
        self._first = True
        self._utf16 = None

    def _next_block(self) -> bool:
        if self._pending:
            raise self._pending
        try:
            block = next(self._blocks)
        except StopIteration:
            if self._utf16 is not None and (rest := self._utf16.decode(b"", final=True)):
                block = rest.encode("utf-8")
            else:
                return False
        except BrokenInput as broken:
            raise BrokenInput(broken.reason, f"line {self._lines}", broken.message) from None
        if self._first:
            self._first = False
            if block[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
                self._utf16 = codecs.getincrementaldecoder("utf-16")()
            block = block.removeprefix(codecs.BOM_UTF8)
        if self._utf16 is not None and block:
            text = self._utf16.decode(block)
            block = _UTF16_DECLARATION.sub(r"\1UTF-8\2", text, count=1).encode("utf-8")
        try:
            self._utf8.decode(block)
        except UnicodeDecodeError as error:
            good = block[: max(0, error.start)]
            line = self._lines + good.count(b"\n")
            bad = block[error.start : error.start + 1].hex()
            self._pending = BrokenInput("not_utf8", f"line {line}", f"invalid UTF-8 (byte 0x{bad})")
            block = good
        self._lines += block.count(b"\n")
        self._block, self._at = block, 0
        return True

    def read(self, size: int = -1) -> bytes:
        while self._at >= len(self._block):
            if not self._next_block():
                return b""
        end = len(self._block) if size is None or size < 0 else self._at + size
        data = self._block[self._at : end]
        self._at += len(data)
        return data
