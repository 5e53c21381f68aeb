#!/usr/bin/python3
"""Runs Apertium APy listening on 127.0.0.1 only.

apertium-apy (0.11 in Debian) has no option for the address: it binds its port on every
interface, which would offer the translator to the whole network. This wrapper takes the same
arguments as apertium-apy and binds the port to loopback, where Parley reaches it.

    scripts/apertium_apy_loopback.py -p 2737 /usr/share/apertium/modes

Runs with the system Python that apertium-apy itself uses (/usr/bin/python3).
"""
import sys

import tornado.tcpserver

_bind = tornado.tcpserver.TCPServer.bind


def _bind_loopback(self, port, address=None, *args, **kwargs):
    # APy passes no address (meaning every interface); loopback is the only one we allow.
    return _bind(self, port, "127.0.0.1", *args, **kwargs)


tornado.tcpserver.TCPServer.bind = _bind_loopback
print("apertium-apy: listening on 127.0.0.1 only (its next line says all interfaces: it is wrong)",
      file=sys.stderr, flush=True)

from apertium_apy.apy import main  # noqa: E402 (after the patch, which must come first)

sys.exit(main())
