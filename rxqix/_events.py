"""The ``on(event, fn)`` facade that enigma.js users expect, over Observables.

Every session and API object is an :class:`Emitter`: ``on``, ``once``,
``off``, ``remove_all_listeners`` and ``emit`` work on literal event names
(``"traffic:*"`` is a name, not a wildcard), and ``events(name)`` gives the
same events as a hot Observable of argument tuples.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import Disposable

Listener = Callable[..., Any]
logger = logging.getLogger("rxqix.events")


class Emitter:
    """A minimal event emitter; listener failures are logged, never raised."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}

    def on(self, event: str, listener: Listener) -> Listener:
        """Call ``listener(*args)`` on every ``event``; returns the listener."""
        self._listeners.setdefault(event, []).append(listener)
        return listener

    add_listener = on

    def once(self, event: str, listener: Listener) -> Listener:
        """Call ``listener`` on the next ``event`` only."""

        def wrapper(*args: Any) -> None:
            self.off(event, wrapper)
            listener(*args)

        return self.on(event, wrapper)

    def off(self, event: str, listener: Listener) -> None:
        """Remove one listener of ``event`` (no error if it is not there)."""
        listeners = self._listeners.get(event)
        if listeners and listener in listeners:
            listeners.remove(listener)

    remove_listener = off

    def remove_all_listeners(self, event: str | None = None) -> None:
        """Remove the listeners of ``event``, or of every event."""
        if event is None:
            self._listeners.clear()
        else:
            self._listeners.pop(event, None)

    def listener_count(self, event: str) -> int:
        """How many listeners ``event`` has."""
        return len(self._listeners.get(event, ()))

    def emit(self, event: str, *args: Any) -> bool:
        """Call the listeners of ``event``; returns whether there were any."""
        listeners = self._listeners.get(event)
        if not listeners:
            return False
        for listener in list(listeners):
            try:
                listener(*args)
            except Exception:
                logger.exception("! listener of %r failed", event)
        return True

    def events(self, event: str) -> Observable[tuple[Any, ...]]:
        """The ``event`` occurrences as a hot Observable of argument tuples."""

        def subscribe(
            observer: abc.ObserverBase[tuple[Any, ...]],
            scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            def listener(*args: Any) -> None:
                observer.on_next(args)

            self.on(event, listener)
            return Disposable(lambda: self.off(event, listener))

        return Observable(subscribe)
