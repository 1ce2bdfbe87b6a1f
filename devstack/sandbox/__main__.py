"""`python -m devstack.sandbox --port N`: serve the Twilio sandbox until stopped."""

from __future__ import annotations

import argparse
import signal
from types import FrameType

from carrier_core.logs import configure_logging
from devstack.sandbox.server import Sandbox, SandboxServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The Twilio sandbox: Twilio's Messages API for the local stack.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8004)
    args = parser.parse_args(argv)
    configure_logging("sandbox", "local")
    server = SandboxServer((args.host, args.port), Sandbox.from_env())

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
