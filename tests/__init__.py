"""perfectws's test suite, a package so that its helpers import by name.

Test modules mirror the package's modules (``test_frames.py`` for
``perfectws/frames.py``, ``test_protocol.py`` for ``perfectws/protocol.py``,
...). Shared helpers are plain modules here, imported as ``tests.<module>``:
``tests.helpers`` (timeouts, the served-server view, the echo routes, the one
recording handler), ``tests.rawws`` (the one raw frame builder and a hostile
WebSocket client), ``tests.rawhttp`` and ``tests.example_process``. Fixtures
live in ``tests/conftest.py``.
"""
