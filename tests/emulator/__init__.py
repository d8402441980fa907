"""Local HTTP emulator of the Runware, Cloudflare Workers AI, PixelDojo and Recraft image APIs.

Start it with `with Emulator(latency=0.05) as emu:`, point a client at `emu.base_url("runware")`
(http://127.0.0.1:PORT/runware/v1) and assert on `emu.paid_generations`, `emu.requests`, ...
See README.md in this directory.
"""

from .faults import FAULTS, PROVIDERS, Fault
from .server import DEFAULT_ACCOUNT_ID, DEFAULT_KEYS, PREFIXES, Emulator, RequestRecord

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_KEYS",
    "FAULTS",
    "PREFIXES",
    "PROVIDERS",
    "Emulator",
    "Fault",
    "RequestRecord",
]
