"""A Dask worker plugin that makes one worker report another tiledrizzle version: what a
worker of an out-of-date image or environment would say."""

from distributed import WorkerPlugin


class ReportsVersion(WorkerPlugin):
    """On the worker named ``worker_name``, ``tiledrizzle.__version__`` is ``version``
    (put back when the plugin is removed)."""

    name = "tiledrizzle-reports-version"

    def __init__(self, worker_name, version):
        self.worker_name, self.version = worker_name, version
        self._real = None

    def setup(self, worker):
        import tiledrizzle

        if worker.name == self.worker_name:
            self._real = tiledrizzle.__version__
            tiledrizzle.__version__ = self.version

    def teardown(self, worker):
        import tiledrizzle

        if self._real is not None:
            tiledrizzle.__version__ = self._real
