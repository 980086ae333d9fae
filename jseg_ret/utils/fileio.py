"""Atomic writes: every file written for the user appears whole or not at all.

The content goes to a temporary file in the destination's folder (``<path>.tmp-<pid><suffix>``),
is flushed and fsynced, then renamed over ``path`` (``os.replace``, atomic on POSIX). A crash or
an error during the write leaves the previous file as it was; the temporary is removed on error
(a killed process leaves it, named by its pid, for ``engine.checkpoint.remove_stale_temporaries``).
An OSError (disk full, no permission, read-only folder) becomes ``OutputWriteError`` naming the
path and what was being written.

A leaf module: it imports nothing of the package, so every layer may use it.

    with atomic_open(path, "w") as f:         # a file object
        f.write(text)
    with atomic_path(path, suffix=".png") as tmp:  # a path, for writers that take one
        image.save(tmp)
    write_json(path, obj)                      # and write_text / write_bytes
"""
from __future__ import annotations

import contextlib
import json
import os
from typing import IO, Any, Callable, Iterator, TypeVar, Union

PathLike = Union[str, "os.PathLike[str]"]
T = TypeVar("T")

TMP_INFIX = ".tmp-"  # temporaries are ``<path>.tmp-<pid><suffix>``


class OutputWriteError(OSError):
    """A file for the user (checkpoint, summary, image, config dump, folder) could not be written:
    disk full, no permission, read-only folder.

    ``filename`` is the path, ``errno`` the cause's; ``str()`` reads
    ``"<path>: could not write <what>: <reason>"``.
    """

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


def output_write_error(what: str, path: PathLike, error: OSError) -> OutputWriteError:
    """The ``OutputWriteError`` for ``error`` raised while writing ``what`` to ``path``.

    Args:
        what: What was being written, for the message ("the checkpoint").
        path: The destination.
        error: The OSError that stopped the write.

    Returns:
        The error to raise (``from error``).
    """
    return OutputWriteError(error.errno, f"could not write {what}: {error.strerror or error}",
                            os.fspath(path))


def write_output(what: str, path: PathLike, write: Callable[[], T]) -> T:
    """Call ``write()``; an OSError becomes ``OutputWriteError`` naming ``what`` and ``path``.

    Args:
        what: What ``write`` writes, for the message ("the work dir").
        path: The file or folder ``write`` writes.
        write: The writing call, without arguments.

    Returns:
        What ``write()`` returns.

    Raises:
        OutputWriteError: ``write()`` raised an OSError (an ``OutputWriteError`` passes unchanged).
    """
    try:
        return write()
    except OutputWriteError:
        raise
    except OSError as e:
        raise output_write_error(what, path, e) from e


def temporary_path(path: PathLike, suffix: str = "") -> str:
    """The temporary ``path`` is written to first: ``<path>.tmp-<pid><suffix>``, same folder."""
    return f"{os.fspath(path)}{TMP_INFIX}{os.getpid()}{suffix}"


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: PathLike, what: str = "the file", suffix: str = "",
                makedirs: bool = False) -> Iterator[str]:
    """A temporary path to write instead of ``path``; renamed over ``path`` when the block ends.

    For writers that take a path (``jt.save``, ``PIL.Image.save``, ``zipfile``, ``savefig``); the
    ones that pick the format from the file name get it through ``suffix``.

    Args:
        path: The destination; its folder must exist unless ``makedirs``.
        what: What is written, for the error message ("the checkpoint").
        suffix: The temporary's ending (".png", ".pkl").
        makedirs: Create the destination's folder first.

    Yields:
        The temporary path, in the destination's folder.

    Raises:
        OutputWriteError: An OSError while making the folder, writing, syncing or renaming;
            the temporary is removed and ``path`` keeps its old content.
    """
    path = os.fspath(path)
    tmp = temporary_path(path, suffix)
    try:
        if makedirs:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
    except OutputWriteError:
        _remove_quietly(tmp)
        raise
    except OSError as e:
        _remove_quietly(tmp)
        raise output_write_error(what, path, e) from e
    except BaseException:
        _remove_quietly(tmp)
        raise


def _remove_quietly(tmp: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(tmp)


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w", what: str = "the file",
                encoding: str | None = None, makedirs: bool = False) -> Iterator[IO[Any]]:
    """``open(path, mode)`` that replaces ``path`` only once the block ends without an error.

    Args:
        path: The destination.
        mode: "w" (text, UTF-8 unless ``encoding``) or "wb".
        what: What is written, for the error message.
        encoding: The text encoding (text mode only).
        makedirs: Create the destination's folder first.

    Yields:
        The open temporary file; it is flushed, fsynced and renamed over ``path`` on exit.

    Raises:
        ValueError: ``mode`` is not a write mode ("w", "wb", "wt").
        OutputWriteError: As ``atomic_path``.
    """
    if mode not in ("w", "wt", "wb"):
        raise ValueError(f"atomic_open({os.fspath(path)!r}): mode {mode!r}; expected 'w' or 'wb'")
    if "b" not in mode and encoding is None:
        encoding = "utf-8"
    with atomic_path(path, what, makedirs=makedirs) as tmp:
        with open(tmp, mode, encoding=encoding) as f:
            yield f


def write_bytes(path: PathLike, data: bytes, what: str = "the file",
                makedirs: bool = False) -> str:
    """Write ``data`` to ``path`` atomically; returns the path (``OutputWriteError`` on failure)."""
    with atomic_open(path, "wb", what, makedirs=makedirs) as f:
        f.write(data)
    return os.fspath(path)


def write_text(path: PathLike, text: str, what: str = "the file", encoding: str = "utf-8",
               makedirs: bool = False) -> str:
    """Write ``text`` to ``path`` atomically; returns the path (``OutputWriteError`` on failure)."""
    with atomic_open(path, "w", what, encoding=encoding, makedirs=makedirs) as f:
        f.write(text)
    return os.fspath(path)


def write_json(path: PathLike, obj: Any, what: str = "the JSON file", indent: int | None = 2,
               makedirs: bool = False) -> str:
    """Write ``obj`` as JSON (and a final newline) to ``path`` atomically; returns the path.

    Raises:
        TypeError: ``obj`` holds a value JSON cannot store (nothing is written).
        OutputWriteError: As ``atomic_path``.
    """
    text = json.dumps(obj, indent=indent) + "\n"  # serialised first: a bad value writes nothing
    return write_text(path, text, what, makedirs=makedirs)


__all__ = ["OutputWriteError", "TMP_INFIX", "atomic_open", "atomic_path", "output_write_error",
           "temporary_path", "write_bytes", "write_json", "write_output", "write_text"]
