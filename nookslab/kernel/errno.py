"""Linux error numbers, returned negated (``return -errno.ENOMEM``)."""
EPERM = 1
ENOENT = 2
ESRCH = 3
EIO = 5
ENXIO = 6
EBADF = 9
EAGAIN = 11
ENOMEM = 12
EFAULT = 14
EBUSY = 16
EEXIST = 17
ENODEV = 19
ENOTDIR = 20
EISDIR = 21
EINVAL = 22
ENFILE = 23
EMFILE = 24
ENOTTY = 25
EFBIG = 27
ENOSPC = 28
ESPIPE = 29
EROFS = 30
EPIPE = 32
ERANGE = 34
ENAMETOOLONG = 36
ENOSYS = 38
ENOTEMPTY = 39
ETIMEDOUT = 110
ECONNRESET = 104
ENOBUFS = 105
ENOTCONN = 107
ECONNREFUSED = 111
EHOSTUNREACH = 113
EINPROGRESS = 115
EOPNOTSUPP = 95
EADDRINUSE = 98

NAMES = {v: k for k, v in dict(globals()).items() if k.startswith("E") and isinstance(v, int)}


def name(code: int) -> str:
    """``name(-12)`` -> ``"ENOMEM"``."""
    return NAMES.get(abs(code), str(code))


def with_names(text) -> str:
    """``text`` with each negative error number followed by its name, as a reader of a kernel
    log would want it: ``"open failed: -19"`` -> ``"open failed: -19 ENODEV"`` (numbers already
    named, and hex or dotted numbers, are left alone)."""
    import re
    return re.sub(r"(?<![\w.])-(\d+)\b(?! [A-Z]{2,})(?!\.\d)",
                  lambda m: m.group(0) + (f" {NAMES[int(m.group(1))]}"
                                          if int(m.group(1)) in NAMES else ""), str(text))
