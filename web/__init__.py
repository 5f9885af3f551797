"""Flask glue the two web faces share: the engine per process and response helpers."""
