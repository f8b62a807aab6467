"""A local Functions host whose worker is the real one (not deployed: see .funcignore).

- :func:`worker` loads ``function_app.py`` through the Azure Functions Python worker library and invokes any function
  by name in-process (``.http``, ``.queue``, ``.timer``), the way the host does (devhost/worker.py);
- :class:`HttpServer` serves the HTTP functions on loopback with function keys checked (devhost/http_server.py);
- :class:`QueueRunner` runs the queue-triggered functions against Azurite with host.json's queue settings
  (devhost/queues.py);
- ``python -m devhost`` runs all three against local.settings.json, like ``func start`` (docs/local-host.md).
"""

from devhost.worker import Invocation, LoadedFunction, Worker, WorkerRefused, worker

__all__ = ["Invocation", "LoadedFunction", "Worker", "WorkerRefused", "worker"]
