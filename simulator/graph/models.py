"""PLACEHOLDER: replaced by the graph work."""


class GraphBackend:
    def __init__(self, sim) -> None:
        self.sim = sim

    def seed_default(self) -> None:
        pass

    def load_seed(self, data: dict) -> None:
        pass
