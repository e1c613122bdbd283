"""Whom a client address's requests are counted against, for every per-address bound (the body guard
of supply/server.py, the rate limits of supply/api/limits.py). Plain Python: no Flask, no server."""
from __future__ import annotations

import ipaddress


def sender(address: str) -> str:
    """Whom an address's requests are counted against: an IPv4 address (also written IPv4-mapped), or
    an IPv6 /64, the least one subscriber is given; counted per IPv6 address, one subscriber would
    have 2**64 shares of the limit."""
    if ":" not in address:
        return address
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((ip, 64), strict=False))
