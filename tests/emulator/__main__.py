"""Run the emulator in the foreground: `python -m tests.emulator [--latency S] [--port N]`.

Prints one JSON line with the base URLs, keys and account id, then serves until SIGTERM/Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from .server import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.emulator", description=__doc__)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per generation")
    parser.add_argument("--port", type=int, default=0, help="TCP port (0 = random)")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with Emulator(latency=args.latency, port=args.port) as emu:
        info = {
            "url": emu.url,
            **emu.base_urls(),
            "control": f"{emu.url}/_emulator",
            "keys": emu.keys,
            "cloudflare_account_id": emu.account_id,
        }
        print(json.dumps(info), flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
