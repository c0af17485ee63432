"""mfm-booster public API: ``from booster import Booster``.

Imported lazily so light modules (``booster.audio``) and the CLI start without loading torch.
"""

__all__ = ["Booster", "BoosterOutput"]


def __getattr__(name: str):
    if name in __all__:
        from booster import extract

        return getattr(extract, name)
    raise AttributeError(f"module 'booster' has no attribute {name!r}")
