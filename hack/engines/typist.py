#!/usr/bin/env python3
"""Types into an engine's `-it` session as a person at a terminal would.

Usage: typist.py SECONDS 'COMMAND LINE' <input

Runs the command line (through sh) as the leader of a new session whose controlling terminal
is a new pty of 24x80, waits until the container's shell shows its prompt, then types the
input. It prints everything the terminal showed and exits with the command's status, or with
124 after SECONDS, when it prints what the terminal showed and the session's processes to
stderr and kills the session.

Why not `script`: it writes its stdin into the terminal at once, before the engine has put the
terminal in raw mode or attached to the container, and types an end-of-file character when
its stdin runs out; whether the engine or the container sees those bytes then depends on
timing. Typing after the prompt takes the timing out.
"""
import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

# busybox's and dash's interactive prompts end in "# " (root) or "$ ".
PROMPT = re.compile(rb"[#$] (\x1b\[[0-9;]*[A-Za-z])*$")


def main():
    seconds, command = float(sys.argv[1]), sys.argv[2]
    typed = sys.stdin.buffer.read()
    pid, master = pty.fork()
    if pid == 0:
        os.execvp("sh", ["sh", "-c", command])
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))

    deadline = time.monotonic() + seconds
    # Without a prompt in half the time, type anyway: the output then shows what was missing.
    type_by = time.monotonic() + seconds / 2
    shown = b""
    status = None
    while True:
        now = time.monotonic()
        if now >= deadline:
            if status is None:
                give_up(pid, seconds, shown)
            break  # the command ended and its terminal has been quiet since
        if typed is not None and (PROMPT.search(shown.rstrip(b"\r\n")) or now >= type_by):
            os.write(master, typed)
            typed = None
        if select.select([master], [], [], 0.1)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: every holder of the terminal's other end has closed it
                chunk = b""
            if not chunk:
                break
            shown += chunk
            continue
        if status is None:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                # What is still queued in the terminal is read above; 0.5 s without output then
                # ends the loop even if a stray process still holds the terminal open.
                status, deadline = st, time.monotonic() + 0.5
    if status is None:
        _, status = os.waitpid(pid, 0)
    sys.stdout.buffer.write(shown)
    sys.stdout.flush()
    sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


def give_up(pid, seconds, shown):
    sys.stdout.buffer.write(shown)
    sys.stdout.flush()
    # TAP comments, so the lane's output keeps them next to the failure.
    procs = subprocess.run(["ps", "-o", "pid,ppid,stat,wchan:20,args", "-s", str(pid)],
                           capture_output=True, text=True).stdout
    sys.stderr.write(f"#   typist.py: no end after {seconds:g} s; the terminal showed {shown!r}\n")
    sys.stderr.write("".join(f"#   {line}\n" for line in procs.splitlines()))
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        end = time.monotonic() + wait
        while time.monotonic() < end and os.waitpid(pid, os.WNOHANG)[0] == 0:
            time.sleep(0.1)
    sys.exit(124)


if __name__ == "__main__":
    main()
