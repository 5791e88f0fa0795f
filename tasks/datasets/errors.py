"""Errors of data that cannot be read, and which of them may heal by waiting.

Bad arguments are ``ValueError`` / ``TypeError``; data that cannot be read is a
:class:`DatasetError` whose message says what was tried and how to get out.  Only a
:class:`DownloadError` (the network or the dataset host failed) is ``transient``: the
Keras loader retries the download, and nothing retries anything else -- a corrupt or
truncated file, a bad IDX header or an unreadable image stays broken however long one waits.
"""

from __future__ import annotations


def printable(text: str) -> str:
    """``text`` with the bytes of a file name that is not UTF-8 written as ``\\xff`` escapes.

    Python keeps such bytes as lone surrogates (``\\udcff``), which no UTF-8 writer accepts:
    a message naming such a file would fail where it is logged, sent to the Prefect API or printed.
    """
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class DatasetError(Exception):
    """The data cannot be read: offline and not cached, corrupt or truncated files, an
    unreadable image.  The message says what was tried and how to get out.

    Attributes
    ----------
    transient : bool
        True when trying again later may succeed (a failed download); False for data that
        is broken and stays broken until someone replaces it.
    """

    transient = False

    def __init__(self, message: str = "", *args: object) -> None:
        super().__init__(printable(str(message)), *args)


class DownloadError(DatasetError):
    """A dataset file could not be downloaded (no network, host down, a failed transfer)."""

    transient = True


class DataMismatchError(DatasetError):
    """The parameters ask for what this data does not have, found once a run has started.

    A split the folder lacks, positions past its end, classes no image has, an image
    index out of range, kernels larger than its images.  Before a run these are
    ``ValueError`` (bad input, exit 2, no flow run); inside one they fail the run like
    unreadable data (a Failed run with this one line, exit 1).
    """
