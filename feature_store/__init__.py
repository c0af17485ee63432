"""Zarr caches of booster features: ``from feature_store import FeatureStore``."""

from feature_store.store import FeatureSpec, FeatureStore, StoreError

__all__ = ["FeatureSpec", "FeatureStore", "StoreError"]
