"""IPython startup file of ``tests/test_jupyter.py`` (diagnostics, not a test).

Copied into the test server's ``profile_default/startup``; when the kernel's
environment names ``DBDVIZ_COMM_LOG``, every Panel notebook message is logged there,
one line each: ``SEND`` (kernel -> browser, the events of a PATCH-DOC), ``RECV``
(browser -> kernel, with the thread that handles it and the changes the kernel held
at that moment) and ``UNHOLD-DISPATCH`` (the held changes Panel's handler unholds;
``False``: made in the kernel). The test writes the log to
``artifacts/jupyter-comm-kernel.txt``.
"""

import os

_LOG = os.environ.get("DBDVIZ_COMM_LOG")
if _LOG:
    import threading
    import time

    from bokeh.document.events import DocumentPatchedEvent as _DPE
    from panel import viewable as _vw
    from panel.io import notebook as _nb
    from panel.io.state import state as _state

    _fh = open(_LOG, "a", buffering=1)

    def _w(*a):
        who = threading.current_thread().name
        _fh.write(f"{time.time():.3f} [{who}] " + " ".join(map(str, a)) + "\n")

    def _ev(e):
        if isinstance(e, dict):  # a serialized event (from the browser)
            k = e.get("kind")
            m = e.get("model") or {}
            mid = m.get("id", "") if isinstance(m, dict) else ""
            if k == "ModelChanged":
                return f"{k}:{mid[-6:]}.{e.get('attr')}"
            if k == "MessageSent":
                md = e.get("msg_data") or {}
                name = md.get("event_name") if isinstance(md, dict) else ""
                return f"{k}:{e.get('msg_type')}:{name}"
            return f"{k}:{mid[-6:]}"
        n = type(e).__name__
        m = getattr(e, "model", None)
        return f"{n}:{m.id[-6:] if m is not None else ''}.{getattr(e, 'attr', '')}"

    _send = _nb.send

    def send(comm, msg):
        try:
            c = msg.content
            evs = c.get("events", []) if isinstance(c, dict) else []
            names = [_ev(e) for e in evs][:40]
            _w(
                "SEND",
                comm.id[-6:],
                msg.msgtype,
                len(evs),
                "bufs",
                len(msg.buffers),
                names,
            )
        except Exception as exc:
            _w("SEND-LOGFAIL", exc)
        return _send(comm, msg)

    _nb.send = send

    _on_msg = _vw.MimeRenderMixin._on_msg

    def _held(doc):
        return [e for e in doc.callbacks._held_events if isinstance(e, _DPE)]

    def _on_msg_logged(self, ref, manager, msg):
        doc = _state._views[ref][2] if ref in _state._views else None
        evs = [_ev(e) for e in msg.get("content", {}).get("events", [])][:20]
        before = [_ev(e) for e in _held(doc)][:20] if doc is not None else []
        hold = doc.callbacks.hold_value if doc else None
        _w("RECV", ref[-6:], "hold", hold, "held_before", before, "events", evs)
        if doc is not None:
            cb = doc.callbacks
            unhold = cb.unhold

            def unhold_logged():
                h = [
                    (_ev(e), getattr(e, "setter", None) is not None) for e in _held(doc)
                ]
                if h:
                    _w("UNHOLD-DISPATCH", ref[-6:], len(h), h[:30])
                return unhold()

            cb.unhold = unhold_logged
        try:
            return _on_msg(self, ref, manager, msg)
        except Exception as exc:
            _w("RECV-EXC", repr(exc))
            raise
        finally:
            if doc is not None:
                cb.__dict__.pop("unhold", None)
            _w("RECV-DONE", ref[-6:], "held_after", len(_held(doc)) if doc else None)

    _vw.MimeRenderMixin._on_msg = _on_msg_logged

    import pyviz_comms as _pc

    _handle = _pc.Comm._handle_msg

    def _handle_logged(self, msg):
        # every comm message from the browser, on the thread that receives it
        try:
            data = msg.get("content", {}).get("data", {})
            header = data.get("header", {}) if isinstance(data, dict) else {}
            kind = header.get("msgtype", "")
            from dbdviz.ui import notebook as _dnb

            loop = _dnb._MAIN.get("loop")
            state = None if loop is None else (loop.is_running(), loop.is_closed())
            _w("ARRIVE", self.id[-6:], kind, "main-loop running/closed", state)
        except Exception as exc:
            _w("ARRIVE-LOGFAIL", repr(exc))
        return _handle(self, msg)

    _pc.Comm._handle_msg = _handle_logged
    _w("commlog installed")
