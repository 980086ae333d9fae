"""Faults the reliability tests inject."""
import errno


def disk_full_save(obj, file):
    """A stand-in for ``jt.save`` on a full disk: writes part of the file, then fails."""
    with open(file, "wb") as f:
        f.write(b"partial")
    raise OSError(errno.ENOSPC, "No space left on device")
