"""FiftyOne operators: thin layers over the engine in ``plugin/``."""
