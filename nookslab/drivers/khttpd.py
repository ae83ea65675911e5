"""kHTTPd: the in-kernel web server of Linux 2.4 (``net/khttpd``), the paper's eighth extension.

``init_module`` allocates the server struct, creates a kernel socket listening on port 80 and
starts the ``khttpd`` kernel thread. The kernel schedules that thread from its event loop
(:mod:`nookslab.kernel.net.ksocket`): each pass of its daemon loop accepts waiting connections,
gives each one a request page (state + header buffer + response buffer), reads what has arrived,
parses ``GET /path HTTP/1.0``, opens ``/www/path`` through the VFS (``filp_open`` /
``kernel_read`` / ``filp_close``: the files live on a mounted file system, VFAT in the web
workload), sends the response header and body through the kernel socket, closes the connection
and frees the request. A pass that did work asks to run again; an idle one sleeps until a socket
has news. Like Linux's kHTTPd it runs in process context (a kernel thread) but its data lives
beside the network stack's interrupt-level data (SOSP'03 section 5.2).

All state is in simulated memory: the kmalloc'd ``khttpd_server`` (listening socket, thread id,
list of open requests, statistics) and one page per open connection (``khttpd_request``).

**The latent bug the paper found** (SOSP'03 section 5.5: kHTTPd "used an object after freeing
it") is kept on purpose in the error path: when a requested file does not exist, ``finish``
frees the request page and *then* reads its byte count and marks it done, to update the server's
statistics. Natively this goes unnoticed (the page is back in the page allocator, still mapped
and not yet reused, so the read returns the right count and the write lands in a free page);
under Nooks the freed page is write-protected in kHTTPd's domain, so the store faults and is
caught. The web workloads never ask for a missing file; a test does.
"""
from nookslab.kernel.api import (filp_close, filp_open, kernel_read, kernel_thread, kfree,
                                 kmalloc, kthread_stop, ld32, ldbytes, memset,
                                 pci_alloc_consistent, pci_free_consistent, sock_accept,
                                 sock_bind, sock_create, sock_listen, sock_recvmsg, sock_release,
                                 sock_sendmsg, st32, stbytes)
from nookslab.kernel.errno import EAGAIN, ENOMEM
from nookslab.kernel.net.inet import SOCK_STREAM
from nookslab.kernel.structs import Layout

HTTP_PORT = 80
DOCROOT = b"/www"
INDEX = b"/index.html"
BACKLOG = 64
ACCEPT_BATCH = 16                 # connections accepted per pass of the daemon loop
REQ_PAGE = 4096

KHTTPD_SERVER = Layout("khttpd_server", [
    ("listen", "ptr"), ("tid", "u32"), ("conns", "ptr"), ("nconns", "u32"),
    ("requests", "u32"), ("bytes_sent", "u32"), ("not_found", "u32"), ("bad", "u32"),
    ("aborted", "u32"), ("passes", "u32"),
])

# One page per connection: the request's state, then its header buffer, then the response
# buffer (header + a chunk of the file).
KHTTPD_REQUEST = Layout("khttpd_request", [
    ("next", "ptr"), ("sock", "ptr"), ("state", "u32"), ("len", "u32"), ("status", "u32"),
    ("sent", "u32"), ("pathlen", "u32"), ("pad", 36),
])
REQ_HDR = 64
REQ_HDR_SIZE = 1024
REQ_PATH = REQ_HDR + REQ_HDR_SIZE
REQ_PATH_SIZE = 256
REQ_OUT = REQ_PATH + REQ_PATH_SIZE
REQ_OUT_SIZE = REQ_PAGE - REQ_OUT

ST_READING, ST_DONE = 1, 2
DONE_OK, DONE_NOT_FOUND, DONE_BAD, DONE_ABORTED = 1, 2, 3, 4

OK_HEADER = (b"HTTP/1.0 200 OK\r\nServer: kHTTPd/0.1.6\r\nContent-Type: text/html\r\n"
             b"Connection: close\r\n\r\n")
NOT_FOUND = (b"HTTP/1.0 404 Not Found\r\nServer: kHTTPd/0.1.6\r\nConnection: close\r\n\r\n"
             b"<html><body>404 Not Found</body></html>\n")
BAD_REQUEST = b"HTTP/1.0 400 Bad Request\r\nConnection: close\r\n\r\n"

server = 0        # the module's one static pointer: the khttpd_server struct


def new_request(srv, sock):
    req = pci_alloc_consistent(0, REQ_PAGE)
    if not req:
        return 0
    memset(req, 0, KHTTPD_REQUEST.size)
    st32(req + KHTTPD_REQUEST.sock, sock)
    st32(req + KHTTPD_REQUEST.state, ST_READING)
    st32(req + KHTTPD_REQUEST.next, ld32(srv + KHTTPD_SERVER.conns))
    st32(srv + KHTTPD_SERVER.conns, req)
    st32(srv + KHTTPD_SERVER.nconns, ld32(srv + KHTTPD_SERVER.nconns) + 1)
    return req


def send_bytes(req, data):
    """Copy a constant response into the request's output buffer and send it."""
    n = len(data)
    stbytes(req + REQ_OUT, data)
    sent = sock_sendmsg(ld32(req + KHTTPD_REQUEST.sock), req + REQ_OUT, n)
    if sent > 0:
        st32(req + KHTTPD_REQUEST.sent, ld32(req + KHTTPD_REQUEST.sent) + sent)
    return sent


def parse_path(req, head):
    """The document path of ``GET /path HTTP/1.x`` stored in the request page, or -1."""
    line = head.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    if len(parts) != 3 or parts[0] != b"GET" or not parts[2].startswith(b"HTTP/1."):
        return -1
    path = parts[1]
    if not path.startswith(b"/") or b".." in path or len(path) > 200:
        return -1
    if path == b"/":
        path = INDEX
    full = DOCROOT + path
    stbytes(req + REQ_PATH, full)
    st32(req + KHTTPD_REQUEST.pathlen, len(full))
    return len(full)


def send_file(req):
    """Send the header and the file named in the request page; DONE_* status."""
    pathlen = ld32(req + KHTTPD_REQUEST.pathlen)
    filp = filp_open(req + REQ_PATH, pathlen)
    if not filp:
        send_bytes(req, NOT_FOUND)
        return DONE_NOT_FOUND
    sock = ld32(req + KHTTPD_REQUEST.sock)
    hlen = len(OK_HEADER)
    stbytes(req + REQ_OUT, OK_HEADER)
    status = DONE_OK
    got = kernel_read(filp, req + REQ_OUT + hlen, REQ_OUT_SIZE - hlen)
    chunk = hlen + max(got, 0)
    while got >= 0:
        sent = sock_sendmsg(sock, req + REQ_OUT, chunk)
        if sent != chunk:
            status = DONE_ABORTED
            break
        st32(req + KHTTPD_REQUEST.sent, ld32(req + KHTTPD_REQUEST.sent) + sent)
        if chunk < REQ_OUT_SIZE:
            break                                   # a short read: end of file
        got = kernel_read(filp, req + REQ_OUT, REQ_OUT_SIZE)
        if got <= 0:
            break
        chunk = got
    if got < 0:
        status = DONE_ABORTED
    filp_close(filp)
    return status


def serve(req):
    """Make progress on one connection: 0 while waiting for its request, else a DONE_* status."""
    have = ld32(req + KHTTPD_REQUEST.len)
    got = sock_recvmsg(ld32(req + KHTTPD_REQUEST.sock), req + REQ_HDR + have,
                       REQ_HDR_SIZE - have)
    if got == -EAGAIN:
        return 0
    if got <= 0:
        return DONE_ABORTED                         # the client went away
    have += got
    st32(req + KHTTPD_REQUEST.len, have)
    head = ldbytes(req + REQ_HDR, have)
    if head.find(b"\r\n\r\n") < 0:
        if have >= REQ_HDR_SIZE:
            send_bytes(req, BAD_REQUEST)
            return DONE_BAD
        return 0
    if parse_path(req, head) < 0:
        send_bytes(req, BAD_REQUEST)
        return DONE_BAD
    return send_file(req)


def finish(srv, req, status):
    """Close the connection, free its request page, count it."""
    sock_release(ld32(req + KHTTPD_REQUEST.sock))
    st32(req + KHTTPD_REQUEST.status, status)
    if status == DONE_OK:
        sent = ld32(req + KHTTPD_REQUEST.sent)
        pci_free_consistent(0, REQ_PAGE, req)
        st32(srv + KHTTPD_SERVER.requests, ld32(srv + KHTTPD_SERVER.requests) + 1)
        st32(srv + KHTTPD_SERVER.bytes_sent, ld32(srv + KHTTPD_SERVER.bytes_sent) + sent)
    elif status == DONE_NOT_FOUND:
        pci_free_consistent(0, REQ_PAGE, req)
        # THE PAPER'S LATENT BUG (SOSP'03 5.5): the request is used after it was freed, to
        # update statistics. Silent natively; Nooks write-protects the freed page and catches it.
        st32(srv + KHTTPD_SERVER.bytes_sent, ld32(srv + KHTTPD_SERVER.bytes_sent)
             + ld32(req + KHTTPD_REQUEST.sent))
        st32(req + KHTTPD_REQUEST.state, ST_DONE)
        st32(srv + KHTTPD_SERVER.not_found, ld32(srv + KHTTPD_SERVER.not_found) + 1)
    else:
        pci_free_consistent(0, REQ_PAGE, req)
        if status == DONE_BAD:
            st32(srv + KHTTPD_SERVER.bad, ld32(srv + KHTTPD_SERVER.bad) + 1)
        else:
            st32(srv + KHTTPD_SERVER.aborted, ld32(srv + KHTTPD_SERVER.aborted) + 1)
    st32(srv + KHTTPD_SERVER.nconns, ld32(srv + KHTTPD_SERVER.nconns) - 1)


def khttpd_daemon(data):
    """One pass of the daemon loop (the kernel thread's body): > 0 if it did any work."""
    srv = data
    st32(srv + KHTTPD_SERVER.passes, ld32(srv + KHTTPD_SERVER.passes) + 1)
    work = 0
    accepted = 0
    listener = ld32(srv + KHTTPD_SERVER.listen)
    while accepted < ACCEPT_BATCH:
        sock = sock_accept(listener)
        if not sock:
            break
        accepted += 1
        work += 1
        if not new_request(srv, sock):
            sock_release(sock)                      # no memory: drop the connection
    prev = srv + KHTTPD_SERVER.conns
    req = ld32(prev)
    while req:
        nxt = ld32(req + KHTTPD_REQUEST.next)
        status = serve(req)
        if status:
            st32(prev, nxt)                         # unlink, then close and free
            finish(srv, req, status)
            work += 1
        else:
            prev = req + KHTTPD_REQUEST.next
        req = nxt
    return work


def init_module():
    global server
    srv = kmalloc(KHTTPD_SERVER.size, 0)
    if not srv:
        return -ENOMEM
    memset(srv, 0, KHTTPD_SERVER.size)
    sock = sock_create(SOCK_STREAM)
    if not sock:
        kfree(srv)
        return -ENOMEM
    err = sock_bind(sock, HTTP_PORT)
    if not err:
        err = sock_listen(sock, BACKLOG)
    if err:
        sock_release(sock)
        kfree(srv)
        return err
    st32(srv + KHTTPD_SERVER.listen, sock)
    tid = kernel_thread(khttpd_daemon, srv, "khttpd")
    if tid <= 0:
        # unwind in reverse order, as Linux init routines do
        sock_release(sock)
        kfree(srv)
        return -ENOMEM
    st32(srv + KHTTPD_SERVER.tid, tid)
    server = srv
    return 0


def cleanup_module():
    global server
    srv = server
    kthread_stop(ld32(srv + KHTTPD_SERVER.tid))
    req = ld32(srv + KHTTPD_SERVER.conns)
    while req:
        nxt = ld32(req + KHTTPD_REQUEST.next)
        sock_release(ld32(req + KHTTPD_REQUEST.sock))
        pci_free_consistent(0, REQ_PAGE, req)
        req = nxt
    st32(srv + KHTTPD_SERVER.conns, 0)
    sock_release(ld32(srv + KHTTPD_SERVER.listen))
    kfree(srv)
    server = 0
