"""Start one sandboxed kernel: limits, bwrap, then the unprivileged uid (two stages).

Run by jupyter_client as the kernel command, never imported by notebook code: standard library
only, started with ``python -I -S`` so it needs no package and starts fast.

``jail.py outside PLAN CONNECTION_FILE`` (as root, outside): sets the resource limits, hands the
connection file to the sandbox's uid, points stdin/stdout at ``/dev/null`` and stderr at the plan's
log file, closes every other descriptor the kernel manager's process had (its log, the progress
file), and execs bwrap with the plan's arguments. bwrap runs as root (so it can bind paths only
root may reach, such as a Python under ``/root``) with no user namespace: the sandbox's processes
must run as a *real* unprivileged uid, which a user namespace created by root would map back to
root on the host.

``jail.py inside UID COMMAND...`` (the command bwrap starts, in the sandbox): drops every group and
sets real, effective and saved uid and gid to ``UID`` -- which clears every capability -- closes
every descriptor but 0-2, and execs the kernel.

``PLAN`` is a JSON file written by :mod:`nookslab.grading.sandbox`: ``bwrap`` (its path), ``args``
(where ``{"info_fd": true}`` becomes the descriptor of ``info_file``, to which bwrap writes the
pid of the sandbox's pid-namespace init), ``command`` (run inside; ``"{connection_file}"`` is
replaced), ``uid``, ``limits`` (``{"RLIMIT_AS": bytes, ...}``, inherited by everything inside) and
``log_file`` (bwrap's and the kernel's stderr until ipykernel captures it: why a start failed).
"""
import json
import os
import resource
import sys


def _close_from(low):
    os.closerange(low, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def outside(plan_path, connection_file):
    with open(plan_path) as fh:
        plan = json.load(fh)
    null = os.open(os.devnull, os.O_RDWR)
    log = os.open(plan["log_file"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for target, fd in ((0, null), (1, null), (2, log)):
        os.dup2(fd, target)
    os.close(null)
    os.close(log)
    _close_from(3)
    info = os.open(plan["info_file"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.set_inheritable(info, True)
    args = [plan["bwrap"]]
    for arg in plan["args"]:
        args.append(str(info) if isinstance(arg, dict) else str(arg))
    command = [connection_file if a == "{connection_file}" else a for a in plan["command"]]
    args += ["--", sys.executable, "-I", "-S", os.path.abspath(__file__), "inside",
             str(plan["uid"])] + command
    os.chown(connection_file, plan["uid"], plan["uid"])  # written by the kernel manager, 0600
    for name, value in plan["limits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))
    os.execv(plan["bwrap"], args)


def inside(uid, command):
    uid = int(uid)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _close_from(3)
    os.execv(command[0], command)


if __name__ == "__main__":
    if sys.argv[1] == "outside":
        outside(sys.argv[2], sys.argv[3])
    else:
        inside(sys.argv[2], sys.argv[3:])
