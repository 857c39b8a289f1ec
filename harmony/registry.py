"""One generic registry for generators, methods (Harmonizers), metrics and protocols.

Every registered item carries a frozen :class:`Card` saying what it is, which paper it comes from, what
inputs it needs, its presets and weights. Methods can also come from plugins: the entry-point group
``harmony.methods`` (each entry point resolves to a factory) or a ``package.module:attr`` spec given on
the command line.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError


@dataclass(frozen=True)
class Card:
    """What a registered item is. Frozen: cards are facts, not settings.

    Modelled on timm's model registry (``timm/models/_registry.py``): one registration shape for every
    item, and a card of facts beside it.

    Parameters
    ----------
    name : str
        Registry name (``reinhard``, ``dih_tiny``, ``fmse`` ...).
    kind : str
        ``generator`` | ``method`` | ``metric`` | ``protocol`` | ``model``.
    summary : str
        One line for ``harmony list``.
    paper : str
        Citation of the paper, script or format the item follows.
    inputs : tuple of str
        Extra inputs a method needs beyond (composite, mask), e.g. ``("background",)``.
    presets : tuple of str
        Names of presets (models).
    weights : mapping or None
        Path and sha256 of the weights, if any (``{"path": ..., "sha256": ...}``).
    higher_is_better : bool or None
        Metrics only.
    unit : str
        Metrics only (``"dB"``, ``""``).
    keeps_background : bool
        Methods only: True when the output equals the composite outside the mask (checked by the
        conformance tests).
    deterministic : bool
        Methods only: same input -> same output.
    learned : bool
        Methods only: needs trained weights (a checkpoint).
    low_res_only : bool
        Methods only: runs at a fixed low resolution and is upsampled (the rule of SPRIH, Wang et al.
        CVPR 2023, Table 1).
    native_size : int or None
        Methods only: the square size a low-resolution method runs at.
    notes : str
        Free text: what is implemented, what differs from the paper and why.
    extra : mapping
        Kind-specific facts (a generator's subset and prefix, a protocol's details ...).
    """

    name: str
    kind: str
    summary: str = ""
    paper: str = ""
    inputs: tuple[str, ...] = ()
    presets: tuple[str, ...] = ()
    weights: Mapping[str, str] | None = None
    higher_is_better: bool | None = None
    unit: str = ""
    keeps_background: bool = False
    deterministic: bool = True
    learned: bool = False
    low_res_only: bool = False
    native_size: int | None = None
    notes: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """The card as plain JSON-ready types.

        Returns
        -------
        dict
            Every field; tuples become lists, ``extra`` and ``weights`` plain dicts (``weights`` None when
            absent).
        """
        fields = dataclasses.asdict(self)
        fields["inputs"] = list(self.inputs)
        fields["presets"] = list(self.presets)
        fields["extra"] = dict(self.extra)
        fields["weights"] = dict(self.weights) if self.weights else None
        return fields


@dataclass
class _Entry:
    factory: Callable[..., Any]
    card: Card


class Registry:
    """A name -> (factory, card) map with plugin loading.

    ``register(name, card=...)`` is a decorator for a factory (a class or a function returning the
    item). ``create(name, **options)`` calls the factory. ``card(name)`` returns its card. Names may
    also be ``package.module:attr`` specs, and an entry-point group adds installed plugins.

    Parameters
    ----------
    kind : str
        What the registry holds (``"method"``, ``"generator"`` ...), used in messages and default cards.
    entry_point_group : str, optional
        Entry-point group scanned once, on first lookup, for plugins (``harmony.methods``).
    """

    def __init__(self, kind: str, entry_point_group: str | None = None):
        self.kind = kind
        self._entries: dict[str, _Entry] = {}
        self._entry_point_group = entry_point_group
        self._plugins_loaded = False
        self._lazy_modules: list[str] = []

    # -- registration -------------------------------------------------------------------------
    def register(self, name: str, factory: Callable[..., Any] | None = None, *, card: Card | None = None,
                 replace: bool = False, **card_fields: Any):
        """Register a factory under ``name`` (directly, or as a decorator when ``factory`` is None).

        Parameters
        ----------
        name : str
            Registry name; the card's ``name`` is set to it.
        factory : callable, optional
            A class or a function returning the item. Omitted: returns a decorator.
        card : Card, optional
            The item's card; built from ``card_fields`` when omitted.
        replace : bool, optional
            Allow replacing an existing entry (default False).
        **card_fields
            Card fields (without ``card``) or overrides of ``card``'s fields.

        Returns
        -------
        callable
            ``factory`` itself, or a decorator that registers and returns its argument.

        Raises
        ------
        ValueError
            When ``name`` is already registered and ``replace`` is False.
        """
        if card is None:
            card = Card(name=name, kind=self.kind, **card_fields)
        elif card_fields:
            card = dataclasses.replace(card, **card_fields)
        if card.name != name:
            card = dataclasses.replace(card, name=name)

        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries and not replace:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = _Entry(fn, card)
            return fn

        return deco(factory) if factory is not None else deco

    def add_lazy_module(self, module: str) -> None:
        """Name a module to import on first lookup (it registers its items when imported).

        Parameters
        ----------
        module : str
            Dotted module name; skipped silently when it is not installed.
        """
        self._lazy_modules.append(module)

    def _ensure_loaded(self) -> None:
        while self._lazy_modules:
            module = self._lazy_modules.pop(0)
            if importlib.util.find_spec(module) is not None:
                importlib.import_module(module)
        if self._entry_point_group and not self._plugins_loaded:
            self._plugins_loaded = True
            from importlib.metadata import entry_points

            for ep in entry_points(group=self._entry_point_group):
                if ep.name in self._entries:
                    continue
                try:
                    obj = ep.load()
                except Exception as exc:  # a broken plugin must not break the toolkit
                    import warnings

                    warnings.warn(f"plugin {ep.name!r} ({ep.value}) failed to load: {exc}", stacklevel=2)
                    continue
                self._register_object(ep.name, obj, source=f"entry point {ep.value}")

    def _register_object(self, name: str, obj: Any, source: str) -> None:
        card = getattr(obj, "card", None)
        if not isinstance(card, Card):
            card = Card(name=name, kind=self.kind, summary=f"plugin ({source})", notes=source)
        factory = obj if inspect.isclass(obj) or getattr(obj, "is_factory", False) else (lambda _o=obj, **kw: _o)
        self._entries[name] = _Entry(factory, dataclasses.replace(card, name=name))

    # -- lookup -------------------------------------------------------------------------------
    def resolve_spec(self, spec: str) -> str:
        """Resolve a registered name or a ``package.module:attr`` spec to a registered name.

        Parameters
        ----------
        spec : str
            A registered name, or ``package.module:attr`` (a class, a factory, or an object with a ``card``),
            which is registered under the spec itself.

        Returns
        -------
        str
            The registered name.

        Raises
        ------
        harmony.errors.InputError
            For an unknown name (the message lists the valid ones) or a spec that cannot be imported.
        """
        self._ensure_loaded()
        if spec in self._entries:
            return spec
        if ":" in spec:
            module_name, _, attr = spec.partition(":")
            try:
                module = importlib.import_module(module_name)
                obj = getattr(module, attr)
            except (ImportError, AttributeError) as exc:
                raise InputError(f"cannot load {self.kind} {spec!r}: {exc}") from None
            self._register_object(spec, obj, source=spec)
            return spec
        raise InputError(f"unknown {self.kind} {spec!r}; valid names: {', '.join(self.names())}")

    def create(self, name: str, **options: Any) -> Any:
        """Create the item: call its factory with ``options``.

        Parameters
        ----------
        name : str
            Registered name or ``package.module:attr`` spec.
        **options
            Passed to the factory.

        Returns
        -------
        object
            What the factory returns (a Harmonizer, a generator function, a metric ...).

        Raises
        ------
        harmony.errors.InputError
            For an unknown name.
        """
        name = self.resolve_spec(name)
        return self._entries[name].factory(**options)

    def card(self, name: str) -> Card:
        """The card of a registered item.

        Parameters
        ----------
        name : str
            Registered name or ``package.module:attr`` spec.

        Returns
        -------
        Card

        Raises
        ------
        harmony.errors.InputError
            For an unknown name.
        """
        name = self.resolve_spec(name)
        return self._entries[name].card

    def factory(self, name: str) -> Callable[..., Any]:
        """The factory of a registered item (without calling it).

        Parameters
        ----------
        name : str
            Registered name or ``package.module:attr`` spec.

        Returns
        -------
        callable

        Raises
        ------
        harmony.errors.InputError
            For an unknown name.
        """
        return self._entries[self.resolve_spec(name)].factory

    def names(self) -> list[str]:
        """Every registered name, lazy modules and plugins loaded first.

        Returns
        -------
        list of str
            Sorted.
        """
        self._ensure_loaded()
        return sorted(self._entries)

    def cards(self) -> list[Card]:
        """Every card, sorted by name (lazy modules and plugins loaded first).

        Returns
        -------
        list of Card
        """
        self._ensure_loaded()
        return [self._entries[n].card for n in sorted(self._entries)]

    def __contains__(self, name: str) -> bool:
        self._ensure_loaded()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self._entries)


GENERATORS = Registry("generator")
METHODS = Registry("method", entry_point_group="harmony.methods")
METRICS = Registry("metric")
PROTOCOLS = Registry("protocol")

# Modules that register items when imported. Imported on first lookup so `import harmony` stays light
# (torch is imported only by the model modules, and only when a model is looked up).
for _module in ("harmony.baselines", "harmony.models"):
    METHODS.add_lazy_module(_module)
for _module in ("harmony.benchmark.metrics", ):
    METRICS.add_lazy_module(_module)
    PROTOCOLS.add_lazy_module(_module)
for _module in ("harmony.datagen", ):
    GENERATORS.add_lazy_module(_module)

#: The registries by the plural names ``harmony list`` takes, in the order it prints them.
REGISTRIES: dict[str, Registry] = {"generators": GENERATORS, "methods": METHODS, "metrics": METRICS,
                                   "protocols": PROTOCOLS}
#: Card fields ``harmony list --verbose`` prints under a card's line, when set.
VERBOSE_FIELDS = ("paper", "inputs", "presets", "weights", "native_size", "notes")


def card_tags(kind: str, card: Card) -> list[str]:
    """The short facts shown in brackets after a card's summary by ``harmony list``.

    Parameters
    ----------
    kind : str
        ``methods``, ``metrics`` or ``protocols`` (other kinds have no tags).
    card : Card
        The card.

    Returns
    -------
    list of str
        Methods: learned/classical, keeps background, low-res only (with its size), random, extra
        inputs. Metrics: direction, unit. Protocols: the default evaluation size.
    """
    tags = []
    if kind == "methods":
        tags.append("learned" if card.learned else "classical")
        if card.keeps_background:
            tags.append("keeps background")
        if card.low_res_only:
            tags.append(f"low-res only ({card.native_size or 256})")
        if not card.deterministic:
            tags.append("random")
        if card.inputs:
            tags.append("needs " + "+".join(card.inputs))
    elif kind == "metrics":
        if card.higher_is_better is not None:
            tags.append("higher is better" if card.higher_is_better else "lower is better")
        if card.unit:
            tags.append(card.unit)
    elif kind == "protocols":
        size = card.extra.get("default_size") if card.extra else None
        tags.append(f"default size {size or 'full'}")
    return tags


def card_listing(kinds: Sequence[str], *, verbose: bool = False) -> list[str]:
    """The text ``harmony list`` prints: per kind a header, one line per card, a blank line.

    Parameters
    ----------
    kinds : sequence of str
        Keys of :data:`REGISTRIES`.
    verbose : bool
        Also print every non-empty field of :data:`VERBOSE_FIELDS` under each card. Protocols always
        show their notes (how they resize, mask and score), one line each.

    Returns
    -------
    list of str
        The lines, without newlines.
    """
    lines = []
    for kind in kinds:
        cards = REGISTRIES[kind].cards()
        lines.append(f"== {kind} ({len(cards)})")
        for card in cards:
            tags = card_tags(kind, card)
            tag = f" [{', '.join(tags)}]" if tags else ""
            lines.append(f"  {card.name:18s} {card.summary}{tag}")
            if kind == "protocols":
                lines += [f"      {line.strip()}" for line in card.notes.splitlines()[1:]]
            elif verbose:
                lines += [f"      {name}: {value}" for name in VERBOSE_FIELDS if (value := getattr(card, name))]
        lines.append("")
    return lines


def cards_as_dicts(kinds: Sequence[str]) -> dict[str, list[dict]]:
    """The cards of each kind as JSON-ready dicts (``harmony list --json``).

    Parameters
    ----------
    kinds : sequence of str
        Keys of :data:`REGISTRIES`.

    Returns
    -------
    dict
        ``{kind: [Card.as_dict(), ...]}``, cards sorted by name.
    """
    return {kind: [card.as_dict() for card in REGISTRIES[kind].cards()] for kind in kinds}

