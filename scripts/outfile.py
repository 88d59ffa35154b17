"""outfile.py: how the Python scripts write an output file, the policy of the C tools'
lib/core/atomic.c.

    with outfile.replacing(path) as tmp:
        write_everything_to(tmp)           # h5py.File(tmp, "w"), onnx.save(m, tmp), ...

- a regular file (or a new name) is written to a temporary beside it, then renamed
  over it: a reader never sees half a file, and a failure (an exception out of the
  block) leaves what was there and no temporary;
- a device or FIFO (/dev/null, /dev/stdout, a named pipe) is written in place, from
  a temporary in $TMPDIR: renaming over it would replace /dev/null with a regular file
  for every process on the machine;
- a directory is refused (IsADirectoryError).

Errors are OSError (their strerror says why: "No such file or directory", "No space
left on device", ...); the caller names the file.
"""
import contextlib
import errno
import os
import shutil
import stat
import tempfile


def _special(path):
    """True for an existing device or FIFO (through symlinks), False for a regular file
    or a new name; IsADirectoryError for a directory."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "it is a directory", path)
    return not stat.S_ISREG(st.st_mode)


def check(path):
    """Raises now what replacing(path) would raise at its start (a directory; a folder
    that does not exist), so that a script can refuse before its long work."""
    if not _special(path):
        d = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(d):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), d)


@contextlib.contextmanager
def replacing(path, mode=0o644):
    """Yields a temporary file name to write the whole output to; when the block ends
    without an exception it becomes `path` (see the module doc), with permissions
    `mode` when it is a file."""
    special = _special(path)
    d = None if special else os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".tmp-", dir=d)
    os.close(fd)
    try:
        yield tmp
        if special:
            with open(tmp, "rb") as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.unlink(tmp)
        else:
            os.chmod(tmp, mode)
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
