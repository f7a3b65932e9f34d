"""Who may open a dashboard session: loopback clients asking for this machine's own
names, unless the user opts in.

Both ways of serving (``dbdviz serve`` and ``panel serve apps/dashboard.py``) answer
only

* clients on a loopback address (127.0.0.0/8, ::1), unless the server was started
  with a non-loopback ``--address`` (an explicit opt-in to other machines);
* requests whose ``Host`` header names this machine: ``localhost``, a loopback or
  other IP literal, this machine's host name, or a name the user allowed with
  ``--allow-websocket-origin HOST[:PORT]`` or ``DBDVIZ_ALLOW_HOSTS=name,name`` (``*``:
  any). A foreign ``Host`` is what a DNS-rebinding page sends: refusing it keeps
  other web sites from starting simulations on this machine;
* an ``Origin`` header, when present, naming the same host or an allowed name.

Everything else gets ``403`` and no session. The check sits in front of every
request of the Tornado applications in the serving process (pages, websockets,
static files): :func:`install` wraps ``tornado.web.Application.find_handler``; the
session that runs the app script also checks the request that created it
(:func:`refusal`), which covers the first request of ``panel serve``.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import socket
import sys
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import tornado.web

__all__ = ["Policy", "policy_from_command_line", "install", "refusal", "policy"]

log = logging.getLogger("dbdviz.ui")

_LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def _own_names() -> set[str]:
    names = set(_LOOPBACK_NAMES)
    for fn in (socket.gethostname, socket.getfqdn):
        try:
            names.add(fn().lower())
        except OSError:  # pragma: no cover - depends on the resolver
            pass
    return names


def _is_loopback_ip(text: str) -> bool:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def _is_own(name: str | None) -> bool:
    """This machine's own name or a loopback address."""
    return bool(name) and (name in _own_names() or _is_loopback_ip(name))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _hostname(netloc: str) -> str | None:
    """``"Example.org:5006"`` -> ``"example.org"``; ``"[::1]:80"`` -> ``"::1"``."""
    try:
        name = urlsplit("//" + netloc.strip()).hostname
    except ValueError:
        return None
    return name.lower().rstrip(".") if name else None


@dataclass(frozen=True)
class Policy:
    """What the server accepts.

    Attributes
    ----------
    remote : bool
        Accept clients on non-loopback addresses (opt-in: ``--address``).
    hosts : frozenset of str or None
        Host names accepted besides this machine's own names and IP literals;
        None: any host name (``*``).
    """

    remote: bool = False
    hosts: frozenset[str] | None = field(default_factory=frozenset)

    def host_allowed(self, name: str | None) -> bool:
        if name is None:
            return False
        if self.hosts is None or _is_ip(name) or name in _own_names():
            return True
        return name in self.hosts

    @classmethod
    def build(
        cls,
        address: str | None = None,
        allow_origins=(),
        allow_hosts=(),
    ) -> Policy:
        """From a bind ``address``, ``--allow-websocket-origin`` values and names."""
        remote = bool(address) and not (
            _is_loopback_ip(address) or address.lower() in _LOOPBACK_NAMES
        )
        names: set[str] = set()
        any_host = False
        for item in list(allow_origins or ()) + list(allow_hosts or ()):
            for part in str(item).split(","):
                part = part.strip()
                if not part:
                    continue
                if part == "*" or part.startswith("*:"):
                    any_host = True
                    continue
                if "://" in part:
                    part = urlsplit(part).netloc
                name = _hostname(part)
                if name:
                    names.add(name)
        return cls(remote=remote, hosts=None if any_host else frozenset(names))


def policy_from_command_line(argv=None, environ=None) -> Policy:
    """The policy of the serving process: ``--address`` and
    ``--allow-websocket-origin`` of its command line (``panel serve`` passes them
    to the server; the app reads them here), ``BOKEH_ALLOW_WS_ORIGIN`` and
    ``DBDVIZ_ALLOW_HOSTS`` from the environment."""
    argv = sys.argv[1:] if argv is None else list(argv)
    environ = os.environ if environ is None else environ
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--address")
    p.add_argument("--allow-websocket-origin", action="append", default=[])
    known, _ = p.parse_known_args(argv)
    hosts = [
        environ.get("DBDVIZ_ALLOW_HOSTS", ""),
        environ.get("BOKEH_ALLOW_WS_ORIGIN", ""),
    ]
    return Policy.build(known.address, known.allow_websocket_origin, hosts)


_state: dict = {"policy": None, "original": None}


def policy() -> Policy:
    """The installed policy, else the one of this process's command line."""
    return _state["policy"] or policy_from_command_line()


def refusal(request, pol: Policy | None = None) -> str | None:
    """Why ``request`` (a Tornado ``HTTPServerRequest``) gets no session, or None.

    Parameters
    ----------
    request : tornado.httputil.HTTPServerRequest
    pol : Policy, optional
        Default :func:`policy`.
    """
    pol = pol or policy()
    ip = str(getattr(request, "remote_ip", "") or "")
    if not pol.remote and not _is_loopback_ip(ip):
        return (
            f"client {ip or '(unknown)'} is not on this machine (start the server "
            "with --address to serve other machines)"
        )
    headers = getattr(request, "headers", None) or {}
    host = _hostname(str(headers.get("Host", "")))
    if not pol.host_allowed(host):
        return (
            f"Host {headers.get('Host', '')!r} is not this machine (allow it with "
            "--allow-websocket-origin or DBDVIZ_ALLOW_HOSTS)"
        )
    origin = headers.get("Origin")
    if origin and origin != "null":
        oname = _hostname(urlsplit(origin).netloc) if "://" in origin else None
        if oname != host and not (
            oname and (pol.hosts is None or oname in (pol.hosts or ()))
        ):
            if not (_is_own(oname) and _is_own(host)):
                return f"Origin {origin!r} is not this server's"
    return None


def install(pol: Policy | None = None) -> Policy:
    """Check every request of every Tornado application in this process against
    ``pol`` (default :func:`policy_from_command_line`); refused requests get 403.
    Idempotent; a later call replaces the policy."""
    pol = pol or policy_from_command_line()
    _state["policy"] = pol
    if _state["original"] is None:
        original = tornado.web.Application.find_handler
        _state["original"] = original

        def find_handler(self, request, **kwargs):
            reason = refusal(request, _state["policy"])
            if reason is not None:
                log.warning(
                    "dbdviz refused %s %s: %s", request.method, request.uri, reason
                )
                return self.get_handler_delegate(request, _Refused, {"reason": reason})
            return original(self, request, **kwargs)

        tornado.web.Application.find_handler = find_handler
    return pol


class _Refused(tornado.web.RequestHandler):
    """403 with a one-line reason, whatever the method (pages, websockets)."""

    def initialize(self, reason: str) -> None:
        self.reason = reason

    def prepare(self) -> None:
        self.set_status(403)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"dbdviz: refused: {self.reason}\n")
