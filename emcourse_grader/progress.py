"""The progress line of a parallel run (:class:`Progress`)."""

from __future__ import annotations

import sys
import threading
import time


class Progress:
    """One line on the terminal: done, running, failed, time left (a log line per submission
    when the output is not a terminal)."""

    def __init__(self, total, workers, stream=None):
        self.total, self.workers = total, workers
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.done = self.failed = self.running = 0
        self.start = time.perf_counter()
        self.last = ""
        self.lock = threading.Lock()

    def left(self) -> str:
        if not self.done:
            return "--:--"
        elapsed = time.perf_counter() - self.start
        secs = elapsed / self.done * (self.total - self.done)
        return f"{int(secs) // 60:d}:{int(secs) % 60:02d}"

    def line(self) -> str:
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        return (f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} done, "
                f"{self.running} running, {self.failed} failed, {self.left()} left")

    def update(self, running=None, message=None):
        with self.lock:
            self._update(running, message)

    def _update(self, running, message):
        if running is not None:
            self.running = running
        if self.tty:
            text = self.line()
            if message:
                self.stream.write("\r\033[K" + message + "\n")
            if text != self.last or message:
                self.stream.write("\r\033[K" + text)
                self.stream.flush()
                self.last = text
        elif message:
            self.stream.write(f"  {message}   ({self.line()})\n")
            self.stream.flush()

    def close(self):
        if self.tty:
            self.stream.write("\r\033[K" + self.line() + "\n")
            self.stream.flush()
