"""The machine's interface addresses (POSIX ``getifaddrs`` through ctypes; no dependency).

Used to expand a listen address on ``0.0.0.0`` or ``::`` into the addresses a peer can dial, as
go-libp2p's ``manet.InterfaceMultiaddrs`` does. Where ``getifaddrs`` is missing (Windows), only
the loopback addresses are known.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import ipaddress
import logging
import socket

__all__ = ["interface_ips"]

log = logging.getLogger("libp2p.host.interfaces")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class _Sockaddr(ctypes.Structure):
    _fields_ = [("sa_family", ctypes.c_ushort), ("sa_data", ctypes.c_ubyte * 14)]


class _SockaddrIn(ctypes.Structure):
    _fields_ = [("sin_family", ctypes.c_ushort), ("sin_port", ctypes.c_uint16), ("sin_addr", ctypes.c_ubyte * 4)]


class _SockaddrIn6(ctypes.Structure):
    _fields_ = [
        ("sin6_family", ctypes.c_ushort),
        ("sin6_port", ctypes.c_uint16),
        ("sin6_flowinfo", ctypes.c_uint32),
        ("sin6_addr", ctypes.c_ubyte * 16),
        ("sin6_scope_id", ctypes.c_uint32),
    ]


class _Ifaddrs(ctypes.Structure):
    pass


_Ifaddrs._fields_ = [
    ("ifa_next", ctypes.POINTER(_Ifaddrs)),
    ("ifa_name", ctypes.c_char_p),
    ("ifa_flags", ctypes.c_uint),
    ("ifa_addr", ctypes.POINTER(_Sockaddr)),
    ("ifa_netmask", ctypes.POINTER(_Sockaddr)),
    ("ifa_ifu", ctypes.POINTER(_Sockaddr)),
    ("ifa_data", ctypes.c_void_p),
]

_IFF_UP = 0x1


def _getifaddrs() -> list[IPAddress]:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    head = ctypes.POINTER(_Ifaddrs)()
    if libc.getifaddrs(ctypes.byref(head)) != 0:
        raise OSError(ctypes.get_errno(), "getifaddrs failed")
    out: list[IPAddress] = []
    try:
        node = head
        while node:
            entry = node.contents
            if entry.ifa_addr and entry.ifa_flags & _IFF_UP:
                family = entry.ifa_addr.contents.sa_family
                if family == socket.AF_INET:
                    sin = ctypes.cast(entry.ifa_addr, ctypes.POINTER(_SockaddrIn)).contents
                    out.append(ipaddress.IPv4Address(bytes(sin.sin_addr)))
                elif family == socket.AF_INET6:
                    sin6 = ctypes.cast(entry.ifa_addr, ctypes.POINTER(_SockaddrIn6)).contents
                    ip6 = ipaddress.IPv6Address(bytes(sin6.sin6_addr))
                    if not ip6.is_link_local:  # needs a zone to be dialed
                        out.append(ip6)
            node = entry.ifa_next
    finally:
        libc.freeifaddrs(head)
    return out


def interface_ips() -> list[IPAddress]:
    """The IP addresses of the interfaces that are up (loopback first), without duplicates."""
    try:
        ips = _getifaddrs()
    except (OSError, AttributeError, TypeError) as exc:
        log.debug("cannot list interface addresses (%s); using loopback only", exc)
        ips = [ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1")]
    unique = list(dict.fromkeys(ips))
    return sorted(unique, key=lambda ip: not ip.is_loopback)
