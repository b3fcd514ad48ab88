"""Progress on stderr for long runs: tqdm when installed, quiet when stderr is not a terminal."""
import sys

__all__ = ["progress", "Progress"]


class Progress:
    """A counter drawn on stderr; ``update(n)``, ``close()``.  Without tqdm: one plain line."""

    def __init__(self, total, desc):
        self.enabled = sys.stderr.isatty()
        self.total, self.desc, self.done = total, desc, 0
        self._bar = None
        if self.enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                pass
            else:
                self._bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=False)

    def update(self, n=1):
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.enabled:
            sys.stderr.write(f"\r{self.desc}: {self.done}/{self.total}")
            sys.stderr.flush()

    def close(self):
        if self._bar is not None:
            self._bar.close()
        elif self.enabled:
            sys.stderr.write("\r" + " " * (len(self.desc) + 24) + "\r")
            sys.stderr.flush()


def progress(items, desc, total=None):
    """Iterate ``items`` with a progress counter on stderr."""
    items = list(items) if total is None else items
    bar = Progress(len(items) if total is None else total, desc)
    try:
        for item in items:
            yield item
            bar.update()
    finally:
        bar.close()
