"""Name → selector-class registry.

A selector becomes usable from any config (`sparsity_type="name"`) as soon as its
class is decorated with `@register_selector("name")`, wherever it is defined.
"""

_SELECTORS: dict[str, type] = {}


def register_selector(name: str, *, overwrite: bool = False):
    """Class decorator registering a `SparseSelector` subclass under `name`."""

    def decorate(cls):
        if not overwrite and name in _SELECTORS and _SELECTORS[name] is not cls:
            raise ValueError(
                f"a selector named {name!r} is already registered ({_SELECTORS[name].__qualname__}); "
                "pick another name or pass overwrite=True"
            )
        cls.name = name
        _SELECTORS[name] = cls
        return cls

    return decorate


def available_selectors() -> list[str]:
    """Registered selector names, sorted."""
    return sorted(_SELECTORS)


def get_selector_class(name: str) -> type:
    """The class registered under `name`; unknown names raise listing the known ones."""
    try:
        return _SELECTORS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"sparsity_type={name!r} is not a registered selector; known: {available_selectors()} "
            "(register your own with lsgzoo.selectors.register_selector)"
        ) from None


def build_selector(config):
    """Instantiate the selector named by `config.sparsity_type` (None → None)."""
    if config.sparsity_type is None:
        return None
    return get_selector_class(config.sparsity_type)(config)
